//! The answer to reset (ISO/IEC 7816-3 §8): a complete parser, the parameters a
//! link needs, and a builder for the card side.
//!
//! ```text
//! TS T0 [TA1 TB1 TC1 TD1] [TA2 TB2 TC2 TD2] … T1…TK [TCK]
//! ```
//!
//! * TS: `3B` direct or `3F` inverse convention.
//! * T0 and each TDi: high nibble says which of TA/TB/TC/TD of the next level
//!   follow; the low nibble of T0 is K, the number of historical bytes, that of
//!   TDi a protocol type T.
//! * TCK (XOR of T0…TCK is zero) is present unless only T=0 is indicated.
//!
//! Parameters: TA1 (Fi, fmax, Di), TC1 (N), TA2 (specific mode), TC2 (WI), and for
//! T=1 the first TA/TB/TC after a TD indicating T=1 at level ≥ 2: IFSC, BWI/CWI,
//! EDC.

use core::fmt;

use crate::io::Convention;
use crate::t1::Edc;
use crate::timing;

/// The longest ATR: TS and 32 more characters.
pub const ATR_MAX: usize = 33;
/// The most interface-byte levels kept (TA1…TD8); real ATRs use four at most.
pub const MAX_LEVELS: usize = 8;
/// IFSC when the ATR does not announce one.
pub const DEFAULT_IFSC: u8 = 32;
/// WI when TC2 is absent.
pub const DEFAULT_WI: u8 = 10;
/// BWI when the ATR does not announce one.
pub const DEFAULT_BWI: u8 = 4;
/// CWI when the ATR does not announce one.
pub const DEFAULT_CWI: u8 = 13;

/// Why an ATR is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AtrError {
    /// The ATR ends before the characters its format bytes announce.
    Truncated,
    /// TS is neither `3B` nor `3F`.
    InvalidTs,
    /// More than 33 characters, or characters after the announced end.
    TooLong,
    /// More interface-byte levels than [`MAX_LEVELS`].
    TooManyLevels,
    /// The check character TCK does not make the XOR of T0…TCK zero.
    BadTck,
    /// TA1 (or a PPS1) holds a reserved Fi or Di index.
    ReservedFiDi,
    /// IFSC is `00` or `FF`.
    InvalidIfsc,
    /// WI (TC2) is zero.
    InvalidWi,
    /// BWI is above 9.
    InvalidBwi,
    /// The builder was asked for something an ATR cannot express.
    Unencodable,
}

impl fmt::Display for AtrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "ATR shorter than its format bytes announce",
            Self::InvalidTs => "ATR initial character is not 3B or 3F",
            Self::TooLong => "ATR longer than announced or than 33 characters",
            Self::TooManyLevels => "ATR has too many interface-byte levels",
            Self::BadTck => "ATR check character is wrong",
            Self::ReservedFiDi => "reserved Fi or Di value",
            Self::InvalidIfsc => "IFSC is 00 or FF",
            Self::InvalidWi => "WI is zero",
            Self::InvalidBwi => "BWI is above 9",
            Self::Unencodable => "parameters cannot be encoded in an ATR",
        })
    }
}

impl core::error::Error for AtrError {}

/// The interface bytes of one level i: TAi, TBi, TCi, TDi.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterfaceBytes {
    /// TAi.
    pub ta: Option<u8>,
    /// TBi.
    pub tb: Option<u8>,
    /// TCi.
    pub tc: Option<u8>,
    /// TDi.
    pub td: Option<u8>,
}

/// TA2: the card works in specific mode (§8.3, no PPS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecificMode {
    /// The protocol T the card runs.
    pub protocol: u8,
    /// b8 = 0: the card can change to negotiable mode (after a warm reset).
    pub can_change: bool,
    /// b5 = 1: F and D are implicit, not those of TA1.
    pub implicit: bool,
}

/// A parsed answer to reset; it keeps its bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Atr {
    raw: [u8; ATR_MAX],
    len: u8,
    levels: [InterfaceBytes; MAX_LEVELS],
    n_levels: u8,
    hist_start: u8,
    hist_len: u8,
    has_tck: bool,
    /// Bit T set for each protocol T indicated in a TDi.
    protocols: u16,
}

