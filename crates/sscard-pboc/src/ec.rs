//! Electronic cash (spec/pboc.md §2): GET DATA readers for the EC data objects, the
//! transaction-log and load-log readers, and the EC load (圈存) driver.
//!
//! Offline EC purchases need nothing here: [`crate::contact::run`] sends 9F7A = `01`
//! when [`TerminalConfig::ec_support`] is set and the amount is within 9F7B, and the
//! card approves offline (TC with 9F74) or asks to go online.

use alloc::vec::Vec;
use core::fmt;

use sscard_apdu::tlv::ber;
use sscard_apdu::trace::Trace;
use sscard_apdu::{Exchange, Transport};
use sscard_emv::{Dol, DolError, Tag};

use crate::card::{self, stop_to_result};
use crate::config::{from_bcd, TerminalConfig, TransactionData};
use crate::contact::{self, TransactionResult};
use crate::error::{KernelError, Step, Stop};
use crate::tlvdb::TlvDb;
use crate::traits::Environment;

/// Why an EC reader failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EcError {
    /// The reader or command encoding failed.
    Kernel(KernelError),
    /// The card gave no log entry (9F4D / DF4D), or an invalid one.
    NoLogEntry,
    /// The card gave no log format (9F4F / DF4F).
    NoLogFormat,
    /// The log format is not a valid DOL.
    BadLogFormat(DolError),
    /// A log record is shorter than its format asks for.
    RecordTooShort {
        /// Record number.
        record: u8,
        /// Bytes the format (and prefix) need.
        expected: usize,
        /// Bytes received.
        actual: usize,
    },
    /// READ RECORD of the log answered an error other than `6A83`.
    CardStatus {
        /// Record number.
        record: u8,
        /// Status word.
        sw: u16,
    },
}

impl fmt::Display for EcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Kernel(e) => write!(f, "{e}"),
            Self::NoLogEntry => f.write_str("card has no (valid) log entry"),
            Self::NoLogFormat => f.write_str("card has no log format"),
            Self::BadLogFormat(e) => write!(f, "log format: {e}"),
            Self::RecordTooShort {
                record,
                expected,
                actual,
            } => write!(
                f,
                "log record {record} is {actual} bytes, the format needs {expected}"
            ),
            Self::CardStatus { record, sw } => {
                write!(f, "READ RECORD {record} of the log answered {sw:04X}")
            }
        }
    }
}

impl core::error::Error for EcError {}

impl From<KernelError> for EcError {
    fn from(e: KernelError) -> Self {
        Self::Kernel(e)
    }
}

fn fail(stop: Stop) -> KernelError {
    match stop {
        Stop::Fail(e) => e,
        // Exchange-level malformed answers: the reader helpers have no outcome to end.
        Stop::End(_) => KernelError::MalformedResponse,
    }
}

/// GET DATA of a two-byte tag (`80 CA`); `None` when the card does not return it.
pub fn get_data<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    tag: u16,
) -> Result<Option<Vec<u8>>, KernelError> {
    let answer = card::get_data(ex, tag).map_err(fail)?;
    if !answer.ok() {
        return Ok(None);
    }
    Ok(ber::parse(&answer.data)
        .ok()
        .filter(|(t, _)| t.tag == u32::from(tag))
        .map(|(t, _)| t.value.to_vec()))
}

fn get_amount<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    tag: u16,
) -> Result<Option<u64>, KernelError> {
    Ok(get_data(ex, tag)?.as_deref().and_then(from_bcd))
}

fn get_u16<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    tag: u16,
) -> Result<Option<u16>, KernelError> {
    Ok(get_data(ex, tag)?
        .and_then(|v| <[u8; 2]>::try_from(v.as_slice()).ok())
        .map(u16::from_be_bytes))
}

/// The EC data objects a terminal reads by GET DATA (amounts in minor units).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EcInfo {
    /// 9F79 EC balance.
    pub balance: Option<u64>,
    /// 9F77 EC balance limit.
    pub balance_limit: Option<u64>,
    /// 9F78 EC single transaction limit.
    pub single_limit: Option<u64>,
    /// 9F6D EC reset threshold.
    pub reset_threshold: Option<u64>,
    /// 9F51 application (EC) currency code.
    pub currency: Option<[u8; 2]>,
    /// 9F13 last online ATC.
    pub last_online_atc: Option<u16>,
    /// 9F36 ATC.
    pub atc: Option<u16>,
    /// 9F17 PIN try counter.
    pub pin_tries: Option<u8>,
}

