#!/usr/bin/env bash
# The data disk fills during a recording (a 48 MiB tmpfs, 2 devices at 4 MB/s each): the hub stops the
# session by itself with the reason in its problems, writes the manifest and the report (from its
# storage reserve), every stored frame verifies, and the hub keeps serving. Needs root (mount).
# Usage: scripts/diskfull-e2e.sh BIN_DIR
. "$(dirname "$0")/e2e-common.sh" diskfull-e2e "${1:-}"
mkdir -p "$work/disk"
if ! mount -t tmpfs -o size=48m tmpfs "$work/disk" 2>/dev/null; then
    [ "${LOCKSTEP_REQUIRE_INTEGRATION:-}" = 1 ] && fail "cannot mount a tmpfs (needs root), and CI requires this test"
    echo "diskfull-e2e: skipped: cannot mount a tmpfs here (needs root)"
    exit 0
fi
trap 'for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; umount -l "$work/disk" || true; rm -rf "$work"' EXIT

start_hub --data-dir "$work/disk/data" --http-port 0 --data-port 0 --sync-port 0
export LOCKSTEP_HUB="http://127.0.0.1:$http"
"$bin/lockstep-device" --http-port "$http" --devices 2 --id full --profile video --rate-scale 0.32 >"$work/devices.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do "$bin/lockstep" status --json | grep -q '"devices_connected":2' && break; sleep 0.1; done
"$bin/lockstep" start --name diskfull --json >"$work/start.json" || fail "start: $(cat "$work/start.json")"
session=$(grep -o '"session_id":"[^"]*"' "$work/start.json" | cut -d'"' -f4)
# 44 MiB free at 8 MB/s: full in about 6 s; the hub must stop the session itself.
for _ in $(seq 600); do
    "$bin/lockstep" status --json | grep -q '"recording":false' && break
    sleep 0.1
done
"$bin/lockstep" status --json | grep -q '"recording":false' || fail "the session still records 60 s into a full disk"
folder="$work/disk/data/sessions/$session"
grep -q '"status":"incomplete"' "$folder/manifest.json" || fail "manifest status: $(grep -o '"status":"[^"]*"' "$folder/manifest.json")"
grep -q 'recording stopped because the data disk failed' "$folder/manifest.json" || fail "the manifest does not say why it stopped"
[ -s "$folder/report.json" ] || fail "no timing report on the full disk"
# The frames the devices sent into the full disk are missing (exit 1, INCOMPLETE), every stored one is valid.
if "$bin/lockstep" verify "$folder" >"$work/verify.txt"; then fail "verify found nothing missing after a full disk"; fi
grep -q "^verify: INCOMPLETE: every stored frame passed its checks" "$work/verify.txt" \
    || fail "stored frames do not verify: $(cat "$work/verify.txt")"
frames=$(grep -o '"frames":[0-9]*' "$folder/manifest.json" | tail -1 | cut -d: -f2)
[ "${frames:-0}" -gt 100 ] || fail "only ${frames:-0} frames stored before the disk filled"
curl -sf "$LOCKSTEP_HUB/readyz" >/dev/null || fail "the hub is not ready after the disk filled"
kill -0 "$hub" || fail "the hub died"
echo "diskfull-e2e: the session stopped itself with the reason, $frames stored frames verify, the hub serves on"
