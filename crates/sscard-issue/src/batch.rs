//! Holder batch files: one row per card holder, in CSV or JSON, validated row by row
//! and turned into the card images that personalisation writes (`spec/sscard.md` §1.2,
//! §1.3, §6.1).
//!
//! # Input
//!
//! * **CSV**: a header row naming the columns, then one row per holder. UTF-8 with or
//!   without a byte-order mark, or GBK by option ([`TextEncoding`]); fields may be
//!   quoted (`"…"`, with `""` for a quote inside); lines end in LF or CRLF. Rows whose
//!   fields are all empty (spreadsheet tails such as `,,,`) are skipped silently.
//! * **JSON**: an array of objects, one per holder, with the column names as keys and
//!   string values (`null` counts as absent; numbers are refused, since they lose the
//!   leading zeros of codes).
//!
//! Values are trimmed of surrounding white space. Header names are matched exactly,
//! then ASCII case-insensitively.
//!
//! # Columns
//!
//! The mapping from column names to card items is data ([`ColumnMap`]); the default
//! one ([`ColumnMap::standard`]) is:
//!
//! | column | card item | required | rule |
//! |---|---|---|---|
//! | `ssn` | EF06 `ssn` (08) | yes | GB 11643 ID: 17 digits + MOD 11-2 check character (`X`; `x` is upper-cased), region prefix of a real province, embedded birth date a real date |
//! | `name` | EF06 `name` (09) | yes | GBK-encodable, at most the item's length in GBK bytes |
//! | `name_ext` | EF06 `name_ext` (4E) | no | as the profile says (GBK, 20 bytes) |
//! | `gender` (or `sex`) | EF06 `sex` (0A) | yes | GB/T 2261.1: `0`, `1`, `2`, `9` (`男` → `1`, `女` → `2`); `1`/`2` must agree with the ID's 17th digit (odd: male) |
//! | `nation` (or `ethnicity`) | EF06 `ethnicity` (0B) | yes | GB 3304: two digits `01`–`56`, `97`, `98` |
//! | `birthplace` | EF06 `birthplace` (0C) | no | 6-digit region code; absent: the ID's first six digits |
//! | `birth_date` | EF06 `birth_date` (0D) | no | real date `YYYYMMDD`, equal to the ID's; absent: taken from the ID |
//! | `card_number` | EF05 `card_number` (07) | yes | exactly the item's length (9), upper-case ASCII letters and digits |
//! | `issue_date` | EF05 `issue_date` (05) | yes | real date `YYYYMMDD`, not before the birth date |
//! | `expiry_date` | EF05 `expiry_date` (06) | yes | real date `YYYYMMDD`, after the issue date |
//! | `region_code` | — | no | 6-digit region code of the issuing region; must be the card identification code's prefix (checked against the card in [`Holder::to_image`]) |
//! | `card_id` | EF05 `card_id` (01) | no | as the profile says (16 bytes hex), starting with `region_code` if both are given; absent: the batch engine gives each card its own from its chip ([`chip_card_id`], [`Holder::to_card_image`]) |
//! | `card_type`, `spec_version`, `init_org` | EF05 02, 03, 04 | no | as the profile says |
//! | `pan` | bank application `5A` | no (yes with a bank profile) | 16–19 digits, Luhn check digit |
//! | `psn` | bank application `5F34` | no | two digits; `01` when absent |
//!
//! Every item value is also encoded with the profile's item ([`sscard_fs::Item::encode`]),
//! so lengths and encodings are the profile's, not repeated here. A column missing from
//! the header or an unknown column refuses the whole batch ([`BatchError`]); a bad value
//! is a [`RowError`] with the row number and the reason. Two rows with the same ID
//! number or card number: the later one is reported ([`RowProblem::DuplicateSsn`],
//! [`RowProblem::DuplicateCardNumber`]); duplicates are looked for among rows that are
//! otherwise valid, so a bad row is reported for its own faults only. A row may have
//! several problems: each is one [`RowError`].
//!
//! # Modes
//!
//! [`Mode::SkipInvalid`] keeps the valid rows and reports the others; [`Mode::Strict`]
//! refuses the whole batch when any row is invalid ("Invalid rows are reported with
//! row number and reason and skipped, or the batch refuses to start, by flag", issue 7).

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use sscard_fs::codec::CodecError;
use sscard_fs::image::Value;
use sscard_fs::{Image, ImageError, Profile, SSSE_EF05, SSSE_EF06};

/// What a column feeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A card item: the file path in the profile and the item key.
    Item {
        /// File path (`SSSE/EF06`).
        file: Arc<str>,
        /// Item key (`name`).
        key: Arc<str>,
    },
    /// The issuing region's 6-digit code (checked against the card identification code).
    RegionCode,
    /// The bank application's PAN (`5A`): 16–19 digits with a Luhn check digit.
    Pan,
    /// The PAN sequence number (`5F34`): two digits; `01` when absent.
    Psn,
}

impl Target {
    fn item(file: &str, key: &str) -> Self {
        Self::Item {
            file: file.into(),
            key: key.into(),
        }
    }

    fn is(&self, file: &str, key: &str) -> bool {
        matches!(self, Self::Item { file: f, key: k } if &**f == file && &**k == key)
    }
}

