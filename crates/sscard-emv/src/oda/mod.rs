//! Offline data authentication (spec/pboc.md §1.4): the certificate chain CA → issuer →
//! ICC, static data authentication (SDA), dynamic data authentication (DDA) and the
//! combined DDA/AC generation (CDA), for both algorithm families of PBOC 3.0:
//!
//! * **RSA**, EMV-compatible, with message recovery (EMV Book 2 §5–6, pboc.md §1.4.1):
//!   [`rsa`].
//! * **SM2**, PBOC part 17, no recovery: plain data followed by a 64-byte `r ‖ s`
//!   signature over `SM3(Z_A ‖ M)` (pboc.md §1.4.3): [`sm2`].
//!
//! Both directions live here, so the terminal kernel (`sscard-pboc`, verify) and the card
//! side (`sscard-emu`, issuance: build and sign) share one definition of every layout.
//! `testpki` (feature `rsa-sign`) generates a deterministic TEST PKI for emulated cards.
//! The RSA public operation is [`modexp`], this crate's own; the `rsa` crate is only
//! used, behind `rsa-sign`, for key generation and signing.
//!
//! The kernel-facing entry points are the free functions of this module:
//! [`recover_issuer_key`], [`verify_sda`], [`recover_icc_key`], [`verify_dda`],
//! [`verify_cda`] and [`cda_transaction_hash`] (which the card calls too). They choose
//! the family from the CA public key ([`crate::capk::CapkKey`]). The transaction date is
//! always a parameter: the library has no clock.
//!
//! ```
//! use sscard_apdu::hex;
//! use sscard_emv::capk::{CapkStore, RID_UNIONPAY};
//! use sscard_emv::oda::testpki::{generate, TestPkiParams};
//! use sscard_emv::oda::{append_oda_record, recover_icc_key, verify_dda, verify_sda};
//! use sscard_emv::oda::{CardObjects, Date, OdaError};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A TEST ONLY card and its test CA (SM2 index F1).
//! let pki = generate(&TestPkiParams::EMULATED_CARD)?;
//! let mut capks = CapkStore::unionpay()?;
//! capks.add(pki.sm2.capk.to_capk()?)?;
//!
//! // The kernel: records read through the AFL, then the certificates.
//! let mut record = vec![0x70, 0x1B];
//! record.extend(hex::to_vec(&pki.static_data)?);
//! let mut static_data = Vec::new();
//! append_oda_record(&mut static_data, 3, &record)?;
//! let (pan, i90, c9f46, s93) = (
//!     hex::to_vec(&pki.pan)?,
//!     hex::to_vec(&pki.sm2.issuer_cert_90)?,
//!     hex::to_vec(&pki.sm2.icc_cert_9f46)?,
//!     hex::to_vec(&pki.sm2.ssad_93)?,
//! );
//! let objects = CardObjects {
//!     pan: Some(&pan),
//!     ca_index: Some(0xF1),
//!     issuer_cert: Some(&i90),
//!     icc_cert: Some(&c9f46),
//!     ssad: Some(&s93),
//!     ..CardObjects::default()
//! };
//! let capk = capks.get(RID_UNIONPAY, 0xF1)?;
//! let today = Date::from_9a([0x26, 0x11, 0x22])?;
//! assert_eq!(verify_sda(capk, &static_data, &objects, today)?.dac, [0xDA, 0xC1]);
//!
//! // DDA: the card signs the DDOL data with its ICC key; the terminal checks it.
//! let icc_key = recover_icc_key(capk, &static_data, &objects, today)?;
//! let ddol_data = [0x12, 0x34, 0x56, 0x78];
//! let sdad = sscard_emv::oda::sm2::sign_dynamic(
//!     &pki.sm2_icc_key()?,
//!     &[0x02, 0xAB, 0xCD],
//!     &ddol_data,
//!     &sscard_emv::oda::sm2::Sm2Profile::PBOC,
//! )?;
//! assert_eq!(verify_dda(&icc_key, &sdad, &ddol_data)?.icc_dynamic_number, [0xAB, 0xCD]);
//! assert_eq!(verify_dda(&icc_key, &sdad, &[0; 4]), Err(OdaError::BadSignature));
//! # Ok(())
//! # }
//! ```
//!
//! \[U\] items (configurable, labelled where they are used): the SM2 certificate
//! indicator bytes ([`sm2::Sm2Profile`]), the SM2 signed dynamic data layout (ours,
//! [`sm2::sign_dynamic`]) and the SM2 CDA transaction-data hash (SM3, ours).

