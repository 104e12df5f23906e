//! SM2 public-key encryption (GB/T 32918.4) into caller buffers, in the three
//! ciphertext formats found in practice.
//!
//! Built on RustCrypto's `sm2` point arithmetic rather than its `pke` module, which
//! needs `alloc` for the DER form, compares C3 in variable time and leaves unverified
//! plaintext in the output buffer on failure.

use sm2::elliptic_curve::rand_core::TryCryptoRng;
use sm2::elliptic_curve::{Generate, Group};
use sm2::{NonZeroScalar, ProjectivePoint};
use sm3::{Digest, Sm3};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::der::{self, Reader, Writer};
use super::hash::{is_all_zero, kdf, DIGEST_LEN};
use super::{curve, PrivateKey, PublicKey, Sm2Error};

/// How many nonces encryption draws before giving up; a nonce is only rejected when
/// the KDF output is all zero (probability 2^-8·len), so this bounds a broken RNG.
const MAX_ENCRYPT_ATTEMPTS: usize = 8;

/// Order of the ciphertext parts in the concatenated forms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Sm2Mode {
    /// `C1 ‖ C3 ‖ C2`, the order of GB/T 32918.4-2016 and GM/T 0003.4-2012.
    #[default]
    C1C3C2,
    /// `C1 ‖ C2 ‖ C3`, the order of the 2010 OSCCA publication (still the default of
    /// some libraries, e.g. BouncyCastle's engine).
    C1C2C3,
}

/// How C1 is written in the concatenated forms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum C1Encoding {
    /// Uncompressed SEC1 point `04 ‖ x1 ‖ y1` (65 bytes), as the standard writes it.
    #[default]
    Uncompressed,
    /// Bare `x1 ‖ y1` (64 bytes) without the `04` prefix, as some systems exchange it.
    Bare,
}

/// A ciphertext format. The caller always says which one; nothing is guessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CiphertextFormat {
    /// C1, C2 and C3 concatenated in `mode` order with C1 written as `c1`.
    Concat {
        /// Order of the parts.
        mode: Sm2Mode,
        /// With or without the `04` prefix.
        c1: C1Encoding,
    },
    /// GM/T 0009: `SEQUENCE { INTEGER x1, INTEGER y1, OCTET STRING C3, OCTET STRING C2 }`.
    Der,
}

impl CiphertextFormat {
    /// `04 ‖ x1 ‖ y1 ‖ C3 ‖ C2`, the standard's current form.
    pub const C1C3C2: Self = Self::Concat {
        mode: Sm2Mode::C1C3C2,
        c1: C1Encoding::Uncompressed,
    };
    /// `04 ‖ x1 ‖ y1 ‖ C2 ‖ C3`, the 2010 form.
    pub const C1C2C3: Self = Self::Concat {
        mode: Sm2Mode::C1C2C3,
        c1: C1Encoding::Uncompressed,
    };
    /// The GM/T 0009 DER form.
    pub const DER: Self = Self::Der;

    /// Length of a ciphertext for a `plaintext_len`-byte message. For
    /// [`Der`](Self::Der) this is the maximum: the INTEGERs for x1 and y1 shrink when
    /// they have leading zero bytes, so the actual output may be a few bytes shorter.
    /// `None` if the length overflows.
    pub fn max_ciphertext_len(self, plaintext_len: usize) -> Option<usize> {
        match self {
            Self::Concat { c1, .. } => c1_len(c1)
                .checked_add(DIGEST_LEN)?
                .checked_add(plaintext_len),
            Self::Der => der_len(33, 33, plaintext_len),
        }
    }
}

impl Default for CiphertextFormat {
    fn default() -> Self {
        Self::C1C3C2
    }
}

fn c1_len(encoding: C1Encoding) -> usize {
    match encoding {
        C1Encoding::Uncompressed => 65,
        C1Encoding::Bare => 64,
    }
}

/// Content length of the DER SEQUENCE for INTEGER contents of `x_len`/`y_len` bytes.
fn der_content_len(x_len: usize, y_len: usize, c2_len: usize) -> Option<usize> {
    (2 + x_len + 2 + y_len + 2 + DIGEST_LEN).checked_add(der::tlv_len(c2_len)?)
}

fn der_len(x_len: usize, y_len: usize, c2_len: usize) -> Option<usize> {
    der::tlv_len(der_content_len(x_len, y_len, c2_len)?)
}

