//! The PBOC bank application through APDU bytes, on the combined card. Expected
//! cryptograms, ARPCs, MACs and signatures are recomputed here with `sscard_emv` and
//! `sscard_crypto` from the profile's TEST keys, not read back from the applet.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use sscard_apdu::applet::Interface;
use sscard_apdu::hex;
use sscard_apdu::tlv::ber;
use sscard_emu::pboc::{PbocApp, PbocFileJournal, PbocJournal};
use sscard_emu::{sample_card, DualCard, PagingMode, Runtime};
use sscard_emv::cryptogram::{self, AcInput, Family};
use sscard_emv::oda::{self, testpki::TestPki};
use sscard_emv::perso::{self, CardProfile};

const PROFILE: &str = include_str!("../../../apdu-specs/pboc/card.json");
const TEST_PKI: &str = include_str!("../../../apdu-specs/pboc/test-pki.json");
const AID: &str = "A000000333010101";
const SELECT_SSSE: &str = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF";
const MERCHANT: &[u8; 20] = b"SSCARD TEST SHOP    ";
const DATE: [u8; 3] = [0x26, 0x11, 0x22];
const TIME: [u8; 3] = [0x01, 0x30, 0x00];
const UN: [u8; 4] = [0x11, 0x22, 0x33, 0x44];
const CNY: [u8; 2] = [0x01, 0x56];
const USD: [u8; 2] = [0x08, 0x40];

fn profile() -> CardProfile {
    perso::load(PROFILE).unwrap()
}

fn counter_entropy() -> Box<dyn sscard_emu::cos::Entropy> {
    let mut n = 0u8;
    Box::new(move |out: &mut [u8]| {
        for b in out {
            n = n.wrapping_add(1);
            *b = n;
        }
    })
}

fn card_from(json: &str, iface: Interface) -> Runtime<DualCard> {
    let bank = PbocApp::with_entropy(perso::load(json).unwrap(), counter_entropy()).unwrap();
    Runtime::new(DualCard::new(sample_card().unwrap(), bank))
        .with_paging(PagingMode::Direct)
        .with_interface(iface)
}

fn card() -> Runtime<DualCard> {
    card_from(PROFILE, Interface::Contact)
}

/// Sends an APDU, returns (data, SW).
fn send(rt: &mut Runtime<DualCard>, apdu: &[u8]) -> (Vec<u8>, u16) {
    let r = rt.transmit(apdu);
    let (data, sw) = r.split_at(r.len() - 2);
    (data.to_vec(), u16::from_be_bytes([sw[0], sw[1]]))
}

fn sendh(rt: &mut Runtime<DualCard>, apdu: &str) -> (Vec<u8>, u16) {
    send(rt, &hex::to_vec(apdu).unwrap())
}

fn cmd(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], le: bool) -> Vec<u8> {
    let mut v = vec![cla, ins, p1, p2];
    if !data.is_empty() {
        v.push(data.len() as u8);
        v.extend_from_slice(data);
    }
    if le {
        v.push(0);
    }
    v
}

fn find(data: &[u8], tag: u32) -> Vec<u8> {
    ber::find(data, tag)
        .unwrap()
        .unwrap_or_else(|| panic!("tag {tag:X} missing in {}", hex::to_string(data)))
        .to_vec()
}

fn amount(minor: u64) -> [u8; 6] {
    perso::amount_bcd(minor)
}

fn select_app(rt: &mut Runtime<DualCard>) -> (Vec<u8>, u16) {
    sendh(rt, &format!("00A4040008{AID}00"))
}

/// Contact PDOL data: 9F1A02 9F7A01 9F0206 5F2A02 9F4E14 DF6901.
fn pdol_contact(ec: bool, minor: u64, currency: [u8; 2], sm: bool) -> Vec<u8> {
    let mut d = CNY.to_vec();
    d.push(u8::from(ec));
    d.extend_from_slice(&amount(minor));
    d.extend_from_slice(&currency);
    d.extend_from_slice(MERCHANT);
    d.push(u8::from(sm));
    d
}

fn gpo(rt: &mut Runtime<DualCard>, pdol_data: &[u8]) -> (Vec<u8>, u16) {
    let mut data = vec![0x83, pdol_data.len() as u8];
    data.extend_from_slice(pdol_data);
    send(rt, &cmd(0x80, 0xA8, 0, 0, &data, true))
}

/// CDOL1 data: 9F0206 9F0306 9F1A02 9505 5F2A02 9A03 9F2103 9C01 9F3704.
fn cdol1(minor: u64, currency: [u8; 2]) -> Vec<u8> {
    let mut d = amount(minor).to_vec();
    d.extend_from_slice(&[0; 6]);
    d.extend_from_slice(&CNY);
    d.extend_from_slice(&[0; 5]);
    d.extend_from_slice(&currency);
    d.extend_from_slice(&DATE);
    d.extend_from_slice(&TIME);
    d.push(0x00);
    d.extend_from_slice(&UN);
    d
}

fn gac(rt: &mut Runtime<DualCard>, p1: u8, data: &[u8]) -> (Vec<u8>, u16) {
    send(rt, &cmd(0x80, 0xAE, p1, 0, data, true))
}

struct Gac {
    cid: u8,
    atc: u16,
    ac: [u8; 8],
    iad: Vec<u8>,
}

fn parse_gac(data: &[u8]) -> Gac {
    assert_eq!(data[0], 0x77, "format 2");
    Gac {
        cid: find(data, 0x9F27)[0],
        atc: u16::from_be_bytes(find(data, 0x9F36).try_into().unwrap()),
        ac: find(data, 0x9F26).try_into().unwrap(),
        iad: find(data, 0x9F10),
    }
}

/// Recomputes the AC from the transaction data we sent and the CVR the card reports.
fn expected_ac(family: Family, minor: u64, currency: [u8; 2], aip: [u8; 2], g: &Gac) -> [u8; 8] {
    let p = profile();
    let mk = cryptogram::master_key(family, &p.applications[0].keys(family).mk_ac).unwrap();
    let input = AcInput {
        amount: amount(minor),
        amount_other: [0; 6],
        terminal_country: CNY,
        tvr: [0; 5],
        currency,
        date: DATE,
        txn_type: 0,
        unpredictable_number: UN,
        aip,
        atc: g.atc,
        cvr: g.iad[3..7].try_into().unwrap(),
    };
    cryptogram::application_cryptogram(&mk, &input).unwrap()
}

fn get_data(rt: &mut Runtime<DualCard>, tag: u16) -> (Vec<u8>, u16) {
    let [p1, p2] = tag.to_be_bytes();
    send(rt, &cmd(0x80, 0xCA, p1, p2, &[], true))
}

fn balance(rt: &mut Runtime<DualCard>) -> u64 {
    let (d, sw) = get_data(rt, 0x9F79);
    assert_eq!(sw, 0x9000);
    perso::bcd_amount(&find(&d, 0x9F79).try_into().unwrap()).unwrap()
}

