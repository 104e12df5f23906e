//! ISO/IEC 14443-4 (ISO-DEP), the half-duplex block transmission protocol of
//! proximity cards, on top of a type A activation (ISO/IEC 14443-3): the block and
//! frame formats here, the reader side in [`pcd`], the card side in [`picc`], the
//! RF chip abstraction in [`frontend`] and an in-process RF channel for
//! simulations in [`loopback`].
//!
//! ```text
//! PCB [CID] [NAD] [INF] CRC_A (2 bytes, least significant byte first)
//! ```
//!
//! * I-block `000C N01b`: C = chaining, N = NAD follows, b = block number.
//! * R-block `101Z C01b`: Z = 0 ACK, 1 NAK.
//! * S-block `11xx C010`: xx = 00 DESELECT, 11 WTX (INF: one WTXM byte).
//!
//! In every PCB, `C` (b4) says a CID byte follows the PCB.
//!
//! Activation: RATS `E0 (FSDI << 4 | CID)`, answered by the ATS
//! `TL T0 [TA] [TB] [TC] historical bytes`; then optionally a PPS
//! `(D0 | CID) 11 (DSI << 2 | DRI)` to raise the bit rate.
//!
//! Timing is in microseconds; the carrier is fc = 13.56 MHz.

pub mod frontend;
pub mod loopback;
pub mod pcd;
pub mod picc;

use core::fmt;

pub use frontend::{
    BitRate, Capabilities, ContactlessFrontEnd, FrontEndError, FrontEndErrorKind, TypeA,
};
pub use loopback::Loopback;
pub use pcd::{IsoDep, IsoDepConfig, IsoDepError};
pub use picc::{AppletHandler, PiccConfig, PiccEngine};

/// The largest frame handled, CRC included (FSC/FSD 256, ISO/IEC 14443-4:2008
/// Table 1; the larger frame sizes of later editions are read as 256).
pub const FRAME_MAX: usize = 256;
/// The longest ATS kept (TL counts itself; real ATSs are about 20 bytes).
pub const ATS_MAX: usize = 64;
/// The most historical bytes a PC/SC pseudo-ATR carries.
pub const PSEUDO_ATR_HISTORICAL_MAX: usize = 15;
/// The longest PC/SC pseudo-ATR: `3B 8n 80 01`, 15 historical bytes, TCK.
pub const PSEUDO_ATR_MAX: usize = 4 + PSEUDO_ATR_HISTORICAL_MAX + 1;
/// The RATS start byte.
pub const RATS: u8 = 0xE0;
/// The largest WTXM (ISO/IEC 14443-4 §7.3: 1–59; 0 and 60–63 are RFU).
pub const WTXM_MAX: u8 = 59;
/// The activation frame waiting time (65536/fc), for the ATS and the PPS response.
pub const ACTIVATION_FWT_US: u32 = fwt_us(4);

/// The carrier frequency fc in hertz.
pub const FC_HZ: u64 = 13_560_000;

/// `cycles` carrier cycles in microseconds, rounded up.
// Checked against u32::MAX before the cast (a const fn cannot use TryFrom).
#[allow(clippy::cast_possible_truncation)]
pub(crate) const fn fc_cycles_us(cycles: u64) -> u32 {
    let us = (cycles * 1_000_000).div_ceil(FC_HZ);
    if us > u32::MAX as u64 {
        u32::MAX
    } else {
        us as u32
    }
}

/// The frame waiting time for FWI (ISO/IEC 14443-4 §7.2): (256 × 16 / fc) × 2^FWI,
/// rounded up to the microsecond. FWI 15 is RFU and read as the default 4. The
/// reader adds its own tolerance ([`IsoDepConfig::fwt_margin_us`]).
pub const fn fwt_us(fwi: u8) -> u32 {
    let fwi = if fwi > 14 { 4 } else { fwi };
    fc_cycles_us(4096u64 << fwi)
}

/// The longest frame waiting time (FWI 14, about 4.95 s), also the cap of a
/// waiting time extension.
pub const FWT_MAX_US: u32 = fwt_us(14);

