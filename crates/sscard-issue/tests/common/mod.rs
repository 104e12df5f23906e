//! What the batch-engine tests share: the profile, the sample template, generated
//! holders and the emulation keys in software.
#![allow(dead_code, clippy::unwrap_used)]

use sscard_crypto::kdf::EmulationScheme;
use sscard_fs::keys::KeySet;
use sscard_fs::{Image, Profile, EMULATION_KEYS_JSON, SAMPLE_IMAGE_JSON};
use sscard_issue::batch::{gb11643_check_character, Batch, Options};
use sscard_issue::cos::{SoftKeyWrap, TransportKey};
use sscard_ssse::security::SoftKeys;

/// The built-in profile.
pub fn profile() -> Profile {
    sscard_fs::builtin_profile().unwrap()
}

/// The sample image, the batches' template.
pub fn base() -> Image {
    Image::from_json(SAMPLE_IMAGE_JSON).unwrap()
}

/// The emulation master keys.
pub fn key_set() -> KeySet {
    KeySet::from_json(EMULATION_KEYS_JSON).unwrap()
}

/// The key wrap and the security module with the emulation keys in this process.
pub fn soft_keys() -> (SoftKeyWrap<EmulationScheme>, SoftKeys<EmulationScheme>) {
    (
        SoftKeyWrap::new(
            key_set(),
            TransportKey::test_key().unwrap(),
            EmulationScheme,
        ),
        SoftKeys::new(key_set(), EmulationScheme),
    )
}

/// The ID number `11010119900101NNN` + check character, NNN = `first + n`.
pub fn ssn_from(first: usize, n: usize) -> String {
    let body = format!("11010119900101{:03}", first + n);
    let check = gb11643_check_character(body.as_bytes()).unwrap();
    format!("{body}{check}")
}

/// The standard columns of holder `i` (ID number from `first`, gender agreeing with
/// it, card number `<letter><i>`): `ssn,name,gender,nation,card_number,issue_date,expiry_date`.
pub fn holder_row(first: usize, letter: char, i: usize) -> String {
    let gender = if (first + i) % 2 == 1 { "1" } else { "2" };
    format!(
        "{},持卡人{i},{gender},01,{letter}{i:08},20240315,20340315",
        ssn_from(first, i)
    )
}

/// The header of [`holder_row`]'s columns.
pub const HEADER: &str = "ssn,name,gender,nation,card_number,issue_date,expiry_date";

/// Parses `csv`, asserting that all `n` rows are valid.
pub fn parse(csv: &str, n: usize) -> Batch {
    let b = Batch::parse_csv(csv.as_bytes(), &profile(), &Options::default()).unwrap();
    assert_eq!(b.holders.len(), n, "{:?}", b.errors);
    b
}
