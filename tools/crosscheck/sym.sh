#!/usr/bin/env bash
# Cross-checks sscard-crypto's SM3 and SM4 against the OpenSSL 3 command line:
#   SM3                 ours == openssl dgst -sm3
#   SM4-ECB, SM4-CBC    ours == openssl enc -sm4-ecb / -sm4-cbc -nopad -K … [-iv …]
#                       (encryption, and decryption of OpenSSL's ciphertext)
# on random keys, IVs and data of several lengths. One line per check; the last line is
# "N passed, M failed"; exits non-zero if anything failed.
#
#   tools/crosscheck/sym.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

command -v openssl >/dev/null || { echo "openssl not found" >&2; exit 2; }
cargo build -q -p sscard-crypto --example sym_tool
TOOL=target/debug/examples/sym_tool

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

hex() { od -An -v -tx1 | tr -d ' \n' | tr 'a-f' 'A-F'; }
random_hex() { head -c "$1" /dev/urandom | hex; }

passed=0
failed=0
check() { # name ours theirs
	if [[ -n "$2" && "$2" == "$3" ]]; then
		echo "ok   $1"
		passed=$((passed + 1))
	else
		echo "FAIL $1: ours=${2:0:64} openssl=${3:0:64}"
		failed=$((failed + 1))
	fi
}

for len in 0 1 3 55 56 63 64 65 1000 8192; do
	head -c "$len" /dev/urandom >"$tmp/m"
	ours=$("$TOOL" sm3 <"$tmp/m") || ours=error
	theirs=$(openssl dgst -sm3 -binary "$tmp/m" | hex)
	check "sm3 ${len} bytes" "$ours" "$theirs"
done

for len in 16 32 48 256 4096; do
	head -c "$len" /dev/urandom >"$tmp/m"
	key=$(random_hex 16)
	iv=$(random_hex 16)

	ours=$("$TOOL" sm4-ecb-enc "$key" <"$tmp/m") || ours=error
	openssl enc -sm4-ecb -nopad -K "$key" -in "$tmp/m" -out "$tmp/ecb"
	check "sm4-ecb encrypt ${len} bytes" "$ours" "$(hex <"$tmp/ecb")"
	ours=$("$TOOL" sm4-ecb-dec "$key" <"$tmp/ecb") || ours=error
	check "sm4-ecb decrypt ${len} bytes" "$ours" "$(hex <"$tmp/m")"

	ours=$("$TOOL" sm4-cbc-enc "$key" "$iv" <"$tmp/m") || ours=error
	openssl enc -sm4-cbc -nopad -K "$key" -iv "$iv" -in "$tmp/m" -out "$tmp/cbc"
	check "sm4-cbc encrypt ${len} bytes" "$ours" "$(hex <"$tmp/cbc")"
	ours=$("$TOOL" sm4-cbc-dec "$key" "$iv" <"$tmp/cbc") || ours=error
	check "sm4-cbc decrypt ${len} bytes" "$ours" "$(hex <"$tmp/m")"
done

echo "$passed passed, $failed failed"
[[ "$failed" == 0 ]]
