//! Power cuts at every write step: after a restart the card holds the old state or the
//! new one, never a mix, and the PIN try counter is always counted before the check.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use sscard_apdu::hex;
use sscard_crypto::auth;
use sscard_crypto::kdf::{DivPath, EmulationScheme, KeyScheme};
use sscard_crypto::keys::{AnyKey, Des3Key};
use sscard_emu::persist::{CardState, FileJournal, TearPoint};
use sscard_emu::{Runtime, SsCard};
use sscard_fs::keys::KeySet;
use sscard_fs::{Image, EMULATION_KEYS_JSON, FULL_IMAGE_JSON};

const SELECT: &str = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF";

fn counter_entropy() -> Box<dyn sscard_emu::cos::Entropy> {
    let mut c = 0u8;
    Box::new(move |out: &mut [u8]| {
        for b in out {
            c = c.wrapping_add(1);
            *b = c;
        }
    })
}

fn card(state_file: &Path) -> Runtime<SsCard> {
    let profile = sscard_fs::builtin_profile().unwrap();
    let image = Image::from_json(FULL_IMAGE_JSON).unwrap();
    let restore = FileJournal::load(state_file).unwrap();
    let card = SsCard::with_entropy(&profile, &image, counter_entropy())
        .unwrap()
        .persistent(Box::new(FileJournal::new(state_file)), restore)
        .unwrap();
    Runtime::new(card)
}

fn tx(rt: &mut Runtime<SsCard>, apdu: &str) -> String {
    hex::to_string(&rt.transmit(&hex::to_vec(apdu).unwrap()))
}

/// The card's key `id`, diversified as the emulated card (and a PSAM) derive it.
fn card_key(id: u8) -> AnyKey {
    let keys = KeySet::from_json(EMULATION_KEYS_JSON).unwrap();
    let entry = keys.by_card_key(id).unwrap();
    let atr = hex::to_vec(&Image::from_json(FULL_IMAGE_JSON).unwrap().atr).unwrap();
    let path =
        DivPath::from_card(&atr, "330100D15600000500A1B2C3D4E5F607", entry.levels()).unwrap();
    EmulationScheme
        .diversify(&AnyKey::Des3(Des3Key::from_double(*entry.des3)), &path)
        .unwrap()
}

/// EXTERNAL AUTHENTICATE with card key `id`, as a PSAM would compute it.
fn ext_auth(rt: &mut Runtime<SsCard>, id: u8) -> String {
    let r = tx(rt, "0084000008");
    let r: [u8; 8] = hex::to_vec(&r[..16]).unwrap().try_into().unwrap();
    let c = auth::cryptogram(&EmulationScheme, &card_key(id), &r, &r).unwrap();
    tx(
        rt,
        &format!(
            "008200{id:02X}10{}{}",
            hex::to_string(&c),
            hex::to_string(&r)
        ),
    )
}

/// EXTERNAL AUTHENTICATE with the UK of EF05/EF06 (key 04).
fn ext_auth_04(rt: &mut Runtime<SsCard>) -> String {
    ext_auth(rt, 0x04)
}

/// RELOAD PIN to 654321 as a terminal does it: external authentication with the PUK
/// (06), a challenge, the PIN block under the STK's (09) process key, and the MAC.
/// Returns the first answer that is not 9000, else the reload's.
fn reload_pin(rt: &mut Runtime<SsCard>) -> String {
    let auth = ext_auth(rt, 0x06);
    if auth != "9000" {
        return auth;
    }
    let r = tx(rt, "0084000008");
    if !r.ends_with("9000") {
        return r;
    }
    let challenge: [u8; 8] = hex::to_vec(&r[..16]).unwrap().try_into().unwrap();
    let process = EmulationScheme
        .process_key(&card_key(0x09), &challenge)
        .unwrap();
    let mut block = *sscard_crypto::pin::Pin::new("654321")
        .unwrap()
        .card_block_des3()
        .unwrap();
    process.ecb_encrypt(&mut block).unwrap();
    let mut mac = sscard_crypto::mac::PsamMac::new(&process, &[0; 8]).unwrap();
    mac.update(&[0x84, 0x24, 0x00, 0x01, 0x0C]);
    mac.update(&block);
    let mac = mac.finalize();
    tx(
        rt,
        &format!(
            "842400010C{}{}",
            hex::to_string(&block),
            hex::to_string(&mac[..4])
        ),
    )
}

/// One write operation after a common setup; returns the card's answer to it.
type Op = fn(&mut Runtime<SsCard>) -> String;

fn setup(rt: &mut Runtime<SsCard>) {
    assert_eq!(tx(rt, SELECT), "611B");
    assert_eq!(ext_auth_04(rt), "9000");
}

