//! Symmetric keys and the error type of the symmetric half of the crate.
//!
//! * [`Des3Key`]: a double- (16-byte, K1 K2 K1) or triple-length (24-byte) 3DES key;
//!   [`DesKey`]: a single-DES key (8 bytes), for ISO 9797-1 MAC algorithm 1 with DES;
//!   [`Sm4Key`]: a 16-byte SM4 key; [`AnyKey`]: a 3DES or SM4 key, as the card's
//!   algorithm identifier selects ([`Algorithm`]).
//! * Key check values ([`Des3Key::kcv`], [`Sm4Key::kcv`], …): the first 3 bytes of the
//!   encryption of an all-zero block (8 bytes for 3DES, 16 for SM4), as personalisation
//!   data (DGI 9000) carries them.
//!
//! Every key type zeroises its bytes on drop, shows only its KCV in `Debug`
//! (`Sm4Key(KCV 8447EB)`), and compares in constant time ([`subtle::ConstantTimeEq`];
//! `==` uses it too).
//!
//! The cipher objects these keys build ([`Des3`], [`crate::sm4::Sm4`], [`des::Des`]) are
//! short-lived. Our [`crate::sm4::Sm4`] zeroises its round keys on drop; the `des` crate
//! does so only with its `zeroize` feature, which this crate does not enable yet.

mod modes;

pub(crate) use modes::{
    block_mode_api, blocks_mut, cbc_decrypt, cbc_decrypt_blocks, cbc_encrypt, cbc_encrypt_blocks,
    ecb_decrypt, ecb_encrypt, into_output,
};

use core::fmt;

use cipher::{
    consts::U8, AlgorithmName, Block, BlockCipherDecClosure, BlockCipherDecrypt,
    BlockCipherEncClosure, BlockCipherEncrypt, BlockSizeUser, KeyInit,
};
use des::{Des, TdesEde2, TdesEde3};
use subtle::{Choice, ConstantTimeEq};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::sm4::Sm4;

/// Errors of the symmetric half of the crate (SM3, SM4, 3DES, paddings, MACs, key
/// derivation, PIN blocks).
///
/// MAC mismatches, bad padding after decryption and malformed decrypted blocks are all
/// [`SymError::Integrity`], on purpose: the caller (and an attacker) learns only that
/// the check failed, never why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SymError {
    /// The data is not a whole number of cipher blocks.
    NotBlockAligned {
        /// The cipher's block length in bytes.
        block_len: usize,
    },
    /// A caller-provided output buffer is too small.
    BufferTooSmall {
        /// The number of bytes the output needs.
        needed: usize,
    },
    /// A key of a length the algorithm does not accept.
    InvalidKeyLength {
        /// The length given, in bytes.
        len: usize,
    },
    /// An IV of the wrong length for the cipher's block.
    InvalidIvLength {
        /// The length given, in bytes.
        len: usize,
    },
    /// The operation is defined for the other algorithm (for example a 3DES-only
    /// derivation given an SM4 key).
    WrongAlgorithm,
    /// The card's algorithm identifier names an algorithm this crate does not implement
    /// (for example `02`, SSF33).
    UnsupportedAlgorithm {
        /// The identifier byte.
        id: u8,
    },
    /// A PIN that is not 4–12 decimal digits.
    InvalidPin,
    /// A PAN (or PAN sequence number) that is not decimal digits of an acceptable length.
    InvalidPan,
    /// A malformed diversification input: an ATR shorter than 8 bytes, a region code
    /// that is not ASCII digits, a factor list of the wrong length.
    InvalidDiversificationInput,
    /// Integrity check failed: MAC mismatch, invalid padding, or a malformed block after
    /// decryption. Deliberately opaque.
    Integrity,
}

