//! Opening a card: the built-in emulator in process, or a PC/SC reader; and the PSAM
//! that authenticates 3rd-generation cards (in another PC/SC reader, or in process).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use sscard_apdu::trace::{Trace, TracedCommand, TracedResponse};
use sscard_apdu::{Exchange, Reader, Transport, TransportError, TransportErrorKind};
use sscard_crypto::keys::Algorithm;
use sscard_emu::pboc::{PbocApp, PbocFileJournal};
use sscard_emu::reader::EmulatedReaderError;
use sscard_emu::{DualCard, EmulatedPsam, EmulatedReader, Runtime, SsCard};
use sscard_fs::keys::KeySet;
use sscard_fs::{Image, Profile};
use sscard_pcsc::{PcscCard, PcscError, Readers};
use sscard_ssse::psam::{KeyMap, Psam};

/// Where the card is: `--reader NAME` / the only reader with a card, or `--emulated`.
#[derive(clap::Args, Debug, Clone)]
pub struct CardArgs {
    /// PC/SC reader to use (default: the only reader holding a card).
    #[arg(long, conflicts_with = "emulated")]
    pub reader: Option<String>,
    /// Use the built-in emulated card in process instead of a reader.
    #[arg(long)]
    pub emulated: bool,
    /// Card image for --emulated (default: the built-in sample card).
    #[arg(long, requires = "emulated")]
    pub image: Option<PathBuf>,
    /// Seconds to wait for a card to be inserted.
    #[arg(long, default_value_t = 0.0)]
    pub wait: f64,
    /// Print every APDU to stderr (PINs and keys redacted).
    #[arg(long)]
    pub trace: bool,
}

/// The PSAM that authenticates 3rd-generation cards before reading.
#[derive(clap::Args, Debug, Clone)]
pub struct PsamArgs {
    /// PC/SC reader holding the PSAM (sx1 or sx3 environment); 3.0 cards are
    /// authenticated through it before their basic information is read.
    #[arg(long, value_name = "READER", conflicts_with_all = ["emulated_psam", "items"])]
    pub psam: Option<String>,
    /// Use the built-in emulated PSAM in process (with --emulated), in the environment
    /// of the card image's algorithm (01: sx1, 03: sx3).
    #[arg(long, requires = "emulated", conflicts_with = "items")]
    pub emulated_psam: bool,
}

/// The built-in profile.
pub fn profile() -> Result<Profile> {
    sscard_fs::builtin_profile().context("built-in card profile")
}

/// A card image from a file, or the built-in sample.
pub fn load_image(path: Option<&Path>) -> Result<Image> {
    let image = match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read card image {}", path.display()))?;
            Image::from_json(&text).with_context(|| format!("card image {}", path.display()))?
        }
        None => sscard_fs::sample_image().context("built-in sample image")?,
    };
    Ok(image)
}

/// The algorithm of a card image (its algorithm identifier: `03` SM4, otherwise 3DES).
pub fn image_algorithm(image: &Image) -> Algorithm {
    match image.algorithm_id_byte() {
        Ok(Some(0x03)) => Algorithm::Sm4,
        _ => Algorithm::Des3,
    }
}

/// The emulated card of an image file (or the built-in sample).
pub fn build_card(path: Option<&Path>) -> Result<DualCard> {
    build_card_with_state(path, None)
}

/// The emulated card: the social-security application from the card image and the
/// PBOC bank application from `apdu-specs/pboc/card.json` (TEST keys and PKI). With
/// `state`, both keep their state across restarts: the SSCard's in `state`, the bank
/// application's in `state` + `.bank`, each committed atomically.
pub fn build_card_with_state(path: Option<&Path>, state: Option<&Path>) -> Result<DualCard> {
    let image = load_image(path)?;
    let what = path.map_or_else(
        || "built-in sample image".into(),
        |p| p.display().to_string(),
    );
    let social = SsCard::new(&profile()?, &image).with_context(|| format!("card image {what}"))?;
    let bank = PbocApp::builtin(Box::new(sscard_emu::cos::OsEntropy))
        .context("built-in bank application (apdu-specs/pboc/card.json)")?;
    let Some(state) = state else {
        return Ok(DualCard::new(social, bank));
    };
    let restore = sscard_emu::persist::FileJournal::load(state)
        .with_context(|| format!("card state {}", state.display()))?;
    let journal = Box::new(sscard_emu::persist::FileJournal::new(state));
    let social = social
        .persistent(journal, restore)
        .with_context(|| format!("card state {}", state.display()))?;
    let bank_path = bank_state_path(state);
    let restore = PbocFileJournal::load(&bank_path)
        .with_context(|| format!("bank state {}", bank_path.display()))?;
    let bank = bank
        .persistent(Box::new(PbocFileJournal::new(&bank_path)), restore)
        .with_context(|| format!("bank state {}", bank_path.display()))?;
    Ok(DualCard::new(social, bank))
}