/// A parsed ciphertext borrowing C2 and C3 from the input. C1 is validated as a point
/// of the curve other than the point at infinity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ciphertext<'a> {
    c1: PublicKey,
    c3: &'a [u8; DIGEST_LEN],
    c2: &'a [u8],
}

impl<'a> Ciphertext<'a> {
    /// Parses `bytes` in `format`. Rejects C1 off the curve, a missing or empty C2,
    /// non-strict DER and trailing data with [`Sm2Error::MalformedCiphertext`].
    pub fn parse(bytes: &'a [u8], format: CiphertextFormat) -> Result<Self, Sm2Error> {
        let malformed = Sm2Error::MalformedCiphertext;
        let (c1, c3, c2) = match format {
            CiphertextFormat::Concat { mode, c1 } => {
                let (c1_bytes, rest) = bytes.split_at_checked(c1_len(c1)).ok_or(malformed)?;
                let c1 = PublicKey::from_slice(c1_bytes).map_err(|_| malformed)?;
                let c2_len = rest.len().checked_sub(DIGEST_LEN).ok_or(malformed)?;
                let (c3, c2) = match mode {
                    Sm2Mode::C1C3C2 => {
                        let (c3, c2) = rest.split_at_checked(DIGEST_LEN).ok_or(malformed)?;
                        (c3, c2)
                    }
                    Sm2Mode::C1C2C3 => {
                        let (c2, c3) = rest.split_at_checked(c2_len).ok_or(malformed)?;
                        (c3, c2)
                    }
                };
                (c1, c3, c2)
            }
            CiphertextFormat::Der => {
                let map = |_| malformed;
                let mut outer = Reader::new(bytes);
                let mut seq = Reader::new(outer.tlv(der::TAG_SEQUENCE).map_err(map)?);
                if !outer.is_empty() {
                    return Err(malformed);
                }
                let x = seq.uint32().map_err(map)?;
                let y = seq.uint32().map_err(map)?;
                let c3 = seq.tlv(der::TAG_OCTET_STRING).map_err(map)?;
                let c2 = seq.tlv(der::TAG_OCTET_STRING).map_err(map)?;
                if !seq.is_empty() {
                    return Err(malformed);
                }
                let mut xy = [0u8; 64];
                let (xs, ys) = xy.split_at_mut(32);
                xs.copy_from_slice(&x);
                ys.copy_from_slice(&y);
                let c1 = PublicKey::from_xy(&xy).map_err(|_| malformed)?;
                (c1, c3, c2)
            }
        };
        let c3: &'a [u8; DIGEST_LEN] = c3.try_into().map_err(|_| malformed)?;
        if c2.is_empty() {
            return Err(malformed);
        }
        Ok(Self { c1, c3, c2 })
    }

    /// C1 (the point `[k]G`).
    pub fn c1(&self) -> &PublicKey {
        &self.c1
    }

    /// C3 = SM3(x2 ‖ M ‖ y2).
    pub fn c3(&self) -> &'a [u8; DIGEST_LEN] {
        self.c3
    }

    /// C2 = M ⊕ KDF(x2 ‖ y2); as long as the plaintext.
    pub fn c2(&self) -> &'a [u8] {
        self.c2
    }

    /// Length of this ciphertext in `format` (exact, also for DER).
    pub fn encoded_len(&self, format: CiphertextFormat) -> Result<usize, Sm2Error> {
        Layout::new(format, &self.c1, self.c2.len())
            .map(|layout| layout.total)
            .ok_or(Sm2Error::LengthOverflow)
    }

    /// Writes this ciphertext in `format` into `out` and returns the length written;
    /// converts between the formats without decrypting.
    pub fn encode(&self, format: CiphertextFormat, out: &mut [u8]) -> Result<usize, Sm2Error> {
        let layout =
            Layout::new(format, &self.c1, self.c2.len()).ok_or(Sm2Error::LengthOverflow)?;
        let c2_slot = layout.write_frame(out, &self.c1, self.c3)?;
        c2_slot.copy_from_slice(self.c2);
        Ok(layout.total)
    }
}

/// Where C1, C3 and C2 go for one ciphertext in one format.
struct Layout {
    format: CiphertextFormat,
    c2_len: usize,
    total: usize,
}

