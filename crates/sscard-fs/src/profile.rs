//! The card profile: one machine-readable description of the card's files and data
//! items (`apdu-specs/sscard.json`). The emulator, the terminal and the docs read this
//! one source.
//!
//! The profile is a flat list of nodes addressed by path (`SSSE`, `SSSE/EF05`, later
//! `SSSE/DF01/EF05`), so it grows to the whole card (DF01–DF07, access rules, keys)
//! without changing shape. Every node and item carries its confidence label and
//! sources; `U` facts are defaults of the profile, not constants of the code.

use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};
use sscard_apdu::hex;

use crate::codec::{self, CodecError, Encoding};

/// The schema identifier this crate reads.
pub const PROFILE_SCHEMA: &str = "sscard-profile/1";

/// How sure the facts behind a node or item are (`spec/` labels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Confidence {
    /// Seen in two or more independent sources.
    C,
    /// One source only.
    S,
    /// Unconfirmed: a configurable default.
    U,
}

/// Directory or elementary file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// A dedicated file (MF, DDF, ADF, DF).
    Df,
    /// An elementary file.
    Ef,
}

/// File structure of an EF (issuance configs: 1 fixed record, 2 variable/TLV record,
/// 3 transparent, 4 cyclic; `spec/sscard.md` §1.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Structure {
    /// Variable-length records, each one SIMPLE-TLV (`tag len value`).
    TlvRecord,
    /// Fixed-length records.
    FixedRecord,
    /// Transparent (binary) file.
    Transparent,
    /// Cyclic records.
    Cyclic,
}

/// An access condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccessRule {
    /// Always allowed.
    Free,
    /// Never allowed.
    Never,
    /// After PIN verification in the current DF.
    Pin,
    /// After external authentication with this card key id.
    ExternalAuth(u8),
}

impl AccessRule {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "free" => Some(Self::Free),
            "never" => Some(Self::Never),
            "pin" => Some(Self::Pin),
            _ => {
                let key = text.strip_prefix("ext-auth:")?;
                let [key] = hex::decode_array::<1>(key).ok()?;
                Some(Self::ExternalAuth(key))
            }
        }
    }
}

/// Read and update conditions of an EF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// READ RECORD / READ BINARY.
    pub read: AccessRule,
    /// UPDATE RECORD / UPDATE BINARY.
    pub update: AccessRule,
}

/// One data item of a record file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// The key used in card images and JSON output (e.g. `card_number`).
    pub key: String,
    /// The record tag.
    pub tag: u8,
    /// The record number holding the item, when known.
    pub record: Option<u8>,
    /// Human name (Chinese and English).
    pub name: String,
    /// Value length on the card, in bytes.
    pub length: usize,
    /// Value encoding.
    pub encoding: Encoding,
    /// Pad byte for AN and GBK values.
    pub pad: u8,
    /// Absent on some card generations (e.g. `4E` on 1.0 cards).
    pub optional: bool,
    /// Confidence of the item's definition.
    pub confidence: Confidence,
    /// Source tags.
    pub source: String,
}

impl Item {
    /// Encodes a text value into the item's fixed-length card bytes.
    pub fn encode(&self, value: &str) -> Result<Vec<u8>, CodecError> {
        codec::encode(self.encoding, self.length, self.pad, value)
    }

    /// Decodes the item's card bytes to text.
    pub fn decode(&self, bytes: &[u8]) -> Result<String, CodecError> {
        codec::decode(self.encoding, bytes)
    }

    /// The length of the whole record TLV (`tag len value`).
    pub fn tlv_len(&self) -> usize {
        self.length + 2
    }
}

