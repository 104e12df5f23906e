//! Data object lists (EMV Book 3 §5.4): a DOL is a list of tag ‖ length pairs with no
//! values (PDOL `9F38`, CDOL1/2 `8C`/`8D`, DDOL `9F49`, the log formats `9F4F`/`DF4F`).
//! The terminal *builds* the data a DOL asks for ([`Dol::build`]); the card *splits*
//! the received data back into values ([`Dol::split`]).

use alloc::vec::Vec;
use core::fmt;

use crate::tag::{Format, Tag};

/// Why a DOL or DOL data was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DolError {
    /// The DOL ended inside a tag or a length.
    Truncated,
    /// A tag longer than 4 bytes or a length longer than `81 xx`.
    Malformed,
    /// DOL data whose length is not the sum of the DOL's lengths.
    DataLength {
        /// What the DOL asks for.
        expected: usize,
        /// What arrived.
        actual: usize,
    },
}

impl fmt::Display for DolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("DOL truncated inside a tag or length"),
            Self::Malformed => f.write_str("DOL has an over-long tag or length"),
            Self::DataLength { expected, actual } => {
                write!(f, "DOL data is {actual} bytes, the DOL asks for {expected}")
            }
        }
    }
}

impl core::error::Error for DolError {}

/// One DOL entry: a tag and the length the list asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DolEntry {
    /// The data object.
    pub tag: Tag,
    /// Its length in the DOL data.
    pub len: usize,
}

/// A validated DOL (borrowed bytes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Dol<'a>(&'a [u8]);

impl fmt::Debug for Dol<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries().map(|e| (e.tag, e.len)))
            .finish()
    }
}

