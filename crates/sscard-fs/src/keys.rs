//! Key sets for emulation and software security modules (`apdu-specs/keys/`).
//!
//! A key set lists, per card key id, the master key (3DES and SM4) that a PSAM or HSM
//! would hold, with the PSAM key id and `BF DE` usage byte a terminal uses for it. The
//! shipped set is **fictional** and only meaningful with the emulation key scheme.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::Deserialize;
use sscard_apdu::hex;
use zeroize::Zeroizing;

/// The schema identifier of key sets.
pub const KEYS_SCHEMA: &str = "sscard-keys/1";

/// One key of a key set.
#[derive(Clone)]
pub struct KeyEntry {
    /// The card's key id (P2 of EXTERNAL AUTHENTICATE).
    pub card_key: u8,
    /// Name.
    pub name: String,
    /// The PSAM's key id (P2 of `BF DE`).
    pub psam_key: u8,
    /// The `BF DE` usage byte (high 3 bits: diversification levels).
    pub usage: u8,
    /// The 3DES master key (double length).
    pub des3: Zeroizing<[u8; 16]>,
    /// The SM4 master key.
    pub sm4: Zeroizing<[u8; 16]>,
}

impl KeyEntry {
    /// Diversification levels from the usage byte (1–3).
    pub fn levels(&self) -> u8 {
        self.usage >> 5
    }
}

impl fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEntry")
            .field("card_key", &self.card_key)
            .field("name", &self.name)
            .field("psam_key", &self.psam_key)
            .field("usage", &self.usage)
            .finish_non_exhaustive()
    }
}

/// A set of master keys.
#[derive(Clone, Debug)]
pub struct KeySet {
    keys: Vec<KeyEntry>,
}

/// Why a key set is not acceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySetError {
    /// Not JSON of the key-set shape.
    Syntax {
        /// 1-based line.
        line: usize,
    },
    /// `schema` is not [`KEYS_SCHEMA`].
    UnknownSchema,
    /// Entry `index` has a malformed id, usage byte (levels must be 1–3) or key (16
    /// bytes of hex), or repeats a card key id.
    BadEntry {
        /// Index of the entry.
        index: usize,
    },
}

impl fmt::Display for KeySetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax { line } => write!(
                f,
                "key set is not valid JSON of the key-set schema (line {line})"
            ),
            Self::UnknownSchema => write!(f, "key set schema is not {KEYS_SCHEMA}"),
            Self::BadEntry { index } => {
                write!(f, "key set entry #{index} is malformed or repeats a key id")
            }
        }
    }
}

impl core::error::Error for KeySetError {}

#[derive(Deserialize)]
struct RawSet {
    schema: String,
    keys: Vec<RawKey>,
}

#[derive(Deserialize)]
struct RawKey {
    card_key: String,
    #[serde(default)]
    name: String,
    psam_key: String,
    usage: String,
    des3: Zeroizing<String>,
    sm4: Zeroizing<String>,
}

impl KeySet {
    /// Parses and validates a key set.
    pub fn from_json(text: &str) -> Result<Self, KeySetError> {
        let raw: RawSet =
            serde_json::from_str(text).map_err(|e| KeySetError::Syntax { line: e.line() })?;
        if raw.schema != KEYS_SCHEMA {
            return Err(KeySetError::UnknownSchema);
        }
        let mut keys: Vec<KeyEntry> = Vec::with_capacity(raw.keys.len());
        for (index, k) in raw.keys.into_iter().enumerate() {
            let bad = || KeySetError::BadEntry { index };
            let byte = |t: &str| hex::decode_array::<1>(t).map(|[b]| b).map_err(|_| bad());
            let key = |t: &str| {
                hex::decode_array::<16>(t)
                    .map(Zeroizing::new)
                    .map_err(|_| bad())
            };
            let entry = KeyEntry {
                card_key: byte(&k.card_key)?,
                name: k.name,
                psam_key: byte(&k.psam_key)?,
                usage: byte(&k.usage)?,
                des3: key(&k.des3)?,
                sm4: key(&k.sm4)?,
            };
            if !(1..=3).contains(&entry.levels())
                || keys.iter().any(|e| e.card_key == entry.card_key)
            {
                return Err(bad());
            }
            keys.push(entry);
        }
        Ok(Self { keys })
    }

    /// All keys.
    pub fn keys(&self) -> &[KeyEntry] {
        &self.keys
    }

    /// The key with this card key id.
    pub fn by_card_key(&self, id: u8) -> Option<&KeyEntry> {
        self.keys.iter().find(|k| k.card_key == id)
    }

    /// The key with this PSAM key id.
    pub fn by_psam_key(&self, id: u8) -> Option<&KeyEntry> {
        self.keys.iter().find(|k| k.psam_key == id)
    }
}
