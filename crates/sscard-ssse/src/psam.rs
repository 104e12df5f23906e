//! The PSAM security module: a PSAM card in another reader slot computes the card's
//! authentication cryptograms (`spec/sscard.md` §3.2–3.4), behind the same
//! [`SecurityModule`] seam as [`SoftKeys`](crate::security::SoftKeys).
//!
//! # Opening
//!
//! [`Psam::open`] takes the PSAM's own [`Exchange`] (so `61xx`, `6Cxx` and traces are
//! handled there), the PSAM profile (`apdu-specs/psam.json`, for the AIDs, FIDs and the
//! terminal-number file; nothing is repeated here) and a [`KeyMap`]. It selects the
//! environment, reads the terminal number once, and selects the application DF01:
//!
//! | environment | commands |
//! |---|---|
//! | sx1, 3DES | `00 A4 04 00 0F sx1.sh.社会保障`, `00 B0 96 00 06`, `00 A4 04 00 06 D15600000590` |
//! | sx3, SM4 | `00 A4 04 00 0F sx3.sh.社会保障`, `00 B0 96 00 06`, `00 A4 00 00 02 DF01` |
//!
//! [`Psam::open`] tries sx1, then sx3 when the PSAM does not know the sx1 name (`6A82`);
//! [`Psam::open_environment`] opens one. The environment must match the card's
//! algorithm ([`PsamError::AlgorithmMismatch`] otherwise).
//!
//! # A cryptogram
//!
//! For the card key `card_key`, the [`KeyMap`] gives the PSAM key id and the `BF DE`
//! usage byte (whose high 3 bits are the diversification levels). Then:
//!
//! 1. `BF DE <usage> <psam key> Lc <factors> ‖ R`: the factors from
//!    [`DivPath::from_card`] (card, city, province; 8 bytes per level), the process
//!    factor R = the card challenge, followed by `00×8` for SM4 (Lc `10`/`18`/`20` for
//!    3DES, `18`/`20`/`28` for SM4);
//! 2. `80 FA 00 00 Lc P` (3DES: 8 bytes; SM4: P ‖ `00×8`), answered through `61 08` /
//!    `61 10` and GET RESPONSE; the cryptogram is the first 8 bytes of the block.
//!
//! Every status word the PSAM answers comes back in [`PsamError::Status`] with the
//! step; answers of the wrong length are [`PsamError::BadAnswer`]; nothing a PSAM sends
//! can panic this module.
//!
//! # The key map
//!
//! A terminal with a PSAM holds no master keys; it only needs, per card key, the PSAM
//! key id and usage byte ([`PsamKey`]). [`KeyMap::from_key_set`] takes them from a
//! [`KeySet`] (`apdu-specs/keys/emulation.json`: the emulated PSAM's layout) without
//! copying its masters; [`KeyMap::new`] takes a region's own table.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use sscard_apdu::command::SHORT_RESPONSE_MAX;
use sscard_apdu::trace::{NoTrace, Trace};
use sscard_apdu::{CommandBuilder, Exchange, ExchangeError, Status, Transport};
use sscard_crypto::kdf::{DivPath, KeyUsage};
use sscard_crypto::keys::{Algorithm, SymError};
use sscard_fs::codec::{self, Encoding};
use sscard_fs::keys::KeySet;
use sscard_fs::profile::Node;
use sscard_fs::Profile;

use crate::security::{CardContext, SecureTransport, SecurityModule};

/// Profile paths of the two environments: (MF, application DF01).
const SX1: (&str, &str) = ("MF", "MF/DF01");
const SX3: (&str, &str) = ("SX3", "SX3/DF01");
/// Profile path of the terminal-number file (PSAM MF, SFI 0x16).
const TERMINAL_NUMBER_EF: &str = "MF/EF16";
/// Digits of a terminal number (6 bytes BCD).
pub const TERMINAL_NUMBER_DIGITS: usize = 12;

