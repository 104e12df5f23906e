//! The emulated PSAM at the APDU level: environments, terminal number, `BF DE` /
//! `80 FA` against the emulated user card, status words, and arbitrary APDUs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use proptest::prelude::*;
use sscard_apdu::{hex, Status};
use sscard_crypto::kdf::{DivPath, EmulationScheme, KeyScheme};
use sscard_crypto::keys::{Algorithm, AnyKey, Des3Key, Sm4Key};
use sscard_crypto::mac::psam_mac;
use sscard_emu::psam::{PsamBuildError, PsamOptions, PSAM_ATR};
use sscard_emu::{EmulatedPsam, Runtime, SsCard};
use sscard_fs::keys::KeySet;
use sscard_fs::{Image, Profile, EMULATION_KEYS_JSON, PSAM_PROFILE_JSON, SAMPLE_IMAGE_JSON};

const SELECT_SX1: &str = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF";
const SELECT_SX3: &str = "00A404000F7378332E73682EC9E7BBE1B1A3D5CF";
const SELECT_DF01_AID: &str = "00A4040006D15600000590";
const SELECT_DF01_FID: &str = "00A4000002DF01";
const READ_TERMINAL_NUMBER: &str = "00B0960006";
const CARD_ID: &str = "330100D15600000500A1B2C3D4E5F607";

fn psam(algorithm: Algorithm) -> Runtime<EmulatedPsam> {
    Runtime::new(EmulatedPsam::builtin(algorithm).unwrap())
}

/// Sends hex, returns hex of the R-APDU.
fn tx<C: sscard_apdu::applet::Card>(rt: &mut Runtime<C>, apdu: &str) -> String {
    hex::to_string(&rt.transmit(&hex::to_vec(apdu).unwrap()))
}

/// Sends hex, follows 61xx, asserts 9000, returns the data.
fn ok<C: sscard_apdu::applet::Card>(rt: &mut Runtime<C>, apdu: &str) -> Vec<u8> {
    let mut r = rt.transmit(&hex::to_vec(apdu).unwrap());
    let mut data = Vec::new();
    loop {
        let sw = r.split_off(r.len() - 2);
        data.extend_from_slice(&r);
        match (sw[0], sw[1]) {
            (0x90, 0x00) => return data,
            (0x61, n) => r = rt.transmit(&[0x00, 0xC0, 0x00, 0x00, n]),
            _ => panic!("{apdu} answered {}", hex::to_string(&sw)),
        }
    }
}

/// The PSAM in its application DF01.
fn in_df01(algorithm: Algorithm) -> Runtime<EmulatedPsam> {
    let mut rt = psam(algorithm);
    match algorithm {
        Algorithm::Des3 => {
            ok(&mut rt, SELECT_SX1);
            ok(&mut rt, SELECT_DF01_AID);
        }
        _ => {
            ok(&mut rt, SELECT_SX3);
            ok(&mut rt, SELECT_DF01_FID);
        }
    }
    rt
}

fn image(algorithm_id: &str) -> Image {
    let mut v: serde_json::Value = serde_json::from_str(SAMPLE_IMAGE_JSON).unwrap();
    v["files"]["SSSE/EF05"]["spec_version"] = "3.00".into();
    v["algorithm_id"] = algorithm_id.into();
    Image::from_json(&v.to_string()).unwrap()
}

fn card(algorithm_id: &str) -> Runtime<SsCard> {
    let profile = sscard_fs::builtin_profile().unwrap();
    let mut rt = Runtime::new(SsCard::new(&profile, &image(algorithm_id)).unwrap());
    ok(&mut rt, SELECT_SX1);
    rt
}

/// `BF DE` for the card's key with PSAM key `key` and usage `usage`, process factor `r`.
fn init_key(algorithm: Algorithm, atr: &[u8], usage: u8, key: u8, r: &[u8]) -> String {
    let path = DivPath::from_card(atr, CARD_ID, usage >> 5).unwrap();
    let mut data = [0u8; 24];
    let n = path.write_factor_bytes(&mut data).unwrap();
    let mut apdu = vec![0xBF, 0xDE, usage, key, 0];
    apdu.extend_from_slice(&data[..n]);
    apdu.extend_from_slice(r);
    if algorithm == Algorithm::Sm4 {
        apdu.extend_from_slice(&[0; 8]);
    }
    apdu[4] = (apdu.len() - 5) as u8;
    hex::to_string(&apdu)
}

