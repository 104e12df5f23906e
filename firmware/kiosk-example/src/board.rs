//! Memory-mapped peripherals (audited: every `unsafe` is a volatile access to a fixed
//! peripheral register of the STM32F4 memory map, or the one-time heap set-up), and the
//! device-interrupt part of the vector table (the `no_mangle`/`link_section` static
//! cortex-m-rt's `device` feature asks for).
#![allow(unsafe_code)]

use core::convert::Infallible;
use core::mem::MaybeUninit;

use embedded_alloc::LlffHeap;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType as PinErrorType, InputPin, OutputPin};
use embedded_io::{ErrorType, Read, ReadReady, Write};
use sscard_kiosk::hal::{Key, Keypad};

/// Device interrupts of the STM32F405/407 (IRQ 0–81), the size of the table the family's
/// PAC provides. Without cortex-m-rt's `device` feature a generic 240-entry table
/// (960 B) would be linked instead.
const DEVICE_INTERRUPTS: usize = 82;

extern "C" {
    /// Every device interrupt: nothing here enables one (the stub polls), and
    /// `device.x` (written by `build.rs`) aliases it to cortex-m-rt's `DefaultHandler`.
    fn DeviceInterrupt();
}

/// The device-interrupt vectors, placed after the core exceptions by cortex-m-rt's
/// `link.x`.
#[link_section = ".vector_table.interrupts"]
#[no_mangle]
pub static __INTERRUPTS: [unsafe extern "C" fn(); DEVICE_INTERRUPTS] =
    [DeviceInterrupt; DEVICE_INTERRUPTS];

/// The core clock the delay counts in.
pub const CORE_HZ: u32 = 168_000_000;

const USART1: usize = 0x4001_1000;
const USART2: usize = 0x4000_4400;
const GPIOA_IDR: usize = 0x4002_0010;
const GPIOB_IDR: usize = 0x4002_0410;
const GPIOB_BSRR: usize = 0x4002_0418;
const SR: usize = 0x00;
const DR: usize = 0x04;
const SR_PE: u32 = 1 << 0;
const SR_RXNE: u32 = 1 << 5;
const SR_TXE: u32 = 1 << 7;

fn read_reg(addr: usize) -> u32 {
    // SAFETY: `addr` is one of the fixed, aligned peripheral registers above; a
    // volatile 32-bit read of them has no side effect beyond the peripheral's own.
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

fn write_reg(addr: usize, value: u32) {
    // SAFETY: as for `read_reg`; the registers written (DR, BSRR) take any value.
    unsafe { core::ptr::write_volatile(addr as *mut u32, value) }
}

/// A USART in polled mode.
#[derive(Debug)]
pub struct Usart {
    base: usize,
}

/// The card's USART (I/O line).
pub fn card_uart() -> Usart {
    Usart { base: USART1 }
}

/// The console USART (text display).
pub fn console_uart() -> Usart {
    Usart { base: USART2 }
}

/// A USART error: a character with a parity error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParityError;

impl embedded_io::Error for ParityError {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::InvalidData
    }
}

impl ErrorType for Usart {
    type Error = ParityError;
}

impl ReadReady for Usart {
    fn read_ready(&mut self) -> Result<bool, ParityError> {
        Ok(read_reg(self.base + SR) & SR_RXNE != 0)
    }
}

impl Read for Usart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ParityError> {
        let Some(first) = buf.first_mut() else {
            return Ok(0);
        };
        while read_reg(self.base + SR) & SR_RXNE == 0 {}
        let sr = read_reg(self.base + SR);
        let [b, ..] = read_reg(self.base + DR).to_le_bytes();
        if sr & SR_PE != 0 {
            return Err(ParityError);
        }
        *first = b;
        Ok(1)
    }
}

impl Write for Usart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ParityError> {
        for &b in buf {
            while read_reg(self.base + SR) & SR_TXE == 0 {}
            write_reg(self.base + DR, u32::from(b));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), ParityError> {
        Ok(())
    }
}

/// A GPIO input bit.
#[derive(Debug)]
pub struct Input {
    idr: usize,
    bit: u8,
}

