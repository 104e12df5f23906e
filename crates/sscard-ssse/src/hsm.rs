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

// ---------------------------------------------------------------------------------------
// PIN reload and unblock through an HSM (iReloadPIN_HSM_Step1..3, iUnblockPIN_HSM_Step1..3)
// ---------------------------------------------------------------------------------------

/// Which PIN operation an HSM flow performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinOp {
    /// 重装: a new PIN, enciphered by the HSM, with the try counter reset.
    Reload,
    /// 解锁: the try counter reset.
    Unblock,
}

/// The HSM's key addresses (4 hex digits) of the PIN-unblock key and the secure-transport
/// key. The defaults `0090` and `0173` are those of the one public implementation
/// (`spec/sscard.md` §3.8, source S1); a province whose HSM differs configures its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HsmKeyAddresses {
    /// PUK (the external authentication before `84 24`).
    pub puk: [u8; 2],
    /// STK (enciphers the new PIN and MACs `84 24`).
    pub stk: [u8; 2],
}

impl Default for HsmKeyAddresses {
    fn default() -> Self {
        Self {
            puk: [0x00, 0x90],
            stk: [0x01, 0x73],
        }
    }
}

/// Step 1 output of the PIN flows (§3.8): `算法标识|PUK地址|过程因子|原始数据|` — the
/// HSM answers with the 16 bytes of EXTERNAL AUTHENTICATE (cryptogram ‖ plain data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinStep1 {
    /// 算法标识.
    pub algorithm_id: u8,
    /// HSM address of the PUK.
    pub key_address: [u8; 2],
    /// 过程因子: the card's last challenge.
    pub factor: [u8; 8],
    /// 原始数据: the plain data to encipher.
    pub data: [u8; 8],
}

impl fmt::Display for PinStep1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02X}|{}|{}|{}|",
            self.algorithm_id,
            hex::Hex(&self.key_address),
            hex::Hex(&self.factor),
            hex::Hex(&self.data)
        )
    }
}

impl PinStep1 {
    /// Parses a PIN Step 1 string.
    pub fn parse(text: &str) -> Result<Self, HsmStringError> {
        let f = fields(text)?;
        if f.len() != 4 {
            return Err(HsmStringError::FieldCount);
        }
        let [algorithm_id] = hex_field::<1>(&f, 0)?;
        Ok(Self {
            algorithm_id,
            key_address: hex_field(&f, 1)?,
            factor: hex_field(&f, 2)?,
            data: hex_field(&f, 3)?,
        })
    }
}

/// Step 2 output of the PIN flows (§3.8): `算法标识|STK地址|随机数|命令头|新密码|` for a
/// reload, `算法标识|STK地址|随机数|命令头|` for an unblock. The HSM answers with the body
/// of `84 24` (reload: enciphered PIN block ‖ 4-byte MAC; unblock: the 4-byte MAC).
///
/// The new PIN travels to the HSM in the clear in this string, as in the public
/// implementation (S1); the unblock form is the reload form without the PIN \[U\].
#[derive(Clone, PartialEq, Eq)]
pub struct PinStep2 {
    /// 算法标识.
    pub algorithm_id: u8,
    /// HSM address of the STK.
    pub key_address: [u8; 2],
    /// The card's challenge (the process factor of the STK).
    pub challenge: [u8; 8],
    /// The `84 24` command header the HSM MACs over (with the final Lc).
    pub header: [u8; 5],
    /// The new PIN's digits (reload only).
    pub new_pin: Option<zeroize::Zeroizing<String>>,
}

impl fmt::Debug for PinStep2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinStep2")
            .field("algorithm_id", &self.algorithm_id)
            .field("header", &hex::Hex(&self.header))
            .field("new_pin", &self.new_pin.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl fmt::Display for PinStep2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02X}|{}|{}|{}|",
            self.algorithm_id,
            hex::Hex(&self.key_address),
            hex::Hex(&self.challenge),
            hex::Hex(&self.header)
        )?;
        if let Some(pin) = &self.new_pin {
            write!(f, "{}|", pin.as_str())?;
        }
        Ok(())
    }
}

