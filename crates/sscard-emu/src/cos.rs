//! The SSCard COS: the user card's file system and commands, built from the card
//! profile and a card image.
//!
//! This slice implements SELECT (by AID, P1 `04`; by FID, P1 `00`/`02`) and READ RECORD
//! in the four P2 forms of `spec/sscard.md` §1.6. Commands are parsed into
//! [`Command`] first (shape checks only: CLA, INS, P1, P2, Lc), then executed against
//! the file system and security state.

use sscard_apdu::applet::{Card, Interface, Reply};
use sscard_apdu::tlv::ber;
use sscard_apdu::{CommandView, Status};
use sscard_fs::image::Record;
use sscard_fs::profile::{AccessRule, NodeKind, Structure};
use sscard_fs::{Image, ImageError, Profile};

/// A parsed command of the user card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// SELECT by DF name (P1 `04`).
    SelectByName {
        /// The (possibly right-truncated) AID.
        aid: &'a [u8],
        /// Whether the FCI is wanted (P2 `00`) or not (P2 `0C`).
        fci: bool,
    },
    /// SELECT by file identifier (P1 `00`: any file; P1 `02`: EF under the current DF).
    SelectByFid {
        /// The FID.
        fid: u16,
        /// Only an EF under the current DF may be selected.
        ef_only: bool,
    },
    /// READ RECORD.
    ReadRecord {
        /// Which record.
        target: RecordRef,
        /// The EF by SFI, or the current EF.
        sfi: Option<u8>,
        /// Ne (0 when the command has no Le).
        ne: usize,
    },
}

/// How READ RECORD names its record (P2 bits 3–1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordRef {
    /// P2 `xxxxx100`: record number P1.
    Number(u8),
    /// P2 `xxxxx000`: first record whose tag is P1.
    Tag(u8),
}

const CLA_INTERINDUSTRY: u8 = 0x00;
const INS_SELECT: u8 = 0xA4;
const INS_READ_RECORD: u8 = 0xB2;

impl<'a> TryFrom<&CommandView<'a>> for Command<'a> {
    type Error = Status;

    fn try_from(c: &CommandView<'a>) -> Result<Self, Status> {
        check_class(c.cla())?;
        if c.cla() != CLA_INTERINDUSTRY {
            // Proprietary classes (80, 84): no proprietary command in this slice.
            return Err(Status::InstructionNotSupported);
        }
        match c.ins() {
            INS_SELECT => parse_select(c),
            INS_READ_RECORD => parse_read_record(c),
            _ => Err(Status::InstructionNotSupported),
        }
    }
}

fn check_class(cla: u8) -> Result<(), Status> {
    match cla {
        0x00 | 0x80 | 0x84 => Ok(()),
        // Logical channels 1-3 of the interindustry class.
        0x01..=0x03 => Err(Status::LogicalChannelNotSupported),
        // Secure messaging indicated in the interindustry class.
        0x04..=0x0F => Err(Status::SecureMessagingNotSupported),
        _ => Err(Status::ClassNotSupported),
    }
}

fn parse_select<'a>(c: &CommandView<'a>) -> Result<Command<'a>, Status> {
    let fci = match c.p2() {
        0x00 => true,
        0x0C => false,
        _ => return Err(Status::IncorrectP1P2),
    };
    match c.p1() {
        0x04 => {
            if c.data().is_empty() || c.data().len() > 16 {
                return Err(Status::WrongLength);
            }
            Ok(Command::SelectByName { aid: c.data(), fci })
        }
        0x00 | 0x02 => {
            let &[hi, lo] = c.data() else {
                return Err(Status::WrongLength);
            };
            Ok(Command::SelectByFid {
                fid: u16::from_be_bytes([hi, lo]),
                ef_only: c.p1() == 0x02,
            })
        }
        _ => Err(Status::IncorrectP1P2),
    }
}

fn parse_read_record<'a>(c: &CommandView<'a>) -> Result<Command<'a>, Status> {
    if !c.data().is_empty() {
        return Err(Status::WrongLength);
    }
    let sfi = match c.p2() >> 3 {
        0 => None,
        31 => return Err(Status::IncorrectP1P2),
        sfi => Some(sfi),
    };
    let target = match c.p2() & 0x07 {
        0x04 if c.p1() != 0 => RecordRef::Number(c.p1()),
        0x00 if c.p1() != 0 && c.p1() != 0xFF => RecordRef::Tag(c.p1()),
        // Record 0 (current record) and the next/previous/last forms are not
        // supported by this COS.
        _ => return Err(Status::IncorrectP1P2),
    };
    Ok(Command::ReadRecord {
        target,
        sfi,
        ne: c.le().unwrap_or(0),
    })
}

