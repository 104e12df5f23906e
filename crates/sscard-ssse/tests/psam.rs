//! The PSAM security module against the emulated PSAM and the emulated card, in
//! process: 3.0 cards read with a PSAM (3DES and SM4), the same cryptograms as software
//! keys, wrong masters, the PSAM's status words, the terminal number, and PSAMs that
//! answer garbage.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use sscard_apdu::{hex, Exchange, Status, Transport, TransportErrorKind};
use sscard_crypto::kdf::{EmulationScheme, KeyUsage};
use sscard_crypto::keys::Algorithm;
use sscard_emu::psam::PsamOptions;
use sscard_emu::{EchoCard, EmulatedPsam, EmulatedReader, Runtime, SsCard};
use sscard_fs::keys::KeySet;
use sscard_fs::{Image, Profile, EMULATION_KEYS_JSON, PSAM_PROFILE_JSON, SAMPLE_IMAGE_JSON};
use sscard_ssse::psam::{KeyMap, Psam, PsamError, PsamKey, PsamStep};
use sscard_ssse::security::{AuthError, CardContext, SecurityModule, SoftKeys};
use sscard_ssse::{read_basic, read_basic_secured, ReadError};

const NONCE: [u8; 8] = [0x10, 0x32, 0x54, 0x76, 0x98, 0xBA, 0xDC, 0xFE];
const CARD_ID: &str = "330100D15600000500A1B2C3D4E5F607";

type EmuPsam = Psam<EmulatedReader<EmulatedPsam>>;

fn image(version: &str, algorithm: &str) -> Image {
    let mut v: serde_json::Value = serde_json::from_str(SAMPLE_IMAGE_JSON).unwrap();
    v["files"]["SSSE/EF05"]["spec_version"] = version.into();
    v["algorithm_id"] = algorithm.into();
    Image::from_json(&v.to_string()).unwrap()
}

fn card(image: &Image) -> (Exchange<EmulatedReader<SsCard>>, Vec<u8>) {
    let profile = sscard_fs::builtin_profile().unwrap();
    let rt = Runtime::new(SsCard::new(&profile, image).unwrap());
    let atr = rt.atr().to_vec();
    (Exchange::new(EmulatedReader::new(rt)), atr)
}

fn key_set() -> KeySet {
    KeySet::from_json(EMULATION_KEYS_JSON).unwrap()
}

fn psam_profile() -> Profile {
    Profile::from_json(PSAM_PROFILE_JSON).unwrap()
}

fn psam_exchange(sam: EmulatedPsam) -> Exchange<EmulatedReader<EmulatedPsam>> {
    Exchange::new(EmulatedReader::new(Runtime::new(sam)))
}

fn open(algorithm: Algorithm) -> EmuPsam {
    let ex = psam_exchange(EmulatedPsam::builtin(algorithm).unwrap());
    Psam::open(ex, &psam_profile(), KeyMap::from_key_set(&key_set())).unwrap()
}

/// A PSAM whose masters differ from the card's.
fn other_psam(algorithm: Algorithm) -> EmuPsam {
    let mut v: serde_json::Value = serde_json::from_str(EMULATION_KEYS_JSON).unwrap();
    for k in v["keys"].as_array_mut().unwrap() {
        k["des3"] = "00112233445566778899AABBCCDDEEFF".into();
        k["sm4"] = "00112233445566778899AABBCCDDEEFF".into();
    }
    let other = KeySet::from_json(&v.to_string()).unwrap();
    let options = PsamOptions {
        keys: Some(&other),
        ..PsamOptions::default()
    };
    let sam = EmulatedPsam::with_options(&psam_profile(), algorithm, options).unwrap();
    // The key map has no masters: the same one serves both PSAMs.
    Psam::open(
        psam_exchange(sam),
        &psam_profile(),
        KeyMap::from_key_set(&key_set()),
    )
    .unwrap()
}