/// `80 FA 00 00` of P (‖ 00×8 for SM4).
fn encrypt(algorithm: Algorithm, p: &[u8]) -> String {
    let mut data = p.to_vec();
    if algorithm == Algorithm::Sm4 {
        data.extend_from_slice(&[0; 8]);
    }
    format!("80FA0000{:02X}{}", data.len(), hex::to_string(&data))
}

#[test]
fn environments_select_and_read_the_terminal_number() {
    // 3DES: the MF by the sx1 name (its FCI after 61xx), the terminal number, DF01 by AID.
    let mut rt = psam(Algorithm::Des3);
    assert_eq!(rt.atr(), PSAM_ATR);
    assert_eq!(tx(&mut rt, SELECT_SX1), "6113");
    assert_eq!(
        tx(&mut rt, "00C0000013"),
        "6F11840F7378312E73682EC9E7BBE1B1A3D5CF9000"
    );
    assert_eq!(tx(&mut rt, READ_TERMINAL_NUMBER), "0000000000019000");
    assert_eq!(tx(&mut rt, SELECT_DF01_AID), "610A");
    // DF01 has no terminal number; its own counter is SFI 0x19.
    assert_eq!(tx(&mut rt, READ_TERMINAL_NUMBER), "6A82");
    assert_eq!(tx(&mut rt, "00B0990004"), "000000009000");
    // The SM4 name is not on a 3DES PSAM.
    assert_eq!(tx(&mut rt, SELECT_SX3), "6A82");
    // By FID: the MF, then its EF 0016, read as the current EF; then DF01.
    assert_eq!(tx(&mut rt, "00A40000023F00"), "9000");
    assert_eq!(tx(&mut rt, "00A40200020016"), "9000");
    assert_eq!(tx(&mut rt, "00B0000006"), "0000000000019000");
    assert_eq!(tx(&mut rt, "00B0000004"), "000000009000");
    assert_eq!(tx(&mut rt, "00B0000008"), "6C06");
    assert_eq!(tx(&mut rt, "00B0000600"), "6B00");
    assert_eq!(tx(&mut rt, SELECT_DF01_FID), "9000");

    // SM4: the sx3 name, the terminal number in its MF, DF01 by FID only.
    let options = PsamOptions {
        terminal_number: "410100813475",
        ..PsamOptions::default()
    };
    let profile = Profile::from_json(PSAM_PROFILE_JSON).unwrap();
    let mut rt =
        Runtime::new(EmulatedPsam::with_options(&profile, Algorithm::Sm4, options).unwrap());
    assert_eq!(tx(&mut rt, SELECT_SX1), "6A82");
    assert_eq!(tx(&mut rt, SELECT_SX3), "6113");
    assert_eq!(tx(&mut rt, READ_TERMINAL_NUMBER), "4101008134759000");
    assert_eq!(tx(&mut rt, SELECT_DF01_AID), "6A82");
    assert_eq!(tx(&mut rt, SELECT_DF01_FID), "9000");
}

#[test]
fn bad_terminal_numbers_and_environments_are_refused() {
    let profile = Profile::from_json(PSAM_PROFILE_JSON).unwrap();
    for number in ["", "12345678901", "1234567890123", "12345678901X"] {
        let options = PsamOptions {
            terminal_number: number,
            ..PsamOptions::default()
        };
        assert!(matches!(
            EmulatedPsam::with_options(&profile, Algorithm::Des3, options),
            Err(PsamBuildError::TerminalNumber)
        ));
    }
    // A profile without the SM4 environment.
    let mut v: serde_json::Value = serde_json::from_str(PSAM_PROFILE_JSON).unwrap();
    v["nodes"]
        .as_array_mut()
        .unwrap()
        .retain(|n| !n["path"].as_str().unwrap().starts_with("SX3"));
    let profile = Profile::from_json(&v.to_string()).unwrap();
    assert!(matches!(
        EmulatedPsam::new(&profile, Algorithm::Sm4),
        Err(PsamBuildError::MissingNode { path: "SX3" })
    ));
    assert!(EmulatedPsam::new(&profile, Algorithm::Des3).is_ok());
}

