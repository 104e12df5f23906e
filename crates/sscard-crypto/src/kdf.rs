//! Key derivation: PBOC/EMV card keys and session keys, and the card's diversification
//! behind the [`KeyScheme`] trait, with the [`EmulationScheme`].
//!
//! # PBOC / EMV (the bank application)
//!
//! * [`emv_option_a`]: card master key from the issuer master key, EMV Option A:
//!   `3DES_IMK(D) ‖ 3DES_IMK(D ⊕ FF…FF)`, D = rightmost 16 digits of PAN ‖ PSN (packed
//!   BCD), odd parity (pboc.md §3.1; reproduces pyemv's published vector).
//! * [`pboc_session_key`]: PBOC 3DES session key
//!   `3DES_MK(000000000000 ‖ ATC) ‖ 3DES_MK(000000000000 ‖ ~ATC)` (pboc.md §3.2).
//! * [`emv_common_session_key`]: EMV common session key (EMV 4.3 Book 2 A1.3.1), as
//!   Visa CVN 18 uses it (reproduces pyemv's published vector).
//! * [`sm4_session_key_hypothesis`]: the SM4 analogue of the PBOC session key —
//!   **unconfirmed \[U\]**, no public source gives it (pboc.md §3.2).
//! * [`arpc_method_1`]: `3DES_SK(ARQC ⊕ (ARC ‖ 00…00))`. The application cryptogram and
//!   the script MAC are [`crate::mac::retail_mac`] over the relevant data.
//!
//! # The social security card's keys
//!
//! The card's diversification and process-key algorithms run inside PSAMs and HSMs and
//! are not public (sscard.md §3.3). [`KeyScheme`] is the seam: [`EmulationScheme`] is a
//! documented scheme modelled on PBOC so that the emulator, the emulated PSAM and
//! software keys agree with each other; a region that has the real algorithm implements
//! [`KeyScheme`] with it. The factors themselves are the real ones: [`DivFactor`]
//! builds the card, city and province factors of sscard.md §3.3, [`DivPath`] orders
//! them as `BF DE` lists them, and [`KeyUsage`] decodes the `BF DE` P1 byte.

use cipher::{BlockCipherEncrypt, KeyInit};

use crate::keys::{adjust_odd_parity, AnyKey, Des3Key, Sm4Key, SymError};
use crate::sm4::Sm4;

// ---------------------------------------------------------------------------------------
// PBOC / EMV
// ---------------------------------------------------------------------------------------

/// Longest PAN (ISO/IEC 7812).
pub const MAX_PAN_DIGITS: usize = 19;

/// The decimal digit values of an ASCII-digit PAN of 1–19 digits.
fn pan_digits(pan: &str) -> Result<impl DoubleEndedIterator<Item = u8> + '_, SymError> {
    if pan.is_empty() || pan.len() > MAX_PAN_DIGITS || !pan.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SymError::InvalidPan);
    }
    Ok(pan.bytes().map(|b| b - b'0'))
}

/// Packs up to 16 digits, right-aligned and left-filled with 0, into 8 BCD bytes.
fn pack_rightmost_16(digits_from_right: impl Iterator<Item = u8>) -> [u8; 8] {
    let mut nibbles = [0u8; 16];
    for (slot, digit) in nibbles.iter_mut().rev().zip(digits_from_right) {
        *slot = digit;
    }
    let mut out = [0u8; 8];
    for (byte, pair) in out.iter_mut().zip(nibbles.chunks_exact(2)) {
        if let [high, low] = *pair {
            *byte = (high << 4) | low;
        }
    }
    out
}

/// `E(x) ‖ E(x ⊕ FF…FF)` with a 3DES key: the PBOC/EMV derivation of a double-length key
/// from 8 bytes.
fn des3_pair(key: &Des3Key, x: [u8; 8]) -> [u8; 16] {
    let cipher = key.cipher();
    let mut left = x.into();
    let mut right = x.map(|b| !b).into();
    cipher.encrypt_block(&mut left);
    cipher.encrypt_block(&mut right);
    concat_halves(&left, &right)
}

