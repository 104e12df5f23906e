//! Hexadecimal text, without allocation (owned helpers with the `alloc` feature).

use core::fmt;

/// Why a hex string could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HexError {
    /// A character that is neither a hex digit nor white space, at this byte offset.
    InvalidCharacter {
        /// Offset of the character in the input.
        at: usize,
    },
    /// An odd number of hex digits.
    OddLength,
    /// The output buffer is too small; `needed` bytes are required.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidCharacter { at } => write!(f, "invalid hex character at offset {at}"),
            Self::OddLength => f.write_str("odd number of hex digits"),
            Self::BufferTooSmall { needed } => write!(f, "hex output needs {needed} bytes"),
        }
    }
}

impl core::error::Error for HexError {}

const fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Number of bytes `text` decodes to (white space ignored), or the first error.
pub fn decoded_len(text: &str) -> Result<usize, HexError> {
    let mut digits = 0usize;
    for (at, c) in text.bytes().enumerate() {
        if c.is_ascii_whitespace() {
            continue;
        }
        nibble(c).ok_or(HexError::InvalidCharacter { at })?;
        digits += 1;
    }
    if !digits.is_multiple_of(2) {
        return Err(HexError::OddLength);
    }
    Ok(digits / 2)
}

/// Decodes hex digits (upper or lower case, white space ignored) into `out`.
pub fn decode(text: &str, out: &mut [u8]) -> Result<usize, HexError> {
    let needed = decoded_len(text)?;
    let out = out
        .get_mut(..needed)
        .ok_or(HexError::BufferTooSmall { needed })?;
    let mut digits = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace())
        .filter_map(nibble);
    for byte in out.iter_mut() {
        let (Some(hi), Some(lo)) = (digits.next(), digits.next()) else {
            return Err(HexError::OddLength);
        };
        *byte = (hi << 4) | lo;
    }
    Ok(needed)
}

/// Decodes hex text of exactly `N` bytes (white space ignored).
pub fn decode_array<const N: usize>(text: &str) -> Result<[u8; N], HexError> {
    let mut out = [0u8; N];
    match decode(text, &mut out)? {
        n if n == N => Ok(out),
        _ => Err(HexError::BufferTooSmall { needed: N }),
    }
}

/// Formats bytes as upper-case hex with no separators.
#[derive(Clone, Copy)]
pub struct Hex<'a>(pub &'a [u8]);

/// Upper-case hex digits.
const DIGITS: &[u8; 16] = b"0123456789ABCDEF";

/// The two upper-case hex digits of `b`.
fn digits(b: u8) -> [char; 2] {
    let digit = |n: u8| char::from(DIGITS.get(usize::from(n & 0x0F)).copied().unwrap_or(b'0'));
    [digit(b >> 4), digit(b)]
}

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        for b in self.0 {
            for c in digits(*b) {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Upper-case hex of `bytes`.
#[cfg(feature = "alloc")]
pub fn to_string(bytes: &[u8]) -> alloc::string::String {
    // Without `core::fmt`: a firmware that only needs hex text does not link the
    // formatting machinery for it.
    let mut out = alloc::string::String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.extend(digits(*b));
    }
    out
}

/// Decodes hex text into a new vector.
#[cfg(feature = "alloc")]
pub fn to_vec(text: &str) -> Result<alloc::vec::Vec<u8>, HexError> {
    let mut out = alloc::vec![0u8; decoded_len(text)?];
    decode(text, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_and_display() {
        let mut out = [0u8; 4];
        assert_eq!(decode("00 a4 04 0F", &mut out), Ok(4));
        assert_eq!(out, [0x00, 0xA4, 0x04, 0x0F]);
        assert_eq!(format!("{}", Hex(&out)), "00A4040F");
        assert_eq!(decode("0", &mut out), Err(HexError::OddLength));
        assert_eq!(
            decode("0g", &mut out),
            Err(HexError::InvalidCharacter { at: 1 })
        );
        assert_eq!(
            decode("0011223344", &mut out),
            Err(HexError::BufferTooSmall { needed: 5 })
        );
        assert_eq!(decode_array::<2>("EF 05"), Ok([0xEF, 0x05]));
        assert!(decode_array::<2>("EF").is_err());
        assert!(decode_array::<2>("EF0506").is_err());
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn to_string_matches_the_formatter_for_every_byte() {
        let all: alloc::vec::Vec<u8> = (0..=255).collect();
        let expected: alloc::string::String = all.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(to_string(&all), expected);
        assert_eq!(format!("{}", Hex(&all)), expected);
        assert_eq!(to_vec(&to_string(&all)), Ok(all));
        assert_eq!(to_string(&[]), "");
    }
}
