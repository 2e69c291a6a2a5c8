#!/usr/bin/env bash
# The dashboard in a real browser: lockstepd and 3 simulated devices on loopback, then headless
# Chromium (Debian's chromium + chromium-driver) driven by scripts/dashboard-e2e.py. Screenshots go
# to SCREENSHOT_DIR (default: the temporary folder, removed at exit).
# Usage: scripts/dashboard-e2e.sh BIN_DIR
. "$(dirname "$0")/e2e-common.sh" dashboard-e2e "${1:-}"
command -v chromedriver >/dev/null || fail "chromedriver is missing (scripts/install-deps.sh --test installs chromium-driver)"
shots=${SCREENSHOT_DIR:-$work/shots}

start_hub --data-dir "$work/data" --http-port 0 --data-port 0 --sync-port 0

"$bin/lockstep-device" --http-port "$http" --devices 3 --id tab --rate-scale 0.04 --offset-ms 80 --offset-step-ms 15 \
    >"$work/devices.log" 2>&1 &
pids+=($!)

python3 "$(dirname "$0")/dashboard-e2e.py" "http://127.0.0.1:$http" "$shots" 3 || fail "see above"
echo "dashboard-e2e: screenshots in $shots"
