#!/usr/bin/env bash
# The bank application (PBOC 3.0) end to end through the real pcscd (issue 6):
#   emulated card (social-security + bank application) with a state file in vpcd slot 0
#   -> sscard pboc read: application, PAN, SDA and ICC key on the TEST PKI, EC balance
#   -> sscard pboc pay: online (ARQC -> host ARPC -> TC) for RSA/3DES and for SM2/SM4
#   -> sscard pboc pay --ec: offline electronic cash within the balance
#   -> sscard pboc load: the balance rises only with a valid script MAC, and the load
#      is logged; an issuer with the wrong MAC key changes neither balance nor log
#   -> the emulator restarts from its state: the balance and logs are still there
#   -> cardpeek's bundled emv.lua, headless: finds the UnionPay application and shows
#      the PAN, the EC balance and the log records (asserted on its saved XML)
#
# Needs target/release/sscard (tools/test builds it). Prints "N passed, M failed".
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=SCRIPTDIR/../lib/pcscd.sh
source "$ROOT/tools/lib/pcscd.sh"
# shellcheck source=SCRIPTDIR/../lib/e2e.sh
source "$ROOT/tools/lib/e2e.sh"

PY=${SSCARD_PY:-/usr/bin/python3}

sscard_install_deps >&2 || { echo "FAIL cannot install the harness dependencies"; exit 1; }
sscard_e2e_begin 40600
state=$tmp/card-state.json
echo 123456 >"$tmp/pin"

start_card() {
	timeout -k 5 300 "$BIN" emulate --port "$port" --state "$state" 2>>"$tmp/emulator.log" &
	emu_pid=$!
	sscard_track_pid "$emu_pid" "sscard emulate --state (with the bank application)"
	sscard_wait_card "$READER" 10 >/dev/null
}
# Random selection (TRM) would send a small offline purchase online now and then: off,
# so the offline checks are deterministic.
pboc() { "$BIN" pboc "$@" --reader "$READER" --test-capks --date 261122; }
pay() { pboc pay --no-random-selection "$@"; }
json_get() { # json_get JSON PYTHON-EXPRESSION-ON-d
	"$PY" -c "import json,sys; d=json.load(sys.stdin); print($2)" <<<"$1" 2>/dev/null || echo "?"
}

start_card

# ------------------------------------------------------------------------- read
rc=0
json=$(pboc read --json 2>"$tmp/read.err") || rc=$?
check "pboc read exits 0 $(tail -n 2 "$tmp/read.err" | tr '\n' ' ')" "$rc"
[[ $(json_get "$json" 'd["aid"]') == A000000333010101 ]]
check "UnionPay debit application A000000333010101" $?
[[ $(json_get "$json" 'd["pan"]') == "622800******1117" ]]
rc=$?
check "PAN masked: $(json_get "$json" 'd["pan"]')" "$rc"
[[ $(json_get "$json" 'd["oda"]["sda"]') == passed && $(json_get "$json" 'd["oda"]["icc_public_key"]') == recovered ]]
rc=$?
check "SDA passed and the ICC public key recovered on the TEST PKI (CA $(json_get "$json" 'd["oda"]["ca_index"]'))" "$rc"
[[ $(json_get "$json" 'd["ec"]["balance"]') == 100.00 ]]
rc=$?
check "EC balance 100.00 (limit $(json_get "$json" 'd["ec"]["balance_limit"]'))" "$rc"

# -------------------------------------------------------------------------- pay
rc=0
out=$(pay --amount 123.45 --pin-file "$tmp/pin" 2>&1) || rc=$?
grep -q '^outcome: approved online$' <<<"$out" && grep -q '^cryptogram: TC ' <<<"$out" && grep -q '^algorithms: RSA/3DES$' <<<"$out"
check "pay 123.45 online, RSA/3DES: ARQC -> ARPC -> TC (exit $rc)" $?
rc=0
out=$(pay --sm --amount 88.00 --pin-file "$tmp/pin" 2>&1) || rc=$?
grep -q '^outcome: approved online$' <<<"$out" && grep -q '^algorithms: SM2/SM4$' <<<"$out"
check "pay 88.00 online, SM2/SM4 chosen by DF69 (exit $rc)" $?
rc=0
out=$(pay --ec --offline --amount 5.00 --pin-file "$tmp/pin" 2>&1) || rc=$?
grep -q '^outcome: approved offline$' <<<"$out" && grep -q '^EC balance after: 95.00$' <<<"$out"
check "pay 5.00 with electronic cash, offline: balance 100.00 -> 95.00 (exit $rc)" $?
rc=0
out=$(pay --ec --offline --amount 12.00 --pin-file "$tmp/pin" 2>&1) || rc=$?
[[ $rc -ne 0 ]] && ! grep -q '^outcome: approved' <<<"$out"
check "pay 12.00 (over the single EC limit 10.00) cannot be approved offline without the issuer" $?

