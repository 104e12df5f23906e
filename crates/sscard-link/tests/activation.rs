//! Activation over the simulated wire: ATR reading, PPS, conventions, specific
//! mode, and broken or silent cards. The wire garbles characters when the two ends
//! disagree on the bit rate or convention, so a working exchange after PPS shows
//! both ends switched together.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::sync::{Arc, Mutex};

use common::{hex, spawn_card, Recorder, Side, Wire};
use sscard_apdu::{Reader, ResetKind, Transport};
use sscard_link::atr::SpecificMode;
use sscard_link::io::CardIo;
use sscard_link::timing::DEFAULT_CLOCK_HZ;
use sscard_link::{
    Atr, AtrBuilder, AtrError, CardConfig, Convention, Link, LinkConfig, LinkError, PpsError,
    Protocol, ReaderLimits,
};

fn echo(c: &[u8]) -> Vec<u8> {
    common::pattern(c, 4)
}

fn card(wire: &Wire, atr: Atr, cfg: CardConfig) -> Arc<Mutex<usize>> {
    let resets: Arc<Mutex<usize>> = Arc::default();
    let handler = Recorder {
        log: Arc::default(),
        resets: resets.clone(),
        answer: echo,
    };
    spawn_card(wire, atr, cfg, handler);
    resets
}

fn works(link: &mut Link<common::End>) {
    let c = hex("00B0000004");
    let mut r = [0u8; 16];
    let n = link.transmit(&c, &mut r).unwrap();
    assert_eq!(&r[..n], common::pattern(&c, 4).as_slice());
}

/// The terminal's PPS request on the wire, if any.
fn pps_sent(wire: &Wire) -> Option<Vec<u8>> {
    wire.sends_by(Side::Terminal)
        .into_iter()
        .find(|s| s.first() == Some(&0xFF))
}

#[test]
fn pps_to_a_faster_rate() {
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    // TA1 = 13: F = 372, D = 4.
    let atr = AtrBuilder::new().fi_di(1, 3).build().unwrap();
    card(&wire, atr, CardConfig::new(DEFAULT_CLOCK_HZ));
    let mut link = Link::new(wire.end(Side::Terminal), LinkConfig::default());
    link.power_on(ResetKind::Cold).unwrap();
    assert_eq!(pps_sent(&wire), Some(hex("FF1013FC")));
    assert_eq!(link.line().baud(), 38_400);
    works(&mut link);
}

#[test]
fn pps_bounded_by_the_reader() {
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    // TA1 = 96: Fi = 512, Di = 32 (fmax 5 MHz).
    let atr = AtrBuilder::new()
        .fi_di(9, 6)
        .protocols(true, true)
        .build()
        .unwrap();
    card(&wire, atr, CardConfig::new(DEFAULT_CLOCK_HZ));
    let limits = ReaderLimits::new(DEFAULT_CLOCK_HZ, 115_200, 64);
    let mut link = Link::new(
        wire.end(Side::Terminal),
        LinkConfig::new(limits).prefer(Protocol::T1),
    );
    link.power_on(ResetKind::Cold).unwrap();
    // 512/16 at 3.5712 MHz is 111600 bit/s; 512/32 would be 223200.
    let pps = pps_sent(&wire).unwrap();
    assert_eq!(&pps[..3], &[0xFF, 0x11, 0x95]);
    assert_eq!(link.protocol(), Some(Protocol::T1));
    assert_eq!(link.line().baud(), 111_600);
    works(&mut link);
}

#[test]
fn no_pps_when_defaults_suffice() {
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    let atr = AtrBuilder::new().fi_di(1, 3).build().unwrap();
    card(&wire, atr, CardConfig::new(DEFAULT_CLOCK_HZ));
    let limits = ReaderLimits::new(DEFAULT_CLOCK_HZ, 9_600, 1);
    let mut link = Link::new(wire.end(Side::Terminal), LinkConfig::new(limits));
    link.power_on(ResetKind::Cold).unwrap();
    assert_eq!(pps_sent(&wire), None);
    assert_eq!(link.line().baud(), 9_600);
    works(&mut link);
}

#[test]
fn card_declining_the_rate_keeps_defaults() {
    // The card's responder leaves PPS1 out when asked for more than TA1 allows;
    // here the terminal is configured to believe a faster card.
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    let card_atr = AtrBuilder::new()
        .fi_di(1, 2)
        .protocols(true, true)
        .build()
        .unwrap();
    card(&wire, card_atr, CardConfig::new(DEFAULT_CLOCK_HZ));
    let mut t = wire.end(Side::Terminal);
    sscard_link::TerminalIo::reset(&mut t, ResetKind::Cold).unwrap();
    while let Ok(Some(_)) = t.recv_within(1_000_000) {}
    t.send(&[0xFF, 0x11, 0x13, 0xFF ^ 0x11 ^ 0x13]).unwrap();
    let mut resp = Vec::new();
    while let Ok(Some(b)) = t.recv_within(1_000_000) {
        resp.push(b);
    }
    assert_eq!(resp, vec![0xFF, 0x01, 0xFE]);
    assert_eq!(
        sscard_link::pps::check_response(&sscard_link::Pps::new(1, Some(0x13)), &resp),
        Ok((372, 1))
    );
}

