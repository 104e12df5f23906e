#!/usr/bin/env bash
# tools/crosscheck/sm2.sh
#
# Cross-checks sscard_crypto::sm2 (through crates/sscard-crypto/examples/sm2_tool.rs)
# against the OpenSSL 3 command line: signatures both ways with the default, a custom
# and a binary distinguishing ID (accepted with the right ID, rejected with another),
# GM/T 0009 DER encryption both ways, keys generated on either side, and the GB/T
# 32918.5 examples of test-vectors/sm-vectors.json read by OpenSSL.
#
# Prints one line per check ("ok   ..." / "FAIL ...") and ends with the line
# "N passed, M failed"; the output of failed commands goes to stderr. Exit status:
# 0 when everything passed, 1 otherwise (also when the setup fails).
# Environment: OPENSSL (default: /usr/bin/openssl, else openssl on PATH).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OPENSSL=${OPENSSL:-$(command -v /usr/bin/openssl || command -v openssl)}
VECTORS=$ROOT/test-vectors/sm-vectors.json

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sscard-sm2-crosscheck.XXXXXX")
trap 'rm -rf -- "$WORK"' EXIT
trap 'echo "sm2.sh: setup failed at line $LINENO" >&2' ERR

cargo build -q --manifest-path "$ROOT/Cargo.toml" -p sscard-crypto --example sm2_tool
TOOL=$(cargo metadata -q --manifest-path "$ROOT/Cargo.toml" --format-version 1 --no-deps |
	sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug/examples/sm2_tool
[[ -x $TOOL ]] || { echo "sm2_tool not found at $TOOL" >&2; exit 1; }

PASSED=0
FAILED=0

# check DESCRIPTION COMMAND...: the command must succeed.
check() {
	local what=$1
	shift
	if "$@" >"$WORK/last.log" 2>&1; then
		echo "ok   $what"
		PASSED=$((PASSED + 1))
	else
		echo "FAIL $what"
		sed 's/^/       /' "$WORK/last.log" >&2
		FAILED=$((FAILED + 1))
	fi
}

# refute DESCRIPTION COMMAND...: the command must fail (a rejected signature).
refute() {
	local what=$1
	shift
	if "$@" >"$WORK/last.log" 2>&1; then
		echo "FAIL $what (accepted)"
		FAILED=$((FAILED + 1))
	else
		echo "ok   $what"
		PASSED=$((PASSED + 1))
	fi
}

ossl_verify() { # PUB.der DISTID-OPTION MSG SIG
	"$OPENSSL" pkeyutl -verify -rawin -digest sm3 -pkeyopt "$2" -pubin -keyform DER \
		-inkey "$1" -in "$3" -sigfile "$4"
}
ossl_sign() { # KEY.der DISTID-OPTION MSG SIG
	"$OPENSSL" pkeyutl -sign -rawin -digest sm3 -pkeyopt "$2" -keyform DER \
		-inkey "$1" -in "$3" -out "$4"
}

cd "$WORK"
"$OPENSSL" genpkey -algorithm SM2 -out ossl.pem 2>/dev/null
"$OPENSSL" pkey -in ossl.pem -outform DER -out ossl.der
"$OPENSSL" pkey -in ossl.pem -pubout -outform DER -out ossl.pub.der
"$TOOL" keygen ours.der ours.pub.der

DEFAULT=1234567812345678
CUSTOM=ALICE123@YAHOO.COM
BINARY=00ff80c3e4b8ad0a # not UTF-8: RustCrypto's &str IDs cannot express it
printf '' >empty.msg
printf 'abc' >short.msg
head -c 1000 /dev/urandom >long.msg

check "OpenSSL reads our key and derives our public key" \
	bash -c '"$1" pkey -inform DER -in ours.der -pubout -outform DER | cmp -s - ours.pub.der' _ "$OPENSSL"
check "OpenSSL reports our key as SM2" \
	bash -c '"$1" pkey -inform DER -in ours.der -noout -text | grep -q "ASN1 OID: SM2"' _ "$OPENSSL"
check "we read OpenSSL's key and derive its public key" \
	bash -c '"$1" export ossl.der k.der p.der && cmp -s p.der ossl.pub.der' _ "$TOOL"

for msg in empty short long; do
	check "we sign the $msg message (default ID)" "$TOOL" sign ossl.der "$DEFAULT" $msg.msg $msg.default.sig
	check "default ID, $msg message: accepted with distid:$DEFAULT" \
		ossl_verify ossl.pub.der "distid:$DEFAULT" $msg.msg $msg.default.sig
	refute "default ID, $msg message: rejected with distid:$CUSTOM" \
		ossl_verify ossl.pub.der "distid:$CUSTOM" $msg.msg $msg.default.sig
done
check "we sign with ID $CUSTOM" "$TOOL" sign ossl.der "$CUSTOM" short.msg custom.sig
check "custom ID: accepted with distid:$CUSTOM" \
	ossl_verify ossl.pub.der "distid:$CUSTOM" short.msg custom.sig
refute "custom ID: rejected with distid:$DEFAULT" \
	ossl_verify ossl.pub.der "distid:$DEFAULT" short.msg custom.sig
check "we sign with the binary ID $BINARY" "$TOOL" sign ours.der "hex:$BINARY" short.msg binary.sig
check "binary ID, our key: accepted with hexdistid:$BINARY" \
	ossl_verify ours.pub.der "hexdistid:$BINARY" short.msg binary.sig
refute "binary ID, our key: rejected with hexdistid:${BINARY}00" \
	ossl_verify ours.pub.der "hexdistid:${BINARY}00" short.msg binary.sig
refute "signature of another message rejected" \
	ossl_verify ossl.pub.der "distid:$DEFAULT" long.msg short.default.sig

for msg in empty short long; do
	check "OpenSSL signs the $msg message (default ID)" ossl_sign ossl.der "distid:$DEFAULT" $msg.msg $msg.ossl.sig
	check "default ID, $msg message: accepted" \
		"$TOOL" verify ossl.pub.der "$DEFAULT" $msg.msg $msg.ossl.sig
	refute "default ID, $msg message: rejected with ID $CUSTOM" \
		"$TOOL" verify ossl.pub.der "$CUSTOM" $msg.msg $msg.ossl.sig
done
check "OpenSSL signs with ID $CUSTOM" ossl_sign ossl.der "distid:$CUSTOM" short.msg custom.ossl.sig
check "custom ID: accepted" "$TOOL" verify ossl.pub.der "$CUSTOM" short.msg custom.ossl.sig
refute "custom ID: rejected with the default ID" \
	"$TOOL" verify ossl.pub.der "$DEFAULT" short.msg custom.ossl.sig
check "OpenSSL signs with the binary ID, our key" ossl_sign ours.der "hexdistid:$BINARY" long.msg binary.ossl.sig
check "binary ID, our key: accepted" \
	"$TOOL" verify ours.pub.der "hex:$BINARY" long.msg binary.ossl.sig
refute "binary ID, our key: rejected with the text ID $BINARY" \
	"$TOOL" verify ours.pub.der "$BINARY" long.msg binary.ossl.sig

for msg in short long; do
	check "we encrypt the $msg message to OpenSSL's key" "$TOOL" encrypt ossl.pub.der $msg.msg $msg.ct der
	check "ours -> OpenSSL decrypts, $msg message" \
		bash -c '"$1" pkeyutl -decrypt -keyform DER -inkey ossl.der -in "$2.ct" -out "$2.ossl.pt" && cmp -s "$2.ossl.pt" "$2.msg"' \
		_ "$OPENSSL" $msg
	check "OpenSSL encrypts the $msg message to our key" \
		"$OPENSSL" pkeyutl -encrypt -pubin -keyform DER -inkey ours.pub.der -in $msg.msg -out $msg.ossl.ct
	check "OpenSSL -> ours decrypts, $msg message" \
		bash -c '"$1" decrypt ours.der "$2.ossl.ct" "$2.pt" der && cmp -s "$2.pt" "$2.msg"' _ "$TOOL" $msg
done
check "we encrypt to the raw C1C3C2 form" "$TOOL" encrypt ossl.pub.der short.msg short.c1c3c2 c1c3c2
refute "OpenSSL rejects our raw C1C3C2 form (it reads DER only)" \
	"$OPENSSL" pkeyutl -decrypt -keyform DER -inkey ossl.der -in short.c1c3c2
check "we decrypt our raw C1C3C2 form" "$TOOL" decrypt ossl.der short.c1c3c2 short.raw.pt c1c3c2

python3 - "$VECTORS" <<'EOF'
import json, sys
v = json.load(open(sys.argv[1]))
sign, enc = v["sm2_sign"][0], v["sm2_encrypt"][0]
assert sign["d"] == enc["dB"]
open("std.hex", "w").write(sign["d"])
open("std.sign.msg", "wb").write(sign["msg_ascii"].encode())
open("std.sig", "wb").write(bytes.fromhex(sign["der_signature"]))
open("std.enc.msg", "wb").write(enc["msg_ascii"].encode())
open("std.ct", "wb").write(bytes.fromhex(enc["gmt0009_der"]))
EOF
check "we export the standard key (hex) as DER" "$TOOL" export std.hex std.der std.pub.der
check "OpenSSL verifies the standard signature (default ID)" \
	ossl_verify std.pub.der "distid:$DEFAULT" std.sign.msg std.sig
refute "OpenSSL rejects the standard signature with distid:$CUSTOM" \
	ossl_verify std.pub.der "distid:$CUSTOM" std.sign.msg std.sig
check "OpenSSL decrypts the standard ciphertext" \
	bash -c '"$1" pkeyutl -decrypt -keyform DER -inkey std.der -in std.ct -out std.pt && cmp -s std.pt std.enc.msg' _ "$OPENSSL"
check "we decrypt the standard ciphertext" \
	bash -c '"$1" decrypt std.der std.ct std.ours.pt der && cmp -s std.ours.pt std.enc.msg' _ "$TOOL"
check "OpenSSL signs with the standard key" ossl_sign std.der "distid:$DEFAULT" std.sign.msg std.ossl.sig
check "we verify OpenSSL's signature with the standard key" \
	"$TOOL" verify std.pub.der "$DEFAULT" std.sign.msg std.ossl.sig

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
