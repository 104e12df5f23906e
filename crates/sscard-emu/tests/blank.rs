//! Blank cards of the emulated COS at the APDU level: every issuance command and status
//! word (`apdu-specs/cos-emulated.md`), the END PRE-ISSUANCE lock, ERASE, and tearing of
//! a file creation or key load. The terminal side is recomputed here independently
//! from `sscard-crypto` (no `sscard-issue` code).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use sscard_apdu::hex;
use sscard_crypto::auth;
use sscard_crypto::kdf::{EmulationScheme, KeyScheme};
use sscard_crypto::keys::{AnyKey, Des3Key};
use sscard_emu::cos::{BlankOptions, BLANK_ATR, TRANSPORT_TEST_KEY_JSON};
use sscard_emu::persist::{FileJournal, TearPoint};
use sscard_emu::{blank_card, sample_card, Runtime, SsCard};

/// The blank card's challenges in these tests.
const CH: [u8; 8] = [0x11; 8];
const SSSE_AID: &str = "7378312E73682EC9E7BBE1B1A3D5CF";
/// A card key value chosen by the test (the card stores what it is given).
const KEY_04: [u8; 16] = [0x42; 16];

fn options() -> BlankOptions {
    BlankOptions {
        entropy: Box::new(|out: &mut [u8]| out.fill(0x11)),
        ..BlankOptions::new().unwrap()
    }
}

fn blank() -> Runtime<SsCard> {
    Runtime::new(SsCard::blank(options()).unwrap())
}

fn tx(rt: &mut Runtime<SsCard>, apdu: &str) -> String {
    hex::to_string(&rt.transmit(&hex::to_vec(apdu).unwrap()))
}

fn transport_key() -> AnyKey {
    let v: serde_json::Value = serde_json::from_str(TRANSPORT_TEST_KEY_JSON).unwrap();
    let bytes = hex::to_vec(v["des3"].as_str().unwrap()).unwrap();
    AnyKey::Des3(Des3Key::new(&bytes).unwrap())
}

fn challenge(rt: &mut Runtime<SsCard>) {
    assert_eq!(tx(rt, "0084000008"), "11111111111111119000");
}

fn ext_auth(key: &AnyKey, id: u8) -> String {
    let c = auth::cryptogram(&EmulationScheme, key, &CH, &CH).unwrap();
    format!(
        "008200{id:02X}10{}{}",
        hex::to_string(&c),
        hex::to_string(&CH)
    )
}

fn authenticate(rt: &mut Runtime<SsCard>) {
    challenge(rt);
    assert_eq!(tx(rt, &ext_auth(&transport_key(), 0xFF)), "9000");
}

/// WRITE KEY for the challenge `CH`: `L ‖ value ‖ 80 00…` enciphered under the transport
/// key's process key, MAC over header ‖ body. `tamper` flips a MAC bit; `pad` overrides
/// the padding byte.
fn write_key(id: u8, kind: u8, alg: u8, tries: u8, value: &[u8], tamper: bool, pad: u8) -> String {
    let process = EmulationScheme.process_key(&transport_key(), &CH).unwrap();
    let mut plain = vec![value.len() as u8];
    plain.extend_from_slice(value);
    plain.push(pad);
    while plain.len() % 8 != 0 {
        plain.push(0);
    }
    process.ecb_encrypt(&mut plain).unwrap();
    let mut body = vec![id, kind, alg, tries];
    body.extend_from_slice(&plain);
    let lc = (body.len() + 4) as u8;
    let mut macced = vec![0x84, 0xD4, 0x00, 0x00, lc];
    macced.extend_from_slice(&body);
    let mut mac = sscard_crypto::mac::truncate4(
        &sscard_crypto::mac::psam_mac(&process, &[0; 8], &macced).unwrap(),
    );
    if tamper {
        mac[0] ^= 1;
    }
    format!(
        "84D40000{lc:02X}{}{}",
        hex::to_string(&body),
        hex::to_string(&mac)
    )
}

fn key(id: u8, kind: u8, value: &[u8]) -> String {
    write_key(id, kind, 0x01, 0x0F, value, false, 0x80)
}

