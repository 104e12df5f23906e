//! `sscard`: read social security cards through PC/SC or the built-in emulator, and
//! put an emulated card into pcscd for any PC/SC application to use.

mod admin;
mod conn;
mod hsm_serve;
mod issue;
mod load;
mod pboc;
mod pin;
mod verify;

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
use sscard_crypto::keys::Algorithm;
use sscard_emu::{EchoCard, EmulatedPsam, PagingMode, Runtime, VpcdBridge};
use sscard_fs::{Address, Image};
use sscard_ssse::psam::PsamError;
use sscard_ssse::security::AuthError;
use sscard_ssse::{BasicInfo, ReadError, Step};

use conn::{CardArgs, ConnError, OpenedPsam, PsamArgs};

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
    /// Issue a batch of holders on blank cards in card-feeder readers (journaled, resumable).
    Issue(issue::IssueArgs),
    /// List PC/SC readers and whether they hold a card.
    Readers,
    /// PIN operations.
    #[command(subcommand)]
    Pin(PinCmd),
    /// Write items (after the update keys' external authentication) and print them read back.
    Write(admin::WriteArgs),
    /// Card authentication.
    #[command(subcommand)]
    Auth(AuthCmd),
    /// The HSM (加密机): the two-step read; the development issuance module.
    #[command(subcommand)]
    Hsm(HsmCmd),
    /// The application directory (社会保障卡应用目录).
    #[command(subcommand)]
    Apps(admin::AppsCmd),
    /// The bank application (PBOC 3.0 / UnionPay): read, pay, load electronic cash, and
    /// the issuer host simulator.
    #[command(subcommand)]
    Pboc(pboc::PbocCmd),
    /// Prove an issued card right against its issuance record: data items, keys by
    /// authentication, the PIN's initial state, the bank application's certificates.
    Verify(verify::VerifyArgs),
    /// Load test: every reader (or those named) driven in parallel for a bounded time;
    /// prints throughput and p50/p99 latency, exits non-zero on any error.
    Load(load::LoadArgs),
}

#[derive(Subcommand)]
enum AuthCmd {
    /// INTERNAL AUTHENTICATE: is the card genuine (for the module's keys)?
    Internal(admin::AuthArgs),
}

#[derive(Subcommand)]
enum HsmCmd {
    /// Print the Step 1 string, read the HSM's Step 2 answer on stdin, print the
    /// iReadCardBas string.
    Read(admin::HsmReadArgs),
    /// DEVELOPMENT ONLY: answer Step 1 strings from stdin with the emulation test keys.
    Answer,
    /// DEVELOPMENT ONLY: the issuance security module for `sscard issue --hsm`
    /// (apdu-specs/hsm-issuance.md), holding a key file's masters in memory.
    Serve(hsm_serve::ServeArgs),
}

