#!/usr/bin/env bash
# A persistent emulated card through the real pcscd: write through PC/SC with the
# update key, stop the emulator, start it again from its state file, and read the
# written values (and the PIN try counter) back.
#
# Needs target/release/sscard (tools/test builds it). Prints "N passed, M failed".
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=SCRIPTDIR/../lib/pcscd.sh
source "$ROOT/tools/lib/pcscd.sh"
# shellcheck source=SCRIPTDIR/../lib/e2e.sh
source "$ROOT/tools/lib/e2e.sh"


sscard_e2e_begin 40400
state=$tmp/card-state.json

start_card() {
	timeout -k 5 120 "$BIN" emulate --port "$port" --state "$state" 2>>"$tmp/emulator.log" &
	emu_pid=$!
	sscard_track_pid "$emu_pid" "sscard emulate --state"
	sscard_wait_card "$READER" 10 >/dev/null
}

start_card
rc=0
out=$("$BIN" write --reader "$READER" --soft-keys --items 'SSSEEF05|07|$' --data 'SSSEEF05|Z87654321|$' 2>&1) || rc=$?
check "write card number through PC/SC with the update key: $out" "$rc"
rc=0
echo 000000 | "$BIN" pin verify --reader "$READER" --pin-stdin >/dev/null 2>&1 || rc=$?
[[ $rc -ne 0 ]]
check "a wrong PIN is refused" $?
rc=0
[[ -s $state ]] || rc=1
check "state file written ($(wc -c <"$state") bytes)" "$rc"

# Power off: stop the emulator (pcscd sees the card removed), then start it again.
kill "$emu_pid"
wait "$emu_pid" 2>/dev/null || true
# Wait (bounded) until pcscd has seen the card go, so the new one is a new insertion.
for _ in $(seq 50); do
	"$BIN" readers 2>/dev/null | grep -q "^empty  $READER\$" && break
	sleep 0.1
done
start_card
rc=0
json=$("$BIN" read --reader "$READER" --json) || rc=1
number=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["files"]["SSSE/EF05"]["card_number"])' <<<"$json" 2>/dev/null || echo "?")
[[ $rc -eq 0 && $number == Z87654321 ]]
check "after a restart the card number is the written one ($number)" $?
rc=0
msg=$(echo 000000 | "$BIN" pin verify --reader "$READER" --pin-stdin 2>&1) || true
[[ $msg == *"4 tries left"* ]]
check "after a restart the PIN try counter remembers the earlier wrong try ($msg)" $?

sscard_e2e_end