fn apdu(cla_ins_p1_p2: &str, data: &str) -> String {
    format!("{cla_ins_p1_p2}{:02X}{data}", data.len() / 2)
}

fn create_ssse() -> String {
    apdu("80E00000", &format!("840F{SSSE_AID}850101"))
}

/// EF05 of the SSSE: TLV records, SFI 5, read free, update after key 04; slots
/// 01/01 (16 bytes) and 07/07 (9 bytes).
fn create_ef05() -> String {
    apdu(
        "80E00100",
        "8201C68302EF05880105860400000204C106010110070709",
    )
}

fn lifecycle(rt: &mut Runtime<SsCard>) -> String {
    tx(rt, "80CA00C000")
}

#[test]
fn a_blank_card_has_an_mf_and_the_transport_key_only() {
    let mut rt = Runtime::new(blank_card().unwrap());
    assert_eq!(rt.atr(), BLANK_ATR.as_slice());
    // Lifecycle: blank, no DF, EF, key or PIN.
    assert_eq!(lifecycle(&mut rt), "C0050000000000".to_owned() + "9000");
    // No SSSE, no EF; the MF is there.
    assert_eq!(tx(&mut rt, &format!("00A404000F{SSSE_AID}")), "6A82");
    assert_eq!(tx(&mut rt, "00A4000002EF05"), "6A82");
    assert_eq!(tx(&mut rt, "00A40000023F00"), "9000");
    // No card keys: INTERNAL AUTHENTICATE has nothing to use.
    assert_eq!(
        tx(&mut rt, &format!("0088000010{}", "00".repeat(16))),
        "6A88"
    );
    // GET DATA shapes.
    assert_eq!(tx(&mut rt, "80CA00C100"), "6D00");
    assert_eq!(tx(&mut rt, "80CA00C00100"), "6700");
}

#[test]
fn creation_needs_the_transport_key() {
    let mut rt = blank();
    assert_eq!(tx(&mut rt, &create_ssse()), "6982");
    assert_eq!(tx(&mut rt, &create_ef05()), "6982");
    challenge(&mut rt);
    assert_eq!(tx(&mut rt, &key(0x04, 0x04, &KEY_04)), "6982");
    assert_eq!(tx(&mut rt, "80E00200"), "6982");
    assert_eq!(tx(&mut rt, "80EE0000"), "6982");
    // EXTERNAL AUTHENTICATE with the transport key: a challenge first (6984), a wrong
    // cryptogram counts down (63Cx), the right one opens the creation commands.
    assert_eq!(tx(&mut rt, &ext_auth(&transport_key(), 0xFF)), "6984");
    let wrong = AnyKey::Des3(Des3Key::new(&[0x55; 16]).unwrap());
    challenge(&mut rt);
    assert_eq!(tx(&mut rt, &ext_auth(&wrong, 0xFF)), "63CE");
    challenge(&mut rt);
    assert_eq!(tx(&mut rt, &ext_auth(&wrong, 0xFF)), "63CD");
    authenticate(&mut rt);
    assert_eq!(tx(&mut rt, &create_ssse()), "9000");
    // The counter is back to full: a wrong try now leaves 14.
    challenge(&mut rt);
    assert_eq!(tx(&mut rt, &ext_auth(&wrong, 0xFF)), "63CE");
    // ... and a failed try closes the creation commands again.
    assert_eq!(tx(&mut rt, &create_ef05()), "6982");
    // A reset closes them too.
    authenticate(&mut rt);
    rt.reset();
    assert_eq!(tx(&mut rt, &create_ef05()), "6982");
}

#[test]
fn the_transport_key_blocks_after_its_tries() {
    let mut rt = blank();
    let wrong = AnyKey::Des3(Des3Key::new(&[0x55; 16]).unwrap());
    for left in (1..15).rev() {
        challenge(&mut rt);
        assert_eq!(tx(&mut rt, &ext_auth(&wrong, 0xFF)), format!("63C{left:X}"));
    }
    challenge(&mut rt);
    assert_eq!(tx(&mut rt, &ext_auth(&wrong, 0xFF)), "6983");
    challenge(&mut rt);
    assert_eq!(tx(&mut rt, &ext_auth(&transport_key(), 0xFF)), "6983");
}