fn read_record(rt: &mut Runtime<DualCard>, sfi: u8, rec: u8) -> (Vec<u8>, u16) {
    send(rt, &cmd(0x00, 0xB2, rec, (sfi << 3) | 4, &[], true))
}

/// SELECT, GPO (contact) and a first GENERATE AC asking for `p1`.
fn transaction(
    rt: &mut Runtime<DualCard>,
    ec: bool,
    sm: bool,
    p1: u8,
    minor: u64,
    currency: [u8; 2],
) -> Gac {
    assert_eq!(select_app(rt).1, 0x9000);
    assert_eq!(gpo(rt, &pdol_contact(ec, minor, currency, sm)).1, 0x9000);
    let (d, sw) = gac(rt, p1, &cdol1(minor, currency));
    assert_eq!(sw, 0x9000);
    parse_gac(&d)
}

fn arpc_for(family: Family, g: &Gac, arc: &[u8; 2]) -> Vec<u8> {
    let p = profile();
    let mk = cryptogram::master_key(family, &p.applications[0].keys(family).mk_ac).unwrap();
    let mut v = cryptogram::arpc(&mk, g.atc, &g.ac, arc).unwrap().to_vec();
    v.extend_from_slice(arc);
    v
}

/// An issuer-script command with a valid MAC over the first GAC's cryptogram.
fn script(family: Family, g: &Gac, cla: u8, ins: u8, p1: u8, p2: u8, body: &[u8]) -> Vec<u8> {
    let p = profile();
    let mk = cryptogram::master_key(family, &p.applications[0].keys(family).mk_smi).unwrap();
    let header = [cla, ins, p1, p2, (body.len() + 4) as u8];
    let mac = cryptogram::script_mac(&mk, g.atc, &g.ac, &header, body).unwrap();
    let mut data = body.to_vec();
    data.extend_from_slice(&mac);
    cmd(cla, ins, p1, p2, &data, false)
}

/// ARQC, good ARPC, second GAC TC: leaves the session ready for issuer scripts.
fn online_approved(rt: &mut Runtime<DualCard>, family: Family) -> Gac {
    let g = transaction(rt, false, family == Family::Sm2Sm4, 0x80, 5000, CNY);
    assert_eq!(g.cid, 0x80);
    let ext = cmd(0x00, 0x82, 0, 0, &arpc_for(family, &g, b"00"), false);
    assert_eq!(send(rt, &ext).1, 0x9000);
    let mut d2 = b"00".to_vec();
    d2.extend_from_slice(&cdol1(5000, CNY));
    let (d, sw) = gac(rt, 0x40, &d2);
    assert_eq!(sw, 0x9000);
    assert_eq!(parse_gac(&d).cid, 0x40);
    g
}

// ---------------------------------------------------------------------------------

#[test]
fn pse_and_directory_records() {
    let mut rt = card();
    let (fci, sw) = sendh(&mut rt, "00A404000E315041592E5359532E444446303100");
    assert_eq!(sw, 0x9000);
    assert_eq!(find(&fci, 0x84), b"1PAY.SYS.DDF01");
    assert_eq!(find(&fci, 0x88), [0x01]);
    let (rec, sw) = read_record(&mut rt, 1, 1);
    assert_eq!(sw, 0x9000);
    assert_eq!(rec[0], 0x70);
    let entry = find(&rec, 0x61);
    assert_eq!(find(&entry, 0x4F), hex::to_vec(AID).unwrap());
    assert_eq!(find(&entry, 0x50), b"PBOC DEBIT");
    assert_eq!(find(&entry, 0x87), [0x01]);
    assert_eq!(read_record(&mut rt, 1, 2).1, 0x6A83);
    assert_eq!(read_record(&mut rt, 2, 1).1, 0x6A82);
}

#[test]
fn ppse_lists_the_application_and_follows_the_profile_interfaces() {
    let select_ppse = "00A404000E325041592E5359532E444446303100";
    let mut rt = card_from(PROFILE, Interface::Contactless);
    let (fci, sw) = sendh(&mut rt, select_ppse);
    assert_eq!(sw, 0x9000);
    let dir = find(&fci, 0xBF0C);
    assert_eq!(find(&dir, 0x4F), hex::to_vec(AID).unwrap());
    // The shipped profile answers PPSE on contact too; a contactless-only one does not.
    assert_eq!(sendh(&mut card(), select_ppse).1, 0x9000);
    let only_cl = PROFILE.replace(
        r#""interfaces": [
      "contact",
      "contactless"
    ]"#,
        r#""interfaces": ["contactless"]"#,
    );
    assert_ne!(only_cl, PROFILE);
    assert_eq!(
        sendh(&mut card_from(&only_cl, Interface::Contact), select_ppse).1,
        0x6A82
    );
    assert_eq!(
        sendh(
            &mut card_from(&only_cl, Interface::Contactless),
            select_ppse
        )
        .1,
        0x9000
    );
}

#[test]
fn selection_by_partial_name_and_unknown_aids() {
    let mut rt = card();
    let (fci, sw) = sendh(&mut rt, "00A4040005A00000033300");
    assert_eq!(sw, 0x9000);
    assert_eq!(find(&fci, 0x84), hex::to_vec(AID).unwrap());
    let pdol = find(&fci, 0x9F38);
    assert_eq!(
        hex::to_string(&pdol),
        "9F1A029F7A019F02065F2A029F4E14DF6901"
    );
    assert_eq!(
        find(&fci, 0xBF0C),
        hex::to_vec("9F4D020B0ADF4D020C0A").unwrap()
    );
    // Next occurrence: there is only one application.
    assert_eq!(sendh(&mut rt, "00A4040205A00000033300").1, 0x6A82);
    assert_eq!(sendh(&mut rt, "00A4040008A00000033301019900").1, 0x6A82);
    assert_eq!(sendh(&mut rt, "00A4040108A00000033301010100").1, 0x6A86);
    // The contactless FCI has the qPBOC PDOL.
    let mut cl = card_from(PROFILE, Interface::Contactless);
    let (fci, _) = select_app(&mut cl);
    assert!(hex::to_string(&find(&fci, 0x9F38)).starts_with("9F6604"));
}

#[test]
fn gpo_checks_selection_template_length_and_repetition() {
    let mut rt = card();
    let good = pdol_contact(false, 100, CNY, false);
    // After reset the SSCard is current: it does not know GPO.
    assert_eq!(gpo(&mut rt, &good).1, 0x6D00);
    sendh(&mut rt, "00A404000E315041592E5359532E444446303100");
    assert_eq!(
        gpo(&mut rt, &good).1,
        0x6985,
        "PSE selected, no application"
    );
    select_app(&mut rt);
    assert_eq!(gpo(&mut rt, &good[1..]).1, 0x6700, "short PDOL data");
    assert_eq!(
        sendh(&mut rt, "80A80000028300").1,
        0x6700,
        "python-emv's 83 00"
    );
    assert_eq!(sendh(&mut rt, "80A8000003830101").1, 0x6700);
    assert_eq!(sendh(&mut rt, "80A80000028400").1, 0x6A80, "not tag 83");
    let (resp, sw) = gpo(&mut rt, &good);
    assert_eq!(sw, 0x9000);
    assert_eq!(resp[0], 0x77);
    assert_eq!(gpo(&mut rt, &good).1, 0x6985, "GPO twice");
}

