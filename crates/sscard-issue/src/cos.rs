//! The COS backend: creating a card's file tree and loading its keys before issuance
//! (pre-personalisation).
//!
//! Real cards do this with each vendor's proprietary commands (`spec/sscard.md` §6.2:
//! no national, COS-neutral command set exists), so the command layer is a trait,
//! [`CosBackend`], and [`pre_personalise`] walks the card profile through it:
//!
//! 1. ask the card's lifecycle (a blank card only; a half-issued one is reported, see
//!    below);
//! 2. authenticate with the transport key;
//! 3. for each profile node in order: create the DF (then load the keys it names, each
//!    card key id once, and the PIN with the first DF that has a PIN policy), or the EF
//!    with its structure, sizes, TLV slots and access rules;
//! 4. END PRE-ISSUANCE.
//!
//! Card keys are the masters of a key set diversified for this card (its ATR and
//! identification code); they reach the card only enciphered under the transport key's
//! process key, through a [`KeyWrap`]: [`SoftKeyWrap`] holds the masters in memory
//! (development issuance, tests); a PSAM or HSM that performs the same wrapping plugs in
//! behind the same trait without the keys ever being in the host's memory.
//!
//! [`EmulatedCos`] speaks the emulated COS (`apdu-specs/cos-emulated.md`, ours); vendor
//! backends (T514 `80 E0` …) implement [`CosBackend`] beside it.
//!
//! **Half-issued cards.** Every issuance command is atomic on the emulated card; a card
//! cut off mid-way stays in pre-issuance with some files. [`pre_personalise`] refuses it
//! with [`CosError::HalfIssued`] (it never guesses which files are complete);
//! [`CosBackend::erase`] returns it to blank, after which it can be pre-personalised
//! again ([`reissue`]).

use core::fmt;

use sscard_apdu::command::SHORT_RESPONSE_MAX;
use sscard_apdu::trace::Trace;
use sscard_apdu::{CommandBuilder, Exchange, ExchangeError, Status, Transport};
use sscard_crypto::kdf::KeyScheme;
use sscard_crypto::keys::{Algorithm, AnyKey, Des3Key, Sm4Key};
use sscard_fs::keys::KeySet;
use sscard_fs::profile::{AccessRule, KeyUsage, Node, NodeKind, Structure};
use sscard_fs::Profile;
use sscard_ssse::security::{CardContext, SoftKeys};
use zeroize::Zeroizing;

/// Which issuance step failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Reading the card's lifecycle.
    Lifecycle,
    /// GET CHALLENGE.
    Challenge,
    /// External authentication with the transport key.
    TransportAuth,
    /// Selecting a DF (by FID, `None` for a DF selected by AID).
    Select {
        /// The DF's FID.
        fid: Option<u16>,
    },
    /// Creating a DF.
    CreateDf {
        /// Its FID (`None`: selected by AID only).
        fid: Option<u16>,
    },
    /// Creating an EF.
    CreateEf {
        /// Its FID.
        fid: u16,
    },
    /// Loading a card key.
    LoadKey {
        /// The card key id.
        id: u8,
    },
    /// Loading the PIN.
    LoadPin,
    /// END PRE-ISSUANCE.
    EndPreIssuance,
    /// ERASE.
    Erase,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Lifecycle => write!(f, "lifecycle"),
            Self::Challenge => write!(f, "GET CHALLENGE"),
            Self::TransportAuth => write!(f, "transport-key authentication"),
            Self::Select { fid: Some(fid) } => write!(f, "SELECT {fid:04X}"),
            Self::Select { fid: None } => write!(f, "SELECT by AID"),
            Self::CreateDf { fid: Some(fid) } => write!(f, "CREATE DF {fid:04X}"),
            Self::CreateDf { fid: None } => write!(f, "CREATE DF (AID)"),
            Self::CreateEf { fid } => write!(f, "CREATE EF {fid:04X}"),
            Self::LoadKey { id } => write!(f, "WRITE KEY {id:02X}"),
            Self::LoadPin => write!(f, "WRITE KEY (PIN)"),
            Self::EndPreIssuance => write!(f, "END PRE-ISSUANCE"),
            Self::Erase => write!(f, "ERASE"),
        }
    }
}

/// Why a profile node cannot be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlanProblem {
    /// An EF without FID or structure, or a DF with neither AID nor FID.
    Incomplete,
    /// A size, record length or count the COS cannot encode.
    TooLarge,
    /// The key set has no master for a key the profile names.
    MissingKey(u8),
    /// The PIN does not have the profile's number of digits.
    PinLength,
}

impl fmt::Display for PlanProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Incomplete => write!(f, "missing FID, AID or structure"),
            Self::TooLarge => write!(f, "a size or length the COS cannot encode"),
            Self::MissingKey(id) => write!(f, "the key set has no key {id:02X}"),
            Self::PinLength => write!(f, "the PIN does not have the profile's length"),
        }
    }
}

