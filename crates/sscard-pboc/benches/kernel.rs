//! Host CPU time of complete PBOC contact transactions over the fake card of the
//! tests (no transport latency): an offline approval (PSE, GPO, three records, CVM,
//! TRM, TAA, GAC1) and an online one with EXTERNAL AUTHENTICATE, a 71 script and
//! GAC2; the same online flow with real 3DES cryptograms checked by the host
//! simulator (card, kernel and host all in the loop). The fake card's own work (TLV
//! building, cloning) is included; `fake-card/setup-only` shows its setup share.
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
use sscard_apdu::Exchange;
use sscard_emv::cryptogram::{master_key, Family};
use sscard_pboc::host::{CardKeys, HostSimulator};
use sscard_pboc::traits::{Environment, NoOda};
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
    let keys = CardKeys {
        mk_ac: master_key(Family::Rsa3Des, &[0x31; 16]).unwrap(),
        mk_smi: master_key(Family::Rsa3Des, &[0x32; 16]).unwrap(),
    };
    c.bench_function("contact/online-3des-host-simulator", |b| {
        b.iter(|| {
            let mut card = FakeCard::debit();
            card.app().keys = Some((keys.mk_ac.clone(), keys.mk_smi.clone()));
            let mut host = HostSimulator::new(Some(keys.clone()), None);
            let (mut oda, mut ch, mut rng) = (NoOda, TestCardholder::default(), SeqRng::default());
            let mut env = Environment {
                oda: &mut oda,
                cardholder: &mut ch,
                issuer: &mut host,
                rng: &mut rng,
            };
            let r = sscard_pboc::contact::run(
                &mut Exchange::new(&mut card),
                &config(),
                &txn(60_000),
                &mut env,
            )
            .unwrap();
            assert_eq!(r.outcome, Outcome::ApprovedOnline);
        })
    });
    c.bench_function("fake-card/setup-only", |b| b.iter(FakeCard::debit));
}

fn h_hex(s: &str) -> Vec<u8> {
    h(s)
}

criterion_group!(benches, bench);
criterion_main!(benches);
