//! A blank card's bank application personalised by STORE DATA of DGIs: every status word
//! of the personalisation commands, nothing half-applied, persistence across restarts,
//! and a personalised application that answers byte for byte like one built from the
//! same profile.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use sscard_apdu::hex;
use sscard_emu::pboc::{PbocApp, PbocFileJournal, LIFECYCLE_BLANK, LIFECYCLE_PERSONALISED};
use sscard_emu::{blank_card_with_bank_entropy, sample_card, DualCard, PagingMode, Runtime};
use sscard_emv::dgi::{self, Dgi};
use sscard_emv::perso;

const PROFILE: &str = include_str!("../../../apdu-specs/pboc/card.json");
const SELECT: &str = "00A4040008A000000333010101";

fn counter_entropy() -> Box<dyn sscard_emu::cos::Entropy> {
    let mut n = 0u8;
    Box::new(move |out: &mut [u8]| {
        for b in out {
            n = n.wrapping_add(1);
            *b = n;
        }
    })
}

fn blank() -> Runtime<DualCard> {
    Runtime::new(blank_card_with_bank_entropy(counter_entropy()).unwrap())
        .with_paging(PagingMode::Direct)
}

fn send(rt: &mut Runtime<DualCard>, apdu: &[u8]) -> (Vec<u8>, u16) {
    let r = rt.transmit(apdu);
    let (data, sw) = r.split_at(r.len() - 2);
    (data.to_vec(), u16::from_be_bytes([sw[0], sw[1]]))
}

fn sendh(rt: &mut Runtime<DualCard>, apdu: &str) -> (Vec<u8>, u16) {
    send(rt, &hex::to_vec(apdu).unwrap())
}

/// The DGI encoding of STORE DATA: number, length, value (secrets enciphered).
fn encode(dgis: &[Dgi]) -> Vec<u8> {
    let mut out = Vec::new();
    for (d, v) in dgis {
        let v = if dgi::is_secret(*d) {
            dgi::encipher(&dgi::TEST_DEK, v)
        } else {
            v.clone()
        };
        out.extend_from_slice(&d.to_be_bytes());
        out.push(v.len() as u8);
        out.extend_from_slice(&v);
    }
    out
}

fn store(rt: &mut Runtime<DualCard>, last: bool, seq: u8, data: &[u8]) -> u16 {
    let mut apdu = vec![
        0x80,
        0xE2,
        if last { 0x80 } else { 0x00 },
        seq,
        data.len() as u8,
    ];
    apdu.extend_from_slice(data);
    send(rt, &apdu).1
}

fn sample_dgis() -> Vec<Dgi> {
    dgi::from_application(&perso::load(PROFILE).unwrap(), 0).unwrap()
}

/// (lifecycle, DGIs stored, next P2).
fn lifecycle(rt: &mut Runtime<DualCard>) -> (u8, u8, u8) {
    let (data, sw) = sendh(rt, "80CA00C000");
    assert_eq!(sw, 0x9000);
    assert_eq!(&data[..2], &[0xC0, 0x03]);
    (data[2], data[3], data[4])
}

/// Personalises with one DGI per STORE DATA; returns the number of commands.
fn personalise(rt: &mut Runtime<DualCard>, dgis: &[Dgi]) -> usize {
    assert_eq!(sendh(rt, SELECT).1, 0x9000);
    for (i, d) in dgis.iter().enumerate() {
        let last = i + 1 == dgis.len();
        assert_eq!(
            store(rt, last, i as u8, &encode(std::slice::from_ref(d))),
            0x9000,
            "DGI {:04X}",
            d.0
        );
    }
    dgis.len()
}

#[test]
fn a_blank_bank_application_answers_only_personalisation_commands() {
    let mut rt = blank();
    let (fci, sw) = sendh(&mut rt, SELECT);
    assert_eq!(sw, 0x9000);
    assert_eq!(hex::to_string(&fci), "6F0A8408A000000333010101");
    assert_eq!(lifecycle(&mut rt), (LIFECYCLE_BLANK, 0, 0));
    // GPO, READ RECORD, GET DATA of a payment tag: not before personalisation.
    assert_eq!(sendh(&mut rt, "80A8000002830000").1, 0x6985);
    assert_eq!(sendh(&mut rt, "00B2010C00").1, 0x6985);
    // PSE/PPSE do not exist yet.
    assert_eq!(
        sendh(&mut rt, "00A404000E315041592E5359532E444446303100").1,
        0x6A82
    );
}

