//! The PBOC 3.0 bank application (debit/credit with electronic cash) as a deterministic
//! command handler, personalised from a profile ([`sscard_emv::perso`], by default
//! `apdu-specs/pboc/card.json`). `spec/pboc.md` §5.2 is the scope; the README in
//! `apdu-specs/pboc/` lists every command with its status words.
//!
//! * Selection: PSE `1PAY.SYS.DDF01` (FCI, directory records on its SFI), PPSE
//!   `2PAY.SYS.DDF01` (on the interfaces the profile lists), ADFs by full or partial AID
//!   with P2 `00` first / `02` next occurrence. A blocked application is selected but
//!   answers `6283`; the [`Card`] contract discards data on an error status, so the
//!   terminal sees `6283` without the FCI.
//! * GPO with the PDOL of the interface; `DF69` chooses the family
//!   ([`Family::from_df69`]); contact answers format 2 `77{82, 94}`; contactless with
//!   `9F66` answers the qPBOC template with a cryptogram (see [`PbocApp`] docs).
//! * READ RECORD of the AFL records (family-specific where the profile says so), the
//!   transaction log and the load log; GET DATA; VERIFY (plaintext PIN); GENERATE AC
//!   with card risk management and electronic cash; EXTERNAL AUTHENTICATE; issuer
//!   scripts with MAC (PUT DATA, APPLICATION BLOCK/UNBLOCK, PIN CHANGE/UNBLOCK);
//!   INTERNAL AUTHENTICATE through a [`DynamicAuthenticator`].
//!
//! Every change to the non-volatile [`PbocState`] is committed to the journal (if any)
//! before the card answers; the ATC is committed before a cryptogram leaves the card.

mod auth;
mod blank;
mod combined;
mod command;
mod state;

pub use auth::{
    DynamicAuthenticator, NoAuthenticator, RsaAuthenticator, Sm2Authenticator, SDAD_FORMAT,
};
pub use blank::{
    PersoState, StoredDgi, DEFAULT_BLANK_AID, GET_LIFECYCLE, LIFECYCLE_BLANK,
    LIFECYCLE_PERSONALISED, LIFECYCLE_PERSONALISING, STORE_DATA,
};
pub use combined::{Current, DualCard};
pub use command::{BankCommand, ScriptKind};
pub use state::{PbocAppState, PbocFileJournal, PbocJournal, PbocState, PBOC_STATE_VERSION};

use sscard_apdu::applet::{Card, Interface, Reply};
use sscard_apdu::{CommandView, Status};
use sscard_crypto::pin::Pin;
use sscard_emv::cryptogram::{self, AcInput, Family};
use sscard_emv::dol::Dol;
use sscard_emv::oda::{self, HashAlg};
use sscard_emv::perso::{self, amount_bcd, bcd_amount, Application, CardProfile, PersoError};
use sscard_emv::Tag;

use crate::cos::{Entropy, OsEntropy};

/// The built-in bank profile (`apdu-specs/pboc/card.json`, TEST data).
pub const BUILTIN_PROFILE: &str = include_str!("../../../../apdu-specs/pboc/card.json");

/// The ATR of a stand-alone bank application (T=0, historical bytes "PBOC"). Inside a
/// [`DualCard`] the SSCard's ATR is used.
pub const PBOC_ATR: [u8; 6] = [0x3B, 0x04, 0x50, 0x42, 0x4F, 0x43];

/// Cryptogram information data: AAC.
pub const CID_AAC: u8 = 0x00;
/// Cryptogram information data: TC.
pub const CID_TC: u8 = 0x40;
/// Cryptogram information data: ARQC.
pub const CID_ARQC: u8 = 0x80;

const SW_SELECTED_BLOCKED: Status = Status::Other(0x6283);
const SW_ISSUER_AUTH_FAILED: Status = Status::Other(0x6300);

/// Why a bank application cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PbocBuildError {
    /// The profile does not load.
    #[error(transparent)]
    Profile(#[from] PersoError),
    /// The profile has no payment application.
    #[error("the bank profile has no payment application")]
    NoApplication,
    /// A saved state does not belong to this profile.
    #[error("the saved bank state does not fit this profile")]
    State,
    /// The social-security side of a [`DualCard`] cannot be built.
    #[error(transparent)]
    Card(#[from] crate::cos::BuildError),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Selected {
    #[default]
    None,
    Pse,
    Ppse,
    App(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GacStage {
    /// No GENERATE AC yet.
    None,
    /// First GENERATE AC answered with this CID.
    First(u8),
    /// Transaction complete (second GENERATE AC or a qPBOC GPO).
    Done,
}

/// One transaction, from GPO to the end (volatile).
#[derive(Clone, Debug)]
struct Txn {
    family: Family,
    aip: [u8; 2],
    pdol_data: Vec<u8>,
    pdol_values: Vec<(Tag, Vec<u8>)>,
    cdol1_data: Vec<u8>,
    cdol1_values: Vec<(Tag, Vec<u8>)>,
    ec_requested: bool,
    stage: GacStage,
    /// The first GENERATE AC's cryptogram and ATC (script MACs, ARPC).
    first_ac: Option<([u8; 8], u16)>,
    issuer_auth: Option<bool>,
    ext_auth_tried: bool,
}

/// Volatile state, cleared by reset and by selection.
#[derive(Clone, Debug, Default)]
struct Session {
    selected: Selected,
    txn: Option<Txn>,
    /// Offline PIN result in this transaction (CVR).
    pin_result: Option<bool>,
}

/// The emulated PBOC bank application(s) of one card.
///
/// qPBOC subset (contactless interface, `9F66` in the PDOL data): the GPO increments the
/// ATC and answers `77{82, 94, 9F36, 9F26, 9F27, 9F10, 57, 5F34, 9F6C, 9F5D}` with a TC
/// and an EC debit when the transaction is within the EC balance, the single limit and
/// in the EC currency, else an ARQC. Not implemented: fDDA (`9F4B`/`9F69` at GPO), MSD,
/// TTQ/CTQ-driven CVM and online-capability rules, the contactless limits.
pub struct PbocApp {
    profile: CardProfile,
    state: PbocState,
    session: Session,
    entropy: Box<dyn Entropy>,
    /// Per application: (RSA family, SM2 family) signers.
    authenticators: Vec<[Box<dyn DynamicAuthenticator>; 2]>,
    journal: Option<Box<dyn PbocJournal>>,
    /// The data-encryption key for secret DGIs (blank applications only).
    dek: zeroize::Zeroizing<[u8; 16]>,
}

impl core::fmt::Debug for PbocApp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PbocApp")
            .field("label", &self.profile.label)
            .field("state", &self.state)
            .field("selected", &self.session.selected)
            .finish_non_exhaustive()
    }
}

fn initial_state(app: &Application) -> PbocAppState {
    PbocAppState {
        aid: sscard_apdu::hex::to_string(&app.aid),
        atc: 0,
        last_online_atc: 0,
        pin: String::clone(&app.pin),
        pin_tries: app.pin_try_limit,
        blocked: false,
        ec_balance: app.ec.balance,
        ec_balance_limit: app.ec.balance_limit,
        ec_single_limit: app.ec.single_limit,
        ec_reset_threshold: app.ec.reset_threshold,
        transaction_log: Vec::new(),
        load_log: Vec::new(),
    }
}

/// Appends a BER-TLV. The applet's objects are small and their tags valid; an object
/// that cannot be encoded is left out rather than written cut short.
fn put_tlv(out: &mut Vec<u8>, tag: u32, value: &[u8]) {
    let _ = sscard_apdu::tlv::ber::push(tag, value, out);
}

fn lookup(values: &[(Tag, Vec<u8>)], tag: Tag) -> Option<&[u8]> {
    values
        .iter()
        .find(|(t, _)| *t == tag)
        .map(|(_, v)| v.as_slice())
}

fn fixed<const N: usize>(value: Option<&[u8]>) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(v) = value {
        for (o, b) in out.iter_mut().zip(v) {
            *o = *b;
        }
    }
    out
}

