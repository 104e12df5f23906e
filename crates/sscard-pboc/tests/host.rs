//! The issuer host simulator against `sscard_emv::cryptogram` and the A.4 e-cash
//! vector, then end to end: kernel + fake card (computing real PBOC cryptograms) +
//! host, for an online purchase and the EC load driver.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod common;

use common::*;
use sscard_apdu::Exchange;
use sscard_emv::cryptogram::{self, AcInput, Family};
use sscard_emv::Tag;
use sscard_pboc::host::{CardKeys, Decision, HostSimulator, VerifiedArqc};
use sscard_pboc::traits::{Environment, Issuer, NoOda, OnlineRequest};
use sscard_pboc::{Outcome, TlvDb};

fn keys(ac: u8, smi: u8, family: Family) -> CardKeys {
    CardKeys {
        mk_ac: cryptogram::master_key(family, &[ac; 16]).unwrap(),
        mk_smi: cryptogram::master_key(family, &[smi; 16]).unwrap(),
    }
}

fn field55(input: &AcInput, arqc: &[u8; 8], alg: u8) -> Vec<u8> {
    let mut db = TlvDb::new();
    db.set(Tag::AMOUNT, &input.amount);
    db.set(Tag::AMOUNT_OTHER, &input.amount_other);
    db.set(Tag::TERMINAL_COUNTRY, &input.terminal_country);
    db.set(Tag::TVR, &input.tvr);
    db.set(Tag::TXN_CURRENCY, &input.currency);
    db.set(Tag::TXN_DATE, &input.date);
    db.set(Tag::TXN_TYPE, &[input.txn_type]);
    db.set(Tag::UNPREDICTABLE_NUMBER, &input.unpredictable_number);
    db.set(Tag::AIP, &input.aip);
    db.set(Tag::ATC, &input.atc.to_be_bytes());
    db.set(Tag::AC, arqc);
    let iad = [&[0x07, 0x01, 0x01][..], &input.cvr, &[alg]].concat();
    db.set(Tag::IAD, &iad);
    let tags: Vec<Tag> = db.iter().map(|(t, _)| t).collect();
    let mut out = Vec::new();
    db.encode(&tags, &mut out);
    out
}

fn sample_input() -> AcInput {
    AcInput {
        amount: [0, 0, 0, 0, 0x10, 0x00],
        amount_other: [0; 6],
        terminal_country: [0x01, 0x56],
        tvr: [0x80, 0, 0, 0x80, 0],
        currency: [0x01, 0x56],
        date: [0x26, 0x01, 0x01],
        txn_type: 0x00,
        unpredictable_number: [1, 2, 3, 4],
        aip: [0x1C, 0x00],
        atc: 0x0012,
        cvr: [0x03, 0xA0, 0x00, 0x00],
    }
}

fn request(f55: &[u8]) -> OnlineRequest<'_> {
    OnlineRequest {
        field55: f55,
        pan: None,
        psn: None,
        online_pin: None,
    }
}

#[test]
fn accepts_a_good_arqc_and_answers_the_arpc() {
    for (family, alg) in [(Family::Rsa3Des, 0x01), (Family::Sm2Sm4, 0x04)] {
        let k = keys(0x11, 0x22, family);
        let input = sample_input();
        let arqc = cryptogram::application_cryptogram(&k.mk_ac, &input).unwrap();
        let f55 = field55(&input, &arqc, alg);
        let mut host = match family {
            Family::Rsa3Des => HostSimulator::new(Some(k.clone()), None),
            Family::Sm2Sm4 => HostSimulator::new(None, Some(k.clone())),
        };
        let r = host.authorise(&request(&f55)).unwrap();
        assert_eq!(host.last_decision(), Some(Decision::Approved));
        assert_eq!(r.arc, *b"00");
        let arpc = cryptogram::arpc(&k.mk_ac, 0x0012, &arqc, b"00").unwrap();
        assert_eq!(r.auth_data.unwrap(), [&arpc[..], b"00"].concat());
        assert!(r.scripts.is_empty());
    }
}

#[test]
fn declines_a_flipped_bit() {
    let k = keys(0x11, 0x22, Family::Rsa3Des);
    let input = sample_input();
    let arqc = cryptogram::application_cryptogram(&k.mk_ac, &input).unwrap();
    let mut host = HostSimulator::new(Some(k.clone()), None);
    let mut bad = arqc;
    bad[7] ^= 0x01;
    let r = host
        .authorise(&request(&field55(&input, &bad, 0x01)))
        .unwrap();
    assert_eq!(r.arc, *b"05");
    assert_eq!(r.auth_data, None);
    assert_eq!(host.last_decision(), Some(Decision::BadCryptogram));
    // A flipped bit in the covered data (TVR) is caught too.
    let mut changed = input;
    changed.tvr[0] ^= 0x40;
    host.authorise(&request(&field55(&changed, &arqc, 0x01)))
        .unwrap();
    assert_eq!(host.last_decision(), Some(Decision::BadCryptogram));
    // The wrong family byte uses keys the host does not have.
    host.authorise(&request(&field55(&input, &arqc, 0x04)))
        .unwrap();
    assert_eq!(host.last_decision(), Some(Decision::NoKeys(Family::Sm2Sm4)));
    // Missing data.
    let f55 = field55(&input, &arqc, 0x01);
    let cut = &f55[..f55.len() - 12];
    host.authorise(&request(cut)).unwrap();
    assert_eq!(host.last_decision(), Some(Decision::MissingData(Tag::IAD)));
}

