//! The PBOC personalisation profile: what an issuer writes into the bank application
//! (DGI-style data, not code), read by the card emulator, by issuance and by the issuer
//! host simulator from one JSON file (`apdu-specs/pboc/card.json`).
//!
//! [`load`] parses the JSON and validates everything (hex, lengths, BCD amounts, DOL
//! syntax, FCI and record templates, AFL entries against the records) and returns a
//! [`CardProfile`] of bytes; a bad file gives a [`PersoError`] naming the field, never a
//! panic. Items the spec marks \[U\] are labelled in the file itself (`notes`, and the
//! `source` / `confidence` fields of records); the loader keeps the labels.
//!
//! # File layout (format `sscard-pboc-card/1`)
//!
//! ```text
//! { "format", "label", "notes": [{item, confidence, source}],
//!   "pse":  { "fci": hex 6F, "sfi": n, "records": [hex 70 …] },          (optional)
//!   "ppse": { "fci": hex 6F, "interfaces": ["contact", "contactless"] }, (optional)
//!   "applications": [{
//!     "aid", "fci": { "contact": hex 6F, "contactless": hex 6F },
//!     "gpo": { "rsa3des" | "sm2sm4": { "contact" | "contactless": { "aip", "afl" } } },
//!     "records": [{ "sfi", "record", "family": "both" | "rsa3des" | "sm2sm4",
//!                   "data": hex 70, "source"?, "confidence"? }],
//!     "cdol1", "cdol2", "ddol", "iad": { "dki", "cvn", "discretionary" },
//!     "keys": { "test_only", "rsa3des" | "sm2sm4": { "mk_ac", "mk_smi", "mk_smc" } },
//!     "icc_sm2_private_key"?, "icc_rsa_private_key"? {n, e, d, p, q}, "icc_dynamic_number_len",
//!     "gpo_ec_balance"? (bool: 9F79 in the contact GPO response, \[U\] ours),
//!     "pin": { "digits", "try_limit" }, "issuer_authentication_required",
//!     "ec": { "balance", "balance_limit", "single_limit", "reset_threshold",
//!             "currency", "issuer_auth_code" },
//!     "transaction_log"?: { "entry", "format" }, "load_log"?: { "entry", "format" },
//!     "qpboc": { "ctq" } }] }
//! ```
//!
//! All byte values are hex strings (spaces allowed); amounts are n12 (6 BCD bytes).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::Deserialize;
use sscard_apdu::tlv::ber;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::cryptogram::Family;
use crate::dol::{Dol, DolError};

/// The format string this loader reads.
pub const FORMAT: &str = "sscard-pboc-card/1";

/// The PSE DF name `1PAY.SYS.DDF01`.
pub const PSE_NAME: &[u8] = b"1PAY.SYS.DDF01";
/// The PPSE DF name `2PAY.SYS.DDF01`.
pub const PPSE_NAME: &[u8] = b"2PAY.SYS.DDF01";

// ---------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------

/// What is wrong with a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PersoErrorKind {
    /// The JSON does not parse or does not fit the schema (1-based line and column).
    Json {
        /// Line.
        line: usize,
        /// Column.
        column: usize,
    },
    /// The `format` field is not [`FORMAT`].
    UnsupportedFormat,
    /// Not an even number of hex digits.
    Hex,
    /// A value of the wrong length.
    Length {
        /// Shortest allowed.
        min: usize,
        /// Longest allowed.
        max: usize,
        /// What the file has.
        actual: usize,
    },
    /// An amount that is not 12 BCD digits.
    Bcd,
    /// A malformed DOL.
    Dol(DolError),
    /// Not one well-formed BER-TLV object with the expected tag.
    Template {
        /// The expected outer tag.
        expected: u32,
    },
    /// A mandatory data object is missing from a template.
    MissingTag {
        /// The tag.
        tag: u32,
    },
    /// A data object has a value the rest of the profile contradicts (e.g. FCI `84`
    /// differs from the AID, or `8C` in a record differs from `cdol1`).
    Mismatch {
        /// The tag.
        tag: u32,
    },
    /// An unknown family, interface or confidence name.
    UnknownName,
    /// An SFI outside 1–30 or a record number outside 1–254.
    RecordNumber,
    /// Two records with the same SFI, number and family.
    DuplicateRecord {
        /// SFI.
        sfi: u8,
        /// Record number.
        record: u8,
    },
    /// An AFL entry that is malformed (first record 0, last < first, too many ODA records).
    Afl,
    /// An AFL entry points at a record the profile does not hold for that family.
    AflRecordMissing {
        /// SFI.
        sfi: u8,
        /// Record number.
        record: u8,
    },
    /// A PIN that is not 4–12 decimal digits, or a try limit outside 1–15.
    Pin,
    /// An SM2 private key outside `[1, n-2]`.
    Key,
}

/// A profile error: which field, in which application and item, and what is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PersoError {
    /// The field, as a path (`applications[].records[].data`).
    pub field: &'static str,
    /// Index of the application, when the field is inside one.
    pub application: Option<usize>,
    /// Index of the item (record, PSE record, AFL entry), when the field is in a list.
    pub item: Option<usize>,
    /// What is wrong.
    pub kind: PersoErrorKind,
}