#[test]
fn silent_pps_responder_fails_activation() {
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    let atr = AtrBuilder::new().fi_di(1, 3).build().unwrap();
    card(
        &wire,
        atr,
        CardConfig::new(DEFAULT_CLOCK_HZ).with_pps(false),
    );
    let mut link = Link::new(wire.end(Side::Terminal), LinkConfig::default());
    let start = wire.now();
    assert_eq!(
        link.power_on(ResetKind::Cold),
        Err(LinkError::Pps(PpsError::NoResponse))
    );
    // Initial waiting time: 9600 ETU = 1 s.
    assert!(wire.now() - start < 1_200_000);
    assert_eq!(
        link.transmit(&hex("00B0000004"), &mut [0u8; 8]),
        Err(LinkError::LinkDown)
    );
    // Without PPS the card runs at the defaults.
    let mut link = Link::new(link.into_io(), LinkConfig::default().with_pps(false));
    link.power_on(ResetKind::Cold).unwrap();
    assert_eq!(link.line().baud(), 9_600);
    works(&mut link);
}

#[test]
fn inverse_convention() {
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    let atr = AtrBuilder::new()
        .convention(Convention::Inverse)
        .protocols(false, true)
        .historical(b"INV")
        .build()
        .unwrap();
    assert_eq!(atr.as_bytes()[0], 0x3F);
    card(&wire, atr, CardConfig::new(DEFAULT_CLOCK_HZ));
    let mut link = Link::new(wire.end(Side::Terminal), LinkConfig::default());
    let got = link.power_on(ResetKind::Cold).unwrap();
    assert_eq!(got, atr);
    assert_eq!(link.line().convention, Convention::Inverse);
    works(&mut link);
}

#[test]
fn specific_mode_uses_ta1_without_pps() {
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    let atr = AtrBuilder::new()
        .fi_di(1, 3)
        .protocols(false, true)
        .specific_mode(SpecificMode {
            protocol: 1,
            can_change: false,
            implicit: false,
        })
        .build()
        .unwrap();
    card(&wire, atr, CardConfig::new(DEFAULT_CLOCK_HZ));
    let mut link = Link::new(wire.end(Side::Terminal), LinkConfig::default());
    link.power_on(ResetKind::Cold).unwrap();
    assert_eq!(pps_sent(&wire), None);
    assert_eq!(link.line().baud(), 38_400);
    assert_eq!(link.protocol(), Some(Protocol::T1));
    works(&mut link);
}

#[test]
fn specific_mode_beyond_the_reader_is_unsupported() {
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    let atr = AtrBuilder::new()
        .fi_di(1, 3)
        .specific_mode(SpecificMode {
            protocol: 0,
            can_change: false,
            implicit: false,
        })
        .build()
        .unwrap();
    card(&wire, atr, CardConfig::new(DEFAULT_CLOCK_HZ));
    let limits = ReaderLimits::new(DEFAULT_CLOCK_HZ, 9_600, 1);
    let mut link = Link::new(wire.end(Side::Terminal), LinkConfig::new(limits));
    assert_eq!(link.power_on(ResetKind::Cold), Err(LinkError::Unsupported));
}

/// A card thread that answers a reset with `bytes` and nothing else.
fn raw_card(wire: &Wire, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
    let mut end = wire.end(Side::Card);
    std::thread::spawn(move || {
        while let Err(e) = end.receive(u64::MAX) {
            if e.0 != sscard_link::IoErrorKind::Reset {
                return;
            }
            if !bytes.is_empty() && end.send(&bytes).is_err() {
                return;
            }
        }
    })
}

fn activation_error(bytes: &[u8]) -> (LinkError, u64) {
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    let t = raw_card(&wire, bytes.to_vec());
    let mut link = Link::new(wire.end(Side::Terminal), LinkConfig::default());
    let start = wire.now();
    let err = link.power_on(ResetKind::Cold).unwrap_err();
    let spent = wire.now() - start;
    drop(link);
    t.join().unwrap();
    (err, spent)
}

#[test]
fn broken_atrs_are_errors_in_bounded_time() {
    // No ATR at all: 40000 clocks plus the initial waiting time.
    let (e, spent) = activation_error(&[]);
    assert_eq!(e, LinkError::Timeout);
    assert!(spent < 1_100_000, "{spent}");
    // A bad TS.
    assert_eq!(
        activation_error(&[0x12, 0x00]).0,
        LinkError::Atr(AtrError::InvalidTs)
    );
    // A wrong TCK.
    assert_eq!(
        activation_error(&[0x3B, 0x80, 0x01, 0x80]).0,
        LinkError::Atr(AtrError::BadTck)
    );
    // A truncated ATR: the card stops after announcing more.
    let (e, spent) = activation_error(&[0x3B, 0x6D, 0x00]);
    assert_eq!(e, LinkError::Atr(AtrError::Truncated));
    assert!(spent < 1_100_000, "{spent}");
}

#[test]
fn reader_trait_resets_and_reports_the_atr() {
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    let atr = AtrBuilder::new().historical(b"SSC").build().unwrap();
    let resets = card(&wire, atr, CardConfig::new(DEFAULT_CLOCK_HZ));
    let mut link = Link::new(wire.end(Side::Terminal), LinkConfig::default());
    let mut buf = [0u8; 33];
    let n = Reader::atr(&mut link, &mut buf).unwrap();
    assert_eq!(&buf[..n], atr.as_bytes());
    works(&mut link);
    Reader::reset(&mut link, ResetKind::Warm).unwrap();
    works(&mut link);
    assert_eq!(*resets.lock().unwrap(), 2);
    let mut tiny = [0u8; 2];
    assert_eq!(
        Reader::atr(&mut link, &mut tiny),
        Err(LinkError::BufferTooSmall { needed: n })
    );
}

#[test]
fn extra_guard_time_slows_characters() {
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    let atr = AtrBuilder::new().extra_guard_time(10).build().unwrap();
    card(&wire, atr, CardConfig::new(DEFAULT_CLOCK_HZ));
    let mut link = Link::new(wire.end(Side::Terminal), LinkConfig::default());
    link.power_on(ResetKind::Cold).unwrap();
    assert_eq!(link.line().guard_etu, 22);
    works(&mut link);
}
