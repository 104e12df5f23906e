//! The SSCard COS: the user card's file system and commands, built from the card
//! profile and a card image.
//!
//! Commands are parsed into [`Command`] first (shape checks only), then executed
//! against the file system and the security state: SELECT (by AID; by FID with P1
//! `00`/`02`), READ/UPDATE RECORD in the four P2 forms of `spec/sscard.md` §1.6, APPEND
//! RECORD for cyclic files, READ/UPDATE BINARY, VERIFY and CHANGE PIN with the try
//! counter (`63Cx`, then `6983`), GET CHALLENGE (single use), and EXTERNAL / INTERNAL
//! AUTHENTICATE with key error counters. Access conditions come from the profile
//! (`free`, `never`, `pin`, `ext-auth:XX` and combinations; the 3.0 read conditions on
//! cards whose spec version starts with `3`). The card's keys are diversified from a key
//! set (by default the emulation test keys) with a `KeyScheme` (by default the
//! emulation scheme), so an emulated PSAM or software keys holding the same masters
//! authenticate it. RELOAD and UNBLOCK PIN (`84 24`) need external authentication with
//! the PIN-unblock key, a fresh challenge, and a MAC (and for reload the encrypted PIN
//! block) under the secure-transport key's process key (`spec/sscard.md` §3.5).
//!
//! The same COS also exists **blank** ([`SsCard::blank`], `issuance.rs`): before END
//! PRE-ISSUANCE it answers the emulated COS's issuance commands (CREATE DF/EF, WRITE
//! KEY, ERASE, the lifecycle; ours, `apdu-specs/cos-emulated.md`), which fill the same
//! file and key tables the profile and image fill here.

mod command;
mod issuance;

pub use command::{Command, RecordRef};
pub use issuance::{
    key_type, lifecycle, rule_from_wire, rule_to_wire, BlankOptions, DfLayout, EfLayout, KeyLayout,
    Layout, TransportKey, BLANK_ATR, DEFAULT_CAPACITY, FILE_EXISTS, SERIAL_LEN,
    TRANSPORT_KEY_SCHEMA, TRANSPORT_TEST_KEY_JSON,
};

use issuance::Lifecycle;

use crate::persist::{CardState, EfState, Journal, RecordState, STATE_VERSION};

use sscard_apdu::applet::{Card, Interface, Reply};
use sscard_apdu::tlv::{ber, simple};
use sscard_apdu::{CommandView, Status};
use sscard_crypto::auth;
use sscard_crypto::kdf::{DivPath, EmulationScheme, KeyScheme};
use sscard_crypto::keys::{AnyKey, Des3Key, Sm4Key};
use sscard_fs::codec::{self, Encoding};
use sscard_fs::image::Value;
use sscard_fs::image::{FileContent, Record, DEFAULT_PIN};
use sscard_fs::keys::KeySet;
use sscard_fs::profile::{AccessRule, Node, NodeKind, Structure};
use sscard_fs::{Image, ImageError, Profile, SSSE_EF05};

/// A source of card randomness (challenges). Tests inject a deterministic one.
pub trait Entropy: Send {
    /// Fills `out` with random bytes.
    fn fill(&mut self, out: &mut [u8]);
}

impl<F: FnMut(&mut [u8]) + Send> Entropy for F {
    fn fill(&mut self, out: &mut [u8]) {
        self(out)
    }
}

/// Operating-system randomness.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&mut self, out: &mut [u8]) {
        // An emulator without OS randomness still answers; its challenges are then
        // predictable, which only weakens the emulation, never a real card.
        if getrandom::fill(out).is_err() {
            out.fill(0x5A);
        }
    }
}

/// A DF of the emulated card.
#[derive(Clone, Debug)]
struct Df {
    aid: Option<Vec<u8>>,
    fid: Option<u16>,
    /// Index of the parent DF.
    parent: Option<usize>,
    fci: Vec<u8>,
}

/// Where a record of a TLV file lives and how long its value may be.
#[derive(Clone, Copy, Debug)]
struct Slot {
    number: u8,
    tag: u8,
    max_value: usize,
}

/// An EF of the emulated card.
#[derive(Clone, Debug)]
struct Ef {
    df: usize,
    fid: Option<u16>,
    sfi: Option<u8>,
    structure: Structure,
    /// The file's read rule for this card's generation.
    read: AccessRule,
    /// Items whose record has a stricter read rule on this card (3.0 cards).
    record_rules: Vec<(u8, AccessRule)>,
    update: AccessRule,
    records: Vec<Record>,
    /// TLV files: where each item or group occurrence may be written.
    slots: Vec<Slot>,
    /// Fixed-record and cyclic files: record length and count.
    record_length: usize,
    record_count: usize,
    /// Content of a transparent EF.
    data: Vec<u8>,
}

/// The PIN and its try counter (persistent).
#[derive(Clone, Debug)]
struct Pin {
    digits: String,
    tries_left: u8,
    max_tries: u8,
}

/// A card key and its error counter (persistent).
struct CardKey {
    id: u8,
    key: AnyKey,
    tries_left: u8,
}

/// Key error counters start here (`63Cx`; counters up to `F` are seen in the field,
/// the real initial value is not public \[U\]).
pub const KEY_TRIES: u8 = 15;

