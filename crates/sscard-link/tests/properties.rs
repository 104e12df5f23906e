//! Property tests: the parsers and engines never panic or hang on arbitrary input,
//! and random APDUs round-trip terminal → card → terminal over T=0 and T=1.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::sync::{Arc, Mutex};

use common::{pattern, spawn_card, Recorder, ScriptIo, Side, Wire};
use proptest::prelude::*;
use sscard_apdu::Transport;
use sscard_link::atr::SpecificMode;
use sscard_link::t0::{self, Direction, T0Card, T0CardConfig, T0Config};
use sscard_link::t1::card::{T1Card, T1CardConfig};
use sscard_link::t1::terminal::{T1Config, T1Terminal};
use sscard_link::t1::{Block, Edc, Pcb, RCode, SKind};
use sscard_link::timing::{Timing, DEFAULT_CLOCK_HZ};
use sscard_link::{Atr, AtrBuilder, AtrError, CardConfig, IoErrorKind, Link, LinkConfig, Pps};

/// A byte stream from the peer: `None` is a character with a parity error.
fn stream() -> impl Strategy<Value = Vec<Option<u8>>> {
    prop::collection::vec(prop::option::weighted(0.95, any::<u8>()), 0..400)
}

fn script(items: &[Option<u8>]) -> ScriptIo {
    let mut io = ScriptIo::new(&[]);
    io.input = items.iter().map(|i| i.ok_or(IoErrorKind::Parity)).collect();
    io
}

/// A short command APDU of case 1–4 with an INS whose T=0 direction matches.
fn apdu() -> impl Strategy<Value = Vec<u8>> {
    (
        1u8..=4,
        prop::sample::select(vec![0x00u8, 0x80, 0x84]),
        any::<u8>(),
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 1..=255),
        1usize..=256,
    )
        .prop_map(|(case, cla, p1, p2, data, le)| {
            let ins = match case {
                2 => 0xB0,
                4 => 0xA4,
                _ => 0xD6,
            };
            let mut c = vec![cla, ins, p1, p2];
            if case >= 3 {
                c.push(data.len() as u8);
                c.extend_from_slice(&data);
            }
            if case == 2 || case == 4 {
                c.push(le as u8);
            }
            c
        })
}

fn t1_cfg() -> T1Config {
    let atr = AtrBuilder::new().protocols(false, true).build().unwrap();
    T1Config::from_atr(&atr, &Timing::initial(DEFAULT_CLOCK_HZ)).unwrap()
}

