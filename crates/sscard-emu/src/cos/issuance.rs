//! Blank cards and the issuance commands of the **emulated COS** (ours, not a real COS's;
//! `apdu-specs/cos-emulated.md` is the normative description).
//!
//! Real cards are pre-personalised with each vendor's proprietary commands
//! (`spec/sscard.md` §6.2: the Datang T514 uses `80 E0` CREATE FILE with type bytes
//! `C4`–`C7`, a transport-code check and `80 E0 02 00` END PRE-ISSUE). The emulated COS
//! has a small command set in that spirit:
//!
//! | command | APDU |
//! |---|---|
//! | EXTERNAL AUTHENTICATE (transport key) | `00 82 00 FF 10 C ‖ P` after GET CHALLENGE |
//! | CREATE DF | `80 E0 00 00 Lc TLV` |
//! | CREATE EF | `80 E0 01 00 Lc TLV` |
//! | END PRE-ISSUANCE | `80 E0 02 00` |
//! | ERASE | `80 EE 00 00` |
//! | GET DATA (lifecycle) | `80 CA 00 C0 00` |
//! | WRITE KEY | `84 D4 00 00 Lc id ‖ type ‖ alg ‖ tries ‖ blob ‖ MAC` |
//!
//! A blank card is an [`SsCard`] in the pre-issuance state: an MF, the transport key and
//! nothing else. The creation commands fill the same DF, EF and key tables that
//! [`SsCard::new`] fills from a profile and an image, so a card issued with the profile's
//! files and keys answers exactly like one built from the profile. Every command is
//! committed atomically before it answers (with a journal), so a power cut leaves the
//! card before or after the command; a card cut off half-way stays in pre-issuance, its
//! lifecycle (GET DATA) reports what exists, and ERASE returns it to blank for
//! re-issuance.

use serde::{Deserialize, Serialize};
use sscard_apdu::applet::Reply;
use sscard_apdu::tlv::simple;
use sscard_apdu::Status;
use sscard_crypto::auth;
use sscard_crypto::kdf::{EmulationScheme, KeyScheme};
use sscard_crypto::keys::{Algorithm, AnyKey};
use sscard_fs::profile::{AccessRule, Structure};
use zeroize::Zeroizing;

use super::{fci, BuildError, CardKey, Df, Ef, Entropy, OsEntropy, Pin, Session, Slot, SsCard};

/// The TEST transport key of emulated blank cards (`apdu-specs/keys/transport-test.json`).
pub const TRANSPORT_TEST_KEY_JSON: &str =
    include_str!("../../../../apdu-specs/keys/transport-test.json");

/// The schema of transport-key files.
pub const TRANSPORT_KEY_SCHEMA: &str = "sscard-transport-key/1";

/// The ATR of emulated blank cards by default: the sample image's
/// (`apdu-specs/images/sample.json`), so that a blank card issued with the sample's data
/// diversifies its keys exactly like the sample card.
pub const BLANK_ATR: [u8; 17] = [
    0x3B, 0x6D, 0x00, 0x00, 0x00, 0x81, 0x53, 0x53, 0x43, 0x33, 0x00, 0x00, 0x12, 0x34, 0x56, 0x78,
    0x90,
];

/// Bytes of file and key memory of a blank card by default (ours).
pub const DEFAULT_CAPACITY: usize = 32 * 1024;

/// What a DF costs in the memory budget (ours).
const DF_COST: usize = 32;
/// What a key or the PIN costs in the memory budget (ours).
const KEY_COST: usize = 32;

/// Key types of WRITE KEY (ours; `apdu-specs/cos-emulated.md`).
pub mod key_type {
    /// Master (control) key.
    pub const MASTER: u8 = 0x01;
    /// Internal authentication (IRK).
    pub const INTERNAL_AUTH: u8 = 0x02;
    /// Read key (external authentication before reading).
    pub const READ: u8 = 0x03;
    /// Update key (external authentication before writing).
    pub const UPDATE: u8 = 0x04;
    /// PIN unblock / reload key (PUK).
    pub const PIN_UNBLOCK: u8 = 0x05;
    /// Secure-transport key (STK).
    pub const SECURE_TRANSPORT: u8 = 0x06;
    /// Other keys (purse keys and the like).
    pub const OTHER: u8 = 0x07;
    /// The PIN (value: ASCII digits; algorithm byte `00`).
    pub const PIN: u8 = 0x10;
}

/// The lifecycle byte of GET DATA `80 CA 00 C0` (ours).
pub mod lifecycle {
    /// Pre-issuance, nothing created yet.
    pub const BLANK: u8 = 0x00;
    /// Pre-issuance, some files or keys created (pre-personalising, or cut off half-way).
    pub const PRE_PERSONALISING: u8 = 0x01;
    /// END PRE-ISSUANCE done (or built from an image): an issued card.
    pub const ISSUED: u8 = 0x02;
}

