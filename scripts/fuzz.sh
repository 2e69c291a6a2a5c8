#!/usr/bin/env bash
# make fuzz: each wire decoder under libFuzzer with AddressSanitizer, for FUZZ_SECONDS each (default
# 60; CI runs a short smoke run). Targets: frame, control, sync, handshake (FUZZ_TARGETS to choose).
# A target is Sources/Wire + Sources/WireFuzzChecks + Fuzz/Entry.swift compiled as one module by
# `swiftc -sanitize=fuzzer,address` (in .build-fuzz/). It starts from the committed seeds
# (Fuzz/corpus/<target>) and the past crashes (Fuzz/regressions/<target>); new inputs go to a
# temporary folder. A crash or a broken property leaves its input in Fuzz/crashes/ and fails the
# run: fix it, then move the input to Fuzz/regressions/<target>/ so `make test` replays it forever.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
read -r -a targets <<<"${FUZZ_TARGETS:-frame control sync handshake}"
out=.build-fuzz
mkdir -p "$out" Fuzz/crashes Fuzz/regressions/{frame,control,sync,handshake}  # git keeps no empty folders
cat >"$out/module.modulemap" <<MAP
module CCRC32C {
    header "$PWD/CShims/CCRC32C/include/lockstep_crc32c.h"
    export *
}
MAP
clang -c -O2 -g -fsanitize=fuzzer-no-link,address -I CShims/CCRC32C/include CShims/CCRC32C/crc32c.c -o "$out/crc32c.o"
for target in "${targets[@]}"; do
    case "$target" in frame | control | sync | handshake) ;; *) echo "fuzz: unknown target $target" >&2; exit 2 ;; esac
    echo "fuzz: building $target"
    # The linker's ASan symbol warnings are noise: the log is shown only when the build fails.
    if ! swiftc -sanitize=fuzzer,address -parse-as-library -O -g -module-name LockstepFuzz -D "FUZZ_$(tr a-z A-Z <<<"$target")" \
        -Xcc -fmodule-map-file="$out/module.modulemap" Sources/Wire/*.swift Sources/WireFuzzChecks/*.swift Fuzz/Entry.swift \
        "$out/crc32c.o" -o "$out/fuzz-$target" >"$out/build-$target.log" 2>&1; then
        grep -v "ld.gold: warning" "$out/build-$target.log" >&2
        echo "fuzz: building $target FAILED" >&2
        exit 1
    fi
done
for target in "${targets[@]}"; do
    work=$(mktemp -d)
    echo "fuzz: running $target for ${seconds}s"
    if ! "$out/fuzz-$target" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="Fuzz/crashes/$target-" "$work" "Fuzz/corpus/$target" "Fuzz/regressions/$target" >"$out/$target.log" 2>&1; then
        tail -40 "$out/$target.log" >&2
        rm -rf "$work"
        echo "fuzz: $target FAILED; the input is in Fuzz/crashes/ (see above)" >&2
        exit 1
    fi

    echo "fuzz: $target passed ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$out/$target.log" | grep -o '[0-9]*$') runs, $(find "$work" -type f | wc -l) new inputs)"
    rm -rf "$work"
done
