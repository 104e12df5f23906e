//! T=0 between the terminal `Link` and the card `CardLink` over the simulated wire:
//! cases 1–4, procedure bytes, and injected faults.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::sync::{Arc, Mutex};

use common::{hex, spawn_card, Fault, Recorder, Side, Wire};
use sscard_apdu::{ResetKind, Transport};
use sscard_link::io::CardIo;
use sscard_link::timing::DEFAULT_CLOCK_HZ;
use sscard_link::{
    Atr, AtrBuilder, CardConfig, IoErrorKind, Link, LinkConfig, LinkError, Protocol, T0Error,
};

/// WT at WI = 10 and the default clock: one second.
const WT_US: u64 = 1_000_000;

fn t0_atr() -> Atr {
    AtrBuilder::new().historical(b"SSC3").build().unwrap()
}

type Log = Arc<Mutex<Vec<Vec<u8>>>>;

/// The T=0 test card: outgoing commands get Le pattern bytes, incoming ones `9000`,
/// except SELECT, which announces 16 bytes with `6110`.
fn answer(c: &[u8]) -> Vec<u8> {
    match c[1] {
        0xA4 => vec![0x61, 0x10],
        0xB0 | 0xB2 | 0xC0 | 0x84 | 0xCA => {
            let le = if c.len() == 5 { c[4] } else { 0 };
            let ne = if le == 0 { 256 } else { le as usize };
            common::pattern(c, ne)
        }
        _ => vec![0x90, 0x00],
    }
}

fn setup(card_cfg: CardConfig) -> (Wire, Link<common::End>, Log) {
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    let log: Log = Arc::default();
    let handler = Recorder {
        log: log.clone(),
        resets: Arc::default(),
        answer,
    };
    spawn_card(&wire, t0_atr(), card_cfg, handler);
    let mut link = Link::new(wire.end(Side::Terminal), LinkConfig::default());
    link.power_on(ResetKind::Cold).unwrap();
    assert_eq!(link.protocol(), Some(Protocol::T0));
    (wire, link, log)
}

fn tx(link: &mut Link<common::End>, c: &[u8]) -> Result<Vec<u8>, LinkError> {
    let mut r = vec![0u8; 300];
    let n = link.transmit(c, &mut r)?;
    r.truncate(n);
    Ok(r)
}

fn cases(single_byte: bool, nulls: u8) {
    let cfg = CardConfig::new(DEFAULT_CLOCK_HZ).with_t0_style(single_byte, nulls);
    let (wire, mut link, log) = setup(cfg);
    // Case 1: header with P3 = 00, SW only.
    assert_eq!(tx(&mut link, &hex("80440000")).unwrap(), hex("9000"));
    // Case 2: P3 = Le; Le bytes after the ACK.
    let c2 = hex("00B0000010");
    assert_eq!(tx(&mut link, &c2).unwrap(), common::pattern(&c2, 16));
    // Case 2 with Le = 00: 256 bytes.
    let c2x = hex("00B0000000");
    assert_eq!(tx(&mut link, &c2x).unwrap().len(), 258);
    // Case 3: P3 = Lc; data after the ACK.
    assert_eq!(
        tx(&mut link, &hex("00D6000003AABBCC")).unwrap(),
        hex("9000")
    );
    // Case 4: sent as case 3, Le dropped; the card announces data with 61xx.
    assert_eq!(
        tx(&mut link, &hex("00A40400023F0000")).unwrap(),
        hex("6110")
    );
    let log = log.lock().unwrap();
    assert_eq!(log[0], hex("80440000"));
    assert_eq!(log[1], c2);
    assert_eq!(log[2], c2x);
    assert_eq!(log[3], hex("00D6000003AABBCC"));
    assert_eq!(log[4], hex("00A40400023F00"));
    // On the wire: each header is one send, then the data.
    let t = wire.sends_by(Side::Terminal);
    assert_eq!(t[0], hex("8044000000"));
    let c = wire.sent_by(Side::Card);
    let procedure = |ins: u8| {
        if single_byte {
            !ins
        } else {
            ins
        }
    };
    if single_byte {
        // One ~INS per data byte in both directions.
        let acks = wire.sends_by(Side::Card);
        let n = acks
            .iter()
            .filter(|s| s.as_slice() == [procedure(0xD6)])
            .count();
        assert_eq!(n, 3);
        // Three bytes for UPDATE BINARY, two for SELECT.
        assert_eq!(t.iter().filter(|s| s.len() == 1).count(), 5);
    } else {
        assert!(c.contains(&0xD6));
        assert!(t.contains(&hex("AABBCC")));
    }
    let nulls_seen = c.iter().filter(|&&b| b == 0x60).count();
    assert!(nulls_seen >= 5 * nulls as usize);
}