/// Reads one tag from the front of `bytes` (BER rules: `xx1F` continues while bit 8 is set).
pub fn read_tag(bytes: &[u8]) -> Result<(Tag, &[u8]), DolError> {
    let (&first, mut rest) = bytes.split_first().ok_or(DolError::Truncated)?;
    let mut tag = u32::from(first);
    if first & 0x1F == 0x1F {
        let mut n = 1;
        loop {
            let (&b, r) = rest.split_first().ok_or(DolError::Truncated)?;
            rest = r;
            n += 1;
            if n > 4 {
                return Err(DolError::Malformed);
            }
            tag = (tag << 8) | u32::from(b);
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    Ok((Tag(tag), rest))
}

fn read_entry(bytes: &[u8]) -> Result<(DolEntry, &[u8]), DolError> {
    let (tag, rest) = read_tag(bytes)?;
    let (&l, rest) = rest.split_first().ok_or(DolError::Truncated)?;
    let (len, rest) = match l {
        0x00..=0x7F => (usize::from(l), rest),
        0x81 => {
            let (&l2, rest) = rest.split_first().ok_or(DolError::Truncated)?;
            (usize::from(l2), rest)
        }
        _ => return Err(DolError::Malformed),
    };
    Ok((DolEntry { tag, len }, rest))
}

impl<'a> Dol<'a> {
    /// Validates a DOL. An empty DOL is valid (and asks for nothing).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DolError> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let (_, r) = read_entry(rest)?;
            rest = r;
        }
        Ok(Self(bytes))
    }

    /// The DOL's bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// The entries in order.
    pub fn entries(&self) -> impl Iterator<Item = DolEntry> + 'a {
        let mut rest = self.0;
        core::iter::from_fn(move || {
            let (entry, r) = read_entry(rest).ok()?;
            rest = r;
            Some(entry)
        })
    }

    /// Length of the DOL data.
    pub fn data_len(&self) -> usize {
        self.entries().map(|e| e.len).sum()
    }

    /// Whether the DOL asks for `tag`.
    pub fn contains(&self, tag: Tag) -> bool {
        self.entries().any(|e| e.tag == tag)
    }

    /// Builds the DOL data (EMV Book 3 §5.4): each value is looked up; a missing value
    /// is zeros; a shorter value is padded (numeric: leading zeros; compressed numeric:
    /// trailing `FF`; others: trailing zeros); a longer one is cut (numeric: keep the
    /// rightmost bytes; others: the leftmost).
    pub fn build<'v>(&self, mut lookup: impl FnMut(Tag) -> Option<&'v [u8]>, out: &mut Vec<u8>) {
        for DolEntry { tag, len } in self.entries() {
            let value = lookup(tag).unwrap_or_default();
            let format = tag.format();
            if value.len() >= len {
                let cut = match format {
                    Format::Numeric => value.get(value.len() - len..),
                    _ => value.get(..len),
                };
                out.extend_from_slice(cut.unwrap_or_default());
            } else {
                let pad = len - value.len();
                match format {
                    Format::Numeric => {
                        out.extend(core::iter::repeat_n(0u8, pad));
                        out.extend_from_slice(value);
                    }
                    Format::CompressedNumeric => {
                        out.extend_from_slice(value);
                        out.extend(core::iter::repeat_n(0xFFu8, pad));
                    }
                    Format::Text | Format::Binary => {
                        out.extend_from_slice(value);
                        out.extend(core::iter::repeat_n(0u8, pad));
                    }
                }
            }
        }
    }

    /// Splits DOL data back into `(tag, value)` pairs; the data must be exactly
    /// [`Dol::data_len`] bytes.
    pub fn split<'d>(&self, data: &'d [u8]) -> Result<Vec<(Tag, &'d [u8])>, DolError> {
        let expected = self.data_len();
        if data.len() != expected {
            return Err(DolError::DataLength {
                expected,
                actual: data.len(),
            });
        }
        let mut rest = data;
        let mut out = Vec::new();
        for DolEntry { tag, len } in self.entries() {
            let (value, r) = rest.split_at_checked(len).ok_or(DolError::DataLength {
                expected,
                actual: data.len(),
            })?;
            out.push((tag, value));
            rest = r;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const CONTACT_PDOL: &[u8] = &[
        0x9F, 0x1A, 0x02, 0x9F, 0x7A, 0x01, 0x9F, 0x02, 0x06, 0x5F, 0x2A, 0x02, 0x9F, 0x4E, 0x14,
        0xDF, 0x69, 0x01,
    ];

    #[test]
    fn parses_the_perso_script_pdol() {
        let dol = Dol::parse(CONTACT_PDOL).unwrap();
        let entries: Vec<_> = dol.entries().collect();
        assert_eq!(entries.len(), 6);
        assert_eq!(
            entries[5],
            DolEntry {
                tag: Tag::SM_SUPPORT,
                len: 1
            }
        );
        assert_eq!(dol.data_len(), 2 + 1 + 6 + 2 + 20 + 1);
        assert!(dol.contains(Tag::EC_TERMINAL_SUPPORT));
        assert!(!dol.contains(Tag::TTQ));
    }

    #[test]
    fn rejects_truncated_and_malformed() {
        assert_eq!(Dol::parse(&[0x9F]), Err(DolError::Truncated));
        assert_eq!(Dol::parse(&[0x9F, 0x02]), Err(DolError::Truncated));
        assert_eq!(
            Dol::parse(&[0x9F, 0x02, 0x82, 0, 1]),
            Err(DolError::Malformed)
        );
        assert_eq!(
            Dol::parse(&[0x1F, 0x81, 0x81, 0x81, 0x01, 0x01]),
            Err(DolError::Malformed)
        );
        assert!(Dol::parse(&[]).unwrap().entries().next().is_none());
    }

    #[test]
    fn build_pads_and_cuts_by_format() {
        // amount n12 given as 2 bytes, PAN cn given short, label text given long, UN missing
        let dol = Dol::parse(&[
            0x9F, 0x02, 0x06, 0x5A, 0x04, 0x50, 0x02, 0x9F, 0x37, 0x04, 0x9A, 0x02,
        ])
        .unwrap();
        let mut out = Vec::new();
        dol.build(
            |tag| match tag {
                Tag::AMOUNT => Some(&[0x12, 0x34][..]),
                Tag::PAN => Some(&[0x62, 0x28][..]),
                Tag::APP_LABEL => Some(b"PBOC"),
                Tag::TXN_DATE => Some(&[0x26, 0x11, 0x22][..]),
                _ => None,
            },
            &mut out,
        );
        assert_eq!(
            out,
            vec![
                0, 0, 0, 0, 0x12, 0x34, 0x62, 0x28, 0xFF, 0xFF, b'P', b'B', 0, 0, 0, 0, 0x11, 0x22
            ]
        );
    }

    #[test]
    fn split_round_trips_and_checks_length() {
        let dol = Dol::parse(CONTACT_PDOL).unwrap();
        let data: Vec<u8> = (0..32u8).collect();
        let parts = dol.split(&data).unwrap();
        assert_eq!(parts[0], (Tag::TERMINAL_COUNTRY, &data[0..2]));
        assert_eq!(parts[5], (Tag::SM_SUPPORT, &data[31..32]));
        assert_eq!(
            dol.split(&data[..31]),
            Err(DolError::DataLength {
                expected: 32,
                actual: 31
            })
        );
        let mut rebuilt = Vec::new();
        dol.build(
            |t| parts.iter().find(|(tag, _)| *tag == t).map(|(_, v)| *v),
            &mut rebuilt,
        );
        assert_eq!(rebuilt, data);
    }
}
