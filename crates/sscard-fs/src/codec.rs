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

/// Decodes card bytes to text.
pub fn decode(encoding: Encoding, bytes: &[u8]) -> Result<String, CodecError> {
    match encoding {
        Encoding::Hex => Ok(hex::to_string(bytes)),
        Encoding::An => {
            let text = strip_padding(bytes);
            if !text.iter().all(|b| (0x20..0x7F).contains(b)) {
                return Err(CodecError::InvalidBytes);
            }
            // All printable ASCII: valid UTF-8.
            core::str::from_utf8(text)
                .map(String::from)
                .map_err(|_| CodecError::InvalidBytes)
        }
        Encoding::Gbk => {
            let text = strip_padding(bytes);
            crate::gbk::decode(text).ok_or(CodecError::InvalidBytes)
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
            Ok(out)
        }
    }
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