/// A transport key (the key a card manufacturer locks blank cards with).
#[derive(Clone)]
pub struct TransportKey {
    /// Its key id (P2 of EXTERNAL AUTHENTICATE).
    pub id: u8,
    /// Its error counter.
    pub tries: u8,
    des3: Zeroizing<[u8; 16]>,
    sm4: Zeroizing<[u8; 16]>,
}

impl core::fmt::Debug for TransportKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TransportKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct RawTransport {
    schema: String,
    key_id: String,
    tries: String,
    des3: Zeroizing<String>,
    sm4: Zeroizing<String>,
}

impl TransportKey {
    /// Parses a transport-key file.
    pub fn from_json(text: &str) -> Result<Self, BuildError> {
        let bad = |what: &str| BuildError::Keys(format!("transport key: {what}"));
        let raw: RawTransport = serde_json::from_str(text).map_err(|_| bad("not JSON"))?;
        if raw.schema != TRANSPORT_KEY_SCHEMA {
            return Err(bad("unknown schema"));
        }
        let byte = |t: &str| {
            sscard_apdu::hex::decode_array::<1>(t)
                .map(|[b]| b)
                .map_err(|_| bad("bad byte"))
        };
        let key = |t: &str| {
            sscard_apdu::hex::decode_array::<16>(t)
                .map(Zeroizing::new)
                .map_err(|_| bad("bad key"))
        };
        let tries = byte(&raw.tries)?;
        if !(1..=15).contains(&tries) {
            return Err(bad("tries must be 1 to 15"));
        }
        Ok(Self {
            id: byte(&raw.key_id)?,
            tries,
            des3: key(&raw.des3)?,
            sm4: key(&raw.sm4)?,
        })
    }

    /// The built-in TEST transport key.
    pub fn test_key() -> Result<Self, BuildError> {
        Self::from_json(TRANSPORT_TEST_KEY_JSON)
    }

    /// The key for a card of this algorithm.
    pub fn key(&self, algorithm: Algorithm) -> AnyKey {
        match algorithm {
            Algorithm::Sm4 => AnyKey::Sm4(sscard_crypto::keys::Sm4Key::from_bytes(*self.sm4)),
            _ => AnyKey::Des3(sscard_crypto::keys::Des3Key::from_double(*self.des3)),
        }
    }
}

/// How to build a blank card.
pub struct BlankOptions {
    /// The card's ATR (its last 8 bytes diversify the keys the terminal loads).
    pub atr: Vec<u8>,
    /// The card's symmetric algorithm (transport key and card keys).
    pub algorithm: Algorithm,
    /// The transport key.
    pub transport: TransportKey,
    /// Bytes of memory for files and keys (`6A84` beyond).
    pub capacity: usize,
    /// The key scheme for process keys.
    pub scheme: Box<dyn KeyScheme + Send>,
    /// Randomness for challenges.
    pub entropy: Box<dyn Entropy>,
}

/// The longest ATR (ISO/IEC 7816-3: TS and at most 32 further bytes).
const MAX_ATR: usize = 33;

/// Bytes at the end of [`BLANK_ATR`] (its last historical bytes) that
/// [`BlankOptions::with_serial`] replaces with the chip's serial number (ours).
pub const SERIAL_LEN: usize = 5;

impl BlankOptions {
    /// [`Self::with_serial`] with a serial from the operating system's randomness (what
    /// the emulator's card factory does).
    #[must_use]
    pub fn with_random_serial(self) -> Self {
        let mut serial = [0u8; SERIAL_LEN];
        OsEntropy.fill(&mut serial);
        self.with_serial(serial)
    }

    /// The same options for a chip with serial number `serial`: the last
    /// [`SERIAL_LEN`] bytes of the ATR (its historical bytes; the ATR has no TCK to
    /// keep right) become `serial`, as on real cards whose ATR ends with the chip's
    /// serial. The ATR's last 8 bytes are the card-level diversification factor
    /// (`sscard.md` §3.3), so cards with different serials get different keys — and,
    /// when the issuer takes the card identification code's tail from the chip, different
    /// codes.
    #[must_use]
    pub fn with_serial(mut self, serial: [u8; SERIAL_LEN]) -> Self {
        if let Some(start) = self.atr.len().checked_sub(SERIAL_LEN) {
            if let Some(tail) = self.atr.get_mut(start..) {
                tail.copy_from_slice(&serial);
            }
        }
        self
    }

