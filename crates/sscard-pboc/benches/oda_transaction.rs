//! Host CPU time of the terminal side of a whole contact transaction with offline data
//! authentication, for both algorithm families (issue 6: SM2 ODA, target ≤ 1 ms).
//!
//! The card is the emulated bank card (`sscard-emu`, TEST PKI), but its answers are
//! recorded once and replayed: the kernel's terminal is deterministic (fixed date, time
//! and unpredictable numbers), so it sends the same commands every time and the
//! figure is the kernel's own work — selection, GPO, records, SDA and the ICC key
//! recovery, CDA verification of both GENERATE ACs, CVM, TRM, TAA and the issuer host
//! simulator's ARQC check — without the card's signing. A second figure runs the card
//! in process too, for comparison.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use criterion::{criterion_group, criterion_main, Criterion};
use sscard_apdu::{Exchange, Transport};
use sscard_emu::{DualCard, EmulatedReader, Runtime};
use sscard_emv::capk::CapkStore;
use sscard_emv::oda::testpki::TestPki;
use sscard_pboc::config::{TerminalConfig, TransactionData};
use sscard_pboc::contact::{self, Outcome};
use sscard_pboc::host::HostSimulator;
use sscard_pboc::traits::{AppChoice, Cardholder, Environment, PinEntry, Rng};
use sscard_pboc::verifier::EmvOda;
use zeroize::Zeroizing;

const TEST_PKI: &str = include_str!("../../../apdu-specs/pboc/test-pki.json");

struct Holder;
impl Cardholder for Holder {
    fn confirm_application(&mut self, _: &AppChoice<'_>) -> bool {
        true
    }
    fn offline_pin(&mut self, _: Option<u8>) -> PinEntry {
        PinEntry::Entered(Zeroizing::new(b"123456".to_vec()))
    }
    fn online_pin(&mut self) -> PinEntry {
        PinEntry::Unavailable
    }
    fn present_id(&mut self, _: Option<&[u8]>, _: Option<&[u8]>) -> bool {
        false
    }
}

struct Fixed(u8);
impl Rng for Fixed {
    fn fill(&mut self, out: &mut [u8]) {
        for b in out {
            self.0 = self.0.wrapping_mul(31).wrapping_add(7);
            *b = self.0;
        }
    }
}

/// Records the card's answers (a wrapper below the exchange layer).
struct Recorder<T> {
    inner: T,
    answers: Vec<Vec<u8>>,
}
impl<T: Transport> Transport for Recorder<T> {
    type Error = T::Error;
    fn transmit(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, T::Error> {
        let n = self.inner.transmit(command, response)?;
        self.answers.push(response[..n].to_vec());
        Ok(n)
    }
}

/// Replays recorded answers in order.
struct Replay<'a> {
    answers: &'a [Vec<u8>],
    next: usize,
}
impl Transport for Replay<'_> {
    type Error = sscard_emu::reader::EmulatedReaderError;
    fn transmit(&mut self, _: &[u8], response: &mut [u8]) -> Result<usize, Self::Error> {
        let a = &self.answers[self.next];
        self.next += 1;
        response[..a.len()].copy_from_slice(a);
        Ok(a.len())
    }
}

fn capks() -> CapkStore {
    let pki = TestPki::from_json(TEST_PKI).unwrap();
    let mut store = CapkStore::unionpay().unwrap();
    store.add(pki.sm2.capk.to_capk().unwrap()).unwrap();
    store.add(pki.rsa.capk.to_capk().unwrap()).unwrap();
    store
}

fn card() -> EmulatedReader<DualCard> {
    EmulatedReader::new(Runtime::new(sscard_emu::sample_card_with_bank().unwrap()))
}

fn run<T: Transport>(t: T, sm: bool, store: &CapkStore, host: &mut HostSimulator) -> (T, Outcome) {
    let cfg = TerminalConfig {
        sm_support: sm,
        random_selection: false,
        ..TerminalConfig::default()
    };
    let txn = TransactionData {
        amount: 100_000,
        date: [0x26, 0x11, 0x22],
        time: [0x10, 0x00, 0x00],
        ..TransactionData::default()
    };
    let mut ex = Exchange::new(t);
    let mut oda = EmvOda::new(store.clone());
    let r = contact::run(
        &mut ex,
        &cfg,
        &txn,
        &mut Environment {
            oda: &mut oda,
            cardholder: &mut Holder,
            issuer: host,
            rng: &mut Fixed(1),
        },
    )
    .unwrap();
    (ex.into_parts().0, r.outcome)
}

fn bench(c: &mut Criterion) {
    let store = capks();
    let profile = sscard_emv::perso::load(sscard_emu::pboc::BUILTIN_PROFILE).unwrap();
    let mut host = HostSimulator::for_application(&profile.applications[0]).unwrap();
    for (sm, name) in [(true, "sm2-sm4"), (false, "rsa-3des")] {
        let (rec, outcome) = run(
            Recorder {
                inner: card(),
                answers: Vec::new(),
            },
            sm,
            &store,
            &mut host,
        );
        assert_eq!(outcome, Outcome::ApprovedOnline);
        let answers = rec.answers;
        println!(
            "{name}: a full online transaction is {} APDUs",
            answers.len()
        );
        c.bench_function(&format!("terminal/{name}/online-with-cda"), |b| {
            b.iter(|| {
                let (_, o) = run(
                    Replay {
                        answers: &answers,
                        next: 0,
                    },
                    sm,
                    &store,
                    &mut host,
                );
                assert_eq!(o, Outcome::ApprovedOnline);
            })
        });
        c.bench_function(&format!("terminal+card/{name}/online-with-cda"), |b| {
            b.iter(|| {
                let (_, o) = run(card(), sm, &store, &mut host);
                assert_eq!(o, Outcome::ApprovedOnline);
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
