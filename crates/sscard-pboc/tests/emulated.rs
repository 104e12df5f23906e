//! The kernel against the emulated bank card (`sscard-emu`, profile
//! `apdu-specs/pboc/card.json` on the TEST PKI) with the real ODA verifier
//! ([`EmvOda`]) and the issuer host simulator on the profile's TEST keys: whole
//! transactions, both algorithm families, online and electronic cash.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use sscard_apdu::Exchange;
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
const PROFILE: &str = include_str!("../../../apdu-specs/pboc/card.json");

struct Holder(&'static str);

impl Cardholder for Holder {
    fn confirm_application(&mut self, _: &AppChoice<'_>) -> bool {
        true
    }
    fn offline_pin(&mut self, _: Option<u8>) -> PinEntry {
        PinEntry::Entered(Zeroizing::new(self.0.as_bytes().to_vec()))
    }
    fn online_pin(&mut self) -> PinEntry {
        PinEntry::Unavailable
    }
    fn present_id(&mut self, _: Option<&[u8]>, _: Option<&[u8]>) -> bool {
        false
    }
}

struct Counter(u8);

impl Rng for Counter {
    fn fill(&mut self, out: &mut [u8]) {
        for b in out {
            self.0 = self.0.wrapping_add(17);
            *b = self.0;
        }
    }
}

fn capks() -> CapkStore {
    let pki = TestPki::from_json(TEST_PKI).unwrap();
    let mut store = CapkStore::unionpay().unwrap();
    store.add(pki.sm2.capk.to_capk().unwrap()).unwrap();
    store.add(pki.rsa.capk.to_capk().unwrap()).unwrap();
    store
}

fn card() -> Exchange<EmulatedReader<DualCard>> {
    Exchange::new(EmulatedReader::new(Runtime::new(
        sscard_emu::sample_card_with_bank().unwrap(),
    )))
}

fn host() -> HostSimulator {
    let profile = sscard_emv::perso::load(PROFILE).unwrap();
    HostSimulator::for_application(&profile.applications[0]).unwrap()
}

fn txn(amount: u64) -> TransactionData {
    TransactionData {
        amount,
        date: [0x26, 0x11, 0x22],
        time: [0x10, 0x00, 0x00],
        ..TransactionData::default()
    }
}

#[test]
fn online_purchase_with_oda_for_both_families() {
    for sm in [false, true] {
        let mut ex = card();
        let cfg = TerminalConfig {
            sm_support: sm,
            random_selection: false,
            ..TerminalConfig::default()
        };
        let mut oda = EmvOda::new(capks());
        let mut issuer = host();
        let result = contact::run(
            &mut ex,
            &cfg,
            &txn(100_000),
            &mut Environment {
                oda: &mut oda,
                cardholder: &mut Holder("123456"),
                issuer: &mut issuer,
                rng: &mut Counter(0),
            },
        )
        .unwrap();
        assert_eq!(
            result.outcome,
            Outcome::ApprovedOnline,
            "sm {sm}: {result:?}"
        );
        assert_eq!(oda.last_error(), None);
        // ODA performed and not failed (TVR byte 1: 80 not performed, 40 SDA, 08 DDA,
        // 04 CDA failed), and the cardholder verified by offline PIN.
        assert_eq!(result.tvr[0] & 0xCC, 0, "sm {sm}: TVR {:02X?}", result.tvr);
        assert_eq!(result.tsi[0] & 0x80, 0x80, "ODA performed");
        assert_eq!(result.cvm_results[2], 0x02, "CVM successful");
        // The issuer saw an ARQC of the family the terminal chose.
        let iad = result.card.get(sscard_emv::Tag::IAD).unwrap();
        assert_eq!(iad[7], if sm { 0x04 } else { 0x01 });
    }
}

#[test]
fn a_wrong_pin_is_reported_and_a_card_on_an_unknown_capk_fails_oda() {
    let mut ex = card();
    let cfg = TerminalConfig {
        random_selection: false,
        ..TerminalConfig::default()
    };
    // Only the real UnionPay keys: the TEST CA is unknown, so ODA fails.
    let mut oda = EmvOda::new(CapkStore::unionpay().unwrap());
    let mut issuer = host();
    let result = contact::run(
        &mut ex,
        &cfg,
        &txn(100_000),
        &mut Environment {
            oda: &mut oda,
            cardholder: &mut Holder("111111"),
            issuer: &mut issuer,
            rng: &mut Counter(0),
        },
    )
    .unwrap();
    assert!(matches!(
        oda.last_error(),
        Some(sscard_emv::OdaError::UnknownCapk { .. })
    ));
    assert_ne!(
        result.tvr[0] & 0x4C,
        0,
        "an ODA failure bit: {:02X?}",
        result.tvr
    );
    // Wrong offline PIN until the card blocks it: TVR byte 3 "PIN try limit exceeded"
    // (20), and the offline PIN method did not succeed.
    assert_eq!(
        result.tvr[2] & 0x20,
        0x20,
        "TVR {:02X?} CVM {:02X?}",
        result.tvr,
        result.cvm_results
    );
    assert!(
        !(result.cvm_results[0] & 0x3F == 0x01 && result.cvm_results[2] == 0x02),
        "CVM {:02X?}",
        result.cvm_results
    );
}

#[test]
fn electronic_cash_offline_purchase_lowers_the_balance() {
    let mut ex = card();
    let cfg = TerminalConfig {
        ec_support: true,
        random_selection: false,
        ..TerminalConfig::default()
    };
    let before = sscard_pboc::ec::read_info(&mut ex).unwrap_or_default();
    let mut oda = EmvOda::new(capks());
    let result = contact::run(
        &mut ex,
        &cfg,
        &txn(1_000),
        &mut Environment {
            oda: &mut oda,
            cardholder: &mut Holder("123456"),
            issuer: &mut sscard_pboc::traits::NoIssuer,
            rng: &mut Counter(3),
        },
    )
    .unwrap();
    assert_eq!(result.outcome, Outcome::ApprovedOffline, "{result:?}");
    let info = sscard_pboc::ec::read_info(&mut ex).unwrap();
    assert_eq!(
        info.balance,
        Some(10_000 - 1_000),
        "before {:?}",
        before.balance
    );
}
