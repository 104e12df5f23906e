//! Protocol and parameter selection (ISO/IEC 7816-3 §9): choosing what to ask for
//! from the ATR and the reader's limits, the PPS request and response, and the
//! card's responder.
//!
//! ```text
//! PPSS=FF PPS0 [PPS1] [PPS2] [PPS3] PCK
//! ```
//!
//! PPS0 b5/b6/b7 announce PPS1 (Fi, Di), PPS2 (SPU), PPS3 (reserved); its low
//! nibble is the protocol T. PCK makes the XOR of all bytes zero. A successful
//! response echoes PPS0's protocol and either echoes PPS1 or leaves it out (the card
//! then keeps Fd = 372, Dd = 1); anything else means the exchange failed and the card
//! must be reset.

use core::fmt;

use crate::atr::Atr;
use crate::timing::{self, DEFAULT_D, DEFAULT_F};
use crate::Protocol;

/// The longest PPS message.
pub const PPS_MAX: usize = 6;

/// Why PPS failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PpsError {
    /// Fewer bytes than PPS0 announces.
    Truncated,
    /// More bytes than PPS0 announces.
    TooLong,
    /// PPSS is not `FF`.
    InvalidPpss,
    /// PCK does not make the XOR zero.
    BadPck,
    /// The response does not match the request (§9.3).
    Rejected,
    /// The card offers no protocol this link runs (T=0, T=1).
    NoCommonProtocol,
    /// PPS1 holds reserved Fi/Di values.
    ReservedFiDi,
    /// The card did not answer the request.
    NoResponse,
}

impl fmt::Display for PpsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "PPS shorter than PPS0 announces",
            Self::TooLong => "PPS longer than PPS0 announces",
            Self::InvalidPpss => "PPSS is not FF",
            Self::BadPck => "PPS check character is wrong",
            Self::Rejected => "PPS response does not confirm the request",
            Self::NoCommonProtocol => "card offers neither T=0 nor T=1",
            Self::ReservedFiDi => "reserved Fi or Di value",
            Self::NoResponse => "card did not answer the PPS request",
        })
    }
}

impl core::error::Error for PpsError {}

/// A PPS request or response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pps {
    /// The protocol type T (PPS0 b4…b1).
    pub protocol: u8,
    /// PPS1: Fi index (high nibble) and Di index (low nibble).
    pub pps1: Option<u8>,
    /// PPS2 (SPU).
    pub pps2: Option<u8>,
    /// PPS3 (reserved).
    pub pps3: Option<u8>,
}

impl Pps {
    /// A request for `protocol`, optionally with Fi/Di indices.
    pub const fn new(protocol: u8, fi_di: Option<u8>) -> Self {
        Self {
            protocol,
            pps1: fi_di,
            pps2: None,
            pps3: None,
        }
    }

    /// Encodes into `out`, returning the length.
    pub fn encode(&self, out: &mut [u8; PPS_MAX]) -> usize {
        let pps0 = (self.protocol & 0x0F)
            | (u8::from(self.pps1.is_some()) << 4)
            | (u8::from(self.pps2.is_some()) << 5)
            | (u8::from(self.pps3.is_some()) << 6);
        let mut n = 0;
        for b in [Some(0xFF), Some(pps0), self.pps1, self.pps2, self.pps3]
            .into_iter()
            .flatten()
        {
            if let Some(slot) = out.get_mut(n) {
                *slot = b;
                n += 1;
            }
        }
        let pck = out
            .get(..n)
            .unwrap_or_default()
            .iter()
            .fold(0, |a, b| a ^ b);
        if let Some(slot) = out.get_mut(n) {
            *slot = pck;
            n += 1;
        }
        n
    }

    /// The full length announced by a prefix holding at least PPSS and PPS0.
    pub fn expected_len(prefix: &[u8]) -> Option<usize> {
        let pps0 = *prefix.get(1)?;
        Some(3 + usize::try_from((pps0 & 0x70).count_ones()).unwrap_or(0))
    }

    /// Parses and checks a PPS message.
    pub fn parse(bytes: &[u8]) -> Result<Self, PpsError> {
        match bytes.first() {
            None => return Err(PpsError::Truncated),
            Some(&0xFF) => {}
            Some(_) => return Err(PpsError::InvalidPpss),
        }
        let len = Self::expected_len(bytes).ok_or(PpsError::Truncated)?;
        match bytes.len().cmp(&len) {
            core::cmp::Ordering::Less => return Err(PpsError::Truncated),
            core::cmp::Ordering::Greater => return Err(PpsError::TooLong),
            core::cmp::Ordering::Equal => {}
        }
        if bytes.iter().fold(0u8, |a, b| a ^ b) != 0 {
            return Err(PpsError::BadPck);
        }
        let pps0 = bytes.get(1).copied().unwrap_or(0);
        let mut rest = bytes.get(2..).unwrap_or_default().iter().copied();
        let mut take = |bit: u8| if pps0 & bit != 0 { rest.next() } else { None };
        let pps1 = take(0x10);
        let pps2 = take(0x20);
        let pps3 = take(0x40);
        Ok(Self {
            protocol: pps0 & 0x0F,
            pps1,
            pps2,
            pps3,
        })
    }
}

