//! HSM step strings and the iReadCardBas output, against the published examples of
//! `spec/sscard.md` §3.8 and §4.3.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use sscard_ssse::hsm::{HsmStringError, Step1, Step2Key};
use sscard_ssse::BasicInfo;

/// The real Step 1 output of a Zhejiang 3rd-generation card (no device-number field).
const STEP1: &str = "331100|00904A3001866033110000048A|03|331100D156000005500509728DB46EF9|456FE02E253F817D|A39FC0BF44CAEA80|4F5FB5932F10694D|2CFE760428888D8E|";
const STEP2: &str = "98ABD5279E9CD3306183AFC81BE3C72E|40B69F2C478028DC1594A8CC187E1FE9|";

#[test]
fn published_step_strings_round_trip() {
    let s1 = Step1::parse(STEP1).unwrap();
    assert_eq!(s1.region_code, "331100");
    assert_eq!(s1.algorithm_id, 0x03);
    assert_eq!(s1.atr_historical.len(), 13);
    assert_eq!(
        s1.external_factor,
        [0x4F, 0x5F, 0xB5, 0x93, 0x2F, 0x10, 0x69, 0x4D]
    );
    assert_eq!(s1.device_number, None);
    assert_eq!(s1.to_string(), STEP1);
    let with_device = format!("{STEP1}T0001|");
    let s1d = Step1::parse(&with_device).unwrap();
    assert_eq!(s1d.device_number.as_deref(), Some("T0001"));
    assert_eq!(s1d.to_string(), with_device);

    let key = Step2Key::parse(STEP2).unwrap();
    assert_eq!(
        key.internal[..8],
        [0x98, 0xAB, 0xD5, 0x27, 0x9E, 0x9C, 0xD3, 0x30]
    );
    assert_eq!(key.to_string(), STEP2);
    assert_eq!(format!("{key:?}"), "Step2Key(<redacted>)");
}

#[test]
fn malformed_step_strings_are_errors() {
    assert_eq!(Step1::parse("331100|00|"), Err(HsmStringError::FieldCount));
    assert_eq!(
        Step1::parse(&STEP1.replace("|03|", "|0G|")),
        Err(HsmStringError::Field { index: 2 })
    );
    assert_eq!(
        Step1::parse(&STEP1[..STEP1.len() - 1]),
        Err(HsmStringError::FieldCount)
    );
    assert_eq!(
        Step1::parse(&STEP1.replacen("331100|", "33110X|", 1)),
        Err(HsmStringError::Field { index: 0 })
    );
    assert_eq!(
        Step2Key::parse("98AB|40B6|"),
        Err(HsmStringError::Field { index: 0 })
    );
    assert_eq!(
        Step2Key::parse(&STEP2.replace('|', "")),
        Err(HsmStringError::FieldCount)
    );
    assert_eq!(Step2Key::parse(""), Err(HsmStringError::FieldCount));
}

#[test]
fn ireadcardbas_matches_the_interface_document() {
    // The example quoted from the interface document (spec §4.3).
    let info = BasicInfo {
        region_code: "639900".into(),
        ssn: "111111198101011110".into(),
        card_number: "X00000019".into(),
        card_id: "639900D15600000500BF7C7A48FB4966".into(),
        name: "张三".into(),
        atr_historical: "00814E43238697159900BF7C7A".into(),
        spec_version: "1.00".into(),
        issue_date: "20101001".into(),
        expiry_date: "20201001".into(),
    };
    assert_eq!(
        info.ireadcardbas(Some("410100813475"), "终端设备号"),
        "639900|111111198101011110|X00000019|639900D15600000500BF7C7A48FB4966|张三|00814E43238697159900BF7C7A|1.00|20101001|20201001|410100813475|终端设备号|"
    );
    assert!(info
        .ireadcardbas(None, "")
        .ends_with("|20201001|000000000000||"));
}

mod flow {
    use sscard_apdu::Exchange;
    use sscard_crypto::kdf::EmulationScheme;
    use sscard_emu::{EmulatedReader, Runtime, SsCard};
    use sscard_fs::keys::KeySet;
    use sscard_fs::{Image, EMULATION_KEYS_JSON, SAMPLE_IMAGE_JSON};
    use sscard_ssse::hsm::{step1, step2, HsmError, SoftHsm, Step1, Step2Key};
    use sscard_ssse::security::SoftKeys;

