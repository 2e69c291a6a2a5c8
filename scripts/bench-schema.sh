#!/usr/bin/env bash
# Checks that lockstep-bench's JSON honours its documented keys on a short run (not the figures).
# Usage: scripts/bench-schema.sh BIN_DIR
set -euo pipefail
bin=${1:-.build/debug}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "bench-schema: FAILED: $*" >&2; exit 1; }
has() { grep -q "\"$2\":" <<<"$1" || fail "key $2 missing in: $1"; }
number() { grep -qE "\"$2\":-?[0-9]" <<<"$1" || fail "key $2 is not a number in: $1"; }

ingest=$("$bin/lockstep-bench" ingest --devices 2 --rate 1MB/s --duration 3s --data-dir "$work" --json) \
    || fail "ingest exited non-zero"
for key in aggregate_mb_per_s durable_mb_per_s disk_baseline_mb_per_s ratio_to_disk_baseline frames_sent frames_stored frames_lost \
    frames_duplicated bytes_verified hub_cpu_percent hub_peak_rss_mib; do number "$ingest" "$key"; done
for key in p50 p99 p999; do number "$ingest" "$key"; done
has "$ingest" latency_us
grep -q '"problems":\[\]' <<<"$ingest" || fail "a clean 2 MB/s run reported problems: $ingest"
grep -qE '"direct_io":"(on|off[^"]*)"' <<<"$ingest" || fail "ingest.direct_io missing in: $ingest"
grep -q '"storage_threads":2,' <<<"$ingest" || fail "ingest.storage_threads is not the default 2 in: $ingest"
grep -q '"frames_lost":0,' <<<"$ingest" || fail "frames were lost on a 2 MB/s run: $ingest"
grep -q '"sustained":true' <<<"$ingest" || fail "a 2 MB/s run was not sustained: $ingest"

sync=$("$bin/lockstep-bench" sync --devices 2 --duration 3s --json) || fail "sync exited non-zero"
for key in median p95 p99 max samples; do number "$sync" "$key"; done
for key in truth load error_us warmup_s; do has "$sync" "$key"; done
soak=$("$bin/lockstep-bench" soak --duration 40s --session 8s --warmup 10s --devices 2 --rate 1MB/s --data-dir "$work/soak" --json) \
    || fail "soak failed: $soak"
for key in sessions devices_replaced frames_sent frames_lost heap_growth_mib rss_growth_mib descriptor_growth; do number "$soak" "$key"; done
grep -q '"frames_lost":0,' <<<"$soak" || fail "frames were lost in the soak: $soak"
grep -q '"descriptor_growth":0,' <<<"$soak" || fail "the hub leaked descriptors in the soak: $soak"
echo "bench-schema: 3 passed, 0 failed"
