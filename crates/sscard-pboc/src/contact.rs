//! The contact transaction (spec/pboc.md §1; EMV Book 3 §10): selection, GPO, read
//! application data, offline data authentication, processing restrictions, cardholder
//! verification, terminal risk management, terminal action analysis, GENERATE AC 1,
//! online processing with issuer authentication and scripts, GENERATE AC 2.

use alloc::vec::Vec;

use sscard_apdu::tlv::ber;
use sscard_apdu::trace::{NoTrace, Trace};
use sscard_apdu::{Exchange, Transport};
use sscard_emv::{Dol, Tag};
use zeroize::Zeroizing;

use crate::bits::{self, tsi, tvr};
use crate::card::{self, apdu, Answer};
use crate::config::{date_number, from_bcd, to_n12, TerminalConfig, TransactionData};
use crate::cvm::{self, Cvm};
use crate::error::{KernelError, Step, Stop, Termination};
use crate::select::{self, Selected};
use crate::tlvdb::{push_tlv, TlvDb};
use crate::traits::{
    Cardholder, CdaInput, Environment, Issuer, IssuerResponse, OdaInput, OdaVerdict, OfflineAuth,
    OnlineRequest, Rng,
};

/// How the transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The card approved offline (TC at the first GENERATE AC, or after the terminal
    /// could not go online).
    ApprovedOffline,
    /// Approved online (TC at the second GENERATE AC after an approving issuer).
    ApprovedOnline,
    /// Declined offline (AAC without an issuer decision).
    DeclinedOffline,
    /// Declined online (issuer declined, or the card returned AAC at the second GAC).
    DeclinedOnline,
    /// The kernel terminated the transaction.
    Terminated(Termination),
}

/// The cryptogram types of P1 / CID bits 8–7.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cryptogram {
    /// Application authentication cryptogram (decline), `00`.
    Aac,
    /// Authorisation request cryptogram (go online), `80`.
    Arqc,
    /// Transaction certificate (approve), `40`.
    Tc,
}

impl Cryptogram {
    /// The P1 / CID bits.
    pub fn bits(self) -> u8 {
        match self {
            Self::Aac => 0x00,
            Self::Arqc => 0x80,
            Self::Tc => 0x40,
        }
    }

    /// The type named by a CID; `None` for the reserved `C0`.
    pub fn from_cid(cid: u8) -> Option<Self> {
        match cid & 0xC0 {
            0x00 => Some(Self::Aac),
            0x40 => Some(Self::Tc),
            0x80 => Some(Self::Arqc),
            _ => None,
        }
    }
}

/// Everything a transaction produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionResult {
    /// How it ended.
    pub outcome: Outcome,
    /// 95 terminal verification results.
    pub tvr: [u8; 5],
    /// 9B transaction status information.
    pub tsi: [u8; 2],
    /// 9F34 CVM results.
    pub cvm_results: [u8; 3],
    /// The selected AID (empty when selection failed).
    pub aid: Vec<u8>,
    /// The field-55 TLV set for the acquirer (tags of [`TerminalConfig::field55_tags`]).
    pub field55: Vec<u8>,
    /// DF31 issuer script results, one 5-byte entry per script \[U: PBOC layout =
    /// EMV 9F5B: result nibble (0 not performed, 1 failed, 2 successful) ‖ failing
    /// command number nibble ‖ script ID 4\].
    pub script_results: Vec<[u8; 5]>,
    /// A signature line must be printed.
    pub signature_required: bool,
    /// The enciphered online PIN block, when entered.
    pub online_pin: Option<Zeroizing<Vec<u8>>>,
    /// CID advice bit was set.
    pub advice: bool,
    /// The issuer could not be reached (or the terminal is offline-only).
    pub unable_online: bool,
    /// 9F7A was sent as `01` (electronic cash attempted).
    pub ec_attempted: bool,
    /// The issuer's answer, when online.
    pub issuer: Option<IssuerResponse>,
    /// Every data object from the card.
    pub card: TlvDb,
    /// The terminal's data objects of this transaction.
    pub terminal: TlvDb,
}

/// ODA method chosen from AIP and terminal capabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OdaMethod {
    Sda,
    Dda,
    Cda,
}

pub(crate) struct Ctx<'a> {
    pub cfg: &'a TerminalConfig,
    pub txn: TransactionData,
    pub term: TlvDb,
    pub card: TlvDb,
    pub tvr: [u8; 5],
    pub tsi: [u8; 2],
    pub cvm: cvm::CvmOutcome,
    pub aid: Vec<u8>,
    record_tags: Vec<Tag>,
    pub static_data: Vec<u8>,
    pub static_bad: bool,
    pub pdol_data: Vec<u8>,
    cdol_data: Vec<u8>,
    cda_requested: bool,
    script_len: usize,
    pub script_results: Vec<[u8; 5]>,
    pub advice: bool,
    pub unable_online: bool,
    pub ec_attempted: bool,
    pub issuer: Option<IssuerResponse>,
}

fn find(bytes: &[u8], tag: u32) -> Option<&[u8]> {
    ber::find(bytes, tag).ok().flatten()
}

fn hits(tvr_bytes: &[u8; 5], a: &[u8], b: &[u8]) -> bool {
    tvr_bytes
        .iter()
        .zip(a.iter().zip(b))
        .any(|(t, (x, y))| t & (x | y) != 0)
}

fn action_code(card: &TlvDb, tag: Tag, absent: u8) -> [u8; 5] {
    card.get(tag)
        .and_then(|v| <[u8; 5]>::try_from(v).ok())
        .unwrap_or([absent; 5])
}

/// A GENERATE AC response, decoded.
pub(crate) struct GacResponse {
    pub kind: Cryptogram,
}

