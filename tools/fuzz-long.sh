#!/usr/bin/env bash
# Runs every cargo-fuzz target for a long time and reports the executions.
#
#   tools/fuzz-long.sh [SECONDS_PER_TARGET]     (default 600)
#
# Crashes land in fuzz/artifacts/<target>/ and make the script exit non-zero.
# Prints one line per target and a total.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT/fuzz"
SECONDS_PER=${1:-600}
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
total=0
failed=0
for target in $(sed -n 's/^name = "\(.*\)"/\1/p' Cargo.toml | grep -v '^sscard-fuzz$'); do
	mkdir -p "corpus/$target"
	log=$(mktemp)
	rc=0
	RUSTC_BOOTSTRAP=1 cargo fuzz run -s none "$target" "corpus/$target" "seeds/$target" -- \
		-max_total_time="$SECONDS_PER" -print_final_stats=1 >"$log" 2>&1 || rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	runs=${runs:-0}
	total=$((total + runs))
	if [[ $rc -ne 0 ]]; then
		failed=$((failed + 1))
		echo "FAIL $target after $runs runs (exit $rc):"
		tail -n 30 "$log"
	else
		echo "ok   $target: $runs runs in ${SECONDS_PER}s"
	fi
	rm -f "$log"
done
echo "total executions: $total"
((failed == 0))