    /// A 3DES blank card with the sample ATR, the TEST transport key, the emulation
    /// scheme, [`DEFAULT_CAPACITY`] and OS randomness.
    pub fn new() -> Result<Self, BuildError> {
        Ok(Self {
            atr: BLANK_ATR.to_vec(),
            algorithm: Algorithm::Des3,
            transport: TransportKey::test_key()?,
            capacity: DEFAULT_CAPACITY,
            scheme: Box::new(EmulationScheme),
            entropy: Box::new(OsEntropy),
        })
    }
}

/// Where the card is in its life.
pub(super) enum Lifecycle {
    /// Before END PRE-ISSUANCE: the creation commands work.
    PreIssuance(PreIssuance),
    /// After END PRE-ISSUANCE (or built from an image).
    Issued,
}

/// The transport key and whether it was authenticated in this session.
pub(super) struct PreIssuance {
    transport: CardKey,
    max_tries: u8,
    pub(super) authenticated: bool,
}

impl PreIssuance {
    /// Checks `C ‖ P` against the transport key's process key for the card's last
    /// challenge (`sscard_crypto::auth::cryptogram`), counting a wrong try.
    fn authenticate(
        &mut self,
        scheme: &(dyn KeyScheme + Send),
        data: &[u8; 16],
        challenge: Option<Vec<u8>>,
    ) -> Result<(), Status> {
        let factor: [u8; 8] = challenge
            .and_then(|c| <[u8; 8]>::try_from(c.as_slice()).ok())
            .ok_or(Status::ReferencedDataInvalid)?;
        if self.transport.tries_left == 0 {
            return Err(Status::AuthenticationMethodBlocked);
        }
        let (c, p) = data.split_at(8);
        let plain: [u8; 8] = p.try_into().map_err(|_| Status::WrongLength)?;
        let expected = auth::cryptogram(scheme, &self.transport.key, &factor, &plain)
            .map_err(|_| Status::UnspecifiedError)?;
        if sscard_crypto::mac::verify(&expected, c).is_ok() {
            self.transport.tries_left = self.max_tries;
            self.authenticated = true;
            Ok(())
        } else {
            self.transport.tries_left = self.transport.tries_left.saturating_sub(1);
            self.authenticated = false;
            match self.transport.tries_left {
                0 => Err(Status::AuthenticationMethodBlocked),
                n => Err(Status::VerificationFailed { tries_left: n }),
            }
        }
    }
}

/// The card's layout (files, keys, lifecycle) for cards built by commands, persisted
/// with the card's contents (`crate::persist::CardState::layout`). Key values are kept
/// in the clear: this is an emulator's state file, for TEST keys.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// END PRE-ISSUANCE done.
    pub issued: bool,
    /// Transport key error counter.
    pub transport_tries: u8,
    /// Every DF in creation order (the MF first).
    pub dfs: Vec<DfLayout>,
    /// Every EF in creation order.
    pub efs: Vec<EfLayout>,
    /// Loaded keys (their error counters are in `key_tries`).
    pub keys: Vec<KeyLayout>,
    /// PIN try limit, when a PIN was loaded (digits and tries left are in `pin`,
    /// `pin_tries`).
    pub pin_max_tries: Option<u8>,
    /// Key id of the PIN-unblock key.
    pub puk: Option<u8>,
    /// Key id of the secure-transport key.
    pub stk: Option<u8>,
    /// The chip's ATR, hex: a blank card's ATR carries its serial number
    /// ([`BlankOptions::with_serial`]), so a card served again from its state keeps it
    /// (and the keys diversified with it). Absent in states written before it was
    /// kept: the card then keeps the ATR it was built with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atr: Option<String>,
}

/// A DF of the layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DfLayout {
    /// AID, hex (empty: none).
    pub aid: String,
    /// FID.
    pub fid: Option<u16>,
    /// Index of the parent DF.
    pub parent: Option<usize>,
    /// FCI, hex.
    pub fci: String,
}

/// An EF of the layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EfLayout {
    /// Index of its DF.
    pub df: usize,
    /// FID.
    pub fid: Option<u16>,
    /// SFI.
    pub sfi: Option<u8>,
    /// Structure.
    pub structure: Structure,
    /// Read rule (wire form, `apdu-specs/cos-emulated.md`).
    pub read: [u8; 2],
    /// Update rule.
    pub update: [u8; 2],
    /// Per-record read rules: tag and rule.
    pub record_rules: Vec<(u8, [u8; 2])>,
    /// TLV slots: record number, tag, maximum value length.
    pub slots: Vec<(u8, u8, usize)>,
    /// Record length (fixed and cyclic).
    pub record_length: usize,
    /// Record count (fixed and cyclic).
    pub record_count: usize,
    /// Size (transparent).
    pub size: usize,
}