impl<'a> Ctx<'a> {
    pub fn new(cfg: &'a TerminalConfig, txn: &TransactionData, rng: &mut dyn Rng) -> Self {
        let mut term = cfg.extra.clone();
        let mut un = [0u8; 4];
        rng.fill(&mut un);
        let ec_purchase =
            txn.txn_type == 0x00 && txn.amount_other == 0 && txn.amount <= cfg.ec_terminal_limit;
        let ec_attempted = cfg.ec_support && (ec_purchase || txn.txn_type == cfg.ec_load_txn_type);
        let seq = to_n12(u64::from(txn.sequence));
        let floor = u32::try_from(cfg.floor_limit)
            .unwrap_or(u32::MAX)
            .to_be_bytes();
        let items: [(u32, &[u8]); 19] = [
            (0x9F1A, &cfg.country),
            (0x5F2A, &cfg.currency),
            (0x9F33, &cfg.capabilities),
            (0x9F35, core::slice::from_ref(&cfg.terminal_type)),
            (0x9F40, &cfg.additional_capabilities),
            (0x9F09, &cfg.app_version),
            (0x9F4E, &cfg.merchant_name),
            (0x9F1E, &cfg.ifd_serial),
            (0x9F02, &to_n12(txn.amount)),
            (0x9F03, &to_n12(txn.amount_other)),
            (0x9C, core::slice::from_ref(&txn.txn_type)),
            (0x9A, &txn.date),
            (0x9F21, &txn.time),
            (0x9F37, &un),
            (0x9F41, seq.get(2..).unwrap_or_default()),
            (0x9F7A, &[u8::from(ec_attempted)]),
            (0xDF69, &[u8::from(cfg.sm_support)]),
            (0x9F1B, &floor),
            (0x9F7B, &to_n12(cfg.ec_terminal_limit)),
        ];
        for (tag, value) in items {
            term.set(Tag(tag), value);
        }
        Self {
            cfg,
            txn: txn.clone(),
            term,
            card: TlvDb::new(),
            tvr: [0; 5],
            tsi: [0; 2],
            cvm: cvm::CvmOutcome {
                results: [0x3F, 0, 0],
                ..cvm::CvmOutcome::default()
            },
            aid: Vec::new(),
            record_tags: Vec::new(),
            static_data: Vec::new(),
            static_bad: false,
            pdol_data: Vec::new(),
            cdol_data: Vec::new(),
            cda_requested: false,
            script_len: 0,
            script_results: Vec::new(),
            advice: false,
            unable_online: false,
            ec_attempted,
            issuer: None,
        }
    }

    /// Writes the dynamic terminal objects (95, 9B, 9F34, DF31) into the store.
    pub fn sync(&mut self) {
        self.term.set(Tag::TVR, &self.tvr);
        self.term.set(Tag::TSI, &self.tsi);
        self.term.set(Tag::CVM_RESULTS, &self.cvm.results);
        if !self.script_results.is_empty() {
            let all: Vec<u8> = self.script_results.iter().flatten().copied().collect();
            self.term.set(Tag::SCRIPT_RESULTS, &all);
        }
    }

    /// Builds the data `dol` asks for from terminal then card objects.
    pub fn build_dol(&mut self, dol: &[u8], step: Step) -> Result<Vec<u8>, Stop> {
        self.sync();
        let dol = Dol::parse(dol).map_err(|_| Termination::Malformed { step })?;
        let mut out = Vec::new();
        let (term, card) = (&self.term, &self.card);
        dol.build(|t| term.get(t).or_else(|| card.get(t)), &mut out);
        Ok(out)
    }

    pub fn begin_application(&mut self, selected: &Selected) {
        self.card = selected.fci.clone();
        self.aid = selected.df_name.clone();
        self.record_tags.clear();
    }

    fn store_card_object(&mut self, tag: Tag, value: &[u8]) -> Result<(), Stop> {
        if self.record_tags.contains(&tag) {
            return Err(Termination::DuplicateTag(tag).into());
        }
        self.record_tags.push(tag);
        self.card.set(tag, value);
        Ok(())
    }

