//! The bank application's non-volatile state, in one serialisable struct so an emulator
//! run with `--state FILE` can keep it like the SSCard state ([`crate::persist`]), and
//! the journal that commits it atomically before the card answers.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::persist::{write_atomically, TearPoint};

/// The PBOC state format version.
pub const PBOC_STATE_VERSION: u32 = 1;

/// Everything about one payment application that survives a power cut.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PbocAppState {
    /// The AID, hex (a check that the state belongs to this profile).
    pub aid: String,
    /// Application transaction counter `9F36` (never goes back).
    pub atc: u16,
    /// Last online ATC register `9F13`.
    pub last_online_atc: u16,
    /// The offline PIN digits.
    pub pin: String,
    /// PIN tries left `9F17`.
    pub pin_tries: u8,
    /// Whether the application is blocked (APPLICATION BLOCK).
    pub blocked: bool,
    /// EC balance `9F79`, minor units.
    pub ec_balance: u64,
    /// EC balance limit `9F77`.
    pub ec_balance_limit: u64,
    /// EC single transaction limit `9F78`.
    pub ec_single_limit: u64,
    /// EC reset threshold `9F6D`.
    pub ec_reset_threshold: u64,
    /// Transaction log records, hex, most recent first.
    pub transaction_log: Vec<String>,
    /// Load log records, hex, most recent first.
    pub load_log: Vec<String>,
}

/// The bank application's non-volatile state: one entry per profile application.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PbocState {
    /// [`PBOC_STATE_VERSION`].
    pub version: u32,
    /// Per application, in profile order.
    pub applications: Vec<PbocAppState>,
    /// For an application that started blank: its personalisation (the DGIs the
    /// application is built from); absent for applications built from a profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perso: Option<super::PersoState>,
}

impl core::fmt::Debug for PbocState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut d = f.debug_struct("PbocState");
        for app in &self.applications {
            d.field("aid", &app.aid)
                .field("atc", &app.atc)
                .field("pin_tries", &app.pin_tries)
                .field("ec_balance", &app.ec_balance);
        }
        d.finish_non_exhaustive()
    }
}

/// Where the PBOC state goes after each change.
pub trait PbocJournal: Send {
    /// Commits `state` durably (or fails, leaving the previous commit in force).
    fn commit(&mut self, state: &PbocState) -> io::Result<()>;
}

/// A JSON state file written with [`write_atomically`] (temporary file, fsync, rename,
/// directory fsync).
#[derive(Clone, Debug)]
pub struct PbocFileJournal {
    path: PathBuf,
    tear: Option<(TearPoint, usize)>,
    commits: usize,
}

impl PbocFileJournal {
    /// A journal writing to `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            tear: None,
            commits: 0,
        }
    }

    /// Tearing mode (tests): the power is cut at `point` during commit number `nth`
    /// (0-based) and every later commit fails too (the card is off).
    pub fn tearing(mut self, point: TearPoint, nth: usize) -> Self {
        self.tear = Some((point, nth));
        self
    }

    /// Reads a committed state; `None` if the file does not exist yet. A leftover
    /// temporary file (a commit cut short) is ignored.
    pub fn load(path: &Path) -> io::Result<Option<PbocState>> {
        crate::persist::load_state(
            path,
            |s: &PbocState| s.version == PBOC_STATE_VERSION,
            "bank",
        )
    }
}

impl PbocJournal for PbocFileJournal {
    fn commit(&mut self, state: &PbocState) -> io::Result<()> {
        let n = self.commits;
        self.commits += 1;
        let tear = match self.tear {
            Some((_, nth)) if n > nth => return Err(io::Error::other("power cut (tearing test)")),
            Some((point, nth)) if n == nth => Some(point),
            _ => None,
        };
        let bytes = serde_json::to_vec_pretty(state).map_err(io::Error::other)?;
        write_atomically(&self.path, &bytes, tear)
    }
}
