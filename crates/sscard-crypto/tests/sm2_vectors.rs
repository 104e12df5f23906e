//! Every recommended-curve SM2 vector of `test-vectors/sm-vectors.json`: Z_A, e, r, s
//! and DER for both IDs; decryption of the three formats (and encryption, byte for
//! byte, with the fixed nonce under `test-fixed-nonce`); key exchange K, S_B, S_A in
//! both roles. Test-curve vectors are skipped: the crate implements `sm2p256v1` only.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod sm2_support;

use sm2_support::{array, bytes, field, hex, vectors, TestRng};
use sscard_crypto::sm2::{
    message_digest, params, C1Encoding, Ciphertext, CiphertextFormat, KeyExchangeInitiator,
    KeyExchangeResponder, PrivateKey, PublicKey, Signature, Sm2Mode, DEFAULT_DIST_ID,
};

const RECOMMENDED_P: &str = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF";

/// The recommended-curve entries of a vector list; asserts that the rest are exactly the
/// test-curve entries, so nothing is skipped silently.
fn recommended(list: &serde_json::Value) -> Vec<&serde_json::Value> {
    let all = list.as_array().unwrap();
    let (ours, others): (Vec<_>, Vec<_>) = all.iter().partition(|v| {
        v.get("curve_p").and_then(|p| p.as_str()).map_or_else(
            || field(v, "case").starts_with("recommended"),
            |p| p == RECOMMENDED_P,
        )
    });
    for other in &others {
        assert!(field(other, "case").contains("TEST curve"), "{other}");
    }
    assert!(!ours.is_empty());
    ours
}

fn xy(x: &str, y: &str) -> PublicKey {
    let mut point = bytes(x);
    point.extend(bytes(y));
    PublicKey::from_slice(&point).unwrap()
}

#[test]
fn curve_parameters_match_the_vectors() {
    let curve = &vectors("sm-vectors.json")["curves"]["sm2p256v1"];
    assert_eq!(hex(&params::A), field(curve, "a"));
    assert_eq!(hex(&params::B), field(curve, "b"));
    assert_eq!(hex(&params::GX), field(curve, "gx"));
    assert_eq!(hex(&params::GY), field(curve, "gy"));
    assert_eq!(hex(&params::N), field(curve, "n"));
    let mut one = [0u8; 32];
    one[31] = 1;
    let g = PrivateKey::from_bytes(&one).unwrap();
    assert_eq!(g.public_key().x(), params::GX);
    assert_eq!(g.public_key().y(), params::GY);
}

#[test]
fn signature_vectors() {
    let all = vectors("sm-vectors.json");
    let cases = recommended(&all["sm2_sign"]);
    assert_eq!(cases.len(), 2, "default ID and the derived ALICE vector");
    for v in cases {
        let id = field(v, "id_ascii").as_bytes();
        let msg = field(v, "msg_ascii").as_bytes();
        let key = PrivateKey::from_bytes(&array(field(v, "d"))).unwrap();
        let public = xy(field(v, "Px"), field(v, "Py"));
        assert_eq!(key.public_key(), &public);
        assert_eq!(
            u16::try_from(id.len() * 8).unwrap(),
            u16::from_be_bytes(array(field(v, "entl_hex")))
        );

        let z_a = public.z_a(id).unwrap();
        assert_eq!(hex(&z_a), field(v, "ZA"));
        let e = message_digest(&z_a, msg);
        assert_eq!(hex(&e), field(v, "e"));

        let sig = Signature::from_scalars(&array(field(v, "r")), &array(field(v, "s"))).unwrap();
        public.verify(id, msg, &sig).unwrap();
        public.verify_prehash(&e, &sig).unwrap();
        public.verifier(id).unwrap().verify(msg, &sig).unwrap();
        let other_id: &[u8] = if id == DEFAULT_DIST_ID {
            b"ALICE123@YAHOO.COM"
        } else {
            DEFAULT_DIST_ID
        };
        assert!(public.verify(other_id, msg, &sig).is_err());
        assert!(public.verify(id, b"message digesT", &sig).is_err());

        let der = sig.to_der();
        if let Some(expected) = v.get("der_signature") {
            assert_eq!(hex(der.as_bytes()), expected.as_str().unwrap());
        }
        assert_eq!(Signature::from_der(der.as_bytes()).unwrap(), sig);
        assert_eq!(der.as_bytes().len(), sig.der_len());

        // Production signing is deterministic and verifies, but is not the example's k.
        let ours = key.sign(id, msg).unwrap();
        assert_eq!(ours, key.sign(id, msg).unwrap());
        assert_ne!(ours, sig);
        public.verify(id, msg, &ours).unwrap();

        #[cfg(feature = "test-fixed-nonce")]
        {
            use sscard_crypto::sm2::test_only::sign_with_fixed_nonce;
            let fixed = sign_with_fixed_nonce(&key, id, msg, &array(field(v, "k"))).unwrap();
            assert_eq!(fixed, sig, "{}", field(v, "case"));
            if let Some(expected) = v.get("der_signature") {
                assert_eq!(hex(fixed.to_der().as_bytes()), expected.as_str().unwrap());
            }
        }
    }
}

