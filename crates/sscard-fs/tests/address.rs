//! The reader library's file-address grammar.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use sscard_fs::address::{AddressErrorKind, DfSpelling, ItemRef};
use sscard_fs::{builtin_profile, Address};

#[test]
fn documented_examples_parse_and_validate() {
    let p = builtin_profile().unwrap();
    let a = Address::parse("SSSEEF05|06|07|$SSSEEF06|08|09|$").unwrap();
    assert_eq!(a.files.len(), 2);
    assert_eq!(a.files[0].path(), "SSSE/EF05");
    assert_eq!(a.files[1].items, [ItemRef::Tag(0x08), ItemRef::Tag(0x09)]);
    a.validate(&p).unwrap();
    assert_eq!(a.to_string(), "SSSEEF05|06|07|$SSSEEF06|08|09|$");

    let old = Address::parse("MFEF05|07|$MFEF06|08|09|0A|$").unwrap();
    assert_eq!(old.files[0].df, DfSpelling::Mf);
    assert_eq!(old.files[0].path(), "SSSE/EF05");
    old.validate(&p).unwrap();

    let df = Address::parse("DF01EF05|20|21|$").unwrap();
    assert_eq!(df.files[0].path(), "SSSE/DF01/EF05");
    df.validate(&p).unwrap();

    let group = Address::parse("DF01EF15|2A|40:02|$").unwrap();
    assert_eq!(
        group.files[0].items[1],
        ItemRef::Group {
            tag: 0x40,
            occurrence: 2
        }
    );
    group.validate(&p).unwrap();
    assert_eq!(group.to_string(), "DF01EF15|2A|40:02|$");

    let cyclic = Address::parse("DF02EF07:01$").unwrap();
    assert_eq!(
        (cyclic.files[0].record, cyclic.files[0].items.len()),
        (Some(1), 0)
    );
    cyclic.validate(&p).unwrap();
    assert_eq!(cyclic.to_string(), "DF02EF07:01$");

    // The last `$` may be missing.
    assert_eq!(Address::parse("SSSEEF05|07|").unwrap().files.len(), 1);
}

#[test]
fn output_mirrors_the_input() {
    let a = Address::parse("SSSEEF05|06|07|$SSSEEF06|08|09|$").unwrap();
    let out = a.format_values(&[
        vec!["20340315".into(), "A12345678".into()],
        vec!["330102199003071230".into(), "李测试".into()],
    ]);
    assert_eq!(
        out,
        "SSSEEF05|20340315|A12345678|$SSSEEF06|330102199003071230|李测试|$"
    );
}

#[test]
fn errors_say_where() {
    let p = builtin_profile().unwrap();
    let kind = |t: &str| Address::parse(t).unwrap_err().kind;
    assert_eq!(kind(""), AddressErrorKind::Empty);
    assert_eq!(kind("$$"), AddressErrorKind::Empty);
    assert_eq!(kind("XXEF05|07|$"), AddressErrorKind::BadFile);
    assert_eq!(kind("SSSEEF5|07|$"), AddressErrorKind::BadFile);
    assert_eq!(kind("DF1EF05|07|$"), AddressErrorKind::BadFile);
    assert_eq!(kind("SSSEEF05|7|$"), AddressErrorKind::BadItem);
    assert_eq!(kind("SSSEEF05|43:0|$"), AddressErrorKind::BadNumber);
    assert_eq!(kind("DF02EF07:x$"), AddressErrorKind::BadNumber);
    let e = Address::parse("SSSEEF05|07|$SSSEEF06|GG|$").unwrap_err();
    assert_eq!((e.kind, e.at), (AddressErrorKind::BadItem, 22));
    let v = |t: &str| Address::parse(t).unwrap().validate(&p).unwrap_err().kind;
    assert_eq!(v("SSSEEF55|07|$"), AddressErrorKind::UnknownFile);
    assert_eq!(v("SSSEEF05|42|$"), AddressErrorKind::UnknownItem);
    assert_eq!(v("DF01EF15|40:04|$"), AddressErrorKind::OutOfRange);
    assert_eq!(v("DF02EF07:05$"), AddressErrorKind::OutOfRange);
    assert_eq!(v("SSSEEF05:01$"), AddressErrorKind::OutOfRange);
    assert_eq!(v("DF01EF15|57|$"), AddressErrorKind::UnknownItem);
}

proptest! {
    #[test]
    fn parsing_never_panics(text in ".{0,200}") {
        let _ = Address::parse(&text);
    }

    #[test]
    fn display_round_trips(
        files in proptest::collection::vec(
            (prop_oneof![Just(0u8), Just(0xFF), 1u8..8], any::<u8>(),
             proptest::collection::vec((any::<u8>(), proptest::option::of(1u8..=99)), 1..5)),
            1..4)
    ) {
        let mut text = String::new();
        for (df, ef, items) in &files {
            match df {
                0 => text.push_str("SSSE"),
                0xFF => text.push_str("MF"),
                n => text.push_str(&format!("DF{n:02X}")),
            }
            text.push_str(&format!("EF{ef:02X}"));
            for (tag, occ) in items {
                match occ {
                    Some(o) => text.push_str(&format!("|{tag:02X}:{o:02}")),
                    None => text.push_str(&format!("|{tag:02X}")),
                }
            }
            text.push_str("|$");
        }
        let a = Address::parse(&text).unwrap();
        prop_assert_eq!(a.to_string(), text);
    }
}
