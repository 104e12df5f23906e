//! Reading items by the reader library's addresses (`SSSEEF05|06|07|$DF01EF05|20|$`,
//! `spec/sscard.md` §4.4), with the PIN verified in each application DF that needs it.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use sscard_apdu::command::SHORT_RESPONSE_MAX;
use sscard_apdu::tlv::simple;
use sscard_apdu::trace::Trace;
use sscard_apdu::{CommandBuilder, Exchange, Status, Transport};
use sscard_fs::address::{DfSpelling, ItemRef};
use sscard_fs::profile::{AccessRule, Node, Structure};
use sscard_fs::{Address, Profile, SSSE};
use zeroize::Zeroizing;

use crate::security::{external_authenticate, AuthError, CardContext, SecurityModule};
use crate::{transact, ReadError, Step};

/// A PIN of 4 to 12 digits, zeroized when dropped and never printed.
#[derive(Clone)]
pub struct Pin(Zeroizing<String>);

/// Why a PIN is not acceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadPin;

impl fmt::Display for BadPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a PIN is 4 to 12 digits")
    }
}

impl core::error::Error for BadPin {}

impl Pin {
    /// Accepts 4 to 12 ASCII digits (surrounding white space removed).
    pub fn new(digits: &str) -> Result<Self, BadPin> {
        let d = digits.trim();
        if !(4..=12).contains(&d.len()) || !d.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BadPin);
        }
        Ok(Self(Zeroizing::new(d.into())))
    }

    /// The digits (kept inside the crate).
    pub(crate) fn digits(&self) -> &str {
        &self.0
    }

    /// The PIN as BCD, `F`-padded to whole bytes (`123456` → `12 34 56`).
    pub fn bcd(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(6));
        let mut nibbles = self.0.bytes().map(|b| b - b'0');
        while let Some(hi) = nibbles.next() {
            let lo = nibbles.next().unwrap_or(0x0F);
            out.push((hi << 4) | lo);
        }
        out
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

/// VERIFY the PIN in the currently selected application (`00 20 00 00 Lc BCD`).
/// A wrong PIN is `ReadError::Card(Step::VerifyPin, Status::VerificationFailed{..})`,
/// a blocked one `Status::AuthenticationMethodBlocked`.
pub fn verify_pin<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    pin: &Pin,
) -> Result<(), ReadError<T::Error>> {
    let bcd = pin.bcd();
    let mut buf = [0u8; 8];
    transact(
        ex,
        &CommandBuilder::new(0x00, 0x20, 0x00, 0x00).data(&bcd),
        &mut buf,
        Step::VerifyPin,
    )?;
    Ok(())
}

/// CHANGE PIN in the currently selected application: `80 5E 01 00 Lc old ‖ FF ‖ new`,
/// both BCD (`spec/sscard.md` §2.1). The card checks the old PIN as VERIFY does, so a
/// wrong one is `ReadError::Card(Step::ChangePin, Status::VerificationFailed{..})` and
/// costs a try; a new PIN of another length is refused by the card (`6A80`).
pub fn change_pin<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    old: &Pin,
    new: &Pin,
) -> Result<(), ReadError<T::Error>> {
    let (old, new) = (old.bcd(), new.bcd());
    let mut data = Zeroizing::new(Vec::with_capacity(old.len() + 1 + new.len()));
    data.extend_from_slice(&old);
    data.push(0xFF);
    data.extend_from_slice(&new);
    let mut buf = [0u8; 8];
    transact(
        ex,
        &CommandBuilder::new(0x80, 0x5E, 0x01, 0x00).data(&data),
        &mut buf,
        Step::ChangePin,
    )?;
    Ok(())
}

/// Values by file part, then by item, as addresses read and write them.
pub type Values = Vec<Vec<String>>;

/// Separator between the members of a group occurrence and the fields of a record
/// in the output (the vendors' format is not public: this SDK's choice).
pub const MEMBER_SEPARATOR: char = ',';

