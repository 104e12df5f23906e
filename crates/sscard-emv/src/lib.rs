//! EMV / PBOC 3.0 vocabulary that the terminal kernel (`sscard-pboc`) and the card
//! applet (`sscard-emu`) share without depending on each other (DESIGN.md, "Layers"):
//!
//! * [`tag`]: the tag dictionary (names and formats of the PBOC-relevant tags).
//! * [`dol`]: data object lists (PDOL, CDOL1/2, DDOL, log formats): parsing, building
//!   the data a DOL asks for, and splitting received DOL data back into values.
//! * [`cryptogram`]: session keys, application cryptograms, ARPC and issuer-script MACs
//!   for the 3DES (CVN 01) and SM4 families, chosen by the terminal's `DF69`.
//! * [`oda`]: offline data authentication, RSA (EMV recovery) and SM2 (PBOC part 17):
//!   certificate chains, SDA, DDA, CDA, verify and build/sign, and a TEST PKI generator.
//! * [`dgi`]: the bank application as personalisation DGIs (STORE DATA), both ways.
//! * [`capk`]: the CA public key store (UnionPay keys as data in `apdu-specs/pboc/capk.json`).
//!
//! Facts come from `spec/pboc.md`; every \[U\] (unconfirmed) construction is named as
//! such in its item's docs and kept replaceable.
//!
//! # Features
//!
//! * `std` (default): host builds. Without it the crate is `no_std` with `alloc`.
//! * `rsa-sign` (default): RSA key generation and signing (the card side, the TEST PKI
//!   generator `oda::testpki`, RSA keys in personalisation files) through the `rsa`
//!   crate, whose big integers need atomic pointers. The terminal side does not need
//!   it: RSA recovery is [`oda::modexp`], this crate's own public operation, so
//!   without default features the verifier builds for every target, thumbv6m
//!   (Cortex-M0) included.
//!
//! # Testing
//!
//! Unit tests per module; the PBOC vectors in `test-vectors/pboc-vectors.json` are read
//! by the integration tests in `tests/`; `tests/modexp.rs` checks the public operation
//! against the `rsa` crate on random keys (512–1024 bits, and 1984 bits).
#![cfg_attr(not(any(test, feature = "std")), no_std)]

extern crate alloc;

pub mod capk;
pub mod cryptogram;
// The DGIs carry the ICC's RSA private key: issuer and card side only, with `rsa-sign`.
#[cfg(feature = "rsa-sign")]
pub mod dgi;
pub mod dol;
pub mod oda;
pub mod perso;
pub mod tag;

pub use capk::{Capk, CapkStore};
pub use dol::{Dol, DolEntry, DolError};
pub use oda::OdaError;
pub use tag::Tag;
