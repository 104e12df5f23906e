//! Security modules: who computes the card's authentication cryptograms
//! (`spec/sscard.md` §3.2–3.4). Application code sees only [`SecurityModule`].
//!
//! * [`SoftKeys`]: master keys in memory and a [`KeyScheme`] (tests, the emulator,
//!   development issuance). With the emulation scheme it authenticates emulated cards.
//! * [`Psam`](crate::psam::Psam): a PSAM in another reader slot (`BF DE` / `80 FA`);
//!   the HSM two-step flow exchanges the strings of [`crate::hsm`].
//!
//! And the card-side flows: [`internal_authenticate`] (is the card genuine?) and
//! [`external_authenticate`] (prove the terminal holds a key, e.g. RKSSSE before
//! reading a 3.0 card's basic information).

use core::fmt;

use sscard_apdu::command::SHORT_RESPONSE_MAX;
use sscard_apdu::trace::Trace;
use sscard_apdu::{CommandBuilder, Exchange, Transport};
use sscard_crypto::auth;
use sscard_crypto::kdf::{DivPath, KeyScheme};
use sscard_crypto::keys::{Algorithm, AnyKey, Des3Key, Sm4Key, SymError};
use sscard_fs::keys::KeySet;

use crate::{transact, ReadError, Step};

/// What a security module needs to know about the card.
#[derive(Clone, Copy, Debug)]
pub struct CardContext<'a> {
    /// The card's ATR (its last 8 bytes are the card diversification factor).
    pub atr: &'a [u8],
    /// 卡识别码 (its first 6 characters give the city and province factors).
    pub card_id: &'a str,
    /// The card's symmetric algorithm (from the SSSE FCI's algorithm identifier).
    pub algorithm: Algorithm,
}

/// Computes authentication cryptograms for a card's keys.
pub trait SecurityModule {
    /// The module's error.
    type Error: fmt::Debug + fmt::Display;

    /// The 8-byte cryptogram of `plain` under the process key of the card's key
    /// `card_key` for the process factor `factor` (a card challenge).
    fn cryptogram(
        &mut self,
        card: &CardContext<'_>,
        card_key: u8,
        factor: &[u8; 8],
        plain: &[u8; 8],
    ) -> Result<[u8; 8], Self::Error>;
}

impl<S: SecurityModule + ?Sized> SecurityModule for &mut S {
    type Error = S::Error;
    fn cryptogram(
        &mut self,
        card: &CardContext<'_>,
        card_key: u8,
        factor: &[u8; 8],
        plain: &[u8; 8],
    ) -> Result<[u8; 8], Self::Error> {
        (**self).cryptogram(card, card_key, factor, plain)
    }
}

/// A security module that can also protect PIN transport: encrypt under, and MAC with,
/// the process key of a card key (the `BF DE` + `80 FA 00 00` / `80 FA 05 00` operations
/// of a PSAM, `spec/sscard.md` §3.5).
pub trait SecureTransport: SecurityModule {
    /// Encrypts whole blocks of `data` in place (ECB) under the process key of
    /// `card_key` for `factor`.
    fn encrypt(
        &mut self,
        card: &CardContext<'_>,
        card_key: u8,
        factor: &[u8; 8],
        data: &mut [u8],
    ) -> Result<(), Self::Error>;

    /// The PSAM MAC (8 bytes; the card checks the first 4) of `data`, padded `80 00…`,
    /// zero IV, under the process key of `card_key` for `factor`.
    fn mac(
        &mut self,
        card: &CardContext<'_>,
        card_key: u8,
        factor: &[u8; 8],
        data: &[u8],
    ) -> Result<[u8; 8], Self::Error>;
}

/// Why a software key operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SoftKeysError {
    /// The key set has no key with this card key id.
    UnknownKey(u8),
    /// The card data cannot be used for diversification, or the cipher failed.
    Crypto(SymError),
}