proptest! {
    #[test]
    fn atr_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
        if let Ok(atr) = Atr::parse(&bytes) {
            prop_assert_eq!(atr.as_bytes(), bytes.as_slice());
            let _ = (atr.fi_fmax(), atr.di(), atr.wi(), atr.ifsc(), atr.bwi(), atr.cwi());
            let _ = (atr.edc(), atr.specific_mode(), atr.historical_bytes(), atr.tck());
            let _ = (atr.protocols(), atr.first_protocol(), atr.extra_guard_time());
            for i in 0..10 {
                let _ = atr.interface(i);
            }
            // Every prefix of a valid ATR is "truncated": a reader keeps reading.
            for k in 0..bytes.len() {
                prop_assert_eq!(Atr::parse(&bytes[..k]), Err(AtrError::Truncated));
            }
        }
    }

    #[test]
    fn atr_builder_round_trips(
        fi in 0u8..16, di in 0u8..16, n in prop::option::of(any::<u8>()),
        t0 in any::<bool>(), t1 in any::<bool>(), wi in prop::option::of(1u8..=255),
        ifsc in prop::option::of(1u8..=254), bwi in 0u8..=9, cwi in 0u8..16, crc in any::<bool>(),
        specific in prop::option::of((0u8..2, any::<bool>(), any::<bool>())),
        hist in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let mut b = AtrBuilder::new().fi_di(fi, di).protocols(t0, t1).historical(&hist);
        if let Some(n) = n { b = b.extra_guard_time(n); }
        if let Some(wi) = wi { b = b.wi(wi); }
        if let Some(ifsc) = ifsc { b = b.ifsc(ifsc); }
        b = b.bwi_cwi(bwi, cwi).crc(crc);
        if let Some((protocol, can_change, implicit)) = specific {
            b = b.specific_mode(SpecificMode { protocol, can_change, implicit });
        }
        match b.build() {
            Ok(atr) => {
                prop_assert!(t0 || t1);
                prop_assert_eq!(atr.ta1(), (fi << 4) | di);
                prop_assert_eq!(atr.extra_guard_time(), n.unwrap_or(0));
                prop_assert_eq!(atr.historical_bytes(), hist.as_slice());
                prop_assert_eq!(atr.protocols().contains(0), t0);
                prop_assert_eq!(atr.protocols().contains(1), t1);
                if t1 {
                    prop_assert_eq!(atr.ifsc(), Ok(ifsc.unwrap_or(32)));
                    prop_assert_eq!(atr.bwi(), Ok(bwi));
                    prop_assert_eq!(atr.cwi(), cwi);
                    prop_assert_eq!(atr.edc(), if crc { Edc::Crc } else { Edc::Lrc });
                }
                if t0 {
                    prop_assert_eq!(atr.wi(), Ok(wi.unwrap_or(10)));
                }
                prop_assert_eq!(atr.specific_mode().map(|m| m.protocol), specific.map(|s| s.0));
            }
            Err(e) => prop_assert!(e == AtrError::Unencodable && (!t0 && !t1 || hist.len() > 15)),
        }
    }

    #[test]
    fn block_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300), crc in any::<bool>()) {
        let edc = if crc { Edc::Crc } else { Edc::Lrc };
        if let Ok(block) = Block::parse(&bytes, edc) {
            let mut out = [0u8; 300];
            let n = block.encode(edc, &mut out).unwrap();
            // Reserved I-block bits are dropped on re-encoding.
            prop_assert_eq!(n, bytes.len());
        }
    }

    #[test]
    fn blocks_round_trip(
        kind in 0u8..3, flag in any::<bool>(), more in any::<bool>(), code in 0u8..3, s in 0u8..4,
        inf in prop::collection::vec(any::<u8>(), 0..=254), value in 1u8..=254, crc in any::<bool>(),
    ) {
        let edc = if crc { Edc::Crc } else { Edc::Lrc };
        let (pcb, inf): (Pcb, &[u8]) = match kind {
            0 => (Pcb::I { ns: flag, more }, &inf),
            1 => (Pcb::R { nr: flag, code: [RCode::Ok, RCode::Edc, RCode::Other][code as usize] }, &[]),
            _ => {
                let kind = [SKind::Resynch, SKind::Ifs, SKind::Abort, SKind::Wtx][s as usize];
                let inf: &[u8] = if matches!(kind, SKind::Ifs | SKind::Wtx) { std::slice::from_ref(&value) } else { &[] };
                (Pcb::S { kind, response: flag }, inf)
            }
        };
        let block = Block { nad: 0, pcb, inf };
        let mut out = [0u8; 300];
        let n = block.encode(edc, &mut out).unwrap();
        prop_assert_eq!(Block::parse(&out[..n], edc), Ok(block));
    }

    #[test]
    fn pps_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..8)) {
        if let Ok(pps) = Pps::parse(&bytes) {
            let mut out = [0u8; 6];
            let n = pps.encode(&mut out);
            prop_assert_eq!(&out[..n], bytes.as_slice());
        }
    }

    #[test]
    fn t0_terminal_never_panics(command in apdu(), input in stream()) {
        let mut io = script(&input);
        let cfg = T0Config::from_atr(&AtrBuilder::new().build().unwrap(), &Timing::initial(DEFAULT_CLOCK_HZ)).unwrap();
        let mut resp = [0u8; 300];
        if let Ok(n) = t0::transceive(&mut io, &cfg, &command, &mut resp) {
            prop_assert!(n >= 2);
        }
        prop_assert!(io.receives <= input.len() + 1);
    }

    #[test]
    fn t0_card_never_panics(input in stream(), single in any::<bool>()) {
        let mut io = script(&input);
        let cfg = T0CardConfig::from_atr(&AtrBuilder::new().build().unwrap(), &Timing::initial(DEFAULT_CLOCK_HZ))
            .unwrap()
            .with_style(single, 1);
        let card = T0Card::new(cfg);
        let mut apdu = [0u8; 300];
        for _ in 0..input.len() + 1 {
            match card.receive_command(&mut io, &mut apdu, |h| Direction::of_ins(h[0], h[1]), 1_000_000_000) {
                Ok(cmd) => {
                    let _ = card.send_response(&mut io, &cmd, &[0x01, 0x02, 0x90, 0x00]);
                }
                Err(_) if io.input.is_empty() => break,
                Err(_) => {}
            }
        }
    }

    #[test]
    fn t1_terminal_never_panics(command in apdu(), input in stream(), ifsc in 1u8..=254) {
        let mut io = script(&input);
        let mut cfg = t1_cfg();
        cfg.ifsc = ifsc;
        let mut t1 = T1Terminal::new(cfg.with_ifsd(32));
        let mut resp = [0u8; 300];
        let _ = t1.transceive(&mut io, &command, &mut resp);
        // Bounded: every receive consumed input or timed out, and timeouts are bounded.
        prop_assert!(io.receives <= input.len() + 64);
    }

    #[test]
    fn t1_card_never_panics(input in stream()) {
        let mut io = script(&input);
        let atr = AtrBuilder::new().protocols(false, true).build().unwrap();
        let cfg = T1CardConfig::from_atr(&atr, &Timing::initial(DEFAULT_CLOCK_HZ)).unwrap();
        let mut card = T1Card::new(cfg);
        let mut apdu = [0u8; 300];
        for _ in 0..input.len() + 1 {
            match card.receive_command(&mut io, &mut apdu, u64::MAX) {
                Ok(_) => {
                    let _ = card.send_response(&mut io, &[0x55; 70]);
                }
                Err(_) => break,
            }
        }
    }
}