#[test]
fn load_request_gets_a_macd_72_script() {
    let k = keys(0x11, 0x22, Family::Rsa3Des);
    let mut input = sample_input();
    input.txn_type = 0x63;
    let arqc = cryptogram::application_cryptogram(&k.mk_ac, &input).unwrap();
    let mut host = HostSimulator::new(Some(k.clone()), None).with_ec_balance(500);
    let r = host
        .authorise(&request(&field55(&input, &arqc, 0x01)))
        .unwrap();
    assert_eq!(r.arc, *b"00");
    let balance = [0, 0, 0, 0, 0x15, 0x00]; // 500 + 1000
    let mac = cryptogram::script_mac(
        &k.mk_smi,
        0x12,
        &arqc,
        &[0x04, 0xDA, 0x9F, 0x79, 0x0A],
        &balance,
    )
    .unwrap();
    let cmd = [&[0x04, 0xDA, 0x9F, 0x79, 0x0A][..], &balance, &mac].concat();
    let want = t(0x72, &[t(0x9F18, &[0, 0, 0, 1]), t(0x86, &cmd)].concat());
    assert_eq!(r.scripts, want);
    assert_eq!(host.ec_balance, 1500);
}

#[test]
fn a4_ecash_vector() {
    // pboc-vectors.json self_computed_unconfirmed.ecash_demo_load
    let v: serde_json::Value =
        serde_json::from_str(include_str!("../../../test-vectors/pboc-vectors.json")).unwrap();
    let e = &v["self_computed_unconfirmed"]["ecash_demo_load"];
    let hx = |k: &str| h(e[k].as_str().unwrap());
    let mk = cryptogram::master_key(Family::Rsa3Des, &hx("mk")).unwrap();
    let host = HostSimulator::new(
        Some(CardKeys {
            mk_ac: mk.clone(),
            mk_smi: mk,
        }),
        None,
    );
    let verified = VerifiedArqc {
        family: Family::Rsa3Des,
        atc: 0x0012,
        arqc: hx("arqc").try_into().unwrap(),
        txn_type: 0x63,
        amount: 0,
    };
    let script = host.load_script(&verified, 104).unwrap();
    assert!(script.ends_with(&h("04DA9F790A 000000000104 523C7BE1")));
    assert_eq!(&script[script.len() - 4..], &hx("script_mac4")[..]);
    let auth = host.issuer_auth_data(&verified, *b"00").unwrap();
    assert_eq!(auth, [hx("arpc_arc3030"), h("3030")].concat());
}

fn keyed_card(k: &CardKeys) -> FakeCard {
    let mut card = FakeCard::debit();
    card.app().keys = Some((k.mk_ac.clone(), k.mk_smi.clone()));
    card
}

#[test]
fn end_to_end_online_purchase_with_issuer_authentication() {
    let k = keys(0x31, 0x32, Family::Rsa3Des);
    let mut card = keyed_card(&k);
    let mut host = HostSimulator::new(Some(k), None);
    let cfg = config();
    let tx = txn(60_000);
    let (mut oda, mut ch, mut rng) = (NoOda, TestCardholder::default(), SeqRng::default());
    let mut env = Environment {
        oda: &mut oda,
        cardholder: &mut ch,
        issuer: &mut host,
        rng: &mut rng,
    };
    let r = sscard_pboc::contact::run(&mut Exchange::new(&mut card), &cfg, &tx, &mut env).unwrap();
    assert_eq!(r.outcome, Outcome::ApprovedOnline);
    assert_eq!(r.tvr, [0x80, 0, 0, 0x80, 0]);
    assert_eq!(r.tsi, [0x78, 0]);
    assert_eq!(card.sent(0x82).len(), 1);
    assert_eq!(host.last_decision(), Some(Decision::Approved));
}

