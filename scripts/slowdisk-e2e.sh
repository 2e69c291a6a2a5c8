#!/usr/bin/env bash
# The data disk is slower than the devices (scripts/slowfs.py: a FUSE filesystem writing 4 MB/s, each
# fdatasync 50 ms late; 2 devices offer 8 MB/s): the hub pushes back with TCP flow control instead of
# buffering or dropping. While it records, the pool's use stays within its 16 MiB, connections are
# seen waiting, and the hub's resident memory does not grow with the backlog; after the stop every
# frame a device sent is stored and verifies. Needs root (FUSE mount), fusepy and libfuse2.
# Usage: scripts/slowdisk-e2e.sh BIN_DIR
. "$(dirname "$0")/e2e-common.sh" slowdisk-e2e "${1:-}"
skip() {
    [ "${LOCKSTEP_REQUIRE_INTEGRATION:-}" = 1 ] && fail "$1, and CI requires this test"
    echo "slowdisk-e2e: skipped: $1"
    exit 0
}
[ -c /dev/fuse ] || skip "no /dev/fuse"
python3 -c "import fuse" 2>/dev/null || skip "fusepy is not installed (scripts/install-deps.sh --test)"
mkdir -p "$work/backing" "$work/slow"
python3 "$(dirname "$0")/slowfs.py" "$work/backing" "$work/slow" --write-rate 4000000 --sync-ms 50 >"$work/slowfs.log" 2>&1 &
fs=$!
for _ in $(seq 100); do mountpoint -q "$work/slow" && break; sleep 0.1; done
mountpoint -q "$work/slow" || { kill "$fs" 2>/dev/null; skip "cannot mount a FUSE filesystem here: $(tail -1 "$work/slowfs.log")"; }
trap '{ for pid in "${pids[@]}"; do kill -9 "$pid" || true; done; umount -l "$work/slow" || true
      kill "$fs" || true; wait || true; } 2>/dev/null; rm -rf "$work"' EXIT

printf 'data_dir: %s\ningest_buffer_mib: 16\nframe_bytes_max: 1048576\n' "$work/slow/data" >"$work/hub.yaml"
start_hub --config "$work/hub.yaml" --http-port 0 --data-port 0 --sync-port 0 --ingest-engine io_uring --log-level warning
export LOCKSTEP_HUB="http://127.0.0.1:$http"
"$bin/lockstep-device" --http-port "$http" --devices 2 --id slow --profile video --rate-scale 0.32 --marker-interval 0 \
    >"$work/devices.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do "$bin/lockstep" status --json | grep -q '"devices_connected":2' && break; sleep 0.1; done
"$bin/lockstep" start --name slowdisk --json >"$work/start.json" || fail "start: $(cat "$work/start.json")"
session=$(grep -o '"session_id":"[^"]*"' "$work/start.json" | cut -d'"' -f4)

metric() { grep "^$1 " "$work/metrics" | awk '{print $2}' | cut -d. -f1; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$hub/status"; }
# From the first wait on (the pool's pages are all touched by then), resident memory must stay flat
# while the backlog upstream keeps growing by about 4 MB/s.
waiting_seen=0
rss_early=
began=$(date +%s%N)
while [ $(( $(date +%s%N) - began )) -lt 8000000000 ]; do
    curl -sf "$LOCKSTEP_HUB/metrics" >"$work/metrics" || fail "no /metrics"
    if [ "$(metric lockstep_ingest_connections_waiting)" -gt 0 ]; then waiting_seen=1; [ -n "$rss_early" ] || rss_early=$(rss); fi
    sleep 0.1
done
rss_late=$(rss)
backpressure=$(metric lockstep_ingest_backpressure_waits_total)
pool=$(metric lockstep_ingest_pool_bytes)
peak=$(metric lockstep_ingest_pool_in_use_peak_bytes)
received=$(metric lockstep_ingest_received_bytes_total)
"$bin/lockstep" stop --json >"$work/stop.json" || fail "stop: $(cat "$work/stop.json")"

[ "${backpressure:-0}" -gt 0 ] || fail "no backpressure waits while the disk was 2x slower than the devices"
[ "$waiting_seen" = 1 ] || fail "no connection was ever seen waiting for buffers"
[ "$peak" -le "$pool" ] || fail "pool use $peak exceeds the pool $pool"
# About 8 s at 8 MB/s were offered (64 MB); the hub took what the disk wrote (4 MB/s, 32 MB) plus its
# 16 MiB pool, and the rest waited upstream.
[ "$received" -lt 56000000 ] || fail "the hub received $received bytes in 8 s: it read faster than the disk wrote"
growth=$(( (rss_late - rss_early) / 1024 ))
[ "$growth" -le 6 ] || fail "hub RSS grew $growth MiB while the backlog grew (${rss_early} → ${rss_late} KiB)"
grep -q '"status":"complete"' "$work/stop.json" || fail "the session is not complete: $(cat "$work/stop.json")"
"$bin/lockstep" verify "$work/slow/data/sessions/$session" >"$work/verify.txt" || fail "verify: $(cat "$work/verify.txt")"
frames=$(grep -o '"frames":[0-9]*' "$work/slow/data/sessions/$session/manifest.json" | tail -1 | cut -d: -f2)
kill -0 "$hub" || fail "the hub died"
echo "slowdisk-e2e: backpressure (${backpressure} waits, pool peak $((peak >> 20)) of $((pool >> 20)) MiB, RSS +${growth} MiB," \
    "$((received >> 20)) MiB received in 8 s), then every frame stored and verified ($frames in the last stream)"
