//! The batch engine: several readers issuing the holders of one batch in parallel,
//! each card journaled step by step so that a stopped or crashed batch resumes without
//! issuing a holder twice.
//!
//! # One reader's loop
//!
//! Each [`Station`] (a reader with its card feeder) runs on its own thread:
//!
//! 1. wait for a card ([`Station::card`]; an error stops this reader, recorded in
//!    [`ReaderSummary::error`], with no holder claimed);
//! 2. take a holder: first a half-done holder whose last step was on this reader (its
//!    card is still in the reader), else [`Journal::claim_next`] (which records
//!    `started`);
//! 3. pre-personalise it ([`pre_personalise`], with the 3.0 read rules when the
//!    holder's image is a 3rd-generation card's; a half-issued card of a resumed holder
//!    goes through [`reissue`]) and record `preissued` with the card's ATR and
//!    identification code;
//! 4. personalise: external authentication with the update key (`04`) through the
//!    security module, then UPDATE RECORD of every EF05 and EF06 record of
//!    [`Holder::to_card_image`] (the initial PIN is loaded by pre-personalisation); with
//!    [`Config::bank`], then the bank application by STORE DATA
//!    ([`crate::bank::write`]); record `personalised`;
//! 5. read the card back ([`sscard_ssse::read_image`]; a 3rd-generation card, see
//!    [`third_generation`], after internal and RKSSSE external authentication through
//!    the security module, [`sscard_ssse::read_image_secured`]) and compare it item by
//!    item with the target image; record `verified`;
//! 6. eject the card ([`Station::eject`], the feeder's signal) and record `done`.
//!
//! Any failure records `failed` with the reason, writes the card's result file and
//! ejects the card (so it is reported, never reused for the next holder).
//!
//! # Result files
//!
//! With [`Config::results`], each card's attempt ends with `<holder>.json`: holder key,
//! batch row, reader, ATR, card identification code, the steps with their times, and
//! `result` (`done`, `failed` with `reason`, or `stopped`). A run stopped between the
//! journal's last write and the file leaves none: the next run writes it from the
//! journal (`resumed_from: "recovered"`, the last step only).
//!
//! # Stopping and resuming
//!
//! The stop flag is looked at after every journal write and before each holder: a
//! worker that sees it lets go of its holder without writing anything more (the
//! holder shows up as half-done). A card error while the flag is set is taken as the
//! interruption itself (a pulled reader, Ctrl-C during an APDU), not as a failure.
//!
//! On the next run, a half-done holder whose card is in the reader it was last on is
//! resumed from its card's state:
//!
//! | card in the reader | last step | action |
//! |---|---|---|
//! | blank | `started` | issue normally |
//! | blank | `verified` | the card was ejected before the crash: record `done` |
//! | blank | `preissued`, `personalised` | not the holder's card: `failed` |
//! | half-issued | any | [`reissue`] (erase, pre-personalise again) |
//! | issued | any | personalise (idempotent), verify, eject |
//!
//! A card that fails while the key wrap is unavailable ([`KeyWrap::check_available`]:
//! the security module is down or unreachable) is not failed: its reader stops, with
//! the error in [`ReaderSummary::error`], the holder half-done and the card in the
//! reader, so that a run with the module back resumes it — instead of failing and
//! ejecting every remaining card of the batch in quick succession.
//!
//! The bank application (with [`Config::bank`]) is written in the `personalised` step:
//! on resume a blank bank application is written, a personalised one (the crash came
//! after its last STORE DATA) is kept, and a half-personalised one cannot be resumed
//! (there is no ERASE for it): the holder is recorded `failed` and the card ejected,
//! so `--retry-failed` re-issues the holder on a new card.
//!
//! Half-done holders last seen on a reader that is not part of this run are left alone
//! and listed in [`Summary::half_done_left`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sscard_apdu::trace::Trace;
use sscard_apdu::{hex, CommandBuilder, Exchange, Status, Transport};
use sscard_crypto::keys::Algorithm;
use sscard_fs::image::{FileContent, Value};
use sscard_fs::{Image, Profile};
use sscard_ssse::security::{external_authenticate, CardContext, SecurityModule};

use crate::batch::Holder;
use crate::cos::{pre_personalise, reissue, CosBackend, IssuePlan, KeyWrap, LifecycleState};
use crate::journal::{CardIdentity, HalfDone, HolderState, Journal, JournalError, Step};

/// The files the engine personalises and verifies.
pub const PERSONALISED_FILES: [&str; 2] = ["SSSE/EF05", "SSSE/EF06"];

/// The update key of EF05 and EF06 (external authentication before UPDATE RECORD).
pub const UPDATE_KEY: u8 = 0x04;

