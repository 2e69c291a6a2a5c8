#!/usr/bin/env python3
"""sync-peers.py: how well do chrony, linuxptp's ptp4l and LSL estimate the offset between two namespaces?

Each peer runs its server side in --server-ns and its client side in --client-ns, all at the same time on the
same link, and we collect every offset estimate the clients report. Network namespaces do not virtualise
clocks: both ends read the same CLOCK_REALTIME (chrony, ptp4l) and CLOCK_MONOTONIC (LSL's local_clock), so the
TRUE offset is exactly 0 and each reported offset IS that tool's error. We report |offset| in microseconds
(median, p95, p99 by nearest rank, max) plus the signed median as "bias_us".

No tool ever adjusts the host clock: chronyd runs with -x, ptp4l with free_running 1.
  chrony  server: `local stratum 1`, `allow`. client: `server ADDR iburst minpoll -7 maxpoll -7 xleave noselect`.
          -7 (1/128 s) is chrony 4.x's minimum poll; sub-second polling is enabled only while the RTT is under
          10 ms. `noselect`: the client measures but never steers its virtual (-x) clock, so every offset is
          against the raw system clock. Samples: offset column (12th) of the client's measurements.log, one
          line per valid exchange; the MTxRx columns tell basic/interleaved and kernel/daemon timestamps.
  ptp4l   ptp4l -S -4 (software timestamps, UDP IPv4, E2E), 16 Hz Sync and Delay_Req, unicast negotiation
          (the forwarding switch namespace does not route PTP multicast). With free_running 1 ptp4l prints
          "master offset" only once per freq_est_interval (2 s), so we poll `pmc GET TIME_STATUS_NP` at 50 Hz
          and keep one offset per Sync, deduplicated by its ingress_time.
  lsl     pylsl outlet in the server ns, inlet in the client ns (unicast discovery via KnownPeers); samples are
          time_correction() estimates, a fresh one every TimeUpdateInterval = 1 s (LSL's default is 5 s).
Warm-up rule: samples from the first --warmup seconds (default 10) after the clients start are discarded, then
the run lasts --duration more seconds. Progress goes to stderr, results to stdout (JSON with --json).

Standalone test mode: --setup direct|switch builds lspeer-* namespaces shaped like `lockstep-bench --netns`
(tbf 1gbit at each egress), --load tcp adds a paced TCP stream client -> server, and both are removed after.
"""
import argparse, ctypes, datetime, json, math, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time

PEERS = ("chrony", "ptp4l", "lsl")
BLAST_PORT = 47123


def log(msg):
    print(f"sync-peers: {msg}", file=sys.stderr, flush=True)


