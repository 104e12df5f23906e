//! The emulated PSAM: the terminal's security module card (`spec/sscard.md` §3.2–3.4),
//! so terminals can authenticate emulated user cards through a card in another reader
//! slot, exactly as they would with a real PSAM.
//!
//! # What it holds
//!
//! Built from the PSAM profile (`apdu-specs/psam.json`), a key set
//! (`apdu-specs/keys/emulation.json` by default), a [`KeyScheme`] (the
//! [`EmulationScheme`] by default), a 12-digit terminal number and **one environment**,
//! as a real PSAM carries one:
//!
//! | environment | MF (selected by AID) | application DF01 | keys |
//! |---|---|---|---|
//! | `sx1` ([`Algorithm::Des3`]) | profile node `MF`: FID 3F00, AID `sx1.sh.社会保障` | `MF/DF01`: FID DF01, AID `D15600000590` | the 3DES masters |
//! | `sx3` ([`Algorithm::Sm4`]) | profile node `SX3`: AID `sx3.sh.社会保障`, FID 3F00 | `SX3/DF01`: FID DF01 (no AID) | the SM4 masters |
//!
//! The profile describes the transparent files only for the sx1 tree; an sx3 PSAM gets
//! the same ones (the terminal number `MF/EF16`, SFI 16, in its MF; the transaction
//! counter `MF/DF01/EF19` in DF01, all zero). The keys live in DF01: every entry of the
//! key set, found by its `psam_key` id **and** its usage byte (as PBOC-style PSAMs look
//! keys up by usage and index).
//!
//! # Commands
//!
//! | APDU | answer |
//! |---|---|
//! | `00 A4 04 00/0C Lc AID` | the MF (its AID, or a right-truncated prefix) or DF01 by AID; FCI `6F {84 AID}` with P2 00 |
//! | `00 A4 00/02 00/0C 02 FID` | 3F00 (P1 00), DF01 (P1 00), an EF of the current DF |
//! | `00 B0 96 00 06` | the terminal number (6 bytes BCD) by SFI 16; any EF by SFI or the current EF |
//! | `BF DE <usage> <key> Lc factors ‖ process factor` | `9000`: derives the card key (the master diversified over the 1–3 factors, card first) and the process key for the challenge |
//! | `80 FA 00 00 Lc data` | the data encrypted (ECB) with the process key: 3DES 8-byte blocks, SM4 16-byte blocks |
//! | `80 FA 05 00 Lc IV ‖ data` | the 8-byte PSAM MAC ([`sscard_crypto::mac::PsamMac`]) of data already padded; IV of one block (8 bytes 3DES, 16 SM4) |
//!
//! The process factor of `BF DE` is the 8-byte card challenge for 3DES and the
//! challenge ‖ `00×8` for SM4 (sscard.md §3.3): Lc = 8 × levels + 8 (3DES: `10`, `18`,
//! `20`) or + 16 (SM4: `18`, `20`, `28`). The case-3 answers of `80 FA` come as `61 08`
//! / `61 10` and GET RESPONSE through the [`Runtime`](crate::Runtime), like a T=0 card.
//!
//! # Status words
//!
//! Shape errors (from the command alone):
//!
//! * `6E00` unknown class, `6D00` unknown instruction;
//! * `6700`: a `BF DE` data field that is no valid length for the environment (not
//!   8 × n + the process-factor length with n = 1–3) or that carries Le; an `80 FA`
//!   without data, not a whole number of blocks, or a MAC without data after the IV;
//! * `6A86`: `BF DE` with a usage byte whose levels (high 3 bits) are not 1–3; `80 FA`
//!   with P1 other than `00`/`05` or P2 not `00`; bad SELECT/READ BINARY parameters;
//! * `6A80`: `BF DE` whose factor count disagrees with the levels of its usage byte,
//!   or (SM4) whose process factor does not end in eight zero bytes.
//!
//! State errors (when it executes):
//!
//! * `6985`: `BF DE` outside DF01; any `80 FA` without a successful `BF DE` since
//!   the last reset or DF selection;
//! * `6A88`: no key with this id and usage byte;
//! * `6A82`: no such file; `6986` READ BINARY without a current EF; `6B00` offset beyond
//!   the file.
//!
//! A reset, a DF selection and a failed `BF DE` end the key session (the process key
//! is dropped and zeroised).
//!
//! The result matches the emulated user card ([`crate::SsCard`]) built from the same key
//! set and scheme: `BF DE` + `80 FA 00 00` with P gives what the card's INTERNAL
//! AUTHENTICATE answers and what its EXTERNAL AUTHENTICATE accepts (for SM4, the first
//! 8 bytes of the PSAM's 16, see [`sscard_crypto::auth`]). **The emulation key scheme is
//! not the real one**: this PSAM authenticates emulated cards only.