#[test]
fn store_data_status_words_and_nothing_half_applied() {
    let dgis = sample_dgis();
    let mut rt = blank();
    let first = encode(&dgis[..1]);
    // Bank application not selected: the command goes to the SSCard, which has no
    // STORE DATA.
    assert_eq!(store(&mut rt, false, 0, &first), 0x6D00);
    assert_eq!(sendh(&mut rt, SELECT).1, 0x9000);
    // Wrong sequence number, bad P1.
    assert_eq!(store(&mut rt, false, 1, &first), 0x6A86);
    assert_eq!(store(&mut rt, false, 0, &[]), 0x6700);
    let mut apdu = vec![0x80, 0xE2, 0x40, 0x00, first.len() as u8];
    apdu.extend_from_slice(&first);
    assert_eq!(send(&mut rt, &apdu).1, 0x6A86);
    // A DGI length running past the data.
    let mut short = first.clone();
    short[2] += 1;
    assert_eq!(store(&mut rt, false, 0, &short), 0x6700);
    // Unknown DGI; a good DGI with an unknown one in the same command stores neither.
    assert_eq!(store(&mut rt, false, 0, &[0x7F, 0x01, 0x01, 0x00]), 0x6A80);
    let mut mixed = first.clone();
    mixed.extend_from_slice(&[0x7F, 0x01, 0x01, 0x00]);
    assert_eq!(store(&mut rt, false, 0, &mixed), 0x6A80);
    assert_eq!(lifecycle(&mut rt), (LIFECYCLE_BLANK, 0, 0));
    // A secret DGI enciphered under another key.
    let keys = dgis.iter().find(|(d, _)| *d == dgi::KEYS_3DES).unwrap();
    let mut wrong_dek = dgi::TEST_DEK;
    wrong_dek[1] ^= 0x10;
    let blob = dgi::encipher(&wrong_dek, &keys.1);
    let mut bad = vec![0x80, 0x00, blob.len() as u8];
    bad.extend_from_slice(&blob);
    assert_eq!(store(&mut rt, false, 0, &bad), 0x6A80);
    // Good block; the same DGI again is refused.
    assert_eq!(store(&mut rt, false, 0, &first), 0x9000);
    assert_eq!(lifecycle(&mut rt), (0x02, 1, 1));
    assert_eq!(store(&mut rt, false, 1, &first), 0x6A80);
    // A last block that leaves the application incomplete: refused, nothing stored.
    assert_eq!(store(&mut rt, true, 1, &encode(&dgis[1..2])), 0x6A80);
    assert_eq!(lifecycle(&mut rt), (0x02, 1, 1));
    // The rest, several DGIs per command, then the last block.
    let rest = &dgis[1..];
    let mut seq = 1u8;
    let mut chunk = Vec::new();
    for (i, d) in rest.iter().enumerate() {
        let one = encode(std::slice::from_ref(d));
        if chunk.len() + one.len() > 255 {
            assert_eq!(store(&mut rt, false, seq, &chunk), 0x9000);
            seq += 1;
            chunk.clear();
        }
        chunk.extend_from_slice(&one);
        if i + 1 == rest.len() {
            assert_eq!(store(&mut rt, true, seq, &chunk), 0x9000);
        }
    }
    assert_eq!(lifecycle(&mut rt).0, LIFECYCLE_PERSONALISED);
    // STORE DATA after personalisation.
    assert_eq!(sendh(&mut rt, SELECT).1, 0x9000);
    assert_eq!(store(&mut rt, false, seq + 1, &first), 0x6985);
    assert_eq!(
        rt.card().bank().profile().applications,
        perso::load(PROFILE).unwrap().applications
    );
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

/// A transaction's APDUs (selection, PSE, PPSE, GPO in both families, records, GET
/// DATA, VERIFY, INTERNAL AUTHENTICATE, GENERATE AC) and the card's answers.
fn transcript(rt: &mut Runtime<DualCard>) -> Vec<(Vec<u8>, u16)> {
    let mut out = Vec::new();
    for (family, sm) in [("RSA", 0u8), ("SM2", 1u8)] {
        let _ = family;
        // PDOL contact: 9F1A02 9F7A01 9F0206 5F2A02 9F4E14 DF6901.
        let mut pdol = vec![0x01, 0x56, 0x00];
        pdol.extend_from_slice(&perso::amount_bcd(5000));
        pdol.extend_from_slice(&[0x01, 0x56]);
        pdol.extend_from_slice(b"SSCARD TEST SHOP    ");
        pdol.push(sm);
        let mut gpo = vec![0x83, pdol.len() as u8];
        gpo.extend_from_slice(&pdol);
        // CDOL1: 9F0206 9F0306 9F1A02 9505 5F2A02 9A03 9F2103 9C01 9F3704.
        let mut cdol1 = perso::amount_bcd(5000).to_vec();
        cdol1.extend_from_slice(&[0; 6]);
        cdol1.extend_from_slice(&[0x01, 0x56, 0, 0, 0, 0, 0, 0x01, 0x56]);
        cdol1.extend_from_slice(&[0x26, 0x11, 0x22, 0x01, 0x30, 0x00, 0x00]);
        cdol1.extend_from_slice(&[0x11, 0x22, 0x33, 0x44]);
        let mut apdus = vec![
            hex::to_vec("00A404000E315041592E5359532E444446303100").unwrap(),
            cmd(0x00, 0xB2, 1, 0x0C, &[], true),
            hex::to_vec("00A404000E325041592E5359532E444446303100").unwrap(),
            hex::to_vec("00A4040008A00000033301010100").unwrap(),
            cmd(0x80, 0xA8, 0, 0, &gpo, true),
        ];
        for (sfi, rec) in [(1u8, 1u8), (2, 1), (3, 1), (4, 1), (4, 2), (4, 3)] {
            apdus.push(cmd(0x00, 0xB2, rec, (sfi << 3) | 4, &[], true));
        }
        apdus.push(cmd(0x80, 0xCA, 0x9F, 0x79, &[], true));
        apdus.push(cmd(0x80, 0xCA, 0x9F, 0x17, &[], true));
        apdus.push(hex::to_vec("0020008008261234 56FFFFFFFF".replace(' ', "").as_str()).unwrap());
        apdus.push(cmd(0x00, 0x88, 0, 0, &[0x11, 0x22, 0x33, 0x44], true));
        apdus.push(cmd(0x80, 0xAE, 0x80, 0, &cdol1, true));
        apdus.push(cmd(0x80, 0xCA, 0x9F, 0x36, &[], true));
        for a in apdus {
            out.push(send(rt, &a));
        }
    }
    out
}

#[test]
fn a_personalised_card_answers_exactly_like_one_built_from_the_profile() {
    let dgis = sample_dgis();
    let mut issued = blank();
    personalise(&mut issued, &dgis);
    let bank = PbocApp::with_entropy(perso::load(PROFILE).unwrap(), counter_entropy()).unwrap();
    let mut built =
        Runtime::new(DualCard::new(sample_card().unwrap(), bank)).with_paging(PagingMode::Direct);
    let a = transcript(&mut issued);
    let b = transcript(&mut built);
    assert_eq!(a, b);
    // The transcript exercised the application: GPO, records, VERIFY, INTERNAL
    // AUTHENTICATE and GENERATE AC all succeeded in both families.
    let failed: Vec<_> = a.iter().filter(|(_, sw)| *sw != 0x9000).collect();
    assert!(failed.len() <= 2, "{failed:02X?}");
}

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sscard-bank-perso-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("card.bank")
}