/// A DF of the emulated card.
#[derive(Clone, Debug)]
struct Df {
    aid: Option<Vec<u8>>,
    fid: Option<u16>,
    /// Index of the parent DF.
    parent: Option<usize>,
    fci: Vec<u8>,
}

/// An EF of the emulated card.
#[derive(Clone, Debug)]
struct Ef {
    df: usize,
    fid: Option<u16>,
    sfi: Option<u8>,
    structure: Structure,
    read: AccessRule,
    records: Vec<Record>,
}

/// Volatile card state, cleared by reset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Session {
    df: Option<usize>,
    ef: Option<usize>,
}

/// The emulated social security card (user card).
#[derive(Clone, Debug)]
pub struct SsCard {
    atr: Vec<u8>,
    dfs: Vec<Df>,
    efs: Vec<Ef>,
    mf: Option<usize>,
    session: Session,
}

/// Why a card cannot be built from a profile and an image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The profile is not valid.
    #[error(transparent)]
    Profile(#[from] sscard_fs::ProfileError),
    /// The image does not fit the profile.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The FCI of a DF cannot be encoded.
    #[error("FCI of {path} cannot be encoded")]
    Fci {
        /// The DF's profile path.
        path: String,
    },
}

impl SsCard {
    /// Builds the card's file system from a profile and the values of one card.
    pub fn new(profile: &Profile, image: &Image) -> Result<Self, BuildError> {
        image.validate(profile)?;
        let atr = image.atr_bytes()?;
        let algorithm_id = image.algorithm_id_byte()?;
        let mut dfs: Vec<Df> = Vec::new();
        let mut df_paths: Vec<&str> = Vec::new();
        let mut efs = Vec::new();
        for node in profile.nodes() {
            let parent = node
                .parent()
                .and_then(|p| df_paths.iter().position(|q| *q == p));
            match node.kind {
                NodeKind::Df => {
                    let fci = match &node.aid {
                        Some(aid) => fci(aid, algorithm_id).ok_or_else(|| BuildError::Fci {
                            path: node.path.clone(),
                        })?,
                        None => Vec::new(),
                    };
                    dfs.push(Df {
                        aid: node.aid.clone(),
                        fid: node.fid,
                        parent,
                        fci,
                    });
                    df_paths.push(&node.path);
                }
                NodeKind::Ef => {
                    let (Some(df), Some(structure)) = (parent, node.structure) else {
                        continue;
                    };
                    let records = match structure {
                        Structure::TlvRecord => image.records(profile, &node.path)?,
                        _ => Vec::new(),
                    };
                    efs.push(Ef {
                        df,
                        fid: node.fid,
                        sfi: node.sfi,
                        structure,
                        read: node.access.map_or(AccessRule::Never, |a| a.read),
                        records,
                    });
                }
            }
        }
        let mf = dfs.iter().position(|d| d.fid == Some(0x3F00));
        Ok(Self {
            atr,
            dfs,
            efs,
            mf,
            session: Session { df: mf, ef: None },
        })
    }

    fn select_by_name(
        &mut self,
        aid: &[u8],
        fci: bool,
        reply: &mut Reply<'_>,
    ) -> Result<(), Status> {
        let exact = self.dfs.iter().position(|d| d.aid.as_deref() == Some(aid));
        // ISO/IEC 7816-4 allows a right-truncated DF name.
        let found = exact.or_else(|| {
            self.dfs
                .iter()
                .position(|d| d.aid.as_deref().is_some_and(|a| a.starts_with(aid)))
        });
        let index = found.ok_or(Status::FileNotFound)?;
        self.session = Session {
            df: Some(index),
            ef: None,
        };
        if fci {
            if let Some(df) = self.dfs.get(index) {
                reply.extend_from_slice(&df.fci)?;
            }
        }
        Ok(())
    }

    fn select_by_fid(&mut self, fid: u16, ef_only: bool) -> Result<(), Status> {
        if !ef_only && fid == 0x3F00 {
            let mf = self.mf.ok_or(Status::FileNotFound)?;
            self.session = Session {
                df: Some(mf),
                ef: None,
            };
            return Ok(());
        }
        let current = self.session.df.ok_or(Status::FileNotFound)?;
        if let Some(ef) = self
            .efs
            .iter()
            .position(|e| e.df == current && e.fid == Some(fid))
        {
            self.session.ef = Some(ef);
            return Ok(());
        }
        if ef_only {
            return Err(Status::FileNotFound);
        }
        let df = self
            .dfs
            .iter()
            .position(|d| d.parent == Some(current) && d.fid == Some(fid))
            .ok_or(Status::FileNotFound)?;
        self.session = Session {
            df: Some(df),
            ef: None,
        };
        Ok(())
    }