/// Reads every item of `address` and returns the values, one list per file part, in
/// the order of the address (ready for [`Address::format_values`]). The SSSE is
/// selected first; an application DF is selected by FID and, when `pin` is given, the
/// PIN is verified there before reading. Files behind a read key need
/// [`read_address_with`].
pub fn read_address<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
    address: &Address,
    pin: Option<&Pin>,
) -> Result<Values, ReadError<T::Error>> {
    let mut out = Vec::with_capacity(address.files.len());
    walk::<T, R, NoModule>(ex, profile, address, pin, None, Mode::Read(&mut out)).map_err(|e| {
        match e {
            AuthError::Card(e) => e,
            _ => ReadError::Profile,
        }
    })?;
    Ok(out)
}

/// Like [`read_address`], and before reading a file whose read condition names a key,
/// authenticates with that key through `module` (`spec/sscard.md` §1.7).
pub fn read_address_with<T, R, M>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
    address: &Address,
    pin: Option<&Pin>,
    module: &mut M,
    card: &CardContext<'_>,
) -> Result<Values, AuthError<T::Error, M::Error>>
where
    T: Transport,
    R: Trace,
    M: SecurityModule + ?Sized,
{
    let mut out = Vec::with_capacity(address.files.len());
    walk(
        ex,
        profile,
        address,
        pin,
        Some((module, card)),
        Mode::Read(&mut out),
    )?;
    Ok(out)
}

/// Writes `values` (one list per file part, one value per item; for a group occurrence
/// its members joined by [`MEMBER_SEPARATOR`]; for a cyclic file's `:01` the fields,
/// appended as the newest record) to the items of `address`, authenticating with each
/// file's update key through `module` first (`spec/sscard.md` §1.7, §6.1). Each item is
/// one UPDATE RECORD of its whole TLV, padded to the item's length: a refused write
/// leaves the item as it was.
pub fn write_address<T, R, M>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
    address: &Address,
    values: &[Vec<String>],
    pin: Option<&Pin>,
    module: &mut M,
    card: &CardContext<'_>,
) -> Result<(), AuthError<T::Error, M::Error>>
where
    T: Transport,
    R: Trace,
    M: SecurityModule + ?Sized,
{
    let shape_ok = values.len() == address.files.len()
        && address
            .files
            .iter()
            .zip(values)
            .all(|(f, v)| v.len() == f.items.len() + usize::from(f.record.is_some()));
    if !shape_ok {
        return Err(AuthError::Card(ReadError::Profile));
    }
    walk(
        ex,
        profile,
        address,
        pin,
        Some((module, card)),
        Mode::Write(values),
    )
}

/// A security module that has no keys (reads without one).
struct NoModule;

impl SecurityModule for NoModule {
    type Error = core::convert::Infallible;
    fn cryptogram(
        &mut self,
        _: &CardContext<'_>,
        _: u8,
        _: &[u8; 8],
        _: &[u8; 8],
    ) -> Result<[u8; 8], Self::Error> {
        Ok([0; 8])
    }
}

