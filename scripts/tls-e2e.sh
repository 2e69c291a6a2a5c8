#!/usr/bin/env bash
# TLS on the HTTP listener, against the real binaries (test certificates in Tests/ControllerTests/
# Fixtures): --check-config refuses a key that does not match; the hub then serves HTTPS only (curl
# with the hub's certificate as its CA gets answers, plain HTTP gets none); a device given the hub's
# certificate records over WSS and its session verifies; a device given another certificate is kept out.
# Usage: scripts/tls-e2e.sh BIN_DIR
. "$(dirname "$0")/e2e-common.sh" tls-e2e "${1:-}"
fixtures=$(cd "$(dirname "$0")/../Tests/ControllerTests/Fixtures" && pwd)
command -v curl >/dev/null || fail "needs curl"

printf 'data_dir: %s\ntls_certificate: %s\ntls_private_key: %s\n' "$work/data" "$fixtures/hub.crt" "$fixtures/other.key" >"$work/bad.yaml"
if "$bin/lockstepd" --config "$work/bad.yaml" --check-config >"$work/check.txt" 2>&1; then fail "--check-config accepted a key of another certificate"; fi
grep -q "does not belong to tls_certificate" "$work/check.txt" || fail "--check-config gave no reason: $(cat "$work/check.txt")"

printf 'data_dir: %s\ntls_certificate: %s\ntls_private_key: %s\n' "$work/data" "$fixtures/hub.crt" "$fixtures/hub.key" >"$work/hub.yaml"
"$bin/lockstepd" --config "$work/hub.yaml" --check-config >/dev/null || fail "--check-config refused a good TLS configuration"
start_hub --config "$work/hub.yaml" --http-port 0 --data-port 0 --sync-port 0 --log-level warning
hub_url="https://127.0.0.1:$http"
api() { curl -sf --cacert "$fixtures/hub.crt" "$@"; }
api "$hub_url/healthz" | grep -q '"ok"' || fail "no answer over HTTPS"
if curl -sf -m 5 "http://127.0.0.1:$http/healthz" >/dev/null 2>&1; then fail "plain HTTP was answered on the TLS listener"; fi
if curl -sf -m 5 "$hub_url/healthz" >/dev/null 2>&1; then fail "curl without the hub's certificate trusted it"; fi

"$bin/lockstep-device" --http-port "$http" --id tls-good --profile gsr --tls-ca "$fixtures/hub.crt" >"$work/good.log" 2>&1 &
pids+=($!)
"$bin/lockstep-device" --http-port "$http" --id tls-fooled --profile gsr --tls-ca "$fixtures/other.crt" >"$work/fooled.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do api "$hub_url/api/v1/status" | grep -q '"devices_connected":1' && break; sleep 0.1; done
sleep 1  # the device that trusts another certificate has retried by now
api "$hub_url/api/v1/status" | grep -q '"devices_connected":1' || fail "status: $(api "$hub_url/api/v1/status")"
api "$hub_url/api/v1/devices" | grep -q 'tls-fooled' && fail "a device that cannot verify the hub got in"
grep -qi "certificate" "$work/fooled.log" || fail "the refused device does not say why: $(tail -2 "$work/fooled.log")"
session=$(api -X POST -H 'Content-Type: application/json' -d '{"name":"tls"}' "$hub_url/api/v1/sessions" | grep -o '"session_id":"[^"]*"' | cut -d'"' -f4)
[ -n "$session" ] || fail "could not start a session over HTTPS"
sleep 2
api -X POST -H 'Content-Type: application/json' -d '{}' "$hub_url/api/v1/sessions/current/stop" | grep -q '"status":"complete"' \
    || fail "the session over TLS did not complete"
"$bin/lockstep" verify "$session" --data-dir "$work/data" >"$work/verify.txt" || fail "verify: $(cat "$work/verify.txt")"
echo "tls-e2e: the refused device said: $(grep -i -m1 certificate "$work/fooled.log" | cut -c1-160)"
echo "tls-e2e: --check-config names a mismatched key; HTTPS only; a device recorded over WSS and its session verifies;" \
    "a device trusting another certificate was kept out"