#[test]
fn df69_chooses_the_family_and_its_records() {
    let p = profile();
    let app = &p.applications[0];
    for (sm, family, ca_index) in [(false, Family::Rsa3Des, 0xF2), (true, Family::Sm2Sm4, 0xF1)] {
        let mut rt = card();
        select_app(&mut rt);
        let (resp, sw) = gpo(&mut rt, &pdol_contact(false, 1, CNY, sm));
        assert_eq!(sw, 0x9000);
        assert_eq!(find(&resp, 0x82), app.gpo(family).contact.aip);
        let afl = find(&resp, 0x94);
        assert_eq!(afl, app.gpo(family).contact.afl);
        // Every AFL record reads back as a 70 template.
        for entry in afl.chunks(4) {
            for rec in entry[1]..=entry[2] {
                let (data, sw) = read_record(&mut rt, entry[0] >> 3, rec);
                assert_eq!(sw, 0x9000);
                assert_eq!(data[0], 0x70);
            }
        }
        let (rec, _) = read_record(&mut rt, 4, 1);
        assert_eq!(find(&rec, 0x8F), [ca_index]);
    }
}

#[test]
fn afl_records_static_data_and_blind_reads() {
    let mut rt = card();
    select_app(&mut rt);
    gpo(&mut rt, &pdol_contact(false, 1, CNY, true));
    let (rec, sw) = read_record(&mut rt, 3, 1);
    assert_eq!(sw, 0x9000);
    assert_eq!(
        hex::to_string(&rec[2..]),
        "5A0862280001000011175F24033012315F25039507019F08020030"
    );
    let (rec, _) = read_record(&mut rt, 4, 2);
    assert_eq!(find(&rec, 0x9F46).len(), 148);
    assert_eq!(find(&rec, 0x93).len(), 67);
    assert_eq!(read_record(&mut rt, 3, 2).1, 0x6A83);
    assert_eq!(read_record(&mut rt, 5, 1).1, 0x6A82);
    assert_eq!(sendh(&mut rt, "00B2000C00").1, 0x6A86, "record 0");
    assert_eq!(sendh(&mut rt, "00B2010000").1, 0x6A86, "P2 without SFI");
    // Third-party tools read SFI 1-31 x records 1-15 blind.
    for sfi in 1..=31u8 {
        for rec in 1..=15u8 {
            let (_, sw) = read_record(&mut rt, sfi, rec);
            assert!(
                matches!(sw, 0x9000 | 0x6A82 | 0x6A83),
                "{sfi} {rec} {sw:04X}"
            );
        }
    }
}

#[test]
fn get_data_values_and_6a88() {
    let mut rt = card();
    select_app(&mut rt);
    let expect = [
        (0x9F36u16, "9F36020000"),
        (0x9F13, "9F13020000"),
        (0x9F17, "9F170103"),
        (0x9F79, "9F7906000000010000"),
        (0x9F77, "9F7706000000015000"),
        (0x9F78, "9F7806000000001000"),
        (0x9F6D, "9F6D06000000001500"),
        (0x9F51, "9F51020156"),
        (0x9F4D, "9F4D020B0A"),
        (0xDF4D, "DF4D020C0A"),
        (
            0x9F4F,
            "9F4F199A039F21039F02069F03069F1A025F2A029F4E149C019F3602",
        ),
        (0xDF4F, "DF4F109A039F21039F1A029F4E149C019F3602"),
    ];
    for (tag, want) in expect {
        let (d, sw) = get_data(&mut rt, tag);
        assert_eq!(sw, 0x9000, "{tag:X}");
        assert_eq!(hex::to_string(&d), want);
    }
    assert_eq!(get_data(&mut rt, 0x9F7F).1, 0x6A88);
    assert_eq!(get_data(&mut rt, 0x5A00).1, 0x6A88);
}

#[test]
fn verify_counts_down_blocks_and_resets() {
    let mut rt = card();
    select_app(&mut rt);
    let wrong = "0020008008246543FFFFFFFFFF";
    let right = "0020008008261234 56FFFFFFFF".replace(' ', "");
    assert_eq!(sendh(&mut rt, wrong).1, 0x63C2);
    assert_eq!(sendh(&mut rt, wrong).1, 0x63C1);
    assert_eq!(sendh(&mut rt, &right).1, 0x9000);
    assert_eq!(hex::to_string(&get_data(&mut rt, 0x9F17).0), "9F170103");
    assert_eq!(
        sendh(&mut rt, "00200080081234FFFFFFFFFFFF").1,
        0x6A80,
        "not a 2N block"
    );
    assert_eq!(sendh(&mut rt, "002000800426123456").1, 0x6700);
    for sw in [0x63C2, 0x63C1, 0x63C0] {
        assert_eq!(sendh(&mut rt, wrong).1, sw);
    }
    assert_eq!(sendh(&mut rt, &right).1, 0x6983);
    assert_eq!(hex::to_string(&get_data(&mut rt, 0x9F17).0), "9F170100");
}

#[test]
fn arqc_external_authenticate_second_gac_tc() {
    for family in [Family::Rsa3Des, Family::Sm2Sm4] {
        let mut rt = card();
        let sm = family == Family::Sm2Sm4;
        let aip = profile().applications[0].gpo(family).contact.aip;
        let g = transaction(&mut rt, false, sm, 0x80, 5000, CNY);
        assert_eq!(g.cid, 0x80);
        assert_eq!(g.atc, 1);
        assert_eq!(g.ac, expected_ac(family, 5000, CNY, aip, &g));
        assert_eq!(&g.iad[..4], &[0x07, 0x01, 0x01, 0x03]);
        assert_eq!(g.iad[4], 0xA0, "CVR: ARQC at GAC1, GAC2 not requested");
        assert_eq!(g.iad[7], family.iad_byte());
        let ext = cmd(0x00, 0x82, 0, 0, &arpc_for(family, &g, b"00"), false);
        assert_eq!(send(&mut rt, &ext).1, 0x9000);
        assert_eq!(send(&mut rt, &ext).1, 0x6985, "only once");
        let mut d2 = b"00".to_vec();
        d2.extend_from_slice(&cdol1(5000, CNY));
        assert_eq!(gac(&mut rt, 0x40, &d2[1..]).1, 0x6700);
        let (d, sw) = gac(&mut rt, 0x40, &d2);
        assert_eq!(sw, 0x9000);
        let g2 = parse_gac(&d);
        assert_eq!(g2.cid, 0x40);
        assert_eq!(g2.atc, 2);
        assert_eq!(g2.ac, expected_ac(family, 5000, CNY, aip, &g2));
        assert_eq!(g2.iad[4], 0x60, "CVR: TC at GAC2 after ARQC");
        assert_eq!(hex::to_string(&get_data(&mut rt, 0x9F13).0), "9F13020001");
        assert_eq!(gac(&mut rt, 0x40, &d2).1, 0x6985, "no third GAC");
    }
}

