//! Wire time of reading the basic information (SELECT SSSE and eight READ RECORDs,
//! plus GET RESPONSE where the card pages with 61xx) in the host simulation of the
//! kiosk: the firmware state machine against the `sscard-emu` sample card through the
//! simulated UART, at 9600 bit/s and at the rate PPS negotiates (TA1 = 95: F = 512,
//! D = 16, 111 600 bit/s at 3.5712 MHz), over T=0 and T=1.
//!
//! The byte-count minimum is the number of characters on the wire (both directions,
//! procedure bytes and T=1 prologue/epilogue included) times one character time
//! (12 ETU); the ratio shows what the waits between characters cost (T=0 turnaround,
//! T=1 block guard time). A second ratio is against the APDU bytes alone, which adds
//! the protocol's own bytes. The goal is a wire ratio of at most 1.1.
//!
//! Run: `cargo run -p sscard-kiosk --example wire-time` (or
//! `bash benches/kiosk-wire-time.sh`). A report, not a test: it asserts nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    missing_docs
)]

#[path = "../tests/sim/mod.rs"]
mod sim;

use sim::{
    spawn_card, CardOptions, ExchangeTime, Side, SimDelay, SimDisplay, SimKeypad, SimSwitch, Wire,
};
use sscard_appdir::Directory;
use sscard_kiosk::services::CardOnlyServices;
use sscard_kiosk::{Event, Kiosk, KioskConfig};
use sscard_link::{Link, LinkConfig};

fn measure(card: CardOptions, pps: bool) -> (Event, Vec<ExchangeTime>) {
    let wire = Wire::new();
    let handle = spawn_card(&wire, card);
    let link = Link::new(
        wire.end(Side::Terminal),
        LinkConfig::default().with_pps(pps),
    );
    let mut kiosk = Kiosk::new(
        link,
        SimKeypad::new(&wire),
        SimDisplay::default(),
        SimSwitch(wire.clone()),
        CardOnlyServices,
        sscard_kiosk::profile::basic_profile().unwrap(),
        Directory::builtin().unwrap(),
        KioskConfig::default(),
    );
    let mut delay = SimDelay(wire.clone());
    kiosk.start().unwrap();
    wire.insert();
    let mut activated = None;
    let exchanges = loop {
        match kiosk.step(&mut delay).unwrap() {
            e @ Event::Activated { .. } => {
                activated = Some(e);
                wire.clear_marks();
            }
            Event::BasicRead => break wire.exchanges(),
            Event::CardFailed(..) | Event::CardRemoved(_) => panic!("the card failed"),
            _ => {}
        }
    };
    drop(kiosk);
    handle.join().unwrap();
    (activated.unwrap(), exchanges)
}

fn main() {
    println!("Wire time of reading the basic information (host simulation, 3.5712 MHz clock)");
    println!();
    println!(
        "{:<34} {:>8} {:>5} {:>6} {:>6} {:>10} {:>10} {:>6} {:>6}",
        "link", "bit/s", "exch", "chars", "APDU", "wire ms", "min ms", "wire", "APDU"
    );
    let cases = [
        (
            "T=0 at 9600 (emulator ATR, no PPS)",
            CardOptions::emulator_t0(),
            true,
        ),
        (
            "T=0 at 9600 (TA1=95, PPS off)",
            CardOptions::fast_t0(),
            false,
        ),
        ("T=0 after PPS (TA1=95)", CardOptions::fast_t0(), true),
        (
            "T=1 at 9600 (TA1=95, PPS off)",
            CardOptions::fast_t1(),
            false,
        ),
        ("T=1 after PPS (TA1=95)", CardOptions::fast_t1(), true),
    ];
    let mut details = Vec::new();
    for (name, card, pps) in cases {
        let (activated, exchanges) = measure(card, pps);
        let Event::Activated { baud, .. } = activated else {
            unreachable!()
        };
        let wire_us: u64 = exchanges.iter().map(|e| e.wire_us).sum();
        let min_us: f64 = exchanges.iter().map(ExchangeTime::min_us).sum();
        let chars: usize = exchanges.iter().map(|e| e.chars).sum();
        let apdu: usize = exchanges.iter().map(|e| e.apdu_bytes).sum();
        let char_us = exchanges.first().map_or(0.0, |e| e.char_us);
        println!(
            "{:<34} {:>8} {:>5} {:>6} {:>6} {:>10.1} {:>10.1} {:>6.3} {:>6.3}",
            name,
            baud,
            exchanges.len(),
            chars,
            apdu,
            wire_us as f64 / 1000.0,
            min_us / 1000.0,
            wire_us as f64 / min_us,
            wire_us as f64 / (apdu as f64 * char_us),
        );
        details.push((name, exchanges));
    }
    println!();
    println!("wire: wire time / (characters x 12 ETU); APDU: wire time / (APDU bytes x 12 ETU).");
    println!("Goal: wire ratio <= 1.1.");
    println!();
    println!("Per exchange (wire µs / chars / APDU bytes / wire ratio):");
    for (name, exchanges) in details {
        println!("  {name}:");
        for (i, e) in exchanges.iter().enumerate() {
            println!(
                "    {:>2}: {:>8} µs {:>4} chars {:>4} APDU bytes  {:.3}",
                i + 1,
                e.wire_us,
                e.chars,
                e.apdu_bytes,
                e.wire_us as f64 / e.min_us()
            );
        }
    }
}
