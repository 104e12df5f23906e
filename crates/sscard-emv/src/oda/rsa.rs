//! RSA offline data authentication with message recovery (EMV 4.3 Book 2 §5–6, pboc.md
//! §1.4.1): issuer and ICC public key certificates, signed static application data (93)
//! and signed dynamic application data (9F4B, DDA and CDA), in both directions.
//!
//! # Choice of crates
//!
//! * The public operation (recovery, what a terminal does): [`super::modexp`], a small
//!   Montgomery exponentiation on 32-bit limbs in this crate, so that the terminal side
//!   builds for every target, thumbv6m (Cortex-M0, no atomic pointers) included. It is
//!   tested against `rsa` on random keys.
//! * The private operations (key generation, signing: emulated cards, the test PKI,
//!   issuance), with the `rsa-sign` feature (default): RustCrypto `rsa` 0.10 (release
//!   candidate) without default features, with `hazmat` for the raw (unpadded) RSA
//!   operations that EMV signing for recovery needs (`ring` cannot recover a message). It runs on `crypto-bigint` 0.7 —
//!   already in the tree through `sm2`/`elliptic-curve` — with constant-time Montgomery
//!   exponentiation (the 0.9 line's `num-bigint-dig` private operation has the timing
//!   advisory RUSTSEC-2023-0071), is `no_std + alloc`, and takes the same `rand_core`
//!   0.10 RNGs as `sscard_crypto::sm2`. Key generation (for issuance and test cards) is
//!   its vetted prime generation (`crypto-primes`), not ours. Its minimum-size checks are
//!   bypassed on purpose (`new_with_size_limits`, `new_with_exp_unchecked`): EMV ICC keys
//!   are often below 1024 bits; this module enforces EMV's own limits instead.
//!   Alternatives weighed: `rsa` 0.9 (num-bigint-dig, rand_core 0.6, the advisory above)
//!   and bare `crypto-bigint` (would leave prime generation to us).
//! * SHA-1: RustCrypto `sha1` 0.11, on `digest` 0.11 like `sm3` in
//!   `sscard-crypto`, so one `digest` version is in the tree.
//!
//! The layouts (`N` = length of the signing key's modulus):
//!
//! | object | recovered data |
//! |---|---|
//! | issuer cert 90 | `6A 02` ‖ issuer ID 4 ‖ expiry 2 ‖ serial 3 ‖ hash alg ‖ PK alg ‖ `N_I` ‖ exp len ‖ modulus part `N-36` ‖ hash 20 ‖ `BC` |
//! | ICC cert 9F46 | `6A 04` ‖ PAN 10 ‖ expiry 2 ‖ serial 3 ‖ hash alg ‖ PK alg ‖ `N_IC` ‖ exp len ‖ modulus part `N-42` ‖ hash 20 ‖ `BC` |
//! | SSAD 93 | `6A 03` ‖ hash alg ‖ DAC 2 ‖ `BB` pad `N-26` ‖ hash 20 ‖ `BC` |
//! | SDAD 9F4B | `6A 05` ‖ hash alg ‖ `L_DD` ‖ ICC dynamic data ‖ `BB` pad `N-L_DD-25` ‖ hash 20 ‖ `BC` |
//!
//! The hash is SHA-1 over the recovered data from the format byte to the byte before the
//! hash, followed by: remainder ‖ exponent (issuer); remainder ‖ exponent ‖ static data
//! (ICC); static data (SSAD); terminal dynamic data (SDAD).

#[cfg(feature = "rsa-sign")]
use alloc::vec;
use alloc::vec::Vec;
#[cfg(feature = "rsa-sign")]
use core::convert::Infallible;
use core::fmt;

#[cfg(feature = "rsa-sign")]
use ::rsa::hazmat::rsa_decrypt_and_check;
#[cfg(feature = "rsa-sign")]
use ::rsa::rand_core::{CryptoRng, TryCryptoRng, TryRng};
#[cfg(feature = "rsa-sign")]
use ::rsa::traits::{PrivateKeyParts, PublicKeyParts};
#[cfg(feature = "rsa-sign")]
use ::rsa::BoxedUint;
use sha1::{Digest, Sha1};
#[cfg(feature = "rsa-sign")]
use zeroize::Zeroizing;

use super::modexp::Modulus;
use super::{array_at, byte_at, issuer_id_matches, pan_matches, Date, OdaError, Result};

