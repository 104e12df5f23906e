//! Offline data authentication speed: criterion group `oda`.
//!
//! * `sm2_sda_dda_a1`: the whole SM2 verification of the public A.1 chain — issuer
//!   certificate, SSAD (SDA), ICC certificate and a signed dynamic data object (DDA):
//!   five SM2 verifications with `Z_A`.
//! * `sm2_sda_a1`: SDA alone (issuer certificate and SSAD).
//! * `rsa1024_issuer_icc_recovery_a2`: the RSA-1024 A.2 chain, issuer (e = 3) and ICC
//!   (e = 65537) certificate recovery with their SHA-1 checks.
//! * `rsa1024_dda_sign`, `sm2_dda_sign`: the card side, signing dynamic data with the
//!   TEST PKI's ICC keys.
//! * `rsa1984_public_e3_modexp` / `…_rsa_crate`, `rsa1984_public_e65537_…`: the raw
//!   public operation on a 1984-bit modulus (EMV's largest) by this crate's
//!   `oda::modexp` (what recovery uses) and by the `rsa` crate, for comparison.
//!
//! `cargo bench -p sscard-emv --bench oda`
// A benchmark with broken inputs should stop loudly, like a test.
#![allow(clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::Value;
use sscard_apdu::hex;
use sscard_crypto::sm2::PrivateKey;
use sscard_emv::capk::{Capk, CapkKey, CapkStore, RID_UNIONPAY};
use sscard_emv::oda::rsa::{self as orsa, RsaPublicKey};
use sscard_emv::oda::sm2::{self as osm2, Sm2Profile};
use sscard_emv::oda::testpki::TestPki;
use sscard_emv::oda::{recover_icc_key, verify_dda, verify_sda, CardObjects, Date};

const VECTORS: &str = include_str!("../../../test-vectors/pboc-vectors.json");
const TEST_PKI: &str = include_str!("../../../apdu-specs/pboc/test-pki.json");

fn h(v: &Value) -> Vec<u8> {
    hex::to_vec(v.as_str().expect("hex string")).expect("hex")
}

fn oda(c: &mut Criterion) {
    let v: Value = serde_json::from_str(VECTORS).expect("vectors");
    let a1 = &v["sm2_oda_chain"];
    let xy: [u8; 64] = h(&a1["ca_public_key_xy"]).try_into().expect("64 bytes");
    let capk = Capk::sm2(RID_UNIONPAY, 0x57, xy);
    let static_data = h(&a1["static_data_to_authenticate"]);
    let pan = static_data[2..10].to_vec();
    let (issuer_cert, icc_cert, ssad) = (
        h(&a1["issuer_cert_90"]),
        h(&a1["icc_cert_9F46"]),
        h(&a1["ssad_93"]),
    );
    let objects = CardObjects {
        pan: Some(&pan),
        ca_index: Some(0x57),
        issuer_cert: Some(&issuer_cert),
        icc_cert: Some(&icc_cert),
        ssad: Some(&ssad),
        ..CardObjects::default()
    };
    let date = Date::from_9a([0x20, 0x06, 0x01]).expect("date");
    let icc_d = PrivateKey::from_slice(&h(&a1["icc_private_key_d"])).expect("key");
    let ddol_data = [0x1A, 0x2B, 0x3C, 0x4D];
    let sdad = osm2::sign_dynamic(&icc_d, &[0x04, 1, 2, 3, 4], &ddol_data, &Sm2Profile::PBOC)
        .expect("signs");

    let a2 = &v["rsa_oda_chain"];
    let store = CapkStore::unionpay().expect("capk.json");
    let CapkKey::Rsa { modulus, exponent } = &store.get(RID_UNIONPAY, 0x80).expect("80").key else {
        unreachable!("80 is RSA")
    };
    let ca = RsaPublicKey::new(modulus, exponent).expect("CA key");
    let (i90, i92, i9f32) = (
        h(&a2["issuer_cert_90"]),
        h(&a2["issuer_pk_remainder_92"]),
        h(&a2["issuer_pk_exponent_9F32"]),
    );
    let (c9f46, c9f48, c9f47) = (
        h(&a2["icc_cert_9F46"]),
        h(&a2["icc_pk_remainder_9F48"]),
        h(&a2["icc_pk_exponent_9F47"]),
    );
    let today = Date::from_9a([0x26, 0x11, 0x22]).expect("date");

    let pki = TestPki::from_json(TEST_PKI).expect("test PKI");
    let rsa_icc = pki.rsa_icc_key().expect("RSA ICC key");
    let sm2_icc = pki.sm2_icc_key().expect("SM2 ICC key");

    let mut group = c.benchmark_group("oda");
    group.bench_function("sm2_sda_dda_a1", |b| {
        b.iter(|| {
            let sda = verify_sda(&capk, &static_data, black_box(&objects), date).expect("SDA");
            let key = recover_icc_key(&capk, &static_data, black_box(&objects), date).expect("key");
            let dda = verify_dda(&key, black_box(&sdad), &ddol_data).expect("DDA");
            (sda, dda)
        })
    });
    group.bench_function("sm2_sda_a1", |b| {
        b.iter(|| verify_sda(&capk, &static_data, black_box(&objects), date).expect("SDA"))
    });
    group.bench_function("rsa1024_issuer_icc_recovery_a2", |b| {
        b.iter(|| {
            let issuer =
                orsa::recover_issuer_cert(&ca, black_box(&i90), Some(&i92), &i9f32, &pan, today)
                    .expect("issuer");
            orsa::recover_icc_cert(
                &issuer.key,
                black_box(&c9f46),
                Some(&c9f48),
                &c9f47,
                &[],
                &pan,
                today,
            )
            .expect("ICC")
        })
    });
    group.bench_function("rsa1024_dda_sign", |b| {
        b.iter(|| {
            orsa::sign_dynamic(&rsa_icc, black_box(&[0x04, 1, 2, 3, 4]), &ddol_data).expect("signs")
        })
    });
    group.bench_function("sm2_dda_sign", |b| {
        b.iter(|| {
            osm2::sign_dynamic(
                &sm2_icc,
                black_box(&[0x04, 1, 2, 3, 4]),
                &ddol_data,
                &Sm2Profile::PBOC,
            )
            .expect("signs")
        })
    });
    for exponent in [3u32, 65_537] {
        let key = orsa::RsaPrivateKey::generate(
            &mut sscard_emv::oda::testpki::TestRng::new(b"bench", b"1984"),
            1984,
            exponent,
        )
        .expect("key");
        let public = key.public_key();
        let mut block = vec![0x5Au8; public.len()];
        block[0] = 0x00;
        let n = rsa::BoxedUint::from_be_slice_vartime(public.modulus());
        let e = rsa::BoxedUint::from(u64::from(exponent));
        let crate_key = rsa::RsaPublicKey::new_with_size_limits(n, e, 1984..=1984).expect("key");
        let m = rsa::BoxedUint::from_be_slice(
            &block,
            rsa::traits::PublicKeyParts::n_bits_precision(&crate_key),
        )
        .expect("block");
        group.bench_function(format!("rsa1984_public_e{exponent}_modexp"), |b| {
            b.iter(|| public.recover(black_box(&block)).expect("recovers"))
        });
        group.bench_function(format!("rsa1984_public_e{exponent}_rsa_crate"), |b| {
            b.iter(|| rsa::hazmat::rsa_encrypt(&crate_key, black_box(&m)).expect("encrypts"))
        });
    }
    group.finish();
}

criterion_group!(benches, oda);
criterion_main!(benches);