/// A card in a reader, lent to the engine.
#[derive(Debug)]
pub struct Card<'a, T: Transport, R: Trace> {
    /// The answer to reset.
    pub atr: Vec<u8>,
    /// The connection to the card.
    pub ex: &'a mut Exchange<T, R>,
}

/// A reader's answer: the value, or what went wrong, for the operator.
pub type StationResult<T> = Result<T, String>;

/// A reader with its card feeder, as one engine thread drives it.
pub trait Station: Send {
    /// The connection's transport.
    type Transport: Transport;
    /// The connection's tracer.
    type Trace: Trace;

    /// The reader's name (recorded in the journal).
    fn name(&self) -> &str;

    /// The card in the reader, waiting for one if the reader is empty; `None` when no
    /// card will come (feeder empty, stopping). Does not take the card out: asking
    /// twice gives the same card.
    fn card(&mut self) -> StationResult<Option<Card<'_, Self::Transport, Self::Trace>>>;

    /// Ejects the card (the feeder's signal that the terminal is done with it); the
    /// next [`Station::card`] gives the next card.
    fn eject(&mut self) -> StationResult<()>;
}

/// One journal write, as the engine reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepEvent {
    /// The reader.
    pub reader: String,
    /// The holder key.
    pub holder: String,
    /// The step recorded.
    pub step: Step,
    /// Holders done so far in this run.
    pub done: usize,
    /// Holders failed so far in this run.
    pub failed: usize,
    /// Holders this run set out to issue (not done when it started).
    pub total: usize,
    /// Time since the run started.
    pub elapsed: Duration,
}

/// Watches the engine's progress (the CLI renders a progress line from it).
pub trait Observer: Sync {
    /// Called after each journal write, from the reader's thread.
    fn step(&self, event: &StepEvent);
}

/// An observer that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct Quiet;

impl Observer for Quiet {
    fn step(&self, _event: &StepEvent) {}
}

/// What the engine needs besides the readers.
pub struct Config<'a, B> {
    /// The card profile.
    pub profile: &'a Profile,
    /// The template image (items the batch does not give: card identification code,
    /// ATR, versions).
    pub base: &'a Image,
    /// The valid holders of the batch.
    pub holders: &'a [Holder],
    /// The batch's journal.
    pub journal: &'a Journal,
    /// The COS backend.
    pub backend: B,
    /// The cards' algorithm.
    pub algorithm: Algorithm,
    /// Where per-card result files go (`<holder>.json`); `None`: none written.
    pub results: Option<PathBuf>,
    /// Set to stop (after the current journal write).
    pub stop: &'a AtomicBool,
    /// Rows of the batch file refused by validation (for the summary).
    pub invalid_rows: usize,
    /// Also issue the holders whose last attempt failed (on a new card), after the
    /// half-done ones and before the holders not started.
    pub retry_failed: bool,
    /// Also personalise the bank application from this profile (rows need `pan`).
    pub bank: Option<&'a crate::bank::BankProfile>,
}

impl<'a, B> Config<'a, B> {
    /// The engine's settings with no result files, no refused rows counted, failed
    /// holders not retried and no bank application; set those fields as needed
    /// (`Config { results: Some(dir), ..Config::new(…) }`).
    pub fn new(
        profile: &'a Profile,
        base: &'a Image,
        holders: &'a [Holder],
        journal: &'a Journal,
        backend: B,
        algorithm: Algorithm,
        stop: &'a AtomicBool,
    ) -> Self {
        Self {
            profile,
            base,
            holders,
            journal,
            backend,
            algorithm,
            results: None,
            stop,
            invalid_rows: 0,
            retry_failed: false,
            bank: None,
        }
    }
}

impl<B> core::fmt::Debug for Config<'_, B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Config")
            .field("holders", &self.holders.len())
            .field("journal", &self.journal.path())
            .field("results", &self.results)
            .finish()
    }
}

/// Why the engine could not run (card failures are not errors: they are recorded).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The journal failed: the batch stops, since nothing may happen unrecorded.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A result file could not be written.
    #[error("result file {path}: {source}")]
    Results {
        /// The file.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// A reader thread panicked.
    #[error("reader thread {0} panicked")]
    Panicked(String),
}

/// One reader's figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ReaderSummary {
    /// The reader.
    pub reader: String,
    /// Cards issued (done).
    pub issued: usize,
    /// Cards failed.
    pub failed: usize,
    /// Half-done holders resumed on this reader.
    pub resumed: usize,
    /// Time the reader's thread ran.
    pub elapsed_ms: u64,
    /// Issued cards per minute.
    pub cards_per_min: f64,
    /// Why the reader stopped early (no card came, the reader went away).
    pub error: Option<String>,
}