impl fmt::Debug for Atr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Atr(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02X}")?;
        }
        f.write_str(")")
    }
}

/// Which protocol types an ATR indicates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtocolSet(u16);

impl ProtocolSet {
    /// Whether protocol type `t` (0…15) is indicated.
    pub const fn contains(self, t: u8) -> bool {
        t < 16 && self.0 & (1 << t) != 0
    }

    /// The bits, bit T for protocol T.
    pub const fn bits(self) -> u16 {
        self.0
    }
}

impl Atr {
    /// Parses a complete ATR. A prefix of a valid ATR gives [`AtrError::Truncated`],
    /// which is how a reader knows to wait for more characters.
    pub fn parse(bytes: &[u8]) -> Result<Self, AtrError> {
        if bytes.len() > ATR_MAX {
            return Err(AtrError::TooLong);
        }
        let mut raw = [0u8; ATR_MAX];
        raw.get_mut(..bytes.len())
            .ok_or(AtrError::TooLong)?
            .copy_from_slice(bytes);
        let (&ts, rest) = bytes.split_first().ok_or(AtrError::Truncated)?;
        if ts != 0x3B && ts != 0x3F {
            return Err(AtrError::InvalidTs);
        }
        let (&t0, _) = rest.split_first().ok_or(AtrError::Truncated)?;
        let mut pos = 2usize;
        let mut y = t0 >> 4;
        let k = t0 & 0x0F;
        let mut levels = [InterfaceBytes::default(); MAX_LEVELS];
        let mut n_levels = 0usize;
        let mut protocols = 0u16;
        let mut tck_needed = false;
        let next = |pos: &mut usize| -> Result<u8, AtrError> {
            let b = bytes.get(*pos).copied().ok_or(AtrError::Truncated)?;
            *pos += 1;
            Ok(b)
        };
        loop {
            let level = levels.get_mut(n_levels).ok_or(AtrError::TooManyLevels)?;
            n_levels += 1;
            if y & 0x1 != 0 {
                level.ta = Some(next(&mut pos)?);
            }
            if y & 0x2 != 0 {
                level.tb = Some(next(&mut pos)?);
            }
            if y & 0x4 != 0 {
                level.tc = Some(next(&mut pos)?);
            }
            if y & 0x8 == 0 {
                break;
            }
            let td = next(&mut pos)?;
            level.td = Some(td);
            let t = td & 0x0F;
            protocols |= 1 << t;
            if t != 0 {
                tck_needed = true;
            }
            y = td >> 4;
        }
        if protocols == 0 {
            // No TD1: T=0 is implied.
            protocols = 1;
        }
        let hist_start = pos;
        pos += usize::from(k);
        if tck_needed {
            pos += 1;
        }
        match bytes.len().cmp(&pos) {
            core::cmp::Ordering::Less => return Err(AtrError::Truncated),
            core::cmp::Ordering::Greater => return Err(AtrError::TooLong),
            core::cmp::Ordering::Equal => {}
        }
        if tck_needed {
            let x = bytes
                .get(1..)
                .unwrap_or_default()
                .iter()
                .fold(0u8, |a, b| a ^ b);
            if x != 0 {
                return Err(AtrError::BadTck);
            }
        }
        Ok(Self {
            raw,
            len: u8::try_from(bytes.len()).map_err(|_| AtrError::TooLong)?,
            levels,
            n_levels: u8::try_from(n_levels).map_err(|_| AtrError::TooManyLevels)?,
            hist_start: u8::try_from(hist_start).map_err(|_| AtrError::TooLong)?,
            hist_len: k,
            has_tck: tck_needed,
            protocols,
        })
    }

    /// The ATR's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.raw.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// The convention announced by TS.
    pub fn convention(&self) -> Convention {
        if self.raw.first() == Some(&0x3F) {
            Convention::Inverse
        } else {
            Convention::Direct
        }
    }

    /// The interface bytes of level `i` (1-based), if the ATR has that level.
    pub fn interface(&self, i: usize) -> Option<InterfaceBytes> {
        if i == 0 || i > usize::from(self.n_levels) {
            return None;
        }
        self.levels.get(i - 1).copied()
    }

