//! The shipped profile and sample image.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use sscard_fs::profile::{AccessRule, NodeProblem, Structure};
use sscard_fs::*;

#[test]
fn builtin_profile_matches_the_spec() {
    let p = builtin_profile().unwrap();
    let ssse = p.node(SSSE).unwrap();
    assert_eq!(
        ssse.aid.as_deref().unwrap(),
        b"sx1.sh.\xC9\xE7\xBB\xE1\xB1\xA3\xD5\xCF"
    );
    let ef05 = p.node(SSSE_EF05).unwrap();
    assert_eq!((ef05.fid, ef05.sfi), (Some(0xEF05), Some(5)));
    assert_eq!(ef05.structure, Some(Structure::TlvRecord));
    assert_eq!(ef05.access.unwrap().read, AccessRule::Free);
    assert_eq!(
        ef05.access.unwrap().update,
        AccessRule::Require {
            pin: false,
            key: Some(0x04)
        }
    );
    // Record number equals tag for all seven EF05 records.
    assert_eq!(ef05.items.len(), 7);
    assert!(ef05.items.iter().all(|i| i.record == Some(i.tag)));
    let ef06 = p.node(SSSE_EF06).unwrap();
    let name = ef06.item_by_tag(0x09).unwrap();
    assert_eq!((name.length, name.encoding), (30, Encoding::Gbk));
    assert_eq!(ef06.item_by_tag(0x4E).unwrap().tlv_len(), 0x16);
    assert_eq!(ef06.item("ssn").unwrap().tag, 0x08);
    assert_eq!(p.children(SSSE).count(), 2);
}

#[test]
fn sample_image_encodes_to_spec_records() {
    let p = builtin_profile().unwrap();
    let img = sample_image().unwrap();
    img.validate(&p).unwrap();
    let ef05 = img.records(&p, SSSE_EF05).unwrap();
    let card_number = ef05.iter().find(|r| r.number == 7).unwrap();
    assert_eq!(card_number.bytes, b"\x07\x09A12345678");
    let card_id = ef05.iter().find(|r| r.tag == Some(1)).unwrap();
    assert_eq!(card_id.bytes.len(), 0x12);
    let ef06 = img.records(&p, SSSE_EF06).unwrap();
    let name = ef06.iter().find(|r| r.tag == Some(0x09)).unwrap();
    assert_eq!(name.number, 2);
    assert_eq!(
        &name.bytes[..8],
        &[0x09, 0x1E, 0xC0, 0xEE, 0xB2, 0xE2, 0xCA, 0xD4]
    );
    assert_eq!(name.bytes.len(), 32);
    let birth = ef06.iter().find(|r| r.tag == Some(0x0D)).unwrap();
    assert_eq!(birth.bytes, [0x0D, 0x04, 0x19, 0x90, 0x03, 0x07]);
    assert_eq!(img.atr_bytes().unwrap().len(), 17);
    assert_eq!(img.algorithm_id_byte().unwrap(), Some(1));
}

#[test]
fn image_round_trips_through_json() {
    let img = sample_image().unwrap();
    assert_eq!(Image::from_json(&img.to_json()).unwrap(), img);
}

#[test]
fn bad_images_are_named() {
    let p = builtin_profile().unwrap();
    let mut img = sample_image().unwrap();
    img.files
        .get_mut(SSSE_EF06)
        .unwrap()
        .insert("name".into(), "一二三四五六七八九十一二三四五六".into());
    let err = img.validate(&p).unwrap_err();
    assert!(
        matches!(&err, ImageError::BadValue { key, problem: CodecError::TooLong { max: 30 }, .. } if key == "name")
    );
    assert_eq!(
        err.to_string(),
        "SSSE/EF06/name: value longer than the item's 30 bytes"
    );

    let mut img = sample_image().unwrap();
    img.files.get_mut(SSSE_EF05).unwrap().remove("card_number");
    assert!(matches!(
        img.validate(&p),
        Err(ImageError::MissingItem { .. })
    ));

    let mut img = sample_image().unwrap();
    img.files
        .get_mut(SSSE_EF05)
        .unwrap()
        .insert("colour".into(), "x".into());
    assert!(
        matches!(img.validate(&p), Err(ImageError::UnknownItem { key, .. }) if key == "colour")
    );

    let mut img = sample_image().unwrap();
    img.files.insert("SSSE/EF99".into(), Default::default());
    assert!(matches!(
        img.validate(&p),
        Err(ImageError::UnknownFile { .. })
    ));

    let mut img = sample_image().unwrap();
    img.atr = "3B6D00".into();
    assert_eq!(img.validate(&p), Err(ImageError::BadAtr));

    assert!(matches!(
        Image::from_json("{"),
        Err(ImageError::Syntax { .. })
    ));
    assert_eq!(
        Image::from_json(r#"{"schema":"x","atr":"3B00","files":{}}"#),
        Err(ImageError::UnknownSchema)
    );
}

#[test]
fn bad_profiles_are_rejected() {
    let base: serde_json::Value = serde_json::from_str(PROFILE_JSON).unwrap();
    let check = |edit: &dyn Fn(&mut serde_json::Value), node: usize, problem: NodeProblem| {
        let mut v = base.clone();
        edit(&mut v);
        assert_eq!(
            Profile::from_json(&v.to_string()),
            Err(ProfileError::InvalidNode { node, problem })
        );
    };
    check(
        &|v| v["nodes"][2]["path"] = "SSSE".into(),
        2,
        NodeProblem::DuplicatePath,
    );
    check(
        &|v| v["nodes"][2]["path"] = "NOPE/EF05".into(),
        2,
        NodeProblem::MissingParent,
    );
    check(
        &|v| v["nodes"][2]["sfi"] = 31.into(),
        2,
        NodeProblem::BadSfi,
    );
    check(
        &|v| v["nodes"][2]["fid"] = "EF0".into(),
        2,
        NodeProblem::BadHex,
    );
    check(
        &|v| v["nodes"][2]["items"][1]["tag"] = "01".into(),
        2,
        NodeProblem::DuplicateItem,
    );
    check(
        &|v| v["nodes"][2]["items"][1]["length"] = 0.into(),
        2,
        NodeProblem::BadItemLength,
    );
    check(
        &|v| v["nodes"][2]["access"]["read"] = "maybe".into(),
        2,
        NodeProblem::BadAccessRule,
    );
    check(
        &|v| v["nodes"][2]["structure"] = serde_json::Value::Null,
        2,
        NodeProblem::BadKind,
    );
    assert!(matches!(
        Profile::from_json("[]"),
        Err(ProfileError::Syntax { .. })
    ));
}
