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
    // EF05–EF08, the regional EF0C/EF0D and DF01–DF07.
    assert_eq!(p.children(SSSE).count(), 13);
}

#[test]
fn whole_card_structures() {
    use sscard_fs::profile::{KeyUsage, Structure};
    let p = builtin_profile().unwrap();
    // Keys and PIN of the SSSE (ids from one province: examples, not constants).
    let ssse = p.node(SSSE).unwrap();
    assert_eq!(ssse.key(0x0A).unwrap().usage, KeyUsage::Read);
    assert_eq!(ssse.key(0x06).unwrap().usage, KeyUsage::PinUnblock);
    assert_eq!(ssse.pin.unwrap().digits, 6);
    // Binary files behind RKSSSE.
    let photo = p.node("SSSE/EF08").unwrap();
    assert_eq!(photo.structure, Some(Structure::Transparent));
    assert_eq!(photo.size, Some(0x1000));
    assert_eq!(
        photo.access.unwrap().read,
        AccessRule::Require {
            pin: false,
            key: Some(0x0A)
        }
    );
    // A B-TLV group: DF01/EF15 group 40 {57, 58, 59}.
    let edu = p.node("SSSE/DF01/EF15").unwrap();
    let g = edu.group_by_tag(0x40).unwrap();
    assert_eq!(
        g.members.iter().map(|m| m.tag).collect::<Vec<_>>(),
        [0x57, 0x58, 0x59]
    );
    assert_eq!(g.value_len(), 3 + 2 + 3 + 2 + 0x28 + 2);
    // Cyclic file with positional fields: DF02/EF07, 4 records of 7+4+4+0x46 bytes.
    let rec = p.node("SSSE/DF02/EF07").unwrap();
    assert_eq!(
        (rec.structure, rec.record_count, rec.record_length()),
        (Some(Structure::Cyclic), Some(4), 7 + 4 + 4 + 0x46)
    );
    // PIN plus a read key: DF04/EF06.
    assert_eq!(
        p.node("SSSE/DF04/EF06").unwrap().access.unwrap().read,
        AccessRule::Require {
            pin: true,
            key: Some(0x84)
        }
    );
    // DF03's per-EF update keys.
    let df03 = p.node("SSSE/DF03").unwrap();
    assert_eq!(
        df03.keys.iter().map(|k| k.id).collect::<Vec<_>>(),
        [0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B]
    );
    // The PKI application of 3rd-generation cards.
    assert_eq!(
        p.node("PKI/ADF1").unwrap().aid.as_deref(),
        Some(&b"SS.CERT.ADF1"[..])
    );
    assert_eq!(p.node("PKI/ADF1/EF0012").unwrap().size, Some(0x42));
    // Every unconfirmed placeholder says so.
    let text = PROFILE_JSON;
    assert!(text.matches("placeholder").count() > 50);
}

#[test]
fn access_rule_notation() {
    assert_eq!(AccessRule::parse("free"), Some(AccessRule::Free));
    assert_eq!(
        AccessRule::parse("pin"),
        Some(AccessRule::Require {
            pin: true,
            key: None
        })
    );
    assert_eq!(
        AccessRule::parse("pin+ext-auth:84"),
        Some(AccessRule::Require {
            pin: true,
            key: Some(0x84)
        })
    );
    assert_eq!(AccessRule::parse("ext-auth:84+ext-auth:85"), None);
    assert_eq!(AccessRule::parse("pin+pin"), None);
    assert_eq!(AccessRule::parse("ext-auth:8"), None);
    let rule = AccessRule::parse("pin+ext-auth:84").unwrap();
    assert!(!rule.allows(true, |_| false));
    assert!(!rule.allows(false, |k| k == 0x84));
    assert!(rule.allows(true, |k| k == 0x84));
    assert!(!AccessRule::Never.allows(true, |_| true));
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

#[test]
fn full_image_fills_every_kind_of_file() {
    use sscard_fs::image::FileContent;
    let p = builtin_profile().unwrap();
    let img = Image::from_json(FULL_IMAGE_JSON).unwrap();
    img.validate(&p).unwrap();
    // Two occurrences of group 40 at consecutive records after item 2A.
    let FileContent::Records(r) = img.content(&p, "SSSE/DF01/EF15").unwrap() else {
        panic!()
    };
    assert_eq!(
        r.iter().map(|r| (r.number, r.tag)).collect::<Vec<_>>(),
        [(1, Some(0x2A)), (2, Some(0x40)), (3, Some(0x40))]
    );
    assert_eq!(
        r[1].bytes[0..5],
        [0x40, 3 + 2 + 3 + 2 + 0x28 + 2, 0x57, 3, b'B']
    );
    // Cyclic records are positional, record 1 first.
    let FileContent::Records(r) = img.content(&p, "SSSE/DF02/EF07").unwrap() else {
        panic!()
    };
    assert_eq!(
        (r.len(), r[0].number, r[0].tag, r[0].bytes.len()),
        (2, 1, None, 7 + 4 + 4 + 0x46)
    );
    // Binary files are padded to their size.
    let FileContent::Binary(b) = img.content(&p, "SSSE/EF08").unwrap() else {
        panic!()
    };
    assert_eq!((b.len(), b[0], b[1]), (0x1000, 0xFF, 0xD8));
}

#[test]
fn wrong_shapes_are_named() {
    let p = builtin_profile().unwrap();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_str(FULL_IMAGE_JSON).unwrap();
        f(&mut v);
        Image::from_json(&v.to_string())
            .unwrap()
            .validate(&p)
            .unwrap_err()
            .to_string()
    };
    assert!(edit(&|v| v["files"]["SSSE/DF01/EF15"]["g40"] = "x".into()).contains("wrong shape"));
    assert!(
        edit(&|v| v["files"]["SSSE/DF02/EF07"]["records"][0]["f9"] = "x".into())
            .contains("wrong shape")
    );
    assert!(edit(&|v| v["files"]["SSSE/EF08"]["data"] = "Z".into()).contains("SSSE/EF08/data"));
    // Too many group occurrences (the profile allows 3).
    assert!(edit(&|v| {
        let occ = v["files"]["SSSE/DF01/EF15"]["g40"][0].clone();
        v["files"]["SSSE/DF01/EF15"]["g40"] = serde_json::Value::Array(vec![occ; 4]);
    })
    .contains("wrong shape"));
}