#[test]
fn bad_arpc_fails_and_second_gac_declines() {
    let mut rt = card();
    let g = transaction(&mut rt, false, false, 0x80, 5000, CNY);
    let mut arpc = arpc_for(Family::Rsa3Des, &g, b"00");
    arpc[0] ^= 1;
    assert_eq!(
        send(&mut rt, &cmd(0x00, 0x82, 0, 0, &arpc, false)).1,
        0x6300
    );
    let mut d2 = b"00".to_vec();
    d2.extend_from_slice(&cdol1(5000, CNY));
    let (d, _) = gac(&mut rt, 0x40, &d2);
    let g2 = parse_gac(&d);
    assert_eq!(g2.cid, 0x00);
    assert_eq!(g2.iad[4] & 0x08, 0x08, "CVR: issuer authentication failed");
    assert_eq!(hex::to_string(&get_data(&mut rt, 0x9F13).0), "9F13020000");
    // Without EXTERNAL AUTHENTICATE (required by the profile's 9F56) the card declines too.
    let mut rt = card();
    transaction(&mut rt, false, false, 0x80, 5000, CNY);
    let (d, _) = gac(&mut rt, 0x40, &d2);
    assert_eq!(parse_gac(&d).cid, 0x00);
    // A declining ARC declines even with a good ARPC.
    let mut rt = card();
    let g = transaction(&mut rt, false, false, 0x80, 5000, CNY);
    let ext = cmd(
        0x00,
        0x82,
        0,
        0,
        &arpc_for(Family::Rsa3Des, &g, b"05"),
        false,
    );
    assert_eq!(send(&mut rt, &ext).1, 0x9000);
    let mut d2 = b"05".to_vec();
    d2.extend_from_slice(&cdol1(5000, CNY));
    let (d, _) = gac(&mut rt, 0x40, &d2);
    assert_eq!(parse_gac(&d).cid, 0x00);
    // EXTERNAL AUTHENTICATE without an ARQC.
    let mut rt = card();
    select_app(&mut rt);
    assert_eq!(
        send(&mut rt, &cmd(0x00, 0x82, 0, 0, &[0; 10], false)).1,
        0x6985
    );
}

#[test]
fn ec_offline_purchase_debits_and_logs() {
    let mut rt = card();
    let aip = profile().applications[0].gpo(Family::Sm2Sm4).contact.aip;
    let g = transaction(&mut rt, true, true, 0x40, 250, CNY);
    assert_eq!(g.cid, 0x40, "EC offline approval");
    assert_eq!(g.ac, expected_ac(Family::Sm2Sm4, 250, CNY, aip, &g));
    assert_eq!(g.iad[4], 0x90, "CVR: TC at GAC1");
    assert_eq!(balance(&mut rt), 10000 - 250);
    // No second GAC after an offline approval.
    assert_eq!(gac(&mut rt, 0x40, &[0; 34]).1, 0x6985);
    let (log, sw) = read_record(&mut rt, 11, 1);
    assert_eq!(sw, 0x9000);
    let mut want = DATE.to_vec();
    want.extend_from_slice(&TIME);
    want.extend_from_slice(&amount(250));
    want.extend_from_slice(&[0; 6]);
    want.extend_from_slice(&CNY);
    want.extend_from_slice(&CNY);
    want.extend_from_slice(MERCHANT);
    want.push(0x00);
    want.extend_from_slice(&g.atc.to_be_bytes());
    assert_eq!(log, want);
    assert_eq!(read_record(&mut rt, 11, 2).1, 0x6A83);
    // A second purchase becomes record 1; the first moves to record 2.
    let g2 = transaction(&mut rt, true, true, 0x40, 100, CNY);
    assert_eq!(g2.cid, 0x40);
    assert_eq!(balance(&mut rt), 10000 - 350);
    assert_eq!(read_record(&mut rt, 11, 2).0, want);
    assert_eq!(&read_record(&mut rt, 11, 1).0[6..12], &amount(100));
}

#[test]
fn ec_goes_online_over_limits_other_currency_or_without_9f7a() {
    // Over the single limit 9F78 (1000).
    let mut rt = card();
    assert_eq!(transaction(&mut rt, true, true, 0x40, 1001, CNY).cid, 0x80);
    // Other currency than 9F51.
    assert_eq!(transaction(&mut rt, true, true, 0x40, 100, USD).cid, 0x80);
    // Terminal without EC (9F7A = 00).
    assert_eq!(transaction(&mut rt, false, true, 0x40, 100, CNY).cid, 0x80);
    // An ARQC request is never upgraded, an AAC request never either.
    assert_eq!(transaction(&mut rt, true, true, 0x80, 100, CNY).cid, 0x80);
    assert_eq!(transaction(&mut rt, true, true, 0x00, 100, CNY).cid, 0x00);
    assert_eq!(balance(&mut rt), 10000);
    assert_eq!(read_record(&mut rt, 11, 1).1, 0x6A83, "nothing logged");
    // Over the balance (a card personalised with 5.00).
    let low = PROFILE.replace(
        "\"balance\": \"000000010000\"",
        "\"balance\": \"000000000500\"",
    );
    assert_ne!(low, PROFILE);
    let mut rt = card_from(&low, Interface::Contact);
    assert_eq!(transaction(&mut rt, true, true, 0x40, 600, CNY).cid, 0x80);
    assert_eq!(transaction(&mut rt, true, true, 0x40, 500, CNY).cid, 0x40);
    assert_eq!(balance(&mut rt), 0);
}

#[test]
fn ec_load_with_mac_raises_balance_and_logs() {
    let mut rt = card();
    let g = online_approved(&mut rt, Family::Rsa3Des);
    let new = amount(12000);
    let put = script(Family::Rsa3Des, &g, 0x04, 0xDA, 0x9F, 0x79, &new);
    assert_eq!(send(&mut rt, &put).1, 0x9000);
    assert_eq!(balance(&mut rt), 12000);
    let (log, sw) = read_record(&mut rt, 12, 1);
    assert_eq!(sw, 0x9000);
    let mut want = vec![0x9F, 0x79];
    want.extend_from_slice(&amount(10000));
    want.extend_from_slice(&amount(12000));
    want.extend_from_slice(&DATE);
    want.extend_from_slice(&TIME);
    want.extend_from_slice(&CNY);
    want.extend_from_slice(MERCHANT);
    want.push(0x00);
    want.extend_from_slice(&g.atc.to_be_bytes());
    assert_eq!(log, want);
}