/// What the terminal tells the PSAM about one card key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PsamKey {
    /// The card's key id (P2 of INTERNAL/EXTERNAL AUTHENTICATE).
    pub card_key: u8,
    /// The PSAM's key id (P2 of `BF DE`).
    pub psam_key: u8,
    /// The `BF DE` usage byte (P1): levels and key type.
    pub usage: KeyUsage,
}

/// Card key id → PSAM key id and usage byte. The first entry for a card key wins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyMap {
    keys: Vec<PsamKey>,
}

impl KeyMap {
    /// A map from a table.
    pub fn new(keys: impl IntoIterator<Item = PsamKey>) -> Self {
        Self {
            keys: keys.into_iter().collect(),
        }
    }

    /// The PSAM key ids and usage bytes of a key set (its master keys are not copied).
    pub fn from_key_set(set: &KeySet) -> Self {
        Self::new(set.keys().iter().map(|k| PsamKey {
            card_key: k.card_key,
            psam_key: k.psam_key,
            usage: KeyUsage(k.usage),
        }))
    }

    /// The entry for a card key.
    pub fn get(&self, card_key: u8) -> Option<&PsamKey> {
        self.keys.iter().find(|k| k.card_key == card_key)
    }

    /// All entries.
    pub fn keys(&self) -> &[PsamKey] {
        &self.keys
    }
}

impl From<&KeySet> for KeyMap {
    fn from(set: &KeySet) -> Self {
        Self::from_key_set(set)
    }
}

impl FromIterator<PsamKey> for KeyMap {
    fn from_iter<I: IntoIterator<Item = PsamKey>>(iter: I) -> Self {
        Self::new(iter)
    }
}

/// Which PSAM command failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PsamStep {
    /// SELECT of the environment's MF by name (sx1 for 3DES, sx3 for SM4).
    SelectEnvironment(Algorithm),
    /// READ BINARY of the terminal number.
    ReadTerminalNumber,
    /// SELECT of the application DF01.
    SelectApplication,
    /// `BF DE` with this usage byte and PSAM key id.
    InitKey {
        /// P1.
        usage: u8,
        /// P2.
        key: u8,
    },
    /// `80 FA 00 00`.
    Encrypt,
    /// `80 FA 05 00`.
    Mac,
}

/// The environment's name.
fn environment(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::Des3 => "sx1 (3DES)",
        Algorithm::Sm4 => "sx3 (SM4)",
        _ => "unsupported",
    }
}

impl fmt::Display for PsamStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SelectEnvironment(a) => {
                write!(f, "PSAM SELECT of the {} environment", environment(*a))
            }
            Self::ReadTerminalNumber => f.write_str("PSAM READ BINARY of the terminal number"),
            Self::SelectApplication => f.write_str("PSAM SELECT DF01"),
            Self::InitKey { usage, key } => write!(f, "PSAM BF DE {usage:02X} {key:02X}"),
            Self::Encrypt => f.write_str("PSAM 80 FA 00 00 (encrypt)"),
            Self::Mac => f.write_str("PSAM 80 FA 05 00 (MAC)"),
        }
    }
}

/// Why the PSAM could not be opened or did not compute a cryptogram.
#[derive(Debug)]
#[non_exhaustive]
pub enum PsamError<E> {
    /// The exchange with the PSAM failed (transport, malformed response).
    Exchange(PsamStep, ExchangeError<E>),
    /// The PSAM refused a step with this status word.
    Status(PsamStep, Status),
    /// The PSAM's answer has the wrong length.
    BadAnswer(PsamStep),
    /// The PSAM has neither the sx1 nor the sx3 environment.
    NoEnvironment,
    /// The PSAM profile lacks a node of the environment (or its AID, FID, SFI or size).
    Profile,
    /// The terminal number is not 12 BCD digits.
    BadTerminalNumber,
    /// The key map has no entry for this card key.
    UnknownKey(u8),
    /// The card's algorithm is not the PSAM environment's.
    AlgorithmMismatch {
        /// The card's.
        card: Algorithm,
        /// The PSAM's.
        psam: Algorithm,
    },
    /// The card's ATR or identification code cannot give the diversification factors.
    Diversification(SymError),
}