/// What the reader can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReaderLimits {
    /// The clock the reader gives the card.
    pub clock_hz: u32,
    /// The fastest bit rate the reader's UART runs.
    pub max_baud: u32,
    /// The largest D the reader supports.
    pub max_d: u8,
}

impl ReaderLimits {
    /// Limits with this clock, baud rate and D.
    pub const fn new(clock_hz: u32, max_baud: u32, max_d: u8) -> Self {
        Self {
            clock_hz,
            max_baud,
            max_d,
        }
    }

    /// Whether the reader runs Fi, Di at its clock.
    pub fn supports(&self, f: u16, d: u8) -> bool {
        d <= self.max_d && timing::Timing::new(self.clock_hz, f, d, 0).baud() <= self.max_baud
    }
}

/// Protocol, F and D chosen for a card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Selection {
    /// The protocol.
    pub protocol: Protocol,
    /// Fi and Di indices, when not the defaults (F = 372, D = 1).
    pub fi_di: Option<u8>,
    /// F.
    pub f: u16,
    /// D.
    pub d: u8,
    /// Whether a PPS exchange is needed (non-default F/D, or not the first offered
    /// protocol).
    pub needs_pps: bool,
}

impl Selection {
    /// The request that asks for this selection.
    pub fn request(&self) -> Pps {
        Pps::new(self.protocol.t(), self.fi_di)
    }
}

/// Chooses the protocol (`prefer` if offered, else the first offered of T=0/T=1)
/// and the fastest Fi/Di the card allows (Fi of TA1; TA1's Di or the largest power
/// of two below it) that the reader supports at its clock (§9.2).
pub fn select(
    atr: &Atr,
    limits: &ReaderLimits,
    prefer: Option<Protocol>,
) -> Result<Selection, PpsError> {
    let offered = atr.protocols();
    let first = Protocol::from_t(atr.first_protocol());
    let protocol = prefer
        .filter(|p| offered.contains(p.t()))
        .or(first)
        .or_else(|| {
            [Protocol::T0, Protocol::T1]
                .into_iter()
                .find(|p| offered.contains(p.t()))
        })
        .ok_or(PpsError::NoCommonProtocol)?;
    let mut fi_di = None;
    let (mut f, mut d) = (DEFAULT_F, DEFAULT_D);
    if let (Ok((card_f, fmax_khz)), Ok(card_d)) = (atr.fi_fmax(), atr.di()) {
        let fi_index = atr.ta1() >> 4;
        let clock_ok = u64::from(limits.clock_hz) <= u64::from(fmax_khz) * 1000;
        if clock_ok {
            let best = (1u8..=9)
                .filter_map(|i| timing::di(i).map(|d| (i, d)))
                // The card's own Di, or a power of two below it (12 and 20 only when
                // the card names them).
                .filter(|&(i, cand)| cand == card_d || (i <= 7 && cand < card_d))
                .filter(|&(_, cand)| limits.supports(card_f, cand))
                .max_by_key(|&(_, cand)| cand);
            if let Some((di_index, cand)) = best {
                if card_f != DEFAULT_F || cand != DEFAULT_D {
                    fi_di = Some((fi_index << 4) | di_index);
                    f = card_f;
                    d = cand;
                }
            }
        }
    }
    let needs_pps = fi_di.is_some() || Some(protocol) != first;
    Ok(Selection {
        protocol,
        fi_di,
        f,
        d,
        needs_pps,
    })
}

/// Checks a card's response to `request` (§9.3) and returns F and D in force.
pub fn check_response(request: &Pps, response: &[u8]) -> Result<(u16, u8), PpsError> {
    let resp = Pps::parse(response)?;
    if resp.protocol != request.protocol {
        return Err(PpsError::Rejected);
    }
    let echoed_or_absent = |req: Option<u8>, got: Option<u8>| got.is_none() || got == req;
    if !echoed_or_absent(request.pps2, resp.pps2) || !echoed_or_absent(request.pps3, resp.pps3) {
        return Err(PpsError::Rejected);
    }
    match (request.pps1, resp.pps1) {
        (_, None) => Ok((DEFAULT_F, DEFAULT_D)),
        (Some(req), Some(got)) if req == got => fi_di_values(got),
        _ => Err(PpsError::Rejected),
    }
}

/// F and D for Fi/Di indices in one byte.
pub fn fi_di_values(fi_di: u8) -> Result<(u16, u8), PpsError> {
    let (f, _) = timing::fi_fmax(fi_di >> 4).ok_or(PpsError::ReservedFiDi)?;
    let d = timing::di(fi_di & 0x0F).ok_or(PpsError::ReservedFiDi)?;
    Ok((f, d))
}

