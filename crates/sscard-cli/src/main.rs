//! `sscard`: read social security cards through PC/SC or the built-in emulator, and
//! put an emulated card into pcscd for any PC/SC application to use.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;
use sscard_apdu::trace::{Trace, TracedCommand, TracedResponse};
use sscard_apdu::{Exchange, Reader};
use sscard_emu::{EchoCard, EmulatedReader, PagingMode, Runtime, SsCard, VpcdBridge};
use sscard_fs::{Image, Profile};
use sscard_pcsc::{PcscError, Readers};
use sscard_ssse::BasicInfo;

#[derive(Parser)]
#[command(
    name = "sscard",
    version,
    about = "Read and emulate China social security cards (社会保障卡)"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Read the card's basic information (the fields of iReadCardBas).
    Read(ReadArgs),
    /// Put an emulated card into pcscd through vsmartcard's vpcd driver, until interrupted.
    Emulate(EmulateArgs),
    /// List PC/SC readers and whether they hold a card.
    Readers,
}

#[derive(clap::Args)]
struct ReadArgs {
    /// PC/SC reader to use (default: the only reader holding a card).
    #[arg(long, conflicts_with = "emulated")]
    reader: Option<String>,
    /// Read the built-in emulated card in process instead of a reader.
    #[arg(long)]
    emulated: bool,
    /// Card image for --emulated (default: the built-in sample card).
    #[arg(long, requires = "emulated")]
    image: Option<PathBuf>,
    /// Print JSON (the card-image schema plus `reader` and `basic`): the stable contract.
    #[arg(long)]
    json: bool,
    /// Seconds to wait for a card to be inserted.
    #[arg(long, default_value_t = 0.0)]
    wait: f64,
    /// Print every APDU to stderr (PINs and keys redacted).
    #[arg(long)]
    trace: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum CardKind {
    /// The social security card built from the profile and the image.
    Sscard,
    /// A minimal card that echoes command data with 9000 (the benchmark floor).
    Echo,
}

#[derive(Clone, Copy, ValueEnum)]
enum Paging {
    /// Announce data to case-3 commands with 61xx, like T=0 cards.
    T0,
    /// Send data at once.
    Direct,
}

#[derive(clap::Args)]
struct EmulateArgs {
    /// Card image (default: the built-in sample card).
    #[arg(long)]
    image: Option<PathBuf>,
    /// vpcd port of the slot (pcscd's default slot 0 is 35963).
    #[arg(long, default_value_t = sscard_emu::vpcd::DEFAULT_VPCD_PORT)]
    port: u16,
    /// Address of the pcscd running vpcd.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// Which card to emulate.
    #[arg(long, value_enum, default_value_t = CardKind::Sscard)]
    card: CardKind,
    /// When the card answers with 61xx.
    #[arg(long, value_enum, default_value_t = Paging::T0)]
    paging: Paging,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long)]
    max_seconds: Option<f64>,
    /// Benchmarks only: behave like a naive bridge (no TCP_QUICKACK), ~48 ms per APDU.
    #[arg(long, hide = true)]
    naive: bool,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Read(args) => read(&args),
        Cmd::Emulate(args) => emulate(&args),
        Cmd::Readers => list_readers(),
    };
    if let Err(e) = result {
        eprintln!("sscard: {e:#}");
        std::process::exit(1);
    }
}

fn profile() -> Result<Profile> {
    sscard_fs::builtin_profile().context("built-in card profile")
}

fn load_image(path: Option<&Path>) -> Result<Image> {
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

fn build_card(path: Option<&Path>) -> Result<SsCard> {
    let image = load_image(path)?;
    let what = path.map_or_else(
        || "built-in sample image".into(),
        |p| p.display().to_string(),
    );
    SsCard::new(&profile()?, &image).with_context(|| format!("card image {what}"))
}

/// Prints APDUs to stderr.
struct StderrTrace;

impl Trace for StderrTrace {
    fn command(&mut self, command: TracedCommand<'_>) {
        eprintln!("> {command}");
    }
    fn response(&mut self, response: TracedResponse<'_>) {
        eprintln!("< {response}");
    }
}

#[derive(Serialize)]
struct ReadOutput<'a> {
    #[serde(flatten)]
    image: &'a Image,
    reader: &'a str,
    basic: &'a BasicInfo,
}