/// Why issuance failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CosError<E: fmt::Debug + fmt::Display> {
    /// The card answered a status word other than `9000`.
    #[error("{step}: card answered {status}")]
    Card {
        /// The step.
        step: Step,
        /// The card's status word.
        status: Status,
    },
    /// The reader or the protocol layer failed.
    #[error("{step}: {error}")]
    Exchange {
        /// The step.
        step: Step,
        /// What failed.
        error: ExchangeError<E>,
    },
    /// The card's answer is not what the command returns.
    #[error("{step}: malformed answer from the card")]
    BadAnswer {
        /// The step.
        step: Step,
    },
    /// The command's data does not fit a short APDU (a DF, EF or key description too
    /// large for the COS's fields).
    #[error("{step}: the command data does not fit the COS's fields")]
    TooLarge {
        /// The step.
        step: Step,
    },
    /// The key wrapper (software keys, PSAM, HSM) failed.
    #[error("{step}: key wrapping failed: {error}")]
    Keys {
        /// The step.
        step: Step,
        /// What failed.
        error: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A profile node cannot be created (index in the profile's nodes).
    #[error("profile node #{node}: {problem}")]
    Plan {
        /// Index in [`Profile::nodes`].
        node: usize,
        /// What is wrong.
        problem: PlanProblem,
    },
    /// The card is in pre-issuance but already has files or keys: a pre-personalisation
    /// was cut off. Erase it ([`CosBackend::erase`], [`reissue`]) and start again.
    #[error("the card is half-issued ({0}); erase it and pre-personalise again")]
    HalfIssued(Lifecycle),
    /// The card was already issued (END PRE-ISSUANCE done).
    #[error("the card is already issued")]
    AlreadyIssued,
}

/// Shorthand for results of this module.
pub type CosResult<T, E> = Result<T, CosError<<E as Transport>::Error>>;

/// The card's lifecycle, as the COS reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lifecycle {
    /// The state.
    pub state: LifecycleState,
    /// DFs created (without the MF).
    pub dfs: u8,
    /// EFs created.
    pub efs: u8,
    /// Keys loaded.
    pub keys: u8,
    /// Whether a PIN was loaded.
    pub pin: bool,
}

impl fmt::Display for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}: {} DFs, {} EFs, {} keys, PIN {}",
            self.state,
            self.dfs,
            self.efs,
            self.keys,
            if self.pin { "loaded" } else { "absent" }
        )
    }
}

/// blank → pre-personalising → issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifecycleState {
    /// Pre-issuance, nothing created.
    Blank,
    /// Pre-issuance with files or keys (in progress, or cut off half-way).
    PrePersonalising,
    /// END PRE-ISSUANCE done.
    Issued,
}

/// A DF to create under the current DF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DfSpec<'a> {
    /// FID.
    pub fid: Option<u16>,
    /// AID (DF name).
    pub aid: Option<&'a [u8]>,
    /// The algorithm identifier the DF's FCI announces (`9F0C 03 86 01 xx`,
    /// `spec/sscard.md` §3.6), for DFs with an AID.
    pub algorithm_id: Option<u8>,
}

/// Where one item or B-TLV group occurrence of a TLV record EF lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotSpec {
    /// Record number.
    pub number: u8,
    /// Record tag.
    pub tag: u8,
    /// Longest value.
    pub max_value: u8,
}

/// An EF to create under the current DF, from the profile's node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EfSpec {
    /// FID.
    pub fid: u16,
    /// SFI.
    pub sfi: Option<u8>,
    /// Structure.
    pub structure: Structure,
    /// Read rule for this card's generation.
    pub read: AccessRule,
    /// Update rule.
    pub update: AccessRule,
    /// Records whose read rule differs from the file's (3.0 cards), by tag.
    pub record_rules: Vec<(u8, AccessRule)>,
    /// TLV record files: the records' numbers, tags and lengths.
    pub slots: Vec<SlotSpec>,
    /// Fixed-record and cyclic files: record length.
    pub record_length: u8,
    /// Fixed-record and cyclic files: record count.
    pub record_count: u8,
    /// Transparent files: size.
    pub size: u16,
}