#[test]
fn ec_load_bad_mac_over_limit_or_without_issuer_auth_changes_nothing() {
    let mut rt = card();
    let g = online_approved(&mut rt, Family::Sm2Sm4);
    let mut put = script(Family::Sm2Sm4, &g, 0x04, 0xDA, 0x9F, 0x79, &amount(12000));
    let last = put.len() - 1;
    put[last] ^= 0x01;
    assert_eq!(send(&mut rt, &put).1, 0x6988);
    // Over the balance limit 9F77 (15000).
    let over = script(Family::Sm2Sm4, &g, 0x04, 0xDA, 0x9F, 0x79, &amount(15001));
    assert_eq!(send(&mut rt, &over).1, 0x6A80);
    // A MAC made with the other family's keys is a bad MAC too.
    let other = script(Family::Rsa3Des, &g, 0x04, 0xDA, 0x9F, 0x79, &amount(12000));
    assert_eq!(send(&mut rt, &other).1, 0x6988);
    assert_eq!(balance(&mut rt), 10000);
    assert_eq!(read_record(&mut rt, 12, 1).1, 0x6A83, "load log unchanged");
    // No issuer authentication in this session: the load is refused.
    let mut rt = card();
    let g = transaction(&mut rt, false, false, 0x80, 5000, CNY);
    let put = script(Family::Rsa3Des, &g, 0x04, 0xDA, 0x9F, 0x79, &amount(12000));
    assert_eq!(send(&mut rt, &put).1, 0x6985);
    assert_eq!(balance(&mut rt), 10000);
    // No transaction at all: no MAC key context.
    let mut rt = card();
    select_app(&mut rt);
    assert_eq!(send(&mut rt, &put).1, 0x6985);
}

#[test]
fn put_data_limits_by_script() {
    let mut rt = card();
    let g = online_approved(&mut rt, Family::Rsa3Des);
    let put = script(Family::Rsa3Des, &g, 0x04, 0xDA, 0x9F, 0x78, &amount(2000));
    assert_eq!(send(&mut rt, &put).1, 0x9000);
    assert_eq!(
        hex::to_string(&get_data(&mut rt, 0x9F78).0),
        "9F7806000000002000"
    );
    let bad = script(Family::Rsa3Des, &g, 0x04, 0xDA, 0x9F, 0x36, &amount(1));
    assert_eq!(send(&mut rt, &bad).1, 0x6A88);
}