/// The run's outcome.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Holders done in this run.
    pub issued: usize,
    /// Holders failed in this run (with the reason).
    pub failed: Vec<(String, String)>,
    /// Invalid rows skipped.
    pub skipped_invalid: usize,
    /// Holders done by earlier runs.
    pub done_before: usize,
    /// Half-done holders found at the start.
    pub half_done_at_start: usize,
    /// Half-done holders left at the end (not resumable here, or stopped): key, last
    /// step, reader.
    pub half_done_left: Vec<(String, String, String)>,
    /// Whether the run was stopped before the batch was through.
    pub stopped: bool,
    /// Wall time.
    pub elapsed_ms: u64,
    /// Per reader.
    pub readers: Vec<ReaderSummary>,
}

/// One step of a result file.
#[derive(Clone, Debug, Serialize)]
struct StepRecord {
    step: &'static str,
    ts_ms: u64,
}

/// The per-card result file.
#[derive(Clone, Debug, Serialize)]
struct ResultFile<'a> {
    holder: &'a str,
    row: usize,
    reader: &'a str,
    atr: Option<String>,
    card_id: Option<String>,
    resumed_from: Option<&'static str>,
    steps: Vec<StepRecord>,
    result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// The issuance record: the card image written to the card (`sscard verify
    /// --record` takes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<&'a Image>,
    /// The bank application written (PAN, PSN, AID), when the batch issues one.
    #[serde(skip_serializing_if = "Option::is_none")]
    bank: Option<BankRecord>,
}

/// What the result file says about the bank application.
#[derive(Clone, Debug, Serialize)]
struct BankRecord {
    pan: String,
    psn: u8,
    aid: String,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn rank(step: &Step) -> u8 {
    match step {
        Step::Started => 0,
        Step::Preissued => 1,
        Step::Personalised => 2,
        Step::Verified => 3,
        Step::Done | Step::Failed { .. } => 4,
    }
}

/// How one card ended.
enum Outcome {
    Done,
    Failed(String),
    Stopped,
    /// The reader cannot go on (the security module is unavailable): it stops, and the
    /// holder stays half-done with its card in the reader.
    Halted(String),
}

/// Why a card's run ended early.
enum Abort {
    Failed(String),
    Stopped,
    Journal(JournalError),
}

impl From<JournalError> for Abort {
    fn from(e: JournalError) -> Self {
        Self::Journal(e)
    }
}

/// State shared by the reader threads.
struct Shared<'a, B> {
    config: &'a Config<'a, B>,
    started: Instant,
    total: usize,
    done: AtomicUsize,
    failed: Mutex<Vec<(String, String)>>,
    half_done_at_start: usize,
    half_done: Mutex<Vec<HalfDone>>,
    retry: Mutex<Vec<String>>,
    observer: &'a dyn Observer,
}

impl<B> Shared<'_, B> {
    fn stopping(&self) -> bool {
        self.config.stop.load(Ordering::SeqCst)
    }

    fn failed_count(&self) -> usize {
        self.failed.lock().map_or(0, |f| f.len())
    }

    fn take_half_done(&self, reader: &str) -> Option<HalfDone> {
        let mut list = self.half_done.lock().ok()?;
        let i = list.iter().position(|h| h.progress.reader == reader)?;
        Some(list.remove(i))
    }
}

/// One card's attempt, as it goes.
struct Attempt<'a> {
    holder: &'a Holder,
    reader: &'a str,
    card: CardIdentity,
    reached: u8,
    resumed_from: Option<&'static str>,
    steps: Vec<StepRecord>,
    /// The card image being written (once computed).
    record: Option<Image>,
    /// The bank application's AID (hex), when the batch issues one.
    bank_aid: Option<String>,
}

