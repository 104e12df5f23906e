//! The terminal side of the social-security application (SSSE).
//!
//! # Layers
//!
//! Above `sscard-apdu` (through [`Exchange`], so GET RESPONSE and `6Cxx` are handled
//! there) and `sscard-fs` (the card profile says which files and items exist, their
//! tags, lengths and encodings; nothing is repeated here).
//!
//! * [`read_image`] / [`read_basic`] / [`read_files`]: SELECT SSSE by AID, then READ
//!   RECORD of each item by tag (the addressing `spec/sscard.md` §1.3 recommends, since
//!   EF06 record positions are uncertain), with the file named by SFI (`P2 = SFI << 3`)
//!   so that no SELECT EF is needed, into a card [`Image`].
//! * [`BasicInfo`]: the fields of `iReadCardBas` (§4.3) derived from an image.
//! * [`read_basic_gbk`]: the same read with the holder's name kept as the card's GBK
//!   bytes ([`GbkText`]), for firmware whose display or printer takes GBK: it links no
//!   GBK table (about 17 KB of flash); [`BasicInfo::decode`] decodes later if needed.
//!   [`read_basic`] is this read with the name decoded.
//! * [`read_basic_secured`]: any generation; 3.0 cards are first authenticated
//!   (internal, then RKSSSE external) through a [`security::SecurityModule`]: software
//!   keys ([`security::SoftKeys`]) or a PSAM in another reader slot ([`psam::Psam`]);
//!   [`read_image_secured`] reads every basic item the same way (issuance read-back).
//!
//! # Features
//!
//! * `std` (default). Without it the crate is `no_std` with `alloc`.
//!
//! # Testing
//!
//! `tests/read.rs` reads the emulated sample card in process and checks every value,
//! the paths through `61xx` and `6Cxx`, and the errors for a card that answers
//! badly, and that the name kept as GBK is the card's bytes, decodes to what
//! [`read_basic`] returns and fails the same way on malformed or unmapped GBK; `tests/auth.rs` and `tests/psam.rs` authenticate emulated 2nd- and
//! 3rd-generation cards with software keys and with the emulated PSAM.
#![cfg_attr(not(any(test, feature = "std")), no_std)]

extern crate alloc;

pub mod hsm;
mod items;
pub mod psam;
pub mod security;

pub use items::{
    change_pin, read_address, read_address_with, verify_pin, write_address, BadPin, Pin, Values,
    MEMBER_SEPARATOR,
};

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::Serialize;
use sscard_apdu::command::SHORT_RESPONSE_MAX;
use sscard_apdu::tlv::{ber, simple};
use sscard_apdu::trace::Trace;
use sscard_apdu::{hex, CommandBuilder, Exchange, ExchangeError, Status, Transport};
use sscard_fs::image::{FileValues, IMAGE_SCHEMA};
use sscard_fs::profile::{NodeKind, Structure};
use sscard_fs::{CodecError, GbkText, Image, Item, ItemText, Profile, SSSE, SSSE_EF05, SSSE_EF06};

/// Which step of reading failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// SELECT of the SSSE application by AID.
    SelectSsse,
    /// SELECT of an EF by FID.
    SelectEf(u16),
    /// VERIFY PIN.
    VerifyPin,
    /// CHANGE PIN (`80 5E`).
    ChangePin,
    /// GET CHALLENGE.
    GetChallenge,
    /// INTERNAL AUTHENTICATE.
    InternalAuth,
    /// EXTERNAL AUTHENTICATE with this card key.
    ExternalAuth(u8),
    /// RELOAD or UNBLOCK PIN (`84 24`).
    PinReload,
    /// UPDATE RECORD of the item with this tag (0: a positional record) in this EF.
    WriteRecord {
        /// The EF.
        fid: u16,
        /// The item's tag.
        tag: u8,
    },
    /// READ RECORD of the item with this tag in the EF with this FID.
    ReadRecord {
        /// The EF.
        fid: u16,
        /// The item's tag.
        tag: u8,
    },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SelectSsse => f.write_str("SELECT SSSE"),
            Self::SelectEf(fid) => write!(f, "SELECT {fid:04X}"),
            Self::VerifyPin => f.write_str("VERIFY PIN"),
            Self::ChangePin => f.write_str("CHANGE PIN"),
            Self::GetChallenge => f.write_str("GET CHALLENGE"),
            Self::InternalAuth => f.write_str("INTERNAL AUTHENTICATE"),
            Self::ExternalAuth(key) => write!(f, "EXTERNAL AUTHENTICATE key {key:02X}"),
            Self::PinReload => f.write_str("RELOAD/UNBLOCK PIN"),
            Self::WriteRecord { fid, tag } => write!(f, "UPDATE RECORD tag {tag:02X} of {fid:04X}"),
            Self::ReadRecord { fid, tag } => write!(f, "READ RECORD tag {tag:02X} of {fid:04X}"),
        }
    }
}