    /// GET PROCESSING OPTIONS; `Ok(None)` for `6985` (try the next candidate).
    pub fn gpo<T: Transport, R: Trace>(
        &mut self,
        ex: &mut Exchange<T, R>,
        extra_check: impl Fn(&Dol<'_>) -> Result<(), Stop>,
    ) -> Result<Option<Vec<u8>>, Stop> {
        let pdol = self.card.get(Tag::PDOL).unwrap_or_default().to_vec();
        let parsed = Dol::parse(&pdol).map_err(|_| Termination::Malformed { step: Step::Gpo })?;
        extra_check(&parsed)?;
        self.pdol_data = self.build_dol(&pdol, Step::Gpo)?;
        let mut template = Vec::new();
        push_tlv(Tag::COMMAND_TEMPLATE, &self.pdol_data, &mut template);
        let cmd = apdu(0x80, 0xA8, 0x00, 0x00, &template, true)?;
        let answer = card::send(ex, &cmd, Step::Gpo)?;
        if answer.sw == 0x6985 {
            return Ok(None);
        }
        if !answer.ok() {
            return Err(Termination::CardStatus {
                step: Step::Gpo,
                sw: answer.sw,
            }
            .into());
        }
        let malformed = Termination::Malformed { step: Step::Gpo };
        let (top, _) = ber::parse(&answer.data).map_err(|_| malformed)?;
        match top.tag {
            0x80 => {
                let (aip, afl) = top.value.split_at_checked(2).ok_or(malformed)?;
                self.store_card_object(Tag::AIP, aip)?;
                self.store_card_object(Tag::AFL, afl)?;
            }
            0x77 => {
                for child in top.children() {
                    let child = child.map_err(|_| malformed)?;
                    self.store_card_object(Tag(child.tag), child.value)?;
                }
                if !self.card.contains(Tag::AIP) {
                    return Err(malformed.into());
                }
            }
            _ => return Err(malformed.into()),
        }
        Ok(Some(answer.data))
    }

    /// Reads the AFL records, collecting ODA static data.
    pub fn read_records<T: Transport, R: Trace>(
        &mut self,
        ex: &mut Exchange<T, R>,
        afl_required: bool,
    ) -> Result<(), Stop> {
        let afl = self.card.get(Tag::AFL).unwrap_or_default().to_vec();
        if (afl.is_empty() && afl_required) || !afl.len().is_multiple_of(4) {
            return Err(Termination::BadAfl.into());
        }
        for entry in afl.chunks_exact(4) {
            let &[sfi_byte, first, last, n_oda] = entry else {
                return Err(Termination::BadAfl.into());
            };
            let sfi = sfi_byte >> 3;
            if !(1..=30).contains(&sfi)
                || first == 0
                || last < first
                || u16::from(n_oda) > u16::from(last - first) + 1
            {
                return Err(Termination::BadAfl.into());
            }
            for record in first..=last {
                let answer = card::read_record(ex, sfi, record, Step::ReadRecord)?;
                if answer.sw == 0x6A83 {
                    return Err(Termination::RecordNotFound { sfi, record }.into());
                }
                if !answer.ok() {
                    return Err(Termination::CardStatus {
                        step: Step::ReadRecord,
                        sw: answer.sw,
                    }
                    .into());
                }
                let for_oda = record - first < n_oda;
                self.take_record(sfi, for_oda, &answer)?;
            }
        }
        if let Some(list) = self.card.get(Tag::SDA_TAG_LIST) {
            if list == [0x82] {
                let aip = self.card.get(Tag::AIP).unwrap_or_default().to_vec();
                self.static_data.extend_from_slice(&aip);
            } else {
                self.static_bad = true;
            }
        }
        Ok(())
    }

    fn take_record(&mut self, sfi: u8, for_oda: bool, answer: &Answer) -> Result<(), Stop> {
        let parsed = ber::parse(&answer.data)
            .ok()
            .filter(|(t, rest)| t.tag == 0x70 && rest.iter().all(|b| *b == 0 || *b == 0xFF))
            .map(|(t, _)| t);
        if sfi <= 10 {
            match parsed {
                Some(t) => {
                    if for_oda {
                        self.static_data.extend_from_slice(t.value);
                    }
                }
                None if for_oda => {
                    self.static_bad = true;
                    return Ok(());
                }
                None => {
                    return Err(Termination::Malformed {
                        step: Step::ReadRecord,
                    }
                    .into())
                }
            }
        } else if for_oda {
            self.static_data.extend_from_slice(&answer.data);
        }
        if let Some(t) = parsed {
            for child in t.children() {
                let child = child.map_err(|_| Termination::Malformed {
                    step: Step::ReadRecord,
                })?;
                self.store_card_object(Tag(child.tag), child.value)?;
            }
        }
        Ok(())
    }

    pub fn check_mandatory(&self, tags: &[Tag]) -> Result<(), Stop> {
        for tag in tags {
            if !self.card.contains(*tag) {
                return Err(Termination::MissingMandatory(*tag).into());
            }
        }
        Ok(())
    }

    pub(crate) fn aip(&self, byte: usize) -> u8 {
        self.card
            .get(Tag::AIP)
            .and_then(|a| a.get(byte).copied())
            .unwrap_or(0)
    }

    pub(crate) fn oda_input(&self) -> OdaInput<'_> {
        OdaInput {
            aid: &self.aid,
            static_data: &self.static_data,
            card: &self.card,
            terminal: &self.term,
        }
    }

    pub(crate) fn apply_verdict(&mut self, verdict: OdaVerdict, failed: bits::Bit) {
        match verdict {
            OdaVerdict::Passed(data) => {
                bits::set(&mut self.tsi, tsi::ODA_PERFORMED);
                for (tag, value) in data {
                    self.card.set(tag, &value);
                }
            }
            OdaVerdict::Failed => {
                bits::set(&mut self.tsi, tsi::ODA_PERFORMED);
                bits::set(&mut self.tvr, failed);
            }
            OdaVerdict::NotPerformed => bits::set(&mut self.tvr, tvr::ODA_NOT_PERFORMED),
        }
    }

    /// Offline data authentication before the first GENERATE AC.
    fn offline_auth<T: Transport, R: Trace>(
        &mut self,
        ex: &mut Exchange<T, R>,
        oda: &mut dyn OfflineAuth,
    ) -> Result<(), Stop> {
        let caps = self.cfg.capabilities.get(2).copied().unwrap_or(0);
        let aip = self.aip(0);
        let method = if aip & 0x01 != 0 && caps & 0x08 != 0 {
            Some(OdaMethod::Cda)
        } else if aip & 0x20 != 0 && caps & 0x40 != 0 {
            Some(OdaMethod::Dda)
        } else if aip & 0x40 != 0 && caps & 0x80 != 0 {
            Some(OdaMethod::Sda)
        } else {
            None
        };
        match method {
            None => bits::set(&mut self.tvr, tvr::ODA_NOT_PERFORMED),
            Some(OdaMethod::Sda) => {
                bits::set(&mut self.tvr, tvr::SDA_SELECTED);
                let verdict = if self.static_bad {
                    OdaVerdict::Failed
                } else {
                    oda.sda(&self.oda_input())
                };
                self.apply_verdict(verdict, tvr::SDA_FAILED);
            }
            Some(OdaMethod::Dda) => {
                let verdict = if self.static_bad {
                    OdaVerdict::Failed
                } else {
                    self.dda(ex, oda)?
                };
                self.apply_verdict(verdict, tvr::DDA_FAILED);
            }
            Some(OdaMethod::Cda) => {
                let verdict = if self.static_bad {
                    OdaVerdict::Failed
                } else {
                    oda.cda_prepare(&self.oda_input())
                };
                if matches!(verdict, OdaVerdict::Passed(_)) {
                    self.cda_requested = true;
                }
                self.apply_verdict(verdict, tvr::CDA_FAILED);
            }
        }
        Ok(())
    }

    fn dda<T: Transport, R: Trace>(
        &mut self,
        ex: &mut Exchange<T, R>,
        oda: &mut dyn OfflineAuth,
    ) -> Result<OdaVerdict, Stop> {
        let ddol = match self.card.get(Tag::DDOL) {
            Some(d) => d.to_vec(),
            None => self.cfg.default_ddol.clone(),
        };
        let has_un = Dol::parse(&ddol).is_ok_and(|d| d.contains(Tag::UNPREDICTABLE_NUMBER));
        if !has_un {
            return Ok(OdaVerdict::Failed);
        }
        let data = self.build_dol(&ddol, Step::InternalAuthenticate)?;
        let cmd = apdu(0x00, 0x88, 0x00, 0x00, &data, true)?;
        let answer = card::send(ex, &cmd, Step::InternalAuthenticate)?;
        if !answer.ok() {
            return Ok(OdaVerdict::Failed);
        }
        let signed = match ber::parse(&answer.data) {
            Ok((t, _)) if t.tag == 0x80 => t.value.to_vec(),
            Ok((t, _)) if t.tag == 0x77 => match find(t.value, 0x9F4B) {
                Some(v) => v.to_vec(),
                None => return Ok(OdaVerdict::Failed),
            },
            _ => return Ok(OdaVerdict::Failed),
        };
        self.card.set(Tag::SDAD, &signed);
        Ok(oda.dda(&self.oda_input(), &data, &signed))
    }