#[test]
fn third_generation_cards_read_with_the_psam() {
    let profile = sscard_fs::builtin_profile().unwrap();
    // 3DES card of spec version 3.00 (sx1 PSAM), SM4 card with algorithm 03 (sx3 PSAM).
    for (algorithm, id) in [(Algorithm::Des3, "01"), (Algorithm::Sm4, "03")] {
        let img = image("3.00", id);
        let (mut ex, atr) = card(&img);
        let err = read_basic(&mut ex, &profile, &atr).unwrap_err();
        assert!(
            matches!(err, ReadError::Card(_, Status::SecurityStatusNotSatisfied)),
            "{err}"
        );
        let (mut ex, atr) = card(&img);
        let mut sam = open(algorithm);
        assert_eq!(sam.algorithm(), algorithm);
        let basic = read_basic_secured(&mut ex, &profile, &atr, &mut sam, &NONCE).unwrap();
        assert_eq!(basic.name, "李测试");
        assert_eq!(basic.spec_version, "3.00");
        assert_eq!(basic.issue_date, "20240315");
        assert_eq!(basic.ssn, "330102199003071230");

        // Other masters: the card is not genuine as far as that PSAM knows.
        let (mut ex, atr) = card(&img);
        let err = read_basic_secured(&mut ex, &profile, &atr, &mut other_psam(algorithm), &NONCE)
            .unwrap_err();
        assert!(matches!(err, AuthError::NotGenuine), "{err}");
    }
}

#[test]
fn second_generation_cards_need_no_psam_commands() {
    let profile = sscard_fs::builtin_profile().unwrap();
    let (mut ex, atr) = card(&image("2.00", "01"));
    // A PSAM that would fail proves it was never asked.
    let basic = read_basic_secured(
        &mut ex,
        &profile,
        &atr,
        &mut other_psam(Algorithm::Des3),
        &NONCE,
    )
    .unwrap();
    assert_eq!(basic.name, "李测试");
}

#[test]
fn psam_and_soft_keys_agree() {
    let mut soft = SoftKeys::new(key_set(), EmulationScheme);
    for (algorithm, id) in [(Algorithm::Des3, "01"), (Algorithm::Sm4, "03")] {
        let (_, atr) = card(&image("3.00", id));
        let ctx = CardContext {
            atr: &atr,
            card_id: CARD_ID,
            algorithm,
        };
        let mut sam = open(algorithm);
        for entry in key_set().keys() {
            for seed in 0u8..3 {
                let factor = [seed.wrapping_mul(37); 8];
                let plain = [seed ^ entry.card_key; 8];
                let want = soft
                    .cryptogram(&ctx, entry.card_key, &factor, &plain)
                    .unwrap();
                let got = sam
                    .cryptogram(&ctx, entry.card_key, &factor, &plain)
                    .unwrap();
                assert_eq!(got, want, "{algorithm:?} key {:02X}", entry.card_key);
            }
        }
    }
}

#[test]
fn terminal_number_environment_and_probing() {
    assert_eq!(open(Algorithm::Des3).terminal_number(), "000000000001");
    let options = PsamOptions {
        terminal_number: "410100813475",
        ..PsamOptions::default()
    };
    let sam = EmulatedPsam::with_options(&psam_profile(), Algorithm::Sm4, options).unwrap();
    let keys = KeyMap::from_key_set(&key_set());
    // open() finds sx3 after sx1 is refused; open_environment() asks for one.
    let psam = Psam::open(psam_exchange(sam), &psam_profile(), keys.clone()).unwrap();
    assert_eq!(psam.terminal_number(), "410100813475");
    assert_eq!(psam.algorithm(), Algorithm::Sm4);
    let ex = psam_exchange(EmulatedPsam::builtin(Algorithm::Sm4).unwrap());
    let err =
        Psam::open_environment(ex, &psam_profile(), Algorithm::Des3, keys.clone()).unwrap_err();
    assert!(
        matches!(
            err,
            PsamError::Status(
                PsamStep::SelectEnvironment(Algorithm::Des3),
                Status::FileNotFound
            )
        ),
        "{err}"
    );
    // A user card is no PSAM: it knows the sx1 name but has no terminal number.
    let (ex, _) = card(&image("2.00", "01"));
    let err = Psam::open(ex, &psam_profile(), keys.clone()).unwrap_err();
    assert!(
        matches!(
            err,
            PsamError::Status(PsamStep::ReadTerminalNumber, Status::FileNotFound)
        ),
        "{err}"
    );
    // An echo card answers 9000 to everything, without a terminal number.
    let ex = Exchange::new(EmulatedReader::new(Runtime::new(EchoCard::new())));
    let err = Psam::open(ex, &psam_profile(), keys).unwrap_err();
    assert!(matches!(err, PsamError::BadTerminalNumber), "{err}");
}

