//! The certification authority public key (CAPK) store of a terminal: RID ‖ index (tag
//! 8F) → RSA modulus and exponent or SM2 point, expiry and checksum (EMV Book 2 §5.1,
//! spec/pboc.md §1.4.1 step 1 and Appendix A.3).
//!
//! Keys are data, never code: [`CapkStore::unionpay`] parses `apdu-specs/pboc/capk.json`
//! (embedded), [`CapkStore::from_json`] any file of that shape, [`Capk::from_pos_tlv`] one
//! POS parameter TLV (`9F06` RID, `9F22` index, `DF05` expiry, `DF06` hash algorithm,
//! `DF07` public-key algorithm, `DF02` modulus, `DF04` exponent, `DF03` checksum), and
//! [`CapkStore::add`] test keys at run time. Every RSA key's checksum
//! `SHA-1(RID ‖ index ‖ modulus ‖ exponent)` is verified before the key enters a store.
//!
//! \[U\] SM2 CAPKs: `DF07` = `04` is read as "SM2" and `DF02` must then be the 64-byte
//! point `x ‖ y`; the SM2 example's `DF38` and `DF39` are not interpreted and no SM2
//! checksum is checked (its construction is not public).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::Deserialize;
use sscard_apdu::hex;
use sscard_apdu::tlv::ber;

use crate::oda::rsa::sha1;
use crate::oda::{Date, OdaError};

/// Public-key algorithm indicator (DF07) for RSA.
pub const ALG_RSA: u8 = 0x01;
/// Public-key algorithm indicator (DF07) for SM2 \[U\].
pub const ALG_SM2: u8 = 0x04;
/// Hash algorithm indicator (DF06) for SHA-1.
pub const HASH_SHA1: u8 = 0x01;

/// The UnionPay RID.
pub const RID_UNIONPAY: [u8; 5] = [0xA0, 0x00, 0x00, 0x03, 0x33];

/// The embedded `apdu-specs/pboc/capk.json`.
pub const UNIONPAY_CAPK_JSON: &str = include_str!("../../../apdu-specs/pboc/capk.json");

/// Why a CAPK or a CAPK file was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CapkError {
    /// The file is not JSON of the expected shape.
    Json,
    /// A hex field is not hex.
    Hex,
    /// The POS parameter TLV is not valid BER-TLV.
    Tlv,
    /// A mandatory TLV field is missing or has a bad length.
    Field {
        /// Its tag.
        tag: u32,
    },
    /// An RSA key whose checksum does not match (or is missing).
    Checksum {
        /// The key index.
        index: u8,
    },
    /// A key that cannot be used.
    BadKey {
        /// The key index.
        index: u8,
    },
}

impl fmt::Display for CapkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Json => f.write_str("CAPK file is not JSON of the expected shape"),
            Self::Hex => f.write_str("CAPK field is not hex"),
            Self::Tlv => f.write_str("CAPK parameter block is not valid BER-TLV"),
            Self::Field { tag } => write!(f, "CAPK field {tag:X} missing or malformed"),
            Self::Checksum { index } => write!(f, "CAPK {index:02X}: checksum mismatch"),
            Self::BadKey { index } => write!(f, "CAPK {index:02X}: unusable key"),
        }
    }
}

impl core::error::Error for CapkError {}

/// The key material of a CAPK.
#[derive(Clone, PartialEq, Eq)]
pub enum CapkKey {
    /// RSA: modulus and exponent, big-endian.
    Rsa {
        /// The modulus (`DF02`).
        modulus: Vec<u8>,
        /// The exponent (`DF04`).
        exponent: Vec<u8>,
    },
    /// SM2: the point `x ‖ y` (`DF02`).
    Sm2 {
        /// `x ‖ y`, 64 bytes.
        xy: [u8; 64],
    },
}

impl fmt::Debug for CapkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rsa { modulus, exponent } => f
                .debug_struct("Rsa")
                .field("bits", &(modulus.len() * 8))
                .field("exponent", exponent)
                .finish(),
            Self::Sm2 { .. } => f.write_str("Sm2"),
        }
    }
}

/// One CA public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capk {
    /// Registered application provider identifier (`9F06`).
    pub rid: [u8; 5],
    /// CA public key index (`9F22`, card tag `8F`).
    pub index: u8,
    /// The key.
    pub key: CapkKey,
    /// Expiry date `YYYYMMDD` in BCD (`DF05`, given as ASCII or BCD), if known.
    pub expiry: Option<[u8; 4]>,
    /// Hash algorithm indicator (`DF06`).
    pub hash_alg: u8,
    /// Checksum (`DF03`): SHA-1 of RID ‖ index ‖ modulus ‖ exponent for RSA.
    pub checksum: Option<[u8; 20]>,
}