/// EMV Option A card (ICC) master key derivation (pboc.md §3.1): D = the rightmost 16
/// digits of PAN ‖ PSN (left-filled with `0`, packed BCD), key = `3DES_IMK(D) ‖
/// 3DES_IMK(D ⊕ FF…FF)` with odd parity.
///
/// `pan` is the PAN as ASCII digits (1–19); `psn` the PAN sequence number (tag 5F34,
/// one BCD byte such as `0x01`), `None` when the card has none (then `00` is used).
///
/// Errors: [`SymError::InvalidPan`] for a PAN that is not 1–19 digits, or a PSN that is
/// not BCD.
pub fn emv_option_a(imk: &Des3Key, pan: &str, psn: Option<u8>) -> Result<Des3Key, SymError> {
    let psn = psn.unwrap_or(0);
    let (psn_high, psn_low) = (psn >> 4, psn & 0x0F);
    if psn_high > 9 || psn_low > 9 {
        return Err(SymError::InvalidPan);
    }
    let digits = pan_digits(pan)?.chain([psn_high, psn_low]);
    let d = pack_rightmost_16(digits.rev());
    let mut key = des3_pair(imk, d);
    adjust_odd_parity(&mut key);
    Ok(Des3Key::from_double(key))
}

/// PBOC 3DES session key (CVN 01; also the script MAC key from MK_SMI), pboc.md §3.2:
/// `3DES_MK(00 00 00 00 00 00 ‖ ATC) ‖ 3DES_MK(00 00 00 00 00 00 ‖ (ATC ⊕ FFFF))`.
/// No parity adjustment (DES ignores the parity bits).
///
/// Source: field code (an e-cash demo) \[S\]; the test vectors are self-computed by the
/// same method, not published.
pub fn pboc_session_key(mk: &Des3Key, atc: u16) -> Des3Key {
    let [a, b] = atc.to_be_bytes();
    let [na, nb] = (!atc).to_be_bytes();
    let cipher = mk.cipher();
    let mut left = [0, 0, 0, 0, 0, 0, a, b].into();
    let mut right = [0, 0, 0, 0, 0, 0, na, nb].into();
    cipher.encrypt_block(&mut left);
    cipher.encrypt_block(&mut right);
    Des3Key::from_double(concat_halves(&left, &right))
}

/// Two 8-byte blocks as one 16-byte key.
fn concat_halves(left: &[u8], right: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (dst, src) in out.iter_mut().zip(left.iter().chain(right.iter())) {
        *dst = *src;
    }
    out
}

/// EMV common session key derivation (EMV 4.3 Book 2 A1.3.1) for a double-length key:
/// `3DES_MK(R0 R1 F0 R3…R7) ‖ 3DES_MK(R0 R1 0F R3…R7)`, with odd parity. `r` is the
/// diversification value (for Visa CVN 18: ATC ‖ 00…00).
pub fn emv_common_session_key(mk: &Des3Key, r: &[u8; 8]) -> Des3Key {
    let cipher = mk.cipher();
    let mut left = *r;
    let mut right = *r;
    if let (Some(l), Some(rr)) = (left.get_mut(2), right.get_mut(2)) {
        *l = 0xF0;
        *rr = 0x0F;
    }
    let mut left = left.into();
    let mut right = right.into();
    cipher.encrypt_block(&mut left);
    cipher.encrypt_block(&mut right);
    let mut key = concat_halves(&left, &right);
    adjust_odd_parity(&mut key);
    Des3Key::from_double(key)
}

/// **Hypothesis \[U\], not a confirmed algorithm**: the SM4 analogue of
/// [`pboc_session_key`], `SM4_MK(000000000000 ‖ ATC ‖ 000000000000 ‖ ~ATC)` (one
/// 16-byte block). No public source gives PBOC's SM4 session-key derivation (pboc.md
/// §3.2, to be confirmed against JR/T 0025.17); the test vector is self-computed.
pub fn sm4_session_key_hypothesis(mk: &Sm4Key, atc: u16) -> Sm4Key {
    let [a, b] = atc.to_be_bytes();
    let [na, nb] = (!atc).to_be_bytes();
    let mut block = [0, 0, 0, 0, 0, 0, a, b, 0, 0, 0, 0, 0, 0, na, nb].into();
    mk.cipher().encrypt_block(&mut block);
    Sm4Key::from_bytes(block.into())
}

/// ARPC method 1 (EMV 4.3 Book 2 A1.2.1; PBOC): `3DES_SK(ARQC ⊕ (ARC ‖ 00…00))`.
pub fn arpc_method_1(sk: &Des3Key, arqc: &[u8; 8], arc: &[u8; 2]) -> [u8; 8] {
    let [c0, c1] = *arc;
    let mut x = *arqc;
    for (byte, mask) in x.iter_mut().zip([c0, c1]) {
        *byte ^= mask;
    }
    let mut block = x.into();
    sk.cipher().encrypt_block(&mut block);
    block.into()
}

// ---------------------------------------------------------------------------------------
// The card's diversification (sscard.md §3.2, §3.3)
// ---------------------------------------------------------------------------------------

