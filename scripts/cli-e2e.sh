#!/usr/bin/env bash
# End-to-end check of the real executables: lockstepd, lockstep-device and the lockstep CLI on
# loopback with free ports; a short recording; verify; exit codes; a bad config refused.
# Usage: scripts/cli-e2e.sh BIN_DIR
. "$(dirname "$0")/e2e-common.sh" cli-e2e "${1:-}"

# A bad configuration is refused with the file, the key and the reason.
printf 'http_port: 80000\n' >"$work/bad.yaml"
if "$bin/lockstepd" --config "$work/bad.yaml" --check-config 2>"$work/err"; then fail "bad config accepted"; fi
grep -q "http_port" "$work/err" || fail "config error does not name the key: $(cat "$work/err")"
printf 'frobnicate: 1\n' >"$work/bad2.yaml"
if "$bin/lockstepd" --config "$work/bad2.yaml" --check-config 2>"$work/err"; then fail "unknown key accepted"; fi
grep -q "unknown key" "$work/err" || fail "unknown key not reported"

start_hub --data-dir "$work/data" --http-port 0 --data-port 0 --sync-port 0
export LOCKSTEP_HUB="http://127.0.0.1:$http"

# Without --hub or $LOCKSTEP_HUB the CLI finds the hub through the installed configuration.
printf 'http_port: %s\n' "$http" >"$work/installed.yaml"
env -u LOCKSTEP_HUB LOCKSTEP_CONFIG="$work/installed.yaml" "$bin/lockstep" status --json | grep -q '"readiness":"ready"' \
    || fail "the CLI did not find the hub through LOCKSTEP_CONFIG"

# Stopping with no session is an error with exit code 1.
if "$bin/lockstep" stop 2>"$work/err"; then fail "stop without a session succeeded"; fi
grep -q "no_session" "$work/err" || fail "stop without a session: $(cat "$work/err")"

"$bin/lockstep-device" --http-port "$http" --devices 3 --id cli --rate-scale 0.02 --offset-ms 120 --offset-step-ms 10 \
    >"$work/devices.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do
    "$bin/lockstep" status --json | grep -q '"devices_connected":3' && break
    sleep 0.1
done
"$bin/lockstep" status --json | grep -q '"devices_connected":3' || fail "devices did not connect"
"$bin/lockstep" devices | grep -q "cli-03" || fail "devices table lacks cli-03"
"$bin/lockstep" start --name cli-test --json | grep -q '"status":"recording"' || fail "start"
if "$bin/lockstep" start 2>"$work/err"; then fail "second start succeeded"; fi
sleep 2
"$bin/lockstep" mark "cli-marker" >/dev/null || fail "mark"
sleep 1
"$bin/lockstep" stop --json >"$work/stop.json" || fail "stop: $(cat "$work/stop.json")"
session=$(grep -o '"session_id":"[^"]*"' "$work/stop.json" | cut -d'"' -f4)
"$bin/lockstep" verify "$session" --data-dir "$work/data" || fail "verify"
"$bin/lockstep" sessions | grep -q "$session" || fail "sessions list lacks $session"
grep -q '"label":"cli-marker"' "$work/data/sessions/$session/events.jsonl" || fail "operator marker not journalled"
[ -s "$work/data/sessions/$session/report.json" ] || fail "no timing report"

