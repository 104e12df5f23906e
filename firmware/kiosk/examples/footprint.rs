//! Heap and structure sizes of the kiosk, measured on the host with a counting
//! global allocator: what parsing the profile subset and the application directory
//! keeps, and the heap peak of a whole session (T=1 after PPS: wrong PIN, right PIN,
//! a service, eject) on top of that. The host is 64-bit: `String`/`Vec` headers are
//! twice their size on a 32-bit microcontroller, so these figures are upper bounds
//! for `firmware/kiosk-example`'s heap. The session figure also includes the
//! emulated card's transient allocations (the card runs in the same process).
//!
//! Run: `cargo run -p sscard-kiosk --example footprint` (benches/size-report.sh does).
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

use peak_alloc::PeakAlloc;
use sim::{pin, spawn_card, Act, CardOptions, End, Side, SimDelay, SimKeypad, SimSwitch, Wire};
use sscard_apdu::{Exchange, ResetKind};
use sscard_kiosk::hal::render;
use sscard_kiosk::services::CardOnlyServices;
use sscard_kiosk::{Display, Event, Key, Kiosk, KioskConfig, Screen};
use sscard_link::{Link, LinkConfig};

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

type SimKiosk = Kiosk<End, SimKeypad, CountingDisplay, SimSwitch, CardOnlyServices>;

/// Renders every screen without keeping it (the recording display would count).
struct CountingDisplay(usize);

impl core::fmt::Write for CountingDisplay {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

impl Display for CountingDisplay {
    type Error = core::convert::Infallible;

    fn show(&mut self, screen: &Screen<'_>) -> Result<(), Self::Error> {
        let _ = render(screen, self);
        Ok(())
    }
}

/// Bytes kept and peak bytes (both above the level before) of `f`.
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let before = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let value = f();
    let kept = HEAP.current_usage().saturating_sub(before);
    let peak = HEAP.peak_usage().saturating_sub(before);
    (value, kept, peak)
}

fn session(kiosk: &mut SimKiosk, delay: &mut SimDelay, wire: &Wire, keypad: &SimKeypad) {
    let mut script = pin("000000");
    script.extend(pin("123456"));
    script.extend([Act::Key(Key::Digit(1)), Act::Key(Key::Enter)]);
    keypad.extend(script);
    wire.insert();
    loop {
        if kiosk.step(delay).unwrap() == Event::Ejected {
            break;
        }
    }
    wire.remove();
    while kiosk.step(delay).unwrap() != Event::CardTaken {}
}

/// The heap of `firmware/kiosk-example`'s card-stack: the profile, then one
/// `read_basic` after power-on. The emulated card runs in the same process, so its
/// transient allocations during the read count too: an upper bound.
fn card_stack(profile: &sscard_fs::Profile, profile_kept: usize) {
    let wire = Wire::new().without_log();
    let mut card = CardOptions::fast_t1();
    card.record = false;
    let handle = spawn_card(&wire, card);
    let mut ex = Exchange::new(Link::new(wire.end(Side::Terminal), LinkConfig::default()));
    wire.insert();
    let atr = ex.transport().power_on(ResetKind::Cold).unwrap();
    // A first read warms the emulated card up; the second is measured.
    drop(sscard_ssse::read_basic(&mut ex, profile, atr.as_bytes()).unwrap());
    let (info, kept, peak) =
        measure(|| sscard_ssse::read_basic(&mut ex, profile, atr.as_bytes()).unwrap());
    println!(
        "  card stack: profile {profile_kept} B + one read_basic: peak {peak} B, result kept {kept} B -> {} B",
        profile_kept + peak
    );
    drop(info);
    drop(ex);
    handle.join().unwrap();
}

fn main() {
    println!("sscard-kiosk footprint on the host (64-bit; a 32-bit MCU needs less)");
    let (profile, kept, peak) = measure(|| sscard_kiosk::profile::basic_profile().unwrap());
    println!("  profile subset (compiled, no JSON): kept {kept} B, peak {peak} B");
    card_stack(&profile, kept);
    let (directory, kept, peak) = measure(sscard_kiosk::directory::builtin_directory);
    println!(
        "  application directory (compiled, no JSON; {} uses): kept {kept} B, peak {peak} B",
        directory.items.len()
    );

    let wire = Wire::new().without_log();
    let mut card = CardOptions::fast_t1();
    card.record = false;
    let handle = spawn_card(&wire, card);
    let keypad = SimKeypad::new(&wire);
    let mut kiosk: SimKiosk = Kiosk::new(
        Link::new(wire.end(Side::Terminal), LinkConfig::default()),
        keypad.clone(),
        CountingDisplay(0),
        SimSwitch(wire.clone()),
        CardOnlyServices,
        profile,
        directory,
        KioskConfig::default(),
    );
    let mut delay = SimDelay(wire.clone());
    kiosk.start().unwrap();
    // A first session warms the emulated card up; the second is measured.
    session(&mut kiosk, &mut delay, &wire, &keypad);
    let ((), kept, peak) = measure(|| session(&mut kiosk, &mut delay, &wire, &keypad));
    println!("  one session over T=1 (basic read, 2 x VERIFY, menu, service): peak {peak} B above the idle kiosk, kept {kept} B");
    println!();
    println!("Sizes of the state (host, bytes):");
    println!(
        "  Link<_> (T=0/T=1 engines and their block buffers) {:>6}",
        core::mem::size_of::<Link<End>>()
    );
    println!(
        "  sscard_link::t1::terminal::T1Terminal           {:>6}",
        core::mem::size_of::<sscard_link::t1::terminal::T1Terminal>()
    );
    println!(
        "  Kiosk<_> (link, profile, directory, session)     {:>6}",
        core::mem::size_of::<SimKiosk>()
    );
    println!(
        "  sscard_ssse::BasicInfo                           {:>6}",
        core::mem::size_of::<sscard_ssse::BasicInfo>()
    );
    drop(kiosk);
    handle.join().unwrap();
}