impl EfSpec {
    /// The EF of a profile node, with the read rules of a 3.0 card when `generation3`
    /// (`spec/sscard.md` §3.7). `None` when the node is not a complete EF or a size
    /// does not fit the COS's fields.
    pub fn from_node(node: &Node, generation3: bool) -> Result<Self, PlanProblem> {
        let (NodeKind::Ef, Some(fid), Some(structure)) = (node.kind, node.fid, node.structure)
        else {
            return Err(PlanProblem::Incomplete);
        };
        let read = node.read_rule(None, generation3);
        let record_rules = node
            .items
            .iter()
            .map(|i| (i.tag, node.read_rule(Some(i.tag), generation3)))
            .filter(|(_, rule)| *rule != read)
            .collect();
        let small = |n: usize| u8::try_from(n).map_err(|_| PlanProblem::TooLarge);
        let mut slots = Vec::new();
        for item in &node.items {
            if let Some(number) = item.record {
                slots.push(SlotSpec {
                    number,
                    tag: item.tag,
                    max_value: small(item.length)?,
                });
            }
        }
        for group in &node.groups {
            let Some(first) = group.record else { continue };
            for k in 0..group.occurrences {
                slots.push(SlotSpec {
                    number: first.saturating_add(k),
                    tag: group.tag,
                    max_value: small(group.value_len())?,
                });
            }
        }
        let (record_length, record_count, size) = match structure {
            Structure::Transparent => {
                let size = node.size.ok_or(PlanProblem::Incomplete)?;
                (
                    0,
                    0,
                    u16::try_from(size).map_err(|_| PlanProblem::TooLarge)?,
                )
            }
            Structure::TlvRecord => (0, 0, 0),
            _ => (
                small(node.record_length())?,
                node.record_count.ok_or(PlanProblem::Incomplete)?,
                0,
            ),
        };
        Ok(Self {
            fid,
            sfi: node.sfi,
            structure,
            read,
            update: node.access.map_or(AccessRule::Never, |a| a.update),
            record_rules,
            slots,
            record_length,
            record_count,
            size,
        })
    }
}

/// A key (or the PIN) to load into the current DF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySpec<'a> {
    /// A card key: diversified for this card from the key set's master.
    Card {
        /// Card key id.
        id: u8,
        /// What it is for.
        usage: KeyUsage,
        /// Error counter.
        tries: u8,
    },
    /// The PIN.
    Pin {
        /// The initial PIN's digits.
        digits: &'a str,
        /// Try counter.
        tries: u8,
    },
}

/// Who wraps keys for transport to the card: the transport key's cryptogram and the
/// enciphered, MAC'd key blobs of WRITE KEY (the emulated COS's format,
/// `apdu-specs/cos-emulated.md`). The seam for a PSAM or HSM that holds the masters.
pub trait KeyWrap {
    /// The wrapper's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The 8-byte cryptogram of `plain` under the transport key's process key for
    /// `factor` (the card challenge), for EXTERNAL AUTHENTICATE.
    fn transport_cryptogram(
        &mut self,
        algorithm: Algorithm,
        factor: &[u8; 8],
        plain: &[u8; 8],
    ) -> Result<[u8; 8], Self::Error>;

    /// The card key `id` diversified for `card`, as `L ‖ key ‖ 80 00…` (whole blocks)
    /// enciphered (ECB) under the transport key's process key for `factor`.
    fn wrap_card_key(
        &mut self,
        card: &CardContext<'_>,
        id: u8,
        factor: &[u8; 8],
    ) -> Result<Vec<u8>, Self::Error>;

    /// The PIN digits (ASCII) as `L ‖ digits ‖ 80 00…`, enciphered like a key.
    fn wrap_pin(
        &mut self,
        algorithm: Algorithm,
        digits: &str,
        factor: &[u8; 8],
    ) -> Result<Vec<u8>, Self::Error>;

    /// The 4-byte MAC of `data` (padded `80 00…`, zero IV) under the transport key's
    /// process key for `factor`.
    fn transport_mac(
        &mut self,
        algorithm: Algorithm,
        factor: &[u8; 8],
        data: &[u8],
    ) -> Result<[u8; 4], Self::Error>;

    /// Whether the wrapper can serve at all — for a remote security module, whether
    /// it is reachable and speaks the protocol. The batch engine asks after a card
    /// failed: an unavailable wrapper stops the reader with the card left as it is
    /// (half-done, resumed on the next run) instead of failing one card after another
    /// while the module is down. Local keys are always available.
    fn check_available(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// A transport key (`apdu-specs/keys/transport-test.json` for the emulated blank cards).
#[derive(Clone)]
pub struct TransportKey {
    /// Key id (P2 of EXTERNAL AUTHENTICATE).
    pub id: u8,
    des3: Zeroizing<[u8; 16]>,
    sm4: Zeroizing<[u8; 16]>,
}

impl fmt::Debug for TransportKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The TEST transport key of emulated blank cards.
pub const TRANSPORT_TEST_KEY_JSON: &str =
    include_str!("../../../apdu-specs/keys/transport-test.json");

/// Why a transport-key file is not acceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportKeyError {
    /// Not JSON of the transport-key schema (`sscard-transport-key/1`).
    #[error("not a transport-key file (sscard-transport-key/1)")]
    Syntax,
    /// A key or id is not hex of the right length.
    #[error("malformed key or key id")]
    BadValue,
}

#[derive(serde::Deserialize)]
struct RawTransport {
    schema: String,
    key_id: String,
    des3: Zeroizing<String>,
    sm4: Zeroizing<String>,
}

impl TransportKey {
    /// Parses a transport-key file.
    pub fn from_json(text: &str) -> Result<Self, TransportKeyError> {
        let raw: RawTransport =
            serde_json::from_str(text).map_err(|_| TransportKeyError::Syntax)?;
        if raw.schema != "sscard-transport-key/1" {
            return Err(TransportKeyError::Syntax);
        }
        let key = |t: &str| {
            sscard_apdu::hex::decode_array::<16>(t)
                .map(Zeroizing::new)
                .map_err(|_| TransportKeyError::BadValue)
        };
        let [id] = sscard_apdu::hex::decode_array::<1>(&raw.key_id)
            .map_err(|_| TransportKeyError::BadValue)?;
        Ok(Self {
            id,
            des3: key(&raw.des3)?,
            sm4: key(&raw.sm4)?,
        })
    }