    /// Processing restrictions: version, AUC, dates.
    pub(crate) fn restrictions(&mut self) {
        if let Some(v) = self.card.get(Tag::APP_VERSION_CARD) {
            if v != self.cfg.app_version.as_slice() {
                bits::set(&mut self.tvr, tvr::VERSION_MISMATCH);
            }
        }
        if let Some(auc) = self.card.get(Tag::AUC) {
            let a0 = auc.first().copied().unwrap_or(0);
            let a1 = auc.get(1).copied().unwrap_or(0);
            let atm = matches!(self.cfg.terminal_type, 0x14..=0x16)
                && self
                    .cfg
                    .additional_capabilities
                    .first()
                    .is_some_and(|c| c & 0x80 != 0);
            let mut allowed = if atm { a0 & 0x02 != 0 } else { a0 & 0x01 != 0 };
            if let Some(country) = self.card.get(Tag::ISSUER_COUNTRY) {
                let dom = country == self.cfg.country.as_slice();
                let pick = |d: u8, i: u8| if dom { d } else { i };
                match self.txn.txn_type {
                    0x01 => allowed &= a0 & pick(0x80, 0x40) != 0,
                    0x09 => allowed &= a1 & pick(0x80, 0x40) != 0,
                    0x00 => {
                        let bit = if self.txn.services {
                            pick(0x08, 0x04)
                        } else {
                            pick(0x20, 0x10)
                        };
                        allowed &= a0 & bit != 0;
                        if self.txn.amount_other > 0 {
                            allowed &= a1 & pick(0x80, 0x40) != 0;
                        }
                    }
                    _ => {}
                }
            }
            if !allowed {
                bits::set(&mut self.tvr, tvr::SERVICE_NOT_ALLOWED);
            }
        }
        let today = date_number(&self.txn.date);
        if let (Some(today), Some(eff)) =
            (today, self.card.get(Tag::EFFECTIVE).and_then(date_number))
        {
            if eff > today {
                bits::set(&mut self.tvr, tvr::NOT_EFFECTIVE);
            }
        }
        if let (Some(today), Some(exp)) = (today, self.card.get(Tag::EXPIRY).and_then(date_number))
        {
            if exp < today {
                bits::set(&mut self.tvr, tvr::EXPIRED);
            }
        }
    }

    fn get_data_value<T: Transport, R: Trace>(
        &mut self,
        ex: &mut Exchange<T, R>,
        tag: u16,
    ) -> Result<Option<Vec<u8>>, Stop> {
        let answer = card::get_data(ex, tag)?;
        if !answer.ok() {
            return Ok(None);
        }
        Ok(ber::parse(&answer.data)
            .ok()
            .filter(|(t, _)| t.tag == u32::from(tag))
            .map(|(t, _)| t.value.to_vec()))
    }

    /// Terminal risk management: exception file, floor limit, random selection,
    /// velocity checking.
    fn risk_management<T: Transport, R: Trace>(
        &mut self,
        ex: &mut Exchange<T, R>,
        rng: &mut dyn Rng,
    ) -> Result<(), Stop> {
        bits::set(&mut self.tsi, tsi::TERMINAL_RISK_MANAGEMENT);
        if let Some(pan) = self.card.get(Tag::PAN) {
            if self.cfg.exception_file.iter().any(|p| p.as_slice() == pan) {
                bits::set(&mut self.tvr, tvr::EXCEPTION_FILE);
            }
        }
        // [U] PBOC: an EC attempt uses the EC terminal limit 9F7B as floor limit.
        let floor = if self.ec_attempted {
            self.cfg.ec_terminal_limit
        } else {
            self.cfg.floor_limit
        };
        let amount = self.txn.amount;
        if amount >= floor {
            bits::set(&mut self.tvr, tvr::FLOOR_LIMIT_EXCEEDED);
        } else if self.cfg.random_selection {
            let mut r = [0u8; 4];
            rng.fill(&mut r);
            let pick = u64::from(u32::from_be_bytes(r) % 99) + 1;
            let target = u64::from(self.cfg.random_target_percent.min(99));
            let max = u64::from(self.cfg.random_max_percent.min(99)).max(target);
            let threshold = self.cfg.random_threshold;
            let percent = if amount < threshold || floor <= threshold {
                target
            } else {
                target + (max - target) * (amount - threshold) / (floor - threshold)
            };
            if pick <= percent {
                bits::set(&mut self.tvr, tvr::RANDOMLY_SELECTED);
            }
        }
        if self.cfg.velocity_checking {
            let lcol = self.card.get(Tag::LCOL).and_then(|v| v.first().copied());
            let ucol = self.card.get(Tag::UCOL).and_then(|v| v.first().copied());
            if let (Some(lcol), Some(ucol)) = (lcol, ucol) {
                let atc = self.get_data_value(ex, 0x9F36)?;
                let last = self.get_data_value(ex, 0x9F13)?;
                let as_u16 = |v: Option<Vec<u8>>| {
                    v.and_then(|v| <[u8; 2]>::try_from(v.as_slice()).ok())
                        .map(u16::from_be_bytes)
                };
                match (as_u16(atc), as_u16(last)) {
                    (Some(atc), Some(last)) => {
                        self.card.set(Tag::ATC, &atc.to_be_bytes());
                        self.card.set(Tag::LAST_ONLINE_ATC, &last.to_be_bytes());
                        if last == 0 {
                            bits::set(&mut self.tvr, tvr::NEW_CARD);
                        }
                        // ATC below the last online ATC is inconsistent card data;
                        // equal means no offline transaction since the last online one
                        // (a new card whose ATC has not moved yet).
                        if atc < last {
                            bits::set(&mut self.tvr, tvr::LCOL_EXCEEDED);
                            bits::set(&mut self.tvr, tvr::UCOL_EXCEEDED);
                        } else {
                            let diff = atc - last;
                            if diff > u16::from(lcol) {
                                bits::set(&mut self.tvr, tvr::LCOL_EXCEEDED);
                            }
                            if diff > u16::from(ucol) {
                                bits::set(&mut self.tvr, tvr::UCOL_EXCEEDED);
                            }
                        }
                    }
                    _ => {
                        bits::set(&mut self.tvr, tvr::ICC_DATA_MISSING);
                        bits::set(&mut self.tvr, tvr::LCOL_EXCEEDED);
                        bits::set(&mut self.tvr, tvr::UCOL_EXCEEDED);
                    }
                }
            }
        }
        if self.txn.force_online {
            bits::set(&mut self.tvr, tvr::MERCHANT_FORCED_ONLINE);
        }
        Ok(())
    }

