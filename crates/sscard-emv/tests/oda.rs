//! Offline data authentication against the public PBOC vectors
//! (`test-vectors/pboc-vectors.json`: A.1 SM2 chain, A.2 RSA chain, A.3 UnionPay CAPKs)
//! and the checked-in TEST PKI (`apdu-specs/pboc/test-pki.json`): every chain verifies,
//! every tampered variant fails with its own error, sign → verify round trips, and
//! arbitrary bytes never panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use proptest::prelude::*;
use serde_json::Value;
use sscard_apdu::hex;
use sscard_crypto::sm2::{PrivateKey, PublicKey};
use sscard_emv::capk::{Capk, CapkKey, CapkStore, RID_UNIONPAY};
use sscard_emv::oda::rsa::{self as orsa, RsaPublicKey};
use sscard_emv::oda::sm2::{self as osm2, Sm2Profile};
use sscard_emv::oda::testpki::{generate, TestPki, TestPkiParams};
use sscard_emv::oda::{
    cda_icc_dynamic_data, cda_transaction_hash, recover_icc_key, recover_issuer_key, verify_cda,
    verify_dda, verify_sda, CardObjects, Date, HashAlg, IccPublicKey, IssuerPublicKey, OdaError,
};

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../test-vectors/pboc-vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn test_pki_text() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../apdu-specs/pboc/test-pki.json"
    );
    std::fs::read_to_string(path).unwrap()
}

fn h(v: &Value) -> Vec<u8> {
    hex::to_vec(v.as_str().unwrap()).unwrap()
}

fn hs(s: &str) -> Vec<u8> {
    hex::to_vec(s).unwrap()
}

fn date(yymmdd: [u8; 3]) -> Date {
    Date::from_9a(yymmdd).unwrap()
}

fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v[at] ^= 0x01;
    v
}

/// The A.1 chain: (CAPK, PAN, issuer cert, ICC cert, SSAD, static data, ICC d).
struct A1 {
    capk: Capk,
    pan: Vec<u8>,
    issuer_cert: Vec<u8>,
    icc_cert: Vec<u8>,
    ssad: Vec<u8>,
    static_data: Vec<u8>,
    icc_d: Vec<u8>,
    alt_sig: Vec<u8>,
}

fn a1() -> A1 {
    let v = vectors();
    let c = &v["sm2_oda_chain"];
    let xy: [u8; 64] = h(&c["ca_public_key_xy"]).try_into().unwrap();
    let static_data = h(&c["static_data_to_authenticate"]);
    A1 {
        capk: Capk::sm2(RID_UNIONPAY, 0x57, xy),
        pan: static_data[2..10].to_vec(),
        issuer_cert: h(&c["issuer_cert_90"]),
        icc_cert: h(&c["icc_cert_9F46"]),
        ssad: h(&c["ssad_93"]),
        static_data,
        icc_d: h(&c["icc_private_key_d"]),
        alt_sig: h(&c["issuer_cert_alt_signature_rs"]),
    }
}

/// Before the A.1 certificates' expiry (December 2020).
const A1_DATE: [u8; 3] = [0x20, 0x06, 0x01];

impl A1 {
    fn objects(&self) -> CardObjects<'_> {
        CardObjects {
            pan: Some(&self.pan),
            ca_index: Some(0x57),
            issuer_cert: Some(&self.issuer_cert),
            icc_cert: Some(&self.icc_cert),
            ssad: Some(&self.ssad),
            ..CardObjects::default()
        }
    }
}

#[test]
fn a1_sm2_chain_verifies_end_to_end() {
    let a = a1();
    let sda = verify_sda(&a.capk, &a.static_data, &a.objects(), date(A1_DATE)).unwrap();
    assert_eq!(sda.dac, [0xDA, 0xC1]);
    let icc = recover_icc_key(&a.capk, &a.static_data, &a.objects(), date(A1_DATE)).unwrap();
    let d = PrivateKey::from_slice(&a.icc_d).unwrap();
    assert_eq!(icc, IccPublicKey::Sm2(*d.public_key()));

    // The same objects found in TLV records, as a kernel collects them.
    let mut records = vec![0x8F, 0x01, 0x57, 0x90, 0x81, 0x8E];
    records.extend_from_slice(&a.issuer_cert);
    records.extend_from_slice(&[0x9F, 0x46, 0x81, 0x94]);
    records.extend_from_slice(&a.icc_cert);
    records.extend_from_slice(&[0x93, 0x43]);
    records.extend_from_slice(&a.ssad);
    records.extend_from_slice(&a.static_data);
    let objects = CardObjects::from_tlv(&records);
    // The static data as the AFL reading assembles it: SFI 3 record 1 is `70 1B ‖ …`.
    let mut record = vec![0x70, 0x1B];
    record.extend_from_slice(&a.static_data);
    let mut static_data = Vec::new();
    sscard_emv::oda::append_oda_record(&mut static_data, 3, &record).unwrap();
    assert_eq!(static_data, a.static_data);
    assert_eq!(objects.ca_index, Some(0x57));
    assert_eq!(objects.pan, Some(a.pan.as_slice()));
    verify_sda(&a.capk, &a.static_data, &objects, date(A1_DATE)).unwrap();

    // The issuer certificate also verifies with the second CA signature of [SM2T].
    let mut alt = a.issuer_cert[..78].to_vec();
    alt.extend_from_slice(&a.alt_sig);
    let ca = PublicKey::from_xy(&match a.capk.key {
        CapkKey::Sm2 { xy } => xy,
        CapkKey::Rsa { .. } => unreachable!(),
    })
    .unwrap();
    let cert =
        osm2::verify_issuer_cert(&ca, &alt, &a.pan, date(A1_DATE), &Sm2Profile::PBOC).unwrap();
    assert_eq!(cert.issuer_id, [0x62, 0x28, 0x00, 0x01]);
    assert_eq!(cert.expiry, [0x12, 0x20]);
    assert_eq!(cert.indicators, [0x04, 0x00, 0x11]);
}