#[test]
fn create_df_and_ef_validate_their_input() {
    let mut rt = blank();
    authenticate(&mut rt);
    // Shapes: Lc missing, unknown P1, P2 not 00.
    assert_eq!(tx(&mut rt, "80E00000"), "6700");
    assert_eq!(tx(&mut rt, "80E0030003830201"), "6A86");
    assert_eq!(tx(&mut rt, "80E0000103830201"), "6A86");
    // Malformed TLV, unknown tag, repeated tag, neither FID nor AID, FID 3F00, bad
    // algorithm identifier.
    assert_eq!(tx(&mut rt, &apdu("80E00000", "8303DF01")), "6A80");
    assert_eq!(tx(&mut rt, &apdu("80E00000", "9902DF01")), "6A80");
    assert_eq!(tx(&mut rt, &apdu("80E00000", "8302DF018302DF02")), "6A80");
    assert_eq!(tx(&mut rt, &apdu("80E00000", "850101")), "6A80");
    assert_eq!(tx(&mut rt, &apdu("80E00000", "83023F00")), "6A80");
    assert_eq!(
        tx(&mut rt, &apdu("80E00000", &format!("840F{SSSE_AID}850102"))),
        "6A80"
    );
    // The SSSE, with the FCI of the sample card.
    assert_eq!(tx(&mut rt, &create_ssse()), "9000");
    assert_eq!(lifecycle(&mut rt), "C0050101000000".to_owned() + "9000");
    assert_eq!(tx(&mut rt, &create_ssse()), "6A89");
    // The new DF is current: EF05 goes under it.
    assert_eq!(tx(&mut rt, &create_ef05()), "9000");
    assert_eq!(tx(&mut rt, &create_ef05()), "6A89");
    // Same SFI under another FID: exists too.
    let same_sfi = apdu("80E00100", "8201C68302EF09880105860400000204");
    assert_eq!(tx(&mut rt, &same_sfi), "6A89");
    // EF shapes: no structure, unknown structure, no access rules, bad rule flags, a
    // transparent file without size or with slots, a cyclic one without records, SFI 31.
    for bad in [
        "8302EF10860400000204",
        "8201C98302EF10860400000204",
        "8201C68302EF10",
        "8201C68302EF10860407000204",
        "8201C48302EF10860400000204",
        "8201C48302EF1086040000020480020010C103010110",
        "8201C78302EF10860400000204",
        "8201C68302EF1088011F860400000204",
        "8201C68302EF10860400000204C1020101",
    ] {
        assert_eq!(tx(&mut rt, &apdu("80E00100", bad)), "6A80", "{bad}");
    }
    // More than the card's memory.
    assert_eq!(
        tx(
            &mut rt,
            &apdu("80E00100", "8201C48302EF108604000002048002FFFF")
        ),
        "6A84"
    );
    // A fixed-record and a transparent file fit.
    assert_eq!(
        tx(
            &mut rt,
            &apdu("80E00100", "8201C58302EF1186040000020481021004")
        ),
        "9000"
    );
    assert_eq!(
        tx(
            &mut rt,
            &apdu("80E00100", "8201C48302EF1286040000FF0080020040")
        ),
        "9000"
    );
    assert_eq!(lifecycle(&mut rt), "C0050101030000".to_owned() + "9000");
    // The transparent file reads as zeros (free read); it can never be updated.
    assert_eq!(tx(&mut rt, "00A4020002EF12"), "9000");
    assert_eq!(tx(&mut rt, "00B0000004"), "000000009000");
    assert_eq!(tx(&mut rt, "00D6000001AA"), "6982");
}

