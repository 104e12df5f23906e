# shellcheck shell=bash
# tools/lib/pcscd.sh -- sourceable helpers for sscard's PC/SC test harness.
#
# Runs a private pcscd with a private vpcd (vsmartcard) reader configuration so
# an emulated card (`sscard emulate --port N`, a TCP client of vpcd) can be
# tested with the Rust host library and third-party PC/SC tools.
#
#   source tools/lib/pcscd.sh
#   sscard_install_deps
#   sscard_pcscd_start "" 40000     # "" = make a temp work dir
#   sscard_install_trap             # or: trap sscard_pcscd_stop EXIT ...
#   my-emulator --port 40000 & sscard_track_pid $!
#   sscard_wait_card "sscard VPCD 00 00" 10
#   ...
#   sscard_pcscd_stop
#
# Readers are "sscard VPCD 00 00" (TCP port base) and "sscard VPCD 00 01"
# (port base+1). vpcd listens on 0.0.0.0 (hard-coded in the driver): the card
# side must only ever connect to 127.0.0.1.
#
# Environment knobs:
#   SSCARD_PCSCD_DEBUG=1       run pcscd with -d -a (debug + every APDU logged)
#   SSCARD_PCSCD_MODE=auto|plain|ns
#                              plain: pcscd as is, socket /run/pcscd/pcscd.comm
#                                     (CI: root, no system pcscd)
#                              ns:    private mount namespace, /run/pcscd bind-
#                                     mounted to a private run dir (unshare)
#                              auto (default): plain if root and no pcscd is
#                                     running and /run/pcscd/pcscd.comm is absent
#   SSCARD_KEEP_WORKDIR=1      do not delete the work dir on stop
#   SSCARD_MAX_RUNTIME=900     hard upper bound (s) on pcscd's life: it runs
#                              under `timeout`, so even a SIGKILLed harness
#                              cannot leave it behind for long
#
# After sscard_pcscd_start, PCSCLITE_CSOCK_NAME is exported so every PC/SC
# client started from this shell talks to the private daemon.
#
# Everything here is `set -euo pipefail` safe; all functions return non-zero
# on failure instead of exiting, except that they print to stderr.

# Guard against double sourcing.
if [[ -n "${SSCARD__PCSCD_LIB_LOADED:-}" ]]; then
	return 0
fi
SSCARD__PCSCD_LIB_LOADED=1

SSCARD_VPCD_DRIVER=${SSCARD_VPCD_DRIVER:-/usr/lib/pcsc/drivers/serial/libifdvpcd.so}
SSCARD_FRIENDLYNAME=${SSCARD_FRIENDLYNAME:-sscard VPCD}
SSCARD_DEFAULT_BASE_PORT=${SSCARD_DEFAULT_BASE_PORT:-40000} # 0x9C40
SSCARD_APT_PACKAGES=(pcscd vsmartcard-vpcd libpcsclite-dev pkgconf opensc pcsc-tools python3-pyscard cardpeek)
SSCARD_PY=${SSCARD_PY:-/usr/bin/python3} # Debian's python: the only one with pyscard

# State (also mirrored to files in the work dir so subshells cannot lose it).
SSCARD_WORKDIR=${SSCARD_WORKDIR:-}
SSCARD_PCSCD_PID=${SSCARD_PCSCD_PID:-}
SSCARD_PCSCD_WRAPPER_PID=${SSCARD_PCSCD_WRAPPER_PID:-}
SSCARD_BASE_PORT=${SSCARD_BASE_PORT:-}
SSCARD__OWN_WORKDIR=${SSCARD__OWN_WORKDIR:-}
SSCARD__OLD_CSOCK_SET=
SSCARD__OLD_CSOCK=

sscard__log() { printf '[pcscd.sh] %s\n' "$*" >&2; }
sscard__err() { printf '[pcscd.sh] ERROR: %s\n' "$*" >&2; }