impl Attempt<'_> {
    /// Records `step` unless the journal has it already (a resumed holder).
    fn record<B>(&mut self, shared: &Shared<'_, B>, step: Step) -> Result<(), Abort> {
        let failed = matches!(step, Step::Failed { .. });
        if !failed && rank(&step) <= self.reached {
            return Ok(());
        }
        shared
            .config
            .journal
            .record(self.holder.ssn(), self.reader, step.clone(), &self.card)?;
        self.steps.push(StepRecord {
            step: step.name(),
            ts_ms: now_ms(),
        });
        if !failed {
            self.reached = rank(&step);
        }
        match &step {
            Step::Done => {
                shared.done.fetch_add(1, Ordering::SeqCst);
            }
            Step::Failed { reason } => {
                if let Ok(mut f) = shared.failed.lock() {
                    f.push((self.holder.ssn().to_owned(), reason.clone()));
                }
            }
            _ => {}
        }
        self.notify(shared, step);
        // Failed and done end the attempt anyway; any other step may be the last one
        // before a stop.
        if !matches!(self.reached, 4) && !failed && shared.stopping() {
            return Err(Abort::Stopped);
        }
        Ok(())
    }

    fn notify<B>(&self, shared: &Shared<'_, B>, step: Step) {
        shared.observer.step(&StepEvent {
            reader: self.reader.to_owned(),
            holder: self.holder.ssn().to_owned(),
            step,
            done: shared.done.load(Ordering::SeqCst),
            failed: shared.failed_count(),
            total: shared.total,
            elapsed: shared.started.elapsed(),
        });
    }

    fn write_result<B>(
        &self,
        shared: &Shared<'_, B>,
        result: &'static str,
        reason: Option<String>,
    ) -> Result<(), EngineError> {
        match &shared.config.results {
            Some(dir) => self.write_file(dir, result, reason),
            None => Ok(()),
        }
    }

    fn write_file(
        &self,
        dir: &std::path::Path,
        result: &'static str,
        reason: Option<String>,
    ) -> Result<(), EngineError> {
        let file = ResultFile {
            holder: self.holder.ssn(),
            row: self.holder.row(),
            reader: self.reader,
            atr: self.card.atr.clone(),
            card_id: self.card.card_id.clone(),
            resumed_from: self.resumed_from,
            steps: self.steps.clone(),
            result,
            reason,
            record: self.record.as_ref(),
            bank: self.bank_aid.as_ref().map(|aid| BankRecord {
                pan: self.holder.pan().unwrap_or_default().to_owned(),
                psn: self.holder.psn(),
                aid: aid.clone(),
            }),
        };
        let path = dir.join(format!("{}.json", self.holder.ssn()));
        let tmp = dir.join(format!(".{}.json.tmp", self.holder.ssn()));
        let err = |source| EngineError::Results {
            path: path.clone(),
            source,
        };
        let mut text = serde_json::to_vec_pretty(&file).map_err(|e| err(e.into()))?;
        text.push(b'\n');
        std::fs::create_dir_all(dir).map_err(err)?;
        std::fs::write(&tmp, &text).map_err(err)?;
        std::fs::rename(&tmp, &path).map_err(err)?;
        Ok(())
    }
}

/// Runs the batch on `stations` (one thread each) until every holder is done or
/// failed, no card comes, or the stop flag is set. `keys` makes each thread's key
/// wrapper (for pre-personalisation) and security module (for the update key and a
/// 3.0 card's read-back): software keys, or a client of a security module that holds
/// them ([`crate::hsm::HsmClient`] for both). Their failures (a module gone) fail the
/// card at hand like any card error.
pub fn run<S, B, W, M, F>(
    config: &Config<'_, B>,
    stations: Vec<S>,
    keys: F,
    observer: &dyn Observer,
) -> Result<Summary, EngineError>
where
    S: Station,
    B: CosBackend + Clone + Send + Sync,
    W: KeyWrap,
    M: SecurityModule,
    F: Fn() -> (W, M) + Sync,
{
    let started = Instant::now();
    let journal = config.journal;
    recover_results(config)?;
    let before = journal.summary()?;
    let half_done = journal.half_done()?;
    let retry = if config.retry_failed {
        journal.failed()?.into_iter().map(|h| h.holder).collect()
    } else {
        Vec::new()
    };
    let shared = Shared {
        config,
        started,
        total: before
            .holders
            .saturating_sub(before.done)
            .saturating_sub(if config.retry_failed {
                0
            } else {
                before.failed
            }),
        done: AtomicUsize::new(0),
        failed: Mutex::new(Vec::new()),
        half_done_at_start: half_done.len(),
        half_done: Mutex::new(half_done),
        retry: Mutex::new(retry),
        observer,
    };
    let results: Vec<Result<ReaderSummary, EngineError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = stations
            .into_iter()
            .map(|station| {
                let shared = &shared;
                let keys = &keys;
                let name = station.name().to_owned();
                (name, scope.spawn(move || worker(shared, station, keys)))
            })
            .collect();
        handles
            .into_iter()
            .map(|(name, h)| h.join().unwrap_or(Err(EngineError::Panicked(name))))
            .collect()
    });
    let mut readers = Vec::new();
    for r in results {
        readers.push(r?);
    }
    let half_done_left = journal
        .half_done()?
        .into_iter()
        .map(|h| {
            (
                h.holder,
                h.progress.last.name().to_owned(),
                h.progress.reader,
            )
        })
        .collect();
    let after = journal.summary()?;
    Ok(Summary {
        issued: shared.done.load(Ordering::SeqCst),
        failed: shared.failed.into_inner().unwrap_or_default(),
        skipped_invalid: config.invalid_rows,
        done_before: before.done,
        half_done_at_start: shared.half_done_at_start,
        half_done_left,
        stopped: config.stop.load(Ordering::SeqCst) && after.not_started + after.in_progress > 0,
        elapsed_ms: millis(started.elapsed()),
        readers,
    })
}