#[test]
fn write_key_validates_crypto_and_contents() {
    let mut rt = blank();
    authenticate(&mut rt);
    assert_eq!(tx(&mut rt, &create_ssse()), "9000");
    assert_eq!(tx(&mut rt, &create_ef05()), "9000");
    // No fresh challenge: 6984 (the challenge is single use).
    assert_eq!(tx(&mut rt, &key(0x04, 0x04, &KEY_04)), "6984");
    // Wrong MAC: 6988.
    challenge(&mut rt);
    assert_eq!(
        tx(
            &mut rt,
            &write_key(0x04, 0x04, 0x01, 0x0F, &KEY_04, true, 0x80)
        ),
        "6988"
    );
    // Too short, wrong P1/P2.
    assert_eq!(tx(&mut rt, "84D400000A00000000000000000000"), "6700");
    assert_eq!(
        tx(&mut rt, &format!("84D4010010{}", "00".repeat(16))),
        "6A86"
    );
    // Contents (MAC right): bad padding, unknown algorithm, zero tries, unknown type,
    // a key of the wrong length, a PIN that is not digits.
    for bad in [
        write_key(0x04, 0x04, 0x01, 0x0F, &KEY_04, false, 0x81),
        write_key(0x04, 0x04, 0x02, 0x0F, &KEY_04, false, 0x80),
        write_key(0x04, 0x04, 0x01, 0x00, &KEY_04, false, 0x80),
        write_key(0x04, 0x09, 0x01, 0x0F, &KEY_04, false, 0x80),
        write_key(0x04, 0x04, 0x01, 0x0F, &[0x42; 8], false, 0x80),
        write_key(0x00, 0x10, 0x00, 0x06, b"12345A", false, 0x80),
    ] {
        challenge(&mut rt);
        assert_eq!(tx(&mut rt, &bad), "6A80", "{bad}");
    }
    assert_eq!(lifecycle(&mut rt), "C0050101010000".to_owned() + "9000");
    // Load update key 04 and the PIN.
    challenge(&mut rt);
    assert_eq!(tx(&mut rt, &key(0x04, 0x04, &KEY_04)), "9000");
    challenge(&mut rt);
    assert_eq!(
        tx(
            &mut rt,
            &write_key(0x00, 0x10, 0x00, 0x06, b"123456", false, 0x80)
        ),
        "9000"
    );
    assert_eq!(lifecycle(&mut rt), "C0050101010101".to_owned() + "9000");
    // Again: 6A89, for the key, the PIN and the transport key's id.
    for again in [
        key(0x04, 0x04, &KEY_04),
        write_key(0x00, 0x10, 0x00, 0x06, b"654321", false, 0x80),
        key(0xFF, 0x04, &KEY_04),
    ] {
        challenge(&mut rt);
        assert_eq!(tx(&mut rt, &again), "6A89", "{again}");
    }
    // The loaded key works: EXTERNAL AUTHENTICATE with it opens EF05 for writing.
    assert_eq!(tx(&mut rt, &format!("00A4040C0F{SSSE_AID}")), "9000");
    assert_eq!(tx(&mut rt, "00DC072C0B0709413132333435363738"), "6982");
    challenge(&mut rt);
    let k04 = AnyKey::Des3(Des3Key::new(&KEY_04).unwrap());
    assert_eq!(tx(&mut rt, &ext_auth(&k04, 0x04)), "9000");
    assert_eq!(tx(&mut rt, "00DC072C0B0709413132333435363738"), "9000");
    assert_eq!(
        tx(&mut rt, "00B2072C00"),
        "0709413132333435363738".to_owned() + "9000"
    );
    // An item longer than its slot, or a tag without a slot.
    assert_eq!(tx(&mut rt, "00DC072C0C070A41313233343536373839"), "6700");
    assert_eq!(tx(&mut rt, "00DC022C03020131"), "6A83");
    // The PIN verifies.
    assert_eq!(tx(&mut rt, "0020000003123456"), "9000");
}

#[test]
fn no_space_for_more_keys_or_files() {
    let mut rt = Runtime::new(
        SsCard::blank(BlankOptions {
            capacity: 100,
            ..options()
        })
        .unwrap(),
    );
    authenticate(&mut rt);
    // MF 32 + SSSE 32 = 64; a key costs 32 (96); the next does not fit.
    assert_eq!(tx(&mut rt, &create_ssse()), "9000");
    challenge(&mut rt);
    assert_eq!(tx(&mut rt, &key(0x04, 0x04, &KEY_04)), "9000");
    challenge(&mut rt);
    assert_eq!(tx(&mut rt, &key(0x05, 0x04, &KEY_04)), "6A84");
    assert_eq!(tx(&mut rt, &create_ef05()), "6A84");
    assert_eq!(tx(&mut rt, &apdu("80E00000", "8302DF01")), "6A84");
}