/// The formats of the encryption vector: (format, expected ciphertext hex).
fn encryption_formats(v: &serde_json::Value) -> Vec<(CiphertextFormat, String)> {
    let bare = |s: &str| s.strip_prefix("04").unwrap().to_owned();
    vec![
        (CiphertextFormat::C1C3C2, field(v, "C1C3C2").to_owned()),
        (CiphertextFormat::C1C2C3, field(v, "C1C2C3").to_owned()),
        (CiphertextFormat::DER, field(v, "gmt0009_der").to_owned()),
        (
            CiphertextFormat::Concat {
                mode: Sm2Mode::C1C3C2,
                c1: C1Encoding::Bare,
            },
            bare(field(v, "C1C3C2")),
        ),
        (
            CiphertextFormat::Concat {
                mode: Sm2Mode::C1C2C3,
                c1: C1Encoding::Bare,
            },
            bare(field(v, "C1C2C3")),
        ),
    ]
}

#[test]
fn encryption_vectors_decrypt_in_every_format() {
    let all = vectors("sm-vectors.json");
    let cases = recommended(&all["sm2_encrypt"]);
    assert_eq!(cases.len(), 1);
    let v = cases[0];
    let msg = field(v, "msg_ascii").as_bytes();
    let key = PrivateKey::from_bytes(&array(field(v, "dB"))).unwrap();
    assert_eq!(key.public_key(), &xy(field(v, "PBx"), field(v, "PBy")));
    assert_eq!(
        field(v, "C1C3C2"),
        format!("{}{}{}", field(v, "C1"), field(v, "C3"), field(v, "C2"))
    );
    assert_eq!(
        field(v, "C1C2C3"),
        format!("{}{}{}", field(v, "C1"), field(v, "C2"), field(v, "C3"))
    );

    let formats = encryption_formats(v);
    for (format, expected) in &formats {
        let ct = bytes(expected);
        let mut out = [0u8; 64];
        let len = key.decrypt(&ct, *format, &mut out).unwrap();
        assert_eq!(&out[..len], msg, "{format:?}");

        // The parts and every conversion between the formats.
        let parsed = Ciphertext::parse(&ct, *format).unwrap();
        assert_eq!(hex(&parsed.c1().to_uncompressed()), field(v, "C1"));
        assert_eq!(hex(parsed.c2()), field(v, "C2"));
        assert_eq!(hex(parsed.c3()), field(v, "C3"));
        for (to, to_expected) in &formats {
            let mut buf = [0u8; 200];
            let n = parsed.encode(*to, &mut buf).unwrap();
            assert_eq!(n, parsed.encoded_len(*to).unwrap());
            assert_eq!(&hex(&buf[..n]), to_expected, "{format:?} -> {to:?}");
        }
        // A format it is not in does not decrypt.
        let wrong = if *format == CiphertextFormat::C1C3C2 {
            CiphertextFormat::C1C2C3
        } else {
            CiphertextFormat::C1C3C2
        };
        assert!(key.decrypt(&ct, wrong, &mut out).is_err());
    }
}

#[cfg(feature = "test-fixed-nonce")]
#[test]
fn encryption_vectors_reproduce_byte_for_byte_with_the_fixed_nonce() {
    use sscard_crypto::sm2::test_only::encrypt_with_fixed_nonce;
    let all = vectors("sm-vectors.json");
    let v = recommended(&all["sm2_encrypt"])[0];
    let msg = field(v, "msg_ascii").as_bytes();
    let public = xy(field(v, "PBx"), field(v, "PBy"));
    let k = array(field(v, "k"));
    for (format, expected) in encryption_formats(v) {
        let mut out = [0u8; 200];
        let len = encrypt_with_fixed_nonce(&public, msg, format, &k, &mut out).unwrap();
        assert_eq!(hex(&out[..len]), expected, "{format:?}");
    }
}

#[test]
fn random_encryption_round_trips_to_the_vector_key() {
    let all = vectors("sm-vectors.json");
    let v = recommended(&all["sm2_encrypt"])[0];
    let key = PrivateKey::from_bytes(&array(field(v, "dB"))).unwrap();
    let mut rng = TestRng(1);
    for (format, _) in encryption_formats(v) {
        let mut ct = [0u8; 200];
        let len = key
            .public_key()
            .encrypt(&mut rng, b"encryption standard", format, &mut ct)
            .unwrap();
        assert!(len <= format.max_ciphertext_len(19).unwrap());
        let mut out = [0u8; 19];
        key.decrypt(&ct[..len], format, &mut out).unwrap();
        assert_eq!(&out, b"encryption standard");
    }
}

struct Exchange {
    d_a: PrivateKey,
    d_b: PrivateKey,
    id_a: Vec<u8>,
    id_b: Vec<u8>,
}

