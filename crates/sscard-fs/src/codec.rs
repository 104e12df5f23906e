//! Item encodings of the card's data items (`spec/sscard.md` §1.2–1.3).
//!
//! | encoding | on the card | as text |
//! |---|---|---|
//! | `hex` | binary | upper-case hex |
//! | `an` | ASCII, right-padded with the pad byte | the text, padding stripped |
//! | `cn` | BCD, right-padded with `F` nibbles | the digits |
//! | `gbk` | GBK, right-padded with the pad byte | the text, padding stripped |
//!
//! Reading strips trailing `00` and `FF` from AN and GBK items, since writers disagree
//! on the pad byte of some items (`4E`: `00` vs `FF`, §1.3).
//!
//! [`decode`] turns GBK into Unicode through the tables of [`crate::gbk`] (about 17 KB
//! of flash). [`decode_kept`] keeps GBK items as the card's bytes ([`GbkText`], checked
//! for well-formed GBK structure without any table), for firmware whose display or
//! printer takes GBK directly; a firmware that never calls [`GbkText::decode`] links
//! no GBK table.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};
use sscard_apdu::hex;

/// How an item's value is stored on the card.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Encoding {
    /// Binary, shown as hex.
    Hex,
    /// ASCII text.
    An,
    /// BCD digits, `F`-padded.
    Cn,
    /// GBK text.
    Gbk,
}

/// Why a value cannot be encoded for, or decoded from, the card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecError {
    /// The value is longer than the item (`max` bytes on the card).
    TooLong {
        /// The item's length on the card.
        max: usize,
    },
    /// A hex item must have exactly its length.
    WrongLength {
        /// The item's length on the card.
        expected: usize,
    },
    /// A character that the encoding cannot hold (non-digit in CN, non-ASCII in AN,
    /// not in GBK, not hex), at this character index.
    InvalidCharacter {
        /// Index of the character.
        at: usize,
    },
    /// Card bytes that are not valid for the encoding (a BCD nibble A–E, malformed GBK,
    /// a non-ASCII byte in AN).
    InvalidBytes,
    /// A GBK value that is not plain ASCII where text is needed but GBK is kept
    /// undecoded (`sscard_ssse::read_basic_gbk` for fields other than the name).
    NeedsGbkDecoding,
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { max } => write!(f, "value longer than the item's {max} bytes"),
            Self::WrongLength { expected } => write!(f, "value must be exactly {expected} bytes"),
            Self::InvalidCharacter { at } => {
                write!(f, "character {at} cannot be stored in this encoding")
            }
            Self::InvalidBytes => f.write_str("card bytes are not valid for the item's encoding"),
            Self::NeedsGbkDecoding => f.write_str("a GBK value must be decoded to be used as text"),
        }
    }
}

impl core::error::Error for CodecError {}

/// Encodes `value` into exactly `length` card bytes.
pub fn encode(
    encoding: Encoding,
    length: usize,
    pad: u8,
    value: &str,
) -> Result<Vec<u8>, CodecError> {
    let mut out = match encoding {
        Encoding::Hex => {
            let bytes = hex::to_vec(value).map_err(|e| match e {
                hex::HexError::InvalidCharacter { at } => CodecError::InvalidCharacter { at },
                _ => CodecError::WrongLength { expected: length },
            })?;
            if bytes.len() != length {
                return Err(CodecError::WrongLength { expected: length });
            }
            return Ok(bytes);
        }
        Encoding::An => {
            if let Some(at) = value.chars().position(|c| !(' '..='~').contains(&c)) {
                return Err(CodecError::InvalidCharacter { at });
            }
            value.as_bytes().to_vec()
        }
        Encoding::Gbk => {
            if let Some(at) = value.chars().position(char::is_control) {
                return Err(CodecError::InvalidCharacter { at });
            }
            crate::gbk::encode(value).map_err(|at| CodecError::InvalidCharacter { at })?
        }
        Encoding::Cn => {
            if let Some(at) = value.chars().position(|c| !c.is_ascii_digit()) {
                return Err(CodecError::InvalidCharacter { at });
            }
            let digits = value.as_bytes();
            if digits.len() > length * 2 {
                return Err(CodecError::TooLong { max: length });
            }
            let mut out = Vec::with_capacity(length);
            let mut nibbles = digits.iter().map(|d| d - b'0');
            for _ in 0..length {
                let hi = nibbles.next().unwrap_or(0xF);
                let lo = nibbles.next().unwrap_or(0xF);
                out.push((hi << 4) | lo);
            }
            return Ok(out);
        }
    };
    if out.len() > length {
        return Err(CodecError::TooLong { max: length });
    }
    out.resize(length, pad);
    Ok(out)
}