    /// The built-in TEST transport key.
    pub fn test_key() -> Result<Self, TransportKeyError> {
        Self::from_json(TRANSPORT_TEST_KEY_JSON)
    }

    fn key(&self, algorithm: Algorithm) -> AnyKey {
        match algorithm {
            Algorithm::Sm4 => AnyKey::Sm4(Sm4Key::from_bytes(*self.sm4)),
            _ => AnyKey::Des3(Des3Key::from_double(*self.des3)),
        }
    }
}

/// Why software key wrapping failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SoftWrapError {
    /// The key set has no master for this card key id, or the card data cannot
    /// diversify it.
    #[error("no usable master for card key {0:02X}")]
    Key(u8),
    /// The cipher failed.
    #[error("cipher failure")]
    Crypto,
}

/// Keys in memory: the masters of a key set (development issuance, tests) and the
/// transport key, with a key scheme.
pub struct SoftKeyWrap<K> {
    keys: SoftKeys<K>,
    transport: TransportKey,
    scheme: K,
}

impl<K> fmt::Debug for SoftKeyWrap<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftKeyWrap")
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl<K: KeyScheme + Clone> SoftKeyWrap<K> {
    /// Software wrapping with `keys` (card-key masters), `transport` and `scheme`.
    pub fn new(keys: KeySet, transport: TransportKey, scheme: K) -> Self {
        Self {
            keys: SoftKeys::new(keys, scheme.clone()),
            transport,
            scheme,
        }
    }

    /// Whether the key set has a master for this card key id.
    pub fn has_key(&self, card: &CardContext<'_>, id: u8) -> bool {
        self.keys.card_key(card, id).is_ok()
    }

    fn process(&self, algorithm: Algorithm, factor: &[u8; 8]) -> Result<AnyKey, SoftWrapError> {
        self.scheme
            .process_key(&self.transport.key(algorithm), factor)
            .map_err(|_| SoftWrapError::Crypto)
    }

    fn wrap(
        &self,
        algorithm: Algorithm,
        value: &[u8],
        factor: &[u8; 8],
    ) -> Result<Vec<u8>, SoftWrapError> {
        let process = self.process(algorithm, factor)?;
        let block = process.block_len();
        let len = u8::try_from(value.len()).map_err(|_| SoftWrapError::Crypto)?;
        let mut plain = Zeroizing::new(Vec::with_capacity(value.len() + 2 + block));
        plain.push(len);
        plain.extend_from_slice(value);
        plain.push(0x80);
        while plain.len() % block != 0 {
            plain.push(0);
        }
        process
            .ecb_encrypt(&mut plain)
            .map_err(|_| SoftWrapError::Crypto)?;
        Ok(plain.to_vec())
    }
}

impl<K: KeyScheme + Clone> KeyWrap for SoftKeyWrap<K> {
    type Error = SoftWrapError;

    fn transport_cryptogram(
        &mut self,
        algorithm: Algorithm,
        factor: &[u8; 8],
        plain: &[u8; 8],
    ) -> Result<[u8; 8], Self::Error> {
        sscard_crypto::auth::cryptogram(&self.scheme, &self.transport.key(algorithm), factor, plain)
            .map_err(|_| SoftWrapError::Crypto)
    }

    fn wrap_card_key(
        &mut self,
        card: &CardContext<'_>,
        id: u8,
        factor: &[u8; 8],
    ) -> Result<Vec<u8>, Self::Error> {
        let key = self
            .keys
            .card_key(card, id)
            .map_err(|_| SoftWrapError::Key(id))?;
        self.wrap(card.algorithm, key.as_bytes(), factor)
    }

    fn wrap_pin(
        &mut self,
        algorithm: Algorithm,
        digits: &str,
        factor: &[u8; 8],
    ) -> Result<Vec<u8>, Self::Error> {
        self.wrap(algorithm, digits.as_bytes(), factor)
    }

    fn transport_mac(
        &mut self,
        algorithm: Algorithm,
        factor: &[u8; 8],
        data: &[u8],
    ) -> Result<[u8; 4], Self::Error> {
        let process = self.process(algorithm, factor)?;
        let iv = [0u8; 16];
        let iv = iv.get(..process.block_len()).ok_or(SoftWrapError::Crypto)?;
        let mac =
            sscard_crypto::mac::psam_mac(&process, iv, data).map_err(|_| SoftWrapError::Crypto)?;
        Ok(sscard_crypto::mac::truncate4(&mac))
    }
}