/// The default columns: header name, file, item key.
const STANDARD_COLUMNS: &[(&str, &str, &str)] = &[
    ("ssn", SSSE_EF06, "ssn"),
    ("name", SSSE_EF06, "name"),
    ("name_ext", SSSE_EF06, "name_ext"),
    ("gender", SSSE_EF06, "sex"),
    ("sex", SSSE_EF06, "sex"),
    ("nation", SSSE_EF06, "ethnicity"),
    ("ethnicity", SSSE_EF06, "ethnicity"),
    ("birthplace", SSSE_EF06, "birthplace"),
    ("birth_date", SSSE_EF06, "birth_date"),
    ("card_number", SSSE_EF05, "card_number"),
    ("card_id", SSSE_EF05, "card_id"),
    ("card_type", SSSE_EF05, "card_type"),
    ("spec_version", SSSE_EF05, "spec_version"),
    ("init_org", SSSE_EF05, "init_org"),
    ("issue_date", SSSE_EF05, "issue_date"),
    ("expiry_date", SSSE_EF05, "expiry_date"),
];

/// Items every row must give (file, key); the others are optional or derived.
const REQUIRED: &[(&str, &str)] = &[
    (SSSE_EF06, "ssn"),
    (SSSE_EF06, "name"),
    (SSSE_EF06, "sex"),
    (SSSE_EF06, "ethnicity"),
    (SSSE_EF05, "card_number"),
    (SSSE_EF05, "issue_date"),
    (SSSE_EF05, "expiry_date"),
];

/// Column names and what they feed: data, so a card centre can add its own names
/// (`性别` for `sex`) without code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnMap {
    columns: Vec<(String, Target)>,
}

impl ColumnMap {
    /// The documented columns of this module (see the table in the module docs).
    pub fn standard() -> Self {
        let mut columns: Vec<(String, Target)> = STANDARD_COLUMNS
            .iter()
            .map(|(name, file, key)| ((*name).to_owned(), Target::item(file, key)))
            .collect();
        columns.push(("region_code".to_owned(), Target::RegionCode));
        columns.push(("pan".to_owned(), Target::Pan));
        columns.push(("psn".to_owned(), Target::Psn));
        Self { columns }
    }

    /// An empty map, to be filled with [`ColumnMap::with`].
    pub fn empty() -> Self {
        Self {
            columns: Vec::new(),
        }
    }

    /// Adds (or replaces) a column name feeding `file`/`key` of the profile.
    #[must_use]
    pub fn with(mut self, name: &str, file: &str, key: &str) -> Self {
        self.set(name, Target::item(file, key));
        self
    }

    /// Adds (or replaces) a column name for the region code.
    #[must_use]
    pub fn with_region_code(mut self, name: &str) -> Self {
        self.set(name, Target::RegionCode);
        self
    }

    fn set(&mut self, name: &str, target: Target) {
        self.columns.retain(|(n, _)| n != name);
        self.columns.push((name.to_owned(), target));
    }

    /// What the column `name` feeds: exact match first, then ASCII case-insensitive.
    pub fn lookup(&self, name: &str) -> Option<&Target> {
        self.columns
            .iter()
            .find(|(n, _)| n == name)
            .or_else(|| {
                self.columns
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
            })
            .map(|(_, t)| t)
    }

    /// The columns, in the order they were added.
    pub fn columns(&self) -> impl Iterator<Item = (&str, &Target)> {
        self.columns.iter().map(|(n, t)| (n.as_str(), t))
    }
}

impl Default for ColumnMap {
    fn default() -> Self {
        Self::standard()
    }
}

/// Text encoding of a batch file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TextEncoding {
    /// UTF-8, with or without a byte-order mark.
    #[default]
    Utf8,
    /// GBK (as Windows "ANSI" exports on Chinese systems write it).
    Gbk,
}

/// What to do with invalid rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Report invalid rows and keep the valid ones.
    #[default]
    SkipInvalid,
    /// Refuse the whole batch if any row is invalid.
    Strict,
}

/// Parsing options.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Invalid rows: skipped or fatal.
    pub mode: Mode,
    /// Text encoding of the file.
    pub encoding: TextEncoding,
    /// Column names.
    pub columns: ColumnMap,
}

impl Options {
    /// Strict mode, UTF-8, standard columns.
    pub fn strict() -> Self {
        Self {
            mode: Mode::Strict,
            ..Self::default()
        }
    }
}