impl fmt::Display for SymError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotBlockAligned { block_len } => {
                write!(f, "data is not a whole number of {block_len}-byte blocks")
            }
            Self::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
            Self::InvalidKeyLength { len } => write!(f, "invalid key length: {len} bytes"),
            Self::InvalidIvLength { len } => write!(f, "invalid IV length: {len} bytes"),
            Self::WrongAlgorithm => f.write_str("operation not defined for this key's algorithm"),
            Self::UnsupportedAlgorithm { id } => {
                write!(f, "unsupported card algorithm identifier {id:02X}")
            }
            Self::InvalidPin => f.write_str("PIN must be 4 to 12 decimal digits"),
            Self::InvalidPan => f.write_str("invalid PAN or PAN sequence number"),
            Self::InvalidDiversificationInput => f.write_str("invalid diversification input"),
            Self::Integrity => f.write_str("integrity check failed"),
        }
    }
}

impl core::error::Error for SymError {}

/// The card's symmetric algorithm.
///
/// The SSSE SELECT response may carry the algorithm identifier (算法标识) in
/// `9F0C 03 86 01 xx` (sscard.md §3.6); reader libraries default to `01` when it is
/// absent. **Hypothesis \[U\]**: `01` = 3DES, `02` = SSF33, `03` = SM4, inferred from the
/// `sx1`/`sx2`/`sx3` PSAM environments; no normative text confirms it. SSF33 is not
/// public and not implemented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// Triple DES (2nd-generation cards).
    Des3,
    /// SM4 (3rd-generation cards).
    Sm4,
}

impl Algorithm {
    /// The identifier reader libraries assume when the card sends none (`01`).
    pub const DEFAULT_CARD_ID: u8 = 0x01;

    /// Maps the card's algorithm identifier byte to an algorithm, by the **unconfirmed
    /// \[U\]** mapping `01` → 3DES, `03` → SM4. `02` (SSF33) and unknown values give
    /// [`SymError::UnsupportedAlgorithm`].
    pub const fn from_card_id(id: u8) -> Result<Self, SymError> {
        match id {
            0x01 => Ok(Self::Des3),
            0x03 => Ok(Self::Sm4),
            _ => Err(SymError::UnsupportedAlgorithm { id }),
        }
    }

    /// The card's algorithm identifier byte for this algorithm (**unconfirmed \[U\]**, see
    /// [`Algorithm::from_card_id`]).
    pub const fn card_id(self) -> u8 {
        match self {
            Self::Des3 => 0x01,
            Self::Sm4 => 0x03,
        }
    }

    /// The cipher's block length in bytes (8 or 16).
    pub const fn block_len(self) -> usize {
        match self {
            Self::Des3 => 8,
            Self::Sm4 => 16,
        }
    }
}

/// Writes `Name(KCV XXXXXX)`.
fn write_kcv(f: &mut fmt::Formatter<'_>, name: &str, kcv: [u8; 3]) -> fmt::Result {
    let [a, b, c] = kcv;
    write!(f, "{name}(KCV {a:02X}{b:02X}{c:02X})")
}

/// Sets the least significant bit of each byte so that the byte has odd parity (the DES
/// key-parity convention; DES ignores those bits).
pub fn adjust_odd_parity(key: &mut [u8]) {
    for byte in key {
        let high = *byte & 0xFE;
        *byte = high | u8::from(high.count_ones() % 2 == 0);
    }
}

/// Whether every byte of `key` has odd parity.
pub fn has_odd_parity(key: &[u8]) -> bool {
    key.iter().all(|byte| byte.count_ones() % 2 == 1)
}

/// Key check value: the first 3 bytes of the encryption of an all-zero block.
fn kcv_of<C: BlockCipherEncrypt>(cipher: &C) -> [u8; 3] {
    let mut block = Block::<C>::default();
    cipher.encrypt_block(&mut block);
    let mut kcv = [0u8; 3];
    for (out, byte) in kcv.iter_mut().zip(block.iter()) {
        *out = *byte;
    }
    kcv
}

