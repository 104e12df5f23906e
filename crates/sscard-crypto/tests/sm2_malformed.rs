//! Malformed SM2 inputs give errors, never panics: signatures with r or s = 0 or ≥ n,
//! bad DER, off-curve or identity C1, truncated or tampered ciphertexts, bad key
//! lengths, overlong IDs, failed key confirmation.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod sm2_support;

use sm2_support::{array, bytes, field, vectors, TestRng};
use sscard_crypto::sm2::{
    params, z_a, C1Encoding, Ciphertext, CiphertextFormat, KeyExchangeInitiator,
    KeyExchangeResponder, PrivateKey, PublicKey, Signature, Sm2Error, Sm2Mode, DEFAULT_DIST_ID,
    MAX_DIST_ID_LEN, MAX_SHARED_KEY_LEN,
};

const FORMATS: [CiphertextFormat; 5] = [
    CiphertextFormat::C1C3C2,
    CiphertextFormat::C1C2C3,
    CiphertextFormat::DER,
    CiphertextFormat::Concat {
        mode: Sm2Mode::C1C3C2,
        c1: C1Encoding::Bare,
    },
    CiphertextFormat::Concat {
        mode: Sm2Mode::C1C2C3,
        c1: C1Encoding::Bare,
    },
];

fn add_small(mut value: [u8; 32], delta: u8) -> [u8; 32] {
    let mut carry = u16::from(delta);
    for byte in value.iter_mut().rev() {
        let sum = u16::from(*byte) + carry;
        *byte = (sum & 0xFF) as u8;
        carry = sum >> 8;
    }
    value
}

fn standard_key() -> PrivateKey {
    let all = vectors("sm-vectors.json");
    PrivateKey::from_bytes(&array(field(&all["sm2_sign"][0], "d"))).unwrap()
}

#[test]
fn signature_scalars_outside_one_to_n_minus_one_are_rejected() {
    let one = add_small([0; 32], 1);
    let n = params::N;
    let mut n_minus_1 = n;
    n_minus_1[31] -= 1;
    let bad = [[0u8; 32], n, add_small(n, 1), [0xFF; 32]];
    for value in bad {
        assert_eq!(
            Signature::from_scalars(&value, &one),
            Err(Sm2Error::MalformedSignature)
        );
        assert_eq!(
            Signature::from_scalars(&one, &value),
            Err(Sm2Error::MalformedSignature)
        );
        let mut raw = [0u8; 64];
        raw[..32].copy_from_slice(&value);
        raw[32..].copy_from_slice(&one);
        assert_eq!(
            Signature::from_bytes(&raw),
            Err(Sm2Error::MalformedSignature)
        );
        // The same values in otherwise valid DER.
        let der = der_of(&value, &one);
        assert_eq!(Signature::from_der(&der), Err(Sm2Error::MalformedSignature));
    }
    assert!(Signature::from_scalars(&one, &n_minus_1).is_ok());
    assert_eq!(
        Signature::from_slice(&[1; 63]),
        Err(Sm2Error::MalformedSignature)
    );
    assert_eq!(
        Signature::from_slice(&[1; 65]),
        Err(Sm2Error::MalformedSignature)
    );
}

