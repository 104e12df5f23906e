#!/usr/bin/env bash
# tools/e2e/third-party.sh READER
#
# Interoperability acceptance checks of an emulated sscard sample card with
# third-party PC/SC clients: opensc-tool, scriptor, pyscard and (if installed)
# cardpeek. The card must already be in READER, e.g. "sscard VPCD 00 00" of
# the private pcscd started by tools/lib/pcscd.sh (PCSCLITE_CSOCK_NAME must
# then be exported, as sscard_pcscd_start does).
#
# Prints one line per check ("ok   ..." / "FAIL ..." / "skip ..."), stops at
# the first failure, and always ends with the line "N passed, M failed".
# Exit status: 0 when everything passed, 1 otherwise, 2 on usage errors.
#
# None of these tools exits non-zero on a bad status word, so every check
# parses their output.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${SSCARD_PY:-/usr/bin/python3}
TOOL_TIMEOUT=${SSCARD_E2E_TOOL_TIMEOUT:-30}

if [[ $# -ne 1 || -z "$1" ]]; then
	echo "usage: $0 READER_NAME   (e.g. \"sscard VPCD 00 00\")" >&2
	exit 2
fi
READER=$1

SSSE_SELECT="00 A4 04 00 0F 73 78 31 2E 73 68 2E C9 E7 BB E1 B1 A3 D5 CF"
AID_HEX=7378312E73682EC9E7BBE1B1A3D5CF
# EF05 tag/record 07, card number "A12345678"; tag/record 01, card id.
CARD_NUMBER_TLV=0709413132333435363738
CARD_ID_TLV=0110330100D15600000500A1B2C3D4E5F607

passed=0
failed=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sscard-3p.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

summary() { printf '%d passed, %d failed\n' "$passed" "$failed"; }
ok() {
	printf 'ok   %s\n' "$*"
	passed=$((passed + 1))
}
# fail MESSAGE [LOGFILE]: report, show the tool's output, print the summary, exit 1.
fail() {
	printf 'FAIL %s\n' "$1"
	failed=$((failed + 1))
	if [[ -n "${2:-}" && -s "$2" ]]; then
		echo "---- output of the failing tool (last 40 lines) ----"
		tail -n 40 "$2"
		echo "----"
	fi
	summary
	exit 1
}
need() { command -v "$1" >/dev/null 2>&1 || fail "$1 not installed (run sscard_install_deps from tools/lib/pcscd.sh)"; }

# check LABEL GOT REGEX [LOGFILE]: GOT (R-APDU as upper-case hex, no spaces,
# SW1 SW2 last) must match the anchored extended REGEX.
check() {
	if [[ "$2" =~ ^($3)$ ]]; then
		ok "$1 -> $(spaced "$2")"
	else
		fail "$1: got '$(spaced "$2")', want /$3/" "${4:-}"
	fi
}
spaced() { sed -E 's/(..)/\1 /g; s/ $//' <<<"$1"; }

# opensc-tool prints, per -s APDU:
#   Sending: 00 B2 07 04 0B
#   Received (SW1=0x90, SW2=0x00):        <- no ':' and no dump when no data
#   07 09 41 31 32 33 34 35 36 37 38 ..A12345678
# The dump has up to 16 bytes per line ("XX " each), then one ASCII char per
# byte. The first line is not padded (length 4n for n bytes); later lines pad
# the hex field to 48 columns (length 48+n). The ASCII column may itself look
# like hex, so the byte count comes from the line length.
# Output: one line per APDU, the R-APDU as hex (data then SW), or
# "NORESPONSE"/"BADDUMP" when nothing or something unexpected was received.
opensc_rapdus() {
	awk '
	function flush() { if (have) print (bad ? "BADDUMP" : data sw); have = 0 }
	/^Sending:/ { flush(); have = 1; sw = "NORESPONSE"; data = ""; nl = 0; bad = 0; next }
	have && /^Received \(SW1=0x[0-9A-Fa-f][0-9A-Fa-f], SW2=0x[0-9A-Fa-f][0-9A-Fa-f]\)/ {
		i = index($0, "SW1=0x"); j = index($0, "SW2=0x")
		sw = toupper(substr($0, i + 6, 2) substr($0, j + 6, 2)); next
	}
	have && sw != "NORESPONSE" && /^[0-9A-Fa-f][0-9A-Fa-f] / {
		L = length($0)
		n = (nl++ == 0) ? L / 4 : L - 48
		if (n < 1 || n > 16 || n != int(n)) { bad = 1; next }
		h = substr($0, 1, 3 * n)
		if (h !~ /^([0-9A-Fa-f][0-9A-Fa-f] )+$/) { bad = 1; next }
		gsub(/ /, "", h); data = data toupper(h); next
	}
	END { flush() }' "$1"
}

# scriptor prints, per APDU (and echoes the script lines, which we skip):
#   > 00 B2 01 28 12
#   < 01 10 33 01 00 D1 56 00 00 05 00 A1 B2 C3 D4 E5
#   F6 07 90 00 : Normal processing.
# Responses wrap every 16 bytes; the first " : " ends the hex.
scriptor_rapdus() {
	awk '
	function emit() { h = substr(r, 1, index(r, " : ") - 1); gsub(/ /, "", h); print toupper(h); inr = 0 }
	/^< / { r = substr($0, 3); inr = 1; if (index(r, " : ")) emit(); next }
	inr { r = r $0; if (index(r, " : ")) emit(); next }' "$1"
}

# fci_ok TOOL RAPDU [ANNOUNCED] [LOG]: the FCI's outer length matches its size
# and (if given) the length the card announced with 61xx.
fci_ok() {
	local hex=${2%9000} n ll
	n=$((${#hex} / 2))
	ll=$((16#${hex:2:2}))
	if ((ll + 2 != n)); then
		fail "$1: FCI says 6F $(printf '%02X' "$ll") but has $n bytes (want $((ll + 2))): $(spaced "$hex")" "${4:-}"
	fi
	if [[ -n "${3:-}" ]] && (($3 != n)); then
		fail "$1: card announced 61 $(printf '%02X' "$3") but GET RESPONSE returned $n FCI bytes" "${4:-}"
	fi
	ok "$1: FCI is well-formed, $n bytes${3:+ (= announced 61 $(printf '%02X' "$3"))}"
}

# run_opensc LOG APDU...: opensc-tool on READER with the generic driver (no
# card-driver probe APDUs), one connection, APDUs in order.
run_opensc() {
	local log=$1 a
	local -a args=(-r "$READER" -c default)
	shift
	for a in "$@"; do args+=(-s "$a"); done
	if ! timeout "$TOOL_TIMEOUT" opensc-tool "${args[@]}" >"$log" 2>&1; then
		fail "opensc-tool exited non-zero (no card in '$READER'? timeout?)" "$log"
	fi
}

# ------------------------------------------------------------------ opensc-tool
need opensc-tool
log=$TMP/opensc-read.log
run_opensc "$log" "$SSSE_SELECT" "00 A4 02 00 02 EF 05" "00 B2 07 04 0B"
mapfile -t r < <(opensc_rapdus "$log")
[[ ${#r[@]} -eq 3 ]] || fail "opensc-tool: expected 3 responses, parsed ${#r[@]}" "$log"
# The card answers 61 19. For this case-3 SELECT (no Le) OpenSC 0.23 reports
# 90 00 without sending GET RESPONSE; a card returning the FCI at once is OK too.
check "opensc-tool: SELECT SSSE by name" "${r[0]}" "61[0-9A-F]{2}|([0-9A-F]{2})*9000" "$log"
check "opensc-tool: SELECT EF05 (P1=02)" "${r[1]}" "9000" "$log"
check "opensc-tool: READ RECORD 7 (P2=04) card number A12345678" "${r[2]}" "${CARD_NUMBER_TLV}9000" "$log"

log=$TMP/opensc-fci.log
run_opensc "$log" "$SSSE_SELECT 00"
mapfile -t r < <(opensc_rapdus "$log")
[[ ${#r[@]} -eq 1 ]] || fail "opensc-tool: expected 1 response, parsed ${#r[@]}" "$log"
# With Le=00 OpenSC itself follows 61xx with GET RESPONSE.
check "opensc-tool: SELECT SSSE with Le=00 (FCI; OpenSC follows any 61xx itself)" "${r[0]}" \
	"6F[0-9A-F]{2}840F${AID_HEX}([0-9A-F]{2})*9000" "$log"
fci_ok "opensc-tool" "${r[0]}" "" "$log"

log=$TMP/opensc-errors.log
run_opensc "$log" "$SSSE_SELECT" "00 A4 02 00 02 EF 99" "00 A4 02 00 02 EF 05" "00 B2 07 04 05"
mapfile -t r < <(opensc_rapdus "$log")
[[ ${#r[@]} -eq 4 ]] || fail "opensc-tool: expected 4 responses, parsed ${#r[@]}" "$log"
check "opensc-tool: SELECT EF99 (missing file)" "${r[1]}" "6A82" "$log"
check "opensc-tool: SELECT EF05 again" "${r[2]}" "9000" "$log"
# OpenSC re-sends on 6Cxx with Le=SW2, so it shows the record, not 6C 0B;
# the raw 6C 0B is asserted by the scriptor error script below.
check "opensc-tool: READ RECORD 7 Le=05 (card 6C 0B, OpenSC re-sends Le=0B)" "${r[3]}" \
	"${CARD_NUMBER_TLV}9000" "$log"

# --------------------------------------------------------------------- scriptor
need scriptor
run_scriptor() {
	if ! timeout "$TOOL_TIMEOUT" scriptor -r "$READER" "$1" >"$2" 2>&1; then
		fail "scriptor $(basename "$1") exited non-zero" "$2"
	fi
}
log=$TMP/scriptor-read.log
run_scriptor "$HERE/ssse-read.scriptor" "$log"
mapfile -t r < <(scriptor_rapdus "$log")
[[ ${#r[@]} -eq 6 ]] || fail "scriptor ssse-read: expected 6 responses, parsed ${#r[@]}" "$log"
check "scriptor: SELECT SSSE by name (61xx: FCI pending)" "${r[0]}" "61[0-9A-F]{2}" "$log"
check "scriptor: GET RESPONSE Le=00 -> FCI 6F .. 84 0F <AID> ..." "${r[1]}" \
	"6F[0-9A-F]{2}840F${AID_HEX}([0-9A-F]{2})*9000" "$log"
fci_ok "scriptor" "${r[1]}" "$((16#${r[0]:2:2}))" "$log"
check "scriptor: SELECT EF05 (P1=00)" "${r[2]}" "9000" "$log"
check "scriptor: READ RECORD tag 07 (P2=00)" "${r[3]}" "${CARD_NUMBER_TLV}9000" "$log"
check "scriptor: READ RECORD SFI 05 record 7 (P2=2C)" "${r[4]}" "${CARD_NUMBER_TLV}9000" "$log"
check "scriptor: READ RECORD SFI 05 tag 01 (P2=28) card id" "${r[5]}" "${CARD_ID_TLV}9000" "$log"

log=$TMP/scriptor-errors.log
run_scriptor "$HERE/ssse-errors.scriptor" "$log"
mapfile -t r < <(scriptor_rapdus "$log")
[[ ${#r[@]} -eq 5 ]] || fail "scriptor ssse-errors: expected 5 responses, parsed ${#r[@]}" "$log"
check "scriptor: SELECT SSSE by name" "${r[0]}" "61[0-9A-F]{2}" "$log"
check "scriptor: SELECT EF99 (missing file)" "${r[1]}" "6A82" "$log"
check "scriptor: SELECT EF05 (P1=02)" "${r[2]}" "9000" "$log"
check "scriptor: READ RECORD 7 Le=05 (too small)" "${r[3]}" "6C0B" "$log"
check "scriptor: READ RECORD 7 Le=0B (from 6C 0B)" "${r[4]}" "${CARD_NUMBER_TLV}9000" "$log"

# ---------------------------------------------------------------------- pyscard
[[ -x "$PY" ]] || fail "$PY not found (Debian python3 with python3-pyscard)"
log=$TMP/pyscard.log
rc=0
timeout "$TOOL_TIMEOUT" "$PY" "$HERE/read_ef06.py" "$READER" >"$log" 2>&1 || rc=$?
while IFS= read -r line; do
	case $line in
	"ok   "*) ok "${line#ok   }" ;;
	"FAIL "*) fail "${line#FAIL }" "$log" ;;
	esac
done <"$log"
[[ $rc -eq 0 ]] || fail "pyscard: read_ef06.py exited $rc" "$log"

# --------------------------------------------------------------------- cardpeek
# cardpeek is in the harness packages (tools/lib/pcscd.sh); skipped only if absent.
# Console mode needs os.exit() or it spins forever. Its first run only creates
# $HOME/.cardpeek (asking two questions, which `yes 1` answers) and does not load its
# libraries in that run, so it runs once empty first.
if command -v cardpeek >/dev/null 2>&1; then
	log=$TMP/cardpeek.log
	mkdir -p "$TMP/home"
	(yes 1 | HOME=$TMP/home timeout "$TOOL_TIMEOUT" cardpeek -c -e "os.exit(0)" 2>&1 | head -c 200000 >"$TMP/cardpeek-init.log") || true
	lua='
local function hexs(b)
  if b == nil then return "" end
  local s = string.gsub(bytes.format(b, "%D"), "[^0-9A-Fa-f]", "")
  return string.upper(s)
end
local function run()
  if not card.connect() then return 10 end
  local sw, resp = card.send(bytes.new(8, "'"$SSSE_SELECT"'"))
  if bit.AND(sw, 0xFF00) == 0x6100 then
    sw, resp = card.send(bytes.new(8, "00 C0 00 00", bit.AND(sw, 0xFF)))
  end
  if sw ~= 0x9000 then print(string.format("SELECT SSSE sw %04X", sw)); return 11 end
  sw, resp = card.send(bytes.new(8, "00 A4 02 00 02 EF 05"))
  if sw ~= 0x9000 then print(string.format("SELECT EF05 sw %04X", sw)); return 12 end
  sw, resp = card.send(bytes.new(8, "00 B2 07 04 0B"))
  if sw ~= 0x9000 then print(string.format("READ RECORD sw %04X", sw)); return 13 end
  if hexs(resp) ~= "'"$CARD_NUMBER_TLV"'" then print("READ RECORD data " .. hexs(resp)); return 14 end
  card.disconnect()
  return 0
end
local ok, rc = pcall(run)
if not ok then print("lua error: " .. tostring(rc)); os.exit(20) end
os.exit(rc)'
	# Output is capped: a cardpeek that did not reach os.exit() floods stdout.
	{
		rc=0
		HOME=$TMP/home timeout "$TOOL_TIMEOUT" cardpeek -c -r "pcsc://$READER" -e "$lua" </dev/null 2>&1 || rc=$?
		echo "$rc" >"$TMP/cardpeek.rc"
	} | head -c 200000 >"$log" || true
	rc=$(cat "$TMP/cardpeek.rc" 2>/dev/null || echo 99)
	if [[ $rc -eq 0 ]]; then
		ok "cardpeek: SELECT SSSE, SELECT EF05, READ RECORD 7 -> card number A12345678"
	else
		fail "cardpeek: Lua check exited $rc (10 connect, 11-14 APDU checks, 20 Lua error, 124 timeout)" "$log"
	fi
else
	echo "skip cardpeek: not installed (optional)"
fi

summary
[[ $failed -eq 0 ]]
