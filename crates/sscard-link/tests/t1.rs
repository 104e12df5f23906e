//! T=1 between the terminal `Link` and the card `CardLink` over the simulated wire:
//! the ISO/IEC 7816-3 Annex A scenarios and injected faults.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use std::sync::{Arc, Mutex};

use common::{pattern, spawn_card, Fault, Recorder, Side, Wire};
use sscard_apdu::{ResetKind, Transport};
use sscard_link::t1::{Block, Edc, Pcb, RCode, SKind};
use sscard_link::timing::DEFAULT_CLOCK_HZ;
use sscard_link::{
    Atr, AtrBuilder, CardConfig, CardEvent, CardLink, Link, LinkConfig, LinkError, Protocol,
    T1Error,
};

/// BWT at BWI 4 and the default clock: 11 ETU + 1.6 s.
const BWT_US: u64 = 1_601_146;

fn t1_atr(ifsc: u8, crc: bool) -> Atr {
    AtrBuilder::new()
        .protocols(false, true)
        .ifsc(ifsc)
        .bwi_cwi(4, 5)
        .crc(crc)
        .build()
        .unwrap()
}

type Log = Arc<Mutex<Vec<Vec<u8>>>>;

/// A card answering every command with `resp_len` pattern bytes and 9000.
fn setup(atr: Atr, link_cfg: LinkConfig, resp_len: usize) -> (Wire, Link<common::End>, Log) {
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    let log: Log = Arc::default();
    let handler = Recorder {
        log: log.clone(),
        resets: Arc::default(),
        answer: move |c: &[u8]| pattern(c, resp_len),
    };
    spawn_card(&wire, atr, CardConfig::new(DEFAULT_CLOCK_HZ), handler);
    let link = Link::new(wire.end(Side::Terminal), link_cfg);
    (wire, link, log)
}

fn command(len: usize) -> Vec<u8> {
    let mut c = vec![0x80, 0xE2, 0x00, 0x00];
    if len > 0 {
        c.push(len as u8);
        c.extend((0..len).map(|i| i as u8));
    }
    c
}

fn tx(link: &mut Link<common::End>, c: &[u8]) -> Result<Vec<u8>, LinkError> {
    let mut r = vec![0u8; 1024];
    let n = link.transmit(c, &mut r)?;
    r.truncate(n);
    Ok(r)
}

/// The blocks `side` sent (each engine sends a block in one `send` call).
fn blocks(wire: &Wire, side: Side, edc: Edc) -> Vec<(Pcb, Vec<u8>)> {
    wire.sends_by(side)
        .iter()
        .filter_map(|b| Block::parse(b, edc).ok())
        .map(|b| (b.pcb, b.inf.to_vec()))
        .collect()
}

fn s_blocks(list: &[(Pcb, Vec<u8>)], kind: SKind, response: bool) -> usize {
    list.iter()
        .filter(|(p, _)| *p == Pcb::S { kind, response })
        .count()
}

#[test]
fn ifsd_negotiated_then_short_exchange() {
    let (wire, mut link, log) = setup(t1_atr(32, false), LinkConfig::default(), 4);
    let atr = link.power_on(ResetKind::Cold).unwrap();
    assert_eq!(link.protocol(), Some(Protocol::T1));
    assert_eq!(atr.ifsc(), Ok(32));
    let r = tx(&mut link, &[0x00, 0x84, 0x00, 0x00, 0x04]).unwrap();
    assert_eq!(r, pattern(&[0x00, 0x84, 0x00, 0x00, 0x04], 4));
    assert_eq!(log.lock().unwrap()[0], vec![0x00, 0x84, 0x00, 0x00, 0x04]);
    // Annex A: S(IFS request, FE) then S(IFS response, FE), then I(0,0) / I(0,0).
    let t = blocks(&wire, Side::Terminal, Edc::Lrc);
    assert_eq!(
        t[0],
        (
            Pcb::S {
                kind: SKind::Ifs,
                response: false
            },
            vec![0xFE]
        )
    );
    assert_eq!(
        t[1].0,
        Pcb::I {
            ns: false,
            more: false
        }
    );
    let c = blocks(&wire, Side::Card, Edc::Lrc);
    assert_eq!(
        c[0],
        (
            Pcb::S {
                kind: SKind::Ifs,
                response: true
            },
            vec![0xFE]
        )
    );
    assert_eq!(
        c[1].0,
        Pcb::I {
            ns: false,
            more: false
        }
    );
    // Sequence numbers alternate across commands.
    for i in 0..3u8 {
        let c = [0x00, 0xB0, 0x00, i, 0x04];
        assert_eq!(tx(&mut link, &c).unwrap(), pattern(&c, 4));
    }
    let t = blocks(&wire, Side::Terminal, Edc::Lrc);
    let ns: Vec<bool> = t
        .iter()
        .filter_map(|(p, _)| match p {
            Pcb::I { ns, .. } => Some(*ns),
            _ => None,
        })
        .collect();
    assert_eq!(ns, [false, true, false, true]);
}