fn split_dol(dol: &[u8], data: &[u8]) -> Result<Vec<(Tag, Vec<u8>)>, Status> {
    let dol = Dol::parse(dol).map_err(|_| Status::UnspecifiedError)?;
    let parts = dol.split(data).map_err(|_| Status::WrongLength)?;
    Ok(parts.into_iter().map(|(t, v)| (t, v.to_vec())).collect())
}

/// The AC input from transaction data (`values`), the AIP, the ATC and the CVR.
fn ac_input(values: &[(Tag, Vec<u8>)], aip: [u8; 2], atc: u16, cvr: [u8; 3]) -> AcInput {
    let [c1, c2, c3] = cvr;
    AcInput {
        amount: fixed(lookup(values, Tag(0x9F02))),
        amount_other: fixed(lookup(values, Tag(0x9F03))),
        terminal_country: fixed(lookup(values, Tag(0x9F1A))),
        tvr: fixed(lookup(values, Tag(0x95))),
        currency: fixed(lookup(values, Tag(0x5F2A))),
        date: fixed(lookup(values, Tag(0x9A))),
        txn_type: u8::from_be_bytes(fixed(lookup(values, Tag(0x9C)))),
        unpredictable_number: fixed(lookup(values, Tag(0x9F37))),
        aip,
        atc,
        cvr: [0x03, c1, c2, c3],
    }
}

/// The INTERNAL AUTHENTICATE signers of each application of `profile`: (RSA, SM2).
fn authenticators_for(profile: &CardProfile) -> Vec<[Box<dyn DynamicAuthenticator>; 2]> {
    let mut authenticators = Vec::new();
    for app in &profile.applications {
        let sm: Box<dyn DynamicAuthenticator> = match app
            .icc_sm2_private_key
            .as_ref()
            .and_then(|d| Sm2Authenticator::new(d).ok())
        {
            Some(a) => Box::new(a),
            None => Box::new(NoAuthenticator),
        };
        let rsa: Box<dyn DynamicAuthenticator> = match app
            .icc_rsa_private_key
            .as_ref()
            .and_then(|k| k.private_key().ok())
        {
            Some(key) => Box::new(RsaAuthenticator::new(key)),
            None => Box::new(NoAuthenticator),
        };
        authenticators.push([rsa, sm]);
    }
    authenticators
}

impl PbocApp {
    /// A bank application from a validated profile, with OS randomness.
    pub fn new(profile: CardProfile) -> Result<Self, PbocBuildError> {
        Self::with_entropy(profile, Box::new(OsEntropy))
    }

    /// A bank application with injected randomness (ICC dynamic numbers).
    pub fn with_entropy(
        profile: CardProfile,
        entropy: Box<dyn Entropy>,
    ) -> Result<Self, PbocBuildError> {
        if profile.applications.is_empty() {
            return Err(PbocBuildError::NoApplication);
        }
        let state = PbocState {
            version: PBOC_STATE_VERSION,
            applications: profile.applications.iter().map(initial_state).collect(),
            perso: None,
        };
        let authenticators = authenticators_for(&profile);
        Ok(Self {
            profile,
            state,
            session: Session::default(),
            entropy,
            authenticators,
            journal: None,
            dek: zeroize::Zeroizing::new([0; 16]),
        })
    }

    /// The built-in profile ([`BUILTIN_PROFILE`]) with injected randomness.
    pub fn builtin(entropy: Box<dyn Entropy>) -> Result<Self, PbocBuildError> {
        Self::with_entropy(perso::load(BUILTIN_PROFILE)?, entropy)
    }

    /// The profile.
    pub fn profile(&self) -> &CardProfile {
        &self.profile
    }

    /// The non-volatile state.
    pub fn state(&self) -> &PbocState {
        &self.state
    }