/// Where the bank application's state lives beside the SSCard state file.
pub fn bank_state_path(state: &Path) -> PathBuf {
    let mut name = state.as_os_str().to_owned();
    name.push(".bank");
    PathBuf::from(name)
}

/// A connected card of either kind.
pub enum Conn {
    /// In process.
    Emulated(Box<EmulatedReader<DualCard>>),
    /// The emulated PSAM in process.
    EmulatedPsam(Box<EmulatedReader<EmulatedPsam>>),
    /// Through PC/SC.
    Pcsc(PcscCard),
}

/// Errors of either backend.
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
            Self::EmulatedPsam(r) => r.transmit(command, response)?,
            Self::Pcsc(c) => c.transmit(command, response)?,
        })
    }
}

/// Prints APDUs to stderr when enabled, after a prefix (`""` for the card, `"psam"`).
pub struct StderrTrace(pub bool, pub &'static str);

impl Trace for StderrTrace {
    fn command(&mut self, command: TracedCommand<'_>) {
        if self.0 {
            eprintln!("{}> {command}", self.1);
        }
    }
    fn response(&mut self, response: TracedResponse<'_>) {
        if self.0 {
            eprintln!("{}< {response}", self.1);
        }
    }
}

/// Disconnects a PC/SC card, leaving it as it is.
fn disconnect(conn: Conn, reader: &str) {
    if let Conn::Pcsc(card) = conn {
        if let Err((_, e)) = card.disconnect(sscard_pcsc::Disposition::LeaveCard) {
            eprintln!("sscard: warning: disconnect from {reader:?} failed: {e}");
        }
    }
}

/// An open card with its reader name and ATR.
pub struct Opened {
    /// The exchange over the card.
    pub ex: Exchange<Conn, StderrTrace>,
    /// Reader name (`emulated` for the in-process card).
    pub reader: String,
    /// The answer to reset.
    pub atr: Vec<u8>,
}

impl Opened {
    /// Disconnects, leaving the card as it is.
    pub fn close(self) {
        let (conn, _) = self.ex.into_parts();
        disconnect(conn, &self.reader);
    }
}

/// An open PSAM, in its environment's DF01.
pub struct OpenedPsam {
    /// The security module.
    pub psam: Psam<Conn, StderrTrace>,
    /// Reader name (`emulated PSAM` in process).
    pub reader: String,
}

impl OpenedPsam {
    /// The environment's name.
    pub fn environment(&self) -> &'static str {
        match self.psam.algorithm() {
            Algorithm::Des3 => "sx1",
            _ => "sx3",
        }
    }

    /// Disconnects, leaving the PSAM as it is.
    pub fn close(self) {
        let (conn, _) = self.psam.into_exchange().into_parts();
        disconnect(conn, &self.reader);
    }
}