/// The key type in the low 5 bits of the PSAM key usage byte (sscard.md §3.2, one
/// source \[S\]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyType {
    /// 0: master key.
    Master,
    /// 1: maintenance key.
    Maintenance,
    /// 2: purchase key.
    Purchase,
    /// 3: PIN unblock key.
    PinUnblock,
    /// 4: PIN reload key.
    PinReload,
    /// 5: user-card application maintenance key.
    AppMaintenance,
    /// 6: MAC key.
    Mac,
    /// 7: encryption key.
    Encryption,
    /// 8: MAC and encryption key.
    MacEncryption,
    /// Any other value (issuance tools also use 9 and 12).
    Other(u8),
}

/// The PSAM key usage byte, P1 of `BF DE` (sscard.md §3.2): the high 3 bits give the
/// number of diversification levels (1–3), the low 5 bits the key type. Examples: `27`
/// (1 level, encryption), `48` (2 levels, MAC+encryption), `67` (3 levels).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyUsage(pub u8);

impl KeyUsage {
    /// Number of diversification levels (the high 3 bits; valid values are 1–3).
    pub const fn levels(self) -> u8 {
        self.0 >> 5
    }

    /// The key type (the low 5 bits).
    pub const fn key_type(self) -> KeyType {
        match self.0 & 0x1F {
            0 => KeyType::Master,
            1 => KeyType::Maintenance,
            2 => KeyType::Purchase,
            3 => KeyType::PinUnblock,
            4 => KeyType::PinReload,
            5 => KeyType::AppMaintenance,
            6 => KeyType::Mac,
            7 => KeyType::Encryption,
            8 => KeyType::MacEncryption,
            other => KeyType::Other(other),
        }
    }
}

/// One 8-byte diversification factor (sscard.md §3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DivFactor(pub [u8; 8]);

impl DivFactor {
    /// The card factor: the last 8 bytes of the card's ATR.
    ///
    /// Errors: [`SymError::InvalidDiversificationInput`] for an ATR shorter than 8 bytes.
    pub fn card(atr: &[u8]) -> Result<Self, SymError> {
        atr.last_chunk::<8>()
            .map(|last| Self(*last))
            .ok_or(SymError::InvalidDiversificationInput)
    }

    /// The city factor: ASCII of the first 6 characters of the card identification code
    /// (卡识别码, whose first 6 characters are the city's region code) ‖ `73 78` ("sx").
    /// `code` may be the whole identification code or just the 6-digit region code.
    ///
    /// Errors: [`SymError::InvalidDiversificationInput`] unless the first 6 characters
    /// are ASCII digits.
    pub fn city(code: &str) -> Result<Self, SymError> {
        let [a, b, c, d, e, f] = leading_digits::<6>(code)?;
        Ok(Self([a, b, c, d, e, f, b's', b'x']))
    }

    /// The province factor: ASCII of the first 2 characters of the card identification
    /// code ‖ `30 30 30 30` ‖ `73 68` ("sh").
    ///
    /// Errors: [`SymError::InvalidDiversificationInput`] unless the first 2 characters
    /// are ASCII digits.
    pub fn province(code: &str) -> Result<Self, SymError> {
        let [a, b] = leading_digits::<2>(code)?;
        Ok(Self([a, b, b'0', b'0', b'0', b'0', b's', b'h']))
    }

    /// The factor's bytes.
    pub const fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }

    /// The bitwise complement ~F.
    pub const fn complement(&self) -> [u8; 8] {
        let [a, b, c, d, e, f, g, h] = self.0;
        [!a, !b, !c, !d, !e, !f, !g, !h]
    }
}

/// The first `N` bytes of `code`, which must be ASCII digits.
fn leading_digits<const N: usize>(code: &str) -> Result<[u8; N], SymError> {
    code.as_bytes()
        .first_chunk::<N>()
        .filter(|digits| digits.iter().all(u8::is_ascii_digit))
        .copied()
        .ok_or(SymError::InvalidDiversificationInput)
}

/// The diversification factors of one `BF DE`, 1–3 levels, **in the order `BF DE` lists
/// them**: card first, then city, then province (sscard.md §3.3).
///
/// Which factor is applied first is not stated anywhere. [`KeyScheme::diversify`]
/// applies them from the last listed to the first: province (if present), then city,
/// then card, i.e. from the highest level of the key hierarchy down to the card. That is
/// the order under which a city centre holding its city key (1 level: the card factor
/// only) and a province holding its key (2 levels: card and city) derive the same card
/// key, which the level counts of sscard.md §3.2 and the HSM "city / province
/// centralised" modes (§6.2) imply. **Unconfirmed \[U\]**.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DivPath {
    factors: [DivFactor; 3],
    levels: u8,
}