/// The start-up frame guard time for SFGI (ISO/IEC 14443-4 §5.2.5):
/// (256 × 16 / fc) × 2^SFGI; 0 for SFGI 0 and for the RFU value 15.
pub const fn sfgt_us(sfgi: u8) -> u32 {
    if sfgi == 0 || sfgi > 14 {
        0
    } else {
        fc_cycles_us(4096u64 << sfgi)
    }
}

/// The frame size for FSCI or FSDI (16, 24, 32, 40, 48, 64, 96, 128, 256); larger
/// codes are read as 256.
pub const fn frame_size(fsi: u8) -> usize {
    match fsi {
        0 => 16,
        1 => 24,
        2 => 32,
        3 => 40,
        4 => 48,
        5 => 64,
        6 => 96,
        7 => 128,
        _ => 256,
    }
}

/// The largest FSDI/FSCI whose frame size is at most `size` (0 below 24).
pub const fn frame_size_index(size: usize) -> u8 {
    let mut i = 8u8;
    while i > 0 && frame_size(i) > size {
        i -= 1;
    }
    i
}

/// The CRC_A of ISO/IEC 14443-3 (CRC-16 with the polynomial x^16 + x^12 + x^5 + 1,
/// initial value `6363`, bits least significant first, no final XOR), in
/// transmission order: least significant byte first.
pub fn crc_a(data: &[u8]) -> [u8; 2] {
    let mut crc: u16 = 0x6363;
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
    crc.to_le_bytes()
}

/// Checks the CRC_A at the end of `frame` and returns the frame without it.
pub fn strip_crc_a(frame: &[u8]) -> Option<&[u8]> {
    let split = frame.len().checked_sub(2)?;
    let (body, crc) = frame.split_at(split);
    (!body.is_empty() && crc == crc_a(body)).then_some(body)
}

/// The S-block types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SKind {
    /// Deactivation.
    Deselect,
    /// Waiting time extension.
    Wtx,
}

/// A protocol control byte, without its CID and NAD flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pcb {
    /// Information block.
    I {
        /// Block number.
        bn: bool,
        /// More information follows (chaining).
        chaining: bool,
    },
    /// Receive-ready block.
    R {
        /// Block number.
        bn: bool,
        /// NAK (true) or ACK.
        nak: bool,
    },
    /// Supervisory block (request or response: the PCB is the same).
    S(SKind),
}

/// Why a frame is not a valid block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockError {
    /// Empty, or shorter than its PCB, CID and NAD.
    TooShort,
    /// The PCB uses a reserved encoding.
    InvalidPcb,
    /// The CID byte's reserved bits (b6, b5) are set.
    InvalidCid,
    /// The INF does not fit the block type (an R-block or S(DESELECT) with data,
    /// S(WTX) without exactly one byte, a NAD on an R- or S-block).
    InvalidInf,
    /// The output buffer is too small.
    BufferTooSmall,
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooShort => "block too short",
            Self::InvalidPcb => "reserved PCB",
            Self::InvalidCid => "reserved bits set in the CID byte",
            Self::InvalidInf => "INF does not fit the block type",
            Self::BufferTooSmall => "buffer too small for the block",
        })
    }
}

impl core::error::Error for BlockError {}

/// An ISO-DEP block (a frame without its CRC) borrowing its INF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block<'a> {
    /// The protocol control byte.
    pub pcb: Pcb,
    /// The CID (b4…b1 of the CID byte; the power level b8 b7 is dropped).
    pub cid: Option<u8>,
    /// The node address (I-blocks only).
    pub nad: Option<u8>,
    /// The information field.
    pub inf: &'a [u8],
}

impl<'a> Block<'a> {
    /// Parses a block (CRC already removed) and checks its shape.
    pub fn parse(frame: &'a [u8]) -> Result<Self, BlockError> {
        let (&pcb_byte, mut rest) = frame.split_first().ok_or(BlockError::TooShort)?;
        let (pcb, nad_flag) = decode_pcb(pcb_byte).ok_or(BlockError::InvalidPcb)?;
        let mut cid = None;
        if pcb_byte & 0x08 != 0 {
            let (&c, after) = rest.split_first().ok_or(BlockError::TooShort)?;
            if c & 0x30 != 0 {
                return Err(BlockError::InvalidCid);
            }
            cid = Some(c & 0x0F);
            rest = after;
        }
        let mut nad = None;
        if nad_flag {
            let (&n, after) = rest.split_first().ok_or(BlockError::TooShort)?;
            nad = Some(n);
            rest = after;
        }
        let block = Self {
            pcb,
            cid,
            nad,
            inf: rest,
        };
        block.check()?;
        Ok(block)
    }