/// Reads 9F79, 9F77, 9F78, 9F6D, 9F51, 9F13, 9F36 and 9F17 from the selected
/// application.
pub fn read_info<T: Transport, R: Trace>(ex: &mut Exchange<T, R>) -> Result<EcInfo, KernelError> {
    Ok(EcInfo {
        balance: get_amount(ex, 0x9F79)?,
        balance_limit: get_amount(ex, 0x9F77)?,
        single_limit: get_amount(ex, 0x9F78)?,
        reset_threshold: get_amount(ex, 0x9F6D)?,
        currency: get_data(ex, 0x9F51)?.and_then(|v| <[u8; 2]>::try_from(v.as_slice()).ok()),
        last_online_atc: get_u16(ex, 0x9F13)?,
        atc: get_u16(ex, 0x9F36)?,
        pin_tries: get_data(ex, 0x9F17)?.and_then(|v| v.first().copied()),
    })
}

/// One transaction-log record split by the log format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// Record number (1 = most recent \[U\]).
    pub record: u8,
    /// The fields in format order.
    pub fields: Vec<(Tag, Vec<u8>)>,
}

impl LogRecord {
    /// The value of `tag`.
    pub fn get(&self, tag: Tag) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.as_slice())
    }
}

/// A log entry (SFI, maximum number of records) from the FCI or GET DATA.
fn log_entry<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    fci: Option<&TlvDb>,
    tag: Tag,
) -> Result<(u8, u8), EcError> {
    let from_fci = fci.and_then(|db| db.get(tag)).map(<[u8]>::to_vec);
    let value = match from_fci {
        Some(v) => Some(v),
        None => get_data(ex, u16::try_from(tag.0).map_err(|_| EcError::NoLogEntry)?)?,
    };
    match value.as_deref() {
        Some(&[sfi, max]) if (1..=30).contains(&sfi) && max > 0 => Ok((sfi, max)),
        _ => Err(EcError::NoLogEntry),
    }
}

fn read_log<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    sfi: u8,
    max: u8,
    mut take: impl FnMut(u8, &[u8]) -> Result<(), EcError>,
) -> Result<(), EcError> {
    for record in 1..=max {
        let answer = card::read_record(ex, sfi, record, Step::ReadRecord).map_err(fail)?;
        if answer.sw == 0x6A83 {
            break;
        }
        if !answer.ok() {
            return Err(EcError::CardStatus {
                record,
                sw: answer.sw,
            });
        }
        take(record, &answer.data)?;
    }
    Ok(())
}

fn split(
    dol: &Dol<'_>,
    record: u8,
    data: &[u8],
    offset: usize,
) -> Result<Vec<(Tag, Vec<u8>)>, EcError> {
    let need = dol.data_len();
    let body = data
        .get(offset..offset + need)
        .ok_or(EcError::RecordTooShort {
            record,
            expected: offset + need,
            actual: data.len(),
        })?;
    let parts = dol.split(body).map_err(EcError::BadLogFormat)?;
    Ok(parts.into_iter().map(|(t, v)| (t, v.to_vec())).collect())
}

/// Reads the transaction log of the selected application: entry 9F4D from `fci`
/// (the FCI's BF0C) or GET DATA, format 9F4F by GET DATA, then READ RECORD 1.. until
/// `6A83` or the maximum, each record split by the format.
pub fn read_transaction_log<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    fci: Option<&TlvDb>,
) -> Result<Vec<LogRecord>, EcError> {
    let (sfi, max) = log_entry(ex, fci, Tag::LOG_ENTRY)?;
    let format = get_data(ex, 0x9F4F)?.ok_or(EcError::NoLogFormat)?;
    let dol = Dol::parse(&format).map_err(EcError::BadLogFormat)?;
    let mut out = Vec::new();
    read_log(ex, sfi, max, |record, data| {
        out.push(LogRecord {
            record,
            fields: split(&dol, record, data, 0)?,
        });
        Ok(())
    })?;
    Ok(out)
}

/// A field of the load-log record prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefixField {
    /// P1 of the PUT DATA that loaded.
    P1,
    /// P2 of the PUT DATA that loaded.
    P2,
    /// Balance before the load (n12).
    BalanceBefore,
    /// Balance after the load (n12).
    BalanceAfter,
    /// Bytes to skip.
    Skip,
}