/// Why a card could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReadError<E> {
    /// The exchange with the card failed (transport, malformed response).
    Exchange(Step, ExchangeError<E>),
    /// The card refused a step.
    Card(Step, Status),
    /// A record is not the TLV the profile describes.
    BadRecord(Step),
    /// A value on the card is not valid for its encoding.
    BadValue(Step, CodecError),
    /// The profile lacks the SSSE application or its AID, or a file named.
    Profile,
    /// The address does not fit the profile.
    Address(sscard_fs::AddressError),
    /// The card's algorithm identifier names an algorithm sscard does not implement.
    UnsupportedAlgorithm(u8),
}

impl<E: fmt::Display> fmt::Display for ReadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exchange(step, e) => write!(f, "{step}: {e}"),
            Self::Card(step, status) => write!(f, "{step}: card answered {status}"),
            Self::BadRecord(step) => write!(f, "{step}: record is not the expected TLV"),
            Self::BadValue(step, e) => write!(f, "{step}: {e}"),
            Self::Profile => {
                f.write_str("the card profile lacks the SSSE application or a named file")
            }
            Self::Address(e) => write!(f, "{e}"),
            Self::UnsupportedAlgorithm(id) => {
                write!(
                    f,
                    "the card's algorithm identifier {id:02X} is not supported"
                )
            }
        }
    }
}

impl<E: fmt::Debug + fmt::Display> core::error::Error for ReadError<E> {}

/// The files that hold the basic information: card-issuer data and holder basic
/// information (free to read on 1st/2nd-generation cards).
pub const BASIC_FILES: [&str; 2] = [SSSE_EF05, SSSE_EF06];

/// The items `iReadCardBas` needs (`spec/sscard.md` §4.3), by file.
pub const BASIC_ITEMS: [(&str, &[&str]); 2] = [
    (
        SSSE_EF05,
        &[
            "card_id",
            "spec_version",
            "issue_date",
            "expiry_date",
            "card_number",
        ],
    ),
    (SSSE_EF06, &["ssn", "name", "name_ext"]),
];

/// Which items of a file to read.
#[derive(Clone, Copy, Debug)]
pub enum Selection<'a> {
    /// Every item of the file.
    All,
    /// These item keys.
    Keys(&'a [&'a str]),
}

/// Reads every item of the basic files ([`BASIC_FILES`]) into an image. `atr` is the
/// card's answer to reset as the reader reported it.
pub fn read_image<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
    atr: &[u8],
) -> Result<Image, ReadError<T::Error>> {
    let wanted = BASIC_FILES.map(|path| (path, Selection::All));
    read_files(ex, profile, atr, &wanted)
}

/// Reads just the items of [`BASIC_ITEMS`]: on a 2nd-generation card that is one SELECT
/// and eight READ RECORDs (SFI addressing makes SELECT EF unnecessary).
pub fn read_basic<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
    atr: &[u8],
) -> Result<BasicInfo, ReadError<T::Error>> {
    read_basic_as(ex, profile, atr)
}

/// [`read_basic`] with the holder's name (items `name` and `name_ext`) kept as the
/// card's GBK bytes, padding stripped and the GBK structure checked but not decoded:
/// no GBK table is linked unless [`BasicInfo::decode`] or [`GbkText::decode`] is
/// called. Every other field is text as in [`read_basic`]; a GBK item among them that
/// is not plain ASCII is [`CodecError::NeedsGbkDecoding`].
pub fn read_basic_gbk<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
    atr: &[u8],
) -> Result<BasicInfo<GbkText>, ReadError<T::Error>> {
    read_basic_as(ex, profile, atr)
}

/// How a basic read keeps the values it reads: decoded (`String`) or the name as GBK.
trait NameText: Default {
    /// The name (or its extension) from its value.
    fn name(value: ItemText) -> Result<Self, CodecError>;
    /// Any other field's text.
    fn field(value: ItemText) -> Result<String, CodecError>;
    /// Appends the name extension.
    fn append(&mut self, rest: Self);
}