/// Volatile card state, cleared by reset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Session {
    df: Option<usize>,
    ef: Option<usize>,
    pin_verified: bool,
    /// External authentications passed, by card key id.
    authenticated: Vec<u8>,
    /// The last challenge; single use.
    challenge: Option<Vec<u8>>,
}

/// The emulated social security card (user card).
pub struct SsCard {
    atr: Vec<u8>,
    dfs: Vec<Df>,
    efs: Vec<Ef>,
    mf: Option<usize>,
    pin: Option<Pin>,
    keys: Vec<CardKey>,
    /// Card key ids of the PIN-unblock key (PUK) and the secure-transport key (STK).
    puk: Option<u8>,
    stk: Option<u8>,
    scheme: Box<dyn KeyScheme + Send>,
    session: Session,
    entropy: Box<dyn Entropy>,
    journal: Option<Box<dyn Journal>>,
    /// Pre-issuance (a blank card) or issued.
    lifecycle: Lifecycle,
    /// The layout was built by commands and is persisted with the contents.
    layout_persisted: bool,
    /// Memory for files and keys (blank cards; `6A84` beyond).
    capacity: usize,
}

/// How to build an emulated card beyond its profile and image.
pub struct CardOptions<'a> {
    /// The master keys the card's keys are diversified from (`None`: the built-in
    /// emulation test keys).
    pub keys: Option<&'a KeySet>,
    /// The key scheme (diversification and process keys).
    pub scheme: Box<dyn KeyScheme + Send>,
    /// Randomness for challenges.
    pub entropy: Box<dyn Entropy>,
}

impl Default for CardOptions<'_> {
    fn default() -> Self {
        Self {
            keys: None,
            scheme: Box::new(EmulationScheme),
            entropy: Box::new(OsEntropy),
        }
    }
}

impl core::fmt::Debug for SsCard {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never the PIN.
        f.debug_struct("SsCard")
            .field("dfs", &self.dfs.len())
            .field("efs", &self.efs.len())
            .finish_non_exhaustive()
    }
}

/// Why a card cannot be built from a profile and an image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The profile is not valid.
    #[error(transparent)]
    Profile(#[from] sscard_fs::ProfileError),
    /// The image does not fit the profile.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The FCI of a DF cannot be encoded.
    #[error("FCI of {path} cannot be encoded")]
    Fci {
        /// The DF's profile path.
        path: String,
    },
    /// The image's PIN is not 2 to 12 digits, or does not match the profile's length.
    #[error("card image PIN must be digits of the profile's PIN length")]
    BadPin,
    /// The image's algorithm identifier names an algorithm the emulator lacks (`02`,
    /// SSF33).
    #[error("algorithm identifier {0:02X} is not supported (01: 3DES, 03: SM4)")]
    Algorithm(u8),
    /// The key set is malformed, or its keys cannot be diversified for this card (an ATR
    /// shorter than 8 bytes, a card identification code that does not start with digits).
    #[error("card keys: {0}")]
    Keys(String),
    /// A saved state does not belong to this card's profile, or is malformed.
    #[error("the saved card state does not fit this card")]
    State,
}

fn slots_of(node: &Node) -> Vec<Slot> {
    let items = node.items.iter().filter_map(|i| {
        i.record.map(|number| Slot {
            number,
            tag: i.tag,
            max_value: i.length,
        })
    });
    let groups = node.groups.iter().flat_map(|g| {
        (0..g.occurrences).filter_map(move |k| {
            g.record.map(|first| Slot {
                number: first.saturating_add(k),
                tag: g.tag,
                max_value: g.value_len(),
            })
        })
    });
    items.chain(groups).collect()
}

impl SsCard {
    /// Builds the card's file system from a profile and the values of one card, with the
    /// built-in emulation test keys and operating-system randomness for challenges.
    pub fn new(profile: &Profile, image: &Image) -> Result<Self, BuildError> {
        Self::with_options(profile, image, CardOptions::default())
    }

    /// Like [`SsCard::new`] with an injected source of randomness.
    pub fn with_entropy(
        profile: &Profile,
        image: &Image,
        entropy: Box<dyn Entropy>,
    ) -> Result<Self, BuildError> {
        let options = CardOptions {
            entropy,
            ..CardOptions::default()
        };
        Self::with_options(profile, image, options)
    }