    /// Replaces the state with one committed earlier (its AIDs must match the profile).
    pub fn restore(&mut self, state: PbocState) -> Result<(), PbocBuildError> {
        // An application personalised from DGIs is rebuilt from them; a blank one (or
        // one cut off part-way) has no application yet.
        match &state.perso {
            Some(perso) if perso.personalised => {
                self.rebuild_from_dgis(perso)
                    .map_err(|_| PbocBuildError::State)?;
            }
            Some(perso) => {
                if !state.applications.is_empty() || sscard_apdu::hex::to_vec(&perso.aid).is_err() {
                    return Err(PbocBuildError::State);
                }
                self.profile.applications.clear();
                self.authenticators.clear();
                self.state = state;
                return Ok(());
            }
            None if self.state.perso.is_some() => return Err(PbocBuildError::State),
            None => {}
        }
        let fits = state.version == PBOC_STATE_VERSION
            && state.applications.len() == self.profile.applications.len()
            && state
                .applications
                .iter()
                .zip(&self.profile.applications)
                .all(|(s, a)| {
                    s.aid == sscard_apdu::hex::to_string(&a.aid)
                        && (4..=12).contains(&s.pin.len())
                        && s.pin.bytes().all(|b| b.is_ascii_digit())
                });
        if !fits {
            return Err(PbocBuildError::State);
        }
        self.state = state;
        Ok(())
    }

    /// Makes the application persistent, like [`crate::SsCard::persistent`]: `restore`
    /// (e.g. from [`PbocFileJournal::load`]) replaces the personalised state, and every
    /// change is committed to `journal` before the card answers.
    pub fn persistent(
        mut self,
        journal: Box<dyn PbocJournal>,
        restore: Option<PbocState>,
    ) -> Result<Self, PbocBuildError> {
        if let Some(state) = restore {
            self.restore(state)?;
        }
        self.journal = Some(journal);
        Ok(self)
    }

    /// Commits every later change to `journal` before answering.
    pub fn set_journal(&mut self, journal: Box<dyn PbocJournal>) {
        self.journal = Some(journal);
    }

    /// Replaces the INTERNAL AUTHENTICATE signer of application `index` for `family`
    /// (e.g. with the shared `sscard_emv::oda` builders). Out-of-range indexes are ignored.
    pub fn set_authenticator(
        &mut self,
        index: usize,
        family: Family,
        authenticator: Box<dyn DynamicAuthenticator>,
    ) {
        if let Some(pair) = self.authenticators.get_mut(index) {
            let slot = match family {
                Family::Rsa3Des => pair.first_mut(),
                Family::Sm2Sm4 => pair.get_mut(1),
            };
            if let Some(slot) = slot {
                *slot = authenticator;
            }
        }
    }

    /// Whether a SELECT by this DF name belongs to the bank side: PSE, PPSE, the
    /// UnionPay RID `A000000333`, or a prefix (5 bytes or more) of a profile AID.
    pub fn claims(&self, name: &[u8]) -> bool {
        if let Some(aid) = self.perso_aid() {
            if name.len() >= 5 && aid.starts_with(name) {
                return true;
            }
        }
        name == perso::PSE_NAME
            || name == perso::PPSE_NAME
            || name.starts_with(&[0xA0, 0x00, 0x00, 0x03, 0x33])
            || (name.len() >= 5
                && self
                    .profile
                    .applications
                    .iter()
                    .any(|a| a.aid.starts_with(name)))
    }

    /// Forgets the current selection and transaction (another application was selected).
    pub fn deselect(&mut self) {
        self.session = Session::default();
    }

    fn commit(&mut self, before: PbocState) -> Result<(), Status> {
        if let Some(journal) = self.journal.as_mut() {
            if journal.commit(&self.state).is_err() {
                self.state = before;
                return Err(Status::MemoryFailure);
            }
        }
        Ok(())
    }

    fn app_index(&self) -> Result<usize, Status> {
        match self.session.selected {
            Selected::App(i) => Ok(i),
            _ => Err(Status::ConditionsOfUseNotSatisfied),
        }
    }

    fn app(&self, i: usize) -> Result<&Application, Status> {
        self.profile
            .applications
            .get(i)
            .ok_or(Status::UnspecifiedError)
    }

    fn app_state(&self, i: usize) -> Result<&PbocAppState, Status> {
        self.state
            .applications
            .get(i)
            .ok_or(Status::UnspecifiedError)
    }

    fn app_state_mut(&mut self, i: usize) -> Result<&mut PbocAppState, Status> {
        self.state
            .applications
            .get_mut(i)
            .ok_or(Status::UnspecifiedError)
    }

    // ----------------------------------------------------------------------------
    // SELECT
    // ----------------------------------------------------------------------------

    fn select(
        &mut self,
        interface: Interface,
        next: bool,
        name: &[u8],
        reply: &mut Reply<'_>,
    ) -> Result<(), Status> {
        if name == perso::PSE_NAME {
            let fci = self
                .profile
                .pse
                .as_ref()
                .ok_or(Status::FileNotFound)?
                .fci
                .clone();
            self.session = Session {
                selected: Selected::Pse,
                ..Session::default()
            };
            return reply.extend_from_slice(&fci);
        }
        if name == perso::PPSE_NAME {
            let ppse = self.profile.ppse.as_ref().ok_or(Status::FileNotFound)?;
            let allowed = match interface {
                Interface::Contact => ppse.on_contact,
                Interface::Contactless => ppse.on_contactless,
            };
            if !allowed {
                return Err(Status::FileNotFound);
            }
            let fci = ppse.fci.clone();
            self.session = Session {
                selected: Selected::Ppse,
                ..Session::default()
            };
            return reply.extend_from_slice(&fci);
        }
        if name.len() < 5 || name.len() > 16 {
            return Err(Status::FileNotFound);
        }
        // P2 02: the next application whose AID starts with the name, after the current.
        let after = match (next, self.session.selected) {
            (true, Selected::App(j)) => Some(j),
            _ => None,
        };
        let found = self
            .profile
            .applications
            .iter()
            .enumerate()
            .filter(|(i, a)| a.aid.starts_with(name) && after.is_none_or(|j| *i > j))
            .map(|(i, _)| i)
            .next()
            .ok_or(Status::FileNotFound)?;
        self.session = Session {
            selected: Selected::App(found),
            ..Session::default()
        };
        if self.app_state(found)?.blocked {
            // Selected, but the Card contract drops data with a warning status.
            return Err(SW_SELECTED_BLOCKED);
        }
        let app = self.app(found)?;
        let fci = match interface {
            Interface::Contact => app.fci_contact.clone(),
            Interface::Contactless => app.fci_contactless.clone(),
        };
        reply.extend_from_slice(&fci)
    }

