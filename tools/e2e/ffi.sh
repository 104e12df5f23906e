#!/usr/bin/env bash
# tools/e2e/ffi.sh -- end-to-end test of libsscard (crates/sscard-ffi) from C and Python:
#
#   private pcscd + vpcd (tools/lib/pcscd.sh)
#   -> `$SSCARD_BIN emulate --port BASE`                the sample card (2.00)  "sscard VPCD 00 00"
#   -> `$SSCARD_BIN emulate --port BASE+1 --image V3`   the same card as 3.00/SM4 "sscard VPCD 00 01"
#   -> gcc builds examples/c/read_card.c and tests/c/ffi_check.c against libsscard.so
#   -> iReadCardBas(1, buf) checked field by field; the HSM steps with sscard-test-hsm
#      (a soft HSM on the emulation test keys); iVerifyPIN wrong/right with the PIN from
#      a file (SSCARD_PIN_SOURCE=file:...) and iVerifyPin; the Python ctypes example;
#      reader choice by name, index and auto; the exported symbols against the header
#   -> everything stopped by PID.
#
# The library is configured only through the environment (SSCARD_READER etc.).
#
# Environment:
#   SSCARD_BIN            emulator binary (default target/release/sscard)
#   SSCARD_FFI_DIR        directory with libsscard.so and sscard-test-hsm (default target/release)
#   SSCARD_E2E_PORT       first vpcd base port to try (default 40000)
#   SSCARD_E2E_CARD_TIMEOUT  seconds to wait for the cards (default 10)
#   SSCARD_MAX_RUNTIME    hard bound (s) on pcscd's and the emulators' life (900)
#   SSCARD_KEEP_WORKDIR=1 keep the work dir
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
FFI_DIR=$(cd "${SSCARD_FFI_DIR:-target/release}" 2>/dev/null && pwd) || FFI_DIR=
PY=${SSCARD_PY:-/usr/bin/python3}
CRATE=$ROOT/crates/sscard-ffi
SAMPLE=$ROOT/apdu-specs/images/sample.json
MAX_RUNTIME=${SSCARD_MAX_RUNTIME:-900}
READER0="$SSCARD_FRIENDLYNAME 00 00"
READER1="$SSCARD_FRIENDLYNAME 00 01"
DEVICE=E2E01
# No configuration from the caller's environment leaks into the checks.
for v in $(compgen -e | grep '^SSCARD_' || true); do
	case $v in
	SSCARD_BIN | SSCARD_FFI_DIR | SSCARD_E2E_* | SSCARD_MAX_RUNTIME | SSCARD_KEEP_WORKDIR | SSCARD_PY | SSCARD_PCSCD_*) ;;
	*) unset "$v" ;;
	esac
done

E2E_LOGS=(emulator0.log emulator1.log pcscd.log)
# count OUTPUT: fold a checker's "ok/FAIL" lines into ours.
count() {
	local line
	while IFS= read -r line; do
		case $line in
		"ok   "*) ok "${line#ok   }" ;;
		"FAIL "*) bad "${line#FAIL }" ;;
		esac
	done <<<"$1"
}

sscard_install_deps || sscard_e2e_abort "could not install the harness dependencies"
command -v gcc >/dev/null || sscard_e2e_abort "gcc not found"
[[ -x "$SSCARD_BIN" ]] || sscard_e2e_abort "emulator '$SSCARD_BIN' missing (cargo build --release -p sscard-cli)"
[[ -n "$FFI_DIR" && -f "$FFI_DIR/libsscard.so" && -x "$FFI_DIR/sscard-test-hsm" ]] ||
	sscard_e2e_abort "libsscard.so or sscard-test-hsm missing in ${SSCARD_FFI_DIR:-target/release} (cargo build --release -p sscard-ffi)"
ok "dependencies present (pcscd, vpcd, gcc, python3), libsscard.so in $FFI_DIR"