// ---------------------------------------------------------------------------------------
// 3DES
// ---------------------------------------------------------------------------------------

#[derive(Clone, Zeroize)]
enum Des3Bytes {
    Double([u8; 16]),
    Triple([u8; 24]),
}

/// A 3DES key: double length (16 bytes, keying option 2: K1 K2 K1) or triple length
/// (24 bytes, keying option 1). Zeroised on drop; `Debug` shows only the KCV.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Des3Key(Des3Bytes);

impl Des3Key {
    /// A key from 16 or 24 bytes; any other length is [`SymError::InvalidKeyLength`].
    pub fn new(bytes: &[u8]) -> Result<Self, SymError> {
        if let Ok(double) = <[u8; 16]>::try_from(bytes) {
            Ok(Self(Des3Bytes::Double(double)))
        } else if let Ok(triple) = <[u8; 24]>::try_from(bytes) {
            Ok(Self(Des3Bytes::Triple(triple)))
        } else {
            Err(SymError::InvalidKeyLength { len: bytes.len() })
        }
    }

    /// A double-length key (K1 ‖ K2).
    pub const fn from_double(bytes: [u8; 16]) -> Self {
        Self(Des3Bytes::Double(bytes))
    }

    /// A triple-length key (K1 ‖ K2 ‖ K3).
    pub const fn from_triple(bytes: [u8; 24]) -> Self {
        Self(Des3Bytes::Triple(bytes))
    }

    /// The key bytes (16 or 24). Secret: do not log or keep copies.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Des3Bytes::Double(bytes) => bytes,
            Des3Bytes::Triple(bytes) => bytes,
        }
    }

    /// The double-length key bytes, or `None` for a triple-length key.
    pub fn as_double(&self) -> Option<&[u8; 16]> {
        match &self.0 {
            Des3Bytes::Double(bytes) => Some(bytes),
            Des3Bytes::Triple(_) => None,
        }
    }

    /// Key length in bytes (16 or 24).
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Always `false`: a 3DES key has 16 or 24 bytes.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The same key with every byte adjusted to odd parity.
    #[must_use]
    pub fn with_odd_parity(mut self) -> Self {
        match &mut self.0 {
            Des3Bytes::Double(bytes) => adjust_odd_parity(bytes),
            Des3Bytes::Triple(bytes) => adjust_odd_parity(bytes),
        }
        self
    }

    /// The 3DES cipher for this key (RustCrypto `des`: `TdesEde2` or `TdesEde3`).
    pub fn cipher(&self) -> Des3 {
        match &self.0 {
            Des3Bytes::Double(bytes) => Des3(Des3Inner::Ede2(TdesEde2::new(bytes.into()))),
            Des3Bytes::Triple(bytes) => Des3(Des3Inner::Ede3(TdesEde3::new(bytes.into()))),
        }
    }

    /// Key check value: the first 3 bytes of 3DES_K(00…00).
    pub fn kcv(&self) -> [u8; 3] {
        kcv_of(&self.cipher())
    }
}

impl ConstantTimeEq for Des3Key {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.as_bytes().ct_eq(other.as_bytes())
    }
}

impl PartialEq for Des3Key {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for Des3Key {}

impl fmt::Debug for Des3Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_kcv(f, "Des3Key", self.kcv())
    }
}

#[derive(Clone)]
enum Des3Inner {
    Ede2(TdesEde2),
    Ede3(TdesEde3),
}

/// A 3DES cipher of either keying option, built by [`Des3Key::cipher`]; implements the
/// RustCrypto block-cipher traits by delegating to `des::TdesEde2` / `des::TdesEde3`.
#[derive(Clone)]
pub struct Des3(Des3Inner);

impl BlockSizeUser for Des3 {
    type BlockSize = U8;
}