impl fmt::Display for SoftKeysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownKey(id) => write!(f, "no key {id:02X} in the key set"),
            Self::Crypto(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for SoftKeysError {}

/// Master keys in memory with a key scheme.
pub struct SoftKeys<K> {
    keys: KeySet,
    scheme: K,
}

impl<K: KeyScheme> SoftKeys<K> {
    /// Software keys from a key set (e.g. `apdu-specs/keys/emulation.json`) and a scheme.
    pub fn new(keys: KeySet, scheme: K) -> Self {
        Self { keys, scheme }
    }

    /// The card's own key `card_key`: the master diversified for this card over the
    /// levels of the key's usage byte.
    pub fn card_key(&self, card: &CardContext<'_>, card_key: u8) -> Result<AnyKey, SoftKeysError> {
        let entry = self
            .keys
            .by_card_key(card_key)
            .ok_or(SoftKeysError::UnknownKey(card_key))?;
        let master = match card.algorithm {
            Algorithm::Des3 => AnyKey::Des3(Des3Key::from_double(*entry.des3)),
            Algorithm::Sm4 => AnyKey::Sm4(Sm4Key::from_bytes(*entry.sm4)),
            _ => return Err(SoftKeysError::Crypto(SymError::WrongAlgorithm)),
        };
        let path = DivPath::from_card(card.atr, card.card_id, entry.levels())
            .map_err(SoftKeysError::Crypto)?;
        self.scheme
            .diversify(&master, &path)
            .map_err(SoftKeysError::Crypto)
    }
}

impl<K> fmt::Debug for SoftKeys<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SoftKeys({} keys)", self.keys.keys().len())
    }
}

impl<K: KeyScheme> SecurityModule for SoftKeys<K> {
    type Error = SoftKeysError;

    fn cryptogram(
        &mut self,
        card: &CardContext<'_>,
        card_key: u8,
        factor: &[u8; 8],
        plain: &[u8; 8],
    ) -> Result<[u8; 8], Self::Error> {
        let key = self.card_key(card, card_key)?;
        auth::cryptogram(&self.scheme, &key, factor, plain).map_err(SoftKeysError::Crypto)
    }
}

impl<K: KeyScheme> SecureTransport for SoftKeys<K> {
    fn encrypt(
        &mut self,
        card: &CardContext<'_>,
        card_key: u8,
        factor: &[u8; 8],
        data: &mut [u8],
    ) -> Result<(), Self::Error> {
        let key = self.card_key(card, card_key)?;
        let process = self
            .scheme
            .process_key(&key, factor)
            .map_err(SoftKeysError::Crypto)?;
        process.ecb_encrypt(data).map_err(SoftKeysError::Crypto)
    }

    fn mac(
        &mut self,
        card: &CardContext<'_>,
        card_key: u8,
        factor: &[u8; 8],
        data: &[u8],
    ) -> Result<[u8; 8], Self::Error> {
        let key = self.card_key(card, card_key)?;
        let process = self
            .scheme
            .process_key(&key, factor)
            .map_err(SoftKeysError::Crypto)?;
        let iv = [0u8; 16];
        let iv = iv.get(..process.block_len()).unwrap_or_default();
        sscard_crypto::mac::psam_mac(&process, iv, data).map_err(SoftKeysError::Crypto)
    }
}

/// Why an authentication failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum AuthError<E, S> {
    /// The card exchange failed or the card refused a command.
    Card(ReadError<E>),
    /// The security module failed.
    Module(S),
    /// The card's internal-authentication answer is wrong: not a genuine card (or not
    /// keyed with the module's keys).
    NotGenuine,
    /// The new PIN is not acceptable for the card's PIN block.
    BadPin,
}

