//! The self-service kiosk's card session, `no_std`: card detect → ATR → PPS → SELECT
//! SSSE → basic information → PIN on a keypad → a service from the application
//! directory → eject, as a state machine ([`Kiosk`]) over small peripheral traits.
//!
//! # Layers
//!
//! * The card link is [`sscard_link::Link`] over any [`sscard_link::TerminalIo`]: on a
//!   microcontroller `sscard_link::embedded::EmbeddedIo` (feature `embedded-io`) over
//!   an embedded-io UART and embedded-hal RST/VCC pins; on the host the simulated UART
//!   of the tests. `sscard_apdu::Exchange` runs above it.
//! * The card application code is the host's: [`sscard_ssse::read_basic`] and
//!   [`sscard_ssse::verify_pin`] with the profile subset of [`profile`], and
//!   [`sscard_appdir::check`] for the [`services`] menu. Nothing is copied. The
//!   profile subset and the application directory ([`directory`]) are compiled into
//!   Rust data at build time: the firmware parses no JSON.
//! * [`hal`]: [`Keypad`], [`Display`] (showing [`Screen`]s), [`CardSwitch`], with
//!   [`hal::SwitchPin`] (an embedded-hal input pin) and [`hal::TextDisplay`] (an
//!   embedded-io writer). Delays are `embedded_hal::delay::DelayNs`, passed to each
//!   [`Kiosk::step`].
//! * [`services`]: the [`ServiceHandler`] hook; payment goes to
//!   [`services::payment_placeholder`] until the PBOC kernel exists.
//! * [`selftest`]: SM2/SM3/SM4 known-answer tests for power-on.
//!
//! Not here yet: the contactless front end (ISO/IEC 14443-4), the PBOC payment flow
//! (placeholder), PSAM/HSM card authentication for 3rd-generation cards.
//!
//! # Features
//!
//! * `embedded-io`: enables `sscard_link::embedded` (the UART adapter), re-exported
//!   as `EmbeddedIo`.
//!
//! The crate is `no_std` and needs an allocator (`sscard-ssse`, `sscard-fs` and
//! `sscard-appdir` use `alloc`); `firmware/kiosk-example` shows one with
//! `embedded-alloc`. It builds for `thumbv7em-none-eabihf`, `thumbv8m.main-none-eabihf`,
//! `thumbv6m-none-eabi` and `riscv32imac-unknown-none-elf`.
//!
//! # Testing
//!
//! `tests/session.rs` runs whole sessions on the host against the `sscard-emu` sample
//! card through a simulated UART at byte level (`tests/sim`: two threads, a simulated
//! clock, every character timed at the line's bit rate), over T=0 and over T=1 after
//! PPS: a wrong PIN then the right one, a cancelled session, a card taken out during
//! PIN entry and during an exchange, a card that answers with waiting-time extensions,
//! a blocked PIN, a card without the application, a mute card, a time-out and a
//! payment use ending in the placeholder. `examples/wire-time.rs` (run by
//! `benches/kiosk-wire-time.sh`) prints the wire time of reading the basic information;
//! `examples/footprint.rs` (run by `benches/size-report.sh`) the heap a session needs.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod directory;
pub mod hal;
pub mod profile;
pub mod selftest;
pub mod services;
pub mod session;

pub use hal::{CardSwitch, Display, Key, Keypad, Screen};
pub use services::{Outcome, ServiceHandler};
pub use session::{CardFault, Error, Event, Kiosk, KioskConfig, Phase, MAX_MENU};

#[cfg(feature = "embedded-io")]
pub use sscard_link::embedded::EmbeddedIo;