    // ----------------------------------------------------------------------------
    // READ RECORD
    // ----------------------------------------------------------------------------

    fn read_record(&self, record: u8, sfi: u8, reply: &mut Reply<'_>) -> Result<(), Status> {
        let index = usize::from(record).saturating_sub(1);
        match self.session.selected {
            Selected::Pse => {
                let pse = self.profile.pse.as_ref().ok_or(Status::FileNotFound)?;
                if sfi != pse.sfi {
                    return Err(Status::FileNotFound);
                }
                let rec = pse.records.get(index).ok_or(Status::RecordNotFound)?;
                reply.extend_from_slice(rec)
            }
            Selected::App(i) => {
                let app = self.app(i)?;
                let st = self.app_state(i)?;
                for (log, records) in [
                    (&app.transaction_log, &st.transaction_log),
                    (&app.load_log, &st.load_log),
                ] {
                    if let Some(log) = log {
                        if log.sfi == sfi {
                            let hex = records.get(index).ok_or(Status::RecordNotFound)?;
                            let bytes = sscard_apdu::hex::to_vec(hex)
                                .map_err(|_| Status::UnspecifiedError)?;
                            return reply.extend_from_slice(&bytes);
                        }
                    }
                }
                if !app.has_sfi(sfi) {
                    return Err(Status::FileNotFound);
                }
                let family = self
                    .session
                    .txn
                    .as_ref()
                    .map_or(Family::from_df69(None), |t| t.family);
                let rec = app
                    .record(family, sfi, record)
                    .ok_or(Status::RecordNotFound)?;
                reply.extend_from_slice(rec)
            }
            Selected::None | Selected::Ppse => Err(Status::FileNotFound),
        }
    }

    // ----------------------------------------------------------------------------
    // GET PROCESSING OPTIONS
    // ----------------------------------------------------------------------------

    fn gpo(
        &mut self,
        interface: Interface,
        body: &[u8],
        reply: &mut Reply<'_>,
    ) -> Result<(), Status> {
        let i = self.app_index()?;
        if self.session.txn.is_some() {
            return Err(Status::ConditionsOfUseNotSatisfied);
        }
        let app = self.app(i)?;
        let pdol = match interface {
            Interface::Contact => &app.pdol_contact,
            Interface::Contactless => &app.pdol_contactless,
        };
        let pdol_values = split_dol(pdol, body)?;
        let family =
            Family::from_df69(lookup(&pdol_values, Tag(0xDF69)).and_then(|v| v.first().copied()));
        let ec_requested = lookup(&pdol_values, Tag(0x9F7A)) == Some(&[0x01]);
        let qpboc =
            interface == Interface::Contactless && lookup(&pdol_values, Tag(0x9F66)).is_some();
        let gpo = match interface {
            Interface::Contact => &app.gpo(family).contact,
            Interface::Contactless => &app.gpo(family).contactless,
        };
        let (aip, afl) = (gpo.aip, gpo.afl.clone());
        let mut txn = Txn {
            family,
            aip,
            pdol_data: body.to_vec(),
            pdol_values,
            cdol1_data: Vec::new(),
            cdol1_values: Vec::new(),
            ec_requested,
            stage: GacStage::None,
            first_ac: None,
            issuer_auth: None,
            ext_auth_tried: false,
        };
        let mut out = Vec::new();
        put_tlv(&mut out, 0x82, &aip);
        put_tlv(&mut out, 0x94, &afl);
        if qpboc {
            self.qpboc(i, &mut txn, &mut out)?;
        } else if app.gpo_ec_balance {
            // [U, ours] the current EC balance for terminals that never GET DATA.
            let balance = self.app_state(i)?.ec_balance;
            put_tlv(&mut out, 0x9F79, &amount_bcd(balance));
        }
        self.session.txn = Some(txn);
        let mut resp = Vec::with_capacity(out.len() + 3);
        put_tlv(&mut resp, 0x77, &out);
        reply.extend_from_slice(&resp)
    }

    /// The qPBOC part of a contactless GPO: card risk management on the EC balance and
    /// the cryptogram (see the [`PbocApp`] docs for the subset).
    fn qpboc(&mut self, i: usize, txn: &mut Txn, out: &mut Vec<u8>) -> Result<(), Status> {
        let values = txn.pdol_values.clone();
        let cid = if self.app_state(i)?.blocked {
            CID_AAC
        } else if self.ec_eligible(i, &values)? {
            CID_TC
        } else {
            CID_ARQC
        };
        let (atc, ac, iad) = self.cryptogram(i, txn, &values, cid, 0x80)?;
        if cid == CID_TC {
            self.ec_debit(i, txn, &values, atc)?;
        }
        let app = self.app(i)?;
        put_tlv(out, 0x9F36, &atc.to_be_bytes());
        put_tlv(out, 0x9F26, &ac);
        put_tlv(out, 0x9F27, &[cid]);
        put_tlv(out, 0x9F10, &iad);
        if let Some(t2) = app.record_tag(txn.family, 0x57) {
            put_tlv(out, 0x57, t2);
        }
        if let Some(psn) = app.record_tag(txn.family, 0x5F34) {
            put_tlv(out, 0x5F34, psn);
        }
        put_tlv(out, 0x9F6C, &app.ctq);
        let balance = self.app_state(i)?.ec_balance;
        put_tlv(out, 0x9F5D, &amount_bcd(balance));
        txn.stage = GacStage::Done;
        txn.first_ac = Some((ac, atc));
        Ok(())
    }

    /// EC offline approval (pboc.md §2, \[U\] rules): EC requested or contactless,
    /// currency = `9F51`, amount ≤ `9F78` and ≤ balance.
    fn ec_eligible(&self, i: usize, values: &[(Tag, Vec<u8>)]) -> Result<bool, Status> {
        let app = self.app(i)?;
        let st = self.app_state(i)?;
        let amount = bcd_amount(&fixed(lookup(values, Tag(0x9F02))));
        let currency: [u8; 2] = fixed(lookup(values, Tag(0x5F2A)));
        Ok(match amount {
            Some(a) => currency == app.ec.currency && a <= st.ec_single_limit && a <= st.ec_balance,
            None => false,
        })
    }

