//! The issuance journal: an append-only file that makes a batch resumable after any
//! interruption (power cut, crash, pulled cable) without issuing a holder twice.
//!
//! # Format
//!
//! JSON lines, one event per line, UTF-8. The first line names the batch:
//!
//! ```json
//! {"ts_ms":1763778000000,"event":"batch","batch":"<sha-256 of the batch file>","holders":2}
//! ```
//!
//! then one line per step of a holder's card:
//!
//! ```json
//! {"ts_ms":1763778000123,"event":"step","holder":"330102199003071230","reader":"r1","step":"started"}
//! {"ts_ms":1763778000456,"event":"step","holder":"330102199003071230","reader":"r1","atr":"3B6D…","card_id":"3301…","step":"personalised"}
//! {"ts_ms":1763778000789,"event":"step","holder":"330102199003071230","reader":"r1","step":"failed","reason":"verify: EF06/name differs"}
//! ```
//!
//! Steps: `started` (the holder was claimed by a reader), `preissued`, `personalised`,
//! `verified`, `done`, `failed` (with a `reason`). `atr` and `card_id` are given once
//! known and carried forward. A later `batch` line (written when a changed batch file is
//! accepted on purpose) records the new hash.
//!
//! # Durability and recovery
//!
//! Each event is written with one `write` of the whole line; the file's directory is
//! fsync'd when the file is created. `started`, `verified`, `done` and `failed` (and
//! the header) are `fdatasync`ed before the call returns: they come before what a
//! resume must know about — the holder's data going onto a card, the card leaving the
//! reader — so a caller that got `Ok` may act on the card: the event survives a power
//! cut. `preissued` and `personalised` are not synced on their own; the next synced
//! event carries them. A power cut that loses one makes a resume redo an idempotent
//! step (the engine looks at the card's lifecycle: a pre-issued card is personalised
//! again, a half-issued one re-issued), never skip one; a killed process loses
//! nothing written. Readers that append at about the same time share one
//! `fdatasync` (group commit: the sync runs outside the journal's lock and covers
//! every line written before it started); after a failed sync the journal writes
//! nothing more.
//!
//! [`Journal::open`] reads the whole file ([`parse`]):
//!
//! * a last line without its line feed (a write cut short), or a last line that is not
//!   a valid event (part of a write that reached the disk out of order), is *torn*: it
//!   is ignored, and cut off (`ftruncate` + sync) before the next append;
//! * any other line that is not a valid event is corruption: the journal is refused
//!   ([`JournalError::Corrupt`] with the line number), never guessed around;
//! * an empty file, or one holding only a torn first line, is a new journal;
//! * a batch whose hash differs from the journal's is refused
//!   ([`JournalError::BatchChanged`]) unless [`OnChangedBatch::Accept`] is passed.
//!
//! The state of each holder follows from its events: not started (no event), in
//! progress (the last step and the card: *half-done* after a crash), failed, or done.
//! A `done` holder is never claimed again. Steps of an attempt go forward
//! (`preissued` may be skipped, for cards pre-issued elsewhere), `done` only after
//! `verified`; `failed` may come at any point. A `started` for a half-done holder
//! (resuming) keeps its last step and card; for a failed one it starts over.
//!
//! # Concurrency
//!
//! One process, several reader threads, one [`Journal`] (`Send + Sync`): a mutex
//! serialises appends and state changes (the sync waits outside it). [`Journal::claim`] and
//! [`Journal::claim_next`] write `started` under that mutex, so two readers never take
//! the same holder. Two processes must not open the same journal.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::batch::Batch;

/// A step of one holder's card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A reader claimed the holder.
    Started,
    /// The card's file tree and keys were created (pre-issuance ended).
    Preissued,
    /// The holder's data was written.
    Personalised,
    /// The card was read back and matches the image.
    Verified,
    /// Finished: the card can be handed out.
    Done,
    /// Given up for this card.
    Failed {
        /// Why, for the operator.
        reason: String,
    },
}

