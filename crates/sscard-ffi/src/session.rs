//! The card session behind the C functions: the configuration, the card profile, the
//! security module, the PC/SC context or the emulated card, and an HSM Step 1 waiting
//! for its Step 2. One session per process, behind one mutex (`crate::exports`).

use std::os::raw::c_int;
use std::time::{Duration, Instant};

use sscard_apdu::Status;
use sscard_apdu::{Exchange, Reader, Transport, TransportError, TransportErrorKind};
use sscard_crypto::kdf::EmulationScheme;
use sscard_crypto::keys::SymError;
use sscard_emu::reader::EmulatedReaderError;
use sscard_emu::{EmulatedReader, Runtime, SsCard};
use sscard_fs::keys::KeySet;
use sscard_fs::{Image, Profile};
use sscard_pcsc::{Disposition, PcscCard, PcscError, Readers};
use sscard_ssse::hsm::{HsmPending, PinPending};
use sscard_ssse::psam::{KeyMap, Psam, PsamError, PsamStep};
use sscard_ssse::security::{
    CardContext, SecureTransport, SecurityModule, SoftKeys, SoftKeysError,
};

use crate::codes::{
    Failure, ModuleCode, Outcome, SSCARD_E_CARD_ID_FORMAT, SSCARD_E_CONFIG, SSCARD_E_INTERNAL,
    SSCARD_E_KEY_LEVEL, SSCARD_E_NO_CARD, SSCARD_E_NO_PSAM, SSCARD_E_PARAM,
    SSCARD_E_PSAM_ALGORITHM, SSCARD_E_PSAM_NO_RKSSSE, SSCARD_E_READER,
};
use crate::config::{Config, Mode, ReaderChoice, Security};

/// The reader name the emulated mode reports.
pub const EMULATED_READER: &str = "sscard emulated card";

/// A card of either kind.
#[derive(Debug)]
pub enum Conn {
    /// The emulated card, in process.
    Emulated(Box<EmulatedReader<SsCard>>),
    /// A card in a PC/SC reader.
    Pcsc(PcscCard),
}

/// Errors of either kind of card.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// The in-process reader.
    #[error(transparent)]
    Emulated(#[from] EmulatedReaderError),
    /// PC/SC.
    #[error(transparent)]
    Pcsc(#[from] PcscError),
}

impl TransportError for ConnError {
    fn kind(&self) -> TransportErrorKind {
        match self {
            Self::Emulated(e) => e.kind(),
            Self::Pcsc(e) => e.kind(),
        }
    }
}

impl Transport for Conn {
    type Error = ConnError;

    fn transmit(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, Self::Error> {
        Ok(match self {
            Self::Emulated(r) => r.transmit(command, response)?,
            Self::Pcsc(c) => c.transmit(command, response)?,
        })
    }
}

/// An open card.
#[derive(Debug)]
pub struct Opened {
    /// The exchange over it.
    pub ex: Exchange<Conn>,
    /// Its answer to reset.
    pub atr: Vec<u8>,
    /// The reader's name.
    pub reader: String,
}

/// Why the security module could not compute something.
#[derive(Debug)]
#[non_exhaustive]
pub enum ModuleError {
    /// No security module is configured.
    NoModule,
    /// The configured PSAM could not be reached or refused a step.
    Psam(PsamError<PcscError>),
    /// The configured PSAM reader is not there (name, part of a name).
    PsamReader(String),
    /// The software keys failed.
    Soft(SoftKeysError),
}

impl std::fmt::Display for ModuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoModule => f.write_str(
                "没有PSAM (no PSAM or other security module configured: use the HSM steps)",
            ),
            Self::Psam(e) => write!(f, "PSAM: {e}"),
            Self::PsamReader(e) => write!(f, "没有PSAM (PSAM reader: {e})"),
            Self::Soft(e) => write!(f, "emulation test keys: {e}"),
        }
    }
}

