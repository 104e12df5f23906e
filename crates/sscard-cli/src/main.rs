//! `sscard`: read social security cards through PC/SC or the built-in emulator, and
//! put an emulated card into pcscd for any PC/SC application to use.

mod conn;
mod pin;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;
use sscard_apdu::Status;
use sscard_emu::{EchoCard, PagingMode, Runtime, VpcdBridge};
use sscard_fs::{Address, Image};
use sscard_ssse::{BasicInfo, ReadError, Step};

use conn::{CardArgs, ConnError};

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
    /// PIN operations.
    #[command(subcommand)]
    Pin(PinCmd),
}

#[derive(clap::Args)]
struct ReadArgs {
    #[command(flatten)]
    card: CardArgs,
    /// Read these items instead of the basic information, in the reader library's
    /// address form, e.g. "SSSEEF05|06|07|$DF01EF05|20|$" (prints the same form with
    /// the values in place of the tags).
    #[arg(long)]
    items: Option<String>,
    #[command(flatten)]
    pin: pin::PinArgs,
    /// Print JSON (the card-image schema plus `reader` and `basic`): the stable contract.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum PinCmd {
    /// VERIFY the PIN (from --pin-file or --pin-stdin).
    Verify {
        #[command(flatten)]
        card: CardArgs,
        #[command(flatten)]
        pin: pin::PinArgs,
    },
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
        Cmd::Readers => conn::list_readers(),
        Cmd::Pin(PinCmd::Verify { card, pin }) => pin_verify(&card, &pin),
    };
    if let Err(e) = result {
        eprintln!("sscard: {e:#}");
        std::process::exit(1);
    }
}

#[derive(Serialize)]
struct ReadOutput<'a> {
    #[serde(flatten)]
    image: &'a Image,
    reader: &'a str,
    basic: &'a BasicInfo,
}

#[derive(Serialize)]
struct ItemsOutput<'a> {
    reader: &'a str,
    address: String,
    values: &'a [Vec<String>],
    output: String,
}

/// Card errors in words a person at a counter understands.
fn explain(e: ReadError<ConnError>) -> anyhow::Error {
    match e {
        ReadError::Card(Step::VerifyPin, Status::VerificationFailed { tries_left }) => {
            anyhow::anyhow!("wrong PIN: {tries_left} tries left")
        }
        ReadError::Card(_, Status::AuthenticationMethodBlocked) => {
            anyhow::anyhow!("the PIN is blocked")
        }
        ReadError::Card(step, Status::SecurityStatusNotSatisfied) => anyhow::anyhow!(
            "{step}: the card wants the PIN or a key first (give --pin-file/--pin-stdin, or a PSAM)"
        ),
        other => anyhow::anyhow!("{other}"),
    }
}

fn read(args: &ReadArgs) -> Result<()> {
    let profile = conn::profile()?;
    let mut card = conn::open(&args.card)?;
    let reader = card.reader.clone();
    let mut out = std::io::stdout().lock();
    if let Some(items) = &args.items {
        let address = Address::parse(items)?;
        let pin = args.pin.read()?;
        let values = sscard_ssse::read_address(&mut card.ex, &profile, &address, pin.as_ref())
            .map_err(explain)
            .with_context(|| format!("reading {items} from the card in {reader:?}"))?;
        card.close();
        let output = address.format_values(&values);
        if args.json {
            let doc = ItemsOutput {
                reader: &reader,
                address: address.to_string(),
                values: &values,
                output,
            };
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        } else {
            writeln!(out, "{output}")?;
        }
        return Ok(());
    }
    let image = sscard_ssse::read_image(&mut card.ex, &profile, &card.atr)
        .map_err(explain)
        .with_context(|| format!("reading the card in {reader:?}"))?;
    card.close();
    let basic = BasicInfo::from_image(&image);
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

fn pin_verify(card_args: &CardArgs, pin_args: &pin::PinArgs) -> Result<()> {
    let profile = conn::profile()?;
    let pin = pin_args.require()?;
    let mut card = conn::open(card_args)?;
    let aid = profile
        .node(sscard_fs::SSSE)
        .and_then(|n| n.aid.clone())
        .context("the profile has no SSSE AID")?;
    let mut buf = [0u8; 258];
    let select = sscard_apdu::CommandBuilder::new(0x00, 0xA4, 0x04, 0x0C).data(&aid);
    card.ex
        .send(&select, &mut buf)
        .map_err(|e| anyhow::anyhow!("SELECT SSSE: {e}"))?
        .success()
        .map_err(|s| anyhow::anyhow!("SELECT SSSE: card answered {s}"))?;
    let result = sscard_ssse::verify_pin(&mut card.ex, &pin);
    card.close();
    result.map_err(explain)?;
    println!("PIN verified");
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
            let card = conn::build_card(args.image.as_deref())?;
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