pub mod modexp;
pub mod rsa;
pub mod sm2;
#[cfg(feature = "rsa-sign")]
pub mod testpki;

use alloc::vec::Vec;
use core::fmt;

use sscard_apdu::tlv::ber;

use crate::capk::{Capk, CapkKey};

/// Why offline data authentication failed. Every variant names one check of EMV Book 2
/// §5–6 or PBOC part 17, so a kernel can set the right TVR bit and a test can tell the
/// failures apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OdaError {
    /// No CA public key for this RID and index.
    UnknownCapk {
        /// The registered application provider identifier.
        rid: [u8; 5],
        /// The CA public key index (tag 8F).
        index: u8,
    },
    /// A CA public key whose SHA-1 checksum does not match its data.
    CapkChecksum,
    /// The CA public key is of the other family than the certificate asks for.
    WrongFamily,
    /// A certificate or signature whose length is not the one its key requires.
    BadCertLength {
        /// The length the key or layout requires.
        expected: usize,
        /// The length received.
        actual: usize,
    },
    /// The recovered data does not start with `6A` (RSA recovery).
    BadHeader {
        /// The byte found.
        actual: u8,
    },
    /// The recovered data does not end with `BC` (RSA recovery).
    BadTrailer {
        /// The byte found.
        actual: u8,
    },
    /// The certificate or signed-data format byte is not the expected one
    /// (`02`/`04`/`03`/`05` RSA, `12`/`14`/`13`/`15` SM2).
    BadFormat {
        /// The format this object must have.
        expected: u8,
        /// The byte found.
        actual: u8,
    },
    /// The hash in the recovered data does not match the recomputed one (RSA).
    HashMismatch,
    /// An SM2 signature that does not verify (wrong data, key or distinguishing ID).
    BadSignature,
    /// The issuer identifier of the issuer certificate does not match the PAN.
    IssuerIdMismatch,
    /// The PAN in the ICC certificate does not match tag `5A`.
    PanMismatch,
    /// The certificate expired before the transaction date.
    Expired {
        /// The certificate expiry date, `MMYY` in BCD.
        expiry: [u8; 2],
    },
    /// A date field that is not valid BCD (certificate expiry or transaction date).
    BadDate,
    /// The key modulus needs a remainder (tag 92 or 9F48) that the card did not give.
    MissingRemainder,
    /// A remainder whose length does not complete the key modulus.
    BadRemainder {
        /// The remainder length the certificate announces.
        expected: usize,
        /// The remainder length received.
        actual: usize,
    },
    /// A hash or public-key algorithm indicator that is not supported.
    BadAlgorithm {
        /// The indicator found.
        actual: u8,
    },
    /// The signed data announces lengths that do not fit in it.
    Malformed,
    /// A mandatory data object is missing.
    MissingData {
        /// Its tag.
        tag: u32,
    },
    /// A public key that cannot be used (RSA modulus even, too short or too long; SM2
    /// point not on the curve; exponent out of range).
    BadKey,
    /// The cryptogram information data in the signed dynamic data does not match the one
    /// in the GENERATE AC response (CDA).
    CidMismatch,
    /// The transaction data hash in the signed dynamic data does not match the
    /// recomputed one (CDA).
    TransactionHashMismatch,
    /// The ICC dynamic data has a length outside what the layout allows.
    BadDynamicData,
    /// The private-key operation failed (signing side).
    SigningFailed,
    /// Key generation failed (signing side).
    KeyGeneration,
    /// A field given to a builder has a length or value the layout cannot carry.
    BadField,
    /// A record for offline data authentication in SFI 1–10 that is not exactly one
    /// `70` template, or a record from an SFI outside 1–30.
    BadOdaRecord {
        /// The record's SFI.
        sfi: u8,
    },
    /// A static data authentication tag list (9F4A) other than empty or `82` (AIP).
    BadSdaTagList,
}

