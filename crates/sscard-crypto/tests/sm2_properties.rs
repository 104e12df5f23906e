//! Property tests: arbitrary bytes never panic the SM2 parsers or decryption, and
//! sign → verify, encrypt → decrypt and format conversions round-trip for random
//! keys, messages and IDs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod sm2_support;

use proptest::prelude::*;
use sm2_support::TestRng;
use sscard_crypto::sm2::{
    C1Encoding, Ciphertext, CiphertextFormat, PrivateKey, PublicKey, Signature, Sm2Mode,
};

fn format() -> impl Strategy<Value = CiphertextFormat> {
    prop_oneof![
        Just(CiphertextFormat::DER),
        (any::<bool>(), any::<bool>()).prop_map(|(c1c3c2, prefix)| CiphertextFormat::Concat {
            mode: if c1c3c2 {
                Sm2Mode::C1C3C2
            } else {
                Sm2Mode::C1C2C3
            },
            c1: if prefix {
                C1Encoding::Uncompressed
            } else {
                C1Encoding::Bare
            },
        }),
    ]
}

/// A key from 32 random bytes, when they are a valid scalar (almost always).
fn key() -> impl Strategy<Value = PrivateKey> {
    any::<[u8; 32]>().prop_filter_map("scalar outside [1, n-2]", |d| {
        PrivateKey::from_bytes(&d).ok()
    })
}

fn fixed_key() -> PrivateKey {
    PrivateKey::from_bytes(&[0x5A; 32]).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn signature_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        if let Ok(sig) = Signature::from_der(&bytes) {
            // Strict DER: only the canonical encoding parses.
            let der = sig.to_der();
            prop_assert_eq!(der.as_bytes(), &bytes[..]);
        }
        if let Ok(sig) = Signature::from_slice(&bytes) {
            prop_assert_eq!(&sig.to_bytes()[..], &bytes[..]);
        }
        let _ = PublicKey::from_slice(&bytes);
        let _ = PrivateKey::from_slice(&bytes);
    }

    #[test]
    fn der_shaped_signatures_never_panic(
        r in proptest::collection::vec(any::<u8>(), 0..36),
        s in proptest::collection::vec(any::<u8>(), 0..36),
        tweak in any::<u8>(),
    ) {
        let mut body = vec![0x02, r.len() as u8];
        body.extend(&r);
        body.extend([0x02, s.len() as u8]);
        body.extend(&s);
        let mut der = vec![0x30, body.len() as u8];
        der.extend(body);
        let index = usize::from(tweak) % der.len();
        let _ = Signature::from_der(&der);
        der[index] = tweak;
        let _ = Signature::from_der(&der);
    }

    #[test]
    fn random_signatures_do_not_verify(raw in any::<[u8; 32]>(), raw_s in any::<[u8; 32]>(), msg in any::<Vec<u8>>()) {
        if let Ok(sig) = Signature::from_scalars(&raw, &raw_s) {
            prop_assert!(fixed_key().public_key().verify(b"id", &msg, &sig).is_err());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn ciphertext_parsers_and_decryption_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        format in format(),
        out_len in 0usize..120,
    ) {
        let key = fixed_key();
        let mut out = vec![0u8; out_len];
        prop_assert!(key.decrypt(&bytes, format, &mut out).is_err());
        let _ = Ciphertext::parse(&bytes, format);
    }

    #[test]
    fn ciphertexts_with_a_valid_c1_never_panic(
        tail in proptest::collection::vec(any::<u8>(), 0..80),
        format in format(),
    ) {
        // A real point as C1 gets past the first check, so the rest is exercised.
        let key = fixed_key();
        let c1 = key.public_key().to_uncompressed();
        let input = match format {
            CiphertextFormat::Concat { c1: C1Encoding::Bare, .. } => [&c1[1..], &tail[..]].concat(),
            _ => [&c1[..], &tail[..]].concat(),
        };
        let mut out = [0u8; 80];
        prop_assert!(key.decrypt(&input, format, &mut out).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn sign_verify_round_trip(
        key in key(),
        id in proptest::collection::vec(any::<u8>(), 0..64),
        msg in proptest::collection::vec(any::<u8>(), 0..300),
        other_id in proptest::collection::vec(any::<u8>(), 0..64),
        seed in any::<u64>(),
    ) {
        let public = *key.public_key();
        let sig = key.sign(&id, &msg).unwrap();
        prop_assert!(public.verify(&id, &msg, &sig).is_ok());
        let back = Signature::from_der(sig.to_der().as_bytes()).unwrap();
        prop_assert_eq!(back, sig);
        prop_assert_eq!(Signature::from_bytes(&sig.to_bytes()).unwrap(), sig);
        if other_id != id {
            prop_assert!(public.verify(&other_id, &msg, &sig).is_err());
        }
        let hedged = key.sign_with_rng(&mut TestRng(seed), &id, &msg).unwrap();
        prop_assert!(public.verify(&id, &msg, &hedged).is_ok());
    }

    #[test]
    fn encrypt_decrypt_round_trip(
        key in key(),
        msg in proptest::collection::vec(any::<u8>(), 1..300),
        format in format(),
        other in format(),
        seed in any::<u64>(),
    ) {
        let mut ct = vec![0u8; format.max_ciphertext_len(msg.len()).unwrap()];
        let len = key.public_key().encrypt(&mut TestRng(seed), &msg, format, &mut ct).unwrap();
        ct.truncate(len);
        let mut out = vec![0u8; msg.len()];
        prop_assert_eq!(key.decrypt(&ct, format, &mut out), Ok(msg.len()));
        prop_assert_eq!(&out, &msg);

        // Converted to another format it still decrypts, and converts back exactly.
        let parsed = Ciphertext::parse(&ct, format).unwrap();
        let mut converted = vec![0u8; other.max_ciphertext_len(msg.len()).unwrap()];
        let n = parsed.encode(other, &mut converted).unwrap();
        converted.truncate(n);
        prop_assert_eq!(key.decrypt(&converted, other, &mut out), Ok(msg.len()));
        let mut back = vec![0u8; ct.len()];
        let m = Ciphertext::parse(&converted, other).unwrap().encode(format, &mut back).unwrap();
        prop_assert_eq!(&back[..m], &ct[..]);
    }
}