/// The issuance command layer of one COS.
pub trait CosBackend {
    /// The card's lifecycle.
    fn lifecycle<T: Transport, R: Trace>(
        &mut self,
        ex: &mut Exchange<T, R>,
    ) -> CosResult<Lifecycle, T>;

    /// External authentication with the transport key (opens the creation commands).
    fn authenticate_transport<T: Transport, R: Trace, W: KeyWrap + ?Sized>(
        &mut self,
        ex: &mut Exchange<T, R>,
        keys: &mut W,
        algorithm: Algorithm,
    ) -> CosResult<(), T>;

    /// Creates a DF under the current DF; the new DF becomes current.
    fn create_df<T: Transport, R: Trace>(
        &mut self,
        ex: &mut Exchange<T, R>,
        df: &DfSpec<'_>,
    ) -> CosResult<(), T>;

    /// Creates an EF under the current DF.
    fn create_ef<T: Transport, R: Trace>(
        &mut self,
        ex: &mut Exchange<T, R>,
        ef: &EfSpec,
    ) -> CosResult<(), T>;

    /// Loads a card key (diversified for `card`) or the PIN, wrapped by `keys`.
    fn load_key<T: Transport, R: Trace, W: KeyWrap + ?Sized>(
        &mut self,
        ex: &mut Exchange<T, R>,
        keys: &mut W,
        card: &CardContext<'_>,
        key: &KeySpec<'_>,
    ) -> CosResult<(), T>;

    /// Ends pre-issuance: the creation commands are locked for good.
    fn end_preissuance<T: Transport, R: Trace>(
        &mut self,
        ex: &mut Exchange<T, R>,
    ) -> CosResult<(), T>;

    /// Returns a card still in pre-issuance to blank (after transport authentication).
    fn erase<T: Transport, R: Trace>(&mut self, ex: &mut Exchange<T, R>) -> CosResult<(), T>;
}

/// The emulated COS's issuance commands (`apdu-specs/cos-emulated.md`; ours).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmulatedCos {
    /// The transport key's id (P2 of EXTERNAL AUTHENTICATE), `FF` on emulated cards.
    pub transport_key: u8,
}

impl Default for EmulatedCos {
    fn default() -> Self {
        Self {
            transport_key: 0xFF,
        }
    }
}

/// Sends one command; anything but `9000` is [`CosError::Card`].
fn transact<'r, T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    command: &CommandBuilder<'_>,
    buf: &'r mut [u8],
    step: Step,
) -> CosResult<&'r [u8], T> {
    let response = ex
        .send(command, buf)
        .map_err(|error| CosError::Exchange { step, error })?;
    match response.status {
        Status::Success => Ok(response.data),
        status => Err(CosError::Card { step, status }),
    }
}

fn challenge<T: Transport, R: Trace>(ex: &mut Exchange<T, R>) -> CosResult<[u8; 8], T> {
    let mut buf = [0u8; 32];
    let cmd = CommandBuilder::new(0x00, 0x84, 0x00, 0x00).le(8);
    let data = transact(ex, &cmd, &mut buf, Step::Challenge)?;
    <[u8; 8]>::try_from(data).map_err(|_| CosError::BadAnswer {
        step: Step::Challenge,
    })
}

fn keys_error<E: fmt::Debug + fmt::Display>(
    step: Step,
) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> CosError<E> {
    move |error| CosError::Keys { step, error }
}

/// The 2-byte wire form of an access rule (`apdu-specs/cos-emulated.md`): flags
/// (`00` free, `FF` never, bit 1 PIN, bit 2 key) and key id.
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

/// Appends one SIMPLE-TLV (`tag len value`).
fn put(out: &mut Vec<u8>, tag: u8, value: &[u8]) -> Result<(), PlanProblem> {
    out.push(tag);
    out.push(u8::try_from(value.len()).map_err(|_| PlanProblem::TooLarge)?);
    out.extend_from_slice(value);
    Ok(())
}

impl EmulatedCos {
    /// The data field of CREATE DF.
    pub fn df_data(df: &DfSpec<'_>) -> Result<Vec<u8>, PlanProblem> {
        let mut out = Vec::new();
        if let Some(fid) = df.fid {
            put(&mut out, 0x83, &fid.to_be_bytes())?;
        }
        if let Some(aid) = df.aid {
            put(&mut out, 0x84, aid)?;
            if let Some(alg) = df.algorithm_id {
                put(&mut out, 0x85, &[alg])?;
            }
        }
        Ok(out)
    }