impl fmt::Display for OdaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownCapk { rid, index } => {
                f.write_str("no CA public key for RID ")?;
                for b in rid {
                    write!(f, "{b:02X}")?;
                }
                write!(f, " index {index:02X}")
            }
            Self::CapkChecksum => f.write_str("CA public key checksum mismatch"),
            Self::WrongFamily => f.write_str("key of the other algorithm family"),
            Self::BadCertLength { expected, actual } => {
                write!(
                    f,
                    "certificate is {actual} bytes, the key requires {expected}"
                )
            }
            Self::BadHeader { actual } => write!(f, "recovered data header {actual:02X}, not 6A"),
            Self::BadTrailer { actual } => {
                write!(f, "recovered data trailer {actual:02X}, not BC")
            }
            Self::BadFormat { expected, actual } => {
                write!(f, "format {actual:02X}, expected {expected:02X}")
            }
            Self::HashMismatch => f.write_str("hash of the certificate data does not match"),
            Self::BadSignature => f.write_str("SM2 signature does not verify"),
            Self::IssuerIdMismatch => f.write_str("issuer identifier does not match the PAN"),
            Self::PanMismatch => f.write_str("certificate PAN does not match the card's PAN"),
            Self::Expired { expiry } => {
                let [mm, yy] = expiry;
                write!(f, "certificate expired (MMYY {mm:02X}{yy:02X})")
            }
            Self::BadDate => f.write_str("date is not valid BCD"),
            Self::MissingRemainder => f.write_str("public key remainder missing"),
            Self::BadRemainder { expected, actual } => {
                write!(
                    f,
                    "public key remainder is {actual} bytes, expected {expected}"
                )
            }
            Self::BadAlgorithm { actual } => {
                write!(f, "unsupported algorithm indicator {actual:02X}")
            }
            Self::Malformed => f.write_str("signed data lengths are inconsistent"),
            Self::MissingData { tag } => write!(f, "data object {tag:X} missing"),
            Self::BadKey => f.write_str("unusable public key"),
            Self::CidMismatch => f.write_str("CID in the signed data differs from the response"),
            Self::TransactionHashMismatch => f.write_str("CDA transaction data hash mismatch"),
            Self::BadDynamicData => f.write_str("ICC dynamic data has a bad length"),
            Self::SigningFailed => f.write_str("private key operation failed"),
            Self::KeyGeneration => f.write_str("key generation failed"),
            Self::BadField => f.write_str("field does not fit the certificate layout"),
            Self::BadOdaRecord { sfi } => {
                write!(
                    f,
                    "record of SFI {sfi} cannot be used for offline data authentication"
                )
            }
            Self::BadSdaTagList => f.write_str("SDA tag list other than 82"),
        }
    }
}

impl core::error::Error for OdaError {}

/// A `Result` with [`OdaError`].
pub type Result<T> = core::result::Result<T, OdaError>;

/// A transaction date (tag 9A, `YYMMDD` in BCD), given by the caller: the library has
/// no clock. Years `00`–`49` are 20YY, `50`–`99` 19YY (EMV Book 3 §5.4 convention for
/// 2-digit years).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// The full year, e.g. 2026.
    pub year: u16,
    /// The month, 1–12.
    pub month: u8,
    /// The day, 1–31.
    pub day: u8,
}

fn bcd(byte: u8) -> Option<u8> {
    let (hi, lo) = (byte >> 4, byte & 0x0F);
    (hi <= 9 && lo <= 9).then_some(hi * 10 + lo)
}

fn full_year(yy: u8) -> u16 {
    if yy < 50 {
        2000 + u16::from(yy)
    } else {
        1900 + u16::from(yy)
    }
}

impl Date {
    /// From tag 9A (`YYMMDD`, BCD).
    pub fn from_9a(bytes: [u8; 3]) -> Result<Self> {
        let [yy, mm, dd] = bytes;
        let (yy, month, day) = (
            bcd(yy).ok_or(OdaError::BadDate)?,
            bcd(mm).ok_or(OdaError::BadDate)?,
            bcd(dd).ok_or(OdaError::BadDate)?,
        );
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return Err(OdaError::BadDate);
        }
        Ok(Self {
            year: full_year(yy),
            month,
            day,
        })
    }

    /// Fails with [`OdaError::Expired`] when a certificate expiry `MMYY` (BCD; valid
    /// through the last day of that month) lies before this date.
    pub fn check_expiry(self, expiry: [u8; 2]) -> Result<()> {
        let [mm, yy] = expiry;
        let month = bcd(mm).ok_or(OdaError::BadDate)?;
        let yy = bcd(yy).ok_or(OdaError::BadDate)?;
        if !(1..=12).contains(&month) {
            return Err(OdaError::BadDate);
        }
        if (full_year(yy), month) < (self.year, self.month) {
            Err(OdaError::Expired { expiry })
        } else {
            Ok(())
        }
    }
}