/// A file of the card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Path from the top (`SSSE/EF05`).
    pub path: String,
    /// DF or EF.
    pub kind: NodeKind,
    /// Application identifier of a DF selected by name.
    pub aid: Option<Vec<u8>>,
    /// File identifier.
    pub fid: Option<u16>,
    /// Short file identifier (1–30) of an EF.
    pub sfi: Option<u8>,
    /// Structure of an EF.
    pub structure: Option<Structure>,
    /// Human name.
    pub name: String,
    /// Access conditions of an EF.
    pub access: Option<Access>,
    /// Data items of a record EF.
    pub items: Vec<Item>,
    /// Confidence of the node's definition.
    pub confidence: Confidence,
    /// Source tags.
    pub source: String,
}

impl Node {
    /// The parent path (`SSSE` for `SSSE/EF05`), `None` at the top.
    pub fn parent(&self) -> Option<&str> {
        self.path.rsplit_once('/').map(|(p, _)| p)
    }

    /// The item with this record tag.
    pub fn item_by_tag(&self, tag: u8) -> Option<&Item> {
        self.items.iter().find(|i| i.tag == tag)
    }

    /// The item with this key.
    pub fn item(&self, key: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.key == key)
    }
}

/// Why a profile is not acceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProfileError {
    /// Not JSON of the profile's shape; position of the problem.
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The `schema` field names another schema.
    UnknownSchema,
    /// A node is inconsistent; `node` is its index in `nodes`.
    InvalidNode {
        /// Index in `nodes`.
        node: usize,
        /// What is wrong.
        problem: NodeProblem,
    },
}

/// What is wrong with a profile node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeProblem {
    /// Two nodes share the path.
    DuplicatePath,
    /// The parent path has no node, or is not a DF.
    MissingParent,
    /// A hex field (AID, FID, tag, pad) is not valid hex of the right size.
    BadHex,
    /// SFI outside 1–30.
    BadSfi,
    /// An access rule is not `free`, `never`, `pin` or `ext-auth:XX`.
    BadAccessRule,
    /// An EF without a structure, or a DF with items.
    BadKind,
    /// Two items share a tag, key or record number.
    DuplicateItem,
    /// An item length of 0 or more than 254.
    BadItemLength,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax { line, column } => {
                write!(f, "profile is not valid JSON of the profile schema (line {line}, column {column})")
            }
            Self::UnknownSchema => write!(f, "profile schema is not {PROFILE_SCHEMA}"),
            Self::InvalidNode { node, problem } => {
                write!(f, "profile node #{node}: {problem:?}")
            }
        }
    }
}

impl core::error::Error for ProfileError {}

/// The whole card profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// Title.
    pub title: String,
    nodes: Vec<Node>,
}

impl Profile {
    /// Parses and validates a profile.
    pub fn from_json(text: &str) -> Result<Self, ProfileError> {
        let raw: RawProfile = serde_json::from_str(text).map_err(|e| ProfileError::Syntax {
            line: e.line(),
            column: e.column(),
        })?;
        if raw.schema != PROFILE_SCHEMA {
            return Err(ProfileError::UnknownSchema);
        }
        let mut nodes: Vec<Node> = Vec::with_capacity(raw.nodes.len());
        for (index, raw_node) in raw.nodes.into_iter().enumerate() {
            let invalid = |problem| ProfileError::InvalidNode {
                node: index,
                problem,
            };
            let node = raw_node.validate().map_err(invalid)?;
            if nodes.iter().any(|n| n.path == node.path) {
                return Err(invalid(NodeProblem::DuplicatePath));
            }
            if let Some(parent) = node.parent() {
                let ok = nodes
                    .iter()
                    .any(|n| n.path == parent && n.kind == NodeKind::Df);
                if !ok {
                    return Err(invalid(NodeProblem::MissingParent));
                }
            }
            nodes.push(node);
        }
        Ok(Self {
            title: raw.title,
            nodes,
        })
    }

    /// All nodes, parents before children.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node at `path`.
    pub fn node(&self, path: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.path == path)
    }

    /// The direct children of the DF at `path`.
    pub fn children<'p>(&'p self, path: &'p str) -> impl Iterator<Item = &'p Node> + 'p {
        self.nodes.iter().filter(move |n| n.parent() == Some(path))
    }
}