#[test]
fn cases_1_to_4_with_block_acks() {
    cases(false, 0);
}

#[test]
fn cases_1_to_4_with_single_byte_acks_and_null_bytes() {
    cases(true, 3);
}

#[test]
fn ins_6x_and_9x_are_refused_before_sending() {
    let (wire, mut link, _) = setup(CardConfig::new(DEFAULT_CLOCK_HZ));
    let before = wire.sent_by(Side::Terminal).len();
    assert_eq!(
        tx(&mut link, &hex("006A000000")),
        Err(LinkError::T0(T0Error::InvalidIns(0x6A)))
    );
    assert_eq!(
        tx(&mut link, &hex("0090000000")),
        Err(LinkError::T0(T0Error::InvalidIns(0x90)))
    );
    assert_eq!(wire.sent_by(Side::Terminal).len(), before);
    // Extended APDUs do not map onto T=0.
    assert_eq!(
        tx(&mut link, &hex("00B00000000100")),
        Err(LinkError::InvalidCommand)
    );
    assert_eq!(tx(&mut link, &hex("80440000")).unwrap(), hex("9000"));
}

#[test]
fn card_answers_6d00_to_ins_6x() {
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    let log: Log = Arc::default();
    let handler = Recorder {
        log: log.clone(),
        resets: Arc::default(),
        answer,
    };
    spawn_card(&wire, t0_atr(), CardConfig::new(DEFAULT_CLOCK_HZ), handler);
    // A raw terminal: reset, read the ATR, send a header with INS 6A.
    let mut t = wire.end(Side::Terminal);
    sscard_link::TerminalIo::reset(&mut t, ResetKind::Cold).unwrap();
    let mut got = Vec::new();
    while let Ok(Some(b)) = t.recv_within(WT_US) {
        got.push(b);
    }
    assert_eq!(got, t0_atr().as_bytes());
    t.send(&hex("006A000000")).unwrap();
    let sw = [t.recv_within(WT_US).unwrap(), t.recv_within(WT_US).unwrap()];
    assert_eq!(sw, [Some(0x6D), Some(0x00)]);
    assert!(log.lock().unwrap().is_empty());
}

#[test]
fn silent_card_times_out_within_wt() {
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    let mut card = wire.end(Side::Card);
    let card_thread = std::thread::spawn(move || {
        assert!(card.receive(u64::MAX).is_err());
        card.send(t0_atr().as_bytes()).unwrap();
        while card.receive(u64::MAX).is_ok() {}
    });
    let mut link = Link::new(wire.end(Side::Terminal), LinkConfig::default());
    link.power_on(ResetKind::Cold).unwrap();
    let start = wire.now();
    assert_eq!(tx(&mut link, &hex("00B0000010")), Err(LinkError::Timeout));
    let spent = wire.now() - start;
    assert!((WT_US..WT_US + 100_000).contains(&spent), "{spent}");
    drop(link);
    card_thread.join().unwrap();
}

