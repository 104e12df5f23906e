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

/// An access condition (`spec/sscard.md` §1.7), written in the profile as `free`,
/// `never`, `pin`, `ext-auth:XX` or `pin+ext-auth:XX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccessRule {
    /// Always allowed.
    Free,
    /// Never allowed.
    Never,
    /// Allowed once every named condition holds.
    Require {
        /// PIN verified in the DF.
        pin: bool,
        /// External authentication with this card key id passed in the DF.
        key: Option<u8>,
    },
}

impl AccessRule {
    /// Parses the profile notation.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "free" => return Some(Self::Free),
            "never" => return Some(Self::Never),
            _ => {}
        }
        let (mut pin, mut key) = (false, None);
        for part in text.split('+') {
            match part.trim() {
                "pin" if !pin => pin = true,
                other => {
                    let hex_id = other.strip_prefix("ext-auth:")?;
                    let [id] = hex::decode_array::<1>(hex_id).ok()?;
                    if key.replace(id).is_some() {
                        return None;
                    }
                }
            }
        }
        Some(Self::Require { pin, key })
    }

    /// Whether the rule holds given the DF's security state.
    pub fn allows(&self, pin_verified: bool, key_authenticated: impl Fn(u8) -> bool) -> bool {
        match *self {
            Self::Free => true,
            Self::Never => false,
            Self::Require { pin, key } => {
                (!pin || pin_verified) && key.is_none_or(key_authenticated)
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
    /// Read condition of this item's record on 3rd-generation (3.0) cards, when it
    /// differs from the file's (`spec/sscard.md` §3.7).
    pub read_v3: Option<AccessRule>,
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

    /// Decodes the item's card bytes, keeping GBK as the card's bytes
    /// ([`codec::decode_kept`]: no GBK table).
    pub fn decode_kept(&self, bytes: &[u8]) -> Result<codec::ItemText, CodecError> {
        codec::decode_kept(self.encoding, bytes)
    }

    /// The length of the whole record TLV (`tag len value`).
    pub fn tlv_len(&self) -> usize {
        self.length + 2
    }
}

/// A positional field of a fixed-length or cyclic record (no tag of its own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// Key in card images.
    pub key: String,
    /// Human name.
    pub name: String,
    /// Length in bytes.
    pub length: usize,
    /// Encoding.
    pub encoding: Encoding,
    /// Pad byte for AN and GBK.
    pub pad: u8,
}

impl Field {
    /// Encodes a text value into the field's fixed-length bytes.
    pub fn encode(&self, value: &str) -> Result<Vec<u8>, CodecError> {
        codec::encode(self.encoding, self.length, self.pad, value)
    }

    /// Decodes the field's bytes to text.
    pub fn decode(&self, bytes: &[u8]) -> Result<String, CodecError> {
        codec::decode(self.encoding, bytes)
    }
}

/// A B-TLV group: a record whose value is itself a list of TLV items
/// (`spec/sscard.md` §1.5), addressed as `<group tag>:<occurrence>` (§4.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Key in card images.
    pub key: String,
    /// The group's record tag.
    pub tag: u8,
    /// Human name.
    pub name: String,
    /// Record number of the first occurrence; occurrence `i` is record `record + i - 1`.
    pub record: Option<u8>,
    /// How many occurrences the file holds.
    pub occurrences: u8,
    /// The items inside one occurrence.
    pub members: Vec<Item>,
    /// Confidence of the group's definition.
    pub confidence: Confidence,
    /// Source tags.
    pub source: String,
}

impl Group {
    /// The member with this tag.
    pub fn member_by_tag(&self, tag: u8) -> Option<&Item> {
        self.members.iter().find(|m| m.tag == tag)
    }

    /// Length of one occurrence's value (the members' TLVs).
    pub fn value_len(&self) -> usize {
        self.members.iter().map(Item::tlv_len).sum()
    }
}