impl NameText for String {
    fn name(value: ItemText) -> Result<Self, CodecError> {
        value.decode()
    }
    fn field(value: ItemText) -> Result<String, CodecError> {
        value.decode()
    }
    fn append(&mut self, rest: Self) {
        self.push_str(&rest);
    }
}

impl NameText for GbkText {
    fn name(value: ItemText) -> Result<Self, CodecError> {
        match value {
            ItemText::Gbk(gbk) => Ok(gbk),
            // Hex, AN and CN text is ASCII, hence GBK as it is.
            ItemText::Unicode(text) => GbkText::new(text.as_bytes()),
        }
    }
    fn field(value: ItemText) -> Result<String, CodecError> {
        match value {
            ItemText::Unicode(text) => Ok(text),
            ItemText::Gbk(gbk) => gbk
                .as_ascii()
                .map(String::from)
                .ok_or(CodecError::NeedsGbkDecoding),
        }
    }
    fn append(&mut self, rest: Self) {
        self.push(&rest);
    }
}

/// The one basic read behind [`read_basic`] and [`read_basic_gbk`].
fn read_basic_as<N: NameText, T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
    atr: &[u8],
) -> Result<BasicInfo<N>, ReadError<T::Error>> {
    // The values go straight into the result, without the image's maps (which would
    // cost a microcontroller a few kilobytes of BTreeMap code for eight strings).
    select_ssse(ex, profile)?;
    let mut values: Vec<(&str, String, String)> = Vec::new();
    let (mut name, mut name_ext) = (N::default(), N::default());
    for (path, keys) in BASIC_ITEMS {
        read_file(
            ex,
            profile,
            path,
            Selection::Keys(keys),
            &mut |item, step, value| {
                let bad = |e| ReadError::BadValue(step, e);
                match (path, item.key.as_str()) {
                    (SSSE_EF06, "name") => name = N::name(value).map_err(bad)?,
                    (SSSE_EF06, "name_ext") => name_ext = N::name(value).map_err(bad)?,
                    _ => values.push((path, item.key.clone(), N::field(value).map_err(bad)?)),
                }
                Ok(())
            },
        )?;
    }
    name.append(name_ext);
    let get = |path: &str, key: &str| {
        values
            .iter()
            .find(|(p, k, _)| *p == path && k == key)
            .map(|(_, _, text)| text.as_str())
    };
    Ok(BasicInfo::from_values(atr, &get, name))
}

/// Selects the SSSE and reads the chosen items of the chosen TLV record files. Items
/// are read by tag; a file with an SFI is addressed by SFI (`P2 = SFI << 3`), others
/// are selected by FID first.
pub fn read_files<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
    atr: &[u8],
    wanted: &[(&str, Selection<'_>)],
) -> Result<Image, ReadError<T::Error>> {
    let algorithm_id = select_ssse(ex, profile)?;
    let mut files = BTreeMap::new();
    read_items_into(ex, profile, wanted, &mut files)?;
    Ok(image_of(atr, algorithm_id, files))
}

fn image_of(atr: &[u8], algorithm_id: Option<u8>, files: BTreeMap<String, FileValues>) -> Image {
    Image {
        schema: IMAGE_SCHEMA.into(),
        note: None,
        atr: hex::to_string(atr),
        algorithm_id: algorithm_id.map(|b| hex::to_string(&[b])),
        pin: None,
        files,
    }
}

/// SELECT the SSSE by name with Le 00 (the FCI comes with the answer, or after 61xx)
/// and return the algorithm identifier its FCI announces.
pub fn select_ssse<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
) -> Result<Option<u8>, ReadError<T::Error>> {
    let ssse = profile.node(SSSE).ok_or(ReadError::Profile)?;
    let aid = ssse.aid.as_deref().ok_or(ReadError::Profile)?;
    let mut buf = [0u8; SHORT_RESPONSE_MAX];
    let select = CommandBuilder::new(0x00, 0xA4, 0x04, 0x00)
        .data(aid)
        .le(256);
    let fci = transact(ex, &select, &mut buf, Step::SelectSsse)?;
    Ok(algorithm_id(fci))
}

