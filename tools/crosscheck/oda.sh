#!/usr/bin/env bash
# tools/crosscheck/oda.sh
#
# Cross-checks sscard_emv::oda (offline data authentication) against the OpenSSL 3
# command line. The TEST PKI is regenerated with
# `cargo run -p sscard-emv --example gen-test-pki` (and must equal the checked-in
# apdu-specs/pboc/test-pki.json); keys, messages and signatures are turned into DER by
# OpenSSL itself (`asn1parse -genconf` from the hex in the JSON), so no encoder of ours
# is trusted. Checks:
#   SM2  certificate 90, certificate 9F46 and SSAD 93 of the test PKI verify with
#        `pkeyutl -verify -rawin -digest sm3 -pkeyopt distid:1234567812345678`, and are
#        rejected with another ID or one flipped byte; the ICC private key d gives the
#        certified ICC public key; the public A.1 issuer certificate verifies too.
#   RSA  certificate 90 (CA F2), 9F46 (issuer key) and SSAD 93 of the test PKI recover
#        with `pkeyutl -verifyrecover -pkeyopt rsa_padding_mode:none` to 6A02…BC,
#        6A04…BC, 6A03…BC, the first equal to the file's issuer_cert_recovered, each
#        hash (SHA-1 by `openssl dgst`) matching; `openssl rsa -check` accepts the ICC
#        key; the public A.2 issuer certificate recovers under UnionPay CAPK 80 (from
#        apdu-specs/pboc/capk.json) to 6A02 622800FF 1230 000001 01 01 80 01 …BC.
#
# Prints one line per check ("ok   ..." / "FAIL ...") and ends with the line
# "N passed, M failed". Exit status: 0 when everything passed, 1 otherwise (also when
# the setup fails). Environment: OPENSSL (default: /usr/bin/openssl, else openssl on PATH).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OPENSSL=${OPENSSL:-$(command -v /usr/bin/openssl || command -v openssl)}
PKI=$ROOT/apdu-specs/pboc/test-pki.json
CAPK=$ROOT/apdu-specs/pboc/capk.json
VECTORS=$ROOT/test-vectors/pboc-vectors.json

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sscard-oda-crosscheck.XXXXXX")
trap 'rm -rf -- "$WORK"' EXIT
trap 'echo "oda.sh: setup failed at line $LINENO" >&2' ERR

cargo run -q --manifest-path "$ROOT/Cargo.toml" -p sscard-emv --example gen-test-pki -- "$WORK/pki.json" 2>/dev/null

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

cd "$WORK"

# Split the JSON into binary messages and asn1parse -genconf descriptions.
python3 - "$WORK/pki.json" "$CAPK" "$VECTORS" <<'EOF'
import json, sys
pki = json.load(open(sys.argv[1]))
capk = json.load(open(sys.argv[2]))
vec = json.load(open(sys.argv[3]))
b = bytes.fromhex

def put(name, data):
    open(name, "wb").write(data)

def sm2_pub(name, xy):
    open(name + ".cnf", "w").write(
        "asn1=SEQUENCE:spki\n[spki]\nalg=SEQUENCE:alg\nkey=FORMAT:HEX,BITSTRING:04%s\n"
        "[alg]\noid=OID:id-ecPublicKey\ncurve=OID:1.2.156.10197.1.301\n" % xy)

def sm2_sig(name, rs):
    open(name + ".cnf", "w").write(
        "asn1=SEQUENCE:sig\n[sig]\nr=INTEGER:0x%s\ns=INTEGER:0x%s\n" % (rs[:32].hex(), rs[32:].hex()))

def rsa_pub(name, n, e):
    open(name + ".cnf", "w").write(
        "asn1=SEQUENCE:spki\n[spki]\nalg=SEQUENCE:alg\nkey=BITWRAP,SEQUENCE:rsakey\n"
        "[alg]\noid=OID:rsaEncryption\nnull=NULL\n[rsakey]\nn=INTEGER:0x%s\ne=INTEGER:0x%s\n" % (n, e))

def rsa_priv(name, k):
    n, e, d, p, q = (int(k[x], 16) for x in "nedpq")
    fields = dict(v=0, n=n, e=e, d=d, p=p, q=q, dp=d % (p - 1), dq=d % (q - 1), qi=pow(q, -1, p))
    open(name + ".cnf", "w").write(
        "asn1=SEQUENCE:k\n[k]\n" + "".join("%s=INTEGER:0x%X\n" % (f, v) for f, v in fields.items()))