impl ModuleCode for ModuleError {
    fn code(&self) -> std::os::raw::c_long {
        match self {
            Self::NoModule | Self::PsamReader(_) => SSCARD_E_NO_PSAM,
            Self::Psam(
                PsamError::NoEnvironment
                | PsamError::AlgorithmMismatch { .. }
                | PsamError::Diversification(SymError::WrongAlgorithm),
            ) => SSCARD_E_PSAM_ALGORITHM,
            Self::Psam(
                PsamError::UnknownKey(_)
                | PsamError::Status(PsamStep::InitKey { .. }, Status::ReferencedDataNotFound),
            ) => SSCARD_E_PSAM_NO_RKSSSE,
            // Unreachable, mute or refusing PSAMs: the application's cue for the HSM steps.
            Self::Psam(_) => SSCARD_E_NO_PSAM,
            Self::Soft(SoftKeysError::UnknownKey(_)) => SSCARD_E_KEY_LEVEL,
            Self::Soft(SoftKeysError::Crypto(
                SymError::WrongAlgorithm | SymError::UnsupportedAlgorithm { .. },
            )) => SSCARD_E_PSAM_ALGORITHM,
            Self::Soft(SoftKeysError::Crypto(_)) => SSCARD_E_CARD_ID_FORMAT,
            _ => SSCARD_E_INTERNAL,
        }
    }
}

/// The security module the configuration names.
pub enum Module {
    /// None.
    None,
    /// A PSAM in a PC/SC reader, connected on first use and kept for later calls.
    Psam(Box<PsamSlot>),
    /// The fictional emulation test keys: they open only emulated cards. Not for
    /// production.
    EmulationTestKeys(SoftKeys<EmulationScheme>),
}

/// The PSAM's reader and, once used, the open PSAM (its DF01 selected, terminal number
/// read). A failed step drops the connection, so the next call reconnects (a PSAM
/// reset by another process, a reader unplugged and back).
pub struct PsamSlot {
    choice: String,
    readers: Readers,
    open: Option<Psam<PcscCard>>,
}

impl PsamSlot {
    fn psam(&mut self) -> Result<&mut Psam<PcscCard>, ModuleError> {
        if self.open.is_none() {
            let names = self
                .readers
                .list()
                .map_err(|e| ModuleError::PsamReader(e.to_string()))?;
            let name = resolve_reader(&names, &self.choice).map_err(ModuleError::PsamReader)?;
            let card = self
                .readers
                .connect(&name)
                .map_err(|e| ModuleError::PsamReader(format!("{name}: {e}")))?;
            let profile = Profile::from_json(sscard_fs::PSAM_PROFILE_JSON)
                .map_err(|e| ModuleError::PsamReader(format!("built-in PSAM profile: {e}")))?;
            let keys = KeySet::from_json(sscard_fs::EMULATION_KEYS_JSON)
                .map_err(|e| ModuleError::PsamReader(format!("built-in key map: {e}")))?;
            let psam = Psam::open(Exchange::new(card), &profile, KeyMap::from_key_set(&keys))
                .map_err(ModuleError::Psam)?;
            self.open = Some(psam);
        }
        self.open
            .as_mut()
            .ok_or_else(|| ModuleError::PsamReader("not open".into()))
    }

    /// Runs `f` on the PSAM; a failure closes it (the next call reconnects).
    fn with<T>(
        &mut self,
        f: impl FnOnce(&mut Psam<PcscCard>) -> Result<T, PsamError<PcscError>>,
    ) -> Result<T, ModuleError> {
        let result = f(self.psam()?).map_err(ModuleError::Psam);
        if result.is_err() {
            self.open = None;
        }
        result
    }
}

/// The reader `want` names among `names`: the exact name, else the only name that
/// contains it (case-insensitive).
fn resolve_reader(names: &[String], want: &str) -> Result<String, String> {
    if names.iter().any(|n| n == want) {
        return Ok(want.to_string());
    }
    let lower = want.to_lowercase();
    let matching: Vec<&String> = names
        .iter()
        .filter(|n| n.to_lowercase().contains(&lower))
        .collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(format!(
            "no reader named {want:?} (readers: {})",
            names.join(", ")
        )),
        _ => Err(format!(
            "several readers match {want:?} (readers: {})",
            names.join(", ")
        )),
    }
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("Module::None"),
            Self::Psam(slot) => write!(
                f,
                "Module::Psam({:?}, {})",
                slot.choice,
                if slot.open.is_some() {
                    "open"
                } else {
                    "not open"
                }
            ),
            Self::EmulationTestKeys(_) => f.write_str("Module::EmulationTestKeys"),
        }
    }
}