impl<E> PsamError<E> {
    /// The status word of a refused step.
    pub fn status(&self) -> Option<Status> {
        match self {
            Self::Status(_, status) => Some(*status),
            _ => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for PsamError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exchange(step, e) => write!(f, "{step}: {e}"),
            Self::Status(step, status) => write!(f, "{step}: PSAM answered {status}"),
            Self::BadAnswer(step) => write!(f, "{step}: answer of the wrong length"),
            Self::NoEnvironment => {
                f.write_str("the PSAM has neither the sx1 (3DES) nor the sx3 (SM4) environment")
            }
            Self::Profile => f.write_str("the PSAM profile lacks a node of the environment"),
            Self::BadTerminalNumber => f.write_str("the PSAM's terminal number is not 12 digits"),
            Self::UnknownKey(id) => write!(f, "no PSAM key for card key {id:02X}"),
            Self::AlgorithmMismatch { card, psam } => write!(
                f,
                "the card needs the {} environment, the PSAM has {}",
                environment(*card),
                environment(*psam)
            ),
            Self::Diversification(e) => write!(f, "diversification factors: {e}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> core::error::Error for PsamError<E> {}

/// A PSAM in its application DF01. See the module docs.
///
/// It owns its [`Exchange`]; to keep the transport, open it over `&mut transport`
/// (`&mut T` is a [`Transport`] too), or take it back with [`Psam::into_exchange`].
#[derive(Debug)]
pub struct Psam<T, R = NoTrace> {
    ex: Exchange<T, R>,
    keys: KeyMap,
    algorithm: Algorithm,
    terminal_number: String,
}

impl<T: Transport, R: Trace> Psam<T, R> {
    /// Opens the PSAM's environment: sx1 (3DES), or sx3 (SM4) when the PSAM answers
    /// `6A82` to the sx1 name.
    ///
    /// Errors: [`PsamError::NoEnvironment`] when it knows neither; any other failure of
    /// the sx1 selection as is.
    pub fn open(
        mut ex: Exchange<T, R>,
        profile: &Profile,
        keys: KeyMap,
    ) -> Result<Self, PsamError<T::Error>> {
        for algorithm in [Algorithm::Des3, Algorithm::Sm4] {
            match enter(&mut ex, profile, algorithm) {
                Err(PsamError::Status(PsamStep::SelectEnvironment(_), Status::FileNotFound)) => {}
                Err(e) => return Err(e),
                Ok(terminal_number) => {
                    return Ok(Self {
                        ex,
                        keys,
                        algorithm,
                        terminal_number,
                    })
                }
            }
        }
        Err(PsamError::NoEnvironment)
    }

    /// Opens the environment of `algorithm` (3DES: sx1, SM4: sx3).
    pub fn open_environment(
        mut ex: Exchange<T, R>,
        profile: &Profile,
        algorithm: Algorithm,
        keys: KeyMap,
    ) -> Result<Self, PsamError<T::Error>> {
        let terminal_number = enter(&mut ex, profile, algorithm)?;
        Ok(Self {
            ex,
            keys,
            algorithm,
            terminal_number,
        })
    }

    /// The environment's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The terminal number (终端机编号, 12 digits), read at open.
    pub fn terminal_number(&self) -> &str {
        &self.terminal_number
    }

    /// The key map.
    pub fn keys(&self) -> &KeyMap {
        &self.keys
    }

    /// The PSAM's exchange (for commands this module does not send).
    pub fn exchange(&mut self) -> &mut Exchange<T, R> {
        &mut self.ex
    }

    /// Gives the exchange back.
    pub fn into_exchange(self) -> Exchange<T, R> {
        self.ex
    }
}

/// Sends `command` and returns the data of a `9000` answer.
fn transact<'b, T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    command: &CommandBuilder<'_>,
    buf: &'b mut [u8],
    step: PsamStep,
) -> Result<&'b [u8], PsamError<T::Error>> {
    let r = ex
        .send(command, buf)
        .map_err(|e| PsamError::Exchange(step, e))?;
    r.success().map_err(|s| PsamError::Status(step, s))
}

/// SELECT of a DF by name when the profile gives one, else by FID.
fn select<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    node: &Node,
    step: PsamStep,
) -> Result<(), PsamError<T::Error>> {
    let mut buf = [0u8; SHORT_RESPONSE_MAX];
    let fid;
    let command = match (&node.aid, node.fid) {
        (Some(aid), _) => CommandBuilder::new(0x00, 0xA4, 0x04, 0x00).data(aid),
        (None, Some(f)) => {
            fid = f.to_be_bytes();
            CommandBuilder::new(0x00, 0xA4, 0x00, 0x00).data(&fid)
        }
        (None, None) => return Err(PsamError::Profile),
    };
    transact(ex, &command, &mut buf, step).map(|_| ())
}

/// Selects the environment's MF, reads the terminal number, selects DF01.
fn enter<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
    algorithm: Algorithm,
) -> Result<String, PsamError<T::Error>> {
    let (mf, df01) = match algorithm {
        Algorithm::Des3 => SX1,
        Algorithm::Sm4 => SX3,
        _ => return Err(PsamError::NoEnvironment),
    };
    let node = |path| profile.node(path).ok_or(PsamError::Profile);
    let (mf, df01, ef) = (node(mf)?, node(df01)?, node(TERMINAL_NUMBER_EF)?);
    if mf.aid.is_none() {
        return Err(PsamError::Profile);
    }
    select(ex, mf, PsamStep::SelectEnvironment(algorithm))?;

    // READ BINARY by SFI: P1 = 100 ‖ SFI (00 B0 96 00 06).
    let (Some(sfi), Some(size)) = (ef.sfi, ef.size) else {
        return Err(PsamError::Profile);
    };
    let step = PsamStep::ReadTerminalNumber;
    let mut buf = [0u8; SHORT_RESPONSE_MAX];
    let read = CommandBuilder::new(0x00, 0xB0, 0x80 | sfi, 0x00).le(size);
    let bcd = transact(ex, &read, &mut buf, step)?;
    let number = codec::decode(Encoding::Cn, bcd).map_err(|_| PsamError::BadTerminalNumber)?;
    if bcd.len() * 2 != TERMINAL_NUMBER_DIGITS || number.len() != TERMINAL_NUMBER_DIGITS {
        return Err(PsamError::BadTerminalNumber);
    }

    select(ex, df01, PsamStep::SelectApplication)?;
    Ok(number)
}