fn persistent_blank(path: &std::path::Path) -> Runtime<DualCard> {
    let restore = PbocFileJournal::load(path).unwrap();
    let mut card = blank_card_with_bank_entropy(counter_entropy()).unwrap();
    let bank = std::mem::replace(
        card.bank_mut(),
        PbocApp::blank(&[0xA0, 0, 0, 3, 0x33], [0; 16], counter_entropy()).unwrap(),
    );
    *card.bank_mut() = bank
        .persistent(Box::new(PbocFileJournal::new(path)), restore)
        .unwrap();
    Runtime::new(card).with_paging(PagingMode::Direct)
}

#[test]
fn personalisation_survives_a_restart_half_way_and_when_done() {
    let dgis = sample_dgis();
    let path = temp("restart");
    let mut rt = persistent_blank(&path);
    assert_eq!(sendh(&mut rt, SELECT).1, 0x9000);
    for (i, d) in dgis[..3].iter().enumerate() {
        assert_eq!(
            store(&mut rt, false, i as u8, &encode(std::slice::from_ref(d))),
            0x9000
        );
    }
    drop(rt);
    // Restarted half-way: the card says so and still expects P2 = 3.
    let mut rt = persistent_blank(&path);
    assert_eq!(sendh(&mut rt, SELECT).1, 0x9000);
    assert_eq!(lifecycle(&mut rt), (0x02, 3, 3));
    for (i, d) in dgis.iter().enumerate().skip(3) {
        let last = i + 1 == dgis.len();
        assert_eq!(
            store(&mut rt, last, i as u8, &encode(std::slice::from_ref(d))),
            0x9000
        );
    }
    // A transaction moves the ATC; the restarted card keeps it and its profile.
    let before = transcript(&mut rt);
    drop(rt);
    let mut rt = persistent_blank(&path);
    assert_eq!(
        rt.card().bank().profile().applications,
        perso::load(PROFILE).unwrap().applications
    );
    let (atc, sw) = sendh(&mut rt, "00A4040008A000000333010101");
    assert_eq!(sw, 0x9000, "{atc:02X?}");
    let (atc, sw) = sendh(&mut rt, "80CA9F3600");
    assert_eq!(sw, 0x9000);
    assert_eq!(atc, vec![0x9F, 0x36, 0x02, 0x00, 0x02], "{before:02X?}");
    assert!(!before.is_empty());
}
