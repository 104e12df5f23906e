//! APDU vocabulary for the China social security card and its terminals.
//!
//! # Layers
//!
//! This is the bottom of sscard: both the terminal side (reader library, CLI, kiosk
//! firmware) and the card side (emulator) build on it, and it depends on nothing.
//!
//! * [`CommandView`] / [`CommandBuilder`]: parse and build command APDUs (cases 1–4,
//!   short and extended) without allocating.
//! * [`Response`] and [`Status`]: response APDUs and lossless status words.
//! * [`tlv`]: the card's record SIMPLE-TLV and BER-TLV.
//! * [`Transport`] / [`Reader`]: the one-method terminal transport trait.
//! * [`Exchange`]: `61xx` → GET RESPONSE, `6Cxx` → resend, the four-byte minimum and
//!   redacted tracing ([`trace`]), once for every transport.
//! * [`applet`]: the card-side contract used by the emulator.
//! * [`atr`]: historical bytes of an answer to reset.
//!
//! # Features
//!
//! * `alloc`: owned hex helpers.
//! * `std`: implies `alloc`.
//!
//! With no features the crate is `no_std` without an allocator and builds for
//! `thumbv7em-none-eabihf`.
//!
//! # Testing
//!
//! Unit tests cover every status word and encoding case; property tests
//! (`tests/properties.rs`) check that parsing never panics and that build → parse
//! round-trips; `fuzz/` holds a cargo-fuzz target for the parsers.
#![cfg_attr(not(any(test, feature = "std")), no_std)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod applet;
pub mod atr;
pub mod command;
pub mod exchange;
pub mod hex;
pub mod response;
pub mod status;
pub mod tlv;
pub mod trace;
pub mod transport;

pub use command::{BuildError, CommandBuilder, CommandView, ParseError};
pub use exchange::{Exchange, ExchangeError};
pub use response::Response;
pub use status::Status;
pub use transport::{Reader, ResetKind, Transport, TransportError, TransportErrorKind};
