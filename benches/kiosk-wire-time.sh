#!/usr/bin/env bash
# Wire time of reading the basic information in the kiosk's host simulation
# (firmware/kiosk/examples/wire-time.rs): the firmware state machine against the
# sscard-emu sample card through the simulated UART, at 9600 bit/s and at the rate PPS
# negotiates, over T=0 and T=1, with the ratio to the byte-count minimum (goal <= 1.1).
# A report: it prints figures and asserts nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo run -q --release -p sscard-kiosk --example wire-time
