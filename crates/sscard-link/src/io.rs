//! The byte-level I/O the engines run on: [`CardIo`] for both sides, [`TerminalIo`]
//! for the terminal's contacts (reset, deactivation).
//!
//! The contract is small so that a UART HAL in smartcard mode, a simulated wire and
//! a pseudo-terminal can all implement it:
//!
//! * time is a monotonic microsecond counter ([`CardIo::now_us`]); every wait is an
//!   absolute deadline on that counter, computed by the engines from the waiting
//!   times of [`crate::timing`];
//! * [`CardIo::send`] returns when the bytes are on the line (or queued such that
//!   `now_us` after the call is not earlier than the last byte's start bit), with the
//!   guard time of the current [`LineConfig`] between characters;
//! * [`CardIo::receive`] returns one character, `Ok(None)` once the deadline has
//!   passed, or an error ([`IoErrorKind::Parity`] for a character received with a
//!   parity error, [`IoErrorKind::Reset`] on the card side when the terminal asserts
//!   RST). A half-duplex single-wire UART hides the echo of its own characters;
//! * character repetition on parity errors (T=0, ISO/IEC 7816-3 §7.3) is the I/O's
//!   business, as is the bit-level convention once [`CardIo::configure`] set it.

use core::fmt;

use sscard_apdu::ResetKind;

use crate::timing::Timing;
use crate::Protocol;

/// What went wrong on the line, independent of the implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IoErrorKind {
    /// A character was received with a parity error (after any repetitions).
    Parity,
    /// Characters were lost (receiver overrun, framing).
    Overrun,
    /// The terminal reset the card (card side only): start again with the ATR.
    Reset,
    /// No card is present or it is not powered.
    NoCard,
    /// The other end is gone (simulation, pty closed, device removed).
    Closed,
    /// Anything else.
    Other,
}

impl fmt::Display for IoErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Parity => "parity error",
            Self::Overrun => "characters lost",
            Self::Reset => "reset by the terminal",
            Self::NoCard => "no card",
            Self::Closed => "line closed",
            Self::Other => "I/O error",
        })
    }
}

impl core::error::Error for IoErrorKind {}

/// An I/O implementation's error.
pub trait IoError: fmt::Debug + fmt::Display {
    /// The implementation-independent kind.
    fn kind(&self) -> IoErrorKind;
}

impl IoError for IoErrorKind {
    fn kind(&self) -> IoErrorKind {
        *self
    }
}

/// The bit-level convention announced by TS (ISO/IEC 7816-3 §8.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Convention {
    /// TS = `3B`: high level is 1, least significant bit first.
    #[default]
    Direct,
    /// TS = `3F`: low level is 1, most significant bit first.
    Inverse,
}

impl Convention {
    /// Converts a byte as read by a direct-convention receiver into the byte sent in
    /// inverse convention (and back: the conversion is its own inverse).
    pub const fn swap_byte(byte: u8) -> u8 {
        !byte.reverse_bits()
    }
}

/// Line parameters the I/O must apply: clock, bit duration, guard time, convention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LineConfig {
    /// Clock, F, D and N.
    pub timing: Timing,
    /// Minimum delay between the leading edges of two consecutive characters sent in
    /// the same direction, in ETU (12 + N, or 11/12 when N = 255).
    pub guard_etu: u16,
    /// Bit convention.
    pub convention: Convention,
    /// The protocol in use, `None` during the ATR and PPS.
    pub protocol: Option<Protocol>,
}

impl LineConfig {
    /// The line after reset: F = 372, D = 1, no extra guard time, direct convention.
    pub const fn initial(clock_hz: u32) -> Self {
        Self {
            timing: Timing::initial(clock_hz),
            guard_etu: 12,
            convention: Convention::Direct,
            protocol: None,
        }
    }

    /// The line for `timing` and `protocol` in `convention`.
    pub fn new(timing: Timing, convention: Convention, protocol: Option<Protocol>) -> Self {
        Self {
            timing,
            guard_etu: timing.guard_time_etu(protocol),
            convention,
            protocol,
        }
    }

    /// Bits per second.
    pub fn baud(&self) -> u32 {
        self.timing.baud()
    }
}

/// Byte-level I/O with deadlines. See the module docs for the contract.
pub trait CardIo {
    /// The implementation's error.
    type Error: IoError;

    /// A monotonic clock in microseconds.
    fn now_us(&mut self) -> u64;

    /// Sends `bytes` as characters.
    fn send(&mut self, bytes: &[u8]) -> Result<(), Self::Error>;

    /// Receives one character, or `Ok(None)` when `deadline_us` passes first.
    fn receive(&mut self, deadline_us: u64) -> Result<Option<u8>, Self::Error>;

    /// Applies new line parameters (after the ATR or a PPS exchange).
    fn configure(&mut self, line: &LineConfig) -> Result<(), Self::Error>;

    /// Waits until `deadline_us` without receiving (guard times between directions).
    /// The default spins on [`CardIo::now_us`].
    fn wait_until(&mut self, deadline_us: u64) -> Result<(), Self::Error> {
        while self.now_us() < deadline_us {
            core::hint::spin_loop();
        }
        Ok(())
    }
}

/// The terminal's contacts: reset and deactivation (ISO/IEC 7816-3 §6).
pub trait TerminalIo: CardIo {
    /// Activates the card (cold reset, with power) or warm-resets it, and returns
    /// with RST high and the line at [`LineConfig::initial`]: the ATR follows.
    fn reset(&mut self, kind: ResetKind) -> Result<(), Self::Error>;

    /// Deactivates the card (RST low, clock stopped, power off).
    fn deactivate(&mut self) -> Result<(), Self::Error>;
}

impl<T: CardIo + ?Sized> CardIo for &mut T {
    type Error = T::Error;

    fn now_us(&mut self) -> u64 {
        (**self).now_us()
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), Self::Error> {
        (**self).send(bytes)
    }

    fn receive(&mut self, deadline_us: u64) -> Result<Option<u8>, Self::Error> {
        (**self).receive(deadline_us)
    }

    fn configure(&mut self, line: &LineConfig) -> Result<(), Self::Error> {
        (**self).configure(line)
    }

    fn wait_until(&mut self, deadline_us: u64) -> Result<(), Self::Error> {
        (**self).wait_until(deadline_us)
    }
}

impl<T: TerminalIo + ?Sized> TerminalIo for &mut T {
    fn reset(&mut self, kind: ResetKind) -> Result<(), Self::Error> {
        (**self).reset(kind)
    }

    fn deactivate(&mut self) -> Result<(), Self::Error> {
        (**self).deactivate()
    }
}

/// Receives one byte, mapping I/O errors into [`crate::LinkError::Io`].
pub(crate) fn recv<IO: CardIo + ?Sized>(
    io: &mut IO,
    deadline_us: u64,
) -> Result<Option<u8>, crate::LinkError> {
    io.receive(deadline_us)
        .map_err(|e| crate::LinkError::Io(e.kind()))
}

/// Sends bytes, mapping I/O errors into [`crate::LinkError::Io`].
pub(crate) fn send<IO: CardIo + ?Sized>(io: &mut IO, bytes: &[u8]) -> Result<(), crate::LinkError> {
    io.send(bytes).map_err(|e| crate::LinkError::Io(e.kind()))
}

/// Waits, mapping I/O errors into [`crate::LinkError::Io`].
pub(crate) fn wait_until<IO: CardIo + ?Sized>(
    io: &mut IO,
    deadline_us: u64,
) -> Result<(), crate::LinkError> {
    io.wait_until(deadline_us)
        .map_err(|e| crate::LinkError::Io(e.kind()))
}