/// The decimal digits of a BCD number padded with `F` on the right (PAN 5A, issuer
/// identifier, certificate PAN); `None` when a non-digit nibble precedes the padding or
/// a digit follows it.
fn bcd_digits(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut digits = Vec::with_capacity(bytes.len() * 2);
    let mut padded = false;
    for nibble in bytes.iter().flat_map(|b| [b >> 4, b & 0x0F]) {
        match (nibble, padded) {
            (0..=9, false) => digits.push(nibble),
            (0x0F, _) => padded = true,
            _ => return None,
        }
    }
    Some(digits)
}

/// EMV Book 2 §5.3 step 10: the issuer identifier (3–8 digits, `F`-padded) equals the
/// leftmost digits of the PAN.
pub fn issuer_id_matches(issuer_id: &[u8; 4], pan: &[u8]) -> bool {
    match (bcd_digits(issuer_id), bcd_digits(pan)) {
        (Some(id), Some(pan)) => id.len() >= 3 && pan.starts_with(&id),
        _ => false,
    }
}

/// EMV Book 2 §6.4 step 8: the certificate's `F`-padded PAN equals tag 5A.
pub fn pan_matches(cert_pan: &[u8], pan: &[u8]) -> bool {
    match (bcd_digits(cert_pan), bcd_digits(pan)) {
        (Some(a), Some(b)) => !a.is_empty() && a == b,
        _ => false,
    }
}

/// Writes `pan` digits into `N` bytes padded with `F` (issuer identifier, certificate PAN).
pub fn pad_pan<const N: usize>(pan: &[u8], digits: usize) -> Result<[u8; N]> {
    let all = bcd_digits(pan).ok_or(OdaError::BadField)?;
    let digits = all.get(..digits.min(all.len())).ok_or(OdaError::BadField)?;
    if digits.len() > N * 2 {
        return Err(OdaError::BadField);
    }
    let mut out = [0xFF; N];
    for (i, d) in digits.iter().enumerate() {
        let byte = out.get_mut(i / 2).ok_or(OdaError::BadField)?;
        *byte = if i % 2 == 0 {
            (d << 4) | 0x0F
        } else {
            (*byte & 0xF0) | d
        };
    }
    Ok(out)
}

/// Reads `N` bytes at `at`.
pub(crate) fn array_at<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N]> {
    bytes
        .get(at..at.checked_add(N).ok_or(OdaError::Malformed)?)
        .and_then(|s| s.try_into().ok())
        .ok_or(OdaError::Malformed)
}

/// The byte at `at`.
pub(crate) fn byte_at(bytes: &[u8], at: usize) -> Result<u8> {
    bytes.get(at).copied().ok_or(OdaError::Malformed)
}

/// Appends one record read for offline data authentication to the static data to
/// authenticate (EMV Book 3 §10.3, pboc.md §1.3): for SFI 1–10 the value of its `70`
/// template (anything else fails ODA), for SFI 11–30 the whole record as read. The card
/// side calls it over its AFL to sign, the terminal to verify.
pub fn append_oda_record(static_data: &mut Vec<u8>, sfi: u8, record: &[u8]) -> Result<()> {
    match sfi {
        1..=10 => match ber::parse(record) {
            Ok((tlv, [])) if tlv.tag == 0x70 => {
                static_data.extend_from_slice(tlv.value);
                Ok(())
            }
            _ => Err(OdaError::BadOdaRecord { sfi }),
        },
        11..=30 => {
            static_data.extend_from_slice(record);
            Ok(())
        }
        _ => Err(OdaError::BadOdaRecord { sfi }),
    }
}

/// Appends the values the static data authentication tag list (9F4A) names: EMV allows
/// only `82`, the AIP (EMV Book 3 §10.3); an empty list adds nothing.
pub fn append_sda_tag_list(static_data: &mut Vec<u8>, tag_list: &[u8], aip: [u8; 2]) -> Result<()> {
    match tag_list {
        [] => Ok(()),
        [0x82] => {
            static_data.extend_from_slice(&aip);
            Ok(())
        }
        _ => Err(OdaError::BadSdaTagList),
    }
}

/// The data objects of a card that offline data authentication reads (from the AFL
/// records and, for DDA/CDA, the responses). Borrowed values, no tags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CardObjects<'a> {
    /// 5A, application PAN.
    pub pan: Option<&'a [u8]>,
    /// 8F, CA public key index.
    pub ca_index: Option<u8>,
    /// 90, issuer public key certificate.
    pub issuer_cert: Option<&'a [u8]>,
    /// 92, issuer public key remainder.
    pub issuer_remainder: Option<&'a [u8]>,
    /// 9F32, issuer public key exponent.
    pub issuer_exponent: Option<&'a [u8]>,
    /// 9F46, ICC public key certificate.
    pub icc_cert: Option<&'a [u8]>,
    /// 9F48, ICC public key remainder.
    pub icc_remainder: Option<&'a [u8]>,
    /// 9F47, ICC public key exponent.
    pub icc_exponent: Option<&'a [u8]>,
    /// 93, signed static application data.
    pub ssad: Option<&'a [u8]>,
}