    /// The historical bytes T1…TK.
    pub fn historical_bytes(&self) -> &[u8] {
        let start = usize::from(self.hist_start);
        self.raw
            .get(start..start + usize::from(self.hist_len))
            .unwrap_or_default()
    }

    /// TCK, when present.
    pub fn tck(&self) -> Option<u8> {
        if self.has_tck {
            self.as_bytes().last().copied()
        } else {
            None
        }
    }

    /// The protocols indicated by TD1, TD2, … (T=0 when there is no TD1). T=15 is
    /// listed too; it marks global interface bytes, not a protocol.
    pub fn protocols(&self) -> ProtocolSet {
        ProtocolSet(self.protocols)
    }

    /// The first protocol indicated (TD1, or T=0): the default in negotiable mode.
    pub fn first_protocol(&self) -> u8 {
        self.levels
            .first()
            .and_then(|l| l.td)
            .map_or(0, |td| td & 0x0F)
    }

    /// TA1, or `11` (Fd = 372, Dd = 1) when absent.
    pub fn ta1(&self) -> u8 {
        self.levels.first().and_then(|l| l.ta).unwrap_or(0x11)
    }

    /// Fi and fmax (kHz) from TA1.
    pub fn fi_fmax(&self) -> Result<(u16, u32), AtrError> {
        timing::fi_fmax(self.ta1() >> 4).ok_or(AtrError::ReservedFiDi)
    }

    /// Di from TA1.
    pub fn di(&self) -> Result<u8, AtrError> {
        timing::di(self.ta1() & 0x0F).ok_or(AtrError::ReservedFiDi)
    }

    /// The extra guard time N (TC1, default 0).
    pub fn extra_guard_time(&self) -> u8 {
        self.levels.first().and_then(|l| l.tc).unwrap_or(0)
    }

    /// TA2, the specific mode byte, when present.
    pub fn specific_mode(&self) -> Option<SpecificMode> {
        let ta2 = self.interface(2)?.ta?;
        Some(SpecificMode {
            protocol: ta2 & 0x0F,
            can_change: ta2 & 0x80 == 0,
            implicit: ta2 & 0x10 != 0,
        })
    }

    /// WI for T=0 (TC2, default 10).
    pub fn wi(&self) -> Result<u8, AtrError> {
        match self.interface(2).and_then(|l| l.tc) {
            None => Ok(DEFAULT_WI),
            Some(0) => Err(AtrError::InvalidWi),
            Some(wi) => Ok(wi),
        }
    }

    /// The first level i ≥ 3 whose TDi-1 indicates T=1: the T=1 specific bytes.
    fn t1_level(&self) -> Option<InterfaceBytes> {
        (3..=usize::from(self.n_levels))
            .find(|&i| {
                self.interface(i - 1)
                    .and_then(|l| l.td)
                    .is_some_and(|td| td & 0x0F == 1)
            })
            .and_then(|i| self.interface(i))
    }

    /// The card's information field size IFSC for T=1 (default 32).
    pub fn ifsc(&self) -> Result<u8, AtrError> {
        match self.t1_level().and_then(|l| l.ta) {
            None => Ok(DEFAULT_IFSC),
            Some(0x00 | 0xFF) => Err(AtrError::InvalidIfsc),
            Some(v) => Ok(v),
        }
    }

    /// BWI for T=1 (default 4).
    pub fn bwi(&self) -> Result<u8, AtrError> {
        let bwi = self
            .t1_level()
            .and_then(|l| l.tb)
            .map_or(DEFAULT_BWI, |tb| tb >> 4);
        if bwi > 9 {
            Err(AtrError::InvalidBwi)
        } else {
            Ok(bwi)
        }
    }

    /// CWI for T=1 (default 13).
    pub fn cwi(&self) -> u8 {
        self.t1_level()
            .and_then(|l| l.tb)
            .map_or(DEFAULT_CWI, |tb| tb & 0x0F)
    }