impl Step {
    /// The step's name in the journal file.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Preissued => "preissued",
            Self::Personalised => "personalised",
            Self::Verified => "verified",
            Self::Done => "done",
            Self::Failed { .. } => "failed",
        }
    }
}

/// Order of the steps of one attempt (failed aside).
fn rank(step: &Step) -> u8 {
    rank_of(step.name())
}

fn rank_of(name: &str) -> u8 {
    match name {
        "started" => 0,
        "preissued" => 1,
        "personalised" => 2,
        "verified" => 3,
        "done" => 4,
        _ => 5,
    }
}

/// The step names of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StepName {
    Started,
    Preissued,
    Personalised,
    Verified,
    Done,
    Failed,
}

/// What identifies the physical card, once known.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CardIdentity {
    /// The answer to reset, hex.
    pub atr: Option<String>,
    /// The card identification code (EF05 01), hex.
    pub card_id: Option<String>,
}

/// Where a holder's card got to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The last step recorded.
    pub last: Step,
    /// The reader of the last step.
    pub reader: String,
    /// The card, as far as known.
    pub card: CardIdentity,
    /// Time of the last step, milliseconds since the Unix epoch.
    pub ts_ms: u64,
}

/// The state of one holder, derived from the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HolderState {
    /// No event yet.
    NotStarted,
    /// Started and not finished: half-done if no reader holds it.
    InProgress(Progress),
    /// The last attempt failed (`last` is [`Step::Failed`]).
    Failed(Progress),
    /// Done.
    Done(Progress),
}

/// What to do when the batch file's hash differs from the journal's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnChangedBatch {
    /// Refuse to open.
    #[default]
    Refuse,
    /// Open anyway and record the new hash; holders keep their state by key.
    Accept,
}

/// Why a journal operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// Reading, writing or syncing the file failed.
    #[error("journal {op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// A line that is not a valid event and not the torn last line.
    #[error("journal line {line} is corrupt")]
    Corrupt {
        /// 1-based line.
        line: usize,
    },
    /// The batch file is not the one the journal was started with.
    #[error("batch hash {batch} differs from the journal's {journal}")]
    BatchChanged {
        /// The journal's.
        journal: String,
        /// The batch file's.
        batch: String,
    },
    /// The holder is not in the batch.
    #[error("holder {holder} is not in the batch")]
    UnknownHolder {
        /// The key.
        holder: String,
    },
    /// The holder is done already.
    #[error("holder {holder} is done already")]
    AlreadyDone {
        /// The key.
        holder: String,
    },
    /// Another reader holds the holder.
    #[error("holder {holder} is held by reader {reader}")]
    Claimed {
        /// The key.
        holder: String,
        /// The reader holding it.
        reader: String,
    },
    /// The reader does not hold the holder (claim it first).
    #[error("reader {reader} does not hold holder {holder}")]
    NotClaimed {
        /// The key.
        holder: String,
        /// The reader.
        reader: String,
    },
    /// Steps go forward (`preissued` may be skipped) and `done` needs `verified`.
    #[error("holder {holder}: {step} cannot follow {last}")]
    OutOfOrder {
        /// The key.
        holder: String,
        /// The holder's last step.
        last: &'static str,
        /// The step refused.
        step: &'static str,
    },
    /// A thread panicked while holding the journal.
    #[error("journal lock poisoned")]
    Poisoned,
}

fn io(op: &'static str) -> impl FnOnce(std::io::Error) -> JournalError {
    move |source| JournalError::Io { op, source }
}

/// One line of the file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    ts_ms: u64,
    event: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    batch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    holders: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    holder: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reader: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    atr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    card_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    step: Option<StepName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum EventKind {
    Batch,
    Step,
}

/// One event read back from a journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The batch the journal is for (first line, and after an accepted change).
    Batch {
        /// SHA-256 of the batch file, hex.
        hash: String,
        /// Holders in the batch.
        holders: usize,
        /// Milliseconds since the Unix epoch.
        ts_ms: u64,
    },
    /// A step of one holder.
    Step {
        /// The holder key.
        holder: String,
        /// The reader.
        reader: String,
        /// The step.
        step: Step,
        /// The card, as far as this event says.
        card: CardIdentity,
        /// Milliseconds since the Unix epoch.
        ts_ms: u64,
    },
}

