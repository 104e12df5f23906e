//! DES and 3DES (RustCrypto `des`): ECB and CBC on whole 8-byte blocks, in place or into
//! caller buffers, plus padded helpers.
//!
//! The functions are generic over the RustCrypto block-cipher traits with 8-byte blocks:
//! pass a [`Des3`] (from [`crate::keys::Des3Key::cipher`], either keying option),
//! [`TdesEde2`], [`TdesEde3`] or single [`Des`]. No padding in the plain forms; the
//! `_padded` forms add or strictly remove ISO/IEC 9797-1 method-2 padding
//! ([`crate::pad`]).
//!
//! Like every software DES, this is a table implementation: not hardened against cache
//! timing or power analysis (see [`crate::sm4`] for what that means for firmware).

use cipher::consts::U8;

pub use crate::keys::Des3;
use crate::keys::SymError;
pub use des::{Des, TdesEde2, TdesEde3};

/// DES / 3DES block length in bytes.
pub const BLOCK_LEN: usize = 8;

crate::keys::block_mode_api! {
    block: U8,
    len: 8,
    name: "8-byte DES/3DES",
    enc: [cipher::BlockCipherEncrypt<BlockSize = U8>],
    dec: [cipher::BlockCipherDecrypt<BlockSize = U8>],
    cbc_encrypt: crate::keys::cbc_encrypt,
    cbc_decrypt: crate::keys::cbc_decrypt,
}
