//! ISO/IEC 7816-3 link layer for contact cards, for both sides of the contacts:
//! the terminal that reads a card over a UART, and a card (or card simulator)
//! answering one; and its contactless counterpart, ISO/IEC 14443-4 (ISO-DEP) over
//! an RF front end ([`iso14443`]), for the same dual-interface cards.
//!
//! # Layers
//!
//! From the wire up:
//!
//! * [`io`]: the [`CardIo`] trait (send, receive with a deadline, line
//!   configuration, a microsecond clock) and [`TerminalIo`] (reset, deactivation).
//!   A UART HAL, a simulated wire and a pseudo-terminal implement it.
//! * [`timing`]: ETU, guard time, WT, CWT, BWT and BGT from F, D, N and the clock.
//! * [`atr`]: the answer to reset, parsed completely ([`Atr`]) and built
//!   ([`AtrBuilder`]).
//! * [`pps`]: protocol and parameter selection, request, response and responder.
//! * [`t0`]: T=0 (APDU → TPDU mapping, procedure bytes) for the terminal and the
//!   card.
//! * [`t1`]: T=1 blocks, chaining, IFS, WTX, error recovery and resynchronisation,
//!   for the terminal ([`t1::terminal`]) and the card ([`t1::card`]).
//! * `embedded` (feature `embedded-io`): [`CardIo`]/[`TerminalIo`] over
//!   embedded-hal and embedded-io.
//! * [`Link`]: the terminal — reset, ATR, PPS, then T=0 or T=1 — behind
//!   [`sscard_apdu::Transport`] and [`sscard_apdu::Reader`], so
//!   [`sscard_apdu::Exchange`] (`61xx`, `6Cxx`, tracing) runs over a raw UART.
//! * [`CardLink`]: the card — ATR on reset, PPS responder, then the protocol engine
//!   — serving a [`CardHandler`] (an applet runtime mapping C-APDUs to R-APDUs).
//! * [`iso14443`]: the contactless side. [`iso14443::ContactlessFrontEnd`] is the
//!   RF chip (field, type A activation returning UID/SAK/ATQA, frame transceive
//!   with a time-out, bit rate; CRC_A in the chip or in software as a capability),
//!   the counterpart of [`CardIo`]. [`iso14443::IsoDep`] is the reader: RATS/ATS,
//!   PPS, I-block chaining both ways, R(ACK)/R(NAK), S(WTX), S(DESELECT), CID,
//!   the error recovery rules of ISO/IEC 14443-4 §7.5.4 with bounded retries, behind
//!   [`sscard_apdu::Transport`] and [`sscard_apdu::Reader`] (the ATS historical
//!   bytes in a PC/SC pseudo-ATR play the ATR's role). [`iso14443::PiccEngine`] is
//!   the card side for simulations, serving a [`CardHandler`] or, through
//!   [`iso14443::AppletHandler`], any `sscard_apdu::applet::Card`;
//!   [`iso14443::Loopback`] is an in-process RF channel with a simulated clock.
//!
//! The terminal side never imports the card side and vice versa; both share only
//! the block, ATR and PPS formats. `61xx`/`6Cxx` handling, command chaining and
//! GET RESPONSE paging stay in the APDU layer above.
//!
//! # Features
//!
//! * `embedded-io` (off by default): `embedded::EmbeddedIo`, the I/O traits over an
//!   `embedded-io` 0.6 UART, an `embedded-hal` 1.0 `DelayNs` and RST/VCC
//!   `OutputPin`s.
//!
//! With or without it the crate is `#![no_std]` without an allocator (buffers are
//! fixed arrays or the caller's slices) and builds for `thumbv7em-none-eabihf` and
//! `thumbv6m-none-eabi`. The tests use `std`.
//!
//! # Testing
//!
//! `cargo test -p sscard-link` runs unit tests per module and, in `tests/`, a
//! simulated wire (two byte queues and a simulated clock shared by two threads)
//! connecting [`Link`] to [`CardLink`]: the T=1 scenarios of ISO/IEC 7816-3
//! Annex A (chaining both ways, IFS negotiation, WTX, lost and corrupted blocks,
//! resynchronisation), T=0 cases 1–4 with NULL bytes and single-byte ACKs, injected
//! faults (parity errors, bad EDC, lost blocks, WTX storms, garbage, a silent card)
//! that must end in recovery or an error within bounded simulated time, property
//! tests (ATR, T=1 block and T=0 procedure parsing never panic; random APDUs
//! round-trip over both protocols with random IFSC/IFSD), and the SSSE basic file
//! read from the `sscard-emu` card through `sscard_apdu::Exchange` over T=0 and T=1.
//!
//! `tests/iso14443.rs` runs [`iso14443::IsoDep`] against [`iso14443::PiccEngine`]
//! with the `sscard-emu` sample card over [`iso14443::Loopback`] with fault
//! injection: the basic information read through `sscard-ssse`, chaining both ways
//! with FSC 16 / FSD 32, WTX and a WTX storm, lost commands and answers (the
//! command runs once), CRC and transmission errors, a mute card, a card removed
//! mid-chain, garbage blocks, CID, PPS, DESELECT and wake-up, and properties
//! (arbitrary card answers never panic or hang; random APDUs round-trip with
//! random FSC, FSD and CID; arbitrary reader frames never panic the card).
#![cfg_attr(not(test), no_std)]

pub mod atr;
pub mod card;
#[cfg(feature = "embedded-io")]
pub mod embedded;
pub mod error;
pub mod io;
pub mod iso14443;
pub mod link;
pub mod pps;
pub mod t0;
pub mod t1;
pub mod timing;

pub use atr::{Atr, AtrBuilder, AtrError};
pub use card::{CardConfig, CardEvent, CardHandler, CardLink};
pub use error::{LinkError, T0Error, T1Error};
pub use io::{CardIo, Convention, IoError, IoErrorKind, LineConfig, TerminalIo};
pub use iso14443::{ContactlessFrontEnd, IsoDep, IsoDepConfig, IsoDepError, PiccEngine};
pub use link::{Link, LinkConfig};
pub use pps::{Pps, PpsError, ReaderLimits};
pub use timing::Timing;

/// The transmission protocols this crate runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// T=0, character oriented.
    T0,
    /// T=1, block oriented.
    T1,
}

impl Protocol {
    /// The protocol type number T.
    pub const fn t(self) -> u8 {
        match self {
            Self::T0 => 0,
            Self::T1 => 1,
        }
    }

    /// The protocol for type number `t`, if this crate runs it.
    pub const fn from_t(t: u8) -> Option<Self> {
        match t {
            0 => Some(Self::T0),
            1 => Some(Self::T1),
            _ => None,
        }
    }
}
