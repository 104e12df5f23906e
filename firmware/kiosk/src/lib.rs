//! The self-service kiosk's card session, `no_std`: card detect → ATR → PPS → SELECT
//! SSSE → basic information → PIN on a keypad → a service from the application
//! directory → eject, as a state machine ([`Kiosk`]) over small peripheral traits,
//! on the contacts or in the field (ISO/IEC 14443-4; the cards are dual-interface).
//!
//! # Layers
//!
//! * The card link is [`sscard_link::Link`] over any [`sscard_link::TerminalIo`]: on a
//!   microcontroller `sscard_link::embedded::EmbeddedIo` (feature `embedded-io`) over
//!   an embedded-io UART and embedded-hal RST/VCC pins; on the host the simulated UART
//!   of the tests. `sscard_apdu::Exchange` runs above it.
//! * Contactless, the card link is `sscard_link::iso14443::IsoDep` over any
//!   `sscard_link::iso14443::ContactlessFrontEnd` (the RF chip's driver; on the host
//!   `sscard_link::iso14443::Loopback`). [`port`] puts both behind [`CardPort`]
//!   (activate, deactivate, presence): [`Kiosk::new`] takes a contact `Link`,
//!   [`Kiosk::contactless`] an `IsoDep`, whose presence comes from the field
//!   (polling, then ISO-DEP presence checks) instead of the switch
//!   ([`hal::NoSwitch`]). The session and its read path are the same.
//! * The card application code is the host's: [`sscard_ssse::read_basic`] and
//!   [`sscard_ssse::verify_pin`] with the profile subset of [`profile`], and
//!   [`sscard_appdir::check`] for the [`services`] menu. Nothing is copied. The
//!   profile subset and the application directory ([`directory`]) are compiled into
//!   Rust data at build time: the firmware parses no JSON.
//! * [`hal`]: [`Keypad`], [`Display`] (showing [`Screen`]s), [`CardSwitch`], with
//!   [`hal::SwitchPin`] (an embedded-hal input pin) and [`hal::TextDisplay`] (an
//!   embedded-io writer). Delays are `embedded_hal::delay::DelayNs`, passed to each
//!   [`Kiosk::step`].
//! * [`services`]: the [`ServiceHandler`] hook; payment uses go through the PBOC
//!   kernel with [`services::PbocPayments`] (or are "not available" on a kiosk without
//!   payments, [`services::CardOnlyServices`]).
//! * [`selftest`]: SM2/SM3/SM4 known-answer tests for power-on.
//!
//! Not here yet: PSAM/HSM card authentication for 3rd-generation cards, type B
//! contactless cards, qPBOC payments on the contactless front end.
//!
//! # Features
//!
//! * `embedded-io`: enables `sscard_link::embedded` (the UART adapter), re-exported
//!   as `EmbeddedIo`.
//! * `payment` (default): [`services::PbocPayments`], payment uses through the PBOC
//!   kernel. RSA recovery is `sscard_emv::oda::modexp` (no `rsa` crate without
//!   `sscard-emv`'s `rsa-sign` feature), so it builds for every target below,
//!   `thumbv6m-none-eabi` (no atomic pointers) included.
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
//! payment use ending in the placeholder. `tests/contactless.rs` runs sessions in the
//! simulated field (`sscard_link::iso14443::Loopback` with the sample card behind
//! `PiccEngine`): the whole session with PPS to 424 kbit/s, a wrong then the right
//! PIN and an eject that sends S(DESELECT) and switches the field off, a card taken
//! away during PIN entry, and a card mute in ISO-DEP. `examples/wire-time.rs` (run by
//! `benches/kiosk-wire-time.sh`) prints the wire time of reading the basic information;
//! `examples/footprint.rs` (run by `benches/size-report.sh`) the heap a session needs.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod directory;
pub mod hal;
pub mod port;
pub mod profile;
pub mod selftest;
pub mod services;
pub mod session;

pub use hal::{CardSwitch, Display, Key, Keypad, Screen};
pub use port::{CardInterface, CardPort, Contactless};
pub use services::{Outcome, ServiceHandler};
pub use session::{CardFault, Error, Event, Kiosk, KioskConfig, Phase, MAX_MENU};

#[cfg(feature = "embedded-io")]
pub use sscard_link::embedded::EmbeddedIo;