/// Recovered-data header.
pub const HEADER: u8 = 0x6A;
/// Recovered-data trailer.
pub const TRAILER: u8 = 0xBC;
/// Format of an issuer public key certificate.
pub const FORMAT_ISSUER: u8 = 0x02;
/// Format of signed static application data.
pub const FORMAT_SSAD: u8 = 0x03;
/// Format of an ICC public key certificate.
pub const FORMAT_ICC: u8 = 0x04;
/// Format of signed dynamic application data.
pub const FORMAT_SDAD: u8 = 0x05;
/// Hash algorithm indicator SHA-1, the only one defined.
pub const HASH_SHA1: u8 = 0x01;
/// Public key algorithm indicator RSA, the only one defined.
pub const PK_RSA: u8 = 0x01;
/// Padding byte of recovered data.
pub const PAD: u8 = 0xBB;
/// Longest modulus EMV allows (1984 bits).
pub const MAX_MODULUS_LEN: usize = 248;
/// Shortest modulus accepted here (512 bits).
pub const MIN_MODULUS_LEN: usize = 64;

const HASH_LEN: usize = 20;

/// SHA-1 over the concatenation of `parts`.
pub fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// An RSA public key: a CA key, an issuer key or an ICC key.
#[derive(Clone)]
pub struct RsaPublicKey {
    modulus: Vec<u8>,
    exponent: Vec<u8>,
    montgomery: Modulus,
}

impl PartialEq for RsaPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.modulus == other.modulus && self.exponent == other.exponent
    }
}

impl Eq for RsaPublicKey {}

impl fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaPublicKey")
            .field("bits", &(self.modulus.len() * 8))
            .field("exponent", &self.exponent)
            .finish_non_exhaustive()
    }
}

impl RsaPublicKey {
    /// A key from its big-endian modulus (64–248 bytes, no leading zero byte, odd) and
    /// exponent (1–3 bytes, odd, at least 3: EMV uses 3 and 65537).
    pub fn new(modulus: &[u8], exponent: &[u8]) -> Result<Self> {
        let first = modulus.first().copied().ok_or(OdaError::BadKey)?;
        let e_first = exponent.first().copied().ok_or(OdaError::BadKey)?;
        let e_last = exponent.last().copied().unwrap_or_default();
        // The exponent: odd and at least 3 (as `rsa` requires of a public key).
        let e_small = exponent.len() == 1 && e_first < 3;
        if first == 0
            || e_first == 0
            || e_last & 1 == 0
            || e_small
            || !(MIN_MODULUS_LEN..=MAX_MODULUS_LEN).contains(&modulus.len())
            || exponent.len() > 3
        {
            return Err(OdaError::BadKey);
        }
        // Odd and within the limb bound (the length check above keeps it there).
        let montgomery = Modulus::new(modulus).ok_or(OdaError::BadKey)?;
        Ok(Self {
            modulus: modulus.to_vec(),
            exponent: exponent.to_vec(),
            montgomery,
        })
    }

    /// The modulus, big-endian.
    pub fn modulus(&self) -> &[u8] {
        &self.modulus
    }

    /// The public exponent, big-endian.
    pub fn exponent(&self) -> &[u8] {
        &self.exponent
    }

    /// The modulus length in bytes: the length of every block under this key.
    pub fn len(&self) -> usize {
        self.modulus.len()
    }

    /// Always false: a key has a modulus (for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        self.modulus.is_empty()
    }

    /// The raw public operation `block^e mod n` (no padding), as used for recovery.
    /// `block` must be exactly [`Self::len`] bytes and less than the modulus.
    pub fn recover(&self, block: &[u8]) -> Result<Vec<u8>> {
        let k = self.len();
        if block.len() != k {
            return Err(OdaError::BadCertLength {
                expected: k,
                actual: block.len(),
            });
        }
        // `None`: the block is not less than the modulus.
        self.montgomery
            .pow(block, &self.exponent, k)
            .ok_or(OdaError::Malformed)
    }
}

/// The big-endian bytes of `x` in exactly `k` bytes.
#[cfg(feature = "rsa-sign")]
fn to_len(x: &BoxedUint, k: usize) -> Result<Vec<u8>> {
    let bytes = x.to_be_bytes();
    let skip = bytes.len().checked_sub(k).ok_or(OdaError::Malformed)?;
    let (lead, tail) = bytes.split_at_checked(skip).ok_or(OdaError::Malformed)?;
    if lead.iter().any(|b| *b != 0) {
        return Err(OdaError::Malformed);
    }
    Ok(tail.to_vec())
}

