//! Authentication against the emulated card: software keys with the emulation scheme,
//! 3rd-generation (SM4) and 2nd-generation (3DES) cards, wrong keys, replays.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use sscard_apdu::{hex, Exchange, Status};
use sscard_crypto::kdf::EmulationScheme;
use sscard_crypto::keys::Algorithm;
use sscard_emu::{EmulatedReader, Runtime, SsCard};
use sscard_fs::keys::KeySet;
use sscard_fs::{Image, EMULATION_KEYS_JSON, SAMPLE_IMAGE_JSON};
use sscard_ssse::security::{
    external_authenticate, internal_authenticate, AuthError, CardContext, SecurityModule, SoftKeys,
};
use sscard_ssse::{
    read_basic, read_basic_secured, read_image, read_image_secured, ReadError, Step,
};

const NONCE: [u8; 8] = [0x10, 0x32, 0x54, 0x76, 0x98, 0xBA, 0xDC, 0xFE];

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

fn soft_keys() -> SoftKeys<EmulationScheme> {
    SoftKeys::new(
        KeySet::from_json(EMULATION_KEYS_JSON).unwrap(),
        EmulationScheme,
    )
}

/// Software keys whose masters differ from the card's.
fn other_keys() -> SoftKeys<EmulationScheme> {
    let mut v: serde_json::Value = serde_json::from_str(EMULATION_KEYS_JSON).unwrap();
    for k in v["keys"].as_array_mut().unwrap() {
        k["des3"] = "00112233445566778899AABBCCDDEEFF".into();
        k["sm4"] = "00112233445566778899AABBCCDDEEFF".into();
    }
    SoftKeys::new(KeySet::from_json(&v.to_string()).unwrap(), EmulationScheme)
}

#[test]
fn third_generation_sm4_card_needs_authentication_and_gets_it() {
    let profile = sscard_fs::builtin_profile().unwrap();
    let img = image("3.00", "03");
    // Without a security module the protected items are refused.
    let (mut ex, atr) = card(&img);
    let err = read_basic(&mut ex, &profile, &atr).unwrap_err();
    assert!(
        matches!(
            err,
            ReadError::Card(
                Step::ReadRecord {
                    fid: 0xEF05,
                    tag: 0x05
                },
                Status::SecurityStatusNotSatisfied
            )
        ),
        "{err}"
    );
    // With the emulation keys: internal then RKSSSE external authentication, then all.
    let (mut ex, atr) = card(&img);
    let basic = read_basic_secured(&mut ex, &profile, &atr, &mut soft_keys(), &NONCE).unwrap();
    assert_eq!(basic.name, "李测试");
    assert_eq!(basic.issue_date, "20240315");
    assert_eq!(basic.spec_version, "3.00");
    // With other keys the card is not genuine (as far as these keys know).
    let (mut ex, atr) = card(&img);
    let err = read_basic_secured(&mut ex, &profile, &atr, &mut other_keys(), &NONCE).unwrap_err();
    assert!(matches!(err, AuthError::NotGenuine), "{err}");
}

#[test]
fn the_whole_basic_image_of_a_third_generation_card_reads_after_authentication() {
    let profile = sscard_fs::builtin_profile().unwrap();
    let img = image("3.00", "03");
    let (mut ex, atr) = card(&img);
    assert!(read_image(&mut ex, &profile, &atr).is_err());
    let (mut ex, atr) = card(&img);
    let got = read_image_secured(&mut ex, &profile, &atr, &mut soft_keys(), &NONCE).unwrap();
    for path in sscard_ssse::BASIC_FILES {
        assert!(!img.files[path].is_empty());
        assert_eq!(got.files[path], img.files[path], "{path}");
    }
    let (mut ex, atr) = card(&img);
    let err = read_image_secured(&mut ex, &profile, &atr, &mut other_keys(), &NONCE).unwrap_err();
    assert!(matches!(err, AuthError::NotGenuine), "{err}");
    // A 2nd-generation card reads without authenticating (these keys would fail).
    let img2 = image("2.00", "01");
    let (mut ex, atr) = card(&img2);
    let got = read_image_secured(&mut ex, &profile, &atr, &mut other_keys(), &NONCE).unwrap();
    assert_eq!(got.files["SSSE/EF06"], img2.files["SSSE/EF06"]);
}

#[test]
fn second_generation_reads_without_authenticating() {
    let profile = sscard_fs::builtin_profile().unwrap();
    let (mut ex, atr) = card(&image("2.00", "01"));
    // Keys that would fail prove no authentication happened.
    let basic = read_basic_secured(&mut ex, &profile, &atr, &mut other_keys(), &NONCE).unwrap();
    assert_eq!(basic.card_number, "A12345678");
}