/// DER for two unsigned values, built by hand (independent of the crate's writer).
fn der_of(r: &[u8; 32], s: &[u8; 32]) -> Vec<u8> {
    let int = |v: &[u8; 32]| {
        let start = v.iter().position(|&b| b != 0).unwrap_or(31);
        let mut digits = v[start..].to_vec();
        if digits[0] & 0x80 != 0 {
            digits.insert(0, 0);
        }
        let mut out = vec![0x02, digits.len() as u8];
        out.extend(digits);
        out
    };
    let mut body = int(r);
    body.extend(int(s));
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

#[test]
fn bad_der_signatures_are_rejected() {
    let key = standard_key();
    let sig = key.sign(DEFAULT_DIST_ID, b"m").unwrap();
    let good = sig.to_der().as_bytes().to_vec();
    assert_eq!(good, der_of(sig.r(), sig.s()));
    assert_eq!(Signature::from_der(&good), Ok(sig));

    let mut cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x30],
        vec![0x30, 0x00],
        good[..good.len() - 1].to_vec(),
        [&good[..], &[0x00]].concat(),
    ];
    // Wrong outer tag, SET instead of SEQUENCE.
    let mut set = good.clone();
    set[0] = 0x31;
    cases.push(set);
    // Indefinite length.
    let mut indefinite = good.clone();
    indefinite[1] = 0x80;
    indefinite.extend([0, 0]);
    cases.push(indefinite);
    // Long-form length for a short content.
    cases.push([&[0x30, 0x81, good[1]][..], &good[2..]].concat());
    // A third INTEGER inside.
    let mut extra = good[2..].to_vec();
    extra.extend([0x02, 0x01, 0x01]);
    cases.push([&[0x30, extra.len() as u8][..], &extra[..]].concat());
    // Only r.
    let r_only = &good[2..2 + 2 + usize::from(good[3])];
    cases.push([&[0x30, r_only.len() as u8][..], r_only].concat());
    // Non-minimal INTEGER (extra leading zero) and negative INTEGER.
    let small = add_small([0; 32], 5);
    let mut non_minimal = vec![0x02, 0x02, 0x00, 0x05];
    non_minimal.extend(&der_of(&small, &small)[2..5]);
    cases.push([&[0x30, non_minimal.len() as u8][..], &non_minimal[..]].concat());
    let mut negative = vec![0x02, 0x01, 0x85];
    negative.extend(&der_of(&small, &small)[2..5]);
    cases.push([&[0x30, negative.len() as u8][..], &negative[..]].concat());
    // 33 significant bytes.
    let mut big = vec![0x02, 0x21, 0x01];
    big.extend([0u8; 32]);
    big.extend(&der_of(&small, &small)[2..5]);
    cases.push([&[0x30, big.len() as u8][..], &big[..]].concat());
    // Raw r ‖ s is not DER.
    cases.push(sig.to_bytes().to_vec());

    for case in &cases {
        assert_eq!(
            Signature::from_der(case),
            Err(Sm2Error::MalformedSignature),
            "{case:02X?}"
        );
    }
    // Every truncation of a valid encoding.
    for len in 0..good.len() {
        assert!(Signature::from_der(&good[..len]).is_err());
    }
    let mut small_buf = [0u8; 10];
    assert_eq!(
        sig.encode_der(&mut small_buf),
        Err(Sm2Error::BufferTooSmall {
            needed: sig.der_len()
        })
    );
}

#[test]
fn wrong_signatures_fail_verification() {
    let key = standard_key();
    let public = key.public_key();
    let sig = key.sign(DEFAULT_DIST_ID, b"m").unwrap();
    let mut s_plus = Signature::from_scalars(sig.r(), &add_small(*sig.s(), 1)).unwrap();
    assert_eq!(
        public.verify(DEFAULT_DIST_ID, b"m", &s_plus),
        Err(Sm2Error::BadSignature)
    );
    s_plus = Signature::from_scalars(&add_small(*sig.r(), 1), sig.s()).unwrap();
    assert_eq!(
        public.verify(DEFAULT_DIST_ID, b"m", &s_plus),
        Err(Sm2Error::BadSignature)
    );
    // r + s = n makes t = 0 (GB/T 32918.2 B5).
    let r = add_small([0; 32], 1);
    let mut s = params::N;
    s[31] -= 1;
    let t_zero = Signature::from_scalars(&r, &s).unwrap();
    assert_eq!(
        public.verify(DEFAULT_DIST_ID, b"m", &t_zero),
        Err(Sm2Error::BadSignature)
    );
}