    fn check(&self) -> Result<(), BlockError> {
        let ok = match self.pcb {
            Pcb::I { .. } => true,
            Pcb::R { .. } | Pcb::S(SKind::Deselect) => self.inf.is_empty() && self.nad.is_none(),
            Pcb::S(SKind::Wtx) => self.inf.len() == 1 && self.nad.is_none(),
        };
        if ok {
            Ok(())
        } else {
            Err(BlockError::InvalidInf)
        }
    }

    /// The PCB byte with its CID and NAD flags.
    pub fn pcb_byte(&self) -> u8 {
        let base = match self.pcb {
            Pcb::I { bn, chaining } => 0x02 | u8::from(bn) | (u8::from(chaining) << 4),
            Pcb::R { bn, nak } => 0xA2 | u8::from(bn) | (u8::from(nak) << 4),
            Pcb::S(SKind::Deselect) => 0xC2,
            Pcb::S(SKind::Wtx) => 0xF2,
        };
        base | if self.cid.is_some() { 0x08 } else { 0 } | if self.nad.is_some() { 0x04 } else { 0 }
    }

    /// Encodes the block (without CRC) into `out`, returning its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, BlockError> {
        self.check()?;
        let mut n = 0usize;
        let mut put = |b: u8| -> Result<(), BlockError> {
            *out.get_mut(n).ok_or(BlockError::BufferTooSmall)? = b;
            n += 1;
            Ok(())
        };
        put(self.pcb_byte())?;
        if let Some(cid) = self.cid {
            put(cid & 0x0F)?;
        }
        if let Some(nad) = self.nad {
            put(nad)?;
        }
        for &b in self.inf {
            put(b)?;
        }
        Ok(n)
    }

    /// The bytes a block of this kind spends besides its INF: PCB, CID, NAD and
    /// the CRC.
    pub const fn overhead(cid: bool, nad: bool) -> usize {
        1 + cid as usize + nad as usize + 2
    }
}

/// Decodes a PCB byte into the block type and its NAD flag; `None` for reserved
/// encodings (ISO/IEC 14443-4 §7.1.1.1: b2 is always 1; b6 is 0 in I-blocks and 1
/// in R-blocks; b3 and b1 are 0 in S-blocks, b3 is 0 in R-blocks).
pub const fn decode_pcb(pcb: u8) -> Option<(Pcb, bool)> {
    if pcb & 0x02 == 0 {
        return None;
    }
    let bn = pcb & 0x01 != 0;
    match pcb & 0xC0 {
        0x00 => {
            if pcb & 0x20 != 0 {
                return None;
            }
            Some((
                Pcb::I {
                    bn,
                    chaining: pcb & 0x10 != 0,
                },
                pcb & 0x04 != 0,
            ))
        }
        0x80 => {
            if pcb & 0x20 == 0 || pcb & 0x04 != 0 {
                return None;
            }
            Some((
                Pcb::R {
                    bn,
                    nak: pcb & 0x10 != 0,
                },
                false,
            ))
        }
        0xC0 => {
            if pcb & 0x05 != 0 {
                return None;
            }
            match pcb & 0x30 {
                0x00 => Some((Pcb::S(SKind::Deselect), false)),
                0x30 => Some((Pcb::S(SKind::Wtx), false)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Why an ATS is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AtsError {
    /// Empty, or shorter than its interface bytes.
    Truncated,
    /// TL does not match the frame length.
    LengthMismatch,
    /// Longer than [`ATS_MAX`].
    TooLong,
}

impl fmt::Display for AtsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "ATS truncated",
            Self::LengthMismatch => "ATS length byte does not match",
            Self::TooLong => "ATS too long",
        })
    }
}

impl core::error::Error for AtsError {}

/// An answer to select (ISO/IEC 14443-4 §5.2), parsed; absent interface bytes
/// take their default values (TA `00`, TB `40`, TC `02`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Ats {
    bytes: [u8; ATS_MAX],
    len: u8,
    historical_at: u8,
    fsci: u8,
    ta: u8,
    tb: u8,
    tc: u8,
}