/// GBK text as the card stores it: the bytes of a GBK item without its padding,
/// checked to be well-formed GBK/GB18030 sequences (ASCII, `80`, two-byte
/// `81–FE 40–7E|80–FE`, four-byte `81–FE 30–39 81–FE 30–39`) without the code tables.
/// Whether every sequence is mapped to a character is only known when decoding
/// ([`GbkText::decode`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct GbkText(Vec<u8>);

impl GbkText {
    /// The text of a GBK item's card bytes: trailing `00`/`FF` padding stripped, then
    /// checked as [`GbkText::new`] does.
    pub fn from_card(bytes: &[u8]) -> Result<Self, CodecError> {
        Self::new(strip_padding(bytes))
    }

    /// GBK bytes (no padding), checked for well-formed sequences.
    /// [`CodecError::InvalidBytes`] when a sequence is malformed or cut short.
    pub fn new(bytes: &[u8]) -> Result<Self, CodecError> {
        if well_formed_gbk(bytes) {
            Ok(Self(bytes.to_vec()))
        } else {
            Err(CodecError::InvalidBytes)
        }
    }

    /// The GBK bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The GBK bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Appends `other` (two well-formed texts make a well-formed text).
    pub fn push(&mut self, other: &GbkText) {
        self.0.extend_from_slice(&other.0);
    }

    /// The text when it is all ASCII (then GBK and UTF-8 agree), without the tables.
    pub fn as_ascii(&self) -> Option<&str> {
        if self.0.is_ascii() {
            core::str::from_utf8(&self.0).ok()
        } else {
            None
        }
    }

    /// Decodes to Unicode through the GBK tables ([`crate::gbk::decode`]).
    /// [`CodecError::InvalidBytes`] when a sequence is not mapped to a character.
    pub fn decode(&self) -> Result<String, CodecError> {
        crate::gbk::decode(&self.0).ok_or(CodecError::InvalidBytes)
    }
}

/// Whether `bytes` is a sequence of well-formed GBK/GB18030 sequences (the structure
/// the WHATWG GBK decoder accepts; unmapped sequences are not detected here).
fn well_formed_gbk(bytes: &[u8]) -> bool {
    let lead = |b: u8| (0x81..=0xFE).contains(&b);
    let digit = |b: u8| b.is_ascii_digit();
    let mut rest = bytes;
    loop {
        rest = match rest {
            [] => return true,
            [0x00..=0x80, tail @ ..] => tail,
            [a, b, c, d, tail @ ..] if lead(*a) && digit(*b) && lead(*c) && digit(*d) => tail,
            [a, 0x40..=0x7E | 0x80..=0xFE, tail @ ..] if lead(*a) => tail,
            _ => return false,
        };
    }
}

/// An item's value read from the card: text, or GBK kept as the card's bytes
/// ([`decode_kept`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemText {
    /// Hex, AN and CN values (and GBK once decoded).
    Unicode(String),
    /// A GBK value, not decoded.
    Gbk(GbkText),
}

impl ItemText {
    /// The text, decoding GBK through the tables.
    pub fn decode(self) -> Result<String, CodecError> {
        match self {
            Self::Unicode(text) => Ok(text),
            Self::Gbk(gbk) => gbk.decode(),
        }
    }
}