/// Why one row was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RowProblem {
    /// The row has more or fewer fields than the header.
    #[error("{found} fields, the header has {expected}")]
    FieldCount {
        /// Fields in the header.
        expected: usize,
        /// Fields in the row.
        found: usize,
    },
    /// A JSON element is not an object.
    #[error("not a JSON object")]
    NotAnObject,
    /// A JSON key that no column has.
    #[error("unknown field {name}")]
    UnknownField {
        /// The key.
        name: String,
    },
    /// A JSON value that is not a string (or null).
    #[error("{column}: value must be a string")]
    NotText {
        /// The column.
        column: String,
    },
    /// The field's bytes are not valid in the file's encoding.
    #[error("{column}: not valid {encoding:?} text")]
    BadText {
        /// The column.
        column: String,
        /// The file's encoding.
        encoding: TextEncoding,
    },
    /// A required item has no value.
    #[error("{item} missing")]
    Missing {
        /// The item key.
        item: String,
    },
    /// The ID number is not 18 characters long.
    #[error("ID number has {found} characters, not 18")]
    SsnLength {
        /// Characters found.
        found: usize,
    },
    /// A character of the ID number is not a digit (nor the final `X`).
    #[error("ID number character {at} is not a digit")]
    SsnCharacter {
        /// 0-based character index.
        at: usize,
    },
    /// The ID number's check character is wrong (GB 11643, ISO 7064 MOD 11-2).
    #[error("ID number check character is {found}, expected {expected}")]
    SsnCheck {
        /// The check character the first 17 digits give.
        expected: char,
        /// The row's.
        found: char,
    },
    /// The ID number's first two digits are no province code.
    #[error("ID number region prefix {prefix} is not a province")]
    SsnRegion {
        /// The first six digits.
        prefix: String,
    },
    /// The ID number's digits 7–14 are not a real date.
    #[error("ID number birth date {date} is not a real date")]
    SsnBirthDate {
        /// The eight digits.
        date: String,
    },
    /// `birth_date` differs from the ID number's birth date.
    #[error("birth date {given} differs from the ID number's {in_ssn}")]
    BirthDateMismatch {
        /// The column's value.
        given: String,
        /// The ID's digits 7–14.
        in_ssn: String,
    },
    /// The gender code differs from the ID number's (17th digit odd: male).
    #[error("gender {given} differs from the ID number's")]
    GenderMismatch {
        /// The code given.
        given: char,
    },
    /// Not a GB/T 2261.1 gender code.
    #[error("gender {value} is not 0, 1, 2 or 9")]
    BadGender {
        /// The value.
        value: String,
    },
    /// Not a GB 3304 nationality code.
    #[error("nation {value} is not a GB 3304 code (01-56, 97, 98)")]
    BadNation {
        /// The value.
        value: String,
    },
    /// Not a real calendar date `YYYYMMDD`.
    #[error("{item} {value} is not a real date YYYYMMDD")]
    BadDate {
        /// The item key.
        item: String,
        /// The value.
        value: String,
    },
    /// The expiry date is not after the issue date.
    #[error("expiry date {expiry} is not after issue date {issue}")]
    ExpiryNotAfterIssue {
        /// Issue date.
        issue: String,
        /// Expiry date.
        expiry: String,
    },
    /// The issue date is before the birth date.
    #[error("issue date {issue} is before birth date {birth}")]
    IssueBeforeBirth {
        /// Issue date.
        issue: String,
        /// Birth date.
        birth: String,
    },
    /// Not a 6-digit region code of a real province.
    #[error("{item} {value} is not a 6-digit region code")]
    BadRegion {
        /// The item key (or `region_code`).
        item: String,
        /// The value.
        value: String,
    },
    /// A PAN that is not 16–19 digits with a valid Luhn check digit.
    #[error("PAN {value} is not 16-19 digits with a valid check digit")]
    BadPan {
        /// The value.
        value: String,
    },
    /// A PAN sequence number that is not two digits.
    #[error("PAN sequence number {value} is not two digits")]
    BadPsn {
        /// The value.
        value: String,
    },
    /// The card number does not have the profile's form.
    #[error("card number {value} is not {length} upper-case letters or digits")]
    BadCardNumber {
        /// The value.
        value: String,
        /// The item's length.
        length: usize,
    },
    /// The card identification code does not start with the region code.
    #[error("card_id does not start with region code {region}")]
    CardIdRegion {
        /// The region code.
        region: String,
    },
    /// The value does not fit the profile's item (too long, wrong characters).
    #[error("{item}: {problem}")]
    Item {
        /// The item key.
        item: String,
        /// What the codec says.
        problem: CodecError,
    },
    /// The profile has no such item (a custom column map naming an unknown item).
    #[error("the profile has no item {file}/{item}")]
    UnknownItem {
        /// File path.
        file: String,
        /// Item key.
        item: String,
    },
    /// An earlier row has the same ID number.
    #[error("ID number already in row {first_row}")]
    DuplicateSsn {
        /// The earlier row.
        first_row: usize,
    },
    /// An earlier row has the same card number.
    #[error("card number already in row {first_row}")]
    DuplicateCardNumber {
        /// The earlier row.
        first_row: usize,
    },
}

/// One refused row.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("row {row}{}: {problem}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
pub struct RowError {
    /// 1-based holder row: the n-th data row of a CSV file (the header not counted),
    /// the n-th element of a JSON array.
    pub row: usize,
    /// The CSV line the row starts on (the header is line 1); `None` for JSON.
    pub line: Option<u64>,
    /// Why.
    pub problem: RowProblem,
}

/// Why a whole batch was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// The file has no header row.
    #[error("the batch has no header row")]
    NoHeader,
    /// The header is not valid text in the file's encoding.
    #[error("the header row is not valid {0:?} text")]
    HeaderEncoding(TextEncoding),
    /// A header name that the column map does not know.
    #[error("unknown column {name}")]
    UnknownColumn {
        /// The header name.
        name: String,
    },
    /// Two header names feed the same item.
    #[error("column {name} given twice")]
    DuplicateColumn {
        /// The second header name.
        name: String,
    },
    /// No column feeds a required item.
    #[error("no column for {item}")]
    MissingColumn {
        /// The item key.
        item: String,
    },
    /// The CSV reader failed.
    #[error("CSV syntax error near line {line}")]
    Csv {
        /// Line, when known (0 otherwise).
        line: u64,
    },
    /// A JSON file that is not valid text in its encoding.
    #[error("the JSON batch is not valid {0:?} text")]
    Encoding(TextEncoding),
    /// Not JSON.
    #[error("JSON syntax error at line {line}, column {column}")]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// JSON, but not an array.
    #[error("a JSON batch is an array of objects")]
    NotAnArray,
    /// Strict mode and some rows are invalid.
    #[error("{} invalid rows; the batch refuses to start", errors.len())]
    Refused {
        /// Every invalid row.
        errors: Vec<RowError>,
    },
}