#[test]
fn end_to_end_sm4_family_chosen_by_df69() {
    let k = keys(0x41, 0x42, Family::Sm2Sm4);
    let mut card = keyed_card(&k);
    let mut host = HostSimulator::new(None, Some(k));
    let mut cfg = config();
    cfg.sm_support = true;
    let (mut oda, mut ch, mut rng) = (NoOda, TestCardholder::default(), SeqRng::default());
    let mut env = Environment {
        oda: &mut oda,
        cardholder: &mut ch,
        issuer: &mut host,
        rng: &mut rng,
    };
    let r = sscard_pboc::contact::run(&mut Exchange::new(&mut card), &cfg, &txn(60_000), &mut env)
        .unwrap();
    assert_eq!(r.outcome, Outcome::ApprovedOnline);
    assert_eq!(r.tvr[4], 0, "ARPC accepted");
}

fn run_load(
    card: &mut FakeCard,
    host: &mut HostSimulator,
    amount: u64,
) -> sscard_pboc::ec::LoadResult {
    let mut cfg = config();
    cfg.ec_support = true;
    let (mut oda, mut ch, mut rng) = (NoOda, TestCardholder::default(), SeqRng::default());
    let mut env = Environment {
        oda: &mut oda,
        cardholder: &mut ch,
        issuer: host,
        rng: &mut rng,
    };
    sscard_pboc::ec::load(&mut Exchange::new(card), &cfg, amount, &txn(0), &mut env).unwrap()
}

#[test]
fn ec_load_driver_sets_the_new_balance() {
    let k = keys(0x51, 0x52, Family::Rsa3Des);
    let mut card = keyed_card(&k);
    card.app().ec_balance = 2_000;
    let mut host = HostSimulator::new(Some(k), None).with_ec_balance(2_000);
    let r = run_load(&mut card, &mut host, 3_000);
    assert_eq!(r.transaction.outcome, Outcome::ApprovedOnline);
    assert_eq!(r.transaction.script_results, vec![[0x20, 0, 0, 0, 1]]);
    assert_eq!(r.transaction.tvr, [0x80, 0, 0, 0x08, 0]);
    assert_eq!(r.transaction.tsi, [0x7C, 0]);
    assert_eq!(r.balance_after, Some(5_000));
    assert_eq!(card.ec_balance(), 5_000);
    // 9C = 63 [U] and 9F7A = 01 went to the card.
    assert_eq!(card.sent(0xAE)[0][5 + 6 + 6 + 2 + 5 + 2 + 3 + 3], 0x63);
    assert_eq!(card.sent(0xA8)[0][9], 0x01);
}

#[test]
fn ec_load_with_a_bad_script_mac_leaves_the_balance() {
    let k = keys(0x51, 0x52, Family::Rsa3Des);
    let mut card = keyed_card(&k);
    card.app().ec_balance = 2_000;
    let wrong = CardKeys {
        mk_ac: k.mk_ac.clone(),
        mk_smi: cryptogram::master_key(Family::Rsa3Des, &[0x99; 16]).unwrap(),
    };
    let mut host = HostSimulator::new(Some(wrong), None).with_ec_balance(2_000);
    let r = run_load(&mut card, &mut host, 3_000);
    assert_eq!(r.transaction.outcome, Outcome::ApprovedOnline);
    assert_eq!(r.transaction.script_results, vec![[0x11, 0, 0, 0, 1]]);
    assert_eq!(r.transaction.tvr, [0x80, 0, 0, 0x08, 0x10]);
    assert_eq!(r.balance_after, Some(2_000));
}

#[test]
fn ec_load_declined_on_a_bad_arqc() {
    let k = keys(0x51, 0x52, Family::Rsa3Des);
    let mut card = keyed_card(&k);
    let other = keys(0x61, 0x52, Family::Rsa3Des);
    let mut host = HostSimulator::new(Some(other), None).with_ec_balance(2_000);
    let r = run_load(&mut card, &mut host, 3_000);
    assert_eq!(r.transaction.outcome, Outcome::DeclinedOnline);
    assert_eq!(host.last_decision(), Some(Decision::BadCryptogram));
    assert!(r.transaction.script_results.is_empty());
    assert_eq!(host.ec_balance, 2_000);
    assert_eq!(card.ec_balance(), 10_000);
}

#[test]
fn load_beyond_the_balance_limit_is_declined() {
    let k = keys(0x11, 0x22, Family::Rsa3Des);
    let mut input = sample_input();
    input.txn_type = 0x63;
    let arqc = cryptogram::application_cryptogram(&k.mk_ac, &input).unwrap();
    let mut host = HostSimulator::new(Some(k), None).with_ec_balance(14_500);
    host.ec_balance_limit = Some(15_000);
    let r = host
        .authorise(&request(&field55(&input, &arqc, 0x01)))
        .unwrap();
    assert_eq!(r.arc, *b"05");
    assert!(r.scripts.is_empty());
    assert_eq!(host.last_decision(), Some(Decision::OverBalanceLimit));
    assert_eq!(host.ec_balance, 14_500);
}
