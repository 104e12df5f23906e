//! A card feeder, as on a card centre's printer-encoder: the terminal ends each card
//! with the proprietary EJECT command (`80 EE 01 00`, `apdu-specs/cos-emulated.md`);
//! the feeder files the issued card away as `card-NNNN.json` (its [`CardState`]) in a
//! directory and puts a fresh blank card in the reader.
//!
//! Through vpcd the bridge keeps its connection, so pcscd sees no removal: the next
//! command (or power-on) meets the new blank card. A terminal reconnects (or resets)
//! after EJECT so that its session starts with the new card's answer to reset.
//!
//! With a state file, the new blank card's state replaces the issued card's in it
//! after the issued card's file is written, so a restarted emulator serves the card
//! that is in the reader. Numbering continues after the highest `card-NNNN.json`
//! already in the directory.
//!
//! The feeder holds any [`FeederCard`]: a blank [`SsCard`], or a blank [`DualCard`]
//! (`sscard emulate --blank`) whose bank application's state is filed beside the
//! SSCard's as `card-NNNN.json.bank` ([`bank_state_path`]).

use std::io;
use std::path::{Path, PathBuf};

use sscard_apdu::applet::{Card, Interface, Reply};
use sscard_apdu::{CommandView, Status};

use crate::cos::{BuildError, SsCard};
use crate::pboc::{DualCard, PbocBuildError, PbocFileJournal, PbocState};
use crate::persist::{write_atomically, CardState, FileJournal};

/// Where a bank application's state lives beside an SSCard state file (`FILE.bank`).
pub fn bank_state_path(state: &Path) -> PathBuf {
    let mut name = state.as_os_str().to_owned();
    name.push(".bank");
    PathBuf::from(name)
}

/// A card a [`Feeder`] can file and make persistent.
pub trait FeederCard: Card + Send + Sized {
    /// Writes the card's state to `path` (and its companions, e.g. `path.bank`).
    fn file_to(&self, path: &Path) -> io::Result<()>;
    /// The card keeping its state in `state` from now on; its current state is written
    /// there first.
    fn persist_in(self, state: &Path) -> Result<Self, FeederError>;
}

impl FeederCard for SsCard {
    fn file_to(&self, path: &Path) -> io::Result<()> {
        write_atomically(path, &state_json(&self.state())?, None)
    }

    fn persist_in(self, state: &Path) -> Result<Self, FeederError> {
        self.file_to(state).map_err(|source| FeederError::Io {
            path: state.to_path_buf(),
            source,
        })?;
        Ok(self.persistent(Box::new(FileJournal::new(state)), None)?)
    }
}

fn bank_json(state: &PbocState) -> io::Result<Vec<u8>> {
    serde_json::to_vec_pretty(state).map_err(io::Error::other)
}

impl FeederCard for DualCard {
    fn file_to(&self, path: &Path) -> io::Result<()> {
        write_atomically(path, &state_json(&self.social().state())?, None)?;
        write_atomically(
            &bank_state_path(path),
            &bank_json(self.bank().state())?,
            None,
        )
    }

    fn persist_in(self, state: &Path) -> Result<Self, FeederError> {
        self.file_to(state).map_err(|source| FeederError::Io {
            path: state.to_path_buf(),
            source,
        })?;
        let (social, bank) = self.into_parts();
        let social = social.persistent(Box::new(FileJournal::new(state)), None)?;
        let bank = bank.persistent(Box::new(PbocFileJournal::new(bank_state_path(state))), None)?;
        Ok(DualCard::new(social, bank))
    }
}

/// CLA of EJECT.
pub const EJECT_CLA: u8 = 0x80;
/// INS of EJECT.
pub const EJECT_INS: u8 = 0xEE;
/// P1 of EJECT.
pub const EJECT_P1: u8 = 0x01;
/// The EJECT command: `80 EE 01 00`, no data, no Le.
pub const EJECT: [u8; 4] = [EJECT_CLA, EJECT_INS, EJECT_P1, 0x00];