/// A module that answers garbage, to count the card's key error counter down.
struct Wrong;
impl SecurityModule for Wrong {
    type Error = core::convert::Infallible;
    fn cryptogram(
        &mut self,
        _: &CardContext<'_>,
        _: u8,
        _: &[u8; 8],
        _: &[u8; 8],
    ) -> Result<[u8; 8], Self::Error> {
        Ok([0; 8])
    }
}

#[test]
fn external_authentication_opens_rkssse_files_and_counts_errors() {
    for (algorithm_id, algorithm) in [("01", Algorithm::Des3), ("03", Algorithm::Sm4)] {
        let img = image("3.00", algorithm_id);
        let (mut ex, atr) = card(&img);
        let ctx = CardContext {
            atr: &atr,
            card_id: "330100D15600000500A1B2C3D4E5F607",
            algorithm,
        };
        let mut buf = [0u8; 258];
        ex.transceive_ok(
            &hex::to_vec("00A404000F7378312E73682EC9E7BBE1B1A3D5CF").unwrap(),
            &mut buf,
        )
        .unwrap();
        // The photo (EF08, SFI 8) needs RKSSSE.
        let read_photo = hex::to_vec("00B0880004").unwrap();
        assert_eq!(
            ex.transceive(&read_photo, &mut buf).unwrap().status,
            Status::SecurityStatusNotSatisfied
        );
        // Wrong cryptograms count down from 15.
        for left in [14u8, 13] {
            let err = external_authenticate(&mut ex, &mut Wrong, &ctx, 0x0A).unwrap_err();
            assert!(
                matches!(err, AuthError::Card(ReadError::Card(Step::ExternalAuth(0x0A), Status::VerificationFailed { tries_left })) if tries_left == left),
                "{err}"
            );
        }
        external_authenticate(&mut ex, &mut soft_keys(), &ctx, 0x0A).unwrap();
        assert_eq!(
            ex.transceive(&read_photo, &mut buf).unwrap().status,
            Status::Success
        );
        // Internal authentication with the IRK checks out.
        internal_authenticate(&mut ex, &mut soft_keys(), &ctx, 0x00, &NONCE).unwrap();
        // An unknown key id.
        let err = external_authenticate(&mut ex, &mut soft_keys(), &ctx, 0x55).unwrap_err();
        assert!(matches!(err, AuthError::Module(_)), "{err}");
    }
}

#[test]
fn challenges_are_single_use() {
    let img = image("2.00", "01");
    let (mut ex, atr) = card(&img);
    let ctx = CardContext {
        atr: &atr,
        card_id: "330100D15600000500A1B2C3D4E5F607",
        algorithm: Algorithm::Des3,
    };
    let mut keys = soft_keys();
    let mut buf = [0u8; 258];
    ex.transceive_ok(
        &hex::to_vec("00A404000F7378312E73682EC9E7BBE1B1A3D5CF").unwrap(),
        &mut buf,
    )
    .unwrap();
    let r = sscard_ssse::security::get_challenge(&mut ex).unwrap();
    let c = keys.cryptogram(&ctx, 0x0A, &r, &r).unwrap();
    let mut apdu = hex::to_vec("008200 0A 10").unwrap();
    apdu.extend_from_slice(&c);
    apdu.extend_from_slice(&r);
    assert_eq!(
        ex.transceive(&apdu, &mut buf).unwrap().status,
        Status::Success
    );
    // The same cryptogram again: the challenge is used up.
    assert_eq!(
        ex.transceive(&apdu, &mut buf).unwrap().status,
        Status::ReferencedDataInvalid
    );
    // A fresh challenge, the old cryptogram: wrong.
    sscard_ssse::security::get_challenge(&mut ex).unwrap();
    assert!(matches!(
        ex.transceive(&apdu, &mut buf).unwrap().status,
        Status::VerificationFailed { tries_left: 14 }
    ));
    // Any command between GET CHALLENGE and EXTERNAL AUTHENTICATE spends the challenge.
    let r = sscard_ssse::security::get_challenge(&mut ex).unwrap();
    ex.transceive(&hex::to_vec("00A4020002EF05").unwrap(), &mut buf)
        .unwrap();
    let c = keys.cryptogram(&ctx, 0x0A, &r, &r).unwrap();
    let mut apdu = hex::to_vec("0082000A10").unwrap();
    apdu.extend_from_slice(&c);
    apdu.extend_from_slice(&r);
    assert_eq!(
        ex.transceive(&apdu, &mut buf).unwrap().status,
        Status::ReferencedDataInvalid
    );
}