/// Writes the result file of each finished holder that has none: the run that
/// finished it stopped between the journal write and the result file. Such a file has
/// only the last step, and says it was recovered.
fn recover_results<B>(config: &Config<'_, B>) -> Result<(), EngineError> {
    let Some(dir) = &config.results else {
        return Ok(());
    };
    for holder in config.holders {
        let path = dir.join(format!("{}.json", holder.ssn()));
        if path.exists() {
            continue;
        }
        let (progress, result) = match config.journal.state(holder.ssn())? {
            HolderState::Done(p) => (p, "done"),
            HolderState::Failed(p) => (p, "failed"),
            _ => continue,
        };
        let reason = match &progress.last {
            Step::Failed { reason } => Some(reason.clone()),
            _ => None,
        };
        let attempt = Attempt {
            holder,
            reader: &progress.reader,
            card: progress.card.clone(),
            reached: rank(&progress.last),
            resumed_from: Some("recovered"),
            steps: vec![StepRecord {
                step: progress.last.name(),
                ts_ms: progress.ts_ms,
            }],
            record: record_of(holder, config, &progress.card),
            bank_aid: config.bank.map(|b| hex::to_string(b.aid())),
        };
        attempt.write_file(dir, result, reason)?;
    }
    Ok(())
}

/// The issuance record of `holder`'s card as the journal names it: the image
/// personalised onto it ([`Holder::to_card_image`] with its ATR), or without a known
/// ATR the template's ([`Holder::to_image`]).
fn record_of<B>(holder: &Holder, config: &Config<'_, B>, card: &CardIdentity) -> Option<Image> {
    match card.atr.as_deref().map(hex::to_vec) {
        Some(Ok(atr)) => holder.to_card_image(config.base, config.profile, &atr).ok(),
        Some(Err(_)) => None,
        None => holder.to_image(config.base, config.profile).ok(),
    }
}

fn worker<S, B, W, M, F>(
    shared: &Shared<'_, B>,
    mut station: S,
    keys: &F,
) -> Result<ReaderSummary, EngineError>
where
    S: Station,
    B: CosBackend + Clone,
    W: KeyWrap,
    M: SecurityModule,
    F: Fn() -> (W, M),
{
    let started = Instant::now();
    let reader = station.name().to_owned();
    let mut summary = ReaderSummary {
        reader: reader.clone(),
        ..ReaderSummary::default()
    };
    let (mut wrap, mut module) = keys();
    let mut backend = shared.config.backend.clone();
    let journal = shared.config.journal;
    while !shared.stopping() {
        let half_done_here = shared
            .half_done
            .lock()
            .is_ok_and(|l| l.iter().any(|h| h.progress.reader == reader));
        let retry_left = shared.retry.lock().is_ok_and(|l| !l.is_empty());
        if !half_done_here && !retry_left && journal.next_holders()?.is_empty() {
            break;
        }
        // A card first: a reader without cards claims no holder.
        match station.card() {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                summary.error = Some(e);
                break;
            }
        }
        let (key, resume) = match shared.take_half_done(&reader) {
            Some(h) => {
                journal.claim(&h.holder, &reader)?;
                summary.resumed += 1;
                (h.holder, Some(h.progress))
            }
            None => match shared.retry.lock().ok().and_then(|mut l| l.pop()) {
                Some(key) => {
                    journal.claim(&key, &reader)?;
                    (key, None)
                }
                None => match journal.claim_next(&reader)? {
                    Some(key) => (key, None),
                    None => break,
                },
            },
        };
        let Some(holder) = shared.config.holders.iter().find(|h| h.ssn() == key) else {
            journal.release(&key, &reader)?;
            continue;
        };
        let mut attempt = Attempt {
            holder,
            reader: &reader,
            // A resumed holder's card as the journal knows it (from `preissued` on).
            card: resume.as_ref().map(|p| p.card.clone()).unwrap_or_default(),
            reached: resume.as_ref().map_or(0, |p| rank(&p.last)),
            resumed_from: resume.as_ref().map(|p| p.last.name()),
            steps: vec![StepRecord {
                step: "started",
                ts_ms: now_ms(),
            }],
            record: None,
            bank_aid: shared.config.bank.map(|b| hex::to_string(b.aid())),
        };
        attempt.notify(shared, Step::Started);
        if shared.stopping() {
            journal.release(&key, &reader)?;
            break;
        }
        let outcome = issue_card(
            shared,
            &mut station,
            &mut backend,
            &mut wrap,
            &mut module,
            &mut attempt,
        );
        match outcome {
            Ok(Outcome::Done) => {
                summary.issued += 1;
                attempt.write_result(shared, "done", None)?;
            }
            Ok(Outcome::Failed(reason)) => {
                summary.failed += 1;
                attempt.write_result(shared, "failed", Some(reason))?;
            }
            Ok(Outcome::Stopped) => {
                journal.release(&key, &reader)?;
                attempt.write_result(shared, "stopped", None)?;
                break;
            }
            Ok(Outcome::Halted(reason)) => {
                journal.release(&key, &reader)?;
                attempt.write_result(shared, "stopped", Some(reason.clone()))?;
                summary.error = Some(reason);
                break;
            }
            Err(e) => {
                let _ = journal.release(&key, &reader);
                return Err(e.into());
            }
        }
    }
    let elapsed = started.elapsed();
    summary.elapsed_ms = millis(elapsed);
    let minutes = elapsed.as_secs_f64() / 60.0;
    #[allow(clippy::cast_precision_loss)]
    let issued = summary.issued as f64;
    summary.cards_per_min = if minutes > 0.0 { issued / minutes } else { 0.0 };
    Ok(summary)
}