/// Why a holder's card image could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ToImageError {
    /// The card was pre-issued for another region: its identification code does not
    /// start with the holder's region code.
    #[error("card identification code {card_id} is not of region {region}")]
    RegionMismatch {
        /// The holder's region code.
        region: String,
        /// The card's identification code.
        card_id: String,
    },
    /// The image does not fit the profile (an item the base lacks, a bad value).
    #[error(transparent)]
    Image(#[from] ImageError),
    /// No card identification code can be made for the card: the template's code is
    /// shorter than region and application identifier, or the ATR shorter than 8 bytes.
    #[error("no card identification code from template {template} and ATR {atr}")]
    ChipCardId {
        /// The template's card identification code.
        template: String,
        /// The card's ATR, hex.
        atr: String,
    },
}

/// The card identification code (卡识别码) of a card whose batch row gives none:
/// `region ‖ template[6..16] ‖ the ATR's last 8 bytes in hex`.
///
/// `sscard.md` §1.2 gives the code's pattern — the 6-digit region code, `D156000005`,
/// then 16 card-unique hex digits — but not how the tail is made \[U\]. Taking it from the
/// chip is ours: the ATR's last 8 bytes are the chip's own (its serial on the cards the
/// emulator models) and already its card-level diversification factor (§3.3), so the
/// code is unique per chip, stable across a resumed issuance, and readable back from
/// the card. A card centre that assigns codes itself gives the `card_id` column.
/// `None` when `template` has fewer than 16 characters or `atr` fewer than 8 bytes.
pub fn chip_card_id(region: &str, template: &str, atr: &[u8]) -> Option<String> {
    let middle = template.get(6..16)?;
    let tail = atr.get(atr.len().checked_sub(8)?..)?;
    Some(format!(
        "{region}{middle}{}",
        sscard_apdu::hex::to_string(tail)
    ))
}

/// One valid holder row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    row: usize,
    ssn: String,
    card_number: String,
    region_code: Option<String>,
    pan: Option<String>,
    psn: u8,
    items: Vec<(Arc<str>, Arc<str>, String)>,
}

impl Holder {
    /// The 1-based row of the batch this holder came from.
    pub fn row(&self) -> usize {
        self.row
    }

    /// The holder's key: the ID number (社会保障号码).
    pub fn ssn(&self) -> &str {
        &self.ssn
    }

    /// The card number to write.
    pub fn card_number(&self) -> &str {
        &self.card_number
    }

    /// The issuing region, when the batch names one.
    pub fn region_code(&self) -> Option<&str> {
        self.region_code.as_deref()
    }

    /// The bank application's PAN, when the batch gives one.
    pub fn pan(&self) -> Option<&str> {
        self.pan.as_deref()
    }

    /// The PAN sequence number (`01` unless the batch says otherwise).
    pub fn psn(&self) -> u8 {
        self.psn
    }

    /// The value for item `key` of `file`, after defaults (birth date and birthplace
    /// from the ID number).
    pub fn value(&self, file: &str, key: &str) -> Option<&str> {
        self.items
            .iter()
            .find(|(f, k, _)| &**f == file && &**k == key)
            .map(|(_, _, v)| v.as_str())
    }

    /// Every item value: file, key, value.
    pub fn values(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.items.iter().map(|(f, k, v)| (&**f, &**k, v.as_str()))
    }

    /// The card image to personalise: `base` (the card as pre-issued, or a template
    /// with the items the batch does not give, such as `card_id` and `spec_version`)
    /// with this holder's EF05/EF06 items set; EF06 items of the base that the batch
    /// does not give are emptied. The EF05 and EF06 records are encoded
    /// once with the profile to prove the image can be written.
    pub fn to_image(&self, base: &Image, profile: &Profile) -> Result<Image, ToImageError> {
        self.image_from(base.clone(), profile)
    }

    /// [`Self::to_image`] for the card with answer to reset `atr`, which the image
    /// records: when the row gives no `card_id`, the card gets its own identification
    /// code ([`chip_card_id`]: the row's region, else the template's, and the chip's
    /// ATR tail) instead of the template's, which every card of the batch would
    /// otherwise share. What the batch engine personalises.
    pub fn to_card_image(
        &self,
        base: &Image,
        profile: &Profile,
        atr: &[u8],
    ) -> Result<Image, ToImageError> {
        let template = base
            .files
            .get(SSSE_EF05)
            .and_then(|f| f.get("card_id"))
            .and_then(Value::as_text);
        let (Some(template), None) = (template, self.value(SSSE_EF05, "card_id")) else {
            let mut image = base.clone();
            image.atr = sscard_apdu::hex::to_string(atr);
            return self.image_from(image, profile);
        };
        let region = self
            .region_code
            .as_deref()
            .or_else(|| template.get(..6))
            .unwrap_or_default();
        let card_id =
            chip_card_id(region, template, atr).ok_or_else(|| ToImageError::ChipCardId {
                template: template.to_owned(),
                atr: sscard_apdu::hex::to_string(atr),
            })?;
        let mut image = base.clone();
        image.atr = sscard_apdu::hex::to_string(atr);
        image
            .files
            .entry(String::from(SSSE_EF05))
            .or_default()
            .insert("card_id".into(), Value::Text(card_id));
        self.image_from(image, profile)
    }

