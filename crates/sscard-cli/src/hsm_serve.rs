//! `sscard hsm serve`: the development issuance security module
//! (`apdu-specs/hsm-issuance.md`, ours): it holds the master keys of a key file and the
//! transport key, and answers `sscard issue --hsm` so the issuing process holds none.
//!
//! NOT an HSM: the keys sit in this process's memory. It listens on loopback addresses
//! only, prints `listening on ADDR` (the port chosen when given `:0`) on standard output,
//! and runs until interrupted or for `--max-seconds`.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use sscard_crypto::kdf::EmulationScheme;
use sscard_fs::keys::KeySet;
use sscard_issue::cos::TransportKey;
use sscard_issue::hsm::{self, IssuanceHsm};

/// Arguments of `sscard hsm serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Where to listen: a loopback address and port (port 0: any free one).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The master keys (sscard key-set JSON, as apdu-specs/keys/emulation.json); default:
    /// the built-in EMULATION TEST keys (they open emulated cards only).
    #[arg(long, value_name = "FILE")]
    keys: Option<PathBuf>,
    /// The transport key (sscard-transport-key/1 JSON); default: the TEST transport key
    /// of emulated blank cards.
    #[arg(long, value_name = "FILE")]
    transport_key: Option<PathBuf>,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long)]
    max_seconds: Option<f64>,
    /// Log every connection to standard error.
    #[arg(long)]
    verbose: bool,
}

/// Runs `sscard hsm serve`.
pub fn run(args: &ServeArgs) -> Result<()> {
    if !hsm::is_loopback(&args.listen) {
        bail!(
            "--listen {}: the development security module listens on loopback addresses only \
             (its keys would be open to the network)",
            args.listen
        );
    }
    let keys = match &args.keys {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the key file {}", path.display()))?;
            KeySet::from_json(&text).with_context(|| format!("key file {}", path.display()))?
        }
        None => {
            eprintln!("sscard hsm serve: DEVELOPMENT: the built-in emulation test keys");
            KeySet::from_json(sscard_fs::EMULATION_KEYS_JSON).context("built-in key set")?
        }
    };
    let transport = match &args.transport_key {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the transport key {}", path.display()))?;
            TransportKey::from_json(&text)
                .with_context(|| format!("transport key {}", path.display()))?
        }
        None => TransportKey::test_key().context("TEST transport key")?,
    };
    let listener =
        TcpListener::bind(args.listen).with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr().context("the listening address")?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {addr}")?;
        out.flush()?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("installing the Ctrl-C handler")?;
    }
    if let Some(secs) = args.max_seconds {
        let limit = Duration::try_from_secs_f64(secs)
            .context("--max-seconds must be a number of seconds")?;
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(limit);
            stop.store(true, Ordering::SeqCst);
        });
    }
    let verbose = args.verbose;
    let log = move |line: &str| {
        if verbose {
            eprintln!("sscard hsm serve: {line}");
        }
    };
    let hsm = IssuanceHsm::new(keys, transport, EmulationScheme);
    let report = hsm::serve(&listener, hsm, &stop, &log).context("serving")?;
    eprintln!(
        "sscard hsm serve: stopped after {} connections, {} requests",
        report.connections, report.requests
    );
    Ok(())
}