#[test]
fn psam_cryptograms_match_the_card_both_ways() {
    for (algorithm, id) in [(Algorithm::Des3, "01"), (Algorithm::Sm4, "03")] {
        let mut sam = in_df01(algorithm);
        let mut card = card(id);
        let atr = card.atr().to_vec();
        let p = hex::to_vec("0102030405060708").unwrap();

        // Internal authentication with the IRK (card key 00 = PSAM key 01, usage 27).
        let r = ok(&mut card, "0084000008");
        assert_eq!(
            tx(&mut sam, &init_key(algorithm, &atr, 0x27, 0x01, &r)),
            "9000"
        );
        let announce = if algorithm == Algorithm::Sm4 {
            "6110"
        } else {
            "6108"
        };
        assert_eq!(tx(&mut sam, &encrypt(algorithm, &p)), announce);
        let c = ok(&mut sam, &format!("00C00000{}", &announce[2..]));
        assert_eq!(c.len(), algorithm.block_len());
        let answer = ok(
            &mut card,
            &format!("0088000010{}{}", hex::to_string(&r), hex::to_string(&p)),
        );
        assert_eq!(answer, c[..8], "{algorithm:?}");

        // External authentication with RKSSSE (card key 0A = PSAM key 0A, usage 47),
        // P = the challenge as field code does; case 4 gives the answer at once.
        let r = ok(&mut card, "0084000008");
        assert_eq!(
            tx(&mut sam, &init_key(algorithm, &atr, 0x47, 0x0A, &r)),
            "9000"
        );
        let c = ok(&mut sam, &format!("{}00", encrypt(algorithm, &r)));
        let apdu = format!(
            "008200 0A 10{}{}",
            hex::to_string(&c[..8]),
            hex::to_string(&r)
        );
        assert_eq!(tx(&mut card, &apdu), "9000", "{algorithm:?}");
        // The photo needs RKSSSE: now readable.
        assert_eq!(&tx(&mut card, "00B0880004")[8..], "9000");
    }
}

#[test]
fn the_mac_is_the_psam_mac_of_the_process_key() {
    for algorithm in [Algorithm::Des3, Algorithm::Sm4] {
        let mut sam = in_df01(algorithm);
        let atr = card(if algorithm == Algorithm::Sm4 {
            "03"
        } else {
            "01"
        })
        .atr()
        .to_vec();
        let r = [0x55u8; 8];
        ok(&mut sam, &init_key(algorithm, &atr, 0x48, 0x09, &r));
        // The process key, computed from the masters as the PSAM does.
        let keys = KeySet::from_json(EMULATION_KEYS_JSON).unwrap();
        let entry = keys.by_psam_key(0x09).unwrap();
        let master = match algorithm {
            Algorithm::Des3 => AnyKey::Des3(Des3Key::from_double(*entry.des3)),
            _ => AnyKey::Sm4(Sm4Key::from_bytes(*entry.sm4)),
        };
        let path = DivPath::from_card(&atr, CARD_ID, 2).unwrap();
        let card_key = EmulationScheme.diversify(&master, &path).unwrap();
        let process = EmulationScheme.process_key(&card_key, &r).unwrap();
        let iv = vec![0u8; algorithm.block_len()];
        let message = hex::to_vec("842400010C1122334455667788").unwrap();
        let want = psam_mac(&process, &iv, &message).unwrap();
        // The terminal pads (80 00…) before sending.
        let mut padded = message.clone();
        padded.push(0x80);
        while !padded.len().is_multiple_of(algorithm.block_len()) {
            padded.push(0);
        }
        let mut data = iv.clone();
        data.extend_from_slice(&padded);
        let apdu = format!("80FA0500{:02X}{}", data.len(), hex::to_string(&data));
        assert_eq!(tx(&mut sam, &apdu), "6108");
        assert_eq!(ok(&mut sam, "00C0000008"), want);
        // The session lasts for more than one 80 FA.
        assert_eq!(ok(&mut sam, &format!("{apdu}08")), want);
    }
}