    /// Builds the card with explicit keys, key scheme and randomness.
    pub fn with_options(
        profile: &Profile,
        image: &Image,
        options: CardOptions<'_>,
    ) -> Result<Self, BuildError> {
        let CardOptions {
            keys,
            scheme,
            entropy,
        } = options;
        image.validate(profile)?;
        let atr = image.atr_bytes()?;
        let algorithm_id = image.algorithm_id_byte()?;
        let mut dfs: Vec<Df> = Vec::new();
        let mut df_paths: Vec<&str> = Vec::new();
        let mut efs = Vec::new();
        let mut pin = None;
        let v3 = generation_3(image);
        for node in profile.nodes() {
            let parent = node
                .parent()
                .and_then(|p| df_paths.iter().position(|q| *q == p));
            match node.kind {
                NodeKind::Df => {
                    let fci = match &node.aid {
                        Some(aid) => fci(aid, algorithm_id).ok_or_else(|| BuildError::Fci {
                            path: node.path.clone(),
                        })?,
                        None => Vec::new(),
                    };
                    if let (Some(policy), None) = (node.pin, &pin) {
                        let digits = image.pin.clone().unwrap_or_else(|| DEFAULT_PIN.into());
                        let ok = digits.len() == usize::from(policy.digits)
                            && digits.bytes().all(|b| b.is_ascii_digit());
                        if !ok {
                            return Err(BuildError::BadPin);
                        }
                        pin = Some(Pin {
                            digits,
                            tries_left: policy.tries,
                            max_tries: policy.tries,
                        });
                    }
                    dfs.push(Df {
                        aid: node.aid.clone(),
                        fid: node.fid,
                        parent,
                        fci,
                    });
                    df_paths.push(&node.path);
                }
                NodeKind::Ef => {
                    let (Some(df), Some(structure)) = (parent, node.structure) else {
                        continue;
                    };
                    // A file the image does not mention is empty (never written).
                    let content = if image.files.contains_key(&node.path) {
                        image.content(profile, &node.path)?
                    } else if structure == Structure::Transparent {
                        FileContent::Binary(vec![0; node.size.unwrap_or(0)])
                    } else {
                        FileContent::Records(Vec::new())
                    };
                    let (records, data) = match content {
                        FileContent::Records(r) => (r, Vec::new()),
                        FileContent::Binary(d) => (Vec::new(), d),
                    };
                    let access = node.access;
                    let read = node.read_rule(None, v3);
                    let record_rules = node
                        .items
                        .iter()
                        .map(|i| (i.tag, node.read_rule(Some(i.tag), v3)))
                        .filter(|(_, rule)| *rule != read)
                        .collect();
                    efs.push(Ef {
                        df,
                        fid: node.fid,
                        sfi: node.sfi,
                        structure,
                        read,
                        record_rules,
                        update: access.map_or(AccessRule::Never, |a| a.update),
                        records,
                        slots: slots_of(node),
                        record_length: node.record_length(),
                        record_count: usize::from(node.record_count.unwrap_or(0)),
                        data,
                    });
                }
            }
        }
        let mf = dfs.iter().position(|d| d.fid == Some(0x3F00));
        let keys = card_keys(image, &atr, algorithm_id, keys, scheme.as_ref())?;
        let key_for = |usage| {
            profile
                .nodes()
                .iter()
                .flat_map(|n| n.keys.iter())
                .find(|k| k.usage == usage)
                .map(|k| k.id)
        };
        let puk = key_for(sscard_fs::profile::KeyUsage::PinUnblock);
        let stk = key_for(sscard_fs::profile::KeyUsage::SecureTransport);
        Ok(Self {
            atr,
            dfs,
            efs,
            mf,
            pin,
            keys,
            puk,
            stk,
            scheme,
            session: Session {
                df: mf,
                ..Session::default()
            },
            entropy,
            journal: None,
            lifecycle: Lifecycle::Issued,
            layout_persisted: false,
            capacity: 0,
        })
    }

    /// Makes the card persistent: `restore` (a state committed earlier, e.g. from
    /// [`crate::persist::FileJournal::load`]) replaces the image's contents, and every change is
    /// committed to `journal` before the card answers.
    pub fn persistent(
        mut self,
        journal: Box<dyn Journal>,
        restore: Option<CardState>,
    ) -> Result<Self, BuildError> {
        if let Some(state) = restore {
            self.apply_state(state)?;
        }
        self.journal = Some(journal);
        Ok(self)
    }

    /// Replaces the journal (for instance with a tearing one, mid-session).
    pub fn set_journal(&mut self, journal: Box<dyn Journal>) {
        self.journal = Some(journal);
    }

    /// The card's non-volatile state.
    pub fn state(&self) -> CardState {
        CardState {
            version: STATE_VERSION,
            efs: self
                .efs
                .iter()
                .map(|ef| EfState {
                    fid: ef.fid,
                    records: ef
                        .records
                        .iter()
                        .map(|r| RecordState {
                            number: r.number,
                            tag: r.tag,
                            bytes: sscard_apdu::hex::to_string(&r.bytes),
                        })
                        .collect(),
                    data: sscard_apdu::hex::to_string(&ef.data),
                })
                .collect(),
            pin: self.pin.as_ref().map(|p| p.digits.clone()),
            pin_tries: self.pin.as_ref().map(|p| p.tries_left),
            key_tries: self.keys.iter().map(|k| (k.id, k.tries_left)).collect(),
            layout: self.layout_persisted.then(|| self.layout()),
        }
    }

