//! The bank application issued onto a blank emulated card from the bank personalisation
//! profile (`apdu-specs/pboc/bank-issuer.json`), then used by the PBOC kernel: offline
//! data authentication passes for both chains on the card's own certificates, and an
//! online transaction's ARQC verifies under the keys derived from the issuer master keys.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use sscard_apdu::Exchange;
use sscard_emu::{DualCard, EmulatedReader, Runtime};
use sscard_emv::capk::CapkStore;
use sscard_emv::cryptogram::Family;
use sscard_issue::bank::{self, BankError, BankHolder, BankProfile};
use sscard_pboc::config::{TerminalConfig, TransactionData};
use sscard_pboc::contact::{self, Outcome};
use sscard_pboc::host::{CardKeys, HostSimulator};
use sscard_pboc::traits::{AppChoice, Cardholder, Environment, PinEntry, Rng};
use sscard_pboc::verifier::EmvOda;
use zeroize::Zeroizing;

const PAN: &str = "6228000112345676";

fn profile() -> BankProfile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../apdu-specs/pboc/bank-issuer.json");
    BankProfile::load(&path).unwrap()
}

fn holder(pan: &str) -> BankHolder<'_> {
    BankHolder {
        pan,
        psn: 1,
        expiry: "20361231",
        effective: "20261122",
        id_number: None,
    }
}

fn blank() -> Exchange<EmulatedReader<DualCard>> {
    Exchange::new(EmulatedReader::new(Runtime::new(
        sscard_emu::blank_card_with_bank().unwrap(),
    )))
}

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

struct Counter(u8);

impl Rng for Counter {
    fn fill(&mut self, out: &mut [u8]) {
        for b in out {
            self.0 = self.0.wrapping_add(29);
            *b = self.0;
        }
    }
}

fn capks(p: &BankProfile) -> CapkStore {
    let mut store = CapkStore::unionpay().unwrap();
    store.add(p.test_pki().sm2.capk.to_capk().unwrap()).unwrap();
    store.add(p.test_pki().rsa.capk.to_capk().unwrap()).unwrap();
    store
}

/// A host that knows only keys derived here from the published IMKs of the profile file.
fn derived_host(p: &BankProfile, pan: &str) -> HostSimulator {
    let keys = |family| {
        let k = p.card_keys(family, pan, 1).unwrap();
        CardKeys {
            mk_ac: sscard_emv::cryptogram::master_key(family, &k.mk_ac).unwrap(),
            mk_smi: sscard_emv::cryptogram::master_key(family, &k.mk_smi).unwrap(),
        }
    };
    HostSimulator::new(Some(keys(Family::Rsa3Des)), Some(keys(Family::Sm2Sm4)))
}

fn pay(
    ex: &mut Exchange<EmulatedReader<DualCard>>,
    p: &BankProfile,
    host: &mut HostSimulator,
    sm: bool,
) -> (contact::TransactionResult, Option<sscard_emv::OdaError>) {
    let cfg = TerminalConfig {
        sm_support: sm,
        random_selection: false,
        ..TerminalConfig::default()
    };
    let mut oda = EmvOda::new(capks(p));
    let result = contact::run(
        ex,
        &cfg,
        &TransactionData {
            amount: 100_000,
            date: [0x26, 0x11, 0x22],
            time: [0x10, 0x00, 0x00],
            ..TransactionData::default()
        },
        &mut Environment {
            oda: &mut oda,
            cardholder: &mut Holder,
            issuer: host,
            rng: &mut Counter(1),
        },
    )
    .unwrap();
    (result, oda.last_error())
}

#[test]
fn an_issued_bank_application_passes_oda_and_its_arqc_verifies_under_the_derived_keys() {
    let p = profile();
    let card = p.personalise(&holder(PAN)).unwrap();
    let mut ex = blank();
    assert_eq!(
        bank::lifecycle(&mut ex, &card.aid).unwrap().0,
        bank::LIFECYCLE_BLANK
    );
    let sent = bank::write(&mut ex, &card, p.dek()).unwrap();
    assert!(sent >= 5, "{sent} STORE DATA commands");
    assert_eq!(
        bank::lifecycle(&mut ex, &card.aid).unwrap().0,
        bank::LIFECYCLE_PERSONALISED
    );
    for sm in [false, true] {
        let mut host = derived_host(&p, PAN);
        let (result, oda_error) = pay(&mut ex, &p, &mut host, sm);
        assert_eq!(
            result.outcome,
            Outcome::ApprovedOnline,
            "sm {sm}: {result:?}"
        );
        assert_eq!(oda_error, None, "sm {sm}");
        assert_eq!(result.tvr[0] & 0xCC, 0, "sm {sm}: TVR {:02X?}", result.tvr);
        assert_eq!(result.tsi[0] & 0x80, 0x80, "ODA performed");
        // The card carries the holder's PAN.
        let pan = result.card.get(sscard_emv::Tag(0x5A)).unwrap();
        assert_eq!(sscard_apdu::hex::to_string(pan), PAN);
    }
    // The template's (undiversified) keys do not verify this card's ARQC.
    let template =
        sscard_emv::perso::load(include_str!("../../../apdu-specs/pboc/card.json")).unwrap();
    let mut wrong = HostSimulator::for_application(&template.applications[0]).unwrap();
    let (result, _) = pay(&mut ex, &p, &mut wrong, false);
    assert_ne!(result.outcome, Outcome::ApprovedOnline, "{result:?}");
}