#[derive(clap::Args)]
struct ReadArgs {
    #[command(flatten)]
    card: CardArgs,
    #[command(flatten)]
    psam: PsamArgs,
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
    /// CHANGE PIN: the old PIN on the first line, the new one on the second.
    Change(admin::PinAdminArgs),
    /// RELOAD the PIN (重装) to the PIN given, through a security module.
    Reload(admin::PinAdminArgs),
    /// UNBLOCK the PIN (解锁), through a security module.
    Unblock(admin::PinAdminArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum CardKind {
    /// The social security card built from the profile and the image, with the PBOC
    /// bank application (apdu-specs/pboc/card.json) on the same card.
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
    /// Also put the emulated PSAM into the vpcd slot of this port (pcscd's slot 1 is
    /// the base port + 1).
    #[arg(long, value_name = "PORT")]
    psam_port: Option<u16>,
    /// The emulated PSAM's environment (default: the card image's algorithm, 01: sx1,
    /// 03: sx3).
    #[arg(long, value_enum, requires = "psam_port")]
    psam_env: Option<PsamEnv>,
    /// Keep the card's state (files, PIN and tries, key counters) in this file across
    /// restarts, committed atomically after every change; the bank application's
    /// (ATC, PIN, electronic cash, logs) goes to FILE.bank.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Serve a BLANK card of the emulated COS instead (pre-issuance: an MF and the TEST
    /// transport key only, 3DES unless --generation 3, the sample ATR with a chip serial
    /// of its own; issuance commands in apdu-specs/cos-emulated.md) with a blank bank
    /// application (personalised by STORE DATA of DGIs). With --state its files, keys and
    /// lifecycle persist, the bank application's in FILE.bank.
    #[arg(long, conflicts_with_all = ["image", "psam_env"])]
    blank: bool,
    /// With --blank: a card feeder, as on a printer-encoder. The EJECT command
    /// (80 EE 01 00, apdu-specs/cos-emulated.md) files the card as DIR/card-NNNN.json
    /// (bank application: DIR/card-NNNN.json.bank) and puts a fresh blank card in the reader (from the next command on).
    #[arg(long, value_name = "DIR", requires = "blank")]
    feeder: Option<PathBuf>,
    /// With --blank: the card generation. 3: a 3rd-generation blank card (SM4 transport
    /// key and card keys; issue it with `sscard issue --generation 3`); 2 (default):
    /// 3DES.
    #[arg(long, value_name = "N", requires = "blank", value_parser = clap::value_parser!(u8).range(2..=3))]
    generation: Option<u8>,
}

#[derive(Clone, Copy, ValueEnum)]
enum PsamEnv {
    /// 3DES (sx1.sh.社会保障, DF01 D15600000590).
    Sx1,
    /// SM4 (sx3.sh.社会保障, DF01).
    Sx3,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Read(args) => read(&args),
        Cmd::Emulate(args) => emulate(&args),
        Cmd::Issue(args) => issue::run(&args),
        Cmd::Readers => conn::list_readers(),
        Cmd::Pin(PinCmd::Verify { card, pin }) => pin_verify(&card, &pin),
        Cmd::Pin(PinCmd::Change(args)) => admin::pin_change(&args),
        Cmd::Pin(PinCmd::Reload(args)) => admin::pin_reload_or_unblock(&args, true),
        Cmd::Pin(PinCmd::Unblock(args)) => admin::pin_reload_or_unblock(&args, false),
        Cmd::Write(args) => admin::write(&args),
        Cmd::Auth(AuthCmd::Internal(args)) => admin::auth_internal(&args),
        Cmd::Hsm(HsmCmd::Read(args)) => admin::hsm_read(&args),
        Cmd::Hsm(HsmCmd::Answer) => admin::hsm_answer(),
        Cmd::Hsm(HsmCmd::Serve(args)) => hsm_serve::run(&args),
        Cmd::Apps(cmd) => admin::apps(&cmd),
        Cmd::Load(args) => load::run(&args),
        Cmd::Pboc(cmd) => pboc::run(&cmd),
        Cmd::Verify(args) => verify::run(&args),
    };
    if let Err(e) = result {
        // A closed pipe (`sscard apps list | head`) is not an error of ours.
        let broken_pipe = e
            .chain()
            .filter_map(|c| c.downcast_ref::<std::io::Error>())
            .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe);
        if broken_pipe {
            return;
        }
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

/// `read --json` of a 3rd-generation card through a PSAM: the basic information only.
#[derive(Serialize)]
struct SecuredOutput<'a> {
    reader: &'a str,
    atr: String,
    psam: PsamOutput<'a>,
    basic: &'a BasicInfo,
}

#[derive(Serialize)]
struct PsamOutput<'a> {
    reader: &'a str,
    environment: &'a str,
    terminal_number: &'a str,
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
        ReadError::Card(
            step @ Step::ReadRecord {
                fid: 0xEF05 | 0xEF06,
                ..
            },
            Status::SecurityStatusNotSatisfied,
        ) => anyhow::anyhow!(
            "{step}: card answered 6982: a 3rd-generation card shows its basic information \
             only after authentication through a PSAM (--psam READER, or --emulated-psam \
             with --emulated)"
        ),
        ReadError::Card(step, Status::SecurityStatusNotSatisfied) => anyhow::anyhow!(
            "{step}: the card wants the PIN or a key first (give --pin-file/--pin-stdin, or a PSAM)"
        ),
        other => anyhow::anyhow!("{other}"),
    }
}

