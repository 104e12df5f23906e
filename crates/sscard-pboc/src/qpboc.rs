//! The qPBOC subset (spec/pboc.md §1.2, §1.4.2, §1.6): PPSE selection, TTQ 9F66 in the
//! PDOL data with per-transaction bits from the reader limits (DF19 floor, DF20
//! transaction limit, DF21 CVM limit), the cryptogram returned by GPO (`77` with
//! 9F26/9F36/9F10/57/9F6C), records, fDDA through [`OfflineAuth`], online
//! authorisation without a second GENERATE AC, and the CTQ-driven fallback when fDDA
//! does not pass.
//!
//! \[U\] readings: when GPO returns no 9F27, the cryptogram type comes from CVR byte 2
//! (IAD byte 4, bits `30`: `10` TC, `20` ARQC, `00` AAC, as the `A0`/`90` CVRs of
//! spec/pboc.md §1.5); a GPO answer without 9F26 (contact-only or MSD path) ends with
//! "use the contact interface"; CVM results are `1F0002` when no CVM was required.

use alloc::vec::Vec;

use sscard_apdu::trace::Trace;
use sscard_apdu::{Exchange, Transport};
use sscard_emv::Tag;

use crate::bits::{self, tsi, tvr};
use crate::config::{TerminalConfig, TransactionData};
use crate::contact::{Ctx, Outcome, TransactionResult};
use crate::error::{KernelError, Stop, Termination};
use crate::select;
use crate::traits::{Environment, OdaVerdict, OfflineAuth, OnlineRequest, PinEntry};

/// TTQ byte 2 bit 8: online cryptogram required.
pub const TTQ_ONLINE_REQUIRED: u8 = 0x80;
/// TTQ byte 2 bit 7: CVM required.
pub const TTQ_CVM_REQUIRED: u8 = 0x40;
/// CTQ byte 1: online PIN required.
pub const CTQ_ONLINE_PIN: u8 = 0x80;
/// CTQ byte 1: signature required.
pub const CTQ_SIGNATURE: u8 = 0x40;
/// CTQ byte 1: go online if offline data authentication fails and the reader is
/// online capable.
pub const CTQ_ONLINE_IF_ODA_FAILS: u8 = 0x20;
/// CTQ byte 1: switch interface if offline data authentication fails.
pub const CTQ_CONTACT_IF_ODA_FAILS: u8 = 0x10;

/// The TTQ for this transaction: the configured bits plus "online cryptogram
/// required" (amount ≥ DF19, or forced online) and "CVM required" (amount ≥ DF21).
pub fn ttq(cfg: &TerminalConfig, txn: &TransactionData) -> [u8; 4] {
    let mut ttq = cfg.ttq;
    if txn.amount >= cfg.contactless_floor_limit || txn.force_online {
        ttq[1] |= TTQ_ONLINE_REQUIRED;
    }
    if txn.amount >= cfg.cvm_required_limit {
        ttq[1] |= TTQ_CVM_REQUIRED;
    }
    ttq
}

/// Runs a qPBOC transaction. Card decisions end in [`Outcome`]; only reader failures
/// are errors.
pub fn run<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    cfg: &TerminalConfig,
    txn: &TransactionData,
    env: &mut Environment<'_>,
) -> Result<TransactionResult, KernelError> {
    let mut ctx = Ctx::new(cfg, txn, &mut *env.rng);
    ctx.term.set(Tag::TTQ, &ttq(cfg, txn));
    match flow(&mut ctx, ex, env) {
        Ok(outcome) => Ok(ctx.finish(outcome)),
        Err(Stop::End(t)) => Ok(ctx.finish(Outcome::Terminated(t))),
        Err(Stop::Fail(e)) => Err(e),
    }
}

fn flow<T: Transport, R: Trace>(
    ctx: &mut Ctx<'_>,
    ex: &mut Exchange<T, R>,
    env: &mut Environment<'_>,
) -> Result<Outcome, Stop> {
    if ctx.txn.amount >= ctx.cfg.contactless_limit {
        return Err(Termination::ContactlessLimitExceeded.into());
    }
    let mut list = select::candidates(ex, ctx.cfg, true)?;
    if list.is_empty() {
        return Err(Termination::NoApplication.into());
    }
    loop {
        let selected = select::final_select(ex, &mut list, ctx.cfg, &mut *env.cardholder)?;
        ctx.begin_application(&selected);
        let gpo = ctx.gpo(ex, |dol| {
            if dol.contains(Tag::TTQ) {
                Ok(())
            } else {
                Err(Termination::UseContactInterface.into())
            }
        })?;
        if gpo.is_some() {
            break;
        }
    }
    if !ctx.card.contains(Tag::AC) {
        return Err(Termination::UseContactInterface.into());
    }
    ctx.read_records(ex, false)?;
    if !ctx.card.contains(Tag::PAN) && !ctx.card.contains(Tag::TRACK2) {
        return Err(Termination::MissingMandatory(Tag::PAN).into());
    }
    bits::set(&mut ctx.tsi, tsi::CARD_RISK_MANAGEMENT);
    let cid = match ctx.card.get(Tag::CID).and_then(|c| c.first().copied()) {
        Some(cid) => cid,
        None => {
            let cvr = ctx
                .card
                .get(Tag::IAD)
                .and_then(|iad| iad.get(4).copied())
                .unwrap_or(0);
            match cvr & 0x30 {
                0x10 => 0x40,
                0x20 => 0x80,
                _ => 0x00,
            }
        }
    };
    ctx.card.set(Tag::CID, &[cid]);
    ctx.restrictions();
    cardholder_verification(ctx, env);
    match cid & 0xC0 {
        0x40 => offline(ctx, env),
        0x80 => online(ctx, env),
        0x00 => Ok(Outcome::DeclinedOffline),
        _ => Err(Termination::InvalidCid.into()),
    }
}