#[test]
fn a1_tampered_variants_are_rejected() {
    let a = a1();
    let d = date(A1_DATE);
    let run = |issuer: &[u8], icc: &[u8], ssad: &[u8], pan: &[u8], static_data: &[u8], d: Date| {
        let objects = CardObjects {
            pan: Some(pan),
            ca_index: Some(0x57),
            issuer_cert: Some(issuer),
            icc_cert: Some(icc),
            ssad: Some(ssad),
            ..CardObjects::default()
        };
        let sda = verify_sda(&a.capk, static_data, &objects, d).map(|_| ());
        let dda = recover_icc_key(&a.capk, static_data, &objects, d).map(|_| ());
        (sda, dda)
    };
    let ok = |x: &[u8]| x.to_vec();
    let (i, c, s, p, sd) = (
        ok(&a.issuer_cert),
        ok(&a.icc_cert),
        ok(&a.ssad),
        ok(&a.pan),
        ok(&a.static_data),
    );
    let bad_sig = Err(OdaError::BadSignature);
    // Issuer certificate: a byte of r, of s, of the signed data.
    for at in [78, 78 + 32, 20] {
        assert_eq!(
            run(&flip(&i, at), &c, &s, &p, &sd, d),
            (bad_sig, bad_sig),
            "90 at {at}"
        );
    }
    // ICC certificate: r, s, signed data; only DDA reads it.
    for at in [84, 84 + 40, 30] {
        assert_eq!(
            run(&i, &flip(&c, at), &s, &p, &sd, d),
            (Ok(()), bad_sig),
            "9F46 at {at}"
        );
    }
    // SSAD: r, s, DAC; only SDA reads it.
    for at in [3, 3 + 32, 2] {
        assert_eq!(
            run(&i, &c, &flip(&s, at), &p, &sd, d),
            (bad_sig, Ok(())),
            "93 at {at}"
        );
    }
    // Static data changed: SSAD and ICC certificate both fail.
    assert_eq!(run(&i, &c, &s, &p, &flip(&sd, 26), d), (bad_sig, bad_sig));
    // Expired (certificates expire 12/2020).
    let expired = Err(OdaError::Expired {
        expiry: [0x12, 0x20],
    });
    assert_eq!(
        run(&i, &c, &s, &p, &sd, date([0x21, 0x01, 0x01])),
        (expired, expired)
    );
    // PAN not the certified one, same issuer identifier: only the ICC certificate fails.
    let other_pan = hs("6228000100001118");
    assert_eq!(
        run(&i, &c, &s, &other_pan, &sd, d),
        (Ok(()), Err(OdaError::PanMismatch))
    );
    // PAN of another issuer.
    let foreign = hs("6229000100001117");
    let mismatch = Err(OdaError::IssuerIdMismatch);
    assert_eq!(run(&i, &c, &s, &foreign, &sd, d), (mismatch, mismatch));
    // Bad format byte (checked before the signature) and bad length.
    let mut bad_format = i.clone();
    bad_format[0] = 0x11;
    let fmt_err = Err(OdaError::BadFormat {
        expected: 0x12,
        actual: 0x11,
    });
    assert_eq!(run(&bad_format, &c, &s, &p, &sd, d), (fmt_err, fmt_err));
    let len_err = Err(OdaError::BadCertLength {
        expected: 148,
        actual: 147,
    });
    assert_eq!(run(&i, &c[..147], &s, &p, &sd, d), (Ok(()), len_err));
}