/// The card-presence switch (PA0, high when a card is in).
pub fn card_switch_pin() -> Input {
    Input {
        idr: GPIOA_IDR,
        bit: 0,
    }
}

impl PinErrorType for Input {
    type Error = Infallible;
}

impl InputPin for Input {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        Ok(read_reg(self.idr) & (1 << self.bit) != 0)
    }

    fn is_low(&mut self) -> Result<bool, Infallible> {
        self.is_high().map(|h| !h)
    }
}

/// A GPIO output bit on port B.
#[derive(Debug)]
pub struct Output {
    bit: u8,
}

/// The card's RST (PB0) and VCC enable (PB1).
pub fn rst_vcc_pins() -> (Output, Output) {
    (Output { bit: 0 }, Output { bit: 1 })
}

impl PinErrorType for Output {
    type Error = Infallible;
}

impl OutputPin for Output {
    fn set_low(&mut self) -> Result<(), Infallible> {
        write_reg(GPIOB_BSRR, 1 << (u32::from(self.bit) + 16));
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        write_reg(GPIOB_BSRR, 1 << self.bit);
        Ok(())
    }
}

/// A 4×3 keypad on PB4–PB10 read as one port: one key per edge (a real driver scans
/// rows and debounces; the stub decodes a latched key code on PB4–PB7).
#[derive(Debug, Default)]
pub struct PortKeypad {
    last: u32,
}

impl Keypad for PortKeypad {
    type Error = Infallible;

    fn read_key(&mut self) -> Result<Option<Key>, Infallible> {
        let code = (read_reg(GPIOB_IDR) >> 4) & 0xF;
        if code == self.last {
            return Ok(None);
        }
        self.last = code;
        Ok(match code {
            0 => None,
            1..=10 => u8::try_from(code % 10).ok().map(Key::Digit),
            11 => Some(Key::Enter),
            12 => Some(Key::Clear),
            _ => Some(Key::Cancel),
        })
    }
}

/// A busy-wait delay counting core cycles.
#[derive(Clone, Copy, Debug, Default)]
pub struct CycleDelay;

/// Core cycles per microsecond.
const CYCLES_PER_US: u32 = CORE_HZ / 1_000_000;

/// Waits `us` microseconds, at most `u32::MAX / CYCLES_PER_US` (25 s at 168 MHz;
/// callers pass less than 5 s).
fn delay_short_us(us: u32) {
    cortex_m::asm::delay(us.saturating_mul(CYCLES_PER_US));
}

// All in 32-bit arithmetic: embedded-hal's default `delay_us`/`delay_ms` (in chunks of
// `delay_ns`) become a 64-bit division, about 0.9 KB of flash on a Cortex-M.
impl DelayNs for CycleDelay {
    fn delay_ns(&mut self, ns: u32) {
        delay_short_us(ns / 1000);
        cortex_m::asm::delay(ns % 1000 * CYCLES_PER_US / 1000);
    }

    fn delay_us(&mut self, us: u32) {
        for _ in 0..us / 1_000_000 {
            delay_short_us(1_000_000);
        }
        delay_short_us(us % 1_000_000);
    }

    fn delay_ms(&mut self, ms: u32) {
        for _ in 0..ms / 1000 {
            delay_short_us(1_000_000);
        }
        delay_short_us(ms % 1000 * 1000);
    }
}

/// The global allocator (sscard-ssse, sscard-fs and sscard-appdir need `alloc`).
#[global_allocator]
static HEAP: LlffHeap = LlffHeap::empty();

/// Sets up the heap with `N` bytes of static memory. Call once, first thing.
pub fn init_heap<const N: usize>(memory: &'static mut [MaybeUninit<u8>; N]) {
    // SAFETY: called once at start-up, before any allocation, with memory that is
    // 'static and exclusively the heap's from now on.
    unsafe { HEAP.init(memory.as_mut_ptr() as usize, N) }
}

/// Bytes in use on the heap now.
pub fn heap_used() -> usize {
    HEAP.used()
}

/// Bytes free on the heap now.
pub fn heap_free() -> usize {
    HEAP.free()
}