    fn apply_state(&mut self, state: CardState) -> Result<(), BuildError> {
        let bad = || BuildError::State;
        match (&state.layout, self.layout_persisted) {
            (Some(layout), true) => {
                self.apply_layout(layout, state.pin.as_deref(), state.pin_tries)?
            }
            (None, false) => {}
            _ => return Err(bad()),
        }
        if state.version != STATE_VERSION || state.efs.len() != self.efs.len() {
            return Err(bad());
        }
        // Check everything before changing anything.
        let mut contents = Vec::with_capacity(state.efs.len());
        for (ef, saved) in self.efs.iter().zip(&state.efs) {
            if ef.fid != saved.fid {
                return Err(bad());
            }
            let mut records = Vec::with_capacity(saved.records.len());
            for r in &saved.records {
                let bytes = sscard_apdu::hex::to_vec(&r.bytes).map_err(|_| bad())?;
                records.push(Record {
                    number: r.number,
                    tag: r.tag,
                    bytes,
                });
            }
            let data = sscard_apdu::hex::to_vec(&saved.data).map_err(|_| bad())?;
            if data.len() != ef.data.len() {
                return Err(bad());
            }
            contents.push((records, data));
        }
        for (ef, (records, data)) in self.efs.iter_mut().zip(contents) {
            ef.records = records;
            ef.data = data;
        }
        if let (Some(pin), Some(digits), Some(tries)) =
            (self.pin.as_mut(), state.pin, state.pin_tries)
        {
            pin.digits = digits;
            pin.tries_left = tries.min(pin.max_tries);
        }
        for (id, tries) in state.key_tries {
            if let Some(k) = self.keys.iter_mut().find(|k| k.id == id) {
                k.tries_left = tries.min(KEY_TRIES);
            }
        }
        Ok(())
    }

    /// Commits the current state; `6581` when the commit fails (power cut).
    fn persist(&mut self) -> Result<(), Status> {
        let state = match &self.journal {
            Some(_) => self.state(),
            None => return Ok(()),
        };
        match self.journal.as_mut().map(|j| j.commit(&state)) {
            Some(Err(_)) => Err(Status::MemoryFailure),
            _ => Ok(()),
        }
    }

    /// Remaining PIN tries (for tests and tools).
    pub fn pin_tries_left(&self) -> Option<u8> {
        self.pin.as_ref().map(|p| p.tries_left)
    }

    fn select_by_name(
        &mut self,
        aid: &[u8],
        fci: bool,
        reply: &mut Reply<'_>,
    ) -> Result<(), Status> {
        let exact = self.dfs.iter().position(|d| d.aid.as_deref() == Some(aid));
        // ISO/IEC 7816-4 allows a right-truncated DF name.
        let found = exact.or_else(|| {
            self.dfs
                .iter()
                .position(|d| d.aid.as_deref().is_some_and(|a| a.starts_with(aid)))
        });
        let index = found.ok_or(Status::FileNotFound)?;
        // Selecting an application starts its security state afresh.
        self.session = Session {
            df: Some(index),
            ..Session::default()
        };
        if fci {
            if let Some(df) = self.dfs.get(index) {
                reply.extend_from_slice(&df.fci)?;
            }
        }
        Ok(())
    }

    fn select_by_fid(&mut self, fid: u16, ef_only: bool) -> Result<(), Status> {
        if !ef_only && fid == 0x3F00 {
            let mf = self.mf.ok_or(Status::FileNotFound)?;
            self.session = Session {
                df: Some(mf),
                ..Session::default()
            };
            return Ok(());
        }
        let current = self.session.df.ok_or(Status::FileNotFound)?;
        if let Some(ef) = self
            .efs
            .iter()
            .position(|e| e.df == current && e.fid == Some(fid))
        {
            self.session.ef = Some(ef);
            return Ok(());
        }
        if ef_only {
            return Err(Status::FileNotFound);
        }
        let df = self
            .dfs
            .iter()
            .position(|d| d.parent == Some(current) && d.fid == Some(fid))
            .ok_or(Status::FileNotFound)?;
        self.session.df = Some(df);
        self.session.ef = None;
        // Key authentications belong to the DF they were made in.
        self.session.authenticated.clear();
        Ok(())
    }

    /// The EF named by SFI (which then becomes current) or the current EF.
    fn target_ef(&mut self, sfi: Option<u8>) -> Result<usize, Status> {
        match sfi {
            Some(sfi) => {
                let current = self.session.df.ok_or(Status::FileNotFound)?;
                let ef = self
                    .efs
                    .iter()
                    .position(|e| e.df == current && e.sfi == Some(sfi))
                    .ok_or(Status::FileNotFound)?;
                // Referencing by SFI makes the EF current (ISO/IEC 7816-4 §7.3.1).
                self.session.ef = Some(ef);
                Ok(ef)
            }
            None => self.session.ef.ok_or(Status::CommandNotAllowedNoCurrentEf),
        }
    }

    fn allowed(&self, rule: AccessRule) -> bool {
        let session = &self.session;
        rule.allows(session.pin_verified, |k| session.authenticated.contains(&k))
    }

    fn checked_ef(&mut self, sfi: Option<u8>, write: bool, binary: bool) -> Result<usize, Status> {
        let index = self.target_ef(sfi)?;
        let ef = self
            .efs
            .get(index)
            .ok_or(Status::CommandNotAllowedNoCurrentEf)?;
        if (ef.structure == Structure::Transparent) != binary {
            return Err(Status::IncompatibleFileStructure);
        }
        let rule = if write { ef.update } else { ef.read };
        if !self.allowed(rule) {
            return Err(Status::SecurityStatusNotSatisfied);
        }
        Ok(index)
    }

