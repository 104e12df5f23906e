#!/usr/bin/env bash
# SM3 / SM4 / SM2 speed of sscard-crypto against OpenSSL 3 on this machine, in one run.
#
#   benches/crypto-vs-openssl.sh
#
# Runs the criterion benches of sscard-crypto (benches/sym.rs, benches/sm2.rs) and
# `openssl speed`, then prints each figure and the ratio to OpenSSL. A benchmark: it
# asserts nothing. Targets from issue 3, for reading the output: SM3 >= 1.0,
# SM4-CBC encrypt >= 0.9, SM2 sign >= 3, SM2 verify >= 1.2.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OPENSSL=${OPENSSL:-openssl}
CRIT_ARGS=(--warm-up-time 1 --measurement-time "${SSCARD_BENCH_SECONDS:-3}")

cargo bench -q -p sscard-crypto --bench sym -- "${CRIT_ARGS[@]}" >/dev/null 2>&1
cargo bench -q -p sscard-crypto --bench sm2 -- "${CRIT_ARGS[@]}" >/dev/null 2>&1

# Median time per iteration in ns, from criterion's estimates.
median_ns() {
	/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["median"]["point_estimate"])' \
		"target/criterion/$1/new/estimates.json"
}
# Throughput of an 8 KiB op in MB/s (10^6 bytes per second, as `openssl speed`).
mbps() { /usr/bin/python3 -c "print(8192 / $(median_ns "$1") * 1e3)"; }
per_s() { /usr/bin/python3 -c "print(1e9 / $(median_ns "$1"))"; }
# OpenSSL: the "8192 bytes" column in k (1000 bytes/s) -> MB/s.
ossl_mbps() {
	"$OPENSSL" speed -seconds 1 -bytes 8192 -evp "$1" 2>/dev/null | awk -v alg="$1" 'tolower($1) == tolower(alg) { v = $2 } END { sub("k", "", v); print v / 1000 }'
}
ossl_sm2() { "$OPENSSL" speed -seconds 1 sm2 2>/dev/null | awk '/SM2/ && NF >= 4 { s = $(NF-1); v = $NF } END { print s, v }'; }

row() { /usr/bin/python3 -c "import sys; n,a,b,u=sys.argv[1:]; a=float(a); b=float(b); print(f'{n:<28} {a:>10.1f} {u:<6} openssl {b:>10.1f} {u:<6} ratio {a/b:5.2f}')" "$@"; }

echo "# sscard-crypto vs $("$OPENSSL" version), $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores"
row "SM3 8 KiB" "$(mbps sm3/8KiB)" "$(ossl_mbps sm3)" MB/s
row "SM4-ECB encrypt 8 KiB" "$(mbps sm4/ecb-enc-8KiB)" "$(ossl_mbps sm4-ecb)" MB/s
row "SM4-CBC encrypt 8 KiB" "$(mbps sm4/cbc-enc-8KiB)" "$(ossl_mbps sm4-cbc)" MB/s
read -r ossl_sign ossl_verify < <(ossl_sm2)
row "SM2 sign" "$(per_s sm2/sign)" "$ossl_sign" "/s"
row "SM2 verify" "$(per_s sm2/verify)" "$ossl_verify" "/s"
/usr/bin/python3 -c "import sys; print(f'{\"SM4-CBC-MAC 32 B + key setup\":<28} {float(sys.argv[1]):>10.0f} ns')" "$(median_ns sm4/cbc-mac-32B-with-key-setup)"
/usr/bin/python3 -c "import sys; print(f'{\"3DES retail MAC 32 B\":<28} {float(sys.argv[1]):>10.0f} ns')" "$(median_ns des3/retail-mac-32B)"
