//! The social security card's data model.
//!
//! # Layers
//!
//! Above `sscard-apdu`, below both the terminal applications (`sscard-ssse`) and the
//! emulator (`sscard-emu`), so both sides share one definition of the card:
//!
//! * [`profile`]: the machine-readable card profile of `apdu-specs/` (files, FIDs,
//!   SFIs, structures, access rules, data items with length, encoding, padding,
//!   confidence and sources).
//! * [`image`]: the values on one card, in the JSON shape `sscard read --json` prints.
//! * [`codec`]: the CN / AN / GBK / binary item encodings; [`gbk`]: the GBK codec
//!   over a compact generated table (no `encoding_rs` on the device); [`GbkText`]:
//!   GBK kept as the card's bytes, for firmware that never decodes to Unicode (then no
//!   GBK table is linked).
//! * [`address`]: the reader library's file-address grammar (`SSSEEF05|06|07|$…`).
//!
//! The built-in profile and sample image are the files in `apdu-specs/`, embedded at
//! compile time ([`builtin_profile`], [`SAMPLE_IMAGE_JSON`]); nothing here repeats them.
//!
//! # Features
//!
//! * `std` (default): `std::error::Error` through `core::error::Error`, std serde.
//!   Without it the crate is `no_std` with `alloc`.
//!
//! # Testing
//!
//! Unit tests for each codec; the GBK codec is compared with `encoding_rs` on every
//! single-, two- and four-byte sequence and every Unicode scalar value (`encoding_rs`
//! is a dev-dependency only); the table-free structure check of [`GbkText`] is
//! compared with the decoder on random bytes (proptest); `tests/profile.rs` checks that the shipped profile and
//! sample image load, validate and encode as `spec/sscard.md` describes, and that
//! malformed profiles and images are rejected with a clear error.
#![cfg_attr(not(any(test, feature = "std")), no_std)]

extern crate alloc;

pub mod address;
pub mod codec;
pub mod gbk;
pub mod image;
pub mod keys;
pub mod profile;

pub use address::{Address, AddressError};
pub use codec::{CodecError, Encoding, GbkText, ItemText};
pub use image::{Image, ImageError, Record};
pub use profile::{Item, Node, NodeKind, Profile, ProfileError};

/// The SSCard profile shipped in `apdu-specs/sscard.json`.
pub const PROFILE_JSON: &str = include_str!("../../../apdu-specs/sscard.json");

/// The PSAM profile shipped in `apdu-specs/psam.json`.
pub const PSAM_PROFILE_JSON: &str = include_str!("../../../apdu-specs/psam.json");

/// The fictional emulation key set of `apdu-specs/keys/emulation.json` (EMULATION
/// TEST KEYS: meaningful only with the emulation key scheme).
pub const EMULATION_KEYS_JSON: &str = include_str!("../../../apdu-specs/keys/emulation.json");

/// The fictional sample card of `apdu-specs/images/sample.json`.
pub const SAMPLE_IMAGE_JSON: &str = include_str!("../../../apdu-specs/images/sample.json");

/// A fictional card with a value in every kind of file (`apdu-specs/images/full.json`).
pub const FULL_IMAGE_JSON: &str = include_str!("../../../apdu-specs/images/full.json");

/// Path of the social-security environment DF in the profile.
pub const SSSE: &str = "SSSE";
/// Path of the card-issuer data file.
pub const SSSE_EF05: &str = "SSSE/EF05";
/// Path of the holder basic-information file.
pub const SSSE_EF06: &str = "SSSE/EF06";

/// Parses the built-in profile.
pub fn builtin_profile() -> Result<Profile, ProfileError> {
    Profile::from_json(PROFILE_JSON)
}

/// Parses the built-in sample image.
pub fn sample_image() -> Result<Image, ImageError> {
    Image::from_json(SAMPLE_IMAGE_JSON)
}