impl<'a> CardObjects<'a> {
    /// Collects the objects from concatenated BER-TLV data (record templates `70` are
    /// searched too). The first occurrence of a tag wins.
    pub fn from_tlv(data: &'a [u8]) -> Self {
        let find = |tag: u32| ber::find(data, tag).ok().flatten();
        Self {
            pan: find(0x5A),
            ca_index: find(0x8F).and_then(|v| match v {
                [i] => Some(*i),
                _ => None,
            }),
            issuer_cert: find(0x90),
            issuer_remainder: find(0x92),
            issuer_exponent: find(0x9F32),
            icc_cert: find(0x9F46),
            icc_remainder: find(0x9F48),
            icc_exponent: find(0x9F47),
            ssad: find(0x93),
        }
    }

    fn need<T>(value: Option<T>, tag: u32) -> Result<T> {
        value.ok_or(OdaError::MissingData { tag })
    }
}

/// An issuer public key recovered from, or verified in, tag 90.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IssuerPublicKey {
    /// RSA (EMV recovery).
    Rsa(rsa::RsaPublicKey),
    /// SM2 (PBOC part 17).
    Sm2(sscard_crypto::sm2::PublicKey),
}

/// An ICC public key recovered from, or verified in, tag 9F46.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IccPublicKey {
    /// RSA (EMV recovery).
    Rsa(rsa::RsaPublicKey),
    /// SM2 (PBOC part 17).
    Sm2(sscard_crypto::sm2::PublicKey),
}

/// The outcome of a successful SDA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdaResult {
    /// The data authentication code, to store as tag 9F45.
    pub dac: [u8; 2],
}

/// The outcome of a successful DDA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DdaResult {
    /// The ICC dynamic number (tag 9F4C), 2–8 bytes.
    pub icc_dynamic_number: Vec<u8>,
    /// The whole ICC dynamic data (starting with the length of the dynamic number).
    pub icc_dynamic_data: Vec<u8>,
}

/// The outcome of a successful CDA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CdaResult {
    /// The ICC dynamic number (tag 9F4C), 2–8 bytes.
    pub icc_dynamic_number: Vec<u8>,
    /// The cryptogram information data signed by the card.
    pub cid: u8,
    /// The application cryptogram signed by the card (8 bytes, tag 9F26).
    pub ac: [u8; 8],
}

/// The hash algorithm of the transaction data hash in CDA: SHA-1 for RSA (EMV Book 2
/// §6.6), SM3 for the SM2 family (\[U\]: ours, no public PBOC part 17 text found).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlg {
    /// SHA-1, 20 bytes (indicator `01`).
    Sha1,
    /// SM3, 32 bytes (\[U\] for CDA).
    Sm3,
}

impl HashAlg {
    /// The digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sm3 => 32,
        }
    }

    /// The digest over the concatenation of `parts`.
    pub fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        match self {
            Self::Sha1 => rsa::sha1(parts).to_vec(),
            Self::Sm3 => sscard_crypto::sm3::sm3_parts(parts).to_vec(),
        }
    }
}

/// The CDA transaction data hash (EMV Book 2 §6.6.1): the hash over the PDOL data, the
/// CDOL1 data, the CDOL2 data (second GENERATE AC only) and the TLVs of the GENERATE AC
/// response template `77` except the signed dynamic data `9F4B`, in the order received.
/// `response` is the value of template 77 (or the whole response including `77`, which
/// is unwrapped). The card calls it before signing, the terminal before comparing.
pub fn cda_transaction_hash(
    alg: HashAlg,
    pdol_data: &[u8],
    cdol1_data: &[u8],
    cdol2_data: Option<&[u8]>,
    response: &[u8],
) -> Result<Vec<u8>> {
    let body = match ber::parse(response) {
        Ok((tlv, rest)) if tlv.tag == 0x77 && rest.is_empty() => tlv.value,
        _ => response,
    };
    let mut kept: Vec<u8> = Vec::with_capacity(body.len());
    let mut rest = body;
    while !rest.is_empty() {
        let (tlv, after) = ber::parse(rest).map_err(|_| OdaError::Malformed)?;
        let raw = rest
            .get(..rest.len() - after.len())
            .ok_or(OdaError::Malformed)?;
        if tlv.tag != 0x9F4B {
            kept.extend_from_slice(raw);
        }
        rest = after;
    }
    Ok(alg.digest(&[pdol_data, cdol1_data, cdol2_data.unwrap_or_default(), &kept]))
}