mod pin_admin {
    use super::*;
    use sscard_ssse::security::{get_challenge, reload_pin, unblock_pin, SecureTransport};
    use sscard_ssse::{verify_pin, Pin};

    fn select(ex: &mut Exchange<EmulatedReader<SsCard>>) {
        let mut buf = [0u8; 258];
        ex.transceive_ok(
            &hex::to_vec("00A404000F7378312E73682EC9E7BBE1B1A3D5CF").unwrap(),
            &mut buf,
        )
        .unwrap();
    }

    fn status(ex: &mut Exchange<EmulatedReader<SsCard>>, apdu: &[u8]) -> Status {
        let mut buf = [0u8; 258];
        ex.transceive(apdu, &mut buf).unwrap().status
    }

    #[test]
    fn block_unblock_reload_with_macs() {
        let profile = sscard_fs::builtin_profile().unwrap();
        for (alg, algorithm) in [("01", Algorithm::Des3), ("03", Algorithm::Sm4)] {
            let (mut ex, atr) = card(&image("3.00", alg));
            let ctx = CardContext {
                atr: &atr,
                card_id: "330100D15600000500A1B2C3D4E5F607",
                algorithm,
            };
            select(&mut ex);
            let wrong = Pin::new("000000").unwrap();
            let right = Pin::new("123456").unwrap();
            for _ in 0..6 {
                assert!(verify_pin(&mut ex, &wrong).is_err());
            }
            let err = verify_pin(&mut ex, &right).unwrap_err();
            assert!(
                matches!(
                    err,
                    ReadError::Card(Step::VerifyPin, Status::AuthenticationMethodBlocked)
                ),
                "{err}"
            );

            // Without the PUK authentication the card refuses 84 24.
            get_challenge(&mut ex).unwrap();
            assert_eq!(
                status(&mut ex, &hex::to_vec("8424000004AABBCCDD").unwrap()),
                Status::SecurityStatusNotSatisfied
            );

            // A wrong MAC after a valid PUK authentication: 6988, still blocked.
            let mut keys = soft_keys();
            external_authenticate(&mut ex, &mut keys, &ctx, 0x06).unwrap();
            let r = get_challenge(&mut ex).unwrap();
            let mut mac = keys
                .mac(&ctx, 0x09, &r, &[0x84, 0x24, 0x00, 0x00, 0x04])
                .unwrap();
            mac[0] ^= 0x01;
            let mut apdu = hex::to_vec("8424000004").unwrap();
            apdu.extend_from_slice(&mac[..4]);
            assert_eq!(status(&mut ex, &apdu), Status::SecureMessagingDataIncorrect);
            assert!(verify_pin(&mut ex, &right).is_err());

            // A valid unblock; replaying it fails (its challenge is spent).
            external_authenticate(&mut ex, &mut keys, &ctx, 0x06).unwrap();
            let r = get_challenge(&mut ex).unwrap();
            let mac = keys
                .mac(&ctx, 0x09, &r, &[0x84, 0x24, 0x00, 0x00, 0x04])
                .unwrap();
            let mut apdu = hex::to_vec("8424000004").unwrap();
            apdu.extend_from_slice(&mac[..4]);
            assert_eq!(status(&mut ex, &apdu), Status::Success);
            assert_eq!(status(&mut ex, &apdu), Status::ReferencedDataInvalid);
            verify_pin(&mut ex, &right).unwrap();

            // Reload to a new PIN through the library flow.
            let new = Pin::new("654321").unwrap();
            reload_pin(&mut ex, &profile, &mut keys, &ctx, &new).unwrap();
            assert!(verify_pin(&mut ex, &right).is_err());
            verify_pin(&mut ex, &new).unwrap();

            // The unblock flow too, after blocking again.
            for _ in 0..6 {
                let _ = verify_pin(&mut ex, &wrong);
            }
            unblock_pin(&mut ex, &profile, &mut keys, &ctx).unwrap();
            verify_pin(&mut ex, &new).unwrap();

            // With other keys the PUK authentication itself fails.
            let err = reload_pin(&mut ex, &profile, &mut other_keys(), &ctx, &right).unwrap_err();
            assert!(
                matches!(
                    err,
                    AuthError::Card(ReadError::Card(
                        Step::ExternalAuth(0x06),
                        Status::VerificationFailed { .. }
                    ))
                ),
                "{err}"
            );
        }
    }
}
