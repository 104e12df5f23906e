//! T=1, the half-duplex block transmission protocol (ISO/IEC 7816-3 §11): the block
//! format here, the engines in [`terminal`] and [`card`].
//!
//! ```text
//! NAD PCB LEN [INF: LEN bytes] EDC (LRC: 1 byte, CRC: 2 bytes)
//! ```
//!
//! * I-block `0 N(S) M 00000`: information, M = more (chaining).
//! * R-block `10 0 N(R) 00ee`: receive ready; `ee` = 0 ok, 1 EDC/parity error,
//!   2 other error.
//! * S-block `11 r ttttt`: supervisory; r = response; t = 0 RESYNCH, 1 IFS,
//!   2 ABORT, 3 WTX. IFS and WTX carry one byte.

pub mod card;
pub mod terminal;

use core::fmt;

use crate::io::{self, CardIo, IoErrorKind};
use crate::LinkError;

/// The largest information field (IFSC/IFSD ≤ 254).
pub const MAX_INF: usize = 254;
/// The largest block: prologue, 254 bytes of INF and a CRC.
pub const MAX_BLOCK: usize = 3 + MAX_INF + 2;
/// IFSD before any S(IFS) negotiation (§11.4.2).
pub const DEFAULT_IFSD: u8 = 32;

/// The error detection code of a block's epilogue (§11.4.4, TC3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Edc {
    /// Longitudinal redundancy check: XOR of all bytes (1 byte).
    #[default]
    Lrc,
    /// CRC-16 with the polynomial x^16 + x^12 + x^5 + 1 and initial value `FFFF`
    /// (ISO/IEC 13239), bits processed least significant first, no final XOR, sent
    /// most significant byte first: the convention of the common open reader
    /// drivers (2 bytes).
    Crc,
}

impl Edc {
    /// Epilogue length in bytes.
    pub const fn size(self) -> usize {
        match self {
            Self::Lrc => 1,
            Self::Crc => 2,
        }
    }

    /// Writes the code of `data` into `out` (which must hold [`Edc::size`] bytes).
    fn write(self, data: &[u8], out: &mut [u8]) -> Option<()> {
        match self {
            Self::Lrc => *out.first_mut()? = lrc(data),
            Self::Crc => out
                .get_mut(..2)?
                .copy_from_slice(&crc16(data).to_be_bytes()),
        }
        Some(())
    }
}

/// The LRC of `data`: the XOR of all bytes.
pub fn lrc(data: &[u8]) -> u8 {
    data.iter().fold(0, |a, b| a ^ b)
}

/// The T=1 CRC of `data` (see [`Edc::Crc`]).
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in data {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x8408
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// The S-block types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SKind {
    /// Resynchronisation (terminal only).
    Resynch,
    /// Information field size.
    Ifs,
    /// Abort a chain.
    Abort,
    /// Waiting time extension (card only).
    Wtx,
}

/// The error indication of an R-block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RCode {
    /// Error free (acknowledgement).
    Ok,
    /// EDC or parity error.
    Edc,
    /// Other error.
    Other,
}

/// A protocol control byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pcb {
    /// Information block.
    I {
        /// Send sequence number N(S).
        ns: bool,
        /// More data follows (chaining).
        more: bool,
    },
    /// Receive-ready block.
    R {
        /// N(R): the N(S) of the expected I-block.
        nr: bool,
        /// Error indication.
        code: RCode,
    },
    /// Supervisory block.
    S {
        /// The type.
        kind: SKind,
        /// Response (true) or request.
        response: bool,
    },
}

impl Pcb {
    /// The byte.
    pub const fn encode(self) -> u8 {
        match self {
            Self::I { ns, more } => ((ns as u8) << 6) | ((more as u8) << 5),
            Self::R { nr, code } => {
                0x80 | ((nr as u8) << 4)
                    | match code {
                        RCode::Ok => 0,
                        RCode::Edc => 1,
                        RCode::Other => 2,
                    }
            }
            Self::S { kind, response } => {
                0xC0 | ((response as u8) << 5)
                    | match kind {
                        SKind::Resynch => 0,
                        SKind::Ifs => 1,
                        SKind::Abort => 2,
                        SKind::Wtx => 3,
                    }
            }
        }
    }