/// The ICC dynamic data of CDA (EMV Book 2 table 19): `len ‖ ICC dynamic number ‖ CID ‖
/// AC ‖ transaction data hash`. The card builds it; [`verify_cda`] splits it.
pub fn cda_icc_dynamic_data(
    icc_dynamic_number: &[u8],
    cid: u8,
    ac: &[u8; 8],
    transaction_hash: &[u8],
) -> Result<Vec<u8>> {
    let n = u8::try_from(icc_dynamic_number.len()).map_err(|_| OdaError::BadField)?;
    if !(2..=8).contains(&n) {
        return Err(OdaError::BadField);
    }
    let mut out = Vec::with_capacity(1 + icc_dynamic_number.len() + 9 + transaction_hash.len());
    out.push(n);
    out.extend_from_slice(icc_dynamic_number);
    out.push(cid);
    out.extend_from_slice(ac);
    out.extend_from_slice(transaction_hash);
    Ok(out)
}

/// Splits ICC dynamic data into its leading `len ‖ ICC dynamic number` and the rest.
pub fn split_icc_dynamic_data(data: &[u8]) -> Result<(&[u8], &[u8])> {
    let (&n, rest) = data.split_first().ok_or(OdaError::BadDynamicData)?;
    if !(2..=8).contains(&n) {
        return Err(OdaError::BadDynamicData);
    }
    rest.split_at_checked(usize::from(n))
        .ok_or(OdaError::BadDynamicData)
}

fn capk_index(capk: &Capk, objects: &CardObjects<'_>) -> Result<()> {
    match objects.ca_index {
        Some(i) if i != capk.index => Err(OdaError::UnknownCapk {
            rid: capk.rid,
            index: i,
        }),
        _ => Ok(()),
    }
}

/// What the issuer certificate (90) says, whichever the family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerCertificate {
    /// The certified issuer public key.
    pub key: IssuerPublicKey,
    /// Issuer identifier, `F`-padded.
    pub issuer_id: [u8; 4],
    /// Expiry `MMYY`.
    pub expiry: [u8; 2],
    /// Certificate serial number: the kernel checks RID ‖ CA index ‖ serial against its
    /// certificate revocation list (EMV Book 2 §5.3 step 11); the library has none.
    pub serial: [u8; 3],
}

/// Recovers (RSA) or verifies (SM2) the issuer public key from tag 90 under `capk`.
/// Checks the CA index 8F against `capk` when the card gave one. The family follows the
/// CAPK; SM2 uses [`sm2::Sm2Profile::PBOC`]. CAPK expiry is the store's business
/// ([`Capk::is_expired`]).
pub fn recover_issuer_key(
    capk: &Capk,
    objects: &CardObjects<'_>,
    date: Date,
) -> Result<IssuerCertificate> {
    capk_index(capk, objects)?;
    let pan = CardObjects::need(objects.pan, 0x5A)?;
    let cert = CardObjects::need(objects.issuer_cert, 0x90)?;
    match &capk.key {
        CapkKey::Rsa { modulus, exponent } => {
            let ca = rsa::RsaPublicKey::new(modulus, exponent)?;
            let exponent = CardObjects::need(objects.issuer_exponent, 0x9F32)?;
            let c =
                rsa::recover_issuer_cert(&ca, cert, objects.issuer_remainder, exponent, pan, date)?;
            Ok(IssuerCertificate {
                key: IssuerPublicKey::Rsa(c.key),
                issuer_id: c.issuer_id,
                expiry: c.expiry,
                serial: c.serial,
            })
        }
        CapkKey::Sm2 { xy } => {
            let ca = sscard_crypto::sm2::PublicKey::from_xy(xy).map_err(|_| OdaError::BadKey)?;
            let c = sm2::verify_issuer_cert(&ca, cert, pan, date, &sm2::Sm2Profile::PBOC)?;
            Ok(IssuerCertificate {
                key: IssuerPublicKey::Sm2(c.key),
                issuer_id: c.issuer_id,
                expiry: c.expiry,
                serial: c.serial,
            })
        }
    }
}