use sscard_apdu::applet::{Card, Interface, Reply};
use sscard_apdu::tlv::ber;
use sscard_apdu::{CommandView, Status};
use sscard_crypto::kdf::{DivPath, EmulationScheme, KeyScheme, KeyUsage};
use sscard_crypto::keys::{Algorithm, AnyKey, Des3Key, Sm4Key};
use sscard_crypto::mac::PsamMac;
use sscard_fs::keys::{KeySet, KeySetError};
use sscard_fs::profile::{NodeKind, Structure};
use sscard_fs::{codec, Encoding, Profile, ProfileError};

/// The terminal number of a PSAM built without one.
pub const DEFAULT_TERMINAL_NUMBER: &str = "000000000001";

/// The emulated PSAM's answer to reset: T=0, TB1 = TC1 = 0, historical bytes
/// "sscardPSAM" (fictional, like every emulated card).
pub const PSAM_ATR: [u8; 14] = [
    0x3B, 0x6A, 0x00, 0x00, b's', b's', b'c', b'a', b'r', b'd', b'P', b'S', b'A', b'M',
];

/// Profile paths of the PSAM's terminal-number and application files.
const TERMINAL_NUMBER_EF: &str = "MF/EF16";
const SX1_MF: &str = "MF";
const SX1_DF01: &str = "MF/DF01";
const SX3_MF: &str = "SX3";
const SX3_DF01: &str = "SX3/DF01";

/// Digits in a terminal number (6 bytes BCD).
const TERMINAL_DIGITS: usize = 12;

/// Largest `80 FA` data field (a short APDU's).
const MAX_CIPHER_DATA: usize = 255;

/// How to build an emulated PSAM beyond its profile and environment.
pub struct PsamOptions<'a> {
    /// The master keys (`None`: the built-in emulation test keys).
    pub keys: Option<&'a KeySet>,
    /// The key scheme (diversification and process keys).
    pub scheme: Box<dyn KeyScheme + Send>,
    /// The terminal number, 12 decimal digits.
    pub terminal_number: &'a str,
}

impl Default for PsamOptions<'_> {
    fn default() -> Self {
        Self {
            keys: None,
            scheme: Box::new(EmulationScheme),
            terminal_number: DEFAULT_TERMINAL_NUMBER,
        }
    }
}

/// Why a PSAM cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PsamBuildError {
    /// The profile is not valid.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// The profile lacks a node the environment needs (or its AID, FID or size).
    #[error("the PSAM profile lacks {path} (or its AID, FID, SFI or size)")]
    MissingNode {
        /// The node's profile path.
        path: &'static str,
    },
    /// The key set is malformed.
    #[error("PSAM keys: {0}")]
    Keys(#[from] KeySetError),
    /// The terminal number is not 12 decimal digits.
    #[error("the terminal number must be 12 decimal digits")]
    TerminalNumber,
    /// The environment's algorithm has no emulated PSAM (SSF33, `sx2`).
    #[error("no emulated PSAM environment for this algorithm (sx1: 3DES, sx3: SM4)")]
    UnsupportedAlgorithm,
}

/// Which DF is current.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    Mf,
    Df01,
}

/// A transparent EF.
#[derive(Clone, Debug)]
struct Ef {
    dir: Dir,
    fid: Option<u16>,
    sfi: Option<u8>,
    data: Vec<u8>,
}

/// A master key in DF01.
struct Key {
    id: u8,
    usage: u8,
    master: AnyKey,
}

