//! Card images: the values on one card, in the same JSON shape that
//! `sscard read --json` prints, so that reading a card gives back its image.
//!
//! ```json
//! { "schema": "sscard-image/1", "atr": "3B6D…", "algorithm_id": "01",
//!   "files": { "SSSE/EF05": { "card_number": "A12345678", … }, … } }
//! ```

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};
use sscard_apdu::{atr, hex};

use crate::codec::CodecError;
use crate::profile::{Node, NodeKind, Profile, Structure};

/// The schema identifier of card images.
pub const IMAGE_SCHEMA: &str = "sscard-image/1";

/// Item values of one file, by item key.
pub type FileValues = BTreeMap<String, String>;

/// The values on one card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// Always [`IMAGE_SCHEMA`].
    pub schema: String,
    /// Free text, ignored by tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The answer to reset, hex.
    pub atr: String,
    /// The SSSE algorithm identifier announced in the FCI (`9F0C 03 86 01 xx`,
    /// `spec/sscard.md` §3.6); hex byte. Absent: the card announces none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm_id: Option<String>,
    /// Item values by file path, then by item key.
    pub files: BTreeMap<String, FileValues>,
}

/// One record of a record EF, as stored on the card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Record number (1-based).
    pub number: u8,
    /// The record's tag.
    pub tag: u8,
    /// The complete record: `tag len value`.
    pub bytes: Vec<u8>,
}

/// Why an image does not fit a profile. Names are the image's own keys.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageError {
    /// Not JSON of the image's shape.
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// `schema` is not [`IMAGE_SCHEMA`].
    UnknownSchema,
    /// The ATR is not hex, or not a well-formed ATR.
    BadAtr,
    /// `algorithm_id` is not one hex byte.
    BadAlgorithmId,
    /// The profile has no record EF at this path.
    UnknownFile {
        /// The image's file path.
        path: String,
    },
    /// The file has no item with this key.
    UnknownItem {
        /// The image's file path.
        path: String,
        /// The image's item key.
        key: String,
    },
    /// A mandatory item has no value.
    MissingItem {
        /// The file path.
        path: String,
        /// The item key.
        key: String,
    },
    /// The item has no record number in the profile, so the emulator cannot place it.
    UnplacedItem {
        /// The file path.
        path: String,
        /// The item key.
        key: String,
    },
    /// A value does not fit its item.
    BadValue {
        /// The file path.
        path: String,
        /// The item key.
        key: String,
        /// What is wrong with it.
        problem: CodecError,
    },
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax { line, column } => {
                write!(f, "card image is not valid JSON of the image schema (line {line}, column {column})")
            }
            Self::UnknownSchema => write!(f, "card image schema is not {IMAGE_SCHEMA}"),
            Self::BadAtr => f.write_str("card image ATR is not a well-formed hex ATR"),
            Self::BadAlgorithmId => f.write_str("card image algorithm_id is not one hex byte"),
            Self::UnknownFile { path } => write!(f, "the profile has no record file {path}"),
            Self::UnknownItem { path, key } => write!(f, "{path} has no item {key}"),
            Self::MissingItem { path, key } => write!(f, "{path}: mandatory item {key} missing"),
            Self::UnplacedItem { path, key } => {
                write!(f, "{path}: item {key} has no record number in the profile")
            }
            Self::BadValue { path, key, problem } => write!(f, "{path}/{key}: {problem}"),
        }
    }
}

impl core::error::Error for ImageError {}

impl Image {
    /// Parses an image (not yet checked against a profile; see [`Image::validate`]).
    pub fn from_json(text: &str) -> Result<Self, ImageError> {
        let image: Self = serde_json::from_str(text).map_err(|e| ImageError::Syntax {
            line: e.line(),
            column: e.column(),
        })?;
        if image.schema != IMAGE_SCHEMA {
            return Err(ImageError::UnknownSchema);
        }
        Ok(image)
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The ATR bytes.
    pub fn atr_bytes(&self) -> Result<Vec<u8>, ImageError> {
        let atr = hex::to_vec(&self.atr).map_err(|_| ImageError::BadAtr)?;
        if atr.len() > 33 {
            return Err(ImageError::BadAtr);
        }
        atr::historical_bytes(&atr).map_err(|_| ImageError::BadAtr)?;
        Ok(atr)
    }

    /// The algorithm identifier byte, if any.
    pub fn algorithm_id_byte(&self) -> Result<Option<u8>, ImageError> {
        let Some(text) = &self.algorithm_id else {
            return Ok(None);
        };
        match hex::decode_array::<1>(text) {
            Ok([b]) => Ok(Some(b)),
            Err(_) => Err(ImageError::BadAlgorithmId),
        }
    }

    /// Checks every value against the profile: known files and items, mandatory items
    /// present, values encodable.
    pub fn validate(&self, profile: &Profile) -> Result<(), ImageError> {
        self.atr_bytes()?;
        self.algorithm_id_byte()?;
        for path in self.files.keys() {
            self.records(profile, path)?;
        }
        Ok(())
    }

    /// The records of the record EF at `path`, in record-number order.
    pub fn records(&self, profile: &Profile, path: &str) -> Result<Vec<Record>, ImageError> {
        let node = record_ef(profile, path)?;
        let empty = FileValues::new();
        let values = self.files.get(path).unwrap_or(&empty);
        if let Some(key) = values.keys().find(|k| node.item(k).is_none()) {
            return Err(ImageError::UnknownItem {
                path: path.into(),
                key: key.clone(),
            });
        }
        let mut records = Vec::new();
        for item in &node.items {
            let err_path = || (String::from(path), item.key.clone());
            let Some(value) = values.get(&item.key) else {
                if item.optional {
                    continue;
                }
                let (path, key) = err_path();
                return Err(ImageError::MissingItem { path, key });
            };
            let Some(number) = item.record else {
                let (path, key) = err_path();
                return Err(ImageError::UnplacedItem { path, key });
            };
            let encoded = item.encode(value).map_err(|problem| {
                let (path, key) = err_path();
                ImageError::BadValue { path, key, problem }
            })?;
            let mut bytes = Vec::with_capacity(encoded.len() + 2);
            bytes.push(item.tag);
            // Profile lengths are 1..=254, so this never saturates.
            bytes.push(u8::try_from(encoded.len()).unwrap_or(u8::MAX));
            bytes.extend_from_slice(&encoded);
            records.push(Record {
                number,
                tag: item.tag,
                bytes,
            });
        }
        records.sort_by_key(|r| r.number);
        Ok(records)
    }
}

fn record_ef<'p>(profile: &'p Profile, path: &str) -> Result<&'p Node, ImageError> {
    profile
        .node(path)
        .filter(|n| n.kind == NodeKind::Ef && n.structure == Some(Structure::TlvRecord))
        .ok_or_else(|| ImageError::UnknownFile { path: path.into() })
}