#[test]
fn status_words() {
    let mut sam = in_df01(Algorithm::Des3);
    let atr = card("01").atr().to_vec();
    let r = [7u8; 8];
    // 80 FA without BF DE: 6985 (encrypt and MAC).
    assert_eq!(tx(&mut sam, "80FA0000080102030405060708"), "6985");
    assert_eq!(
        tx(&mut sam, &format!("80FA050010{}", "00".repeat(16))),
        "6985"
    );
    // Unknown PSAM key id, and a known id with another usage byte: 6A88.
    assert_eq!(
        tx(&mut sam, &init_key(Algorithm::Des3, &atr, 0x47, 0x55, &r)),
        "6A88"
    );
    assert_eq!(
        tx(&mut sam, &init_key(Algorithm::Des3, &atr, 0x48, 0x0A, &r)),
        "6A88"
    );
    // Factors disagreeing with the usage byte's levels: 6A80.
    let one_level = init_key(Algorithm::Des3, &atr, 0x27, 0x01, &r);
    let as_two = format!("BFDE470A{}", &one_level[8..]);
    assert_eq!(tx(&mut sam, &as_two), "6A80");
    // Levels 0 in the usage byte: 6A86; a length that fits no level count: 6700.
    assert_eq!(
        tx(&mut sam, &format!("BFDE070A{}", &one_level[8..])),
        "6A86"
    );
    assert_eq!(
        tx(&mut sam, &format!("BFDE270A0C{}", "11".repeat(12))),
        "6700"
    );
    // An SM4-shaped BF DE (2 levels, Lc 0x20) on the 3DES PSAM is 3 levels of factors.
    let sm4_shaped = init_key(Algorithm::Sm4, &atr, 0x47, 0x0A, &r);
    assert_eq!(tx(&mut sam, &sm4_shaped), "6A80");
    // A good BF DE, then bad 80 FA shapes.
    assert_eq!(
        tx(&mut sam, &init_key(Algorithm::Des3, &atr, 0x47, 0x0A, &r)),
        "9000"
    );
    assert_eq!(tx(&mut sam, "80FA00000401020304"), "6700");
    assert_eq!(tx(&mut sam, "80FA0100080102030405060708"), "6A86");
    assert_eq!(tx(&mut sam, "80FA0001080102030405060708"), "6A86");
    assert_eq!(
        tx(&mut sam, &format!("80FA050008{}", "00".repeat(8))),
        "6700"
    );
    assert_eq!(tx(&mut sam, "80FA0000080102030405060708"), "6108");
    // A failed BF DE ends the session.
    assert_eq!(
        tx(&mut sam, &init_key(Algorithm::Des3, &atr, 0x47, 0x55, &r)),
        "6A88"
    );
    assert_eq!(tx(&mut sam, "80FA0000080102030405060708"), "6985");
    // So do reset and selecting a DF.
    assert_eq!(
        tx(&mut sam, &init_key(Algorithm::Des3, &atr, 0x47, 0x0A, &r)),
        "9000"
    );
    sam.reset();
    assert_eq!(tx(&mut sam, "80FA0000080102030405060708"), "6985");
    // After reset the MF is current: BF DE needs DF01.
    assert_eq!(
        tx(&mut sam, &init_key(Algorithm::Des3, &atr, 0x47, 0x0A, &r)),
        "6985"
    );
    assert_eq!(tx(&mut sam, SELECT_DF01_FID), "9000");
    assert_eq!(
        tx(&mut sam, &init_key(Algorithm::Des3, &atr, 0x47, 0x0A, &r)),
        "9000"
    );
    assert_eq!(tx(&mut sam, SELECT_DF01_FID), "9000");
    assert_eq!(tx(&mut sam, "80FA0000080102030405060708"), "6985");
    // Classes and instructions.
    assert_eq!(tx(&mut sam, "00DE270A00"), "6D00");
    assert_eq!(tx(&mut sam, "A0A4000002DF01"), "6E00");

    // SM4: the process factor must end in 8 zero bytes; 3DES-shaped BF DE: 6A80.
    let mut sam = in_df01(Algorithm::Sm4);
    let atr = card("03").atr().to_vec();
    let good = init_key(Algorithm::Sm4, &atr, 0x47, 0x0A, &r);
    assert_eq!(tx(&mut sam, &good), "9000");
    let bad_tail = format!("{}01", &good[..good.len() - 2]);
    assert_eq!(tx(&mut sam, &bad_tail), "6A80");
    assert_eq!(
        tx(&mut sam, &init_key(Algorithm::Des3, &atr, 0x47, 0x0A, &r)),
        "6A80"
    );
    // An 8-byte block is not a whole SM4 block.
    assert_eq!(tx(&mut sam, &good), "9000");
    assert_eq!(tx(&mut sam, "80FA0000080102030405060708"), "6700");
}

