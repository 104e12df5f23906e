//! The little DER that GM/T 0009 needs: `SEQUENCE`, unsigned `INTEGER`s of at most 32
//! bytes and `OCTET STRING`s, written into caller buffers and parsed strictly (definite
//! minimal lengths, minimal non-negative integers, no trailing data).

use super::Sm2Error;

pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;

/// Number of bytes of a DER length field for `len`.
pub(crate) const fn length_len(len: usize) -> usize {
    if len < 0x80 {
        1
    } else if len <= 0xFF {
        2
    } else if len <= 0xFFFF {
        3
    } else if len <= 0xFF_FFFF {
        4
    } else {
        5
    }
}

/// Total length of a TLV whose content is `content_len` bytes, or `None` on overflow
/// (or beyond the four length bytes this module writes).
pub(crate) fn tlv_len(content_len: usize) -> Option<usize> {
    if u32::try_from(content_len).is_err() {
        return None;
    }
    content_len.checked_add(1 + length_len(content_len))
}

/// The significant bytes of a big-endian unsigned integer (at least one byte) and
/// whether DER needs a `00` pad in front because the top bit is set.
pub(crate) fn integer_parts(value: &[u8]) -> (bool, &[u8]) {
    let first_nonzero = value.iter().position(|&b| b != 0);
    let digits = match first_nonzero {
        Some(index) => value.get(index..).unwrap_or(value),
        // Zero is encoded as one 00 byte.
        None => value.get(value.len().saturating_sub(1)..).unwrap_or(value),
    };
    let pad = digits.first().is_some_and(|&b| b & 0x80 != 0);
    (pad, digits)
}

/// Content length of the DER `INTEGER` for an unsigned big-endian value.
pub(crate) fn integer_content_len(value: &[u8]) -> usize {
    let (pad, digits) = integer_parts(value);
    digits.len() + usize::from(pad)
}

/// A bounds-checked cursor over a caller's output buffer.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Reserves the next `len` bytes and returns them for the caller to fill.
    pub(crate) fn reserve(&mut self, len: usize) -> Result<&mut [u8], Sm2Error> {
        let end = self.pos.checked_add(len).ok_or(Sm2Error::LengthOverflow)?;
        let slot = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(Sm2Error::BufferTooSmall { needed: end })?;
        self.pos = end;
        Ok(slot)
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) -> Result<(), Sm2Error> {
        self.reserve(bytes.len())?.copy_from_slice(bytes);
        Ok(())
    }

    /// Tag and length of a TLV.
    pub(crate) fn header(&mut self, tag: u8, len: usize) -> Result<(), Sm2Error> {
        self.bytes(&[tag])?;
        let len32 = u32::try_from(len).map_err(|_| Sm2Error::LengthOverflow)?;
        let be = len32.to_be_bytes();
        match length_len(len) {
            1 => self.bytes(be.get(3..).unwrap_or(&be)),
            n => {
                let count = n - 1;
                let marker = 0x80 | u8::try_from(count).map_err(|_| Sm2Error::LengthOverflow)?;
                self.bytes(&[marker])?;
                self.bytes(be.get(4 - count..).unwrap_or(&be))
            }
        }
    }

    /// A DER `INTEGER` for an unsigned big-endian value.
    pub(crate) fn integer(&mut self, value: &[u8]) -> Result<(), Sm2Error> {
        let (pad, digits) = integer_parts(value);
        self.header(TAG_INTEGER, digits.len() + usize::from(pad))?;
        if pad {
            self.bytes(&[0])?;
        }
        self.bytes(digits)
    }
}

/// A strict DER reader over borrowed input.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
}

/// Parse failures of this module carry no detail; callers map them to their error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DerError;

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], DerError> {
        let (head, rest) = self.data.split_at_checked(len).ok_or(DerError)?;
        self.data = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, DerError> {
        let (&first, rest) = self.data.split_first().ok_or(DerError)?;
        self.data = rest;
        Ok(first)
    }

    /// Reads one TLV with the given tag and returns its content.
    pub(crate) fn tlv(&mut self, tag: u8) -> Result<&'a [u8], DerError> {
        if self.byte()? != tag {
            return Err(DerError);
        }
        let first = self.byte()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7F);
            // 0x80 is the indefinite form (not DER); more than 4 bytes we never need.
            if count == 0 || count > 4 {
                return Err(DerError);
            }
            let mut len = 0usize;
            for &b in self.take(count)? {
                len = (len << 8) | usize::from(b);
            }
            // Minimal: the long form only for >= 0x80, with no leading zero byte.
            if len < 0x80 || length_len(len) != count + 1 {
                return Err(DerError);
            }
            len
        };
        self.take(len)
    }

    /// Reads a non-negative minimal DER `INTEGER` of at most 32 significant bytes and
    /// returns it left-padded to 32 bytes.
    pub(crate) fn uint32(&mut self) -> Result<[u8; 32], DerError> {
        let content = self.tlv(TAG_INTEGER)?;
        let digits = match content {
            [] => return Err(DerError),
            // Negative.
            [first, ..] if first & 0x80 != 0 => return Err(DerError),
            // A leading zero is only allowed (and then required) before a byte >= 0x80.
            [0, next, ..] if next & 0x80 == 0 => return Err(DerError),
            [0, rest @ ..] if !rest.is_empty() => rest,
            all => all,
        };
        let start = 32usize.checked_sub(digits.len()).ok_or(DerError)?;
        let mut out = [0u8; 32];
        out.get_mut(start..)
            .ok_or(DerError)?
            .copy_from_slice(digits);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_integer(value: &[u8]) -> Vec<u8> {
        let mut buf = [0u8; 40];
        let mut w = Writer::new(&mut buf);
        w.integer(value).unwrap();
        let len = w.position();
        buf[..len].to_vec()
    }

    #[test]
    fn integers_are_minimal() {
        assert_eq!(encode_integer(&[0; 32]), [2, 1, 0]);
        assert_eq!(encode_integer(&[0, 0, 0x7F]), [2, 1, 0x7F]);
        assert_eq!(encode_integer(&[0, 0x80]), [2, 2, 0, 0x80]);
        for value in [[0u8; 32], [0xFF; 32], [0x01; 32]] {
            let der = encode_integer(&value);
            assert_eq!(der.len(), 2 + integer_content_len(&value));
            assert_eq!(Reader::new(&der).uint32().unwrap(), value);
        }
    }

    #[test]
    fn strict_integer_parsing() {
        for bad in [
            &[2u8, 0][..],
            &[2, 1, 0x80],
            &[2, 2, 0, 0x7F],
            &[2, 2, 0, 0],
            &[2, 0x81, 1, 5],
            &[2, 0x80, 5, 0, 0],
            &[3, 1, 5],
            &[2, 2, 5],
        ] {
            assert!(Reader::new(bad).uint32().is_err(), "{bad:02X?}");
        }
        let mut too_big = vec![2u8, 33];
        too_big.extend_from_slice(&[0x7F; 33]);
        assert!(Reader::new(&too_big).uint32().is_err());
    }

    #[test]
    fn lengths_round_trip() {
        for len in [0usize, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000] {
            let mut buf = [0u8; 8];
            let mut w = Writer::new(&mut buf);
            w.header(TAG_OCTET_STRING, len).unwrap();
            let header_len = w.position();
            assert_eq!(header_len, 1 + length_len(len));
            let mut input = buf[..header_len].to_vec();
            input.resize(header_len + len, 0xAB);
            let mut r = Reader::new(&input);
            assert_eq!(r.tlv(TAG_OCTET_STRING).unwrap().len(), len);
            assert!(r.is_empty());
        }
    }
}
