//! Tag-length-value codings.
//!
//! * [`simple`]: the card's record TLV, `tag(1) len(1) value` (ISO/IEC 7816-4 SIMPLE-TLV;
//!   lengths above 254 use `FF hi lo`). Every SSSE record is one of these
//!   (`spec/sscard.md` §1.2–1.4).
//! * [`ber`]: BER-TLV (ISO/IEC 7816-4 §5.2, ISO/IEC 8825-1) for FCI templates and EMV data,
//!   with multi-byte tags and definite lengths up to three length bytes.

use core::fmt;

/// Why bytes are not a well-formed TLV.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlvError {
    /// The input ends inside a tag, a length or a value.
    Truncated,
    /// Tag `00` or `FF` in SIMPLE-TLV, or a BER tag longer than three bytes.
    InvalidTag,
    /// Indefinite or over-long BER length.
    InvalidLength,
    /// The output buffer is too small; `needed` bytes are required.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
    /// The value is too long for the encoding.
    ValueTooLong,
}

impl fmt::Display for TlvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("TLV truncated"),
            Self::InvalidTag => f.write_str("invalid TLV tag"),
            Self::InvalidLength => f.write_str("invalid TLV length"),
            Self::BufferTooSmall { needed } => write!(f, "TLV output needs {needed} bytes"),
            Self::ValueTooLong => f.write_str("TLV value too long"),
        }
    }
}

impl core::error::Error for TlvError {}

/// SIMPLE-TLV: one-byte tags (`01`–`FE`), one- or three-byte lengths.
pub mod simple {
    use super::TlvError;

    /// Parses one SIMPLE-TLV at the start of `bytes`: `(tag, value, rest)`.
    pub fn parse(bytes: &[u8]) -> Result<(u8, &[u8], &[u8]), TlvError> {
        let (&tag, rest) = bytes.split_first().ok_or(TlvError::Truncated)?;
        if tag == 0x00 || tag == 0xFF {
            return Err(TlvError::InvalidTag);
        }
        let (&len, rest) = rest.split_first().ok_or(TlvError::Truncated)?;
        let (len, rest) = if len == 0xFF {
            let (l, rest) = rest.split_at_checked(2).ok_or(TlvError::Truncated)?;
            let &[hi, lo] = l else {
                return Err(TlvError::Truncated);
            };
            (usize::from(u16::from_be_bytes([hi, lo])), rest)
        } else {
            (usize::from(len), rest)
        };
        let (value, rest) = rest.split_at_checked(len).ok_or(TlvError::Truncated)?;
        Ok((tag, value, rest))
    }

    /// Parses a record that holds exactly one SIMPLE-TLV: `(tag, value)`.
    /// Trailing bytes after the TLV are ignored, as real cards pad fixed-size records.
    pub fn parse_record(record: &[u8]) -> Result<(u8, &[u8]), TlvError> {
        parse(record).map(|(tag, value, _)| (tag, value))
    }

    /// Encoded size of a SIMPLE-TLV with `value_len` value bytes.
    pub fn encoded_len(value_len: usize) -> Result<usize, TlvError> {
        match value_len {
            0..=254 => Ok(2 + value_len),
            255..=65535 => Ok(4 + value_len),
            _ => Err(TlvError::ValueTooLong),
        }
    }

    /// Writes `tag len value` into `out`, returning the number of bytes written.
    pub fn write(tag: u8, value: &[u8], out: &mut [u8]) -> Result<usize, TlvError> {
        if tag == 0x00 || tag == 0xFF {
            return Err(TlvError::InvalidTag);
        }
        let needed = encoded_len(value.len())?;
        let out = out
            .get_mut(..needed)
            .ok_or(TlvError::BufferTooSmall { needed })?;
        let (head, body) = out.split_at_mut(needed - value.len());
        match (u8::try_from(value.len()), u16::try_from(value.len()), head) {
            (Ok(len), _, [t, l]) if len != 0xFF => {
                *t = tag;
                *l = len;
            }
            (_, Ok(len), [t, ff, hi, lo]) => {
                let [h, l] = len.to_be_bytes();
                (*t, *ff, *hi, *lo) = (tag, 0xFF, h, l);
            }
            _ => return Err(TlvError::ValueTooLong),
        }
        body.copy_from_slice(value);
        Ok(needed)
    }
}

/// BER-TLV.
pub mod ber {
    use super::TlvError;