    fn read_record(
        &mut self,
        target: RecordRef,
        sfi: Option<u8>,
        ne: usize,
        reply: &mut Reply<'_>,
    ) -> Result<(), Status> {
        let index = match sfi {
            Some(sfi) => {
                let current = self.session.df.ok_or(Status::FileNotFound)?;
                let ef = self
                    .efs
                    .iter()
                    .position(|e| e.df == current && e.sfi == Some(sfi))
                    .ok_or(Status::FileNotFound)?;
                // Referencing by SFI makes the EF current (ISO/IEC 7816-4 §7.3.1).
                self.session.ef = Some(ef);
                ef
            }
            None => self
                .session
                .ef
                .ok_or(Status::CommandNotAllowedNoCurrentEf)?,
        };
        let ef = self
            .efs
            .get(index)
            .ok_or(Status::CommandNotAllowedNoCurrentEf)?;
        if ef.structure == Structure::Transparent {
            return Err(Status::IncompatibleFileStructure);
        }
        if ef.read != AccessRule::Free {
            return Err(Status::SecurityStatusNotSatisfied);
        }
        let record = match target {
            RecordRef::Number(n) => ef.records.iter().find(|r| r.number == n),
            RecordRef::Tag(t) => ef.records.iter().find(|r| r.tag == Some(t)),
        }
        .ok_or(Status::RecordNotFound)?;
        let len = record.bytes.len();
        if ne < len {
            // Records are at most 256 bytes (tag, length, 254 value bytes).
            return Err(Status::WrongLe(u8::try_from(len).unwrap_or(0)));
        }
        reply.extend_from_slice(&record.bytes)
    }
}

/// `6F { 84 AID, A5 { 9F0C 03 86 01 <alg> } }`; the A5 template only when the image
/// names an algorithm identifier (`spec/sscard.md` §3.6).
fn fci(aid: &[u8], algorithm_id: Option<u8>) -> Option<Vec<u8>> {
    let mut inner = vec![0u8; 64];
    let mut n = ber::write(0x84, aid, &mut inner).ok()?;
    if let Some(alg) = algorithm_id {
        let mut prop = [0u8; 8];
        let p = ber::write(0x9F0C, &[0x86, 0x01, alg], &mut prop).ok()?;
        n += ber::write(0xA5, prop.get(..p)?, inner.get_mut(n..)?).ok()?;
    }
    let mut out = vec![0u8; n + 4];
    let m = ber::write(0x6F, inner.get(..n)?, &mut out).ok()?;
    out.truncate(m);
    Some(out)
}

impl Card for SsCard {
    fn atr(&self) -> &[u8] {
        &self.atr
    }

    fn reset(&mut self) {
        self.session = Session {
            df: self.mf,
            ef: None,
        };
    }

    fn process(
        &mut self,
        _interface: Interface,
        command: &CommandView<'_>,
        reply: &mut Reply<'_>,
    ) -> Result<(), Status> {
        match Command::try_from(command)? {
            Command::SelectByName { aid, fci } => self.select_by_name(aid, fci, reply),
            Command::SelectByFid { fid, ef_only } => self.select_by_fid(fid, ef_only),
            Command::ReadRecord { target, sfi, ne } => self.read_record(target, sfi, ne, reply),
        }
    }
}

/// The benchmark floor: answers every command with its own data field and `9000`.
#[derive(Clone, Debug)]
pub struct EchoCard {
    atr: Vec<u8>,
}

impl EchoCard {
    /// An echo card with a minimal T=1 ATR (`3B 80 80 01 01`).
    pub fn new() -> Self {
        Self {
            atr: vec![0x3B, 0x80, 0x80, 0x01, 0x01],
        }
    }
}

impl Default for EchoCard {
    fn default() -> Self {
        Self::new()
    }
}

impl Card for EchoCard {
    fn atr(&self) -> &[u8] {
        &self.atr
    }
    fn reset(&mut self) {}
    fn process(
        &mut self,
        _: Interface,
        command: &CommandView<'_>,
        reply: &mut Reply<'_>,
    ) -> Result<(), Status> {
        reply.extend_from_slice(command.data())
    }
}
