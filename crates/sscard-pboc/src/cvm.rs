//! Cardholder verification (EMV Book 3 §10.5; spec/pboc.md §1.5): the CVM list 8E
//! (X ‖ Y ‖ rules), condition codes, methods — plaintext offline PIN by VERIFY, online
//! PIN, signature, no CVM, PBOC cardholder ID presentation \[U: code configurable\] —
//! the "apply succeeding rule if this one fails" bit, and the CVM results 9F34.

use alloc::vec::Vec;

use sscard_apdu::tlv::ber;
use sscard_apdu::trace::Trace;
use sscard_apdu::{Exchange, Transport};
use sscard_emv::Tag;
use zeroize::Zeroizing;

use crate::bits::{self, cvm_result, tsi, tvr};
use crate::card::{self, apdu};
use crate::config::{TerminalConfig, TransactionData};
use crate::error::{Step, Stop};
use crate::tlvdb::TlvDb;
use crate::traits::{Cardholder, PinEntry};

/// CVM method codes (bits 6–1 of the rule's first byte).
pub mod method {
    /// Fail CVM processing.
    pub const FAIL: u8 = 0x00;
    /// Plaintext PIN verified by the ICC.
    pub const OFFLINE_PLAINTEXT_PIN: u8 = 0x01;
    /// Enciphered PIN verified online.
    pub const ONLINE_PIN: u8 = 0x02;
    /// Plaintext PIN verified by the ICC and signature.
    pub const OFFLINE_PIN_AND_SIGNATURE: u8 = 0x03;
    /// Enciphered PIN verified by the ICC (not supported by this kernel).
    pub const OFFLINE_ENCIPHERED_PIN: u8 = 0x04;
    /// Enciphered PIN verified by the ICC and signature (not supported).
    pub const OFFLINE_ENCIPHERED_PIN_AND_SIGNATURE: u8 = 0x05;
    /// Signature (paper).
    pub const SIGNATURE: u8 = 0x1E;
    /// No CVM required.
    pub const NO_CVM: u8 = 0x1F;
}

/// Bit 7 of a rule's first byte: apply the succeeding rule if this one fails.
pub const APPLY_NEXT: u8 = 0x40;

/// What cardholder verification produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CvmOutcome {
    /// 9F34 CVM results.
    pub results: [u8; 3],
    /// A signature line must be printed.
    pub signature: bool,
    /// The enciphered online PIN block.
    pub online_pin: Option<Zeroizing<Vec<u8>>>,
}

enum Performed {
    Success(u8),
    Failed,
}

/// The plaintext PIN block for VERIFY: `2N ‖ digits ‖ F…`, 8 bytes; `None` for a PIN
/// that is not 4–12 ASCII digits.
pub fn plaintext_pin_block(pin: &[u8]) -> Option<Zeroizing<[u8; 8]>> {
    sscard_crypto::pin::Pin::from_ascii(pin)
        .ok()
        .map(|p| p.plaintext_block())
}

pub(crate) struct Cvm<'a> {
    pub cfg: &'a TerminalConfig,
    pub txn: &'a TransactionData,
    pub card: &'a TlvDb,
}

