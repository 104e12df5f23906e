//! Errors of the SM2 module.

use core::fmt;

/// Everything that can go wrong in SM2 key handling, signatures, encryption and key
/// exchange.
///
/// Failures that could act as an oracle are deliberately coarse: every decryption
/// failure is [`Sm2Error::Decryption`] and every key-confirmation mismatch is
/// [`Sm2Error::KeyConfirmation`], whatever the cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sm2Error {
    /// A private key is not 32 bytes or not in `[1, n-2]`.
    InvalidPrivateKey,
    /// A public key (or ephemeral point) is badly encoded, not on the curve or the
    /// point at infinity.
    InvalidPublicKey,
    /// A distinguishing ID is longer than [`MAX_DIST_ID_LEN`](super::MAX_DIST_ID_LEN)
    /// bytes, so its bit length does not fit the 16-bit ENTL field.
    DistIdTooLong {
        /// Length of the rejected ID in bytes.
        len: usize,
    },
    /// A signature is badly encoded: wrong length, non-strict DER, or `r`/`s` outside
    /// `[1, n-1]`.
    MalformedSignature,
    /// A well-formed signature does not verify for this key, ID and message.
    BadSignature,
    /// Signing found no usable nonce (probability about 2^-256 per attempt).
    SigningFailed,
    /// The caller's output buffer is too small; `needed` bytes would do.
    BufferTooSmall {
        /// Required buffer length in bytes.
        needed: usize,
    },
    /// SM2 encryption needs a non-empty plaintext (an empty key stream cannot pass the
    /// all-zero check of GB/T 32918.4 step A5).
    EmptyPlaintext,
    /// The message or key length exceeds what the SM3 KDF or the encoding can express.
    LengthOverflow,
    /// A ciphertext is badly encoded (wrong length, non-strict DER, C1 not a valid
    /// point). Returned by [`Ciphertext::parse`](super::Ciphertext::parse) only;
    /// decryption reports [`Sm2Error::Decryption`] instead.
    MalformedCiphertext,
    /// Decryption failed. One opaque error for every cause (malformed input, C1
    /// invalid, all-zero key stream, C3 mismatch) so that it is no oracle.
    Decryption,
    /// The random number generator failed.
    Rng,
    /// The requested shared key length is 0 or above
    /// [`MAX_SHARED_KEY_LEN`](super::MAX_SHARED_KEY_LEN).
    InvalidKeyLength,
    /// Key exchange failed: the shared point is the point at infinity.
    KeyExchange,
    /// Key confirmation failed (S_B or S_A does not match).
    KeyConfirmation,
}

impl fmt::Display for Sm2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidPrivateKey => f.write_str("invalid SM2 private key"),
            Self::InvalidPublicKey => f.write_str("invalid SM2 public key or point"),
            Self::DistIdTooLong { len } => write!(
                f,
                "SM2 distinguishing ID of {len} bytes is longer than {} bytes",
                super::MAX_DIST_ID_LEN
            ),
            Self::MalformedSignature => f.write_str("malformed SM2 signature"),
            Self::BadSignature => f.write_str("SM2 signature does not verify"),
            Self::SigningFailed => f.write_str("SM2 signing found no usable nonce"),
            Self::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
            Self::EmptyPlaintext => f.write_str("SM2 encryption needs a non-empty plaintext"),
            Self::LengthOverflow => f.write_str("length too large for SM2"),
            Self::MalformedCiphertext => f.write_str("malformed SM2 ciphertext"),
            Self::Decryption => f.write_str("SM2 decryption failed"),
            Self::Rng => f.write_str("random number generator failed"),
            Self::InvalidKeyLength => write!(
                f,
                "SM2 key exchange key length must be 1 to {} bytes",
                super::MAX_SHARED_KEY_LEN
            ),
            Self::KeyExchange => f.write_str("SM2 key exchange failed"),
            Self::KeyConfirmation => f.write_str("SM2 key confirmation failed"),
        }
    }
}

impl core::error::Error for Sm2Error {}
