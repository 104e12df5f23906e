//! Cryptography of the social security card and the PBOC application: SM3, SM4, 3DES,
//! the MACs and paddings the card and PSAM use, key derivation, PIN blocks, and SM2
//! (signatures with byte distinguishing IDs, encryption in three formats, key exchange).
//!
//! # Layers
//!
//! Just above `sscard-apdu` in the stack, but independent of it: the terminal side
//! (`sscard-ssse`, `sscard-pboc`, the security modules) and the card side (`sscard-emu`)
//! both use it. Algorithms come from RustCrypto (`sm2`, `sm3`, `sm4`, `des`) where they
//! exist; the compositions the card world needs are here.
//!
//! # Features
//!
//! * `std` (default): std, and SM2 precomputed basepoint tables (faster signing, ~25 KB
//!   RAM). Without it: `no_std`, no `alloc` (builds for `thumbv7em-none-eabihf` and
//!   `thumbv6m-none-eabi`).
//! * `test-fixed-nonce`: TEST ONLY, SM2 signing/encryption with a caller-chosen nonce to
//!   reproduce the standards' examples. No other API signs with a predictable nonce.
//!
//! # Testing
//!
//! The vectors of `test-vectors/` (GM/T and GB/T examples, draft-ribose SM4 modes,
//! pyemv 3DES, the PBOC SM2 certificate chain) are read by the tests; `tools/test`
//! cross-checks SM3/SM4/SM2 against OpenSSL 3; criterion benchmarks in `benches/`.
#![cfg_attr(not(any(test, feature = "std")), no_std)]

pub mod auth;
pub mod des3;
pub mod kdf;
pub mod keys;
pub mod mac;
pub mod pad;
pub mod pin;
pub mod sm2;
pub mod sm3;
pub mod sm4;