const OPS: [(&str, Op); 5] = [
    ("update record", |rt| {
        tx(rt, "00DC072C0B0709423939393939393939")
    }),
    ("verify, wrong PIN", |rt| tx(rt, "0020000003000000")),
    ("verify, right PIN", |rt| tx(rt, "0020000003123456")),
    ("change PIN", |rt| tx(rt, "805E010007123456FF654321")),
    ("reload PIN", reload_pin),
];

fn state_after(dir: &Path, name: &str, op: Option<Op>) -> (CardState, Option<String>) {
    let file = dir.join(name);
    let mut rt = card(&file);
    setup(&mut rt);
    let answer = op.map(|op| op(&mut rt));
    (rt.card().state(), answer)
}

#[test]
fn every_cut_leaves_old_or_new() {
    let dir = std::env::temp_dir().join(format!("sscard-tearing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cases = 0;
    for (name, op) in OPS {
        let (old, _) = state_after(&dir, &format!("old-{cases}.json"), None);
        let (new, clean_answer) = state_after(&dir, &format!("new-{cases}.json"), Some(op));
        // Every commit the operation makes, cut at every step.
        for nth in 0..3 {
            for point in TearPoint::ALL {
                let file = dir.join(format!("torn-{cases}.json"));
                let mut rt = card(&file);
                setup(&mut rt);
                rt.card_mut()
                    .set_journal(Box::new(FileJournal::new(&file).tearing(point, nth)));
                let answer = op(&mut rt);
                drop(rt);
                // Power back on: a fresh card from the state file.
                let restarted = card(&file);
                let state = restarted.card().state();
                // A PIN check (VERIFY, CHANGE PIN) may also stop between counting the try
                // and the comparison:
                // then the counted try is on disk (never a free try), nothing else.
                let mut counted = old.clone();
                counted.pin_tries = old.pin_tries.map(|t| t - 1);
                let checks_pin = name.starts_with("verify") || name == "change PIN";
                let counted_ok = checks_pin && state == counted;
                assert!(
                    state == old || state == new || counted_ok,
                    "{name}, commit {nth}, cut {point:?}: a mixed state after restart"
                );
                // The card either answered as it would have, or reported the memory
                // failure; an answer that reveals the PIN comparison always comes after
                // the counted try is on disk.
                if answer != "6581" {
                    assert_eq!(
                        Some(&answer),
                        clean_answer.as_ref(),
                        "{name}, commit {nth}, cut {point:?}"
                    );
                }
                if name.starts_with("verify") && answer.starts_with("63C") {
                    assert_eq!(
                        state.pin_tries, new.pin_tries,
                        "{name}: the wrong try must be on disk"
                    );
                }
                cases += 1;
                let _ = std::fs::remove_file(&file);
            }
        }
    }
    assert_eq!(cases, OPS.len() * 3 * TearPoint::ALL.len());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn reload_changes_the_pin_and_resets_the_tries() {
    let dir = std::env::temp_dir().join(format!("sscard-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("card.json");
    let mut rt = card(&file);
    assert_eq!(tx(&mut rt, SELECT), "611B");
    assert_eq!(tx(&mut rt, "0020000003000000"), "63C5");
    assert_eq!(reload_pin(&mut rt), "9000");
    assert_eq!(tx(&mut rt, "0020000003123456"), "63C5");
    assert_eq!(tx(&mut rt, "0020000003654321"), "9000");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn state_survives_restarts() {
    let dir = std::env::temp_dir().join(format!("sscard-persist-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("card.json");
    let mut rt = card(&file);
    setup(&mut rt);
    assert_eq!(tx(&mut rt, "00DC072C0B0709423939393939393939"), "9000");
    assert_eq!(tx(&mut rt, "0020000003000000"), "63C5");
    drop(rt);
    let mut rt = card(&file);
    tx(&mut rt, SELECT);
    assert_eq!(
        tx(&mut rt, "00B2072C00"),
        "0709423939393939393939".to_string() + "9000"
    );
    // The failed try is remembered across the restart.
    assert_eq!(tx(&mut rt, "00200000"), "63C5");
    // A state file of another card shape is refused.
    std::fs::write(
        &file,
        r#"{"version":1,"efs":[],"pin":null,"pin_tries":null,"key_tries":[]}"#,
    )
    .unwrap();
    let profile = sscard_fs::builtin_profile().unwrap();
    let image = Image::from_json(FULL_IMAGE_JSON).unwrap();
    let restore = FileJournal::load(&file).unwrap();
    assert!(SsCard::new(&profile, &image)
        .unwrap()
        .persistent(Box::new(FileJournal::new(&file)), restore)
        .is_err());
    std::fs::write(&file, "{not json").unwrap();
    assert!(FileJournal::load(&file).is_err());
    std::fs::remove_dir_all(&dir).ok();
}
