#!/usr/bin/env bash
# tools/e2e/psam.sh -- end-to-end test of a 3rd-generation card read through a PSAM:
#
#   private pcscd + vpcd (tools/lib/pcscd.sh)
#   -> `$SSCARD_BIN emulate --image V3 --port BASE --psam-port BASE+1 --psam-env sx3`
#      (the sample card as a 3.0 SM4 card, spec_version "3.00" and algorithm_id "03",
#      in slot "sscard VPCD 00 00"; the emulated sx3 PSAM in slot "sscard VPCD 00 01")
#   -> `$SSCARD_BIN read --reader "sscard VPCD 00 00" --psam "sscard VPCD 00 01" --json`
#      must authenticate (internal, then RKSSSE external through BF DE / 80 FA) and
#      return the holder's name
#   -> the same read without --psam must fail and say that a PSAM is needed
#   -> everything stopped by PID.
#
# Environment:
#   SSCARD_BIN            emulator/reader binary (default target/release/sscard,
#                         relative to the repository root); build it first
#   SSCARD_E2E_PORT       first vpcd base port to try (default 40200; the first free
#                         pair base/base+1 at or above it is used)
#   SSCARD_E2E_CARD_TIMEOUT  seconds to wait for the card and the PSAM (default 10)
#   SSCARD_MAX_RUNTIME    hard bound (s) on pcscd's and the emulator's life (900)
#   SSCARD_PCSCD_DEBUG=1  log every APDU in pcscd's log (shown on failure)
#   SSCARD_KEEP_WORKDIR=1 keep the work dir (pcscd.log, emulator.log, read.json, v3.json)
#
# Prints one line per check and ends with "N passed, M failed"; exit 0 only if M is 0.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=SCRIPTDIR/../lib/pcscd.sh
source "$ROOT/tools/lib/pcscd.sh"
# shellcheck source=SCRIPTDIR/../lib/e2e.sh
source "$ROOT/tools/lib/e2e.sh"

SSCARD_BIN=${SSCARD_BIN:-target/release/sscard}
PY=${SSCARD_PY:-/usr/bin/python3}
CARD_READER="$SSCARD_FRIENDLYNAME 00 00"
PSAM_READER="$SSCARD_FRIENDLYNAME 00 01"
SAMPLE=$ROOT/apdu-specs/images/sample.json
MAX_RUNTIME=${SSCARD_MAX_RUNTIME:-900}
WAIT=${SSCARD_E2E_CARD_TIMEOUT:-10}
# The emulated PSAM's answer to reset: 3B 6A 00 00 "sscardPSAM".
PSAM_ATR=3B6A00007373636172645053414D

E2E_LOGS=(emulator.log read.err nopsam.err pcscd.log)

sscard_install_deps || sscard_e2e_abort "could not install the harness dependencies"
ok "dependencies present (pcscd, vpcd, pyscard)"

[[ -f "$SAMPLE" ]] || sscard_e2e_abort "$SAMPLE missing"
if [[ ! -x "$SSCARD_BIN" ]]; then
	sscard_e2e_abort "binary '$SSCARD_BIN' not found or not executable (cargo build --release -p sscard-cli, or set SSCARD_BIN)"
fi

sscard_install_trap
port=$(sscard_free_base_port "${SSCARD_E2E_PORT:-40200}") ||
	sscard_e2e_abort "no free TCP port pair for vpcd"
sscard_pcscd_start "" "$port" || sscard_e2e_abort "private pcscd did not start"
ok "private pcscd (pid $SSCARD_PCSCD_PID) with readers '$CARD_READER' and '$PSAM_READER' on ports $port/$((port + 1))"

# The sample card as a 3rd-generation SM4 card, in the work dir (removed on stop).
image=$SSCARD_WORKDIR/v3.json
"$PY" - "$SAMPLE" "$image" <<'PYEOF' || sscard_e2e_abort "could not write the 3.0 card image"
import json, sys
v = json.load(open(sys.argv[1], encoding="utf-8"))
v["files"]["SSSE/EF05"]["spec_version"] = "3.00"
v["algorithm_id"] = "03"
json.dump(v, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
PYEOF
ok "3.0 SM4 card image written (spec_version 3.00, algorithm_id 03)"

# One process, two vpcd clients: the card on $port, the sx3 PSAM on $port+1.
timeout -k 5 "$MAX_RUNTIME" "$SSCARD_BIN" emulate --image "$image" --port "$port" \
	--psam-port $((port + 1)) --psam-env sx3 >"$SSCARD_WORKDIR/emulator.log" 2>&1 &
emu_pid=$!
sscard_track_pid "$emu_pid" "sscard emulate (card + PSAM)"

atr=$(sscard_wait_card "$CARD_READER" "$WAIT") ||
	sscard_e2e_abort "no card appeared in '$CARD_READER' (is '$SSCARD_BIN emulate --port $port' connecting?)"
want_atr=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["atr"].upper())' "$image")
if [[ "$atr" == "$want_atr" ]]; then
	ok "card present in '$CARD_READER', ATR $atr"