impl Layout {
    fn new(format: CiphertextFormat, c1: &PublicKey, c2_len: usize) -> Option<Self> {
        let total = match format {
            CiphertextFormat::Concat { .. } => format.max_ciphertext_len(c2_len)?,
            CiphertextFormat::Der => der_len(
                der::integer_content_len(&c1.x()),
                der::integer_content_len(&c1.y()),
                c2_len,
            )?,
        };
        Some(Self {
            format,
            c2_len,
            total,
        })
    }

    /// Writes C1, C3 and the headers into `out` and returns the slot for C2.
    fn write_frame<'o>(
        &self,
        out: &'o mut [u8],
        c1: &PublicKey,
        c3: &[u8; DIGEST_LEN],
    ) -> Result<&'o mut [u8], Sm2Error> {
        if out.len() < self.total {
            return Err(Sm2Error::BufferTooSmall { needed: self.total });
        }
        let out = out
            .get_mut(..self.total)
            .ok_or(Sm2Error::BufferTooSmall { needed: self.total })?;
        let mut w = Writer::new(out);
        let c2_start;
        match self.format {
            CiphertextFormat::Concat { mode, c1: enc } => {
                match enc {
                    C1Encoding::Uncompressed => w.bytes(&c1.to_uncompressed())?,
                    C1Encoding::Bare => w.bytes(&c1.to_xy())?,
                }
                match mode {
                    Sm2Mode::C1C3C2 => {
                        w.bytes(c3)?;
                        c2_start = w.position();
                        w.reserve(self.c2_len)?;
                    }
                    Sm2Mode::C1C2C3 => {
                        c2_start = w.position();
                        w.reserve(self.c2_len)?;
                        w.bytes(c3)?;
                    }
                }
            }
            CiphertextFormat::Der => {
                let (x, y) = (c1.x(), c1.y());
                let content = der_content_len(
                    der::integer_content_len(&x),
                    der::integer_content_len(&y),
                    self.c2_len,
                )
                .ok_or(Sm2Error::LengthOverflow)?;
                w.header(der::TAG_SEQUENCE, content)?;
                w.integer(&x)?;
                w.integer(&y)?;
                w.header(der::TAG_OCTET_STRING, DIGEST_LEN)?;
                w.bytes(c3)?;
                w.header(der::TAG_OCTET_STRING, self.c2_len)?;
                c2_start = w.position();
                w.reserve(self.c2_len)?;
            }
        }
        let end = c2_start
            .checked_add(self.c2_len)
            .ok_or(Sm2Error::LengthOverflow)?;
        out.get_mut(c2_start..end)
            .ok_or(Sm2Error::BufferTooSmall { needed: self.total })
    }
}

impl PublicKey {
    /// Encrypts `plaintext` to this key (GB/T 32918.4 §6.1) with a nonce from `rng`,
    /// writes the ciphertext in `format` into `out` and returns its length.
    ///
    /// `out` must hold [`CiphertextFormat::max_ciphertext_len`] bytes, else
    /// [`Sm2Error::BufferTooSmall`] says how many (checked before any randomness is
    /// drawn). An empty plaintext is rejected.
    pub fn encrypt<R: TryCryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        plaintext: &[u8],
        format: CiphertextFormat,
        out: &mut [u8],
    ) -> Result<usize, Sm2Error> {
        check_encrypt_buffer(plaintext, format, out)?;
        for _ in 0..MAX_ENCRYPT_ATTEMPTS {
            // A1: k in [1, n-1].
            let k = Zeroizing::new(
                NonZeroScalar::try_generate_from_rng(rng).map_err(|_| Sm2Error::Rng)?,
            );
            if let Some(len) = encrypt_with_nonce(self, &k, plaintext, format, out)? {
                return Ok(len);
            }
        }
        Err(Sm2Error::Rng)
    }
}

pub(crate) fn check_encrypt_buffer(
    plaintext: &[u8],
    format: CiphertextFormat,
    out: &[u8],
) -> Result<(), Sm2Error> {
    if plaintext.is_empty() {
        return Err(Sm2Error::EmptyPlaintext);
    }
    let needed = format
        .max_ciphertext_len(plaintext.len())
        .ok_or(Sm2Error::LengthOverflow)?;
    if out.len() < needed {
        return Err(Sm2Error::BufferTooSmall { needed });
    }
    Ok(())
}