/// Authentication errors in words a person at a counter understands.
fn explain_auth(e: AuthError<ConnError, PsamError<ConnError>>) -> anyhow::Error {
    match e {
        AuthError::Card(e) => explain(e),
        AuthError::Module(e) => anyhow::Error::from(e).context("the PSAM failed"),
        AuthError::NotGenuine => anyhow::anyhow!(
            "internal authentication failed: the card is not genuine, or not keyed for this PSAM"
        ),
        other => anyhow::anyhow!("{other}"),
    }
}

/// Reads the basic information through the PSAM: a 3.0 card is authenticated first and
/// only its basic information is printed; other cards print as without a PSAM.
fn read_with_psam(args: &ReadArgs, mut card: conn::Opened, mut sam: OpenedPsam) -> Result<()> {
    let profile = conn::profile()?;
    let reader = card.reader.clone();
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce)
        .map_err(|e| anyhow::anyhow!("no randomness for internal authentication: {e}"))?;
    let result =
        sscard_ssse::read_basic_secured(&mut card.ex, &profile, &card.atr, &mut sam.psam, &nonce);
    let basic = match result {
        Ok(basic) => basic,
        Err(e) => {
            card.close();
            sam.close();
            return Err(explain_auth(e)).with_context(|| format!("reading the card in {reader:?}"));
        }
    };
    if !basic.spec_version.starts_with('3') {
        // No authentication was needed: the whole image, as without a PSAM.
        sam.close();
        return read_image(args, card);
    }
    let atr = sscard_apdu::hex::to_string(&card.atr);
    card.close();
    let mut out = std::io::stdout().lock();
    let psam = PsamOutput {
        reader: &sam.reader,
        environment: sam.environment(),
        terminal_number: sam.psam.terminal_number(),
    };
    if args.json {
        let doc = SecuredOutput {
            reader: &reader,
            atr,
            psam,
            basic: &basic,
        };
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
    } else {
        writeln!(out, "reader: {reader}")?;
        writeln!(
            out,
            "PSAM: {} ({}, terminal number {})",
            psam.reader, psam.environment, psam.terminal_number
        )?;
        for (label, value) in basic.fields() {
            writeln!(out, "{label:<26} {value}")?;
        }
    }
    sam.close();
    Ok(())
}

fn read(args: &ReadArgs) -> Result<()> {
    let card = conn::open(&args.card)?;
    let sam = match conn::open_psam(&args.psam, &args.card) {
        Ok(sam) => sam,
        Err(e) => {
            card.close();
            return Err(e);
        }
    };
    match (sam, &args.items) {
        (Some(sam), _) => read_with_psam(args, card, sam),
        (None, Some(items)) => read_items(args, card, items),
        (None, None) => read_image(args, card),
    }
}

/// Reads items by address and prints them.
fn read_items(args: &ReadArgs, mut card: conn::Opened, items: &str) -> Result<()> {
    let profile = conn::profile()?;
    let reader = card.reader.clone();
    let mut out = std::io::stdout().lock();
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
    Ok(())
}