#[test]
fn atc_only_goes_up_and_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("sscard-pboc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bank.json");
    let _ = std::fs::remove_file(&path);
    let mut rt = card();
    rt.card_mut()
        .bank_mut()
        .set_journal(Box::new(PbocFileJournal::new(&path)));
    let mut last = 0;
    for i in 0..4 {
        let g = transaction(&mut rt, i % 2 == 0, false, 0x40, 100, CNY);
        assert!(g.atc > last);
        last = g.atc;
    }
    // Failed commands do not move the ATC back or forward.
    select_app(&mut rt);
    gpo(&mut rt, &pdol_contact(false, 1, CNY, false));
    assert_eq!(gac(&mut rt, 0x80, &[0; 3]).1, 0x6700);
    let saved = PbocFileJournal::load(&path).unwrap().unwrap();
    assert_eq!(saved.applications[0].atc, last);
    assert_eq!(saved.applications[0].ec_balance, 10000 - 200);
    assert_eq!(saved.applications[0].transaction_log.len(), 2);
    // A new card restored from the file continues from there.
    let bank = PbocApp::with_entropy(profile(), counter_entropy())
        .unwrap()
        .persistent(Box::new(PbocFileJournal::new(&path)), Some(saved))
        .unwrap();
    let mut rt =
        Runtime::new(DualCard::new(sample_card().unwrap(), bank)).with_paging(PagingMode::Direct);
    assert_eq!(
        transaction(&mut rt, false, false, 0x80, 1, CNY).atc,
        last + 1
    );
    assert_eq!(
        PbocFileJournal::load(&path).unwrap().unwrap().applications[0].atc,
        last + 1
    );
    // A state from another profile is refused.
    let mut other = PbocFileJournal::load(&path).unwrap().unwrap();
    other.applications[0].aid = "A000000333010199".into();
    assert!(PbocApp::new(profile()).unwrap().restore(other).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failing_journal_answers_6581_and_keeps_the_state() {
    struct Broken;
    impl PbocJournal for Broken {
        fn commit(&mut self, _: &sscard_emu::pboc::PbocState) -> std::io::Result<()> {
            Err(std::io::Error::other("disk full"))
        }
    }
    let mut rt = card();
    select_app(&mut rt);
    gpo(&mut rt, &pdol_contact(true, 100, CNY, false));
    rt.card_mut().bank_mut().set_journal(Box::new(Broken));
    assert_eq!(gac(&mut rt, 0x40, &cdol1(100, CNY)).1, 0x6581);
    assert_eq!(rt.card().bank().state().applications[0].atc, 0);
    assert_eq!(sendh(&mut rt, "0020008008246543FFFFFFFFFF").1, 0x6581);
    assert_eq!(rt.card().bank().state().applications[0].pin_tries, 3);
}

#[test]
fn application_block_and_unblock_by_script() {
    let mut rt = card();
    let g = online_approved(&mut rt, Family::Rsa3Des);
    let block = script(Family::Rsa3Des, &g, 0x84, 0x1E, 0, 0, &[]);
    let mut bad = block.clone();
    bad[8] ^= 0xFF;
    assert_eq!(send(&mut rt, &bad).1, 0x6988);
    assert_eq!(send(&mut rt, &block).1, 0x9000);
    let (data, sw) = select_app(&mut rt);
    assert_eq!((data.len(), sw), (0, 0x6283));
    // A blocked application still transacts, but only ever declines.
    assert_eq!(gpo(&mut rt, &pdol_contact(true, 100, CNY, false)).1, 0x9000);
    let (d, _) = gac(&mut rt, 0x40, &cdol1(100, CNY));
    let g = parse_gac(&d);
    assert_eq!(g.cid, 0x00);
    assert_eq!(balance(&mut rt), 10000);
    // The issuer unblocks it with a script MAC'd over that AAC.
    let unblock = script(Family::Rsa3Des, &g, 0x84, 0x18, 0, 0, &[]);
    assert_eq!(send(&mut rt, &unblock).1, 0x9000);
    assert_eq!(select_app(&mut rt).1, 0x9000);
}

#[test]
fn pin_change_and_unblock_by_script() {
    let mut rt = card();
    select_app(&mut rt);
    for _ in 0..3 {
        sendh(&mut rt, "0020008008241111FFFFFFFFFF");
    }
    let g = online_approved(&mut rt, Family::Rsa3Des);
    let change = script(
        Family::Rsa3Des,
        &g,
        0x84,
        0x24,
        0,
        1,
        &hex::to_vec("24987 6FFFFFFFFFF".replace(' ', "").as_str()).unwrap(),
    );
    assert_eq!(send(&mut rt, &change).1, 0x9000);
    assert_eq!(hex::to_string(&get_data(&mut rt, 0x9F17).0), "9F170103");
    assert_eq!(
        sendh(
            &mut rt,
            "0020008008261234 56FFFFFFFF".replace(' ', "").as_str()
        )
        .1,
        0x63C2
    );
    assert_eq!(
        sendh(
            &mut rt,
            "00200080082498 76FFFFFFFFFF".replace(' ', "").as_str()
        )
        .1,
        0x9000
    );
}

#[test]
fn internal_authenticate_sm2_signature_verifies_with_the_certified_icc_key() {
    let mut rt = card();
    select_app(&mut rt);
    assert_eq!(
        sendh(&mut rt, "0088000004112233 4400".replace(' ', "").as_str()).1,
        0x6985,
        "before GPO"
    );
    gpo(&mut rt, &pdol_contact(false, 1, CNY, true));
    let (resp, sw) = sendh(&mut rt, "008800000411223344 00".replace(' ', "").as_str());
    assert_eq!(sw, 0x9000);
    let sdad = find(&resp, 0x9F4B);
    assert_eq!(sdad[0], 0x15);
    let ldd = usize::from(sdad[1]);
    let dynamic = &sdad[2..2 + ldd];
    assert_eq!(dynamic[0] as usize, ldd - 1);
    assert_eq!(
        ldd - 1,
        8,
        "8-byte ICC dynamic number from the injected RNG"
    );
    let signature = &sdad[2 + ldd..];
    assert_eq!(signature.len(), 64);
    // The ICC public key from the ICC certificate 9F46 (A.1 layout: 20-byte header).
    let (rec, _) = read_record(&mut rt, 4, 2);
    let cert = find(&rec, 0x9F46);
    let pk = sscard_crypto::sm2::PublicKey::from_slice(&cert[20..84]).unwrap();
    let mut signed = sdad[..2 + ldd].to_vec();
    signed.extend_from_slice(&UN);
    let sig = sscard_crypto::sm2::Signature::from_slice(signature).unwrap();
    pk.verify(sscard_crypto::sm2::DEFAULT_DIST_ID, &signed, &sig)
        .unwrap();
    // A different DDOL data does not verify under that signature.
    let mut other = signed.clone();
    *other.last_mut().unwrap() ^= 1;
    assert!(pk
        .verify(sscard_crypto::sm2::DEFAULT_DIST_ID, &other, &sig)
        .is_err());
    // The RSA family signs with its ICC key (EMV format 05): the kernel-side recovery
    // of the ICC key from the card's own certificates accepts it.
    let mut rt = card();
    select_app(&mut rt);
    gpo(&mut rt, &pdol_contact(false, 1, CNY, false));
    let (resp, sw) = sendh(&mut rt, "00880000041122334400");
    assert_eq!(sw, 0x9000);
    let icc = icc_key(&mut rt, Family::Rsa3Des);
    let dda = oda::verify_dda(&icc, &find(&resp, 0x9F4B), &UN).unwrap();
    assert_eq!(dda.icc_dynamic_number.len(), 8);
    assert!(oda::verify_dda(&icc, &find(&resp, 0x9F4B), &[0x11, 0x22, 0x33, 0x45]).is_err());
}

/// The test CAPKs of the emulated card (apdu-specs/pboc/test-pki.json).
fn test_capks() -> sscard_emv::CapkStore {
    let pki = TestPki::from_json(TEST_PKI).unwrap();
    let mut store = sscard_emv::CapkStore::unionpay().unwrap();
    store.add(pki.sm2.capk.to_capk().unwrap()).unwrap();
    store.add(pki.rsa.capk.to_capk().unwrap()).unwrap();
    store
}

/// Reads the AFL's records after GPO and recovers the ICC public key as a kernel does:
/// the CAPK named by 8F, the issuer certificate, the ICC certificate over the static
/// data of the ODA records.
fn icc_key(rt: &mut Runtime<DualCard>, family: Family) -> oda::IccPublicKey {
    let app = &profile().applications[0];
    let afl = app.gpo(family).contact.afl.clone();
    let (mut all, mut static_data) = (Vec::new(), Vec::new());
    for entry in afl.chunks(4) {
        for rec in entry[1]..=entry[2] {
            let (data, sw) = read_record(rt, entry[0] >> 3, rec);
            assert_eq!(sw, 0x9000);
            let body = find(&data, 0x70);
            all.extend_from_slice(&body);
            if rec < entry[1] + entry[3] {
                oda::append_oda_record(&mut static_data, entry[0] >> 3, &data).unwrap();
            }
        }
    }
    let objects = oda::CardObjects::from_tlv(&all);
    let store = test_capks();
    let capk = store
        .get([0xA0, 0, 0, 0x03, 0x33], objects.ca_index.unwrap())
        .unwrap();
    let today = oda::Date::from_9a(DATE).unwrap();
    oda::verify_sda(capk, &static_data, &objects, today).unwrap();
    oda::recover_icc_key(capk, &static_data, &objects, today).unwrap()
}

#[test]
fn the_emulated_cards_certificates_verify_for_both_families() {
    for (sm, family) in [(false, Family::Rsa3Des), (true, Family::Sm2Sm4)] {
        let mut rt = card();
        select_app(&mut rt);
        gpo(&mut rt, &pdol_contact(false, 1, CNY, sm));
        let key = icc_key(&mut rt, family);
        match (family, &key) {
            (Family::Rsa3Des, oda::IccPublicKey::Rsa(_))
            | (Family::Sm2Sm4, oda::IccPublicKey::Sm2(_)) => {}
            other => panic!("wrong key family {other:?}"),
        }
    }
    // The profile carries exactly the test PKI's objects (tools/pboc/personalise-test-pki.py).
    let pki = TestPki::from_json(TEST_PKI).unwrap();
    let app = &profile().applications[0];
    for family in [Family::Rsa3Des, Family::Sm2Sm4] {
        let mut objects = Vec::new();
        for rec in 1..=3 {
            if let Some(data) = app.record(family, 4, rec) {
                objects.extend_from_slice(&find(data, 0x70));
            }
        }
        assert_eq!(objects, pki.record_tlvs(family).unwrap(), "{family:?}");
    }
}

/// Contactless PDOL data: 9F6604 9F0206 9F0306 9F1A02 9505 5F2A02 9A03 9C01 9F3704 DF6901.
fn pdol_contactless(minor: u64, sm: bool) -> Vec<u8> {
    let mut d = vec![0x26, 0x00, 0x00, 0x80];
    d.extend_from_slice(&amount(minor));
    d.extend_from_slice(&[0; 6]);
    d.extend_from_slice(&CNY);
    d.extend_from_slice(&[0; 5]);
    d.extend_from_slice(&CNY);
    d.extend_from_slice(&DATE);
    d.push(0x00);
    d.extend_from_slice(&UN);
    d.push(u8::from(sm));
    d
}

#[test]
fn qpboc_gpo_returns_the_cryptogram_and_spends_ec_offline() {
    let mut rt = card_from(PROFILE, Interface::Contactless);
    select_app(&mut rt);
    let (resp, sw) = gpo(&mut rt, &pdol_contactless(300, true));
    assert_eq!(sw, 0x9000);
    let g = parse_gac(&resp);
    assert_eq!(g.cid, 0x40);
    assert_eq!(g.atc, 1);
    let aip = profile().applications[0]
        .gpo(Family::Sm2Sm4)
        .contactless
        .aip;
    assert_eq!(g.ac, expected_ac(Family::Sm2Sm4, 300, CNY, aip, &g));
    assert_eq!(find(&resp, 0x82), aip);
    assert!(hex::to_string(&find(&resp, 0x57)).starts_with("6228000100001117D3012"));
    assert_eq!(find(&resp, 0x5F34), [0x01]);
    assert_eq!(find(&resp, 0x9F6C), [0x00, 0x00]);
    assert_eq!(find(&resp, 0x9F5D), amount(9700));
    assert_eq!(balance(&mut rt), 9700);
    assert_eq!(read_record(&mut rt, 11, 1).1, 0x9000);
    assert_eq!(
        gac(&mut rt, 0x40, &cdol1(300, CNY)).1,
        0x6985,
        "no GAC after qPBOC"
    );
    // Over the single limit: online.
    select_app(&mut rt);
    let (resp, _) = gpo(&mut rt, &pdol_contactless(2000, true));
    assert_eq!(parse_gac(&resp).cid, 0x80);
    assert_eq!(balance(&mut rt), 9700);
}

#[test]
fn the_combined_card_reads_the_ssse_exactly_as_before() {
    let script_lines = [
        SELECT_SSSE,
        "00A4020002EF0500",
        "00B2010400",
        "00B2070400",
        "00A4020002EF0600",
        "00B2080400",
        "0084000008",
    ];
    let mut plain = Runtime::new(sample_card().unwrap()).with_paging(PagingMode::Direct);
    let mut both = card();
    let run = |rt: &mut dyn FnMut(&[u8]) -> Vec<u8>| -> Vec<String> {
        script_lines
            .iter()
            .map(|l| hex::to_string(&rt(&hex::to_vec(l).unwrap())))
            .collect()
    };
    let want = run(&mut |a| plain.transmit(a));
    // Bank first, then back to the social-security application.
    select_app(&mut both);
    gpo(&mut both, &pdol_contact(false, 1, CNY, false));
    let got = run(&mut |a| both.transmit(a));
    // GET CHALLENGE is random on both; compare its length and status only.
    assert_eq!(want[..6], got[..6]);
    assert_eq!(want[6].len(), got[6].len());
    assert!(want[0].ends_with("9000"), "{}", want[0]);
    // A failed bank SELECT leaves the SSCard current.
    assert_eq!(sendh(&mut both, "00A4040008A00000033301019900").1, 0x6A82);
    assert_eq!(
        hex::to_string(&both.transmit(&hex::to_vec(script_lines[5]).unwrap())),
        want[5]
    );
    assert_eq!(both.card().current(), sscard_emu::pboc::Current::Social);
    // And the bank application forgot its transaction when the SSCard was selected.
    select_app(&mut both);
    assert_eq!(gac(&mut both, 0x80, &cdol1(1, CNY)).1, 0x6985);
    assert_eq!(both.card().current(), sscard_emu::pboc::Current::Bank);
}

#[test]
fn built_in_constructor_and_bad_profiles() {
    let mut rt =
        Runtime::new(sscard_emu::sample_card_with_bank().unwrap()).with_paging(PagingMode::Direct);
    assert_eq!(select_app(&mut rt).1, 0x9000);
    assert!(perso::load(&PROFILE.replace("\"mk_ac\": \"1122", "\"mk_ac\": \"11")).is_err());
    let e =
        perso::load(&PROFILE.replace("\"cdol1\": \"9F0206", "\"cdol1\": \"9F0207")).unwrap_err();
    assert_eq!(e.kind, perso::PersoErrorKind::Mismatch { tag: 0x8C }, "{e}");
}

#[test]
fn cda_sm2_signs_the_cryptogram_and_the_transaction_data() {
    let mut rt = card();
    select_app(&mut rt);
    let pdol = pdol_contact(false, 5000, CNY, true);
    gpo(&mut rt, &pdol);
    let cdol = cdol1(5000, CNY);
    let (resp, sw) = gac(&mut rt, 0x90, &cdol);
    assert_eq!(sw, 0x9000);
    assert!(
        ber::find(&resp, 0x9F26).unwrap().is_none(),
        "AC inside the SDAD"
    );
    let cid = find(&resp, 0x9F27);
    let atc = find(&resp, 0x9F36);
    let iad = find(&resp, 0x9F10);
    let sdad = find(&resp, 0x9F4B);
    assert_eq!(sdad[0], 0x15);
    let ldd = usize::from(sdad[1]);
    let dynamic = &sdad[2..2 + ldd];
    let n = usize::from(dynamic[0]);
    assert_eq!(dynamic[1 + n], cid[0]);
    let ac: [u8; 8] = dynamic[2 + n..10 + n].try_into().unwrap();
    let g = Gac {
        cid: cid[0],
        atc: u16::from_be_bytes(atc.clone().try_into().unwrap()),
        ac,
        iad: iad.clone(),
    };
    let aip = profile().applications[0].gpo(Family::Sm2Sm4).contact.aip;
    assert_eq!(g.cid, 0x80);
    assert_eq!(ac, expected_ac(Family::Sm2Sm4, 5000, CNY, aip, &g));
    let mut hashed = pdol.clone();
    hashed.extend_from_slice(&cdol);
    for (tag, v) in [(0x9F27u32, &cid), (0x9F36, &atc), (0x9F10, &iad)] {
        let mut t = tag.to_be_bytes()[2..].to_vec();
        t.push(v.len() as u8);
        t.extend_from_slice(v);
        hashed.extend_from_slice(&t);
    }
    assert_eq!(&dynamic[10 + n..], sscard_crypto::sm3::sm3(&hashed));
    let (rec, _) = read_record(&mut rt, 4, 2);
    let pk = sscard_crypto::sm2::PublicKey::from_slice(&find(&rec, 0x9F46)[20..84]).unwrap();
    let mut signed = sdad[..2 + ldd].to_vec();
    signed.extend_from_slice(&UN);
    let sig = sscard_crypto::sm2::Signature::from_slice(&sdad[2 + ldd..]).unwrap();
    pk.verify(sscard_crypto::sm2::DEFAULT_DIST_ID, &signed, &sig)
        .unwrap();
    // The RSA family signs CDA too (SHA-1 transaction hash, EMV format 05).
    let mut rt = card();
    select_app(&mut rt);
    let pdol = pdol_contact(false, 5000, CNY, false);
    gpo(&mut rt, &pdol);
    let icc = icc_key(&mut rt, Family::Rsa3Des);
    let (resp, sw) = gac(&mut rt, 0x90, &cdol);
    assert_eq!(sw, 0x9000);
    assert!(
        ber::find(&resp, 0x9F26).unwrap().is_none(),
        "the AC travels in 9F4B"
    );
    let hash = oda::cda_transaction_hash(oda::HashAlg::Sha1, &pdol, &cdol, None, &resp).unwrap();
    let cda = oda::verify_cda(&icc, &find(&resp, 0x9F4B), &UN, 0x80, &hash).unwrap();
    assert_eq!(cda.cid, 0x80);
    let mut wrong = hash.clone();
    wrong[0] ^= 1;
    assert!(oda::verify_cda(&icc, &find(&resp, 0x9F4B), &UN, 0x80, &wrong).is_err());
}

#[test]
fn power_cuts_during_an_ec_purchase_leave_old_or_new_state_and_no_cryptogram() {
    use sscard_emu::persist::TearPoint;
    let dir = std::env::temp_dir().join(format!("sscard-pboc-tear-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for point in TearPoint::ALL {
        // Commit 0: the ATC; commit 1: the debit and the log record.
        for nth in 0..2 {
            let path = dir.join(format!("{point:?}-{nth}.json"));
            let _ = std::fs::remove_file(&path);
            let mut rt = card();
            rt.card_mut()
                .bank_mut()
                .set_journal(Box::new(PbocFileJournal::new(&path).tearing(point, nth)));
            select_app(&mut rt);
            gpo(&mut rt, &pdol_contact(true, 250, CNY, false));
            let (data, sw) = gac(&mut rt, 0x40, &cdol1(250, CNY));
            assert_eq!((data.len(), sw), (0, 0x6581), "{point:?} {nth}");
            // Restart from the file.
            let saved = PbocFileJournal::load(&path).unwrap();
            let (atc, bal, logs) = saved.as_ref().map_or((0, 10000, 0), |s| {
                let a = &s.applications[0];
                (a.atc, a.ec_balance, a.transaction_log.len())
            });
            assert!(
                matches!(
                    (atc, bal, logs),
                    (0, 10000, 0) | (1, 10000, 0) | (1, 9750, 1)
                ),
                "{point:?} {nth}: {atc} {bal} {logs}"
            );
            if nth == 1 {
                assert_eq!(atc, 1, "the ATC was committed before the cryptogram");
            }
            let mut bank = PbocApp::with_entropy(profile(), counter_entropy()).unwrap();
            if let Some(s) = saved {
                bank.restore(s).unwrap();
            }
            let mut rt = Runtime::new(DualCard::new(sample_card().unwrap(), bank))
                .with_paging(PagingMode::Direct);
            assert_eq!(
                transaction(&mut rt, false, false, 0x80, 1, CNY).atc,
                atc + 1
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn power_cuts_during_an_ec_load_leave_balance_and_load_log_old_or_new_together() {
    use sscard_emu::persist::TearPoint;
    let dir = std::env::temp_dir().join(format!("sscard-pboc-load-tear-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cases = 0;
    for point in TearPoint::ALL {
        let path = dir.join(format!("{point:?}.json"));
        let _ = std::fs::remove_file(&path);
        let mut rt = card();
        rt.card_mut()
            .bank_mut()
            .set_journal(Box::new(PbocFileJournal::new(&path)));
        // The online transaction commits normally; then the power is cut during the
        // load's commit (the next one).
        let g = online_approved(&mut rt, Family::Rsa3Des);
        let before = PbocFileJournal::load(&path).unwrap().unwrap();
        // A fresh tearing journal counts its own commits: number 0 is the load's.
        rt.card_mut()
            .bank_mut()
            .set_journal(Box::new(PbocFileJournal::new(&path).tearing(point, 0)));
        let put = script(Family::Rsa3Des, &g, 0x04, 0xDA, 0x9F, 0x79, &amount(12000));
        let (data, sw) = send(&mut rt, &put);
        assert_eq!(
            (data.len(), sw),
            (0, 0x6581),
            "{point:?}: the card answers only after the commit"
        );
        // Restart from the file: the balance and the load log moved together or not at all.
        let saved = PbocFileJournal::load(&path).unwrap().unwrap();
        let (a, b) = (&saved.applications[0], &before.applications[0]);
        let old = a.ec_balance == b.ec_balance && a.load_log.len() == b.load_log.len();
        let new = a.ec_balance == 12000 && a.load_log.len() == b.load_log.len() + 1;
        assert!(
            old || new,
            "{point:?}: balance {} with {} load records",
            a.ec_balance,
            a.load_log.len()
        );
        assert_eq!(a.atc, b.atc, "the load does not move the ATC");
        // The card that restarts from that state answers consistently.
        let mut bank = PbocApp::with_entropy(profile(), counter_entropy()).unwrap();
        bank.restore(saved.clone()).unwrap();
        let mut rt = Runtime::new(DualCard::new(sample_card().unwrap(), bank))
            .with_paging(PagingMode::Direct);
        select_app(&mut rt);
        assert_eq!(balance(&mut rt), a.ec_balance);
        cases += 1;
    }
    assert_eq!(cases, TearPoint::ALL.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The shipped profile with a second application (`…010102`, credit) behind the first.
fn two_app_profile() -> String {
    let mut v: serde_json::Value = serde_json::from_str(PROFILE).unwrap();
    let mut second = v["applications"][0].clone();
    second["aid"] = "A000000333010102".into();
    for iface in ["contact", "contactless"] {
        let fci = second["fci"][iface]
            .as_str()
            .unwrap()
            .replace("8408A000000333010101", "8408A000000333010102");
        second["fci"][iface] = fci.into();
    }
    v["applications"].as_array_mut().unwrap().push(second);
    serde_json::to_string(&v).unwrap()
}

#[test]
fn next_occurrence_walks_the_applications_and_each_keeps_its_own_state() {
    let mut rt = card_from(&two_app_profile(), Interface::Contact);
    let (fci, sw) = sendh(&mut rt, "00A4040005A00000033300");
    assert_eq!(sw, 0x9000);
    assert_eq!(hex::to_string(&find(&fci, 0x84)), "A000000333010101");
    let (fci, sw) = sendh(&mut rt, "00A4040205A00000033300");
    assert_eq!(sw, 0x9000);
    assert_eq!(hex::to_string(&find(&fci, 0x84)), "A000000333010102");
    assert_eq!(sendh(&mut rt, "00A4040205A00000033300").1, 0x6A82);
    // A failed SELECT keeps the current application: GPO still works on …0102.
    assert_eq!(gpo(&mut rt, &pdol_contact(true, 100, CNY, false)).1, 0x9000);
    let (d, _) = gac(&mut rt, 0x40, &cdol1(100, CNY));
    assert_eq!(parse_gac(&d).cid, 0x40);
    let apps = &rt.card().bank().state().applications;
    assert_eq!((apps[0].atc, apps[0].ec_balance), (0, 10000));
    assert_eq!((apps[1].atc, apps[1].ec_balance), (1, 9900));
}

#[test]
fn a_card_without_pse_answers_6a82() {
    let mut v: serde_json::Value = serde_json::from_str(PROFILE).unwrap();
    v.as_object_mut().unwrap().remove("pse");
    let mut rt = card_from(&serde_json::to_string(&v).unwrap(), Interface::Contact);
    assert_eq!(
        sendh(&mut rt, "00A404000E315041592E5359532E444446303100").1,
        0x6A82
    );
    // The application is still selectable by its AID (terminal AID list fallback).
    assert_eq!(select_app(&mut rt).1, 0x9000);
}
