#!/usr/bin/env python3
"""sync-peers.py: how well do chrony, linuxptp's ptp4l and LSL estimate the offset between two network namespaces?

Each peer runs its server side in --server-ns and its client side in --client-ns, all at the same time on the same
link, and we collect every offset estimate the clients report. Network namespaces do not virtualise clocks: both ends
read the same CLOCK_REALTIME (chrony, ptp4l) and CLOCK_MONOTONIC (LSL's local_clock), so the TRUE offset is exactly 0
and each reported offset IS that tool's error. Per peer we report |offset| in microseconds (median, p95 and p99 by
nearest rank, max), the signed median as bias_us, and error_us_median_of_16: the same for the median of each 16
consecutive estimates (what a client filtering that way would get).

No tool ever adjusts the host clock: chronyd runs with -x, ptp4l with free_running 1.
  chrony  server `local stratum 1` + `allow`; client `server ADDR iburst minpoll -7 maxpoll -7 xleave noselect`: -7
          (1/128 s) is chrony 4's minimum poll, enabled only while the RTT is < 10 ms. `noselect`: the client never
          steers its virtual (-x) clock, so each offset is against the raw system clock (selected, the logged offsets
          would be residuals against that steered clock, hiding its bias). Samples: the offset column (12th) of the
          client's measurements.log; its MTxRx columns (basic/interleaved, kernel/daemon timestamps) -> modes_tx_rx.
  ptp4l   ptp4l -S -4 (software timestamps, UDP IPv4, E2E), 16 Hz Sync and Delay_Req, unicast (the switch namespace
          does not forward PTP multicast). With free_running 1 ptp4l prints "master offset" only every freq_est_interval
          (2 s), so we poll `pmc GET TIME_STATUS_NP` at 50 Hz: one master_offset per Sync, told apart by ingress_time.
  lsl     pylsl outlet in the server ns, inlet in the client ns (unicast discovery via KnownPeers); samples are the
          inlet's time_correction() estimates, a fresh one every TimeUpdateInterval = 1 s (LSL's default is 2 s).
Warm-up rule: samples from the first --warmup seconds (default 10) after the clients start are discarded; the run
then lasts --duration more seconds. Progress goes to stderr, results to stdout (one JSON object with --json).

Standalone test mode: --setup direct|switch builds lspeer-* namespaces shaped like `lockstep-bench --netns` (tbf
1gbit egresses); --load tcp adds a paced TCP stream client -> server. Both are removed afterwards.
"""
import argparse, contextlib, ctypes, datetime, json, math, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time

PEERS, BLAST_PORT = ("chrony", "ptp4l", "lsl"), 47123


def log(msg):
    print(f"sync-peers: {msg}", file=sys.stderr, flush=True)