# The session and its report through the hub, the report from the folder alone, and the exit codes:
# 1 a refusal, 64 a malformed id, 2 an unreachable hub.
"$bin/lockstep" session "$session" | grep -q "cli-marker" || fail "session detail lacks the operator marker"
"$bin/lockstep" report "$session" | grep -q "verdict: pass" || fail "report summary: $("$bin/lockstep" report "$session")"
"$bin/lockstep" report "$work/data/sessions/$session" -o "$work/report.json" >/dev/null || fail "report from the folder"
"$bin/lockstep" report "$work/data/sessions/$session" --format json -o "$work/report.json" >/dev/null || fail "report from the folder"
python3 - "$work/report.json" "$work/data/sessions/$session/report.json" <<'PY' || fail "the offline report differs from the hub's"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["devices"] == b["devices"] and a["alignment"] == b["alignment"] and a["verdict"] == b["verdict"], "figures differ"
PY
# The HTML report: every section, six charts per device, no script; the tidy CSV.
"$bin/lockstep" report "$session" --format html -o "$work/report.html" >/dev/null || fail "report --format html"
python3 - "$work/report.html" <<'PY' || fail "the HTML report lacks a section or chart"
import sys
from html.parser import HTMLParser
class Parser(HTMLParser):
    ids, svgs, scripts = set(), 0, 0
    def handle_starttag(self, tag, attrs):
        self.ids.update(v for k, v in attrs if k == "id")
        self.svgs += tag == "svg"
        self.scripts += tag == "script"
p = Parser()
p.feed(open(sys.argv[1]).read())
need = {"summary", "devices", "alignment", "integrity", "markers", "method", "device-cli-01", "device-cli-02", "device-cli-03"}
assert need <= p.ids, need - p.ids
assert p.svgs == 18 and p.scripts == 0, (p.svgs, p.scripts)
PY
"$bin/lockstep" report "$session" --format csv >"$work/report.csv" || fail "report --format csv"
head -1 "$work/report.csv" | grep -q "^device_id,quantity,hub_ns,tau_s,value,unit,used$" || fail "report csv header"
# Exports: XDF read by pyxdf, whose own clock sync must land every frame within 1 µs of the CSV's hub time.
"$bin/lockstep" export "$session" --data-dir "$work/data" --format xdf -o "$work/session.xdf" >/dev/null || fail "export xdf"
"$bin/lockstep" export "$session" --data-dir "$work/data" --format csv -o "$work/csv" >/dev/null || fail "export csv"
python3 "$(dirname "$0")/export-check.py" "$work/session.xdf" "$work/csv" || fail "the XDF export does not match"
code=0; "$bin/lockstep" start --require no-such-device 2>"$work/err" || code=$?
[ "$code" = 1 ] && grep -q "device_missing" "$work/err" || fail "start with a missing required device: exit $code, $(cat "$work/err")"
code=0; "$bin/lockstep" session "../../etc" 2>/dev/null || code=$?
[ "$code" = 64 ] || fail "a malformed session id: exit $code, expected 64"
code=0; "$bin/lockstep" status --hub http://127.0.0.1:1 2>/dev/null || code=$?
[ "$code" = 2 ] || fail "an unreachable hub: exit $code, expected 2"

# Damage one byte in the middle of a stream file: verify must fail with exit code 1.
file=$(ls "$work/data/sessions/$session/devices/cli-01/"stream-1.lss)
size=$(stat -c %s "$file")
printf '\xff' | dd of="$file" bs=1 seek=$((size / 2)) conv=notrunc status=none
if "$bin/lockstep" verify "$session" --data-dir "$work/data" >"$work/verify.txt"; then fail "verify passed a damaged file"; fi
grep -q "FAILED" "$work/verify.txt" || fail "verify did not report the damage"

# Crash recovery: SIGKILL the hub mid-recording, restart it on the same folder; the interrupted session
# is recovered up to its last valid frame, and every stored frame verifies.
"$bin/lockstep" start --name crash >/dev/null || fail "start before crash"
sleep 2
crashed=$("$bin/lockstep" status --json | grep -o '"session_id":"[^"]*"' | head -1 | cut -d'"' -f4)
kill -9 "$hub"
wait "$hub" 2>/dev/null || true
start_hub --data-dir "$work/data" --http-port 0 --data-port 0 --sync-port 0
grep -q '"status":"recovered"' "$work/data/sessions/$crashed/manifest.json" || fail "interrupted session not marked recovered"
"$bin/lockstep" verify "$crashed" --data-dir "$work/data" >"$work/verify-crash.txt" || fail "recovered session does not verify: $(cat "$work/verify-crash.txt")"
grep -q "status recovered" "$work/verify-crash.txt" || fail "verify does not show the recovered status"
echo "cli-e2e: 2 passed, 0 failed"
