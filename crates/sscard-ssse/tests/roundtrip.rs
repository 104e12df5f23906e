//! Every data item of the profile written through the library and read back, over
//! generated values (property test), with the keys and PIN the profile asks for.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use sscard_apdu::{hex, Exchange, Status};
use sscard_crypto::kdf::EmulationScheme;
use sscard_crypto::keys::Algorithm;
use sscard_emu::{EmulatedReader, Runtime, SsCard};
use sscard_fs::address::{DfSpelling, FileAddress, ItemRef};
use sscard_fs::keys::KeySet;
use sscard_fs::profile::{Item, Structure};
use sscard_fs::{Address, Encoding, Image, Profile, EMULATION_KEYS_JSON, FULL_IMAGE_JSON};
use sscard_ssse::security::{CardContext, SoftKeys};
use sscard_ssse::{read_address_with, write_address, Pin, MEMBER_SEPARATOR};

const GBK_POOL: &[char] = &[
    '测', '试', '张', '李', '王', '赵', '钱', '孙', '周', '吴', '郑', '杭', '州', '·',
];
const AN_POOL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-./ ";

/// A value that fits an item of this length and encoding (what a writer may put there).
fn value(encoding: Encoding, length: usize) -> BoxedStrategy<String> {
    match encoding {
        Encoding::An => proptest::collection::vec(proptest::sample::select(AN_POOL), 0..=length)
            .prop_map(|b| String::from_utf8(b).unwrap().trim_end().to_string())
            .boxed(),
        Encoding::Gbk => {
            proptest::collection::vec(proptest::sample::select(GBK_POOL), 0..=length / 2)
                .prop_map(|c| c.into_iter().collect())
                .boxed()
        }
        Encoding::Cn => proptest::collection::vec(0u8..10, 0..=2 * length)
            .prop_map(|d| d.into_iter().map(|x| char::from(b'0' + x)).collect())
            .boxed(),
        _ => proptest::collection::vec(any::<u8>(), length..=length)
            .prop_map(|b| hex::to_string(&b))
            .boxed(),
    }
}

fn df_of(path: &str) -> Option<(DfSpelling, u8)> {
    let parts: Vec<&str> = path.split('/').collect();
    let ef = |p: &str| u8::from_str_radix(p.strip_prefix("EF")?, 16).ok();
    match parts.as_slice() {
        ["SSSE", e] => Some((DfSpelling::Ssse, ef(e)?)),
        ["SSSE", d, e] => Some((
            DfSpelling::Df(u8::from_str_radix(d.strip_prefix("DF")?, 16).ok()?),
            ef(e)?,
        )),
        _ => None,
    }
}

/// The whole writable card: one file part per TLV record file (its items and the first
/// occurrence of each group) and per cyclic file (a new record), with value strategies.
fn whole_card(profile: &Profile) -> (Address, Vec<Vec<BoxedStrategy<String>>>) {
    let mut files = Vec::new();
    let mut strategies = Vec::new();
    for node in profile.nodes() {
        let Some((df, ef)) = df_of(&node.path) else {
            continue;
        };
        // Files the terminal never writes (transaction logs) are not part of it.
        if node
            .access
            .is_some_and(|a| a.update == sscard_fs::profile::AccessRule::Never)
        {
            continue;
        }
        let joined = |items: &[Item]| {
            items
                .iter()
                .map(|m| value(m.encoding, m.length))
                .collect::<Vec<_>>()
                .prop_map(|v| v.join(&MEMBER_SEPARATOR.to_string()))
                .boxed()
        };
        match node.structure {
            Some(Structure::TlvRecord) if !node.items.is_empty() || !node.groups.is_empty() => {
                let mut items = Vec::new();
                let mut s = Vec::new();
                for it in &node.items {
                    items.push(ItemRef::Tag(it.tag));
                    s.push(value(it.encoding, it.length));
                }
                for g in &node.groups {
                    items.push(ItemRef::Group {
                        tag: g.tag,
                        occurrence: 1,
                    });
                    s.push(joined(&g.members));
                }
                files.push(FileAddress {
                    df,
                    ef,
                    record: None,
                    items,
                });
                strategies.push(s);
            }
            Some(Structure::Cyclic) => {
                let fields: Vec<BoxedStrategy<String>> = node
                    .fields
                    .iter()
                    .map(|f| value(f.encoding, f.length))
                    .collect();
                files.push(FileAddress {
                    df,
                    ef,
                    record: Some(1),
                    items: vec![],
                });
                strategies.push(vec![fields.prop_map(|v| v.join(",")).boxed()]);
            }
            _ => {}
        }
    }
    (Address { files }, strategies)
}

fn card() -> (Exchange<EmulatedReader<SsCard>>, Vec<u8>) {
    let profile = sscard_fs::builtin_profile().unwrap();
    let image = Image::from_json(FULL_IMAGE_JSON).unwrap();
    let rt = Runtime::new(SsCard::new(&profile, &image).unwrap());
    let atr = rt.atr().to_vec();
    (Exchange::new(EmulatedReader::new(rt)), atr)
}

fn keys() -> SoftKeys<EmulationScheme> {
    SoftKeys::new(
        KeySet::from_json(EMULATION_KEYS_JSON).unwrap(),
        EmulationScheme,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_item_round_trips(values in {
        let profile = sscard_fs::builtin_profile().unwrap();
        let (_, strategies) = whole_card(&profile);
        strategies
    }) {
        let profile = sscard_fs::builtin_profile().unwrap();
        let (address, _) = whole_card(&profile);
        address.validate(&profile).unwrap();
        let (mut ex, atr) = card();
        let ctx = CardContext { atr: &atr, card_id: "330100D15600000500A1B2C3D4E5F607", algorithm: Algorithm::Des3 };
        let pin = Pin::new("123456").unwrap();
        write_address(&mut ex, &profile, &address, &values, Some(&pin), &mut keys(), &ctx).unwrap();
        let back = read_address_with(&mut ex, &profile, &address, Some(&pin), &mut keys(), &ctx).unwrap();
        prop_assert_eq!(back, values);
    }
}

#[test]
fn the_whole_card_is_covered() {
    let profile = sscard_fs::builtin_profile().unwrap();
    let (address, _) = whole_card(&profile);
    let items: usize = address
        .files
        .iter()
        .map(|f| f.items.len() + usize::from(f.record.is_some()))
        .sum();
    // SSSE EF05 (7) + EF06 (7) + EF0D (4) and the application DFs: well over a hundred.
    assert!(address.files.len() >= 30, "{}", address.files.len());
    assert!(items >= 150, "{items}");
}

#[test]
fn writes_without_authentication_are_refused() {
    let (mut ex, _) = card();
    let mut buf = [0u8; 258];
    let mut tx = |apdu: &str| {
        ex.transceive(&hex::to_vec(apdu).unwrap(), &mut buf)
            .unwrap()
            .status
    };
    assert_eq!(
        tx("00A404000F7378312E73682EC9E7BBE1B1A3D5CF"),
        Status::Success
    );
    // SSSE EF05 (update key 04), no authentication.
    assert_eq!(tx("00A4020002EF05"), Status::Success);
    assert_eq!(
        tx("00DC07000B0709413131313131313131"),
        Status::SecurityStatusNotSatisfied
    );
    // DF01 EF07 after the PIN but without its update key.
    assert_eq!(tx("00A4000002DF01"), Status::Success);
    assert_eq!(tx("0020000003123456"), Status::Success);
    assert_eq!(tx("00A4020002EF07"), Status::Success);
    assert_eq!(tx("00DC2900032901 31"), Status::SecurityStatusNotSatisfied);
}
