#!/usr/bin/env bash
# Load test through the real pcscd (issue 10): an emulated card in every vpcd slot
# (two), `sscard load` drives both readers in parallel for a bounded time with a mix of
# basic-information reads, PIN verifications (a wrong PIN, then the right one) and PBOC
# payments (online, CDA, host simulator), and must report zero errors. Prints the throughput and p50/p99 per operation.
#
#   SSCARD_LOAD_SECONDS  how long the clients run (default 10; the benchmark uses 60)
#   SSCARD_BIN           the sscard binary (default target/release/sscard)
#
# Prints "N passed, M failed".
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=SCRIPTDIR/../lib/pcscd.sh
source "$ROOT/tools/lib/pcscd.sh"
# shellcheck source=SCRIPTDIR/../lib/e2e.sh
source "$ROOT/tools/lib/e2e.sh"

SECONDS_TO_RUN=${SSCARD_LOAD_SECONDS:-10}
READER0=$READER

sscard_e2e_begin 40500

limit=$((SECONDS_TO_RUN + 60))
for slot in 0 1; do
	timeout -k 5 "$limit" "$BIN" emulate --port $((port + slot)) 2>>"$tmp/emulator$slot.log" &
	sscard_track_pid $! "sscard emulate (slot $slot)"
done
for r in "$READER0" "$READER1"; do
	sscard_wait_card "$r" 10 >/dev/null
done

echo 123456 >"$tmp/pin"
rc=0
out=$(timeout -k 5 "$limit" "$BIN" load --reader "$READER0" --reader "$READER1" \
	--seconds "$SECONDS_TO_RUN" --mix read,pin,pay --pin-file "$tmp/pin" 2>&1) || rc=$?
echo "$out"
check "sscard load on both slots for ${SECONDS_TO_RUN}s exits 0" "$rc"
grep -q '^errors: 0$' <<<"$out"
check "zero errors" $?
reads=$(awk '$1 == "read" {print $2}' <<<"$out")
pins=$(awk '$1 == "pin" {print $2}' <<<"$out")
pays=$(awk '$1 == "pay" {print $2}' <<<"$out")
[[ ${reads:-0} -gt 0 && ${pins:-0} -gt 0 && ${pays:-0} -gt 0 ]]
check "every operation ran (read ${reads:-0}, pin ${pins:-0}, pay ${pays:-0})" $?
clients=$(grep -c '^client .*: [1-9][0-9]* operations$' <<<"$out" || true)
[[ $clients == 2 ]]
check "both clients made progress ($clients of 2)" $?

sscard_e2e_end