impl PinStep2 {
    /// Parses a PIN Step 2 string (four fields, or five with the new PIN).
    pub fn parse(text: &str) -> Result<Self, HsmStringError> {
        let f = fields(text)?;
        if f.len() != 4 && f.len() != 5 {
            return Err(HsmStringError::FieldCount);
        }
        let [algorithm_id] = hex_field::<1>(&f, 0)?;
        let new_pin = match f.get(4) {
            Some(p) if crate::Pin::new(p).is_ok() => {
                Some(zeroize::Zeroizing::new(String::from(*p)))
            }
            Some(_) => return Err(HsmStringError::Field { index: 4 }),
            None => None,
        };
        Ok(Self {
            algorithm_id,
            key_address: hex_field(&f, 1)?,
            challenge: hex_field(&f, 2)?,
            header: hex_field(&f, 3)?,
            new_pin,
        })
    }
}

/// Where a PIN flow stands between its steps.
#[derive(Clone, Debug)]
pub struct PinPending {
    op: PinOp,
    algorithm: Algorithm,
    algorithm_id: u8,
    addresses: HsmKeyAddresses,
    /// Set by Step 2: the header Step 3 sends.
    header: Option<[u8; 5]>,
}

impl PinPending {
    /// The operation.
    pub fn op(&self) -> PinOp {
        self.op
    }

    /// Whether Step 2 has run (Step 3 comes next).
    pub fn awaiting_step3(&self) -> bool {
        self.header.is_some()
    }
}

/// Why a PIN HSM step failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum PinHsmError<E> {
    /// The card refused a command or the exchange failed.
    Card(ReadError<E>),
    /// The steps were called out of order.
    OutOfOrder,
    /// The HSM's answer has the wrong length for this card's algorithm.
    AnswerLength {
        /// Bytes expected.
        expected: usize,
        /// Bytes given.
        actual: usize,
    },
    /// The card's algorithm identifier names an algorithm sscard does not implement.
    Algorithm(u8),
}

impl<E: fmt::Display> fmt::Display for PinHsmError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Card(e) => write!(f, "{e}"),
            Self::OutOfOrder => f.write_str("HSM steps called out of order"),
            Self::AnswerLength { expected, actual } => write!(
                f,
                "the HSM's answer is {actual} bytes, this card needs {expected}"
            ),
            Self::Algorithm(id) => write!(f, "algorithm identifier {id:02X} is not supported"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> core::error::Error for PinHsmError<E> {}

impl<E> From<ReadError<E>> for PinHsmError<E> {
    fn from(e: ReadError<E>) -> Self {
        Self::Card(e)
    }
}

/// Step 1 of a PIN flow, with the SSSE selected (the caller has read and checked
/// 卡识别码 and 卡号): two challenges (原始数据, then 过程因子 — the card's last challenge,
/// which the PUK's external authentication in Step 2 uses).
pub fn pin_step1<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    op: PinOp,
    algorithm_id: u8,
    addresses: HsmKeyAddresses,
) -> Result<(PinStep1, PinPending), PinHsmError<T::Error>> {
    let algorithm =
        Algorithm::from_card_id(algorithm_id).map_err(|_| PinHsmError::Algorithm(algorithm_id))?;
    let data = get_challenge(ex)?;
    let factor = get_challenge(ex)?;
    Ok((
        PinStep1 {
            algorithm_id,
            key_address: addresses.puk,
            factor,
            data,
        },
        PinPending {
            op,
            algorithm,
            algorithm_id,
            addresses,
            header: None,
        },
    ))
}

