//! PIN, access conditions, writes, binary and cyclic files, challenges.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use sscard_apdu::hex;
use sscard_emu::{Runtime, SsCard};
use sscard_fs::{Image, Profile, FULL_IMAGE_JSON, PROFILE_JSON};

const SELECT_SSSE: &str = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF";

/// The full card, with the profile edited by `edit` (to open access rules that need
/// keys, which this COS cannot satisfy yet) and a counting entropy source.
fn card_with(edit: impl Fn(&mut serde_json::Value)) -> Runtime<SsCard> {
    let mut v: serde_json::Value = serde_json::from_str(PROFILE_JSON).unwrap();
    edit(&mut v);
    let profile = Profile::from_json(&v.to_string()).unwrap();
    let image = Image::from_json(FULL_IMAGE_JSON).unwrap();
    let mut counter = 0u8;
    let entropy = Box::new(move |out: &mut [u8]| {
        for b in out {
            counter = counter.wrapping_add(1);
            *b = counter;
        }
    });
    Runtime::new(SsCard::with_entropy(&profile, &image, entropy).unwrap())
}

fn card() -> Runtime<SsCard> {
    card_with(|_| {})
}

fn set_access(v: &mut serde_json::Value, path: &str, read: &str, update: &str) {
    let node = v["nodes"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|n| n["path"] == path)
        .unwrap();
    node["access"] = serde_json::json!({ "read": read, "update": update });
}

fn tx(rt: &mut Runtime<SsCard>, apdu: &str) -> String {
    hex::to_string(&rt.transmit(&hex::to_vec(apdu).unwrap()))
}

#[test]
fn pin_counts_down_blocks_and_resets() {
    let mut rt = card();
    tx(&mut rt, SELECT_SSSE);
    assert_eq!(tx(&mut rt, "00200000"), "63C6");
    assert_eq!(tx(&mut rt, "0020000003111111"), "63C5");
    assert_eq!(tx(&mut rt, "0020000003222222"), "63C4");
    // The right PIN restores the counter.
    assert_eq!(tx(&mut rt, "0020000003123456"), "9000");
    assert_eq!(rt.card().pin_tries_left(), Some(6));
    assert_eq!(tx(&mut rt, "00200000"), "9000");
    for left in (1..6).rev() {
        assert_eq!(tx(&mut rt, "0020000003000000"), format!("63C{left}"));
    }
    assert_eq!(tx(&mut rt, "0020000003000000"), "6983");
    // Blocked: even the right PIN is refused.
    assert_eq!(tx(&mut rt, "0020000003123456"), "6983");
    assert_eq!(tx(&mut rt, "00200000"), "6983");
    // The block survives a reset (the counter is persistent).
    rt.reset();
    tx(&mut rt, SELECT_SSSE);
    assert_eq!(tx(&mut rt, "0020000003123456"), "6983");
    // Malformed VERIFY.
    let mut rt = card();
    assert_eq!(tx(&mut rt, "0020000103123456"), "6A86");
    assert_eq!(tx(&mut rt, "002000000912345612345612345600"), "6700");
}

#[test]
fn pin_opens_df_files_and_reset_closes_them() {
    let mut rt = card();
    tx(&mut rt, SELECT_SSSE);
    assert_eq!(tx(&mut rt, "00A4000002DF01"), "9000");
    // SFI 5 of DF01, tag 20: PIN needed.
    assert_eq!(tx(&mut rt, "00B2202800"), "6982");
    assert_eq!(tx(&mut rt, "0020000003123456"), "9000");
    assert_eq!(
        tx(&mut rt, "00B2202800"),
        "2002".to_string() + "3031" + "9000"
    );
    // The GBK address, 0x50 bytes.
    let r = tx(&mut rt, "00B2212800");
    assert!(r.starts_with("2150D5E3BDADCA"), "{r}");
    // A B-TLV group occurrence by tag (first) and by record number (second).
    assert!(tx(&mut rt, "00A4020002EF15").ends_with("9000"));
    let first = tx(&mut rt, "00B2400000");
    assert!(
        first.starts_with(&format!("40{:02X}5703423031", 3 + 2 + 3 + 2 + 0x28 + 2)),
        "{first}"
    );
    let second = tx(&mut rt, "00B2030400");
    assert!(
        second.starts_with("40") && second.contains("433032"),
        "{second}"
    );
    // A reset drops the PIN state.
    rt.reset();
    tx(&mut rt, SELECT_SSSE);
    tx(&mut rt, "00A4000002DF01");
    assert_eq!(tx(&mut rt, "00B2202800"), "6982");
    // PIN plus a read key: DF04/EF06 stays closed with the PIN alone.
    let mut rt = card();
    tx(&mut rt, SELECT_SSSE);
    tx(&mut rt, "0020000003123456");
    tx(&mut rt, "00A4000002DF04");
    assert_eq!(tx(&mut rt, "00B2923000"), "6982");
}

