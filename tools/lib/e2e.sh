# tools/lib/e2e.sh -- what the sscard end-to-end scripts share. Source it after
# tools/lib/pcscd.sh:
#
#   check DESCRIPTION STATUS   "ok   …" (STATUS 0) or "FAIL …", counted in passed/failed
#   sscard_e2e_begin PORT      a temp dir in $tmp (removed at exit unless SSCARD_KEEP_TMP
#                              is set, with pcscd stopped),
#                              a private pcscd on a free vpcd port pair from PORT
#                              ($SSCARD_E2E_PORT overrides) in $port; then `set +e`, so
#                              a failed [[ ]] reports instead of ending the script
#   sscard_e2e_end             prints "N passed, M failed"; exit status 0 only if none failed
#   ok TEXT, bad TEXT          a passed or failed check
#   sscard_e2e_logs            the last 30 lines of each non-empty file named in the
#                              array E2E_LOGS, in $SSCARD_WORKDIR (the scripts that
#                              start pcscd with sscard_pcscd_start "" PORT)
#   sscard_e2e_abort TEXT      a failed check, the logs, pcscd stopped, the summary; exit 1
#
# Variables: BIN (the sscard binary, default target/release/sscard), READER (slot 0),
# READER1 (slot 1).
# shellcheck shell=bash

BIN=${SSCARD_BIN:-target/release/sscard}
READER="$SSCARD_FRIENDLYNAME 00 00"
# shellcheck disable=SC2034 # used by the scripts that source this
READER1="$SSCARD_FRIENDLYNAME 00 01"
passed=0
failed=0

check() { # check DESCRIPTION STATUS
	if [[ $2 == 0 ]]; then
		echo "ok   $1"
		passed=$((passed + 1))
	else
		echo "FAIL $1"
		failed=$((failed + 1))
	fi
}

ok() { check "$*" 0; }
bad() { check "$*" 1; }

sscard_e2e_logs() {
	local f
	for f in "${E2E_LOGS[@]}"; do
		if [[ -n ${SSCARD_WORKDIR:-} && -s "$SSCARD_WORKDIR/$f" ]]; then
			echo "---- $f (last 30 lines) ----"
			tail -n 30 "$SSCARD_WORKDIR/$f"
		fi
	done
}

sscard_e2e_abort() {
	bad "$1"
	sscard_e2e_logs
	sscard_pcscd_stop
	sscard_e2e_end
	exit 1
}

sscard_e2e_begin() { # sscard_e2e_begin DEFAULT_BASE_PORT
	tmp=$(mktemp -d)
	trap 'sscard_pcscd_stop; [[ -n ${SSCARD_KEEP_TMP:-} ]] || rm -rf "$tmp"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	port=$(sscard_free_base_port "${SSCARD_E2E_PORT:-$1}")
	sscard_pcscd_start "$tmp/pcscd" "$port" >&2
	set +e
}

sscard_e2e_end() {
	echo "$passed passed, $failed failed"
	((failed == 0))
}
