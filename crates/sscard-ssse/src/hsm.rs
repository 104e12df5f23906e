//! The strings of the HSM (加密机) two-step flow, exactly as the reader library
//! exchanges them with an application (`spec/sscard.md` §3.8).
//!
//! Step 1 (the card side gathers data and challenges) emits, pipe-separated with a
//! trailing `|`:
//! `发卡地区行政区划代码|卡复位信息|算法标识|卡识别码|内部认证过程因子|内部认证原始数据|外部认证过程因子|外部认证原始数据|终端设备号|`
//! — the terminal-device field is missing in some deployments (the published example
//! has eight fields), so both forms are parsed and the caller chooses which to emit.
//!
//! The HSM answers with the Step 2 key string `<32 hex internal-auth data>|<32 hex
//! external-auth data>|`: the first 8 bytes of the first field must equal the card's
//! internal-authentication answer, the second field goes to the card as `00 82 00 0A 10 …`.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use sscard_apdu::hex;

/// The Step 1 output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step1 {
    /// 发卡地区行政区划代码: first six characters of the card identification code.
    pub region_code: String,
    /// 卡复位信息: the ATR historical bytes.
    pub atr_historical: Vec<u8>,
    /// 算法标识 from the SSSE FCI (`01` when the card announces none).
    pub algorithm_id: u8,
    /// 卡识别码 (16 bytes).
    pub card_id: Vec<u8>,
    /// 内部认证过程因子: the challenge used as the internal-authentication process factor.
    pub internal_factor: [u8; 8],
    /// 内部认证原始数据: the plain data sent in INTERNAL AUTHENTICATE.
    pub internal_data: [u8; 8],
    /// 外部认证过程因子: the card's last challenge before EXTERNAL AUTHENTICATE.
    pub external_factor: [u8; 8],
    /// 外部认证原始数据.
    pub external_data: [u8; 8],
    /// 终端设备号, when the deployment sends one.
    pub device_number: Option<String>,
}

/// Why a Step string is not acceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HsmStringError {
    /// Wrong number of `|`-separated fields, or no trailing `|`.
    FieldCount,
    /// Field `index` (0-based) is not hex of the right length, or not digits.
    Field {
        /// The field's index.
        index: usize,
    },
}

impl fmt::Display for HsmStringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FieldCount => {
                f.write_str("HSM string has the wrong number of |-separated fields")
            }
            Self::Field { index } => write!(f, "HSM string field {} is malformed", index + 1),
        }
    }
}

impl core::error::Error for HsmStringError {}

fn fields(text: &str) -> Result<Vec<&str>, HsmStringError> {
    let body = text
        .trim()
        .strip_suffix('|')
        .ok_or(HsmStringError::FieldCount)?;
    Ok(body.split('|').collect())
}

fn hex_field<const N: usize>(f: &[&str], index: usize) -> Result<[u8; N], HsmStringError> {
    let text = f.get(index).ok_or(HsmStringError::FieldCount)?;
    if text.len() != 2 * N {
        return Err(HsmStringError::Field { index });
    }
    hex::decode_array::<N>(text).map_err(|_| HsmStringError::Field { index })
}

fn hex_vec(f: &[&str], index: usize, min: usize, max: usize) -> Result<Vec<u8>, HsmStringError> {
    let text = f.get(index).ok_or(HsmStringError::FieldCount)?;
    let bytes = hex::to_vec(text).map_err(|_| HsmStringError::Field { index })?;
    if bytes.len() < min || bytes.len() > max || text.len() != 2 * bytes.len() {
        return Err(HsmStringError::Field { index });
    }
    Ok(bytes)
}

impl Step1 {
    /// Parses a Step 1 string (eight or nine fields).
    pub fn parse(text: &str) -> Result<Self, HsmStringError> {
        let f = fields(text)?;
        if f.len() != 8 && f.len() != 9 {
            return Err(HsmStringError::FieldCount);
        }
        let region = f.first().copied().unwrap_or_default();
        if region.len() != 6 || !region.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HsmStringError::Field { index: 0 });
        }
        let [algorithm_id] = hex_field::<1>(&f, 2)?;
        Ok(Self {
            region_code: region.into(),
            atr_historical: hex_vec(&f, 1, 0, 15)?,
            algorithm_id,
            card_id: hex_vec(&f, 3, 16, 16)?,
            internal_factor: hex_field(&f, 4)?,
            internal_data: hex_field(&f, 5)?,
            external_factor: hex_field(&f, 6)?,
            external_data: hex_field(&f, 7)?,
            device_number: f.get(8).map(|s| String::from(*s)),
        })
    }
}