# Absolute path of the pcscd binary (it lives in /usr/sbin, which a non-root
# PATH may lack), or empty.
sscard__pcscd_bin() {
	local p
	if p=$(command -v pcscd 2>/dev/null); then
		printf '%s\n' "$p"
	elif [[ -x /usr/sbin/pcscd ]]; then
		printf '%s\n' /usr/sbin/pcscd
	fi
}

# Lists what is missing for the harness, one item per line (empty = nothing).
sscard_missing_deps() {
	[[ -n "$(sscard__pcscd_bin)" ]] || echo pcscd
	[[ -f "$SSCARD_VPCD_DRIVER" ]] || echo "$SSCARD_VPCD_DRIVER"
	command -v opensc-tool >/dev/null 2>&1 || echo opensc-tool
	command -v scriptor >/dev/null 2>&1 || echo scriptor
	if ! command -v pkg-config >/dev/null 2>&1; then
		echo pkg-config
	elif ! pkg-config --exists libpcsclite 2>/dev/null || [[ ! -f /usr/include/PCSC/winscard.h ]]; then
		echo libpcsclite-dev
	fi
	if [[ ! -x "$SSCARD_PY" ]] || ! "$SSCARD_PY" -c 'import smartcard' >/dev/null 2>&1; then
		echo "$SSCARD_PY: import smartcard"
	fi
}

# Installs the Debian packages the harness needs; no-op (no apt) when present.
sscard_install_deps() {
	local missing sudo=()
	missing=$(sscard_missing_deps)
	if [[ -z "$missing" ]]; then
		return 0
	fi
	sscard__log "missing: $(tr '\n' ' ' <<<"$missing")-- installing with apt-get"
	if [[ $EUID -ne 0 ]]; then
		if command -v sudo >/dev/null 2>&1; then
			sudo=(sudo)
		else
			sscard__err "not root and no sudo: install ${SSCARD_APT_PACKAGES[*]} by hand"
			return 1
		fi
	fi
	"${sudo[@]}" apt-get update -q || { sscard__err "apt-get update failed"; return 1; }
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		"${SSCARD_APT_PACKAGES[@]}" || { sscard__err "apt-get install failed"; return 1; }
	missing=$(sscard_missing_deps)
	if [[ -n "$missing" ]]; then
		sscard__err "still missing after install: $(tr '\n' ' ' <<<"$missing")"
		return 1
	fi
}

# --- process bookkeeping ------------------------------------------------------