    /// Increments and commits the ATC, then computes the cryptogram and the IAD.
    /// `gac_bits` are the CVR byte 1 bits of the other GENERATE AC (`80`: second not
    /// requested; at the second GENERATE AC the first one's type).
    fn cryptogram(
        &mut self,
        i: usize,
        txn: &Txn,
        values: &[(Tag, Vec<u8>)],
        cid: u8,
        other_bits: u8,
    ) -> Result<(u16, [u8; 8], Vec<u8>), Status> {
        let before = self.state.clone();
        let st = self.app_state_mut(i)?;
        let atc = st
            .atc
            .checked_add(1)
            .ok_or(Status::ConditionsOfUseNotSatisfied)?;
        st.atc = atc;
        let pin_tries = st.pin_tries;
        self.commit(before)?;
        // CVR \[U, Visa-like layout\]: byte 1 AC types (b8-7 second GAC, b6-5 first GAC),
        // b3 offline PIN performed, b2 offline PIN failed, b4 issuer authentication
        // failed; byte 2 low nibble PIN tries left; byte 3 b7 PIN try limit exceeded.
        let mut c1 = other_bits;
        c1 |= match (other_bits, cid) {
            (0x80, CID_TC) => 0x10,
            (0x80, CID_ARQC) => 0x20,
            (0x80, _) => 0x00,
            (_, CID_TC) => 0x40,
            _ => 0x00,
        };
        match self.session.pin_result {
            Some(true) => c1 |= 0x04,
            Some(false) => c1 |= 0x06,
            None => {}
        }
        if txn.issuer_auth == Some(false) {
            c1 |= 0x08;
        }
        let c3 = if pin_tries == 0 { 0x40 } else { 0x00 };
        let cvr = [c1, pin_tries & 0x0F, c3];
        let app = self.app(i)?;
        let mk = cryptogram::master_key(txn.family, &app.keys(txn.family).mk_ac)
            .map_err(|_| Status::UnspecifiedError)?;
        let input = ac_input(values, txn.aip, atc, cvr);
        let ac = cryptogram::application_cryptogram(&mk, &input)
            .map_err(|_| Status::UnspecifiedError)?;
        let [x1, x2, x3] = cvr;
        let mut iad = vec![
            0x07,
            app.iad.dki,
            app.iad.cvn,
            0x03,
            x1,
            x2,
            x3,
            txn.family.iad_byte(),
        ];
        iad.extend_from_slice(&app.iad.discretionary);
        Ok((atc, ac, iad))
    }

    /// Debits an offline-approved EC amount and appends the transaction log record.
    fn ec_debit(
        &mut self,
        i: usize,
        txn: &Txn,
        values: &[(Tag, Vec<u8>)],
        atc: u16,
    ) -> Result<(), Status> {
        let amount = bcd_amount(&fixed(lookup(values, Tag(0x9F02)))).unwrap_or(0);
        let record = self.log_record(i, txn, values, atc, false)?;
        let max = self
            .app(i)?
            .transaction_log
            .as_ref()
            .map(|l| usize::from(l.max_records));
        let before = self.state.clone();
        let st = self.app_state_mut(i)?;
        st.ec_balance = st
            .ec_balance
            .checked_sub(amount)
            .ok_or(Status::ConditionsOfUseNotSatisfied)?;
        if let (Some(max), Some(record)) = (max, record) {
            st.transaction_log
                .insert(0, sscard_apdu::hex::to_string(&record));
            st.transaction_log.truncate(max);
        }
        self.commit(before)
    }

    /// A log record in the transaction (`9F4F`) or load (`DF4F`) log format, from the
    /// card's ATC and the transaction's PDOL and CDOL1 data; `None` without that log.
    fn log_record(
        &self,
        i: usize,
        txn: &Txn,
        values: &[(Tag, Vec<u8>)],
        atc: u16,
        load: bool,
    ) -> Result<Option<Vec<u8>>, Status> {
        let app = self.app(i)?;
        let spec = if load {
            &app.load_log
        } else {
            &app.transaction_log
        };
        let Some(spec) = spec else {
            return Ok(None);
        };
        let dol = Dol::parse(&spec.format).map_err(|_| Status::UnspecifiedError)?;
        let atc_bytes = atc.to_be_bytes();
        let mut out = Vec::new();
        dol.build(
            |tag| {
                if tag == Tag(0x9F36) {
                    return Some(&atc_bytes[..]);
                }
                lookup(values, tag)
                    .or_else(|| lookup(&txn.cdol1_values, tag))
                    .or_else(|| lookup(&txn.pdol_values, tag))
            },
            &mut out,
        );
        Ok(Some(out))
    }

    // ----------------------------------------------------------------------------
    // GET DATA
    // ----------------------------------------------------------------------------

    fn get_data(&self, tag: u16, reply: &mut Reply<'_>) -> Result<(), Status> {
        let i = self.app_index()?;
        let app = self.app(i)?;
        let st = self.app_state(i)?;
        let tag = u32::from(tag);
        let value: Vec<u8> = match tag {
            0x9F36 => st.atc.to_be_bytes().to_vec(),
            0x9F13 => st.last_online_atc.to_be_bytes().to_vec(),
            0x9F17 => vec![st.pin_tries],
            0x9F79 => amount_bcd(st.ec_balance).to_vec(),
            0x9F77 => amount_bcd(st.ec_balance_limit).to_vec(),
            0x9F78 => amount_bcd(st.ec_single_limit).to_vec(),
            0x9F6D => amount_bcd(st.ec_reset_threshold).to_vec(),
            0x9F51 => app.ec.currency.to_vec(),
            0x9F4F => app
                .transaction_log
                .as_ref()
                .ok_or(Status::ReferencedDataNotFound)?
                .format
                .clone(),
            0xDF4F => app
                .load_log
                .as_ref()
                .ok_or(Status::ReferencedDataNotFound)?
                .format
                .clone(),
            0x9F4D => app
                .transaction_log
                .as_ref()
                .ok_or(Status::ReferencedDataNotFound)?
                .entry()
                .to_vec(),
            0xDF4D => app
                .load_log
                .as_ref()
                .ok_or(Status::ReferencedDataNotFound)?
                .entry()
                .to_vec(),
            _ => return Err(Status::ReferencedDataNotFound),
        };
        let mut out = Vec::new();
        put_tlv(&mut out, tag, &value);
        reply.extend_from_slice(&out)
    }

