#!/usr/bin/env bash
# The demo: lockstepd on loopback with ./lockstep-data, 8 simulated phones (RGB video ≈ 12.5 MB/s,
# thermal, GSR) with different clock offsets and skews, a 10-second recording with markers, then a
# full verification of every stored frame and the timing report (printed; report.html in the session
# folder, whose path is the last line).
# Knobs: DEMO_DEVICES (8), DEMO_SECONDS (10), DEMO_SCALE (1 = full-rate video), DEMO_DATA (./lockstep-data).
set -euo pipefail
bin=.build/release
devices=${DEMO_DEVICES:-8}
seconds=${DEMO_SECONDS:-10}
scale=${DEMO_SCALE:-1}
data=${DEMO_DATA:-./lockstep-data}
http=${DEMO_HTTP_PORT:-8750}
export LOCKSTEP_HUB="http://127.0.0.1:$http"
mkdir -p "$data"
ready=$(mktemp)
rm -f "$ready"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "== starting lockstepd (data in $data, logs in $data/lockstepd.log)"
"$bin/lockstepd" --data-dir "$data" --http-port "$http" --data-port $((http + 1)) --sync-port $((http + 2)) \
    --ready-file "$ready" >"$data/lockstepd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$ready" ] && break; sleep 0.1; done
[ -s "$ready" ] || { echo "lockstepd did not start:"; cat "$data/lockstepd.log"; exit 1; }

echo "== starting $devices simulated devices (offsets 250 ms + 37.5 ms steps, skew 15 ppm)"
"$bin/lockstep-device" --http-port "$http" --devices "$devices" --id phone --rate-scale "$scale" \
    --offset-ms 250 --offset-step-ms 37.5 --skew-ppm 15 >"$data/devices.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    [ "$("$bin/lockstep" status --json 2>/dev/null | grep -o '"devices_connected":[0-9]*' | cut -d: -f2)" = "$devices" ] && break
    sleep 0.1
done
sleep 1  # let the sync burst settle
"$bin/lockstep" devices

echo "== recording for $seconds s"
"$bin/lockstep" start --name demo
session=$("$bin/lockstep" status --json | grep -o '"session_id":"[^"]*"' | head -1 | cut -d'"' -f4)
for i in $(seq "$seconds"); do
    sleep 1
    [ "$i" = 3 ] && "$bin/lockstep" mark "stimulus-onset"
    printf '\r   %2d / %d s' "$i" "$seconds"
done
echo
echo "== stopping (waits until every frame sent is stored)"
"$bin/lockstep" stop
echo "== verifying every frame"
"$bin/lockstep" verify "$session" --data-dir "$data"
echo "== timing report"
"$bin/lockstep" report "$session"
echo "== session folder: $data/sessions/$session"
echo "== timing report (open in a browser): $(cd "$data/sessions/$session" && pwd)/report.html"