impl BlockCipherEncrypt for Des3 {
    fn encrypt_with_backend(&self, f: impl BlockCipherEncClosure<BlockSize = U8>) {
        match &self.0 {
            Des3Inner::Ede2(cipher) => cipher.encrypt_with_backend(f),
            Des3Inner::Ede3(cipher) => cipher.encrypt_with_backend(f),
        }
    }
}

impl BlockCipherDecrypt for Des3 {
    fn decrypt_with_backend(&self, f: impl BlockCipherDecClosure<BlockSize = U8>) {
        match &self.0 {
            Des3Inner::Ede2(cipher) => cipher.decrypt_with_backend(f),
            Des3Inner::Ede3(cipher) => cipher.decrypt_with_backend(f),
        }
    }
}

impl AlgorithmName for Des3 {
    fn write_alg_name(f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("3DES")
    }
}

impl fmt::Debug for Des3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Des3 { .. }")
    }
}

// ---------------------------------------------------------------------------------------
// Single DES
// ---------------------------------------------------------------------------------------

/// A single-DES key (8 bytes), for ISO/IEC 9797-1 MAC algorithm 1 with DES and the
/// first stages of the retail MAC. Zeroised on drop; `Debug` shows only the KCV.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DesKey([u8; 8]);

impl DesKey {
    /// A key from 8 bytes.
    pub const fn from_bytes(bytes: [u8; 8]) -> Self {
        Self(bytes)
    }

    /// A key from a slice of exactly 8 bytes.
    pub fn new(bytes: &[u8]) -> Result<Self, SymError> {
        <[u8; 8]>::try_from(bytes)
            .map(Self)
            .map_err(|_| SymError::InvalidKeyLength { len: bytes.len() })
    }

    /// The key bytes. Secret: do not log or keep copies.
    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }

    /// The DES cipher for this key (RustCrypto `des::Des`).
    pub fn cipher(&self) -> Des {
        Des::new((&self.0).into())
    }

    /// Key check value: the first 3 bytes of DES_K(00…00).
    pub fn kcv(&self) -> [u8; 3] {
        kcv_of(&self.cipher())
    }
}

impl ConstantTimeEq for DesKey {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.0.ct_eq(&other.0)
    }
}

impl PartialEq for DesKey {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for DesKey {}

impl fmt::Debug for DesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_kcv(f, "DesKey", self.kcv())
    }
}

// ---------------------------------------------------------------------------------------
// SM4
// ---------------------------------------------------------------------------------------

/// A 16-byte SM4 key. Zeroised on drop; `Debug` shows only the KCV.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Sm4Key([u8; 16]);

impl Sm4Key {
    /// A key from 16 bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// A key from a slice of exactly 16 bytes.
    pub fn new(bytes: &[u8]) -> Result<Self, SymError> {
        <[u8; 16]>::try_from(bytes)
            .map(Self)
            .map_err(|_| SymError::InvalidKeyLength { len: bytes.len() })
    }

    /// The key bytes. Secret: do not log or keep copies.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The SM4 cipher for this key (this crate's table-based [`Sm4`]).
    pub fn cipher(&self) -> Sm4 {
        Sm4::new((&self.0).into())
    }

    /// Key check value: the first 3 bytes of SM4_K(00…00) (16 zero bytes).
    pub fn kcv(&self) -> [u8; 3] {
        kcv_of(&self.cipher())
    }
}

impl ConstantTimeEq for Sm4Key {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.0.ct_eq(&other.0)
    }
}

impl PartialEq for Sm4Key {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for Sm4Key {}

impl fmt::Debug for Sm4Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_kcv(f, "Sm4Key", self.kcv())
    }
}

// ---------------------------------------------------------------------------------------
// Either
// ---------------------------------------------------------------------------------------

/// A key of the card's symmetric algorithm: 3DES (2nd generation) or SM4 (3rd).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnyKey {
    /// A 3DES key.
    Des3(Des3Key),
    /// An SM4 key.
    Sm4(Sm4Key),
}