    /// Terminal action analysis: TVR against TAC/IAC denial, online, default.
    pub fn action_analysis(&self) -> Cryptogram {
        let iac_denial = action_code(&self.card, Tag::IAC_DENIAL, 0x00);
        let iac_online = action_code(&self.card, Tag::IAC_ONLINE, 0xFF);
        if hits(&self.tvr, &self.cfg.tac_denial, &iac_denial) {
            return Cryptogram::Aac;
        }
        if self.cfg.online_capable {
            if self.txn.force_online || hits(&self.tvr, &self.cfg.tac_online, &iac_online) {
                Cryptogram::Arqc
            } else {
                Cryptogram::Tc
            }
        } else {
            self.default_action()
        }
    }

    /// The default action (also used when the terminal could not go online).
    pub fn default_action(&self) -> Cryptogram {
        let iac_default = action_code(&self.card, Tag::IAC_DEFAULT, 0xFF);
        if hits(&self.tvr, &self.cfg.tac_default, &iac_default) {
            Cryptogram::Aac
        } else {
            Cryptogram::Tc
        }
    }

    /// GENERATE AC with `dol_tag`'s DOL.
    fn generate_ac<T: Transport, R: Trace>(
        &mut self,
        ex: &mut Exchange<T, R>,
        requested: Cryptogram,
        first: bool,
        oda: &mut dyn OfflineAuth,
    ) -> Result<GacResponse, Stop> {
        let (dol_tag, step) = if first {
            (Tag::CDOL1, Step::FirstGenerateAc)
        } else {
            (Tag::CDOL2, Step::SecondGenerateAc)
        };
        let dol = self.card.get(dol_tag).unwrap_or_default().to_vec();
        let data = self.build_dol(&dol, step)?;
        let cda = self.cda_requested && requested != Cryptogram::Aac;
        let p1 = requested.bits() | if cda { 0x10 } else { 0 };
        let cmd = apdu(0x80, 0xAE, p1, 0x00, &data, true)?;
        if first {
            self.cdol_data = data;
        } else {
            self.cdol_data.extend_from_slice(&data);
        }
        let answer = card::send(ex, &cmd, step)?;
        bits::set(&mut self.tsi, tsi::CARD_RISK_MANAGEMENT);
        if !answer.ok() {
            return Err(Termination::CardStatus {
                step,
                sw: answer.sw,
            }
            .into());
        }
        let malformed = Termination::Malformed { step };
        let (top, _) = ber::parse(&answer.data).map_err(|_| malformed)?;
        let cid = match top.tag {
            0x80 => {
                let (&cid, rest) = top.value.split_first().ok_or(malformed)?;
                let (atc, rest) = rest.split_at_checked(2).ok_or(malformed)?;
                let (ac, iad) = rest.split_at_checked(8).ok_or(malformed)?;
                self.card.set(Tag::CID, &[cid]);
                self.card.set(Tag::ATC, atc);
                self.card.set(Tag::AC, ac);
                if !iad.is_empty() {
                    self.card.set(Tag::IAD, iad);
                }
                cid
            }
            0x77 => {
                for child in top.children() {
                    let child = child.map_err(|_| malformed)?;
                    self.card.set(Tag(child.tag), child.value);
                }
                let cid = find(top.value, 0x9F27)
                    .and_then(|c| c.first().copied())
                    .ok_or(Termination::InvalidCid)?;
                // With CDA the AC travels inside the signed dynamic data (9F4B)
                // instead of 9F26 (EMV Book 2 §6.6); it is recovered below.
                let signed_ac = cda && find(top.value, 0x9F4B).is_some();
                if find(top.value, 0x9F36).is_none()
                    || (find(top.value, 0x9F26).is_none() && !signed_ac)
                {
                    return Err(malformed.into());
                }
                cid
            }
            _ => return Err(malformed.into()),
        };
        let kind = Cryptogram::from_cid(cid).ok_or(Termination::InvalidCid)?;
        if kind > requested {
            return Err(Termination::CryptogramHigherThanRequested.into());
        }
        if !first && kind == Cryptogram::Arqc {
            return Err(Termination::InvalidCid.into());
        }
        if cid & 0x08 != 0 {
            self.advice = true;
        }
        if cda && kind != Cryptogram::Aac {
            let verdict = oda.cda(
                &self.oda_input(),
                &CdaInput {
                    pdol_data: &self.pdol_data,
                    cdol_data: &self.cdol_data,
                    response: top.value,
                },
            );
            match verdict {
                OdaVerdict::Passed(recovered) => {
                    for (tag, value) in recovered {
                        self.card.set(tag, &value);
                    }
                }
                _ => {
                    bits::set(&mut self.tvr, tvr::CDA_FAILED);
                    return Ok(GacResponse {
                        kind: Cryptogram::Aac,
                    });
                }
            }
            if !self.card.contains(Tag::AC) {
                return Err(malformed.into());
            }
        }
        Ok(GacResponse { kind })
    }

