//! `libsscard`: the reader-library C ABI that hospital (HIS), pharmacy and kiosk
//! software already calls — `iReadCardBas`, `iReadCard`, `iWriteCard`, `iVerifyPIN`, the
//! HSM steps, … (`spec/sscard.md` §4) — over PC/SC readers on any OS and CPU, or over
//! the emulated card.
//!
//! # Layers
//!
//! A thin shell (house rule 14) over the crates below it:
//!
//! * [`exports`]: the `extern "system"` functions (`__stdcall` on 32-bit Windows, the C
//!   convention elsewhere). They read C strings (bounded), write caller buffers (never
//!   past them), catch panics and serialise calls on one session lock. The only other
//!   `unsafe` is in `sys` (where the library file is, for `sscard.ini`).
//! * [`ops`]: one function per operation, in safe Rust, each a flow of `sscard-ssse`
//!   (`read_basic_secured`, `read_address`, `write_address`, `verify_pin`, `change_pin`,
//!   `security::reload_pin`/`unblock_pin`, `hsm::step1`/`step2`).
//! * [`session`]: the card (PC/SC through `sscard-pcsc`, or `sscard-emu` in process),
//!   chosen by iType and the [`config`]; the security module (none, a PSAM in a PC/SC
//!   reader, or the emulation test keys).
//! * [`codes`]: return codes (§4.5) and the mapping of every lower-layer error to one.
//!
//! The C header `include/sscard.h` is generated from `codes.rs` and `exports.rs` by
//! `tests/header.rs`, which fails when the checked-in header is stale
//! (`SSCARD_BLESS=1 cargo test -p sscard-ffi --test header` rewrites it).
//!
//! # Behaviour at the boundary
//!
//! * Return values: `0`, or a negative code of §4.5; card status words without a better
//!   code as −SW in decimal. sscard's own codes start at −1001 ([`codes`]).
//! * pOutInfo: on success the documented string; on failure a short message (Chinese
//!   and English). Encoded as configured: GBK by default, UTF-8 on request.
//! * Legacy functions assume 1024-byte buffers; output that does not fit is not written
//!   (−1001). `*_ex` functions take the size in `*pOutLen` and put the size needed (NUL
//!   included) there. The operation has run even when its output did not fit.
//! * NULL where a value is needed: −14 (an optional pCardInfo may be NULL). Input
//!   strings are read up to their NUL or 64 KiB. A wild (non-NULL, invalid) pointer
//!   cannot be detected by any C library and is undefined behaviour.
//! * Threads: every call holds one process-wide lock, so calls are serialised; the
//!   HSM Step 1 → Step 2 pair must not be interleaved with other calls (any other
//!   call voids a pending Step 1).
//!
//! # Features
//!
//! None. Built as `cdylib` (`libsscard.so`, `sscard.dll`), `staticlib` and `rlib`.
//!
//! # Testing
//!
//! `tests/ffi.rs` calls the exported functions in process against the emulated card
//! (2nd-generation and 3.0 SM4), with NULLs, short buffers, bad iTypes and garbage
//! strings; `tests/header.rs` keeps the header current; `tools/e2e/ffi.sh` runs the C
//! and Python examples against the emulated card through a real pcscd; the fuzz target
//! `ffi_strings` feeds arbitrary strings to every function.

pub mod codes;
pub mod config;
pub mod exports;
pub mod ops;
pub mod pin;
pub mod session;
mod sys;
pub mod text;

pub use codes::{Failure, Outcome};
pub use config::Config;
pub use exports::{configure, reset};
