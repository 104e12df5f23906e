#!/usr/bin/env bash
# APDU round trip through the real PC/SC stack:
#   pcsc client (sscard-pcsc, examples/rtt.rs) -> pcscd -> vpcd -> emulator
# for the sscard emulator and a minimal echo card, measured in the same run on the
# two slots of one private pcscd; then, for reference, a naive bridge (the same
# emulator without TCP_QUICKACK, as most vicc implementations behave).
#
#   benches/vpcd-rtt.sh [N]        N APDUs per card (default 2000; naive bridge: N/10)
#
# Prints one line per card (median, p10, p90, mean) and the ratios of medians.
# A benchmark, not a test: it asserts nothing about speed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=../tools/lib/pcscd.sh
source tools/lib/pcscd.sh

N=${1:-2000}
NAIVE_N=$(( N / 10 > 50 ? N / 10 : 50 ))
sscard_install_deps >&2
cargo build --release -q -p sscard-cli --bin sscard
cargo build --release -q -p sscard-pcsc --example rtt
BIN=target/release/sscard
RTT=target/release/examples/rtt

sscard_install_trap
port=$(sscard_free_base_port "${SSCARD_BENCH_PORT:-40100}")
sscard_pcscd_start "" "$port" >&2
R0="$SSCARD_FRIENDLYNAME 00 00"
R1="$SSCARD_FRIENDLYNAME 00 01"
max=${SSCARD_MAX_RUNTIME:-600}

timeout -k 5 "$max" "$BIN" emulate --card echo --port "$port" 2>"$SSCARD_WORKDIR/echo.log" &
sscard_track_pid $! "echo card"
timeout -k 5 "$max" "$BIN" emulate --port $((port + 1)) 2>"$SSCARD_WORKDIR/emu.log" &
sscard_track_pid $! "sscard emulate"
sscard_wait_card "$R0" 10 >/dev/null
sscard_wait_card "$R1" 10 >/dev/null

echo "# vpcd round trip, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, pcscd $(dpkg-query -W -f '${Version}' pcscd 2>/dev/null || echo '?')"
"$RTT" "$R0" echo "$R1" sscard --n "$N"

# The naive bridge, for scale: replace the sscard card with one that skips QUICKACK.
sscard_pcscd_stop
sscard_pcscd_start "" "$port" >&2
timeout -k 5 "$max" "$BIN" emulate --card echo --port "$port" 2>/dev/null &
sscard_track_pid $! "echo card"
timeout -k 5 "$max" "$BIN" emulate --naive --port $((port + 1)) 2>/dev/null &
sscard_track_pid $! "naive sscard emulate"
sscard_wait_card "$R0" 10 >/dev/null
sscard_wait_card "$R1" 10 >/dev/null
"$RTT" "$R0" echo "$R1" naive-bridge --n "$NAIVE_N"
sscard_pcscd_stop