def sh(argv, check=True):
    r = subprocess.run(argv, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {(r.stderr or r.stdout).strip()}")
    return r


class Procs:
    """Every process we start: its own session (Ctrl-C reaches only us), output to NAME.log in the workdir."""

    def __init__(self, workdir):
        self.workdir, self.live = workdir, []

    def path(self, name):
        return os.path.join(self.workdir, name)

    def output(self, name):
        with open(self.path(name + ".log"), errors="replace") as f:
            return f.read()

    def start(self, name, argv, ns=None, stdin=subprocess.DEVNULL, stdout=None):
        cmd = (["ip", "netns", "exec", ns] if ns else []) + argv  # ip netns exec execs argv: the pid is the tool's
        out = stdout or open(self.path(name + ".log"), "w")
        p = subprocess.Popen(cmd, stdin=stdin, stdout=out, stderr=out if stdout else subprocess.STDOUT,
                             start_new_session=True, text=True)
        if not stdout:
            out.close()  # the child has its own copy
        self.live.append((name, p))
        return p

    def stop_all(self):
        for _, p in self.live:
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


def error_stats(offsets_s):
    err = sorted(abs(x) * 1e6 for x in offsets_s)
    rank = lambda q: round(err[max(0, math.ceil(q * len(err)) - 1)], 3)  # nearest-rank percentile
    return {"median": round(statistics.median(err), 3), "p95": rank(0.95), "p99": rank(0.99), "max": rank(1)}


def summarize(offsets_s, how, **extra):
    if not offsets_s:
        return {"available": False, "reason": "no samples after the warm-up", "how": how}
    result = {"available": True, "samples": len(offsets_s), "bias_us": round(statistics.median(offsets_s) * 1e6, 3),
              "error_us": error_stats(offsets_s), "how": how, **extra}
    if len(offsets_s) >= 32:
        result["error_us_median_of_16"] = error_stats([statistics.median(offsets_s[i:i + 16]) for i in range(0, len(offsets_s) - 15, 16)])
    return result


class Peer:
    """A server in --server-ns and a client in --client-ns (argv set by each subclass); collect() scores the client."""

    def __init__(self, a, procs):
        self.a, self.procs = a, procs

    def write(self, name, text):
        with open(self.procs.path(name), "w") as f:
            f.write(text)
        return self.procs.path(name)

    def start_server(self):
        self.procs.start(f"{self.key}-server", self.server_argv, self.a.server_ns)

    def start_client(self):
        self.procs.start(f"{self.key}-client", self.client_argv, self.a.client_ns)


class Chrony(Peer):
    key = "chrony"

    def __init__(self, a, procs):
        super().__init__(a, procs)
        self.version = sh(["chronyd", "-v"]).stdout.split()[3]  # raises if chrony is not installed
        # cmdport 0 + bindcmdaddress /: no command sockets at all; no driftfile/dumpdir: nothing outside the workdir.
        common, path = "cmdport 0\nbindcmdaddress /\n", procs.path
        self.line = f"server {a.server_addr} iburst minpoll -7 maxpoll -7 xleave noselect"
        srv = self.write("chrony-server.conf", common + f"pidfile {path('chrony-server.pid')}\nlocal stratum 1\nallow\n")
        cli = self.write("chrony-client.conf", common + f"pidfile {path('chrony-client.pid')}\nport 0\n{self.line}\n"
                                                        f"logdir {procs.workdir}\nlog measurements\n")
        self.server_argv, self.client_argv = [["chronyd", "-x", "-d", "-u", "root", "-f", conf] for conf in (srv, cli)]

    def collect(self, start, end):
        offsets, kinds, path = [], {}, self.procs.path("measurements.log")
        for f in (line.split() for line in (open(path) if os.path.exists(path) else [])):
            if len(f) < 20 or not f[0][:1].isdigit():
                continue  # banner lines
            # chrony logs whole UTC seconds: a sample counts only if its (truncated) second is inside the window
            t = datetime.datetime.strptime(f"{f[0]} {f[1]}", "%Y-%m-%d %H:%M:%S").replace(tzinfo=datetime.timezone.utc)
            if start <= t.timestamp() <= end:
                offsets.append(float(f[11]))
                kinds[" ".join(f[17:20])] = kinds.get(" ".join(f[17:20]), 0) + 1
        how = (f"chronyd {self.version} -x on both ends; server 'local stratum 1' + 'allow'; client '{self.line}'; "
               "'log measurements' offset column; kernel software timestamps, no hwtimestamp")
        # "4I K K": server mode, interleaved, kernel TX and RX timestamps; "4B ..." = basic-mode exchanges
        return summarize(offsets, how, modes_tx_rx=kinds)


class Ptp4l(Peer):
    key = "ptp4l"

    def __init__(self, a, procs):
        super().__init__(a, procs)
        self.samples, self.stop, self.uds = {}, threading.Event(), procs.path("ptp4l-client.sock")
        self.version = sh(["ptp4l", "-v"]).stdout.strip()  # raises if linuxptp (ptp4l, pmc) is not installed
        # Left at defaults: tsproc_mode filter, delay_filter moving_median, delay_filter_length 10.
        # tx_timestamp_timeout 10 ms: veth software TX timestamps can miss ptp4l's default 1 ms.
        common = ("[global]\nfree_running 1\nlogSyncInterval -4\nlogMinDelayReqInterval -4\nlogAnnounceInterval -2\n"
                  "tx_timestamp_timeout 10\nuse_syslog 0\nverbose 1\nuds_address {uds}\n")
        if int(self.version.split(".")[0]) >= 4:  # linuxptp 4 added a read-only socket, default /var/run/ptp4l-ro
            common += "uds_ro_address {uds}-ro\n"
        srv = self.write("ptp4l-server.conf", common.format(uds=procs.path("ptp4l-server.sock")) +
                         "priority1 1\nunicast_listen 1\ninhibit_multicast_service 1\n")
        cli = self.write("ptp4l-client.conf", common.format(uds=self.uds) + "slaveOnly 1\nunicast_master_table 1\n"
                         f"[unicast_master_table]\ntable_id 1\nlogQueryInterval 0\nUDPv4 {a.server_addr}\n")
        self.server_argv, self.client_argv = [["ptp4l", "-f", conf, "-i", i, "-S", "-4"] for conf, i in ((srv, a.server_if), (cli, a.client_if))]

    def start_client(self):
        super().start_client()
        # pmc talks to ptp4l over a Unix socket (a filesystem path, not per-namespace), so it runs here.
        pmc = self.procs.start("pmc", ["pmc", "-u", "-b", "0", "-s", self.uds, "-i", self.procs.path("pmc.sock")],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        threading.Thread(target=self._read, args=(pmc,), daemon=True).start()
        threading.Thread(target=self._poll, args=(pmc,), daemon=True).start()

    def _poll(self, pmc):
        with contextlib.suppress(BrokenPipeError, ValueError):  # pmc has gone: stop polling
            while not self.stop.wait(0.02):
                print("GET TIME_STATUS_NP", file=pmc.stdin, flush=True)

    def _read(self, pmc):
        offset = None
        for f in (line.split() for line in pmc.stdout):
            if f[:1] == ["master_offset"]:
                offset = int(f[1])
            elif f[:1] == ["ingress_time"] and offset is not None and int(f[1]) > 0:
                self.samples[int(f[1])] = offset  # keyed by the Sync's ingress time: one sample per Sync

    def collect(self, start, end):
        self.stop.set()
        syncs = [(t, off) for t, off in sorted(self.samples.items()) if start <= t * 1e-9 <= end]
        rate = (len(syncs) - 1) / ((syncs[-1][0] - syncs[0][0]) * 1e-9) if len(syncs) > 2 else 0
        how = (f"ptp4l {self.version} -S -4 (E2E, UDP IPv4 unicast negotiation), free_running 1, logSyncInterval -4, "
               "logMinDelayReqInterval -4, tx_timestamp_timeout 10, delay filter at defaults (moving_median of 10); "
               "server priority1 1 unicast_listen, client slaveOnly; samples: pmc GET TIME_STATUS_NP master_offset per Sync")
        return summarize([off * 1e-9 for _, off in syncs], how, sync_hz=round(rate, 1))


class Lsl(Peer):
    key = "lsl"

    def __init__(self, a, procs):
        super().__init__(a, procs)
        probe = sh([sys.executable, "-c", "import pylsl; print(pylsl.library_version())"], check=False)
        if probe.returncode != 0:
            raise RuntimeError("pylsl/liblsl not usable: " + (probe.stderr.strip().splitlines() or ["?"])[-1])
        self.version, name = probe.stdout.strip(), f"lspeer-{os.getpid()}"
        # Unicast discovery through KnownPeers (multicast does not cross the switch namespace); IPv4 only.
        cfg = (f"[ports]\nIPv6 = disable\n[multicast]\nResolveScope = machine\n[lab]\nKnownPeers = {{{a.server_addr}}}\n"
               f"SessionID = {name}\n[tuning]\nTimeUpdateInterval = 1.0\n")
        me = [sys.executable, os.path.abspath(__file__), "--lsl-name", name, "--lsl-cfg", cfg, "--role"]
        self.server_argv, self.client_argv = me + ["lsl-outlet"], me + ["lsl-inlet"]

    def collect(self, start, end):
        rows = [line.split() for line in self.procs.output("lsl-client").splitlines() if line.startswith("sample ")]
        how = (f"liblsl {self.version} via pylsl: outlet in server ns, inlet in client ns, KnownPeers unicast discovery, "
               "TimeUpdateInterval 1.0 s, each new time_correction() estimate (LSL local_clock = CLOCK_MONOTONIC)")
        return summarize([float(r[2]) for r in rows if start <= float(r[1]) <= end], how)


def lsl_role(a):
    from pylsl.lib import lib
    lib.lsl_set_config_content(a.lsl_cfg.encode())  # must precede every other liblsl call
    import pylsl
    if a.role == "lsl-outlet":
        outlet = pylsl.StreamOutlet(pylsl.StreamInfo(a.lsl_name, "sync", 1, pylsl.IRREGULAR_RATE, "float32", a.lsl_name))
        while outlet is not None:
            time.sleep(3600)  # the outlet answers time probes until SIGTERM
    inlet = pylsl.StreamInlet((pylsl.resolve_byprop("name", a.lsl_name, 1, 30) or sys.exit("lsl: stream not resolved in 30 s"))[0])
    inlet.time_correction(timeout=30)
    fn = lib.lsl_time_correction_ex  # also says when (remote clock) the estimate was made: a new time = a new estimate
    fn.restype, last = ctypes.c_double, None
    remote, unc, ec = ctypes.c_double(), ctypes.c_double(), ctypes.c_int32()
    while True:
        off = fn(inlet.obj, ctypes.byref(remote), ctypes.byref(unc), ctypes.c_double(5.0), ctypes.byref(ec))
        if ec.value == 0 and remote.value != last:
            last = remote.value
            print(f"sample {time.time():.6f} {off:.9e} {unc.value:.3e}", flush=True)
        time.sleep(0.1)


def blast_role(a):
    """Load: one TCP stream client -> server paced at --load-mbit (tbf caps the link at 1 Gbit/s anyway)."""
    if a.role == "blast-sink":
        conn, buf = socket.create_server(("0.0.0.0", BLAST_PORT)).accept()[0], bytearray(1 << 16)
        while conn.recv_into(buf):
            pass
        return
    s = socket.create_connection((a.server_addr, BLAST_PORT), timeout=10)  # the sink started with the servers
    chunk, rate, sent, t0, shown = bytes(1 << 16), a.load_mbit * 1e6 / 8, 0, time.monotonic(), 0
    while (now := time.monotonic()) - t0 < a.blast_seconds:
        if sent / rate > now - t0:
            time.sleep(sent / rate - (now - t0))
        sent += s.send(chunk)
        if now - t0 > shown + 1:  # a running average once a second: we may be stopped before the end
            shown = now - t0
            print(f"load_mbit_s {sent * 8 / shown / 1e6:.0f}", flush=True)


class Link:
    """The `lockstep-bench --netns` topologies (Netns.swift), under lspeer-* names so nothing collides with a benchmark."""

    def __init__(self, topology):
        tag = os.getpid() % 100000
        self.topology, self.hub, self.dev, self.sw = topology, f"lspeer-hub-{tag}", f"lspeer-dev-{tag}", f"lspeer-sw-{tag}"
        self.hub_if, self.dev_if, self.sw_a, self.sw_b = f"lsph{tag}", f"lspd{tag}", f"lspw{tag}a", f"lspw{tag}b"
        self.dev_addr, self.created = "10.77.0.2" if topology == "direct" else "10.77.1.2", []

    def up(self):
        h, d, s, switch = self.hub, self.dev, self.sw, self.topology == "switch"
        # hub 10.77.0.1 - 10.77.0.2 device, or hub 10.77.0.1 - 10.77.0.2 [switch] 10.77.1.1 - 10.77.1.2 device
        ends = [[(h, self.hub_if, "10.77.0.1/30"), (s, self.sw_a, "10.77.0.2/30")],
                [(d, self.dev_if, "10.77.1.2/30"), (s, self.sw_b, "10.77.1.1/30")]] if switch else \
               [[(h, self.hub_if, "10.77.0.1/30"), (d, self.dev_if, "10.77.0.2/30")]]
        namespaces = [h, d, s] if switch else [h, d]
        steps = [f"netns add {n}" for n in namespaces]
        for pair in ends:
            steps.append(f"link add {pair[0][1]} type veth peer name {pair[1][1]}")
            steps += [f"link set {i} netns {n}" for n, i, _ in pair] + [f"-n {n} addr add {ad} dev {i}" for n, i, ad in pair]
        steps += [f"-n {n} link set lo up" for n in namespaces] + [f"-n {n} link set {i} up" for p in ends for n, i, _ in p]
        if switch:
            steps += [f"netns exec {s} sysctl -q -w net.ipv4.ip_forward=1",
                      f"-n {h} route add 10.77.1.0/30 via 10.77.0.2", f"-n {d} route add 10.77.0.0/30 via 10.77.1.1"]
        # The shaped egresses: both endpoints' (direct), or the switch's two (queueing invisible to the endpoints).
        shaped = [(s, self.sw_a), (s, self.sw_b)] if switch else [(h, self.hub_if), (d, self.dev_if)]
        steps += [f"netns exec {n} tc qdisc add dev {i} root tbf rate 1gbit burst 256kb latency 20ms" for n, i in shaped]
        for step in steps:
            sh(["ip"] + step.split())
            if step.startswith(("netns add", "link add")):  # a veth stays in the root ns if we fail before moving it
                self.created.append(step.split()[:3])

    def down(self):
        for kind, _, name in reversed(self.created):  # deleting a namespace also deletes the veths inside it
            sh(["ip", "netns", "delete", name] if kind == "netns" else ["ip", "link", "del", name], check=False)
        self.created = []


def run(a, procs):
    peers, results = {}, {}
    for name in a.peers:
        try:
            peers[name] = {"chrony": Chrony, "ptp4l": Ptp4l, "lsl": Lsl}[name](a, procs)
        except Exception as e:  # a missing tool only takes that peer out
            results[name] = {"available": False, "reason": str(e)}
            log(f"{name}: unavailable: {e}")
    log(f"starting {', '.join(peers)}: servers in {a.server_ns}, then clients in {a.client_ns}")
    me = [sys.executable, os.path.abspath(__file__), "--server-addr", a.server_addr, "--load-mbit", str(a.load_mbit), "--role"]
    def start_each(step):  # a peer that cannot start (e.g. pmc missing) is taken out, the others go on
        for name in list(peers):
            try:
                getattr(peers[name], step)()
            except Exception as e:
                results[name] = {"available": False, "reason": f"{step} failed: {e}"}
                log(f"{name}: unavailable: {e}")
                del peers[name]
    start_each("start_server")
    if a.load == "tcp":
        procs.start("blast-sink", me + ["blast-sink"], a.server_ns)
    time.sleep(1)  # servers (and the load sink) listening before the clients start
    start_each("start_client")
    t0, total = time.time(), a.warmup + a.duration
    if a.load == "tcp":
        procs.start("blast-source", me + ["blast-source", "--blast-seconds", str(total)], a.client_ns)
    log(f"running {a.warmup:g} s warm-up + {a.duration:g} s measured")
    dead = set()
    while time.time() < t0 + total:
        time.sleep(min(5.0, t0 + total - time.time()))
        if new := {n for n, p in procs.live if p.poll() is not None and not n.startswith("blast")} - dead:
            log(f"exited early: {', '.join(sorted(new))} (see their logs); the other peers go on")
            dead |= new
        log(f"{time.time() - t0:.0f} s")
    start, end = t0 + a.warmup, time.time()
    procs.stop_all()  # flushes chrony's log and ends the pmc/LSL readers
    for name, peer in peers.items():
        try:
            results[name] = peer.collect(start, end)
        except Exception as e:
            results[name] = {"available": False, "reason": f"collecting samples failed: {e}"}
        for side in ("server", "client") if not results[name]["available"] else ():  # say why, from the tools' output
            results[name]["reason"] += f"; {name}-{side}: " + procs.output(f"{name}-{side}")[-300:].strip().replace("\n", " | ")
        results[name].update(warmup_s=a.warmup, window_s=round(end - start, 1))
        if any(n.startswith(name + "-") for n in dead):
            results[name]["exited_early"] = sorted(n for n in dead if n.startswith(name + "-"))
    if a.load == "tcp":
        out = [line.split() for line in procs.output("blast-source").splitlines() if line.startswith("load_mbit_s ")]
        results["load"] = {"kind": "paced TCP stream client -> server", "target_mbit_s": a.load_mbit,
                           "achieved_mbit_s": float(out[-1][1]) if out else procs.output("blast-source")[-300:]}
    return dict(sorted(results.items(), key=lambda item: (a.peers + ["load"]).index(item[0])))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for side in ("server", "client"):
        p.add_argument(f"--{side}-ns"), p.add_argument(f"--{side}-addr"), p.add_argument(f"--{side}-if")
    p.add_argument("--duration", type=float, default=30, help="measured seconds, after the warm-up (default 30)")
    p.add_argument("--warmup", type=float, default=10, help="seconds of samples discarded first (default 10)")
    p.add_argument("--peers", default=",".join(PEERS), help="comma list of chrony,ptp4l,lsl (default all)")
    p.add_argument("--workdir", help="keep configs and logs in a new subfolder here (default: a temp dir, removed)")
    p.add_argument("--json", action="store_true", help="print one JSON object (default: a table)")
    p.add_argument("--output", help="also write the JSON object to this file")
    p.add_argument("--setup", choices=("direct", "switch"), help="standalone: build (and remove) our own namespaces")
    p.add_argument("--load", choices=("none", "tcp"), default="none", help="standalone: a TCP stream client -> server")
    p.add_argument("--load-mbit", type=float, default=800, help="pace of --load tcp (default 800)")
    for hidden in ("--role", "--lsl-name", "--lsl-cfg", "--blast-seconds"):
        p.add_argument(hidden, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.role:  # we are one of our own helpers, inside a namespace
        a.blast_seconds = float(a.blast_seconds or 0)
        return lsl_role(a) if a.role.startswith("lsl") else blast_role(a)
    a.peers = [x for x in a.peers.split(",") if x]
    problems = {f"unknown peers {set(a.peers) - set(PEERS)}": set(a.peers) - set(PEERS), "needs root": os.geteuid() != 0,
                "--load is for the standalone --setup mode only": a.load != "none" and not a.setup,
                "give --server-ns/--server-addr/--server-if/--client-ns/--client-if, or --setup":
                    not a.setup and not all((a.server_ns, a.server_addr, a.server_if, a.client_ns, a.client_if))}
    if wrong := [message for message, bad in problems.items() if bad]:
        p.error("; ".join(wrong))
    for sig in (signal.SIGTERM, signal.SIGHUP):  # end like Ctrl-C does, through the cleanup in `finally`
        signal.signal(sig, signal.default_int_handler)
    if a.workdir:
        os.makedirs(a.workdir, exist_ok=True)  # a fresh subfolder: chrony appends to logs, sockets must not exist yet
    workdir = tempfile.mkdtemp(prefix="sync-peers-", dir=a.workdir)
    procs, link = Procs(workdir), Link(a.setup) if a.setup else None
    try:
        if link:
            log(f"setting up the {a.setup} topology: {link.hub} / {link.dev}")
            link.up()
            a.server_ns, a.server_addr, a.server_if = link.hub, "10.77.0.1", link.hub_if
            a.client_ns, a.client_addr, a.client_if = link.dev, link.dev_addr, link.dev_if
        results = run(a, procs) | ({"setup": {"topology": a.setup, "load": a.load}} if link else {})
    except KeyboardInterrupt:
        log("interrupted, cleaning up")
        return 130
    finally:
        procs.stop_all()
        if link:
            link.down()
        if a.workdir:
            log(f"configs and logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if a.output:
        with open(a.output, "w") as handle:
            json.dump(results, handle)
    if a.json:
        print(json.dumps(results, indent=2))
    for name, r in results.items() if not a.json else ():
        e = r.get("error_us") or {}
        print(f"{name:7} " + (f"n={r['samples']:<6} |error| us: median {e['median']:.3f}  p95 {e['p95']:.3f}  p99 {e['p99']:.3f}  "
                              f"max {e['max']:.3f}  bias {r['bias_us']:+.3f}" if r.get("available") else json.dumps(r)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