#[test]
fn end_preissuance_locks_the_creation_commands() {
    let mut rt = blank();
    authenticate(&mut rt);
    assert_eq!(tx(&mut rt, &create_ssse()), "9000");
    assert_eq!(tx(&mut rt, "80E0020001FF"), "6700");
    assert_eq!(tx(&mut rt, "80E00200"), "9000");
    assert_eq!(lifecycle(&mut rt), "C0050201000000".to_owned() + "9000");
    challenge(&mut rt);
    for locked in [
        create_ssse(),
        create_ef05(),
        key(0x04, 0x04, &KEY_04),
        "80E00200".to_owned(),
        "80EE0000".to_owned(),
    ] {
        assert_eq!(tx(&mut rt, &locked), "6985", "{locked}");
    }
    // The transport key is gone.
    challenge(&mut rt);
    assert_eq!(tx(&mut rt, &ext_auth(&transport_key(), 0xFF)), "6A88");
    // And stays locked after a reset.
    rt.reset();
    assert_eq!(tx(&mut rt, &create_ssse()), "6985");
    // A card built from an image is an issued card: locked too.
    let mut sample = Runtime::new(sample_card().unwrap());
    assert_eq!(tx(&mut sample, "80E00200"), "6985");
    assert_eq!(
        hex::to_string(&sample.transmit(&hex::to_vec("80CA00C000").unwrap()))[..6].to_owned(),
        "C00502"
    );
}

#[test]
fn erase_returns_a_pre_issuance_card_to_blank() {
    let mut rt = blank();
    authenticate(&mut rt);
    assert_eq!(tx(&mut rt, &create_ssse()), "9000");
    assert_eq!(tx(&mut rt, &create_ef05()), "9000");
    challenge(&mut rt);
    assert_eq!(tx(&mut rt, &key(0x04, 0x04, &KEY_04)), "9000");
    assert_eq!(tx(&mut rt, "80EE000001FF"), "6700");
    assert_eq!(tx(&mut rt, "80EE0100"), "6A86");
    assert_eq!(tx(&mut rt, "80EE0000"), "9000");
    assert_eq!(lifecycle(&mut rt), "C0050000000000".to_owned() + "9000");
    assert_eq!(tx(&mut rt, &format!("00A4040C0F{SSSE_AID}")), "6A82");
    // The transport authentication survives; creation starts again.
    assert_eq!(tx(&mut rt, &create_ssse()), "9000");
}

