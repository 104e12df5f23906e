//! The social security card's application directory (社会保障卡应用目录), as data with
//! provenance.
//!
//! # Layers
//!
//! Data only, beside the card layers: it knows which card capabilities each use needs
//! (basic read, PIN, DF reads and writes, card authentication, the bank application,
//! the electronic card's QR token), and [`check`] matches them against facts about a
//! card and a terminal that the caller reads with `sscard-ssse`.
//!
//! The official 102-item list is not public. The built-in directory
//! (`apdu-specs/appdir/provisional.json`) is a provisional seed of 28 attested card uses,
//! each with its sources; no item claims official provenance. [`Directory::replace`]
//! loads the official list (same schema) and reports what changed.
//!
//! # Features
//!
//! * `std` (default). Without it: `no_std` with `alloc`.
//!
//! # Testing
//!
//! `tests/directory.rs`: counts per category and provenance, queries, the replacement
//! diff, and the check against 2nd- and 3rd-generation cards with and without a security
//! module.
#![cfg_attr(not(any(test, feature = "std")), no_std)]

extern crate alloc;

pub mod qr;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

/// The built-in provisional directory.
pub const PROVISIONAL_JSON: &str = include_str!("../../../apdu-specs/appdir/provisional.json");

/// The schema identifier of directory files.
pub const SCHEMA: &str = "sscard-appdir/1";

/// How a card use works (the seven application modes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Mode {
    /// 身份凭证: identity credential.
    #[serde(rename = "身份凭证")]
    Identity,
    /// 缴费: payment of contributions or fees.
    #[serde(rename = "缴费")]
    Payment,
    /// 待遇领取: benefits paid into the card's bank account.
    #[serde(rename = "待遇领取")]
    Benefit,
    /// 就医结算: medical (work-injury) settlement.
    #[serde(rename = "就医结算")]
    Medical,
    /// 信息记录: information recorded on the card or the back end.
    #[serde(rename = "信息记录")]
    Record,
    /// 自助查询: self-service query.
    #[serde(rename = "自助查询")]
    Query,
    /// 金融支付: bank payment.
    #[serde(rename = "金融支付")]
    Bank,
}

/// Which credential a use accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Form {
    /// The physical card.
    Physical,
    /// The electronic social security card (电子社保卡) and its QR code.
    ESsc,
}

/// What a use needs from card and terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Capability {
    /// Read EF05/EF06 (on 3.0 cards after authentication through a PSAM or HSM).
    ReadBasic,
    /// PIN entry on the terminal and VERIFY.
    VerifyPin,
    /// Read files of application DF `n`.
    ReadDf(u8),
    /// Write files of application DF `n` (update keys through a PSAM or HSM).
    WriteDf(u8),
    /// Internal/external authentication through a PSAM or HSM.
    CardAuth,
    /// Medical-purse debit (DF04, PSAM).
    MedicalDebit,
    /// The card's bank (PBOC/UnionPay) application.
    BankApp,
    /// PKI signature (3rd generation).
    PkiSign,
    /// Resolving the electronic card's QR token online.
    EsscQr,
    /// Contactless reading.
    Contactless,
}

impl Capability {
    fn parse(text: &str) -> Option<Self> {
        let df = |p: &str| {
            text.strip_prefix(p)
                .and_then(|n| u8::from_str_radix(n, 16).ok())
        };
        Some(match text {
            "read-basic" => Self::ReadBasic,
            "verify-pin" => Self::VerifyPin,
            "card-auth" => Self::CardAuth,
            "medical-debit" => Self::MedicalDebit,
            "bank-app" => Self::BankApp,
            "pki-sign" => Self::PkiSign,
            "essc-qr" => Self::EsscQr,
            "contactless" => Self::Contactless,
            _ => {
                if let Some(n) = df("read-df") {
                    Self::ReadDf(n)
                } else {
                    Self::WriteDf(df("write-df")?)
                }
            }
        })
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReadBasic => f.write_str("read-basic"),
            Self::VerifyPin => f.write_str("verify-pin"),
            Self::ReadDf(n) => write!(f, "read-df{n:02X}"),
            Self::WriteDf(n) => write!(f, "write-df{n:02X}"),
            Self::CardAuth => f.write_str("card-auth"),
            Self::MedicalDebit => f.write_str("medical-debit"),
            Self::BankApp => f.write_str("bank-app"),
            Self::PkiSign => f.write_str("pki-sign"),
            Self::EsscQr => f.write_str("essc-qr"),
            Self::Contactless => f.write_str("contactless"),
        }
    }
}

impl Serialize for Capability {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Capability {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).ok_or_else(|| serde::de::Error::custom("unknown capability"))
    }
}

/// Where an entry comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provenance {
    /// From the official MOHRSS directory.
    Official,
    /// Attributed to the card by a cited source.
    Attested,
    /// Neither: a placeholder to be confirmed.
    Provisional,
}