#[test]
fn psam_profile() {
    let p = Profile::from_json(PSAM_PROFILE_JSON).unwrap();
    let mf = p.node("MF").unwrap();
    // The PSAM MF carries the same name bytes as the card's SSSE.
    assert_eq!(mf.aid, builtin_profile().unwrap().node(SSSE).unwrap().aid);
    let term = p.node("MF/EF16").unwrap();
    assert_eq!((term.sfi, term.size), (Some(0x16), Some(6)));
    assert_eq!(
        p.node("MF/DF01").unwrap().aid.as_deref(),
        Some(&[0xD1, 0x56, 0x00, 0x00, 0x05, 0x90][..])
    );
    assert_eq!(
        p.node("MF/DF01").unwrap().key(0x0A).unwrap().name,
        "RKSSSE (card read key)"
    );
    assert!(p.node("SX3/DF01").is_some());
}

#[test]
fn third_generation_read_conditions() {
    let p = builtin_profile().unwrap();
    let ef05 = p.node(SSSE_EF05).unwrap();
    let rk = AccessRule::Require {
        pin: false,
        key: Some(0x0A),
    };
    // 2nd generation: all free.
    assert_eq!(ef05.read_rule(Some(0x05), false), AccessRule::Free);
    // 3.0: 01, 03, 07 are read before authentication, 05 and 06 after RKSSSE.
    assert_eq!(ef05.read_rule(Some(0x01), true), AccessRule::Free);
    assert_eq!(ef05.read_rule(Some(0x07), true), AccessRule::Free);
    assert_eq!(ef05.read_rule(Some(0x05), true), rk);
    assert_eq!(ef05.read_rule(Some(0x06), true), rk);
    let ef06 = p.node(SSSE_EF06).unwrap();
    assert_eq!(ef06.read_rule(Some(0x09), true), rk);
    assert_eq!(ef06.read_rule(Some(0x09), false), AccessRule::Free);
}

#[test]
fn emulation_key_set() {
    use sscard_fs::keys::KeySet;
    let keys = KeySet::from_json(EMULATION_KEYS_JSON).unwrap();
    let rk = keys.by_card_key(0x0A).unwrap();
    assert_eq!((rk.psam_key, rk.usage, rk.levels()), (0x0A, 0x47, 2));
    assert!(format!("{rk:?}").contains("card_key: 10") && !format!("{rk:?}").contains("des3"));
    assert_eq!(keys.by_psam_key(0x12).unwrap().card_key, 0x04);
    let mut v: serde_json::Value = serde_json::from_str(EMULATION_KEYS_JSON).unwrap();
    v["keys"][1]["card_key"] = "00".into();
    assert!(KeySet::from_json(&v.to_string()).is_err());
    let mut v: serde_json::Value = serde_json::from_str(EMULATION_KEYS_JSON).unwrap();
    v["keys"][0]["usage"] = "07".into(); // zero levels
    assert!(KeySet::from_json(&v.to_string()).is_err());
}