/// Issues one card; journal errors stop the batch (`Err`), card errors are outcomes.
fn issue_card<S, B, W, M>(
    shared: &Shared<'_, B>,
    station: &mut S,
    backend: &mut B,
    wrap: &mut W,
    module: &mut M,
    attempt: &mut Attempt<'_>,
) -> Result<Outcome, JournalError>
where
    S: Station,
    B: CosBackend,
    W: KeyWrap,
    M: SecurityModule,
{
    let result = steps(shared, station, backend, wrap, module, attempt);
    let reason = match result {
        Ok(()) => return Ok(Outcome::Done),
        Err(Abort::Stopped) => return Ok(Outcome::Stopped),
        Err(Abort::Journal(e)) => return Err(e),
        Err(Abort::Failed(_)) if shared.stopping() => return Ok(Outcome::Stopped),
        Err(Abort::Failed(reason)) => reason,
    };
    // The security module gone: not this card's fault. The reader stops with the card
    // as it is, for the next run to resume, rather than failing every card after it.
    if let Err(e) = wrap.check_available() {
        return Ok(Outcome::Halted(format!(
            "security module unavailable ({e}); the card in the reader was left as it is: {reason}"
        )));
    }
    match attempt.record(
        shared,
        Step::Failed {
            reason: reason.clone(),
        },
    ) {
        Ok(()) | Err(Abort::Stopped) => {}
        Err(Abort::Journal(e)) => return Err(e),
        Err(Abort::Failed(_)) => {}
    }
    // The card is reported, never reused for the next holder: out it goes.
    let reason = match station.eject() {
        Ok(()) => reason,
        Err(e) => format!("{reason}; eject: {e}"),
    };
    Ok(Outcome::Failed(reason))
}

fn fail<E: core::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> Abort {
    move |e| Abort::Failed(format!("{what}: {e}"))
}

