#!/usr/bin/env bash
# Batch issuance speed through the real PC/SC stack: `sscard issue` on N generated
# holders with blank emulated cards behind card feeders (`sscard emulate --blank
# --feeder`), once with one reader and once with two (a fresh journal each time), then
# with two readers and the keys in the development security module (`sscard hsm serve`,
# apdu-specs/hsm-issuance.md) instead of in process.
# Prints APDUs and wall time per card, cards/min, the two-reader speed-up (target
# ≥ 1.8×) and the security module's cost. A benchmark, not a test: it asserts nothing
# about speed. Not run by tools/test.
#
#   benches/issue.sh [N]          N holders (default 200)
#
# Each configuration runs SSCARD_BENCH_REPEAT times (default 3) with a fresh journal;
# the speed-up and the module's cost are ratios of the medians.
#
# The batch file's own preparation (parsing, validation, images) is measured by
# `cargo bench -p sscard-issue --bench prepare`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=../tools/lib/pcscd.sh
source tools/lib/pcscd.sh

N=${1:-200}
REPEAT=${SSCARD_BENCH_REPEAT:-3}
sscard_install_deps >&2
cargo build --release -q -p sscard-cli --bin sscard
BIN=target/release/sscard

sscard_install_trap
port=$(sscard_free_base_port "${SSCARD_BENCH_PORT:-40100}")
sscard_pcscd_start "" "$port" >&2
R0="$SSCARD_FRIENDLYNAME 00 00"
R1="$SSCARD_FRIENDLYNAME 00 01"
max=${SSCARD_MAX_RUNTIME:-600}
work=$SSCARD_WORKDIR

for slot in 0 1; do
	timeout -k 5 "$max" "$BIN" emulate --blank --feeder "$work/feeder$slot" --port $((port + slot)) \
		2>"$work/emu$slot.log" &
	sscard_track_pid $! "sscard emulate --blank --feeder (slot $slot)"
done
sscard_wait_card "$R0" 10 >/dev/null
sscard_wait_card "$R1" 10 >/dev/null

python3 - "$N" >"$work/batch.csv" <<'EOF'
import sys
n = int(sys.argv[1])
W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
print("ssn,name,gender,nation,card_number,issue_date,expiry_date")
for i in range(n):
    body = "110101%04d0101%03d" % (1950 + i // 900, 100 + i % 900)
    s = sum(int(d) * w for d, w in zip(body, W))
    g = "1" if int(body[16]) % 2 else "2"
    print("%s%s,持卡人%d,%s,01,E%08d,20240315,20340315" % (body, "10X98765432"[s % 11], i, g, i))
EOF

run() { # run LABEL READER... → the figures of REPEAT runs, and their median in $work/secs-LABEL
	local label=$1
	shift
	local args=()
	for r in "$@"; do args+=(--reader "$r"); done
	local all=()
	for i in $(seq "$REPEAT"); do
		rm -f "${SSCARD_BENCH_JOURNAL_DIR:-$work}/journal-$label.jsonl"
		local out
		out=$(timeout -k 5 "$max" "$BIN" issue --batch "$work/batch.csv" \
			--journal "${SSCARD_BENCH_JOURNAL_DIR:-$work}/journal-$label.jsonl" "${args[@]}" "${keys[@]}" 2>/dev/null)
		local issued secs apdus
		issued=$(awk '$1 == "issued:" {print $2}' <<<"$out")
		secs=$(awk '$1 == "elapsed:" {print $2}' <<<"$out")
		apdus=$(awk '$1 == "apdus:" {print $2}' <<<"$out")
		awk -v l="$label#$i" -v n="$issued" -v s="$secs" -v a="$apdus" 'BEGIN {
			printf "%-15s %4d cards  %7.2f s  %6.1f ms/card  %6.1f cards/min  %5.1f APDUs/card\n",
				l, n, s, 1000 * s / n, 60 * n / s, a / n }'
		all+=("$secs")
	done
	printf '%s\n' "${all[@]}" | sort -n | awk -v l="$label" -v n="$N" '{ v[NR] = $1 } END {
		m = v[int((NR + 1) / 2)]
		printf "%-15s median %.2f s, %.1f ms/card\n", l, m, 1000 * m / n
		print m > "/dev/stderr" }' 2>"$work/secs-$label"
}

keys=(--soft-keys)
echo "# sscard issue, $N holders, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores"
run one-reader "$R0"
run two-readers "$R0" "$R1"
awk -v a="$(cat "$work/secs-one-reader")" -v b="$(cat "$work/secs-two-readers")" \
	'BEGIN { printf "speed-up with two readers: %.2fx (target >= 1.8x)\n", a / b }'

timeout -k 5 "$max" "$BIN" hsm serve --listen 127.0.0.1:0 >"$work/hsm.out" 2>"$work/hsm.log" &
hsm=$!
sscard_track_pid "$hsm" "sscard hsm serve"
for _ in $(seq 100); do
	grep -q "^listening on " "$work/hsm.out" && break
	sleep 0.05
done
keys=(--hsm "$(sed -n 's/^listening on //p' "$work/hsm.out")")
run two-hsm "$R0" "$R1"
kill -INT "$hsm" 2>/dev/null
wait "$hsm" || true
awk -v a="$(cat "$work/secs-two-readers")" -v b="$(cat "$work/secs-two-hsm")" -v n="$N" \
	'BEGIN { printf "security module: %.2fx the in-process keys time (%+.1f ms/card)\n", b / a, 1000 * (b - a) / n }'
