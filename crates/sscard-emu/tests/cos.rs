//! Every command and status-word path of the emulated user card, at the APDU level.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use sscard_apdu::hex;
use sscard_emu::{sample_card, EchoCard, PagingMode, Runtime};

const SELECT_SSSE: &str = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF";

fn card() -> Runtime<sscard_emu::SsCard> {
    Runtime::new(sample_card().unwrap())
}

/// Sends hex, returns hex of the R-APDU.
fn tx<C: sscard_apdu::applet::Card>(rt: &mut Runtime<C>, apdu: &str) -> String {
    hex::to_string(&rt.transmit(&hex::to_vec(apdu).unwrap()))
}

fn in_ef(ef: &str) -> Runtime<sscard_emu::SsCard> {
    let mut rt = card();
    assert_eq!(tx(&mut rt, SELECT_SSSE), "611B");
    assert_eq!(tx(&mut rt, &format!("00A4020002{ef}")), "9000");
    rt
}

#[test]
fn select_ssse_answers_61xx_then_fci() {
    let mut rt = card();
    assert_eq!(tx(&mut rt, SELECT_SSSE), "611B");
    assert_eq!(
        tx(&mut rt, "00C000001B"),
        "6F19840F7378312E73682EC9E7BBE1B1A3D5CFA5069F0C038601019000"
    );
    // Nothing left.
    assert_eq!(tx(&mut rt, "00C000001B"), "6985");
}

#[test]
fn get_response_in_parts_and_wrong_le() {
    let mut rt = card();
    tx(&mut rt, SELECT_SSSE);
    assert_eq!(tx(&mut rt, "00C0000020"), "6C1B");
    let first = tx(&mut rt, "00C0000005");
    assert_eq!(first, "6F19840F736116");
    assert_eq!(tx(&mut rt, "00C0000000").len(), 0x16 * 2 + 4);
}

#[test]
fn select_with_le_and_truncated_aid_and_no_fci() {
    let mut rt = card();
    // Case 4 with Le 00: the FCI comes at once.
    assert!(tx(&mut rt, &format!("{SELECT_SSSE}00")).starts_with("6F19"));
    // Right-truncated AID.
    assert_eq!(tx(&mut rt, "00A40400077378312E73682E"), "611B");
    // P2 0C: no FCI.
    assert_eq!(
        tx(&mut rt, "00A4040C0F7378312E73682EC9E7BBE1B1A3D5CF"),
        "9000"
    );
    assert_eq!(tx(&mut rt, "00A4040005A000000333"), "6A82");
}

#[test]
fn ef05_by_all_four_addressing_forms() {
    let mut rt = in_ef("EF05");
    let card_number = "0709413132333435363738";
    assert_eq!(tx(&mut rt, "00B207040B"), format!("{card_number}9000"));
    assert_eq!(tx(&mut rt, "00B207000B"), format!("{card_number}9000"));
    assert_eq!(tx(&mut rt, "00B2072C0B"), format!("{card_number}9000"));
    assert_eq!(tx(&mut rt, "00B207280B"), format!("{card_number}9000"));
    assert_eq!(tx(&mut rt, "00B2070400"), format!("{card_number}9000"));
    assert_eq!(
        tx(&mut rt, "00B2012812"),
        "0110330100D15600000500A1B2C3D4E5F6079000"
    );
}

#[test]
fn ef06_by_sfi_without_selecting_it() {
    let mut rt = card();
    tx(&mut rt, SELECT_SSSE);
    // SFI 6, tag 09: the GBK name, zero-padded to 30 bytes.
    let r = tx(&mut rt, "00B2093020");
    assert!(r.starts_with("091EC0EEB2E2CAD4000000"), "{r}");
    assert!(r.ends_with("9000"));
    // SFI 6 record 1 = tag 08.
    assert_eq!(
        tx(&mut rt, "00B2013414"),
        format!("0812{}9000", hex::to_string(b"330102199003071230"))
    );
    // The SFI read made EF06 current.
    assert_eq!(tx(&mut rt, "00B20D0006"), "0D04199003079000");
    // Optional 4E present (empty) in the sample.
    assert_eq!(tx(&mut rt, "00B24E0016").len(), (0x16 + 2) * 2);
}