fn steps<S, B, W, M>(
    shared: &Shared<'_, B>,
    station: &mut S,
    backend: &mut B,
    wrap: &mut W,
    module: &mut M,
    attempt: &mut Attempt<'_>,
) -> Result<(), Abort>
where
    S: Station,
    B: CosBackend,
    W: KeyWrap,
    M: SecurityModule,
{
    let config = shared.config;
    let profile = config.profile;
    let Some(card) = station.card().map_err(fail("reader"))? else {
        return Err(Abort::Stopped);
    };
    let atr = card.atr;
    let ex = card.ex;
    if config.bank.is_some() {
        // A card left by a killed run may still have its bank application current
        // (no reset in between): select the MF so the COS's commands reach the SSCard.
        let mut buf = [0u8; 64];
        let mf = CommandBuilder::new(0x00, 0xA4, 0x00, 0x0C).data(&[0x3F, 0x00]);
        check(ex, &mf, &mut buf, "select MF")?;
    }
    let lifecycle = backend.lifecycle(ex).map_err(fail("lifecycle"))?;
    let resumed = attempt.resumed_from.is_some();
    // The holder's card: the one in the reader, or — for a resumed holder whose card the
    // journal names — that one. A card that is not blank and not the journal's is not
    // this holder's; a blank one in its place means the holder's card was ejected.
    let known = match attempt.card.atr.as_deref() {
        Some(text) if resumed => Some(hex::to_vec(text).map_err(fail("journal ATR"))?),
        _ => None,
    };
    let holder_atr = match known {
        Some(known) if lifecycle.state == LifecycleState::Blank => known,
        Some(known) if known != atr => {
            return Err(Abort::Failed(format!(
                "the card in reader {} (ATR {}) is not this holder's (ATR {})",
                attempt.reader,
                hex::to_string(&atr),
                hex::to_string(&known)
            )));
        }
        _ => atr.clone(),
    };
    // The image is the card's: its identification code comes from the chip when the
    // row gives none (the same card again on resume, so the same code).
    let target = attempt
        .holder
        .to_card_image(config.base, profile, &holder_atr)
        .map_err(fail("image"))?;
    attempt.record = Some(target.clone());
    let bank_card = match config.bank {
        Some(bank) => Some(bank_card(bank, attempt.holder)?),
        None => None,
    };
    let card_id = target
        .files
        .get("SSSE/EF05")
        .and_then(|f| f.get("card_id"))
        .and_then(Value::as_text)
        .unwrap_or_default()
        .to_owned();
    attempt.card = CardIdentity {
        atr: Some(hex::to_string(&holder_atr)),
        card_id: Some(card_id.clone()),
    };
    let ctx = CardContext {
        atr: &atr,
        card_id: &card_id,
        algorithm: config.algorithm,
    };
    let mut plan = IssuePlan::new(ctx);
    plan.generation3 = third_generation(&target);
    match (lifecycle.state, attempt.reached) {
        (LifecycleState::Blank, 0) => {
            pre_personalise(ex, backend, profile, wrap, &plan).map_err(fail("pre-issue"))?;
        }
        (LifecycleState::Blank, 3) if resumed => {
            // Verified, then ejected before `done` was written: the holder's card is
            // out of the reader and this blank card stays for the next holder.
            return attempt.record(shared, Step::Done);
        }
        (LifecycleState::Blank, _) => {
            return Err(Abort::Failed(format!(
                "the card in reader {} is blank: not the half-done card of this holder",
                attempt.reader
            )));
        }
        (LifecycleState::PrePersonalising, _) if resumed => {
            reissue(ex, backend, profile, wrap, &plan).map_err(fail("re-issue"))?;
        }
        (LifecycleState::Issued, _) if resumed => {}
        (state, _) => {
            return Err(Abort::Failed(format!(
                "the card in reader {} is not blank ({state:?})",
                attempt.reader
            )));
        }
    }
    attempt.record(shared, Step::Preissued)?;
    if attempt.reached < 2 {
        personalise(ex, profile, module, &ctx, &target)?;
        if let (Some(bank), Some(card)) = (config.bank, &bank_card) {
            write_bank(ex, bank, card, resumed)?;
        }
        attempt.record(shared, Step::Personalised)?;
    }
    if let (Some(_), Some(card)) = (config.bank, &bank_card) {
        let (state, _) = crate::bank::lifecycle(ex, &card.aid).map_err(fail("bank read back"))?;
        if state != crate::bank::LIFECYCLE_PERSONALISED {
            return Err(Abort::Failed(format!(
                "bank read back: lifecycle {state:02X}, not personalised"
            )));
        }
    }
    verify(ex, profile, module, &atr, &target)?;
    attempt.record(shared, Step::Verified)?;
    station.eject().map_err(fail("eject"))?;
    attempt.record(shared, Step::Done)
}

/// The holder's bank application (PAN and PSN from the row, dates from EF05).
fn bank_card(
    bank: &crate::bank::BankProfile,
    holder: &Holder,
) -> Result<crate::bank::BankCard, Abort> {
    let pan = holder
        .pan()
        .ok_or_else(|| Abort::Failed("bank: the row has no pan".into()))?;
    let date = |key: &str| {
        holder
            .value("SSSE/EF05", key)
            .ok_or_else(|| Abort::Failed(format!("bank: the row has no {key}")))
    };
    bank.personalise(&crate::bank::BankHolder {
        pan,
        psn: holder.psn(),
        expiry: date("expiry_date")?,
        effective: date("issue_date")?,
        id_number: Some(holder.ssn()),
    })
    .map_err(fail("bank"))
}