/// Volatile state, cleared by reset and DF selection.
#[derive(Default)]
struct Session {
    dir: Option<Dir>,
    ef: Option<usize>,
    /// The process key set up by the last `BF DE`.
    process: Option<AnyKey>,
}

/// The emulated PSAM. See the module docs.
pub struct EmulatedPsam {
    algorithm: Algorithm,
    terminal_number: String,
    mf_fid: u16,
    mf_aid: Vec<u8>,
    mf_fci: Vec<u8>,
    df01_fid: u16,
    df01_aid: Option<Vec<u8>>,
    df01_fci: Vec<u8>,
    efs: Vec<Ef>,
    keys: Vec<Key>,
    scheme: Box<dyn KeyScheme + Send>,
    session: Session,
}

impl core::fmt::Debug for EmulatedPsam {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never the keys.
        f.debug_struct("EmulatedPsam")
            .field("algorithm", &self.algorithm)
            .field("terminal_number", &self.terminal_number)
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

/// A parsed PSAM command (shape checks only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Command<'a> {
    SelectByName {
        aid: &'a [u8],
        fci: bool,
    },
    SelectByFid {
        fid: u16,
        ef_only: bool,
    },
    ReadBinary {
        sfi: Option<u8>,
        offset: usize,
        ne: usize,
    },
    /// `BF DE`: usage, PSAM key id, factor bytes (8 per level), the 8-byte challenge.
    InitKey {
        usage: u8,
        key: u8,
        factors: &'a [u8],
        challenge: &'a [u8; 8],
    },
    /// `80 FA 00 00`.
    Encrypt {
        data: &'a [u8],
    },
    /// `80 FA 05 00`.
    Mac {
        iv: &'a [u8],
        data: &'a [u8],
    },
}

mod ins {
    pub const SELECT: u8 = 0xA4;
    pub const READ_BINARY: u8 = 0xB0;
    /// CLA `BF`: set up the diversified card key and the process key.
    pub const INIT_KEY: u8 = 0xDE;
    /// CLA `80`: encrypt (P1 `00`) or MAC (P1 `05`).
    pub const CIPHER: u8 = 0xFA;
}

const CIPHER_ENCRYPT: u8 = 0x00;
const CIPHER_MAC: u8 = 0x05;

impl<'a> Command<'a> {
    /// Parses `c` for a PSAM whose cipher has `block_len`-byte blocks.
    fn parse(c: &CommandView<'a>, block_len: usize) -> Result<Self, Status> {
        match (c.cla(), c.ins()) {
            (0x00, ins::SELECT) => parse_select(c),
            (0x00, ins::READ_BINARY) => parse_read_binary(c),
            (0xBF, ins::INIT_KEY) => parse_init_key(c, block_len),
            (0x80, ins::CIPHER) => parse_cipher(c, block_len),
            (0x00 | 0x80 | 0xBF, _) => Err(Status::InstructionNotSupported),
            _ => Err(Status::ClassNotSupported),
        }
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

fn parse_read_binary<'a>(c: &CommandView<'a>) -> Result<Command<'a>, Status> {
    if !c.data().is_empty() {
        return Err(Status::WrongLength);
    }
    let ne = c.le().unwrap_or(0);
    if c.p1() & 0x80 != 0 {
        // P1 = 100x xxxx: SFI in bits 5-1, offset P2.
        let sfi = c.p1() & 0x1F;
        if c.p1() & 0x60 != 0 || sfi == 0 || sfi == 31 {
            return Err(Status::IncorrectP1P2);
        }
        Ok(Command::ReadBinary {
            sfi: Some(sfi),
            offset: usize::from(c.p2()),
            ne,
        })
    } else {
        Ok(Command::ReadBinary {
            sfi: None,
            offset: usize::from(u16::from_be_bytes([c.p1(), c.p2()])),
            ne,
        })
    }
}

