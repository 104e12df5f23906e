//! PBOC 3.0 terminal kernel (spec/pboc.md §1, §2, §5.1).
//!
//! # Layers
//!
//! Beside `sscard-ssse`, above `sscard-apdu` (every command goes through
//! [`sscard_apdu::Exchange`], so `61xx`/`6Cxx` are handled there) and `sscard-emv`
//! (tag dictionary, DOL building, cryptograms). It never imports the card side.
//!
//! * [`config`]: terminal configuration and per-transaction data — all data, no
//!   constants baked into the flow.
//! * [`contact::run`]: the contact transaction (selection, GPO, records, ODA through
//!   [`OfflineAuth`], processing restrictions, CVM through [`Cardholder`], terminal risk
//!   management, terminal action analysis, GENERATE AC 1/2, online authorisation through
//!   [`Issuer`], issuer authentication and scripts) returning a [`TransactionResult`]
//!   with TVR/TSI/CVM results and the field-55 TLV set. The same steps are public as
//!   typestates ([`contact::Transaction`]); [`contact::read_application`] stops after
//!   the records.
//! * [`ec`]: electronic cash GET DATA readers, transaction and load-log readers, and the
//!   EC load driver.
//! * [`qpboc::run`]: the qPBOC subset (PPSE, TTQ, reader limits, GPO-returned
//!   cryptogram, fDDA through [`OfflineAuth`], CTQ-driven fallback).
//! * [`host`]: an issuer host simulator that checks ARQCs and answers ARPCs and EC
//!   load scripts (no_std too, so firmware tests can use it).
//!
//! Offline data authentication is a trait so that the certificate verifier can be
//! plugged in; [`NoOda`] performs none and the kernel sets "ODA not performed".
//!
//! Items marked \[U\] follow an unconfirmed reading of PBOC (spec/pboc.md) and are
//! configurable data rather than constants.
//!
//! # Features
//!
//! * `std` (default): host builds of the dependencies. Without it the crate is
//!   `no_std` with `alloc` and builds for `thumbv7em-none-eabihf`.
//!
//! # Testing
//!
//! No hardware and no emulator: a programmable fake card (`tests/common`) answers
//! every command the kernel sends. `tests/conformance.rs` is table-driven, one row per
//! spec/pboc.md §5.3 case (contact and qPBOC tables), each asserting the outcome and
//! the exact TVR, TSI and CVM results, plus the EC readers and the typestate API;
//! `tests/host.rs` checks the host simulator against `sscard_emv::cryptogram` and the
//! A.4 e-cash vector and runs kernel + fake card + host end to end (purchase, EC load);
//! `tests/proptest.rs` feeds arbitrary and mutated card answers to every step.
//! `benches/kernel.rs` measures a whole transaction's host CPU time.
#![cfg_attr(not(any(test, feature = "std")), no_std)]

extern crate alloc;

pub mod bits;
mod card;
pub mod config;
pub mod contact;
pub mod cvm;
pub mod ec;
pub mod error;
pub mod host;
pub mod qpboc;
pub mod select;
pub mod tlvdb;
pub mod traits;
pub mod verifier;

pub use config::{AidEntry, TerminalConfig, TransactionData};
pub use contact::{Outcome, TransactionResult};
pub use error::{KernelError, Step, Termination};
pub use tlvdb::TlvDb;
pub use traits::{
    Cardholder, CdaInput, Environment, Issuer, IssuerResponse, NoCardholder, NoIssuer, NoOda,
    OdaInput, OdaVerdict, OfflineAuth, OnlineRequest, PinEntry, Rng,
};
