#!/usr/bin/env bash
# Fault injection against the real processes on loopback:
#  1. The hub is killed (SIGKILL) at a random instant of a recording and restarted on the same folder,
#     FAULT_ITERATIONS times (default 20). Each time the interrupted session must come back
#     `recovered`, verify clean (every CRC and sequence), and hold every frame the devices had been
#     told was durable (lockstep-device --ack-file logs each acknowledgement as it arrives).
#  2. 100 connections opened at once to the data port and 100 to the HTTP port, none speaking: the
#     hub closes them (handshake deadline, connection limit) and keeps serving.
#  3. A device records while scripts/garbage-flood.py floods every port (data, HTTP, the control
#     WebSocket, sync) with garbage for 8 s: the session completes and verifies with every frame,
#     the device's clock estimate stays within 100 µs of the truth (0: no synthetic offset), the
#     forged sync datagrams are counted, and the hub serves on.
# Usage: scripts/fault-e2e.sh BIN_DIR
. "$(dirname "$0")/e2e-common.sh" fault-e2e "${1:-}"
iterations=${FAULT_ITERATIONS:-20}
# Silent HTTP connections are closed after 2 s; the per-address rate limit is lifted, as every
# connection here comes from 127.0.0.1 (ConnectionLimitsTests covers the limit).
printf 'data_dir: %s\nhttp_port: 0\ndata_port: 0\nsync_port: 0\nstart_lead_ms: 300\ndurability_interval_ms: 50\n' \
    "$work/data" >"$work/hub.yaml"
printf 'http_idle_timeout_ms: 2000\nconnection_rate_per_address: 0\n' >>"$work/hub.yaml"

start_fault_hub() {
    start_hub --config "$work/hub.yaml" --log-level warning
    export LOCKSTEP_HUB="http://127.0.0.1:$http"
}

# Every acknowledged frame of SESSION is in the verified files: the last acknowledgement per stream
# against the frame count `lockstep verify --json` found.
check_acknowledged() {
    python3 - "$1" "$work/acks" "$work/verify.json" <<'EOF'
import json, sys
session, acks_path, verify_path = sys.argv[1:]
through = {}
for line in open(acks_path):
    ack = json.loads(line)
    if ack["session_id"] == session:
        key = f'{ack["device_id"]}/{ack["stream_id"]}'
        through[key] = max(through.get(key, -1), ack["through"])
report = json.load(open(verify_path))
frames = {stream["stream"]: stream["frames"] for stream in report["streams"]}
if not report["ok"] or report["status"] != "recovered":
    sys.exit(f"session {session}: ok={report['ok']} status={report['status']}")
if not through:
    sys.exit(f"session {session}: no acknowledgements were logged")
lost = {key: (bound, frames.get(key, 0)) for key, bound in through.items() if frames.get(key, 0) < bound + 1}
if lost:
    sys.exit(f"session {session}: acknowledged frames missing (stream: acknowledged through, frames stored): {lost}")
print(f"{len(through)} streams, {sum(b + 1 for b in through.values())} acknowledged frames all present")
EOF
}

start_fault_hub
for iteration in $(seq "$iterations"); do
    : >"$work/acks"
    "$bin/lockstep-device" --http-port "$http" --devices 2 --id fault --rate-scale 0.2 --ack-file "$work/acks" \
        >"$work/devices.log" 2>&1 &
    devices=$!
    pids+=("$devices")
    for _ in $(seq 100); do "$bin/lockstep" status --json | grep -q '"devices_connected":2' && break; sleep 0.05; done
    session=$("$bin/lockstep" start --name "fault-$iteration" --json | grep -o '"session_id":"[^"]*"' | cut -d'"' -f4)
    [ -n "$session" ] || fail "iteration $iteration: start"
    # Kill at a random instant 0.8 to 2.8 s after the start command (the start lead is 0.3 s).
    sleep "$(awk -v seed="$RANDOM" 'BEGIN { srand(seed); printf "%.2f", 0.8 + 2 * rand() }')"
    kill -9 "$hub"
    wait "$hub" 2>/dev/null || true
    sleep 0.2  # the device logs what it had been acknowledged within 10 ms
    kill "$devices" 2>/dev/null || true
    wait "$devices" 2>/dev/null || true
    start_fault_hub
    "$bin/lockstep" verify "$session" --data-dir "$work/data" --json >"$work/verify.json" || true
    result=$(check_acknowledged "$session") || fail "iteration $iteration: $result"
    echo "fault-e2e: kill $iteration/$iterations: recovered, $result"
