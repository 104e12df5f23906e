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