    /// One BER-TLV data object.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Tlv<'a> {
        /// The tag, its bytes big-endian in a `u32` (e.g. `0x9F0C`, `0x6F`).
        pub tag: u32,
        /// The value field.
        pub value: &'a [u8],
    }

    impl<'a> Tlv<'a> {
        /// Whether the tag is constructed (bit 6 of its first byte).
        pub fn is_constructed(&self) -> bool {
            let first = self.tag.to_be_bytes().into_iter().find(|b| *b != 0);
            first.is_some_and(|b| b & 0x20 != 0)
        }

        /// The nested objects of a constructed value.
        pub fn children(&self) -> Iter<'a> {
            Iter { rest: self.value }
        }
    }

    /// Parses one BER-TLV at the start of `bytes`: `(object, rest)`.
    pub fn parse(bytes: &[u8]) -> Result<(Tlv<'_>, &[u8]), TlvError> {
        let (&first, mut rest) = bytes.split_first().ok_or(TlvError::Truncated)?;
        let mut tag = u32::from(first);
        if first & 0x1F == 0x1F {
            // Subsequent tag bytes while b8 is set; at most three tag bytes in total.
            for i in 0..2 {
                let (&b, r) = rest.split_first().ok_or(TlvError::Truncated)?;
                rest = r;
                tag = (tag << 8) | u32::from(b);
                if b & 0x80 == 0 {
                    break;
                }
                if i == 1 {
                    return Err(TlvError::InvalidTag);
                }
            }
        }
        let (&l, r) = rest.split_first().ok_or(TlvError::Truncated)?;
        rest = r;
        let len = match l {
            0x00..=0x7F => usize::from(l),
            0x81..=0x83 => {
                let n = usize::from(l & 0x7F);
                let (lb, r) = rest.split_at_checked(n).ok_or(TlvError::Truncated)?;
                rest = r;
                lb.iter()
                    .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
            }
            _ => return Err(TlvError::InvalidLength),
        };
        let (value, rest) = rest.split_at_checked(len).ok_or(TlvError::Truncated)?;
        Ok((Tlv { tag, value }, rest))
    }

    /// Iterates over consecutive BER-TLVs; stops after the first error, which it yields.
    /// `00` and `FF` padding between objects is skipped (ISO/IEC 7816-4 §5.2).
    #[derive(Clone, Debug)]
    pub struct Iter<'a> {
        rest: &'a [u8],
    }

    /// Iterates over the BER-TLVs in `bytes`.
    pub fn iter(bytes: &[u8]) -> Iter<'_> {
        Iter { rest: bytes }
    }

    impl<'a> Iterator for Iter<'a> {
        type Item = Result<Tlv<'a>, TlvError>;

        fn next(&mut self) -> Option<Self::Item> {
            while let [0x00 | 0xFF, rest @ ..] = self.rest {
                self.rest = rest;
            }
            if self.rest.is_empty() {
                return None;
            }
            match parse(self.rest) {
                Ok((tlv, rest)) => {
                    self.rest = rest;
                    Some(Ok(tlv))
                }
                Err(e) => {
                    self.rest = &[];
                    Some(Err(e))
                }
            }
        }
    }

    /// Depth-first search for the first object with `tag`, descending into constructed ones
    /// (at most 8 levels deep).
    pub fn find(bytes: &[u8], tag: u32) -> Result<Option<&[u8]>, TlvError> {
        find_depth(bytes, tag, 8)
    }

    fn find_depth(bytes: &[u8], tag: u32, depth: u8) -> Result<Option<&[u8]>, TlvError> {
        for tlv in iter(bytes) {
            let tlv = tlv?;
            if tlv.tag == tag {
                return Ok(Some(tlv.value));
            }
            if tlv.is_constructed() && depth > 0 {
                if let Some(v) = find_depth(tlv.value, tag, depth - 1)? {
                    return Ok(Some(v));
                }
            }
        }
        Ok(None)
    }

    fn tag_bytes(tag: u32) -> ([u8; 4], usize) {
        let bytes = tag.to_be_bytes();
        let skip = bytes.iter().take(3).take_while(|b| **b == 0).count();
        (bytes, skip)
    }

    /// Encoded size of a BER-TLV.
    pub fn encoded_len(tag: u32, value_len: usize) -> Result<usize, TlvError> {
        let (_, skip) = tag_bytes(tag);
        let tag_len = 4 - skip;
        if tag_len > 3 {
            return Err(TlvError::InvalidTag);
        }
        let len_len = match value_len {
            0..=0x7F => 1,
            0x80..=0xFF => 2,
            0x100..=0xFFFF => 3,
            0x1_0000..=0xFF_FFFF => 4,
            _ => return Err(TlvError::ValueTooLong),
        };
        Ok(tag_len + len_len + value_len)
    }

    /// Writes a BER-TLV into `out`, returning the number of bytes written.
    pub fn write(tag: u32, value: &[u8], out: &mut [u8]) -> Result<usize, TlvError> {
        let needed = encoded_len(tag, value.len())?;
        let out = out
            .get_mut(..needed)
            .ok_or(TlvError::BufferTooSmall { needed })?;
        let (tb, skip) = tag_bytes(tag);
        let tag_part = tb.get(skip..).ok_or(TlvError::InvalidTag)?;
        let len = u32::try_from(value.len()).map_err(|_| TlvError::ValueTooLong)?;
        let lb = len.to_be_bytes();
        let len_part: &[u8] = match value.len() {
            0..=0x7F => lb.get(3..).unwrap_or_default(),
            0x80..=0xFF => &[0x81, lb[3]],
            0x100..=0xFFFF => &[0x82, lb[2], lb[3]],
            _ => &[0x83, lb[1], lb[2], lb[3]],
        };
        let mut pos = 0;
        for part in [tag_part, len_part, value] {
            let dst = out
                .get_mut(pos..pos + part.len())
                .ok_or(TlvError::BufferTooSmall { needed })?;
            dst.copy_from_slice(part);
            pos += part.len();
        }
        Ok(pos)
    }

    /// Appends a BER-TLV to `out` (feature `alloc`); on error `out` is unchanged.
    #[cfg(feature = "alloc")]
    pub fn push(tag: u32, value: &[u8], out: &mut alloc::vec::Vec<u8>) -> Result<(), TlvError> {
        let needed = encoded_len(tag, value.len())?;
        let start = out.len();
        out.resize(start + needed, 0);
        let written = out
            .get_mut(start..)
            .ok_or(TlvError::BufferTooSmall { needed })
            .and_then(|dst| write(tag, value, dst));
        if written.is_err() {
            out.truncate(start);
        }
        written.map(|_| ())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn simple_record() {
        let rec = [
            0x07, 0x09, b'A', b'1', b'2', b'3', b'4', b'5', b'6', b'7', b'8',
        ];
        let (tag, value) = simple::parse_record(&rec).unwrap();
        assert_eq!((tag, value), (0x07, &rec[2..]));
        assert_eq!(simple::parse_record(&rec[..5]), Err(TlvError::Truncated));
        assert_eq!(
            simple::parse_record(&[0x00, 0x00]),
            Err(TlvError::InvalidTag)
        );
        let mut out = [0u8; 16];
        let n = simple::write(0x07, &rec[2..], &mut out).unwrap();
        assert_eq!(&out[..n], &rec);
        let long = [0xAB; 300];
        let mut out = [0u8; 310];
        let n = simple::write(0x41, &long, &mut out).unwrap();
        assert_eq!(&out[..4], &[0x41, 0xFF, 0x01, 0x2C]);
        assert_eq!(simple::parse_record(&out[..n]).unwrap().1, &long[..]);
    }

    #[test]
    fn ber_fci() {
        // 6F { 84 aid, A5 { 9F0C 03 860101 } }
        let fci = [
            0x6F, 0x0C, 0x84, 0x02, 0xAA, 0xBB, 0xA5, 0x06, 0x9F, 0x0C, 0x03, 0x86, 0x01, 0x03,
        ];
        assert_eq!(ber::find(&fci, 0x84).unwrap(), Some(&[0xAA, 0xBB][..]));
        assert_eq!(
            ber::find(&fci, 0x9F0C).unwrap(),
            Some(&[0x86, 0x01, 0x03][..])
        );
        assert_eq!(ber::find(&fci, 0x50).unwrap(), None);
        assert_eq!(ber::find(&fci[..5], 0x50), Err(TlvError::Truncated));
        let mut out = [0u8; 8];
        let n = ber::write(0x9F0C, &[0x86, 0x01, 0x03], &mut out).unwrap();
        assert_eq!(&out[..n], &fci[8..]);
        let big = [0u8; 200];
        let mut out = [0u8; 210];
        let n = ber::write(0x70, &big, &mut out).unwrap();
        assert_eq!(&out[..3], &[0x70, 0x81, 200]);
        let (tlv, rest) = ber::parse(&out[..n]).unwrap();
        assert_eq!((tlv.value.len(), rest.len()), (200, 0));
        assert_eq!(
            ber::parse(&[0x5F, 0x80, 0x80, 0x00]),
            Err(TlvError::InvalidTag)
        );
        assert_eq!(
            ber::parse(&[0x70, 0x84, 0, 0, 0, 1]),
            Err(TlvError::InvalidLength)
        );
    }
}
