//! The card feeder: EJECT files the card in the reader and puts in a fresh blank one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use sscard_emu::feeder::{Feeder, EJECT};
use sscard_emu::persist::CardState;
use sscard_emu::Runtime;

fn feeder(dir: &std::path::Path, state: Option<std::path::PathBuf>) -> Runtime<Feeder> {
    let card = sscard_emu::blank_card().unwrap();
    Runtime::new(Feeder::new(card, dir, state, Box::new(sscard_emu::blank_card)).unwrap())
}

#[test]
fn eject_files_the_card_and_feeds_a_blank_one() {
    let dir = tempfile_dir("eject");
    let mut rt = feeder(&dir, None);
    // Lifecycle GET DATA works on the blank card; the card answers before and after.
    assert_eq!(rt.transmit(&EJECT), [0x90, 0x00]);
    assert_eq!(rt.card().issued(), 1);
    let first: CardState =
        serde_json::from_slice(&std::fs::read(dir.join("card-0001.json")).unwrap()).unwrap();
    assert_eq!(first, sscard_emu::blank_card().unwrap().state());
    assert_eq!(rt.transmit(&EJECT), [0x90, 0x00]);
    assert!(dir.join("card-0002.json").exists());
    // Wrong P2 and data are refused, nothing filed; other P1 (ERASE is 80 EE 00 00)
    // reach the card, which wants the transport key first.
    assert_eq!(rt.transmit(&[0x80, 0xEE, 0x01, 0x01]), [0x6A, 0x86]);
    assert_eq!(rt.transmit(&[0x80, 0xEE, 0x00, 0x00]), [0x69, 0x82]);
    assert_eq!(
        rt.transmit(&[0x80, 0xEE, 0x01, 0x00, 0x01, 0x00]),
        [0x67, 0x00]
    );
    assert_eq!(rt.card().issued(), 2);
    // A restarted feeder continues the numbering.
    let mut rt = feeder(&dir, None);
    assert_eq!(rt.card().issued(), 2);
    assert_eq!(rt.transmit(&EJECT), [0x90, 0x00]);
    assert!(dir.join("card-0003.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn with_a_state_file_the_new_blank_card_replaces_the_issued_one() {
    let dir = tempfile_dir("state");
    let state = dir.join("reader.json");
    let mut rt = feeder(&dir.join("cards"), Some(state.clone()));
    assert_eq!(rt.transmit(&EJECT), [0x90, 0x00]);
    let saved: CardState = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(saved, sscard_emu::blank_card().unwrap().state());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_blank_card_with_a_bank_application_is_filed_with_its_bank_state() {
    use sscard_emu::pboc::{PbocFileJournal, LIFECYCLE_BLANK, LIFECYCLE_PERSONALISING};
    let dir = tempfile_dir("bank");
    let state = dir.join("reader.json");
    let card = sscard_emu::blank_card_with_bank().unwrap();
    let feeder = Feeder::new(
        card,
        dir.join("cards"),
        Some(state.clone()),
        Box::new(sscard_emu::blank_card_with_bank),
    )
    .unwrap();
    let mut rt = Runtime::new(feeder).with_paging(sscard_emu::PagingMode::Direct);
    // Start personalising the bank application: one DGI (the IAD template).
    assert_eq!(
        rt.transmit(&hex("00A4040008A00000033301010100"))[..2],
        [0x6F, 0x0A]
    );
    assert_eq!(rt.transmit(&hex("80E200000692000301010A")), [0x90, 0x00]);
    assert_eq!(rt.transmit(&EJECT), [0x90, 0x00]);
    let filed = PbocFileJournal::load(&dir.join("cards/card-0001.json.bank"))
        .unwrap()
        .unwrap();
    assert_eq!(filed.perso.unwrap().lifecycle(), LIFECYCLE_PERSONALISING);
    // The reader's state files now hold the fresh blank card.
    let fresh = PbocFileJournal::load(&dir.join("reader.json.bank"))
        .unwrap()
        .unwrap();
    assert_eq!(fresh.perso.unwrap().lifecycle(), LIFECYCLE_BLANK);
    let _ = std::fs::remove_dir_all(&dir);
}

fn hex(text: &str) -> Vec<u8> {
    sscard_apdu::hex::to_vec(text).unwrap()
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sscard-feeder-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