/// Tearing: the power is cut while the card commits a file creation (commit 0) or a key
/// load (commit 1). The command answers `6581`; after power-up the card holds the state
/// before the command or after it, never a mix, and says where it is.
#[test]
fn tearing_a_creation_or_key_load_leaves_a_detectable_state() {
    let dir = std::env::temp_dir().join(format!("sscard-blank-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for nth in [0usize, 1] {
        for point in TearPoint::ALL {
            let path = dir.join(format!("{nth}-{point:?}.json"));
            let _ = std::fs::remove_file(&path);
            let card = SsCard::blank(options())
                .unwrap()
                .persistent(Box::new(FileJournal::new(&path).tearing(point, nth)), None)
                .unwrap();
            let mut rt = Runtime::new(card);
            authenticate(&mut rt);
            let first = tx(&mut rt, &create_ssse());
            challenge(&mut rt);
            let second = tx(&mut rt, &key(0x04, 0x04, &KEY_04));
            let (torn, before, after) = if nth == 0 {
                (first, "C0050000000000", "C0050101000000")
            } else {
                assert_eq!(first, "9000");
                (second, "C0050101000000", "C0050101000100")
            };
            assert_eq!(torn, "6581", "{nth} {point:?}");
            // In memory the command was undone.
            assert_eq!(lifecycle(&mut rt), format!("{before}9000"));
            // Power up from the file.
            let saved = FileJournal::load(&path).unwrap();
            let mut rt = Runtime::new(
                SsCard::blank(options())
                    .unwrap()
                    .persistent(Box::new(FileJournal::new(&path)), saved)
                    .unwrap(),
            );
            let expected = if point == TearPoint::BeforeDirSync {
                after
            } else {
                before
            };
            assert_eq!(
                lifecycle(&mut rt),
                format!("{expected}9000"),
                "{nth} {point:?}"
            );
            // A half-issued card can be erased and issued again.
            authenticate(&mut rt);
            assert_eq!(tx(&mut rt, "80EE0000"), "9000");
            assert_eq!(lifecycle(&mut rt), "C0050000000000".to_owned() + "9000");
            assert_eq!(tx(&mut rt, &create_ssse()), "9000");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_issued_blank_card_survives_a_restart_with_its_keys() {
    let dir = std::env::temp_dir().join(format!("sscard-blank-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("card.json");
    let _ = std::fs::remove_file(&path);
    let mut rt = Runtime::new(
        SsCard::blank(options())
            .unwrap()
            .persistent(Box::new(FileJournal::new(&path)), None)
            .unwrap(),
    );
    authenticate(&mut rt);
    assert_eq!(tx(&mut rt, &create_ssse()), "9000");
    assert_eq!(tx(&mut rt, &create_ef05()), "9000");
    challenge(&mut rt);
    assert_eq!(tx(&mut rt, &key(0x04, 0x04, &KEY_04)), "9000");
    assert_eq!(tx(&mut rt, "80E00200"), "9000");
    let saved = FileJournal::load(&path).unwrap();
    assert!(saved.as_ref().unwrap().layout.is_some());
    let mut rt = Runtime::new(
        SsCard::blank(options())
            .unwrap()
            .persistent(Box::new(FileJournal::new(&path)), saved)
            .unwrap(),
    );
    assert_eq!(lifecycle(&mut rt), "C0050201010100".to_owned() + "9000");
    assert_eq!(tx(&mut rt, &format!("00A404000F{SSSE_AID}")), "611B");
    challenge(&mut rt);
    let k04 = AnyKey::Des3(Des3Key::new(&KEY_04).unwrap());
    assert_eq!(tx(&mut rt, &ext_auth(&k04, 0x04)), "9000");
    assert_eq!(tx(&mut rt, "00DC072C0B0709413132333435363738"), "9000");
    assert_eq!(tx(&mut rt, &create_ssse()), "6985");
    // A state from an image-built card does not load into a blank card, nor the reverse.
    let sample_state = sample_card().unwrap().state();
    assert!(SsCard::blank(options())
        .unwrap()
        .persistent(
            Box::new(FileJournal::new(dir.join("x.json"))),
            Some(sample_state)
        )
        .is_err());
    let saved = FileJournal::load(&path).unwrap();
    assert!(sample_card()
        .unwrap()
        .persistent(Box::new(FileJournal::new(dir.join("y.json"))), saved)
        .is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_chip_serial_is_in_the_atr_and_survives_a_restart() {
    let serial = [0xA1, 0xB2, 0xC3, 0xD4, 0xE5];
    let card = SsCard::blank(options().with_serial(serial)).unwrap();
    let atr = sscard_apdu::applet::Card::atr(&card).to_vec();
    assert_eq!(atr.len(), BLANK_ATR.len());
    assert_eq!(atr[..BLANK_ATR.len() - 5], BLANK_ATR[..BLANK_ATR.len() - 5]);
    assert_eq!(atr[BLANK_ATR.len() - 5..], serial);
    // Cards from the factory get serials of their own.
    let a = sscard_emu::factory_blank_card().unwrap();
    let b = sscard_emu::factory_blank_card().unwrap();
    assert_ne!(
        sscard_apdu::applet::Card::atr(&a),
        sscard_apdu::applet::Card::atr(&b)
    );

    // The state keeps the chip's ATR: a card rebuilt from it (with whatever ATR the
    // rebuilding emulator starts from) answers with the saved one.
    let dir = std::env::temp_dir().join(format!("sscard-blank-serial-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("card.json");
    let _ = std::fs::remove_file(&path);
    let mut rt = Runtime::new(
        card.persistent(Box::new(FileJournal::new(&path)), None)
            .unwrap(),
    );
    authenticate(&mut rt);
    assert_eq!(tx(&mut rt, &create_ssse()), "9000");
    let saved = FileJournal::load(&path).unwrap();
    assert_eq!(
        saved
            .as_ref()
            .unwrap()
            .layout
            .as_ref()
            .unwrap()
            .atr
            .as_deref(),
        Some(hex::to_string(&atr).as_str())
    );
    let back = SsCard::blank(options())
        .unwrap()
        .persistent(Box::new(FileJournal::new(&path)), saved.clone())
        .unwrap();
    assert_eq!(sscard_apdu::applet::Card::atr(&back), atr.as_slice());
    // A saved ATR that is no ATR is refused, not served.
    let mut bad = saved.unwrap();
    bad.layout.as_mut().unwrap().atr = Some("3B00".into());
    assert!(SsCard::blank(options())
        .unwrap()
        .persistent(Box::new(FileJournal::new(dir.join("z.json"))), Some(bad))
        .is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

mod properties {
    use super::*;
    use proptest::prelude::*;
    use sscard_apdu::Status;

    /// Issuance commands with random data, well-formed ones, and anything at all.
    fn apdu() -> impl Strategy<Value = Vec<u8>> {
        let tlv = proptest::collection::vec(
            (
                prop_oneof![
                    Just(0x80u8),
                    Just(0x81),
                    Just(0x82),
                    Just(0x83),
                    Just(0x84),
                    Just(0x85),
                    Just(0x86),
                    Just(0x88),
                    Just(0xC1),
                    Just(0xC2),
                    any::<u8>()
                ],
                proptest::collection::vec(any::<u8>(), 0..8),
            ),
            0..6,
        )
        .prop_map(|fields| {
            fields
                .into_iter()
                .flat_map(|(t, v)| {
                    let mut out = vec![t, v.len() as u8];
                    out.extend(v);
                    out
                })
                .collect::<Vec<u8>>()
        });
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..80),
            (
                prop_oneof![Just(0x80u8), Just(0x84), Just(0x00)],
                prop_oneof![Just(0xE0u8), Just(0xEE), Just(0xCA), Just(0xD4), Just(0x82)],
                0u8..4,
                prop_oneof![Just(0x00u8), Just(0xC0), Just(0xFF)],
                tlv,
            )
                .prop_map(|(cla, ins, p1, p2, data)| {
                    let mut v = vec![cla, ins, p1, p2];
                    if !data.is_empty() {
                        v.push(data.len() as u8);
                        v.extend(data);
                    }
                    v
                }),
            Just(hex::to_vec(&create_ssse()).unwrap()),
            Just(hex::to_vec(&create_ef05()).unwrap()),
            Just(hex::to_vec("0084000008").unwrap()),
            Just(hex::to_vec(&key(0x04, 0x04, &KEY_04)).unwrap()),
            Just(hex::to_vec("80E00200").unwrap()),
            Just(hex::to_vec("80EE0000").unwrap()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Every APDU gets a status word (data only with 9000), and once the card says
        /// it is issued it stays issued.
        #[test]
        fn a_blank_card_answers_everything_and_never_unlocks(
            seq in proptest::collection::vec(apdu(), 1..40),
        ) {
            let mut rt = blank();
            authenticate(&mut rt);
            let mut issued = false;
            for apdu in seq {
                let r = rt.transmit(&apdu);
                prop_assert!(r.len() >= 2);
                let sw = Status::from_bytes(r[r.len() - 2], r[r.len() - 1]);
                if r.len() > 2 {
                    prop_assert!(matches!(sw, Status::Success | Status::MoreAvailable(_)), "{sw}");
                }
                let life = rt.transmit(&[0x80, 0xCA, 0x00, 0xC0, 0x00]);
                prop_assert_eq!(life.len(), 9);
                if issued {
                    prop_assert_eq!(life[2], 0x02);
                }
                issued = life[2] == 0x02;
            }
        }
    }
}