impl PersoError {
    fn new(field: &'static str, kind: PersoErrorKind) -> Self {
        Self {
            field,
            application: None,
            item: None,
            kind,
        }
    }

    fn item(mut self, item: usize) -> Self {
        self.item = Some(item);
        self
    }
}

impl fmt::Display for PersoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "card profile: {}", self.field)?;
        if let Some(a) = self.application {
            write!(f, " (application {a}")?;
            if let Some(i) = self.item {
                write!(f, ", item {i}")?;
            }
            f.write_str(")")?;
        } else if let Some(i) = self.item {
            write!(f, " (item {i})")?;
        }
        f.write_str(": ")?;
        match self.kind {
            PersoErrorKind::Json { line, column } => {
                write!(
                    f,
                    "JSON syntax or schema error at line {line}, column {column}"
                )
            }
            PersoErrorKind::UnsupportedFormat => write!(f, "format is not {FORMAT}"),
            PersoErrorKind::Hex => f.write_str("not an even number of hex digits"),
            PersoErrorKind::Length { min, max, actual } if min == max => {
                write!(f, "{actual} bytes, expected {min}")
            }
            PersoErrorKind::Length { min, max, actual } => {
                write!(f, "{actual} bytes, expected {min} to {max}")
            }
            PersoErrorKind::Bcd => f.write_str("not a 12-digit BCD amount"),
            PersoErrorKind::Dol(e) => write!(f, "bad DOL: {e}"),
            PersoErrorKind::Template { expected } => {
                write!(f, "not one well-formed BER-TLV '{expected:X}' template")
            }
            PersoErrorKind::MissingTag { tag } => write!(f, "tag {tag:X} missing"),
            PersoErrorKind::Mismatch { tag } => {
                write!(f, "tag {tag:X} contradicts the rest of the profile")
            }
            PersoErrorKind::UnknownName => f.write_str("unknown name"),
            PersoErrorKind::RecordNumber => f.write_str("SFI not in 1-30 or record not in 1-254"),
            PersoErrorKind::DuplicateRecord { sfi, record } => {
                write!(f, "record {record} of SFI {sfi} given twice")
            }
            PersoErrorKind::Afl => f.write_str("malformed AFL entry"),
            PersoErrorKind::AflRecordMissing { sfi, record } => {
                write!(
                    f,
                    "AFL names record {record} of SFI {sfi}, which is not in the profile"
                )
            }
            PersoErrorKind::Pin => f.write_str("PIN must be 4-12 digits, try limit 1-15"),
            PersoErrorKind::Key => f.write_str("not a valid SM2 private key"),
        }
    }
}

impl core::error::Error for PersoError {}

// ---------------------------------------------------------------------------------
// The validated profile
// ---------------------------------------------------------------------------------

/// A labelled fact of the profile (`notes`): where a value comes from and how sure we are.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    /// What the note is about.
    pub item: String,
    /// `V` verified, `S` stated by a source, `U` unconfirmed, `TEST` test-only data.
    pub confidence: String,
    /// Where the value comes from.
    #[serde(default)]
    pub source: String,
}

/// The Payment System Environment (contact directory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pse {
    /// The FCI (`6F`).
    pub fci: Vec<u8>,
    /// SFI of the directory file (`88`).
    pub sfi: u8,
    /// The directory records (`70{61{4F, 50, 87}}`), record 1 first.
    pub records: Vec<Vec<u8>>,
}

/// The Proximity Payment System Environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ppse {
    /// The FCI (`6F{84, A5{BF0C{61…}}}`).
    pub fci: Vec<u8>,
    /// Whether SELECT PPSE is answered on the contact interface too.
    pub on_contact: bool,
    /// Whether SELECT PPSE is answered on the contactless interface.
    pub on_contactless: bool,
}

/// AIP and AFL of one GPO response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpoData {
    /// Application interchange profile (`82`).
    pub aip: [u8; 2],
    /// Application file locator (`94`), 4 bytes per entry.
    pub afl: Vec<u8>,
}

/// The GPO answers of one family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpoSet {
    /// Contact interface.
    pub contact: GpoData,
    /// Contactless interface (qPBOC).
    pub contactless: GpoData,
}

/// One record of an application file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordData {
    /// SFI (1–30).
    pub sfi: u8,
    /// Record number (1–254).
    pub record: u8,
    /// `None`: both families; otherwise only that family's GPO exposes it.
    pub family: Option<Family>,
    /// The record (`70` template).
    pub data: Vec<u8>,
}

/// The card's master keys of one family (TEST keys in the shipped profile).
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct MasterKeys {
    /// MK_AC: application cryptograms and ARPC.
    pub mk_ac: [u8; 16],
    /// MK_SMI: issuer-script MACs.
    pub mk_smi: [u8; 16],
    /// MK_SMC: issuer-script encryption (not used by the emulator yet).
    pub mk_smc: [u8; 16],
}

impl fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKeys(..)")
    }
}