/// A loaded key of the layout.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyLayout {
    /// Key id.
    pub id: u8,
    /// Algorithm identifier (`01` 3DES, `03` SM4).
    pub algorithm: u8,
    /// Key value, hex (TEST keys of an emulator).
    pub value: String,
}

impl core::fmt::Debug for KeyLayout {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyLayout")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Decodes an access rule from its 2-byte wire form: flags (`00` free, `FF` never,
/// bit 1 PIN, bit 2 key) and key id.
pub fn rule_from_wire(flags: u8, key: u8) -> Option<AccessRule> {
    match flags {
        0x00 => Some(AccessRule::Free),
        0xFF => Some(AccessRule::Never),
        0x01 => Some(AccessRule::Require {
            pin: true,
            key: None,
        }),
        0x02 => Some(AccessRule::Require {
            pin: false,
            key: Some(key),
        }),
        0x03 => Some(AccessRule::Require {
            pin: true,
            key: Some(key),
        }),
        _ => None,
    }
}

/// The 2-byte wire form of an access rule (see [`rule_from_wire`]).
pub fn rule_to_wire(rule: AccessRule) -> [u8; 2] {
    match rule {
        AccessRule::Free => [0x00, 0x00],
        AccessRule::Require { pin, key } => {
            let flags = u8::from(pin) | if key.is_some() { 0x02 } else { 0x00 };
            [flags, key.unwrap_or(0)]
        }
        _ => [0xFF, 0x00],
    }
}

/// The TLV fields of a CREATE command, each tag at most once.
fn fields(data: &[u8]) -> Result<Vec<(u8, &[u8])>, Status> {
    let mut out: Vec<(u8, &[u8])> = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (tag, value, next) = simple::parse(rest).map_err(|_| Status::WrongData)?;
        if out.iter().any(|(t, _)| *t == tag) {
            return Err(Status::WrongData);
        }
        out.push((tag, value));
        rest = next;
    }
    Ok(out)
}

fn field<'a>(fields: &[(u8, &'a [u8])], tag: u8) -> Option<&'a [u8]> {
    fields.iter().find(|(t, _)| *t == tag).map(|(_, v)| *v)
}

fn u16_of(value: &[u8]) -> Result<u16, Status> {
    let &[hi, lo] = value else {
        return Err(Status::WrongData);
    };
    Ok(u16::from_be_bytes([hi, lo]))
}

fn algorithm_of(id: u8) -> Result<Algorithm, Status> {
    Algorithm::from_card_id(id).map_err(|_| Status::WrongData)
}

impl SsCard {
    /// A blank card: pre-issuance state, an MF and the transport key, nothing else.
    pub fn blank(options: BlankOptions) -> Result<Self, BuildError> {
        let BlankOptions {
            atr,
            algorithm,
            transport,
            capacity,
            scheme,
            entropy,
        } = options;
        if atr.len() < 8 {
            return Err(BuildError::Keys(
                "the ATR must have at least 8 bytes".into(),
            ));
        }
        let key = transport.key(algorithm);
        Ok(Self {
            atr,
            dfs: vec![Df {
                aid: None,
                fid: Some(0x3F00),
                parent: None,
                fci: Vec::new(),
            }],
            efs: Vec::new(),
            mf: Some(0),
            pin: None,
            keys: Vec::new(),
            puk: None,
            stk: None,
            scheme,
            session: Session {
                df: Some(0),
                ..Session::default()
            },
            entropy,
            journal: None,
            lifecycle: Lifecycle::PreIssuance(PreIssuance {
                transport: CardKey {
                    id: transport.id,
                    key,
                    tries_left: transport.tries,
                },
                max_tries: transport.tries,
                authenticated: false,
            }),
            layout_persisted: true,
            capacity,
        })
    }

    /// The lifecycle byte ([`lifecycle`]).
    pub fn lifecycle(&self) -> u8 {
        match &self.lifecycle {
            Lifecycle::Issued => lifecycle::ISSUED,
            Lifecycle::PreIssuance(_) => {
                let empty = self.dfs.len() <= 1
                    && self.efs.is_empty()
                    && self.keys.is_empty()
                    && self.pin.is_none();
                if !empty {
                    lifecycle::PRE_PERSONALISING
                } else {
                    lifecycle::BLANK
                }
            }
        }
    }