enum Mode<'v> {
    Read(&'v mut Values),
    Write(&'v [Vec<String>]),
}

fn walk<T, R, M>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
    address: &Address,
    pin: Option<&Pin>,
    mut module: Option<(&mut M, &CardContext<'_>)>,
    mut mode: Mode<'_>,
) -> Result<(), AuthError<T::Error, M::Error>>
where
    T: Transport,
    R: Trace,
    M: SecurityModule + ?Sized,
{
    address.validate(profile).map_err(ReadError::Address)?;
    let ssse = profile.node(SSSE).ok_or(ReadError::Profile)?;
    let aid = ssse.aid.as_deref().ok_or(ReadError::Profile)?;
    let mut buf = [0u8; SHORT_RESPONSE_MAX];
    let mut current_df: Option<Option<u8>> = None;
    for (index, file) in address.files.iter().enumerate() {
        let node = profile.node(&file.path()).ok_or(ReadError::Profile)?;
        let fid = node.fid.unwrap_or_default();
        let df = match file.df {
            DfSpelling::Ssse | DfSpelling::Mf => None,
            DfSpelling::Df(n) => Some(n),
        };
        if current_df != Some(df) {
            // Back to the SSSE, then down into the DF (and verify there).
            let select = CommandBuilder::new(0x00, 0xA4, 0x04, 0x0C).data(aid);
            transact(ex, &select, &mut buf, Step::SelectSsse)?;
            if let Some(n) = df {
                let df_fid = 0xDF00 | u16::from(n);
                let fid_bytes = df_fid.to_be_bytes();
                let select_df = CommandBuilder::new(0x00, 0xA4, 0x00, 0x00).data(&fid_bytes);
                transact(ex, &select_df, &mut buf, Step::SelectEf(df_fid))?;
            }
            if let (Some(pin), Some(_)) = (pin, df) {
                verify_pin(ex, pin)?;
            }
            current_df = Some(df);
        }
        // Select the EF by FID (its SFI is not confirmed outside SSSE EF05/EF06).
        let fid_bytes = fid.to_be_bytes();
        let select_ef = CommandBuilder::new(0x00, 0xA4, 0x02, 0x00).data(&fid_bytes);
        transact(ex, &select_ef, &mut buf, Step::SelectEf(fid))?;
        // The key the file's condition names, if any (authentications last for the DF).
        let rule = match mode {
            Mode::Read(_) => node.access.map(|a| a.read),
            Mode::Write(_) => node.access.map(|a| a.update),
        };
        if let (Some(AccessRule::Require { key: Some(key), .. }), Some((m, card))) =
            (rule, module.as_mut())
        {
            external_authenticate(ex, *m, card, key)?;
        }
        match &mut mode {
            Mode::Read(out) => {
                let mut values = Vec::with_capacity(file.items.len().max(1));
                if let Some(number) = file.record {
                    let step = Step::ReadRecord { fid, tag: 0 };
                    let read =
                        CommandBuilder::new(0x00, 0xB2, number, 0x04).le(node.record_length());
                    let record = transact(ex, &read, &mut buf, step)?;
                    values.push(
                        decode_fields(node, record).map_err(|e| ReadError::BadValue(step, e))?,
                    );
                }
                for item in &file.items {
                    values.push(read_item(ex, node, fid, *item, &mut buf)?);
                }
                out.push(values);
            }
            Mode::Write(all) => {
                let given = all.get(index).ok_or(ReadError::Profile)?;
                let mut given = given.iter();
                if file.record.is_some() {
                    let text = given.next().ok_or(ReadError::Profile)?;
                    let record = encode_fields(node, text)
                        .map_err(|e| ReadError::BadValue(Step::WriteRecord { fid, tag: 0 }, e))?;
                    let append = CommandBuilder::new(0x00, 0xE2, 0x00, 0x00).data(&record);
                    transact(ex, &append, &mut buf, Step::WriteRecord { fid, tag: 0 })?;
                }
                for (item, text) in file.items.iter().zip(given) {
                    write_item(ex, node, fid, *item, text, &mut buf)?;
                }
            }
        }
    }
    Ok(())
}

fn write_item<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    node: &Node,
    fid: u16,
    item: ItemRef,
    text: &str,
    buf: &mut [u8],
) -> Result<(), ReadError<T::Error>> {
    let mut tlv = [0u8; 258];
    match item {
        ItemRef::Tag(tag) => {
            let step = Step::WriteRecord { fid, tag };
            let def = node.item_by_tag(tag).ok_or(ReadError::Profile)?;
            let value = def.encode(text).map_err(|e| ReadError::BadValue(step, e))?;
            let n = simple::write(tag, &value, &mut tlv).map_err(|_| ReadError::BadRecord(step))?;
            let cmd =
                CommandBuilder::new(0x00, 0xDC, tag, 0x00).data(tlv.get(..n).unwrap_or_default());
            transact(ex, &cmd, buf, step)?;
        }
        ItemRef::Group { tag, occurrence } => {
            let step = Step::WriteRecord { fid, tag };
            let group = node.group_by_tag(tag).ok_or(ReadError::Profile)?;
            let first = group.record.ok_or(ReadError::Profile)?;
            let number = first.saturating_add(occurrence.saturating_sub(1));
            let parts: Vec<&str> = text.split(MEMBER_SEPARATOR).collect();
            if parts.len() != group.members.len() {
                return Err(ReadError::BadValue(
                    step,
                    sscard_fs::CodecError::InvalidBytes,
                ));
            }
            let mut inner = Vec::with_capacity(group.value_len());
            for (member, part) in group.members.iter().zip(parts) {
                let value = member
                    .encode(part)
                    .map_err(|e| ReadError::BadValue(step, e))?;
                inner.push(member.tag);
                inner.push(u8::try_from(value.len()).map_err(|_| ReadError::BadRecord(step))?);
                inner.extend_from_slice(&value);
            }
            let n = simple::write(tag, &inner, &mut tlv).map_err(|_| ReadError::BadRecord(step))?;
            let cmd = CommandBuilder::new(0x00, 0xDC, number, 0x04)
                .data(tlv.get(..n).unwrap_or_default());
            transact(ex, &cmd, buf, step)?;
        }
    }
    Ok(())
}