    fn read_record(
        &mut self,
        target: RecordRef,
        sfi: Option<u8>,
        ne: usize,
        reply: &mut Reply<'_>,
    ) -> Result<(), Status> {
        let index = self.checked_ef(sfi, false, false)?;
        let ef = self
            .efs
            .get(index)
            .ok_or(Status::CommandNotAllowedNoCurrentEf)?;
        let record = match target {
            RecordRef::Number(n) => ef.records.iter().find(|r| r.number == n),
            RecordRef::Tag(t) => ef.records.iter().find(|r| r.tag == Some(t)),
        }
        .ok_or(Status::RecordNotFound)?;
        if let Some((_, rule)) = ef.record_rules.iter().find(|(t, _)| Some(*t) == record.tag) {
            if !self.allowed(*rule) {
                return Err(Status::SecurityStatusNotSatisfied);
            }
        }
        let len = record.bytes.len();
        if ne < len {
            // Records are at most 256 bytes (tag, length, 254 value bytes).
            return Err(Status::WrongLe(u8::try_from(len).unwrap_or(0)));
        }
        reply.extend_from_slice(&record.bytes)
    }

    fn update_record(
        &mut self,
        target: RecordRef,
        sfi: Option<u8>,
        data: &[u8],
    ) -> Result<(), Status> {
        let index = self.checked_ef(sfi, true, false)?;
        let ef = self
            .efs
            .get_mut(index)
            .ok_or(Status::CommandNotAllowedNoCurrentEf)?;
        let new = match ef.structure {
            Structure::TlvRecord => {
                // The data is the whole record: one TLV of the record's tag.
                let (tag, value, rest) = simple::parse(data).map_err(|_| Status::WrongData)?;
                if !rest.is_empty() {
                    return Err(Status::WrongData);
                }
                let slot = match target {
                    RecordRef::Number(n) => ef.slots.iter().find(|s| s.number == n),
                    RecordRef::Tag(t) => ef.slots.iter().find(|s| s.tag == t),
                }
                .ok_or(Status::RecordNotFound)?;
                if tag != slot.tag {
                    return Err(Status::WrongData);
                }
                if value.len() > slot.max_value {
                    return Err(Status::WrongLength);
                }
                Record {
                    number: slot.number,
                    tag: Some(tag),
                    bytes: data.to_vec(),
                }
            }
            _ => {
                let RecordRef::Number(n) = target else {
                    return Err(Status::IncorrectP1P2);
                };
                if data.len() != ef.record_length {
                    return Err(Status::WrongLength);
                }
                if !ef.records.iter().any(|r| r.number == n) {
                    return Err(Status::RecordNotFound);
                }
                Record {
                    number: n,
                    tag: None,
                    bytes: data.to_vec(),
                }
            }
        };
        // All checks passed: replace in one step.
        ef.records.retain(|r| r.number != new.number);
        let at = ef.records.partition_point(|r| r.number < new.number);
        ef.records.insert(at, new);
        Ok(())
    }

    fn append_record(&mut self, sfi: Option<u8>, data: &[u8]) -> Result<(), Status> {
        let index = self.checked_ef(sfi, true, false)?;
        let ef = self
            .efs
            .get_mut(index)
            .ok_or(Status::CommandNotAllowedNoCurrentEf)?;
        match ef.structure {
            Structure::Cyclic => {
                if data.len() != ef.record_length {
                    return Err(Status::WrongLength);
                }
                // The new record is record 1; the oldest falls off the end.
                for r in &mut ef.records {
                    r.number = r.number.saturating_add(1);
                }
                ef.records.insert(
                    0,
                    Record {
                        number: 1,
                        tag: None,
                        bytes: data.to_vec(),
                    },
                );
                ef.records.truncate(ef.record_count);
                Ok(())
            }
            Structure::FixedRecord => {
                if data.len() != ef.record_length {
                    return Err(Status::WrongLength);
                }
                if ef.records.len() >= ef.record_count {
                    return Err(Status::NotEnoughMemory);
                }
                let number =
                    u8::try_from(ef.records.len() + 1).map_err(|_| Status::NotEnoughMemory)?;
                ef.records.push(Record {
                    number,
                    tag: None,
                    bytes: data.to_vec(),
                });
                Ok(())
            }
            _ => Err(Status::IncompatibleFileStructure),
        }
    }

    fn read_binary(
        &mut self,
        sfi: Option<u8>,
        offset: usize,
        ne: usize,
        reply: &mut Reply<'_>,
    ) -> Result<(), Status> {
        let index = self.checked_ef(sfi, false, true)?;
        let ef = self
            .efs
            .get(index)
            .ok_or(Status::CommandNotAllowedNoCurrentEf)?;
        let rest = ef
            .data
            .get(offset..)
            .filter(|r| !r.is_empty())
            .ok_or(Status::WrongP1P2)?;
        // Le 00 (256, or 65536 extended) means "as much as there is".
        let max = ne == 256 || ne == 65536;
        if ne > rest.len() && !max || ne == 0 {
            return Err(Status::WrongLe(u8::try_from(rest.len()).unwrap_or(0)));
        }
        reply.extend_from_slice(rest.get(..ne.min(rest.len())).unwrap_or_default())
    }

    fn update_binary(&mut self, sfi: Option<u8>, offset: usize, data: &[u8]) -> Result<(), Status> {
        let index = self.checked_ef(sfi, true, true)?;
        let ef = self
            .efs
            .get_mut(index)
            .ok_or(Status::CommandNotAllowedNoCurrentEf)?;
        let end = offset.checked_add(data.len()).ok_or(Status::WrongLength)?;
        if offset >= ef.data.len() {
            return Err(Status::WrongP1P2);
        }
        let dst = ef.data.get_mut(offset..end).ok_or(Status::WrongLength)?;
        dst.copy_from_slice(data);
        Ok(())
    }