# Start time (clock ticks since boot, /proc/PID/stat field 22) of a process:
# lets us refuse to signal a recycled PID.
sscard__starttime() {
	local stat rest
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	rest=${stat##*) } # fields after "(comm) "; comm may contain spaces
	# rest starts at field 3 (state); field 22 is the 20th word of rest.
	# shellcheck disable=SC2086
	set -- $rest
	printf '%s\n' "${20}"
}

# 0 if PID exists and is not a zombie.
sscard__alive() {
	local stat rest
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	rest=${stat##*) }
	[[ "${rest:0:1}" != Z ]]
}

sscard__ensure_workdir() {
	if [[ -z "$SSCARD_WORKDIR" ]]; then
		SSCARD_WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/sscard-pcscd.XXXXXX") || return 1
		SSCARD__OWN_WORKDIR=1
	fi
	mkdir -p "$SSCARD_WORKDIR" || return 1
	: >>"$SSCARD_WORKDIR/pids"
}

# sscard_track_pid PID [LABEL]: remember a process (e.g. the emulator) for
# sscard_pcscd_stop. Tracked PIDs are stopped in reverse order of tracking.
sscard_track_pid() {
	local pid=${1:?sscard_track_pid: PID required} label=${2:-process} st
	sscard__ensure_workdir || return 1
	st=$(sscard__starttime "$pid") || st=gone
	printf '%s %s %s\n' "$pid" "$st" "$label" >>"$SSCARD_WORKDIR/pids"
}

# Is there a pcscd process on this host (any user)? Scans /proc so it works
# without procps.
sscard__pcscd_running() {
	local c
	for c in /proc/[0-9]*/comm; do
		[[ "$(cat "$c" 2>/dev/null)" == pcscd ]] && return 0
	done
	return 1
}

# 0 if something listens on TCP PORT (v4 or v6, any address).
sscard__port_listening() {
	local hex
	hex=$(printf '%04X' "$1")
	# /proc/net/tcp: "sl local_address rem_address st ..."; st 0A = LISTEN.
	awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# sscard_free_base_port [START] [TRIES]: print the first base port >= START
# (default $SSCARD_DEFAULT_BASE_PORT) such that it and base+1 are not
# listening, stepping by 2. Racy by nature; sscard_pcscd_start re-checks.
sscard_free_base_port() {
	local p=$((${1:-$SSCARD_DEFAULT_BASE_PORT})) n=${2:-50}
	while ((n-- > 0 && p < 65534)); do
		if ! sscard__port_listening "$p" && ! sscard__port_listening $((p + 1)); then
			echo "$p"
			return 0
		fi
		p=$((p + 2))
	done
	sscard__err "no free vpcd port pair found"
	return 1
}

# --- pcscd --------------------------------------------------------------------

# sscard_pcscd_start [WORKDIR] [BASE_PORT]
#   WORKDIR: created if needed; empty => mktemp. Removed by sscard_pcscd_stop
#            if this library created it.
#   BASE_PORT: vpcd slot 0 port (slot 1 = BASE_PORT+1); default
#            $SSCARD_DEFAULT_BASE_PORT (40000 = 0x9C40). Must be free.
# pcscd runs under `timeout $SSCARD_MAX_RUNTIME`. On success sets
# SSCARD_PCSCD_PID (pcscd itself), SSCARD_WORKDIR, SSCARD_BASE_PORT and exports
# PCSCLITE_CSOCK_NAME. On failure prints pcscd's log tail, calls
# sscard_pcscd_stop (stopping whatever was tracked so far) and returns 1.
sscard_pcscd_start() {
	local workdir=${1:-} base=${2:-$SSCARD_DEFAULT_BASE_PORT}
	local pcscd mode=${SSCARD_PCSCD_MODE:-auto} sock rundir conf log i args
	local wrapper maxrun=${SSCARD_MAX_RUNTIME:-900}
	if [[ -n "$SSCARD_PCSCD_WRAPPER_PID" ]]; then
		sscard__err "pcscd already started by this shell (pid ${SSCARD_PCSCD_PID:-$SSCARD_PCSCD_WRAPPER_PID})"
		return 1
	fi
	if ! [[ "$base" =~ ^(0[xX][0-9a-fA-F]+|[0-9]+)$ ]] || ((base < 1024 || base > 65534)); then
		sscard__err "bad base port '$base' (need 1024..65534)"
		return 1
	fi
	base=$((base))
	pcscd=$(sscard__pcscd_bin)
	if [[ -z "$pcscd" ]]; then
		sscard__err "pcscd not installed (run sscard_install_deps)"
		return 1
	fi
	if [[ ! -f "$SSCARD_VPCD_DRIVER" ]]; then
		sscard__err "vpcd driver $SSCARD_VPCD_DRIVER missing (package vsmartcard-vpcd)"
		return 1
	fi
	for i in "$base" $((base + 1)); do
		if sscard__port_listening "$i"; then
			sscard__err "TCP port $i is already in use; pick another base port"
			return 1
		fi
	done

	if [[ -n "$workdir" ]]; then
		if [[ ! -e "$workdir" ]]; then
			SSCARD__OWN_WORKDIR=1
		fi
		SSCARD_WORKDIR=$workdir
	fi
	sscard__ensure_workdir || { sscard__err "cannot create work dir"; return 1; }
	SSCARD_WORKDIR=$(cd "$SSCARD_WORKDIR" && pwd)
	conf=$SSCARD_WORKDIR/conf
	log=$SSCARD_WORKDIR/pcscd.log
	mkdir -p "$conf"
	# pcscd parses every regular, non-dot file in the -c dir.
	{
		printf 'FRIENDLYNAME "%s"\n' "$SSCARD_FRIENDLYNAME"
		printf 'DEVICENAME /dev/null:%d\n' "$base"
		printf 'LIBPATH %s\n' "$SSCARD_VPCD_DRIVER"
		printf 'CHANNELID %d\n' "$base"
	} >"$conf/vpcd"

	args=(-f -c "$conf")
	if [[ "${SSCARD_PCSCD_DEBUG:-0}" == 1 ]]; then
		args+=(-d -a)
	fi

	if [[ "$mode" == auto ]]; then
		if [[ $EUID -eq 0 ]] && ! sscard__pcscd_running && [[ ! -e /run/pcscd/pcscd.comm ]]; then
			mode=plain
		else
			mode=ns
		fi
	fi

	case $mode in
	plain)
		sock=/run/pcscd/pcscd.comm
		if [[ -e $sock ]]; then
			sscard__err "$sock exists (another pcscd?); use SSCARD_PCSCD_MODE=ns"
			return 1
		fi
		timeout -k 5 "$maxrun" "$pcscd" "${args[@]}" >"$log" 2>&1 &
		wrapper=$!
		;;
	ns)
		if ! command -v unshare >/dev/null 2>&1; then
			sscard__err "unshare (util-linux) not found; needed to run a private pcscd next to the system one"
			return 1
		fi
		rundir=$SSCARD_WORKDIR/run
		mkdir -p "$rundir"
		chmod 755 "$rundir"
		sock=$rundir/pcscd.comm
		if [[ ! -d /run/pcscd ]]; then
			if [[ $EUID -eq 0 ]]; then
				mkdir -p /run/pcscd
			else
				sscard__err "/run/pcscd does not exist, cannot bind-mount over it as non-root"
				return 1
			fi
		fi
		local ns_args=(-m)
		[[ $EUID -eq 0 ]] || ns_args=(-r -m)
		# unshare execs sh, which execs pcscd (same PID, a child of timeout).
		# shellcheck disable=SC2016
		timeout -k 5 "$maxrun" unshare "${ns_args[@]}" \
			sh -c 'mount --bind "$1" /run/pcscd && shift && exec "$@"' \
			sh "$rundir" "$pcscd" "${args[@]}" >"$log" 2>&1 &
		wrapper=$!
		;;
	*)
		sscard__err "SSCARD_PCSCD_MODE must be auto, plain or ns (got '$mode')"
		return 1
		;;
	esac
	SSCARD_PCSCD_WRAPPER_PID=$wrapper
	sscard_track_pid "$wrapper" "timeout(pcscd)"
	SSCARD_BASE_PORT=$base
	echo "$base" >"$SSCARD_WORKDIR/base_port"

	if [[ -z "$SSCARD__OLD_CSOCK_SET" ]]; then
		if [[ -n "${PCSCLITE_CSOCK_NAME+x}" ]]; then
			SSCARD__OLD_CSOCK_SET=set
			SSCARD__OLD_CSOCK=$PCSCLITE_CSOCK_NAME
		else
			SSCARD__OLD_CSOCK_SET=unset
		fi
	fi
	export PCSCLITE_CSOCK_NAME=$sock

	# Wait (<= 5 s) for the socket and for vpcd's two listening ports.
	for ((i = 0; i < 100; i++)); do
		if ! sscard__alive "$wrapper"; then
			sscard__err "pcscd ($mode mode) died during start-up; log tail:"
			tail -n 30 "$log" >&2 || true
			sscard_pcscd_stop
			return 1
		fi
		if [[ -S $sock ]] && sscard__port_listening "$base" && sscard__port_listening $((base + 1)); then
			# pcscd writes its PID next to its socket (global PID: no PID namespace).
			SSCARD_PCSCD_PID=$(tr -dc 0-9 <"${sock%/*}/pcscd.pid" 2>/dev/null) || SSCARD_PCSCD_PID=
			if [[ "$SSCARD_PCSCD_PID" =~ ^[0-9]+$ ]] && sscard__alive "$SSCARD_PCSCD_PID"; then
				# Stopped before its timeout wrapper (reverse tracking order).
				sscard_track_pid "$SSCARD_PCSCD_PID" pcscd
			else
				SSCARD_PCSCD_PID=$wrapper
			fi
			echo "$SSCARD_PCSCD_PID" >"$SSCARD_WORKDIR/pcscd.pid"
			sscard__log "pcscd pid $SSCARD_PCSCD_PID ($mode mode, at most ${maxrun}s) up: socket $sock, vpcd ports $base/$((base + 1)), work dir $SSCARD_WORKDIR"
			return 0
		fi
		sleep 0.05
	done
	sscard__err "pcscd (timeout wrapper pid $wrapper, mode $mode) not ready after 5 s (socket $sock, ports $base/$((base + 1))); log tail:"
	tail -n 30 "$log" >&2 || true
	sscard_pcscd_stop
	return 1
}

