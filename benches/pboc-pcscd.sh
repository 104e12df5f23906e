#!/usr/bin/env bash
# A full PBOC contact transaction through the real PC/SC stack (issue 6): the emulated
# card in a vpcd slot of a private pcscd, `sscard pboc pay` (online, CDA, host
# simulator) run N times per algorithm family. Prints the APDU count of one
# transaction (from --trace) and the wall time per transaction (median, min, max),
# which includes starting the sscard process and connecting through PC/SC.
# A report: it prints figures and asserts nothing. Needs root (private pcscd).
#   benches/pboc-pcscd.sh [N]   (default 20)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=SCRIPTDIR/../tools/lib/pcscd.sh
source "$ROOT/tools/lib/pcscd.sh"
N=${1:-20}
BIN=target/release/sscard
cargo build -q --release -p sscard-cli --bin sscard
sscard_install_deps >&2
tmp=$(mktemp -d)
trap 'sscard_pcscd_stop; rm -rf "$tmp"' EXIT
port=$(sscard_free_base_port 40800)
sscard_pcscd_start "$tmp/pcscd" "$port" >&2
READER="$SSCARD_FRIENDLYNAME 00 00"
timeout -k 5 600 "$BIN" emulate --port "$port" 2>"$tmp/emulator.log" &
sscard_track_pid $! "sscard emulate"
sscard_wait_card "$READER" 10 >/dev/null
echo 123456 >"$tmp/pin"
for family in rsa sm; do
	flag=""
	[[ $family == sm ]] && flag=--sm
	# shellcheck disable=SC2086
	apdus=$("$BIN" pboc pay --reader "$READER" --test-capks --amount 100.00 --pin-file "$tmp/pin" --trace $flag 2>&1 >/dev/null | grep -c '^> ' || true)
	times=()
	for _ in $(seq "$N"); do
		t0=$(date +%s%N)
		# shellcheck disable=SC2086
		"$BIN" pboc pay --reader "$READER" --test-capks --amount 100.00 --pin-file "$tmp/pin" $flag >/dev/null
		t1=$(date +%s%N)
		times+=($(((t1 - t0) / 1000)))
	done
	sorted=$(printf '%s\n' "${times[@]}" | sort -n)
	median=$(sed -n "$(((N + 1) / 2))p" <<<"$sorted")
	echo "pboc pay ($family family, online with CDA) over pcscd: $apdus APDUs; wall time per transaction over $N runs: median $((median / 1000)).$(((median % 1000) / 100)) ms, min $(($(head -n1 <<<"$sorted") / 1000)) ms, max $(($(tail -n1 <<<"$sorted") / 1000)) ms"
done