impl fmt::Debug for Ats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ats")
            .field("bytes", &self.as_bytes())
            .field("fsc", &self.fsc())
            .field("fwi", &self.fwi())
            .field("sfgi", &self.sfgi())
            .finish_non_exhaustive()
    }
}

impl Ats {
    /// Parses an ATS (CRC already removed).
    pub fn parse(bytes: &[u8]) -> Result<Self, AtsError> {
        let (&tl, rest) = bytes.split_first().ok_or(AtsError::Truncated)?;
        if usize::from(tl) != bytes.len() {
            return Err(if usize::from(tl) > bytes.len() {
                AtsError::Truncated
            } else {
                AtsError::LengthMismatch
            });
        }
        let mut copy = [0u8; ATS_MAX];
        copy.get_mut(..bytes.len())
            .ok_or(AtsError::TooLong)?
            .copy_from_slice(bytes);
        let len = u8::try_from(bytes.len()).map_err(|_| AtsError::TooLong)?;
        let mut ats = Self {
            bytes: copy,
            len,
            historical_at: len,
            fsci: 2,
            ta: 0x00,
            tb: 0x40,
            tc: 0x02,
        };
        let Some((&t0, mut rest)) = rest.split_first() else {
            return Ok(ats);
        };
        ats.fsci = t0 & 0x0F;
        let mut take = |present: bool| -> Result<Option<u8>, AtsError> {
            if !present {
                return Ok(None);
            }
            let (&b, after) = rest.split_first().ok_or(AtsError::Truncated)?;
            rest = after;
            Ok(Some(b))
        };
        if let Some(ta) = take(t0 & 0x10 != 0)? {
            // b4 = 1 is RFU: such a TA offers nothing beyond 106 kbit/s.
            ats.ta = if ta & 0x08 != 0 { 0 } else { ta };
        }
        if let Some(tb) = take(t0 & 0x20 != 0)? {
            ats.tb = tb;
        }
        if let Some(tc) = take(t0 & 0x40 != 0)? {
            ats.tc = tc;
        }
        let hist = u8::try_from(rest.len()).map_err(|_| AtsError::TooLong)?;
        ats.historical_at = len - hist;
        Ok(ats)
    }

    /// The ATS bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// The historical bytes.
    pub fn historical(&self) -> &[u8] {
        self.bytes
            .get(usize::from(self.historical_at)..usize::from(self.len))
            .unwrap_or_default()
    }

    /// FSCI (the frame size the card accepts, see [`frame_size`]).
    pub fn fsci(&self) -> u8 {
        self.fsci
    }

    /// The card's frame size FSC, capped at [`FRAME_MAX`].
    pub fn fsc(&self) -> usize {
        frame_size(self.fsci).min(FRAME_MAX)
    }

    /// FWI (15, RFU, is read as 4).
    pub fn fwi(&self) -> u8 {
        match self.tb >> 4 {
            15 => 4,
            v => v,
        }
    }

    /// SFGI (15, RFU, is read as 0).
    pub fn sfgi(&self) -> u8 {
        match self.tb & 0x0F {
            15 => 0,
            v => v,
        }
    }

    /// The frame waiting time.
    pub fn fwt_us(&self) -> u32 {
        fwt_us(self.fwi())
    }

    /// The start-up frame guard time.
    pub fn sfgt_us(&self) -> u32 {
        sfgt_us(self.sfgi())
    }

    /// TA (bit rates; `00` when absent).
    pub fn ta(&self) -> u8 {
        self.ta
    }

    /// Whether the card supports a CID.
    pub fn cid_supported(&self) -> bool {
        self.tc & 0x02 != 0
    }

    /// Whether the card supports a NAD.
    pub fn nad_supported(&self) -> bool {
        self.tc & 0x01 != 0
    }