# sscard_pcscd_stop: stop exactly the processes this library started or was
# told about (emulators first, pcscd last), wait for them, remove the work dir
# if we created it. Idempotent; never fails, so it is safe in EXIT traps.
sscard_pcscd_stop() {
	local pidfile pid st label cur i had_e=
	local -a pids=() sts=() labels=()
	[[ $- == *e* ]] && had_e=1
	set +e # a trap must never abort half-way
	if [[ -n "$SSCARD_WORKDIR" && -f "$SSCARD_WORKDIR/pids" ]]; then
		pidfile=$SSCARD_WORKDIR/pids
		while read -r pid st label; do
			[[ -n "$pid" ]] || continue
			pids+=("$pid")
			sts+=("$st")
			labels+=("$label")
		done <"$pidfile"
	fi
	# Reverse order: last tracked (emulators) first, pcscd (tracked first) last.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		pid=${pids[i]}
		cur=$(sscard__starttime "$pid" 2>/dev/null) || cur=
		if [[ -z "$cur" || "$cur" != "${sts[i]}" ]]; then
			# Already gone, or the PID now belongs to someone else.
			wait "$pid" 2>/dev/null # reap if it was our child
			continue
		fi
		kill -TERM "$pid" 2>/dev/null
		local n
		for ((n = 0; n < 60; n++)); do # <= 3 s, then SIGKILL
			sscard__alive "$pid" || break
			sleep 0.05
		done
		if sscard__alive "$pid"; then
			sscard__log "${labels[i]} (pid $pid) ignored SIGTERM, sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null
			for ((n = 0; n < 40; n++)); do
				sscard__alive "$pid" || break
				sleep 0.05
			done
		fi
		wait "$pid" 2>/dev/null # reap our children (no-op for others)
	done
	if [[ -n "$SSCARD_WORKDIR" && -f "$SSCARD_WORKDIR/pids" ]]; then
		: >"$SSCARD_WORKDIR/pids"
	fi
	SSCARD_PCSCD_PID=
	SSCARD_PCSCD_WRAPPER_PID=
	case $SSCARD__OLD_CSOCK_SET in
	set) export PCSCLITE_CSOCK_NAME=$SSCARD__OLD_CSOCK ;;
	unset) unset PCSCLITE_CSOCK_NAME ;;
	esac
	SSCARD__OLD_CSOCK_SET=
	if [[ -n "$SSCARD_WORKDIR" && -n "$SSCARD__OWN_WORKDIR" && "${SSCARD_KEEP_WORKDIR:-0}" != 1 ]]; then
		rm -rf -- "$SSCARD_WORKDIR"
	elif [[ -n "$SSCARD_WORKDIR" ]]; then
		sscard__log "kept work dir $SSCARD_WORKDIR"
	fi
	SSCARD_WORKDIR=
	SSCARD__OWN_WORKDIR=
	[[ -z "$had_e" ]] || set -e
	return 0
}