def sh(argv, check=True):
    r = subprocess.run(argv, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {(r.stderr or r.stdout).strip()}")
    return r


class Procs:
    """Every process we start: own session (Ctrl-C reaches only us), output to a log in the workdir."""

    def __init__(self, workdir):
        self.workdir, self.live = workdir, []

    def start(self, name, argv, ns=None, stdin=subprocess.DEVNULL, stdout=None):
        cmd = (["ip", "netns", "exec", ns] if ns else []) + argv  # ip netns exec execs argv: the pid is the tool's
        out = stdout or open(os.path.join(self.workdir, name + ".log"), "w")
        p = subprocess.Popen(cmd, stdin=stdin, stdout=out, stderr=subprocess.STDOUT if stdout is None else out,
                             start_new_session=True, text=True)
        self.live.append((name, p))
        return p

    def path(self, name):
        return os.path.join(self.workdir, name)

    def output(self, name):
        with open(self.path(name + ".log"), errors="replace") as f:
            return f.read()

    def stop_all(self):
        for _, p in reversed(self.live):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        for name, p in self.live:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{name} ignored SIGTERM, killing it")
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.live = []


def summarize(offsets_s, how, **extra):
    if not offsets_s:
        return {"available": False, "reason": "no samples after the warm-up", "how": how}
    err = sorted(abs(x) * 1e6 for x in offsets_s)
    rank = lambda q: err[max(0, math.ceil(q * len(err)) - 1)]  # nearest-rank percentile
    return {"available": True, "samples": len(err), "bias_us": round(statistics.median(offsets_s) * 1e6, 3),
            "error_us": {"median": round(statistics.median(err), 3), "p95": round(rank(0.95), 3),
                         "p99": round(rank(0.99), 3), "max": round(err[-1], 3)}, "how": how, **extra}


class Chrony:
    def __init__(self, a, procs):
        self.a, self.procs, self.logdir = a, procs, procs.path("chrony")
        if not shutil.which("chronyd"):
            raise RuntimeError("chronyd not found (apt-get install chrony)")
        self.version = sh(["chronyd", "-v"]).stdout.split()[3]
        os.mkdir(self.logdir)
        # cmdport 0 + bindcmdaddress /: no command sockets at all; no driftfile/dumpdir: nothing outside the workdir.
        common = f"cmdport 0\nbindcmdaddress /\n"
        self.server_conf = common + f"pidfile {self.logdir}/server.pid\nlocal stratum 1\nallow\n"
        self.client_line = f"server {a.server_addr} iburst minpoll -7 maxpoll -7 xleave noselect"
        self.client_conf = common + f"pidfile {self.logdir}/client.pid\nport 0\n{self.client_line}\n" \
                                    f"logdir {self.logdir}\nlog measurements\n"

    def start_server(self):
        self._run("chrony-server", self.server_conf, self.a.server_ns)

    def start_client(self):
        self._run("chrony-client", self.client_conf, self.a.client_ns)

    def _run(self, name, conf, ns):
        with open(f"{self.logdir}/{name}.conf", "w") as f:
            f.write(conf)
        self.procs.start(name, ["chronyd", "-x", "-d", "-u", "root", "-f", f"{self.logdir}/{name}.conf"], ns)

    def collect(self, start, end):
        offsets, kinds = [], {}
        path = f"{self.logdir}/measurements.log"
        for line in open(path) if os.path.exists(path) else []:
            f = line.split()
            if len(f) < 20 or not f[0][:1].isdigit():
                continue  # banner lines
            # chrony logs whole UTC seconds: a sample counts only if its (truncated) second is inside the window
            t = datetime.datetime.strptime(f"{f[0]} {f[1]}", "%Y-%m-%d %H:%M:%S").replace(tzinfo=datetime.timezone.utc)
            if start <= t.timestamp() <= end:
                offsets.append(float(f[11]))
                kinds[" ".join(f[17:20])] = kinds.get(" ".join(f[17:20]), 0) + 1
        how = (f"chronyd {self.version} -x on both ends; server 'local stratum 1' + 'allow'; client '{self.client_line}', "
               "'log measurements' offset column; kernel software timestamps, no hwtimestamp")
        # "4I K K": server mode, interleaved, kernel TX and RX timestamps; "4B ..." = basic-mode fallback
        return summarize(offsets, how, modes_tx_rx=kinds)


class Ptp4l:
    def __init__(self, a, procs):
        self.a, self.procs, self.samples, self.stop = a, procs, {}, threading.Event()
        if not (shutil.which("ptp4l") and shutil.which("pmc")):
            raise RuntimeError("ptp4l/pmc not found (apt-get install linuxptp)")
        self.version = sh(["ptp4l", "-v"]).stdout.strip() or sh(["ptp4l", "-v"]).stderr.strip()
        # Defaults left alone: tsproc_mode filter, delay_filter moving_median, delay_filter_length 10.
        # tx_timestamp_timeout 10 ms because veth software TX timestamps can miss ptp4l's default 1 ms.
        self.common = ("[global]\nfree_running 1\nlogSyncInterval -4\nlogMinDelayReqInterval -4\nlogAnnounceInterval -2\n"
                       "tx_timestamp_timeout 10\nuse_syslog 0\nverbose 1\n")
        if int(self.version.split(".")[0]) >= 4:  # linuxptp 4 added a read-only socket, default /var/run/ptp4l-ro
            self.common += "uds_ro_address {uds}-ro\n"

    def _conf(self, name, body):
        path = self.procs.path(name + ".conf")
        with open(path, "w") as f:
            f.write(self.common.format(uds=self.procs.path(name + ".sock")) + f"uds_address {self.procs.path(name + '.sock')}\n" + body)
        return path

    def start_server(self):
        conf = self._conf("ptp4l-server", "priority1 1\nunicast_listen 1\ninhibit_multicast_service 1\n")
        self.procs.start("ptp4l-server", ["ptp4l", "-f", conf, "-i", self.a.server_if, "-S", "-4"], self.a.server_ns)

    def start_client(self):
        conf = self._conf("ptp4l-client", "slaveOnly 1\nunicast_master_table 1\n[unicast_master_table]\ntable_id 1\n"
                                          f"logQueryInterval 0\nUDPv4 {self.a.server_addr}\n")
        self.procs.start("ptp4l-client", ["ptp4l", "-f", conf, "-i", self.a.client_if, "-S", "-4"], self.a.client_ns)
        # pmc talks to ptp4l over a Unix socket (a filesystem path, not per-namespace), so it runs here.
        pmc = self.procs.start("pmc", ["pmc", "-u", "-b", "0", "-s", self.procs.path("ptp4l-client.sock"),
                                       "-i", self.procs.path("pmc.sock")], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        threading.Thread(target=self._read, args=(pmc,), daemon=True).start()
        threading.Thread(target=self._poll, args=(pmc,), daemon=True).start()

    def _poll(self, pmc):
        while not self.stop.wait(0.02):
            try:
                pmc.stdin.write("GET TIME_STATUS_NP\n")
                pmc.stdin.flush()
            except (BrokenPipeError, ValueError):
                return

    def _read(self, pmc):
        offset = None
        for line in pmc.stdout:
            f = line.split()
            if f[:1] == ["master_offset"]:
                offset = int(f[1])
            elif f[:1] == ["ingress_time"] and offset is not None and int(f[1]) > 0:
                self.samples[int(f[1])] = offset  # keyed by the Sync's ingress time: one sample per Sync

    def collect(self, start, end):
        self.stop.set()
        offsets = [off * 1e-9 for t, off in sorted(self.samples.items()) if start <= t * 1e-9 <= end]
        syncs = [t for t in sorted(self.samples) if start <= t * 1e-9 <= end]
        rate = (len(syncs) - 1) / ((syncs[-1] - syncs[0]) * 1e-9) if len(syncs) > 2 else 0
        how = (f"ptp4l {self.version} -S -4 (E2E, UDP IPv4 unicast negotiation), free_running 1, logSyncInterval -4, "
               "logMinDelayReqInterval -4, tx_timestamp_timeout 10, delay filter at defaults (moving_median of 10); "
               "server priority1 1 unicast_listen, client slaveOnly; offsets: pmc GET TIME_STATUS_NP master_offset per Sync")
        return summarize(offsets, how, sync_hz=round(rate, 1))


class Lsl:
    def __init__(self, a, procs):
        self.a, self.procs, self.name = a, procs, f"lspeer-{os.getpid()}"
        probe = sh([sys.executable, "-c", "import pylsl; print(pylsl.library_version())"], check=False)
        if probe.returncode != 0:
            raise RuntimeError("pylsl/liblsl not usable: " + (probe.stderr.strip().splitlines() or ["?"])[-1])
        self.version = probe.stdout.strip()
        # Unicast discovery through KnownPeers (multicast does not cross the switch namespace); IPv4 only.
        self.cfg = (f"[ports]\nIPv6 = disable\n[multicast]\nResolveScope = machine\n[lab]\nKnownPeers = {{{a.server_addr}}}\n"
                    f"SessionID = {self.name}\n[tuning]\nTimeUpdateInterval = 1.0\n")

    def _child(self, role, ns):
        argv = [sys.executable, os.path.abspath(__file__), "--role", role, "--lsl-name", self.name, "--lsl-cfg", self.cfg]
        self.procs.start(role, argv, ns)

    def start_server(self):
        self._child("lsl-outlet", self.a.server_ns)

    def start_client(self):
        self._child("lsl-inlet", self.a.client_ns)

    def collect(self, start, end):
        rows = [l.split() for l in self.procs.output("lsl-inlet").splitlines() if l.startswith("sample ")]
        offsets = [float(r[2]) for r in rows if start <= float(r[1]) <= end]
        how = (f"liblsl {self.version} via pylsl: outlet in server ns, inlet in client ns, KnownPeers unicast discovery, "
               "TimeUpdateInterval 1.0 s, each new time_correction() estimate (LSL local_clock = CLOCK_MONOTONIC)")
        result = summarize(offsets, how)
        if not rows:
            result["reason"] = "no time_correction() estimate: " + self.procs.output("lsl-inlet")[-300:].strip()
        return result


def lsl_role(a):
    from pylsl.lib import lib
    lib.lsl_set_config_content(a.lsl_cfg.encode())  # must precede every other liblsl call
    import pylsl
    if a.role == "lsl-outlet":
        outlet = pylsl.StreamOutlet(pylsl.StreamInfo(a.lsl_name, "sync", 1, pylsl.IRREGULAR_RATE, "float32", a.lsl_name))
        while True:
            time.sleep(3600)  # serves time probes until SIGTERM; `outlet` must stay referenced
    streams = pylsl.resolve_byprop("name", a.lsl_name, 1, 30)
    if not streams:
        sys.exit("lsl: stream not resolved within 30 s")
    inlet = pylsl.StreamInlet(streams[0])
    inlet.time_correction(timeout=30)
    fn = lib.lsl_time_correction_ex  # also returns when (remote clock) the estimate was made: new estimate = new time
    fn.restype, last = ctypes.c_double, None
    remote, unc, ec = ctypes.c_double(), ctypes.c_double(), ctypes.c_int32()
    while True:
        off = fn(inlet.obj, ctypes.byref(remote), ctypes.byref(unc), ctypes.c_double(5.0), ctypes.byref(ec))
        if ec.value == 0 and remote.value != last:
            last = remote.value
            print(f"sample {time.time():.6f} {off:.9e} {unc.value:.3e}", flush=True)
        time.sleep(0.1)


def blast_role(a):
    """Load: a TCP stream client -> server paced at --load-mbit (tbf caps the link at 1 Gbit/s anyway)."""
    if a.role == "blast-sink":
        srv = socket.create_server(("0.0.0.0", BLAST_PORT))
        conn, buf = srv.accept()[0], bytearray(1 << 16)
        while conn.recv_into(buf):
            pass
        return
    for _ in range(50):
        try:
            s = socket.create_connection((a.server_addr, BLAST_PORT))
            break
        except OSError:
            time.sleep(0.1)
    else:
        sys.exit("blast: cannot connect")
    chunk, rate, sent, t0, shown = bytes(1 << 16), a.load_mbit * 1e6 / 8, 0, time.monotonic(), 0
    while (now := time.monotonic()) - t0 < a.blast_seconds:
        if sent / rate > now - t0:
            time.sleep(sent / rate - (now - t0))
        sent += s.send(chunk)
        if now - t0 > shown + 1:  # running average once a second: we may be stopped before the end
            shown = now - t0
            print(f"load_mbit_s {sent * 8 / shown / 1e6:.0f}", flush=True)


class Link:
    """The `lockstep-bench --netns` topologies, under lspeer-* names so nothing collides with a running benchmark."""

    def __init__(self, topology):
        tag = os.getpid() % 100000
        self.topology, self.hub, self.dev, self.sw = topology, f"lspeer-hub-{tag}", f"lspeer-dev-{tag}", f"lspeer-sw-{tag}"
        self.hub_if, self.dev_if, self.sw_a, self.sw_b = f"lsph{tag}", f"lspd{tag}", f"lspw{tag}a", f"lspw{tag}b"
        self.dev_addr = "10.77.0.2" if topology == "direct" else "10.77.1.2"
        self.created = []

    def up(self):
        shape = "root tbf rate 1gbit burst 256kb latency 20ms"
        h, d, s = self.hub, self.dev, self.sw
        if self.topology == "direct":
            steps = [f"netns add {h}", f"netns add {d}", f"link add {self.hub_if} type veth peer name {self.dev_if}",
                     f"link set {self.hub_if} netns {h}", f"link set {self.dev_if} netns {d}",
                     f"-n {h} addr add 10.77.0.1/30 dev {self.hub_if}", f"-n {d} addr add 10.77.0.2/30 dev {self.dev_if}",
                     f"-n {h} link set lo up", f"-n {d} link set lo up",
                     f"-n {h} link set {self.hub_if} up", f"-n {d} link set {self.dev_if} up",
                     f"netns exec {h} tc qdisc add dev {self.hub_if} {shape}", f"netns exec {d} tc qdisc add dev {self.dev_if} {shape}"]
        else:  # hub 10.77.0.1 - 10.77.0.2 [switch] 10.77.1.1 - 10.77.1.2 device; the shaped queues are in the switch
            steps = [f"netns add {h}", f"netns add {d}", f"netns add {s}",
                     f"link add {self.hub_if} type veth peer name {self.sw_a}",
                     f"link add {self.dev_if} type veth peer name {self.sw_b}",
                     f"link set {self.hub_if} netns {h}", f"link set {self.dev_if} netns {d}",
                     f"link set {self.sw_a} netns {s}", f"link set {self.sw_b} netns {s}",
                     f"-n {h} addr add 10.77.0.1/30 dev {self.hub_if}", f"-n {s} addr add 10.77.0.2/30 dev {self.sw_a}",
                     f"-n {s} addr add 10.77.1.1/30 dev {self.sw_b}", f"-n {d} addr add 10.77.1.2/30 dev {self.dev_if}",
                     f"-n {h} link set lo up", f"-n {d} link set lo up", f"-n {s} link set lo up",
                     f"-n {h} link set {self.hub_if} up", f"-n {d} link set {self.dev_if} up",
                     f"-n {s} link set {self.sw_a} up", f"-n {s} link set {self.sw_b} up",
                     f"netns exec {s} sysctl -q -w net.ipv4.ip_forward=1",
                     f"-n {h} route add 10.77.1.0/30 via 10.77.0.2", f"-n {d} route add 10.77.0.0/30 via 10.77.1.1",
                     f"netns exec {s} tc qdisc add dev {self.sw_a} {shape}", f"netns exec {s} tc qdisc add dev {self.sw_b} {shape}"]
        for step in steps:
            sh(["ip"] + step.split())
            if step.startswith("netns add"):
                self.created.append(step.split()[2])
            elif step.startswith("link add"):
                self.created.append("link:" + step.split()[2])  # a veth still in the root ns if we fail before moving it

    def down(self):
        for item in reversed(self.created):
            sh(["ip", "link", "del", item[5:]] if item.startswith("link:") else ["ip", "netns", "delete", item], check=False)
        self.created = []


def run(a, procs):
    peers, results = {}, {}
    for name in a.peers:
        try:
            peers[name] = {"chrony": Chrony, "ptp4l": Ptp4l, "lsl": Lsl}[name](a, procs)
        except Exception as e:  # a missing tool only takes that peer out
            results[name] = {"available": False, "reason": str(e)}
            log(f"{name}: unavailable: {e}")
    for name, peer in peers.items():
        log(f"{name}: starting server in {a.server_ns}")
        peer.start_server()
    time.sleep(1)
    for name, peer in peers.items():
        log(f"{name}: starting client in {a.client_ns}")
        peer.start_client()
    t0 = time.time()
    total = a.warmup + a.duration
    if a.load == "tcp":
        me = [sys.executable, os.path.abspath(__file__), "--server-addr", a.server_addr, "--load-mbit", str(a.load_mbit)]
        procs.start("blast-sink", me + ["--role", "blast-sink"], a.server_ns)
        time.sleep(0.3)
        procs.start("blast-source", me + ["--role", "blast-source", "--blast-seconds", str(total)], a.client_ns)
    log(f"running {a.warmup:g} s warm-up + {a.duration:g} s measured")
    while time.time() < t0 + total:
        time.sleep(min(5.0, t0 + total - time.time()))
        dead = [n for n, p in procs.live if p.poll() is not None and not n.startswith("blast")]
        if dead:
            log(f"exited early: {', '.join(dead)} (see their logs)")
            break
        log(f"{time.time() - t0:.0f} s")
    start, end = t0 + a.warmup, time.time()
    procs.stop_all()  # flushes chrony's log and ends the pmc/LSL readers
    for name, peer in peers.items():
        try:
            results[name] = peer.collect(start, end)
        except Exception as e:
            results[name] = {"available": False, "reason": f"collecting samples failed: {e}"}
        for proc_log in sorted(os.listdir(procs.workdir)):
            if proc_log.startswith(name if name != "lsl" else "lsl-") and proc_log.endswith(".log") and not results[name]["available"]:
                results[name]["reason"] += f"; {proc_log}: " + procs.output(proc_log[:-4])[-300:].strip().replace("\n", " | ")
        results[name].update(warmup_s=a.warmup, window_s=round(end - start, 1))
    if a.load == "tcp":
        out = [l.split() for l in procs.output("blast-source").splitlines() if l.startswith("load_mbit_s ")]
        results["load"] = {"kind": "paced TCP stream client -> server", "target_mbit_s": a.load_mbit,
                           "achieved_mbit_s": float(out[-1][1]) if out else procs.output("blast-source")[-300:]}
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for side in ("server", "client"):
        p.add_argument(f"--{side}-ns"), p.add_argument(f"--{side}-addr"), p.add_argument(f"--{side}-if")
    p.add_argument("--duration", type=float, default=30, help="measured seconds, after the warm-up")
    p.add_argument("--warmup", type=float, default=10, help="seconds of samples discarded first (default 10)")
    p.add_argument("--peers", default=",".join(PEERS), help="comma list of chrony,ptp4l,lsl")
    p.add_argument("--workdir", help="keep configs and logs here (default: a temp dir, removed)")
    p.add_argument("--json", action="store_true", help="print one JSON object (default: a table)")
    p.add_argument("--setup", choices=("direct", "switch"), help="standalone: build (and remove) our own namespaces")
    p.add_argument("--load", choices=("none", "tcp"), default="none", help="standalone: TCP stream client -> server")
    p.add_argument("--load-mbit", type=float, default=800)
    for hidden in ("--role", "--lsl-name", "--lsl-cfg", "--blast-seconds"):
        p.add_argument(hidden, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.role:
        a.blast_seconds = float(a.blast_seconds or 0)
        return lsl_role(a) if a.role.startswith("lsl") else blast_role(a)
    a.peers = [x for x in a.peers.split(",") if x]
    if bad := set(a.peers) - set(PEERS):
        p.error(f"unknown peers: {', '.join(sorted(bad))}")
    if os.geteuid() != 0:
        p.error("needs root (ip netns exec)")
    if a.load != "none" and not a.setup:
        p.error("--load is for the standalone --setup mode only")
    if not a.setup and not all((a.server_ns, a.server_addr, a.server_if, a.client_ns, a.client_if)):
        p.error("give --server-ns/--server-addr/--server-if/--client-ns/--client-if, or --setup")

    def on_signal(signum, _):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    workdir = a.workdir or tempfile.mkdtemp(prefix="sync-peers-")
    os.makedirs(workdir, exist_ok=True)
    procs, link = Procs(workdir), Link(a.setup) if a.setup else None
    try:
        if link:
            log(f"setting up {a.setup} topology: {link.hub} / {link.dev}")
            link.up()
            a.server_ns, a.server_addr, a.server_if = link.hub, "10.77.0.1", link.hub_if
            a.client_ns, a.client_addr, a.client_if = link.dev, link.dev_addr, link.dev_if
        results = run(a, procs)
        if link:
            results["setup"] = {"topology": a.setup, "load": a.load}
    except KeyboardInterrupt:
        log("interrupted, cleaning up")
        return 130
    finally:
        procs.stop_all()
        if link:
            link.down()
        if not a.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    if a.json:
        print(json.dumps(results, indent=2))
    else:
        for name in a.peers:
            r = results[name]
            e = r.get("error_us")
            print(f"{name:7} " + (f"n={r['samples']:<6} |error| us median {e['median']:.3f}  p95 {e['p95']:.3f}  p99 {e['p99']:.3f}"
                                  f"  max {e['max']:.3f}  bias {r['bias_us']:+.3f}" if r["available"] else f"unavailable: {r['reason']}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