/// Reads the chosen items of TLV record files of the selected SSSE into `files`.
fn read_items_into<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
    wanted: &[(&str, Selection<'_>)],
    files: &mut BTreeMap<String, FileValues>,
) -> Result<(), ReadError<T::Error>> {
    for (path, selection) in wanted {
        let mut values = FileValues::new();
        read_file(ex, profile, path, *selection, &mut |item, step, value| {
            let text = value.decode().map_err(|e| ReadError::BadValue(step, e))?;
            values.insert(item.key.clone(), text.into());
            Ok(())
        })?;
        files.entry(String::from(*path)).or_default().extend(values);
    }
    Ok(())
}

/// Where [`read_file`] hands each item's value, with the step that read it.
type ItemSink<'s, E> = dyn FnMut(&Item, Step, ItemText) -> Result<(), ReadError<E>> + 's;

/// Reads the chosen items of the TLV record file at `path` of the selected SSSE and
/// hands each value to `sink` with the step that read it (GBK kept as the card's
/// bytes: the sink decides whether to decode). Items are read by tag; a file with an SFI is
/// addressed by SFI (`P2 = SFI << 3`), others are selected by FID first.
fn read_file<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
    path: &str,
    selection: Selection<'_>,
    sink: &mut ItemSink<'_, T::Error>,
) -> Result<(), ReadError<T::Error>> {
    let mut buf = [0u8; SHORT_RESPONSE_MAX];
    let ef = profile.node(path).ok_or(ReadError::Profile)?;
    let (NodeKind::Ef, Some(Structure::TlvRecord), Some(fid)) = (ef.kind, ef.structure, ef.fid)
    else {
        return Err(ReadError::Profile);
    };
    let p2 = match ef.sfi {
        Some(sfi) => sfi << 3,
        None => {
            let step = Step::SelectEf(fid);
            let fid_bytes = fid.to_be_bytes();
            let select_ef = CommandBuilder::new(0x00, 0xA4, 0x02, 0x00).data(&fid_bytes);
            transact(ex, &select_ef, &mut buf, step)?;
            0x00
        }
    };
    for item in &ef.items {
        if let Selection::Keys(keys) = selection {
            if !keys.contains(&item.key.as_str()) {
                continue;
            }
        }
        let step = Step::ReadRecord { fid, tag: item.tag };
        let read = CommandBuilder::new(0x00, 0xB2, item.tag, p2).le(item.tlv_len());
        let record = match transact(ex, &read, &mut buf, step) {
            Err(ReadError::Card(_, Status::RecordNotFound)) if item.optional => continue,
            other => other?,
        };
        let (tag, value) = simple::parse_record(record).map_err(|_| ReadError::BadRecord(step))?;
        if tag != item.tag {
            return Err(ReadError::BadRecord(step));
        }
        let value = item
            .decode_kept(value)
            .map_err(|e| ReadError::BadValue(step, e))?;
        sink(item, step, value)?;
    }
    Ok(())
}

/// The key the 3.0 read conditions of the basic files name (RKSSSE in the shipped
/// profile).
pub fn basic_read_key(profile: &Profile) -> Option<u8> {
    BASIC_FILES
        .iter()
        .filter_map(|p| profile.node(p))
        .flat_map(|n| n.items.iter().map(move |i| n.read_rule(Some(i.tag), true)))
        .find_map(|rule| match rule {
            sscard_fs::profile::AccessRule::Require { key: Some(k), .. } => Some(k),
            _ => None,
        })
}

/// Item values by file path, as a read gathers them.
type Files = BTreeMap<String, FileValues>;

/// SELECT SSSE and read the items of [`PRE_AUTH_ITEMS`] (the first step of both the
/// PSAM and the HSM paths): the algorithm identifier and the files read.
fn read_pre_auth<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
) -> Result<(Option<u8>, Files), ReadError<T::Error>> {
    let algorithm_id = select_ssse(ex, profile)?;
    let mut files = BTreeMap::new();
    read_items_into(
        ex,
        profile,
        &[(SSSE_EF05, Selection::Keys(&PRE_AUTH_ITEMS))],
        &mut files,
    )?;
    Ok((algorithm_id, files))
}

/// The text of an EF05 item in files read so far (empty when absent).
fn ef05_text(files: &Files, key: &str) -> String {
    files
        .get(SSSE_EF05)
        .and_then(|f| f.get(key))
        .and_then(|v| v.as_text())
        .map(String::from)
        .unwrap_or_default()
}

/// Items of the basic information readable before authentication on 3.0 cards: they
/// give the identification code (diversification) and the spec version (the branch).
const PRE_AUTH_ITEMS: [&str; 3] = ["card_id", "spec_version", "card_number"];