    /// The error detection code for T=1 (TC bit 1: CRC, else LRC).
    pub fn edc(&self) -> Edc {
        match self.t1_level().and_then(|l| l.tc) {
            Some(tc) if tc & 1 != 0 => Edc::Crc,
            _ => Edc::Lrc,
        }
    }
}

/// Builds a card's ATR from its parameters (the card side).
#[derive(Clone, Copy, Debug)]
pub struct AtrBuilder<'h> {
    convention: Convention,
    ta1: Option<u8>,
    n: Option<u8>,
    specific: Option<SpecificMode>,
    wi: Option<u8>,
    t0: bool,
    t1: bool,
    ifsc: Option<u8>,
    bwi_cwi: Option<(u8, u8)>,
    crc: bool,
    historical: &'h [u8],
}

impl Default for AtrBuilder<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'h> AtrBuilder<'h> {
    /// Direct convention, T=0 only, all parameters at their defaults.
    pub const fn new() -> Self {
        Self {
            convention: Convention::Direct,
            ta1: None,
            n: None,
            specific: None,
            wi: None,
            t0: true,
            t1: false,
            ifsc: None,
            bwi_cwi: None,
            crc: false,
            historical: &[],
        }
    }

    /// The convention (TS).
    pub const fn convention(mut self, convention: Convention) -> Self {
        self.convention = convention;
        self
    }

    /// TA1 from the Fi and Di indices (Tables 7 and 8).
    pub const fn fi_di(mut self, fi_index: u8, di_index: u8) -> Self {
        self.ta1 = Some((fi_index << 4) | (di_index & 0x0F));
        self
    }

    /// TC1, the extra guard time N.
    pub const fn extra_guard_time(mut self, n: u8) -> Self {
        self.n = Some(n);
        self
    }

    /// TA2: specific mode.
    pub const fn specific_mode(mut self, mode: SpecificMode) -> Self {
        self.specific = Some(mode);
        self
    }

    /// TC2, WI for T=0.
    pub const fn wi(mut self, wi: u8) -> Self {
        self.wi = Some(wi);
        self
    }

    /// Which protocols the card offers (at least one).
    pub const fn protocols(mut self, t0: bool, t1: bool) -> Self {
        self.t0 = t0;
        self.t1 = t1;
        self
    }

    /// IFSC for T=1.
    pub const fn ifsc(mut self, ifsc: u8) -> Self {
        self.ifsc = Some(ifsc);
        self
    }

    /// BWI and CWI for T=1.
    pub const fn bwi_cwi(mut self, bwi: u8, cwi: u8) -> Self {
        self.bwi_cwi = Some((bwi, cwi));
        self
    }

    /// CRC instead of LRC for T=1.
    pub const fn crc(mut self, crc: bool) -> Self {
        self.crc = crc;
        self
    }

    /// The historical bytes (at most 15).
    pub const fn historical(mut self, bytes: &'h [u8]) -> Self {
        self.historical = bytes;
        self
    }