impl Module {
    fn from_config(config: &Config) -> Outcome<Self> {
        Ok(match config.effective_security() {
            Security::Psam => Self::Psam(Box::new(PsamSlot {
                choice: config.psam_reader.clone().unwrap_or_default(),
                readers: Readers::new(),
                open: None,
            })),
            Security::EmulationTestKeys => {
                let keys = KeySet::from_json(sscard_fs::EMULATION_KEYS_JSON)
                    .map_err(|e| Failure::new(SSCARD_E_INTERNAL, e.to_string()))?;
                Self::EmulationTestKeys(SoftKeys::new(keys, EmulationScheme))
            }
            Security::None | Security::Auto => Self::None,
        })
    }

    /// Connects the configured PSAM if it is not yet (nothing to do for other modules).
    pub fn prepare(&mut self) -> Result<(), ModuleError> {
        match self {
            Self::Psam(slot) => slot.psam().map(|_| ()),
            _ => Ok(()),
        }
    }

    /// 终端机编号 from the PSAM, once connected (`None` without one: iReadCardBas then
    /// says `000000000000`).
    pub fn terminal_number(&self) -> Option<&str> {
        match self {
            Self::Psam(slot) => slot.open.as_ref().map(|p| p.terminal_number()),
            _ => None,
        }
    }
}

impl SecurityModule for Module {
    type Error = ModuleError;

    fn cryptogram(
        &mut self,
        card: &CardContext<'_>,
        card_key: u8,
        factor: &[u8; 8],
        plain: &[u8; 8],
    ) -> Result<[u8; 8], Self::Error> {
        match self {
            Self::EmulationTestKeys(k) => k
                .cryptogram(card, card_key, factor, plain)
                .map_err(ModuleError::Soft),
            Self::Psam(slot) => slot.with(|p| p.cryptogram(card, card_key, factor, plain)),
            Self::None => Err(ModuleError::NoModule),
        }
    }
}

impl SecureTransport for Module {
    fn encrypt(
        &mut self,
        card: &CardContext<'_>,
        card_key: u8,
        factor: &[u8; 8],
        data: &mut [u8],
    ) -> Result<(), Self::Error> {
        match self {
            Self::EmulationTestKeys(k) => k
                .encrypt(card, card_key, factor, data)
                .map_err(ModuleError::Soft),
            Self::Psam(slot) => slot.with(|p| p.encrypt(card, card_key, factor, data)),
            Self::None => Err(ModuleError::NoModule),
        }
    }

    fn mac(
        &mut self,
        card: &CardContext<'_>,
        card_key: u8,
        factor: &[u8; 8],
        data: &[u8],
    ) -> Result<[u8; 8], Self::Error> {
        match self {
            Self::EmulationTestKeys(k) => k
                .mac(card, card_key, factor, data)
                .map_err(ModuleError::Soft),
            Self::Psam(slot) => slot.with(|p| p.mac(card, card_key, factor, data)),
            Self::None => Err(ModuleError::NoModule),
        }
    }
}

/// An HSM Step 1 waiting for its Step 2 (the card stays connected in between).
#[derive(Debug)]
pub struct PendingHsm {
    /// The card.
    pub opened: Opened,
    /// What the next step needs.
    pub state: HsmState,
}

/// Which HSM flow is waiting for its next step.
#[derive(Debug)]
pub enum HsmState {
    /// iReadCardBas_HSM: Step 2 next.
    Basic(HsmPending),
    /// iReloadPIN_HSM / iUnblockPIN_HSM: Step 2 or Step 3 next.
    Pin(PinPending),
}

