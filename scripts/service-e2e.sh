#!/usr/bin/env bash
# lockstepd as systemd runs it, without systemd: a fake NOTIFY_SOCKET (python3) records the sd_notify
# datagrams; JOURNAL_STREAM asks for priority-prefixed log lines; WATCHDOG_USEC arms the watchdog.
# Checks READY, WATCHDOG and STOPPING arrive in that order, /healthz, /readyz and /metrics, a SIGHUP
# reload (applied, restart-only and refused changes), and that SIGTERM during a recording leaves a
# complete session that verifies, with its manifest and report.
# Usage: scripts/service-e2e.sh BIN_DIR
. "$(dirname "$0")/e2e-common.sh" service-e2e "${1:-}"
checks=0
pass() { checks=$((checks + 1)); }

# The fake service manager's notification socket: one line per datagram, assignments joined by ';'.
python3 - "$work/notify" "$work/notify.log" <<'EOF' &
import socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as log:
    while True:
        log.write(sock.recv(4096).decode().replace("\n", ";") + "\n")
EOF
pids+=($!)
for _ in $(seq 100); do [ -S "$work/notify" ] && break; sleep 0.05; done
[ -S "$work/notify" ] || fail "the fake notify socket did not appear"

cat >"$work/hub.yaml" <<EOF
data_dir: $work/data
http_port: 0
data_port: 0
sync_port: 0
device_tokens:
  svc-01: token-one
  svc-02: token-two
site_token: ""
EOF
# JOURNAL_STREAM must name stderr's device:inode, as systemd sets it (the log file stands in for it).
touch "$work/hub.log"
NOTIFY_SOCKET="$work/notify" WATCHDOG_USEC=2000000 JOURNAL_STREAM="$(stat -c '%d:%i' "$work/hub.log")" \
    start_hub --config "$work/hub.yaml"
url="http://127.0.0.1:$http"
for _ in $(seq 50); do grep -q "READY=1" "$work/notify.log" 2>/dev/null && break; sleep 0.1; done
grep -q "^READY=1;STATUS=ready: http" "$work/notify.log" || fail "no READY=1 with a status: $(cat "$work/notify.log")"; pass

# Journald format: every line starts with a syslog priority and has no timestamp of its own.
grep -v '^<[0-7]>' "$work/hub.log" && fail "log lines without a priority prefix"
grep -q '^<6>lockstepd: \[lockstepd\] lockstepd ready' "$work/hub.log" || fail "ready line not at info priority"; pass

curl -sf "$url/healthz" | grep -q '"status":"ok"' || fail "/healthz"
curl -sf "$url/readyz" | grep -q '"status":"ready"' || fail "/readyz"; pass
curl -s -o /dev/null -w '%{http_code}' "$url/nope" | grep -q 404 || fail "unknown path is not a 404"; pass

export LOCKSTEP_HUB="$url"
"$bin/lockstep-device" --http-port "$http" --id svc-01 --token token-one --rate-scale 0.02 >"$work/dev1.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do "$bin/lockstep" status --json | grep -q '"devices_connected":1' && break; sleep 0.1; done
# svc-02 presents svc-01's token: refused (the device gives up) until the reload below changes the tokens.
if timeout 20 "$bin/lockstep-device" --http-port "$http" --id svc-02 --token token-one >"$work/dev2.log" 2>&1; then
    fail "svc-02 with a wrong token was not refused"
fi
grep -q "unauthorized" "$work/dev2.log" || fail "svc-02 refusal does not say unauthorized: $(cat "$work/dev2.log")"
"$bin/lockstep" status --json | grep -q '"devices_connected":1' || fail "token check: $("$bin/lockstep" status --json)"; pass

# SIGHUP: svc-02 may use token-one from now on; http_port needs a restart; log level applies.
cat >"$work/hub.yaml" <<EOF
data_dir: $work/data
http_port: 1
data_port: 0
sync_port: 0
device_tokens:
  svc-01: token-one
  svc-02: token-one
site_token: ""
log_level: debug
EOF
kill -HUP "$hub"
for _ in $(seq 100); do grep -q "configuration reloaded" "$work/hub.log" && break; sleep 0.1; done
grep -q "configuration reloaded: applied device_tokens, log_level" "$work/hub.log" || fail "reload did not apply the tokens"
grep -q "http_port take effect at the next restart" "$work/hub.log" || fail "reload did not name http_port as restart-only"
grep -q "^RELOADING=1$" "$work/notify.log" || fail "no RELOADING=1"; pass
"$bin/lockstep-device" --http-port "$http" --id svc-02 --token token-one --rate-scale 0.02 >"$work/dev2.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do "$bin/lockstep" status --json | grep -q '"devices_connected":2' && break; sleep 0.1; done
"$bin/lockstep" status --json | grep -q '"devices_connected":2' || fail "svc-02 not admitted after the reload"; pass

# A file that no longer validates is refused whole; the hub keeps running on the old one.
printf 'lost_after_ms: -5\n' >"$work/hub.yaml"
kill -HUP "$hub"
for _ in $(seq 100); do grep -q "configuration refused" "$work/hub.log" && break; sleep 0.1; done
grep -q "configuration refused, the running one stays: .*lost_after_ms" "$work/hub.log" || fail "bad reload not refused"
curl -sf "$url/readyz" >/dev/null || fail "not ready after a refused reload"; pass