    fn card(version: &str, alg: &str) -> (Exchange<EmulatedReader<SsCard>>, Vec<u8>) {
        let mut v: serde_json::Value = serde_json::from_str(SAMPLE_IMAGE_JSON).unwrap();
        v["files"]["SSSE/EF05"]["spec_version"] = version.into();
        v["algorithm_id"] = alg.into();
        let image = Image::from_json(&v.to_string()).unwrap();
        let profile = sscard_fs::builtin_profile().unwrap();
        let rt = Runtime::new(SsCard::new(&profile, &image).unwrap());
        let atr = rt.atr().to_vec();
        (Exchange::new(EmulatedReader::new(rt)), atr)
    }

    fn hsm(keys_json: &str) -> SoftHsm<EmulationScheme> {
        SoftHsm::new(
            SoftKeys::new(KeySet::from_json(keys_json).unwrap(), EmulationScheme),
            0x00,
            0x0A,
        )
    }

    #[test]
    fn step1_to_a_software_hsm_to_step2() {
        let profile = sscard_fs::builtin_profile().unwrap();
        for alg in ["01", "03"] {
            let (mut ex, atr) = card("3.00", alg);
            let (s1, pending) = step1(&mut ex, &profile, &atr, None).unwrap();
            // The HSM gets the string, not the struct.
            let text = s1.to_string();
            assert!(
                text.starts_with(&format!("330100|00815353433300001234567890|{alg}|330100D1")),
                "{text}"
            );
            let answer = hsm(EMULATION_KEYS_JSON)
                .answer(&Step1::parse(&text).unwrap())
                .unwrap();
            // And Step 2 gets the HSM's string back.
            let key = Step2Key::parse(&answer.to_string()).unwrap();
            let basic = step2(&mut ex, &profile, pending, &key).unwrap();
            assert_eq!(basic.name, "李测试");
            assert_eq!(
                basic.ireadcardbas(None, ""),
                "330100|330102199003071230|A12345678|330100D15600000500A1B2C3D4E5F607|李测试|00815353433300001234567890|3.00|20240315|20340315|000000000000||"
            );
        }
    }

    #[test]
    fn a_wrong_hsm_or_a_second_generation_card_is_refused() {
        let profile = sscard_fs::builtin_profile().unwrap();
        let mut other: serde_json::Value = serde_json::from_str(EMULATION_KEYS_JSON).unwrap();
        for k in other["keys"].as_array_mut().unwrap() {
            k["sm4"] = "0123456789ABCDEF0123456789ABCDEF".into();
        }
        let (mut ex, atr) = card("3.00", "03");
        let (s1, pending) = step1(&mut ex, &profile, &atr, Some("T01")).unwrap();
        assert!(s1.to_string().ends_with("|T01|"));
        let key = hsm(&other.to_string()).answer(&s1).unwrap();
        assert!(matches!(
            step2(&mut ex, &profile, pending, &key),
            Err(HsmError::InternalAuthMismatch)
        ));
        // A right internal half with a wrong external half: the card refuses (63Cx).
        let (mut ex, atr) = card("3.00", "03");
        let (s1, pending) = step1(&mut ex, &profile, &atr, None).unwrap();
        let mut key = hsm(EMULATION_KEYS_JSON).answer(&s1).unwrap();
        key.external[0] ^= 1;
        let err = step2(&mut ex, &profile, pending, &key).unwrap_err();
        assert!(err.to_string().contains("63CE"), "{err}");
        let (mut ex, atr) = card("2.00", "01");
        assert!(matches!(
            step1(&mut ex, &profile, &atr, None),
            Err(HsmError::NotRequired)
        ));
    }

    mod pin {
        use super::{card, hsm};
        use sscard_apdu::{CommandBuilder, Exchange, Status, Transport};
        use sscard_crypto::keys::Algorithm;
        use sscard_fs::EMULATION_KEYS_JSON;
        use sscard_ssse::hsm::{
            pin_step1, pin_step2, pin_step3, HsmKeyAddresses, PinHsmError, PinOp, PinStep1,
            PinStep2,
        };
        use sscard_ssse::security::CardContext;
        use sscard_ssse::Pin;

        const HIST: &str = "00815353433300001234567890";
        const CARD_ID: &str = "330100D15600000500A1B2C3D4E5F607";

        fn select_and_verify<T: Transport>(ex: &mut Exchange<T>, pin: &str) -> Status {
            let mut buf = [0u8; 258];
            let aid = sscard_fs::builtin_profile()
                .unwrap()
                .node(sscard_fs::SSSE)
                .unwrap()
                .aid
                .clone()
                .unwrap();
            ex.send(&CommandBuilder::new(0, 0xA4, 4, 0x0C).data(&aid), &mut buf)
                .unwrap();
            let bcd = Pin::new(pin).unwrap().bcd();
            ex.send(&CommandBuilder::new(0, 0x20, 0, 0).data(&bcd), &mut buf)
                .unwrap()
                .status
        }