    /// Memory in use by files and keys.
    fn used(&self) -> usize {
        let files: usize = self
            .efs
            .iter()
            .map(|ef| match ef.structure {
                Structure::TlvRecord => ef.slots.iter().map(|s| s.max_value + 2).sum(),
                Structure::Transparent => ef.data.len(),
                _ => ef.record_length.saturating_mul(ef.record_count),
            })
            .sum();
        let keys = (self.keys.len() + usize::from(self.pin.is_some())) * KEY_COST;
        files + keys + self.dfs.len() * DF_COST
    }

    fn check_space(&self, more: usize) -> Result<(), Status> {
        match self.used().checked_add(more) {
            Some(total) if total <= self.capacity => Ok(()),
            _ => Err(Status::NotEnoughMemory),
        }
    }

    /// The pre-issuance state, once the transport key was authenticated: `6985` on an
    /// issued card, `6982` before authentication.
    fn issuing(&self) -> Result<(), Status> {
        match &self.lifecycle {
            Lifecycle::Issued => Err(Status::ConditionsOfUseNotSatisfied),
            Lifecycle::PreIssuance(p) if p.authenticated => Ok(()),
            Lifecycle::PreIssuance(_) => Err(Status::SecurityStatusNotSatisfied),
        }
    }

    /// EXTERNAL AUTHENTICATE with the transport key, if `id` names it before issuance.
    /// `None` when the command is for a card key.
    pub(super) fn transport_auth(
        &mut self,
        id: u8,
        data: &[u8; 16],
        challenge: Option<Vec<u8>>,
    ) -> Option<Result<(), Status>> {
        let Lifecycle::PreIssuance(pre) = &mut self.lifecycle else {
            return None;
        };
        if pre.transport.id != id {
            return None;
        }
        Some(pre.authenticate(self.scheme.as_ref(), data, challenge))
    }

    /// CREATE DF under the current DF; the new DF becomes current.
    pub(super) fn create_df(&mut self, data: &[u8]) -> Result<(), Status> {
        self.issuing()?;
        let fields = fields(data)?;
        let mut fid = None;
        let mut aid = None;
        let mut algorithm = None;
        for (tag, value) in &fields {
            match tag {
                0x83 => fid = Some(u16_of(value)?),
                0x84 if (1..=16).contains(&value.len()) => aid = Some(value.to_vec()),
                0x85 => match value {
                    [id] => {
                        algorithm_of(*id)?;
                        algorithm = Some(*id);
                    }
                    _ => return Err(Status::WrongData),
                },
                _ => return Err(Status::WrongData),
            }
        }
        if fid.is_none() && aid.is_none() || matches!(fid, Some(0x3F00 | 0xFFFF | 0x0000)) {
            return Err(Status::WrongData);
        }
        let current = self.session.df.ok_or(Status::FileNotFound)?;
        let exists = aid
            .as_ref()
            .is_some_and(|a| self.dfs.iter().any(|d| d.aid.as_ref() == Some(a)))
            || fid.is_some_and(|f| self.fid_taken(current, f));
        if exists {
            return Err(FILE_EXISTS);
        }
        self.check_space(DF_COST)?;
        let fci = match &aid {
            Some(aid) => fci(aid, algorithm).ok_or(Status::WrongData)?,
            None => Vec::new(),
        };
        self.dfs.push(Df {
            aid,
            fid,
            parent: Some(current),
            fci,
        });
        self.session.df = Some(self.dfs.len() - 1);
        self.session.ef = None;
        Ok(())
    }

    /// Whether a DF or EF under `df` already has this FID.
    fn fid_taken(&self, df: usize, fid: u16) -> bool {
        self.efs.iter().any(|e| e.df == df && e.fid == Some(fid))
            || self
                .dfs
                .iter()
                .any(|d| d.parent == Some(df) && d.fid == Some(fid))
    }