    /// Decodes a PCB; `None` for reserved encodings.
    pub const fn decode(pcb: u8) -> Option<Self> {
        if pcb & 0x80 == 0 {
            // b5…b1 are reserved; they are ignored as most readers do.
            return Some(Self::I {
                ns: pcb & 0x40 != 0,
                more: pcb & 0x20 != 0,
            });
        }
        if pcb & 0x40 == 0 {
            if pcb & 0x20 != 0 {
                return None;
            }
            let code = match pcb & 0x0F {
                0 => RCode::Ok,
                1 => RCode::Edc,
                2 => RCode::Other,
                _ => return None,
            };
            return Some(Self::R {
                nr: pcb & 0x10 != 0,
                code,
            });
        }
        let kind = match pcb & 0x1F {
            0 => SKind::Resynch,
            1 => SKind::Ifs,
            2 => SKind::Abort,
            3 => SKind::Wtx,
            _ => return None,
        };
        Some(Self::S {
            kind,
            response: pcb & 0x20 != 0,
        })
    }
}

/// Why bytes are not a valid block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockError {
    /// Shorter than prologue and epilogue.
    TooShort,
    /// LEN is `FF`, or INF is longer than 254 bytes.
    InvalidLen,
    /// The byte count does not match LEN.
    LengthMismatch,
    /// The EDC is wrong.
    Edc,
    /// The PCB uses a reserved encoding.
    InvalidPcb,
    /// The INF does not fit the block type (R-block with data, S(IFS) without one
    /// byte, an IFS of 0 or 255, a WTX multiplier of 0).
    InvalidInf,
    /// The output buffer is too small.
    BufferTooSmall,
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooShort => "block shorter than its prologue and epilogue",
            Self::InvalidLen => "invalid LEN",
            Self::LengthMismatch => "block length does not match LEN",
            Self::Edc => "wrong EDC",
            Self::InvalidPcb => "reserved PCB",
            Self::InvalidInf => "INF does not fit the block type",
            Self::BufferTooSmall => "buffer too small for the block",
        })
    }
}

impl core::error::Error for BlockError {}

/// A T=1 block borrowing its information field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block<'a> {
    /// Node address.
    pub nad: u8,
    /// Protocol control byte.
    pub pcb: Pcb,
    /// Information field.
    pub inf: &'a [u8],
}

impl<'a> Block<'a> {
    /// Parses and checks a block (prologue, INF, EDC).
    pub fn parse(bytes: &'a [u8], edc: Edc) -> Result<Self, BlockError> {
        let (&[nad, pcb, len], rest) =
            bytes.split_first_chunk::<3>().ok_or(BlockError::TooShort)?;
        if len == 0xFF {
            return Err(BlockError::InvalidLen);
        }
        let body_len = 3 + usize::from(len);
        if bytes.len() != body_len + edc.size() {
            return Err(if rest.len() < edc.size() {
                BlockError::TooShort
            } else {
                BlockError::LengthMismatch
            });
        }
        let (body, code) = bytes.split_at(body_len);
        let mut expect = [0u8; 2];
        edc.write(body, &mut expect).ok_or(BlockError::TooShort)?;
        if Some(code) != expect.get(..edc.size()) {
            return Err(BlockError::Edc);
        }
        let pcb = Pcb::decode(pcb).ok_or(BlockError::InvalidPcb)?;
        let inf = body.get(3..).unwrap_or_default();
        check_inf(pcb, inf)?;
        Ok(Self { nad, pcb, inf })
    }

    /// Encodes the block into `out`, returning its length.
    pub fn encode(&self, edc: Edc, out: &mut [u8]) -> Result<usize, BlockError> {
        let len = u8::try_from(self.inf.len())
            .ok()
            .filter(|&l| usize::from(l) <= MAX_INF)
            .ok_or(BlockError::InvalidLen)?;
        check_inf(self.pcb, self.inf)?;
        let body_len = 3 + self.inf.len();
        let total = body_len + edc.size();
        let out = out.get_mut(..total).ok_or(BlockError::BufferTooSmall)?;
        let (body, code) = out.split_at_mut(body_len);
        let (head, inf) = body.split_at_mut(3);
        head.copy_from_slice(&[self.nad, self.pcb.encode(), len]);
        inf.copy_from_slice(self.inf);
        edc.write(body, code).ok_or(BlockError::BufferTooSmall)?;
        Ok(total)
    }
}