    fn image_from(&self, mut image: Image, profile: &Profile) -> Result<Image, ToImageError> {
        // EF06 is the holder's alone: nothing of the base's holder may leak through
        // (an optional item the batch leaves out, such as the name extension, is
        // written empty).
        if let Some(ef06) = image.files.get_mut(SSSE_EF06) {
            for value in ef06.values_mut() {
                *value = Value::Text(String::new());
            }
        }
        for (file, key, value) in &self.items {
            image
                .files
                .entry(String::from(&**file))
                .or_default()
                .insert(String::from(&**key), Value::Text(value.clone()));
        }
        if let Some(region) = &self.region_code {
            let card_id = image
                .files
                .get(SSSE_EF05)
                .and_then(|f| f.get("card_id"))
                .and_then(Value::as_text);
            if let Some(card_id) = card_id {
                if !card_id.starts_with(region.as_str()) {
                    return Err(ToImageError::RegionMismatch {
                        region: region.clone(),
                        card_id: card_id.to_owned(),
                    });
                }
            }
        }
        image.records(profile, SSSE_EF05)?;
        image.records(profile, SSSE_EF06)?;
        Ok(image)
    }
}

/// A parsed batch: the valid holders in file order, the refused rows, and the hash
/// that identifies the file in the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Valid holders, in file order.
    pub holders: Vec<Holder>,
    /// Refused rows (empty in strict mode, which refuses the batch instead).
    pub errors: Vec<RowError>,
    /// SHA-256 of the file's bytes, lower-case hex: the batch identity the journal
    /// records.
    pub hash: String,
}

impl Batch {
    /// Parses a CSV batch (see the module docs).
    pub fn parse_csv(
        bytes: &[u8],
        profile: &Profile,
        options: &Options,
    ) -> Result<Self, BatchError> {
        let hash = content_hash(bytes);
        let body = strip_bom(bytes, options.encoding);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(body);
        let mut record = csv::ByteRecord::new();
        let csv_error = |e: csv::Error| BatchError::Csv {
            line: e.position().map_or(0, csv::Position::line),
        };
        if !reader.read_byte_record(&mut record).map_err(csv_error)? {
            return Err(BatchError::NoHeader);
        }
        let mut header = Vec::with_capacity(record.len());
        for field in &record {
            let name = decode(field, options.encoding)
                .ok_or(BatchError::HeaderEncoding(options.encoding))?;
            header.push(name.trim().to_owned());
        }
        let columns = Columns::new(&header, &options.columns)?;
        let mut prep = Preparer::new(profile, options);
        let mut row = 0usize;
        let (mut line_no, mut counted_to) = (1u64, 0usize);
        let mut values: Vec<Option<String>> = Vec::with_capacity(header.len());
        while reader.read_byte_record(&mut record).map_err(csv_error)? {
            row += 1;
            // Lines counted here: the CSV reader's own count skips CRLF lines.
            let line = record.position().map(|p| {
                let mut at = usize::try_from(p.byte())
                    .unwrap_or(usize::MAX)
                    .min(body.len());
                // The reported start may be the LF of the previous CRLF.
                while body.get(at).is_some_and(|b| *b == b'\r' || *b == b'\n') {
                    at += 1;
                }
                let newlines = body
                    .get(counted_to..at)
                    .map_or(0, |s| s.iter().filter(|b| **b == b'\n').count());
                line_no += u64::try_from(newlines).unwrap_or(0);
                counted_to = counted_to.max(at);
                line_no
            });
            if record.iter().all(|f| f.trim_ascii().is_empty()) {
                continue;
            }
            if record.len() != header.len() {
                prep.reject(
                    row,
                    line,
                    RowProblem::FieldCount {
                        expected: header.len(),
                        found: record.len(),
                    },
                );
                continue;
            }
            values.clear();
            let mut bad = None;
            for (field, name) in record.iter().zip(&header) {
                match decode(field, options.encoding) {
                    Some(text) => {
                        let text = text.trim();
                        values.push((!text.is_empty()).then(|| text.to_owned()));
                    }
                    None => {
                        bad = Some(name);
                        break;
                    }
                }
            }
            if let Some(column) = bad {
                prep.reject(
                    row,
                    line,
                    RowProblem::BadText {
                        column: column.clone(),
                        encoding: options.encoding,
                    },
                );
                continue;
            }
            let row_values = columns.targets.iter().copied().zip(values.drain(..));
            prep.row(row, line, row_values);
        }
        prep.finish(hash)
    }