    // ----------------------------------------------------------------------------
    // VERIFY
    // ----------------------------------------------------------------------------

    fn verify(&mut self, pin_block: &[u8]) -> Result<(), Status> {
        let i = self.app_index()?;
        let offered = Pin::from_plaintext_block(pin_block).map_err(|_| Status::WrongData)?;
        let limit = self.app(i)?.pin_try_limit;
        if self.app_state(i)?.pin_tries == 0 {
            return Err(Status::AuthenticationMethodBlocked);
        }
        // The counter goes down (and is committed) before the comparison.
        let before = self.state.clone();
        let st = self.app_state_mut(i)?;
        st.pin_tries = st.pin_tries.saturating_sub(1);
        let expected = Pin::new(&st.pin);
        self.commit(before)?;
        // Constant-time comparison (`Pin`'s equality).
        let matches = expected.is_ok_and(|pin| pin == offered);
        if matches {
            let before = self.state.clone();
            self.app_state_mut(i)?.pin_tries = limit;
            self.commit(before)?;
            self.session.pin_result = Some(true);
            Ok(())
        } else {
            self.session.pin_result = Some(false);
            Err(Status::VerificationFailed {
                tries_left: self.app_state(i)?.pin_tries,
            })
        }
    }

    // ----------------------------------------------------------------------------
    // GENERATE AC
    // ----------------------------------------------------------------------------

    fn generate_ac(
        &mut self,
        requested: u8,
        cda: bool,
        data: &[u8],
        reply: &mut Reply<'_>,
    ) -> Result<(), Status> {
        let i = self.app_index()?;
        let mut txn = self
            .session
            .txn
            .clone()
            .ok_or(Status::ConditionsOfUseNotSatisfied)?;
        let result = match txn.stage {
            GacStage::None => match split_dol(&self.app(i)?.cdol1, data) {
                Ok(values) => {
                    txn.cdol1_values = values;
                    txn.cdol1_data = data.to_vec();
                    self.first_gac(i, &mut txn, requested, cda)
                }
                Err(e) => Err(e),
            },
            GacStage::First(CID_ARQC) => self.second_gac(i, &mut txn, requested, cda, data),
            _ => Err(Status::ConditionsOfUseNotSatisfied),
        };
        self.session.txn = Some(txn);
        reply.extend_from_slice(&result?)
    }

    fn first_gac(
        &mut self,
        i: usize,
        txn: &mut Txn,
        requested: u8,
        cda: bool,
    ) -> Result<Vec<u8>, Status> {
        let values = txn.cdol1_values.clone();
        let blocked = self.app_state(i)?.blocked;
        // Card risk management: never above what was asked (AAC < ARQC < TC); EC
        // offline approval only for a requested TC with 9F7A = 01.
        let cid = if blocked || requested == CID_AAC {
            CID_AAC
        } else if requested == CID_TC && txn.ec_requested && self.ec_eligible(i, &values)? {
            CID_TC
        } else {
            CID_ARQC
        };
        let (atc, ac, iad) = self.cryptogram(i, txn, &values, cid, 0x80)?;
        if cid == CID_TC {
            self.ec_debit(i, txn, &values, atc)?;
        }
        txn.stage = GacStage::First(cid);
        txn.first_ac = Some((ac, atc));
        // EC issuer authorisation code with an EC offline approval \[U\].
        let ec_code = if cid == CID_TC {
            Some(self.app(i)?.ec.issuer_auth_code)
        } else {
            None
        };
        let cdol1_data = txn.cdol1_data.clone();
        self.gac_response(i, txn, cda, &[&cdol1_data], (cid, atc, ac), &iad, ec_code)
    }

    /// The format 2 GENERATE AC response `77{9F27, 9F36, 9F26, 9F10 [, 9F74]}`; with CDA
    /// requested, a non-AAC cryptogram and a signer for the family, the AC travels inside
    /// the SDAD instead: `77{9F27, 9F36, 9F4B, 9F10 [, 9F74]}`. Without a signer (a profile
    /// without the family's ICC key) the plain response is sent: "CDA requested but
    /// absent".
    ///
    /// CDA (EMV Book 2 §6.6; for SM2 \[U — ours\] with SM3): ICC dynamic data = `len ‖
    /// ICC dynamic number ‖ CID ‖ AC ‖ hash(PDOL data ‖ CDOL1 data [‖ CDOL2 data] ‖ the
    /// response TLVs other than 9F4B, in order)` (`sscard_emv::oda::cda_transaction_hash`,
    /// SHA-1 for RSA, SM3 for SM2); the signed data appends `9F37`.
    #[allow(clippy::too_many_arguments)]
    fn gac_response(
        &mut self,
        i: usize,
        txn: &Txn,
        cda: bool,
        cdol_data: &[&[u8]],
        (cid, atc, ac): (u8, u16, [u8; 8]),
        iad: &[u8],
        ec_code: Option<[u8; 6]>,
    ) -> Result<Vec<u8>, Status> {
        let mut plain = Vec::new();
        put_tlv(&mut plain, 0x9F27, &[cid]);
        put_tlv(&mut plain, 0x9F36, &atc.to_be_bytes());
        let mut tail = Vec::new();
        put_tlv(&mut tail, 0x9F10, iad);
        if let Some(code) = ec_code {
            put_tlv(&mut tail, 0x9F74, &code);
        }
        let mut out = plain.clone();
        let mut signed = false;
        if cda && cid != CID_AAC {
            // The transaction data hash covers the response without 9F4B, in order:
            // 9F27, 9F36, then the tail (9F10 [, 9F74]).
            let mut response = plain.clone();
            response.extend_from_slice(&tail);
            let alg = match txn.family {
                Family::Rsa3Des => HashAlg::Sha1,
                Family::Sm2Sm4 => HashAlg::Sm3,
            };
            let (cdol1, cdol2) = match cdol_data {
                [one] => (*one, None),
                [one, two, ..] => (*one, Some(*two)),
                [] => (&[][..], None),
            };
            let hash = oda::cda_transaction_hash(alg, &txn.pdol_data, cdol1, cdol2, &response)
                .map_err(|_| Status::UnspecifiedError)?;
            let n = self.app(i)?.icc_dynamic_number_len;
            let mut number = vec![0u8; usize::from(n)];
            self.entropy.fill(&mut number);
            let dynamic = oda::cda_icc_dynamic_data(&number, cid, &ac, &hash)
                .map_err(|_| Status::UnspecifiedError)?;
            let un: [u8; 4] = fixed(lookup(&txn.cdol1_values, Tag(0x9F37)));
            match self.signer(i, txn.family)?.sdad(&dynamic, &un) {
                Ok(sdad) => {
                    put_tlv(&mut out, 0x9F4B, &sdad);
                    signed = true;
                }
                Err(Status::ConditionsOfUseNotSatisfied) => {}
                Err(e) => return Err(e),
            }
        }
        if !signed {
            put_tlv(&mut out, 0x9F26, &ac);
        }
        out.extend_from_slice(&tail);
        let mut resp = Vec::new();
        put_tlv(&mut resp, 0x77, &out);
        Ok(resp)
    }

