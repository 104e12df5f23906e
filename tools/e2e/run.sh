#!/usr/bin/env bash
# tools/e2e/run.sh -- end-to-end test of the sscard emulator and reader:
#
#   private pcscd + vpcd (tools/lib/pcscd.sh)
#   -> `$SSCARD_BIN emulate --port BASE` (sample card, TCP client of vpcd)
#   -> `$SSCARD_BIN read --reader "sscard VPCD 00 00" --json` == sample image
#   -> tools/e2e/third-party.sh (opensc-tool, scriptor, pyscard, cardpeek)
#   -> everything stopped by PID.
#
# Environment:
#   SSCARD_BIN            emulator/reader binary (default target/release/sscard,
#                         relative to the repository root); build it first
#   SSCARD_E2E_PORT       first vpcd base port to try (default 40000; the
#                         first free pair base/base+1 at or above it is used)
#   SSCARD_E2E_CARD_TIMEOUT  seconds to wait for the card (default 10)
#   SSCARD_MAX_RUNTIME    hard bound (s) on pcscd's and the emulator's life (900)
#   SSCARD_PCSCD_DEBUG=1  log every APDU in pcscd's log (shown on failure)
#   SSCARD_KEEP_WORKDIR=1 keep the work dir (pcscd.log, emulator.log, read.json)
#
# Prints one line per check and ends with "N passed, M failed"; exit 0 only if
# M is 0.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=SCRIPTDIR/../lib/pcscd.sh
source "$ROOT/tools/lib/pcscd.sh"
# shellcheck source=SCRIPTDIR/../lib/e2e.sh
source "$ROOT/tools/lib/e2e.sh"

SSCARD_BIN=${SSCARD_BIN:-target/release/sscard}
PY=${SSCARD_PY:-/usr/bin/python3}
READER="$SSCARD_FRIENDLYNAME 00 00"
SAMPLE=$ROOT/apdu-specs/images/sample.json
MAX_RUNTIME=${SSCARD_MAX_RUNTIME:-900}

E2E_LOGS=(emulator.log read.err pcscd.log)

sscard_install_deps || sscard_e2e_abort "could not install the harness dependencies"
ok "dependencies present (pcscd, vpcd, opensc-tool, scriptor, pyscard, libpcsclite-dev)"

[[ -f "$SAMPLE" ]] || sscard_e2e_abort "$SAMPLE missing"
if [[ ! -x "$SSCARD_BIN" ]]; then
	sscard_e2e_abort "emulator binary '$SSCARD_BIN' not found or not executable (cargo build --release, or set SSCARD_BIN)"
fi

sscard_install_trap
port=$(sscard_free_base_port "${SSCARD_E2E_PORT:-$SSCARD_DEFAULT_BASE_PORT}") ||
	sscard_e2e_abort "no free TCP port pair for vpcd"
sscard_pcscd_start "" "$port" || sscard_e2e_abort "private pcscd did not start"
ok "private pcscd (pid $SSCARD_PCSCD_PID) with readers '$SSCARD_FRIENDLYNAME 00 00/00 01' on ports $port/$((port + 1))"

# The emulator is a TCP client of vpcd on 127.0.0.1:$port (it retries until
# pcscd listens) and serves the built-in sample card until killed.
timeout -k 5 "$MAX_RUNTIME" "$SSCARD_BIN" emulate --port "$port" >"$SSCARD_WORKDIR/emulator.log" 2>&1 &
emu_pid=$!
sscard_track_pid "$emu_pid" "sscard emulate"

atr=$(sscard_wait_card "$READER" "${SSCARD_E2E_CARD_TIMEOUT:-10}") ||
	sscard_e2e_abort "no card appeared in '$READER' (is '$SSCARD_BIN emulate --port $port' connecting to 127.0.0.1:$port?)"
want_atr=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["atr"].upper())' "$SAMPLE")
if [[ "$atr" == "$want_atr" ]]; then
	ok "card present in '$READER', ATR $atr"
else
	bad "card present in '$READER' but ATR is $atr, sample.json says $want_atr"
fi

# ----------------------------------------------------------- sscard read --json
json=$SSCARD_WORKDIR/read.json
rc=0
timeout 60 "$SSCARD_BIN" read --reader "$READER" --json >"$json" 2>"$SSCARD_WORKDIR/read.err" || rc=$?
if [[ $rc -ne 0 ]]; then
	bad "sscard read --json exited $rc"
	sscard_e2e_logs
else
	ok "sscard read --reader '$READER' --json exited 0"
	while IFS= read -r line; do
		case $line in
		"ok   "*) ok "${line#ok   }" ;;
		"FAIL "*) bad "${line#FAIL }" ;;
		esac
	done < <("$PY" - "$json" "$SAMPLE" <<'PYEOF' || echo "FAIL sscard read: JSON check crashed"
import json, sys

def norm_hex(s):
    return "".join(ch for ch in str(s) if ch not in " :").upper()

try:
    got = json.load(open(sys.argv[1], encoding="utf-8"))
except ValueError as e:
    print("FAIL sscard read: output is not JSON (%s): %r" % (e, open(sys.argv[1], "rb").read(300)))
    sys.exit(0)
want = json.load(open(sys.argv[2], encoding="utf-8"))
if not isinstance(got, dict):
    print("FAIL sscard read: JSON top level is %s, want an object" % type(got).__name__)
    sys.exit(0)

if norm_hex(got.get("atr")) == norm_hex(want["atr"]):
    print("ok   sscard read: atr == sample.json atr (%s)" % want["atr"])
else:
    print("FAIL sscard read: atr %r, want %r" % (got.get("atr"), want["atr"]))

gf, wf = got.get("files"), want["files"]
if gf == wf:
    print("ok   sscard read: files == sample.json files (%s)" % ", ".join(sorted(wf)))
else:
    diffs = []
    if not isinstance(gf, dict):
        diffs.append("files is %r" % (gf,))
    else:
        for path in sorted(set(gf) | set(wf)):
            g, w = gf.get(path), wf.get(path)
            if not isinstance(g, dict) or not isinstance(w, dict):
                if g != w:
                    diffs.append("%s: got %r, want %r" % (path, g, w))
                continue
            for k in sorted(set(g) | set(w)):
                if g.get(k, "<missing>") != w.get(k, "<missing>"):
                    diffs.append("%s.%s: got %r, want %r" % (path, k, g.get(k, "<missing>"), w.get(k, "<missing>")))
    print("FAIL sscard read: files differ from sample.json: " + "; ".join(diffs))

name = (got.get("basic") or {}).get("name") if isinstance(got.get("basic"), dict) else None
if name == "李测试":
    print("ok   sscard read: basic.name == 李测试")
else:
    print("FAIL sscard read: basic.name is %r, want '李测试'" % (name,))
PYEOF
	)
fi

# ------------------------------------------------------------- third-party.sh
tp_out=$SSCARD_WORKDIR/third-party.out
rc=0
bash "$ROOT/tools/e2e/third-party.sh" "$READER" | tee "$tp_out" || rc=$?
summary_line=$(tail -n 1 "$tp_out")
if [[ "$summary_line" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
	passed=$((passed + BASH_REMATCH[1]))
	failed=$((failed + BASH_REMATCH[2]))
	if [[ $rc -ne 0 && ${BASH_REMATCH[2]} -eq 0 ]]; then
		bad "third-party.sh exited $rc"
	fi
else
	bad "third-party.sh exited $rc without a summary line"
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