    /// The fastest bit rate, at most `max`, that the card offers in both directions
    /// (TA: DS in b7…b5 for card to reader, DR in b3…b1 for reader to card). Only
    /// the same rate both ways is chosen.
    pub fn best_bit_rate(&self, max: BitRate) -> BitRate {
        let mut best = BitRate::Kbps106;
        for rate in [BitRate::Kbps212, BitRate::Kbps424, BitRate::Kbps848] {
            let bit = 1u8 << (rate.code() - 1);
            let ds = (self.ta >> 4) & 0x07;
            let dr = self.ta & 0x07;
            if rate.code() <= max.code() && ds & bit != 0 && dr & bit != 0 {
                best = rate;
            }
        }
        best
    }

    /// Writes the PC/SC pseudo-ATR of a type A ISO-DEP card (PC/SC part 3
    /// §3.1.3.2.3.1): `3B 8n 80 01`, the first 15 historical bytes, TCK. It plays
    /// the role of the contact card's ATR for the layers above.
    pub fn pseudo_atr(&self, out: &mut [u8; PSEUDO_ATR_MAX]) -> usize {
        let hist = self.historical();
        let hist = hist.get(..PSEUDO_ATR_HISTORICAL_MAX).unwrap_or(hist);
        let k = hist.len();
        let mut n = 0usize;
        let mut put = |b: u8| {
            if let Some(slot) = out.get_mut(n) {
                *slot = b;
            }
            n += 1;
        };
        put(0x3B);
        put(0x80 | u8::try_from(k).unwrap_or(15));
        put(0x80);
        put(0x01);
        for &b in hist {
            put(b);
        }
        let tck = out
            .get(1..n)
            .unwrap_or_default()
            .iter()
            .fold(0, |a, b| a ^ b);
        if let Some(slot) = out.get_mut(n) {
            *slot = tck;
        }
        n + 1
    }
}

/// The ATS a card sends, as configuration (`const` builders).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AtsConfig {
    /// FSCI: the largest frame the card accepts.
    pub fsci: u8,
    /// TA: the bit rates offered.
    pub ta: u8,
    /// FWI.
    pub fwi: u8,
    /// SFGI.
    pub sfgi: u8,
    /// CID supported.
    pub cid: bool,
    /// NAD supported.
    pub nad: bool,
    historical: [u8; PSEUDO_ATR_HISTORICAL_MAX],
    historical_len: u8,
}

impl AtsConfig {
    /// FSCI 8 (256 bytes), 106 kbit/s only, FWI 7 (about 39 ms), SFGI 0, CID
    /// supported, no NAD, no historical bytes.
    pub const fn new() -> Self {
        Self {
            fsci: 8,
            ta: 0,
            fwi: 7,
            sfgi: 0,
            cid: true,
            nad: false,
            historical: [0; PSEUDO_ATR_HISTORICAL_MAX],
            historical_len: 0,
        }
    }

    /// Sets FSCI.
    pub const fn fsci(mut self, fsci: u8) -> Self {
        self.fsci = fsci & 0x0F;
        self
    }

    /// Sets FWI and SFGI.
    pub const fn timing(mut self, fwi: u8, sfgi: u8) -> Self {
        self.fwi = fwi & 0x0F;
        self.sfgi = sfgi & 0x0F;
        self
    }

    /// Offers the bit rates up to `max` in both directions.
    pub const fn bit_rates(mut self, max: BitRate) -> Self {
        let bits = match max {
            BitRate::Kbps106 => 0,
            BitRate::Kbps212 => 0x1,
            BitRate::Kbps424 => 0x3,
            BitRate::Kbps848 => 0x7,
        };
        self.ta = (bits << 4) | bits;
        self
    }

    /// Sets CID and NAD support.
    pub const fn cid_nad(mut self, cid: bool, nad: bool) -> Self {
        self.cid = cid;
        self.nad = nad;
        self
    }

