//! A real card applet behind the card-side link: `sscard_emu::Runtime` serves the
//! SSSE basic file through `CardLink`; the terminal reads it with
//! `sscard_apdu::Exchange` over `Link`, over T=0 and over T=1.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod common;

use common::{hex, Side, Wire};
use sscard_apdu::{Exchange, Status};
use sscard_emu::{sample_card, PagingMode, Runtime, SsCard};
use sscard_link::timing::DEFAULT_CLOCK_HZ;
use sscard_link::{Atr, AtrBuilder, CardConfig, CardHandler, CardLink, Link, LinkConfig, Protocol};

const SELECT_SSSE: &str = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF";
const READ_CARD_NUMBER: &str = "00B207280B";
const CARD_NUMBER_RECORD: &str = "0709413132333435363738";

struct Emu(Runtime<SsCard>);

impl CardHandler for Emu {
    fn reset(&mut self) {
        self.0.reset();
    }

    fn handle(&mut self, command: &[u8], response: &mut [u8]) -> usize {
        let out = self.0.transmit(command);
        let n = out.len().min(response.len());
        response[..n].copy_from_slice(&out[..n]);
        n
    }
}

fn serve(wire: &Wire, atr: Atr, paging: PagingMode) -> std::thread::JoinHandle<()> {
    let end = wire.end(Side::Card);
    std::thread::spawn(move || {
        let runtime = Runtime::new(sample_card().unwrap()).with_paging(paging);
        let mut card = CardLink::new(end, atr, CardConfig::new(DEFAULT_CLOCK_HZ)).unwrap();
        let mut apdu = vec![0u8; 300];
        let mut resp = vec![0u8; 300];
        let _ = card.serve(&mut Emu(runtime), &mut apdu, &mut resp);
    })
}

fn read_basic_file(atr: Atr, paging: PagingMode, protocol: Protocol) {
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    let card = serve(&wire, atr, paging);
    let link = Link::new(wire.end(Side::Terminal), LinkConfig::default());
    let mut ex = Exchange::new(link);
    let mut buf = [0u8; 300];
    let fci = ex.transceive_ok(&hex(SELECT_SSSE), &mut buf).unwrap();
    assert_eq!(fci[0], 0x6F);
    assert_eq!(ex.transport().protocol(), Some(protocol));
    let r = ex.transceive(&hex(READ_CARD_NUMBER), &mut buf).unwrap();
    assert_eq!(r.status, Status::Success);
    assert_eq!(r.data, hex(CARD_NUMBER_RECORD).as_slice());
    // Le = 00 on a shorter record: over T=0 the card answers 6C0B and Exchange asks
    // again; over T=1 the record comes at once.
    let r = ex.transceive(&hex("00B2072800"), &mut buf).unwrap();
    assert_eq!(r.status, Status::Success);
    assert_eq!(r.data, hex(CARD_NUMBER_RECORD).as_slice());
    drop(ex);
    card.join().unwrap();
}

#[test]
fn ssse_card_number_over_t0_with_the_emulators_atr() {
    let rt = Runtime::new(sample_card().unwrap());
    let atr = Atr::parse(rt.atr()).unwrap();
    assert_eq!(atr.first_protocol(), 0);
    read_basic_file(atr, PagingMode::T0, Protocol::T0);
}

#[test]
fn ssse_card_number_over_t1() {
    let atr = AtrBuilder::new()
        .protocols(false, true)
        .ifsc(32)
        .historical(b"SSC3")
        .build()
        .unwrap();
    read_basic_file(atr, PagingMode::T0, Protocol::T1);
}

#[test]
fn ssse_card_number_over_t1_after_pps_with_direct_paging() {
    let atr = AtrBuilder::new()
        .fi_di(1, 3)
        .protocols(true, true)
        .ifsc(16)
        .crc(true)
        .build()
        .unwrap();
    let wire = Wire::new(DEFAULT_CLOCK_HZ);
    let card = serve(&wire, atr, PagingMode::Direct);
    let link = Link::new(
        wire.end(Side::Terminal),
        LinkConfig::default().prefer(Protocol::T1),
    );
    let mut ex = Exchange::new(link);
    let mut buf = [0u8; 300];
    ex.transceive_ok(&hex(SELECT_SSSE), &mut buf).unwrap();
    assert_eq!(ex.transport().line().baud(), 38_400);
    let data = ex.transceive_ok(&hex(READ_CARD_NUMBER), &mut buf).unwrap();
    assert_eq!(data, hex(CARD_NUMBER_RECORD).as_slice());
    drop(ex);
    card.join().unwrap();
}