    /// The data field of CREATE EF.
    pub fn ef_data(ef: &EfSpec) -> Result<Vec<u8>, PlanProblem> {
        let mut out = Vec::new();
        let kind = match ef.structure {
            Structure::Transparent => 0xC4,
            Structure::FixedRecord => 0xC5,
            Structure::TlvRecord => 0xC6,
            _ => 0xC7,
        };
        put(&mut out, 0x82, &[kind])?;
        put(&mut out, 0x83, &ef.fid.to_be_bytes())?;
        if let Some(sfi) = ef.sfi {
            put(&mut out, 0x88, &[sfi])?;
        }
        let [rf, rk] = rule_to_wire(ef.read);
        let [uf, uk] = rule_to_wire(ef.update);
        put(&mut out, 0x86, &[rf, rk, uf, uk])?;
        match ef.structure {
            Structure::Transparent => put(&mut out, 0x80, &ef.size.to_be_bytes())?,
            Structure::TlvRecord => {
                if !ef.slots.is_empty() {
                    let slots: Vec<u8> = ef
                        .slots
                        .iter()
                        .flat_map(|s| [s.number, s.tag, s.max_value])
                        .collect();
                    put(&mut out, 0xC1, &slots)?;
                }
                if !ef.record_rules.is_empty() {
                    let rules: Vec<u8> = ef
                        .record_rules
                        .iter()
                        .flat_map(|(tag, rule)| {
                            let [f, k] = rule_to_wire(*rule);
                            [*tag, f, k]
                        })
                        .collect();
                    put(&mut out, 0xC2, &rules)?;
                }
            }
            _ => put(&mut out, 0x81, &[ef.record_length, ef.record_count])?,
        }
        Ok(out)
    }
}

impl CosBackend for EmulatedCos {
    fn lifecycle<T: Transport, R: Trace>(
        &mut self,
        ex: &mut Exchange<T, R>,
    ) -> CosResult<Lifecycle, T> {
        let mut buf = [0u8; 64];
        let cmd = CommandBuilder::new(0x80, 0xCA, 0x00, 0xC0).le(256);
        let data = transact(ex, &cmd, &mut buf, Step::Lifecycle)?;
        let bad = CosError::BadAnswer {
            step: Step::Lifecycle,
        };
        let &[0xC0, 0x05, state, dfs, efs, keys, pin] = data else {
            return Err(bad);
        };
        let state = match state {
            0x00 => LifecycleState::Blank,
            0x01 => LifecycleState::PrePersonalising,
            0x02 => LifecycleState::Issued,
            _ => return Err(bad),
        };
        Ok(Lifecycle {
            state,
            dfs,
            efs,
            keys,
            pin: pin != 0,
        })
    }

    fn authenticate_transport<T: Transport, R: Trace, W: KeyWrap + ?Sized>(
        &mut self,
        ex: &mut Exchange<T, R>,
        keys: &mut W,
        algorithm: Algorithm,
    ) -> CosResult<(), T> {
        let r = challenge(ex)?;
        let c = keys
            .transport_cryptogram(algorithm, &r, &r)
            .map_err(|e| keys_error(Step::TransportAuth)(Box::new(e)))?;
        let mut data = [0u8; 16];
        let (left, right) = data.split_at_mut(8);
        left.copy_from_slice(&c);
        right.copy_from_slice(&r);
        let cmd = CommandBuilder::new(0x00, 0x82, 0x00, self.transport_key).data(&data);
        let mut buf = [0u8; 8];
        transact(ex, &cmd, &mut buf, Step::TransportAuth)?;
        Ok(())
    }

    fn create_df<T: Transport, R: Trace>(
        &mut self,
        ex: &mut Exchange<T, R>,
        df: &DfSpec<'_>,
    ) -> CosResult<(), T> {
        let step = Step::CreateDf { fid: df.fid };
        let data = Self::df_data(df).map_err(|_| CosError::TooLarge { step })?;
        let cmd = CommandBuilder::new(0x80, 0xE0, 0x00, 0x00).data(&data);
        let mut buf = [0u8; 8];
        transact(ex, &cmd, &mut buf, step)?;
        Ok(())
    }

    fn create_ef<T: Transport, R: Trace>(
        &mut self,
        ex: &mut Exchange<T, R>,
        ef: &EfSpec,
    ) -> CosResult<(), T> {
        let step = Step::CreateEf { fid: ef.fid };
        let data = Self::ef_data(ef).map_err(|_| CosError::TooLarge { step })?;
        let cmd = CommandBuilder::new(0x80, 0xE0, 0x01, 0x00).data(&data);
        let mut buf = [0u8; 8];
        transact(ex, &cmd, &mut buf, step)?;
        Ok(())
    }

