//! The kiosk firmware example: power-on self-test, then the card session state
//! machine forever, on the board-support stub.
#![no_std]
#![no_main]

use core::mem::MaybeUninit;

use cortex_m_rt::entry;
use panic_halt as _;
use sscard_kiosk::hal::{SwitchPin, TextDisplay};
use sscard_kiosk::services::CardOnlyServices;
use sscard_kiosk::{Display, EmbeddedIo, Kiosk, KioskConfig};
use sscard_kiosk_example::board;
use sscard_link::pps::ReaderLimits;
use sscard_link::{Link, LinkConfig};

/// Heap for the profile, the application directory and the session's values
/// (`cargo run -p sscard-kiosk --example footprint` measures about 16 KB on a 64-bit
/// host: the profile subset 2.7 KB, the directory 11.6 KB, a session 1.6 KB at its
/// peak; a 32-bit MCU needs less).
const HEAP_SIZE: usize = 32 * 1024;
/// The card clock (3.5712 MHz: 9600 bit/s at F = 372, D = 1).
const CARD_CLOCK_HZ: u32 = 3_571_200;

#[entry]
fn main() -> ! {
    if let Some(memory) =
        cortex_m::singleton!(: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE])
    {
        board::init_heap(memory);
    }
    let mut delay = board::CycleDelay;
    let mut display = TextDisplay::new(board::console_uart());
    if sscard_kiosk::selftest::run().is_err() {
        // A terminal whose cryptography fails its self-test does not serve.
        let _ = display.show(&sscard_kiosk::Screen::CardError);
        loop {
            cortex_m::asm::wfi();
        }
    }
    let (rst, vcc) = board::rst_vcc_pins();
    let io =
        EmbeddedIo::new(board::card_uart(), board::CycleDelay, CARD_CLOCK_HZ).with_pins(rst, vcc);
    let link = Link::new(
        io,
        LinkConfig::new(ReaderLimits::new(CARD_CLOCK_HZ, 115_200, 32)),
    );
    let directory = sscard_kiosk::directory::builtin_directory();
    let Ok(profile) = sscard_kiosk::profile::basic_profile() else {
        loop {
            cortex_m::asm::wfi();
        }
    };
    let mut kiosk = Kiosk::new(
        link,
        board::PortKeypad::default(),
        display,
        SwitchPin::new(board::card_switch_pin(), true),
        CardOnlyServices,
        profile,
        directory,
        KioskConfig::default(),
    );
    let _ = kiosk.start();
    loop {
        // Peripheral errors are infallible on this board; a real one would log them.
        let _ = kiosk.step(&mut delay);
    }
}