static = b(pki["static_data"])
sm2 = pki["sm2"]
sm2_pub("sm2.ca", sm2["ca_public_key_xy"])
sm2_pub("sm2.issuer", sm2["issuer_public_key_xy"])
c90 = b(sm2["issuer_cert_90"])
put("sm2.90.msg", c90[:78]); sm2_sig("sm2.90.sig", c90[78:])
put("sm2.90.bad.msg", c90[:20] + bytes([c90[20] ^ 1]) + c90[21:78])
put("sm2.90.key", c90[14:78])
c9f46 = b(sm2["icc_cert_9f46"])
put("sm2.9f46.msg", c9f46[:84] + static); sm2_sig("sm2.9f46.sig", c9f46[84:])
put("sm2.9f46.nostatic.msg", c9f46[:84])
put("sm2.9f46.key", c9f46[20:84])
c93 = b(sm2["ssad_93"])
put("sm2.93.msg", c93[:3] + static); sm2_sig("sm2.93.sig", c93[3:])
open("sm2.icc.key.cnf", "w").write(
    "asn1=SEQUENCE:k\n[k]\nv=INTEGER:1\nd=FORMAT:HEX,OCTETSTRING:%s\np=EXPLICIT:0,OID:1.2.156.10197.1.301\n"
    % sm2["icc_private_key_d"])
put("sm2.icc.xy", b(sm2["icc_public_key_xy"]))
put("sm2.issuer.xy", b(sm2["issuer_public_key_xy"]))

a1 = vec["sm2_oda_chain"]
sm2_pub("a1.ca", a1["ca_public_key_xy"])
a90 = b(a1["issuer_cert_90"])
put("a1.90.msg", a90[:78]); sm2_sig("a1.90.sig", a90[78:])

r = pki["rsa"]
rsa_pub("rsa.ca", r["ca_key"]["n"], r["ca_key"]["e"])
rsa_pub("rsa.issuer", r["issuer_key"]["n"], r["issuer_key"]["e"])
rsa_priv("rsa.icc.key", r["icc_key"])
put("rsa.90", b(r["issuer_cert_90"])); put("rsa.90.expected", b(r["issuer_cert_recovered"]))
put("rsa.92", b(r["issuer_remainder_92"])); put("rsa.9f32", b(r["issuer_exponent_9f32"]))
put("rsa.9f46", b(r["icc_cert_9f46"])); put("rsa.9f48", b(r["icc_remainder_9f48"]))
put("rsa.9f47", b(r["icc_exponent_9f47"])); put("rsa.93", b(r["ssad_93"]))
put("static", static)
put("empty", b"")

k80 = [e for e in capk["entries"] if e["index"] == "80"][0]["tlv"]
t = b(k80)
i = t.index(b("DF0281")) + 3; n = t[i + 1:i + 1 + t[i]]
j = t.index(b("DF04")) + 2; e = t[j + 1:j + 1 + t[j]]
rsa_pub("a2.ca", n.hex(), e.hex())
a2 = vec["rsa_oda_chain"]
put("a2.90", b(a2["issuer_cert_90"])); put("a2.90.expected", b(a2["recovered_issuer_cert"]))
EOF

for cnf in *.cnf; do
	"$OPENSSL" asn1parse -genconf "$cnf" -out "${cnf%.cnf}.der" -noout
done