/// An RNG that is never called: the private operation runs without blinding, since
/// `crypto-bigint`'s Montgomery exponentiation is constant-time.
#[cfg(feature = "rsa-sign")]
struct NoRng;

#[cfg(feature = "rsa-sign")]
impl TryRng for NoRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> core::result::Result<u32, Infallible> {
        Ok(0)
    }
    fn try_next_u64(&mut self) -> core::result::Result<u64, Infallible> {
        Ok(0)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> core::result::Result<(), Infallible> {
        dst.fill(0);
        Ok(())
    }
}

#[cfg(feature = "rsa-sign")]
impl TryCryptoRng for NoRng {}

/// The components of an RSA private key, big-endian (for test-PKI files and
/// personalisation); zeroised on drop.
#[cfg(feature = "rsa-sign")]
pub struct RsaComponents {
    /// Modulus `n`.
    pub n: Vec<u8>,
    /// Public exponent `e`.
    pub e: Vec<u8>,
    /// Private exponent `d`.
    pub d: Zeroizing<Vec<u8>>,
    /// First prime `p`.
    pub p: Zeroizing<Vec<u8>>,
    /// Second prime `q`.
    pub q: Zeroizing<Vec<u8>>,
}

#[cfg(feature = "rsa-sign")]
impl fmt::Debug for RsaComponents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaComponents")
            .field("bits", &(self.n.len() * 8))
            .finish_non_exhaustive()
    }
}

/// The CRT parts of an RSA private key (EMV CPS DGIs 8201–8203).
#[cfg(feature = "rsa-sign")]
pub struct RsaCrt {
    /// `d mod (p-1)`.
    pub dp: Zeroizing<Vec<u8>>,
    /// `d mod (q-1)`.
    pub dq: Zeroizing<Vec<u8>>,
    /// `q⁻¹ mod p`.
    pub qinv: Zeroizing<Vec<u8>>,
}

/// An RSA private key (CA, issuer or ICC side); the inner key zeroises on drop and
/// `Debug` shows only the size.
#[cfg(feature = "rsa-sign")]
#[derive(Clone)]
pub struct RsaPrivateKey {
    inner: ::rsa::RsaPrivateKey,
    public: RsaPublicKey,
}

#[cfg(feature = "rsa-sign")]
impl fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaPrivateKey")
            .field("bits", &(self.public.len() * 8))
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "rsa-sign")]
impl RsaPrivateKey {
    /// Generates a key of `bits` bits (a multiple of 8, 512–1984) with public exponent
    /// `exponent` (3 or 65537 in EMV) from `rng`. Deterministic for a deterministic RNG
    /// (and a given `rsa`/`crypto-primes` version).
    pub fn generate<R: CryptoRng + ?Sized>(
        rng: &mut R,
        bits: usize,
        exponent: u32,
    ) -> Result<Self> {
        if !bits.is_multiple_of(8) || !(MIN_MODULUS_LEN * 8..=MAX_MODULUS_LEN * 8).contains(&bits) {
            return Err(OdaError::BadField);
        }
        if exponent < 3 || exponent.is_multiple_of(2) {
            return Err(OdaError::BadField);
        }
        let inner = ::rsa::RsaPrivateKey::new_with_exp_unchecked(
            rng,
            bits,
            BoxedUint::from(u64::from(exponent)),
        )
        .map_err(|_| OdaError::KeyGeneration)?;
        Self::wrap(inner)
    }

    /// A key from its components (big-endian), validated.
    pub fn from_components(n: &[u8], e: &[u8], d: &[u8], p: &[u8], q: &[u8]) -> Result<Self> {
        let big = BoxedUint::from_be_slice_vartime;
        let inner =
            ::rsa::RsaPrivateKey::from_components(big(n), big(e), big(d), vec![big(p), big(q)])
                .map_err(|_| OdaError::BadKey)?;
        Self::wrap(inner)
    }