#[derive(Deserialize)]
struct RawProfile {
    schema: String,
    #[serde(default)]
    title: String,
    nodes: Vec<RawNode>,
}

#[derive(Deserialize)]
struct RawAccess {
    read: String,
    update: String,
}

#[derive(Deserialize)]
struct RawNode {
    path: String,
    kind: NodeKind,
    aid: Option<String>,
    fid: Option<String>,
    sfi: Option<u8>,
    structure: Option<Structure>,
    #[serde(default)]
    name: String,
    access: Option<RawAccess>,
    #[serde(default)]
    items: Vec<RawItem>,
    confidence: Confidence,
    #[serde(default)]
    source: String,
}

#[derive(Deserialize)]
struct RawItem {
    key: String,
    tag: String,
    record: Option<u8>,
    #[serde(default)]
    name: String,
    length: usize,
    encoding: Encoding,
    pad: Option<String>,
    #[serde(default)]
    optional: bool,
    confidence: Confidence,
    #[serde(default)]
    source: String,
}

fn hex_byte(text: &str) -> Result<u8, NodeProblem> {
    hex::decode_array::<1>(text)
        .map(|[b]| b)
        .map_err(|_| NodeProblem::BadHex)
}

fn hex_u16(text: &str) -> Result<u16, NodeProblem> {
    hex::decode_array::<2>(text)
        .map(u16::from_be_bytes)
        .map_err(|_| NodeProblem::BadHex)
}

impl RawNode {
    fn validate(self) -> Result<Node, NodeProblem> {
        let aid = match &self.aid {
            Some(text) => {
                let aid = hex::to_vec(text).map_err(|_| NodeProblem::BadHex)?;
                if aid.is_empty() || aid.len() > 16 {
                    return Err(NodeProblem::BadHex);
                }
                Some(aid)
            }
            None => None,
        };
        let fid = self.fid.as_deref().map(hex_u16).transpose()?;
        if let Some(sfi) = self.sfi {
            if !(1..=30).contains(&sfi) {
                return Err(NodeProblem::BadSfi);
            }
        }
        match (self.kind, self.structure, self.items.is_empty()) {
            (NodeKind::Ef, None, _) | (NodeKind::Df, Some(_), _) | (NodeKind::Df, None, false) => {
                return Err(NodeProblem::BadKind)
            }
            _ => {}
        }
        let access = match self.access {
            Some(a) => Some(Access {
                read: AccessRule::parse(&a.read).ok_or(NodeProblem::BadAccessRule)?,
                update: AccessRule::parse(&a.update).ok_or(NodeProblem::BadAccessRule)?,
            }),
            None => None,
        };
        let mut tags = BTreeSet::new();
        let mut keys = BTreeSet::new();
        let mut records = BTreeSet::new();
        let mut items = Vec::with_capacity(self.items.len());
        for raw in self.items {
            let tag = hex_byte(&raw.tag)?;
            let pad = raw.pad.as_deref().map(hex_byte).transpose()?.unwrap_or(0);
            if raw.length == 0 || raw.length > 254 || tag == 0 || tag == 0xFF {
                return Err(NodeProblem::BadItemLength);
            }
            let new_record = raw.record.is_none_or(|r| records.insert(r));
            if !tags.insert(tag) || !keys.insert(raw.key.clone()) || !new_record {
                return Err(NodeProblem::DuplicateItem);
            }
            items.push(Item {
                key: raw.key,
                tag,
                record: raw.record,
                name: raw.name,
                length: raw.length,
                encoding: raw.encoding,
                pad,
                optional: raw.optional,
                confidence: raw.confidence,
                source: raw.source,
            });
        }
        Ok(Node {
            path: self.path,
            kind: self.kind,
            aid,
            fid,
            sfi: self.sfi,
            structure: self.structure,
            name: self.name,
            access,
            items,
            confidence: self.confidence,
            source: self.source,
        })
    }
}