impl Line {
    fn into_event(self) -> Option<Event> {
        match self.event {
            EventKind::Batch => Some(Event::Batch {
                hash: self.batch?,
                holders: self.holders?,
                ts_ms: self.ts_ms,
            }),
            EventKind::Step => {
                let step = match (self.step?, self.reason) {
                    (StepName::Started, None) => Step::Started,
                    (StepName::Preissued, None) => Step::Preissued,
                    (StepName::Personalised, None) => Step::Personalised,
                    (StepName::Verified, None) => Step::Verified,
                    (StepName::Done, None) => Step::Done,
                    (StepName::Failed, Some(reason)) => Step::Failed { reason },
                    _ => return None,
                };
                Some(Event::Step {
                    holder: self.holder?,
                    reader: self.reader?,
                    step,
                    card: CardIdentity {
                        atr: self.atr,
                        card_id: self.card_id,
                    },
                    ts_ms: self.ts_ms,
                })
            }
        }
    }

    fn from_event(event: &Event) -> Self {
        let mut line = Self {
            ts_ms: 0,
            event: EventKind::Batch,
            batch: None,
            holders: None,
            holder: None,
            reader: None,
            atr: None,
            card_id: None,
            step: None,
            reason: None,
        };
        match event {
            Event::Batch {
                hash,
                holders,
                ts_ms,
            } => {
                line.ts_ms = *ts_ms;
                line.batch = Some(hash.clone());
                line.holders = Some(*holders);
            }
            Event::Step {
                holder,
                reader,
                step,
                card,
                ts_ms,
            } => {
                line.ts_ms = *ts_ms;
                line.event = EventKind::Step;
                line.holder = Some(holder.clone());
                line.reader = Some(reader.clone());
                line.atr.clone_from(&card.atr);
                line.card_id.clone_from(&card.card_id);
                let (name, reason) = match step {
                    Step::Started => (StepName::Started, None),
                    Step::Preissued => (StepName::Preissued, None),
                    Step::Personalised => (StepName::Personalised, None),
                    Step::Verified => (StepName::Verified, None),
                    Step::Done => (StepName::Done, None),
                    Step::Failed { reason } => (StepName::Failed, Some(reason.clone())),
                };
                line.step = Some(name);
                line.reason = reason;
            }
        }
        line
    }
}

/// A journal file as read back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The valid events, in file order (the first is the batch header if any).
    pub events: Vec<Event>,
    /// Bytes of the file up to the end of the last valid event.
    pub valid_len: u64,
    /// Whether bytes after `valid_len` (a torn last line) were ignored.
    pub torn: bool,
}

/// Reads journal bytes: every complete valid line, ignoring a torn last line (see the
/// module docs). Never panics, whatever the bytes.
pub fn parse(bytes: &[u8]) -> Result<Parsed, JournalError> {
    let mut parsed = Parsed::default();
    let mut offset = 0usize;
    let mut line_no = 0usize;
    let mut rest = bytes;
    while !rest.is_empty() {
        line_no += 1;
        let Some(end) = rest.iter().position(|b| *b == b'\n') else {
            // No line feed: the write was cut short.
            parsed.torn = true;
            break;
        };
        let (line, after) = rest.split_at(end);
        let after = after.get(1..).unwrap_or_default();
        let event = serde_json::from_slice::<Line>(line)
            .ok()
            .and_then(Line::into_event);
        let header_ok = match (&event, parsed.events.is_empty()) {
            (Some(Event::Batch { .. }), _) | (Some(_), false) => true,
            (Some(_), true) | (None, _) => false,
        };
        if !header_ok {
            if after.is_empty() {
                // The last line, garbled: a write that reached the disk in pieces.
                parsed.torn = true;
                break;
            }
            return Err(JournalError::Corrupt { line: line_no });
        }
        if let Some(event) = event {
            parsed.events.push(event);
        }
        offset += end + 1;
        parsed.valid_len = u64::try_from(offset).unwrap_or(u64::MAX);
        rest = after;
    }
    Ok(parsed)
}