#[test]
fn distinguishing_ids_longer_than_8191_bytes_are_rejected() {
    let key = standard_key();
    let long = vec![b'x'; MAX_DIST_ID_LEN + 1];
    let max = vec![b'x'; MAX_DIST_ID_LEN];
    let err = Sm2Error::DistIdTooLong {
        len: MAX_DIST_ID_LEN + 1,
    };
    assert_eq!(z_a(&long, key.public_key()), Err(err));
    assert_eq!(key.sign(&long, b"m"), Err(err));
    let sig = key.sign(&max, b"m").unwrap();
    key.public_key().verify(&max, b"m", &sig).unwrap();
    assert_eq!(key.public_key().verify(&long, b"m", &sig), Err(err));
    assert!(key.signer(&long).is_err());
    assert!(key.public_key().verifier(&long).is_err());
    assert!(err.to_string().contains("8192"));
}

#[test]
fn bad_public_keys_are_rejected() {
    let key = standard_key();
    let mut xy = key.public_key().to_xy();
    assert!(PublicKey::from_xy(&xy).is_ok());
    xy[40] ^= 0x10;
    assert_eq!(PublicKey::from_xy(&xy), Err(Sm2Error::InvalidPublicKey));
    // Coordinates >= p.
    assert!(PublicKey::from_xy(&[0xFF; 64]).is_err());
    // (0, 0) is the common encoding of the point at infinity.
    assert!(PublicKey::from_xy(&[0; 64]).is_err());
    assert!(PublicKey::from_slice(&[0x00]).is_err());
    assert!(PublicKey::from_slice(&[]).is_err());
    let mut compressed = [0u8; 33];
    compressed[0] = 0x02;
    compressed[1..].copy_from_slice(&key.public_key().x());
    assert!(PublicKey::from_slice(&compressed).is_err());
    assert!(PrivateKey::from_slice(&[1; 31]).is_err());
}

/// A valid ciphertext of `msg` in `format`.
fn ciphertext(key: &PrivateKey, msg: &[u8], format: CiphertextFormat) -> Vec<u8> {
    let mut out = vec![0u8; format.max_ciphertext_len(msg.len()).unwrap()];
    let len = key
        .public_key()
        .encrypt(&mut TestRng(3), msg, format, &mut out)
        .unwrap();
    out.truncate(len);
    out
}

#[test]
fn truncated_and_extended_ciphertexts_fail_opaquely() {
    let key = standard_key();
    let mut out = [0u8; 64];
    for format in FORMATS {
        let ct = ciphertext(&key, b"attack at dawn", format);
        assert_eq!(key.decrypt(&ct, format, &mut out), Ok(14));
        for len in 0..ct.len() {
            let result = key.decrypt(&ct[..len], format, &mut out);
            assert_eq!(
                result,
                Err(Sm2Error::Decryption),
                "{format:?} truncated to {len}"
            );
        }
        let longer = [&ct[..], &[0u8]].concat();
        assert_eq!(
            key.decrypt(&longer, format, &mut out),
            Err(Sm2Error::Decryption)
        );
        assert_eq!(
            key.decrypt(&[], format, &mut out),
            Err(Sm2Error::Decryption)
        );
    }
    // C1 ‖ C3 with no C2 at all (97 bytes), the standard's "too short" case.
    let ct = ciphertext(&key, b"x", CiphertextFormat::C1C3C2);
    assert_eq!(ct.len(), 98);
    assert_eq!(
        key.decrypt(&ct[..97], CiphertextFormat::C1C3C2, &mut out),
        Err(Sm2Error::Decryption)
    );
    assert_eq!(
        Ciphertext::parse(&ct[..97], CiphertextFormat::C1C3C2),
        Err(Sm2Error::MalformedCiphertext)
    );
}