/// The process's card session.
#[derive(Debug)]
pub struct Session {
    /// The configuration.
    pub config: Config,
    /// The card profile.
    pub profile: Profile,
    /// The security module.
    pub module: Module,
    readers: Readers,
    emulated: Option<Box<EmulatedReader<SsCard>>>,
    /// An HSM Step 1 waiting for Step 2.
    pub pending: Option<PendingHsm>,
}

fn config_failure(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::new(SSCARD_E_CONFIG, format!("{what}: {e}"))
}

/// The contact or contactless side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Interface {
    Contact,
    Contactless,
}

/// The interfaces iType asks for, in order (`spec/sscard.md` §4.2).
fn interfaces(itype: c_int) -> Outcome<&'static [Interface]> {
    use Interface::{Contact, Contactless};
    Ok(match itype {
        1 => &[Contact],
        2 => &[Contactless],
        3 => &[Contact, Contactless],
        4 => &[Contactless, Contact],
        _ => {
            return Err(Failure::new(
                SSCARD_E_PARAM,
                format!("iType {itype}: want 1 (contact), 2 (contactless), 3 or 4 (auto)"),
            ))
        }
    })
}

fn pcsc_failure(e: &PcscError) -> Failure {
    let code = match e {
        PcscError::NoCard { .. } => SSCARD_E_NO_CARD,
        PcscError::Pcsc(
            sscard_pcsc::pcsc::Error::NoSmartcard | sscard_pcsc::pcsc::Error::RemovedCard,
        ) => SSCARD_E_NO_CARD,
        _ => SSCARD_E_READER,
    };
    let label = if code == SSCARD_E_NO_CARD {
        "无卡 (no card)"
    } else {
        "读卡器连接错 (reader)"
    };
    Failure::new(code, format!("{label}: {e}"))
}

impl Session {
    /// A session for `config` (nothing is connected yet).
    pub fn new(config: Config) -> Outcome<Self> {
        let profile = sscard_fs::builtin_profile()
            .map_err(|e| Failure::new(SSCARD_E_INTERNAL, format!("built-in profile: {e}")))?;
        let module = Module::from_config(&config)?;
        Ok(Self {
            config,
            profile,
            module,
            readers: Readers::new(),
            emulated: None,
            pending: None,
        })
    }

    /// Closes a waiting HSM Step 1 (any other call makes it void: its challenge is gone).
    pub fn discard_pending(&mut self) {
        if let Some(p) = self.pending.take() {
            self.close(p.opened);
        }
    }

