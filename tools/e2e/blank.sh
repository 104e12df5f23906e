#!/usr/bin/env bash
# A blank card of the emulated COS through the real pcscd (`sscard emulate --blank`):
# pcscd sees its ATR (with a chip serial of its own, kept in its state file),
# opensc-tool reads its lifecycle (GET DATA 80 CA 00 C0) and is refused a CREATE DF
# without transport authentication (6982); a wrong transport-key cryptogram costs a
# try, and with --state the card comes back blank, with its ATR, after a restart with
# the try counted. Issuance itself is tested in process (crates/sscard-issue/tests) and
# through pcscd by issue.sh.
#
# Needs target/release/sscard (or SSCARD_BIN). Prints "N passed, M failed".
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=SCRIPTDIR/../lib/pcscd.sh
source "$ROOT/tools/lib/pcscd.sh"
# shellcheck source=SCRIPTDIR/../lib/e2e.sh
source "$ROOT/tools/lib/e2e.sh"


sscard_e2e_begin 40500
state=$tmp/blank-state.json

start_card() {
	timeout -k 5 120 "$BIN" emulate --blank --port "$port" --state "$state" 2>>"$tmp/emulator.log" &
	emu_pid=$!
	sscard_track_pid "$emu_pid" "sscard emulate --blank"
	sscard_wait_card "$READER" 10 >/dev/null
}

apdu() { # apdu HEX... → opensc-tool's answer
	opensc-tool --reader "$READER" --send-apdu "$1" 2>&1 || true
}

start_card
out=$(opensc-tool --reader "$READER" --atr 2>&1 || true)
[[ $out =~ 3b:6d:00:00:00:81:53:53:43:33:00:00(:[0-9a-f]{2}){5} ]]
check "pcscd sees the blank card's ATR with its chip serial ($out)" $?
first_atr=${BASH_REMATCH[0]}
out=$(apdu 80CA00C000)
[[ $out == *"SW1=0x90, SW2=0x00"* && $out == *"C0 05 00 00 00 00 00"* ]]
check "GET DATA: lifecycle blank, nothing created" $?
out=$(apdu 80E0000014840F7378312E73682EC9E7BBE1B1A3D5CF850101)
[[ $out == *"SW1=0x69, SW2=0x82"* ]]
check "CREATE DF without the transport key: 6982" $?
out=$(apdu 00A404000F7378312E73682EC9E7BBE1B1A3D5CF)
[[ $out == *"SW1=0x6A, SW2=0x82"* ]]
check "no SSSE on a blank card: 6A82" $?

# A wrong transport-key cryptogram costs a try, and the counter is committed.
out=$(opensc-tool --reader "$READER" -s 0084000008 -s 008200FF1000000000000000000000000000000000 2>&1 || true)
[[ $out == *"SW1=0x63, SW2=0xCE"* ]]
check "a wrong transport-key cryptogram: 63CE" $?

kill "$emu_pid"
wait "$emu_pid" 2>/dev/null || true
for _ in $(seq 50); do
	"$BIN" readers 2>/dev/null | grep -q "^empty  $READER\$" && break
	sleep 0.1
done
start_card
out=$(opensc-tool --reader "$READER" --atr 2>&1 || true)
[[ $out == *"$first_atr"* ]]
check "after a restart from its state file the card keeps its chip serial ($first_atr)" $?
out=$(apdu 80CA00C000)
[[ $out == *"C0 05 00 00 00 00 00"* ]]
check "after a restart from its state file the card is still blank" $?
out=$(opensc-tool --reader "$READER" -s 0084000008 -s 008200FF1000000000000000000000000000000000 2>&1 || true)
[[ $out == *"SW1=0x63, SW2=0xCD"* ]]
check "after a restart the transport key's error counter remembers the wrong try (63CD)" $?

sscard_e2e_end