/// `BF DE <usage> <key> Lc <factors 8/16/24> ‖ <process factor>` (sscard.md §3.2, §3.3).
fn parse_init_key<'a>(c: &CommandView<'a>, block_len: usize) -> Result<Command<'a>, Status> {
    let levels = usize::from(KeyUsage(c.p1()).levels());
    if !(1..=3).contains(&levels) {
        return Err(Status::IncorrectP1P2);
    }
    let data = c.data();
    // The process factor is one block: the challenge (3DES), challenge ‖ 00×8 (SM4).
    let factor_bytes = data.len().checked_sub(block_len);
    let given_levels = match factor_bytes {
        Some(n @ (8 | 16 | 24)) if c.le().is_none() => n / 8,
        _ => return Err(Status::WrongLength),
    };
    if given_levels != levels {
        return Err(Status::WrongData);
    }
    let (factors, process) = data
        .split_at_checked(levels * 8)
        .ok_or(Status::WrongLength)?;
    let (challenge, tail) = process.split_at_checked(8).ok_or(Status::WrongLength)?;
    if tail.iter().any(|b| *b != 0) {
        return Err(Status::WrongData);
    }
    let challenge: &[u8; 8] = challenge.try_into().map_err(|_| Status::WrongLength)?;
    Ok(Command::InitKey {
        usage: c.p1(),
        key: c.p2(),
        factors,
        challenge,
    })
}

/// `80 FA 00 00 Lc data` and `80 FA 05 00 Lc IV ‖ data`.
fn parse_cipher<'a>(c: &CommandView<'a>, block_len: usize) -> Result<Command<'a>, Status> {
    if c.p2() != 0 {
        return Err(Status::IncorrectP1P2);
    }
    let data = c.data();
    let blocks = |d: &[u8]| !d.is_empty() && d.len().is_multiple_of(block_len);
    if data.len() > MAX_CIPHER_DATA {
        return Err(Status::WrongLength);
    }
    match c.p1() {
        CIPHER_ENCRYPT if blocks(data) => Ok(Command::Encrypt { data }),
        CIPHER_MAC => match data.split_at_checked(block_len) {
            Some((iv, rest)) if blocks(rest) => Ok(Command::Mac { iv, data: rest }),
            _ => Err(Status::WrongLength),
        },
        CIPHER_ENCRYPT => Err(Status::WrongLength),
        _ => Err(Status::IncorrectP1P2),
    }
}

/// `6F { 84 AID }`.
fn fci(aid: &[u8]) -> Option<Vec<u8>> {
    let mut inner = [0u8; 20];
    let n = ber::write(0x84, aid, &mut inner).ok()?;
    let mut out = vec![0u8; n + 2];
    let m = ber::write(0x6F, inner.get(..n)?, &mut out).ok()?;
    out.truncate(m);
    Some(out)
}

/// The 6 BCD bytes of a 12-digit terminal number.
fn terminal_bytes(number: &str) -> Result<Vec<u8>, PsamBuildError> {
    if number.len() != TERMINAL_DIGITS || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PsamBuildError::TerminalNumber);
    }
    codec::encode(Encoding::Cn, TERMINAL_DIGITS / 2, 0, number)
        .map_err(|_| PsamBuildError::TerminalNumber)
}

impl EmulatedPsam {
    /// The PSAM of `algorithm`'s environment (3DES: sx1, SM4: sx3) from the built-in PSAM
    /// profile, the emulation test keys, the emulation scheme and
    /// [`DEFAULT_TERMINAL_NUMBER`].
    pub fn builtin(algorithm: Algorithm) -> Result<Self, PsamBuildError> {
        let profile = Profile::from_json(sscard_fs::PSAM_PROFILE_JSON)?;
        Self::with_options(&profile, algorithm, PsamOptions::default())
    }

    /// A PSAM from a PSAM profile for `algorithm`'s environment, with the built-in
    /// emulation test keys, the emulation scheme and [`DEFAULT_TERMINAL_NUMBER`].
    pub fn new(profile: &Profile, algorithm: Algorithm) -> Result<Self, PsamBuildError> {
        Self::with_options(profile, algorithm, PsamOptions::default())
    }

