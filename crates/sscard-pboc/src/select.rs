//! Application selection (spec/pboc.md §1.1; EMV Book 1 §12): the PSE directory
//! (contact), the PPSE FCI (contactless), the terminal AID list as fallback, the
//! candidate list sorted by priority (87), and final selection.

use alloc::vec::Vec;

use sscard_apdu::tlv::ber;
use sscard_apdu::trace::Trace;
use sscard_apdu::{Exchange, Transport};
use sscard_emv::Tag;

use crate::card::{self, apdu, Answer};
use crate::config::TerminalConfig;
use crate::error::{KernelError, Step, Stop, Termination};
use crate::tlvdb::TlvDb;
use crate::traits::{AppChoice, Cardholder};

/// The contact payment system environment name.
pub const PSE: &[u8] = b"1PAY.SYS.DDF01";
/// The contactless proximity payment system environment name.
pub const PPSE: &[u8] = b"2PAY.SYS.DDF01";

/// How many SELECT-next rounds a partial AID may take.
const MAX_PARTIAL_ROUNDS: usize = 16;

/// A mutually supported application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The card's AID (ADF name).
    pub aid: Vec<u8>,
    /// 50 application label.
    pub label: Option<Vec<u8>>,
    /// 9F12 application preferred name.
    pub preferred_name: Option<Vec<u8>>,
    /// 87 application priority indicator.
    pub priority: Option<u8>,
}

impl Candidate {
    /// Whether priority bit 8 asks for cardholder confirmation.
    pub fn needs_confirmation(&self) -> bool {
        self.priority.is_some_and(|p| p & 0x80 != 0)
    }

    fn rank(&self) -> u8 {
        match self.priority.map(|p| p & 0x0F) {
            Some(n) if n != 0 => n,
            _ => 16,
        }
    }

    fn from_entry(value: &[u8]) -> Option<Self> {
        let aid = find(value, 0x4F)?;
        Some(Self {
            aid: aid.to_vec(),
            label: find(value, 0x50).map(<[u8]>::to_vec),
            preferred_name: find(value, 0x9F12).map(<[u8]>::to_vec),
            priority: find(value, 0x87).and_then(|p| p.first().copied()),
        })
    }
}

/// The finally selected application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    /// The candidate that was selected.
    pub candidate: Candidate,
    /// 84 DF name from the FCI.
    pub df_name: Vec<u8>,
    /// The FCI's data objects (A5 and BF0C contents, 84).
    pub fci: TlvDb,
}

fn find(bytes: &[u8], tag: u32) -> Option<&[u8]> {
    ber::find(bytes, tag).ok().flatten()
}

/// SELECT by name; `next` selects the next occurrence (P2 `02`).
pub(crate) fn select_name<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    name: &[u8],
    next: bool,
) -> Result<Answer, Stop> {
    let cmd = apdu(0x00, 0xA4, 0x04, if next { 0x02 } else { 0x00 }, name, true)?;
    card::send(ex, &cmd, Step::Select)
}

/// The FCI's data objects: 84, and the primitive contents of A5 and BF0C.
fn fci_objects(fci: &[u8]) -> Option<TlvDb> {
    let body = find(fci, 0x6F)?;
    let mut db = TlvDb::new();
    for tlv in ber::iter(body) {
        let tlv = tlv.ok()?;
        match tlv.tag {
            0xA5 => {
                for inner in tlv.children() {
                    let inner = inner.ok()?;
                    if inner.tag == 0xBF0C {
                        for d in inner.children() {
                            let d = d.ok()?;
                            db.set(Tag(d.tag), d.value);
                        }
                    }
                    db.set(Tag(inner.tag), inner.value);
                }
            }
            t => db.set(Tag(t), tlv.value),
        }
    }
    Some(db)
}

fn sort(list: &mut [Candidate]) {
    list.sort_by_key(Candidate::rank);
}

/// Builds the candidate list: PSE directory (or PPSE FCI when `contactless`), else the
/// terminal AID list; sorted by priority.
pub(crate) fn candidates<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    cfg: &TerminalConfig,
    contactless: bool,
) -> Result<Vec<Candidate>, Stop> {
    let mut list = if contactless {
        ppse(ex, cfg)?
    } else {
        pse(ex, cfg)?
    };
    if list.is_empty() && !contactless {
        list = aid_list(ex, cfg)?;
    }
    sort(&mut list);
    Ok(list)
}

fn supported(cfg: &TerminalConfig, aid: &[u8]) -> bool {
    cfg.aids.iter().any(|e| e.matches(aid))
}

