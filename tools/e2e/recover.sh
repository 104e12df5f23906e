#!/usr/bin/env bash
# pcscd restart while a client holds a PC/SC context: sscard-pcsc's `Readers` must
# re-establish its context by itself (an old context answers NoService forever).
#
#   private pcscd + `sscard emulate` -> examples/recover "before" round
#   -> pcscd (and the card) stopped and started again on the same socket and ports
#   -> the same process's "after" round must list readers and select SSSE again.
#
# Needs target/release/sscard and target/release/examples/recover (tools/test
# builds both). Prints "N passed, M failed".
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=SCRIPTDIR/../lib/pcscd.sh
source "$ROOT/tools/lib/pcscd.sh"

BIN=${SSCARD_BIN:-target/release/sscard}
RECOVER=${SSCARD_RECOVER_BIN:-target/release/examples/recover}
READER="$SSCARD_FRIENDLYNAME 00 00"
passed=0
failed=0
check() { # check LABEL CONDITION-STATUS
	if [[ $2 == 0 ]]; then
		echo "ok   $1"
		passed=$((passed + 1))
	else
		echo "FAIL $1"
		failed=$((failed + 1))
	fi
}

tmp=$(mktemp -d)
client_pid=
cleanup() {
	if [[ -n "$client_pid" ]]; then kill "$client_pid" 2>/dev/null || true; wait "$client_pid" 2>/dev/null || true; fi
	sscard_pcscd_stop
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port=$(sscard_free_base_port "${SSCARD_E2E_PORT:-40300}")
start_stack() {
	sscard_pcscd_start "$tmp/pcscd" "$port" >&2
	timeout -k 5 120 "$BIN" emulate --port "$port" 2>>"$tmp/emulator.log" &
	sscard_track_pid $! "sscard emulate"
	sscard_wait_card "$READER" 10 >/dev/null
}

start_stack
mkfifo "$tmp/go"
# The client outlives the pcscd restart, so it is not tracked by the library.
timeout -k 5 60 "$RECOVER" "$READER" <"$tmp/go" >"$tmp/client.out" 2>&1 &
client_pid=$!
exec 3>"$tmp/go" # open the fifo's write end so the client's stdin stays open
for _ in $(seq 100); do
	grep -q '^before:' "$tmp/client.out" 2>/dev/null && break
	sleep 0.05
done
rc=0
grep -q '^before: .* -> 611B$' "$tmp/client.out" || rc=1
check "first round: $(head -n 1 "$tmp/client.out")" "$rc"

sscard_pcscd_stop
start_stack
echo go >&3
exec 3>&-
wait "$client_pid" || true
client_pid=
after=$(grep '^after:' "$tmp/client.out" || echo "after: no output")
rc=0
[[ "$after" =~ ^after:\ .*\ -\>\ 611B$ ]] || rc=1
check "after pcscd restart, same process: $after" "$rc"

echo "$passed passed, $failed failed"
((failed == 0))