/// Writes the bank application (see the module docs for resumed cards).
fn write_bank<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    bank: &crate::bank::BankProfile,
    card: &crate::bank::BankCard,
    resumed: bool,
) -> Result<(), Abort> {
    match crate::bank::write(ex, card, bank.dek()) {
        Ok(_) => Ok(()),
        Err(crate::bank::BankError::AlreadyPersonalised) if resumed => Ok(()),
        Err(e) => Err(Abort::Failed(format!("bank: {e}"))),
    }
}

/// Selects the SSSE, authenticates with the update key and writes every EF05 and EF06
/// record of `target`.
fn personalise<T, R, M>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
    module: &mut M,
    ctx: &CardContext<'_>,
    target: &Image,
) -> Result<(), Abort>
where
    T: Transport,
    R: Trace,
    M: SecurityModule,
{
    let mut buf = [0u8; 258];
    let aid = profile
        .node("SSSE")
        .and_then(|n| n.aid.clone())
        .ok_or_else(|| Abort::Failed("profile: the SSSE has no AID".into()))?;
    let select = CommandBuilder::new(0x00, 0xA4, 0x04, 0x0C).data(&aid);
    check(ex, &select, &mut buf, "select SSSE")?;
    external_authenticate(ex, module, ctx, UPDATE_KEY).map_err(fail("update key"))?;
    for path in PERSONALISED_FILES {
        let sfi = profile
            .node(path)
            .and_then(|n| n.sfi)
            .ok_or_else(|| Abort::Failed(format!("profile: {path} has no SFI")))?;
        let FileContent::Records(records) = target.content(profile, path).map_err(fail("image"))?
        else {
            return Err(Abort::Failed(format!(
                "profile: {path} is not a record file"
            )));
        };
        for r in records {
            let cmd = CommandBuilder::new(0x00, 0xDC, r.number, (sfi << 3) | 4).data(&r.bytes);
            check(ex, &cmd, &mut buf, "update record").map_err(|e| match e {
                Abort::Failed(m) => Abort::Failed(format!("{path} record {}: {m}", r.number)),
                other => other,
            })?;
        }
    }
    Ok(())
}

fn check<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    cmd: &CommandBuilder<'_>,
    buf: &mut [u8],
    what: &'static str,
) -> Result<(), Abort> {
    let response = ex.send(cmd, buf).map_err(fail(what))?;
    match response.status {
        Status::Success => Ok(()),
        status => Err(Abort::Failed(format!("{what}: {status}"))),
    }
}

/// Whether `image` is a 3rd-generation card's: its spec version (EF05) starts with `3`.
/// Such a card gets the 3.0 read rules, and its read-back authenticates first.
pub fn third_generation(image: &Image) -> bool {
    image
        .files
        .get("SSSE/EF05")
        .and_then(|f| f.get("spec_version"))
        .and_then(Value::as_text)
        .is_some_and(|v| v.starts_with('3'))
}

/// A nonce for the read-back's internal authentication. Not from a cryptographic
/// generator: it only has to differ between cards (the card is ours, freshly issued);
/// the process's randomly keyed hasher over the clock and the holder's ID number gives
/// that.
fn read_back_nonce(target: &Image) -> [u8; 8] {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    now_ms().hash(&mut h);
    Instant::now().hash(&mut h);
    target
        .files
        .get("SSSE/EF06")
        .and_then(|f| f.get("ssn"))
        .and_then(Value::as_text)
        .hash(&mut h);
    h.finish().to_be_bytes()
}

/// Reads the card back and compares every EF05 and EF06 item with `target`. A 3.0
/// card is read after internal and RKSSSE external authentication through `module`
/// ([`sscard_ssse::read_image_secured`]), which proves the IRK and RKSSSE were loaded
/// right too.
fn verify<T: Transport, R: Trace, M: SecurityModule>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
    module: &mut M,
    atr: &[u8],
    target: &Image,
) -> Result<(), Abort> {
    let got = if third_generation(target) {
        let nonce = read_back_nonce(target);
        sscard_ssse::read_image_secured(ex, profile, atr, module, &nonce)
            .map_err(fail("read back"))?
    } else {
        sscard_ssse::read_image(ex, profile, atr).map_err(fail("read back"))?
    };
    for path in PERSONALISED_FILES {
        let empty = Default::default();
        let want = target.files.get(path).unwrap_or(&empty);
        let have = got.files.get(path).unwrap_or(&empty);
        for (key, value) in want {
            let blank = Value::Text(String::new());
            let read = have.get(key).unwrap_or(&blank);
            if read != value {
                let file = path.rsplit('/').next().unwrap_or(path);
                return Err(Abort::Failed(format!("verify: {file}/{key} differs")));
            }
        }
    }
    Ok(())
}