/// Counts of a journal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Holders in the batch.
    pub holders: usize,
    /// Done.
    pub done: usize,
    /// Started and not finished (including those a reader holds now).
    pub in_progress: usize,
    /// Last attempt failed.
    pub failed: usize,
    /// Not started.
    pub not_started: usize,
    /// Events about holders that are not in the batch (after an accepted change).
    pub foreign_events: usize,
    /// A torn last line was found when opening (cut off on the next append).
    pub torn_tail: bool,
}

/// A holder left half-done: started, not finished, and held by no reader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HalfDone {
    /// The holder key.
    pub holder: String,
    /// The last step and the card.
    pub progress: Progress,
}

struct Inner {
    file: File,
    hash: String,
    order: Vec<String>,
    index: HashMap<String, usize>,
    states: Vec<HolderState>,
    claimed: Vec<Option<String>>,
    valid_len: u64,
    torn: bool,
    torn_at_open: bool,
    foreign_events: usize,
    /// Event lines written so far (not all of them synced yet).
    written: u64,
    /// An `fdatasync` failed: what reached the disk is uncertain, so nothing more is
    /// written.
    sync_failed: bool,
}

/// The syncing side of group commit: a handle on the same file and how many lines are
/// known durable.
struct Synced {
    file: File,
    upto: u64,
}

/// The journal of one batch (see the module docs).
pub struct Journal {
    path: PathBuf,
    inner: Mutex<Inner>,
    /// Taken before `inner` when both are needed, never the other way round.
    synced: Mutex<Synced>,
}

impl core::fmt::Debug for Journal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn sync_dir(path: &Path) -> Result<(), JournalError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync directory"))
}

impl Journal {
    /// Opens (or creates) the journal of `batch` at `path`.
    pub fn open_batch(
        path: impl AsRef<Path>,
        batch: &Batch,
        on_change: OnChangedBatch,
    ) -> Result<Self, JournalError> {
        Self::open(path, &batch.hash, batch.keys(), on_change)
    }