/// The card's answer to a PPS request, from its own ATR: `None` (stay silent)
/// for a protocol it does not offer; PPS1 echoed when it asks for the card's Fi and
/// a D not above the card's, else left out (defaults stay); PPS2/PPS3 left out.
pub fn respond(request: &Pps, own_atr: &Atr) -> Option<Pps> {
    if request.protocol > 14 || !own_atr.protocols().contains(request.protocol) {
        return None;
    }
    let pps1 = request.pps1.filter(|&fi_di| {
        let card_fi = own_atr.ta1() >> 4;
        match (fi_di_values(fi_di), own_atr.di()) {
            (Ok((_, d)), Ok(card_d)) => fi_di >> 4 == card_fi && d <= card_d,
            _ => false,
        }
    });
    Some(Pps::new(request.protocol, pps1))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::atr::AtrBuilder;

    #[test]
    fn encode_parse() {
        let mut out = [0u8; PPS_MAX];
        let n = Pps::new(1, Some(0x13)).encode(&mut out);
        assert_eq!(&out[..n], &[0xFF, 0x11, 0x13, 0xFF ^ 0x11 ^ 0x13]);
        assert_eq!(Pps::parse(&out[..n]), Ok(Pps::new(1, Some(0x13))));
        let n = Pps::new(0, None).encode(&mut out);
        assert_eq!(&out[..n], &[0xFF, 0x00, 0xFF]);
        assert_eq!(Pps::parse(&[0xFF, 0x00]), Err(PpsError::Truncated));
        assert_eq!(Pps::parse(&[0xFF, 0x00, 0xFF, 0]), Err(PpsError::TooLong));
        assert_eq!(Pps::parse(&[0xFF, 0x00, 0xFE]), Err(PpsError::BadPck));
        assert_eq!(Pps::parse(&[0xFE, 0x00, 0xFE]), Err(PpsError::InvalidPpss));
        assert_eq!(Pps::parse(&[]), Err(PpsError::Truncated));
        let all = Pps {
            protocol: 1,
            pps1: Some(0x96),
            pps2: Some(0),
            pps3: Some(0),
        };
        let n = all.encode(&mut out);
        assert_eq!(n, 6);
        assert_eq!(Pps::parse(&out[..n]), Ok(all));
    }

    #[test]
    fn selection_bounded_by_reader() {
        // TA1 = 96: Fi = 512, Di = 32, fmax 5 MHz; T=0 and T=1.
        let atr = AtrBuilder::new()
            .fi_di(9, 6)
            .protocols(true, true)
            .build()
            .unwrap();
        let fast = ReaderLimits::new(4_000_000, 1_000_000, 64);
        let s = select(&atr, &fast, None).unwrap();
        assert_eq!(
            (s.protocol, s.f, s.d, s.fi_di, s.needs_pps),
            (Protocol::T0, 512, 32, Some(0x96), true)
        );
        // A UART capped at 115200 bit/s at 4 MHz: 512/8 gives 62500, 512/16 125000
        // (D = 12 would fit, but the card did not name it).
        let slow = ReaderLimits::new(4_000_000, 115_200, 64);
        let s = select(&atr, &slow, Some(Protocol::T1)).unwrap();
        assert_eq!((s.protocol, s.d, s.fi_di), (Protocol::T1, 8, Some(0x94)));
        // Clock above fmax: defaults, but T=1 is not the first offered: PPS anyway.
        let hot = ReaderLimits::new(6_000_000, 1_000_000, 64);
        let s = select(&atr, &hot, Some(Protocol::T1)).unwrap();
        assert_eq!((s.fi_di, s.needs_pps), (None, true));
        // Default ATR: nothing to negotiate.
        let plain = AtrBuilder::new().build().unwrap();
        let s = select(&plain, &fast, None).unwrap();
        assert!(!s.needs_pps);
    }

    #[test]
    fn responses() {
        let atr = AtrBuilder::new()
            .fi_di(1, 3)
            .protocols(true, true)
            .build()
            .unwrap();
        let req = Pps::new(1, Some(0x13));
        let resp = respond(&req, &atr).unwrap();
        assert_eq!(resp, req);
        let mut out = [0u8; PPS_MAX];
        let n = resp.encode(&mut out);
        assert_eq!(check_response(&req, &out[..n]), Ok((372, 4)));
        // Too fast: the card leaves PPS1 out; the defaults stay.
        let resp = respond(&Pps::new(1, Some(0x14)), &atr).unwrap();
        assert_eq!(resp.pps1, None);
        let n = resp.encode(&mut out);
        assert_eq!(
            check_response(&Pps::new(1, Some(0x14)), &out[..n]),
            Ok((372, 1))
        );
        // T=2 is not offered: silence.
        assert_eq!(respond(&Pps::new(2, None), &atr), None);
        // A response for another protocol or other Fi/Di is a failure.
        let n = Pps::new(0, None).encode(&mut out);
        assert_eq!(check_response(&req, &out[..n]), Err(PpsError::Rejected));
        let n = Pps::new(1, Some(0x12)).encode(&mut out);
        assert_eq!(check_response(&req, &out[..n]), Err(PpsError::Rejected));
    }
}