/// Reads the basic information of a card of any generation. On a 3.0 card (spec version
/// `3…`) it first proves the card genuine (INTERNAL AUTHENTICATE with the profile's
/// internal-authentication key, `nonce` as the plain data) and then authenticates the
/// terminal with the key the profile's 3.0 read conditions name (RKSSSE), through
/// `module`, as `spec/sscard.md` §3.7 and §3.8 describe.
pub fn read_basic_secured<T, R, M>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
    atr: &[u8],
    module: &mut M,
    nonce: &[u8; 8],
) -> Result<BasicInfo, security::AuthError<T::Error, M::Error>>
where
    T: Transport,
    R: Trace,
    M: security::SecurityModule + ?Sized,
{
    let (algorithm_id, mut files) = authenticate_basic(ex, profile, atr, module, nonce)?;
    let rest: [(&str, Selection<'_>); 2] = [
        (
            SSSE_EF05,
            Selection::Keys(&["issue_date", "expiry_date", "spec_version"]),
        ),
        (SSSE_EF06, Selection::Keys(&["ssn", "name", "name_ext"])),
    ];
    read_items_into(ex, profile, &rest, &mut files)?;
    Ok(BasicInfo::from_image(&image_of(atr, algorithm_id, files)))
}

/// [`read_image`] for a card of any generation: every item of the basic files, after
/// the authentications of [`read_basic_secured`] on a 3.0 card (an issuing terminal's
/// read-back, `sscard verify`).
pub fn read_image_secured<T, R, M>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
    atr: &[u8],
    module: &mut M,
    nonce: &[u8; 8],
) -> Result<Image, security::AuthError<T::Error, M::Error>>
where
    T: Transport,
    R: Trace,
    M: security::SecurityModule + ?Sized,
{
    let (algorithm_id, mut files) = authenticate_basic(ex, profile, atr, module, nonce)?;
    let wanted = BASIC_FILES.map(|path| (path, Selection::All));
    read_items_into(ex, profile, &wanted, &mut files)?;
    Ok(image_of(atr, algorithm_id, files))
}

/// The SSSE's algorithm identifier and the items read before authenticating.
type Authenticated = (Option<u8>, Files);

/// SELECT SSSE, the pre-authentication items, and on a 3.0 card internal then RKSSSE
/// external authentication (the SSSE stays selected, so the security state holds).
fn authenticate_basic<T, R, M>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
    atr: &[u8],
    module: &mut M,
    nonce: &[u8; 8],
) -> Result<Authenticated, security::AuthError<T::Error, M::Error>>
where
    T: Transport,
    R: Trace,
    M: security::SecurityModule + ?Sized,
{
    let (algorithm_id, files) = read_pre_auth(ex, profile)?;
    let (card_id, version) = (
        ef05_text(&files, "card_id"),
        ef05_text(&files, "spec_version"),
    );
    if version.starts_with('3') {
        let alg = algorithm_id.unwrap_or(sscard_crypto::keys::Algorithm::DEFAULT_CARD_ID);
        let algorithm = sscard_crypto::keys::Algorithm::from_card_id(alg)
            .map_err(|_| ReadError::UnsupportedAlgorithm(alg))?;
        let ssse = profile.node(SSSE).ok_or(ReadError::Profile)?;
        let irk = ssse
            .keys
            .iter()
            .find(|k| k.usage == sscard_fs::profile::KeyUsage::InternalAuth)
            .map(|k| k.id)
            .ok_or(ReadError::Profile)?;
        let read_key = basic_read_key(profile).ok_or(ReadError::Profile)?;
        let card = security::CardContext {
            atr,
            card_id: &card_id,
            algorithm,
        };
        security::internal_authenticate(ex, module, &card, irk, nonce)?;
        security::external_authenticate(ex, module, &card, read_key)?;
    }
    Ok((algorithm_id, files))
}

fn transact<'b, T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    command: &CommandBuilder<'_>,
    buf: &'b mut [u8],
    step: Step,
) -> Result<&'b [u8], ReadError<T::Error>> {
    let r = ex
        .send(command, buf)
        .map_err(|e| ReadError::Exchange(step, e))?;
    r.success().map_err(|s| ReadError::Card(step, s))
}

/// The algorithm identifier from an FCI: `9F0C` holding `86 01 xx` (`spec/sscard.md`
/// §3.6). `None` when the card does not announce one (readers then assume `01`).
pub fn algorithm_id(fci: &[u8]) -> Option<u8> {
    let value = ber::find(fci, 0x9F0C).ok().flatten()?;
    match ber::find(value, 0x86).ok().flatten()? {
        [alg] => Some(*alg),
        _ => None,
    }
}

