#!/usr/bin/python3
"""Read a social security card's basic information through libsscard with ctypes.

    SSCARD_READER="sscard VPCD 00 00" ./read_card.py --lib target/release/libsscard.so
    ./read_card.py --lib ... --hsm target/release/sscard-test-hsm --json

Falls back to the HSM steps when iReadCardBas says the terminal has no PSAM (as HIS
code does); --hsm names the program standing in for the provincial HSM service (it gets
the Step 1 string as its argument and prints the Step 2 key). Strings are GBK unless
SSCARD_ENCODING=utf-8. Exit status 0 on success, 1 on a library error (code printed).
"""
import argparse
import ctypes
import json
import os
import subprocess
import sys

LABELS = [
    "region_code", "ssn", "card_number", "card_id", "name", "atr_historical",
    "spec_version", "issue_date", "expiry_date", "terminal_number", "device_number",
]
# The codes after which applications use the HSM path (spec/sscard.md section 4.5).
HSM_FALLBACK = {-2201, -2202, -2203, -27272, -24}
BUFFER_LEN = 1024  # the customary buffer size of the legacy functions


def load(path):
    # __stdcall on 32-bit Windows (WinDLL), the C convention elsewhere.
    loader = ctypes.WinDLL if os.name == "nt" else ctypes.CDLL
    lib = loader(path)
    for name, args in [
        ("iReadCardBas", [ctypes.c_int, ctypes.c_char_p]),
        ("iReadCardBas_HSM_Step1", [ctypes.c_int, ctypes.c_char_p]),
        ("iReadCardBas_HSM_Step2", [ctypes.c_char_p, ctypes.c_char_p]),
        ("iVerifyPin", [ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p]),
    ]:
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = ctypes.c_long
    return lib


def read_basic(lib, itype, hsm, encoding):
    out = ctypes.create_string_buffer(BUFFER_LEN)
    rc = lib.iReadCardBas(itype, out)
    if rc in HSM_FALLBACK and hsm:
        rc = lib.iReadCardBas_HSM_Step1(itype, out)
        if rc == 0:
            step1 = out.value.decode("ascii")
            answer = subprocess.run([hsm, step1], capture_output=True, text=True, check=True)
            key = answer.stdout.strip().encode("ascii")
            rc = lib.iReadCardBas_HSM_Step2(key, out)
    return rc, out.value.decode(encoding, errors="replace")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lib", default="libsscard.so", help="path of libsscard")
    ap.add_argument("--itype", type=int, default=3, help="1 contact, 2 contactless, 3/4 auto")
    ap.add_argument("--hsm", help="HSM stand-in program for 3.0 cards without a PSAM")
    ap.add_argument("--json", action="store_true", help="print the fields as JSON")
    args = ap.parse_args()
    encoding = "utf-8" if os.environ.get("SSCARD_ENCODING", "gbk").lower() in ("utf-8", "utf8") else "gbk"
    lib = load(args.lib)
    rc, text = read_basic(lib, args.itype, args.hsm, encoding)
    if rc != 0:
        print("iReadCardBas failed: %d: %s" % (rc, text), file=sys.stderr)
        return 1
    fields = dict(zip(LABELS, text.split("|")))
    if args.json:
        print(json.dumps({"raw": text, "fields": fields}, ensure_ascii=False))
    else:
        for label in LABELS:
            print("%s: %s" % (label, fields.get(label, "")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