    /// Parses a JSON batch: an array of objects (see the module docs).
    pub fn parse_json(
        bytes: &[u8],
        profile: &Profile,
        options: &Options,
    ) -> Result<Self, BatchError> {
        let hash = content_hash(bytes);
        let body = strip_bom(bytes, options.encoding);
        let text = decode(body, options.encoding).ok_or(BatchError::Encoding(options.encoding))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| BatchError::Json {
                line: e.line(),
                column: e.column(),
            })?;
        let serde_json::Value::Array(rows) = value else {
            return Err(BatchError::NotAnArray);
        };
        let mut prep = Preparer::new(profile, options);
        for (row, element) in (1usize..).zip(rows) {
            let serde_json::Value::Object(object) = element else {
                prep.reject(row, None, RowProblem::NotAnObject);
                continue;
            };
            let mut values = Vec::with_capacity(object.len());
            let mut problem = None;
            for (name, value) in object {
                let Some(target) = options.columns.lookup(&name) else {
                    problem = Some(RowProblem::UnknownField { name });
                    break;
                };
                match value {
                    serde_json::Value::Null => {}
                    serde_json::Value::String(s) => {
                        let t = s.trim();
                        if !t.is_empty() {
                            let t = if t.len() == s.len() { s } else { t.to_owned() };
                            values.push((target, Some(t)));
                        }
                    }
                    _ => {
                        problem = Some(RowProblem::NotText { column: name });
                        break;
                    }
                }
            }
            match problem {
                Some(p) => prep.reject(row, None, p),
                None => prep.row(row, None, values.into_iter()),
            }
        }
        prep.finish(hash)
    }

    /// The holder keys (ID numbers) in batch order, as the journal wants them.
    pub fn keys(&self) -> Vec<String> {
        self.holders.iter().map(|h| h.ssn.clone()).collect()
    }
}

/// The header's columns, resolved.
struct Columns<'m> {
    targets: Vec<&'m Target>,
}

impl<'m> Columns<'m> {
    fn new(header: &[String], map: &'m ColumnMap) -> Result<Self, BatchError> {
        let mut targets: Vec<&Target> = Vec::with_capacity(header.len());
        for name in header {
            let target = map
                .lookup(name)
                .ok_or_else(|| BatchError::UnknownColumn { name: name.clone() })?;
            if targets.contains(&target) {
                return Err(BatchError::DuplicateColumn { name: name.clone() });
            }
            targets.push(target);
        }
        for (file, key) in REQUIRED {
            if !targets.iter().any(|t| t.is(file, key)) {
                return Err(BatchError::MissingColumn {
                    item: (*key).to_owned(),
                });
            }
        }
        Ok(Self { targets })
    }
}

/// Row validation state: the holders so far and the duplicate indexes.
struct Preparer<'a> {
    profile: &'a Profile,
    mode: Mode,
    holders: Vec<Holder>,
    errors: Vec<RowError>,
    ssns: HashMap<String, usize>,
    card_numbers: HashMap<String, usize>,
    /// Interned file and key names, so holders share them.
    ef06: Arc<str>,
    birth_date: Arc<str>,
    birthplace: Arc<str>,
}

impl<'a> Preparer<'a> {
    fn new(profile: &'a Profile, options: &Options) -> Self {
        Self {
            profile,
            mode: options.mode,
            holders: Vec::new(),
            errors: Vec::new(),
            ssns: HashMap::new(),
            card_numbers: HashMap::new(),
            ef06: SSSE_EF06.into(),
            birth_date: "birth_date".into(),
            birthplace: "birthplace".into(),
        }
    }

    fn reject(&mut self, row: usize, line: Option<u64>, problem: RowProblem) {
        self.errors.push(RowError { row, line, problem });
    }

