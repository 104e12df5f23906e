//! SM3 (GB/T 32905-2016, GM/T 0004-2012): a thin layer over RustCrypto `sm3`.
//!
//! [`Sm3`] implements `digest::Digest` for streaming; [`sm3()`] hashes one buffer.
//! Vectors: GB/T 32905 Annex A (`tests/sym_vectors.rs`), cross-checked against
//! `openssl dgst -sm3` by `tools/crosscheck/sym.sh`.

use digest::Digest;

/// The SM3 hasher (RustCrypto `sm3::Sm3`), with `digest::Digest`.
pub use ::sm3::Sm3;

/// SM3 digest length in bytes.
pub const DIGEST_LEN: usize = 32;

/// SM3 of `data`, in one call.
pub fn sm3(data: &[u8]) -> [u8; DIGEST_LEN] {
    Sm3::digest(data).into()
}

/// SM3 of the concatenation of `parts`, without concatenating them.
pub fn sm3_parts(parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    let mut hasher = Sm3::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}