fn check_inf(pcb: Pcb, inf: &[u8]) -> Result<(), BlockError> {
    let ok = match pcb {
        Pcb::I { .. } => inf.len() <= MAX_INF,
        Pcb::R { .. } => inf.is_empty(),
        Pcb::S {
            kind: SKind::Ifs, ..
        } => matches!(inf, [v] if *v != 0 && *v != 0xFF),
        Pcb::S {
            kind: SKind::Wtx, ..
        } => matches!(inf, [m] if *m != 0),
        Pcb::S { .. } => inf.is_empty(),
    };
    if ok {
        Ok(())
    } else {
        Err(BlockError::InvalidInf)
    }
}

/// What a block reception produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rx {
    /// A valid block of this many bytes is in the buffer.
    Block(usize),
    /// Something arrived, but not a valid block: answer with this R-block code.
    Invalid(RCode),
    /// Nothing arrived before the deadline.
    Timeout,
}

/// Receives one block: the first character by `first_deadline`, the others each
/// within CWT (§11.4.3). Parity errors and bad EDC make the block invalid
/// ([`RCode::Edc`]); framing errors, CWT overruns and malformed blocks make it
/// invalid with [`RCode::Other`]. After an invalid block the line is drained until
/// it is silent for CWT, so the next block starts cleanly.
pub(crate) fn receive_block<IO: CardIo + ?Sized>(
    io: &mut IO,
    buf: &mut [u8; MAX_BLOCK],
    first_deadline: u64,
    cwt_us: u64,
    edc: Edc,
) -> Result<Rx, LinkError> {
    let mut parity = false;
    let mut n = 0usize;
    let mut expected: Option<usize> = None;
    let mut framing = false;
    loop {
        if expected.is_some_and(|total| n >= total) {
            break;
        }
        let deadline = if n == 0 {
            first_deadline
        } else {
            io.now_us().saturating_add(cwt_us)
        };
        let byte = match io::recv(io, deadline) {
            Ok(Some(b)) => b,
            Ok(None) if n == 0 => return Ok(Rx::Timeout),
            Ok(None) => return Ok(Rx::Invalid(RCode::Other)),
            Err(LinkError::Io(IoErrorKind::Parity)) => {
                parity = true;
                0
            }
            Err(e) => return Err(e),
        };
        if let Some(slot) = buf.get_mut(n) {
            *slot = byte;
        }
        n += 1;
        if n == 3 {
            if parity || byte == 0xFF {
                // The length is unknown: skip to the end of whatever this is.
                framing = true;
                break;
            }
            expected = Some(3 + usize::from(byte) + edc.size());
        }
    }
    if framing {
        drain(io, cwt_us)?;
        return Ok(Rx::Invalid(RCode::Other));
    }
    if parity {
        return Ok(Rx::Invalid(RCode::Edc));
    }
    match Block::parse(buf.get(..n).unwrap_or_default(), edc) {
        Ok(_) => Ok(Rx::Block(n)),
        Err(BlockError::Edc) => Ok(Rx::Invalid(RCode::Edc)),
        Err(_) => Ok(Rx::Invalid(RCode::Other)),
    }
}

