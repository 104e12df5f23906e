//! `sscard issue`: issue a batch of holders on blank cards in one or more PC/SC
//! readers with card feeders (the batch engine of `sscard_issue::engine`).
//!
//! Each reader gets its own thread and PC/SC connection. A card is ended with the
//! feeder's EJECT command (`80 EE 01 00`, `apdu-specs/cos-emulated.md`), then the
//! connection is closed with the card unpowered and the next card is connected (the
//! first of a run cold-reset; never under the ejected card's ATR).
//!
//! The keys: `--hsm ADDR`, a security module that holds the master and transport keys
//! (`apdu-specs/hsm-issuance.md`; each reader thread keeps its own connections, and a
//! module that goes away stops the readers with their cards as they are, which the
//! next run resumes), or `--soft-keys` (development: the emulation keys in this
//! process).
//! `--generation 3` issues 3rd-generation (SM4) cards.
//!
//! Ctrl-C raises the engine's stop flag: every reader finishes the journal write it is
//! in (a whole line, fsync'd) and stops; a second Ctrl-C is ignored the same way. A
//! harder kill leaves at worst a torn last journal line, which the journal cuts off on
//! the next open. Rerunning the same command resumes.

use std::io::{IsTerminal, Write};
use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use sscard_apdu::trace::NoTrace;
use sscard_apdu::{Exchange, Reader, ResetKind, Status, Transport};
use sscard_crypto::kdf::EmulationScheme;
use sscard_emu::feeder::EJECT;
use sscard_fs::image::Value;
use sscard_fs::keys::KeySet;
use sscard_fs::Image;
use sscard_issue::batch::{Batch, BatchError, Mode, Options, TextEncoding};
use sscard_issue::cos::{EmulatedCos, SoftKeyWrap, TransportKey};
use sscard_issue::engine::{self, Card, Config, Observer, Station, StationResult, StepEvent};
use sscard_issue::hsm::HsmClient;
use sscard_issue::journal::{Journal, OnChangedBatch, Step};
use sscard_pcsc::{Disposition, PcscCard, PcscError, Readers};
use sscard_ssse::security::SoftKeys;

use crate::conn;

/// `sscard issue`.
#[derive(clap::Args, Debug)]
pub struct IssueArgs {
    /// The holder batch: CSV (or JSON when the name ends in .json).
    #[arg(long, value_name = "FILE")]
    batch: PathBuf,
    /// The journal (default: the batch file's name + .journal). Rerun with the same
    /// journal to resume.
    #[arg(long, value_name = "FILE")]
    journal: Option<PathBuf>,
    /// Write one result file per card (HOLDER.json) into this directory.
    #[arg(long, value_name = "DIR")]
    results: Option<PathBuf>,
    /// A PC/SC reader with a card feeder; repeat for readers in parallel.
    #[arg(long = "reader", value_name = "NAME", required = true)]
    readers: Vec<String>,
    /// DEVELOPMENT ONLY: the built-in emulation keys and the TEST transport key in
    /// memory (they issue emulated cards only). This or --hsm is required.
    #[arg(long)]
    soft_keys: bool,
    /// The issuance security module at ADDR (host:port; apdu-specs/hsm-issuance.md,
    /// `sscard hsm serve` for development): it holds the master and transport keys and
    /// computes every cryptogram and wrapped key; this process holds none.
    #[arg(long, value_name = "ADDR", conflicts_with = "soft_keys")]
    hsm: Option<String>,
    /// Issue cards of this generation: 3 sets the template's spec version to 3.00 and
    /// its algorithm to SM4 (3.0 read rules, RKSSSE-authenticated read-back; blank
    /// cards of `sscard emulate --blank --generation 3`), 2 to 2.00 and 3DES. Default:
    /// the template's.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(2..=3))]
    generation: Option<u8>,
    /// Refuse the whole batch when any row is invalid (default: skip invalid rows).
    #[arg(long)]
    strict: bool,
    /// The batch file is GBK text (default UTF-8).
    #[arg(long)]
    gbk: bool,
    /// The template image for items the batch does not give (default: the built-in
    /// sample card's).
    #[arg(long, value_name = "FILE")]
    template: Option<PathBuf>,
    /// Seconds to wait for a card in a reader.
    #[arg(long, default_value_t = 30.0)]
    wait: f64,
    /// Also issue the holders whose last attempt failed (on new blank cards).
    #[arg(long)]
    retry_failed: bool,
    /// Accept a batch file that changed since the journal was started (holders keep
    /// their state by ID number).
    #[arg(long)]
    accept_changed_batch: bool,
    /// Also personalise the bank (PBOC) application from this bank personalisation
    /// profile (e.g. apdu-specs/pboc/bank-issuer.json, TEST keys): every row then
    /// needs a `pan` column value (and may give `psn`, default 01).
    #[arg(long, value_name = "FILE")]
    bank_profile: Option<PathBuf>,
}

