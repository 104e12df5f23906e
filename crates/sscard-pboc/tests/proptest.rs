//! Arbitrary card responses at every kernel step never panic: the kernel ends with
//! an outcome (usually a termination) or a reader error. Two generators: a card that
//! answers arbitrary bytes to everything, and the fake card with one mutation per
//! command (replaced, truncated, bit-flipped, status word changed), which reaches the
//! later steps (CVM, TRM, GAC, issuer scripts, qPBOC, EC readers).
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod common;

use common::*;
use proptest::prelude::*;
use sscard_apdu::{Exchange, Transport, TransportErrorKind};
use sscard_pboc::traits::{Environment, NoOda};
use sscard_pboc::IssuerResponse;

#[derive(Clone, Debug)]
enum Mutation {
    Keep,
    Replace(Vec<u8>),
    Truncate(usize),
    Flip(usize, u8),
    Status(u16),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => Just(Mutation::Keep),
        1 => proptest::collection::vec(any::<u8>(), 0..80).prop_map(Mutation::Replace),
        1 => (0usize..40).prop_map(Mutation::Truncate),
        2 => (0usize..200, 1u8..=255).prop_map(|(p, x)| Mutation::Flip(p, x)),
        1 => prop_oneof![
            Just(0x6A83u16), Just(0x6985), Just(0x6283), Just(0x63C0), Just(0x6A81),
            Just(0x6100), Just(0x6C05), Just(0x9000), Just(0x6700)
        ].prop_map(Mutation::Status),
    ]
}

/// The fake card behind per-command mutations.
struct Mutated {
    card: FakeCard,
    mutations: Vec<Mutation>,
    n: usize,
}

impl Transport for Mutated {
    type Error = TransportErrorKind;

    fn transmit(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, Self::Error> {
        let mut buf = vec![0u8; 8192];
        let len = self.card.transmit(command, &mut buf)?;
        let mut r = buf[..len].to_vec();
        let m = self
            .mutations
            .get(self.n)
            .cloned()
            .unwrap_or(Mutation::Keep);
        self.n += 1;
        match m {
            Mutation::Keep => {}
            Mutation::Replace(v) => r = v,
            Mutation::Truncate(n) => r.truncate(n),
            Mutation::Flip(p, x) => {
                if !r.is_empty() {
                    let i = p % r.len();
                    r[i] ^= x;
                }
            }
            Mutation::Status(sw) => {
                let keep = r.len().saturating_sub(2);
                r.truncate(keep);
                r.extend(sw.to_be_bytes());
            }
        }
        let out = response
            .get_mut(..r.len())
            .ok_or(TransportErrorKind::BufferTooSmall { needed: r.len() })?;
        out.copy_from_slice(&r);
        Ok(r.len())
    }
}

/// Answers arbitrary bytes, cycling through a list.
struct Random {
    answers: Vec<Vec<u8>>,
    n: usize,
}

impl Transport for Random {
    type Error = TransportErrorKind;