impl DivPath {
    const ZERO: DivFactor = DivFactor([0; 8]);

    /// One level: the card factor (the PSAM holds the city-level key).
    pub const fn card(card: DivFactor) -> Self {
        Self {
            factors: [card, Self::ZERO, Self::ZERO],
            levels: 1,
        }
    }

    /// Two levels: card, city (the PSAM holds the province-level key).
    pub const fn card_city(card: DivFactor, city: DivFactor) -> Self {
        Self {
            factors: [card, city, Self::ZERO],
            levels: 2,
        }
    }

    /// Three levels: card, city, province (the PSAM holds the top-level key).
    pub const fn card_city_province(card: DivFactor, city: DivFactor, province: DivFactor) -> Self {
        Self {
            factors: [card, city, province],
            levels: 3,
        }
    }

    /// The path for `levels` (1–3) from the card's ATR and its identification code (or
    /// region code), as a terminal builds the `BF DE` data.
    ///
    /// Errors: [`SymError::InvalidDiversificationInput`].
    pub fn from_card(atr: &[u8], identification_code: &str, levels: u8) -> Result<Self, SymError> {
        let card = DivFactor::card(atr)?;
        match levels {
            1 => Ok(Self::card(card)),
            2 => Ok(Self::card_city(card, DivFactor::city(identification_code)?)),
            3 => Ok(Self::card_city_province(
                card,
                DivFactor::city(identification_code)?,
                DivFactor::province(identification_code)?,
            )),
            _ => Err(SymError::InvalidDiversificationInput),
        }
    }

    /// The path from the factor bytes of a `BF DE` command (8, 16 or 24 bytes, without
    /// the process factor), as an emulated PSAM parses them.
    ///
    /// Errors: [`SymError::InvalidDiversificationInput`] for any other length.
    pub fn from_factor_bytes(bytes: &[u8]) -> Result<Self, SymError> {
        let factor = |index: usize| {
            bytes
                .get(index * 8..index * 8 + 8)
                .and_then(|chunk| <[u8; 8]>::try_from(chunk).ok())
                .map(DivFactor)
                .ok_or(SymError::InvalidDiversificationInput)
        };
        match bytes.len() {
            8 => Ok(Self::card(factor(0)?)),
            16 => Ok(Self::card_city(factor(0)?, factor(1)?)),
            24 => Ok(Self::card_city_province(factor(0)?, factor(1)?, factor(2)?)),
            _ => Err(SymError::InvalidDiversificationInput),
        }
    }

    /// Number of levels (1–3).
    pub const fn levels(&self) -> u8 {
        self.levels
    }

    /// The factors in `BF DE` order (card first).
    pub fn factors(&self) -> &[DivFactor] {
        self.factors
            .get(..usize::from(self.levels))
            .unwrap_or(&self.factors)
    }

    /// Writes the factors in `BF DE` order to the front of `out`; returns the number of
    /// bytes (8 per level).
    ///
    /// Errors: [`SymError::BufferTooSmall`].
    pub fn write_factor_bytes(&self, out: &mut [u8]) -> Result<usize, SymError> {
        let needed = self.factors().len() * 8;
        let out = out
            .get_mut(..needed)
            .ok_or(SymError::BufferTooSmall { needed })?;
        for (chunk, factor) in out.chunks_exact_mut(8).zip(self.factors()) {
            chunk.copy_from_slice(factor.as_bytes());
        }
        Ok(needed)
    }
}

/// The card's key diversification and process (session) key derivation: the seam where
/// a region's real algorithm plugs in. [`EmulationScheme`] is the documented stand-in.
pub trait KeyScheme {
    /// One diversification step: the child of `parent` for `factor`, same algorithm.
    fn diversify_once(&self, parent: &AnyKey, factor: &DivFactor) -> Result<AnyKey, SymError>;

    /// The card key under `master` for `path`. By default one [`diversify_once`] per
    /// factor, from the last listed (the highest level) down to the card factor (see
    /// [`DivPath`] for why this order).
    ///
    /// [`diversify_once`]: KeyScheme::diversify_once
    fn diversify(&self, master: &AnyKey, path: &DivPath) -> Result<AnyKey, SymError> {
        let mut factors = path.factors().iter().rev();
        let first = factors
            .next()
            .ok_or(SymError::InvalidDiversificationInput)?;
        let mut key = self.diversify_once(master, first)?;
        for factor in factors {
            key = self.diversify_once(&key, factor)?;
        }
        Ok(key)
    }