/// Why the feeder could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FeederError {
    /// The directory could not be created or listed, or a state file written.
    #[error("feeder {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// The blank card could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The blank card's bank application could not be built.
    #[error(transparent)]
    Bank(#[from] PbocBuildError),
}

/// Builds the blank cards the feeder hands out.
pub type BlankMaker<C = SsCard, E = BuildError> = Box<dyn FnMut() -> Result<C, E> + Send>;

/// The card in the reader and the stack of cards behind it.
pub struct Feeder<C: FeederCard = SsCard, E: Into<FeederError> = BuildError> {
    card: C,
    dir: PathBuf,
    state: Option<PathBuf>,
    issued: u32,
    make: BlankMaker<C, E>,
}

impl<C: FeederCard, E: Into<FeederError>> core::fmt::Debug for Feeder<C, E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Feeder")
            .field("dir", &self.dir)
            .field("issued", &self.issued)
            .finish()
    }
}

/// The highest `card-NNNN.json` number in `dir` (0 when none).
fn last_number(dir: &Path) -> io::Result<u32> {
    let mut last = 0;
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let number = name
            .to_str()
            .and_then(|n| n.strip_prefix("card-"))
            .and_then(|n| n.strip_suffix(".json"))
            .and_then(|n| n.parse::<u32>().ok());
        if let Some(n) = number {
            last = last.max(n);
        }
    }
    Ok(last)
}

impl<C: FeederCard, E: Into<FeederError>> Feeder<C, E> {
    /// A feeder filing issued cards in `dir` (created if missing), starting with
    /// `card` in the reader; `make` builds the next blank cards. With `state`, each
    /// new blank card keeps its state in that file (see the module docs).
    pub fn new(
        card: C,
        dir: impl Into<PathBuf>,
        state: Option<PathBuf>,
        make: BlankMaker<C, E>,
    ) -> Result<Self, FeederError> {
        let dir = dir.into();
        let io_err = |source| FeederError::Io {
            path: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(io_err)?;
        let issued = last_number(&dir).map_err(io_err)?;
        Ok(Self {
            card,
            dir,
            state,
            issued,
            make,
        })
    }

    /// Cards filed so far (numbering included cards of earlier runs).
    pub fn issued(&self) -> u32 {
        self.issued
    }

    /// The card in the reader.
    pub fn card(&self) -> &C {
        &self.card
    }

    /// The path of card number `n`.
    pub fn card_path(&self, n: u32) -> PathBuf {
        self.dir.join(format!("card-{n:04}.json"))
    }

    /// Files the card in the reader and puts in a fresh blank one.
    pub fn eject(&mut self) -> Result<PathBuf, FeederError> {
        let number = self.issued + 1;
        let path = self.card_path(number);
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| FeederError::Io { path, source }
        };
        let mut next = (self.make)().map_err(Into::into)?;
        self.card.file_to(&path).map_err(io_err(&path))?;
        self.issued = number;
        if let Some(state) = &self.state {
            next = next.persist_in(state)?;
        }
        self.card = next;
        Ok(path)
    }
}

fn state_json(state: &CardState) -> io::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(state).map_err(io::Error::other)?;
    bytes.push(b'\n');
    Ok(bytes)
}

impl<C: FeederCard, E: Into<FeederError>> Card for Feeder<C, E> {
    fn atr(&self) -> &[u8] {
        self.card.atr()
    }

    fn reset(&mut self) {
        self.card.reset();
    }

    fn process(
        &mut self,
        interface: Interface,
        command: &CommandView<'_>,
        reply: &mut Reply<'_>,
    ) -> Result<(), Status> {
        // Only P1 01: `80 EE 00 00` is the COS's ERASE and goes to the card.
        if command.cla() == EJECT_CLA && command.ins() == EJECT_INS && command.p1() == EJECT_P1 {
            if command.p2() != 0 {
                return Err(Status::IncorrectP1P2);
            }
            if !command.data().is_empty() {
                return Err(Status::WrongLength);
            }
            return self.eject().map(|_| ()).map_err(|_| Status::MemoryFailure);
        }
        self.card.process(interface, command, reply)
    }
}