    /// A key from its primes and public exponent (big-endian): the modulus and private
    /// exponent are recomputed (what a card does from personalisation DGIs 8204/8205).
    pub fn from_primes(p: &[u8], q: &[u8], e: &[u8]) -> Result<Self> {
        let big = BoxedUint::from_be_slice_vartime;
        let inner =
            ::rsa::RsaPrivateKey::from_p_q(big(p), big(q), big(e)).map_err(|_| OdaError::BadKey)?;
        Self::wrap(inner)
    }

    /// The CRT parts `d mod (p-1)`, `d mod (q-1)` and `q⁻¹ mod p` (big-endian, trimmed).
    pub fn crt(&self) -> Result<RsaCrt> {
        let bytes = |x: &BoxedUint| Zeroizing::new(x.to_be_bytes_trimmed_vartime().into_vec());
        let dp = self.inner.dp().ok_or(OdaError::BadKey)?;
        let dq = self.inner.dq().ok_or(OdaError::BadKey)?;
        let qinv = self.inner.crt_coefficient().ok_or(OdaError::BadKey)?;
        Ok(RsaCrt {
            dp: bytes(dp),
            dq: bytes(dq),
            qinv: bytes(&qinv),
        })
    }

    fn wrap(inner: ::rsa::RsaPrivateKey) -> Result<Self> {
        let n = inner.n().as_ref().to_be_bytes_trimmed_vartime();
        let e = inner.e().to_be_bytes_trimmed_vartime();
        let public = RsaPublicKey::new(&n, &e)?;
        Ok(Self { inner, public })
    }

    /// The public half.
    pub fn public_key(&self) -> &RsaPublicKey {
        &self.public
    }

    /// The components, for storage in a (test) key file or a personalisation record.
    pub fn components(&self) -> RsaComponents {
        let bytes = |x: &BoxedUint| Zeroizing::new(x.to_be_bytes_trimmed_vartime().into_vec());
        let primes = self.inner.primes();
        RsaComponents {
            n: self.public.modulus.clone(),
            e: self.public.exponent.clone(),
            d: bytes(self.inner.d()),
            p: primes
                .first()
                .map(|p| bytes(p.as_ref()))
                .unwrap_or_default(),
            q: primes.get(1).map(|q| bytes(q.as_ref())).unwrap_or_default(),
        }
    }

    /// The raw private operation `block^d mod n` (no padding): signs a block built for
    /// recovery. `block` must be exactly the modulus length and less than the modulus.
    pub fn sign_raw(&self, block: &[u8]) -> Result<Vec<u8>> {
        let k = self.public.len();
        if block.len() != k {
            return Err(OdaError::BadField);
        }
        let c = BoxedUint::from_be_slice(block, self.inner.n_bits_precision())
            .map_err(|_| OdaError::BadField)?;
        let s = rsa_decrypt_and_check(&self.inner, None::<&mut NoRng>, &c)
            .map_err(|_| OdaError::SigningFailed)?;
        to_len(&s, k)
    }
}

/// Recovers `block` with `key` and checks length, trailer `BC`, header `6A` and `format`
/// (EMV Book 2 §5.3 steps 1–4, §6.3 steps 1–4). Returns the recovered data.
fn open(key: &RsaPublicKey, block: &[u8], format: u8) -> Result<Vec<u8>> {
    let x = key.recover(block)?;
    let trailer = x.last().copied().ok_or(OdaError::Malformed)?;
    if trailer != TRAILER {
        return Err(OdaError::BadTrailer { actual: trailer });
    }
    let header = byte_at(&x, 0)?;
    if header != HEADER {
        return Err(OdaError::BadHeader { actual: header });
    }
    let actual = byte_at(&x, 1)?;
    if actual != format {
        return Err(OdaError::BadFormat {
            expected: format,
            actual,
        });
    }
    Ok(x)
}

/// The hashed part of recovered data (format byte up to the hash) and the hash.
fn hashed_part(x: &[u8]) -> Result<(&[u8], &[u8])> {
    let end = x
        .len()
        .checked_sub(1 + HASH_LEN)
        .ok_or(OdaError::Malformed)?;
    let body = x.get(1..end).ok_or(OdaError::Malformed)?;
    let hash = x.get(end..end + HASH_LEN).ok_or(OdaError::Malformed)?;
    Ok((body, hash))
}

