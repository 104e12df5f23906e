//! The file-address grammar of the reader library (`pFileAddr`, `spec/sscard.md` §4.4):
//!
//! ```text
//! SSSEEF05|06|07|$SSSEEF06|08|09|$     items by tag, file by file
//! MFEF05|07|$MFEF06|08|09|0A|$         the older spelling of the SSSE basic files
//! DF01EF05|20|21|$                      application DFs under SSSE
//! DF02EF05|43:01|$                      occurrence 01 of the B-TLV group 43
//! DF02EF07:01$                          record 01 of a cyclic file
//! ```
//!
//! A file part is `<DF><EF>` (`SSSE`, `MF` or `DFnn`, then `EFnn`), optionally `:<record>`,
//! then `|`-separated items, each a hex tag or `<group tag>:<occurrence>`. File parts end
//! with `$` (the last one may omit it). Record and occurrence numbers are decimal.
//! Output mirrors the input with values in place of the tags
//! (`SSSEEF05|20340315|A12345678|$`).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::profile::{NodeKind, Profile, Structure};

/// How the DF of a file part was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DfSpelling {
    /// `SSSE`.
    Ssse,
    /// `MF`, the older spelling for the SSSE basic files.
    Mf,
    /// `DFnn` under the SSSE.
    Df(u8),
}

/// One item of a file part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemRef {
    /// An item by its tag.
    Tag(u8),
    /// Occurrence `occurrence` (1-based) of the B-TLV group `tag`.
    Group {
        /// The group's tag.
        tag: u8,
        /// The occurrence, from 1.
        occurrence: u8,
    },
}

/// One file part of an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileAddress {
    /// The DF as written.
    pub df: DfSpelling,
    /// The EF's FID low byte (`EF05` → `05`).
    pub ef: u8,
    /// A record number (cyclic and fixed-record files).
    pub record: Option<u8>,
    /// The items, in order.
    pub items: Vec<ItemRef>,
}

impl FileAddress {
    /// The profile path of the file (`SSSE/EF05`, `SSSE/DF01/EF05`).
    pub fn path(&self) -> String {
        match self.df {
            DfSpelling::Ssse | DfSpelling::Mf => alloc::format!("SSSE/EF{:02X}", self.ef),
            DfSpelling::Df(n) => alloc::format!("SSSE/DF{n:02X}/EF{:02X}", self.ef),
        }
    }

    fn write_file(&self, f: &mut impl fmt::Write) -> fmt::Result {
        match self.df {
            DfSpelling::Ssse => f.write_str("SSSE")?,
            DfSpelling::Mf => f.write_str("MF")?,
            DfSpelling::Df(n) => write!(f, "DF{n:02X}")?,
        }
        write!(f, "EF{:02X}", self.ef)?;
        if let Some(r) = self.record {
            write!(f, ":{r:02}")?;
        }
        Ok(())
    }
}

/// A parsed address: one or more file parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    /// The file parts, in order.
    pub files: Vec<FileAddress>,
}

/// Why an address is not acceptable; `at` is the byte offset of the problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressError {
    /// Byte offset in the address text; for [`Address::validate`], the index of the
    /// file part.
    pub at: usize,
    /// What is wrong.
    pub kind: AddressErrorKind,
}

/// What is wrong with an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressErrorKind {
    /// No file part.
    Empty,
    /// A file part does not start with `SSSE`, `MF` or `DFnn` followed by `EFnn`.
    BadFile,
    /// An item is not a two-digit hex tag (or `tag:nn`).
    BadItem,
    /// A record or occurrence is not a decimal number from 1 to 255.
    BadNumber,
    /// The profile has no such file.
    UnknownFile,
    /// The file has no item or group with this tag.
    UnknownItem,
    /// A record number on a file that is not a record file, or beyond its count; an
    /// occurrence beyond the group's count.
    OutOfRange,
    /// More than 64 file parts or 256 items.
    TooLong,
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            AddressErrorKind::Empty => "empty address",
            AddressErrorKind::BadFile => "file must be SSSE, MF or DFnn followed by EFnn",
            AddressErrorKind::BadItem => "item must be a 2-digit hex tag or tag:nn",
            AddressErrorKind::BadNumber => "record/occurrence must be a number from 1 to 255",
            AddressErrorKind::UnknownFile => "no such file in the card profile",
            AddressErrorKind::UnknownItem => "no such item in the file",
            AddressErrorKind::OutOfRange => "record or occurrence out of range",
            AddressErrorKind::TooLong => "address too long",
        };
        write!(f, "address: {what} (at byte {})", self.at)
    }
}

impl core::error::Error for AddressError {}

const MAX_FILES: usize = 64;
const MAX_ITEMS: usize = 256;

fn err(at: usize, kind: AddressErrorKind) -> AddressError {
    AddressError { at, kind }
}

