//! Host CPU time of complete PBOC contact transactions over the fake card of the
//! tests (no transport latency): an offline approval (PSE, GPO, three records, CVM,
//! TRM, TAA, GAC1) and an online one with EXTERNAL AUTHENTICATE, a 71 script and
//! GAC2. The fake card's own work (TLV building, cloning) is included.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use criterion::{criterion_group, criterion_main, Criterion};
use sscard_pboc::{IssuerResponse, Outcome};

fn bench(c: &mut Criterion) {
    c.bench_function("contact/offline-approval", |b| {
        b.iter(|| {
            let mut h = Harness::default();
            let r = h.run();
            assert_eq!(r.outcome, Outcome::ApprovedOffline);
        })
    });
    c.bench_function("contact/online-with-script", |b| {
        b.iter(|| {
            let mut h = Harness::default();
            h.txn.amount = 50_000;
            h.issuer.response = Some(IssuerResponse {
                arc: *b"00",
                auth_data: Some(h_hex("01020304050607083030")),
                scripts: t(0x71, &t(0x86, &h_hex("841E000004AABBCCDD"))),
            });
            let r = h.run();
            assert_eq!(r.outcome, Outcome::ApprovedOnline);
        })
    });
}

fn h_hex(s: &str) -> Vec<u8> {
    h(s)
}

criterion_group!(benches, bench);
criterion_main!(benches);