fn check_hash(x: &[u8], extra: &[&[u8]]) -> Result<()> {
    let (body, hash) = hashed_part(x)?;
    let mut parts: Vec<&[u8]> = Vec::with_capacity(extra.len() + 1);
    parts.push(body);
    parts.extend_from_slice(extra);
    if sha1(&parts).as_slice() == hash {
        Ok(())
    } else {
        Err(OdaError::HashMismatch)
    }
}

fn check_algorithms(hash_alg: u8, pk_alg: u8) -> Result<()> {
    if hash_alg != HASH_SHA1 {
        return Err(OdaError::BadAlgorithm { actual: hash_alg });
    }
    if pk_alg != PK_RSA {
        return Err(OdaError::BadAlgorithm { actual: pk_alg });
    }
    Ok(())
}

/// The modulus of a certified key: `len` bytes from the certificate's modulus field
/// (`field`, padded with `BB`) and the remainder.
fn certified_modulus(field: &[u8], len: usize, remainder: Option<&[u8]>) -> Result<Vec<u8>> {
    if len > field.len() {
        let expected = len - field.len();
        let remainder = remainder.ok_or(OdaError::MissingRemainder)?;
        if remainder.len() != expected {
            return Err(OdaError::BadRemainder {
                expected,
                actual: remainder.len(),
            });
        }
        let mut m = field.to_vec();
        m.extend_from_slice(remainder);
        Ok(m)
    } else {
        field
            .get(..len)
            .map(<[u8]>::to_vec)
            .ok_or(OdaError::Malformed)
    }
}

/// What an issuer public key certificate says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RsaIssuerCert {
    /// Issuer identifier: leftmost 3–8 PAN digits, `F`-padded.
    pub issuer_id: [u8; 4],
    /// Expiry `MMYY`.
    pub expiry: [u8; 2],
    /// Certificate serial number.
    pub serial: [u8; 3],
    /// The certified issuer public key.
    pub key: RsaPublicKey,
}

/// Recovers the issuer public key from tag 90 with the CA key (EMV Book 2 §5.3 / §6.3):
/// length, `6A`/`02`/`BC`, remainder 92, hash with 92 and 9F32, issuer identifier
/// against the PAN 5A, expiry against `date`, algorithm indicators.
pub fn recover_issuer_cert(
    ca: &RsaPublicKey,
    cert: &[u8],
    remainder: Option<&[u8]>,
    exponent: &[u8],
    pan: &[u8],
    date: Date,
) -> Result<RsaIssuerCert> {
    let x = open(ca, cert, FORMAT_ISSUER)?;
    let n = x.len();
    let key_len = usize::from(byte_at(&x, 13)?);
    let exp_len = usize::from(byte_at(&x, 14)?);
    let field = x.get(15..n.saturating_sub(21)).ok_or(OdaError::Malformed)?;
    let modulus = certified_modulus(field, key_len, remainder)?;
    check_hash(&x, &[remainder.unwrap_or_default(), exponent])?;
    let issuer_id: [u8; 4] = array_at(&x, 2)?;
    if !issuer_id_matches(&issuer_id, pan) {
        return Err(OdaError::IssuerIdMismatch);
    }
    let expiry: [u8; 2] = array_at(&x, 6)?;
    date.check_expiry(expiry)?;
    check_algorithms(byte_at(&x, 11)?, byte_at(&x, 12)?)?;
    if exp_len != exponent.len() {
        return Err(OdaError::Malformed);
    }
    Ok(RsaIssuerCert {
        issuer_id,
        expiry,
        serial: array_at(&x, 8)?,
        key: RsaPublicKey::new(&modulus, exponent)?,
    })
}

/// What an ICC public key certificate says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RsaIccCert {
    /// The application PAN, `F`-padded to 10 bytes.
    pub pan: [u8; 10],
    /// Expiry `MMYY`.
    pub expiry: [u8; 2],
    /// Certificate serial number.
    pub serial: [u8; 3],
    /// The certified ICC public key.
    pub key: RsaPublicKey,
}