#[test]
fn chaining_terminal_to_card_with_small_ifsc() {
    let (wire, mut link, log) = setup(t1_atr(16, false), LinkConfig::default(), 2);
    link.power_on(ResetKind::Cold).unwrap();
    let c = command(200);
    assert_eq!(tx(&mut link, &c).unwrap(), pattern(&c, 2));
    assert_eq!(log.lock().unwrap()[0], c);
    let t = blocks(&wire, Side::Terminal, Edc::Lrc);
    let chunks: Vec<usize> = t
        .iter()
        .filter(|(p, _)| matches!(p, Pcb::I { .. }))
        .map(|(_, inf)| inf.len())
        .collect();
    assert_eq!(chunks.len(), 205usize.div_ceil(16));
    assert!(chunks.iter().all(|&n| n <= 16));
    // The card acknowledged each chained block with R(N(R)).
    let c = blocks(&wire, Side::Card, Edc::Lrc);
    let acks = c
        .iter()
        .filter(|(p, _)| {
            matches!(
                p,
                Pcb::R {
                    code: RCode::Ok,
                    ..
                }
            )
        })
        .count();
    assert_eq!(acks, chunks.len() - 1);
}

#[test]
fn chaining_card_to_terminal_with_small_ifsd() {
    let cfg = LinkConfig::default().with_ifsd(20);
    let (wire, mut link, _) = setup(t1_atr(254, true), cfg, 250);
    link.power_on(ResetKind::Cold).unwrap();
    let c = [0x00, 0xB0, 0x00, 0x00, 0xFA];
    assert_eq!(tx(&mut link, &c).unwrap(), pattern(&c, 250));
    let card = blocks(&wire, Side::Card, Edc::Crc);
    let chunks: Vec<usize> = card
        .iter()
        .filter(|(p, _)| matches!(p, Pcb::I { .. }))
        .map(|(_, inf)| inf.len())
        .collect();
    assert_eq!(chunks.len(), 252usize.div_ceil(20));
    assert!(chunks.iter().all(|&n| n <= 20));
    // Both directions chained in one exchange, then again.
    let c = command(250);
    assert_eq!(tx(&mut link, &c).unwrap(), pattern(&c, 250));
}

/// A card running `CardLink` by hand, for scenarios where it takes the initiative.
fn manual_card(
    wire: &Wire,
    atr: Atr,
    script: impl FnOnce(&mut CardLink<common::End>) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let end = wire.end(Side::Card);
    std::thread::spawn(move || {
        let mut card = CardLink::new(end, atr, CardConfig::new(DEFAULT_CLOCK_HZ)).unwrap();
        script(&mut card);
    })
}

fn next_command(card: &mut CardLink<common::End>, buf: &mut [u8]) -> Vec<u8> {
    loop {
        match card.next_event(buf).unwrap() {
            CardEvent::Reset => {}
            CardEvent::Command(n) => return buf[..n].to_vec(),
        }
    }
}

