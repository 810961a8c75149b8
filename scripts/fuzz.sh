#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 600) on one core, from
# corpora seeded by fuzz/examples/seeds.rs, and prints per target: executions, coverage
# (libFuzzer's cov and ft counters at the end), corpus size and crashes (files under
# fuzz/artifacts/<target>/). Exits non-zero if any target crashed.
# Needs the nightly toolchain; installs cargo-fuzz when it is missing.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-600}"
shift || true
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: the nightly toolchain is not installed" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked --version 0.13.2
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
echo "== fuzz: building ${#targets[@]} targets and the seed corpora"
cargo +nightly fuzz build -O >/dev/null
cargo +nightly run --release --quiet --example seeds
mkdir -p logs
printf '%-16s %12s %8s %8s %8s %8s\n' target executions exec/s cov ft crashes
failed=0
for target in "${targets[@]}"; do
    log="logs/$target.log"
    # -rss_limit_mb and -malloc_limit_mb make an allocation bomb a finding, not an OOM.
    if ! cargo +nightly fuzz run -O "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 \
        -malloc_limit_mb=512 >"$log" 2>&1; then
        failed=1
    fi
    executions=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    last=$(grep -E '^#[0-9]+' "$log" | grep 'cov:' | tail -1)
    cov=$(echo "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*' || echo 0)
    ft=$(echo "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*' || echo 0)
    crashes=$(find "artifacts/$target" -type f 2>/dev/null | wc -l)
    [ "$crashes" -eq 0 ] || failed=1
    printf '%-16s %12s %8s %8s %8s %8s\n' "$target" "${executions:-0}" "${rate:-0}" "${cov:-0}" "${ft:-0}" "$crashes"
done
if [ "$failed" -ne 0 ]; then
    echo "fuzz: a target crashed or failed; see fuzz/logs/ and fuzz/artifacts/" >&2
    exit 1
fi