    fn verify(&mut self, bcd: Option<&[u8]>) -> Result<(), Status> {
        let pin = self.pin.as_mut().ok_or(Status::ReferencedDataNotFound)?;
        if pin.tries_left == 0 {
            return Err(Status::AuthenticationMethodBlocked);
        }
        let Some(bcd) = bcd else {
            // Status query: tries left, or 9000 when already verified.
            return if self.session.pin_verified {
                Ok(())
            } else {
                Err(Status::VerificationFailed {
                    tries_left: pin.tries_left,
                })
            };
        };
        // The try is counted, and committed, before the comparison: cutting the power
        // during the check never gives a free try.
        let before = pin.tries_left;
        pin.tries_left = before.saturating_sub(1);
        self.session.pin_verified = false;
        self.persist()?;
        let pin = self.pin.as_mut().ok_or(Status::ReferencedDataNotFound)?;
        let offered = codec::decode(Encoding::Cn, bcd).ok();
        if offered.as_deref().is_some_and(|o| same(o, &pin.digits)) {
            pin.tries_left = pin.max_tries;
            self.persist()?;
            self.session.pin_verified = true;
            Ok(())
        } else if pin.tries_left == 0 {
            Err(Status::AuthenticationMethodBlocked)
        } else {
            Err(Status::VerificationFailed {
                tries_left: pin.tries_left,
            })
        }
    }

    fn change_pin(&mut self, old: &[u8], new: &[u8]) -> Result<(), Status> {
        let digits = self.pin.as_ref().map(|p| p.digits.len());
        let new_digits = codec::decode(Encoding::Cn, new).map_err(|_| Status::WrongData)?;
        if Some(new_digits.len()) != digits {
            return Err(Status::WrongData);
        }
        self.verify(Some(old))?;
        if let Some(pin) = self.pin.as_mut() {
            pin.digits = new_digits;
        }
        Ok(())
    }

    fn external_auth(
        &mut self,
        id: u8,
        data: &[u8; 16],
        challenge: Option<Vec<u8>>,
    ) -> Result<(), Status> {
        // The process factor is the card's last challenge, good for this command only.
        let factor: [u8; 8] = challenge
            .and_then(|c| <[u8; 8]>::try_from(c.as_slice()).ok())
            .ok_or(Status::ReferencedDataInvalid)?;
        let key = self
            .keys
            .iter_mut()
            .find(|k| k.id == id)
            .ok_or(Status::ReferencedDataNotFound)?;
        if key.tries_left == 0 {
            return Err(Status::AuthenticationMethodBlocked);
        }
        let (c, p) = data.split_at(8);
        let plain: [u8; 8] = p.try_into().map_err(|_| Status::WrongLength)?;
        let expected = auth::cryptogram(self.scheme.as_ref(), &key.key, &factor, &plain)
            .map_err(|_| Status::UnspecifiedError)?;
        let diff = expected
            .iter()
            .zip(c)
            .fold(0u8, |acc, (x, y)| acc | (x ^ y));
        if diff == 0 {
            key.tries_left = KEY_TRIES;
            if !self.session.authenticated.contains(&id) {
                self.session.authenticated.push(id);
            }
            Ok(())
        } else {
            key.tries_left = key.tries_left.saturating_sub(1);
            if key.tries_left == 0 {
                Err(Status::AuthenticationMethodBlocked)
            } else {
                Err(Status::VerificationFailed {
                    tries_left: key.tries_left.min(15),
                })
            }
        }
    }

    fn internal_auth(
        &mut self,
        id: u8,
        data: &[u8; 16],
        reply: &mut Reply<'_>,
    ) -> Result<(), Status> {
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or(Status::ReferencedDataNotFound)?;
        let (r, p) = data.split_at(8);
        let factor: [u8; 8] = r.try_into().map_err(|_| Status::WrongLength)?;
        let plain: [u8; 8] = p.try_into().map_err(|_| Status::WrongLength)?;
        let answer = auth::cryptogram(self.scheme.as_ref(), &key.key, &factor, &plain)
            .map_err(|_| Status::UnspecifiedError)?;
        reply.extend_from_slice(&answer)
    }