    /// Validates one row given as (target, value) pairs; absent values are `None`.
    fn row<'t>(
        &mut self,
        row: usize,
        line: Option<u64>,
        values: impl Iterator<Item = (&'t Target, Option<String>)>,
    ) {
        let mut problems = Vec::new();
        let mut items: Vec<(Arc<str>, Arc<str>, String)> = Vec::with_capacity(16);
        let mut region_code = None;
        let mut pan = None;
        let mut psn = 1u8;
        for (target, value) in values {
            let Some(value) = value else { continue };
            match target {
                Target::Pan => {
                    if !is_pan(&value) {
                        problems.push(RowProblem::BadPan {
                            value: value.clone(),
                        });
                    }
                    pan = Some(value);
                }
                Target::Psn => match (value.len(), value.parse::<u8>()) {
                    (2, Ok(n)) if value.bytes().all(|b| b.is_ascii_digit()) => psn = n,
                    _ => problems.push(RowProblem::BadPsn {
                        value: value.clone(),
                    }),
                },
                Target::RegionCode => {
                    if !is_region(&value) {
                        problems.push(RowProblem::BadRegion {
                            item: "region_code".to_owned(),
                            value: value.clone(),
                        });
                    }
                    region_code = Some(value);
                }
                Target::Item { file, key } => items.push((file.clone(), key.clone(), value)),
            }
        }
        let find = |items: &[(Arc<str>, Arc<str>, String)], file: &str, key: &str| {
            items
                .iter()
                .position(|(f, k, _)| &**f == file && &**k == key)
        };
        for (file, key) in REQUIRED {
            if find(&items, file, key).is_none() {
                problems.push(RowProblem::Missing {
                    item: (*key).to_owned(),
                });
            }
        }
        // The ID number and what derives from it.
        let mut ssn = String::new();
        if let Some(i) = find(&items, SSSE_EF06, "ssn") {
            if let Some((_, _, value)) = items.get_mut(i) {
                if value.ends_with('x') {
                    value.pop();
                    value.push('X');
                }
                ssn.clone_from(value);
            }
            match check_ssn(&ssn) {
                Ok(()) => {
                    let in_ssn = ssn.get(6..14).unwrap_or_default();
                    match find(&items, SSSE_EF06, "birth_date").and_then(|i| items.get(i)) {
                        Some((_, _, given)) => {
                            if given != in_ssn {
                                problems.push(RowProblem::BirthDateMismatch {
                                    given: given.clone(),
                                    in_ssn: in_ssn.to_owned(),
                                });
                            }
                        }
                        None => items.push((
                            self.ef06.clone(),
                            self.birth_date.clone(),
                            in_ssn.to_owned(),
                        )),
                    }
                    if find(&items, SSSE_EF06, "birthplace").is_none() {
                        let prefix = ssn.get(..6).unwrap_or_default().to_owned();
                        items.push((self.ef06.clone(), self.birthplace.clone(), prefix));
                    }
                    let male = ssn.as_bytes().get(16).is_some_and(|d| (d - b'0') % 2 == 1);
                    if let Some(i) = find(&items, SSSE_EF06, "sex") {
                        if let Some((_, _, g)) = items.get_mut(i) {
                            normalise_gender(g);
                            let consistent = match g.as_str() {
                                "1" => male,
                                "2" => !male,
                                _ => true,
                            };
                            if !consistent {
                                problems.push(RowProblem::GenderMismatch {
                                    given: g.chars().next().unwrap_or('?'),
                                });
                            }
                        }
                    }
                }
                Err(p) => problems.push(p),
            }
        }
        // Item rules and the profile's encodings.
        for (file, key, value) in &items {
            if let Some(p) = self.check_item(file, key, value) {
                problems.push(p);
            }
        }
        let get = |file: &str, key: &str| {
            find(&items, file, key)
                .and_then(|i| items.get(i))
                .map(|(_, _, v)| v.as_str())
        };
        let issue = get(SSSE_EF05, "issue_date").filter(|d| is_date(d));
        let expiry = get(SSSE_EF05, "expiry_date").filter(|d| is_date(d));
        let birth = get(SSSE_EF06, "birth_date").filter(|d| is_date(d));
        if let (Some(issue), Some(expiry)) = (issue, expiry) {
            if expiry <= issue {
                problems.push(RowProblem::ExpiryNotAfterIssue {
                    issue: issue.to_owned(),
                    expiry: expiry.to_owned(),
                });
            }
        }
        if let (Some(issue), Some(birth)) = (issue, birth) {
            if issue < birth {
                problems.push(RowProblem::IssueBeforeBirth {
                    issue: issue.to_owned(),
                    birth: birth.to_owned(),
                });
            }
        }
        if let (Some(region), Some(card_id)) = (&region_code, get(SSSE_EF05, "card_id")) {
            if !card_id.starts_with(region.as_str()) {
                problems.push(RowProblem::CardIdRegion {
                    region: region.clone(),
                });
            }
        }
        let card_number = get(SSSE_EF05, "card_number").unwrap_or_default().to_owned();
        if problems.is_empty() {
            // Duplicates only among otherwise valid rows: a bad row is reported once.
            match self.ssns.entry(ssn.clone()) {
                Entry::Occupied(e) => problems.push(RowProblem::DuplicateSsn {
                    first_row: *e.get(),
                }),
                Entry::Vacant(e) => {
                    e.insert(row);
                }
            }
            match self.card_numbers.entry(card_number.clone()) {
                Entry::Occupied(e) => problems.push(RowProblem::DuplicateCardNumber {
                    first_row: *e.get(),
                }),
                Entry::Vacant(e) => {
                    e.insert(row);
                }
            }
        }
        if problems.is_empty() {
            self.holders.push(Holder {
                row,
                ssn,
                card_number,
                region_code,
                pan,
                psn,
                items,
            });
        } else {
            self.errors.extend(
                problems
                    .into_iter()
                    .map(|problem| RowError { row, line, problem }),
            );
        }
    }

    /// The rule of one item, then the profile's encoding of it.
    fn check_item(&self, file: &str, key: &str, value: &str) -> Option<RowProblem> {
        let Some(item) = self.profile.node(file).and_then(|n| n.item(key)) else {
            return Some(RowProblem::UnknownItem {
                file: file.to_owned(),
                item: key.to_owned(),
            });
        };
        let rule = match (file, key) {
            (SSSE_EF06, "ssn") => None, // checked above
            (SSSE_EF06, "sex") => {
                (!matches!(value, "0" | "1" | "2" | "9")).then(|| RowProblem::BadGender {
                    value: value.to_owned(),
                })
            }
            (SSSE_EF06, "ethnicity") => (!is_nation(value)).then(|| RowProblem::BadNation {
                value: value.to_owned(),
            }),
            (SSSE_EF06, "birthplace") => (!is_region(value)).then(|| RowProblem::BadRegion {
                item: key.to_owned(),
                value: value.to_owned(),
            }),
            (SSSE_EF06, "birth_date") | (SSSE_EF05, "issue_date" | "expiry_date") => {
                (!is_date(value)).then(|| RowProblem::BadDate {
                    item: key.to_owned(),
                    value: value.to_owned(),
                })
            }
            (SSSE_EF05, "card_number") => {
                let ok = value.len() == item.length
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
                (!ok).then(|| RowProblem::BadCardNumber {
                    value: value.to_owned(),
                    length: item.length,
                })
            }
            _ => None,
        };
        if rule.is_some() {
            return rule;
        }
        item.encode(value).err().map(|problem| RowProblem::Item {
            item: key.to_owned(),
            problem,
        })
    }

