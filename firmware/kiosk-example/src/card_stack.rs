//! The card stack alone, shared by the `card-stack` and `card-stack-unicode` binaries
//! of the size report: the link layer (ATR, PPS, T=0, T=1) over the UART adapter, the
//! APDU layer and the shared basic read of `sscard_ssse` with the profile subset,
//! reading the basic information once after each card insertion. No keypad, display,
//! menu or cryptography. The binaries differ only in the read they pass to [`run`].

use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicUsize, Ordering};

use embedded_hal::digital::InputPin;
use sscard_apdu::{Exchange, ResetKind};
use sscard_fs::Profile;
use sscard_kiosk::EmbeddedIo;
use sscard_link::pps::ReaderLimits;
use sscard_link::{Link, LinkConfig};

use crate::board;

/// Heap for the profile subset and the values read: `cargo run -p sscard-kiosk
/// --example footprint` measures 2652 B for the profile and an 880-B peak for a
/// `read_basic` on a 64-bit host, emulated card's transients included (3532 B). Here
/// it is less: on thumbv7em a profile `Item` is 52 B (96 on the host), a `Node` 128 B
/// (232), a `KeyRef` 28 B (56), so the profile's vectors take about 1.3 KB instead of
/// 2.4 KB.
const HEAP_SIZE: usize = 3584;
/// The card clock (3.5712 MHz: 9600 bit/s at F = 372, D = 1).
const CARD_CLOCK_HZ: u32 = 3_571_200;

/// The card as the binaries see it: APDUs over the link over the board's UART.
pub type Card =
    Exchange<Link<EmbeddedIo<board::Usart, board::CycleDelay, board::Output, board::Output>>>;

/// Length of the last name read, in bytes (keeps the result alive for the optimiser).
static NAME_LEN: AtomicUsize = AtomicUsize::new(0);

/// Sets up the heap, the profile subset and the link, then forever: waits for a card,
/// powers it on, calls `read(card, profile, atr)` (the length of the name read, or
/// `None`), powers it off and waits for the card to leave.
pub fn run(mut read: impl FnMut(&mut Card, &Profile, &[u8]) -> Option<usize>) -> ! {
    if let Some(memory) =
        cortex_m::singleton!(: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE])
    {
        board::init_heap(memory);
    }
    let Ok(profile) = sscard_kiosk::profile::basic_profile() else {
        loop {
            cortex_m::asm::wfi();
        }
    };
    let (rst, vcc) = board::rst_vcc_pins();
    let io =
        EmbeddedIo::new(board::card_uart(), board::CycleDelay, CARD_CLOCK_HZ).with_pins(rst, vcc);
    let mut card = Exchange::new(Link::new(
        io,
        LinkConfig::new(ReaderLimits::new(CARD_CLOCK_HZ, 115_200, 32)),
    ));
    let mut switch = board::card_switch_pin();
    loop {
        while !switch.is_high().unwrap_or(false) {}
        if let Ok(atr) = card.transport().power_on(ResetKind::Cold) {
            if let Some(len) = read(&mut card, &profile, atr.as_bytes()) {
                NAME_LEN.store(len, Ordering::Relaxed);
            }
        }
        let _ = card.transport().power_off();
        while switch.is_high().unwrap_or(true) {}
    }
}