else
	bad "card present in '$CARD_READER' but ATR is $atr, the image says $want_atr"
fi
psam_atr=$(sscard_wait_card "$PSAM_READER" "$WAIT") ||
	sscard_e2e_abort "no PSAM appeared in '$PSAM_READER' (is '--psam-port $((port + 1))' connecting?)"
if [[ "$psam_atr" == "$PSAM_ATR" ]]; then
	ok "PSAM present in '$PSAM_READER', ATR $psam_atr"
else
	bad "PSAM present in '$PSAM_READER' but ATR is $psam_atr, want $PSAM_ATR"
fi

# ------------------------------------------------- sscard read --psam ... --json
json=$SSCARD_WORKDIR/read.json
rc=0
timeout 60 "$SSCARD_BIN" read --reader "$CARD_READER" --psam "$PSAM_READER" --json \
	>"$json" 2>"$SSCARD_WORKDIR/read.err" || rc=$?
if [[ $rc -ne 0 ]]; then
	bad "sscard read --reader '$CARD_READER' --psam '$PSAM_READER' --json exited $rc: $(tail -n 3 "$SSCARD_WORKDIR/read.err")"
else
	ok "sscard read --reader '$CARD_READER' --psam '$PSAM_READER' --json exited 0"
	while IFS= read -r line; do
		case $line in
		"ok   "*) ok "${line#ok   }" ;;
		"FAIL "*) bad "${line#FAIL }" ;;
		esac
	done < <("$PY" - "$json" <<'PYEOF' || echo "FAIL sscard read --psam: JSON check crashed"
import json, sys

try:
    got = json.load(open(sys.argv[1], encoding="utf-8"))
except ValueError as e:
    print("FAIL sscard read --psam: output is not JSON (%s)" % e)
    sys.exit(0)
basic = got.get("basic") if isinstance(got, dict) else None
psam = got.get("psam") if isinstance(got, dict) else None
basic = basic if isinstance(basic, dict) else {}
psam = psam if isinstance(psam, dict) else {}

def check(label, value, want):
    if value == want:
        print("ok   sscard read --psam: %s == %s" % (label, want))
    else:
        print("FAIL sscard read --psam: %s is %r, want %r" % (label, value, want))

check("basic.name", basic.get("name"), "李测试")
check("basic.spec_version", basic.get("spec_version"), "3.00")
check("basic.issue_date (behind RKSSSE)", basic.get("issue_date"), "20240315")
check("psam.environment", psam.get("environment"), "sx3")
check("psam.terminal_number", psam.get("terminal_number"), "000000000001")
PYEOF
	)
fi

# ------------------------------------------------------- without --psam: refused
rc=0
timeout 60 "$SSCARD_BIN" read --reader "$CARD_READER" --json \
	>/dev/null 2>"$SSCARD_WORKDIR/nopsam.err" || rc=$?
msg=$(tr '\n' ' ' <"$SSCARD_WORKDIR/nopsam.err")
if [[ $rc -ne 0 ]] && grep -q "3rd-generation card" "$SSCARD_WORKDIR/nopsam.err" &&
	grep -q -- "--psam" "$SSCARD_WORKDIR/nopsam.err"; then
	ok "without --psam the 3.0 card is refused (exit $rc): $msg"
else
	bad "without --psam: exit $rc, message: $msg (want a failure that asks for a PSAM)"
fi

((failed == 0)) || sscard_e2e_logs

# -------------------------------------------------------------------- teardown
pcscd_pid=$SSCARD_PCSCD_PID
sscard_pcscd_stop
left=()
for p in "$pcscd_pid" "$emu_pid"; do
	if sscard__alive "$p"; then left+=("$p"); fi
done
if ((${#left[@]} == 0)); then
	ok "teardown: pcscd (pid $pcscd_pid) and emulator (pid $emu_pid) stopped"
else
	bad "teardown: still running: ${left[*]}"
fi

sscard_e2e_end
