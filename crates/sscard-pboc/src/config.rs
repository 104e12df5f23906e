//! Terminal configuration and per-transaction data. Everything the flow decides on is
//! data here; the defaults are only a convenient starting point.

use alloc::vec;
use alloc::vec::Vec;

use sscard_emv::Tag;

use crate::tlvdb::TlvDb;

/// One entry of the terminal's AID list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AidEntry {
    /// The AID (or its leading bytes when `partial_match`).
    pub aid: Vec<u8>,
    /// Application selection indicator (PBOC `DF01`): the card's AID may be longer.
    pub partial_match: bool,
}

impl AidEntry {
    /// Whether the card application `card_aid` matches this entry.
    pub fn matches(&self, card_aid: &[u8]) -> bool {
        card_aid == self.aid.as_slice() || (self.partial_match && card_aid.starts_with(&self.aid))
    }
}

/// The UnionPay AIDs (spec/pboc.md §1.1): debit, credit, quasi-credit, pure e-cash.
pub fn unionpay_aids() -> Vec<AidEntry> {
    [0x01u8, 0x02, 0x03, 0x06]
        .iter()
        .map(|last| AidEntry {
            aid: vec![0xA0, 0x00, 0x00, 0x03, 0x33, 0x01, 0x01, *last],
            partial_match: true,
        })
        .collect()
}

/// The terminal's configuration (terminal data objects, action codes, limits, lists).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerminalConfig {
    /// 9F1A terminal country code (n3).
    pub country: [u8; 2],
    /// 5F2A transaction currency code (n3).
    pub currency: [u8; 2],
    /// 9F33 terminal capabilities.
    pub capabilities: [u8; 3],
    /// 9F35 terminal type.
    pub terminal_type: u8,
    /// 9F40 additional terminal capabilities.
    pub additional_capabilities: [u8; 5],
    /// 9F09 terminal application version number.
    pub app_version: [u8; 2],
    /// 9F4E merchant name and location.
    pub merchant_name: Vec<u8>,
    /// 9F1E interface device serial number.
    pub ifd_serial: [u8; 8],
    /// DF11 terminal action code — default.
    pub tac_default: [u8; 5],
    /// DF12 terminal action code — online.
    pub tac_online: [u8; 5],
    /// DF13 terminal action code — denial.
    pub tac_denial: [u8; 5],
    /// 9F1B terminal floor limit, in minor units.
    pub floor_limit: u64,
    /// DF15 threshold value for biased random selection, in minor units.
    pub random_threshold: u64,
    /// DF16 maximum target percentage for biased random selection (0–99).
    pub random_max_percent: u8,
    /// DF17 target percentage for random selection (0–99).
    pub random_target_percent: u8,
    /// Whether random transaction selection is performed.
    pub random_selection: bool,
    /// Whether velocity checking (LCOL/UCOL) is performed.
    pub velocity_checking: bool,
    /// The terminal AID list.
    pub aids: Vec<AidEntry>,
    /// Whether the terminal can ask the cardholder to confirm an application
    /// (priority bit 8).
    pub can_confirm: bool,
    /// 9F7A electronic cash terminal support indicator.
    pub ec_support: bool,
    /// 9F7B electronic cash terminal transaction limit, in minor units.
    pub ec_terminal_limit: u64,
    /// DF69 SM algorithm support indicator.
    pub sm_support: bool,
    /// The default DDOL (used when the card has no 9F49).
    pub default_ddol: Vec<u8>,
    /// Whether the terminal can go online.
    pub online_capable: bool,
    /// Terminal exception file: PANs (5A values) that are hot-listed.
    pub exception_file: Vec<Vec<u8>>,
    /// ARCs (8A) that mean "approved".
    pub approval_arcs: Vec<[u8; 2]>,
    /// ARC sent in CDOL2 when the terminal could not go online and approves (`Y3`).
    pub arc_unable_online_approved: [u8; 2],
    /// ARC sent in CDOL2 when the terminal could not go online and declines (`Z3`).
    pub arc_unable_online_declined: [u8; 2],
    /// Maximum total length of the issuer scripts the terminal processes (EMV: 128).
    pub max_script_len: usize,
    /// CVM code of cardholder ID presentation \[U: `20`, spec/pboc.md §1.5\].
    pub id_presentation_cvm: u8,
    /// Whether the terminal supports cardholder ID presentation.
    pub supports_id_presentation: bool,
    /// 9C for an EC load \[U: `63`, spec/pboc.md §2\].
    pub ec_load_txn_type: u8,
    /// 9F66 terminal transaction qualifiers (qPBOC), before per-transaction bits.
    pub ttq: [u8; 4],
    /// DF19 contactless floor limit, in minor units.
    pub contactless_floor_limit: u64,
    /// DF20 contactless transaction limit, in minor units.
    pub contactless_limit: u64,
    /// DF21 contactless CVM-required limit, in minor units.
    pub cvm_required_limit: u64,
    /// The tags of the field-55 TLV set, in order.
    pub field55_tags: Vec<Tag>,
    /// Further terminal data objects a DOL may ask for.
    pub extra: TlvDb,
}