#[test]
fn other_masters_give_other_cryptograms() {
    let mut v: serde_json::Value = serde_json::from_str(EMULATION_KEYS_JSON).unwrap();
    for k in v["keys"].as_array_mut().unwrap() {
        k["des3"] = "00112233445566778899AABBCCDDEEFF".into();
    }
    let other = KeySet::from_json(&v.to_string()).unwrap();
    let profile = Profile::from_json(PSAM_PROFILE_JSON).unwrap();
    let options = PsamOptions {
        keys: Some(&other),
        ..PsamOptions::default()
    };
    let mut theirs =
        Runtime::new(EmulatedPsam::with_options(&profile, Algorithm::Des3, options).unwrap());
    ok(&mut theirs, SELECT_SX1);
    ok(&mut theirs, SELECT_DF01_AID);
    let mut ours = in_df01(Algorithm::Des3);
    let atr = card("01").atr().to_vec();
    let r = [1u8; 8];
    let mut answers = Vec::new();
    for sam in [&mut ours, &mut theirs] {
        ok(sam, &init_key(Algorithm::Des3, &atr, 0x27, 0x01, &r));
        answers.push(ok(sam, &encrypt(Algorithm::Des3, &[2; 8])));
    }
    assert_ne!(answers[0], answers[1]);
}

fn apdu() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Anything at all.
        proptest::collection::vec(any::<u8>(), 0..300),
        // The PSAM's own instructions with random parameters and data.
        (
            prop_oneof![Just(0x00u8), Just(0x80), Just(0xBF), any::<u8>()],
            prop_oneof![
                Just(0xA4u8),
                Just(0xB0),
                Just(0xC0),
                Just(0xDE),
                Just(0xFA),
                any::<u8>()
            ],
            prop_oneof![
                Just(0x00u8),
                Just(0x05),
                Just(0x27),
                Just(0x47),
                Just(0x96),
                any::<u8>()
            ],
            prop_oneof![Just(0x00u8), Just(0x01), Just(0x0A), any::<u8>()],
            proptest::collection::vec(any::<u8>(), 0..48),
            proptest::option::of(any::<u8>()),
        )
            .prop_map(|(cla, ins, p1, p2, data, le)| {
                let mut v = vec![cla, ins, p1, p2];
                if !data.is_empty() {
                    v.push(data.len() as u8);
                    v.extend(data);
                }
                v.extend(le);
                v
            }),
        Just(hex::to_vec(SELECT_SX1).unwrap()),
        Just(hex::to_vec(SELECT_SX3).unwrap()),
        Just(hex::to_vec(SELECT_DF01_AID).unwrap()),
        Just(hex::to_vec(SELECT_DF01_FID).unwrap()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn every_apdu_gets_a_status_word(
        sm4 in any::<bool>(),
        seq in proptest::collection::vec(apdu(), 1..30),
    ) {
        let algorithm = if sm4 { Algorithm::Sm4 } else { Algorithm::Des3 };
        let mut rt = psam(algorithm);
        for apdu in seq {
            let r = rt.transmit(&apdu);
            prop_assert!(r.len() >= 2);
            let sw = Status::from_bytes(r[r.len() - 2], r[r.len() - 1]);
            if r.len() > 2 {
                prop_assert!(matches!(sw, Status::Success | Status::MoreAvailable(_)), "{sw}");
            }
        }
    }
}
