//! `verify_card` against emulated cards: the sample card verifies against its own
//! image with the emulation keys; a changed item, a card with other keys, a used PIN
//! and a missing module each fail exactly their checks.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use sscard_apdu::Exchange;
use sscard_crypto::kdf::EmulationScheme;
use sscard_emu::{EmulatedReader, Runtime, SsCard};
use sscard_fs::keys::KeySet;
use sscard_fs::{Image, EMULATION_KEYS_JSON, SAMPLE_IMAGE_JSON};
use sscard_issue::verify::{verify_card, Report};
use sscard_ssse::security::SoftKeys;

fn run(card_image: &Image, record: &Image, keys: Option<&str>) -> Report {
    let profile = sscard_fs::builtin_profile().unwrap();
    let rt = Runtime::new(SsCard::new(&profile, card_image).unwrap());
    let atr = rt.atr().to_vec();
    let mut ex = Exchange::new(EmulatedReader::new(rt));
    let mut module = keys.map(|k| SoftKeys::new(KeySet::from_json(k).unwrap(), EmulationScheme));
    verify_card(&mut ex, &profile, &atr, record, module.as_mut()).unwrap()
}

fn sample() -> Image {
    Image::from_json(SAMPLE_IMAGE_JSON).unwrap()
}

#[test]
fn the_sample_card_verifies_against_its_own_image() {
    let r = run(&sample(), &sample(), Some(EMULATION_KEYS_JSON));
    assert!(r.passed(), "{:#?}", r.failures().collect::<Vec<_>>());
    assert!(r.checks.iter().any(|c| c.name == "data SSSE/EF06 name"));
    assert!(
        r.checks
            .iter()
            .filter(|c| c.name.starts_with("key "))
            .count()
            >= 3
    );
    assert!(r.checks.iter().any(|c| c.name == "PIN tries" && c.ok));
}

#[test]
fn each_kind_of_difference_fails_its_check() {
    // A record with another card number: exactly that data check fails.
    let mut record = sample();
    let ef05 = record.files.get_mut("SSSE/EF05").unwrap();
    ef05.insert("card_number".into(), "Z99999999".into());
    let r = run(&sample(), &record, Some(EMULATION_KEYS_JSON));
    let failed: Vec<_> = r.failures().map(|c| c.name.clone()).collect();
    assert_eq!(failed, ["data SSSE/EF05 card_number"]);
    // Other keys: every key check fails, the data still passes.
    let mut other: serde_json::Value = serde_json::from_str(EMULATION_KEYS_JSON).unwrap();
    for k in other["keys"].as_array_mut().unwrap() {
        k["des3"] = "0123456789ABCDEF0123456789ABCDEF".into();
    }
    let r = run(&sample(), &sample(), Some(&other.to_string()));
    assert!(!r.passed());
    assert!(
        r.failures().all(|c| c.name.starts_with("key ")),
        "{:#?}",
        r.failures().collect::<Vec<_>>()
    );
    // A card whose PIN is not the initial one.
    let mut used = sample();
    used.pin = Some("654321".into());
    let r = run(&used, &sample(), Some(EMULATION_KEYS_JSON));
    let failed: Vec<_> = r.failures().map(|c| c.name.clone()).collect();
    assert_eq!(failed, ["PIN initial"]);
    // No module: the key check fails rather than passing unchecked.
    let r = run(&sample(), &sample(), None);
    assert!(!r.passed());
    assert!(r.failures().any(|c| c.name == "keys"));
}

#[test]
fn a_third_generation_card_is_read_through_the_module() {
    let mut v: serde_json::Value = serde_json::from_str(SAMPLE_IMAGE_JSON).unwrap();
    v["files"]["SSSE/EF05"]["spec_version"] = "3.00".into();
    v["algorithm_id"] = "03".into();
    let gen3 = Image::from_json(&v.to_string()).unwrap();
    let r = run(&gen3, &gen3, Some(EMULATION_KEYS_JSON));
    assert!(r.passed(), "{:#?}", r.failures().collect::<Vec<_>>());
    assert!(r
        .checks
        .iter()
        .any(|c| c.name == "data SSSE/EF06 name" && c.ok));
    // Without a module the basic files stay closed: the data check fails.
    let r = run(&gen3, &gen3, None);
    let failed: Vec<_> = r.failures().map(|c| c.name.clone()).collect();
    assert_eq!(failed, ["data", "keys"], "{failed:?}");
}
