//! A small store of data objects (tag → value), in arrival order.

use alloc::vec::Vec;

use sscard_apdu::tlv::ber;
use sscard_emv::Tag;

/// Data objects by tag; at most one value per tag.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlvDb {
    items: Vec<(Tag, Vec<u8>)>,
}

impl TlvDb {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `tag`.
    pub fn get(&self, tag: Tag) -> Option<&[u8]> {
        self.items
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.as_slice())
    }

    /// Whether `tag` is present.
    pub fn contains(&self, tag: Tag) -> bool {
        self.get(tag).is_some()
    }

    /// Sets (or replaces) `tag`.
    pub fn set(&mut self, tag: Tag, value: &[u8]) {
        if let Some((_, v)) = self.items.iter_mut().find(|(t, _)| *t == tag) {
            v.clear();
            v.extend_from_slice(value);
        } else {
            self.items.push((tag, value.to_vec()));
        }
    }

    /// Adds `tag`; `false` (and nothing changed) when it is already present.
    pub fn insert_new(&mut self, tag: Tag, value: &[u8]) -> bool {
        if self.contains(tag) {
            return false;
        }
        self.items.push((tag, value.to_vec()));
        true
    }

    /// Removes `tag`.
    pub fn remove(&mut self, tag: Tag) {
        self.items.retain(|(t, _)| *t != tag);
    }

    /// All objects in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = (Tag, &[u8])> {
        self.items.iter().map(|(t, v)| (*t, v.as_slice()))
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Appends `tag ‖ len ‖ value` of each listed tag present in the store to `out`.
    pub fn encode(&self, tags: &[Tag], out: &mut Vec<u8>) {
        for tag in tags {
            if let Some(v) = self.get(*tag) {
                push_tlv(*tag, v, out);
            }
        }
    }
}

/// Appends one BER-TLV to `out` (objects that cannot be encoded are skipped).
pub fn push_tlv(tag: Tag, value: &[u8], out: &mut Vec<u8>) {
    let _ = ber::push(tag.0, value, out);
}