#[test]
fn two_holders_get_different_keys_certificates_and_records() {
    let p = profile();
    let a = p.personalise(&holder(PAN)).unwrap();
    let b = p.personalise(&holder("6228000122223335")).unwrap();
    let (aa, ba) = (&a.profile.applications[0], &b.profile.applications[0]);
    assert_ne!(aa.keys_rsa.mk_ac, ba.keys_rsa.mk_ac);
    assert_ne!(aa.keys_sm.mk_ac, ba.keys_sm.mk_ac);
    assert_ne!(aa.icc_sm2_private_key, ba.icc_sm2_private_key);
    assert_ne!(
        aa.record_tag(Family::Rsa3Des, 0x9F46),
        ba.record_tag(Family::Rsa3Des, 0x9F46)
    );
    // The 3DES card keys are EMV Option A of the profile's IMKs.
    let imk = sscard_apdu::hex::decode_array::<16>("0123456789ABCDEFFEDCBA9876543210").unwrap();
    assert_eq!(
        aa.keys_rsa.mk_ac,
        bank::derive_card_key(Family::Rsa3Des, &imk, PAN, 1).unwrap()
    );
    // Deterministic: the same holder gives the same DGIs (a re-issue writes the same card).
    assert_eq!(p.personalise(&holder(PAN)).unwrap().dgis, a.dgis);
}

#[test]
fn bad_pans_dates_and_cards_are_refused() {
    let p = profile();
    for pan in [
        "6228000112345677",
        "62280001123",
        "6228000A12345676",
        "6011000990139424",
    ] {
        assert!(
            matches!(p.personalise(&holder(pan)), Err(BankError::Pan { .. })),
            "{pan}"
        );
    }
    let mut late = holder(PAN);
    late.expiry = "20500101";
    assert!(matches!(p.personalise(&late), Err(BankError::Date(_))));
    // A personalised card is not written again; a half-personalised one is reported.
    let card = p.personalise(&holder(PAN)).unwrap();
    let mut ex = blank();
    bank::write(&mut ex, &card, p.dek()).unwrap();
    assert!(matches!(
        bank::write(&mut ex, &card, p.dek()),
        Err(BankError::AlreadyPersonalised)
    ));
    let mut ex = blank();
    let cmds = bank::store_data_commands(&card.dgis, p.dek()).unwrap();
    bank::lifecycle(&mut ex, &card.aid).unwrap();
    let mut buf = [0u8; 64];
    let first = &cmds[0];
    let cmd =
        sscard_apdu::CommandBuilder::new(first[0], first[1], first[2], first[3]).data(&first[5..]);
    ex.send(&cmd, &mut buf).unwrap().success().unwrap();
    assert!(matches!(
        bank::write(&mut ex, &card, p.dek()),
        Err(BankError::HalfPersonalised { stored }) if stored > 0
    ));
    // A card without a bank application.
    let mut plain = Exchange::new(EmulatedReader::new(Runtime::new(
        sscard_emu::blank_card().unwrap(),
    )));
    assert!(matches!(
        bank::lifecycle(&mut plain, &card.aid),
        Err(BankError::NoApplication { .. })
    ));
}

#[test]
fn a_template_with_an_id_number_gets_the_holders() {
    // card.json with 9F61/9F62 placeholders added to SFI 1 record 1.
    let card = include_str!("../../../apdu-specs/pboc/card.json");
    let old = "702D57116228000100001117D301222010000000005F200E544553542F50424F4320434152449F1F06303030303030";
    assert!(card.contains(old));
    let new = "704657116228000100001117D301222010000000005F200E544553542F50424F4320434152449F1F063030303030309F61123030303030303030303030303030303030309F620100";
    let card = card.replace(old, new);
    let pki = include_str!("../../../apdu-specs/pboc/test-pki.json");
    let settings = include_str!("../../../apdu-specs/pboc/bank-issuer.json");
    let p = BankProfile::from_texts(settings, &card, pki).unwrap();
    let mut h = holder(PAN);
    h.id_number = Some("11010119900101100X");
    let issued = p.personalise(&h).unwrap();
    let app = &issued.profile.applications[0];
    assert_eq!(
        app.record_tag(Family::Rsa3Des, 0x9F61),
        Some(&b"11010119900101100X"[..])
    );
    assert_eq!(app.record_tag(Family::Rsa3Des, 0x9F62), Some(&[0x00][..]));
    // The shipped template has no 9F61: nothing is added.
    let plain = profile().personalise(&h).unwrap();
    assert_eq!(
        plain.profile.applications[0].record_tag(Family::Rsa3Des, 0x9F61),
        None
    );
}