done

# 100 silent connections at once to each listener: all closed by the hub, which keeps serving.
python3 - "$data" "$http" <<'EOF'
import socket, sys, time
data_port, http_port = int(sys.argv[1]), int(sys.argv[2])
sockets = []
for port in (data_port, http_port):
    for _ in range(100):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        sockets.append((port, s))
import urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz", timeout=10) as response:
    if response.status != 200:
        sys.exit(f"/readyz answered {response.status} with 200 connections open")
deadline = time.time() + 30
for port, s in sockets:
    try:
        while True:  # the hub may send a refusal (handshake_timeout) before it closes
            s.settimeout(max(0.1, deadline - time.time()))
            if s.recv(4096) == b"":
                break
    except socket.timeout:
        sys.exit(f"a silent connection to port {port} was not closed within 30 s")
    except ConnectionResetError:
        pass
for _, s in sockets:
    s.close()
EOF
curl -sf "$LOCKSTEP_HUB/readyz" >/dev/null || fail "hub not ready after 200 silent connections"
"$bin/lockstep" status --json >/dev/null || fail "API does not answer after 200 silent connections"
kill -0 "$hub" || fail "hub died"
echo "fault-e2e: 200 silent connections: the API answered meanwhile, the hub closed them all, and serves on"

# A garbage flood on every port while a device records.
sync=$(grep -o '"sync":[0-9]*' "$work/ready" | cut -d: -f2)
"$bin/lockstep-device" --http-port "$http" --id steady --profile video --rate-scale 0.1 >"$work/steady.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do "$bin/lockstep" status --json | grep -q '"devices_connected":1' && break; sleep 0.05; done
sleep 3  # the device's clock estimate settles
session=$("$bin/lockstep" start --name flood --json | grep -o '"session_id":"[^"]*"' | cut -d'"' -f4)
[ -n "$session" ] || fail "flood: start"
flood=$(python3 "$(dirname "$0")/garbage-flood.py" "$http" "$data" "$sync" 8) || fail "the flooder failed"
"$bin/lockstep" stop --json >"$work/stop.json" || fail "flood: stop: $(cat "$work/stop.json")"
grep -q '"status":"complete"' "$work/stop.json" || fail "flood: the session is not complete: $(cat "$work/stop.json")"
"$bin/lockstep" verify "$session" --data-dir "$work/data" >"$work/verify.txt" || fail "flood: verify: $(cat "$work/verify.txt")"
curl -sf "$LOCKSTEP_HUB/metrics" >"$work/metrics" || fail "flood: no /metrics"
ignored=$(awk '/^lockstep_sync_ignored_packets_total / {print int($2)}' "$work/metrics")
[ "${ignored:-0}" -gt 1000 ] || fail "flood: only ${ignored:-0} sync datagrams counted as ignored"
# The steady device's clock has no synthetic offset: the truth is 0, so the estimate is the error.
offset=$(curl -sf "$LOCKSTEP_HUB/api/v1/devices" | python3 -c \
    'import json, sys; print(abs(next(d for d in json.load(sys.stdin)["devices"] if d["device_id"] == "steady")["clock"]["offset_ns"]))')
[ "${offset:-999999999}" -lt 100000 ] || fail "flood: the device's clock estimate is ${offset:-unknown} ns off after the flood"
kill -0 "$hub" || fail "hub died in the flood"
echo "fault-e2e: garbage flood ($flood): session complete and verified, $ignored sync datagrams ignored," \
    "clock estimate ${offset} ns from the truth, the hub serves on"
echo "fault-e2e: $((iterations + 2)) passed, 0 failed"