/// One application (card use).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    /// Identifier (`P-xx` for sscard's provisional entries).
    pub id: String,
    /// Category (就业创业, 社会保险, 人事人才, 劳动关系, 综合).
    pub category: String,
    /// Chinese name as the source phrases it.
    pub name_zh: String,
    /// English gloss.
    pub name_en: String,
    /// Modes.
    pub modes: Vec<Mode>,
    /// Credentials accepted.
    pub forms: Vec<Form>,
    /// What the use needs.
    pub capabilities: Vec<Capability>,
    /// Provenance.
    pub provenance: Provenance,
    /// Source URLs.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Remarks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Which list this is.
    pub directory_version: String,
    /// `provisional` or `official`.
    pub status: String,
    /// The entries.
    pub items: Vec<App>,
}

/// Why a directory file is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DirectoryError {
    /// Not JSON of the directory shape.
    Syntax {
        /// 1-based line.
        line: usize,
    },
    /// `schema` is not [`SCHEMA`].
    UnknownSchema,
    /// Two entries share an id.
    DuplicateId(String),
    /// An attested entry without a source.
    UnsourcedAttestation(String),
}

impl fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax { line } => write!(
                f,
                "directory is not valid JSON of the directory schema (line {line})"
            ),
            Self::UnknownSchema => write!(f, "directory schema is not {SCHEMA}"),
            Self::DuplicateId(id) => write!(f, "directory lists {id} twice"),
            Self::UnsourcedAttestation(id) => {
                write!(f, "{id} is marked attested but names no source")
            }
        }
    }
}

impl core::error::Error for DirectoryError {}

/// What replacing a directory changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// Ids only in the new directory.
    pub added: Vec<String>,
    /// Ids only in the old one.
    pub removed: Vec<String>,
    /// Ids in both whose entry differs.
    pub changed: Vec<String>,
}

/// Counts of a directory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Entries in all.
    pub total: usize,
    /// Entries per category.
    pub by_category: BTreeMap<String, usize>,
    /// Entries per provenance.
    pub by_provenance: BTreeMap<String, usize>,
}

impl Directory {
    /// Parses and checks a directory file.
    pub fn from_json(text: &str) -> Result<Self, DirectoryError> {
        let dir: Self =
            serde_json::from_str(text).map_err(|e| DirectoryError::Syntax { line: e.line() })?;
        if dir.schema != SCHEMA {
            return Err(DirectoryError::UnknownSchema);
        }
        let mut seen = alloc::collections::BTreeSet::new();
        for app in &dir.items {
            if !seen.insert(app.id.as_str()) {
                return Err(DirectoryError::DuplicateId(app.id.clone()));
            }
            if app.provenance == Provenance::Attested && app.sources.is_empty() {
                return Err(DirectoryError::UnsourcedAttestation(app.id.clone()));
            }
        }
        Ok(dir)
    }

    /// The built-in provisional directory.
    pub fn builtin() -> Result<Self, DirectoryError> {
        Self::from_json(PROVISIONAL_JSON)
    }

    /// The entry with this id.
    pub fn get(&self, id: &str) -> Option<&App> {
        self.items.iter().find(|a| a.id == id)
    }

    /// Entries of a category.
    pub fn by_category<'a>(&'a self, category: &'a str) -> impl Iterator<Item = &'a App> + 'a {
        self.items.iter().filter(move |a| a.category == category)
    }

    /// Entries needing a capability.
    pub fn with_capability(&self, capability: Capability) -> impl Iterator<Item = &App> + '_ {
        self.items
            .iter()
            .filter(move |a| a.capabilities.contains(&capability))
    }

    /// Entries of a mode.
    pub fn with_mode(&self, mode: Mode) -> impl Iterator<Item = &App> + '_ {
        self.items.iter().filter(move |a| a.modes.contains(&mode))
    }

    /// Counts per category and provenance.
    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            total: self.items.len(),
            ..Counts::default()
        };
        for app in &self.items {
            *c.by_category.entry(app.category.clone()).or_default() += 1;
            let p = match app.provenance {
                Provenance::Official => "official",
                Provenance::Attested => "attested",
                Provenance::Provisional => "provisional",
            };
            *c.by_provenance.entry(p.into()).or_default() += 1;
        }
        c
    }

    /// Replaces this directory with `new` (e.g. the official list) and reports the diff.
    pub fn replace(&mut self, new: Self) -> Diff {
        let mut diff = Diff::default();
        for app in &new.items {
            match self.get(&app.id) {
                None => diff.added.push(app.id.clone()),
                Some(old) if old != app => diff.changed.push(app.id.clone()),
                Some(_) => {}
            }
        }
        for app in &self.items {
            if new.get(&app.id).is_none() {
                diff.removed.push(app.id.clone());
            }
        }
        *self = new;
        diff
    }
}

/// What is known about a card (read with `sscard-ssse`).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CardFacts {
    /// Card generation from the spec version (1, 2 or 3).
    pub generation: u8,
    /// Application DFs present under SSSE (`01`…`07`).
    #[serde(default)]
    pub dfs: Vec<u8>,
    /// Whether the card carries the bank application.
    #[serde(default)]
    pub bank_app: bool,
    /// Whether the card has a contactless interface.
    #[serde(default)]
    pub contactless: bool,
}