impl<E: fmt::Display, S: fmt::Display> fmt::Display for AuthError<E, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Card(e) => write!(f, "{e}"),
            Self::Module(e) => write!(f, "security module: {e}"),
            Self::NotGenuine => {
                f.write_str("internal authentication failed: the card is not genuine")
            }
            Self::BadPin => f.write_str("the new PIN does not fit the card's PIN block"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display, S: fmt::Debug + fmt::Display> core::error::Error
    for AuthError<E, S>
{
}

impl<E, S> From<ReadError<E>> for AuthError<E, S> {
    fn from(e: ReadError<E>) -> Self {
        Self::Card(e)
    }
}

/// `a ‖ b`.
fn concat(a: &[u8; 8], b: &[u8; 8]) -> [u8; 16] {
    let ([a0, a1, a2, a3, a4, a5, a6, a7], [b0, b1, b2, b3, b4, b5, b6, b7]) = (*a, *b);
    [
        a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7,
    ]
}

/// GET CHALLENGE (8 bytes).
pub fn get_challenge<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
) -> Result<[u8; 8], ReadError<T::Error>> {
    let mut buf = [0u8; 16];
    let data = transact(
        ex,
        &CommandBuilder::new(0x00, 0x84, 0x00, 0x00).le(8),
        &mut buf,
        Step::GetChallenge,
    )?;
    <[u8; 8]>::try_from(data).map_err(|_| ReadError::BadRecord(Step::GetChallenge))
}

/// INTERNAL AUTHENTICATE with the card's key `card_key` (`00`: IRK): the card encrypts
/// `nonce` (the terminal's random plain data) under the process key for a fresh card
/// challenge, and the module checks the answer (`spec/sscard.md` §3.4).
pub fn internal_authenticate<T, R, M>(
    ex: &mut Exchange<T, R>,
    module: &mut M,
    card: &CardContext<'_>,
    card_key: u8,
    nonce: &[u8; 8],
) -> Result<(), AuthError<T::Error, M::Error>>
where
    T: Transport,
    R: Trace,
    M: SecurityModule + ?Sized,
{
    let factor = get_challenge(ex)?;
    let data = concat(&factor, nonce);
    let mut buf = [0u8; SHORT_RESPONSE_MAX];
    let cmd = CommandBuilder::new(0x00, 0x88, 0x00, card_key)
        .data(&data)
        .le(8);
    let answer = transact(ex, &cmd, &mut buf, Step::InternalAuth)?;
    let expected = module
        .cryptogram(card, card_key, &factor, nonce)
        .map_err(AuthError::Module)?;
    // Some cards answer a whole SM4 block; the first 8 bytes are the cryptogram.
    match answer.get(..8) {
        Some(got) if got == expected => Ok(()),
        _ => Err(AuthError::NotGenuine),
    }
}

/// EXTERNAL AUTHENTICATE with the card's key `card_key`: GET CHALLENGE, the module's
/// cryptogram of the challenge (used as both process factor and plain data, as field
/// code does), then `00 82 00 <key> 10 C ‖ P`.
pub fn external_authenticate<T, R, M>(
    ex: &mut Exchange<T, R>,
    module: &mut M,
    card: &CardContext<'_>,
    card_key: u8,
) -> Result<(), AuthError<T::Error, M::Error>>
where
    T: Transport,
    R: Trace,
    M: SecurityModule + ?Sized,
{
    let challenge = get_challenge(ex)?;
    let c = module
        .cryptogram(card, card_key, &challenge, &challenge)
        .map_err(AuthError::Module)?;
    let data = concat(&c, &challenge);
    let mut buf = [0u8; 8];
    let cmd = CommandBuilder::new(0x00, 0x82, 0x00, card_key).data(&data);
    transact(ex, &cmd, &mut buf, Step::ExternalAuth(card_key))?;
    Ok(())
}

/// The card key ids of the PIN-unblock key (PUK) and the secure-transport key (STK),
/// from the profile.
pub(crate) fn pin_keys(profile: &sscard_fs::Profile) -> Option<(u8, u8)> {
    let find = |usage| {
        profile
            .nodes()
            .iter()
            .flat_map(|n| n.keys.iter())
            .find(|k| k.usage == usage)
            .map(|k| k.id)
    };
    Some((
        find(sscard_fs::profile::KeyUsage::PinUnblock)?,
        find(sscard_fs::profile::KeyUsage::SecureTransport)?,
    ))
}