#[test]
fn psam_status_words_reach_the_caller() {
    let (_, atr) = card(&image("3.00", "01"));
    let ctx = CardContext {
        atr: &atr,
        card_id: CARD_ID,
        algorithm: Algorithm::Des3,
    };
    // Card key 0A mapped to a PSAM key the PSAM lacks (55), and to the right key with
    // another usage byte: both 6A88 at BF DE.
    for (psam_key, usage) in [(0x55, 0x47), (0x0A, 0x48)] {
        let map = KeyMap::new([PsamKey {
            card_key: 0x0A,
            psam_key,
            usage: KeyUsage(usage),
        }]);
        let ex = psam_exchange(EmulatedPsam::builtin(Algorithm::Des3).unwrap());
        let mut sam = Psam::open(ex, &psam_profile(), map).unwrap();
        let err = sam.cryptogram(&ctx, 0x0A, &[1; 8], &[2; 8]).unwrap_err();
        assert!(
            matches!(
                err,
                PsamError::Status(PsamStep::InitKey { key, .. }, Status::ReferencedDataNotFound)
                    if key == psam_key
            ),
            "{err}"
        );
        assert_eq!(err.status(), Some(Status::ReferencedDataNotFound));
        assert!(err.to_string().contains("6A88"), "{err}");
    }
    // A card key the map lacks never reaches the PSAM.
    let mut sam = open(Algorithm::Des3);
    let err = sam.cryptogram(&ctx, 0x55, &[1; 8], &[2; 8]).unwrap_err();
    assert!(matches!(err, PsamError::UnknownKey(0x55)), "{err}");
    // The card's algorithm must be the PSAM's.
    let sm4_ctx = CardContext {
        algorithm: Algorithm::Sm4,
        ..ctx
    };
    let err = sam
        .cryptogram(&sm4_ctx, 0x0A, &[1; 8], &[2; 8])
        .unwrap_err();
    assert!(
        matches!(
            err,
            PsamError::AlgorithmMismatch {
                card: Algorithm::Sm4,
                psam: Algorithm::Des3
            }
        ),
        "{err}"
    );
    // An identification code without a region code cannot be diversified.
    let bad = CardContext {
        card_id: "ABCDEF",
        ..ctx
    };
    let err = sam.cryptogram(&bad, 0x0A, &[1; 8], &[2; 8]).unwrap_err();
    assert!(matches!(err, PsamError::Diversification(_)), "{err}");

    // Raw commands on the module's own exchange: 80 FA without BF DE, wrong Lc.
    let mut sam = open(Algorithm::Des3);
    let mut buf = [0u8; 258];
    let ex = sam.exchange();
    let mut sw = |apdu: &str| {
        ex.transceive(&hex::to_vec(apdu).unwrap(), &mut buf)
            .unwrap()
            .status
    };
    assert_eq!(
        sw("80FA0000080102030405060708"),
        Status::ConditionsOfUseNotSatisfied
    );
    assert_eq!(
        sw(&format!("BFDE470A0C{}", "11".repeat(12))),
        Status::WrongLength
    );
    // Lc 0x10 is one level; usage 47 says two.
    assert_eq!(
        sw(&format!("BFDE470A10{}", "11".repeat(16))),
        Status::WrongData
    );
    assert_eq!(
        sw(&format!("BFDE070A10{}", "11".repeat(16))),
        Status::IncorrectP1P2
    );
    // The module still works after all that.
    sam.cryptogram(&ctx, 0x0A, &[1; 8], &[2; 8]).unwrap();
}

/// A PSAM that answers each command with the next scripted response (or an error).
struct Scripted {
    answers: std::vec::IntoIter<Option<Vec<u8>>>,
}

impl Transport for Scripted {
    type Error = TransportErrorKind;
    fn transmit(&mut self, _: &[u8], response: &mut [u8]) -> Result<usize, Self::Error> {
        let answer = self
            .answers
            .next()
            .flatten()
            .ok_or(TransportErrorKind::Other)?;
        let dst = response
            .get_mut(..answer.len())
            .ok_or(TransportErrorKind::BufferTooSmall {
                needed: answer.len(),
            })?;
        dst.copy_from_slice(&answer);
        Ok(answer.len())
    }
}

