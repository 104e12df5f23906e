#!/usr/bin/env python3
"""Puts the TEST PKI (apdu-specs/pboc/test-pki.json, made by
`cargo run -p sscard-emv --example gen-test-pki`) into the emulated bank card's profile
(apdu-specs/pboc/card.json): the SFI 4 certificate records of both families, the ICC
private keys, and the RSA family's AIP/AFL (SDA, DDA and CDA, one ODA record).

Usage: tools/pboc/personalise-test-pki.py [CARD.json [TEST-PKI.json]]
Rewrites CARD.json in place (pretty JSON). A test (crates/sscard-emu/tests/pboc_pki.rs)
checks that the file matches the test PKI, so run this after regenerating the PKI.
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
card_path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "apdu-specs/pboc/card.json"
pki_path = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "apdu-specs/pboc/test-pki.json"


def length(n):
    if n < 0x80:
        return bytes([n])
    if n < 0x100:
        return bytes([0x81, n])
    return bytes([0x82, n >> 8, n & 0xFF])


def tlv(tag, value):
    t = tag.to_bytes(2 if tag > 0xFF else 1, "big")
    return t + length(len(value)) + value


def record(objects):
    body = b"".join(tlv(t, bytes.fromhex(v)) for t, v in objects if v)
    return tlv(0x70, body).hex().upper()


card = json.loads(card_path.read_text(encoding="utf-8"))
pki = json.loads(pki_path.read_text(encoding="utf-8"))
sm2, rsa = pki["sm2"], pki["rsa"]
source = "apdu-specs/pboc/test-pki.json (TEST PKI, tools/pboc/personalise-test-pki.py)"
sm2_records = [
    record([(0x8F, sm2["capk"]["index"]), (0x90, sm2["issuer_cert_90"])]),
    record([(0x9F46, sm2["icc_cert_9f46"]), (0x93, sm2["ssad_93"])]),
]
rsa_records = [
    record([
        (0x8F, rsa["capk"]["index"]),
        (0x90, rsa["issuer_cert_90"]),
        (0x92, rsa["issuer_remainder_92"]),
        (0x9F32, rsa["issuer_exponent_9f32"]),
    ]),
    record([
        (0x9F46, rsa["icc_cert_9f46"]),
        (0x9F48, rsa["icc_remainder_9f48"]),
        (0x9F47, rsa["icc_exponent_9f47"]),
    ]),
    record([(0x93, rsa["ssad_93"])]),
]
for app in card["applications"]:
    kept = [r for r in app["records"] if r["sfi"] != 4]
    for family, records in (("sm2sm4", sm2_records), ("rsa3des", rsa_records)):
        for i, data in enumerate(records, 1):
            kept.append({"sfi": 4, "record": i, "family": family, "data": data,
                         "source": source, "confidence": "TEST"})
    app["records"] = kept
    app["icc_sm2_private_key"] = sm2["icc_private_key_d"]
    key = rsa["icc_key"]
    app["icc_rsa_private_key"] = {k: key[k] for k in ("n", "e", "d", "p", "q")}
    # RSA family: SDA, DDA, cardholder verification, TRM, issuer authentication, CDA;
    # SFI 3 record 1 feeds ODA, SFI 4 holds 3 certificate records.
    app["gpo"]["rsa3des"]["contact"] = {"aip": "7D00", "afl": "08010100100101001801010120010300"}
    app["gpo"]["rsa3des"]["contactless"] = {"aip": "7D00", "afl": "180101012001030008010100"}
    app["gpo"]["sm2sm4"]["contact"]["aip"] = "7D00"
    app["gpo"]["sm2sm4"]["contactless"]["aip"] = "7D00"

notes = [n for n in card.get("notes", []) if not (
    n["item"].startswith("certificates") or n["item"].startswith("gpo.rsa3des.aip")
    or n["item"] == "icc_sm2_private_key")]
notes.append({"item": "certificates (8F, 90, 92, 9F32, 9F46, 9F47, 9F48, 93), icc_sm2_private_key, icc_rsa_private_key",
              "confidence": "TEST", "source": source})
notes.append({"item": "gpo.*.aip 7D00 (SDA, DDA, cardholder verification, TRM, issuer authentication, CDA)",
              "confidence": "U", "source": "ours, after EMV Book 3 Annex C1"})
card["notes"] = notes
card_path.write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
print(f"personalised {card_path} from {pki_path}")