#[test]
fn card_changes_ifsc_and_asks_for_more_time() {
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    let card = manual_card(&wire, t1_atr(254, false), |card| {
        let mut buf = vec![0u8; 1024];
        let c = next_command(card, &mut buf);
        // S(IFS request) from the card: the terminal's next chains use 10 bytes.
        card.request_ifs(10).unwrap();
        card.respond(&pattern(&c, 0)).unwrap();
        let c = next_command(card, &mut buf);
        assert_eq!(c.len(), 105);
        // Two S(WTX) rounds, sleeping longer than BWT each time.
        card.request_wtx(3).unwrap();
        card.io().sleep(2 * BWT_US);
        card.request_wtx(2).unwrap();
        card.io().sleep(BWT_US + BWT_US / 2);
        card.respond(&pattern(&c, 8)).unwrap();
        let _ = card.next_event(&mut buf);
    });
    let mut link = Link::new(wire.end(Side::Terminal), LinkConfig::default());
    link.power_on(ResetKind::Cold).unwrap();
    let c = [0x00, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00];
    assert_eq!(tx(&mut link, &c).unwrap(), pattern(&c, 0));
    assert_eq!(link.t1().unwrap().ifsc(), 10);
    let c = command(100);
    let start = wire.now();
    assert_eq!(tx(&mut link, &c).unwrap(), pattern(&c, 8));
    assert!(wire.now() - start > 3 * BWT_US);
    let t = blocks(&wire, Side::Terminal, Edc::Lrc);
    assert_eq!(s_blocks(&t, SKind::Ifs, true), 1);
    assert_eq!(s_blocks(&t, SKind::Wtx, true), 2);
    let big = t
        .iter()
        .skip_while(|(p, _)| {
            !matches!(
                p,
                Pcb::S {
                    kind: SKind::Ifs,
                    response: true
                }
            )
        })
        .filter(|(p, _)| matches!(p, Pcb::I { .. }))
        .map(|(_, inf)| inf.len())
        .max()
        .unwrap();
    assert_eq!(big, 10);
    drop(link);
    card.join().unwrap();
}

#[test]
fn card_slower_than_bwt_without_wtx_fails_in_bounded_time() {
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    let card = manual_card(&wire, t1_atr(254, false), |card| {
        let mut buf = vec![0u8; 1024];
        let _ = next_command(card, &mut buf);
        // Silent for far longer than the terminal's whole recovery budget.
        card.io().sleep(60_000_000);
    });
    let mut link = Link::new(wire.end(Side::Terminal), LinkConfig::default());
    link.power_on(ResetKind::Cold).unwrap();
    let start = wire.now();
    let err = tx(&mut link, &command(3)).unwrap_err();
    assert_eq!(err, LinkError::T1(T1Error::ResyncFailed));
    let spent = wire.now() - start;
    // 1 + 3 retries and 3 resynchronisation attempts, one BWT each, plus transfers.
    assert!(spent < 8 * BWT_US + 1_000_000, "{spent}");
    assert_eq!(tx(&mut link, &command(3)), Err(LinkError::LinkDown));
    // A reset brings the link back (the card thread is asleep: it answers nothing,
    // so only check the call ends).
    let _ = link.power_on(ResetKind::Warm);
    drop(link);
    card.join().unwrap();
}

#[test]
fn wtx_storm_is_bounded() {
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    let card = manual_card(&wire, t1_atr(254, false), |card| {
        let mut buf = vec![0u8; 1024];
        let _ = next_command(card, &mut buf);
        while card.request_wtx(1).is_ok() {}
    });
    let cfg = LinkConfig::default().with_bounds(3, 3, 10, 1000);
    let mut link = Link::new(wire.end(Side::Terminal), cfg);
    link.power_on(ResetKind::Cold).unwrap();
    assert_eq!(
        tx(&mut link, &command(3)),
        Err(LinkError::T1(T1Error::TooManyWtx))
    );
    let t = blocks(&wire, Side::Terminal, Edc::Lrc);
    assert_eq!(s_blocks(&t, SKind::Wtx, true), 10);
    drop(link);
    card.join().unwrap();
}

fn faulty(fault_side: Side, nth: usize, fault: Fault) -> (Wire, Link<common::End>, Log) {
    let (wire, mut link, log) = setup(t1_atr(32, false), LinkConfig::default(), 40);
    link.power_on(ResetKind::Cold).unwrap();
    wire.arm(fault_side, nth, fault);
    (wire, link, log)
}

fn assert_recovers(wire: &Wire, link: &mut Link<common::End>, log: &Log, c: &[u8]) {
    let start = wire.now();
    assert_eq!(tx(link, c).unwrap(), pattern(c, 40));
    assert!(wire.now() - start < 6 * BWT_US);
    // The card executed the command exactly once.
    assert_eq!(
        log.lock()
            .unwrap()
            .iter()
            .filter(|x| x.as_slice() == c)
            .count(),
        1
    );
    // And the link goes on.
    let d = [0x00, 0xB0, 0x00, 0x01, 0x28];
    assert_eq!(tx(link, &d).unwrap(), pattern(&d, 40));
}