/// What a terminal has (from a terminal description file).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TerminalFacts {
    /// A PSAM or an HSM connection for card authentication and keys.
    #[serde(default)]
    pub security_module: bool,
    /// A PIN pad (or another PIN entry the service accepts).
    #[serde(default)]
    pub pin_pad: bool,
    /// A contactless reader.
    #[serde(default)]
    pub contactless: bool,
    /// A receipt printer.
    #[serde(default)]
    pub printer: bool,
    /// Online, to resolve electronic-card QR tokens and reach the bank.
    #[serde(default)]
    pub online: bool,
}

/// Why an application is not available.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "reason")]
#[non_exhaustive]
pub enum Missing {
    /// A 3rd-generation card's basic information needs a PSAM or HSM.
    SecurityModuleToRead,
    /// Writing this DF needs its update key through a PSAM or HSM.
    SecurityModuleToWrite {
        /// The DF.
        df: u8,
    },
    /// Card authentication or a purse debit needs a PSAM or HSM.
    SecurityModule,
    /// No PIN entry on the terminal.
    PinPad,
    /// The card has no such DF.
    CardDf {
        /// The DF.
        df: u8,
    },
    /// The card has no bank application.
    BankApp,
    /// The terminal is offline (QR tokens and bank functions are resolved online).
    Online,
    /// Card or terminal lack a contactless interface.
    Contactless,
    /// The use is offered only through the electronic card.
    ElectronicOnly,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SecurityModuleToRead => f.write_str("a 3rd-generation card's basic information is read after authentication through a PSAM or HSM"),
            Self::SecurityModuleToWrite { df } => write!(f, "writing DF{df:02X} needs its update key through a PSAM or HSM"),
            Self::SecurityModule => f.write_str("needs card authentication through a PSAM or HSM"),
            Self::PinPad => f.write_str("the terminal has no PIN entry"),
            Self::CardDf { df } => write!(f, "the card has no DF{df:02X}"),
            Self::BankApp => f.write_str("the card has no bank application"),
            Self::Online => f.write_str("the terminal is offline"),
            Self::Contactless => f.write_str("no contactless interface on card or terminal"),
            Self::ElectronicOnly => f.write_str("offered only through the electronic social security card"),
        }
    }
}

/// How an application can be used here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "available")]
pub enum Availability {
    /// With the physical card.
    Card,
    /// Only with the electronic card's QR code (the physical card path lacks something).
    ElectronicCard {
        /// Why the physical card cannot serve.
        card_lacks: Vec<Missing>,
    },
    /// Not here.
    No {
        /// Everything missing.
        missing: Vec<Missing>,
    },
}

fn card_path(app: &App, card: &CardFacts, term: &TerminalFacts) -> Vec<Missing> {
    let mut missing = Vec::new();
    let mut add = |m: Missing| {
        if !missing.contains(&m) {
            missing.push(m);
        }
    };
    if !app.forms.contains(&Form::Physical) {
        add(Missing::ElectronicOnly);
    }
    for cap in &app.capabilities {
        match *cap {
            Capability::ReadBasic => {
                if card.generation >= 3 && !term.security_module {
                    add(Missing::SecurityModuleToRead);
                }
            }
            Capability::VerifyPin => {
                if !term.pin_pad {
                    add(Missing::PinPad);
                }
            }
            Capability::ReadDf(df) => {
                if !card.dfs.contains(&df) {
                    add(Missing::CardDf { df });
                }
            }
            Capability::WriteDf(df) => {
                if !card.dfs.contains(&df) {
                    add(Missing::CardDf { df });
                }
                if !term.security_module {
                    add(Missing::SecurityModuleToWrite { df });
                }
            }
            Capability::CardAuth | Capability::MedicalDebit | Capability::PkiSign => {
                if !term.security_module {
                    add(Missing::SecurityModule);
                }
            }
            Capability::BankApp => {
                if !card.bank_app {
                    add(Missing::BankApp);
                }
                if !term.online {
                    add(Missing::Online);
                }
            }
            Capability::EsscQr => {
                if !term.online {
                    add(Missing::Online);
                }
            }
            Capability::Contactless => {
                if !(card.contactless && term.contactless) {
                    add(Missing::Contactless);
                }
            }
        }
    }
    missing
}

/// Which applications this card and terminal support, and why not where they do not.
pub fn check<'d>(
    directory: &'d Directory,
    card: &CardFacts,
    terminal: &TerminalFacts,
) -> Vec<(&'d App, Availability)> {
    directory
        .items
        .iter()
        .map(|app| {
            let lacks = card_path(app, card, terminal);
            let availability = if lacks.is_empty() {
                Availability::Card
            } else if app.forms.contains(&Form::ESsc) && terminal.online {
                Availability::ElectronicCard { card_lacks: lacks }
            } else {
                let mut missing = lacks;
                if app.forms.contains(&Form::ESsc) && !missing.contains(&Missing::Online) {
                    missing.push(Missing::Online);
                }
                Availability::No { missing }
            };
            (app, availability)
        })
        .collect()
}