    /// The field-55 TLV set.
    pub fn field55(&mut self) -> Vec<u8> {
        self.sync();
        let mut out = Vec::new();
        for tag in &self.cfg.field55_tags {
            if let Some(v) = self.term.get(*tag).or_else(|| self.card.get(*tag)) {
                push_tlv(*tag, v, &mut out);
            }
        }
        out
    }

    fn online<T: Transport, R: Trace>(
        &mut self,
        ex: &mut Exchange<T, R>,
        issuer: &mut dyn Issuer,
        oda: &mut dyn OfflineAuth,
    ) -> Result<Outcome, Stop> {
        let field55 = self.field55();
        let response = if self.cfg.online_capable {
            let request = OnlineRequest {
                field55: &field55,
                pan: self.card.get(Tag::PAN),
                psn: self.card.get(Tag::PSN),
                online_pin: self.cvm.online_pin.as_deref().map(Vec::as_slice),
            };
            issuer.authorise(&request)
        } else {
            None
        };
        let Some(response) = response else {
            self.unable_online = true;
            let decision = self.default_action();
            let arc = if decision == Cryptogram::Tc {
                self.cfg.arc_unable_online_approved
            } else {
                self.cfg.arc_unable_online_declined
            };
            self.term.set(Tag::ARC, &arc);
            let gac = self.generate_ac(ex, decision, false, oda)?;
            return Ok(if gac.kind == Cryptogram::Tc {
                Outcome::ApprovedOffline
            } else {
                Outcome::DeclinedOffline
            });
        };
        self.term.set(Tag::ARC, &response.arc);
        let approved = self.cfg.approval_arcs.contains(&response.arc);
        if let Some(auth) = &response.auth_data {
            self.term.set(Tag::ISSUER_AUTH_DATA, auth);
            let in_cdol2 = self
                .card
                .get(Tag::CDOL2)
                .and_then(|d| Dol::parse(d).ok())
                .is_some_and(|d| d.contains(Tag::ISSUER_AUTH_DATA));
            if !in_cdol2 && self.aip(0) & 0x04 != 0 {
                let cmd = apdu(0x00, 0x82, 0x00, 0x00, auth, false)?;
                let answer = card::send(ex, &cmd, Step::ExternalAuthenticate)?;
                bits::set(&mut self.tsi, tsi::ISSUER_AUTH_PERFORMED);
                if !answer.ok() {
                    bits::set(&mut self.tvr, tvr::ISSUER_AUTH_FAILED);
                }
            }
        }
        let scripts = response.scripts.clone();
        self.issuer = Some(response);
        self.run_scripts(ex, &scripts, 0x71)?;
        let decision = if approved {
            Cryptogram::Tc
        } else {
            Cryptogram::Aac
        };
        let gac = self.generate_ac(ex, decision, false, oda)?;
        self.run_scripts(ex, &scripts, 0x72)?;
        Ok(if gac.kind == Cryptogram::Tc {
            Outcome::ApprovedOnline
        } else {
            Outcome::DeclinedOnline
        })
    }

    /// Runs the issuer script templates with `tag` (71 before, 72 after the final GAC).
    fn run_scripts<T: Transport, R: Trace>(
        &mut self,
        ex: &mut Exchange<T, R>,
        scripts: &[u8],
        tag: u32,
    ) -> Result<(), Stop> {
        let failed_bit = if tag == 0x71 {
            tvr::SCRIPT_FAILED_BEFORE
        } else {
            tvr::SCRIPT_FAILED_AFTER
        };
        for template in ber::iter(scripts) {
            let Ok(template) = template else {
                break;
            };
            if template.tag != tag {
                continue;
            }
            bits::set(&mut self.tsi, tsi::SCRIPT_PROCESSING);
            let mut id = [0u8; 4];
            if let Some(v) = find(template.value, 0x9F18) {
                if let Ok(v) = <[u8; 4]>::try_from(v) {
                    id = v;
                }
            }
            let len = ber::encoded_len(tag, template.value.len()).unwrap_or(usize::MAX);
            self.script_len = self.script_len.saturating_add(len);
            let [a, b, c, d] = id;
            if self.script_len > self.cfg.max_script_len {
                bits::set(&mut self.tvr, failed_bit);
                self.script_results.push([0x00, a, b, c, d]);
                continue;
            }
            let mut seq: u8 = 0;
            let mut failed = false;
            for command in template.children() {
                let Ok(command) = command else {
                    failed = true;
                    break;
                };
                if command.tag != 0x86 {
                    continue;
                }
                seq = seq.saturating_add(1);
                if command.value.len() < 4 {
                    failed = true;
                    break;
                }
                let answer = card::send(ex, command.value, Step::Script)?;
                if !matches!(answer.sw >> 8, 0x90 | 0x62 | 0x63) {
                    failed = true;
                    break;
                }
            }
            let result = if failed {
                bits::set(&mut self.tvr, failed_bit);
                0x10 | seq.min(0x0F)
            } else {
                0x20
            };
            self.script_results.push([result, a, b, c, d]);
        }
        Ok(())
    }

    pub fn finish(mut self, outcome: Outcome) -> TransactionResult {
        let field55 = self.field55();
        TransactionResult {
            outcome,
            tvr: self.tvr,
            tsi: self.tsi,
            cvm_results: self.cvm.results,
            aid: self.aid,
            field55,
            script_results: self.script_results,
            signature_required: self.cvm.signature,
            online_pin: self.cvm.online_pin,
            advice: self.advice,
            unable_online: self.unable_online,
            ec_attempted: self.ec_attempted,
            issuer: self.issuer,
            card: self.card,
            terminal: self.term,
        }
    }
}

/// Why a transaction step did not hand on a next state.
#[derive(Debug)]
pub enum Stopped {
    /// The transaction ended (terminated or decided); the result so far.
    Ended(alloc::boxed::Box<TransactionResult>),
    /// The reader failed.
    Failed(KernelError),
}