impl fmt::Display for Step1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = hex::Hex;
        write!(
            f,
            "{}|{}|{:02X}|{}|{}|{}|{}|{}|",
            self.region_code,
            h(&self.atr_historical),
            self.algorithm_id,
            h(&self.card_id),
            h(&self.internal_factor),
            h(&self.internal_data),
            h(&self.external_factor),
            h(&self.external_data),
        )?;
        if let Some(device) = &self.device_number {
            write!(f, "{device}|")?;
        }
        Ok(())
    }
}

/// The HSM's answer, passed to Step 2 as `pKey`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Step2Key {
    /// 内部认证数据: 16 bytes; the first 8 must equal the card's internal-auth answer.
    pub internal: [u8; 16],
    /// 外部认证数据: 16 bytes sent in EXTERNAL AUTHENTICATE with RKSSSE.
    pub external: [u8; 16],
}

impl fmt::Debug for Step2Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Authentication cryptograms: not secret keys, but single-use; keep them out of logs.
        f.write_str("Step2Key(<redacted>)")
    }
}

impl Step2Key {
    /// Parses `<32 hex>|<32 hex>|`.
    pub fn parse(text: &str) -> Result<Self, HsmStringError> {
        let f = fields(text)?;
        if f.len() != 2 {
            return Err(HsmStringError::FieldCount);
        }
        Ok(Self {
            internal: hex_field(&f, 0)?,
            external: hex_field(&f, 1)?,
        })
    }
}

impl fmt::Display for Step2Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}|{}|",
            hex::Hex(&self.internal),
            hex::Hex(&self.external)
        )
    }
}

// ---------------------------------------------------------------------------------------
// The card side of the two steps, and a software HSM for development and tests.
// ---------------------------------------------------------------------------------------

use sscard_apdu::command::SHORT_RESPONSE_MAX;
use sscard_apdu::trace::Trace;
use sscard_apdu::{CommandBuilder, Exchange, Transport};
use sscard_crypto::kdf::KeyScheme;
use sscard_crypto::keys::Algorithm;
use sscard_fs::{Profile, SSSE_EF05, SSSE_EF06};

use crate::security::{get_challenge, CardContext, SecurityModule, SoftKeys, SoftKeysError};
use crate::{
    ef05_text, read_items_into, read_pre_auth, transact, BasicInfo, ReadError, Selection, Step,
};

/// What Step 1 leaves for Step 2 (the card session must stay open in between, with no
/// other command sent to the card: its last challenge is the external process factor).
#[derive(Clone, Debug)]
pub struct HsmPending {
    atr: Vec<u8>,
    algorithm_id: Option<u8>,
    files: alloc::collections::BTreeMap<String, sscard_fs::image::FileValues>,
    internal_answer: [u8; 8],
}

/// Why a step failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum HsmError<E> {
    /// The card refused a command or the exchange failed.
    Card(ReadError<E>),
    /// The card is not a 3.0 card: basic information needs no HSM (reader libraries
    /// return −2204).
    NotRequired,
    /// The HSM's internal-authentication data does not match the card's answer (−25).
    InternalAuthMismatch,
}

impl<E: fmt::Display> fmt::Display for HsmError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Card(e) => write!(f, "{e}"),
            Self::NotRequired => {
                f.write_str("the card is not a 3.0 card: no HSM authentication needed")
            }
            Self::InternalAuthMismatch => f.write_str(
                "internal authentication disagrees with the HSM: the card is not genuine",
            ),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> core::error::Error for HsmError<E> {}

impl<E> From<ReadError<E>> for HsmError<E> {
    fn from(e: ReadError<E>) -> Self {
        Self::Card(e)
    }
}