/// GB/T 32918.4 §6.1 steps A2–A8 for a given nonce. `Ok(None)` means the KDF output
/// was all zero and the caller must draw another `k` (step A5).
pub(crate) fn encrypt_with_nonce(
    key: &PublicKey,
    k: &NonZeroScalar,
    plaintext: &[u8],
    format: CiphertextFormat,
    out: &mut [u8],
) -> Result<Option<usize>, Sm2Error> {
    // A2: C1 = [k]G.
    let c1 = PublicKey::from_affine(ProjectivePoint::mul_by_generator(&**k).to_affine())?;
    // A3: S = [h]P_B with h = 1 is P_B itself, never the identity (checked when the
    // key was built).
    // A4: (x2, y2) = [k]P_B.
    let shared = (key.to_projective() * **k).to_affine();
    let (x2, y2) = curve::coordinates(&shared);
    let (x2, y2) = (Zeroizing::new(x2), Zeroizing::new(y2));

    let layout = Layout::new(format, &c1, plaintext.len()).ok_or(Sm2Error::LengthOverflow)?;
    // A7: C3 = SM3(x2 ‖ M ‖ y2).
    let mut sm3 = Sm3::new();
    sm3.update(x2.as_ref());
    sm3.update(plaintext);
    sm3.update(y2.as_ref());
    let c3: [u8; DIGEST_LEN] = sm3.finalize().into();

    let c2 = layout.write_frame(out, &c1, &c3)?;
    // A5: t = KDF(x2 ‖ y2, klen); all zero means another k.
    kdf(&[x2.as_ref(), y2.as_ref()], c2)?;
    if bool::from(is_all_zero(c2)) {
        c2.zeroize();
        return Ok(None);
    }
    // A6: C2 = M ⊕ t.
    for (c, m) in c2.iter_mut().zip(plaintext) {
        *c ^= m;
    }
    Ok(Some(layout.total))
}

impl PrivateKey {
    /// Decrypts `ciphertext` given in `format` (GB/T 32918.4 §7.1) into `out` and
    /// returns the plaintext length.
    ///
    /// Every failure is the single opaque [`Sm2Error::Decryption`] (malformed input,
    /// C1 not a valid point, all-zero key stream, wrong C3), and `out` is wiped
    /// then. The one exception is [`Sm2Error::BufferTooSmall`] for a short `out`,
    /// which depends only on the public ciphertext length.
    pub fn decrypt(
        &self,
        ciphertext: &[u8],
        format: CiphertextFormat,
        out: &mut [u8],
    ) -> Result<usize, Sm2Error> {
        // B1–B2: C1 on the curve and not the identity (h = 1), checked by `parse`.
        let parsed = Ciphertext::parse(ciphertext, format).map_err(|_| Sm2Error::Decryption)?;
        self.decrypt_parsed(&parsed, out)
    }

    /// Decrypts an already parsed ciphertext; see [`decrypt`](Self::decrypt).
    pub fn decrypt_parsed(
        &self,
        ciphertext: &Ciphertext<'_>,
        out: &mut [u8],
    ) -> Result<usize, Sm2Error> {
        let len = ciphertext.c2.len();
        let out = out
            .get_mut(..len)
            .ok_or(Sm2Error::BufferTooSmall { needed: len })?;
        // B3: (x2, y2) = [d_B]C1.
        let shared = (ciphertext.c1.to_projective() * **self.scalar()).to_affine();
        let (x2, y2) = curve::coordinates(&shared);
        let (x2, y2) = (Zeroizing::new(x2), Zeroizing::new(y2));
        // B4: t = KDF(x2 ‖ y2, klen); all zero is an error.
        kdf(&[x2.as_ref(), y2.as_ref()], out).map_err(|_| Sm2Error::Decryption)?;
        let t_is_zero = is_all_zero(out);
        // B5: M' = C2 ⊕ t.
        for (m, c) in out.iter_mut().zip(ciphertext.c2) {
            *m ^= c;
        }
        // B6: u = SM3(x2 ‖ M' ‖ y2) must equal C3.
        let mut sm3 = Sm3::new();
        sm3.update(x2.as_ref());
        sm3.update(&*out);
        sm3.update(y2.as_ref());
        let u: [u8; DIGEST_LEN] = sm3.finalize().into();
        let ok = u.ct_eq(ciphertext.c3) & !t_is_zero;
        if bool::from(ok) {
            // B7: output M'.
            Ok(len)
        } else {
            out.zeroize();
            Err(Sm2Error::Decryption)
        }
    }
}