    fn emulated_card(&mut self) -> Outcome<Box<EmulatedReader<SsCard>>> {
        if let Some(slot) = self.emulated.take() {
            return Ok(slot);
        }
        let image = match &self.config.emulated_image {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    config_failure(&format!("emulated_image {}", path.display()), e)
                })?;
                Image::from_json(&text)
                    .map_err(|e| config_failure(&format!("emulated_image {}", path.display()), e))?
            }
            None => sscard_fs::sample_image()
                .map_err(|e| Failure::new(SSCARD_E_INTERNAL, e.to_string()))?,
        };
        let card =
            SsCard::new(&self.profile, &image).map_err(|e| config_failure("emulated_image", e))?;
        Ok(Box::new(EmulatedReader::new(Runtime::new(card))))
    }

    /// Connects to the card iType (or the configured override) names.
    pub fn open(&mut self, itype: c_int) -> Outcome<Opened> {
        let itype = self.config.itype.unwrap_or(itype);
        let order = interfaces(itype)?;
        if self.config.mode == Mode::Emulated {
            let mut slot = self.emulated_card()?;
            // Every call starts from a fresh reset, as with a real reader.
            slot.runtime().reset();
            let mut atr = [0u8; 33];
            let n = slot
                .atr(&mut atr)
                .map_err(|e| Failure::new(SSCARD_E_INTERNAL, e.to_string()))?;
            return Ok(Opened {
                atr: atr.get(..n).unwrap_or_default().to_vec(),
                ex: Exchange::new(Conn::Emulated(slot)),
                reader: EMULATED_READER.into(),
            });
        }
        let mut last = None;
        let mut tried: Vec<String> = Vec::new();
        for iface in order {
            let choice = match iface {
                Interface::Contact => self.config.reader.clone(),
                Interface::Contactless => self
                    .config
                    .contactless_reader
                    .clone()
                    .unwrap_or_else(|| self.config.reader.clone()),
            };
            let name = match self.find_reader(&choice) {
                Ok(name) => name,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            if tried.contains(&name) {
                continue;
            }
            tried.push(name.clone());
            match self
                .readers
                .wait_for_card(Some(&name), self.config.card_wait)
            {
                Ok(_) => {}
                Err(e) => {
                    last = Some(pcsc_failure(&e));
                    continue;
                }
            }
            let card = self.readers.connect(&name).map_err(|e| pcsc_failure(&e))?;
            return Ok(Opened {
                atr: card.cached_atr().to_vec(),
                ex: Exchange::new(Conn::Pcsc(card)),
                reader: name,
            });
        }
        Err(last.unwrap_or_else(|| Failure::new(SSCARD_E_NO_CARD, "无卡 (no card)")))
    }

    /// Gives a card back: the emulated one stays in the session, a PC/SC card is reset
    /// (so no PIN or key authentication outlives the call) and disconnected.
    pub fn close(&mut self, opened: Opened) {
        let (conn, _) = opened.ex.into_parts();
        match conn {
            Conn::Emulated(slot) => self.emulated = Some(slot),
            Conn::Pcsc(card) => {
                // On failure the card is dropped, which leaves it as it is.
                let _ = card.disconnect(Disposition::ResetCard);
            }
        }
    }

    /// The name of the contact reader (iGetReaderInfo): as configured, else the only
    /// reader holding a card, else the first reader that is not the PSAM's.
    pub fn reader_name(&mut self) -> Outcome<String> {
        if self.config.mode == Mode::Emulated {
            return Ok(EMULATED_READER.into());
        }
        let choice = self.config.reader.clone();
        match self.find_reader(&choice) {
            Ok(name) => Ok(name),
            Err(e) if choice == ReaderChoice::Auto && e.code == SSCARD_E_NO_CARD => {
                let psam = self.config.psam_reader.clone();
                self.readers
                    .list()
                    .map_err(|e| pcsc_failure(&e))?
                    .into_iter()
                    .find(|n| Some(n) != psam.as_ref())
                    .ok_or_else(|| Failure::new(SSCARD_E_READER, "没有读卡器 (no PC/SC reader)"))
            }
            Err(e) => Err(e),
        }
    }

    /// Resolves a reader choice to a reader name.
    fn find_reader(&mut self, choice: &ReaderChoice) -> Outcome<String> {
        let names = self.readers.list().map_err(|e| pcsc_failure(&e))?;
        let listed = || names.join(", ");
        match choice {
            ReaderChoice::Name(want) => {
                resolve_reader(&names, want).map_err(|e| Failure::new(SSCARD_E_READER, e))
            }
            ReaderChoice::Index(i) => names.get(*i).cloned().ok_or_else(|| {
                Failure::new(
                    SSCARD_E_READER,
                    format!("no reader with index {i} (readers: {})", listed()),
                )
            }),
            ReaderChoice::Auto => {
                let psam = self.config.psam_reader.clone();
                let deadline = Instant::now() + self.config.card_wait;
                loop {
                    let with_card: Vec<String> = self
                        .readers
                        .with_card()
                        .map_err(|e| pcsc_failure(&e))?
                        .into_iter()
                        .filter(|n| Some(n) != psam.as_ref())
                        .collect();
                    match with_card.as_slice() {
                        [one] => return Ok(one.clone()),
                        [] if Instant::now() < deadline => {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        [] => {
                            return Err(Failure::new(
                                SSCARD_E_NO_CARD,
                                format!("无卡 (no card in any reader: {})", listed()),
                            ))
                        }
                        _ => {
                            return Err(Failure::new(
                                SSCARD_E_READER,
                                format!(
                                    "several readers hold a card ({}): configure reader",
                                    with_card.join(", ")
                                ),
                            ))
                        }
                    }
                }
            }
        }
    }
}