/// Recovers the ICC public key from tag 9F46 with the issuer key (EMV Book 2 §6.4):
/// length, `6A`/`04`/`BC`, remainder 9F48, hash with 9F48, 9F47 and the static data to
/// authenticate, PAN against 5A, expiry, algorithm indicators.
pub fn recover_icc_cert(
    issuer: &RsaPublicKey,
    cert: &[u8],
    remainder: Option<&[u8]>,
    exponent: &[u8],
    static_data: &[u8],
    pan: &[u8],
    date: Date,
) -> Result<RsaIccCert> {
    let x = open(issuer, cert, FORMAT_ICC)?;
    let n = x.len();
    let key_len = usize::from(byte_at(&x, 19)?);
    let exp_len = usize::from(byte_at(&x, 20)?);
    let field = x.get(21..n.saturating_sub(21)).ok_or(OdaError::Malformed)?;
    let modulus = certified_modulus(field, key_len, remainder)?;
    check_hash(&x, &[remainder.unwrap_or_default(), exponent, static_data])?;
    let cert_pan: [u8; 10] = array_at(&x, 2)?;
    if !pan_matches(&cert_pan, pan) {
        return Err(OdaError::PanMismatch);
    }
    let expiry: [u8; 2] = array_at(&x, 12)?;
    date.check_expiry(expiry)?;
    check_algorithms(byte_at(&x, 17)?, byte_at(&x, 18)?)?;
    if exp_len != exponent.len() {
        return Err(OdaError::Malformed);
    }
    Ok(RsaIccCert {
        pan: cert_pan,
        expiry,
        serial: array_at(&x, 14)?,
        key: RsaPublicKey::new(&modulus, exponent)?,
    })
}

/// Checks signed static application data (93) with the issuer key (EMV Book 2 §5.4) and
/// returns the data authentication code (for 9F45).
pub fn recover_ssad(issuer: &RsaPublicKey, ssad: &[u8], static_data: &[u8]) -> Result<[u8; 2]> {
    let x = open(issuer, ssad, FORMAT_SSAD)?;
    check_hash(&x, &[static_data])?;
    let alg = byte_at(&x, 2)?;
    if alg != HASH_SHA1 {
        return Err(OdaError::BadAlgorithm { actual: alg });
    }
    array_at(&x, 3)
}

/// Checks signed dynamic application data (9F4B) with the ICC key over the terminal
/// dynamic data (DDOL data for DDA, the unpredictable number for CDA; EMV Book 2
/// §6.5.2 / §6.6.2) and returns the ICC dynamic data.
pub fn recover_dynamic(icc: &RsaPublicKey, sdad: &[u8], terminal_data: &[u8]) -> Result<Vec<u8>> {
    let x = open(icc, sdad, FORMAT_SDAD)?;
    check_hash(&x, &[terminal_data])?;
    let alg = byte_at(&x, 2)?;
    if alg != HASH_SHA1 {
        return Err(OdaError::BadAlgorithm { actual: alg });
    }
    let l_dd = usize::from(byte_at(&x, 3)?);
    if l_dd + 25 > x.len() {
        return Err(OdaError::BadDynamicData);
    }
    x.get(4..4 + l_dd)
        .map(<[u8]>::to_vec)
        .ok_or(OdaError::BadDynamicData)
}

/// Finishes a block of `n` bytes whose leading fields are `head` (from `6A`): `BB`
/// padding, the SHA-1 over the body and `extra`, `BC`; then signs it.
#[cfg(feature = "rsa-sign")]
fn seal(key: &RsaPrivateKey, head: &[u8], extra: &[&[u8]]) -> Result<Vec<u8>> {
    let n = key.public_key().len();
    let body_end = n.checked_sub(1 + HASH_LEN).ok_or(OdaError::BadField)?;
    if head.len() > body_end {
        return Err(OdaError::BadField);
    }
    let mut x = Vec::with_capacity(n);
    x.extend_from_slice(head);
    x.resize(body_end, PAD);
    let mut parts: Vec<&[u8]> = Vec::with_capacity(extra.len() + 1);
    parts.push(x.get(1..).ok_or(OdaError::BadField)?);
    parts.extend_from_slice(extra);
    let hash = sha1(&parts);
    x.extend_from_slice(&hash);
    x.push(TRAILER);
    key.sign_raw(&x)
}

/// A certificate with the remainder of the certified modulus (tag 92 or 9F48; empty
/// when the whole modulus fits in the certificate).
#[cfg(feature = "rsa-sign")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RsaCertificate {
    /// Tag 90 or 9F46.
    pub cert: Vec<u8>,
    /// Tag 92 or 9F48 (empty: the card carries no remainder).
    pub remainder: Vec<u8>,
}

#[cfg(feature = "rsa-sign")]
fn split_modulus(modulus: &[u8], room: usize) -> (&[u8], &[u8]) {
    modulus.split_at(room.min(modulus.len()))
}