fn cardholder_verification(ctx: &mut Ctx<'_>, env: &mut Environment<'_>) {
    let ctq = ctx
        .card
        .get(Tag::CTQ)
        .and_then(|c| c.first().copied())
        .unwrap_or(0);
    let ttq = ctx.term.get(Tag::TTQ).unwrap_or_default().to_vec();
    let ttq0 = ttq.first().copied().unwrap_or(0);
    let cvm_required = ttq.get(1).is_some_and(|b| b & TTQ_CVM_REQUIRED != 0);
    ctx.cvm.results = [0x1F, 0x00, 0x02];
    if ctq & CTQ_ONLINE_PIN != 0 && ttq0 & 0x04 != 0 {
        bits::set(&mut ctx.tsi, tsi::CVM_PERFORMED);
        match env.cardholder.online_pin() {
            PinEntry::Entered(block) => {
                bits::set(&mut ctx.tvr, tvr::ONLINE_PIN_ENTERED);
                ctx.cvm.online_pin = Some(block);
                ctx.cvm.results = [0x02, 0x00, 0x00];
            }
            _ => {
                bits::set(&mut ctx.tvr, tvr::PIN_NOT_ENTERED);
                bits::set(&mut ctx.tvr, tvr::CVM_FAILED);
                ctx.cvm.results = [0x02, 0x00, 0x01];
            }
        }
    } else if ctq & CTQ_SIGNATURE != 0 && ttq0 & 0x02 != 0 {
        bits::set(&mut ctx.tsi, tsi::CVM_PERFORMED);
        ctx.cvm.signature = true;
        ctx.cvm.results = [0x1E, 0x00, 0x00];
    } else if cvm_required {
        ctx.cvm.results = [0x3F, 0x00, 0x00];
    }
}

fn fdda(ctx: &mut Ctx<'_>, oda: &mut dyn OfflineAuth) -> bool {
    if ctx.aip(0) & 0x20 == 0 {
        bits::set(&mut ctx.tvr, tvr::ODA_NOT_PERFORMED);
        return false;
    }
    let mut data = Vec::new();
    for tag in [Tag::UNPREDICTABLE_NUMBER, Tag::AMOUNT, Tag::TXN_CURRENCY] {
        data.extend_from_slice(ctx.term.get(tag).unwrap_or_default());
    }
    data.extend_from_slice(ctx.card.get(Tag::CARD_AUTH_DATA).unwrap_or_default());
    let verdict = if ctx.static_bad {
        OdaVerdict::Failed
    } else {
        oda.fdda(&ctx.oda_input(), &data)
    };
    let passed = matches!(verdict, OdaVerdict::Passed(_));
    ctx.apply_verdict(verdict, tvr::DDA_FAILED);
    passed
}

fn offline(ctx: &mut Ctx<'_>, env: &mut Environment<'_>) -> Result<Outcome, Stop> {
    if fdda(ctx, &mut *env.oda) {
        if bits::is_set(&ctx.tvr, tvr::EXPIRED) {
            return Ok(Outcome::DeclinedOffline);
        }
        return Ok(Outcome::ApprovedOffline);
    }
    let ctq = ctx
        .card
        .get(Tag::CTQ)
        .and_then(|c| c.first().copied())
        .unwrap_or(0);
    if ctq & CTQ_ONLINE_IF_ODA_FAILS != 0 && ctx.cfg.online_capable {
        online(ctx, env)
    } else if ctq & CTQ_CONTACT_IF_ODA_FAILS != 0 {
        Err(Termination::UseContactInterface.into())
    } else {
        Ok(Outcome::DeclinedOffline)
    }
}

fn online(ctx: &mut Ctx<'_>, env: &mut Environment<'_>) -> Result<Outcome, Stop> {
    let field55 = ctx.field55();
    let response = if ctx.cfg.online_capable {
        env.issuer.authorise(&OnlineRequest {
            field55: &field55,
            pan: ctx.card.get(Tag::PAN),
            psn: ctx.card.get(Tag::PSN),
            online_pin: ctx.cvm.online_pin.as_deref().map(Vec::as_slice),
        })
    } else {
        None
    };
    let Some(response) = response else {
        ctx.unable_online = true;
        return Ok(Outcome::DeclinedOffline);
    };
    ctx.term.set(Tag::ARC, &response.arc);
    let approved = ctx.cfg.approval_arcs.contains(&response.arc);
    ctx.issuer = Some(response);
    Ok(if approved {
        Outcome::ApprovedOnline
    } else {
        Outcome::DeclinedOnline
    })
}