/// What a card key is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum KeyUsage {
    /// Master (control) key of the DF.
    Master,
    /// Internal authentication (card genuine).
    InternalAuth,
    /// Read key: external authentication before reading.
    Read,
    /// Update key: external authentication before writing.
    Update,
    /// PIN unblock / reload (PUK).
    PinUnblock,
    /// Secure transport (PIN encryption and MAC of `84 24`).
    SecureTransport,
    /// Purse keys and other keys that are not used for external authentication.
    Other,
}

/// A key of a DF (ids from one province's cards: examples, not constants).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRef {
    /// Card key id (P2 of EXTERNAL AUTHENTICATE).
    pub id: u8,
    /// Name (`RKSSSE`, `UK1DF03` …).
    pub name: String,
    /// Purpose.
    pub usage: KeyUsage,
    /// Confidence.
    pub confidence: Confidence,
    /// Source tags.
    pub source: String,
}

/// The PIN of a DF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinPolicy {
    /// Digits of the PIN (readers require 6 for DF access).
    pub digits: u8,
    /// Tries before the PIN blocks.
    pub tries: u8,
    /// Confidence of the try count.
    pub confidence: Confidence,
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
    /// Read condition on 3rd-generation (3.0) cards, when it differs from `access.read`
    /// (`spec/sscard.md` §3.7); items may override it.
    pub read_v3: Option<AccessRule>,
    /// Data items of a TLV record EF.
    pub items: Vec<Item>,
    /// B-TLV groups of a TLV record EF.
    pub groups: Vec<Group>,
    /// Positional fields of each record of a fixed-record or cyclic EF.
    pub fields: Vec<Field>,
    /// Number of records of a fixed-record or cyclic EF.
    pub record_count: Option<u8>,
    /// Size in bytes of a transparent EF.
    pub size: Option<usize>,
    /// Keys of a DF.
    pub keys: Vec<KeyRef>,
    /// PIN of a DF.
    pub pin: Option<PinPolicy>,
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

    /// The read condition of the record holding `tag` on a card of generation 3 (`v3`)
    /// or earlier.
    pub fn read_rule(&self, tag: Option<u8>, v3: bool) -> AccessRule {
        let base = self.access.map_or(AccessRule::Never, |a| a.read);
        if !v3 {
            return base;
        }
        let item = tag
            .and_then(|t| self.item_by_tag(t))
            .and_then(|i| i.read_v3);
        item.or(self.read_v3).unwrap_or(base)
    }

    /// The item with this key.
    pub fn item(&self, key: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.key == key)
    }

    /// The B-TLV group with this tag.
    pub fn group_by_tag(&self, tag: u8) -> Option<&Group> {
        self.groups.iter().find(|g| g.tag == tag)
    }

    /// The B-TLV group with this key.
    pub fn group(&self, key: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.key == key)
    }

    /// The length of one record of a fixed-record or cyclic EF.
    pub fn record_length(&self) -> usize {
        self.fields.iter().map(|f| f.length).sum()
    }

    /// The key with this id, if the DF lists it.
    pub fn key(&self, id: u8) -> Option<&KeyRef> {
        self.keys.iter().find(|k| k.id == id)
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
    /// A structure's own fields are missing or inconsistent (a transparent EF without
    /// size, a cyclic EF without fields or record count, a B-TLV group without members
    /// or longer than a record can hold).
    BadLayout,
    /// Two keys share an id, or a PIN policy is out of range.
    BadKeys,
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
            if let Some(problem) = tree_problem(&nodes, &node) {
                return Err(invalid(problem));
            }
            nodes.push(node);
        }
        Ok(Self {
            title: raw.title,
            nodes,
        })
    }

    /// A profile of nodes built in code, e.g. generated at build time from a profile
    /// that [`Profile::from_json`] validated (firmware that must not parse JSON).
    /// Checks the tree as `from_json` does (unique paths; parents are DFs listed
    /// before their children); each node's own consistency is the caller's.
    pub fn from_nodes(title: String, nodes: Vec<Node>) -> Result<Self, ProfileError> {
        for (index, node) in nodes.iter().enumerate() {
            let earlier = nodes.get(..index).unwrap_or_default();
            if let Some(problem) = tree_problem(earlier, node) {
                return Err(ProfileError::InvalidNode {
                    node: index,
                    problem,
                });
            }
        }
        Ok(Self { title, nodes })
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

/// What is wrong with `node`'s place in the tree, given the nodes before it.
fn tree_problem(earlier: &[Node], node: &Node) -> Option<NodeProblem> {
    if earlier.iter().any(|n| n.path == node.path) {
        return Some(NodeProblem::DuplicatePath);
    }
    let parent = node.parent()?;
    let ok = earlier
        .iter()
        .any(|n| n.path == parent && n.kind == NodeKind::Df);
    (!ok).then_some(NodeProblem::MissingParent)
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
    read_v3: Option<String>,
    #[serde(default)]
    items: Vec<RawItem>,
    #[serde(default)]
    groups: Vec<RawGroup>,
    #[serde(default)]
    fields: Vec<RawField>,
    records: Option<u8>,
    size: Option<usize>,
    #[serde(default)]
    keys: Vec<RawKey>,
    pin: Option<RawPin>,
    confidence: Confidence,
    #[serde(default)]
    source: String,
}

#[derive(Deserialize)]
struct RawGroup {
    key: String,
    tag: String,
    #[serde(default)]
    name: String,
    record: Option<u8>,
    #[serde(default = "one")]
    occurrences: u8,
    members: Vec<RawItem>,
    confidence: Confidence,
    #[serde(default)]
    source: String,
}

fn one() -> u8 {
    1
}

#[derive(Deserialize)]
struct RawField {
    key: String,
    #[serde(default)]
    name: String,
    length: usize,
    encoding: Encoding,
    pad: Option<String>,
}

#[derive(Deserialize)]
struct RawKey {
    id: String,
    #[serde(default)]
    name: String,
    usage: KeyUsage,
    confidence: Confidence,
    #[serde(default)]
    source: String,
}

#[derive(Deserialize)]
struct RawPin {
    digits: u8,
    tries: u8,
    confidence: Confidence,
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
    read_v3: Option<String>,
    confidence: Confidence,
    #[serde(default)]
    source: String,
}

fn rule(text: Option<&str>) -> Result<Option<AccessRule>, NodeProblem> {
    text.map(|t| AccessRule::parse(t).ok_or(NodeProblem::BadAccessRule))
        .transpose()
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

impl RawItem {
    fn validate(self) -> Result<Item, NodeProblem> {
        let tag = hex_byte(&self.tag)?;
        let pad = self.pad.as_deref().map(hex_byte).transpose()?.unwrap_or(0);
        if self.length == 0 || self.length > 254 || tag == 0 || tag == 0xFF {
            return Err(NodeProblem::BadItemLength);
        }
        Ok(Item {
            key: self.key,
            tag,
            record: self.record,
            name: self.name,
            length: self.length,
            encoding: self.encoding,
            pad,
            optional: self.optional,
            read_v3: rule(self.read_v3.as_deref())?,
            confidence: self.confidence,
            source: self.source,
        })
    }
}

/// Tracks tags, keys and record numbers of one record file for uniqueness.
#[derive(Default)]
struct Unique {
    tags: BTreeSet<u8>,
    keys: BTreeSet<String>,
    records: BTreeSet<u8>,
}

impl Unique {
    fn add(
        &mut self,
        tag: u8,
        key: &str,
        records: impl IntoIterator<Item = u8>,
    ) -> Result<(), NodeProblem> {
        let fresh_records = records.into_iter().all(|r| self.records.insert(r));
        if !self.tags.insert(tag) || !self.keys.insert(key.into()) || !fresh_records {
            return Err(NodeProblem::DuplicateItem);
        }
        Ok(())
    }
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
        let has_content =
            !self.items.is_empty() || !self.groups.is_empty() || !self.fields.is_empty();
        match (self.kind, self.structure) {
            (NodeKind::Ef, None) | (NodeKind::Df, Some(_)) => return Err(NodeProblem::BadKind),
            (NodeKind::Df, None) if has_content || self.size.is_some() => {
                return Err(NodeProblem::BadKind)
            }
            (NodeKind::Ef, _) if !self.keys.is_empty() || self.pin.is_some() => {
                return Err(NodeProblem::BadKind)
            }
            _ => {}
        }
        // Each structure has its own content fields and no others.
        let layout_ok = match self.structure {
            Some(Structure::TlvRecord) => self.fields.is_empty() && self.size.is_none(),
            Some(Structure::FixedRecord | Structure::Cyclic) => {
                !self.fields.is_empty()
                    && self.records.is_some_and(|n| n > 0)
                    && self.items.is_empty()
                    && self.groups.is_empty()
                    && self.size.is_none()
            }
            Some(Structure::Transparent) => {
                !has_content && self.size.is_some_and(|n| n > 0 && n <= 0x7FFF)
            }
            None => true,
        };
        if !layout_ok {
            return Err(NodeProblem::BadLayout);
        }
        let access = match self.access {
            Some(a) => Some(Access {
                read: AccessRule::parse(&a.read).ok_or(NodeProblem::BadAccessRule)?,
                update: AccessRule::parse(&a.update).ok_or(NodeProblem::BadAccessRule)?,
            }),
            None => None,
        };
        let mut unique = Unique::default();
        let mut items = Vec::with_capacity(self.items.len());
        for raw in self.items {
            let item = raw.validate()?;
            unique.add(item.tag, &item.key, item.record)?;
            items.push(item);
        }
        let mut groups = Vec::with_capacity(self.groups.len());
        for raw in self.groups {
            let tag = hex_byte(&raw.tag)?;
            let mut members = Vec::with_capacity(raw.members.len());
            let mut inner = Unique::default();
            for m in raw.members {
                let m = m.validate()?;
                inner.add(m.tag, &m.key, None)?;
                members.push(m);
            }
            let group = Group {
                key: raw.key,
                tag,
                name: raw.name,
                record: raw.record,
                occurrences: raw.occurrences,
                members,
                confidence: raw.confidence,
                source: raw.source,
            };
            if group.members.is_empty() || group.occurrences == 0 || group.value_len() > 254 {
                return Err(NodeProblem::BadLayout);
            }
            let span = group
                .record
                .map(|first| (0..group.occurrences).map(move |i| first.saturating_add(i)));
            unique.add(tag, &group.key, span.into_iter().flatten())?;
            groups.push(group);
        }
        let mut fields = Vec::with_capacity(self.fields.len());
        for raw in self.fields {
            let pad = raw.pad.as_deref().map(hex_byte).transpose()?.unwrap_or(0);
            if raw.length == 0 || raw.length > 254 {
                return Err(NodeProblem::BadItemLength);
            }
            if !unique.keys.insert(raw.key.clone()) {
                return Err(NodeProblem::DuplicateItem);
            }
            fields.push(Field {
                key: raw.key,
                name: raw.name,
                length: raw.length,
                encoding: raw.encoding,
                pad,
            });
        }
        if fields.iter().map(|f| f.length).sum::<usize>() > 255 {
            return Err(NodeProblem::BadLayout);
        }
        let mut keys: Vec<KeyRef> = Vec::with_capacity(self.keys.len());
        for raw in self.keys {
            let id = hex_byte(&raw.id)?;
            if keys.iter().any(|k| k.id == id) {
                return Err(NodeProblem::BadKeys);
            }
            keys.push(KeyRef {
                id,
                name: raw.name,
                usage: raw.usage,
                confidence: raw.confidence,
                source: raw.source,
            });
        }
        let pin = match self.pin {
            Some(p) if (2..=12).contains(&p.digits) && (1..=15).contains(&p.tries) => {
                Some(PinPolicy {
                    digits: p.digits,
                    tries: p.tries,
                    confidence: p.confidence,
                })
            }
            Some(_) => return Err(NodeProblem::BadKeys),
            None => None,
        };
        Ok(Node {
            path: self.path,
            kind: self.kind,
            aid,
            fid,
            sfi: self.sfi,
            structure: self.structure,
            name: self.name,
            access,
            read_v3: rule(self.read_v3.as_deref())?,
            items,
            groups,
            fields,
            record_count: self.records,
            size: self.size,
            keys,
            pin,
            confidence: self.confidence,
            source: self.source,
        })
    }
}