/// A PC/SC card whose APDUs are counted (for the summary and `benches/issue.sh`).
struct Counted {
    card: PcscCard,
    apdus: Arc<AtomicU64>,
}

impl Transport for Counted {
    type Error = PcscError;

    fn transmit(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, PcscError> {
        self.apdus.fetch_add(1, Ordering::Relaxed);
        self.card.transmit(command, response)
    }
}

/// Cold resets tried when the reader reports the ejected card's ATR.
const STALE_ATR_RESETS: u32 = 5;

/// A PC/SC reader with a card feeder.
struct PcscStation {
    name: String,
    readers: Readers,
    card: Option<(Exchange<Counted, NoTrace>, Vec<u8>)>,
    /// The ATR of the card this station ejected last.
    ejected: Option<Vec<u8>>,
    wait: Duration,
    stop: Arc<AtomicBool>,
    apdus: Arc<AtomicU64>,
}

impl Station for PcscStation {
    type Transport = Counted;
    type Trace = NoTrace;

    fn name(&self) -> &str {
        &self.name
    }

    fn card(&mut self) -> StationResult<Option<Card<'_, Counted, NoTrace>>> {
        if self.card.is_none() {
            if self.stop.load(Ordering::SeqCst) {
                return Ok(None);
            }
            self.readers
                .wait_for_card(Some(&self.name), self.wait)
                .map_err(|e| format!("waiting for a card: {e}"))?;
            let mut pcsc = self
                .readers
                .connect(&self.name)
                .map_err(|e| format!("connect: {e}"))?;
            // The first card of a run may have been left powered by a killed run (with
            // the ATR pcscd saw first and that run's security state): a cold reset
            // starts its session afresh. After this station's own EJECT the card was
            // unpowered at disconnect, so connecting has just powered the next one up.
            if self.ejected.is_none() {
                pcsc.reset(ResetKind::Cold)
                    .map_err(|e| format!("reset: {e}"))?;
            }
            // Each card from a feeder has its own serial in its ATR, so the ejected
            // card's ATR again means the reader has not caught up with the swap (seen
            // now and then through pcscd and vpcd, whose feeder swaps cards without a
            // removal): reset until the new card answers, and never issue a card under
            // another card's ATR.
            let mut tries = 0;
            while self.ejected.as_deref() == Some(pcsc.cached_atr()) {
                tries += 1;
                if tries > STALE_ATR_RESETS {
                    return Err(format!(
                        "the reader still reports the ejected card's ATR {} after {STALE_ATR_RESETS} resets",
                        sscard_apdu::hex::to_string(pcsc.cached_atr())
                    ));
                }
                eprintln!(
                    "sscard: reader {:?} reports the ejected card's ATR; resetting again",
                    self.name
                );
                std::thread::sleep(Duration::from_millis(20));
                pcsc.reset(ResetKind::Cold)
                    .map_err(|e| format!("reset: {e}"))?;
            }
            let atr = pcsc.cached_atr().to_vec();
            let counted = Counted {
                card: pcsc,
                apdus: self.apdus.clone(),
            };
            self.card = Some((Exchange::new(counted), atr));
        }
        Ok(self.card.as_mut().map(|(ex, atr)| Card {
            atr: atr.clone(),
            ex,
        }))
    }

    fn eject(&mut self) -> StationResult<()> {
        let Some((mut ex, atr)) = self.card.take() else {
            return Err("no card to eject".into());
        };
        self.ejected = Some(atr);
        let mut buf = [0u8; 8];
        let status = ex
            .transceive(&EJECT, &mut buf)
            .map(|r| r.status)
            .map_err(|e| format!("EJECT: {e}"));
        let (counted, _) = ex.into_parts();
        if let Err((_, e)) = counted.card.disconnect(Disposition::UnpowerCard) {
            eprintln!(
                "sscard: warning: disconnect from {:?} failed: {e}",
                self.name
            );
        }
        match status? {
            Status::Success => Ok(()),
            other => Err(format!("EJECT answered {other} (no card feeder?)")),
        }
    }
}

/// The progress line: `\r`-rewritten on a terminal, one line per card otherwise.
struct Progress {
    tty: bool,
    last: Mutex<(usize, usize)>,
}

