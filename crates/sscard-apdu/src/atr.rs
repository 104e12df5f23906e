//! The answer-to-reset structure, as far as the terminal needs it above the link
//! layer: the historical bytes (ISO/IEC 7816-3 §8.2). A complete ATR/PPS engine
//! with timing parameters belongs to the link layer (`sscard-link`, later).

use core::fmt;

/// Why an ATR could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AtrError {
    /// The ATR ends before the interface or historical bytes it announces.
    Truncated,
    /// TS is neither `3B` (direct) nor `3F` (inverse convention).
    InvalidTs,
}

impl fmt::Display for AtrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "ATR shorter than its format bytes announce",
            Self::InvalidTs => "ATR initial character is not 3B or 3F",
        })
    }
}

impl core::error::Error for AtrError {}

/// The historical bytes T1…TK of an ATR.
pub fn historical_bytes(atr: &[u8]) -> Result<&[u8], AtrError> {
    let (&ts, rest) = atr.split_first().ok_or(AtrError::Truncated)?;
    if ts != 0x3B && ts != 0x3F {
        return Err(AtrError::InvalidTs);
    }
    let (&t0, mut rest) = rest.split_first().ok_or(AtrError::Truncated)?;
    let k = usize::from(t0 & 0x0F);
    let mut y = t0 >> 4;
    loop {
        // TAi, TBi, TCi present per bits 5..7 of Y; TDi per bit 8.
        let skip = (y & 0x07).count_ones() as usize;
        rest = rest.get(skip..).ok_or(AtrError::Truncated)?;
        if y & 0x08 == 0 {
            break;
        }
        let (&td, after) = rest.split_first().ok_or(AtrError::Truncated)?;
        rest = after;
        y = td >> 4;
    }
    rest.get(..k).ok_or(AtrError::Truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn historical_bytes_of_real_shapes() {
        // TB1 and TC1 present, 13 historical bytes.
        let atr = [
            0x3B, 0x6D, 0x00, 0x00, 0x00, 0x81, 0x53, 0x53, 0x43, 0x33, 0x00, 0x00, 0x12, 0x34,
            0x56, 0x78, 0x90,
        ];
        assert_eq!(historical_bytes(&atr).map(<[u8]>::len), Ok(13));
        // TD1 → TD2 chain with T=1 and TCK.
        let atr = [0x3B, 0x80, 0x80, 0x01, 0x01];
        assert_eq!(historical_bytes(&atr), Ok(&[][..]));
        let atr = [0x3B, 0x82, 0x80, 0x01, 0xAA, 0xBB, 0x00];
        assert_eq!(historical_bytes(&atr), Ok(&[0xAA, 0xBB][..]));
        assert_eq!(historical_bytes(&[0x3B, 0x6D, 0]), Err(AtrError::Truncated));
        assert_eq!(historical_bytes(&[0x12, 0x00]), Err(AtrError::InvalidTs));
        assert_eq!(historical_bytes(&[]), Err(AtrError::Truncated));
    }
}