impl AnyKey {
    /// A key of `algorithm` from its bytes (3DES: 16 or 24, SM4: 16).
    pub fn new(algorithm: Algorithm, bytes: &[u8]) -> Result<Self, SymError> {
        match algorithm {
            Algorithm::Des3 => Des3Key::new(bytes).map(Self::Des3),
            Algorithm::Sm4 => Sm4Key::new(bytes).map(Self::Sm4),
        }
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::Des3(_) => Algorithm::Des3,
            Self::Sm4(_) => Algorithm::Sm4,
        }
    }

    /// The cipher's block length (8 for 3DES, 16 for SM4).
    pub fn block_len(&self) -> usize {
        self.algorithm().block_len()
    }

    /// The key bytes. Secret: do not log or keep copies.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Des3(key) => key.as_bytes(),
            Self::Sm4(key) => key.as_bytes(),
        }
    }

    /// Key check value (first 3 bytes of the encryption of a zero block).
    pub fn kcv(&self) -> [u8; 3] {
        match self {
            Self::Des3(key) => key.kcv(),
            Self::Sm4(key) => key.kcv(),
        }
    }

    /// ECB-encrypts whole blocks in place (the PSAM's `80 FA 00 00`: 8 bytes for 3DES,
    /// 16 for SM4).
    pub fn ecb_encrypt(&self, buf: &mut [u8]) -> Result<(), SymError> {
        match self {
            Self::Des3(key) => ecb_encrypt(&key.cipher(), buf),
            Self::Sm4(key) => ecb_encrypt(&key.cipher(), buf),
        }
    }

    /// ECB-decrypts whole blocks in place.
    pub fn ecb_decrypt(&self, buf: &mut [u8]) -> Result<(), SymError> {
        match self {
            Self::Des3(key) => ecb_decrypt(&key.cipher(), buf),
            Self::Sm4(key) => ecb_decrypt(&key.cipher(), buf),
        }
    }

    /// CBC-encrypts whole blocks in place; `iv` must be one block long.
    pub fn cbc_encrypt(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), SymError> {
        match self {
            Self::Des3(key) => cbc_encrypt(&key.cipher(), block_ref::<Des3>(iv)?, buf),
            Self::Sm4(key) => cbc_encrypt(&key.cipher(), block_ref::<Sm4>(iv)?, buf),
        }
    }

    /// CBC-decrypts whole blocks in place; `iv` must be one block long.
    pub fn cbc_decrypt(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), SymError> {
        match self {
            Self::Des3(key) => cbc_decrypt(&key.cipher(), block_ref::<Des3>(iv)?, buf),
            Self::Sm4(key) => cbc_decrypt(&key.cipher(), block_ref::<Sm4>(iv)?, buf),
        }
    }
}

impl From<Des3Key> for AnyKey {
    fn from(key: Des3Key) -> Self {
        Self::Des3(key)
    }
}

impl From<Sm4Key> for AnyKey {
    fn from(key: Sm4Key) -> Self {
        Self::Sm4(key)
    }
}

impl ConstantTimeEq for AnyKey {
    fn ct_eq(&self, other: &Self) -> Choice {
        match (self, other) {
            (Self::Des3(a), Self::Des3(b)) => a.ct_eq(b),
            (Self::Sm4(a), Self::Sm4(b)) => a.ct_eq(b),
            _ => Choice::from(0),
        }
    }
}

impl fmt::Debug for AnyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Des3(key) => fmt::Debug::fmt(key, f),
            Self::Sm4(key) => fmt::Debug::fmt(key, f),
        }
    }
}

/// `iv` as one block of cipher `C`, or [`SymError::InvalidIvLength`].
pub(crate) fn block_ref<C: BlockSizeUser>(iv: &[u8]) -> Result<&Block<C>, SymError> {
    <&Block<C>>::try_from(iv).map_err(|_| SymError::InvalidIvLength { len: iv.len() })
}