fn exchange_case() -> (serde_json::Value, Exchange) {
    let all = vectors("sm-vectors.json");
    let cases = recommended(&all["sm2_key_exchange"]);
    assert_eq!(cases.len(), 1);
    let v = cases[0].clone();
    assert_eq!(v["klen_bits"], 128);
    let d_a = PrivateKey::from_bytes(&array(field(&v, "dA"))).unwrap();
    let d_b = PrivateKey::from_bytes(&array(field(&v, "dB"))).unwrap();
    assert_eq!(hex(&d_a.public_key().to_xy()), field(&v, "PA"));
    assert_eq!(hex(&d_b.public_key().to_xy()), field(&v, "PB"));
    let id_a = field(&v, "IDA").as_bytes().to_vec();
    let id_b = field(&v, "IDB").as_bytes().to_vec();
    assert_eq!(hex(&d_a.public_key().z_a(&id_a).unwrap()), field(&v, "ZA"));
    assert_eq!(hex(&d_b.public_key().z_a(&id_b).unwrap()), field(&v, "ZB"));
    (
        v,
        Exchange {
            d_a,
            d_b,
            id_a,
            id_b,
        },
    )
}

#[cfg(feature = "test-fixed-nonce")]
#[test]
fn key_exchange_vector_both_roles() {
    use sscard_crypto::sm2::test_only::{
        key_exchange_initiator_with_fixed_ephemeral, key_exchange_respond_with_fixed_ephemeral,
    };
    let (v, x) = exchange_case();
    // A: r_A -> R_A.
    let initiator = key_exchange_initiator_with_fixed_ephemeral(
        &array(field(&v, "rA")),
        &x.d_a,
        &x.id_a,
        x.d_b.public_key(),
        &x.id_b,
    )
    .unwrap();
    assert_eq!(
        hex(&initiator.ephemeral_public_key().to_xy()),
        field(&v, "RA")
    );
    // B: R_A -> R_B, K_B, S_B.
    let r_a = PublicKey::from_slice(&bytes(field(&v, "RA"))).unwrap();
    let mut k_b = [0u8; 16];
    let (reply, pending) = key_exchange_respond_with_fixed_ephemeral(
        &array(field(&v, "rB")),
        &x.d_b,
        &x.id_b,
        x.d_a.public_key(),
        &x.id_a,
        &r_a,
        &mut k_b,
    )
    .unwrap();
    assert_eq!(hex(&reply.ephemeral_public_key.to_xy()), field(&v, "RB"));
    assert_eq!(hex(&reply.confirmation), field(&v, "SB_equals_S1"));
    // A: R_B, S_B -> K_A, S_A.
    let mut k_a = [0u8; 16];
    let s_a = initiator
        .finish(
            &reply.ephemeral_public_key,
            Some(&reply.confirmation),
            &mut k_a,
        )
        .unwrap();
    assert_eq!(hex(&k_a), field(&v, "K"));
    assert_eq!(hex(&s_a), field(&v, "SA_equals_S2"));
    // B: S_A -> K_B released.
    assert_eq!(hex(pending.confirm(&s_a).unwrap()), field(&v, "K"));

    // Without confirmation, and with a longer klen: both sides still agree.
    let initiator = key_exchange_initiator_with_fixed_ephemeral(
        &array(field(&v, "rA")),
        &x.d_a,
        &x.id_a,
        x.d_b.public_key(),
        &x.id_b,
    )
    .unwrap();
    let mut long_b = [0u8; 100];
    let (reply, pending) = key_exchange_respond_with_fixed_ephemeral(
        &array(field(&v, "rB")),
        &x.d_b,
        &x.id_b,
        x.d_a.public_key(),
        &x.id_a,
        &r_a,
        &mut long_b,
    )
    .unwrap();
    let mut long_a = [0u8; 100];
    initiator
        .finish(&reply.ephemeral_public_key, None, &mut long_a)
        .unwrap();
    assert_eq!(pending.into_unconfirmed_key(), &long_a);
    assert_eq!(
        hex(&long_a[..16]),
        field(&v, "K"),
        "the KDF is a prefix-stable stream"
    );
}

#[test]
fn key_exchange_with_random_ephemerals_agrees_for_the_vector_keys() {
    let (_, x) = exchange_case();
    let mut rng = TestRng(2);
    let initiator =
        KeyExchangeInitiator::new(&mut rng, &x.d_a, &x.id_a, x.d_b.public_key(), &x.id_b).unwrap();
    let mut k_b = [0u8; 16];
    let (reply, pending) = KeyExchangeResponder::respond(
        &mut rng,
        &x.d_b,
        &x.id_b,
        x.d_a.public_key(),
        &x.id_a,
        initiator.ephemeral_public_key(),
        &mut k_b,
    )
    .unwrap();
    let mut k_a = [0u8; 16];
    let s_a = initiator
        .finish(
            &reply.ephemeral_public_key,
            Some(&reply.confirmation),
            &mut k_a,
        )
        .unwrap();
    assert_eq!(pending.confirm(&s_a).unwrap(), &k_a);
}