    fn load_key<T: Transport, R: Trace, W: KeyWrap + ?Sized>(
        &mut self,
        ex: &mut Exchange<T, R>,
        keys: &mut W,
        card: &CardContext<'_>,
        key: &KeySpec<'_>,
    ) -> CosResult<(), T> {
        let (step, id, kind, alg, tries) = match *key {
            KeySpec::Card { id, usage, tries } => (
                Step::LoadKey { id },
                id,
                key_type(usage),
                card.algorithm.card_id(),
                tries,
            ),
            KeySpec::Pin { tries, .. } => (Step::LoadPin, 0x00, 0x10, 0x00, tries),
        };
        let r = challenge(ex)?;
        let blob = match *key {
            KeySpec::Card { id, .. } => keys.wrap_card_key(card, id, &r),
            KeySpec::Pin { digits, .. } => keys.wrap_pin(card.algorithm, digits, &r),
        }
        .map_err(|e| keys_error(step)(Box::new(e)))?;
        let mut body = vec![id, kind, alg, tries];
        body.extend_from_slice(&blob);
        let lc = u8::try_from(body.len() + 4).map_err(|_| CosError::TooLarge { step })?;
        let mut macced = vec![0x84, 0xD4, 0x00, 0x00, lc];
        macced.extend_from_slice(&body);
        let mac = keys
            .transport_mac(card.algorithm, &r, &macced)
            .map_err(|e| keys_error(step)(Box::new(e)))?;
        body.extend_from_slice(&mac);
        let cmd = CommandBuilder::new(0x84, 0xD4, 0x00, 0x00).data(&body);
        let mut buf = [0u8; 8];
        transact(ex, &cmd, &mut buf, step)?;
        Ok(())
    }

    fn end_preissuance<T: Transport, R: Trace>(
        &mut self,
        ex: &mut Exchange<T, R>,
    ) -> CosResult<(), T> {
        let cmd = CommandBuilder::new(0x80, 0xE0, 0x02, 0x00);
        let mut buf = [0u8; 8];
        transact(ex, &cmd, &mut buf, Step::EndPreIssuance)?;
        Ok(())
    }

    fn erase<T: Transport, R: Trace>(&mut self, ex: &mut Exchange<T, R>) -> CosResult<(), T> {
        let cmd = CommandBuilder::new(0x80, 0xEE, 0x00, 0x00);
        let mut buf = [0u8; 8];
        transact(ex, &cmd, &mut buf, Step::Erase)?;
        Ok(())
    }
}

/// The WRITE KEY type byte of a key usage (`apdu-specs/cos-emulated.md`).
fn key_type(usage: KeyUsage) -> u8 {
    match usage {
        KeyUsage::Master => 0x01,
        KeyUsage::InternalAuth => 0x02,
        KeyUsage::Read => 0x03,
        KeyUsage::Update => 0x04,
        KeyUsage::PinUnblock => 0x05,
        KeyUsage::SecureTransport => 0x06,
        _ => 0x07,
    }
}

/// What to issue on one card besides the profile.
#[derive(Clone, Copy, Debug)]
pub struct IssuePlan<'a> {
    /// The card: its ATR, the identification code it will carry (卡识别码, EF05 item
    /// 01) and its algorithm; the card keys are diversified for it.
    pub card: CardContext<'a>,
    /// The algorithm identifier the SSSE's FCI announces (`None`: no `9F0C`).
    pub algorithm_id: Option<u8>,
    /// Issue the read rules of a 3.0 card (`spec/sscard.md` §3.7).
    pub generation3: bool,
    /// The initial PIN.
    pub pin: &'a str,
    /// Error counter of every card key.
    pub key_tries: u8,
}

impl<'a> IssuePlan<'a> {
    /// A plan for `card`: the FCI announces the card's algorithm, 2nd-generation read
    /// rules, the emulator's default PIN and key error counters of 15.
    pub fn new(card: CardContext<'a>) -> Self {
        Self {
            card,
            algorithm_id: Some(card.algorithm.card_id()),
            generation3: false,
            pin: sscard_fs::image::DEFAULT_PIN,
            key_tries: 15,
        }
    }
}

/// What [`pre_personalise`] created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IssueReport {
    /// DFs created.
    pub dfs: usize,
    /// EFs created.
    pub efs: usize,
    /// Card keys loaded.
    pub keys: usize,
    /// Whether the PIN was loaded.
    pub pin: bool,
}

/// Selects the DF at `path` of the profile (from the top: the MF by FID `3F00`, DFs by
/// AID when they have one, else by FID).
fn select_path<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
    path: Option<&str>,
) -> CosResult<(), T> {
    let mut buf = [0u8; SHORT_RESPONSE_MAX];
    let mf = CommandBuilder::new(0x00, 0xA4, 0x00, 0x0C).data(&[0x3F, 0x00]);
    let Some(path) = path else {
        transact(ex, &mf, &mut buf, Step::Select { fid: Some(0x3F00) })?;
        return Ok(());
    };
    let mut prefix_end = 0;
    let mut first = true;
    for part in path.split('/') {
        prefix_end += part.len() + usize::from(!first);
        let prefix = path.get(..prefix_end).unwrap_or(path);
        let node = profile.node(prefix);
        let fid = node.and_then(|n| n.fid);
        match (node.and_then(|n| n.aid.as_deref()), fid) {
            (_, Some(0x3F00)) => {
                transact(ex, &mf, &mut buf, Step::Select { fid })?;
            }
            (Some(aid), _) => {
                let cmd = CommandBuilder::new(0x00, 0xA4, 0x04, 0x0C).data(aid);
                transact(ex, &cmd, &mut buf, Step::Select { fid: None })?;
            }
            (None, Some(f)) => {
                if first {
                    transact(ex, &mf, &mut buf, Step::Select { fid: Some(0x3F00) })?;
                }
                let bytes = f.to_be_bytes();
                let cmd = CommandBuilder::new(0x00, 0xA4, 0x00, 0x0C).data(&bytes);
                transact(ex, &cmd, &mut buf, Step::Select { fid })?;
            }
            (None, None) => {
                // A DF the card cannot select: no AID, no FID (or no node at all).
                let node = profile
                    .nodes()
                    .iter()
                    .position(|n| n.path == prefix)
                    .unwrap_or(profile.nodes().len());
                return Err(CosError::Plan {
                    node,
                    problem: PlanProblem::Incomplete,
                });
            }
        }
        first = false;
    }
    Ok(())
}