    /// The process key of the secure-transport key for the card's last challenge, after
    /// external authentication with the PIN-unblock key (`spec/sscard.md` §3.5).
    fn transport_key(&self, challenge: Option<Vec<u8>>) -> Result<AnyKey, Status> {
        let puk = self.puk.ok_or(Status::ReferencedDataNotFound)?;
        if !self.session.authenticated.contains(&puk) {
            return Err(Status::SecurityStatusNotSatisfied);
        }
        let factor: [u8; 8] = challenge
            .and_then(|c| <[u8; 8]>::try_from(c.as_slice()).ok())
            .ok_or(Status::ReferencedDataInvalid)?;
        let stk = self.stk.ok_or(Status::ReferencedDataNotFound)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == stk)
            .ok_or(Status::ReferencedDataNotFound)?;
        self.scheme
            .process_key(&key.key, &factor)
            .map_err(|_| Status::UnspecifiedError)
    }

    /// Checks the 4-byte MAC over `header ‖ Lc ‖ data` (padded `80 00…`, zero IV).
    fn check_mac(key: &AnyKey, header: [u8; 5], data: &[u8], mac: &[u8]) -> Result<(), Status> {
        let iv = [0u8; 16];
        let iv = iv.get(..key.block_len()).ok_or(Status::UnspecifiedError)?;
        let mut m =
            sscard_crypto::mac::PsamMac::new(key, iv).map_err(|_| Status::UnspecifiedError)?;
        m.update(&header);
        m.update(data);
        let full = m.finalize();
        sscard_crypto::mac::verify_truncated(&full, mac)
            .map_err(|_| Status::SecureMessagingDataIncorrect)
    }

    fn reload_pin(
        &mut self,
        enc_pin: &[u8],
        mac: &[u8],
        challenge: Option<Vec<u8>>,
    ) -> Result<(), Status> {
        let key = self.transport_key(challenge)?;
        if enc_pin.len() != key.block_len() {
            return Err(Status::WrongLength);
        }
        let lc = u8::try_from(enc_pin.len() + mac.len()).map_err(|_| Status::WrongLength)?;
        Self::check_mac(&key, [0x84, 0x24, 0x00, 0x01, lc], enc_pin, mac)?;
        let mut block = zeroize::Zeroizing::new(enc_pin.to_vec());
        key.ecb_decrypt(&mut block)
            .map_err(|_| Status::UnspecifiedError)?;
        let new =
            sscard_crypto::pin::Pin::from_card_block(&block).map_err(|_| Status::WrongData)?;
        let mut bcd = zeroize::Zeroizing::new([0u8; 6]);
        let n = new.write_bcd(&mut *bcd).map_err(|_| Status::WrongData)?;
        let digits = codec::decode(Encoding::Cn, bcd.get(..n).unwrap_or_default())
            .map_err(|_| Status::WrongData)?;
        let pin = self.pin.as_mut().ok_or(Status::ReferencedDataNotFound)?;
        if digits.len() != pin.digits.len() {
            return Err(Status::WrongData);
        }
        pin.digits = digits;
        pin.tries_left = pin.max_tries;
        Ok(())
    }

    fn unblock_pin(&mut self, mac: &[u8], challenge: Option<Vec<u8>>) -> Result<(), Status> {
        let key = self.transport_key(challenge)?;
        Self::check_mac(&key, [0x84, 0x24, 0x00, 0x00, 0x04], &[], mac)?;
        let pin = self.pin.as_mut().ok_or(Status::ReferencedDataNotFound)?;
        pin.tries_left = pin.max_tries;
        Ok(())
    }

    fn get_challenge(&mut self, len: usize, reply: &mut Reply<'_>) -> Result<(), Status> {
        let mut challenge = vec![0u8; len];
        self.entropy.fill(&mut challenge);
        reply.extend_from_slice(&challenge)?;
        self.session.challenge = Some(challenge);
        Ok(())
    }
}

/// Whether the image is a 3rd-generation card: its spec version (EF05 item 03) starts
/// with `3` (`spec/sscard.md` §1.2, §3.7).
fn generation_3(image: &Image) -> bool {
    image
        .files
        .get(SSSE_EF05)
        .and_then(|f| f.get("spec_version"))
        .and_then(Value::as_text)
        .is_some_and(|v| v.starts_with('3'))
}

