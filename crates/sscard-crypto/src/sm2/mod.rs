//! SM2 on the recommended curve `sm2p256v1`: signatures (GB/T 32918.2) with byte-string
//! distinguishing IDs, public-key encryption (GB/T 32918.4) in three ciphertext formats,
//! and key exchange (GB/T 32918.3) with optional confirmation. `no_std`, no `alloc`:
//! every output goes into a fixed array or a caller buffer.
//!
//! The curve arithmetic and the RFC 6979 nonce generator are RustCrypto's (`sm2`,
//! `rfc6979`); the algorithm steps of GB/T 32918 on top of them are here, with what
//! RustCrypto lacks: `Z_A` for arbitrary byte IDs, keys that are wiped on drop, strict
//! GM/T 0009 DER without allocation, the `04`-less and DER ciphertext forms without
//! allocation, key exchange, and (for tests only) fixed nonces. Tests check that
//! signing gives the same signatures as `sm2`'s `sign_prehash` and that verification
//! decides like its `verify_prehash`.
//!
//! | Task | API |
//! |---|---|
//! | keys | [`PrivateKey`] (`[1, n-2]`, wiped on drop), [`PublicKey`] (validated point) |
//! | `Z_A`, `e` | [`z_a`], [`message_digest`], [`PublicKey::z_a`] |
//! | sign / verify | [`PrivateKey::sign`], [`PublicKey::verify`], [`IdSigner`], [`IdVerifier`] |
//! | signature encodings | [`Signature`] (`r ‖ s`), [`Signature::from_der`], [`Signature::to_der`] |
//! | encrypt / decrypt | [`PublicKey::encrypt`], [`PrivateKey::decrypt`], [`CiphertextFormat`], [`Ciphertext`] |
//! | key exchange | [`KeyExchangeInitiator`], [`KeyExchangeResponder`] |
//!
//! Signing is deterministic (RFC 6979 with HMAC-SM3, as RustCrypto's `sm2`) or hedged
//! with an RNG ([`PrivateKey::sign_with_rng`]). No API outside the test-only
//! `test_only` module (`cfg(test)` or feature `test-fixed-nonce`) accepts a nonce.
//!
//! ```
//! use sscard_crypto::sm2::{PrivateKey, Signature, DEFAULT_DIST_ID};
//!
//! # fn main() -> Result<(), sscard_crypto::sm2::Sm2Error> {
//! let key = PrivateKey::from_bytes(&[0x42; 32])?;
//! let signature = key.sign(DEFAULT_DIST_ID, b"message")?;
//! key.public_key().verify(DEFAULT_DIST_ID, b"message", &signature)?;
//! assert!(key.public_key().verify(b"another id", b"message", &signature).is_err());
//!
//! let der = signature.to_der();
//! assert_eq!(Signature::from_der(der.as_bytes())?, signature);
//! # Ok(())
//! # }
//! ```

mod curve;
mod der;
mod encryption;
mod error;
mod hash;
mod key_exchange;
mod keys;
mod signature;
#[cfg(any(test, feature = "test-fixed-nonce"))]
pub mod test_only;
#[cfg(test)]
mod tests;

pub use encryption::{C1Encoding, Ciphertext, CiphertextFormat, Sm2Mode};
pub use error::Sm2Error;
pub use hash::{kdf, message_digest, z_a, DIGEST_LEN};
pub use key_exchange::{
    KeyExchangeInitiator, KeyExchangeResponder, ResponderReply, MAX_SHARED_KEY_LEN,
};
pub use keys::{
    PrivateKey, PublicKey, PRIVATE_KEY_LEN, PUBLIC_KEY_UNCOMPRESSED_LEN, PUBLIC_KEY_XY_LEN,
};
pub use signature::{
    DerSignature, IdSigner, IdVerifier, Signature, MAX_DER_SIGNATURE_LEN, SIGNATURE_LEN,
};

/// The RNG traits (`rand_core` 0.10, the version `sm2` 0.14 uses) that
/// [`PublicKey::encrypt`], [`PrivateKey::generate`] and the key exchange take.
pub use sm2::elliptic_curve::rand_core;

/// The default distinguishing ID of GM/T 0009 (`"1234567812345678"`), used by PBOC
/// SM2 certificates and most SM2 deployments.
pub const DEFAULT_DIST_ID: &[u8] = b"1234567812345678";

/// Longest distinguishing ID in bytes: ENTL holds the ID length in bits in 16 bits.
pub const MAX_DIST_ID_LEN: usize = 8191;

/// The parameters of the recommended curve as big-endian bytes (the inputs of `Z_A`).
pub mod params {
    pub use super::curve::{A, B, GX, GY, N};
}

impl PublicKey {
    /// `Z_A` of this key for the identity `id`; see [`z_a`].
    pub fn z_a(&self, id: &[u8]) -> Result<[u8; DIGEST_LEN], Sm2Error> {
        z_a(id, self)
    }
}