impl<T: Transport, R: Trace> Psam<T, R> {
    /// `BF DE`: sets up the process key of the card's key `card_key` for `factor`.
    fn init_key(
        &mut self,
        card: &CardContext<'_>,
        card_key: u8,
        factor: &[u8; 8],
    ) -> Result<(), PsamError<T::Error>> {
        let key = *self
            .keys
            .get(card_key)
            .ok_or(PsamError::UnknownKey(card_key))?;
        if card.algorithm != self.algorithm {
            return Err(PsamError::AlgorithmMismatch {
                card: card.algorithm,
                psam: self.algorithm,
            });
        }
        let block = self.algorithm.block_len();
        let path = DivPath::from_card(card.atr, card.card_id, key.usage.levels())
            .map_err(PsamError::Diversification)?;

        // BF DE: factors ‖ R (‖ 00×8 for SM4, already zero).
        let mut data = [0u8; 3 * 8 + 16];
        let n = path
            .write_factor_bytes(&mut data)
            .map_err(PsamError::Diversification)?;
        let step = PsamStep::InitKey {
            usage: key.usage.0,
            key: key.psam_key,
        };
        data.get_mut(n..n + 8)
            .ok_or(PsamError::BadAnswer(step))?
            .copy_from_slice(factor);
        let init = data.get(..n + block).ok_or(PsamError::BadAnswer(step))?;
        let mut buf = [0u8; SHORT_RESPONSE_MAX];
        let command = CommandBuilder::new(0xBF, 0xDE, key.usage.0, key.psam_key).data(init);
        transact(&mut self.ex, &command, &mut buf, step)?;
        Ok(())
    }
}