    fn finish(self, hash: String) -> Result<Batch, BatchError> {
        if self.mode == Mode::Strict && !self.errors.is_empty() {
            return Err(BatchError::Refused {
                errors: self.errors,
            });
        }
        Ok(Batch {
            holders: self.holders,
            errors: self.errors,
            hash,
        })
    }
}

/// `男`/`女` to the GB/T 2261.1 codes.
fn normalise_gender(value: &mut String) {
    let code = match value.as_str() {
        "男" => "1",
        "女" => "2",
        _ => return,
    };
    value.clear();
    value.push_str(code);
}

/// The GB 11643 check character of the first 17 digits (ISO 7064 MOD 11-2): the
/// weighted sum with weights 2^(17-i) mod 11 = 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2,
/// then `(12 - sum mod 11) mod 11`, with 10 written `X`. `None` unless `digits` is
/// exactly 17 ASCII digits.
pub fn gb11643_check_character(digits: &[u8]) -> Option<char> {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    if digits.len() != 17 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = digits
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    let index = usize::try_from(sum % 11).ok()?;
    CHECK.get(index).map(|b| char::from(*b))
}

/// The checks on an 18-character ID number (GB 11643).
fn check_ssn(ssn: &str) -> Result<(), RowProblem> {
    let chars = ssn.chars().count();
    if chars != 18 {
        return Err(RowProblem::SsnLength { found: chars });
    }
    let bytes = ssn.as_bytes();
    if let Some(at) = bytes
        .iter()
        .enumerate()
        .position(|(i, b)| !(b.is_ascii_digit() || (i == 17 && *b == b'X')))
    {
        return Err(RowProblem::SsnCharacter { at });
    }
    let body = bytes.get(..17).unwrap_or_default();
    let found = bytes.get(17).map_or('?', |b| char::from(*b));
    let expected = gb11643_check_character(body).unwrap_or('?');
    if expected != found {
        return Err(RowProblem::SsnCheck { expected, found });
    }
    let prefix = ssn.get(..6).unwrap_or_default();
    if !is_region(prefix) {
        return Err(RowProblem::SsnRegion {
            prefix: prefix.to_owned(),
        });
    }
    let date = ssn.get(6..14).unwrap_or_default();
    if !is_date(date) {
        return Err(RowProblem::SsnBirthDate {
            date: date.to_owned(),
        });
    }
    Ok(())
}

/// Province-level codes of GB/T 2260 (and 71 Taiwan, 81–83 for the residence permits
/// of Hong Kong, Macao and Taiwan residents).
const PROVINCES: &[u8] = &[
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83,
];

/// Six digits whose first two are a province code.
fn is_region(value: &str) -> bool {
    let b = value.as_bytes();
    if b.len() != 6 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    match (b.first(), b.get(1)) {
        (Some(hi), Some(lo)) => PROVINCES.contains(&((hi - b'0') * 10 + (lo - b'0'))),
        _ => false,
    }
}

/// GB 3304 nationality codes: 01–56, 97 (other), 98 (foreign-born naturalised).
fn is_nation(value: &str) -> bool {
    let b = value.as_bytes();
    if b.len() != 2 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let n = b.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    (1..=56).contains(&n) || n == 97 || n == 98
}

/// Whether `value` is a PAN: 16–19 ASCII digits whose last is the Luhn check digit.
pub fn is_pan(value: &str) -> bool {
    if !(16..=19).contains(&value.len()) || !value.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = value
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            match (i % 2 == 1, d * 2) {
                (true, d2) if d2 > 9 => d2 - 9,
                (true, d2) => d2,
                (false, _) => d,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A real Gregorian date `YYYYMMDD` from 1850 to 2999.
pub fn is_date(value: &str) -> bool {
    let b = value.as_bytes();
    if b.len() != 8 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let num = |r: core::ops::Range<usize>| {
        b.get(r)
            .unwrap_or_default()
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
    };
    let (year, month, day) = (num(0..4), num(4..6), num(6..8));
    if !(1850..=2999).contains(&year) {
        return false;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

fn strip_bom(bytes: &[u8], encoding: TextEncoding) -> &[u8] {
    match encoding {
        TextEncoding::Utf8 => bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes),
        TextEncoding::Gbk => bytes,
    }
}

/// Field bytes to text; ASCII needs no table.
fn decode(bytes: &[u8], encoding: TextEncoding) -> Option<std::borrow::Cow<'_, str>> {
    if bytes.is_ascii() {
        return std::str::from_utf8(bytes).ok().map(Into::into);
    }
    match encoding {
        TextEncoding::Utf8 => std::str::from_utf8(bytes).ok().map(Into::into),
        TextEncoding::Gbk => sscard_fs::gbk::decode(bytes).map(Into::into),
    }
}

/// SHA-256 of the file, lower-case hex.
fn content_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest.iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}