sscard_install_trap
port=$(sscard_free_base_port "${SSCARD_E2E_PORT:-$SSCARD_DEFAULT_BASE_PORT}") || sscard_e2e_abort "no free TCP port pair for vpcd"
sscard_pcscd_start "" "$port" || sscard_e2e_abort "private pcscd did not start"
ok "private pcscd (pid $SSCARD_PCSCD_PID), readers '$READER0' and '$READER1' on ports $port/$((port + 1))"
WORK=$SSCARD_WORKDIR

# ------------------------------------------------------------------- C programs
for prog in "examples/c/read_card.c:read_card" "tests/c/ffi_check.c:ffi_check"; do
	src=${prog%%:*}
	exe=$WORK/${prog##*:}
	if gcc -std=c99 -Wall -Wextra -Werror -I"$CRATE/include" "$CRATE/$src" \
		-L"$FFI_DIR" -lsscard -Wl,-rpath,"$FFI_DIR" -o "$exe" 2>"$WORK/gcc.err"; then
		ok "gcc -Wall -Wextra -Werror: $src links libsscard.so"
	else
		cat "$WORK/gcc.err"
		sscard_e2e_abort "gcc could not build $src"
	fi
done

# ------------------------------------------------------------------- the cards
"$PY" - "$SAMPLE" "$WORK/v3.json" <<'PYEOF'
import json, sys
image = json.load(open(sys.argv[1], encoding="utf-8"))
image["files"]["SSSE/EF05"]["spec_version"] = "3.00"
image["algorithm_id"] = "03"
json.dump(image, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
PYEOF
timeout -k 5 "$MAX_RUNTIME" "$SSCARD_BIN" emulate --port "$port" >"$WORK/emulator0.log" 2>&1 &
sscard_track_pid $! "sscard emulate (2.00)"
emu0=$!
timeout -k 5 "$MAX_RUNTIME" "$SSCARD_BIN" emulate --port $((port + 1)) --image "$WORK/v3.json" >"$WORK/emulator1.log" 2>&1 &
sscard_track_pid $! "sscard emulate (3.00)"
emu1=$!
for r in "$READER0" "$READER1"; do
	sscard_wait_card "$r" "${SSCARD_E2E_CARD_TIMEOUT:-10}" >/dev/null || sscard_e2e_abort "no card appeared in '$r'"
done
ok "emulated cards present: 2.00 in '$READER0', 3.00/SM4 in '$READER1'"

run_check() { # LABEL ENV... -- ARGS...: run ffi_check with the environment given
	local label=$1 out rc=0
	shift
	local envs=()
	while [[ $1 != -- ]]; do
		envs+=("$1")
		shift
	done
	shift
	out=$(env "${envs[@]}" timeout 60 "$WORK/ffi_check" "$@" 2>&1) || rc=$?
	count "$out"
	if [[ $rc -ne 0 ]] && ! grep -q '^FAIL' <<<"$out"; then
		bad "$label: ffi_check exited $rc: $out"
	fi
}

# ----------------------------------------------------- C: iReadCardBas, HSM, PIN
run_check "basic" SSCARD_READER="$READER0" SSCARD_DEVICE_NUMBER=$DEVICE -- basic 2.00 $DEVICE
run_check "hsm" SSCARD_READER="$READER1" SSCARD_DEVICE_NUMBER=$DEVICE -- hsm "$FFI_DIR/sscard-test-hsm" $DEVICE
run_check "pin" SSCARD_READER="$READER0" SSCARD_PIN_SOURCE="file:$WORK/pin" -- pin "$WORK/pin"
rm -f "$WORK/pin"

# ------------------------------------------------------------- the C example
out=$(SSCARD_READER="$READER0" SSCARD_ENCODING=utf-8 timeout 60 "$WORK/read_card" 2>&1) || true
if grep -qx "name: 李测试" <<<"$out" && grep -qx "card number: A12345678" <<<"$out"; then
	ok "examples/c/read_card (UTF-8): name 李测试, card number A12345678"
else
	bad "examples/c/read_card: $out"
fi
out=$(SSCARD_READER="$READER1" SSCARD_ENCODING=utf-8 timeout 60 "$WORK/read_card" "$FFI_DIR/sscard-test-hsm" 2>&1) || true
if grep -qx "spec version: 3.00" <<<"$out" && grep -qx "name: 李测试" <<<"$out"; then
	ok "examples/c/read_card on the 3.0 card falls back to the HSM steps"
else
	bad "examples/c/read_card with the HSM: $out"
fi

# ------------------------------------------------------------ Python (ctypes)
py_check() { # LABEL ENCODING READER VERSION [--hsm CMD]
	local label=$1 enc=$2 reader=$3 version=$4 out rc=0
	shift 4
	out=$(SSCARD_READER="$reader" SSCARD_ENCODING="$enc" SSCARD_DEVICE_NUMBER=$DEVICE timeout 60 \
		"$PY" "$CRATE/examples/python/read_card.py" --lib "$FFI_DIR/libsscard.so" --itype 1 --json "$@" 2>&1) || rc=$?
	if [[ $rc -ne 0 ]]; then
		bad "python $label: exit $rc: $out"
		return
	fi
	count "$("$PY" - "$out" "$version" "$label" "$DEVICE" <<'PYEOF'
import json, sys
got, version, label, device = json.loads(sys.argv[1])["fields"], sys.argv[2], sys.argv[3], sys.argv[4]
want = {
    "region_code": "330100", "ssn": "330102199003071230", "card_number": "A12345678",
    "card_id": "330100D15600000500A1B2C3D4E5F607", "name": "李测试",
    "atr_historical": "00815353433300001234567890", "spec_version": version,
    "issue_date": "20240315", "expiry_date": "20340315", "terminal_number": "000000000000",
    "device_number": device,
}
bad = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
print(("FAIL python %s: %r" % (label, bad)) if bad else ("ok   python %s: all 11 fields" % label))
PYEOF
)"
}
py_check "read_card.py (GBK)" gbk "$READER0" 2.00
py_check "read_card.py (UTF-8)" utf-8 "$READER0" 2.00
py_check "read_card.py --hsm (3.0 card)" gbk "$READER1" 3.00 --hsm "$FFI_DIR/sscard-test-hsm"
out=$(SSCARD_READER="$READER0" "$PY" - "$FFI_DIR/libsscard.so" <<'PYEOF' 2>&1
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
lib.iVerifyPin.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p]
lib.iVerifyPin.restype = ctypes.c_long
out = ctypes.create_string_buffer(1024)
wrong = lib.iVerifyPin(1, b"999999", out)
msg = out.value.decode("gbk")
right = lib.iVerifyPin(1, b"123456", out)
ok = wrong == -51 and "5" in msg and right == 0
print(("ok   python" if ok else "FAIL python") + " ctypes iVerifyPin: wrong %d (%s), right %d" % (wrong, msg, right))
PYEOF
)
count "$out"