fn bcd_pair(a: u8, b: u8) -> Option<u8> {
    (a.is_ascii_digit() && b.is_ascii_digit()).then(|| ((a - b'0') << 4) | (b - b'0'))
}

impl Capk {
    /// An RSA CAPK with its checksum computed here (for test keys added at run time).
    pub fn rsa(rid: [u8; 5], index: u8, modulus: &[u8], exponent: &[u8]) -> Self {
        Self {
            rid,
            index,
            key: CapkKey::Rsa {
                modulus: modulus.to_vec(),
                exponent: exponent.to_vec(),
            },
            expiry: None,
            hash_alg: HASH_SHA1,
            checksum: Some(sha1(&[&rid, &[index], modulus, exponent])),
        }
    }

    /// An SM2 CAPK.
    pub fn sm2(rid: [u8; 5], index: u8, xy: [u8; 64]) -> Self {
        Self {
            rid,
            index,
            key: CapkKey::Sm2 { xy },
            expiry: None,
            hash_alg: 0x00,
            checksum: None,
        }
    }

    /// Parses one POS parameter TLV block (see the module docs). Does not check the
    /// checksum: [`Capk::verify_checksum`] and [`CapkStore::add`] do.
    pub fn from_pos_tlv(block: &[u8]) -> Result<Self, CapkError> {
        let mut fields: Vec<ber::Tlv<'_>> = Vec::new();
        for tlv in ber::iter(block) {
            fields.push(tlv.map_err(|_| CapkError::Tlv)?);
        }
        let get = |tag: u32| fields.iter().find(|t| t.tag == tag).map(|t| t.value);
        let need = |tag: u32| get(tag).ok_or(CapkError::Field { tag });
        let rid: [u8; 5] = need(0x9F06)?
            .try_into()
            .map_err(|_| CapkError::Field { tag: 0x9F06 })?;
        let index = match need(0x9F22)? {
            [i] => *i,
            _ => return Err(CapkError::Field { tag: 0x9F22 }),
        };
        let modulus = need(0xDF02)?;
        let alg = get(0xDF07)
            .and_then(|v| v.first().copied())
            .unwrap_or(ALG_RSA);
        let key = if alg == ALG_SM2 {
            CapkKey::Sm2 {
                xy: modulus
                    .try_into()
                    .map_err(|_| CapkError::Field { tag: 0xDF02 })?,
            }
        } else {
            CapkKey::Rsa {
                modulus: modulus.to_vec(),
                exponent: need(0xDF04)?.to_vec(),
            }
        };
        let expiry = match get(0xDF05) {
            None => None,
            Some(&[a, b, c, d]) => Some([a, b, c, d]),
            Some(&[y1, y2, y3, y4, m1, m2, d1, d2]) => Some(
                bcd_pair(y1, y2)
                    .zip(bcd_pair(y3, y4))
                    .zip(bcd_pair(m1, m2).zip(bcd_pair(d1, d2)))
                    .map(|((a, b), (c, d))| [a, b, c, d])
                    .ok_or(CapkError::Field { tag: 0xDF05 })?,
            ),
            Some(_) => return Err(CapkError::Field { tag: 0xDF05 }),
        };
        let checksum = match get(0xDF03) {
            None => None,
            Some(v) => Some(v.try_into().map_err(|_| CapkError::Field { tag: 0xDF03 })?),
        };
        Ok(Self {
            rid,
            index,
            key,
            expiry,
            hash_alg: get(0xDF06)
                .and_then(|v| v.first().copied())
                .unwrap_or(HASH_SHA1),
            checksum,
        })
    }

    /// Checks the key: RSA keys must carry a SHA-1 checksum matching RID ‖ index ‖
    /// modulus ‖ exponent and be usable; SM2 keys must be a point on the curve (no
    /// checksum is defined for them publicly, \[U\]).
    pub fn verify_checksum(&self) -> Result<(), CapkError> {
        let index = self.index;
        match &self.key {
            CapkKey::Rsa { modulus, exponent } => {
                let computed = sha1(&[&self.rid, &[self.index], modulus, exponent]);
                if self.hash_alg != HASH_SHA1 || self.checksum != Some(computed) {
                    return Err(CapkError::Checksum { index });
                }
                crate::oda::rsa::RsaPublicKey::new(modulus, exponent)
                    .map(|_| ())
                    .map_err(|_| CapkError::BadKey { index })
            }
            CapkKey::Sm2 { xy } => sscard_crypto::sm2::PublicKey::from_xy(xy)
                .map(|_| ())
                .map_err(|_| CapkError::BadKey { index }),
        }
    }