    /// CREATE EF under the current DF.
    pub(super) fn create_ef(&mut self, data: &[u8]) -> Result<(), Status> {
        self.issuing()?;
        let fields = fields(data)?;
        let known = [0x80, 0x81, 0x82, 0x83, 0x86, 0x88, 0xC1, 0xC2];
        if fields.iter().any(|(t, _)| !known.contains(t)) {
            return Err(Status::WrongData);
        }
        let structure = match field(&fields, 0x82) {
            Some([0xC4]) => Structure::Transparent,
            Some([0xC5]) => Structure::FixedRecord,
            Some([0xC6]) => Structure::TlvRecord,
            Some([0xC7]) => Structure::Cyclic,
            _ => return Err(Status::WrongData),
        };
        let fid = u16_of(field(&fields, 0x83).ok_or(Status::WrongData)?)?;
        if matches!(fid, 0x3F00 | 0xFFFF | 0x0000) {
            return Err(Status::WrongData);
        }
        let sfi = match field(&fields, 0x88) {
            None => None,
            Some([s @ 1..=30]) => Some(*s),
            Some(_) => return Err(Status::WrongData),
        };
        let (read, update) = match field(&fields, 0x86) {
            Some(&[rf, rk, uf, uk]) => (
                rule_from_wire(rf, rk).ok_or(Status::WrongData)?,
                rule_from_wire(uf, uk).ok_or(Status::WrongData)?,
            ),
            _ => return Err(Status::WrongData),
        };
        let size = field(&fields, 0x80);
        let records = field(&fields, 0x81);
        let slots_field = field(&fields, 0xC1);
        let rules_field = field(&fields, 0xC2);
        let (mut length, mut count, mut bytes) = (0usize, 0usize, 0usize);
        let mut slots = Vec::new();
        let mut record_rules = Vec::new();
        match structure {
            Structure::Transparent => {
                if records.is_some() || slots_field.is_some() || rules_field.is_some() {
                    return Err(Status::WrongData);
                }
                bytes = usize::from(u16_of(size.ok_or(Status::WrongData)?)?);
                if bytes == 0 {
                    return Err(Status::WrongData);
                }
            }
            Structure::TlvRecord => {
                if size.is_some() || records.is_some() {
                    return Err(Status::WrongData);
                }
                for chunk in slots_field.unwrap_or_default().chunks(3) {
                    let &[number, tag, max] = chunk else {
                        return Err(Status::WrongData);
                    };
                    let ok = number != 0
                        && tag != 0
                        && tag != 0xFF
                        && max != 0
                        && max != 0xFF
                        && !slots.iter().any(|s: &Slot| s.number == number);
                    if !ok {
                        return Err(Status::WrongData);
                    }
                    slots.push(Slot {
                        number,
                        tag,
                        max_value: usize::from(max),
                    });
                    bytes += usize::from(max) + 2;
                }
                for chunk in rules_field.unwrap_or_default().chunks(3) {
                    let &[tag, flags, key] = chunk else {
                        return Err(Status::WrongData);
                    };
                    let rule = rule_from_wire(flags, key).ok_or(Status::WrongData)?;
                    record_rules.push((tag, rule));
                }
            }
            _ => {
                if size.is_some() || slots_field.is_some() || rules_field.is_some() {
                    return Err(Status::WrongData);
                }
                let Some(&[l, n]) = records else {
                    return Err(Status::WrongData);
                };
                if l == 0 || n == 0 {
                    return Err(Status::WrongData);
                }
                (length, count) = (usize::from(l), usize::from(n));
                bytes = length * count;
            }
        }
        let current = self.session.df.ok_or(Status::FileNotFound)?;
        let sfi_taken =
            sfi.is_some_and(|s| self.efs.iter().any(|e| e.df == current && e.sfi == Some(s)));
        if self.fid_taken(current, fid) || sfi_taken {
            return Err(FILE_EXISTS);
        }
        self.check_space(bytes)?;
        self.efs.push(Ef {
            df: current,
            fid: Some(fid),
            sfi,
            structure,
            read,
            record_rules,
            update,
            records: Vec::new(),
            slots,
            record_length: length,
            record_count: count,
            data: if structure == Structure::Transparent {
                vec![0; bytes]
            } else {
                Vec::new()
            },
        });
        Ok(())
    }