/// SDA (EMV Book 2 §5, pboc.md §1.4.1 step 4 / §1.4.3): the issuer key from 90, then the
/// signed static application data 93 over `static_data` (the records the AFL marks for
/// ODA, plus the 9F4A tags). Returns the DAC for 9F45.
pub fn verify_sda(
    capk: &Capk,
    static_data: &[u8],
    objects: &CardObjects<'_>,
    date: Date,
) -> Result<SdaResult> {
    let issuer = recover_issuer_key(capk, objects, date)?.key;
    let ssad = CardObjects::need(objects.ssad, 0x93)?;
    let dac = match &issuer {
        IssuerPublicKey::Rsa(key) => rsa::recover_ssad(key, ssad, static_data)?,
        IssuerPublicKey::Sm2(key) => {
            sm2::verify_ssad(key, ssad, static_data, &sm2::Sm2Profile::PBOC)?
        }
    };
    Ok(SdaResult { dac })
}

/// The ICC public key for DDA/CDA: the issuer key from 90, then the ICC certificate 9F46
/// (with 9F48 and 9F47 for RSA) over `static_data`.
pub fn recover_icc_key(
    capk: &Capk,
    static_data: &[u8],
    objects: &CardObjects<'_>,
    date: Date,
) -> Result<IccPublicKey> {
    let issuer = recover_issuer_key(capk, objects, date)?.key;
    let pan = CardObjects::need(objects.pan, 0x5A)?;
    let cert = CardObjects::need(objects.icc_cert, 0x9F46)?;
    match &issuer {
        IssuerPublicKey::Rsa(key) => {
            let exponent = CardObjects::need(objects.icc_exponent, 0x9F47)?;
            let icc = rsa::recover_icc_cert(
                key,
                cert,
                objects.icc_remainder,
                exponent,
                static_data,
                pan,
                date,
            )?;
            Ok(IccPublicKey::Rsa(icc.key))
        }
        IssuerPublicKey::Sm2(key) => {
            let icc =
                sm2::verify_icc_cert(key, cert, static_data, pan, date, &sm2::Sm2Profile::PBOC)?;
            Ok(IccPublicKey::Sm2(icc.key))
        }
    }
}

/// DDA (EMV Book 2 §6.5): checks the signed dynamic application data 9F4B returned by
/// INTERNAL AUTHENTICATE over `ddol_data` (the DDOL data the terminal sent). For SM2 the
/// layout is ours (\[U\], see [`sm2::sign_dynamic`]).
pub fn verify_dda(icc_key: &IccPublicKey, sdad: &[u8], ddol_data: &[u8]) -> Result<DdaResult> {
    let icc_dynamic_data = match icc_key {
        IccPublicKey::Rsa(key) => rsa::recover_dynamic(key, sdad, ddol_data)?,
        IccPublicKey::Sm2(key) => {
            sm2::verify_dynamic(key, sdad, ddol_data, &sm2::Sm2Profile::PBOC)?
        }
    };
    let (number, _) = split_icc_dynamic_data(&icc_dynamic_data)?;
    Ok(DdaResult {
        icc_dynamic_number: number.to_vec(),
        icc_dynamic_data,
    })
}