/// Reads and drops characters until the line is silent for `quiet_us` (at most two
/// blocks' worth, so a babbling peer cannot hold the engine).
pub(crate) fn drain<IO: CardIo + ?Sized>(io: &mut IO, quiet_us: u64) -> Result<(), LinkError> {
    for _ in 0..2 * MAX_BLOCK {
        let deadline = io.now_us().saturating_add(quiet_us);
        match io::recv(io, deadline) {
            Ok(None) => return Ok(()),
            Ok(Some(_)) | Err(LinkError::Io(IoErrorKind::Parity)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The block sender both engines share: BGT before a block after one in the other
/// direction, encode, send.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BlockTx {
    pub(crate) buf: [u8; MAX_BLOCK],
    pub(crate) len: usize,
}

impl BlockTx {
    pub(crate) const fn new() -> Self {
        Self {
            buf: [0; MAX_BLOCK],
            len: 0,
        }
    }

    /// Encodes and sends `block`, keeping it for retransmission.
    pub(crate) fn send<IO: CardIo + ?Sized>(
        &mut self,
        io: &mut IO,
        block: &Block<'_>,
        edc: Edc,
        not_before_us: u64,
    ) -> Result<(), LinkError> {
        self.len = block
            .encode(edc, &mut self.buf)
            .map_err(|_| LinkError::InvalidCommand)?;
        self.resend(io, not_before_us)
    }

    /// Sends the kept block again.
    pub(crate) fn resend<IO: CardIo + ?Sized>(
        &mut self,
        io: &mut IO,
        not_before_us: u64,
    ) -> Result<(), LinkError> {
        io::wait_until(io, not_before_us)?;
        io::send(io, self.buf.get(..self.len).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn check_values() {
        // CRC-16 with this parameter set has check value 6F91 for "123456789".
        assert_eq!(crc16(b"123456789"), 0x6F91);
        assert_eq!(lrc(&[0x00, 0xC1, 0x01, 0xFE]), 0x3E);
    }

    #[test]
    fn pcb_round_trip() {
        for b in 0..=255u8 {
            if let Some(p) = Pcb::decode(b) {
                let back = p.encode();
                if b & 0x80 == 0 {
                    assert_eq!(back, b & 0x60);
                } else {
                    assert_eq!(back, b);
                }
            }
        }
        assert_eq!(
            Pcb::decode(0xC1),
            Some(Pcb::S {
                kind: SKind::Ifs,
                response: false
            })
        );
        assert_eq!(
            Pcb::decode(0x92),
            Some(Pcb::R {
                nr: true,
                code: RCode::Other
            })
        );
        assert_eq!(Pcb::decode(0xA0), None);
        assert_eq!(Pcb::decode(0xC4), None);
    }

    #[test]
    fn encode_parse() {
        // S(IFS request, FE) from the terminal: 00 C1 01 FE 3E (ISO 7816-3 annex).
        let mut out = [0u8; MAX_BLOCK];
        let b = Block {
            nad: 0,
            pcb: Pcb::S {
                kind: SKind::Ifs,
                response: false,
            },
            inf: &[0xFE],
        };
        let n = b.encode(Edc::Lrc, &mut out).unwrap();
        assert_eq!(&out[..n], &[0x00, 0xC1, 0x01, 0xFE, 0x3E]);
        assert_eq!(Block::parse(&out[..n], Edc::Lrc), Ok(b));
        let n = b.encode(Edc::Crc, &mut out).unwrap();
        assert_eq!(n, 6);
        assert_eq!(Block::parse(&out[..n], Edc::Crc), Ok(b));
        assert_eq!(
            Block::parse(&out[..n], Edc::Lrc),
            Err(BlockError::LengthMismatch)
        );
        out[3] ^= 1;
        assert_eq!(Block::parse(&out[..n], Edc::Crc), Err(BlockError::Edc));
        assert_eq!(Block::parse(&[0, 0], Edc::Lrc), Err(BlockError::TooShort));
        assert_eq!(
            Block::parse(&[0, 0, 0xFF, 0xFF], Edc::Lrc),
            Err(BlockError::InvalidLen)
        );
        // R-block with data.
        assert_eq!(
            Block::parse(&[0, 0x80, 1, 0, 0x81], Edc::Lrc),
            Err(BlockError::InvalidInf)
        );
        // WTX with multiplier 0.
        assert_eq!(
            Block::parse(&[0, 0xC3, 1, 0, 0xC2], Edc::Lrc),
            Err(BlockError::InvalidInf)
        );
        assert_eq!(
            Block {
                nad: 0,
                pcb: Pcb::I {
                    ns: false,
                    more: false
                },
                inf: &[0; 255]
            }
            .encode(Edc::Lrc, &mut [0u8; 300]),
            Err(BlockError::InvalidLen)
        );
    }
}