#[test]
fn a1_wrong_distinguishing_id_and_ca_index() {
    let a = a1();
    let CapkKey::Sm2 { xy } = a.capk.key else {
        unreachable!()
    };
    let ca = PublicKey::from_xy(&xy).unwrap();
    let wrong = Sm2Profile::PBOC.with_dist_id(b"1234567812345679");
    assert_eq!(
        osm2::verify_issuer_cert(&ca, &a.issuer_cert, &a.pan, date(A1_DATE), &wrong),
        Err(OdaError::BadSignature)
    );
    let empty = Sm2Profile::PBOC.with_dist_id(b"");
    assert_eq!(
        osm2::verify_issuer_cert(&ca, &a.issuer_cert, &a.pan, date(A1_DATE), &empty),
        Err(OdaError::BadSignature)
    );
    let issuer = osm2::verify_issuer_cert(
        &ca,
        &a.issuer_cert,
        &a.pan,
        date(A1_DATE),
        &Sm2Profile::PBOC,
    )
    .unwrap()
    .key;
    assert_eq!(
        osm2::verify_ssad(&issuer, &a.ssad, &a.static_data, &wrong),
        Err(OdaError::BadSignature)
    );

    // The card names CA index 58, the terminal only has 57.
    let mut objects = a.objects();
    objects.ca_index = Some(0x58);
    assert_eq!(
        recover_issuer_key(&a.capk, &objects, date(A1_DATE)),
        Err(OdaError::UnknownCapk {
            rid: RID_UNIONPAY,
            index: 0x58
        })
    );
    let mut store = CapkStore::new();
    store.add(a.capk.clone()).unwrap();
    assert_eq!(
        store.get(RID_UNIONPAY, 0x58).map(|_| ()),
        Err(OdaError::UnknownCapk {
            rid: RID_UNIONPAY,
            index: 0x58
        })
    );
    // Another SM2 CA key (the UnionPay example 18) does not verify the chain.
    let other = CapkStore::unionpay().unwrap();
    let mut k18 = other.get(RID_UNIONPAY, 0x18).unwrap().clone();
    k18.index = 0x57;
    assert_eq!(
        recover_issuer_key(&k18, &a.objects(), date(A1_DATE)).map(|_| ()),
        Err(OdaError::BadSignature)
    );
    // Strict indicators: the sample's bytes pass, others fail.
    let strict = Sm2Profile {
        strict_indicators: true,
        ..Sm2Profile::PBOC
    };
    osm2::verify_issuer_cert(&ca, &a.issuer_cert, &a.pan, date(A1_DATE), &strict).unwrap();
    let other_ind = Sm2Profile {
        issuer_cert_indicators: [0x04, 0x00, 0x12],
        ..strict
    };
    assert_eq!(
        osm2::verify_issuer_cert(&ca, &a.issuer_cert, &a.pan, date(A1_DATE), &other_ind)
            .map(|_| ()),
        Err(OdaError::BadAlgorithm { actual: 0x11 })
    );
}

struct A2 {
    store: CapkStore,
    pan: Vec<u8>,
    issuer_cert: Vec<u8>,
    issuer_remainder: Vec<u8>,
    issuer_exponent: Vec<u8>,
    recovered: Vec<u8>,
    icc_cert: Vec<u8>,
    icc_remainder: Vec<u8>,
    icc_exponent: Vec<u8>,
    static_data: Vec<u8>,
}

fn a2() -> A2 {
    let v = vectors();
    let c = &v["rsa_oda_chain"];
    A2 {
        store: CapkStore::unionpay().unwrap(),
        pan: hs("6228000100001117"),
        issuer_cert: h(&c["issuer_cert_90"]),
        issuer_remainder: h(&c["issuer_pk_remainder_92"]),
        issuer_exponent: h(&c["issuer_pk_exponent_9F32"]),
        recovered: h(&c["recovered_issuer_cert"]),
        icc_cert: h(&c["icc_cert_9F46"]),
        icc_remainder: h(&c["icc_pk_remainder_9F48"]),
        icc_exponent: h(&c["icc_pk_exponent_9F47"]),
        static_data: h(&v["sm2_oda_chain"]["static_data_to_authenticate"]),
    }
}

impl A2 {
    fn ca(&self) -> RsaPublicKey {
        let CapkKey::Rsa { modulus, exponent } = &self.store.get(RID_UNIONPAY, 0x80).unwrap().key
        else {
            unreachable!()
        };
        RsaPublicKey::new(modulus, exponent).unwrap()
    }
}

const TODAY: [u8; 3] = [0x26, 0x11, 0x22];