    /// Sets the historical bytes (at most 15 kept).
    pub fn historical(mut self, bytes: &[u8]) -> Self {
        let n = bytes.len().min(PSEUDO_ATR_HISTORICAL_MAX);
        if let (Some(dst), Some(src)) = (self.historical.get_mut(..n), bytes.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.historical_len = u8::try_from(n).unwrap_or(0);
        self
    }

    /// Encodes the ATS with all interface bytes, returning its length.
    pub fn encode(&self, out: &mut [u8; ATS_MAX]) -> usize {
        let hist = self
            .historical
            .get(..usize::from(self.historical_len))
            .unwrap_or_default();
        let tc = u8::from(self.cid) << 1 | u8::from(self.nad);
        let head = [
            0,
            0x70 | (self.fsci & 0x0F),
            self.ta & 0x77,
            (self.fwi << 4) | (self.sfgi & 0x0F),
            tc,
        ];
        let n = head.len() + hist.len();
        if let Some(dst) = out.get_mut(..head.len()) {
            dst.copy_from_slice(&head);
        }
        if let Some(dst) = out.get_mut(head.len()..n) {
            dst.copy_from_slice(hist);
        }
        if let Some(tl) = out.first_mut() {
            *tl = u8::try_from(n).unwrap_or(0);
        }
        n
    }
}

impl Default for AtsConfig {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn crc_a_vectors() {
        assert_eq!(crc_a(&[0x00, 0x00]), [0xA0, 0x1E]);
        assert_eq!(crc_a(&[0x12, 0x34]), [0x26, 0xCF]);
        assert_eq!(
            strip_crc_a(&[0x12, 0x34, 0x26, 0xCF]),
            Some(&[0x12, 0x34][..])
        );
        assert_eq!(strip_crc_a(&[0x12, 0x35, 0x26, 0xCF]), None);
        assert_eq!(strip_crc_a(&[0x26]), None);
    }

    #[test]
    fn times_and_sizes() {
        assert_eq!(fwt_us(0), 303);
        assert_eq!(fwt_us(4), 4834);
        assert_eq!(fwt_us(15), fwt_us(4));
        assert_eq!(FWT_MAX_US, 4_949_032);
        assert_eq!(sfgt_us(0), 0);
        assert_eq!(sfgt_us(15), 0);
        assert_eq!(sfgt_us(1), 605);
        assert_eq!(frame_size(0), 16);
        assert_eq!(frame_size(8), 256);
        assert_eq!(frame_size(12), 256);
        assert_eq!(frame_size_index(256), 8);
        assert_eq!(frame_size_index(100), 6);
        assert_eq!(frame_size_index(16), 0);
    }

    #[test]
    fn pcb_encodings() {
        for b in 0..=255u8 {
            if let Some((pcb, nad)) = decode_pcb(b) {
                let block = Block {
                    pcb,
                    cid: (b & 0x08 != 0).then_some(0),
                    nad: nad.then_some(0),
                    inf: &[],
                };
                assert_eq!(block.pcb_byte(), b, "{b:02X}");
            }
        }
        assert_eq!(
            decode_pcb(0x02),
            Some((
                Pcb::I {
                    bn: false,
                    chaining: false
                },
                false
            ))
        );
        assert_eq!(
            decode_pcb(0x13),
            Some((
                Pcb::I {
                    bn: true,
                    chaining: true
                },
                false
            ))
        );
        assert_eq!(
            decode_pcb(0xB3),
            Some((
                Pcb::R {
                    bn: true,
                    nak: true
                },
                false
            ))
        );
        assert_eq!(decode_pcb(0xC2), Some((Pcb::S(SKind::Deselect), false)));
        assert_eq!(decode_pcb(0xFA), Some((Pcb::S(SKind::Wtx), false)));
        assert_eq!(decode_pcb(0x00), None);
        assert_eq!(decode_pcb(0x22), None);
        assert_eq!(decode_pcb(0x82), None);
        assert_eq!(decode_pcb(0xD2), None);
        assert_eq!(decode_pcb(0xC3), None);
    }