#[test]
fn corrupted_i_block_to_card_is_resent() {
    let (wire, mut link, log) = faulty(
        Side::Terminal,
        0,
        Fault::Corrupt {
            index: 4,
            xor: 0x10,
        },
    );
    assert_recovers(&wire, &mut link, &log, &command(5));
    let card = blocks(&wire, Side::Card, Edc::Lrc);
    assert!(card.iter().any(|(p, _)| matches!(
        p,
        Pcb::R {
            code: RCode::Edc,
            ..
        }
    )));
}

#[test]
fn corrupted_i_block_from_card_is_resent() {
    let (wire, mut link, log) = faulty(
        Side::Card,
        0,
        Fault::Corrupt {
            index: 5,
            xor: 0x01,
        },
    );
    assert_recovers(&wire, &mut link, &log, &command(5));
    let t = blocks(&wire, Side::Terminal, Edc::Lrc);
    assert!(t.iter().any(|(p, _)| matches!(
        p,
        Pcb::R {
            code: RCode::Edc,
            ..
        }
    )));
}

#[test]
fn parity_error_from_card_is_recovered() {
    let (wire, mut link, log) = faulty(Side::Card, 0, Fault::Parity { index: 7 });
    assert_recovers(&wire, &mut link, &log, &command(5));
}

#[test]
fn parity_error_in_len_is_recovered() {
    let (wire, mut link, log) = faulty(Side::Card, 0, Fault::Parity { index: 2 });
    assert_recovers(&wire, &mut link, &log, &command(5));
}

#[test]
fn lost_i_block_to_card_is_resent_after_bwt() {
    let (wire, mut link, log) = faulty(Side::Terminal, 0, Fault::Drop);
    assert_recovers(&wire, &mut link, &log, &command(5));
}

#[test]
fn lost_i_block_from_card_is_asked_for_again() {
    let (wire, mut link, log) = faulty(Side::Card, 0, Fault::Drop);
    assert_recovers(&wire, &mut link, &log, &command(5));
}

#[test]
fn truncated_block_from_card_is_recovered() {
    let (wire, mut link, log) = faulty(Side::Card, 0, Fault::Truncate { keep: 6 });
    assert_recovers(&wire, &mut link, &log, &command(5));
}

#[test]
fn garbage_after_block_is_recovered() {
    let (wire, mut link, log) = faulty(Side::Card, 0, Fault::Garbage(vec![0x00, 0xFF, 0x12]));
    assert_recovers(&wire, &mut link, &log, &command(5));
}

#[test]
fn lost_ack_while_terminal_chains() {
    // Command of 100 bytes at IFSC 32: the card's first R-block ack is lost.
    let (wire, mut link, log) = faulty(Side::Card, 0, Fault::Drop);
    assert_recovers(&wire, &mut link, &log, &command(100));
}

#[test]
fn corrupted_ack_while_card_chains() {
    // A 250-byte answer in 32-byte blocks: the terminal's second R-block is damaged.
    let (wire, mut link, _) = setup(t1_atr(32, false), LinkConfig::default().with_ifsd(32), 250);
    link.power_on(ResetKind::Cold).unwrap();
    wire.arm(
        Side::Terminal,
        2,
        Fault::Corrupt {
            index: 1,
            xor: 0x10,
        },
    );
    let c = [0x00, 0xB0, 0x00, 0x00, 0xFA];
    assert_eq!(tx(&mut link, &c).unwrap(), pattern(&c, 250));
    let c2 = [0x00, 0xB0, 0x00, 0x02, 0xFA];
    assert_eq!(tx(&mut link, &c2).unwrap(), pattern(&c2, 250));
}