    /// The process key for one card challenge (the `BF DE` process factor: 8 bytes for
    /// 3DES; for SM4 the PSAM receives the challenge ‖ 8 zero bytes, sscard.md §3.3).
    fn process_key(&self, card_key: &AnyKey, challenge: &[u8; 8]) -> Result<AnyKey, SymError>;
}

/// The **emulation** key scheme of sscard (DESIGN.md, "Emulation key scheme").
///
/// **This is NOT the real card algorithm.** The real diversification and process-key
/// algorithms of the social security card run inside PSAMs and HSMs and are not public
/// (sscard.md §3.3). The emulator, the emulated PSAM and software keys use this scheme,
/// modelled on PBOC, so that they agree with one another; real cards with real PSAMs
/// never depend on it, and an emulated card keyed with it will not authenticate against
/// a real PSAM (nor a real card against an emulated PSAM).
///
/// * Diversification step, 3DES parent K: `child = 3DES_K(F) ‖ 3DES_K(~F)` (a
///   double-length key, no parity adjustment).
/// * Diversification step, SM4 parent K: `child = SM4_K(F ‖ ~F)` (one block).
/// * Factors are applied province → city → card (see [`DivPath`]).
/// * Process key, 3DES card key K and challenge R (8 bytes):
///   `3DES_K(R) ‖ 3DES_K(~R)` (a double-length 3DES key). PBOC's electronic purse uses
///   a single-DES session key instead; the double-length form keeps every emulated key
///   3DES.
/// * Process key, SM4 card key K: `SM4_K(R ‖ 00×8)` (the 16-byte SM4 process factor of
///   sscard.md §3.3).
///
/// ```
/// use sscard_crypto::kdf::{DivPath, EmulationScheme, KeyScheme};
/// use sscard_crypto::keys::{AnyKey, Sm4Key};
///
/// # fn main() -> Result<(), sscard_crypto::keys::SymError> {
/// let atr = [0x3B, 0x6C, 0x00, 0x00, 0x86, 0x60, 0x33, 0x11, 0x00, 0x00, 0x04, 0x8A];
/// let path = DivPath::from_card(&atr, "331100D156000005500509728DB46EF9", 2)?;
/// let master = AnyKey::Sm4(Sm4Key::from_bytes([0x42; 16])); // the province-level key
/// let card_key = EmulationScheme.diversify(&master, &path)?;
/// let process = EmulationScheme.process_key(&card_key, &[1, 2, 3, 4, 5, 6, 7, 8])?;
/// let mut block = [0x11; 16];
/// process.ecb_encrypt(&mut block)?; // the PSAM's `80 FA 00 00 10`
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmulationScheme;

impl EmulationScheme {
    /// `E_K(x) ‖ E_K(~x)` for 3DES, `SM4_K(x ‖ ~x)` for SM4.
    fn child(parent: &AnyKey, x: &[u8; 8]) -> AnyKey {
        match parent {
            AnyKey::Des3(key) => AnyKey::Des3(Des3Key::from_double(des3_pair(key, *x))),
            AnyKey::Sm4(key) => {
                let [a, b, c, d, e, f, g, h] = *x;
                let block = [a, b, c, d, e, f, g, h, !a, !b, !c, !d, !e, !f, !g, !h];
                AnyKey::Sm4(sm4_block(key, block))
            }
        }
    }
}

/// `SM4_K(block)` as a new SM4 key.
fn sm4_block(key: &Sm4Key, block: [u8; 16]) -> Sm4Key {
    let mut block = block.into();
    Sm4::new(key.as_bytes().into()).encrypt_block(&mut block);
    Sm4Key::from_bytes(block.into())
}

impl KeyScheme for EmulationScheme {
    fn diversify_once(&self, parent: &AnyKey, factor: &DivFactor) -> Result<AnyKey, SymError> {
        Ok(Self::child(parent, factor.as_bytes()))
    }

    fn process_key(&self, card_key: &AnyKey, challenge: &[u8; 8]) -> Result<AnyKey, SymError> {
        match card_key {
            AnyKey::Des3(_) => Ok(Self::child(card_key, challenge)),
            AnyKey::Sm4(key) => {
                let [a, b, c, d, e, f, g, h] = *challenge;
                let block = [a, b, c, d, e, f, g, h, 0, 0, 0, 0, 0, 0, 0, 0];
                Ok(AnyKey::Sm4(sm4_block(key, block)))
            }
        }
    }
}
