//! Persistent emulated cards: the card's non-volatile state (file contents, PIN and its
//! try counter, key error counters) survives restarts, committed atomically after every
//! command that changes it (write a temporary file, fsync, rename over the state file,
//! fsync the directory).
//!
//! A **tearing** mode cuts the power at a chosen write step ([`TearPoint`]) to show
//! that a card restarted after any cut is consistent: the old state or the new one,
//! never a mix. Counters that protect secrets are committed *before* the secret is
//! compared (the PIN try counter, key error counters), so cutting the power mid-way
//! never gives an attacker a free try.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The state format version.
pub const STATE_VERSION: u32 = 1;

/// One record of an EF.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordState {
    /// Record number.
    pub number: u8,
    /// Record tag (TLV files).
    pub tag: Option<u8>,
    /// The record bytes, hex.
    pub bytes: String,
}

/// One EF, in profile order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EfState {
    /// FID (a check that the state belongs to this profile).
    pub fid: Option<u16>,
    /// Records of a record file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<RecordState>,
    /// Content of a transparent file, hex.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub data: String,
}

/// The card's non-volatile state.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardState {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// Every EF, in profile order.
    pub efs: Vec<EfState>,
    /// The PIN digits.
    pub pin: Option<String>,
    /// PIN tries left.
    pub pin_tries: Option<u8>,
    /// Error counters by card key id.
    pub key_tries: Vec<(u8, u8)>,
    /// Files, keys and lifecycle of a card built by issuance commands (a blank card,
    /// `crate::cos::SsCard::blank`); absent for cards built from a profile and an image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<crate::cos::Layout>,
}

impl core::fmt::Debug for CardState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CardState")
            .field("efs", &self.efs.len())
            .field("pin_tries", &self.pin_tries)
            .finish_non_exhaustive()
    }
}

/// Where the state goes after each change.
pub trait Journal: Send {
    /// Commits `state` durably (or fails, leaving the previous commit in force).
    fn commit(&mut self, state: &CardState) -> io::Result<()>;
}

/// A write step at which power can be cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TearPoint {
    /// Halfway through writing the temporary file.
    PartialTemp,
    /// After writing the temporary file, before fsync.
    BeforeSync,
    /// After fsync, before the rename over the state file.
    BeforeRename,
    /// After the rename, before the directory fsync.
    BeforeDirSync,
}

impl TearPoint {
    /// Every step, in order.
    pub const ALL: [Self; 4] = [
        Self::PartialTemp,
        Self::BeforeSync,
        Self::BeforeRename,
        Self::BeforeDirSync,
    ];
}

fn torn() -> io::Error {
    io::Error::other("power cut (tearing test)")
}

/// Writes `bytes` to `path` atomically: temporary file, fsync, rename, directory
/// fsync. With `tear`, stops at that step as a power cut would.
pub fn write_atomically(path: &Path, bytes: &[u8], tear: Option<TearPoint>) -> io::Result<()> {
    let tmp = temp_path(path);
    let mut file = File::create(&tmp)?;
    if tear == Some(TearPoint::PartialTemp) {
        file.write_all(bytes.get(..bytes.len() / 2).unwrap_or_default())?;
        return Err(torn());
    }
    file.write_all(bytes)?;
    if tear == Some(TearPoint::BeforeSync) {
        return Err(torn());
    }
    file.sync_all()?;
    drop(file);
    if tear == Some(TearPoint::BeforeRename) {
        return Err(torn());
    }
    fs::rename(&tmp, path)?;
    if tear == Some(TearPoint::BeforeDirSync) {
        return Err(torn());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// The state file of a persistent card.
#[derive(Debug)]
pub struct FileJournal {
    path: PathBuf,
    tear: Option<(TearPoint, usize)>,
    commits: usize,
}

impl FileJournal {
    /// Commits to `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            tear: None,
            commits: 0,
        }
    }

    /// Tearing mode: the power is cut at `point` during commit number `nth` (0-based)
    /// and every commit after it fails too (the card is off).
    pub fn tearing(mut self, point: TearPoint, nth: usize) -> Self {
        self.tear = Some((point, nth));
        self
    }

    /// Loads the last committed state, if there is one. A leftover temporary file (a
    /// commit cut short) is ignored.
    pub fn load(path: &Path) -> io::Result<Option<CardState>> {
        load_state(path, |s: &CardState| s.version == STATE_VERSION, "card")
    }
}

/// Reads a committed JSON state file; `None` if it does not exist yet. `current` says
/// whether the state's version is one this build reads (`what` names it in the error).
/// A leftover temporary file (a commit cut short) is ignored: only `path` is read.
pub fn load_state<S: serde::de::DeserializeOwned>(
    path: &Path,
    current: impl Fn(&S) -> bool,
    what: &str,
) -> io::Result<Option<S>> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let state: S = serde_json::from_slice(&bytes)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    if !current(&state) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown {what} state version"),
        ));
    }
    Ok(Some(state))
}

impl Journal for FileJournal {
    fn commit(&mut self, state: &CardState) -> io::Result<()> {
        let n = self.commits;
        self.commits += 1;
        let tear = match self.tear {
            Some((_, nth)) if n > nth => return Err(torn()),
            Some((point, nth)) if n == nth => Some(point),
            _ => None,
        };
        let bytes = serde_json::to_vec(state).map_err(io::Error::other)?;
        write_atomically(&self.path, &bytes, tear)
    }
}