    /// WRITE KEY: a card key or the PIN, enciphered and MAC'd under the transport key's
    /// process key for the card's last challenge.
    pub(super) fn write_key(
        &mut self,
        body: &[u8],
        mac: &[u8],
        challenge: Option<Vec<u8>>,
    ) -> Result<(), Status> {
        self.issuing()?;
        let factor: [u8; 8] = challenge
            .and_then(|c| <[u8; 8]>::try_from(c.as_slice()).ok())
            .ok_or(Status::ReferencedDataInvalid)?;
        let Lifecycle::PreIssuance(pre) = &self.lifecycle else {
            return Err(Status::ConditionsOfUseNotSatisfied);
        };
        let transport_id = pre.transport.id;
        let process = self
            .scheme
            .process_key(&pre.transport.key, &factor)
            .map_err(|_| Status::UnspecifiedError)?;
        let lc = u8::try_from(body.len() + mac.len()).map_err(|_| Status::WrongLength)?;
        Self::check_mac(&process, [0x84, 0xD4, 0x00, 0x00, lc], body, mac)?;
        let Some((&[id, kind, alg, tries], blob)) = body.split_first_chunk::<4>() else {
            return Err(Status::WrongLength);
        };
        if blob.is_empty() || blob.len() % process.block_len() != 0 {
            return Err(Status::WrongLength);
        }
        let mut plain = Zeroizing::new(blob.to_vec());
        process
            .ecb_decrypt(&mut plain)
            .map_err(|_| Status::UnspecifiedError)?;
        // L ‖ value ‖ 80 00…
        let (&len, rest) = plain.split_first().ok_or(Status::WrongData)?;
        let value = rest.get(..usize::from(len)).ok_or(Status::WrongData)?;
        let padding = rest.get(usize::from(len)..).unwrap_or_default();
        let padded =
            matches!(padding.split_first(), Some((0x80, zeros)) if zeros.iter().all(|b| *b == 0));
        if !padded || padding.len() > process.block_len() {
            return Err(Status::WrongData);
        }
        if !(1..=15).contains(&tries) {
            return Err(Status::WrongData);
        }
        if kind == key_type::PIN {
            let ok =
                alg == 0 && (2..=12).contains(&value.len()) && value.iter().all(u8::is_ascii_digit);
            if !ok {
                return Err(Status::WrongData);
            }
            if self.pin.is_some() {
                return Err(FILE_EXISTS);
            }
            self.check_space(KEY_COST)?;
            self.pin = Some(Pin {
                digits: value.iter().map(|b| char::from(*b)).collect(),
                tries_left: tries,
                max_tries: tries,
            });
            return Ok(());
        }
        if !(key_type::MASTER..=key_type::OTHER).contains(&kind) {
            return Err(Status::WrongData);
        }
        let algorithm = algorithm_of(alg)?;
        if value.len() != 16 {
            return Err(Status::WrongData);
        }
        let key = AnyKey::new(algorithm, value).map_err(|_| Status::WrongData)?;
        if id == transport_id || self.keys.iter().any(|k| k.id == id) {
            return Err(FILE_EXISTS);
        }
        self.check_space(KEY_COST)?;
        match kind {
            key_type::PIN_UNBLOCK => self.puk = Some(id),
            key_type::SECURE_TRANSPORT => self.stk = Some(id),
            _ => {}
        }
        self.keys.push(CardKey {
            id,
            key,
            tries_left: tries,
        });
        Ok(())
    }

    /// END PRE-ISSUANCE: the transport key and the creation commands are gone for good.
    pub(super) fn end_preissuance(&mut self) -> Result<(), Status> {
        self.issuing()?;
        self.lifecycle = Lifecycle::Issued;
        Ok(())
    }

    /// ERASE: back to blank (MF and transport key), before END PRE-ISSUANCE only.
    pub(super) fn erase(&mut self) -> Result<(), Status> {
        self.issuing()?;
        self.dfs.truncate(1);
        self.efs.clear();
        self.keys.clear();
        self.pin = None;
        self.puk = None;
        self.stk = None;
        self.session.df = self.mf;
        self.session.ef = None;
        self.session.authenticated.clear();
        self.session.pin_verified = false;
        Ok(())
    }

    /// GET DATA lifecycle: `C0 05 state ‖ DFs ‖ EFs ‖ keys ‖ PIN` (counts without the MF,
    /// saturating at `FF`).
    pub(super) fn issuance_status(&self, reply: &mut Reply<'_>) -> Result<(), Status> {
        let count = |n: usize| u8::try_from(n).unwrap_or(0xFF);
        reply.extend_from_slice(&[
            0xC0,
            0x05,
            self.lifecycle(),
            count(self.dfs.len().saturating_sub(1)),
            count(self.efs.len()),
            count(self.keys.len()),
            u8::from(self.pin.is_some()),
        ])
    }

    /// The layout of a card built by commands.
    pub(super) fn layout(&self) -> Layout {
        let (issued, transport_tries) = match &self.lifecycle {
            Lifecycle::Issued => (true, 0),
            Lifecycle::PreIssuance(p) => (false, p.transport.tries_left),
        };
        let hex = sscard_apdu::hex::to_string;
        Layout {
            issued,
            transport_tries,
            dfs: self
                .dfs
                .iter()
                .map(|d| DfLayout {
                    aid: d.aid.as_deref().map(hex).unwrap_or_default(),
                    fid: d.fid,
                    parent: d.parent,
                    fci: hex(&d.fci),
                })
                .collect(),
            efs: self
                .efs
                .iter()
                .map(|e| EfLayout {
                    df: e.df,
                    fid: e.fid,
                    sfi: e.sfi,
                    structure: e.structure,
                    read: rule_to_wire(e.read),
                    update: rule_to_wire(e.update),
                    record_rules: e
                        .record_rules
                        .iter()
                        .map(|(t, r)| (*t, rule_to_wire(*r)))
                        .collect(),
                    slots: e
                        .slots
                        .iter()
                        .map(|s| (s.number, s.tag, s.max_value))
                        .collect(),
                    record_length: e.record_length,
                    record_count: e.record_count,
                    size: e.data.len(),
                })
                .collect(),
            keys: self
                .keys
                .iter()
                .map(|k| KeyLayout {
                    id: k.id,
                    algorithm: k.key.algorithm().card_id(),
                    value: hex(k.key.as_bytes()),
                })
                .collect(),
            pin_max_tries: self.pin.as_ref().map(|p| p.max_tries),
            puk: self.puk,
            stk: self.stk,
            atr: Some(hex(&self.atr)),
        }
    }