# ----------------------------------------------------------- reader selection
idx_out=$(SSCARD_READER_INDEX=1 "$PY" - "$FFI_DIR/libsscard.so" <<'PYEOF' 2>&1
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
out = ctypes.create_string_buffer(1024)
print(lib.iReadCardBas(1, out))
PYEOF
)
auto_out=$("$PY" - "$FFI_DIR/libsscard.so" <<'PYEOF' 2>&1
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
out = ctypes.create_string_buffer(1024)
print(lib.iReadCardBas(1, out))
PYEOF
)
info_out=$(SSCARD_READER="$READER0" "$PY" - "$FFI_DIR/libsscard.so" <<'PYEOF' 2>&1
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
sn, term = ctypes.create_string_buffer(1024), ctypes.create_string_buffer(1024)
print("%d|%s|%s|" % (lib.iGetReaderInfo(sn, term), sn.value.decode(), term.value.decode()))
PYEOF
)
part_out=$(SSCARD_READER="vpcd 00 00" "$PY" - "$FFI_DIR/libsscard.so" <<'PYEOF' 2>&1
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
out = ctypes.create_string_buffer(1024)
print(lib.iReadCardBas(1, out))
PYEOF
)
[[ "$idx_out" == -2201 ]] && ok "SSCARD_READER_INDEX=1 picks the 3.0 card (-2201 without PSAM)" || bad "reader index: $idx_out"
[[ "$auto_out" == -11 ]] && ok "no reader configured and two cards present: -11" || bad "auto reader: $auto_out"
[[ "$info_out" == "0|$READER0|000000000000|" ]] && ok "iGetReaderInfo: $info_out" || bad "iGetReaderInfo: $info_out"
[[ "$part_out" == 0 ]] && ok "SSCARD_READER='vpcd 00 00' (a unique part of the name) reads the card" || bad "reader by part of its name: $part_out"