    /// A PSAM with explicit keys, scheme and terminal number.
    pub fn with_options(
        profile: &Profile,
        algorithm: Algorithm,
        options: PsamOptions<'_>,
    ) -> Result<Self, PsamBuildError> {
        let PsamOptions {
            keys,
            scheme,
            terminal_number,
        } = options;
        let (mf_path, df01_path) = match algorithm {
            Algorithm::Des3 => (SX1_MF, SX1_DF01),
            Algorithm::Sm4 => (SX3_MF, SX3_DF01),
            _ => return Err(PsamBuildError::UnsupportedAlgorithm),
        };
        let missing = |path| PsamBuildError::MissingNode { path };
        let mf = profile.node(mf_path).ok_or(missing(mf_path))?;
        let mf_aid = mf.aid.clone().ok_or(missing(mf_path))?;
        // The MF's FID is the sx1 tree's (the profile gives SX3 none): 3F00.
        let mf_fid = profile
            .node(SX1_MF)
            .and_then(|n| n.fid)
            .ok_or(missing(SX1_MF))?;
        let df01 = profile.node(df01_path).ok_or(missing(df01_path))?;
        let df01_fid = df01.fid.ok_or(missing(df01_path))?;
        let df01_aid = df01.aid.clone();
        let mf_fci = fci(&mf_aid).ok_or(missing(mf_path))?;
        let df01_fci = match &df01_aid {
            Some(aid) => fci(aid).ok_or(missing(df01_path))?,
            None => Vec::new(),
        };

        // Transparent EFs of the sx1 tree (the only one the profile details).
        let number = terminal_bytes(terminal_number)?;
        let mut efs = Vec::new();
        let mut has_terminal_number = false;
        for (parent, dir) in [(SX1_MF, Dir::Mf), (SX1_DF01, Dir::Df01)] {
            for node in profile.children(parent) {
                if node.kind != NodeKind::Ef || node.structure != Some(Structure::Transparent) {
                    continue;
                }
                let data = if node.path == TERMINAL_NUMBER_EF {
                    if node.size != Some(number.len()) || node.sfi.is_none() {
                        return Err(missing(TERMINAL_NUMBER_EF));
                    }
                    has_terminal_number = true;
                    number.clone()
                } else {
                    vec![0; node.size.unwrap_or(0)]
                };
                efs.push(Ef {
                    dir,
                    fid: node.fid,
                    sfi: node.sfi,
                    data,
                });
            }
        }
        if !has_terminal_number {
            return Err(missing(TERMINAL_NUMBER_EF));
        }

        let builtin;
        let set = match keys {
            Some(set) => set,
            None => {
                builtin = KeySet::from_json(sscard_fs::EMULATION_KEYS_JSON)?;
                &builtin
            }
        };
        let keys = set
            .keys()
            .iter()
            .map(|entry| Key {
                id: entry.psam_key,
                usage: entry.usage,
                master: if algorithm == Algorithm::Sm4 {
                    AnyKey::Sm4(Sm4Key::from_bytes(*entry.sm4))
                } else {
                    AnyKey::Des3(Des3Key::from_double(*entry.des3))
                },
            })
            .collect();
        Ok(Self {
            algorithm,
            terminal_number: terminal_number.into(),
            mf_fid,
            mf_aid,
            mf_fci,
            df01_fid,
            df01_aid,
            df01_fci,
            efs,
            keys,
            scheme,
            session: Session {
                dir: Some(Dir::Mf),
                ..Session::default()
            },
        })
    }

    /// The environment's algorithm (3DES: sx1, SM4: sx3).
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The terminal number (12 digits).
    pub fn terminal_number(&self) -> &str {
        &self.terminal_number
    }

    /// Makes `dir` current and ends the key session.
    fn enter(&mut self, dir: Dir) {
        self.session = Session {
            dir: Some(dir),
            ..Session::default()
        };
    }

    fn select_by_name(
        &mut self,
        aid: &[u8],
        fci: bool,
        reply: &mut Reply<'_>,
    ) -> Result<(), Status> {
        // An exact name first, then a right-truncated one (ISO/IEC 7816-4).
        let df01 = self.df01_aid.as_deref();
        let dir = if self.mf_aid == aid {
            Dir::Mf
        } else if df01 == Some(aid) {
            Dir::Df01
        } else if self.mf_aid.starts_with(aid) {
            Dir::Mf
        } else if df01.is_some_and(|a| a.starts_with(aid)) {
            Dir::Df01
        } else {
            return Err(Status::FileNotFound);
        };
        self.enter(dir);
        if fci {
            let fci = match dir {
                Dir::Mf => &self.mf_fci,
                Dir::Df01 => &self.df01_fci,
            };
            reply.extend_from_slice(fci)?;
        }
        Ok(())
    }