#[test]
fn tampered_ciphertexts_fail_opaquely_and_wipe_the_output() {
    let key = standard_key();
    for format in FORMATS {
        let ct = ciphertext(&key, b"attack at dawn", format);
        for index in 0..ct.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = ct.clone();
                bad[index] ^= bit;
                let mut out = [0xAAu8; 64];
                let result = key.decrypt(&bad, format, &mut out);
                assert_eq!(
                    result,
                    Err(Sm2Error::Decryption),
                    "{format:?} byte {index} bit {bit:02X}"
                );
                assert!(out[..14].iter().all(|&b| b == 0) || out[..14] == [0xAA; 14]);
            }
        }
    }
}

#[test]
fn off_curve_and_identity_c1_are_rejected() {
    let key = standard_key();
    let all = vectors("sm-vectors.json");
    let v = &all["sm2_encrypt"][0];
    let good = bytes(field(v, "C1C3C2"));
    let mut out = [0u8; 32];
    let mut off_curve = good.clone();
    off_curve[64] ^= 0x01; // last byte of y1
    let mut identity = good.clone();
    identity[1..65].fill(0);
    let mut zero_tag = good.clone();
    zero_tag[0] = 0x00;
    let mut compressed_tag = good.clone();
    compressed_tag[0] = 0x02;
    let mut x_above_p = good.clone();
    x_above_p[1..33].fill(0xFF);
    for bad in [off_curve, identity, zero_tag, compressed_tag, x_above_p] {
        assert_eq!(
            key.decrypt(&bad, CiphertextFormat::C1C3C2, &mut out),
            Err(Sm2Error::Decryption)
        );
        assert_eq!(
            Ciphertext::parse(&bad, CiphertextFormat::C1C3C2),
            Err(Sm2Error::MalformedCiphertext)
        );
    }
    // The same in DER: y1 altered (x1 and y1 stay minimal INTEGERs).
    let der = bytes(field(v, "gmt0009_der"));
    let mut bad_der = der.clone();
    bad_der[2 + 34 + 3 + 31] ^= 0x01;
    assert_eq!(
        key.decrypt(&bad_der, CiphertextFormat::DER, &mut out),
        Err(Sm2Error::Decryption)
    );
    assert_eq!(key.decrypt(&der, CiphertextFormat::DER, &mut out), Ok(19));
}

#[test]
fn bad_der_ciphertexts_are_rejected() {
    let key = standard_key();
    let all = vectors("sm-vectors.json");
    let der = bytes(field(&all["sm2_encrypt"][0], "gmt0009_der"));
    let mut out = [0u8; 32];
    let mut cases = vec![[&der[..], &[0]].concat()];
    // x1 with a non-minimal leading zero.
    let x1 = &der[4..36];
    let rest = &der[36..];
    let mut body = vec![0x02, 0x21, 0x00];
    body.extend(x1);
    body.extend(rest);
    cases.push([&[0x30, body.len() as u8][..], &body[..]].concat());
    // C3 of 31 bytes.
    let mut short_c3 = der.clone();
    let c3_at = der.len() - 2 - 19 - 32 - 2;
    assert_eq!(&der[c3_at..c3_at + 2], [0x04, 0x20]);
    short_c3[c3_at + 1] = 0x1F;
    cases.push(short_c3);
    // Empty C2.
    let no_c2 = [
        &[0x30, (der.len() - 2 - 21 + 2) as u8][..],
        &der[2..der.len() - 21],
        &[0x04, 0x00],
    ]
    .concat();
    cases.push(no_c2);
    // Octet strings swapped in type.
    let mut wrong_tag = der.clone();
    wrong_tag[c3_at] = 0x03;
    cases.push(wrong_tag);
    for case in &cases {
        assert_eq!(
            key.decrypt(case, CiphertextFormat::DER, &mut out),
            Err(Sm2Error::Decryption),
            "{case:02X?}"
        );
        assert!(Ciphertext::parse(case, CiphertextFormat::DER).is_err());
    }
}