fn encode_fields(node: &Node, text: &str) -> Result<Vec<u8>, sscard_fs::CodecError> {
    let parts: Vec<&str> = text.split(MEMBER_SEPARATOR).collect();
    if parts.len() != node.fields.len() {
        return Err(sscard_fs::CodecError::InvalidBytes);
    }
    let mut out = Vec::with_capacity(node.record_length());
    for (field, part) in node.fields.iter().zip(parts) {
        out.extend(field.encode(part)?);
    }
    Ok(out)
}

fn read_item<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    node: &Node,
    fid: u16,
    item: ItemRef,
    buf: &mut [u8],
) -> Result<String, ReadError<T::Error>> {
    match item {
        ItemRef::Tag(tag) => {
            let step = Step::ReadRecord { fid, tag };
            let def = node.item_by_tag(tag).ok_or(ReadError::Profile)?;
            let read = CommandBuilder::new(0x00, 0xB2, tag, 0x00).le(def.tlv_len());
            let record = match transact(ex, &read, buf, step) {
                // An item never written reads as empty.
                Err(ReadError::Card(_, Status::RecordNotFound)) => return Ok(String::new()),
                other => other?,
            };
            let (got, value) =
                simple::parse_record(record).map_err(|_| ReadError::BadRecord(step))?;
            if got != tag {
                return Err(ReadError::BadRecord(step));
            }
            def.decode(value).map_err(|e| ReadError::BadValue(step, e))
        }
        ItemRef::Group { tag, occurrence } => {
            let step = Step::ReadRecord { fid, tag };
            let group = node.group_by_tag(tag).ok_or(ReadError::Profile)?;
            let first = group.record.ok_or(ReadError::Profile)?;
            let number = first.saturating_add(occurrence.saturating_sub(1));
            let read = CommandBuilder::new(0x00, 0xB2, number, 0x04).le(group.value_len() + 2);
            let record = match transact(ex, &read, buf, step) {
                Err(ReadError::Card(_, Status::RecordNotFound)) => return Ok(String::new()),
                other => other?,
            };
            let (got, mut value) =
                simple::parse_record(record).map_err(|_| ReadError::BadRecord(step))?;
            if got != tag {
                return Err(ReadError::BadRecord(step));
            }
            let mut parts = Vec::with_capacity(group.members.len());
            while !value.is_empty() {
                let (member_tag, member_value, rest) =
                    simple::parse(value).map_err(|_| ReadError::BadRecord(step))?;
                let member = group
                    .member_by_tag(member_tag)
                    .ok_or(ReadError::BadRecord(step))?;
                parts.push(
                    member
                        .decode(member_value)
                        .map_err(|e| ReadError::BadValue(step, e))?,
                );
                value = rest;
            }
            Ok(join(&parts))
        }
    }
}

fn decode_fields(node: &Node, mut record: &[u8]) -> Result<String, sscard_fs::CodecError> {
    if !matches!(
        node.structure,
        Some(Structure::Cyclic | Structure::FixedRecord)
    ) {
        return Err(sscard_fs::CodecError::InvalidBytes);
    }
    let mut parts = Vec::with_capacity(node.fields.len());
    for field in &node.fields {
        let (bytes, rest) = record
            .split_at_checked(field.length)
            .ok_or(sscard_fs::CodecError::InvalidBytes)?;
        parts.push(field.decode(bytes)?);
        record = rest;
    }
    Ok(join(&parts))
}

fn join(parts: &[String]) -> String {
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(MEMBER_SEPARATOR);
        }
        out.push_str(p);
    }
    out
}