impl<T: Transport, R: Trace> SecurityModule for Psam<T, R> {
    type Error = PsamError<T::Error>;

    fn cryptogram(
        &mut self,
        card: &CardContext<'_>,
        card_key: u8,
        factor: &[u8; 8],
        plain: &[u8; 8],
    ) -> Result<[u8; 8], Self::Error> {
        self.init_key(card, card_key, factor)?;
        let block = self.algorithm.block_len();
        // 80 FA 00 00: P (‖ 00×8 for SM4); the cryptogram is the first 8 bytes.
        let step = PsamStep::Encrypt;
        let [a, b, c, d, e, f, g, h] = *plain;
        let p = [a, b, c, d, e, f, g, h, 0, 0, 0, 0, 0, 0, 0, 0];
        let p = p.get(..block).ok_or(PsamError::BadAnswer(step))?;
        let mut buf = [0u8; SHORT_RESPONSE_MAX];
        let command = CommandBuilder::new(0x80, 0xFA, 0x00, 0x00).data(p);
        let answer = transact(&mut self.ex, &command, &mut buf, step)?;
        if answer.len() != block {
            return Err(PsamError::BadAnswer(step));
        }
        answer
            .first_chunk::<8>()
            .copied()
            .ok_or(PsamError::BadAnswer(step))
    }
}

/// The largest whole number of 16-byte blocks one `80 FA` carries.
const PSAM_CHUNK: usize = 240;

impl<T: Transport, R: Trace> SecureTransport for Psam<T, R> {
    fn encrypt(
        &mut self,
        card: &CardContext<'_>,
        card_key: u8,
        factor: &[u8; 8],
        data: &mut [u8],
    ) -> Result<(), Self::Error> {
        let step = PsamStep::Encrypt;
        if !data.len().is_multiple_of(self.algorithm.block_len()) {
            return Err(PsamError::BadAnswer(step));
        }
        self.init_key(card, card_key, factor)?;
        let mut buf = [0u8; SHORT_RESPONSE_MAX];
        for chunk in data.chunks_mut(PSAM_CHUNK) {
            let command = CommandBuilder::new(0x80, 0xFA, 0x00, 0x00).data(chunk);
            let answer = transact(&mut self.ex, &command, &mut buf, step)?;
            if answer.len() != chunk.len() {
                return Err(PsamError::BadAnswer(step));
            }
            chunk.copy_from_slice(answer);
        }
        Ok(())
    }

    fn mac(
        &mut self,
        card: &CardContext<'_>,
        card_key: u8,
        factor: &[u8; 8],
        data: &[u8],
    ) -> Result<[u8; 8], Self::Error> {
        let step = PsamStep::Mac;
        let block = self.algorithm.block_len();
        // 80 FA 05 00: IV (zero) ‖ data padded 80 00… (sscard.md §3.5).
        let mut body = alloc::vec![0u8; block];
        body.extend_from_slice(data);
        body.push(0x80);
        while !(body.len() - block).is_multiple_of(block) {
            body.push(0x00);
        }
        if body.len() > 255 {
            return Err(PsamError::BadAnswer(step));
        }
        self.init_key(card, card_key, factor)?;
        let mut buf = [0u8; SHORT_RESPONSE_MAX];
        let command = CommandBuilder::new(0x80, 0xFA, 0x05, 0x00).data(&body);
        let answer = transact(&mut self.ex, &command, &mut buf, step)?;
        answer
            .first_chunk::<8>()
            .copied()
            .ok_or(PsamError::BadAnswer(step))
    }
}