/// Decodes card bytes as [`decode`] does, except that GBK values are kept as the
/// card's bytes ([`ItemText::Gbk`], padding stripped, structure checked): no GBK table
/// is needed.
pub fn decode_kept(encoding: Encoding, bytes: &[u8]) -> Result<ItemText, CodecError> {
    let text = match encoding {
        Encoding::Gbk => return GbkText::from_card(bytes).map(ItemText::Gbk),
        Encoding::Hex => hex::to_string(bytes),
        Encoding::An => {
            let text = strip_padding(bytes);
            if !text.iter().all(|b| (0x20..0x7F).contains(b)) {
                return Err(CodecError::InvalidBytes);
            }
            // All printable ASCII: valid UTF-8.
            core::str::from_utf8(text)
                .map(String::from)
                .map_err(|_| CodecError::InvalidBytes)?
        }
        Encoding::Cn => {
            let mut out = String::with_capacity(bytes.len() * 2);
            for nibble in bytes.iter().flat_map(|b| [b >> 4, b & 0x0F]) {
                match nibble {
                    0..=9 => out.push(char::from(b'0' + nibble)),
                    0xF => break,
                    _ => return Err(CodecError::InvalidBytes),
                }
            }
            out
        }
    };
    Ok(ItemText::Unicode(text))
}

/// Decodes card bytes to text.
pub fn decode(encoding: Encoding, bytes: &[u8]) -> Result<String, CodecError> {
    decode_kept(encoding, bytes)?.decode()
}