impl Observer for Progress {
    fn step(&self, e: &StepEvent) {
        let finished = matches!(e.step, Step::Done | Step::Failed { .. });
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        if !self.tty && !finished {
            return;
        }
        if (e.done, e.failed) == *last && !self.tty {
            return;
        }
        *last = (e.done, e.failed);
        let secs = e.elapsed.as_secs_f64();
        #[allow(clippy::cast_precision_loss)]
        let (done, left) = (
            e.done as f64,
            e.total.saturating_sub(e.done + e.failed) as f64,
        );
        let rate = if secs > 0.0 { done * 60.0 / secs } else { 0.0 };
        let eta = if done > 0.0 {
            format!("{:.0} s", left * secs / done)
        } else {
            "?".into()
        };
        let line = format!(
            "issued {}/{} failed {} | {:.1} cards/min | ETA {eta} | {} {} {}",
            e.done,
            e.total,
            e.failed,
            rate,
            e.reader,
            e.holder,
            e.step.name()
        );
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }
}

/// Runs `sscard issue`.
pub fn run(args: &IssueArgs) -> Result<()> {
    let hsm = match (&args.hsm, args.soft_keys) {
        (Some(addr), _) => Some(hsm_client(addr)?),
        (None, true) => None,
        (None, false) => bail!(
            "sscard issue needs the keys: --hsm ADDR (a security module), or --soft-keys \
             (development)"
        ),
    };
    let profile = conn::profile()?;
    let bytes = std::fs::read(&args.batch)
        .with_context(|| format!("reading the batch {}", args.batch.display()))?;
    let options = Options {
        mode: if args.strict {
            Mode::Strict
        } else {
            Mode::SkipInvalid
        },
        encoding: if args.gbk {
            TextEncoding::Gbk
        } else {
            TextEncoding::Utf8
        },
        ..Options::default()
    };
    let is_json = args
        .batch
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let parsed = if is_json {
        Batch::parse_json(&bytes, &profile, &options)
    } else {
        Batch::parse_csv(&bytes, &profile, &options)
    };
    let batch = match parsed {
        Ok(batch) => batch,
        Err(BatchError::Refused { errors }) => {
            for e in &errors {
                eprintln!("invalid: {e}");
            }
            bail!("{} invalid rows; --strict refuses the batch", errors.len());
        }
        Err(e) => return Err(e).context(format!("batch {}", args.batch.display())),
    };
    for e in &batch.errors {
        eprintln!("invalid: {e}");
    }
    eprintln!(
        "batch {}: {} holders, {} invalid rows skipped",
        args.batch.display(),
        batch.holders.len(),
        batch.errors.len()
    );
    let bank = match &args.bank_profile {
        Some(path) => {
            let bank = sscard_issue::bank::BankProfile::load(path)
                .with_context(|| format!("bank profile {}", path.display()))?;
            let missing: Vec<String> = batch
                .holders
                .iter()
                .filter(|h| h.pan().is_none())
                .map(|h| h.row().to_string())
                .collect();
            if !missing.is_empty() {
                bail!(
                    "--bank-profile needs a pan in every row; rows without: {}",
                    missing.join(", ")
                );
            }
            Some(bank)
        }
        None => None,
    };
    let mut base: Image = match &args.template {
        Some(path) => conn::load_image(Some(path))?,
        None => Image::from_json(sscard_fs::SAMPLE_IMAGE_JSON).context("built-in sample image")?,
    };
    if let Some(generation) = args.generation {
        set_generation(&mut base, generation);
    }
    let algorithm = conn::image_algorithm(&base);
    let journal_path = args.journal.clone().unwrap_or_else(|| {
        let mut name = args.batch.as_os_str().to_owned();
        name.push(".journal");
        PathBuf::from(name)
    });
    let on_change = if args.accept_changed_batch {
        OnChangedBatch::Accept
    } else {
        OnChangedBatch::Refuse
    };
    let journal = Journal::open_batch(&journal_path, &batch, on_change)
        .with_context(|| format!("journal {}", journal_path.display()))?;
    for h in journal.failed()? {
        let reason = match &h.progress.last {
            Step::Failed { reason } => reason.as_str(),
            _ => "",
        };
        eprintln!(
            "failed before: {} ({reason}){}",
            h.holder,
            if args.retry_failed {
                "; retrying"
            } else {
                "; --retry-failed issues it again"
            }
        );
    }
    for h in journal.half_done()? {
        eprintln!(
            "half-done: {} (last step {} on reader {:?})",
            h.holder,
            h.progress.last.name(),
            h.progress.reader
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || {
            stop.store(true, Ordering::SeqCst);
        })
        .context("installing the Ctrl-C handler")?;
    }
    let wait = Duration::try_from_secs_f64(args.wait).context("--wait must be seconds")?;
    let apdus = Arc::new(AtomicU64::new(0));
    let stations = args
        .readers
        .iter()
        .map(|name| PcscStation {
            name: name.clone(),
            readers: Readers::new(),
            card: None,
            ejected: None,
            wait,
            stop: stop.clone(),
            apdus: apdus.clone(),
        })
        .collect();
    let config = Config {
        results: args.results.clone(),
        invalid_rows: batch.errors.len(),
        retry_failed: args.retry_failed,
        bank: bank.as_ref(),
        ..Config::new(
            &profile,
            &base,
            &batch.holders,
            &journal,
            EmulatedCos::default(),
            algorithm,
            &stop,
        )
    };
    let progress = Progress {
        tty: std::io::stderr().is_terminal(),
        last: Mutex::new((usize::MAX, usize::MAX)),
    };
    let summary = match hsm {
        Some(client) => {
            let addr = client.addr();
            engine::run(
                &config,
                stations,
                || (HsmClient::new(addr), HsmClient::new(addr)),
                &progress,
            )?
        }
        None => {
            let keys =
                KeySet::from_json(sscard_fs::EMULATION_KEYS_JSON).context("built-in key set")?;
            let transport = TransportKey::test_key().context("TEST transport key")?;
            let make_keys = || {
                (
                    SoftKeyWrap::new(keys.clone(), transport.clone(), EmulationScheme),
                    SoftKeys::new(keys.clone(), EmulationScheme),
                )
            };
            engine::run(&config, stations, make_keys, &progress)?
        }
    };
    if progress.tty {
        eprintln!();
    }
    println!("issued: {}", summary.issued);
    println!("failed: {}", summary.failed.len());
    for (holder, reason) in &summary.failed {
        println!("  {holder}: {reason}");
    }
    println!("skipped invalid rows: {}", summary.skipped_invalid);
    println!("done before this run: {}", summary.done_before);
    println!("half-done at start: {}", summary.half_done_at_start);
    for (holder, step, reader) in &summary.half_done_left {
        println!("  left half-done: {holder} (last step {step} on {reader:?})");
    }
    println!("elapsed: {:.3} s", summary.elapsed_ms as f64 / 1000.0);
    let sent = apdus.load(Ordering::Relaxed);
    #[allow(clippy::cast_precision_loss)]
    let per_card = if summary.issued > 0 {
        sent as f64 / summary.issued as f64
    } else {
        0.0
    };
    println!("apdus: {sent} ({per_card:.1} per issued card)");
    for r in &summary.readers {
        println!(
            "reader {:?}: {} issued, {} failed, {} resumed, {:.1} cards/min",
            r.reader, r.issued, r.failed, r.resumed, r.cards_per_min
        );
        if let Some(e) = &r.error {
            println!("  stopped early: {e}");
        }
    }
    if summary.stopped {
        bail!("stopped before the batch was through; rerun to resume");
    }
    let broken = summary.readers.iter().filter(|r| r.error.is_some()).count();
    if broken > 0 {
        bail!("{broken} readers stopped early");
    }
    if !summary.failed.is_empty() {
        bail!("{} holders failed", summary.failed.len());
    }
    if !summary.half_done_left.is_empty() {
        bail!(
            "{} holders left half-done (their cards are not in these readers)",
            summary.half_done_left.len()
        );
    }
    Ok(())
}

/// The security module at `addr`, checked to answer the protocol before any holder is
/// claimed.
pub fn hsm_client(addr: &str) -> Result<HsmClient> {
    let resolved = addr
        .to_socket_addrs()
        .with_context(|| format!("--hsm {addr}: not a host:port"))?
        .next()
        .with_context(|| format!("--hsm {addr}: no address"))?;
    let mut client = HsmClient::new(resolved);
    client
        .ping()
        .with_context(|| format!("--hsm {addr}: the security module does not answer"))?;
    Ok(client)
}

/// Makes the template a card of `generation`: 3 → spec version 3.00 and SM4 (`03`),
/// 2 → 2.00 and 3DES (`01`).
fn set_generation(base: &mut Image, generation: u8) {
    let (version, algorithm) = if generation == 3 {
        ("3.00", "03")
    } else {
        ("2.00", "01")
    };
    base.algorithm_id = Some(algorithm.into());
    base.files
        .entry(sscard_fs::SSSE_EF05.into())
        .or_default()
        .insert("spec_version".into(), Value::Text(version.into()));
}
