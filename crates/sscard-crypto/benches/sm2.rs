//! SM2 signing and verification speed: criterion group `sm2`, functions `sign` and
//! `verify` (32-byte message, default ID, keys built once; `sign` is the production
//! deterministic RFC 6979 path, `Z_A` included in both as `openssl speed sm2` does).
//!
//! `cargo bench -p sscard-crypto --bench sm2`
// A benchmark with broken inputs should stop loudly, like a test.
#![allow(clippy::expect_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use sscard_crypto::sm2::{PrivateKey, DEFAULT_DIST_ID};

fn sm2(c: &mut Criterion) {
    let key = PrivateKey::from_bytes(&[
        0x39, 0x45, 0x20, 0x8F, 0x7B, 0x21, 0x44, 0xB1, 0x3F, 0x36, 0xE3, 0x8A, 0xC6, 0xD3, 0x9F,
        0x95, 0x88, 0x93, 0x93, 0x69, 0x28, 0x60, 0xB5, 0x1A, 0x42, 0xFB, 0x81, 0xEF, 0x4D, 0xF7,
        0xC5, 0xB8,
    ])
    .expect("valid key");
    let public = *key.public_key();
    let message = [0x5Au8; 32];
    let signature = key.sign(DEFAULT_DIST_ID, &message).expect("signs");

    let mut group = c.benchmark_group("sm2");
    group.bench_function("sign", |b| {
        b.iter(|| key.sign(black_box(DEFAULT_DIST_ID), black_box(&message)))
    });
    group.bench_function("verify", |b| {
        b.iter(|| {
            public.verify(
                black_box(DEFAULT_DIST_ID),
                black_box(&message),
                black_box(&signature),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, sm2);
criterion_main!(benches);