#[test]
fn buffers_and_plaintext_lengths() {
    let key = standard_key();
    let mut rng = TestRng(4);
    let mut tiny = [0u8; 10];
    for format in FORMATS {
        let needed = format.max_ciphertext_len(5).unwrap();
        assert_eq!(
            key.public_key()
                .encrypt(&mut rng, b"hello", format, &mut tiny),
            Err(Sm2Error::BufferTooSmall { needed })
        );
        let mut big = [0u8; 200];
        assert_eq!(
            key.public_key().encrypt(&mut rng, b"", format, &mut big),
            Err(Sm2Error::EmptyPlaintext)
        );
        let ct = ciphertext(&key, b"hello", format);
        let mut four = [0u8; 4];
        assert_eq!(
            key.decrypt(&ct, format, &mut four),
            Err(Sm2Error::BufferTooSmall { needed: 5 })
        );
    }
    assert_eq!(
        CiphertextFormat::C1C3C2.max_ciphertext_len(usize::MAX),
        None
    );
    assert_eq!(
        CiphertextFormat::DER.max_ciphertext_len(usize::MAX - 40),
        None
    );
}

#[test]
fn key_exchange_misuse() {
    let mut rng = TestRng(5);
    let a = PrivateKey::generate(&mut rng).unwrap();
    let b = PrivateKey::generate(&mut rng).unwrap();
    let start =
        |rng: &mut TestRng| KeyExchangeInitiator::new(rng, &a, b"A", b.public_key(), b"B").unwrap();
    for len in [0, MAX_SHARED_KEY_LEN + 1] {
        let init = start(&mut rng);
        let mut key = vec![0u8; len];
        let r = KeyExchangeResponder::respond(
            &mut rng,
            &b,
            b"B",
            a.public_key(),
            b"A",
            init.ephemeral_public_key(),
            &mut key,
        );
        assert_eq!(r.err(), Some(Sm2Error::InvalidKeyLength));
        let fake_r_b = *b.public_key();
        assert_eq!(
            init.finish(&fake_r_b, None, &mut key),
            Err(Sm2Error::InvalidKeyLength)
        );
    }

    // A wrong S_B fails the initiator and wipes its key.
    let init = start(&mut rng);
    let mut k_b = [0u8; 16];
    let (reply, pending) = KeyExchangeResponder::respond(
        &mut rng,
        &b,
        b"B",
        a.public_key(),
        b"A",
        init.ephemeral_public_key(),
        &mut k_b,
    )
    .unwrap();
    let mut bad_s_b = reply.confirmation;
    bad_s_b[31] ^= 1;
    let mut k_a = [0xAAu8; 16];
    assert_eq!(
        init.finish(&reply.ephemeral_public_key, Some(&bad_s_b), &mut k_a),
        Err(Sm2Error::KeyConfirmation)
    );
    assert_eq!(k_a, [0; 16]);
    // Dropping the responder before confirmation wipes its key.
    drop(pending);
    assert_eq!(k_b, [0; 16]);

    // Mismatched IDs: keys differ and confirmation fails both ways.
    let init = start(&mut rng);
    let mut k_b = [0u8; 16];
    let (reply, pending) = KeyExchangeResponder::respond(
        &mut rng,
        &b,
        b"B",
        a.public_key(),
        b"not A",
        init.ephemeral_public_key(),
        &mut k_b,
    )
    .unwrap();
    let mut k_a = [0u8; 16];
    assert_eq!(
        init.finish(
            &reply.ephemeral_public_key,
            Some(&reply.confirmation),
            &mut k_a
        ),
        Err(Sm2Error::KeyConfirmation)
    );
    assert_eq!(pending.confirm(&[0; 32]), Err(Sm2Error::KeyConfirmation));
    assert_eq!(k_b, [0; 16]);
}

#[test]
fn errors_display_without_secrets() {
    for error in [
        Sm2Error::InvalidPrivateKey,
        Sm2Error::Decryption,
        Sm2Error::BufferTooSmall { needed: 9 },
        Sm2Error::InvalidKeyLength,
    ] {
        assert!(!error.to_string().is_empty());
        let _: &dyn core::error::Error = &error;
    }
}