/// Opens the PSAM `psam` names, if any. Its key map is the PSAM key ids and usage
/// bytes of the emulation key set (`apdu-specs/keys/emulation.json`, the emulated
/// PSAM's layout); no master key is used.
pub fn open_psam(psam: &PsamArgs, card: &CardArgs) -> Result<Option<OpenedPsam>> {
    let (conn, reader) = if let Some(name) = &psam.psam {
        let mut readers = Readers::new();
        let pcsc = readers
            .connect(name)
            .map_err(no_service_help)
            .with_context(|| format!("cannot connect to the PSAM in {name:?}"))?;
        (Conn::Pcsc(pcsc), name.clone())
    } else if psam.emulated_psam {
        let algorithm = image_algorithm(&load_image(card.image.as_deref())?);
        let sam = EmulatedPsam::builtin(algorithm).context("built-in emulated PSAM")?;
        let slot = EmulatedReader::new(Runtime::new(sam));
        (
            Conn::EmulatedPsam(Box::new(slot)),
            "emulated PSAM".to_string(),
        )
    } else {
        return Ok(None);
    };
    let keys = KeySet::from_json(sscard_fs::EMULATION_KEYS_JSON).context("built-in key set")?;
    let profile =
        Profile::from_json(sscard_fs::PSAM_PROFILE_JSON).context("built-in PSAM profile")?;
    let ex = Exchange::with_tracer(conn, StderrTrace(card.trace, "psam"));
    let psam = Psam::open(ex, &profile, KeyMap::from_key_set(&keys))
        .with_context(|| format!("opening the PSAM in {reader:?}"))?;
    Ok(Some(OpenedPsam { psam, reader }))
}

/// Opens the card `args` names.
pub fn open(args: &CardArgs) -> Result<Opened> {
    if args.emulated {
        let card = build_card(args.image.as_deref())?;
        let mut slot = EmulatedReader::new(Runtime::new(card));
        let mut atr = [0u8; 33];
        let n = slot.atr(&mut atr)?;
        let atr = atr.get(..n).unwrap_or_default().to_vec();
        return Ok(Opened {
            ex: Exchange::with_tracer(Conn::Emulated(Box::new(slot)), StderrTrace(args.trace, "")),
            reader: "emulated".into(),
            atr,
        });
    }
    let mut readers = Readers::new();
    let wait =
        Duration::try_from_secs_f64(args.wait).context("--wait must be a number of seconds")?;
    let name = find_reader(&mut readers, args.reader.as_deref(), wait)?;
    let card = readers
        .connect(&name)
        .with_context(|| format!("cannot connect to the card in {name:?}"))?;
    let atr = card.cached_atr().to_vec();
    Ok(Opened {
        ex: Exchange::with_tracer(Conn::Pcsc(card), StderrTrace(args.trace, "")),
        reader: name,
        atr,
    })
}

fn no_service_help(e: PcscError) -> anyhow::Error {
    if matches!(e, PcscError::Pcsc(sscard_pcsc::pcsc::Error::NoService)) {
        anyhow::anyhow!(
            "no PC/SC service: looked for readers through pcscd, which is not running.\n\
             Start pcscd (with a reader, or vsmartcard's vpcd and `sscard emulate`),\n\
             or use the built-in emulated card with --emulated (e.g. sscard read --emulated)"
        )
    } else {
        e.into()
    }
}

fn find_reader(readers: &mut Readers, wanted: Option<&str>, wait: Duration) -> Result<String> {
    let names = readers.list().map_err(no_service_help)?;
    if names.is_empty() {
        bail!(
            "no PC/SC reader found (pcscd is running but lists no reader).\n\
             To use the built-in emulated card: sscard read --emulated"
        );
    }
    match readers.wait_for_card(wanted, wait) {
        Ok(name) => Ok(name),
        Err(PcscError::NoCard { .. }) => bail!(
            "no card in {} (readers: {}).\nInsert a card, pass --wait SECONDS, or use the built-in emulated card: sscard read --emulated",
            wanted.map_or_else(|| "any reader".to_string(), |w| format!("{w:?}")),
            names.join(", ")
        ),
        Err(e @ PcscError::UnknownReader { .. }) => {
            Err(anyhow::Error::from(e).context(format!("readers are: {}", names.join(", "))))
        }
        Err(e @ PcscError::Ambiguous { .. }) => Err(anyhow::Error::from(e).context("pass --reader NAME")),
        Err(e) => Err(no_service_help(e)),
    }
}

/// Lists readers and whether they hold a card.
pub fn list_readers() -> Result<()> {
    let mut readers = Readers::new();
    let names = readers.list().map_err(no_service_help)?;
    let present = readers.with_card().map_err(no_service_help)?;
    if names.is_empty() {
        println!("no readers");
    }
    for name in names {
        let state = if present.contains(&name) {
            "card"
        } else {
            "empty"
        };
        println!("{state:<6} {name}");
    }
    Ok(())
}