type Log = Arc<Mutex<Vec<Vec<u8>>>>;

fn round_trip_link(
    atr: Atr,
    cfg: LinkConfig,
    answer: fn(&[u8]) -> Vec<u8>,
) -> (Link<common::End>, Log) {
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    let log: Log = Arc::default();
    let handler = Recorder {
        log: log.clone(),
        resets: Arc::default(),
        answer,
    };
    spawn_card(&wire, atr, CardConfig::new(DEFAULT_CLOCK_HZ), handler);
    (Link::new(wire.end(Side::Terminal), cfg), log)
}

fn t1_answer(c: &[u8]) -> Vec<u8> {
    // 0…300 data bytes, chosen by the command.
    let len = c.iter().fold(0usize, |a, &b| (a * 7 + b as usize) % 301);
    pattern(c, len)
}

fn t0_answer(c: &[u8]) -> Vec<u8> {
    if c[1] == 0xB0 {
        let ne = if c[4] == 0 { 256 } else { c[4] as usize };
        pattern(c, ne)
    } else {
        vec![0x90, 0x00]
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn apdus_round_trip_over_t1(commands in prop::collection::vec(apdu(), 1..4), ifsc in 1u8..=254, ifsd in 1u8..=254, crc in any::<bool>()) {
        let atr = AtrBuilder::new().protocols(false, true).ifsc(ifsc).crc(crc).build().unwrap();
        let (mut link, log) = round_trip_link(atr, LinkConfig::default().with_ifsd(ifsd), t1_answer);
        for c in &commands {
            let mut r = vec![0u8; 400];
            let n = link.transmit(c, &mut r).unwrap();
            prop_assert_eq!(r[..n].to_vec(), t1_answer(c));
        }
        prop_assert_eq!(&*log.lock().unwrap(), &commands);
    }

    #[test]
    fn apdus_round_trip_over_t0(commands in prop::collection::vec(apdu(), 1..4), single in any::<bool>(), nulls in 0u8..3) {
        let atr = AtrBuilder::new().build().unwrap();
        let wire = Wire::new(DEFAULT_CLOCK_HZ);
        let log: Log = Arc::default();
        let handler = Recorder { log: log.clone(), resets: Arc::default(), answer: t0_answer };
        spawn_card(&wire, atr, CardConfig::new(DEFAULT_CLOCK_HZ).with_t0_style(single, nulls), handler);
        let mut link = Link::new(wire.end(Side::Terminal), LinkConfig::default());
        for c in &commands {
            let mut r = vec![0u8; 400];
            let n = link.transmit(c, &mut r).unwrap();
            prop_assert_eq!(r[..n].to_vec(), t0_answer(c));
        }
        // What the card saw: case 1 without P3, case 4 without Le.
        let expected: Vec<Vec<u8>> = commands
            .iter()
            .map(|c| match c.len() {
                4 => c.clone(),
                _ if c[1] == 0xA4 => c[..c.len() - 1].to_vec(),
                _ => c.clone(),
            })
            .collect();
        prop_assert_eq!(&*log.lock().unwrap(), &expected);
    }
}
