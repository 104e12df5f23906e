//! Opening a card: the built-in emulator in process, or a PC/SC reader.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use sscard_apdu::trace::{Trace, TracedCommand, TracedResponse};
use sscard_apdu::{Exchange, Reader, Transport, TransportError, TransportErrorKind};
use sscard_emu::reader::EmulatedReaderError;
use sscard_emu::{EmulatedReader, Runtime, SsCard};
use sscard_fs::{Image, Profile};
use sscard_pcsc::{PcscCard, PcscError, Readers};

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

/// The emulated card of an image file (or the built-in sample).
pub fn build_card(path: Option<&Path>) -> Result<SsCard> {
    let image = load_image(path)?;
    let what = path.map_or_else(
        || "built-in sample image".into(),
        |p| p.display().to_string(),
    );
    SsCard::new(&profile()?, &image).with_context(|| format!("card image {what}"))
}

/// A connected card of either kind.
pub enum Conn {
    /// In process.
    Emulated(Box<EmulatedReader<SsCard>>),
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
            Self::Pcsc(c) => c.transmit(command, response)?,
        })
    }
}

/// Prints APDUs to stderr when enabled.
pub struct StderrTrace(pub bool);

impl Trace for StderrTrace {
    fn command(&mut self, command: TracedCommand<'_>) {
        if self.0 {
            eprintln!("> {command}");
        }
    }
    fn response(&mut self, response: TracedResponse<'_>) {
        if self.0 {
            eprintln!("< {response}");
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
        if let Conn::Pcsc(card) = conn {
            if let Err((_, e)) = card.disconnect(sscard_pcsc::Disposition::LeaveCard) {
                eprintln!(
                    "sscard: warning: disconnect from {:?} failed: {e}",
                    self.reader
                );
            }
        }
    }
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
            ex: Exchange::with_tracer(Conn::Emulated(Box::new(slot)), StderrTrace(args.trace)),
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
        ex: Exchange::with_tracer(Conn::Pcsc(card), StderrTrace(args.trace)),
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
