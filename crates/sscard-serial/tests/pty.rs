//! The serial transport reads the emulated card through a pseudo-terminal pair: the
//! `sscard-emu` sample card answers on the master end through `CardLink` and
//! `SerialCard`; the reader opens the slave by its path, as it would open
//! `/dev/ttyUSB0`, and reads the basic information with `sscard_ssse::read_basic`.
//! A pseudo-terminal has no modem lines, so RST travels through a channel.
#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use serialport::{SerialPort, TTYPort};
use sscard_apdu::{Exchange, ResetKind};
use sscard_emu::{sample_card, PagingMode, Runtime, SsCard};
use sscard_link::io::{CardIo, LineConfig};
use sscard_link::timing::DEFAULT_CLOCK_HZ;
use sscard_link::{Atr, AtrBuilder, CardConfig, CardHandler, CardLink, LinkConfig, Protocol};
use sscard_serial::card::{ResetInput, SerialCard};
use sscard_serial::{open, ResetLine, SerialConfig, SerialError};

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

/// A single-wire line as Phoenix readers have it: every character the terminal sends
/// comes back to the terminal too (the card end writes it back as it reads it).
struct SingleWire(SerialCard);

impl CardIo for SingleWire {
    type Error = SerialError;
    fn now_us(&mut self) -> u64 {
        self.0.now_us()
    }
    fn send(&mut self, bytes: &[u8]) -> Result<(), SerialError> {
        self.0.send(bytes)
    }
    fn receive(&mut self, deadline_us: u64) -> Result<Option<u8>, SerialError> {
        let b = self.0.receive(deadline_us)?;
        if let Some(b) = b {
            self.0.send(&[b])?;
        }
        Ok(b)
    }
    fn configure(&mut self, line: &LineConfig) -> Result<(), SerialError> {
        self.0.configure(line)
    }
    fn wait_until(&mut self, deadline_us: u64) -> Result<(), SerialError> {
        self.0.wait_until(deadline_us)
    }
}

/// A pty pair with the card serving on the master; returns the slave's path, the
/// reset hook for the reader, and the card thread.
fn card_on_pty_with(
    atr: Atr,
    paging: PagingMode,
    single_wire: bool,
) -> (String, ResetLine, JoinHandle<()>) {
    let (master, slave) = TTYPort::pair().expect("openpty");
    let path = slave.name().expect("slave path");
    // The reader opens the slave again by its name. This handle stays open while the
    // card runs, so the master never sees a hang-up before the reader is there.
    let (tx, rx) = mpsc::channel::<bool>();
    let card = std::thread::spawn(move || {
        let _slave = slave;
        let io = SerialCard::new(Box::new(master), ResetInput::Signal(rx));
        let mut runtime = Emu(Runtime::new(sample_card().unwrap()).with_paging(paging));
        let cfg = CardConfig::new(DEFAULT_CLOCK_HZ);
        let (mut apdu, mut resp) = (vec![0u8; 300], vec![0u8; 300]);
        // Ends when the reader is gone (its reset hook drops the sender).
        if single_wire {
            let mut card = CardLink::new(SingleWire(io), atr, cfg).unwrap();
            let _ = card.serve(&mut runtime, &mut apdu, &mut resp);
        } else {
            let mut card = CardLink::new(io, atr, cfg).unwrap();
            let _ = card.serve(&mut runtime, &mut apdu, &mut resp);
        }
    });
    let hook = ResetLine::Hook(Box::new(move |level| {
        tx.send(level)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    }));
    (path, hook, card)
}

fn read_basic_over_pty(atr: Atr, paging: PagingMode, prefer: Option<Protocol>) -> (Protocol, u32) {
    read_basic_over_pty_with(atr, paging, prefer, false)
}

fn read_basic_over_pty_with(
    atr: Atr,
    paging: PagingMode,
    prefer: Option<Protocol>,
    single_wire: bool,
) -> (Protocol, u32) {
    let (path, hook, card) = card_on_pty_with(atr, paging, single_wire);
    let cfg = SerialConfig::phoenix(DEFAULT_CLOCK_HZ)
        .with_reset(hook)
        .with_echo(single_wire)
        .with_latency(Duration::from_millis(50));
    let mut link_cfg = LinkConfig::new(cfg.limits());
    if let Some(p) = prefer {
        link_cfg = link_cfg.prefer(p);
    }
    let mut reader = open(&path, cfg, link_cfg).expect("open the pty slave");
    let card_atr = reader.power_on(ResetKind::Cold).unwrap();
    let protocol = reader.protocol().unwrap();
    let baud = reader.line().baud();
    // The UART really runs at the negotiated rate.
    assert_eq!(reader.io().port().baud_rate().unwrap(), baud);
    let profile = sscard_fs::builtin_profile().unwrap();
    let mut ex = Exchange::new(reader);
    let info = sscard_ssse::read_basic(&mut ex, &profile, card_atr.as_bytes()).unwrap();
    assert_eq!(info.name, "李测试");
    assert_eq!(info.ssn, "330102199003071230");
    assert_eq!(info.card_number, "A12345678");
    assert_eq!(info.region_code, "330100");
    drop(ex);
    card.join().unwrap();
    (protocol, baud)
}

#[test]
fn basic_information_over_t0_at_9600_through_a_pty() {
    let atr = Atr::parse(Runtime::new(sample_card().unwrap()).atr()).unwrap();
    let (protocol, baud) = read_basic_over_pty(atr, PagingMode::T0, None);
    assert_eq!((protocol, baud), (Protocol::T0, 9600));
}

#[test]
fn basic_information_over_t1_after_pps_through_a_pty() {
    let atr = AtrBuilder::new()
        .fi_di(1, 3)
        .protocols(true, true)
        .ifsc(254)
        .historical(b"SSC3")
        .build()
        .unwrap();
    let (protocol, baud) = read_basic_over_pty(atr, PagingMode::Direct, Some(Protocol::T1));
    assert_eq!((protocol, baud), (Protocol::T1, 38_400));
}

#[test]
fn a_single_wire_reader_drops_its_own_echo() {
    // Phoenix readers hear their own characters; the transport reads them back and
    // drops them, over T=0 (emulator ATR) and T=1 after PPS.
    let atr = Atr::parse(Runtime::new(sample_card().unwrap()).atr()).unwrap();
    let (protocol, _) = read_basic_over_pty_with(atr, PagingMode::T0, None, true);
    assert_eq!(protocol, Protocol::T0);
    let atr = AtrBuilder::new()
        .fi_di(1, 3)
        .protocols(false, true)
        .ifsc(254)
        .build()
        .unwrap();
    let (protocol, baud) =
        read_basic_over_pty_with(atr, PagingMode::Direct, Some(Protocol::T1), true);
    assert_eq!((protocol, baud), (Protocol::T1, 38_400));
}