#[cfg(feature = "rsa-sign")]
fn key_lengths(key: &RsaPublicKey) -> Result<(u8, u8)> {
    Ok((
        u8::try_from(key.len()).map_err(|_| OdaError::BadField)?,
        u8::try_from(key.exponent().len()).map_err(|_| OdaError::BadField)?,
    ))
}

/// Builds and signs an issuer public key certificate (90, with 92) under the CA key.
#[cfg(feature = "rsa-sign")]
pub fn build_issuer_cert(
    ca: &RsaPrivateKey,
    issuer_id: [u8; 4],
    expiry: [u8; 2],
    serial: [u8; 3],
    issuer: &RsaPublicKey,
) -> Result<RsaCertificate> {
    let room = ca
        .public_key()
        .len()
        .checked_sub(36)
        .ok_or(OdaError::BadField)?;
    let (part, remainder) = split_modulus(issuer.modulus(), room);
    let (n_i, e_len) = key_lengths(issuer)?;
    let mut head = vec![HEADER, FORMAT_ISSUER];
    head.extend_from_slice(&issuer_id);
    head.extend_from_slice(&expiry);
    head.extend_from_slice(&serial);
    head.extend_from_slice(&[HASH_SHA1, PK_RSA, n_i, e_len]);
    head.extend_from_slice(part);
    let cert = seal(ca, &head, &[remainder, issuer.exponent()])?;
    Ok(RsaCertificate {
        cert,
        remainder: remainder.to_vec(),
    })
}

/// Builds and signs an ICC public key certificate (9F46, with 9F48) under the issuer key,
/// covering `static_data`. `pan` is tag 5A (it is `F`-padded to 10 bytes).
#[cfg(feature = "rsa-sign")]
pub fn build_icc_cert(
    issuer: &RsaPrivateKey,
    pan: &[u8],
    expiry: [u8; 2],
    serial: [u8; 3],
    icc: &RsaPublicKey,
    static_data: &[u8],
) -> Result<RsaCertificate> {
    let room = issuer
        .public_key()
        .len()
        .checked_sub(42)
        .ok_or(OdaError::BadField)?;
    let (part, remainder) = split_modulus(icc.modulus(), room);
    let (n_ic, e_len) = key_lengths(icc)?;
    let cert_pan: [u8; 10] = super::pad_pan(pan, 19)?;
    let mut head = vec![HEADER, FORMAT_ICC];
    head.extend_from_slice(&cert_pan);
    head.extend_from_slice(&expiry);
    head.extend_from_slice(&serial);
    head.extend_from_slice(&[HASH_SHA1, PK_RSA, n_ic, e_len]);
    head.extend_from_slice(part);
    let cert = seal(issuer, &head, &[remainder, icc.exponent(), static_data])?;
    Ok(RsaCertificate {
        cert,
        remainder: remainder.to_vec(),
    })
}

/// Signs static application data (93) with the issuer key.
#[cfg(feature = "rsa-sign")]
pub fn sign_ssad(issuer: &RsaPrivateKey, dac: [u8; 2], static_data: &[u8]) -> Result<Vec<u8>> {
    let [d1, d2] = dac;
    seal(
        issuer,
        &[HEADER, FORMAT_SSAD, HASH_SHA1, d1, d2],
        &[static_data],
    )
}

/// Signs dynamic application data (9F4B) with the ICC key: `icc_dynamic_data` (starting
/// with the length of the ICC dynamic number; for CDA from
/// [`super::cda_icc_dynamic_data`]) over `terminal_data` (DDOL data, or the unpredictable
/// number for CDA).
#[cfg(feature = "rsa-sign")]
pub fn sign_dynamic(
    icc: &RsaPrivateKey,
    icc_dynamic_data: &[u8],
    terminal_data: &[u8],
) -> Result<Vec<u8>> {
    let l_dd = u8::try_from(icc_dynamic_data.len()).map_err(|_| OdaError::BadField)?;
    if icc_dynamic_data.len() + 25 > icc.public_key().len() {
        return Err(OdaError::BadField);
    }
    let mut head = vec![HEADER, FORMAT_SDAD, HASH_SHA1, l_dd];
    head.extend_from_slice(icc_dynamic_data);
    seal(icc, &head, &[terminal_data])
}