#[test]
fn a2_rsa_chain_recovers() {
    let a = a2();
    let ca = a.ca();
    let x = ca.recover(&a.issuer_cert).unwrap();
    assert_eq!(x, a.recovered);
    assert_eq!(&x[..15], &hs("6A02 622800FF 1230 000001 01 01 80 01")[..]);
    assert_eq!(x.last(), Some(&0xBC));
    let issuer = orsa::recover_issuer_cert(
        &ca,
        &a.issuer_cert,
        Some(&a.issuer_remainder),
        &a.issuer_exponent,
        &a.pan,
        date(TODAY),
    )
    .unwrap();
    assert_eq!(issuer.issuer_id, [0x62, 0x28, 0x00, 0xFF]);
    assert_eq!(issuer.expiry, [0x12, 0x30]);
    assert_eq!(issuer.serial, [0x00, 0x00, 0x01]);
    assert_eq!(issuer.key.len(), 128);
    assert_eq!(&issuer.key.modulus()[92..], a.issuer_remainder.as_slice());
    assert_eq!(issuer.key.exponent(), &[0x03]);

    // ICC certificate: the hash matches only with EMPTY static data (test-data quirk).
    let icc = orsa::recover_icc_cert(
        &issuer.key,
        &a.icc_cert,
        Some(&a.icc_remainder),
        &a.icc_exponent,
        &[],
        &a.pan,
        date(TODAY),
    )
    .unwrap();
    assert_eq!(
        icc.pan,
        [0x62, 0x28, 0x00, 0x01, 0x00, 0x00, 0x11, 0x17, 0xFF, 0xFF]
    );
    assert_eq!(icc.expiry, [0x12, 0x31]);
    assert_eq!(icc.key.len(), 128);
    assert_eq!(icc.key.exponent(), &[0x01, 0x00, 0x01]);
    let recovered_icc = issuer.key.recover(&a.icc_cert).unwrap();
    assert_eq!(&recovered_icc[..2], &[0x6A, 0x04]);
    assert_eq!(
        orsa::recover_icc_cert(
            &issuer.key,
            &a.icc_cert,
            Some(&a.icc_remainder),
            &a.icc_exponent,
            &a.static_data,
            &a.pan,
            date(TODAY),
        ),
        Err(OdaError::HashMismatch)
    );

    // Through the kernel API, with the CAPK from the store.
    let objects = CardObjects {
        pan: Some(&a.pan),
        ca_index: Some(0x80),
        issuer_cert: Some(&a.issuer_cert),
        issuer_remainder: Some(&a.issuer_remainder),
        issuer_exponent: Some(&a.issuer_exponent),
        icc_cert: Some(&a.icc_cert),
        icc_remainder: Some(&a.icc_remainder),
        icc_exponent: Some(&a.icc_exponent),
        ssad: None,
    };
    let capk = a.store.get(RID_UNIONPAY, 0x80).unwrap();
    assert_eq!(
        recover_issuer_key(capk, &objects, date(TODAY)).unwrap(),
        sscard_emv::oda::IssuerCertificate {
            key: IssuerPublicKey::Rsa(issuer.key.clone()),
            issuer_id: [0x62, 0x28, 0x00, 0xFF],
            expiry: [0x12, 0x30],
            serial: [0x00, 0x00, 0x01],
        }
    );
    assert_eq!(
        recover_icc_key(capk, &[], &objects, date(TODAY)).unwrap(),
        IccPublicKey::Rsa(icc.key)
    );
    assert_eq!(
        verify_sda(capk, &[], &objects, date(TODAY)),
        Err(OdaError::MissingData { tag: 0x93 })
    );
}

#[test]
fn a2_tampered_variants_are_rejected() {
    let a = a2();
    let ca = a.ca();
    let issuer = |cert: &[u8], rem: Option<&[u8]>, exp: &[u8], pan: &[u8], d: [u8; 3]| {
        orsa::recover_issuer_cert(&ca, cert, rem, exp, pan, date(d)).map(|_| ())
    };
    let (c, r, e, p) = (
        &a.issuer_cert,
        &a.issuer_remainder,
        &a.issuer_exponent,
        &a.pan,
    );
    assert_eq!(issuer(c, Some(r), e, p, TODAY), Ok(()));
    assert_eq!(
        issuer(c, None, e, p, TODAY),
        Err(OdaError::MissingRemainder)
    );
    assert_eq!(
        issuer(c, Some(&r[1..]), e, p, TODAY),
        Err(OdaError::BadRemainder {
            expected: 36,
            actual: 35
        })
    );
    assert_eq!(
        issuer(c, Some(&flip(r, 3)), e, p, TODAY),
        Err(OdaError::HashMismatch)
    );
    assert_eq!(
        issuer(c, Some(r), &[0x01, 0x00, 0x01], p, TODAY),
        Err(OdaError::HashMismatch)
    );
    assert_eq!(
        issuer(c, Some(r), e, p, [0x31, 0x01, 0x01]),
        Err(OdaError::Expired {
            expiry: [0x12, 0x30]
        })
    );
    assert_eq!(
        issuer(c, Some(r), e, &hs("6229000100001117"), TODAY),
        Err(OdaError::IssuerIdMismatch)
    );
    assert_eq!(
        issuer(&c[1..], Some(r), e, p, TODAY),
        Err(OdaError::BadCertLength {
            expected: 128,
            actual: 127
        })
    );
    // A flipped certificate byte recovers to garbage: the trailer check catches it.
    assert!(matches!(
        issuer(&flip(c, 50), Some(r), e, p, TODAY),
        Err(OdaError::BadTrailer { .. } | OdaError::BadHeader { .. } | OdaError::Malformed)
    ));
    // Wrong CA index: the store has no 81, and another CA key does not recover the cert.
    assert_eq!(
        a.store.get(RID_UNIONPAY, 0x81).map(|_| ()),
        Err(OdaError::UnknownCapk {
            rid: RID_UNIONPAY,
            index: 0x81
        })
    );
    let CapkKey::Rsa { modulus, exponent } = &a.store.get(RID_UNIONPAY, 0x0A).unwrap().key else {
        unreachable!()
    };
    let other_ca = RsaPublicKey::new(modulus, exponent).unwrap();
    assert!(matches!(
        orsa::recover_issuer_cert(&other_ca, c, Some(r), e, p, date(TODAY)),
        Err(OdaError::BadTrailer { .. } | OdaError::BadHeader { .. } | OdaError::Malformed)
    ));

    // ICC: PAN mismatch with the same issuer identifier.
    let issuer_key = orsa::recover_issuer_cert(&ca, c, Some(r), e, p, date(TODAY))
        .unwrap()
        .key;
    let icc = |pan: &[u8], rem: Option<&[u8]>| {
        orsa::recover_icc_cert(
            &issuer_key,
            &a.icc_cert,
            rem,
            &a.icc_exponent,
            &[],
            pan,
            date(TODAY),
        )
        .map(|_| ())
    };
    assert_eq!(
        icc(&hs("6228000100001118"), Some(&a.icc_remainder)),
        Err(OdaError::PanMismatch)
    );
    assert_eq!(icc(&a.pan, None), Err(OdaError::MissingRemainder));
}