/// The layout of the prefix before the DF4F fields of a load-log record.
/// \[U\] default: `P1 1 ‖ P2 1 ‖ balance before 6 ‖ balance after 6` (spec/pboc.md §2;
/// the order and sizes are not confirmed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadLogLayout {
    /// The prefix fields with their lengths, in order.
    pub prefix: Vec<(PrefixField, usize)>,
}

impl Default for LoadLogLayout {
    fn default() -> Self {
        Self {
            prefix: alloc::vec![
                (PrefixField::P1, 1),
                (PrefixField::P2, 1),
                (PrefixField::BalanceBefore, 6),
                (PrefixField::BalanceAfter, 6),
            ],
        }
    }
}

/// One load-log record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadLogRecord {
    /// Record number.
    pub record: u8,
    /// PUT DATA P1.
    pub p1: Option<u8>,
    /// PUT DATA P2.
    pub p2: Option<u8>,
    /// Balance before, in minor units.
    pub balance_before: Option<u64>,
    /// Balance after, in minor units.
    pub balance_after: Option<u64>,
    /// The DF4F fields in format order.
    pub fields: Vec<(Tag, Vec<u8>)>,
}

/// Reads the load log: entry DF4D (FCI or GET DATA), format DF4F by GET DATA, each
/// record = prefix (`layout`) ‖ DF4F fields.
pub fn read_load_log<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    fci: Option<&TlvDb>,
    layout: &LoadLogLayout,
) -> Result<Vec<LoadLogRecord>, EcError> {
    let (sfi, max) = log_entry(ex, fci, Tag::LOAD_LOG_ENTRY)?;
    let format = get_data(ex, 0xDF4F)?.ok_or(EcError::NoLogFormat)?;
    let dol = Dol::parse(&format).map_err(EcError::BadLogFormat)?;
    let prefix_len: usize = layout.prefix.iter().map(|(_, n)| n).sum();
    let mut out = Vec::new();
    read_log(ex, sfi, max, |record, data| {
        let mut rec = LoadLogRecord {
            record,
            p1: None,
            p2: None,
            balance_before: None,
            balance_after: None,
            fields: split(&dol, record, data, prefix_len)?,
        };
        let mut at = 0;
        for (field, n) in &layout.prefix {
            let value = data.get(at..at + n).unwrap_or_default();
            at += n;
            match field {
                PrefixField::P1 => rec.p1 = value.first().copied(),
                PrefixField::P2 => rec.p2 = value.first().copied(),
                PrefixField::BalanceBefore => rec.balance_before = from_bcd(value),
                PrefixField::BalanceAfter => rec.balance_after = from_bcd(value),
                PrefixField::Skip => {}
            }
        }
        out.push(rec);
        Ok(())
    })?;
    Ok(out)
}

/// What an EC load produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadResult {
    /// The online transaction (outcome, TVR, TSI, DF31 script results, field 55).
    pub transaction: TransactionResult,
    /// 9F79 read back after the script, when the card answered it.
    pub balance_after: Option<u64>,
}

/// The EC load driver (spec/pboc.md §2): an online transaction with
/// [`TerminalConfig::ec_load_txn_type`] (\[U\] `63`), forced online, 9F7A = `01`;
/// the issuer answers ARPC (EXTERNAL AUTHENTICATE or CDOL2) and a `72` script
/// `9F18 ‖ 86 <04 DA 9F 79 0A new balance ‖ MAC>`, which runs after GAC2; then the
/// balance is read back by GET DATA 9F79.
pub fn load<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    cfg: &TerminalConfig,
    amount: u64,
    txn: &TransactionData,
    env: &mut Environment<'_>,
) -> Result<LoadResult, KernelError> {
    let txn = TransactionData {
        amount,
        amount_other: 0,
        txn_type: cfg.ec_load_txn_type,
        force_online: true,
        ..txn.clone()
    };
    let transaction = contact::run(ex, cfg, &txn, env)?;
    let balance_after = if transaction.aid.is_empty() {
        None
    } else {
        stop_to_result(card::get_data(ex, 0x9F79))?
            .ok()
            .filter(|a| a.ok())
            .and_then(|a| {
                ber::parse(&a.data)
                    .ok()
                    .filter(|(t, _)| t.tag == 0x9F79)
                    .and_then(|(t, _)| from_bcd(t.value))
            })
    };
    Ok(LoadResult {
        transaction,
        balance_after,
    })
}