# sscard_install_trap: stop everything on EXIT, and on INT/TERM (then exit
# 130/143). Callers with their own EXIT trap should call sscard_pcscd_stop
# from it instead.
sscard_install_trap() {
	trap 'sscard_pcscd_stop' EXIT
	trap 'sscard_pcscd_stop; trap - EXIT; exit 130' INT
	trap 'sscard_pcscd_stop; trap - EXIT; exit 143' TERM
}

# sscard_pcscd_log_tail [N]: print the last N (default 40) lines of pcscd's log.
sscard_pcscd_log_tail() {
	if [[ -n "$SSCARD_WORKDIR" && -f "$SSCARD_WORKDIR/pcscd.log" ]]; then
		tail -n "${1:-40}" "$SSCARD_WORKDIR/pcscd.log" >&2 || true
	fi
}

# sscard_wait_card READER TIMEOUT_S: wait until a card is present in READER
# (of the private pcscd). Prints the ATR as upper-case hex on success.
# Uses SCardGetStatusChange through pyscard (does not power the card up);
# falls back to polling `opensc-tool -r READER -a` without pyscard.
sscard_wait_card() {
	local reader=${1:?sscard_wait_card: reader name required} timeout=${2:-10}
	if [[ -x "$SSCARD_PY" ]] && "$SSCARD_PY" -c 'import smartcard' >/dev/null 2>&1; then
		"$SSCARD_PY" - "$reader" "$timeout" <<'PYEOF'
import signal, sys, time
from smartcard import scard as s

signal.signal(signal.SIGINT, signal.SIG_DFL)  # die by the signal: the shell then runs its INT trap

reader, timeout = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + timeout
last = "no answer yet"
ctx = None
state = s.SCARD_STATE_UNAWARE
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        sys.stderr.write("[pcscd.sh] ERROR: no card in '%s' after %gs (%s)\n" % (reader, timeout, last))
        sys.exit(1)
    if ctx is None:
        rc, c = s.SCardEstablishContext(s.SCARD_SCOPE_USER)
        if rc != s.SCARD_S_SUCCESS:
            last = "SCardEstablishContext: " + s.SCardGetErrorMessage(rc)
            time.sleep(0.05)
            continue
        ctx = c
    # Blocks until the reader state differs from `state` (or 0.5 s pass).
    rc, states = s.SCardGetStatusChange(ctx, int(min(left, 0.5) * 1000), [(reader, state)])
    if rc == s.SCARD_S_SUCCESS:
        _, ev, atr = states[0]
        if ev & s.SCARD_STATE_PRESENT and not ev & s.SCARD_STATE_MUTE and atr:
            print("".join("%02X" % b for b in atr))
            sys.exit(0)
        last = "reader state 0x%x" % ev
        state = ev & ~s.SCARD_STATE_CHANGED
        continue
    if rc == s.SCARD_E_TIMEOUT:
        continue
    last = "SCardGetStatusChange: " + s.SCardGetErrorMessage(rc)
    state = s.SCARD_STATE_UNAWARE
    if rc in (s.SCARD_E_NO_SERVICE, s.SCARD_E_SERVICE_STOPPED, s.SCARD_E_INVALID_HANDLE):
        s.SCardReleaseContext(ctx)
        ctx = None
    time.sleep(0.05)
PYEOF
		return
	fi
	local end out
	end=$((SECONDS + ${timeout%.*} + 1))
	while ((SECONDS < end)); do
		if out=$(opensc-tool -r "$reader" -a 2>/dev/null) && [[ -n "$out" ]]; then
			tr -d ' :' <<<"$out" | tr '[:lower:]' '[:upper:]'
			return 0
		fi
		sleep 0.1
	done
	sscard__err "no card in '$reader' after ${timeout}s"
	return 1
}

# sscard_wait_no_card READER TIMEOUT_S: wait until READER (of the private pcscd) holds
# no card, e.g. after its emulator stopped. Polls `opensc-tool -r READER -a`.
sscard_wait_no_card() {
	local reader=${1:?sscard_wait_no_card: reader name required} timeout=${2:-10} end
	end=$((SECONDS + ${timeout%.*} + 1))
	while ((SECONDS < end)); do
		if ! opensc-tool -r "$reader" -a >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	sscard__err "a card is still in '$reader' after ${timeout}s"
	return 1
}