    fn signer(&self, i: usize, family: Family) -> Result<&dyn DynamicAuthenticator, Status> {
        self.authenticators
            .get(i)
            .and_then(|pair| match family {
                Family::Rsa3Des => pair.first(),
                Family::Sm2Sm4 => pair.get(1),
            })
            .map(|b| b.as_ref())
            .ok_or(Status::ConditionsOfUseNotSatisfied)
    }

    fn second_gac(
        &mut self,
        i: usize,
        txn: &mut Txn,
        requested: u8,
        cda: bool,
        data: &[u8],
    ) -> Result<Vec<u8>, Status> {
        if requested == CID_ARQC {
            return Err(Status::IncorrectP1P2);
        }
        let values = split_dol(&self.app(i)?.cdol2, data)?;
        let arc: [u8; 2] = fixed(lookup(&values, Tag(0x8A)));
        let app = self.app(i)?;
        let issuer_ok = if app.issuer_authentication_required {
            txn.issuer_auth == Some(true)
        } else {
            txn.issuer_auth != Some(false)
        };
        let approved = requested == CID_TC
            && !self.app_state(i)?.blocked
            && (arc == *b"00" || arc == [0, 0])
            && issuer_ok;
        let cid = if approved { CID_TC } else { CID_AAC };
        let (atc, ac, iad) = self.cryptogram(i, txn, &values, cid, 0x20)?;
        if approved {
            let online_atc = txn.first_ac.map_or(atc, |(_, a)| a);
            let before = self.state.clone();
            self.app_state_mut(i)?.last_online_atc = online_atc;
            self.commit(before)?;
        }
        txn.stage = GacStage::Done;
        let cdol1_data = txn.cdol1_data.clone();
        self.gac_response(
            i,
            txn,
            cda,
            &[&cdol1_data, data],
            (cid, atc, ac),
            &iad,
            None,
        )
    }

    // ----------------------------------------------------------------------------
    // EXTERNAL AUTHENTICATE
    // ----------------------------------------------------------------------------

    fn external_auth(&mut self, arpc_rx: &[u8], arc: [u8; 2]) -> Result<(), Status> {
        let i = self.app_index()?;
        let family;
        let (arqc, atc) = match self.session.txn.as_ref() {
            Some(t) if t.stage == GacStage::First(CID_ARQC) && !t.ext_auth_tried => {
                family = t.family;
                t.first_ac.ok_or(Status::ConditionsOfUseNotSatisfied)?
            }
            _ => return Err(Status::ConditionsOfUseNotSatisfied),
        };
        let mk = cryptogram::master_key(family, &self.app(i)?.keys(family).mk_ac)
            .map_err(|_| Status::UnspecifiedError)?;
        let expected =
            cryptogram::arpc(&mk, atc, &arqc, &arc).map_err(|_| Status::UnspecifiedError)?;
        let ok = sscard_crypto::mac::verify(&expected, arpc_rx).is_ok();
        if let Some(t) = self.session.txn.as_mut() {
            t.ext_auth_tried = true;
            t.issuer_auth = Some(ok);
        }
        if ok {
            Ok(())
        } else {
            Err(SW_ISSUER_AUTH_FAILED)
        }
    }

    // ----------------------------------------------------------------------------
    // INTERNAL AUTHENTICATE
    // ----------------------------------------------------------------------------

    fn internal_auth(&mut self, data: &[u8], reply: &mut Reply<'_>) -> Result<(), Status> {
        let i = self.app_index()?;
        let family = self
            .session
            .txn
            .as_ref()
            .map(|t| t.family)
            .ok_or(Status::ConditionsOfUseNotSatisfied)?;
        let n = self.app(i)?.icc_dynamic_number_len;
        let mut dynamic = vec![0u8; usize::from(n)];
        self.entropy.fill(&mut dynamic);
        dynamic.insert(0, n);
        let sdad = self.signer(i, family)?.sdad(&dynamic, data)?;
        let mut inner = Vec::new();
        put_tlv(&mut inner, 0x9F4B, &sdad);
        let mut out = Vec::new();
        put_tlv(&mut out, 0x77, &inner);
        reply.extend_from_slice(&out)
    }

    // ----------------------------------------------------------------------------
    // Issuer scripts
    // ----------------------------------------------------------------------------

    /// Checks an issuer-script MAC over the first GENERATE AC's cryptogram and ATC.
    fn check_script_mac(
        &self,
        i: usize,
        header: &[u8; 5],
        body: &[u8],
        mac_rx: &[u8],
    ) -> Result<(), Status> {
        let txn = self
            .session
            .txn
            .as_ref()
            .ok_or(Status::ConditionsOfUseNotSatisfied)?;
        let (ac, atc) = txn.first_ac.ok_or(Status::ConditionsOfUseNotSatisfied)?;
        let mk = cryptogram::master_key(txn.family, &self.app(i)?.keys(txn.family).mk_smi)
            .map_err(|_| Status::UnspecifiedError)?;
        let mac = cryptogram::script_mac(&mk, atc, &ac, header, body)
            .map_err(|_| Status::UnspecifiedError)?;
        sscard_crypto::mac::verify(&mac, mac_rx).map_err(|_| Status::SecureMessagingDataIncorrect)
    }

