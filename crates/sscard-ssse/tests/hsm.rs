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