/// The fixed parts of the issuer application data `9F10` \[U: DKI, CVN and the
/// discretionary part are observed values, not a confirmed layout\].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IadTemplate {
    /// Derivation key index.
    pub dki: u8,
    /// Cryptogram version number.
    pub cvn: u8,
    /// The bytes after the algorithm byte (e.g. `0A 01 …`), up to 24.
    pub discretionary: Vec<u8>,
}

/// Electronic cash data (pboc.md §2); amounts in minor units.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcData {
    /// `9F79` initial balance.
    pub balance: u64,
    /// `9F77` balance limit.
    pub balance_limit: u64,
    /// `9F78` single transaction limit.
    pub single_limit: u64,
    /// `9F6D` reset threshold.
    pub reset_threshold: u64,
    /// `9F51` application currency code.
    pub currency: [u8; 2],
    /// `9F74` EC issuer authorisation code (a6).
    pub issuer_auth_code: [u8; 6],
}

/// A log file: `9F4D`/`DF4D` entry and `9F4F`/`DF4F` format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSpec {
    /// SFI of the log file.
    pub sfi: u8,
    /// Number of records (cyclic).
    pub max_records: u8,
    /// The format DOL.
    pub format: Vec<u8>,
}

impl LogSpec {
    /// The log entry value (SFI ‖ number of records).
    pub fn entry(&self) -> [u8; 2] {
        [self.sfi, self.max_records]
    }
}

/// One payment application (ADF).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Application {
    /// The AID (`4F`/`84`).
    pub aid: Vec<u8>,
    /// FCI returned by SELECT on the contact interface.
    pub fci_contact: Vec<u8>,
    /// FCI returned by SELECT on the contactless interface.
    pub fci_contactless: Vec<u8>,
    /// PDOL from the contact FCI (empty if none).
    pub pdol_contact: Vec<u8>,
    /// PDOL from the contactless FCI (empty if none).
    pub pdol_contactless: Vec<u8>,
    /// GPO answers of the RSA/3DES family.
    pub gpo_rsa: GpoSet,
    /// GPO answers of the SM2/SM4 family.
    pub gpo_sm: GpoSet,
    /// The application's records.
    pub records: Vec<RecordData>,
    /// CDOL1 (`8C`).
    pub cdol1: Vec<u8>,
    /// CDOL2 (`8D`).
    pub cdol2: Vec<u8>,
    /// DDOL (`9F49`).
    pub ddol: Vec<u8>,
    /// IAD template.
    pub iad: IadTemplate,
    /// Master keys of the RSA/3DES family.
    pub keys_rsa: MasterKeys,
    /// Master keys of the SM2/SM4 family.
    pub keys_sm: MasterKeys,
    /// Whether the keys are labelled test-only.
    pub keys_test_only: bool,
    /// The ICC's SM2 private key (DDA/CDA of the SM2 family).
    pub icc_sm2_private_key: Option<Zeroizing<[u8; 32]>>,
    /// The ICC's RSA private key (DDA/CDA of the RSA family), checked at load.
    pub icc_rsa_private_key: Option<IccRsaKey>,
    /// Length of the ICC dynamic number (4–8).
    pub icc_dynamic_number_len: u8,
    /// Initial PIN digits.
    pub pin: Zeroizing<String>,
    /// PIN try limit.
    pub pin_try_limit: u8,
    /// Whether issuer authentication must pass before an online approval (`9F56`).
    pub issuer_authentication_required: bool,
    /// Electronic cash.
    pub ec: EcData,
    /// Transaction log.
    pub transaction_log: Option<LogSpec>,
    /// Load log.
    pub load_log: Option<LogSpec>,
    /// `9F6C` card transaction qualifiers returned by qPBOC GPO.
    pub ctq: [u8; 2],
    /// Whether the contact GPO response (format 2) also carries the current EC
    /// balance `9F79` \[U — ours\]: EMV lets format 2 carry other objects, and terminals
    /// that never GET DATA (cardpeek's emv.lua) then show the balance.
    pub gpo_ec_balance: bool,
}

impl Application {
    /// The GPO answers of `family`.
    pub fn gpo(&self, family: Family) -> &GpoSet {
        match family {
            Family::Rsa3Des => &self.gpo_rsa,
            Family::Sm2Sm4 => &self.gpo_sm,
        }
    }

    /// The master keys of `family`.
    pub fn keys(&self, family: Family) -> &MasterKeys {
        match family {
            Family::Rsa3Des => &self.keys_rsa,
            Family::Sm2Sm4 => &self.keys_sm,
        }
    }

    /// The record `(sfi, record)` as `family` sees it: a family-specific record wins
    /// over a shared one.
    pub fn record(&self, family: Family, sfi: u8, record: u8) -> Option<&[u8]> {
        let mut shared = None;
        for r in &self.records {
            if r.sfi == sfi && r.record == record {
                match r.family {
                    Some(f) if f == family => return Some(&r.data),
                    None => shared = Some(r.data.as_slice()),
                    Some(_) => {}
                }
            }
        }
        shared
    }

    /// Whether any record of `sfi` exists (for any family).
    pub fn has_sfi(&self, sfi: u8) -> bool {
        self.records.iter().any(|r| r.sfi == sfi)
    }