impl Cvm<'_> {
    fn supports(&self, m: u8) -> bool {
        let caps = self.cfg.capabilities.get(1).copied().unwrap_or(0);
        match m {
            method::OFFLINE_PLAINTEXT_PIN => caps & 0x80 != 0,
            method::ONLINE_PIN => caps & 0x40 != 0,
            method::OFFLINE_PIN_AND_SIGNATURE => caps & 0xA0 == 0xA0,
            method::SIGNATURE => caps & 0x20 != 0,
            method::NO_CVM => caps & 0x08 != 0,
            m if m == self.cfg.id_presentation_cvm & 0x3F => self.cfg.supports_id_presentation,
            _ => false,
        }
    }

    fn recognised(&self, m: u8) -> bool {
        matches!(m, 0x00..=0x05 | 0x1E | 0x1F) || m == self.cfg.id_presentation_cvm & 0x3F
    }

    fn condition(&self, code: u8, m: u8, x: u64, y: u64) -> bool {
        let cash = self.txn.txn_type == 0x01;
        let cashback = self.txn.txn_type == 0x09 || self.txn.amount_other > 0;
        let unattended = matches!(self.cfg.terminal_type & 0x0F, 4..=6);
        let same_currency = self
            .card
            .get(Tag::APP_CURRENCY)
            .is_some_and(|c| c == self.cfg.currency.as_slice());
        let amount = self.txn.amount;
        match code {
            0x00 => true,
            0x01 => cash && unattended,
            0x02 => !cash && !cashback,
            0x03 => self.supports(m),
            0x04 => cash && !unattended,
            0x05 => cashback,
            0x06 => same_currency && amount < x,
            0x07 => same_currency && amount > x,
            0x08 => same_currency && amount < y,
            0x09 => same_currency && amount > y,
            _ => false,
        }
    }
}

fn be_u64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |acc, b| (acc << 8) | u64::from(*b))
}

/// Runs CVM processing; updates TVR and TSI.
pub(crate) fn process<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    cvm: &Cvm<'_>,
    cardholder: &mut dyn Cardholder,
    tvr_bytes: &mut [u8; 5],
    tsi_bytes: &mut [u8; 2],
) -> Result<CvmOutcome, Stop> {
    let mut out = CvmOutcome {
        results: [0x3F, 0x00, 0x00],
        ..CvmOutcome::default()
    };
    let aip = cvm
        .card
        .get(Tag::AIP)
        .and_then(|a| a.first().copied())
        .unwrap_or(0);
    if aip & 0x10 == 0 {
        return Ok(out);
    }
    let list = cvm.card.get(Tag::CVM_LIST).unwrap_or_default();
    let (Some(xb), Some(yb), Some(rules)) = (list.get(..4), list.get(4..8), list.get(8..)) else {
        bits::set(tvr_bytes, tvr::ICC_DATA_MISSING);
        return Ok(out);
    };
    if rules.len() < 2 {
        bits::set(tvr_bytes, tvr::ICC_DATA_MISSING);
        return Ok(out);
    }
    let (x, y) = (be_u64(xb), be_u64(yb));
    bits::set(tsi_bytes, tsi::CVM_PERFORMED);
    let mut last_failed = None;
    for rule in rules.chunks_exact(2) {
        let (Some(&code), Some(&cond)) = (rule.first(), rule.get(1)) else {
            continue;
        };
        let m = code & 0x3F;
        if !cvm.condition(cond, m, x, y) {
            continue;
        }
        let performed = if !cvm.recognised(m) {
            bits::set(tvr_bytes, tvr::UNRECOGNISED_CVM);
            Performed::Failed
        } else if m == method::FAIL {
            Performed::Failed
        } else if !cvm.supports(m) {
            if matches!(
                m,
                method::OFFLINE_PLAINTEXT_PIN
                    | method::ONLINE_PIN
                    | method::OFFLINE_PIN_AND_SIGNATURE
                    | method::OFFLINE_ENCIPHERED_PIN
                    | method::OFFLINE_ENCIPHERED_PIN_AND_SIGNATURE
            ) {
                bits::set(tvr_bytes, tvr::PIN_PAD_MISSING);
            }
            Performed::Failed
        } else {
            perform(ex, cvm, m, cardholder, tvr_bytes, &mut out)?
        };
        match performed {
            Performed::Success(result) => {
                out.results = [code, cond, result];
                return Ok(out);
            }
            Performed::Failed => {
                last_failed = Some((code, cond));
                if code & APPLY_NEXT == 0 {
                    break;
                }
            }
        }
    }
    bits::set(tvr_bytes, tvr::CVM_FAILED);
    out.results = match last_failed {
        Some((code, cond)) => [code, cond, cvm_result::FAILED],
        None => [0x3F, 0x00, cvm_result::FAILED],
    };
    Ok(out)
}

