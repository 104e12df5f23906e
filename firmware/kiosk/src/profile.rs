//! The card profile the kiosk reads with: the SSSE and its basic files EF05 and EF06
//! of `apdu-specs/sscard.json` (the same nodes, items, tags, lengths, encodings,
//! access rules, keys and PIN policy, without notes, sources and the human names of
//! nodes, items and keys, which the kiosk never shows).
//!
//! `build.rs` validates the whole profile with `sscard_fs::Profile::from_json` at build
//! time and writes the subset as Rust data, which [`basic_profile`] turns into a
//! [`Profile`]: the firmware neither embeds nor parses JSON, so `serde_json` is not
//! linked into it. [`BASIC_PROFILE_JSON`] is the same subset as JSON, for hosts; the
//! tests prove the two forms and the full profile agree.

use alloc::string::String;
use alloc::vec::Vec;

use sscard_fs::profile::{
    Access, AccessRule, Confidence, KeyRef, KeyUsage, NodeKind, PinPolicy, Structure,
};
use sscard_fs::{Encoding, Item, Node, Profile, ProfileError};

/// The profile subset as JSON (hosts; the firmware uses [`basic_profile`]).
pub const BASIC_PROFILE_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/basic-profile.json"));

/// A node of the compiled subset: [`Node`] with static text.
struct NodeSpec {
    path: &'static str,
    kind: NodeKind,
    aid: Option<&'static [u8]>,
    fid: Option<u16>,
    sfi: Option<u8>,
    structure: Option<Structure>,
    access: Option<Access>,
    read_v3: Option<AccessRule>,
    items: &'static [ItemSpec],
    record_count: Option<u8>,
    size: Option<usize>,
    keys: &'static [KeySpec],
    pin: Option<PinPolicy>,
    confidence: Confidence,
}

/// An [`Item`] with static text.
struct ItemSpec {
    key: &'static str,
    tag: u8,
    record: Option<u8>,
    length: usize,
    encoding: Encoding,
    pad: u8,
    optional: bool,
    read_v3: Option<AccessRule>,
    confidence: Confidence,
}

/// A [`KeyRef`] with static text.
struct KeySpec {
    id: u8,
    usage: KeyUsage,
    confidence: Confidence,
}

include!(concat!(env!("OUT_DIR"), "/basic-profile.rs"));

impl ItemSpec {
    fn to_item(&self) -> Item {
        Item {
            key: self.key.into(),
            tag: self.tag,
            record: self.record,
            name: String::new(),
            length: self.length,
            encoding: self.encoding,
            pad: self.pad,
            optional: self.optional,
            read_v3: self.read_v3,
            confidence: self.confidence,
            source: String::new(),
        }
    }
}

impl KeySpec {
    fn to_key(&self) -> KeyRef {
        KeyRef {
            id: self.id,
            name: String::new(),
            usage: self.usage,
            confidence: self.confidence,
            source: String::new(),
        }
    }
}

impl NodeSpec {
    fn to_node(&self) -> Node {
        Node {
            path: self.path.into(),
            kind: self.kind,
            aid: self.aid.map(<[u8]>::to_vec),
            fid: self.fid,
            sfi: self.sfi,
            structure: self.structure,
            name: String::new(),
            access: self.access,
            read_v3: self.read_v3,
            items: self.items.iter().map(ItemSpec::to_item).collect(),
            groups: Vec::new(),
            fields: Vec::new(),
            record_count: self.record_count,
            size: self.size,
            keys: self.keys.iter().map(KeySpec::to_key).collect(),
            pin: self.pin,
            confidence: self.confidence,
            source: String::new(),
        }
    }
}

/// The profile subset, built from the compiled data (no JSON).
pub fn basic_profile() -> Result<Profile, ProfileError> {
    Profile::from_nodes(TITLE.into(), NODES.iter().map(NodeSpec::to_node).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_subset_equals_the_parsed_json_subset() {
        assert_eq!(
            basic_profile().unwrap(),
            Profile::from_json(BASIC_PROFILE_JSON).unwrap()
        );
    }

    #[test]
    fn the_subset_has_the_full_profiles_basic_nodes() {
        let subset = basic_profile().unwrap();
        let full = sscard_fs::builtin_profile().unwrap();
        assert_eq!(subset.nodes().len(), 3);
        for node in subset.nodes() {
            // Equal but for the sources and names, which the subset leaves out.
            let mut original = full.node(&node.path).unwrap().clone();
            original.source.clear();
            original.name.clear();
            original.items.iter_mut().for_each(|i| {
                i.source.clear();
                i.name.clear();
            });
            original.keys.iter_mut().for_each(|k| {
                k.source.clear();
                k.name.clear();
            });
            assert_eq!(*node, original, "{}", node.path);
        }
        assert!(
            BASIC_PROFILE_JSON.len() < 8 * 1024,
            "{}",
            BASIC_PROFILE_JSON.len()
        );
    }
}