#[test]
fn null_storm_is_bounded() {
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    let mut card = wire.end(Side::Card);
    let card_thread = std::thread::spawn(move || {
        assert!(card.receive(u64::MAX).is_err());
        card.send(t0_atr().as_bytes()).unwrap();
        for _ in 0..5 {
            assert!(card.receive(u64::MAX).unwrap().is_some());
        }
        // NULL bytes for ever (until the terminal hangs up).
        while card.send(&[0x60]).is_ok() {
            card.sleep(500_000);
            if card.now_us() > 1_000_000_000 {
                break;
            }
        }
    });
    let cfg = LinkConfig::default().with_bounds(3, 3, 64, 20);
    let mut link = Link::new(wire.end(Side::Terminal), cfg);
    link.power_on(ResetKind::Cold).unwrap();
    let start = wire.now();
    assert_eq!(
        tx(&mut link, &hex("00B0000010")),
        Err(LinkError::T0(T0Error::TooManyNullBytes))
    );
    assert!(wire.now() - start < 21 * WT_US);
    drop(link);
    card_thread.join().unwrap();
}

#[test]
fn damaged_procedure_byte_fails_then_the_link_goes_on() {
    let (wire, mut link, _) = setup(CardConfig::new(DEFAULT_CLOCK_HZ));
    // The card's ACK for the next command arrives damaged.
    wire.arm(
        Side::Card,
        0,
        Fault::Corrupt {
            index: 0,
            xor: 0x02,
        },
    );
    let c = hex("00B0000010");
    assert_eq!(
        tx(&mut link, &c),
        Err(LinkError::T0(T0Error::UnexpectedProcedureByte(0xB2)))
    );
    // The rest of that answer is drained before the next command.
    assert_eq!(tx(&mut link, &c).unwrap(), common::pattern(&c, 16));
}

#[test]
fn parity_error_is_reported_then_the_link_goes_on() {
    let (wire, mut link, _) = setup(CardConfig::new(DEFAULT_CLOCK_HZ));
    wire.arm(Side::Card, 1, Fault::Parity { index: 3 });
    let c = hex("00B0000010");
    assert_eq!(tx(&mut link, &c), Err(LinkError::Io(IoErrorKind::Parity)));
    assert_eq!(tx(&mut link, &c).unwrap(), common::pattern(&c, 16));
}

#[test]
fn lost_status_word_times_out() {
    let (wire, mut link, _) = setup(CardConfig::new(DEFAULT_CLOCK_HZ));
    // Case 3: ACK, data, then the card's SW is lost.
    wire.arm(Side::Card, 1, Fault::Drop);
    assert_eq!(
        tx(&mut link, &hex("00D6000003AABBCC")),
        Err(LinkError::Timeout)
    );
    assert_eq!(tx(&mut link, &hex("80440000")).unwrap(), hex("9000"));
}

#[test]
fn buffer_too_small_is_checked_before_sending() {
    let (wire, mut link, _) = setup(CardConfig::new(DEFAULT_CLOCK_HZ));
    let before = wire.sent_by(Side::Terminal).len();
    let mut small = [0u8; 10];
    assert_eq!(
        link.transmit(&hex("00B0000010"), &mut small),
        Err(LinkError::BufferTooSmall { needed: 18 })
    );
    assert_eq!(wire.sent_by(Side::Terminal).len(), before);
}

#[test]
fn shorter_answer_becomes_6cxx() {
    // The card has 16 bytes; Le 20 gets 6C10 (the APDU layer asks again).
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    let handler = Recorder {
        log: Arc::default(),
        resets: Arc::default(),
        answer: |c: &[u8]| common::pattern(c, 16),
    };
    spawn_card(&wire, t0_atr(), CardConfig::new(DEFAULT_CLOCK_HZ), handler);
    let mut link = Link::new(wire.end(Side::Terminal), LinkConfig::default());
    assert_eq!(tx(&mut link, &hex("00B0000014")).unwrap(), hex("6C10"));
    let c = hex("00B0000010");
    assert_eq!(tx(&mut link, &c).unwrap(), common::pattern(&c, 16));
}