    /// Rebuilds files and keys from a saved layout (contents come after, from the
    /// state's `efs`). Checks everything before changing anything.
    pub(super) fn apply_layout(
        &mut self,
        layout: &Layout,
        pin: Option<&str>,
        pin_tries: Option<u8>,
    ) -> Result<(), BuildError> {
        let bad = || BuildError::State;
        let hex = |t: &str| sscard_apdu::hex::to_vec(t).map_err(|_| bad());
        let mut dfs = Vec::with_capacity(layout.dfs.len());
        for (i, d) in layout.dfs.iter().enumerate() {
            if d.parent.is_some_and(|p| p >= i) {
                return Err(bad());
            }
            let aid = hex(&d.aid)?;
            dfs.push(Df {
                aid: (!aid.is_empty()).then_some(aid),
                fid: d.fid,
                parent: d.parent,
                fci: hex(&d.fci)?,
            });
        }
        if dfs.first().map(|d| d.fid) != Some(Some(0x3F00)) {
            return Err(bad());
        }
        let rule = |[f, k]: [u8; 2]| rule_from_wire(f, k).ok_or_else(bad);
        let mut efs = Vec::with_capacity(layout.efs.len());
        for e in &layout.efs {
            if e.df >= dfs.len() {
                return Err(bad());
            }
            let mut record_rules = Vec::new();
            for (t, r) in &e.record_rules {
                record_rules.push((*t, rule(*r)?));
            }
            efs.push(Ef {
                df: e.df,
                fid: e.fid,
                sfi: e.sfi,
                structure: e.structure,
                read: rule(e.read)?,
                record_rules,
                update: rule(e.update)?,
                records: Vec::new(),
                slots: e
                    .slots
                    .iter()
                    .map(|&(number, tag, max_value)| Slot {
                        number,
                        tag,
                        max_value,
                    })
                    .collect(),
                record_length: e.record_length,
                record_count: e.record_count,
                data: vec![0; e.size.min(u16::MAX.into())],
            });
        }
        let mut keys = Vec::with_capacity(layout.keys.len());
        for k in &layout.keys {
            let algorithm = algorithm_of(k.algorithm).map_err(|_| bad())?;
            let value = Zeroizing::new(hex(&k.value)?);
            keys.push(CardKey {
                id: k.id,
                key: AnyKey::new(algorithm, &value).map_err(|_| bad())?,
                tries_left: 0,
            });
        }
        let pin = match (layout.pin_max_tries, pin) {
            (Some(max_tries), Some(digits)) => Some(Pin {
                digits: digits.into(),
                tries_left: pin_tries.unwrap_or(max_tries).min(max_tries),
                max_tries,
            }),
            (None, None) => None,
            _ => return Err(bad()),
        };
        let atr = match &layout.atr {
            Some(atr) => {
                let atr = hex(atr)?;
                if atr.len() < 8 || atr.len() > MAX_ATR {
                    return Err(bad());
                }
                Some(atr)
            }
            None => None,
        };
        match (&mut self.lifecycle, layout.issued) {
            (Lifecycle::PreIssuance(p), false) => {
                p.transport.tries_left = layout.transport_tries.min(p.max_tries);
            }
            (_, true) => self.lifecycle = Lifecycle::Issued,
            (Lifecycle::Issued, false) => return Err(bad()),
        }
        self.dfs = dfs;
        self.efs = efs;
        self.keys = keys;
        self.pin = pin;
        self.puk = layout.puk;
        self.stk = layout.stk;
        if let Some(atr) = atr {
            self.atr = atr;
        }
        self.mf = Some(0);
        if self.session.df.is_some_and(|d| d >= self.dfs.len()) {
            self.session = Session {
                df: self.mf,
                ..Session::default()
            };
        }
        if self.session.ef.is_some_and(|e| e >= self.efs.len()) {
            self.session.ef = None;
        }
        Ok(())
    }
}

/// `6A89`: the file (or key, or PIN) already exists.
pub const FILE_EXISTS: Status = Status::Other(0x6A89);