#[test]
fn status_words() {
    let mut rt = in_ef("EF05");
    // Le smaller than the record: 6Cxx with the exact length.
    assert_eq!(tx(&mut rt, "00B2070405"), "6C0B");
    // No Le at all.
    assert_eq!(tx(&mut rt, "00B20704"), "6C0B");
    // Record not found, by number and by tag.
    assert_eq!(tx(&mut rt, "00B2080400"), "6A83");
    assert_eq!(tx(&mut rt, "00B2420000"), "6A83");
    // Unknown SFI.
    assert_eq!(tx(&mut rt, "00B2015C00"), "6A82");
    // Unsupported P2 forms and record 0.
    assert_eq!(tx(&mut rt, "00B2070200"), "6A86");
    assert_eq!(tx(&mut rt, "00B2000400"), "6A86");
    assert_eq!(tx(&mut rt, "00B201FC00"), "6A86");
    // READ RECORD with data.
    assert_eq!(tx(&mut rt, "00B2070401AA00"), "6700");
    // Unknown EF and DF.
    assert_eq!(tx(&mut rt, "00A4020002EF99"), "6A82");
    assert_eq!(tx(&mut rt, "00A4000002DF99"), "6A82");
    // SELECT shapes.
    assert_eq!(tx(&mut rt, "00A4020003EF0500"), "6700");
    assert_eq!(tx(&mut rt, "00A4080002EF05"), "6A86");
    assert_eq!(tx(&mut rt, "00A4020102EF05"), "6A86");
    // Unknown instruction, proprietary class, wrong class, malformed APDUs.
    assert_eq!(tx(&mut rt, "00CA9F7F00"), "6D00");
    assert_eq!(tx(&mut rt, "80CA000000"), "6D00");
    assert_eq!(tx(&mut rt, "805E010000"), "6700");
    assert_eq!(tx(&mut rt, "A0A4000002EF05"), "6E00");
    assert_eq!(tx(&mut rt, "01A4000002EF05"), "6881");
    assert_eq!(tx(&mut rt, "FFA4000002"), "6E00");
    assert_eq!(tx(&mut rt, "00A4040002EF"), "6700");
    assert_eq!(tx(&mut rt, "00A4"), "6700");
    // GET RESPONSE with nothing pending, with wrong P1P2.
    assert_eq!(tx(&mut rt, "00C0000010"), "6985");
    tx(&mut rt, SELECT_SSSE);
    assert_eq!(tx(&mut rt, "00C001001B"), "6A86");
}

#[test]
fn no_current_ef_and_reset() {
    let mut rt = card();
    // Nothing selected after reset.
    assert_eq!(tx(&mut rt, "00B207040B"), "6986");
    let mut rt = in_ef("EF05");
    assert_eq!(tx(&mut rt, "00B207040B").len(), 26);
    rt.reset();
    assert_eq!(tx(&mut rt, "00B207040B"), "6986");
    // A new SELECT of a DF clears the current EF.
    tx(&mut rt, SELECT_SSSE);
    assert_eq!(tx(&mut rt, "00B207040B"), "6986");
    // MF by FID.
    assert_eq!(tx(&mut rt, "00A40000023F00"), "9000");
    assert_eq!(tx(&mut rt, "00A4020002EF05"), "6A82");
}

#[test]
fn application_dfs_are_selected_by_fid_and_guarded() {
    let mut rt = card();
    tx(&mut rt, SELECT_SSSE);
    assert_eq!(tx(&mut rt, "00A4000002DF01"), "9000");
    assert_eq!(tx(&mut rt, "00A4020002EF05"), "9000");
    // DF01 files need the PIN.
    assert_eq!(tx(&mut rt, "00B2200000"), "6982");
    // P1 02 selects EFs only.
    tx(&mut rt, SELECT_SSSE);
    assert_eq!(tx(&mut rt, "00A4020002DF01"), "6A82");
    // The photo needs RKSSSE; READ RECORD on it is the wrong structure.
    assert_eq!(tx(&mut rt, "00A4020002EF08"), "9000");
    assert_eq!(tx(&mut rt, "00B2010400"), "6981");
}

#[test]
fn direct_paging_mode_sends_select_data_at_once() {
    let mut rt = card().with_paging(PagingMode::Direct);
    assert!(tx(&mut rt, SELECT_SSSE).starts_with("6F19"));
}

#[test]
fn echo_card_echoes() {
    let mut rt = Runtime::new(EchoCard::new());
    assert_eq!(tx(&mut rt, "0000000003AABBCC03"), "AABBCC9000");
    assert_eq!(tx(&mut rt, "00000000"), "9000");
}