/// The basic information of a card: the fields of `iReadCardBas` (`spec/sscard.md`
/// §4.3), in that order. The name is text (`Name = String`, [`read_basic`]) or the
/// card's GBK bytes (`Name = GbkText`, [`read_basic_gbk`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BasicInfo<Name = String> {
    /// 发卡地区行政区划代码: the first six characters of the card identification code.
    pub region_code: String,
    /// 社会保障号码.
    pub ssn: String,
    /// 卡号.
    pub card_number: String,
    /// 卡识别码.
    pub card_id: String,
    /// 姓名: item 09 followed by the name extension 4E.
    pub name: Name,
    /// 卡复位信息: the ATR historical bytes, hex.
    pub atr_historical: String,
    /// 规范版本.
    pub spec_version: String,
    /// 发卡日期.
    pub issue_date: String,
    /// 卡有效期.
    pub expiry_date: String,
}

impl<Name> BasicInfo<Name> {
    /// The basic information from the ATR, the text of each item other than the name
    /// (`get(path, key)`, `None` when absent) and the name.
    fn from_values<'v>(
        atr: &[u8],
        get: &dyn Fn(&str, &str) -> Option<&'v str>,
        name: Name,
    ) -> Self {
        let text = |path, key| get(path, key).map(String::from).unwrap_or_default();
        let card_id = text(SSSE_EF05, "card_id");
        let historical = sscard_apdu::atr::historical_bytes(atr).unwrap_or_default();
        Self {
            region_code: card_id.chars().take(6).collect(),
            ssn: text(SSSE_EF06, "ssn"),
            card_number: text(SSSE_EF05, "card_number"),
            card_id,
            name,
            atr_historical: hex::to_string(historical),
            spec_version: text(SSSE_EF05, "spec_version"),
            issue_date: text(SSSE_EF05, "issue_date"),
            expiry_date: text(SSSE_EF05, "expiry_date"),
        }
    }
}

impl BasicInfo<GbkText> {
    /// The basic information with the name decoded from GBK (through the GBK tables).
    pub fn decode(self) -> Result<BasicInfo, CodecError> {
        let name = self.name.decode()?;
        Ok(BasicInfo {
            region_code: self.region_code,
            ssn: self.ssn,
            card_number: self.card_number,
            card_id: self.card_id,
            name,
            atr_historical: self.atr_historical,
            spec_version: self.spec_version,
            issue_date: self.issue_date,
            expiry_date: self.expiry_date,
        })
    }
}

impl BasicInfo {
    /// Derives the basic information from a card image.
    pub fn from_image(image: &Image) -> Self {
        let atr = hex::to_vec(&image.atr).unwrap_or_default();
        let get = |path: &str, key: &str| {
            image
                .files
                .get(path)
                .and_then(|f| f.get(key))
                .and_then(|v| v.as_text())
        };
        let mut name = String::from(get(SSSE_EF06, "name").unwrap_or_default());
        name.push_str(get(SSSE_EF06, "name_ext").unwrap_or_default());
        Self::from_values(&atr, &get, name)
    }

    /// The `iReadCardBas` output string (`spec/sscard.md` §4.3): the nine card fields,
    /// then 终端机编号 and 终端设备号, each followed by `|`. Without a PSAM the terminal
    /// number is `000000000000`, as one issuance driver emits.
    pub fn ireadcardbas(&self, terminal_number: Option<&str>, device_number: &str) -> String {
        let mut out = String::new();
        for (_, value) in self.fields() {
            out.push_str(value);
            out.push('|');
        }
        out.push_str(terminal_number.unwrap_or("000000000000"));
        out.push('|');
        out.push_str(device_number);
        out.push('|');
        out
    }

    /// The fields in `iReadCardBas` order as label/value pairs.
    pub fn fields(&self) -> Vec<(&'static str, &str)> {
        alloc::vec![
            ("region code", self.region_code.as_str()),
            ("social security number", &self.ssn),
            ("card number", &self.card_number),
            ("card identification code", &self.card_id),
            ("name", &self.name),
            ("ATR historical bytes", &self.atr_historical),
            ("spec version", &self.spec_version),
            ("issue date", &self.issue_date),
            ("expiry date", &self.expiry_date),
        ]
    }
}