fn read(args: &ReadArgs) -> Result<()> {
    let profile = profile()?;
    let (reader, image) = if args.emulated {
        let card = build_card(args.image.as_deref())?;
        let mut slot = EmulatedReader::new(Runtime::new(card));
        let mut atr = [0u8; 33];
        let n = slot.atr(&mut atr)?;
        let atr = atr.get(..n).unwrap_or_default().to_vec();
        let image = read_with(slot, &profile, &atr, args.trace)?;
        ("emulated".to_string(), image)
    } else {
        let mut readers = Readers::new();
        let wait =
            Duration::try_from_secs_f64(args.wait).context("--wait must be a number of seconds")?;
        let name = find_reader(&mut readers, args.reader.as_deref(), wait)?;
        let mut card = readers
            .connect(&name)
            .with_context(|| format!("cannot connect to the card in {name:?}"))?;
        let atr = card.cached_atr().to_vec();
        let image = read_with(&mut card, &profile, &atr, args.trace)
            .with_context(|| format!("reading the card in {name:?}"))?;
        if let Err((_, e)) = card.disconnect(sscard_pcsc::Disposition::LeaveCard) {
            eprintln!("sscard: warning: disconnect from {name:?} failed: {e}");
        }
        (name, image)
    };
    let basic = BasicInfo::from_image(&image);
    let mut out = std::io::stdout().lock();
    if args.json {
        let doc = ReadOutput {
            image: &image,
            reader: &reader,
            basic: &basic,
        };
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
    } else {
        writeln!(out, "reader: {reader}")?;
        for (label, value) in basic.fields() {
            writeln!(out, "{label:<26} {value}")?;
        }
    }
    Ok(())
}

fn read_with<T>(transport: T, profile: &Profile, atr: &[u8], trace: bool) -> Result<Image>
where
    T: sscard_apdu::Transport,
    T::Error: std::error::Error + Send + Sync + 'static,
{
    let image = if trace {
        sscard_ssse::read_image(
            &mut Exchange::with_tracer(transport, StderrTrace),
            profile,
            atr,
        )
    } else {
        sscard_ssse::read_image(&mut Exchange::new(transport), profile, atr)
    };
    Ok(image?)
}

fn no_service_help(e: PcscError) -> anyhow::Error {
    if matches!(e, PcscError::Pcsc(pcsc_error) if pcsc_error == pcsc_no_service()) {
        anyhow::anyhow!(
            "no PC/SC service: looked for readers through pcscd, which is not running.\n\
             Start pcscd (with a reader, or vsmartcard's vpcd and `sscard emulate`),\n\
             or read the built-in emulated card with: sscard read --emulated"
        )
    } else {
        e.into()
    }
}

fn pcsc_no_service() -> sscard_pcsc::pcsc::Error {
    sscard_pcsc::pcsc::Error::NoService
}

fn find_reader(readers: &mut Readers, wanted: Option<&str>, wait: Duration) -> Result<String> {
    let names = readers.list().map_err(no_service_help)?;
    if names.is_empty() {
        bail!(
            "no PC/SC reader found (pcscd is running but lists no reader).\n\
             To read the built-in emulated card: sscard read --emulated"
        );
    }
    match readers.wait_for_card(wanted, wait) {
        Ok(name) => Ok(name),
        Err(PcscError::NoCard { .. }) => bail!(
            "no card in {} (readers: {}).\nInsert a card, pass --wait SECONDS, or read the built-in emulated card with: sscard read --emulated",
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

fn list_readers() -> Result<()> {
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

fn emulate(args: &EmulateArgs) -> Result<()> {
    let addr = SocketAddr::new(args.host, args.port);
    let stop = Arc::new(AtomicBool::new(false));
    if let Some(secs) = args.max_seconds {
        let limit = Duration::try_from_secs_f64(secs)
            .context("--max-seconds must be a number of seconds")?;
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(limit);
            stop.store(true, Ordering::Relaxed);
        });
    }
    let paging = match args.paging {
        Paging::T0 => PagingMode::T0,
        Paging::Direct => PagingMode::Direct,
    };
    let log = |line: &str| eprintln!("sscard emulate: {line}");
    match args.card {
        CardKind::Sscard => {
            let card = build_card(args.image.as_deref())?;
            let mut bridge =
                VpcdBridge::new(Runtime::new(card).with_paging(paging), addr).with_log(log);
            bridge.run(&stop)?;
        }
        CardKind::Echo => {
            let mut bridge = VpcdBridge::new(Runtime::new(EchoCard::new()), addr)
                .with_log(log)
                .with_quickack(!args.naive);
            bridge.run(&stop)?;
        }
    }
    Ok(())
}