    /// The first value of `tag` inside `family`'s records (e.g. `57`, `5F34`, `5A`).
    pub fn record_tag(&self, family: Family, tag: u32) -> Option<&[u8]> {
        let mut keys: Vec<(u8, u8)> = self.records.iter().map(|r| (r.sfi, r.record)).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.into_iter().find_map(|(sfi, rec)| {
            let data = self.record(family, sfi, rec)?;
            ber::find(data, tag).ok().flatten()
        })
    }
}

/// A validated card profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardProfile {
    /// Human-readable label.
    pub label: String,
    /// Labelled facts.
    pub notes: Vec<Note>,
    /// PSE, if the card has one.
    pub pse: Option<Pse>,
    /// PPSE, if the card has one.
    pub ppse: Option<Ppse>,
    /// The payment applications.
    pub applications: Vec<Application>,
}

// ---------------------------------------------------------------------------------
// The JSON schema
// ---------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    format: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    notes: Vec<Note>,
    #[serde(default)]
    pse: Option<RawPse>,
    #[serde(default)]
    ppse: Option<RawPpse>,
    applications: Vec<RawApplication>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPse {
    fci: String,
    sfi: u8,
    records: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPpse {
    fci: String,
    interfaces: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFci {
    contact: String,
    contactless: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGpo {
    aip: String,
    afl: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGpoSet {
    contact: RawGpo,
    contactless: RawGpo,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGpoFamilies {
    rsa3des: RawGpoSet,
    sm2sm4: RawGpoSet,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecord {
    sfi: u8,
    record: u8,
    #[serde(default = "both")]
    family: String,
    data: String,
    #[serde(default)]
    #[allow(dead_code)]
    source: String,
    #[serde(default)]
    #[allow(dead_code)]
    confidence: String,
}

fn both() -> String {
    String::from("both")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIad {
    dki: String,
    cvn: String,
    #[serde(default)]
    discretionary: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    mk_ac: String,
    mk_smi: String,
    mk_smc: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeySets {
    #[serde(default)]
    test_only: bool,
    rsa3des: RawKeys,
    sm2sm4: RawKeys,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPin {
    digits: String,
    try_limit: u8,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEc {
    balance: String,
    balance_limit: String,
    single_limit: String,
    reset_threshold: String,
    currency: String,
    issuer_auth_code: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    entry: String,
    format: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQpboc {
    ctq: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApplication {
    aid: String,
    fci: RawFci,
    gpo: RawGpoFamilies,
    records: Vec<RawRecord>,
    cdol1: String,
    cdol2: String,
    #[serde(default = "default_ddol")]
    ddol: String,
    iad: RawIad,
    keys: RawKeySets,
    #[serde(default)]
    icc_sm2_private_key: Option<String>,
    #[serde(default)]
    icc_rsa_private_key: Option<RawRsaKey>,
    #[serde(default)]
    gpo_ec_balance: bool,
    #[serde(default = "default_dn_len")]
    icc_dynamic_number_len: u8,
    pin: RawPin,
    #[serde(default)]
    issuer_authentication_required: bool,
    ec: RawEc,
    #[serde(default)]
    transaction_log: Option<RawLog>,
    #[serde(default)]
    load_log: Option<RawLog>,
    qpboc: RawQpboc,
}

/// An RSA private key as hex components (TEST keys in the emulated card's profile).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRsaKey {
    n: String,
    e: String,
    d: String,
    p: String,
    q: String,
}

/// The ICC's RSA private key components (big-endian), zeroised on drop. Checked at load:
/// with the `rsa-sign` feature that the components form a key of EMV size, without it
/// only that `n` and `e` form an EMV public key and `d`, `p`, `q` are present. Build the
/// signer with `IccRsaKey::private_key` (feature `rsa-sign`).
#[derive(Clone, PartialEq, Eq)]
pub struct IccRsaKey {
    /// Modulus.
    pub n: Vec<u8>,
    /// Public exponent.
    pub e: Vec<u8>,
    /// Private exponent.
    pub d: Zeroizing<Vec<u8>>,
    /// First prime.
    pub p: Zeroizing<Vec<u8>>,
    /// Second prime.
    pub q: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for IccRsaKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "IccRsaKey({} bits, ..)", self.n.len() * 8)
    }
}

impl IccRsaKey {
    /// The signing key.
    #[cfg(feature = "rsa-sign")]
    pub fn private_key(&self) -> Result<crate::oda::rsa::RsaPrivateKey, crate::oda::OdaError> {
        crate::oda::rsa::RsaPrivateKey::from_components(&self.n, &self.e, &self.d, &self.p, &self.q)
    }
}

impl IccRsaKey {
    /// The load-time check (see the type's documentation).
    fn check(&self) -> Result<(), crate::oda::OdaError> {
        #[cfg(feature = "rsa-sign")]
        self.private_key()?;
        crate::oda::rsa::RsaPublicKey::new(&self.n, &self.e)?;
        if self.d.is_empty() || self.p.is_empty() || self.q.is_empty() {
            return Err(crate::oda::OdaError::BadKey);
        }
        Ok(())
    }
}

fn default_ddol() -> String {
    String::from("9F3704")
}

fn default_dn_len() -> u8 {
    8
}

// ---------------------------------------------------------------------------------
// Validation helpers
// ---------------------------------------------------------------------------------

type R<T> = Result<T, PersoError>;

fn hex(field: &'static str, text: &str) -> R<Vec<u8>> {
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    sscard_apdu::hex::to_vec(&clean).map_err(|_| PersoError::new(field, PersoErrorKind::Hex))
}

fn hex_len(field: &'static str, text: &str, min: usize, max: usize) -> R<Vec<u8>> {
    let bytes = hex(field, text)?;
    if bytes.len() < min || bytes.len() > max {
        return Err(PersoError::new(
            field,
            PersoErrorKind::Length {
                min,
                max,
                actual: bytes.len(),
            },
        ));
    }
    Ok(bytes)
}

fn hex_array<const N: usize>(field: &'static str, text: &str) -> R<[u8; N]> {
    let bytes = hex_len(field, text, N, N)?;
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes);
    Ok(out)
}

/// Decodes an n12 amount (6 BCD bytes) into minor units; `None` if a nibble is not a
/// decimal digit.
pub fn bcd_amount(bytes: &[u8; 6]) -> Option<u64> {
    let mut value = 0u64;
    for b in bytes {
        let (hi, lo) = (b >> 4, b & 0x0F);
        if hi > 9 || lo > 9 {
            return None;
        }
        value = value * 100 + u64::from(hi) * 10 + u64::from(lo);
    }
    Some(value)
}

/// Encodes minor units as n12 (values above 999 999 999 999 saturate).
pub fn amount_bcd(mut value: u64) -> [u8; 6] {
    value = value.min(999_999_999_999);
    let mut out = [0u8; 6];
    for b in out.iter_mut().rev() {
        let lo = value % 10;
        let hi = (value / 10) % 10;
        value /= 100;
        *b = u8::try_from((hi << 4) | lo).unwrap_or(0);
    }
    out
}

fn amount(field: &'static str, text: &str) -> R<u64> {
    let bytes = hex_array::<6>(field, text)?;
    bcd_amount(&bytes).ok_or(PersoError::new(field, PersoErrorKind::Bcd))
}

fn dol(field: &'static str, text: &str) -> R<Vec<u8>> {
    let bytes = hex_len(field, text, 0, 252)?;
    Dol::parse(&bytes).map_err(|e| PersoError::new(field, PersoErrorKind::Dol(e)))?;
    Ok(bytes)
}

/// Checks that `bytes` is exactly one BER-TLV object with tag `expected` whose value is
/// a sequence of well-formed objects; returns its value.
fn template<'a>(field: &'static str, bytes: &'a [u8], expected: u32) -> R<&'a [u8]> {
    let err = PersoError::new(field, PersoErrorKind::Template { expected });
    let (tlv, rest) = ber::parse(bytes).map_err(|_| err)?;
    if tlv.tag != expected || !rest.is_empty() {
        return Err(err);
    }
    check_nested(tlv.value, 8).map_err(|()| err)?;
    Ok(tlv.value)
}

fn check_nested(bytes: &[u8], depth: u8) -> Result<(), ()> {
    for tlv in ber::iter(bytes) {
        let tlv = tlv.map_err(|_| ())?;
        if tlv.is_constructed() && depth > 0 {
            check_nested(tlv.value, depth - 1)?;
        }
    }
    Ok(())
}

fn find(field: &'static str, bytes: &[u8], tag: u32) -> R<Vec<u8>> {
    match ber::find(bytes, tag) {
        Ok(Some(v)) => Ok(v.to_vec()),
        _ => Err(PersoError::new(field, PersoErrorKind::MissingTag { tag })),
    }
}

fn family_name(field: &'static str, name: &str) -> R<Option<Family>> {
    match name {
        "both" => Ok(None),
        "rsa3des" => Ok(Some(Family::Rsa3Des)),
        "sm2sm4" => Ok(Some(Family::Sm2Sm4)),
        _ => Err(PersoError::new(field, PersoErrorKind::UnknownName)),
    }
}

fn log_spec(field: &'static str, raw: &RawLog) -> R<LogSpec> {
    let entry = hex_array::<2>(field, &raw.entry)?;
    let [sfi, max_records] = entry;
    if !(1..=30).contains(&sfi) || max_records == 0 {
        return Err(PersoError::new(field, PersoErrorKind::RecordNumber));
    }
    let format = dol(field, &raw.format)?;
    Ok(LogSpec {
        sfi,
        max_records,
        format,
    })
}

fn keys(raw: &RawKeys) -> R<MasterKeys> {
    Ok(MasterKeys {
        mk_ac: *Zeroizing::new(hex_array::<16>("applications[].keys.mk_ac", &raw.mk_ac)?),
        mk_smi: *Zeroizing::new(hex_array::<16>("applications[].keys.mk_smi", &raw.mk_smi)?),
        mk_smc: *Zeroizing::new(hex_array::<16>("applications[].keys.mk_smc", &raw.mk_smc)?),
    })
}

fn gpo(raw: &RawGpo) -> R<GpoData> {
    let aip = hex_array::<2>("applications[].gpo.aip", &raw.aip)?;
    let afl = hex_len("applications[].gpo.afl", &raw.afl, 4, 252)?;
    if afl.len() % 4 != 0 {
        return Err(PersoError::new(
            "applications[].gpo.afl",
            PersoErrorKind::Length {
                min: 4,
                max: 252,
                actual: afl.len(),
            },
        ));
    }
    for (i, entry) in afl.chunks_exact(4).enumerate() {
        let &[sfi_byte, first, last, oda] = entry else {
            continue;
        };
        let sfi = sfi_byte >> 3;
        let ok = sfi_byte & 0x07 == 0
            && (1..=30).contains(&sfi)
            && first >= 1
            && last >= first
            && usize::from(oda) <= usize::from(last - first) + 1;
        if !ok {
            return Err(PersoError::new("applications[].gpo.afl", PersoErrorKind::Afl).item(i));
        }
    }
    Ok(GpoData { aip, afl })
}

fn check_afl(app: &Application, family: Family, gpo: &GpoData) -> R<()> {
    for (i, entry) in gpo.afl.chunks_exact(4).enumerate() {
        let &[sfi_byte, first, last, _] = entry else {
            continue;
        };
        let sfi = sfi_byte >> 3;
        for record in first..=last {
            if app.record(family, sfi, record).is_none() {
                return Err(PersoError::new(
                    "applications[].gpo.afl",
                    PersoErrorKind::AflRecordMissing { sfi, record },
                )
                .item(i));
            }
        }
    }
    Ok(())
}

fn application(raw: &RawApplication) -> R<Application> {
    let aid = hex_len("applications[].aid", &raw.aid, 5, 16)?;
    let fci_contact = hex("applications[].fci.contact", &raw.fci.contact)?;
    let fci_contactless = hex("applications[].fci.contactless", &raw.fci.contactless)?;
    let mut pdols = Vec::new();
    for (field, fci) in [
        ("applications[].fci.contact", &fci_contact),
        ("applications[].fci.contactless", &fci_contactless),
    ] {
        let value = template(field, fci, 0x6F)?;
        if find(field, value, 0x84)? != aid {
            return Err(PersoError::new(
                field,
                PersoErrorKind::Mismatch { tag: 0x84 },
            ));
        }
        find(field, value, 0xA5)?;
        let pdol = match ber::find(value, 0x9F38) {
            Ok(Some(p)) => p.to_vec(),
            _ => Vec::new(),
        };
        Dol::parse(&pdol).map_err(|e| PersoError::new(field, PersoErrorKind::Dol(e)))?;
        pdols.push(pdol);
    }
    let pdol_contactless = pdols.pop().unwrap_or_default();
    let pdol_contact = pdols.pop().unwrap_or_default();

    let mut records: Vec<RecordData> = Vec::new();
    for (i, r) in raw.records.iter().enumerate() {
        let field = "applications[].records[]";
        if !(1..=30).contains(&r.sfi) || r.record == 0 || r.record == 255 {
            return Err(PersoError::new(field, PersoErrorKind::RecordNumber).item(i));
        }
        let family =
            family_name("applications[].records[].family", &r.family).map_err(|e| e.item(i))?;
        let data = hex("applications[].records[].data", &r.data).map_err(|e| e.item(i))?;
        template("applications[].records[].data", &data, 0x70).map_err(|e| e.item(i))?;
        if records
            .iter()
            .any(|o| o.sfi == r.sfi && o.record == r.record && o.family == family)
        {
            return Err(PersoError::new(
                field,
                PersoErrorKind::DuplicateRecord {
                    sfi: r.sfi,
                    record: r.record,
                },
            )
            .item(i));
        }
        records.push(RecordData {
            sfi: r.sfi,
            record: r.record,
            family,
            data,
        });
    }

    let cdol1 = dol("applications[].cdol1", &raw.cdol1)?;
    let cdol2 = dol("applications[].cdol2", &raw.cdol2)?;
    let ddol = dol("applications[].ddol", &raw.ddol)?;
    let iad = IadTemplate {
        dki: u8::from_be_bytes(hex_array::<1>("applications[].iad.dki", &raw.iad.dki)?),
        cvn: u8::from_be_bytes(hex_array::<1>("applications[].iad.cvn", &raw.iad.cvn)?),
        discretionary: hex_len(
            "applications[].iad.discretionary",
            &raw.iad.discretionary,
            0,
            24,
        )?,
    };
    let icc_sm2_private_key = match &raw.icc_sm2_private_key {
        None => None,
        Some(text) => {
            let d = Zeroizing::new(hex_array::<32>("applications[].icc_sm2_private_key", text)?);
            sscard_crypto::sm2::PrivateKey::from_bytes(&d).map_err(|_| {
                PersoError::new("applications[].icc_sm2_private_key", PersoErrorKind::Key)
            })?;
            Some(d)
        }
    };
    let field = "applications[].icc_rsa_private_key";
    let icc_rsa_private_key = match &raw.icc_rsa_private_key {
        None => None,
        Some(k) => {
            let key = IccRsaKey {
                n: hex(field, &k.n)?,
                e: hex(field, &k.e)?,
                d: Zeroizing::new(hex(field, &k.d)?),
                p: Zeroizing::new(hex(field, &k.p)?),
                q: Zeroizing::new(hex(field, &k.q)?),
            };
            key.check()
                .map_err(|_| PersoError::new(field, PersoErrorKind::Key))?;
            Some(key)
        }
    };
    if !(4..=8).contains(&raw.icc_dynamic_number_len) {
        return Err(PersoError::new(
            "applications[].icc_dynamic_number_len",
            PersoErrorKind::Length {
                min: 4,
                max: 8,
                actual: usize::from(raw.icc_dynamic_number_len),
            },
        ));
    }
    let digits = &raw.pin.digits;
    if !(4..=12).contains(&digits.len())
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || !(1..=15).contains(&raw.pin.try_limit)
    {
        return Err(PersoError::new("applications[].pin", PersoErrorKind::Pin));
    }
    let ec = EcData {
        balance: amount("applications[].ec.balance", &raw.ec.balance)?,
        balance_limit: amount("applications[].ec.balance_limit", &raw.ec.balance_limit)?,
        single_limit: amount("applications[].ec.single_limit", &raw.ec.single_limit)?,
        reset_threshold: amount("applications[].ec.reset_threshold", &raw.ec.reset_threshold)?,
        currency: hex_array::<2>("applications[].ec.currency", &raw.ec.currency)?,
        issuer_auth_code: hex_array::<6>(
            "applications[].ec.issuer_auth_code",
            &raw.ec.issuer_auth_code,
        )?,
    };
    if ec.balance > ec.balance_limit {
        return Err(PersoError::new(
            "applications[].ec.balance",
            PersoErrorKind::Mismatch { tag: 0x9F79 },
        ));
    }
    let transaction_log = raw
        .transaction_log
        .as_ref()
        .map(|l| log_spec("applications[].transaction_log", l))
        .transpose()?;
    let load_log = raw
        .load_log
        .as_ref()
        .map(|l| log_spec("applications[].load_log", l))
        .transpose()?;

    let app = Application {
        aid,
        fci_contact,
        fci_contactless,
        pdol_contact,
        pdol_contactless,
        gpo_rsa: GpoSet {
            contact: gpo(&raw.gpo.rsa3des.contact)?,
            contactless: gpo(&raw.gpo.rsa3des.contactless)?,
        },
        gpo_sm: GpoSet {
            contact: gpo(&raw.gpo.sm2sm4.contact)?,
            contactless: gpo(&raw.gpo.sm2sm4.contactless)?,
        },
        records,
        cdol1,
        cdol2,
        ddol,
        iad,
        keys_rsa: keys(&raw.keys.rsa3des)?,
        keys_sm: keys(&raw.keys.sm2sm4)?,
        keys_test_only: raw.keys.test_only,
        icc_sm2_private_key,
        icc_rsa_private_key,
        icc_dynamic_number_len: raw.icc_dynamic_number_len,
        pin: Zeroizing::new(digits.clone()),
        pin_try_limit: raw.pin.try_limit,
        issuer_authentication_required: raw.issuer_authentication_required,
        ec,
        transaction_log,
        load_log,
        ctq: hex_array::<2>("applications[].qpboc.ctq", &raw.qpboc.ctq)?,
        gpo_ec_balance: raw.gpo_ec_balance,
    };
    for family in [Family::Rsa3Des, Family::Sm2Sm4] {
        let set = app.gpo(family);
        check_afl(&app, family, &set.contact)?;
        check_afl(&app, family, &set.contactless)?;
        // A CDOL in the records must be the one the card parses GENERATE AC with.
        for (tag, expected) in [(0x8C, &app.cdol1), (0x8D, &app.cdol2)] {
            if let Some(v) = app.record_tag(family, tag) {
                if v != expected.as_slice() {
                    return Err(PersoError::new(
                        "applications[].records[]",
                        PersoErrorKind::Mismatch { tag },
                    ));
                }
            }
        }
    }
    for log in [&app.transaction_log, &app.load_log].into_iter().flatten() {
        if app.has_sfi(log.sfi) {
            return Err(PersoError::new(
                "applications[].transaction_log",
                PersoErrorKind::Mismatch { tag: 0x9F4D },
            ));
        }
    }
    Ok(app)
}

/// Parses and validates a card profile.
pub fn load(json: &str) -> Result<CardProfile, PersoError> {
    let raw: RawProfile = serde_json::from_str(json).map_err(|e| {
        PersoError::new(
            "(file)",
            PersoErrorKind::Json {
                line: e.line(),
                column: e.column(),
            },
        )
    })?;
    if raw.format != FORMAT {
        return Err(PersoError::new("format", PersoErrorKind::UnsupportedFormat));
    }
    let pse = match &raw.pse {
        None => None,
        Some(p) => {
            let fci = hex("pse.fci", &p.fci)?;
            let value = template("pse.fci", &fci, 0x6F)?;
            if find("pse.fci", value, 0x84)? != PSE_NAME {
                return Err(PersoError::new(
                    "pse.fci",
                    PersoErrorKind::Mismatch { tag: 0x84 },
                ));
            }
            if find("pse.fci", value, 0x88)? != [p.sfi] || !(1..=30).contains(&p.sfi) {
                return Err(PersoError::new(
                    "pse.sfi",
                    PersoErrorKind::Mismatch { tag: 0x88 },
                ));
            }
            let mut records = Vec::new();
            for (i, r) in p.records.iter().enumerate() {
                let bytes = hex("pse.records[]", r).map_err(|e| e.item(i))?;
                let value = template("pse.records[]", &bytes, 0x70).map_err(|e| e.item(i))?;
                find("pse.records[]", value, 0x61).map_err(|e| e.item(i))?;
                find("pse.records[]", value, 0x4F).map_err(|e| e.item(i))?;
                records.push(bytes);
            }
            Some(Pse {
                fci,
                sfi: p.sfi,
                records,
            })
        }
    };
    let ppse = match &raw.ppse {
        None => None,
        Some(p) => {
            let fci = hex("ppse.fci", &p.fci)?;
            let value = template("ppse.fci", &fci, 0x6F)?;
            if find("ppse.fci", value, 0x84)? != PPSE_NAME {
                return Err(PersoError::new(
                    "ppse.fci",
                    PersoErrorKind::Mismatch { tag: 0x84 },
                ));
            }
            find("ppse.fci", value, 0xBF0C)?;
            let (mut on_contact, mut on_contactless) = (false, false);
            for name in &p.interfaces {
                match name.as_str() {
                    "contact" => on_contact = true,
                    "contactless" => on_contactless = true,
                    _ => {
                        return Err(PersoError::new(
                            "ppse.interfaces",
                            PersoErrorKind::UnknownName,
                        ))
                    }
                }
            }
            Some(Ppse {
                fci,
                on_contact,
                on_contactless,
            })
        }
    };
    let mut applications = Vec::new();
    for (i, a) in raw.applications.iter().enumerate() {
        applications.push(application(a).map_err(|mut e| {
            e.application = Some(i);
            e
        })?);
    }
    Ok(CardProfile {
        label: raw.label,
        notes: raw.notes,
        pse,
        ppse,
        applications,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcd_round_trip() {
        assert_eq!(bcd_amount(&[0, 0, 0, 1, 0, 0]), Some(10000));
        assert_eq!(amount_bcd(10000), [0, 0, 0, 1, 0, 0]);
        assert_eq!(
            amount_bcd(123_456_789_012),
            [0x12, 0x34, 0x56, 0x78, 0x90, 0x12]
        );
        assert_eq!(bcd_amount(&[0, 0, 0, 0, 0, 0x1A]), None);
    }

    #[test]
    fn bad_files_give_errors() {
        assert!(matches!(
            load("{").unwrap_err().kind,
            PersoErrorKind::Json { .. }
        ));
        let e = load(r#"{"format":"x","applications":[]}"#).unwrap_err();
        assert_eq!(e.kind, PersoErrorKind::UnsupportedFormat);
        let e = load(r#"{"format":"sscard-pboc-card/1","applications":[],"pse":{"fci":"6F0","sfi":1,"records":[]}}"#).unwrap_err();
        assert_eq!((e.field, e.kind), ("pse.fci", PersoErrorKind::Hex));
        let e = load(r#"{"format":"sscard-pboc-card/1","applications":[],"pse":{"fci":"6F058401","sfi":1,"records":[]}}"#).unwrap_err();
        assert_eq!(e.kind, PersoErrorKind::Template { expected: 0x6F });
    }
}

#[cfg(test)]
mod card_json {
    use super::*;

    #[test]
    fn the_shipped_profile_loads() {
        let p = load(include_str!("../../../apdu-specs/pboc/card.json")).unwrap();
        let app = &p.applications[0];
        assert_eq!(app.aid, [0xA0, 0, 0, 0x03, 0x33, 1, 1, 1]);
        assert_eq!(app.ec.balance, 10000);
        assert_eq!(app.transaction_log.as_ref().unwrap().entry(), [0x0B, 0x0A]);
        assert_eq!(app.iad.discretionary.len(), 11);
        // The SM2 static data is SFI 3 record 1 (A.1).
        let rec = app.record(Family::Sm2Sm4, 3, 1).unwrap();
        assert_eq!(rec[0], 0x70);
        assert!(app.record(Family::Sm2Sm4, 4, 2).unwrap().len() > 148);
        assert_ne!(
            app.record(Family::Sm2Sm4, 4, 1),
            app.record(Family::Rsa3Des, 4, 1)
        );
        assert!(app.record_tag(Family::Rsa3Des, 0x57).is_some());
        assert!(p.pse.is_some() && p.ppse.as_ref().unwrap().on_contactless);
    }

    #[test]
    fn afl_pointing_nowhere_is_rejected() {
        let text = include_str!("../../../apdu-specs/pboc/card.json").replace(
            "08010100100101001801010120010200",
            "08010100100101001801010120010300",
        );
        let e = load(&text).unwrap_err();
        assert_eq!(
            e.kind,
            PersoErrorKind::AflRecordMissing { sfi: 4, record: 3 }
        );
        assert_eq!(e.application, Some(0));
        let text = include_str!("../../../apdu-specs/pboc/card.json").replace("\"0B0A\"", "\"0B\"");
        assert!(load(&text).is_err());
    }
}