fn answer() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        Just(None),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Some),
        // Plausible answers: some data and a status word the exchange acts on.
        (
            proptest::collection::vec(any::<u8>(), 0..20),
            prop_oneof![
                Just([0x90, 0x00]),
                Just([0x61, 0x08]),
                Just([0x61, 0x10]),
                Just([0x6C, 0x06]),
                any::<[u8; 2]>()
            ]
        )
            .prop_map(|(mut data, sw)| {
                data.extend_from_slice(&sw);
                Some(data)
            }),
        Just(Some(hex::to_vec("0000000000019000").unwrap())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn garbage_from_the_psam_is_an_error_never_a_panic(
        answers in proptest::collection::vec(answer(), 0..20),
        sm4 in any::<bool>(),
        opened in any::<bool>(),
    ) {
        let algorithm = if sm4 { Algorithm::Sm4 } else { Algorithm::Des3 };
        // Half the runs open properly, so the garbage reaches BF DE and 80 FA.
        let mut script = Vec::new();
        if opened {
            for good in ["9000", "0000000000019000", "9000"] {
                script.push(Some(hex::to_vec(good).unwrap()));
            }
        }
        script.extend(answers);
        let ex = Exchange::new(Scripted { answers: script.into_iter() });
        let keys = KeyMap::from_key_set(&key_set());
        if let Ok(mut sam) = Psam::open_environment(ex, &psam_profile(), algorithm, keys) {
            let atr = hex::to_vec("3B6D000000815353433300001234567890").unwrap();
            let ctx = CardContext { atr: &atr, card_id: CARD_ID, algorithm };
            for _ in 0..3 {
                if let Ok(c) = sam.cryptogram(&ctx, 0x0A, &[1; 8], &[2; 8]) {
                    prop_assert_eq!(c.len(), 8);
                }
            }
        }
    }
}

#[test]
fn pin_reload_and_unblock_through_the_psam() {
    use sscard_ssse::security::{reload_pin, unblock_pin, CardContext, SecureTransport, SoftKeys};
    use sscard_ssse::{verify_pin, Pin};
    let profile = sscard_fs::builtin_profile().unwrap();
    for (alg, algorithm) in [("01", Algorithm::Des3), ("03", Algorithm::Sm4)] {
        let (mut ex, atr) = card(&image("3.00", alg));
        let ctx = CardContext {
            atr: &atr,
            card_id: CARD_ID,
            algorithm,
        };
        let mut sam = open(algorithm);
        // The PSAM's MAC and encryption equal the software keys'.
        let mut soft = SoftKeys::new(key_set(), sscard_crypto::kdf::EmulationScheme);
        let data = [0x84, 0x24, 0x00, 0x00, 0x04];
        assert_eq!(
            sam.mac(&ctx, 0x09, &[1; 8], &data).unwrap(),
            soft.mac(&ctx, 0x09, &[1; 8], &data).unwrap()
        );
        let mut a = vec![0x5A; 32];
        let mut b = a.clone();
        sam.encrypt(&ctx, 0x09, &[2; 8], &mut a).unwrap();
        soft.encrypt(&ctx, 0x09, &[2; 8], &mut b).unwrap();
        assert_eq!(a, b);
        // The whole flow against the card.
        let mut buf = [0u8; 258];
        ex.transceive_ok(
            &sscard_apdu::hex::to_vec("00A404000F7378312E73682EC9E7BBE1B1A3D5CF").unwrap(),
            &mut buf,
        )
        .unwrap();
        for _ in 0..6 {
            let _ = verify_pin(&mut ex, &Pin::new("000000").unwrap());
        }
        unblock_pin(&mut ex, &profile, &mut sam, &ctx).unwrap();
        reload_pin(
            &mut ex,
            &profile,
            &mut sam,
            &ctx,
            &Pin::new("246810").unwrap(),
        )
        .unwrap();
        verify_pin(&mut ex, &Pin::new("246810").unwrap()).unwrap();
    }
}