    /// Opens (or creates) the journal at `path` for the batch with content hash
    /// `batch_hash` and these holder keys, in batch order (duplicates after the first
    /// are ignored). Recovers from a torn last line; see the module docs.
    pub fn open(
        path: impl AsRef<Path>,
        batch_hash: &str,
        holders: impl IntoIterator<Item = String>,
        on_change: OnChangedBatch,
    ) -> Result<Self, JournalError> {
        let path = path.as_ref().to_path_buf();
        let mut file = match OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => {
                sync_dir(&path)?;
                file
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => OpenOptions::new()
                .read(true)
                .append(true)
                .open(&path)
                .map_err(io("open"))?,
            Err(e) => return Err(io("create")(e)),
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io("read"))?;
        let parsed = parse(&bytes)?;
        let mut order = Vec::new();
        let mut index = HashMap::new();
        for key in holders {
            if !index.contains_key(&key) {
                index.insert(key.clone(), order.len());
                order.push(key);
            }
        }
        let count = order.len();
        let mut inner = Inner {
            file,
            hash: batch_hash.to_owned(),
            order,
            index,
            states: vec![HolderState::NotStarted; count],
            claimed: vec![None; count],
            valid_len: parsed.valid_len,
            torn: parsed.torn,
            torn_at_open: parsed.torn,
            foreign_events: 0,
            written: 0,
            sync_failed: false,
        };
        let mut journal_hash = None;
        for event in parsed.events {
            match event {
                Event::Batch { hash, .. } => journal_hash = Some(hash),
                Event::Step {
                    holder,
                    reader,
                    step,
                    card,
                    ts_ms,
                } => inner.apply(&holder, reader, step, card, ts_ms),
            }
        }
        match journal_hash {
            None => {
                // New (or only a torn header): write the header.
                let header = inner.header();
                inner.append(&header)?;
                inner.file.sync_data().map_err(io("sync"))?;
                sync_dir(&path)?;
            }
            Some(h) if h == batch_hash => {}
            Some(h) => match on_change {
                OnChangedBatch::Refuse => {
                    return Err(JournalError::BatchChanged {
                        journal: h,
                        batch: batch_hash.to_owned(),
                    })
                }
                OnChangedBatch::Accept => {
                    let header = inner.header();
                    inner.append(&header)?;
                    inner.file.sync_data().map_err(io("sync"))?;
                }
            },
        }
        let file = inner.file.try_clone().map_err(io("open"))?;
        let upto = inner.written;
        Ok(Self {
            path,
            inner: Mutex::new(inner),
            synced: Mutex::new(Synced { file, upto }),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, JournalError> {
        self.inner.lock().map_err(|_| JournalError::Poisoned)
    }

    /// Returns once event line `seq` (1-based, as [`Inner::append`] numbers them) is
    /// durable. Group commit: one `fdatasync` covers every line written before it
    /// started, so readers that append at about the same time share a sync instead of
    /// queueing one after another behind the journal's lock.
    fn durable(&self, seq: u64) -> Result<(), JournalError> {
        let mut synced = self.synced.lock().map_err(|_| JournalError::Poisoned)?;
        if synced.upto >= seq {
            return Ok(());
        }
        // Everything written up to now: lines appended while this thread waited for
        // `synced` are covered too.
        let target = self.lock()?.written;
        match synced.file.sync_data() {
            Ok(()) => {
                synced.upto = target;
                Ok(())
            }
            Err(e) => {
                if let Ok(mut inner) = self.lock() {
                    inner.sync_failed = true;
                }
                Err(io("sync")(e))
            }
        }
    }

    /// Claims `holder` for `reader` and records `started`: for a holder not started,
    /// a half-done one (resuming after a crash, once the operator has the card back in
    /// a reader: its last step and card are kept, so the engine carries on from there)
    /// or a failed one (retrying from the start, perhaps with another card). Refused for a done holder and for one
    /// another reader holds.
    pub fn claim(&self, holder: &str, reader: &str) -> Result<(), JournalError> {
        let seq = {
            let mut inner = self.lock()?;
            let i = inner.position(holder)?;
            inner.claim_at(i, reader)?
        };
        self.durable(seq)
    }

    /// Claims the first holder not started and not held, in batch order, and returns
    /// its key; `None` when there is none left.
    pub fn claim_next(&self, reader: &str) -> Result<Option<String>, JournalError> {
        let (seq, key) = {
            let mut inner = self.lock()?;
            let next = inner
                .states
                .iter()
                .zip(&inner.claimed)
                .position(|(s, c)| *s == HolderState::NotStarted && c.is_none());
            let Some(i) = next else { return Ok(None) };
            let seq = inner.claim_at(i, reader)?;
            (seq, inner.order.get(i).cloned())
        };
        self.durable(seq)?;
        Ok(key)
    }

    /// Records a step of a holder that `reader` holds. `done` and `failed` release it.
    pub fn record(
        &self,
        holder: &str,
        reader: &str,
        step: Step,
        card: &CardIdentity,
    ) -> Result<(), JournalError> {
        let mut inner = self.lock()?;
        let i = inner.position(holder)?;
        if matches!(inner.states.get(i), Some(HolderState::Done(_))) {
            return Err(JournalError::AlreadyDone {
                holder: holder.to_owned(),
            });
        }
        if inner.claimed.get(i).and_then(Option::as_deref) != Some(reader) {
            return Err(JournalError::NotClaimed {
                holder: holder.to_owned(),
                reader: reader.to_owned(),
            });
        }
        if !matches!(step, Step::Failed { .. }) {
            let last = match inner.states.get(i) {
                Some(HolderState::InProgress(p)) => p.last.name(),
                _ => "started",
            };
            let advances = rank(&step) > rank_of(last);
            let verified_first = step != Step::Done || last == "verified";
            if !advances || !verified_first {
                return Err(JournalError::OutOfOrder {
                    holder: holder.to_owned(),
                    last,
                    step: step.name(),
                });
            }
        }
        let finished = matches!(step, Step::Done | Step::Failed { .. });
        let ts_ms = now_ms();
        let event = Event::Step {
            holder: holder.to_owned(),
            reader: reader.to_owned(),
            step: step.clone(),
            card: card.clone(),
            ts_ms,
        };
        // `preissued` and `personalised` ride on the next sync (see the module docs).
        let lazy = matches!(step, Step::Preissued | Step::Personalised);
        let seq = inner.append(&event)?;
        inner.apply(holder, reader.to_owned(), step, card.clone(), ts_ms);
        if finished {
            if let Some(c) = inner.claimed.get_mut(i) {
                *c = None;
            }
        }
        drop(inner);
        if lazy {
            return Ok(());
        }
        self.durable(seq)
    }

    /// Lets go of a holder without recording anything (the reader stops; the holder
    /// stays in progress and shows up as half-done).
    pub fn release(&self, holder: &str, reader: &str) -> Result<(), JournalError> {
        let mut inner = self.lock()?;
        let i = inner.position(holder)?;
        match inner.claimed.get_mut(i) {
            Some(c) if c.as_deref() == Some(reader) => {
                *c = None;
                Ok(())
            }
            _ => Err(JournalError::NotClaimed {
                holder: holder.to_owned(),
                reader: reader.to_owned(),
            }),
        }
    }

    /// Holders not started and not held, in batch order.
    pub fn next_holders(&self) -> Result<Vec<String>, JournalError> {
        let inner = self.lock()?;
        Ok(inner
            .order
            .iter()
            .zip(inner.states.iter().zip(&inner.claimed))
            .filter(|(_, (s, c))| **s == HolderState::NotStarted && c.is_none())
            .map(|(k, _)| k.clone())
            .collect())
    }

    /// Holders started, not finished and held by no reader ("cards left half-done"),
    /// in batch order, with their last step and card.
    pub fn half_done(&self) -> Result<Vec<HalfDone>, JournalError> {
        let inner = self.lock()?;
        Ok(inner
            .order
            .iter()
            .zip(inner.states.iter().zip(&inner.claimed))
            .filter_map(|(k, (s, c))| match (s, c) {
                (HolderState::InProgress(p), None) => Some(HalfDone {
                    holder: k.clone(),
                    progress: p.clone(),
                }),
                _ => None,
            })
            .collect())
    }

    /// Holders whose last attempt failed, in batch order, with the reason and card.
    pub fn failed(&self) -> Result<Vec<HalfDone>, JournalError> {
        let inner = self.lock()?;
        Ok(inner
            .order
            .iter()
            .zip(&inner.states)
            .filter_map(|(k, s)| match s {
                HolderState::Failed(p) => Some(HalfDone {
                    holder: k.clone(),
                    progress: p.clone(),
                }),
                _ => None,
            })
            .collect())
    }

    /// The state of one holder.
    pub fn state(&self, holder: &str) -> Result<HolderState, JournalError> {
        let inner = self.lock()?;
        let i = inner.position(holder)?;
        Ok(inner
            .states
            .get(i)
            .cloned()
            .unwrap_or(HolderState::NotStarted))
    }

    /// Counts per state.
    pub fn summary(&self) -> Result<Summary, JournalError> {
        let inner = self.lock()?;
        let mut s = Summary {
            holders: inner.order.len(),
            foreign_events: inner.foreign_events,
            torn_tail: inner.torn_at_open,
            ..Summary::default()
        };
        for state in &inner.states {
            match state {
                HolderState::NotStarted => s.not_started += 1,
                HolderState::InProgress(_) => s.in_progress += 1,
                HolderState::Failed(_) => s.failed += 1,
                HolderState::Done(_) => s.done += 1,
            }
        }
        Ok(s)
    }
}

impl Inner {
    fn header(&self) -> Event {
        Event::Batch {
            hash: self.hash.clone(),
            holders: self.order.len(),
            ts_ms: now_ms(),
        }
    }

    fn position(&self, holder: &str) -> Result<usize, JournalError> {
        self.index
            .get(holder)
            .copied()
            .ok_or_else(|| JournalError::UnknownHolder {
                holder: holder.to_owned(),
            })
    }

    /// Claims holder `i` and writes `started`; returns the line's number for
    /// [`Journal::durable`].
    fn claim_at(&mut self, i: usize, reader: &str) -> Result<u64, JournalError> {
        let holder = self.order.get(i).cloned().unwrap_or_default();
        if matches!(self.states.get(i), Some(HolderState::Done(_))) {
            return Err(JournalError::AlreadyDone { holder });
        }
        if let Some(Some(other)) = self.claimed.get(i) {
            return Err(JournalError::Claimed {
                holder,
                reader: other.clone(),
            });
        }
        let ts_ms = now_ms();
        let event = Event::Step {
            holder: holder.clone(),
            reader: reader.to_owned(),
            step: Step::Started,
            card: CardIdentity::default(),
            ts_ms,
        };
        let seq = self.append(&event)?;
        self.apply(
            &holder,
            reader.to_owned(),
            Step::Started,
            CardIdentity::default(),
            ts_ms,
        );
        if let Some(c) = self.claimed.get_mut(i) {
            *c = Some(reader.to_owned());
        }
        Ok(seq)
    }

    /// The state change of one step event (replayed or live).
    fn apply(&mut self, holder: &str, reader: String, step: Step, card: CardIdentity, ts_ms: u64) {
        let Some(&i) = self.index.get(holder) else {
            self.foreign_events += 1;
            return;
        };
        let Some(state) = self.states.get_mut(i) else {
            return;
        };
        let previous = match state {
            // Nothing undoes done: a later event (never written by this module) is
            // ignored.
            HolderState::Done(_) => return,
            // Resuming a half-done holder: the card got as far as it got, so the last
            // step and card stay; only the reader changes.
            HolderState::InProgress(p) if step == Step::Started => {
                p.reader = reader;
                p.ts_ms = ts_ms;
                return;
            }
            HolderState::InProgress(p) => Some(p.card.clone()),
            _ => None,
        };
        let known = previous.unwrap_or_default();
        let card = CardIdentity {
            atr: card.atr.or(known.atr),
            card_id: card.card_id.or(known.card_id),
        };
        let progress = Progress {
            last: step.clone(),
            reader,
            card,
            ts_ms,
        };
        *state = match step {
            Step::Done => HolderState::Done(progress),
            Step::Failed { .. } => HolderState::Failed(progress),
            _ => HolderState::InProgress(progress),
        };
    }

    /// Writes one event line (the caller makes it durable: [`Journal::durable`]) and
    /// returns its number; first cuts off a torn tail.
    fn append(&mut self, event: &Event) -> Result<u64, JournalError> {
        if self.sync_failed {
            return Err(JournalError::Io {
                op: "append",
                source: std::io::Error::other(
                    "an earlier fdatasync failed; the journal's tail is uncertain",
                ),
            });
        }
        if self.torn {
            self.file
                .set_len(self.valid_len)
                .map_err(io("truncate torn tail"))?;
            self.file.sync_all().map_err(io("sync"))?;
            self.torn = false;
        }
        let mut bytes =
            serde_json::to_vec(&Line::from_event(event)).map_err(|e| JournalError::Io {
                op: "encode",
                source: e.into(),
            })?;
        bytes.push(b'\n');
        // A failed write may leave part of the line: treat the tail as torn.
        self.torn = true;
        self.file.write_all(&bytes).map_err(io("write"))?;
        self.torn = false;
        self.valid_len += u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.written += 1;
        Ok(self.written)
    }
}