#[test]
fn writes_need_their_condition_and_replace_whole_records() {
    // Without an open rule: 6982, and nothing changes.
    let mut rt = card();
    tx(&mut rt, SELECT_SSSE);
    tx(&mut rt, "00A4020002EF05");
    assert_eq!(tx(&mut rt, "00DC072C0B0709413939393939393939"), "6982");
    assert_eq!(
        tx(&mut rt, "00B2070400"),
        "0709413132333435363738".to_string() + "9000"
    );

    // With the update rule opened to the PIN (a stand-in for external authentication).
    let mut rt = card_with(|v| set_access(v, "SSSE/EF05", "free", "pin"));
    tx(&mut rt, SELECT_SSSE);
    tx(&mut rt, "0020000003123456");
    assert_eq!(tx(&mut rt, "00DC072C0B0709423939393939393939"), "9000");
    assert_eq!(
        tx(&mut rt, "00B2072C00"),
        "0709423939393939393939".to_string() + "9000"
    );
    // By tag, SFI+tag form.
    assert_eq!(tx(&mut rt, "00DC052806050420250101"), "9000");
    assert_eq!(
        tx(&mut rt, "00B2050400"),
        "05042025010190".to_string() + "00"
    );
    // Wrong tag in the data, value too long, trailing bytes, no such record.
    assert_eq!(tx(&mut rt, "00DC072C0B0809413131313131313131"), "6A80");
    assert_eq!(tx(&mut rt, "00DC072C0C070A41313131313131313131"), "6700");
    assert_eq!(tx(&mut rt, "00DC072C0C070941313131313131313100"), "6A80");
    assert_eq!(tx(&mut rt, "00DC092C03090141"), "6A83");
    // Unchanged after the refused writes.
    assert_eq!(
        tx(&mut rt, "00B2072C00"),
        "0709423939393939393939".to_string() + "9000"
    );
}

#[test]
fn binary_files() {
    let mut rt = card_with(|v| set_access(v, "SSSE/EF08", "free", "pin"));
    tx(&mut rt, SELECT_SSSE);
    // By SFI 8 (P1 = 80 | 8), offset 0, 4 bytes.
    assert_eq!(tx(&mut rt, "00B0880004"), "FFD8FFE09000");
    // Current EF, offset 0x0FFE: two bytes left; Le 00 gives what is there.
    assert_eq!(tx(&mut rt, "00B00FFE00"), "00009000");
    assert_eq!(tx(&mut rt, "00B00FFE04"), "6C02");
    assert_eq!(tx(&mut rt, "00B0100000"), "6B00");
    // Writing needs the PIN here.
    assert_eq!(tx(&mut rt, "00D6000002AABB"), "6982");
    tx(&mut rt, "0020000003123456");
    assert_eq!(tx(&mut rt, "00D6000002AABB"), "9000");
    assert_eq!(tx(&mut rt, "00B0000003"), "AABBFF9000");
    assert_eq!(tx(&mut rt, "00D60FFF02AABB"), "6700");
    // Record commands on a binary file and binary commands on a record file.
    assert_eq!(tx(&mut rt, "00B2010400"), "6981");
    tx(&mut rt, "00A4020002EF05");
    assert_eq!(tx(&mut rt, "00B0000001"), "6981");
    // Without access: the real profile keeps EF08 behind RKSSSE.
    let mut rt = card();
    tx(&mut rt, SELECT_SSSE);
    assert_eq!(tx(&mut rt, "00B0880004"), "6982");
}

#[test]
fn cyclic_files_append_newest_first() {
    let mut rt = card_with(|v| set_access(v, "SSSE/DF02/EF07", "pin", "pin"));
    tx(&mut rt, SELECT_SSSE);
    tx(&mut rt, "0020000003123456");
    tx(&mut rt, "00A4000002DF02");
    tx(&mut rt, "00A4020002EF07");
    let len = 7 + 4 + 4 + 0x46;
    let rec = |id: &str| -> String {
        let mut bytes = id.as_bytes().to_vec();
        bytes.extend([0x20, 0x24, 0x01, 0x01, 0x20, 0x24, 0x12, 0x31]);
        bytes.resize(len, 0);
        hex::to_string(&bytes)
    };
    let first_before = tx(&mut rt, "00B2010400");
    assert!(first_before.starts_with(&hex::to_string(b"A000001")));
    for id in ["N000001", "N000002", "N000003"] {
        assert_eq!(
            tx(&mut rt, &format!("00E20000{len:02X}{}", rec(id))),
            "9000"
        );
    }
    // Newest first, four records kept, the oldest gone.
    assert!(tx(&mut rt, "00B2010400").starts_with(&hex::to_string(b"N000003")));
    assert!(tx(&mut rt, "00B2040400").starts_with(&hex::to_string(b"A000001")));
    assert_eq!(tx(&mut rt, "00B2050400"), "6A83");
    // Records of a cyclic file have a fixed length.
    assert_eq!(tx(&mut rt, "00E2000002AABB"), "6700");
    // Positional files have no tags to address.
    assert_eq!(
        tx(&mut rt, &format!("00DC0100{len:02X}{}", rec("X"))),
        "6A86"
    );
}

#[test]
fn challenges_and_change_pin() {
    let mut rt = card();
    tx(&mut rt, SELECT_SSSE);
    assert_eq!(tx(&mut rt, "0084000008"), "01020304050607089000");
    assert_eq!(
        tx(&mut rt, "0084000010"),
        "090A0B0C0D0E0F101112131415161718".to_string() + "9000"
    );
    assert_eq!(tx(&mut rt, "0084000005"), "6700");
    assert_eq!(tx(&mut rt, "0084010008"), "6A86");
    // CHANGE PIN 80 5E 01 00: old FF new.
    assert_eq!(tx(&mut rt, "805E010007123456FF654321"), "9000");
    assert_eq!(tx(&mut rt, "0020000003123456"), "63C5");
    assert_eq!(tx(&mut rt, "0020000003654321"), "9000");
    // Wrong old PIN counts as a failed verification; a short new PIN is refused.
    assert_eq!(tx(&mut rt, "805E010007111111FF123456"), "63C5");
    assert_eq!(tx(&mut rt, "805E010006654321FF1234"), "6A80");
    assert_eq!(tx(&mut rt, "805E010003654321"), "6A80");
}