    fn script(
        &mut self,
        kind: ScriptKind,
        header: &[u8; 5],
        body: &[u8],
        mac: &[u8],
    ) -> Result<(), Status> {
        let i = self.app_index()?;
        if let ScriptKind::PutData { tag } = kind {
            if !matches!(tag, 0x9F79 | 0x9F77 | 0x9F78 | 0x9F6D) {
                return Err(Status::ReferencedDataNotFound);
            }
        }
        self.check_script_mac(i, header, body, mac)?;
        match kind {
            ScriptKind::PutData { tag } => self.put_data(i, tag, body),
            ScriptKind::Block => self.app_block(i, body, true),
            ScriptKind::Unblock => self.app_block(i, body, false),
            ScriptKind::PinChange { new_pin } => self.pin_change(i, new_pin, body),
        }
    }

    fn put_data(&mut self, i: usize, tag: u16, body: &[u8]) -> Result<(), Status> {
        let value: [u8; 6] = body.try_into().map_err(|_| Status::WrongLength)?;
        let amount = bcd_amount(&value).ok_or(Status::WrongData)?;
        let before = self.state.clone();
        if tag == 0x9F79 {
            let txn = self
                .session
                .txn
                .clone()
                .ok_or(Status::ConditionsOfUseNotSatisfied)?;
            if txn.issuer_auth != Some(true) {
                return Err(Status::ConditionsOfUseNotSatisfied);
            }
            if amount > self.app_state(i)?.ec_balance_limit {
                return Err(Status::WrongData);
            }
            let atc = txn.first_ac.map_or(0, |(_, a)| a);
            let fields = self.log_record(i, &txn, &[], atc, true)?;
            let max = self
                .app(i)?
                .load_log
                .as_ref()
                .map(|l| usize::from(l.max_records));
            let st = self.app_state_mut(i)?;
            let old = st.ec_balance;
            st.ec_balance = amount;
            if let (Some(fields), Some(max)) = (fields, max) {
                // Load log record \[U order\]: P1 P2 ‖ balance before ‖ balance after ‖ DF4F.
                let mut rec = tag.to_be_bytes().to_vec();
                rec.extend_from_slice(&amount_bcd(old));
                rec.extend_from_slice(&amount_bcd(amount));
                rec.extend_from_slice(&fields);
                st.load_log.insert(0, sscard_apdu::hex::to_string(&rec));
                st.load_log.truncate(max);
            }
        } else {
            let st = self.app_state_mut(i)?;
            match tag {
                0x9F77 => st.ec_balance_limit = amount,
                0x9F78 => st.ec_single_limit = amount,
                _ => st.ec_reset_threshold = amount,
            }
        }
        self.commit(before)
    }

    fn app_block(&mut self, i: usize, body: &[u8], block: bool) -> Result<(), Status> {
        if !body.is_empty() {
            return Err(Status::WrongLength);
        }
        let before = self.state.clone();
        self.app_state_mut(i)?.blocked = block;
        self.commit(before)
    }

    /// PIN CHANGE/UNBLOCK `84 24 00 P2`: P2 `00` resets the try counter; P2 `01` also
    /// sets a new PIN given as a **plaintext** PIN block ‖ MAC (\[U\]: real cards take
    /// it enciphered under MK_SMC; the emulator accepts plaintext).
    fn pin_change(&mut self, i: usize, new_pin: bool, body: &[u8]) -> Result<(), Status> {
        let new_pin = if new_pin {
            let pin = Pin::from_plaintext_block(body).map_err(|_| Status::WrongData)?;
            let mut ascii = zeroize::Zeroizing::new([0u8; 12]);
            let n = pin
                .write_ascii(&mut *ascii)
                .map_err(|_| Status::WrongData)?;
            Some(
                ascii
                    .get(..n)
                    .unwrap_or_default()
                    .iter()
                    .map(|b| char::from(*b))
                    .collect::<String>(),
            )
        } else if body.is_empty() {
            None
        } else {
            return Err(Status::WrongLength);
        };
        let limit = self.app(i)?.pin_try_limit;
        let before = self.state.clone();
        let st = self.app_state_mut(i)?;
        st.pin_tries = limit;
        if let Some(pin) = new_pin {
            st.pin = pin;
        }
        self.commit(before)
    }
}

impl Card for PbocApp {
    fn atr(&self) -> &[u8] {
        &PBOC_ATR
    }

    fn reset(&mut self) {
        self.session = Session::default();
    }

    fn process(
        &mut self,
        interface: Interface,
        command: &CommandView<'_>,
        reply: &mut Reply<'_>,
    ) -> Result<(), Status> {
        if self.is_blank() {
            return self.process_blank(interface, command, reply);
        }
        if [command.cla(), command.ins(), command.p1(), command.p2()] == GET_LIFECYCLE {
            return self.lifecycle_reply(reply);
        }
        if [command.cla(), command.ins()] == STORE_DATA {
            // Personalised: STORE DATA is over for good.
            return Err(Status::ConditionsOfUseNotSatisfied);
        }
        match BankCommand::try_from(command)? {
            BankCommand::Select { next, name } => self.select(interface, next, name, reply),
            BankCommand::ReadRecord { record, sfi } => self.read_record(record, sfi, reply),
            BankCommand::GetProcessingOptions { pdol_data } => {
                self.gpo(interface, pdol_data, reply)
            }
            BankCommand::GetData { tag } => self.get_data(tag, reply),
            BankCommand::Verify { pin_block } => self.verify(pin_block),
            BankCommand::GenerateAc {
                requested,
                cda,
                data,
            } => self.generate_ac(requested, cda, data, reply),
            BankCommand::ExternalAuthenticate { arpc, arc } => self.external_auth(arpc, arc),
            BankCommand::InternalAuthenticate { ddol_data } => self.internal_auth(ddol_data, reply),
            BankCommand::Script {
                kind,
                header,
                body,
                mac,
            } => self.script(kind, &header, body, mac),
        }
    }
}