sm2_verify() { # PUB MSG SIG [ID]
	"$OPENSSL" pkeyutl -verify -rawin -digest sm3 -pkeyopt "distid:${4:-1234567812345678}" \
		-pubin -keyform DER -inkey "$1.der" -in "$2" -sigfile "$3.der"
}
rsa_recover() { # PUB IN OUT
	"$OPENSSL" pkeyutl -verifyrecover -pubin -keyform DER -inkey "$1.der" \
		-pkeyopt rsa_padding_mode:none -in "$2" -out "$3"
}
hexof() { od -An -v -tx1 "$1" | tr -d ' \n' | tr a-f A-F; }
# recovered_ok FILE HEADER-HEX EXTRA...: FILE starts with HEADER-HEX, ends with BC, and
# its 20-byte hash equals SHA-1(FILE[1 .. n-21] ‖ EXTRA files), computed by openssl dgst.
recovered_ok() {
	local file=$1 header=$2
	shift 2
	local x n
	x=$(hexof "$file")
	n=$((${#x} / 2))
	[[ $x == "$header"* && $x == *BC ]] || { echo "bad header/trailer: ${x:0:8}…${x: -2}"; return 1; }
	local hash=${x:$(((n - 21) * 2)):40}
	local computed
	computed=$({ tail -c +2 "$file" | head -c $((n - 22)); cat "$@"; } |
		"$OPENSSL" dgst -sha1 -binary | od -An -v -tx1 | tr -d ' \n' | tr a-f A-F)
	[[ $hash == "$computed" ]] || { echo "hash $hash != SHA-1 $computed"; return 1; }
}

check "gen-test-pki reproduces the checked-in test-pki.json" cmp -s pki.json "$PKI"

check "SM2 90 (test CA F1 -> issuer) verifies with distid:1234567812345678" \
	sm2_verify sm2.ca sm2.90.msg sm2.90.sig
refute "SM2 90 rejected with distid:1234567812345679" \
	sm2_verify sm2.ca sm2.90.msg sm2.90.sig 1234567812345679
refute "SM2 90 rejected with one byte of the signed data flipped" \
	sm2_verify sm2.ca sm2.90.bad.msg sm2.90.sig
check "SM2 90 certifies the file's issuer public key" cmp -s sm2.90.key sm2.issuer.xy
check "SM2 9F46 (issuer -> ICC, over the first 84 bytes ‖ static data) verifies" \
	sm2_verify sm2.issuer sm2.9f46.msg sm2.9f46.sig
refute "SM2 9F46 rejected without the static data" \
	sm2_verify sm2.issuer sm2.9f46.nostatic.msg sm2.9f46.sig
check "SM2 93 (13 ‖ DAC ‖ static data) verifies under the issuer key" \
	sm2_verify sm2.issuer sm2.93.msg sm2.93.sig
check "SM2 ICC private key d gives the certified ICC public key" \
	bash -c '"$1" pkey -inform DER -in sm2.icc.key.der -pubout -outform DER | tail -c 64 | cmp -s - sm2.9f46.key &&
		cmp -s sm2.9f46.key sm2.icc.xy' _ "$OPENSSL"
check "public A.1 SM2 90 verifies under CA 57 (pboc-vectors.json)" \
	sm2_verify a1.ca a1.90.msg a1.90.sig

check "RSA 90 recovers under test CA F2 (rsa_padding_mode:none)" rsa_recover rsa.ca rsa.90 rsa.90.rec
check "RSA 90 recovers to the file's issuer_cert_recovered" cmp -s rsa.90.rec rsa.90.expected
check "RSA 90 recovered: 6A02…BC, SHA-1 over body ‖ 92 ‖ 9F32 matches" \
	recovered_ok rsa.90.rec 6A02 rsa.92 rsa.9f32
check "RSA 9F46 recovers under the issuer key" rsa_recover rsa.issuer rsa.9f46 rsa.9f46.rec
check "RSA 9F46 recovered: 6A04 ‖ PAN 6228000100001117FFFF…BC, SHA-1 over body ‖ 9F48 ‖ 9F47 ‖ static data" \
	recovered_ok rsa.9f46.rec 6A046228000100001117FFFF rsa.9f48 rsa.9f47 static
refute "RSA 9F46 hash does not match without the static data" \
	recovered_ok rsa.9f46.rec 6A04 rsa.9f48 rsa.9f47
check "RSA 93 recovers under the issuer key" rsa_recover rsa.issuer rsa.93 rsa.93.rec
check "RSA 93 recovered: 6A03 01 DAC1…BC, SHA-1 over body ‖ static data" \
	recovered_ok rsa.93.rec 6A0301DAC1 static
check "openssl rsa -check accepts the RSA ICC key (n, e, d, p, q)" \
	"$OPENSSL" rsa -inform DER -in rsa.icc.key.der -check -noout
check "public A.2 RSA 90 recovers under UnionPay CAPK 80 (capk.json)" rsa_recover a2.ca a2.90 a2.90.rec
check "public A.2 RSA 90 recovered: 6A02 622800FF 1230 000001 01 01 80 01 …BC, equal to the vector" \
	bash -c 'cmp -s a2.90.rec a2.90.expected && [[ $(od -An -v -tx1 a2.90.rec | tr -d " \n" | tr a-f A-F) == 6A02622800FF123000000101018001*BC ]]'

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