/// Pre-personalises a blank card: creates every DF and EF of `profile` in order, loads
/// the keys each DF names (masters from `keys`, diversified for `plan.card`) and the
/// PIN, and ends pre-issuance. See the module docs for the order and for half-issued
/// cards.
pub fn pre_personalise<T, R, B, W>(
    ex: &mut Exchange<T, R>,
    backend: &mut B,
    profile: &Profile,
    keys: &mut W,
    plan: &IssuePlan<'_>,
) -> CosResult<IssueReport, T>
where
    T: Transport,
    R: Trace,
    B: CosBackend + ?Sized,
    W: KeyWrap + ?Sized,
{
    let lifecycle = backend.lifecycle(ex)?;
    match lifecycle.state {
        LifecycleState::Blank => {}
        LifecycleState::PrePersonalising => return Err(CosError::HalfIssued(lifecycle)),
        _ => return Err(CosError::AlreadyIssued),
    }
    backend.authenticate_transport(ex, keys, plan.card.algorithm)?;
    let mut report = IssueReport::default();
    let mut loaded: Vec<u8> = Vec::new();
    // The DF the card has current: `None` is the MF.
    let mut current: Option<&str> = None;
    for (index, node) in profile.nodes().iter().enumerate() {
        let plan_error = |problem| CosError::Plan {
            node: index,
            problem,
        };
        let parent = node.parent();
        match node.kind {
            NodeKind::Df if parent.is_none() && node.fid == Some(0x3F00) => {
                // The blank card's MF exists already.
            }
            NodeKind::Df => {
                if node.fid.is_none() && node.aid.is_none() {
                    return Err(plan_error(PlanProblem::Incomplete));
                }
                if current != parent {
                    select_path(ex, profile, parent)?;
                }
                let spec = DfSpec {
                    fid: node.fid,
                    aid: node.aid.as_deref(),
                    algorithm_id: plan.algorithm_id,
                };
                backend.create_df(ex, &spec)?;
                report.dfs += 1;
                current = Some(&node.path);
                for key in &node.keys {
                    if loaded.contains(&key.id) {
                        continue;
                    }
                    let spec = KeySpec::Card {
                        id: key.id,
                        usage: key.usage,
                        tries: plan.key_tries,
                    };
                    backend.load_key(ex, keys, &plan.card, &spec)?;
                    loaded.push(key.id);
                    report.keys += 1;
                }
                if let (Some(policy), false) = (node.pin, report.pin) {
                    let ok = plan.pin.len() == usize::from(policy.digits)
                        && plan.pin.bytes().all(|b| b.is_ascii_digit());
                    if !ok {
                        return Err(plan_error(PlanProblem::PinLength));
                    }
                    let spec = KeySpec::Pin {
                        digits: plan.pin,
                        tries: policy.tries,
                    };
                    backend.load_key(ex, keys, &plan.card, &spec)?;
                    report.pin = true;
                }
            }
            NodeKind::Ef => {
                let spec = EfSpec::from_node(node, plan.generation3).map_err(plan_error)?;
                if current != parent {
                    select_path(ex, profile, parent)?;
                    current = parent;
                }
                backend.create_ef(ex, &spec)?;
                report.efs += 1;
            }
        }
    }
    backend.end_preissuance(ex)?;
    Ok(report)
}

/// Re-issues a half-issued card: transport authentication, ERASE (back to blank), then
/// [`pre_personalise`]. A blank card is pre-personalised directly; an issued card is
/// refused ([`CosError::AlreadyIssued`]).
pub fn reissue<T, R, B, W>(
    ex: &mut Exchange<T, R>,
    backend: &mut B,
    profile: &Profile,
    keys: &mut W,
    plan: &IssuePlan<'_>,
) -> CosResult<IssueReport, T>
where
    T: Transport,
    R: Trace,
    B: CosBackend + ?Sized,
    W: KeyWrap + ?Sized,
{
    match backend.lifecycle(ex)?.state {
        LifecycleState::Blank => {}
        LifecycleState::PrePersonalising => {
            backend.authenticate_transport(ex, keys, plan.card.algorithm)?;
            backend.erase(ex)?;
        }
        _ => return Err(CosError::AlreadyIssued),
    }
    pre_personalise(ex, backend, profile, keys, plan)
}
