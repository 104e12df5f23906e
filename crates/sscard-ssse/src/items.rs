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
use sscard_fs::profile::{Node, Structure};
use sscard_fs::{Address, Profile, SSSE};
use zeroize::Zeroizing;

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

/// Separator between the members of a group occurrence and the fields of a record
/// in the output (the vendors' format is not public: this SDK's choice).
pub const MEMBER_SEPARATOR: char = ',';

/// Reads every item of `address` and returns the values, one list per file part, in
/// the order of the address (ready for [`Address::format_values`]). The SSSE is
/// selected first; an application DF is selected by FID and, when `pin` is given, the
/// PIN is verified there before reading.
pub fn read_address<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
    address: &Address,
    pin: Option<&Pin>,
) -> Result<Vec<Vec<String>>, ReadError<T::Error>> {
    address.validate(profile).map_err(ReadError::Address)?;
    let ssse = profile.node(SSSE).ok_or(ReadError::Profile)?;
    let aid = ssse.aid.as_deref().ok_or(ReadError::Profile)?;
    let mut buf = [0u8; SHORT_RESPONSE_MAX];
    let mut current_df: Option<Option<u8>> = None;
    let mut out = Vec::with_capacity(address.files.len());
    for file in &address.files {
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
                if let Some(pin) = pin {
                    verify_pin(ex, pin)?;
                }
            }
            current_df = Some(df);
        }
        // Select the EF by FID (its SFI is not confirmed outside SSSE EF05/EF06).
        let fid_bytes = fid.to_be_bytes();
        let select_ef = CommandBuilder::new(0x00, 0xA4, 0x02, 0x00).data(&fid_bytes);
        transact(ex, &select_ef, &mut buf, Step::SelectEf(fid))?;
        let mut values = Vec::with_capacity(file.items.len().max(1));
        if let Some(number) = file.record {
            let step = Step::ReadRecord { fid, tag: 0 };
            let read = CommandBuilder::new(0x00, 0xB2, number, 0x04).le(node.record_length());
            let record = transact(ex, &read, &mut buf, step)?;
            values.push(decode_fields(node, record).map_err(|e| ReadError::BadValue(step, e))?);
        }
        for item in &file.items {
            values.push(read_item(ex, node, fid, *item, &mut buf)?);
        }
        out.push(values);
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