/// The card's own keys: each master of the key set diversified for this card (its ATR
/// and identification code) over the levels of the key's usage byte.
fn card_keys(
    image: &Image,
    atr: &[u8],
    algorithm_id: Option<u8>,
    keys: Option<&KeySet>,
    scheme: &(dyn KeyScheme + Send),
) -> Result<Vec<CardKey>, BuildError> {
    let builtin;
    let set = match keys {
        Some(set) => set,
        None => {
            builtin = KeySet::from_json(sscard_fs::EMULATION_KEYS_JSON)
                .map_err(|e| BuildError::Keys(e.to_string()))?;
            &builtin
        }
    };
    let sm4 = match algorithm_id {
        None | Some(0x01) => false,
        Some(0x03) => true,
        Some(other) => return Err(BuildError::Algorithm(other)),
    };
    let Some(card_id) = image
        .files
        .get(SSSE_EF05)
        .and_then(|f| f.get("card_id"))
        .and_then(Value::as_text)
    else {
        // Without an identification code there is nothing to diversify with: the card
        // has no keys, and every key-protected operation is refused.
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(set.keys().len());
    for entry in set.keys() {
        let master = if sm4 {
            AnyKey::Sm4(Sm4Key::from_bytes(*entry.sm4))
        } else {
            AnyKey::Des3(Des3Key::from_double(*entry.des3))
        };
        let path = DivPath::from_card(atr, card_id, entry.levels())
            .map_err(|e| BuildError::Keys(e.to_string()))?;
        let key = scheme
            .diversify(&master, &path)
            .map_err(|e| BuildError::Keys(e.to_string()))?;
        out.push(CardKey {
            id: entry.card_key,
            key,
            tries_left: KEY_TRIES,
        });
    }
    Ok(out)
}

/// Constant-time comparison of PIN digit strings.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// `6F { 84 AID, A5 { 9F0C 03 86 01 <alg> } }`; the A5 template only when the image
/// names an algorithm identifier (`spec/sscard.md` §3.6).
fn fci(aid: &[u8], algorithm_id: Option<u8>) -> Option<Vec<u8>> {
    let mut inner = vec![0u8; 64];
    let mut n = ber::write(0x84, aid, &mut inner).ok()?;
    if let Some(alg) = algorithm_id {
        let mut prop = [0u8; 8];
        let p = ber::write(0x9F0C, &[0x86, 0x01, alg], &mut prop).ok()?;
        n += ber::write(0xA5, prop.get(..p)?, inner.get_mut(n..)?).ok()?;
    }
    let mut out = vec![0u8; n + 4];
    let m = ber::write(0x6F, inner.get(..n)?, &mut out).ok()?;
    out.truncate(m);
    Some(out)
}

impl Card for SsCard {
    fn atr(&self) -> &[u8] {
        &self.atr
    }

    fn reset(&mut self) {
        self.session = Session {
            df: self.mf,
            ..Session::default()
        };
        if let Lifecycle::PreIssuance(pre) = &mut self.lifecycle {
            pre.authenticated = false;
        }
    }

    fn process(
        &mut self,
        _interface: Interface,
        command: &CommandView<'_>,
        reply: &mut Reply<'_>,
    ) -> Result<(), Status> {
        let command = Command::try_from(command)?;
        // A challenge is good for the one command that follows it.
        let challenge = self.session.challenge.take();
        let writes = matches!(
            command,
            Command::UpdateRecord { .. }
                | Command::AppendRecord { .. }
                | Command::UpdateBinary { .. }
                | Command::ChangePin { .. }
                | Command::ReloadPin { .. }
                | Command::UnblockPin { .. }
                | Command::CreateDf { .. }
                | Command::CreateEf { .. }
                | Command::WriteKey { .. }
                | Command::EndPreIssuance
                | Command::Erase
        ) || matches!(command, Command::ExternalAuth { .. })
            && matches!(self.lifecycle, Lifecycle::PreIssuance(_));
        if writes && self.journal.is_some() {
            // Change in memory, commit, and answer only after the commit; a failed
            // commit puts everything back as it was.
            let before = self.state();
            let result = self.execute(command, challenge, reply);
            // A failed transport authentication changes its error counter: committed too.
            if self.state() != before {
                if let Err(status) = self.persist() {
                    let _ = self.apply_state(before);
                    self.session.pin_verified = false;
                    reply.clear();
                    return Err(status);
                }
            }
            return result;
        }
        self.execute(command, challenge, reply)
    }
}

impl SsCard {
    fn execute(
        &mut self,
        command: Command<'_>,
        challenge: Option<Vec<u8>>,
        reply: &mut Reply<'_>,
    ) -> Result<(), Status> {
        match command {
            Command::ExternalAuth { key, data } => {
                if let Some(result) = self.transport_auth(key, data, challenge.clone()) {
                    return result;
                }
                self.external_auth(key, data, challenge)
            }
            Command::CreateDf { data } => self.create_df(data),
            Command::CreateEf { data } => self.create_ef(data),
            Command::WriteKey { body, mac } => self.write_key(body, mac, challenge),
            Command::EndPreIssuance => self.end_preissuance(),
            Command::Erase => self.erase(),
            Command::IssuanceStatus => self.issuance_status(reply),
            Command::ReloadPin { enc_pin, mac } => self.reload_pin(enc_pin, mac, challenge),
            Command::UnblockPin { mac } => self.unblock_pin(mac, challenge),
            Command::InternalAuth { key, data } => self.internal_auth(key, data, reply),
            Command::SelectByName { aid, fci } => self.select_by_name(aid, fci, reply),
            Command::SelectByFid { fid, ef_only } => self.select_by_fid(fid, ef_only),
            Command::ReadRecord { target, sfi, ne } => self.read_record(target, sfi, ne, reply),
            Command::UpdateRecord { target, sfi, data } => self.update_record(target, sfi, data),
            Command::AppendRecord { sfi, data } => self.append_record(sfi, data),
            Command::ReadBinary { sfi, offset, ne } => self.read_binary(sfi, offset, ne, reply),
            Command::UpdateBinary { sfi, offset, data } => self.update_binary(sfi, offset, data),
            Command::Verify { pin } => self.verify(pin),
            Command::ChangePin { old, new } => self.change_pin(old, new),
            Command::GetChallenge { len } => self.get_challenge(len, reply),
        }
    }
}

/// The benchmark floor: answers every command with its own data field and `9000`.
#[derive(Clone, Debug)]
pub struct EchoCard {
    atr: Vec<u8>,
}

impl EchoCard {
    /// An echo card with a minimal T=1 ATR (`3B 80 80 01 01`).
    pub fn new() -> Self {
        Self {
            atr: vec![0x3B, 0x80, 0x80, 0x01, 0x01],
        }
    }
}

impl Default for EchoCard {
    fn default() -> Self {
        Self::new()
    }
}

impl Card for EchoCard {
    fn atr(&self) -> &[u8] {
        &self.atr
    }
    fn reset(&mut self) {}
    fn process(
        &mut self,
        _: Interface,
        command: &CommandView<'_>,
        reply: &mut Reply<'_>,
    ) -> Result<(), Status> {
        reply.extend_from_slice(command.data())
    }
}
