//! The encoding of the strings that cross the C boundary: GBK (what Windows reader
//! libraries have always spoken, the compatible default) or UTF-8 on request.

use std::borrow::Cow;

/// How strings are encoded in both directions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TextEncoding {
    /// GBK (code page 936). Characters GBK lacks are written as `&#NNNN;`.
    #[default]
    Gbk,
    /// UTF-8.
    Utf8,
}

impl TextEncoding {
    /// Encodes `text` for the caller.
    pub fn encode(self, text: &str) -> Cow<'_, [u8]> {
        match self {
            Self::Gbk => encoding_rs::GBK.encode(text).0,
            Self::Utf8 => Cow::Borrowed(text.as_bytes()),
        }
    }

    /// Decodes the caller's bytes; `None` when they are not valid in the encoding.
    pub fn decode(self, bytes: &[u8]) -> Option<String> {
        match self {
            Self::Gbk => encoding_rs::GBK
                .decode_without_bom_handling_and_without_replacement(bytes)
                .map(Cow::into_owned),
            Self::Utf8 => std::str::from_utf8(bytes).ok().map(String::from),
        }
    }

    /// `text` encoded and shortened (at a character boundary) so that it and a NUL
    /// fit `capacity` bytes; empty when nothing fits.
    pub fn encode_fitting(self, text: &str, capacity: usize) -> Vec<u8> {
        let mut end = text.len();
        loop {
            let head = text.get(..end).unwrap_or_default();
            let bytes = self.encode(head);
            if bytes.len() < capacity || end == 0 {
                return if bytes.len() < capacity {
                    bytes.into_owned()
                } else {
                    Vec::new()
                };
            }
            end = head.char_indices().next_back().map_or(0, |(i, _)| i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gbk_and_utf8_round_trip() {
        let name = "李测试";
        assert_eq!(
            &*TextEncoding::Gbk.encode(name),
            &[0xC0, 0xEE, 0xB2, 0xE2, 0xCA, 0xD4]
        );
        assert_eq!(
            TextEncoding::Gbk.decode(&TextEncoding::Gbk.encode(name)),
            Some(name.into())
        );
        assert_eq!(TextEncoding::Utf8.encode(name).len(), 9);
        assert_eq!(TextEncoding::Utf8.decode(&[0xC0, 0xEE]), None);
        assert_eq!(TextEncoding::Gbk.decode(&[0xC0]), None);
    }

    #[test]
    fn fitting_never_splits_a_character() {
        let gbk = TextEncoding::Gbk;
        assert_eq!(
            gbk.encode_fitting("李测试", 7),
            gbk.encode("李测试").into_owned()
        );
        assert_eq!(
            gbk.encode_fitting("李测试", 6),
            gbk.encode("李测").into_owned()
        );
        assert_eq!(gbk.encode_fitting("李测试", 2), Vec::<u8>::new());
        assert_eq!(gbk.encode_fitting("李测试", 0), Vec::<u8>::new());
        assert_eq!(TextEncoding::Utf8.encode_fitting("ab李", 5), b"ab".to_vec());
    }
}