#[test]
fn every_single_fault_position_recovers() {
    // Damage each of the first sends of either side in turn, in several ways.
    for side in [Side::Terminal, Side::Card] {
        for nth in 0..6 {
            for fault in [
                Fault::Drop,
                Fault::Corrupt {
                    index: 3,
                    xor: 0x80,
                },
                Fault::Parity { index: 1 },
                Fault::Truncate { keep: 2 },
            ] {
                let (wire, mut link, _) =
                    setup(t1_atr(16, false), LinkConfig::default().with_ifsd(16), 40);
                link.power_on(ResetKind::Cold).unwrap();
                wire.arm(side, nth, fault.clone());
                let c = command(40);
                let start = wire.now();
                let first = tx(&mut link, &c);
                assert!(wire.now() - start < 10 * BWT_US, "{side:?} {nth} {fault:?}");
                match first {
                    Ok(r) => assert_eq!(r, pattern(&c, 40)),
                    Err(e) => assert_eq!(
                        e,
                        LinkError::T1(T1Error::Resynchronised),
                        "{side:?} {nth} {fault:?}"
                    ),
                }
                // Whatever happened, the next command works.
                let d = [0x00, 0xB0, 0x00, 0x09, 0x28];
                assert_eq!(
                    tx(&mut link, &d).unwrap(),
                    pattern(&d, 40),
                    "{side:?} {nth} {fault:?}"
                );
                assert!(!wire.deadlocked());
            }
        }
    }
}

#[test]
fn persistent_errors_lead_to_resync_then_work_again() {
    let (wire, mut link, _) = setup(t1_atr(32, false), LinkConfig::default(), 40);
    link.power_on(ResetKind::Cold).unwrap();
    for i in 0..4 {
        wire.arm(
            Side::Card,
            i,
            Fault::Corrupt {
                index: 4,
                xor: 0x01,
            },
        );
    }
    assert_eq!(
        tx(&mut link, &command(5)),
        Err(LinkError::T1(T1Error::Resynchronised))
    );
    let t = blocks(&wire, Side::Terminal, Edc::Lrc);
    assert_eq!(s_blocks(&t, SKind::Resynch, false), 1);
    let c = blocks(&wire, Side::Card, Edc::Lrc);
    assert_eq!(s_blocks(&c, SKind::Resynch, true), 1);
    // After resynchronisation N(S) restarts at 0 and IFSD is announced again.
    let d = [0x00, 0xB0, 0x00, 0x01, 0x28];
    assert_eq!(tx(&mut link, &d).unwrap(), pattern(&d, 40));
    let t = blocks(&wire, Side::Terminal, Edc::Lrc);
    assert_eq!(s_blocks(&t, SKind::Ifs, false), 2);
    assert_eq!(
        t.last().unwrap().0,
        Pcb::I {
            ns: false,
            more: false
        }
    );
}

#[test]
fn card_abort_ends_the_chain() {
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    let mut card_end = wire.end(Side::Card);
    let atr = t1_atr(16, false);
    let card = std::thread::spawn(move || {
        use sscard_link::io::CardIo;
        // Wait for reset, send the ATR, then script blocks by hand.
        assert!(card_end.receive(u64::MAX).is_err());
        card_end.send(atr.as_bytes()).unwrap();
        let read_block = |end: &mut common::End| -> Vec<u8> {
            let mut b = Vec::new();
            while b.len() < 3 || b.len() < 4 + b[2] as usize {
                match end.receive(u64::MAX) {
                    Ok(Some(x)) => b.push(x),
                    _ => return b,
                }
            }
            b
        };
        let send = |end: &mut common::End, pcb: Pcb, inf: &[u8]| {
            let mut out = [0u8; 300];
            let n = Block { nad: 0, pcb, inf }
                .encode(Edc::Lrc, &mut out)
                .unwrap();
            end.send(&out[..n]).unwrap();
        };
        // IFS negotiation.
        let b = read_block(&mut card_end);
        assert_eq!(b[1], 0xC1);
        send(
            &mut card_end,
            Pcb::S {
                kind: SKind::Ifs,
                response: true,
            },
            &b[3..4],
        );
        // First chained block: acknowledge; second: abort.
        let _ = read_block(&mut card_end);
        send(
            &mut card_end,
            Pcb::R {
                nr: true,
                code: RCode::Ok,
            },
            &[],
        );
        let _ = read_block(&mut card_end);
        send(
            &mut card_end,
            Pcb::S {
                kind: SKind::Abort,
                response: false,
            },
            &[],
        );
        let b = read_block(&mut card_end);
        assert_eq!(b[1], 0xE2);
        // The terminal resynchronises before its next command.
        let b = read_block(&mut card_end);
        assert_eq!(b[1], 0xC0);
        send(
            &mut card_end,
            Pcb::S {
                kind: SKind::Resynch,
                response: true,
            },
            &[],
        );
        let b = read_block(&mut card_end);
        assert_eq!(b[1], 0xC1);
        send(
            &mut card_end,
            Pcb::S {
                kind: SKind::Ifs,
                response: true,
            },
            &b[3..4],
        );
        let b = read_block(&mut card_end);
        assert_eq!(b[1], 0x00);
        send(
            &mut card_end,
            Pcb::I {
                ns: false,
                more: false,
            },
            &[0x90, 0x00],
        );
        let _ = read_block(&mut card_end);
    });
    let mut link = Link::new(wire.end(Side::Terminal), LinkConfig::default());
    link.power_on(ResetKind::Cold).unwrap();
    assert_eq!(
        tx(&mut link, &command(60)),
        Err(LinkError::T1(T1Error::Aborted))
    );
    assert_eq!(tx(&mut link, &command(3)).unwrap(), vec![0x90, 0x00]);
    drop(link);
    card.join().unwrap();
}