    /// Whether the key expired before `date` (a key without expiry never does).
    pub fn is_expired(&self, date: Date) -> bool {
        let Some([y1, y2, mm, dd]) = self.expiry else {
            return false;
        };
        let digits = |b: u8| u16::from(b >> 4) * 10 + u16::from(b & 0x0F);
        let year = digits(y1) * 100 + digits(y2);
        (year, digits(mm), digits(dd)) < (date.year, u16::from(date.month), u16::from(date.day))
    }
}

/// A set of CAPKs, looked up by RID and index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CapkStore {
    keys: Vec<Capk>,
}

#[derive(Deserialize)]
struct CapkFile {
    entries: Vec<CapkEntry>,
}

#[derive(Deserialize)]
struct CapkEntry {
    tlv: String,
}

impl CapkStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The UnionPay keys of `apdu-specs/pboc/capk.json` (embedded at build time).
    pub fn unionpay() -> Result<Self, CapkError> {
        Self::from_json(UNIONPAY_CAPK_JSON)
    }

    /// Loads a CAPK file: a JSON object whose `entries` each carry a POS parameter
    /// TLV in hex under `tlv` (other fields, such as `source` and `confidence`, are
    /// documentation). Every key is checked as by [`Self::add`].
    pub fn from_json(text: &str) -> Result<Self, CapkError> {
        let file: CapkFile = serde_json::from_str(text).map_err(|_| CapkError::Json)?;
        let mut store = Self::new();
        for entry in &file.entries {
            let block = hex::to_vec(&entry.tlv).map_err(|_| CapkError::Hex)?;
            store.add(Capk::from_pos_tlv(&block)?)?;
        }
        Ok(store)
    }

    /// Adds a key after [`Capk::verify_checksum`], replacing any key with the same RID
    /// and index.
    pub fn add(&mut self, capk: Capk) -> Result<(), CapkError> {
        capk.verify_checksum()?;
        self.keys
            .retain(|k| !(k.rid == capk.rid && k.index == capk.index));
        self.keys.push(capk);
        Ok(())
    }

    /// The key for `rid` and `index` (tag 8F).
    pub fn get(&self, rid: [u8; 5], index: u8) -> Result<&Capk, OdaError> {
        self.keys
            .iter()
            .find(|k| k.rid == rid && k.index == index)
            .ok_or(OdaError::UnknownCapk { rid, index })
    }

    /// The key for the first five bytes of an AID and `index`.
    pub fn get_for_aid(&self, aid: &[u8], index: u8) -> Result<&Capk, OdaError> {
        let rid: [u8; 5] = aid
            .get(..5)
            .and_then(|r| r.try_into().ok())
            .ok_or(OdaError::MissingData { tag: 0x4F })?;
        self.get(rid, index)
    }

    /// All keys.
    pub fn iter(&self) -> impl Iterator<Item = &Capk> {
        self.keys.iter()
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unionpay_file_loads_and_verifies() {
        let store = CapkStore::unionpay().unwrap();
        assert_eq!(store.len(), 11);
        let k80 = store.get(RID_UNIONPAY, 0x80).unwrap();
        assert!(matches!(&k80.key, CapkKey::Rsa { modulus, exponent }
            if modulus.len() == 128 && exponent == &[1, 0, 1]));
        assert_eq!(k80.expiry, Some([0x20, 0x30, 0x12, 0x31]));
        let k08 = store.get(RID_UNIONPAY, 0x08).unwrap();
        assert_eq!(k08.expiry, Some([0x20, 0x30, 0x12, 0x31]));
        assert!(matches!(
            store.get(RID_UNIONPAY, 0x18).unwrap().key,
            CapkKey::Sm2 { .. }
        ));
        assert_eq!(
            store.get(RID_UNIONPAY, 0x57),
            Err(OdaError::UnknownCapk {
                rid: RID_UNIONPAY,
                index: 0x57
            })
        );
    }

    #[test]
    fn checksum_is_enforced() {
        let store = CapkStore::unionpay().unwrap();
        let mut k = store.get(RID_UNIONPAY, 0x01).unwrap().clone();
        if let CapkKey::Rsa { modulus, .. } = &mut k.key {
            if let Some(b) = modulus.get_mut(10) {
                *b ^= 1;
            }
        }
        assert_eq!(
            CapkStore::new().add(k),
            Err(CapkError::Checksum { index: 0x01 })
        );
    }

    #[test]
    fn expiry() {
        let store = CapkStore::unionpay().unwrap();
        let k = store.get(RID_UNIONPAY, 0x01).unwrap();
        assert_eq!(k.expiry, Some([0x20, 0x29, 0x12, 0x31]));
        assert!(!k.is_expired(Date::from_9a([0x29, 0x12, 0x31]).unwrap()));
        assert!(k.is_expired(Date::from_9a([0x30, 0x01, 0x01]).unwrap()));
    }
}