/// Step 2 of a PIN flow: the HSM's 16 bytes go to the card as the PUK's EXTERNAL
/// AUTHENTICATE; then a fresh challenge (the STK's process factor) and the string the
/// HSM needs to encipher the new PIN (reload) and MAC the `84 24` command.
pub fn pin_step2<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
    pending: &mut PinPending,
    external: &[u8; 16],
    new_pin: Option<&crate::Pin>,
) -> Result<PinStep2, PinHsmError<T::Error>> {
    if pending.header.is_some() {
        return Err(PinHsmError::OutOfOrder);
    }
    let (puk, _) = crate::security::pin_keys(profile).ok_or(ReadError::Profile)?;
    let mut buf = [0u8; 8];
    let cmd = CommandBuilder::new(0x00, 0x82, 0x00, puk).data(external);
    transact(ex, &cmd, &mut buf, Step::ExternalAuth(puk))?;
    let challenge = get_challenge(ex)?;
    let block = pending.algorithm.block_len();
    let header = match pending.op {
        PinOp::Reload => {
            let lc = u8::try_from(block + 4).map_err(|_| PinHsmError::Algorithm(0))?;
            [0x84, 0x24, 0x00, 0x01, lc]
        }
        PinOp::Unblock => [0x84, 0x24, 0x00, 0x00, 0x04],
    };
    pending.header = Some(header);
    Ok(PinStep2 {
        algorithm_id: pending.algorithm_id,
        key_address: pending.addresses.stk,
        challenge,
        header,
        new_pin: match pending.op {
            PinOp::Reload => new_pin.map(|p| zeroize::Zeroizing::new(String::from(p.digits()))),
            PinOp::Unblock => None,
        },
    })
}

/// Step 3 of a PIN flow: the HSM's answer is the body of `84 24` (reload: enciphered PIN
/// block ‖ MAC; unblock: MAC), sent with the header of Step 2.
pub fn pin_step3<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    pending: PinPending,
    answer: &[u8],
) -> Result<(), PinHsmError<T::Error>> {
    let header = pending.header.ok_or(PinHsmError::OutOfOrder)?;
    let [cla, ins, p1, p2, lc] = header;
    if answer.len() != usize::from(lc) {
        return Err(PinHsmError::AnswerLength {
            expected: usize::from(lc),
            actual: answer.len(),
        });
    }
    let mut buf = [0u8; 8];
    transact(
        ex,
        &CommandBuilder::new(cla, ins, p1, p2).data(answer),
        &mut buf,
        Step::PinReload,
    )?;
    Ok(())
}

impl<K: KeyScheme> SoftHsm<K> {
    /// The answer to a PIN Step 1: the PUK's external-authentication cryptogram ‖ the
    /// plain data. `card` names the card (its 卡识别码 and the ATR or its historical
    /// bytes), which a real HSM learns from the application's request.
    pub fn answer_pin_step1(
        &mut self,
        step1: &PinStep1,
        card: &CardContext<'_>,
        puk: u8,
    ) -> Result<[u8; 16], SoftKeysError> {
        let c = self
            .keys
            .cryptogram(card, puk, &step1.factor, &step1.data)?;
        let mut out = [0u8; 16];
        for (dst, src) in out.iter_mut().zip(c.iter().chain(&step1.data)) {
            *dst = *src;
        }
        Ok(out)
    }

    /// The answer to a PIN Step 2: the body of `84 24` under the STK's process key for
    /// the card's challenge (reload: the new PIN's block enciphered ‖ MAC; unblock: MAC).
    pub fn answer_pin_step2(
        &mut self,
        step2: &PinStep2,
        card: &CardContext<'_>,
        stk: u8,
    ) -> Result<Vec<u8>, SoftKeysError> {
        use crate::security::SecureTransport;
        let mut body = Vec::new();
        if let Some(digits) = &step2.new_pin {
            let pin = sscard_crypto::pin::Pin::new(digits).map_err(SoftKeysError::Crypto)?;
            let mut block = zeroize::Zeroizing::new([0u8; 16]);
            let n = pin
                .write_card_block(card.algorithm, &mut *block)
                .map_err(SoftKeysError::Crypto)?;
            let enc = block.get_mut(..n).unwrap_or_default();
            self.keys.encrypt(card, stk, &step2.challenge, enc)?;
            body.extend_from_slice(enc);
        }
        let mut mac_input = Vec::with_capacity(5 + body.len());
        mac_input.extend_from_slice(&step2.header);
        mac_input.extend_from_slice(&body);
        let mac = self.keys.mac(card, stk, &step2.challenge, &mac_input)?;
        body.extend_from_slice(mac.get(..4).unwrap_or_default());
        Ok(body)
    }
}