#[test]
fn garbage_card_ends_in_bounded_time() {
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    let mut card_end = wire.end(Side::Card);
    let atr = t1_atr(32, false);
    let card = std::thread::spawn(move || {
        use sscard_link::io::CardIo;
        assert!(card_end.receive(u64::MAX).is_err());
        card_end.send(atr.as_bytes()).unwrap();
        // Answer every burst of terminal bytes with noise.
        let mut seed = 7u8;
        loop {
            match card_end.receive(u64::MAX) {
                Ok(Some(_)) => {
                    // Wait for the end of the terminal's block, then babble.
                    while let Ok(Some(_)) = card_end.recv_within(20_000) {}
                    let noise: Vec<u8> = (0..9)
                        .map(|_| {
                            seed = seed.wrapping_mul(73).wrapping_add(41);
                            seed
                        })
                        .collect();
                    if card_end.send(&noise).is_err() {
                        return;
                    }
                }
                Ok(None) => {}
                Err(_) => return,
            }
        }
    });
    let cfg = LinkConfig::default().with_ifsd(32);
    let mut link = Link::new(wire.end(Side::Terminal), cfg);
    link.power_on(ResetKind::Cold).unwrap();
    let start = wire.now();
    let err = tx(&mut link, &command(5)).unwrap_err();
    assert!(
        matches!(
            err,
            LinkError::T1(T1Error::ResyncFailed | T1Error::Resynchronised)
        ),
        "{err:?}"
    );
    assert!(wire.now() - start < 10 * BWT_US);
    drop(link);
    card.join().unwrap();
}

#[test]
fn silent_card_after_atr_fails_ifs_negotiation_in_bounded_time() {
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    let mut card_end = wire.end(Side::Card);
    let atr = t1_atr(32, false);
    let card = std::thread::spawn(move || {
        use sscard_link::io::CardIo;
        assert!(card_end.receive(u64::MAX).is_err());
        card_end.send(atr.as_bytes()).unwrap();
        while card_end.receive(u64::MAX).is_ok() {}
    });
    let mut link = Link::new(wire.end(Side::Terminal), LinkConfig::default());
    let start = wire.now();
    assert_eq!(
        link.power_on(ResetKind::Cold),
        Err(LinkError::T1(T1Error::IfsNegotiation))
    );
    assert!(wire.now() - start < 5 * BWT_US);
    drop(link);
    card.join().unwrap();
}

#[test]
fn buffer_too_small_keeps_the_link_in_step() {
    let (_wire, mut link, _) = setup(t1_atr(32, false), LinkConfig::default(), 200);
    link.power_on(ResetKind::Cold).unwrap();
    let c = [0x00, 0xB0, 0x00, 0x00, 0xC8];
    let mut small = [0u8; 50];
    assert_eq!(
        link.transmit(&c, &mut small),
        Err(LinkError::BufferTooSmall { needed: 202 })
    );
    assert_eq!(tx(&mut link, &c).unwrap(), pattern(&c, 200));
}

#[test]
fn crc_edc_both_ways() {
    let (wire, mut link, _) = setup(t1_atr(64, true), LinkConfig::default(), 100);
    link.power_on(ResetKind::Cold).unwrap();
    wire.arm(
        Side::Card,
        0,
        Fault::Corrupt {
            index: 10,
            xor: 0x04,
        },
    );
    let c = command(150);
    assert_eq!(tx(&mut link, &c).unwrap(), pattern(&c, 100));
    assert!(!blocks(&wire, Side::Card, Edc::Crc).is_empty());
}
