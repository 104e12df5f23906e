//! The card side of sscard: an emulated social security card that any terminal, test
//! or PC/SC tool can talk to without hardware.
//!
//! # Layers
//!
//! * [`cos::SsCard`]: the SSCard COS as a pure command handler
//!   ([`sscard_apdu::applet::Card`]), built from the card profile and a card image
//!   (`sscard-fs`). Never imports the terminal side.
//!   [`blank_card`] is the same COS before issuance: it answers the emulated COS's
//!   issuance commands (CREATE DF/EF, WRITE KEY, END PRE-ISSUANCE;
//!   `apdu-specs/cos-emulated.md`) and, once issued, behaves like a card built from
//!   the profile. [`blank_card_with_bank`] adds a blank bank application
//!   ([`pboc::PbocApp::blank`]) personalised by STORE DATA of DGIs.
//! * [`pboc::PbocApp`]: the PBOC 3.0 bank application (PSE/PPSE, GPO, records and
//!   logs, GENERATE AC with electronic cash, issuer scripts, SM2 DDA/CDA), personalised
//!   from `apdu-specs/pboc/card.json` through `sscard_emv::perso`; its non-volatile
//!   state is [`pboc::PbocState`]. [`pboc::DualCard`] puts it next to the SSCard
//!   ([`sample_card_with_bank`]).
//! * [`psam::EmulatedPsam`]: the terminal's PSAM (`BF DE`, `80 FA`, terminal number),
//!   keyed like the card, so terminals authenticate emulated cards through it.
//! * [`runtime::Runtime`]: C-APDU bytes in, R-APDU bytes out; `61xx` paging with
//!   [`runtime::ResponsePager`]; malformed APDUs answered with status words.
//! * [`reader::EmulatedReader`]: the card in process behind the terminal `Transport`.
//! * [`vpcd::VpcdBridge`]: the card in pcscd through vsmartcard's vpcd driver.
//! * [`feeder::Feeder`]: a card feeder around blank cards, as on a printer-encoder:
//!   the EJECT command (`80 EE 01 00`) files the issued card and feeds a blank one.
//!
//! # Features
//!
//! None yet; the crate uses `std` (sockets, threads).
//!
//! # Testing
//!
//! `tests/bank_perso.rs` personalises a blank bank application by STORE DATA (every
//! status word, persistence, and byte-for-byte the answers of a profile-built one);
//! `tests/blank.rs` drives every issuance command and status word of a blank card,
//! the END PRE-ISSUANCE lock and tearing during issuance. `tests/cos.rs` drives every command and status-word path; `tests/properties.rs`
//! feeds arbitrary APDU sequences and asserts the card always answers (no panic, never
//! an empty reply); `tests/psam.rs` drives the PSAM against the emulated card (its
//! cryptograms are the card's), every status word, and arbitrary APDUs;
//! `tests/pboc.rs` drives the bank application on the combined card through APDU bytes
//! and recomputes its cryptograms, ARPCs, script MACs and SM2 signatures independently;
//! `tests/feeder.rs` ejects cards through the feeder; `tests/vpcd.rs` speaks the vpcd protocol to the bridge over a loopback socket. The
//! end-to-end tests through a real pcscd are in `tools/e2e/`.

pub mod cos;
pub mod feeder;
pub mod pboc;
pub mod persist;
pub mod psam;
pub mod reader;
pub mod runtime;
pub mod vpcd;

pub use cos::{EchoCard, SsCard};
pub use pboc::{DualCard, PbocApp};
pub use psam::EmulatedPsam;
pub use reader::EmulatedReader;
pub use runtime::{PagingMode, ResponsePager, Runtime};
pub use vpcd::VpcdBridge;

/// The built-in sample card (`apdu-specs/images/sample.json` on the built-in profile).
pub fn sample_card() -> Result<SsCard, cos::BuildError> {
    let profile = sscard_fs::builtin_profile()?;
    let image = sscard_fs::sample_image()?;
    SsCard::new(&profile, &image)
}

/// A blank card of the emulated COS: pre-issuance state, an MF and the TEST transport
/// key only (3DES, the sample ATR, OS randomness). Its issuance commands are in
/// `apdu-specs/cos-emulated.md`; see [`cos::BlankOptions`] for other settings.
pub fn blank_card() -> Result<SsCard, cos::BuildError> {
    SsCard::blank(cos::BlankOptions::new()?)
}

/// A blank card as it comes from the card factory: [`blank_card`] with a chip serial
/// number of its own (random, in the ATR's last bytes: [`cos::BlankOptions::with_serial`]),
/// so that cards issued one after another get different card-level key
/// diversification. What `sscard emulate --blank` and its card feeder hand out.
pub fn factory_blank_card() -> Result<SsCard, cos::BuildError> {
    SsCard::blank(cos::BlankOptions::new()?.with_random_serial())
}

/// A blank card with a blank bank application next to the blank SSCard: the SSCard is
/// issued with the COS issuance commands, the bank application
/// ([`pboc::DEFAULT_BLANK_AID`]) with STORE DATA of DGIs enciphered under
/// [`sscard_emv::dgi::TEST_DEK`] (`apdu-specs/cos-emulated.md`, "Bank application").
pub fn blank_card_with_bank() -> Result<DualCard, pboc::PbocBuildError> {
    blank_card_with_bank_entropy(Box::new(cos::OsEntropy))
}

/// [`blank_card_with_bank`] with injected randomness for the bank application.
pub fn blank_card_with_bank_entropy(
    entropy: Box<dyn cos::Entropy>,
) -> Result<DualCard, pboc::PbocBuildError> {
    blank_dual_card(cos::BlankOptions::new()?, entropy)
}

/// A blank card built with `options` (algorithm, ATR, transport key…) and a blank
/// bank application next to it, as [`blank_card_with_bank`]; `entropy` is the bank
/// application's randomness.
pub fn blank_dual_card(
    options: cos::BlankOptions,
    entropy: Box<dyn cos::Entropy>,
) -> Result<DualCard, pboc::PbocBuildError> {
    let bank = PbocApp::blank(&pboc::DEFAULT_BLANK_AID, sscard_emv::dgi::TEST_DEK, entropy)?;
    Ok(DualCard::new(SsCard::blank(options)?, bank))
}

/// The built-in sample card with the PBOC bank application
/// (`apdu-specs/pboc/card.json`, TEST data) next to the social-security application,
/// with OS randomness. See [`pboc::DualCard`] for the routing rules.
pub fn sample_card_with_bank() -> Result<DualCard, pboc::PbocBuildError> {
    sample_card_with_bank_entropy(Box::new(cos::OsEntropy))
}

/// [`sample_card_with_bank`] with injected randomness for the bank application.
pub fn sample_card_with_bank_entropy(
    entropy: Box<dyn cos::Entropy>,
) -> Result<DualCard, pboc::PbocBuildError> {
    Ok(DualCard::new(sample_card()?, PbocApp::builtin(entropy)?))
}
