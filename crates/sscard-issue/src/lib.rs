//! Card issuance and verification for bank counters and card centres (issue 7):
//! turning a blank card into a personalised social security card, and proving
//! afterwards that it was done right.
//!
//! * [`cos`]: the COS backend (create the file tree, load keys, end pre-issuance) as a
//!   trait, with the emulated COS's backend; vendor backends plug in beside it.
//! * [`bank`]: the bank (PBOC) application: per-holder DGIs from a bank personalisation
//!   profile (derived card keys, per-card SM2 key and certificates) and STORE DATA.
//! * [`batch`]: holder batch files (CSV and JSON) and their validation.
//! * [`journal`]: the append-only, fsync'd issuance journal that makes a batch
//!   resumable after any interruption without issuing a holder twice.
//! * [`engine`]: the batch engine: one thread per reader, each card pre-personalised,
//!   personalised, read back and verified, every step journaled; stop and resume.
//! * [`hsm`]: issuance keys in a security module over a socket (our protocol,
//!   `apdu-specs/hsm-issuance.md`): the client is a [`cos::KeyWrap`] and a security
//!   module, so the issuing process holds no master key; the development server's side.
//! * [`verify`]: checks an issued card against its issuance record: data items, keys
//!   by authentication, the PIN's initial state.
//!
//! Terminal side: never imports the card side (`sscard-emu` is a test dependency only).

pub mod bank;
pub mod batch;
pub mod cos;
pub mod engine;
pub mod hsm;
pub mod journal;
pub mod verify;