    /// Encodes and re-parses the ATR.
    pub fn build(&self) -> Result<Atr, AtrError> {
        let k = u8::try_from(self.historical.len())
            .ok()
            .filter(|&k| k <= 15)
            .ok_or(AtrError::Unencodable)?;
        if !self.t0 && !self.t1 {
            return Err(AtrError::Unencodable);
        }
        let t1_params = self.t1 && (self.ifsc.is_some() || self.bwi_cwi.is_some() || self.crc);
        // Level 1: TA1, TC1; TD1 names the first protocol.
        let first = if self.t0 { 0 } else { 1 };
        let wi = if self.t0 { self.wi } else { None };
        let level2 = self.specific.is_some() || wi.is_some();
        let need_td2 = (self.t0 && self.t1) || t1_params;
        let need_td1 = first != 0 || level2 || need_td2;
        let ta2 = self.specific.map(|m| {
            (if m.can_change { 0 } else { 0x80 })
                | (if m.implicit { 0x10 } else { 0 })
                | (m.protocol & 0x0F)
        });

        let mut w = Writer {
            out: [0u8; ATR_MAX],
            pos: 0,
        };
        let mut put = |b: u8| w.put(b);
        put(match self.convention {
            Convention::Direct => 0x3B,
            Convention::Inverse => 0x3F,
        })?;
        let y1 = u8::from(self.ta1.is_some())
            | (u8::from(self.n.is_some()) << 2)
            | (u8::from(need_td1) << 3);
        put((y1 << 4) | k)?;
        for b in [self.ta1, self.n].into_iter().flatten() {
            put(b)?;
        }
        if need_td1 {
            let y2 =
                u8::from(ta2.is_some()) | (u8::from(wi.is_some()) << 2) | (u8::from(need_td2) << 3);
            put((y2 << 4) | first)?;
            for b in [ta2, wi].into_iter().flatten() {
                put(b)?;
            }
            if need_td2 {
                let (ifsc, tb3, tc3) = if t1_params {
                    (
                        self.ifsc,
                        self.bwi_cwi.map(|(b, c)| (b << 4) | (c & 0x0F)),
                        if self.crc { Some(1) } else { None },
                    )
                } else {
                    (None, None, None)
                };
                let y3 = u8::from(ifsc.is_some())
                    | (u8::from(tb3.is_some()) << 1)
                    | (u8::from(tc3.is_some()) << 2);
                put((y3 << 4) | 1)?;
                for b in [ifsc, tb3, tc3].into_iter().flatten() {
                    put(b)?;
                }
            }
        }
        for &b in self.historical {
            put(b)?;
        }
        let tck_needed = need_td1 && (first != 0 || need_td2);
        if tck_needed {
            let x = w
                .out
                .get(1..w.pos)
                .unwrap_or_default()
                .iter()
                .fold(0u8, |a, b| a ^ b);
            w.put(x)?;
        }
        Atr::parse(w.out.get(..w.pos).ok_or(AtrError::Unencodable)?)
    }
}

struct Writer {
    out: [u8; ATR_MAX],
    pos: usize,
}