/// Header, trailer, format and algorithm errors need certificates signed on purpose:
/// the test PKI's RSA CA key signs malformed blocks.
#[test]
fn rsa_bad_header_trailer_format_algorithm() {
    let pki = TestPki::from_json(&test_pki_text()).unwrap();
    let ca = pki.rsa_ca_key().unwrap();
    let issuer = pki.rsa_issuer_key().unwrap();
    let pan = hs(&pki.pan);
    let good = hs(&pki.rsa.issuer_cert_recovered);
    let rem = hs(&pki.rsa.issuer_remainder_92);
    let exp = hs(&pki.rsa.issuer_exponent_9f32);
    let check = |block: &[u8]| {
        let cert = ca.sign_raw(block).unwrap();
        orsa::recover_issuer_cert(ca.public_key(), &cert, Some(&rem), &exp, &pan, date(TODAY))
            .map(|c| c.key)
    };
    assert_eq!(check(&good), Ok(issuer.public_key().clone()));
    let mut b = good.clone();
    b[0] = 0x6B;
    assert_eq!(check(&b), Err(OdaError::BadHeader { actual: 0x6B }));
    let mut b = good.clone();
    *b.last_mut().unwrap() = 0xBD;
    assert_eq!(check(&b), Err(OdaError::BadTrailer { actual: 0xBD }));
    let mut b = good.clone();
    b[1] = 0x04;
    assert_eq!(
        check(&b),
        Err(OdaError::BadFormat {
            expected: 0x02,
            actual: 0x04
        })
    );
    let mut b = good.clone();
    b[30] ^= 0x55;
    assert_eq!(check(&b), Err(OdaError::HashMismatch));
    // Hash algorithm 02, with the hash recomputed so only the indicator is wrong.
    let mut b = good.clone();
    b[11] = 0x02;
    let n = b.len();
    let hash = orsa::sha1(&[&b[1..n - 21], &rem, &exp]);
    b[n - 21..n - 1].copy_from_slice(&hash);
    assert_eq!(check(&b), Err(OdaError::BadAlgorithm { actual: 0x02 }));
}