/// Reads the basic files into an image and prints it.
fn read_image(args: &ReadArgs, mut card: conn::Opened) -> Result<()> {
    let profile = conn::profile()?;
    let reader = card.reader.clone();
    let mut out = std::io::stdout().lock();
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

/// A blank card of the emulated COS with this algorithm (SM4: a 3rd-generation card),
/// as from the card factory: with a chip serial of its own in its ATR, and a blank bank
/// application.
fn new_blank(
    algorithm: Algorithm,
) -> Result<sscard_emu::DualCard, sscard_emu::pboc::PbocBuildError> {
    sscard_emu::blank_dual_card(
        sscard_emu::cos::BlankOptions {
            algorithm,
            ..sscard_emu::cos::BlankOptions::new()?
        }
        .with_random_serial(),
        Box::new(sscard_emu::cos::OsEntropy),
    )
}

/// The blank card of `sscard emulate --blank` (a blank SSCard and a blank bank
/// application), persistent when `state` is given: the SSCard's state in `state`, the
/// bank application's in `state.bank`.
fn blank_card(
    state: Option<&std::path::Path>,
    algorithm: Algorithm,
) -> Result<sscard_emu::DualCard> {
    let card = new_blank(algorithm).context("blank card")?;
    let Some(state) = state else {
        return Ok(card);
    };
    let (social, bank) = card.into_parts();
    let restore = sscard_emu::persist::FileJournal::load(state)
        .with_context(|| format!("card state {}", state.display()))?;
    let social = social
        .persistent(
            Box::new(sscard_emu::persist::FileJournal::new(state)),
            restore,
        )
        .with_context(|| format!("card state {} (not a blank card's state?)", state.display()))?;
    let bank_path = sscard_emu::feeder::bank_state_path(state);
    let restore = sscard_emu::pboc::PbocFileJournal::load(&bank_path)
        .with_context(|| format!("bank state {}", bank_path.display()))?;
    let bank = bank
        .persistent(
            Box::new(sscard_emu::pboc::PbocFileJournal::new(&bank_path)),
            restore,
        )
        .with_context(|| {
            format!(
                "bank state {} (not a blank card's bank state?)",
                bank_path.display()
            )
        })?;
    Ok(sscard_emu::DualCard::new(social, bank))
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
    // The PSAM in its own slot, on its own thread; either bridge stopping stops both.
    let psam = match args.psam_port {
        Some(port) => {
            let algorithm = match args.psam_env {
                Some(PsamEnv::Sx1) => Algorithm::Des3,
                Some(PsamEnv::Sx3) => Algorithm::Sm4,
                None => conn::image_algorithm(&conn::load_image(args.image.as_deref())?),
            };
            let sam = EmulatedPsam::builtin(algorithm).context("built-in emulated PSAM")?;
            let mut bridge = VpcdBridge::new(
                Runtime::new(sam).with_paging(paging),
                SocketAddr::new(args.host, port),
            )
            .with_log(|line: &str| eprintln!("sscard emulate (PSAM): {line}"));
            let stop = stop.clone();
            Some(std::thread::spawn(move || {
                let result = bridge.run(&stop);
                stop.store(true, Ordering::Relaxed);
                result
            }))
        }
        None => None,
    };
    let log = |line: &str| eprintln!("sscard emulate: {line}");
    let blank_algorithm = match args.generation {
        Some(3) => Algorithm::Sm4,
        _ => Algorithm::Des3,
    };
    let card_result = match args.card {
        CardKind::Sscard if args.blank => blank_card(args.state.as_deref(), blank_algorithm)
            .and_then(|card| {
                if let Some(dir) = &args.feeder {
                    let make = Box::new(move || new_blank(blank_algorithm));
                    let card =
                        sscard_emu::feeder::Feeder::new(card, dir, args.state.clone(), make)?;
                    let mut bridge = VpcdBridge::new(Runtime::new(card).with_paging(paging), addr)
                        .with_log(log)
                        .with_quickack(!args.naive);
                    return Ok(bridge.run(&stop)?);
                }
                let mut bridge = VpcdBridge::new(Runtime::new(card).with_paging(paging), addr)
                    .with_log(log)
                    .with_quickack(!args.naive);
                Ok(bridge.run(&stop)?)
            }),
        CardKind::Sscard => {
            conn::build_card_with_state(args.image.as_deref(), args.state.as_deref()).and_then(
                |card| {
                    let mut bridge = VpcdBridge::new(Runtime::new(card).with_paging(paging), addr)
                        .with_log(log)
                        .with_quickack(!args.naive);
                    Ok(bridge.run(&stop)?)
                },
            )
        }
        CardKind::Echo => {
            let mut bridge = VpcdBridge::new(Runtime::new(EchoCard::new()), addr)
                .with_log(log)
                .with_quickack(!args.naive);
            bridge.run(&stop).map_err(anyhow::Error::from)
        }
    };
    stop.store(true, Ordering::Relaxed);
    if let Some(thread) = psam {
        let psam_result = thread
            .join()
            .map_err(|_| anyhow::anyhow!("the PSAM bridge stopped unexpectedly"))?;
        card_result?;
        return psam_result.context("PSAM bridge");
    }
    card_result
}