# ------------------------------------------------------------------------- load
rc=0
out=$(pboc load --amount 20.00 --pin-file "$tmp/pin" 2>&1) || rc=$?
grep -q '^EC balance after: 115.00$' <<<"$out"
check "load 20.00 with the issuer's script: balance 95.00 -> 115.00 (exit $rc)" $?
"$PY" - "$ROOT/apdu-specs/pboc/card.json" "$tmp/bad-issuer.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
for family in ("rsa3des", "sm2sm4"):
    d["applications"][0]["keys"][family]["mk_smi"] = "00112233445566778899AABBCCDDEEFF"
json.dump(d, open(sys.argv[2], "w", encoding="utf-8"))
PYEOF
rc=0
out=$(pboc load --amount 10.00 --pin-file "$tmp/pin" --issuer-profile "$tmp/bad-issuer.json" 2>&1) || rc=$?
[[ $rc -ne 0 ]] && grep -q 'did not take the load' <<<"$out"
check "load with a wrong script MAC key is refused by the card (exit $rc)" $?
json=$(pboc read --json 2>/dev/null) || true
[[ $(json_get "$json" 'd["ec"]["balance"]') == 115.00 ]]
check "after the refused load the balance is still 115.00" $?
[[ $(json_get "$json" 'len(d["load_log"])') == 1 && $(json_get "$json" 'd["load_log"][0]["after"]') == 115.00 ]]
check "the load log has the one accepted load (95.00 -> 115.00), not the refused one" $?
records=$(json_get "$json" 'len(d["transaction_log"])')
[[ $records -ge 1 ]]
check "the transaction log has the offline purchase ($records record(s))" $?

# ------------------------------------------------------------------ persistence
kill "$emu_pid"
wait "$emu_pid" 2>/dev/null || true
for _ in $(seq 50); do
	"$BIN" readers 2>/dev/null | grep -q "^empty  $READER\$" && break
	sleep 0.1
done
start_card
json=$(pboc read --json 2>/dev/null) || true
[[ $(json_get "$json" 'd["ec"]["balance"]') == 115.00 && $(json_get "$json" 'len(d["load_log"])') == 1 ]]
check "after an emulator restart the bank state (balance 115.00, load log) is kept" $?
[[ -s "$state.bank" ]]
rc=$?
check "bank state file $(basename "$state").bank written" "$rc"

# --------------------------------------------------------------------- cardpeek
if command -v cardpeek >/dev/null 2>&1; then
	mkdir -p "$tmp/home"
	xml=$tmp/cardpeek.xml
	rc=0
	# The first run only creates ~/.cardpeek (its scripts are not loaded yet in that
	# run); `yes 1` answers its questions and emv.lua's "Issue GPO?". pcall keeps a Lua
	# error from dropping cardpeek into its console loop; os.exit ends it. Output is
	# capped in case it spins anyway.
	(yes 1 | HOME="$tmp/home" timeout 60 cardpeek -c -e "os.exit(0)" 2>&1 | head -c 2000000 >"$tmp/cardpeek-init.log")
	(yes 1 | HOME="$tmp/home" timeout 120 cardpeek -c -r "pcsc://$READER" \
		-e "local ok, e = pcall(dofile, 'emv.lua'); if not ok then print('LUA ERROR', e) end; ui.save_view('$xml'); os.exit(ok and 0 or 3)" \
		2>&1 | head -c 2000000 >"$tmp/cardpeek.log")
	rc=$?
	[[ -s $xml ]]
	check "cardpeek emv.lua ran headless and saved its view (exit $rc)" $?
	grep -qi 'A000000333010101' "$xml" 2>/dev/null
	check "cardpeek found the UnionPay application A000000333010101" $?
	grep -qi '6228000100001117' "$xml" 2>/dev/null
	check "cardpeek shows the PAN" $?
	"$PY" - "$xml" >"$tmp/cardpeek-check.txt" <<'PYEOF'
import sys, xml.etree.ElementTree as ET
# cardpeek 0.8.4 writes `<?xml version="1.0" type="UTF-8"?>`, which XML parsers reject.
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
root = ET.fromstring(text.split("?>", 1)[-1] if text.startswith("<?xml") else text)
def attrs(node):
    return {a.get("name"): (a.text or "") for a in node.findall("attr")}
balance, logs = None, 0
for node in root.iter("node"):
    a = attrs(node)
    value = a.get("val", "").split(":")[-1]
    if a.get("id") == "9F79" and value and balance is None:
        balance = value
    if a.get("label") == "log file":
        logs += sum(1 for r in node.findall("node") if attrs(r).get("label") == "record")
print(balance or "-", logs)
PYEOF
	read -r cp_balance cp_logs <"$tmp/cardpeek-check.txt"
	[[ $cp_balance == 000000011500 ]]
	check "cardpeek shows the EC balance 9F79 = ${cp_balance:-?} (115.00)" $?
	[[ ${cp_logs:-0} -ge 1 ]]
	check "cardpeek shows the transaction log records (${cp_logs:-0})" $?
	if ((failed > 0)); then
		grep -a -A1 "send: 80A8" "$tmp/cardpeek.log" || true
		tail -n 20 "$tmp/cardpeek.log" || true
	fi
else
	check "cardpeek installed (apt-get install cardpeek)" 1
fi

if ((failed > 0)); then
	echo "---- emulator log ----"
	tail -n 20 "$tmp/emulator.log" || true
fi
sscard_e2e_end