#[test]
fn test_pki_file_reverifies() {
    let text = test_pki_text();
    let pki = TestPki::from_json(&text).unwrap();
    assert!(pki.warning.starts_with("TEST ONLY"));
    // The file is what the generator makes today (deterministic, not stale).
    assert_eq!(
        generate(&TestPkiParams::EMULATED_CARD)
            .unwrap()
            .to_json()
            .unwrap(),
        text
    );

    let mut store = CapkStore::unionpay().unwrap();
    store.add(pki.sm2.capk.to_capk().unwrap()).unwrap();
    store.add(pki.rsa.capk.to_capk().unwrap()).unwrap();
    let pan = hs(&pki.pan);
    let static_data = hs(&pki.static_data);
    let d = date(TODAY);

    let (i, c, s) = (
        hs(&pki.sm2.issuer_cert_90),
        hs(&pki.sm2.icc_cert_9f46),
        hs(&pki.sm2.ssad_93),
    );
    let sm2_objects = CardObjects {
        pan: Some(&pan),
        ca_index: Some(0xF1),
        issuer_cert: Some(&i),
        icc_cert: Some(&c),
        ssad: Some(&s),
        ..CardObjects::default()
    };
    let capk = store.get(RID_UNIONPAY, 0xF1).unwrap();
    assert!(!capk.is_expired(d));
    assert_eq!(
        verify_sda(capk, &static_data, &sm2_objects, d).unwrap().dac,
        [0xDA, 0xC1]
    );
    assert_eq!(
        recover_icc_key(capk, &static_data, &sm2_objects, d).unwrap(),
        IccPublicKey::Sm2(*pki.sm2_icc_key().unwrap().public_key())
    );

    let r = &pki.rsa;
    let (i, ir, ie, c, cr, ce, s) = (
        hs(&r.issuer_cert_90),
        hs(&r.issuer_remainder_92),
        hs(&r.issuer_exponent_9f32),
        hs(&r.icc_cert_9f46),
        hs(&r.icc_remainder_9f48),
        hs(&r.icc_exponent_9f47),
        hs(&r.ssad_93),
    );
    let rsa_objects = CardObjects {
        pan: Some(&pan),
        ca_index: Some(0xF2),
        issuer_cert: Some(&i),
        issuer_remainder: Some(&ir),
        issuer_exponent: Some(&ie),
        icc_cert: Some(&c),
        icc_remainder: Some(&cr),
        icc_exponent: Some(&ce),
        ssad: Some(&s),
    };
    let capk = store.get(RID_UNIONPAY, 0xF2).unwrap();
    assert_eq!(
        verify_sda(capk, &static_data, &rsa_objects, d).unwrap().dac,
        [0xDA, 0xC1]
    );
    assert_eq!(
        recover_icc_key(capk, &static_data, &rsa_objects, d).unwrap(),
        IccPublicKey::Rsa(pki.rsa_icc_key().unwrap().public_key().clone())
    );
    let recovered = hs(&r.issuer_cert_recovered);
    assert_eq!(&recovered[..2], &[0x6A, 0x02]);
    assert_eq!(recovered.last(), Some(&0xBC));
    // The same objects as the card's record TLVs (personalisation helper).
    for (family, index) in [
        (sscard_emv::cryptogram::Family::Sm2Sm4, 0xF1),
        (sscard_emv::cryptogram::Family::Rsa3Des, 0xF2),
    ] {
        let mut records = pki.record_tlvs(family).unwrap();
        records.extend_from_slice(&static_data);
        let objects = CardObjects::from_tlv(&records);
        assert_eq!(objects.ca_index, Some(index));
        let capk = store.get(RID_UNIONPAY, index).unwrap();
        assert_eq!(
            verify_sda(capk, &static_data, &objects, d).unwrap().dac,
            [0xDA, 0xC1]
        );
        recover_icc_key(capk, &static_data, &objects, d).unwrap();
    }
    // The test CAs are not UnionPay's: the wrong family or index fails.
    assert_eq!(
        recover_issuer_key(store.get(RID_UNIONPAY, 0xF1).unwrap(), &rsa_objects, d).map(|_| ()),
        Err(OdaError::UnknownCapk {
            rid: RID_UNIONPAY,
            index: 0xF2
        })
    );
}

#[test]
fn ssad_round_trips_both_families() {
    let pki = TestPki::from_json(&test_pki_text()).unwrap();
    let data = b"\x5A\x08\x62\x28\x00\x01\x00\x00\x11\x17 other static data";
    let sm2_issuer = pki.sm2_issuer_key().unwrap();
    let ssad = osm2::sign_ssad(&sm2_issuer, [0x12, 0x34], data, &Sm2Profile::PBOC).unwrap();
    assert_eq!(ssad.len(), 67);
    assert_eq!(
        osm2::verify_ssad(sm2_issuer.public_key(), &ssad, data, &Sm2Profile::PBOC),
        Ok([0x12, 0x34])
    );
    assert_eq!(
        osm2::verify_ssad(
            sm2_issuer.public_key(),
            &ssad,
            &data[1..],
            &Sm2Profile::PBOC
        ),
        Err(OdaError::BadSignature)
    );
    let rsa_issuer = pki.rsa_issuer_key().unwrap();
    let ssad = orsa::sign_ssad(&rsa_issuer, [0x12, 0x34], data).unwrap();
    assert_eq!(ssad.len(), 128);
    assert_eq!(
        orsa::recover_ssad(rsa_issuer.public_key(), &ssad, data),
        Ok([0x12, 0x34])
    );
    assert_eq!(
        orsa::recover_ssad(rsa_issuer.public_key(), &ssad, &data[1..]),
        Err(OdaError::HashMismatch)
    );
    // An SSAD is not an issuer certificate.
    assert_eq!(
        orsa::recover_icc_cert(
            rsa_issuer.public_key(),
            &ssad,
            None,
            &[3],
            data,
            &hs(&pki.pan),
            date(TODAY)
        )
        .map(|_| ()),
        Err(OdaError::BadFormat {
            expected: 0x04,
            actual: 0x03
        })
    );
}

