//! The PBOC SM2 certificate chain of `test-vectors/pboc-vectors.json` (`sm2_oda_chain`,
//! explained in pboc.md §1.4.3 and Appendix A.1): CA → issuer certificate (two CA
//! signatures), issuer → ICC certificate and signed static application data. Each
//! signature verifies only with `Z_A` of the signer's key and ID `1234567812345678`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod sm2_support;

use sm2_support::{array, bytes, field, vectors};
use sscard_crypto::sm2::{message_digest, PrivateKey, PublicKey, Signature, DEFAULT_DIST_ID};

struct Signed {
    name: &'static str,
    signer: PublicKey,
    data: Vec<u8>,
    signature: Signature,
}

/// Layouts of pboc.md §1.4.3: issuer certificate (tag 90) = 78 signed bytes ‖ r ‖ s,
/// with the issuer key at bytes 14..78; ICC certificate (9F46) = 84 signed bytes ‖ r ‖ s,
/// ICC key at 20..84, signed together with the static data; SSAD (93) = 3 bytes ‖ r ‖ s.
fn chain() -> (Vec<Signed>, PublicKey, Vec<u8>) {
    let all = vectors("pboc-vectors.json");
    let v = &all["sm2_oda_chain"];
    assert_eq!(bytes(field(v, "signer_id")), DEFAULT_DIST_ID);
    let ca = PublicKey::from_slice(&bytes(field(v, "ca_public_key_xy"))).unwrap();
    let issuer_cert = bytes(field(v, "issuer_cert_90"));
    let icc_cert = bytes(field(v, "icc_cert_9F46"));
    let ssad = bytes(field(v, "ssad_93"));
    let static_data = bytes(field(v, "static_data_to_authenticate"));
    assert_eq!(
        (issuer_cert.len(), icc_cert.len(), ssad.len()),
        (142, 148, 67)
    );
    assert_eq!(&issuer_cert[10..14], [0x04, 0x00, 0x11, 0x40]);
    assert_eq!(&icc_cert[16..20], [0x04, 0x00, 0x04, 0x40]);

    let issuer = PublicKey::from_slice(&issuer_cert[14..78]).unwrap();
    let icc = PublicKey::from_slice(&icc_cert[20..84]).unwrap();
    let with_static = |head: &[u8]| [head, &static_data[..]].concat();
    let list = vec![
        Signed {
            name: "issuer certificate (CA signature)",
            signer: ca,
            data: issuer_cert[..78].to_vec(),
            signature: Signature::from_slice(&issuer_cert[78..]).unwrap(),
        },
        Signed {
            name: "issuer certificate (alternative CA signature)",
            signer: ca,
            data: issuer_cert[..78].to_vec(),
            signature: Signature::from_slice(&bytes(field(v, "issuer_cert_alt_signature_rs")))
                .unwrap(),
        },
        Signed {
            name: "ICC certificate",
            signer: issuer,
            data: with_static(&icc_cert[..84]),
            signature: Signature::from_slice(&icc_cert[84..]).unwrap(),
        },
        Signed {
            name: "signed static application data",
            signer: issuer,
            data: with_static(&ssad[..3]),
            signature: Signature::from_slice(&ssad[3..]).unwrap(),
        },
    ];
    (list, icc, bytes(field(v, "icc_private_key_d")))
}

#[test]
fn all_four_signatures_verify_with_the_signer_z_a_and_the_default_id() {
    let (list, _, _) = chain();
    assert_eq!(list.len(), 4);
    for s in &list {
        s.signer
            .verify(DEFAULT_DIST_ID, &s.data, &s.signature)
            .unwrap_or_else(|e| panic!("{}: {e}", s.name));
        // A DER round trip keeps it valid.
        let der = s.signature.to_der();
        let back = Signature::from_der(der.as_bytes()).unwrap();
        s.signer.verify(DEFAULT_DIST_ID, &s.data, &back).unwrap();
    }
}

#[test]
fn they_fail_with_another_id_another_key_or_without_z_a() {
    let (list, icc, _) = chain();
    for s in &list {
        for id in [&b"ALICE123@YAHOO.COM"[..], b"", b"1234567812345679"] {
            assert!(
                s.signer.verify(id, &s.data, &s.signature).is_err(),
                "{} with {id:?}",
                s.name
            );
        }
        // Z_A of a key other than the signer's.
        let wrong_z = icc.z_a(DEFAULT_DIST_ID).unwrap();
        let e = message_digest(&wrong_z, &s.data);
        assert!(
            s.signer.verify_prehash(&e, &s.signature).is_err(),
            "{}",
            s.name
        );
        // Plain SM3(M), no Z_A at all.
        use sm3::Digest;
        let plain: [u8; 32] = sm3::Sm3::digest(&s.data).into();
        assert!(
            s.signer.verify_prehash(&plain, &s.signature).is_err(),
            "{}",
            s.name
        );
        // Another signer key with the right ID.
        assert!(
            icc.verify(DEFAULT_DIST_ID, &s.data, &s.signature).is_err(),
            "{}",
            s.name
        );
        // One flipped data bit.
        let mut data = s.data.clone();
        data[5] ^= 0x01;
        assert!(
            s.signer
                .verify(DEFAULT_DIST_ID, &data, &s.signature)
                .is_err(),
            "{}",
            s.name
        );
    }
}

#[test]
fn icc_private_key_matches_the_certified_icc_key() {
    let (_, icc, d) = chain();
    let key = PrivateKey::from_bytes(&array(&sm2_support::hex(&d))).unwrap();
    assert_eq!(key.public_key(), &icc);
    // The card key signs data the terminal can verify against the certified key.
    let sig = key.sign(DEFAULT_DIST_ID, b"dynamic data").unwrap();
    icc.verify(DEFAULT_DIST_ID, b"dynamic data", &sig).unwrap();
}