    #[test]
    fn blocks() {
        let b = Block::parse(&[0x0B, 0x01, 0x00, 0xA4]).unwrap();
        assert_eq!(
            b.pcb,
            Pcb::I {
                bn: true,
                chaining: false
            }
        );
        assert_eq!(b.cid, Some(1));
        assert_eq!(b.inf, &[0x00, 0xA4]);
        let mut out = [0u8; 8];
        assert_eq!(b.encode(&mut out), Ok(4));
        assert_eq!(&out[..4], &[0x0B, 0x01, 0x00, 0xA4]);
        assert_eq!(Block::parse(&[0xF2]), Err(BlockError::InvalidInf));
        assert_eq!(Block::parse(&[0xA2, 0x00]), Err(BlockError::InvalidInf));
        assert_eq!(Block::parse(&[0x0A]), Err(BlockError::TooShort));
        assert_eq!(Block::parse(&[0x0A, 0x31]), Err(BlockError::InvalidCid));
        assert_eq!(Block::parse(&[]), Err(BlockError::TooShort));
        assert_eq!(Block::parse(&[0x06, 0x12, 0x90]).unwrap().nad, Some(0x12));
    }

    #[test]
    fn ats_parse_and_pseudo_atr() {
        // TL 0B, T0 78 (TA TB TC, FSCI 8), TA 80, TB 71, TC 02, historical 5 bytes.
        let raw = [0x0B, 0x78, 0x80, 0x71, 0x02, 0x53, 0x53, 0x43, 0x33, 0x01];
        assert_eq!(Ats::parse(&raw), Err(AtsError::Truncated));
        assert_eq!(Ats::parse(&[0x01, 0x00]), Err(AtsError::LengthMismatch));
        let mut raw2 = [0u8; 11];
        raw2[..10].copy_from_slice(&raw);
        raw2[10] = 0x02;
        let ats = Ats::parse(&raw2).unwrap();
        assert_eq!(ats.fsc(), 256);
        assert_eq!(ats.fwi(), 7);
        assert_eq!(ats.sfgi(), 1);
        assert!(ats.cid_supported());
        assert!(!ats.nad_supported());
        assert_eq!(ats.historical(), &[0x53, 0x53, 0x43, 0x33, 0x01, 0x02]);
        let mut atr = [0u8; PSEUDO_ATR_MAX];
        let n = ats.pseudo_atr(&mut atr);
        assert_eq!(
            &atr[..n],
            &[
                0x3B,
                0x86,
                0x80,
                0x01,
                0x53,
                0x53,
                0x43,
                0x33,
                0x01,
                0x02,
                0x86 ^ 0x81 ^ 0x53 ^ 0x53 ^ 0x43 ^ 0x33 ^ 0x01 ^ 0x02
            ]
        );
        let parsed = crate::Atr::parse(&atr[..n]).unwrap();
        assert_eq!(parsed.historical_bytes(), ats.historical());
        // Only TL: defaults.
        let ats = Ats::parse(&[0x01]).unwrap();
        assert_eq!(ats.fsc(), 32);
        assert_eq!(ats.fwi(), 4);
        assert!(ats.cid_supported());
        assert!(ats.historical().is_empty());
        assert_eq!(Ats::parse(&[0x03, 0x70]), Err(AtsError::Truncated));
        assert_eq!(Ats::parse(&[0x02, 0x70]), Err(AtsError::Truncated));
        assert_eq!(Ats::parse(&[]), Err(AtsError::Truncated));
    }

    #[test]
    fn bit_rate_choice_and_ats_config() {
        let cfg = AtsConfig::new()
            .fsci(0)
            .timing(4, 0)
            .bit_rates(BitRate::Kbps424)
            .historical(b"SSC");
        let mut out = [0u8; ATS_MAX];
        let n = cfg.encode(&mut out);
        assert_eq!(&out[..n], &[0x08, 0x70, 0x33, 0x40, 0x02, b'S', b'S', b'C']);
        let ats = Ats::parse(&out[..n]).unwrap();
        assert_eq!(ats.fsc(), 16);
        assert_eq!(ats.best_bit_rate(BitRate::Kbps848), BitRate::Kbps424);
        assert_eq!(ats.best_bit_rate(BitRate::Kbps212), BitRate::Kbps212);
        assert_eq!(ats.best_bit_rate(BitRate::Kbps106), BitRate::Kbps106);
    }
}