#[test]
fn dda_round_trips_both_families() {
    let pki = TestPki::from_json(&test_pki_text()).unwrap();
    let ddol_data = hs("1A2B3C4D");
    let dyn_data = hs("04A1B2C3D4");
    let sm2 = pki.sm2_icc_key().unwrap();
    let rsa = pki.rsa_icc_key().unwrap();
    let keys = [
        (
            IccPublicKey::Sm2(*sm2.public_key()),
            osm2::sign_dynamic(&sm2, &dyn_data, &ddol_data, &Sm2Profile::PBOC).unwrap(),
            OdaError::BadSignature,
        ),
        (
            IccPublicKey::Rsa(rsa.public_key().clone()),
            orsa::sign_dynamic(&rsa, &dyn_data, &ddol_data).unwrap(),
            OdaError::HashMismatch,
        ),
    ];
    for (key, sdad, wrong) in keys {
        let dda = verify_dda(&key, &sdad, &ddol_data).unwrap();
        assert_eq!(dda.icc_dynamic_number, hs("A1B2C3D4"));
        assert_eq!(dda.icc_dynamic_data, dyn_data);
        assert_eq!(verify_dda(&key, &sdad, &hs("1A2B3C4E")), Err(wrong));
    }
    // SM2 layout [U, ours]: 15 ‖ Ldd ‖ data ‖ sig.
    let sdad = osm2::sign_dynamic(&sm2, &dyn_data, &ddol_data, &Sm2Profile::PBOC).unwrap();
    assert_eq!(&sdad[..7], &hs("150504A1B2C3D4")[..]);
    assert_eq!(sdad.len(), 2 + 5 + 64);
    let key = IccPublicKey::Sm2(*sm2.public_key());
    assert_eq!(
        verify_dda(&key, &flip(&sdad, 10), &ddol_data),
        Err(OdaError::BadSignature)
    );
    assert_eq!(
        verify_dda(&key, &flip(&sdad, 3), &ddol_data),
        Err(OdaError::BadSignature)
    );
    assert_eq!(
        verify_dda(&key, &sdad[..70], &ddol_data),
        Err(OdaError::BadCertLength {
            expected: 71,
            actual: 70
        })
    );
    // A bad ICC dynamic number length is rejected after the signature.
    let odd = osm2::sign_dynamic(&sm2, &hs("09A1"), &ddol_data, &Sm2Profile::PBOC).unwrap();
    assert_eq!(
        verify_dda(&key, &odd, &ddol_data),
        Err(OdaError::BadDynamicData)
    );
}

#[test]
fn cda_round_trips_both_families() {
    let pki = TestPki::from_json(&test_pki_text()).unwrap();
    let pdol_data = hs("0156000000000000010001560000000000");
    let cdol1_data = hs("000000000100000000000000015600000000000156261122000000001A2B3C4D");
    let un = hs("1A2B3C4D");
    let ac = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
    let sm2 = pki.sm2_icc_key().unwrap();
    let rsa = pki.rsa_icc_key().unwrap();
    for family in [HashAlg::Sm3, HashAlg::Sha1] {
        // The card: response TLVs without 9F4B, hash, ICC dynamic data, signature.
        let mut body = hs("9F2701809F360200019F260811223344556677889F10080701010390000001");
        let hash = cda_transaction_hash(family, &pdol_data, &cdol1_data, None, &body).unwrap();
        assert_eq!(hash.len(), family.digest_len());
        let icc_dyn = cda_icc_dynamic_data(&hs("A1B2C3D4"), 0x80, &ac, &hash).unwrap();
        let (key, sdad) = match family {
            HashAlg::Sm3 => (
                IccPublicKey::Sm2(*sm2.public_key()),
                osm2::sign_dynamic(&sm2, &icc_dyn, &un, &Sm2Profile::PBOC).unwrap(),
            ),
            HashAlg::Sha1 => (
                IccPublicKey::Rsa(rsa.public_key().clone()),
                orsa::sign_dynamic(&rsa, &icc_dyn, &un).unwrap(),
            ),
        };
        // 9F4B goes into the middle of the template; the terminal hashes without it.
        let mut tlv = vec![0x9F, 0x4B, 0x81, u8::try_from(sdad.len()).unwrap()];
        tlv.extend_from_slice(&sdad);
        body.splice(4..4, tlv);
        let mut response = vec![0x77, 0x81, u8::try_from(body.len()).unwrap()];
        response.extend_from_slice(&body);
        let expected =
            cda_transaction_hash(family, &pdol_data, &cdol1_data, None, &response).unwrap();
        assert_eq!(expected, hash);
        let cda = verify_cda(&key, &sdad, &un, 0x80, &expected).unwrap();
        assert_eq!(cda.cid, 0x80);
        assert_eq!(cda.ac, ac);
        assert_eq!(cda.icc_dynamic_number, hs("A1B2C3D4"));
        // CID of the response differs from the signed one.
        assert_eq!(
            verify_cda(&key, &sdad, &un, 0x40, &expected),
            Err(OdaError::CidMismatch)
        );
        // The terminal's data differs (amount changed in the PDOL data).
        let other =
            cda_transaction_hash(family, &flip(&pdol_data, 5), &cdol1_data, None, &response)
                .unwrap();
        assert_eq!(
            verify_cda(&key, &sdad, &un, 0x80, &other),
            Err(OdaError::TransactionHashMismatch)
        );
        // Another unpredictable number.
        assert!(verify_cda(&key, &sdad, &hs("1A2B3C4E"), 0x80, &expected).is_err());
    }
}