/// Step 1 (`iReadCardBas_HSM_Step1`): select the SSSE, read 卡识别码, 规范版本 and 卡号;
/// on a 3.0 card take two challenges and run INTERNAL AUTHENTICATE with them (plain data
/// first, then the process factor), then take two more challenges for the external
/// authentication (the last one stays the card's current challenge). Returns the Step 1
/// string to hand to the HSM and the state Step 2 needs.
pub fn step1<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
    atr: &[u8],
    device_number: Option<&str>,
) -> Result<(Step1, HsmPending), HsmError<T::Error>> {
    let (algorithm_id, files) = read_pre_auth(ex, profile)?;
    let (card_id, version) = (
        ef05_text(&files, "card_id"),
        ef05_text(&files, "spec_version"),
    );
    if !version.starts_with('3') {
        return Err(HsmError::NotRequired);
    }
    let internal_data = get_challenge(ex)?;
    let internal_factor = get_challenge(ex)?;
    let mut data = [0u8; 16];
    for (dst, src) in data
        .iter_mut()
        .zip(internal_factor.iter().chain(&internal_data))
    {
        *dst = *src;
    }
    let mut buf = [0u8; SHORT_RESPONSE_MAX];
    let cmd = CommandBuilder::new(0x00, 0x88, 0x00, 0x00)
        .data(&data)
        .le(8);
    let answer = transact(ex, &cmd, &mut buf, Step::InternalAuth)?;
    let internal_answer: [u8; 8] = answer
        .get(..8)
        .and_then(|a| a.try_into().ok())
        .ok_or(ReadError::BadRecord(Step::InternalAuth))?;
    let external_data = get_challenge(ex)?;
    let external_factor = get_challenge(ex)?;
    let historical = sscard_apdu::atr::historical_bytes(atr).unwrap_or_default();
    let card_id_bytes =
        hex::to_vec(&card_id).map_err(|_| ReadError::BadRecord(Step::SelectSsse))?;
    let step1 = Step1 {
        region_code: card_id.chars().take(6).collect(),
        atr_historical: historical.to_vec(),
        algorithm_id: algorithm_id.unwrap_or(Algorithm::DEFAULT_CARD_ID),
        card_id: card_id_bytes,
        internal_factor,
        internal_data,
        external_factor,
        external_data,
        device_number: device_number.map(String::from),
    };
    let pending = HsmPending {
        atr: atr.to_vec(),
        algorithm_id,
        files,
        internal_answer,
    };
    Ok((step1, pending))
}

/// Step 2 (`iReadCardBas_HSM_Step2`): check the HSM's internal-authentication data
/// against the card's answer, send its external-authentication data to the card with
/// the read key the profile's 3.0 conditions name (RKSSSE), then read the protected
/// basic items.
pub fn step2<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
    pending: HsmPending,
    key: &Step2Key,
) -> Result<BasicInfo, HsmError<T::Error>> {
    if key.internal.get(..8) != Some(&pending.internal_answer[..]) {
        return Err(HsmError::InternalAuthMismatch);
    }
    let read_key = crate::basic_read_key(profile).ok_or(ReadError::Profile)?;
    let mut buf = [0u8; 8];
    let cmd = CommandBuilder::new(0x00, 0x82, 0x00, read_key).data(&key.external);
    transact(ex, &cmd, &mut buf, Step::ExternalAuth(read_key))?;
    let mut files = pending.files;
    let rest: [(&str, Selection<'_>); 2] = [
        (SSSE_EF05, Selection::Keys(&["issue_date", "expiry_date"])),
        (SSSE_EF06, Selection::Keys(&["ssn", "name", "name_ext"])),
    ];
    read_items_into(ex, profile, &rest, &mut files)?;
    Ok(BasicInfo::from_image(&crate::image_of(
        &pending.atr,
        pending.algorithm_id,
        files,
    )))
}

/// A software HSM for development and tests: answers Step 1 strings with [`SoftKeys`].
/// The card factor is the last 8 bytes of the historical bytes in the Step 1 string
/// (the last 8 bytes of the ATR for ATRs without TCK, as the HSM protocol assumes).
pub struct SoftHsm<K> {
    keys: SoftKeys<K>,
    irk: u8,
    read_key: u8,
}

impl<K: KeyScheme> SoftHsm<K> {
    /// An HSM holding `keys`; `irk` and `read_key` are the card key ids of the
    /// internal-authentication key and RKSSSE (from the profile).
    pub fn new(keys: SoftKeys<K>, irk: u8, read_key: u8) -> Self {
        Self {
            keys,
            irk,
            read_key,
        }
    }

    /// The Step 2 key string for a Step 1 string: the internal-authentication
    /// cryptogram ‖ the plain data, and the external cryptogram ‖ the plain data.
    pub fn answer(&mut self, step1: &Step1) -> Result<Step2Key, SoftKeysError> {
        let algorithm =
            Algorithm::from_card_id(step1.algorithm_id).map_err(SoftKeysError::Crypto)?;
        let card_id = alloc::format!("{}", hex::Hex(&step1.card_id));
        let card = CardContext {
            atr: &step1.atr_historical,
            card_id: &card_id,
            algorithm,
        };
        let internal = self.keys.cryptogram(
            &card,
            self.irk,
            &step1.internal_factor,
            &step1.internal_data,
        )?;
        let external = self.keys.cryptogram(
            &card,
            self.read_key,
            &step1.external_factor,
            &step1.external_data,
        )?;
        let join = |a: [u8; 8], b: [u8; 8]| {
            let mut out = [0u8; 16];
            for (dst, src) in out.iter_mut().zip(a.iter().chain(&b)) {
                *dst = *src;
            }
            out
        };
        Ok(Step2Key {
            internal: join(internal, step1.internal_data),
            external: join(external, step1.external_data),
        })
    }
}

impl<K> fmt::Debug for SoftHsm<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftHsm").finish_non_exhaustive()
    }
}