/// RELOAD PIN (重装, `spec/sscard.md` §3.5): external authentication with the PUK, a
/// fresh challenge, the card PIN block of `new_pin` encrypted and the command MAC'd
/// under the STK's process key for that challenge, then `84 24 00 01 Lc EncPIN ‖ MAC`.
/// Resets the try counter. The SSSE must be selected.
pub fn reload_pin<T, R, M>(
    ex: &mut Exchange<T, R>,
    profile: &sscard_fs::Profile,
    module: &mut M,
    card: &CardContext<'_>,
    new_pin: &crate::Pin,
) -> Result<(), AuthError<T::Error, M::Error>>
where
    T: Transport,
    R: Trace,
    M: SecureTransport + ?Sized,
{
    let (puk, stk) = pin_keys(profile).ok_or(ReadError::Profile)?;
    external_authenticate(ex, module, card, puk)?;
    let factor = get_challenge(ex)?;
    let pin = sscard_crypto::pin::Pin::new(new_pin.digits()).map_err(|_| AuthError::BadPin)?;
    let mut block = zeroize::Zeroizing::new([0u8; 16]);
    let n = pin
        .write_card_block(card.algorithm, &mut *block)
        .map_err(|_| AuthError::BadPin)?;
    let enc = block.get_mut(..n).ok_or(AuthError::BadPin)?;
    module
        .encrypt(card, stk, &factor, enc)
        .map_err(AuthError::Module)?;
    let lc = u8::try_from(n + 4).map_err(|_| AuthError::BadPin)?;
    let mut mac_data = zeroize::Zeroizing::new([0u8; 21]);
    let header = [0x84, 0x24, 0x00, 0x01, lc];
    for (dst, src) in mac_data.iter_mut().zip(header.iter().chain(enc.iter())) {
        *dst = *src;
    }
    let mac = module
        .mac(
            card,
            stk,
            &factor,
            mac_data.get(..5 + n).unwrap_or_default(),
        )
        .map_err(AuthError::Module)?;
    let mut data = zeroize::Zeroizing::new([0u8; 20]);
    for (dst, src) in data.iter_mut().zip(enc.iter().chain(mac.iter().take(4))) {
        *dst = *src;
    }
    let body = data.get(..n + 4).unwrap_or_default();
    let mut buf = [0u8; 8];
    transact(
        ex,
        &CommandBuilder::new(0x84, 0x24, 0x00, 0x01).data(body),
        &mut buf,
        Step::PinReload,
    )?;
    Ok(())
}

/// UNBLOCK PIN (解锁): external authentication with the PUK, a fresh challenge, then
/// `84 24 00 00 04 MAC` with the MAC over the header under the STK's process key.
pub fn unblock_pin<T, R, M>(
    ex: &mut Exchange<T, R>,
    profile: &sscard_fs::Profile,
    module: &mut M,
    card: &CardContext<'_>,
) -> Result<(), AuthError<T::Error, M::Error>>
where
    T: Transport,
    R: Trace,
    M: SecureTransport + ?Sized,
{
    let (puk, stk) = pin_keys(profile).ok_or(ReadError::Profile)?;
    external_authenticate(ex, module, card, puk)?;
    let factor = get_challenge(ex)?;
    let mac = module
        .mac(card, stk, &factor, &[0x84, 0x24, 0x00, 0x00, 0x04])
        .map_err(AuthError::Module)?;
    let mut buf = [0u8; 8];
    let cmd = CommandBuilder::new(0x84, 0x24, 0x00, 0x00).data(mac.get(..4).unwrap_or_default());
    transact(ex, &cmd, &mut buf, Step::PinReload)?;
    Ok(())
}