/// A.3: the checksums listed in spec/pboc.md match the store's, and each verified on load.
#[test]
fn capk_json_checksums_verify() {
    let listed = [
        (0x01, 128, "03", "E881E390675D44C2DD81234DCE29C3F5AB2297A0"),
        (0x02, 144, "03", "03BB335A8549A03B87AB089D006F60852E4B8060"),
        (0x03, 176, "03", "87F0CD7C0E86F38F89A66F8C47071A8B88586F26"),
        (0x04, 248, "03", "F527081CF371DD7E1FD4FA414A665036E0F5E6E5"),
        (0x08, 144, "03", "EE23B616C95C02652AD18860E48787C079E8E85A"),
        (0x09, 176, "03", "A075306EAB0045BAF72CDD33B3B678779DE1F527"),
        (0x0A, 128, "03", "C88BE6B2417C4F941C9371EA35A377158767E4E3"),
        (0x0B, 248, "03", "BD331F9996A490B33C13441066A09AD3FEB5F66C"),
        (
            0x80,
            128,
            "010001",
            "A5E44BB0E1FA4F96A11709186670D0835057D35E",
        ),
        (0x85, 248, "03", "10AC0A99C88419D84BF45A0B97E7B7470E01C4F1"),
    ];
    let store = CapkStore::unionpay().unwrap();
    for (index, len, exp, sum) in listed {
        let k = store.get(RID_UNIONPAY, index).unwrap();
        k.verify_checksum().unwrap();
        assert_eq!(k.checksum.unwrap().to_vec(), hs(sum), "{index:02X}");
        let CapkKey::Rsa { modulus, exponent } = &k.key else {
            panic!("{index:02X} is RSA")
        };
        assert_eq!(
            (modulus.len(), exponent.clone()),
            (len, hs(exp)),
            "{index:02X}"
        );
    }
    // The file's text and the vectors agree entry by entry.
    let v = vectors();
    let file: Value = serde_json::from_str(sscard_emv::capk::UNIONPAY_CAPK_JSON).unwrap();
    let entries = file["entries"].as_array().unwrap();
    for (e, t) in entries
        .iter()
        .zip(v["unionpay_capk_tlv"]["entries"].as_array().unwrap())
    {
        assert_eq!(
            e["tlv"].as_str().unwrap(),
            t.as_str().unwrap().to_uppercase()
        );
        let capk = Capk::from_pos_tlv(&h(&e["tlv"])).unwrap();
        assert_eq!(h(&e["index"]), vec![capk.index]);
        assert_eq!(h(&e["rid"]), capk.rid.to_vec());
        assert!(!e["source"].as_str().unwrap().is_empty());
        assert!(!e["confidence"].as_str().unwrap().is_empty());
    }
    // A corrupted file is rejected.
    let bad = sscard_emv::capk::UNIONPAY_CAPK_JSON.replacen("DF0314E881", "DF0314E981", 1);
    assert!(CapkStore::from_json(&bad).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let a = a1();
        let CapkKey::Sm2 { xy } = a.capk.key else { unreachable!() };
        let ca = PublicKey::from_xy(&xy).unwrap();
        let d = date(A1_DATE);
        let p = Sm2Profile::PBOC;
        prop_assert!(osm2::verify_issuer_cert(&ca, &bytes, &bytes, d, &p).is_err());
        prop_assert!(osm2::verify_icc_cert(&ca, &bytes, &bytes, &bytes, d, &p).is_err());
        prop_assert!(osm2::verify_ssad(&ca, &bytes, &bytes, &p).is_err());
        prop_assert!(osm2::verify_dynamic(&ca, &bytes, &bytes, &p).is_err());
        let rsa_ca = a2().ca();
        let _ = orsa::recover_issuer_cert(&rsa_ca, &bytes, Some(&bytes), &bytes, &bytes, d);
        let _ = orsa::recover_icc_cert(&rsa_ca, &bytes, None, &bytes, &bytes, &bytes, d);
        let _ = orsa::recover_ssad(&rsa_ca, &bytes, &bytes);
        let _ = orsa::recover_dynamic(&rsa_ca, &bytes, &bytes);
        let _ = RsaPublicKey::new(&bytes, &bytes);
        let _ = Capk::from_pos_tlv(&bytes);
        let objects = CardObjects::from_tlv(&bytes);
        let _ = verify_sda(&a.capk, &bytes, &objects, d);
        let _ = cda_transaction_hash(HashAlg::Sha1, &bytes, &bytes, None, &bytes);
        let _ = sscard_emv::oda::split_icc_dynamic_data(&bytes);
    }

    #[test]
    fn full_length_rsa_blocks_never_panic(bytes in proptest::collection::vec(any::<u8>(), 128)) {
        let rsa_ca = a2().ca();
        let r = orsa::recover_issuer_cert(&rsa_ca, &bytes, Some(&bytes[..36]), &[3], &bytes, date(TODAY));
        prop_assert!(r.is_err());
        let key = IccPublicKey::Rsa(rsa_ca);
        prop_assert!(verify_dda(&key, &bytes, &bytes).is_err());
    }
}