impl core::fmt::Display for Stopped {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Ended(r) => write!(f, "transaction ended: {:?}", r.outcome),
            Self::Failed(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for Stopped {}

/// The typestates of a contact transaction (STYLE.md rule 8): each step consumes the
/// transaction in one state and returns it in the next, or [`Stopped`] with the
/// result so far.
pub mod state {
    /// An application is selected.
    #[derive(Debug)]
    pub struct Selected;
    /// GET PROCESSING OPTIONS succeeded (AIP, AFL known).
    #[derive(Debug)]
    pub struct Initiated;
    /// The AFL records are read and the mandatory objects present.
    #[derive(Debug)]
    pub struct Read;
    /// Offline data authentication and processing restrictions are done.
    #[derive(Debug)]
    pub struct Authenticated;
    /// Cardholder verification is done.
    #[derive(Debug)]
    pub struct Verified;
    /// Terminal risk management is done; terminal action analysis is next.
    #[derive(Debug)]
    pub struct RiskManaged;
    /// The card asked to go online (ARQC).
    #[derive(Debug)]
    pub struct Online;
}

/// A contact transaction in state `S` (see [`state`]). [`run`] chains every step.
pub struct Transaction<'c, 'e, T: Transport, S, R: Trace = NoTrace> {
    ex: &'e mut Exchange<T, R>,
    ctx: Ctx<'c>,
    list: Vec<select::Candidate>,
    _state: core::marker::PhantomData<S>,
}

/// What the first GENERATE AC decided.
pub enum FirstAc<'c, 'e, T: Transport, R: Trace = NoTrace> {
    /// Approved or declined offline (or terminated).
    Done(TransactionResult),
    /// The card asked for online authorisation.
    Online(Transaction<'c, 'e, T, state::Online, R>),
}

impl<'c, 'e, T: Transport, S, R: Trace> Transaction<'c, 'e, T, S, R> {
    fn next<N>(mut self, r: Result<(), Stop>) -> Result<Transaction<'c, 'e, T, N, R>, Stopped> {
        match r {
            Ok(()) => Ok(Transaction {
                ex: self.ex,
                ctx: self.ctx,
                list: self.list,
                _state: core::marker::PhantomData,
            }),
            Err(Stop::End(t)) => {
                self.ctx.sync();
                Err(Stopped::Ended(alloc::boxed::Box::new(
                    self.ctx.finish(Outcome::Terminated(t)),
                )))
            }
            Err(Stop::Fail(e)) => Err(Stopped::Failed(e)),
        }
    }

    /// 95 so far.
    pub fn tvr(&self) -> [u8; 5] {
        self.ctx.tvr
    }

    /// 9B so far.
    pub fn tsi(&self) -> [u8; 2] {
        self.ctx.tsi
    }

    /// The data objects the card has returned so far.
    pub fn card_data(&self) -> &TlvDb {
        &self.ctx.card
    }

    /// The terminal data objects of this transaction.
    pub fn terminal_data(&self) -> &TlvDb {
        &self.ctx.term
    }

    /// The selected AID (empty before selection).
    pub fn aid(&self) -> &[u8] {
        &self.ctx.aid
    }

    /// Ends the transaction here (e.g. the attendant cancelled).
    pub fn terminate(self, reason: Termination) -> TransactionResult {
        self.ctx.finish(Outcome::Terminated(reason))
    }
}

impl<'c, 'e, T: Transport, R: Trace> Transaction<'c, 'e, T, state::Selected, R> {
    /// Builds the candidate list (PSE, else the AID list) and selects the first
    /// application that confirms and answers `9000` with a valid FCI.
    pub fn select(
        ex: &'e mut Exchange<T, R>,
        cfg: &'c TerminalConfig,
        txn: &TransactionData,
        rng: &mut dyn Rng,
        cardholder: &mut dyn Cardholder,
    ) -> Result<Self, Stopped> {
        let t = Transaction {
            ex,
            ctx: Ctx::new(cfg, txn, rng),
            list: Vec::new(),
            _state: core::marker::PhantomData,
        };
        t.choose(cardholder, true)
    }

    fn choose(mut self, cardholder: &mut dyn Cardholder, build: bool) -> Result<Self, Stopped> {
        let r = (|| -> Result<(), Stop> {
            if build {
                self.list = select::candidates(self.ex, self.ctx.cfg, false)?;
                if self.list.is_empty() {
                    return Err(Termination::NoApplication.into());
                }
            }
            let selected = select::final_select(self.ex, &mut self.list, self.ctx.cfg, cardholder)?;
            self.ctx.begin_application(&selected);
            Ok(())
        })();
        self.next(r)
    }

    /// GET PROCESSING OPTIONS with the PDOL data; on `6985` the application is removed
    /// from the candidate list and the next one is selected.
    pub fn initiate(
        mut self,
        cardholder: &mut dyn Cardholder,
    ) -> Result<Transaction<'c, 'e, T, state::Initiated, R>, Stopped> {
        loop {
            match self.ctx.gpo(self.ex, |_| Ok(())) {
                Ok(Some(_)) => return self.next(Ok(())),
                Ok(None) => self = self.choose(cardholder, false)?,
                Err(e) => return self.next(Err(e)),
            }
        }
    }
}

impl<'c, 'e, T: Transport, R: Trace> Transaction<'c, 'e, T, state::Initiated, R> {
    /// READ RECORD of the AFL with ODA record collection; checks 5A, 5F24, 8C, 8D.
    pub fn read_records(mut self) -> Result<Transaction<'c, 'e, T, state::Read, R>, Stopped> {
        let r = self.ctx.read_records(self.ex, true).and_then(|()| {
            self.ctx
                .check_mandatory(&[Tag::PAN, Tag::EXPIRY, Tag::CDOL1, Tag::CDOL2])
        });
        self.next(r)
    }
}

impl<'c, 'e, T: Transport, R: Trace> Transaction<'c, 'e, T, state::Read, R> {
    /// Offline data authentication through `oda`, then processing restrictions.
    pub fn authenticate(
        mut self,
        oda: &mut dyn OfflineAuth,
    ) -> Result<Transaction<'c, 'e, T, state::Authenticated, R>, Stopped> {
        let r = self.ctx.offline_auth(self.ex, oda);
        if r.is_ok() {
            self.ctx.restrictions();
        }
        self.next(r)
    }
}

impl<'c, 'e, T: Transport, R: Trace> Transaction<'c, 'e, T, state::Authenticated, R> {
    /// Cardholder verification (CVM list).
    pub fn verify_cardholder(
        mut self,
        cardholder: &mut dyn Cardholder,
    ) -> Result<Transaction<'c, 'e, T, state::Verified, R>, Stopped> {
        let cvm_ctx = Cvm {
            cfg: self.ctx.cfg,
            txn: &self.ctx.txn,
            card: &self.ctx.card,
        };
        let r = cvm::process(
            self.ex,
            &cvm_ctx,
            cardholder,
            &mut self.ctx.tvr,
            &mut self.ctx.tsi,
        )
        .map(|outcome| self.ctx.cvm = outcome);
        self.next(r)
    }
}

impl<'c, 'e, T: Transport, R: Trace> Transaction<'c, 'e, T, state::Verified, R> {
    /// Terminal risk management (exception file, floor limit, random selection,
    /// velocity).
    pub fn manage_risk(
        mut self,
        rng: &mut dyn Rng,
    ) -> Result<Transaction<'c, 'e, T, state::RiskManaged, R>, Stopped> {
        let r = self.ctx.risk_management(self.ex, rng);
        self.next(r)
    }
}

impl<'c, 'e, T: Transport, R: Trace> Transaction<'c, 'e, T, state::RiskManaged, R> {
    /// What terminal action analysis asks the card for.
    pub fn action_analysis(&self) -> Cryptogram {
        self.ctx.action_analysis()
    }

    /// Terminal action analysis and the first GENERATE AC (CDA when prepared).
    pub fn first_ac(mut self, oda: &mut dyn OfflineAuth) -> Result<FirstAc<'c, 'e, T, R>, Stopped> {
        let requested = self.ctx.action_analysis();
        match self.ctx.generate_ac(self.ex, requested, true, oda) {
            Ok(gac) => match gac.kind {
                Cryptogram::Aac => Ok(FirstAc::Done(self.ctx.finish(Outcome::DeclinedOffline))),
                Cryptogram::Tc => Ok(FirstAc::Done(self.ctx.finish(Outcome::ApprovedOffline))),
                Cryptogram::Arqc => self.next(Ok(())).map(FirstAc::Online),
            },
            Err(e) => self.next(Err(e)).map(FirstAc::Online),
        }
    }
}

impl<'c, 'e, T: Transport, R: Trace> Transaction<'c, 'e, T, state::Online, R> {
    /// The field-55 TLV set of the authorisation request.
    pub fn field55(&mut self) -> Vec<u8> {
        self.ctx.field55()
    }

    /// Online authorisation through `issuer`, issuer authentication, scripts `71`,
    /// the second GENERATE AC, scripts `72`. An unreachable issuer takes the default
    /// action (ARC `Y3`/`Z3`).
    pub fn complete(
        mut self,
        issuer: &mut dyn Issuer,
        oda: &mut dyn OfflineAuth,
    ) -> Result<TransactionResult, Stopped> {
        match self.ctx.online(self.ex, issuer, oda) {
            Ok(outcome) => Ok(self.ctx.finish(outcome)),
            Err(Stop::End(t)) => Ok(self.ctx.finish(Outcome::Terminated(t))),
            Err(Stop::Fail(e)) => Err(Stopped::Failed(e)),
        }
    }
}

/// Runs a contact transaction on the card behind `ex` (see the module docs): every
/// [`Transaction`] step in order. Card decisions and card faults end in [`Outcome`];
/// only reader failures are errors.
pub fn run<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    cfg: &TerminalConfig,
    txn: &TransactionData,
    env: &mut Environment<'_>,
) -> Result<TransactionResult, KernelError> {
    let result = (|| {
        let t = Transaction::select(ex, cfg, txn, &mut *env.rng, &mut *env.cardholder)?
            .initiate(&mut *env.cardholder)?
            .read_records()?
            .authenticate(&mut *env.oda)?
            .verify_cardholder(&mut *env.cardholder)?
            .manage_risk(&mut *env.rng)?;
        match t.first_ac(&mut *env.oda)? {
            FirstAc::Done(r) => Ok(r),
            FirstAc::Online(online) => online.complete(&mut *env.issuer, &mut *env.oda),
        }
    })();
    match result {
        Ok(r) => Ok(r),
        Err(Stopped::Ended(r)) => Ok(*r),
        Err(Stopped::Failed(e)) => Err(e),
    }
}

/// The application data read without a transaction (for `sscard pboc read`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardRead {
    /// The selected AID (empty when selection failed).
    pub aid: Vec<u8>,
    /// Every data object from FCI, GPO and the AFL records.
    pub card: TlvDb,
    /// The static data to authenticate, as collected for ODA.
    pub static_data: Vec<u8>,
    /// Why reading stopped early, if it did.
    pub termination: Option<Termination>,
}