# ----------------------------------------------------- exported symbols
missing=()
while IFS= read -r name; do
	nm -D --defined-only "$FFI_DIR/libsscard.so" | grep -qw "$name" || missing+=("$name")
done < <(grep -oE 'SSCARD_CALL [A-Za-z_0-9]+\(' "$CRATE/include/sscard.h" | sed -E 's/SSCARD_CALL ([A-Za-z_0-9]+)\(/\1/')
declared=$(grep -c 'SSCARD_CALL [A-Za-z_0-9]*(' "$CRATE/include/sscard.h")
if ((${#missing[@]} == 0)); then
	ok "libsscard.so exports all $declared functions of include/sscard.h"
else
	bad "not exported: ${missing[*]}"
fi

# ----------------------------------------------------- C: 3.0 card through a PSAM
# The two emulators make way for one process serving the 3.0 card in slot 0 and the
# emulated sx3 PSAM in slot 1.
kill "$emu0" "$emu1" 2>/dev/null || true
wait "$emu0" "$emu1" 2>/dev/null || true
for r in "$READER0" "$READER1"; do
	sscard_wait_no_card "$r" "${SSCARD_E2E_CARD_TIMEOUT:-10}" || sscard_e2e_abort "the card in '$r' did not go away"
done
timeout -k 5 "$MAX_RUNTIME" "$SSCARD_BIN" emulate --image "$WORK/v3.json" --port "$port" \
	--psam-port $((port + 1)) --psam-env sx3 >"$WORK/emulator-psam.log" 2>&1 &
sscard_track_pid $! "sscard emulate (3.00 + PSAM)"
for r in "$READER0" "$READER1"; do
	sscard_wait_card "$r" "${SSCARD_E2E_CARD_TIMEOUT:-10}" >/dev/null || sscard_e2e_abort "no card appeared in '$r'"
done
ok "3.00/SM4 card in '$READER0', emulated sx3 PSAM in '$READER1'"
run_check "pinhsm" SSCARD_READER="$READER0" SSCARD_PIN_SOURCE="file:$WORK/pin" -- pinhsm "$FFI_DIR/sscard-test-hsm" "$WORK/pin"
run_check "psam" SSCARD_READER="$READER0" SSCARD_PSAM_READER="vpcd 00 01" SSCARD_DEVICE_NUMBER=$DEVICE -- psam $DEVICE 000000000001
out=$(SSCARD_READER="$READER0" SSCARD_PSAM_READER="no such reader" SSCARD_DEVICE_NUMBER=$DEVICE timeout 60 "$WORK/ffi_check" hsm "$FFI_DIR/sscard-test-hsm" $DEVICE 2>&1) || true
count "$out"

((failed == 0)) || sscard_e2e_logs

# -------------------------------------------------------------------- teardown
pcscd_pid=$SSCARD_PCSCD_PID
sscard_pcscd_stop
left=()
for p in "$pcscd_pid" "$emu0" "$emu1"; do
	if sscard__alive "$p"; then left+=("$p"); fi
done
if ((${#left[@]} == 0)); then
	ok "teardown: pcscd (pid $pcscd_pid) and emulators (pids $emu0, $emu1) stopped"
else
	bad "teardown: still running: ${left[*]}"
fi

sscard_e2e_end