fn strip_padding(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| *b != 0x00 && *b != 0xFF)
        .map_or(0, |i| i + 1);
    bytes.get(..end).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cn_dates_and_codes() {
        assert_eq!(
            encode(Encoding::Cn, 4, 0, "20240315").unwrap(),
            [0x20, 0x24, 0x03, 0x15]
        );
        assert_eq!(
            encode(Encoding::Cn, 3, 0, "3301").unwrap(),
            [0x33, 0x01, 0xFF]
        );
        assert_eq!(encode(Encoding::Cn, 1, 0, "01").unwrap(), [0x01]);
        assert_eq!(decode(Encoding::Cn, &[0x33, 0x01, 0x02]).unwrap(), "330102");
        assert_eq!(decode(Encoding::Cn, &[0x33, 0x0F, 0xFF]).unwrap(), "330");
        assert_eq!(decode(Encoding::Cn, &[0x3A]), Err(CodecError::InvalidBytes));
        assert_eq!(
            encode(Encoding::Cn, 1, 0, "123"),
            Err(CodecError::TooLong { max: 1 })
        );
        assert_eq!(
            encode(Encoding::Cn, 4, 0, "2024-03"),
            Err(CodecError::InvalidCharacter { at: 4 })
        );
    }

    #[test]
    fn gbk_names() {
        let bytes = encode(Encoding::Gbk, 30, 0, "李测试").unwrap();
        assert_eq!(&bytes[..6], &[0xC0, 0xEE, 0xB2, 0xE2, 0xCA, 0xD4]);
        assert!(bytes[6..].iter().all(|b| *b == 0));
        assert_eq!(decode(Encoding::Gbk, &bytes).unwrap(), "李测试");
        // FF padding (one writer's choice for 4E) reads the same.
        let mut ff = bytes.clone();
        ff[6..].fill(0xFF);
        assert_eq!(decode(Encoding::Gbk, &ff).unwrap(), "李测试");
        assert_eq!(decode(Encoding::Gbk, &[0x00; 20]).unwrap(), "");
        assert_eq!(
            encode(Encoding::Gbk, 4, 0, "张三丰"),
            Err(CodecError::TooLong { max: 4 })
        );
        // A character outside GBK.
        assert_eq!(
            encode(Encoding::Gbk, 30, 0, "李😀"),
            Err(CodecError::InvalidCharacter { at: 1 })
        );
        assert_eq!(
            decode(Encoding::Gbk, &[0x81, 0x20]),
            Err(CodecError::InvalidBytes)
        );
    }

    #[test]
    fn gbk_kept_as_card_bytes() {
        let card = encode(Encoding::Gbk, 30, 0, "李测试").unwrap();
        let ItemText::Gbk(kept) = decode_kept(Encoding::Gbk, &card).unwrap() else {
            panic!("GBK must be kept");
        };
        assert_eq!(kept.as_bytes(), &card[..6]);
        assert_eq!(kept.as_ascii(), None);
        assert_eq!(kept.decode().unwrap(), "李测试");
        let mut joined = kept.clone();
        joined.push(&GbkText::from_card(b"Jr\0\0").unwrap());
        assert_eq!(joined.decode().unwrap(), "李测试Jr");
        assert_eq!(GbkText::new(b"ABC").unwrap().as_ascii(), Some("ABC"));
        // Cut-short and malformed sequences, checked without tables.
        for bad in [
            &[0xC0][..],
            &[0xC0, 0x20],
            &[0x81, 0x30, 0x81],
            &[0x81, 0x30, 0x20, 0x30],
            &[0xFF, 0x41],
        ] {
            assert_eq!(
                GbkText::new(bad),
                Err(CodecError::InvalidBytes),
                "{bad:02X?}"
            );
        }
        // Well-formed four-byte sequence; a well-formed but unmapped one fails to decode.
        assert_eq!(
            GbkText::new(&[0x81, 0x30, 0x81, 0x30])
                .unwrap()
                .decode()
                .unwrap(),
            "\u{80}"
        );
        let unmapped = GbkText::new(&[0x84, 0x31, 0xA5, 0x30]).unwrap();
        assert_eq!(unmapped.decode(), Err(CodecError::InvalidBytes));
        // Other encodings come back as text.
        assert_eq!(
            decode_kept(Encoding::Cn, &[0x33, 0x01]).unwrap(),
            ItemText::Unicode("3301".into())
        );
    }

    proptest::proptest! {
        /// The table-free structure check accepts everything the decoder maps, and
        /// decoding the kept bytes is the same as decoding the card bytes.
        #[test]
        fn kept_gbk_agrees_with_decoding(bytes in proptest::collection::vec(
            proptest::prop_oneof![0x00u8..=0xFF, 0x30u8..=0x39, 0x81u8..=0xFE], 0..12)) {
            let direct = crate::gbk::decode(strip_padding(&bytes));
            match GbkText::from_card(&bytes) {
                Ok(kept) => proptest::prop_assert_eq!(kept.decode().ok(), direct),
                Err(_) => proptest::prop_assert_eq!(direct, None),
            }
            proptest::prop_assert_eq!(decode(Encoding::Gbk, &bytes).ok(), crate::gbk::decode(strip_padding(&bytes)));
        }
    }

    #[test]
    fn an_and_hex() {
        assert_eq!(encode(Encoding::An, 4, 0, "2.00").unwrap(), b"2.00");
        assert_eq!(encode(Encoding::An, 3, 0, "1").unwrap(), [b'1', 0, 0]);
        assert_eq!(decode(Encoding::An, b"X1\0\0").unwrap(), "X1");
        assert_eq!(decode(Encoding::An, &[0x80]), Err(CodecError::InvalidBytes));
        assert_eq!(
            encode(Encoding::An, 9, 0, "卡号"),
            Err(CodecError::InvalidCharacter { at: 0 })
        );
        assert_eq!(encode(Encoding::Hex, 2, 0, "a1b2").unwrap(), [0xA1, 0xB2]);
        assert_eq!(decode(Encoding::Hex, &[0xA1, 0xB2]).unwrap(), "A1B2");
        assert_eq!(
            encode(Encoding::Hex, 3, 0, "a1b2"),
            Err(CodecError::WrongLength { expected: 3 })
        );
    }
}
