# Shared start of the end-to-end scripts: sourced as `. scripts/e2e-common.sh NAME BIN_DIR`.
# Sets bin, work (a temporary folder, removed at exit) and pids (killed at exit, with their
# children waited for), and fail MESSAGE, which prints the tail of $work/hub.log and exits 1.
set -euo pipefail
e2e_name=$1
bin=${2:-.build/debug}
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "$e2e_name: FAILED: $*" >&2; [ -f "$work/hub.log" ] && tail -30 "$work/hub.log" >&2; exit 1; }

# start_hub ARGS...: starts lockstepd with ARGS and --ready-file, its output appended to $work/hub.log
# (variables set before the call, e.g. NOTIFY_SOCKET=... start_hub ..., reach it), waits until it
# listens, and sets hub (its pid), http and data (its ports).
start_hub() {
    rm -f "$work/ready"
    "$bin/lockstepd" "$@" --ready-file "$work/ready" >>"$work/hub.log" 2>&1 &
    hub=$!
    pids+=("$hub")
    for _ in $(seq 300); do [ -s "$work/ready" ] && break; sleep 0.05; done
    [ -s "$work/ready" ] || fail "lockstepd did not become ready"
    http=$(grep -o '"http":[0-9]*' "$work/ready" | cut -d: -f2)
    data=$(grep -o '"data":[0-9]*' "$work/ready" | cut -d: -f2)
}