fn hex2(text: &str) -> Option<u8> {
    if text.len() != 2 {
        return None;
    }
    u8::from_str_radix(text, 16).ok()
}

fn number(text: &str) -> Option<u8> {
    if text.is_empty() || text.len() > 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u8>().ok().filter(|n| *n > 0)
}

impl Address {
    /// Parses an address.
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        let mut files = Vec::new();
        let mut items_total = 0usize;
        let mut offset = 0usize;
        for part in text.split('$') {
            let start = offset;
            offset += part.len() + 1;
            if part.is_empty() {
                continue;
            }
            if files.len() == MAX_FILES {
                return Err(err(start, AddressErrorKind::TooLong));
            }
            let mut fields = part.split('|');
            let head = fields.next().unwrap_or_default();
            let (file, record) = match head.split_once(':') {
                Some((f, r)) => (
                    f,
                    Some(number(r).ok_or(err(start, AddressErrorKind::BadNumber))?),
                ),
                None => (head, None),
            };
            let (df, ef) = if let Some(ef) = file.strip_prefix("SSSEEF") {
                (DfSpelling::Ssse, ef)
            } else if let Some(ef) = file.strip_prefix("MFEF") {
                (DfSpelling::Mf, ef)
            } else if let Some(rest) = file.strip_prefix("DF") {
                let (n, ef) = rest
                    .split_at_checked(2)
                    .ok_or(err(start, AddressErrorKind::BadFile))?;
                let n = hex2(n).ok_or(err(start, AddressErrorKind::BadFile))?;
                let ef = ef
                    .strip_prefix("EF")
                    .ok_or(err(start, AddressErrorKind::BadFile))?;
                (DfSpelling::Df(n), ef)
            } else {
                return Err(err(start, AddressErrorKind::BadFile));
            };
            let ef = hex2(ef).ok_or(err(start, AddressErrorKind::BadFile))?;
            let mut items = Vec::new();
            let mut at = start + head.len() + 1;
            for field in fields {
                let here = at;
                at += field.len() + 1;
                if field.is_empty() {
                    continue;
                }
                items_total += 1;
                if items_total > MAX_ITEMS {
                    return Err(err(here, AddressErrorKind::TooLong));
                }
                let item = match field.split_once(':') {
                    Some((tag, occ)) => ItemRef::Group {
                        tag: hex2(tag).ok_or(err(here, AddressErrorKind::BadItem))?,
                        occurrence: number(occ).ok_or(err(here, AddressErrorKind::BadNumber))?,
                    },
                    None => ItemRef::Tag(hex2(field).ok_or(err(here, AddressErrorKind::BadItem))?),
                };
                items.push(item);
            }
            files.push(FileAddress {
                df,
                ef,
                record,
                items,
            });
        }
        if files.is_empty() {
            return Err(err(0, AddressErrorKind::Empty));
        }
        Ok(Self { files })
    }

    /// Checks every file and item against the profile.
    pub fn validate(&self, profile: &Profile) -> Result<(), AddressError> {
        for (at, file) in self.files.iter().enumerate() {
            let node = profile
                .node(&file.path())
                .filter(|n| n.kind == NodeKind::Ef)
                .ok_or(err(at, AddressErrorKind::UnknownFile))?;
            if let Some(r) = file.record {
                let record_file = matches!(
                    node.structure,
                    Some(Structure::Cyclic | Structure::FixedRecord)
                );
                if !record_file || node.record_count.is_none_or(|n| r > n) {
                    return Err(err(at, AddressErrorKind::OutOfRange));
                }
            }
            for item in &file.items {
                match *item {
                    ItemRef::Tag(tag) => {
                        if node.item_by_tag(tag).is_none() {
                            return Err(err(at, AddressErrorKind::UnknownItem));
                        }
                    }
                    ItemRef::Group { tag, occurrence } => {
                        let group = node
                            .group_by_tag(tag)
                            .ok_or(err(at, AddressErrorKind::UnknownItem))?;
                        if occurrence > group.occurrences {
                            return Err(err(at, AddressErrorKind::OutOfRange));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The output string: the address with `values` (one list per file part, one value
    /// per item, or one value for a record) in place of the items.
    pub fn format_values(&self, values: &[Vec<String>]) -> String {
        let mut out = String::new();
        for (file, vals) in self.files.iter().zip(values) {
            let _ = file.write_file(&mut out);
            for v in vals {
                out.push('|');
                out.push_str(v);
            }
            out.push_str("|$");
        }
        out
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for file in &self.files {
            file.write_file(f)?;
            for item in &file.items {
                match item {
                    ItemRef::Tag(t) => write!(f, "|{t:02X}")?,
                    ItemRef::Group { tag, occurrence } => write!(f, "|{tag:02X}:{occurrence:02}")?,
                }
            }
            if file.items.is_empty() && file.record.is_some() {
                f.write_str("$")?;
            } else {
                f.write_str("|$")?;
            }
        }
        Ok(())
    }
}