fn pse<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    cfg: &TerminalConfig,
) -> Result<Vec<Candidate>, Stop> {
    let answer = select_name(ex, PSE, false)?;
    if answer.sw == 0x6A81 {
        return Err(Termination::CardBlocked.into());
    }
    let mut list = Vec::new();
    if !answer.ok() {
        return Ok(list);
    }
    let Some(sfi) = fci_objects(&answer.data)
        .and_then(|db| db.get(Tag::SFI).and_then(|v| v.first().copied()))
        .filter(|s| (1..=30).contains(s))
    else {
        return Ok(list);
    };
    for record in 1..=u8::MAX {
        let r = card::read_record(ex, sfi, record, Step::Directory)?;
        if !r.ok() {
            break;
        }
        let Some(body) = ber::parse(&r.data).ok().filter(|(t, _)| t.tag == 0x70) else {
            break;
        };
        for entry in ber::iter(body.0.value).flatten() {
            if entry.tag != 0x61 {
                continue;
            }
            if let Some(c) = Candidate::from_entry(entry.value) {
                if supported(cfg, &c.aid) && !list.contains(&c) {
                    list.push(c);
                }
            }
        }
    }
    Ok(list)
}

fn ppse<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    cfg: &TerminalConfig,
) -> Result<Vec<Candidate>, Stop> {
    let answer = select_name(ex, PPSE, false)?;
    if answer.sw == 0x6A81 {
        return Err(Termination::CardBlocked.into());
    }
    let mut list = Vec::new();
    if !answer.ok() {
        return Ok(list);
    }
    let Some(dir) = find(&answer.data, 0xBF0C) else {
        return Ok(list);
    };
    for entry in ber::iter(dir).flatten() {
        if entry.tag != 0x61 {
            continue;
        }
        if let Some(c) = Candidate::from_entry(entry.value) {
            if supported(cfg, &c.aid) {
                list.push(c);
            }
        }
    }
    Ok(list)
}

fn aid_list<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    cfg: &TerminalConfig,
) -> Result<Vec<Candidate>, Stop> {
    let mut list: Vec<Candidate> = Vec::new();
    for entry in &cfg.aids {
        let mut next = false;
        for _ in 0..MAX_PARTIAL_ROUNDS {
            let answer = select_name(ex, &entry.aid, next)?;
            if answer.sw == 0x6A81 {
                return Err(Termination::CardBlocked.into());
            }
            if !answer.ok() && answer.sw != 0x6283 {
                break;
            }
            let Some(fci) = fci_objects(&answer.data) else {
                break;
            };
            let Some(df_name) = fci.get(Tag::DF_NAME) else {
                break;
            };
            if answer.ok() && entry.matches(df_name) && !list.iter().any(|c| c.aid == df_name) {
                list.push(Candidate {
                    aid: df_name.to_vec(),
                    label: fci.get(Tag::APP_LABEL).map(<[u8]>::to_vec),
                    preferred_name: fci.get(Tag::PREFERRED_NAME).map(<[u8]>::to_vec),
                    priority: fci.get(Tag::PRIORITY).and_then(|p| p.first().copied()),
                });
            }
            if !entry.partial_match {
                break;
            }
            next = true;
        }
    }
    Ok(list)
}

/// Final selection: takes candidates from the front of `list` (which is consumed as
/// they are tried) until one is confirmed (if needed) and selects with `9000` and a
/// valid FCI. `6283` (blocked application) and other failures move to the next one.
pub(crate) fn final_select<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    list: &mut Vec<Candidate>,
    cfg: &TerminalConfig,
    cardholder: &mut dyn Cardholder,
) -> Result<Selected, Stop> {
    while !list.is_empty() {
        let candidate = list.remove(0);
        if candidate.needs_confirmation() {
            let choice = AppChoice {
                aid: &candidate.aid,
                label: candidate.label.as_deref(),
                preferred_name: candidate.preferred_name.as_deref(),
            };
            if !cfg.can_confirm || !cardholder.confirm_application(&choice) {
                continue;
            }
        }
        let answer = select_name(ex, &candidate.aid, false)?;
        if !answer.ok() {
            continue;
        }
        let Some(mut fci) = fci_objects(&answer.data) else {
            continue;
        };
        let Some(df_name) = fci.get(Tag::DF_NAME).map(<[u8]>::to_vec) else {
            continue;
        };
        if df_name != candidate.aid {
            continue;
        }
        fci.remove(Tag::SFI);
        return Ok(Selected {
            candidate,
            df_name,
            fci,
        });
    }
    Err(Termination::NoApplication.into())
}

/// Builds the candidate list (see the module docs). The inner `Err` is a card
/// decision (e.g. card blocked).
pub fn candidate_list<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    cfg: &TerminalConfig,
    contactless: bool,
) -> Result<Result<Vec<Candidate>, Termination>, KernelError> {
    card::stop_to_result(candidates(ex, cfg, contactless))
}

/// Selects the application `aid` directly and returns its FCI objects (for readers
/// that do not run a transaction, e.g. the EC readers).
pub fn select_application<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    aid: &[u8],
) -> Result<Result<Selected, Termination>, KernelError> {
    let mut list = alloc::vec![Candidate {
        aid: aid.to_vec(),
        label: None,
        preferred_name: None,
        priority: None,
    }];
    let cfg = TerminalConfig::default();
    card::stop_to_result(final_select(
        ex,
        &mut list,
        &cfg,
        &mut crate::traits::NoCardholder,
    ))
}