/// CDA (EMV Book 2 §6.6.2): checks 9F4B of a GENERATE AC response. The signature covers
/// the ICC dynamic data and the terminal's unpredictable number 9F37; the ICC dynamic data
/// must carry `cid` (9F27 of the response) and the transaction data hash equal to
/// `expected_hash` (from [`cda_transaction_hash`]: SHA-1 for RSA, SM3 \[U\] for SM2).
pub fn verify_cda(
    icc_key: &IccPublicKey,
    sdad: &[u8],
    unpredictable_number: &[u8],
    cid: u8,
    expected_hash: &[u8],
) -> Result<CdaResult> {
    let dda = verify_dda(icc_key, sdad, unpredictable_number)?;
    let (number, rest) = split_icc_dynamic_data(&dda.icc_dynamic_data)?;
    let (&signed_cid, rest) = rest.split_first().ok_or(OdaError::BadDynamicData)?;
    let (ac, hash) = rest.split_at_checked(8).ok_or(OdaError::BadDynamicData)?;
    let ac: [u8; 8] = ac.try_into().map_err(|_| OdaError::BadDynamicData)?;
    if signed_cid != cid {
        return Err(OdaError::CidMismatch);
    }
    if hash != expected_hash {
        return Err(OdaError::TransactionHashMismatch);
    }
    Ok(CdaResult {
        icc_dynamic_number: number.to_vec(),
        cid,
        ac,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_expiry() {
        let d = Date::from_9a([0x26, 0x11, 0x22]).unwrap();
        assert_eq!((d.year, d.month, d.day), (2026, 11, 22));
        assert!(d.check_expiry([0x11, 0x26]).is_ok());
        assert!(d.check_expiry([0x12, 0x49]).is_ok());
        assert_eq!(
            d.check_expiry([0x10, 0x26]),
            Err(OdaError::Expired {
                expiry: [0x10, 0x26]
            })
        );
        assert_eq!(d.check_expiry([0x13, 0x26]), Err(OdaError::BadDate));
        assert_eq!(Date::from_9a([0x26, 0x1A, 0x01]), Err(OdaError::BadDate));
    }

    #[test]
    fn pan_helpers() {
        let pan = [0x62, 0x28, 0x00, 0x01, 0x00, 0x00, 0x11, 0x17];
        assert!(issuer_id_matches(&[0x62, 0x28, 0x00, 0xFF], &pan));
        assert!(issuer_id_matches(&[0x62, 0x28, 0x00, 0x01], &pan));
        assert!(!issuer_id_matches(&[0x62, 0x29, 0x00, 0xFF], &pan));
        assert!(!issuer_id_matches(&[0x6F, 0xFF, 0xFF, 0xFF], &pan));
        let cert_pan: [u8; 10] = pad_pan(&pan, 19).unwrap();
        assert_eq!(
            cert_pan,
            [0x62, 0x28, 0x00, 0x01, 0x00, 0x00, 0x11, 0x17, 0xFF, 0xFF]
        );
        assert!(pan_matches(&cert_pan, &pan));
        assert!(!pan_matches(&cert_pan, &pan[..7]));
        let id: [u8; 4] = pad_pan(&pan, 6).unwrap();
        assert_eq!(id, [0x62, 0x28, 0x00, 0xFF]);
        let odd: [u8; 4] = pad_pan(&pan, 5).unwrap();
        assert_eq!(odd, [0x62, 0x28, 0x0F, 0xFF]);
    }

    #[test]
    fn static_data_from_records() {
        let mut out = Vec::new();
        append_oda_record(&mut out, 3, &[0x70, 0x03, 0x5A, 0x01, 0x62]).unwrap();
        assert_eq!(out, [0x5A, 0x01, 0x62]);
        append_oda_record(&mut out, 11, &[0x70, 0x01, 0xAA]).unwrap();
        assert_eq!(out, [0x5A, 0x01, 0x62, 0x70, 0x01, 0xAA]);
        append_sda_tag_list(&mut out, &[0x82], [0x7C, 0x00]).unwrap();
        assert_eq!(out.len(), 8);
        let bad = OdaError::BadOdaRecord { sfi: 2 };
        assert_eq!(append_oda_record(&mut out, 2, &[0x77, 0x00]), Err(bad));
        assert_eq!(
            append_oda_record(&mut out, 2, &[0x70, 0x00, 0x00]),
            Err(bad)
        );
        assert_eq!(append_oda_record(&mut out, 2, &[0x70, 0x05]), Err(bad));
        assert_eq!(
            append_oda_record(&mut out, 31, &[]),
            Err(OdaError::BadOdaRecord { sfi: 31 })
        );
        assert_eq!(
            append_sda_tag_list(&mut out, &[0x9F, 0x36], [0, 0]),
            Err(OdaError::BadSdaTagList)
        );
        assert_eq!(out.len(), 8);
    }

    #[test]
    fn cda_hash_skips_9f4b() {
        let with = [
            0x77, 0x0D, 0x9F, 0x27, 0x01, 0x80, 0x9F, 0x4B, 0x02, 0xAA, 0xBB, 0x9F, 0x36, 0x01,
            0x05,
        ];
        let without = [0x9F, 0x27, 0x01, 0x80, 0x9F, 0x36, 0x01, 0x05];
        let a = cda_transaction_hash(HashAlg::Sha1, b"p", b"c", None, &with).unwrap();
        let b = HashAlg::Sha1.digest(&[b"pc", &without]);
        assert_eq!(a, b);
        let c = cda_transaction_hash(HashAlg::Sha1, b"p", b"c", Some(b"2"), &with).unwrap();
        assert_ne!(a, c);
        assert_eq!(
            cda_transaction_hash(HashAlg::Sm3, b"", b"", None, &with)
                .unwrap()
                .len(),
            32
        );
    }
}