"$bin/lockstep" start --name service-test >/dev/null || fail "start"
sleep 3
metrics=$(curl -sf "$url/metrics") || fail "/metrics"
for name in lockstep_build_info lockstep_ready lockstep_devices_connected lockstep_recording lockstep_device_up \
    lockstep_device_clock_offset_seconds lockstep_device_clock_uncertainty_seconds lockstep_device_clock_skew_ratio \
    lockstep_stream_written_bytes lockstep_ingest_engine_info lockstep_durability_rounds_total \
    lockstep_sync_timestamp_self_test_passed lockstep_storage_free_bytes process_resident_memory_bytes process_open_fds; do
    grep -q "^$name[{ ]" <<<"$metrics" || fail "/metrics lacks $name"
done
grep -q '^lockstep_recording 1$' <<<"$metrics" || fail "/metrics does not show the recording"
grep -q '^lockstep_device_clock_offset_seconds{device="svc-01"} ' <<<"$metrics" || fail "/metrics lacks svc-01's offset"
# Every sample line is NAME{labels} VALUE with a number, every family has HELP and TYPE.
bad=$(grep -v '^#' <<<"$metrics" | grep -Ev '^[a-z_:][a-z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$' || true)
[ -z "$bad" ] || fail "malformed /metrics lines: $bad"
[ "$(grep -c '^# TYPE' <<<"$metrics")" = "$(grep -c '^# HELP' <<<"$metrics")" ] || fail "HELP and TYPE lines differ in number"; pass

session=$("$bin/lockstep" status --json | grep -o '"session_id":"[^"]*"' | head -1 | cut -d'"' -f4)
kill -TERM "$hub"
for _ in $(seq 300); do kill -0 "$hub" 2>/dev/null || break; sleep 0.1; done
kill -0 "$hub" 2>/dev/null && fail "lockstepd still running 30 s after SIGTERM"
wait "$hub" || fail "lockstepd exited with status $? after SIGTERM"; pass

# READY, then WATCHDOG pings, then STOPPING, in that order.
order=$(grep -o '^READY=1\|^WATCHDOG=1\|^STOPPING=1' "$work/notify.log" | uniq | tr '\n' ' ')
case "$order" in
READY=1\ WATCHDOG=1\ *STOPPING=1\ ) ;;
*) fail "notifications out of order: $order" ;;
esac
[ "$(grep -c '^WATCHDOG=1' "$work/notify.log")" -ge 2 ] || fail "fewer than 2 watchdog pings (one a second expected)"
grep -q "^STOPPING=1;STATUS=stopping: closing the session" "$work/notify.log" || fail "STOPPING did not say the session closes"; pass

manifest="$work/data/sessions/$session/manifest.json"
grep -q '"status":"complete"' "$manifest" || fail "session not complete after SIGTERM: $(head -c 400 "$manifest")"
[ -s "$work/data/sessions/$session/report.json" ] || fail "no report after SIGTERM"
"$bin/lockstep" verify "$session" --data-dir "$work/data" >"$work/verify.txt" || fail "session does not verify: $(cat "$work/verify.txt")"
grep -q "stopped after closing" "$work/hub.log" || grep -q "lockstepd stopped" "$work/hub.log" || fail "no clean-stop line"; pass
# Least privilege, as the unit runs it: an unprivileged user holding only CAP_NET_RAW and CAP_NET_ADMIN
# (ambient), no new privileges. The io_uring engine, kernel stamps and the pcap capture must all work.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    chmod 0711 "$work"  # the service user must reach its folder below
    mkdir -p "$work/unprivileged"
    chown 65534:65534 "$work/unprivileged"
    rm -f "$work/ready"
    setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all,+net_raw,+net_admin --ambient-caps=-all,+net_raw,+net_admin \
        --bounding-set=-all,+net_raw,+net_admin --no-new-privs \
        "$bin/lockstepd" --data-dir "$work/unprivileged/data" --http-port 0 --data-port 0 --sync-port 0 \
        --ready-file "$work/unprivileged/ready" >"$work/hub.log" 2>&1 &
    hub=$!
    pids+=($hub)
    for _ in $(seq 200); do [ -s "$work/unprivileged/ready" ] && break; sleep 0.1; done
    [ -s "$work/unprivileged/ready" ] || fail "lockstepd did not start as an unprivileged user"
    http=$(grep -o '"http":[0-9]*' "$work/unprivileged/ready" | cut -d: -f2)
    status=$(curl -sf "http://127.0.0.1:$http/api/v1/status")
    grep -q '"engine":"io_uring"' <<<"$status" || fail "no io_uring engine without root: $status"
    grep -q '"timestamp_source":"kernel"' <<<"$status" || fail "no kernel stamps without root: $status"
    grep -q '"timestamping_self_test":{"failure":null,"passed":true}' <<<"$status" || fail "self-test failed without root: $status"
    [ "$(stat -c %u "$work/unprivileged/data/sessions")" = 65534 ] || fail "data folder not owned by the service user"
    kill -TERM "$hub"
    wait "$hub" || fail "unprivileged lockstepd exited with status $?"; pass
else
    echo "service-e2e: not root or no setpriv: the unprivileged run is skipped"
fi
echo "service-e2e: $checks passed, 0 failed"