impl Writer {
    fn put(&mut self, b: u8) -> Result<(), AtrError> {
        *self.out.get_mut(self.pos).ok_or(AtrError::Unencodable)? = b;
        self.pos += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn t0_only_without_td() {
        // TB1 and TC1 present, 13 historical bytes, no TCK.
        let atr = [
            0x3B, 0x6D, 0x00, 0x00, 0x00, 0x81, 0x53, 0x53, 0x43, 0x33, 0x00, 0x00, 0x12, 0x34,
            0x56, 0x78, 0x90,
        ];
        let a = Atr::parse(&atr).unwrap();
        assert_eq!(a.historical_bytes().len(), 13);
        assert_eq!(a.tck(), None);
        assert!(a.protocols().contains(0));
        assert!(!a.protocols().contains(1));
        assert_eq!(a.first_protocol(), 0);
        assert_eq!(a.ta1(), 0x11);
        assert_eq!(a.fi_fmax(), Ok((372, 5000)));
        assert_eq!(a.di(), Ok(1));
        assert_eq!(a.extra_guard_time(), 0);
        assert_eq!(a.wi(), Ok(10));
        assert_eq!(a.specific_mode(), None);
        assert_eq!(a.interface(1).unwrap().tb, Some(0));
        assert_eq!(a.interface(2), None);
    }

    #[test]
    fn t0_and_t1_with_parameters() {
        // TA1 = 18, TC1 = 00, TD1 = 81 (T=1), TD2 = B1 (TA3, TB3, TD3; T=1),
        // TA3 = 80 (IFSC), TB3 = 7D, TD3 = 1F (TA4; T=15), TA4 = 03, six historical
        // bytes, TCK.
        let atr = [
            0x3B, 0xD6, 0x18, 0x00, 0x81, 0xB1, 0x80, 0x7D, 0x1F, 0x03, 0x80, 0x51, 0x00, 0x61,
            0x10, 0x30, 0x8F,
        ];
        let a = Atr::parse(&atr).unwrap();
        assert_eq!(a.ta1(), 0x18);
        assert_eq!(a.di(), Ok(12));
        assert_eq!(a.first_protocol(), 1);
        assert!(a.protocols().contains(1));
        assert!(a.protocols().contains(15));
        assert_eq!(a.ifsc(), Ok(0x80));
        assert_eq!(a.bwi(), Ok(7));
        assert_eq!(a.cwi(), 0xD);
        assert_eq!(a.edc(), Edc::Lrc);
        assert_eq!(a.historical_bytes(), &[0x80, 0x51, 0x00, 0x61, 0x10, 0x30]);
        assert_eq!(a.tck(), Some(0x8F));
    }

    #[test]
    fn errors() {
        assert_eq!(Atr::parse(&[]), Err(AtrError::Truncated));
        assert_eq!(Atr::parse(&[0x3B]), Err(AtrError::Truncated));
        assert_eq!(Atr::parse(&[0x12, 0x00]), Err(AtrError::InvalidTs));
        assert_eq!(Atr::parse(&[0x3B, 0x6D, 0]), Err(AtrError::Truncated));
        // T=1 indicated: TCK required.
        assert_eq!(Atr::parse(&[0x3B, 0x80, 0x01]), Err(AtrError::Truncated));
        assert_eq!(Atr::parse(&[0x3B, 0x80, 0x01, 0x80]), Err(AtrError::BadTck));
        assert!(Atr::parse(&[0x3B, 0x80, 0x01, 0x81]).is_ok());
        assert_eq!(Atr::parse(&[0x3B, 0x00, 0x00]), Err(AtrError::TooLong));
        assert_eq!(Atr::parse(&[0x3B; 34]), Err(AtrError::TooLong));
        // A chain of TDs beyond MAX_LEVELS.
        let mut many = [0x3Bu8, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert_eq!(Atr::parse(&many), Err(AtrError::TooManyLevels));
        many[8] = 0x00;
        assert!(Atr::parse(&many[..9]).is_ok());
        // Reserved values are reported by the getters.
        let a = Atr::parse(&[0x3B, 0x10, 0x70]).unwrap();
        assert_eq!(a.fi_fmax(), Err(AtrError::ReservedFiDi));
        let a = Atr::parse(&[0x3B, 0x80, 0x81, 0x11, 0xFF, 0xEF]).unwrap();
        assert_eq!(a.ifsc(), Err(AtrError::InvalidIfsc));
    }

    #[test]
    fn builder_round_trips() {
        let hist = [0x53, 0x53];
        let a = AtrBuilder::new()
            .fi_di(9, 4)
            .extra_guard_time(2)
            .protocols(true, true)
            .wi(20)
            .ifsc(0xFE)
            .bwi_cwi(5, 3)
            .crc(true)
            .historical(&hist)
            .build()
            .unwrap();
        assert_eq!(a.ta1(), 0x94);
        assert_eq!(a.extra_guard_time(), 2);
        assert_eq!(a.wi(), Ok(20));
        assert!(a.protocols().contains(0) && a.protocols().contains(1));
        assert_eq!(a.first_protocol(), 0);
        assert_eq!(a.ifsc(), Ok(0xFE));
        assert_eq!((a.bwi(), a.cwi()), (Ok(5), 3));
        assert_eq!(a.edc(), Edc::Crc);
        assert_eq!(a.historical_bytes(), &hist);
        assert!(a.tck().is_some());

        let t0 = AtrBuilder::new().historical(&hist).build().unwrap();
        assert_eq!(t0.as_bytes(), &[0x3B, 0x02, 0x53, 0x53]);

        let t1 = AtrBuilder::new().protocols(false, true).build().unwrap();
        assert_eq!(t1.as_bytes(), &[0x3B, 0x80, 0x01, 0x81]);
        let spec = AtrBuilder::new()
            .protocols(false, true)
            .specific_mode(SpecificMode {
                protocol: 1,
                can_change: false,
                implicit: false,
            })
            .build()
            .unwrap();
        assert_eq!(
            spec.specific_mode(),
            Some(SpecificMode {
                protocol: 1,
                can_change: false,
                implicit: false
            })
        );
        assert_eq!(
            AtrBuilder::new().protocols(false, false).build(),
            Err(AtrError::Unencodable)
        );
        assert_eq!(
            AtrBuilder::new().historical(&[0; 16]).build(),
            Err(AtrError::Unencodable)
        );
    }
}
