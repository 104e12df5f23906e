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

/// The emulator's PIN when an image names none: `123456`, an initial PIN seen in field
/// traces (`spec/sscard.md` §3.1; unconfirmed as a national default).
pub const DEFAULT_PIN: &str = "123456";

/// The schema identifier of card images.
pub const IMAGE_SCHEMA: &str = "sscard-image/1";

/// A value in a card image: text for an item (or the hex content of a transparent EF
/// under [`DATA_KEY`]), or a list of key/value maps for the occurrences of a B-TLV group
/// and the records of a fixed-record or cyclic EF (under [`RECORDS_KEY`]; record 1
/// first, which in a cyclic file is the newest).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// An item's text.
    Text(String),
    /// Group occurrences or records.
    List(Vec<BTreeMap<String, String>>),
}

impl Value {
    /// The text, if this is an item value.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(t) => Some(t),
            Self::List(_) => None,
        }
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Self::Text(text.into())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

/// Item values of one file, by item key.
pub type FileValues = BTreeMap<String, Value>;

/// Key of a transparent EF's content (hex) in a card image.
pub const DATA_KEY: &str = "data";
/// Key of the records of a fixed-record or cyclic EF in a card image.
pub const RECORDS_KEY: &str = "records";

/// The content of an EF as the card stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileContent {
    /// Records of a record EF, in record-number order.
    Records(Vec<Record>),
    /// The bytes of a transparent EF (its full size).
    Binary(Vec<u8>),
}

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
    /// The card's PIN (digits), for emulators. A card never reveals it, so a read image
    /// has none; absent means the emulator default [`DEFAULT_PIN`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// Item values by file path, then by item key.
    pub files: BTreeMap<String, FileValues>,
}

/// One record of a record EF, as stored on the card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Record number (1-based).
    pub number: u8,
    /// The record's tag (`None` for the positional records of fixed-record and cyclic
    /// files).
    pub tag: Option<u8>,
    /// The complete record: `tag len value`, or the fields of a positional record.
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
    /// A value has the wrong shape: text where a list is expected or the reverse, more
    /// occurrences or records than the profile allows, or a key inside a list entry that
    /// the group or record does not have.
    WrongShape {
        /// The file path.
        path: String,
        /// The item, group or list key.
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
            Self::WrongShape { path, key } => {
                write!(f, "{path}/{key}: value has the wrong shape for the profile")
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
            self.content(profile, path)?;
        }
        Ok(())
    }

    /// The records of the TLV record EF at `path`, in record-number order.
    pub fn records(&self, profile: &Profile, path: &str) -> Result<Vec<Record>, ImageError> {
        match self.content(profile, path)? {
            FileContent::Records(r) => Ok(r),
            FileContent::Binary(_) => Err(ImageError::UnknownFile { path: path.into() }),
        }
    }

    /// The content of the EF at `path` as the card stores it.
    pub fn content(&self, profile: &Profile, path: &str) -> Result<FileContent, ImageError> {
        let node = profile
            .node(path)
            .filter(|n| n.kind == NodeKind::Ef)
            .ok_or_else(|| ImageError::UnknownFile { path: path.into() })?;
        let empty = FileValues::new();
        let values = self.files.get(path).unwrap_or(&empty);
        let ctx = Ctx { path };
        match node.structure {
            Some(Structure::TlvRecord) => ctx.tlv_records(node, values).map(FileContent::Records),
            Some(Structure::FixedRecord | Structure::Cyclic) => {
                ctx.positional(node, values).map(FileContent::Records)
            }
            Some(Structure::Transparent) => ctx.binary(node, values).map(FileContent::Binary),
            None => Err(ImageError::UnknownFile { path: path.into() }),
        }
    }
}

/// Error construction for one file.
struct Ctx<'a> {
    path: &'a str,
}