    fn select_by_fid(&mut self, fid: u16, ef_only: bool) -> Result<(), Status> {
        if !ef_only && fid == self.mf_fid {
            self.enter(Dir::Mf);
            return Ok(());
        }
        if !ef_only && fid == self.df01_fid {
            self.enter(Dir::Df01);
            return Ok(());
        }
        let dir = self.session.dir.ok_or(Status::FileNotFound)?;
        let ef = self
            .efs
            .iter()
            .position(|e| e.dir == dir && e.fid == Some(fid))
            .ok_or(Status::FileNotFound)?;
        self.session.ef = Some(ef);
        Ok(())
    }

    fn read_binary(
        &mut self,
        sfi: Option<u8>,
        offset: usize,
        ne: usize,
        reply: &mut Reply<'_>,
    ) -> Result<(), Status> {
        let index = match sfi {
            Some(sfi) => {
                let dir = self.session.dir.ok_or(Status::FileNotFound)?;
                let index = self
                    .efs
                    .iter()
                    .position(|e| e.dir == dir && e.sfi == Some(sfi))
                    .ok_or(Status::FileNotFound)?;
                self.session.ef = Some(index);
                index
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
        let rest = ef
            .data
            .get(offset..)
            .filter(|r| !r.is_empty())
            .ok_or(Status::WrongP1P2)?;
        // Le 00 means "as much as there is"; no Le, or too long a one, is answered 6Cxx.
        let max = ne == 256 || ne == 65536;
        if ne == 0 || (ne > rest.len() && !max) {
            return Err(Status::WrongLe(u8::try_from(rest.len()).unwrap_or(0)));
        }
        reply.extend_from_slice(rest.get(..ne.min(rest.len())).unwrap_or_default())
    }

    /// `BF DE`: the card key for these factors and the process key for the challenge.
    fn init_key(
        &mut self,
        usage: u8,
        id: u8,
        factors: &[u8],
        challenge: &[u8; 8],
    ) -> Result<(), Status> {
        // A new initialisation ends the previous session whatever its outcome.
        self.session.process = None;
        if self.session.dir != Some(Dir::Df01) {
            return Err(Status::ConditionsOfUseNotSatisfied);
        }
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id && k.usage == usage)
            .ok_or(Status::ReferencedDataNotFound)?;
        let path = DivPath::from_factor_bytes(factors).map_err(|_| Status::WrongData)?;
        let card_key = self
            .scheme
            .diversify(&key.master, &path)
            .map_err(|_| Status::UnspecifiedError)?;
        let process = self
            .scheme
            .process_key(&card_key, challenge)
            .map_err(|_| Status::UnspecifiedError)?;
        self.session.process = Some(process);
        Ok(())
    }

    fn encrypt(&mut self, data: &[u8], reply: &mut Reply<'_>) -> Result<(), Status> {
        let key = self
            .session
            .process
            .as_ref()
            .ok_or(Status::ConditionsOfUseNotSatisfied)?;
        let mut buf = [0u8; MAX_CIPHER_DATA];
        let block = buf.get_mut(..data.len()).ok_or(Status::WrongLength)?;
        block.copy_from_slice(data);
        let result = key
            .ecb_encrypt(block)
            .map_err(|_| Status::WrongLength)
            .and_then(|()| reply.extend_from_slice(block));
        // The plain data may be a PIN block.
        buf.fill(0);
        result
    }

    fn mac(&mut self, iv: &[u8], data: &[u8], reply: &mut Reply<'_>) -> Result<(), Status> {
        let key = self
            .session
            .process
            .as_ref()
            .ok_or(Status::ConditionsOfUseNotSatisfied)?;
        let mut mac = PsamMac::new(key, iv).map_err(|_| Status::WrongLength)?;
        mac.update(data);
        let mac = mac.finalize_unpadded().map_err(|_| Status::WrongLength)?;
        reply.extend_from_slice(&mac)
    }
}

impl Card for EmulatedPsam {
    fn atr(&self) -> &[u8] {
        &PSAM_ATR
    }

    fn reset(&mut self) {
        self.enter(Dir::Mf);
    }