impl Default for TerminalConfig {
    fn default() -> Self {
        Self {
            country: [0x01, 0x56],
            currency: [0x01, 0x56],
            capabilities: [0xE0, 0xE8, 0xC8],
            terminal_type: 0x22,
            additional_capabilities: [0x60, 0x00, 0xF0, 0xA0, 0x01],
            app_version: [0x00, 0x30],
            merchant_name: b"SSCARD TEST TERMINAL".to_vec(),
            ifd_serial: *b"SSCARD01",
            tac_default: [0xD8, 0x40, 0x04, 0xA8, 0x00],
            tac_online: [0xD8, 0x40, 0x04, 0xF8, 0x00],
            tac_denial: [0x00, 0x10, 0x00, 0x00, 0x00],
            floor_limit: 50_000,
            random_threshold: 10_000,
            random_max_percent: 50,
            random_target_percent: 10,
            random_selection: true,
            velocity_checking: true,
            aids: unionpay_aids(),
            can_confirm: false,
            ec_support: false,
            ec_terminal_limit: 100_000,
            sm_support: false,
            default_ddol: vec![0x9F, 0x37, 0x04],
            online_capable: true,
            exception_file: Vec::new(),
            approval_arcs: vec![*b"00", *b"10", *b"11"],
            arc_unable_online_approved: *b"Y3",
            arc_unable_online_declined: *b"Z3",
            max_script_len: 128,
            id_presentation_cvm: 0x20,
            supports_id_presentation: true,
            ec_load_txn_type: 0x63,
            ttq: [0x26, 0x00, 0x00, 0x80],
            contactless_floor_limit: 50_000,
            contactless_limit: 500_000,
            cvm_required_limit: 30_000,
            field55_tags: default_field55_tags(),
            extra: TlvDb::new(),
        }
    }
}

/// The default field-55 tag set for the acquirer.
pub fn default_field55_tags() -> Vec<Tag> {
    [
        0x9F26, 0x9F27, 0x9F10, 0x9F37, 0x9F36, 0x95, 0x9A, 0x9C, 0x9F02, 0x5F2A, 0x82, 0x9F1A,
        0x9F03, 0x9F33, 0x9F34, 0x9F35, 0x9F1E, 0x84, 0x9F09, 0x9F41, 0x9F63, 0x9F74, 0x8A, 0xDF31,
    ]
    .iter()
    .map(|t| Tag(*t))
    .collect()
}

/// Per-transaction data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionData {
    /// 9F02 amount authorised, in minor units.
    pub amount: u64,
    /// 9F03 amount other (cashback), in minor units.
    pub amount_other: u64,
    /// 9C transaction type (`00` goods/services, `01` cash, `09` cashback, ...).
    pub txn_type: u8,
    /// Whether a `00` purchase is for services rather than goods (AUC check).
    pub services: bool,
    /// 9A transaction date YYMMDD (BCD).
    pub date: [u8; 3],
    /// 9F21 transaction time HHMMSS (BCD).
    pub time: [u8; 3],
    /// 9F41 transaction sequence counter.
    pub sequence: u32,
    /// Merchant forced the transaction online.
    pub force_online: bool,
}

impl Default for TransactionData {
    fn default() -> Self {
        Self {
            amount: 0,
            amount_other: 0,
            txn_type: 0x00,
            services: false,
            date: [0x26, 0x01, 0x01],
            time: [0x12, 0x00, 0x00],
            sequence: 1,
            force_online: false,
        }
    }
}

/// `value` as 6-byte BCD (n12); values above 999 999 999 999 saturate.
pub fn to_n12(value: u64) -> [u8; 6] {
    let mut v = value.min(999_999_999_999);
    let mut out = [0u8; 6];
    for b in out.iter_mut().rev() {
        let lo = u8::try_from(v % 10).unwrap_or(0);
        v /= 10;
        let hi = u8::try_from(v % 10).unwrap_or(0);
        v /= 10;
        *b = (hi << 4) | lo;
    }
    out
}

/// Decodes BCD digits (invalid nibbles make it `None`).
pub fn from_bcd(bytes: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for b in bytes {
        for d in [b >> 4, b & 0x0F] {
            if d > 9 {
                return None;
            }
            v = v.checked_mul(10)?.checked_add(u64::from(d))?;
        }
    }
    Some(v)
}

/// A YYMMDD BCD date as a comparable number `YYYYMMDD` (YY < 50 ⇒ 20YY).
pub fn date_number(bytes: &[u8]) -> Option<u64> {
    if bytes.len() != 3 {
        return None;
    }
    let v = from_bcd(bytes)?;
    let yy = v / 10_000;
    let year = if yy < 50 { 2000 + yy } else { 1900 + yy };
    Some(year * 10_000 + v % 10_000)
}