fn perform<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    cvm: &Cvm<'_>,
    m: u8,
    cardholder: &mut dyn Cardholder,
    tvr_bytes: &mut [u8; 5],
    out: &mut CvmOutcome,
) -> Result<Performed, Stop> {
    Ok(match m {
        method::OFFLINE_PLAINTEXT_PIN => offline_pin(ex, cardholder, tvr_bytes)?,
        method::OFFLINE_PIN_AND_SIGNATURE => match offline_pin(ex, cardholder, tvr_bytes)? {
            Performed::Success(_) => {
                out.signature = true;
                Performed::Success(cvm_result::UNKNOWN)
            }
            Performed::Failed => Performed::Failed,
        },
        method::ONLINE_PIN => match cardholder.online_pin() {
            PinEntry::Entered(block) => {
                bits::set(tvr_bytes, tvr::ONLINE_PIN_ENTERED);
                out.online_pin = Some(block);
                Performed::Success(cvm_result::UNKNOWN)
            }
            PinEntry::Bypassed => {
                bits::set(tvr_bytes, tvr::PIN_NOT_ENTERED);
                Performed::Failed
            }
            PinEntry::Unavailable => {
                bits::set(tvr_bytes, tvr::PIN_PAD_MISSING);
                Performed::Failed
            }
        },
        method::SIGNATURE => {
            out.signature = true;
            Performed::Success(cvm_result::UNKNOWN)
        }
        method::NO_CVM => Performed::Success(cvm_result::SUCCESSFUL),
        _ => {
            // Cardholder ID presentation [U].
            let id_type = cvm.card.get(Tag::CARDHOLDER_ID_TYPE);
            let id_number = cvm.card.get(Tag::CARDHOLDER_ID);
            if cardholder.present_id(id_type, id_number) {
                Performed::Success(cvm_result::SUCCESSFUL)
            } else {
                Performed::Failed
            }
        }
    })
}

/// Upper bound on PIN prompts in one verification (the card's counter ends it first).
const MAX_PIN_PROMPTS: usize = 16;

fn offline_pin<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    cardholder: &mut dyn Cardholder,
    tvr_bytes: &mut [u8; 5],
) -> Result<Performed, Stop> {
    let answer = card::get_data(ex, 0x9F17)?;
    let mut tries = if answer.ok() {
        ber::parse(&answer.data)
            .ok()
            .filter(|(t, _)| t.tag == 0x9F17)
            .and_then(|(t, _)| t.value.first().copied())
    } else {
        None
    };
    if tries == Some(0) {
        bits::set(tvr_bytes, tvr::PIN_TRY_LIMIT_EXCEEDED);
        return Ok(Performed::Failed);
    }
    for _ in 0..MAX_PIN_PROMPTS {
        let pin = match cardholder.offline_pin(tries) {
            PinEntry::Entered(pin) => pin,
            PinEntry::Bypassed => {
                bits::set(tvr_bytes, tvr::PIN_NOT_ENTERED);
                return Ok(Performed::Failed);
            }
            PinEntry::Unavailable => {
                bits::set(tvr_bytes, tvr::PIN_PAD_MISSING);
                return Ok(Performed::Failed);
            }
        };
        let Some(block) = plaintext_pin_block(&pin) else {
            bits::set(tvr_bytes, tvr::PIN_NOT_ENTERED);
            return Ok(Performed::Failed);
        };
        let cmd = Zeroizing::new(apdu(0x00, 0x20, 0x00, 0x80, block.as_slice(), false)?);
        let answer = card::send(ex, &cmd, Step::Verify)?;
        match answer.sw {
            0x9000 => return Ok(Performed::Success(cvm_result::SUCCESSFUL)),
            0x63C0 | 0x6983 | 0x6984 => {
                bits::set(tvr_bytes, tvr::PIN_TRY_LIMIT_EXCEEDED);
                return Ok(Performed::Failed);
            }
            sw if sw & 0xFFF0 == 0x63C0 => tries = u8::try_from(sw & 0x0F).ok(),
            _ => return Ok(Performed::Failed),
        }
    }
    Ok(Performed::Failed)
}