    fn transmit(&mut self, _: &[u8], response: &mut [u8]) -> Result<usize, Self::Error> {
        let r = &self.answers[self.n % self.answers.len()];
        self.n += 1;
        let out = response
            .get_mut(..r.len())
            .ok_or(TransportErrorKind::Other)?;
        out.copy_from_slice(r);
        Ok(r.len())
    }
}

fn issuer_with_scripts() -> FixedIssuer {
    let s71 = t(
        0x71,
        &[t(0x9F18, &h("01020304")), t(0x86, &h("841E000004AABBCCDD"))].concat(),
    );
    let s72 = t(0x72, &t(0x86, &h("04DA9F7A0501AABBCCDD")));
    FixedIssuer {
        response: Some(IssuerResponse {
            arc: *b"00",
            auth_data: Some(h("01020304050607083030")),
            scripts: [s71, s72].concat(),
        }),
        requests: Vec::new(),
    }
}

fn contact_on<T: Transport>(transport: T, amount: u64, pins: bool) {
    let mut cfg = config();
    cfg.ec_support = amount.is_multiple_of(2);
    cfg.random_selection = true;
    let (mut oda, mut rng) = (RecordingOda::default(), SeqRng::default());
    let mut ch = if pins {
        TestCardholder::pins(&[b"1234", b"0000"])
    } else {
        TestCardholder::default()
    };
    let mut issuer = issuer_with_scripts();
    let mut env = Environment {
        oda: &mut oda,
        cardholder: &mut ch,
        issuer: &mut issuer,
        rng: &mut rng,
    };
    let mut ex = Exchange::new(transport);
    let _ = sscard_pboc::contact::run(&mut ex, &cfg, &txn(amount), &mut env);
    let _ = sscard_pboc::ec::read_info(&mut ex);
    let _ = sscard_pboc::ec::read_transaction_log(&mut ex, None);
    let _ = sscard_pboc::ec::read_load_log(&mut ex, None, &Default::default());
}

fn rich_card() -> FakeCard {
    let mut card = FakeCard::debit();
    let app = card.app();
    app.aip = [0x7D, 0x00];
    app.set(0x8E, Some(&h("00001388 00002710 4103 4203 1E03 1F00")));
    app.set(0x9F14, Some(&[2]));
    app.set(0x9F23, Some(&[4]));
    app.get_data.insert(0x9F36, h("000A"));
    app.get_data.insert(0x9F13, h("0005"));
    app.get_data.insert(0x9F4D, h("0B0A"));
    app.get_data.insert(0x9F4F, h("9A03 9F0206 9F3602"));
    card.transaction_log = vec![h("260101 000000001000 0012")];
    card
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_answers_never_panic(
        answers in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..12),
        amount in 0u64..100_000,
    ) {
        contact_on(Random { answers: answers.clone(), n: 0 }, amount, true);
        let mut env_oda = NoOda;
        let (mut ch, mut issuer, mut rng) = (TestCardholder::default(), issuer_with_scripts(), SeqRng::default());
        let mut env = Environment { oda: &mut env_oda, cardholder: &mut ch, issuer: &mut issuer, rng: &mut rng };
        let mut ex = Exchange::new(Random { answers, n: 0 });
        let _ = sscard_pboc::qpboc::run(&mut ex, &config(), &txn(amount), &mut env);
    }

    #[test]
    fn mutated_contact_transactions_never_panic(
        mutations in proptest::collection::vec(mutation(), 0..40),
        amount in prop_oneof![Just(1_000u64), Just(20_000), Just(50_000), 0u64..200_000],
        pins in any::<bool>(),
    ) {
        contact_on(Mutated { card: rich_card(), mutations, n: 0 }, amount, pins);
    }

    #[test]
    fn mutated_qpboc_transactions_never_panic(
        mutations in proptest::collection::vec(mutation(), 0..12),
        amount in 0u64..600_000,
    ) {
        let mut h = Harness::qpboc();
        h.txn.amount = amount;
        let card = std::mem::replace(&mut h.card, FakeCard::debit());
        let mut env = Environment {
            oda: &mut h.oda,
            cardholder: &mut h.cardholder,
            issuer: &mut h.issuer,
            rng: &mut h.rng,
        };
        let mut ex = Exchange::new(Mutated { card, mutations, n: 0 });
        let _ = sscard_pboc::qpboc::run(&mut ex, &h.cfg, &h.txn, &mut env);
    }
}

#[test]
fn rich_card_reaches_every_step_unmutated() {
    // The mutation tests only mean something if the unmutated run goes the whole way.
    let mut card = rich_card();
    let mut cfg = config();
    cfg.random_selection = false;
    let (mut oda, mut rng) = (RecordingOda::default(), SeqRng::default());
    let mut ch = TestCardholder::pins(&[b"1234"]);
    let mut issuer = issuer_with_scripts();
    let mut env = Environment {
        oda: &mut oda,
        cardholder: &mut ch,
        issuer: &mut issuer,
        rng: &mut rng,
    };
    let r = sscard_pboc::contact::run(&mut Exchange::new(&mut card), &cfg, &txn(20_000), &mut env)
        .unwrap();
    assert_eq!(r.outcome, sscard_pboc::Outcome::ApprovedOnline);
    for ins in [0xA4, 0xB2, 0xA8, 0xCA, 0x20, 0xAE, 0x82, 0x1E, 0xDA] {
        assert!(!card.sent(ins).is_empty(), "INS {ins:02X} not reached");
    }
}