    fn process(
        &mut self,
        _interface: Interface,
        command: &CommandView<'_>,
        reply: &mut Reply<'_>,
    ) -> Result<(), Status> {
        let command = Command::parse(command, self.algorithm.block_len())?;
        match command {
            Command::SelectByName { aid, fci } => self.select_by_name(aid, fci, reply),
            Command::SelectByFid { fid, ef_only } => self.select_by_fid(fid, ef_only),
            Command::ReadBinary { sfi, offset, ne } => self.read_binary(sfi, offset, ne, reply),
            Command::InitKey {
                usage,
                key,
                factors,
                challenge,
            } => self.init_key(usage, key, factors, challenge),
            Command::Encrypt { data } => self.encrypt(data, reply),
            Command::Mac { iv, data } => self.mac(iv, data, reply),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn parse(apdu: &[u8], block_len: usize) -> Result<Command<'_>, Status> {
        Command::parse(&CommandView::parse(apdu).unwrap(), block_len)
    }

    #[test]
    fn init_key_lengths_follow_the_environment() {
        // 3DES, 2 levels: 16 bytes of factors and an 8-byte challenge (Lc 0x18).
        let mut apdu = vec![0xBF, 0xDE, 0x47, 0x0A, 0x18];
        apdu.extend([0x11; 0x18]);
        assert!(matches!(
            parse(&apdu, 8),
            Ok(Command::InitKey { usage: 0x47, key: 0x0A, factors, .. }) if factors.len() == 16
        ));
        // The same in the SM4 environment is 1 level of factors for a 2-level usage.
        assert_eq!(parse(&apdu, 16), Err(Status::WrongData));
        // SM4, 2 levels: Lc 0x20 with the challenge followed by 8 zero bytes.
        let mut apdu = vec![0xBF, 0xDE, 0x47, 0x0A, 0x20];
        apdu.extend([0x11; 0x18]);
        apdu.extend([0; 8]);
        assert!(parse(&apdu, 16).is_ok());
        *apdu.last_mut().unwrap() = 1;
        assert_eq!(parse(&apdu, 16), Err(Status::WrongData));
        // Levels 0 or 4+ in the usage byte.
        let mut apdu = vec![0xBF, 0xDE, 0x07, 0x0A, 0x10];
        apdu.extend([0x11; 0x10]);
        assert_eq!(parse(&apdu, 8), Err(Status::IncorrectP1P2));
        // No valid length at all, and Le.
        let mut apdu = vec![0xBF, 0xDE, 0x27, 0x0A, 0x0C];
        apdu.extend([0x11; 0x0C]);
        assert_eq!(parse(&apdu, 8), Err(Status::WrongLength));
        let mut apdu = vec![0xBF, 0xDE, 0x27, 0x0A, 0x10];
        apdu.extend([0x11; 0x10]);
        apdu.push(0x00);
        assert_eq!(parse(&apdu, 8), Err(Status::WrongLength));
    }

    #[test]
    fn cipher_shapes() {
        assert_eq!(
            parse(&[0x80, 0xFA, 0x00, 0x00, 0x04, 1, 2, 3, 4], 8),
            Err(Status::WrongLength)
        );
        assert_eq!(
            parse(&[0x80, 0xFA, 0x01, 0x00, 0x01, 1], 8),
            Err(Status::IncorrectP1P2)
        );
        assert_eq!(
            parse(&[0x80, 0xFA, 0x05, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 0, 0], 8),
            Err(Status::WrongLength)
        );
        assert_eq!(
            parse(&[0x84, 0xFA, 0x00, 0x00], 8),
            Err(Status::ClassNotSupported)
        );
        assert_eq!(
            parse(&[0x80, 0xFB, 0x00, 0x00], 8),
            Err(Status::InstructionNotSupported)
        );
    }

    #[test]
    fn terminal_numbers_are_twelve_digits() {
        assert_eq!(
            terminal_bytes("410100813475").unwrap(),
            [0x41, 0x01, 0x00, 0x81, 0x34, 0x75]
        );
        assert!(terminal_bytes("41010081347").is_err());
        assert!(terminal_bytes("41010081347A").is_err());
    }
}