/// Selects an application (PSE, else the AID list), runs GPO and reads the AFL
/// records, without cardholder verification or GENERATE AC. The application stays
/// selected, so the [`crate::ec`] readers can follow.
pub fn read_application<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    cfg: &TerminalConfig,
    txn: &TransactionData,
    rng: &mut dyn Rng,
) -> Result<CardRead, KernelError> {
    let mut ctx = Ctx::new(cfg, txn, rng);
    let r = (|| -> Result<(), Stop> {
        let mut list = select::candidates(ex, cfg, false)?;
        if list.is_empty() {
            return Err(Termination::NoApplication.into());
        }
        loop {
            let selected =
                select::final_select(ex, &mut list, cfg, &mut crate::traits::NoCardholder)?;
            ctx.begin_application(&selected);
            if ctx.gpo(ex, |_| Ok(()))?.is_some() {
                break;
            }
        }
        ctx.read_records(ex, true)
    })();
    let termination = match r {
        Ok(()) => None,
        Err(Stop::End(t)) => Some(t),
        Err(Stop::Fail(e)) => return Err(e),
    };
    Ok(CardRead {
        aid: ctx.aid,
        card: ctx.card,
        static_data: ctx.static_data,
        termination,
    })
}

/// Parses an n12 amount (for callers reading field 55).
pub fn amount_from_n12(bytes: &[u8]) -> Option<u64> {
    from_bcd(bytes)
}