impl Ctx<'_> {
    fn shape(&self, key: &str) -> ImageError {
        ImageError::WrongShape {
            path: self.path.into(),
            key: key.into(),
        }
    }

    fn missing(&self, key: &str) -> ImageError {
        ImageError::MissingItem {
            path: self.path.into(),
            key: key.into(),
        }
    }

    fn bad(&self, key: &str, problem: CodecError) -> ImageError {
        ImageError::BadValue {
            path: self.path.into(),
            key: key.into(),
            problem,
        }
    }

    fn unplaced(&self, key: &str) -> ImageError {
        ImageError::UnplacedItem {
            path: self.path.into(),
            key: key.into(),
        }
    }

    fn tlv_records(&self, node: &Node, values: &FileValues) -> Result<Vec<Record>, ImageError> {
        if let Some(key) = values
            .keys()
            .find(|k| node.item(k).is_none() && node.group(k).is_none())
        {
            return Err(ImageError::UnknownItem {
                path: self.path.into(),
                key: key.clone(),
            });
        }
        let mut records = Vec::new();
        for item in &node.items {
            let Some(value) = values.get(&item.key) else {
                if item.optional {
                    continue;
                }
                return Err(self.missing(&item.key));
            };
            let text = value.as_text().ok_or_else(|| self.shape(&item.key))?;
            let number = item.record.ok_or_else(|| self.unplaced(&item.key))?;
            let encoded = item.encode(text).map_err(|e| self.bad(&item.key, e))?;
            records.push(Record {
                number,
                tag: Some(item.tag),
                bytes: tlv(item.tag, &encoded),
            });
        }
        for group in &node.groups {
            let Some(value) = values.get(&group.key) else {
                continue;
            };
            let Value::List(occurrences) = value else {
                return Err(self.shape(&group.key));
            };
            if occurrences.len() > usize::from(group.occurrences) {
                return Err(self.shape(&group.key));
            }
            let first = group.record.ok_or_else(|| self.unplaced(&group.key))?;
            for (i, occurrence) in (0u8..).zip(occurrences) {
                if occurrence
                    .keys()
                    .any(|k| group.members.iter().all(|m| &m.key != k))
                {
                    return Err(self.shape(&group.key));
                }
                let mut inner = Vec::with_capacity(group.value_len());
                for member in &group.members {
                    let Some(text) = occurrence.get(&member.key) else {
                        if member.optional {
                            continue;
                        }
                        return Err(self.missing(&member.key));
                    };
                    let encoded = member.encode(text).map_err(|e| self.bad(&member.key, e))?;
                    inner.extend_from_slice(&tlv(member.tag, &encoded));
                }
                records.push(Record {
                    number: first.saturating_add(i),
                    tag: Some(group.tag),
                    bytes: tlv(group.tag, &inner),
                });
            }
        }
        records.sort_by_key(|r| r.number);
        Ok(records)
    }

    fn positional(&self, node: &Node, values: &FileValues) -> Result<Vec<Record>, ImageError> {
        if let Some(key) = values.keys().find(|k| k.as_str() != RECORDS_KEY) {
            return Err(self.shape(key));
        }
        let list = match values.get(RECORDS_KEY) {
            None => return Ok(Vec::new()),
            Some(Value::List(list)) => list,
            Some(Value::Text(_)) => return Err(self.shape(RECORDS_KEY)),
        };
        if list.len() > usize::from(node.record_count.unwrap_or(0)) {
            return Err(self.shape(RECORDS_KEY));
        }
        let mut records = Vec::with_capacity(list.len());
        for (number, entry) in (1u8..).zip(list) {
            if entry
                .keys()
                .any(|k| node.fields.iter().all(|f| &f.key != k))
            {
                return Err(self.shape(RECORDS_KEY));
            }
            let mut bytes = Vec::with_capacity(node.record_length());
            for field in &node.fields {
                let text = entry
                    .get(&field.key)
                    .ok_or_else(|| self.missing(&field.key))?;
                bytes.extend(field.encode(text).map_err(|e| self.bad(&field.key, e))?);
            }
            records.push(Record {
                number,
                tag: None,
                bytes,
            });
        }
        Ok(records)
    }

    fn binary(&self, node: &Node, values: &FileValues) -> Result<Vec<u8>, ImageError> {
        if let Some(key) = values.keys().find(|k| k.as_str() != DATA_KEY) {
            return Err(self.shape(key));
        }
        let size = node.size.unwrap_or(0);
        let mut data = match values.get(DATA_KEY) {
            None => Vec::new(),
            Some(Value::Text(text)) => hex::to_vec(text).map_err(|e| match e {
                hex::HexError::InvalidCharacter { at } => {
                    self.bad(DATA_KEY, CodecError::InvalidCharacter { at })
                }
                _ => self.bad(DATA_KEY, CodecError::InvalidBytes),
            })?,
            Some(Value::List(_)) => return Err(self.shape(DATA_KEY)),
        };
        if data.len() > size {
            return Err(self.bad(DATA_KEY, CodecError::TooLong { max: size }));
        }
        // Never-written bytes of a transparent EF read as 00 in the emulator [U].
        data.resize(size, 0);
        Ok(data)
    }
}

/// `tag len value`; values are at most 254 bytes (profile-validated).
fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(value.len() + 2);
    bytes.push(tag);
    bytes.push(u8::try_from(value.len()).unwrap_or(u8::MAX));
    bytes.extend_from_slice(value);
    bytes
}