        /// The three steps against the emulated card, each string passed as text to the
        /// software HSM (which learns the card from the application, as a real one does).
        fn run(alg: &str, op: PinOp, new_pin: Option<&str>) -> Result<(), String> {
            let (mut ex, _) = card("3.00", alg);
            let profile = sscard_fs::builtin_profile().unwrap();
            let algorithm_id = u8::from_str_radix(alg, 16).unwrap();
            assert_eq!(
                select_and_verify(&mut ex, "000000").to_u16() & 0xFFF0,
                0x63C0
            );
            let hist = sscard_apdu::hex::to_vec(HIST).unwrap();
            let cc = CardContext {
                atr: &hist,
                card_id: CARD_ID,
                algorithm: Algorithm::from_card_id(algorithm_id).unwrap(),
            };
            let (s1, mut pending) =
                pin_step1(&mut ex, op, algorithm_id, HsmKeyAddresses::default()).unwrap();
            let text = s1.to_string();
            assert!(text.starts_with(&format!("{alg}|0090|")), "{text}");
            let ext = hsm(EMULATION_KEYS_JSON)
                .answer_pin_step1(&PinStep1::parse(&text).unwrap(), &cc, 0x06)
                .unwrap();
            let pin = new_pin.map(|p| Pin::new(p).unwrap());
            let s2 = pin_step2(&mut ex, &profile, &mut pending, &ext, pin.as_ref())
                .map_err(|e| e.to_string())?;
            let text = s2.to_string();
            let body = hsm(EMULATION_KEYS_JSON)
                .answer_pin_step2(&PinStep2::parse(&text).unwrap(), &cc, 0x09)
                .unwrap();
            pin_step3(&mut ex, pending, &body).map_err(|e| e.to_string())?;
            // The counter is reset (and for a reload the new PIN is in force).
            let right = new_pin.unwrap_or("123456");
            let status = select_and_verify(&mut ex, right);
            (status == Status::Success)
                .then_some(())
                .ok_or(format!("verify after: {status}"))
        }

        #[test]
        fn reload_and_unblock_through_a_software_hsm() {
            for alg in ["01", "03"] {
                run(alg, PinOp::Reload, Some("654321")).unwrap();
                run(alg, PinOp::Unblock, None).unwrap();
            }
        }

        #[test]
        fn the_strings_carry_the_right_headers() {
            let (mut ex, _) = card("3.00", "03");
            let profile = sscard_fs::builtin_profile().unwrap();
            select_and_verify(&mut ex, "123456");
            let (s1, mut pending) =
                pin_step1(&mut ex, PinOp::Reload, 0x03, HsmKeyAddresses::default()).unwrap();
            let hist = sscard_apdu::hex::to_vec(HIST).unwrap();
            let cc = CardContext {
                atr: &hist,
                card_id: CARD_ID,
                algorithm: Algorithm::Sm4,
            };
            let ext = hsm(EMULATION_KEYS_JSON)
                .answer_pin_step1(&s1, &cc, 0x06)
                .unwrap();
            let pin = Pin::new("654321").unwrap();
            let s2 = pin_step2(&mut ex, &profile, &mut pending, &ext, Some(&pin)).unwrap();
            let text = s2.to_string();
            // SM4: a 16-byte PIN block and a 4-byte MAC, as in the public example.
            assert!(text.starts_with("03|0173|"), "{text}");
            assert!(text.ends_with("|8424000114|654321|"), "{text}");
            assert!(!format!("{s2:?}").contains("654321"));
            // Step 3 with an answer of the wrong length is refused before the card sees it.
            assert!(matches!(
                pin_step3(&mut ex, pending, &[0u8; 12]),
                Err(PinHsmError::AnswerLength {
                    expected: 20,
                    actual: 12
                })
            ));
            // A wrong HSM answer at Step 1: the card refuses the PUK.
            let (mut ex, _) = card("3.00", "01");
            select_and_verify(&mut ex, "123456");
            let (_, mut pending) =
                pin_step1(&mut ex, PinOp::Unblock, 0x01, HsmKeyAddresses::default()).unwrap();
            let err = pin_step2(&mut ex, &profile, &mut pending, &[0u8; 16], None).unwrap_err();
            assert!(err.to_string().contains("63C"), "{err}");
            assert!(PinStep1::parse("01|0090|00|").is_err());
            assert!(PinStep2::parse("01|0173|0011223344556677|8424000114|12a4|").is_err());
        }
    }
}
