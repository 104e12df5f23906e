//! The exported C functions. Each one: reads its C strings (bounded), takes the session
//! lock, runs the operation of `crate::ops`, writes pOutInfo (encoded, NUL-terminated,
//! never past the buffer) and returns the code; a panic is caught and becomes −1002.
//!
//! This file is read by the header generator (`tests/header.rs`): the doc comment of
//! each `#[no_mangle]` function becomes its comment in `include/sscard.h`.
//!
//! # Safety
//!
//! One contract for every exported function, stated here once rather than in each
//! function's comment (which goes to the header): each pointer argument is NULL or
//! valid; an input string is NUL-terminated; an output buffer of a legacy function has
//! at least 1024 bytes, that of an `_ex` function at least `*pOutLen` bytes; a length
//! pointer points to a `size_t`. Nothing is kept after the call returns.
#![allow(unsafe_code, non_snake_case, clippy::missing_safety_doc)]

use std::os::raw::{c_char, c_int, c_long};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, MutexGuard};

use sscard_ssse::hsm::PinOp;

use crate::codes::{
    Failure, Outcome, SSCARD_E_BUFFER_TOO_SMALL, SSCARD_E_CONFIG, SSCARD_E_DATA_LENGTH,
    SSCARD_E_ILLEGAL_CHARS, SSCARD_E_INTERNAL, SSCARD_E_PARAM, SSCARD_E_UNSUPPORTED,
    SSCARD_LEGACY_BUFFER_LEN, SSCARD_OK,
};
use crate::config::Config;
use crate::ops::{self, PinInput};
use crate::session::Session;
use crate::text::TextEncoding;

/// The card session of the process. Every exported function holds this lock for its
/// whole run, so calls from several threads are serialised (and a PC/SC card is used by
/// one call at a time).
static SESSION: Mutex<Option<Session>> = Mutex::new(None);

/// The longest C string read (bytes before the NUL).
pub const MAX_INPUT: usize = 64 * 1024;

/// The session lock; a poisoned lock (a panic in an earlier call) starts a new session.
fn lock() -> MutexGuard<'static, Option<Session>> {
    match SESSION.lock() {
        Ok(guard) => guard,
        Err(poisoned) => {
            let mut guard = poisoned.into_inner();
            *guard = None;
            SESSION.clear_poison();
            guard
        }
    }
}

fn session(slot: &mut Option<Session>) -> Outcome<&mut Session> {
    if slot.is_none() {
        let config = Config::load().map_err(|e| Failure::new(SSCARD_E_CONFIG, e.to_string()))?;
        *slot = Some(Session::new(config)?);
    }
    slot.as_mut()
        .ok_or_else(|| Failure::new(SSCARD_E_INTERNAL, "no session"))
}

/// Replaces the session with one for `config` (Rust callers and tests).
pub fn configure(config: Config) -> Result<(), Failure> {
    let session = Session::new(config)?;
    *lock() = Some(session);
    Ok(())
}

/// Drops the session; the next call reads the environment and the ini file again.
pub fn reset() {
    *lock() = None;
}

/// A caller's output buffer.
struct Out {
    ptr: *mut c_char,
    cap: usize,
    len: *mut usize,
}

impl Out {
    /// A legacy buffer of [`SSCARD_LEGACY_BUFFER_LEN`] bytes.
    ///
    /// # Safety
    /// `ptr` is NULL or valid for writes of `SSCARD_LEGACY_BUFFER_LEN` bytes.
    unsafe fn legacy(ptr: *mut c_char) -> Self {
        Self {
            ptr,
            cap: if ptr.is_null() {
                0
            } else {
                SSCARD_LEGACY_BUFFER_LEN
            },
            len: std::ptr::null_mut(),
        }
    }

    /// A buffer whose capacity is `*len`; `*len` receives the size needed.
    ///
    /// # Safety
    /// `len` is NULL or valid for reads and writes of a `size_t`; `ptr` is NULL or valid
    /// for writes of `*len` bytes.
    unsafe fn ex(ptr: *mut c_char, len: *mut usize) -> Self {
        let cap = if ptr.is_null() || len.is_null() {
            0
        } else {
            // SAFETY: `len` is not NULL, and the caller promises it is a valid size_t.
            unsafe { len.read() }
        };
        Self { ptr, cap, len }
    }

    fn usable(&self, ex: bool) -> bool {
        !self.ptr.is_null() && (!ex || !self.len.is_null())
    }

    fn set_len(&self, n: usize) {
        if !self.len.is_null() {
            // SAFETY: `len` is not NULL and valid for writes (constructor contract).
            unsafe { self.len.write(n) }
        }
    }

    /// Writes `bytes` and a NUL if they fit, else an empty string.
    fn write(&self, bytes: &[u8]) -> c_long {
        let needed = bytes.len() + 1;
        self.set_len(needed);
        if needed > self.cap {
            self.write_fitting(&[]);
            return SSCARD_E_BUFFER_TOO_SMALL;
        }
        self.write_fitting(bytes);
        SSCARD_OK
    }

    /// Writes `bytes` and a NUL; does nothing unless they fit.
    fn write_fitting(&self, bytes: &[u8]) {
        if self.ptr.is_null() || bytes.len() >= self.cap {
            return;
        }
        let dst = self.ptr.cast::<u8>();
        // SAFETY: bytes.len() < cap, and `ptr` is valid for writes of `cap` bytes
        // (constructor contract); our slice cannot overlap the caller's buffer.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len()) };
        // SAFETY: bytes.len() < cap, so the NUL is inside the buffer too.
        unsafe { dst.add(bytes.len()).write(0) };
    }

    /// The failure's message, shortened to fit; `*len` says how much was written.
    fn write_failure(&self, encoding: TextEncoding, failure: &Failure) -> c_long {
        let bytes = encoding.encode_fitting(&failure.message, self.cap);
        if self.cap > 0 {
            self.write_fitting(&bytes);
            self.set_len(bytes.len() + 1);
        } else {
            self.set_len(0);
        }
        failure.code
    }
}

/// A C string argument: `None` for NULL.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string; at most [`MAX_INPUT`] bytes are
/// read before the NUL.
unsafe fn input<'a>(p: *const c_char) -> Result<Option<&'a [u8]>, Failure> {
    if p.is_null() {
        return Ok(None);
    }
    let bytes = p.cast::<u8>();
    let mut n = 0;
    loop {
        if n == MAX_INPUT {
            return Err(Failure::new(
                SSCARD_E_DATA_LENGTH,
                "input longer than 64 KiB (or not NUL-terminated)",
            ));
        }
        // SAFETY: the caller promises a NUL-terminated string and we stop at its NUL, so
        // byte `n` is inside it.
        if unsafe { bytes.add(n).read() } == 0 {
            break;
        }
        n += 1;
    }
    // SAFETY: the `n` bytes before the NUL were just read, so they are valid for reads,
    // and the caller keeps the string alive for the call.
    Ok(Some(unsafe { std::slice::from_raw_parts(bytes, n) }))
}

/// An argument decoded with the configured encoding; NULL is an error when `required`,
/// else the empty string.
fn text(
    s: &Session,
    raw: Result<Option<&[u8]>, Failure>,
    name: &str,
    required: bool,
) -> Outcome<String> {
    match raw? {
        None if required => Err(Failure::new(SSCARD_E_PARAM, format!("{name} is NULL"))),
        None => Ok(String::new()),
        Some(bytes) => s.config.encoding.decode(bytes).ok_or_else(|| {
            Failure::new(
                SSCARD_E_ILLEGAL_CHARS,
                format!("{name} is not valid in the configured encoding"),
            )
        }),
    }
}

/// Runs `f` behind `catch_unwind`; a panic becomes [`SSCARD_E_INTERNAL`].
fn guarded(f: impl FnOnce() -> c_long) -> c_long {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(SSCARD_E_INTERNAL)
}

/// One call with one output buffer.
fn call(out: &Out, ex: bool, f: impl FnOnce(&mut Session) -> Outcome<String>) -> c_long {
    guarded(|| {
        if !out.usable(ex) {
            return SSCARD_E_PARAM;
        }
        let mut slot = lock();
        let (encoding, result) = match session(&mut slot) {
            Ok(s) => {
                let encoding = s.config.encoding;
                (encoding, f(s))
            }
            Err(e) => (TextEncoding::default(), Err(e)),
        };
        match result {
            Ok(text) => out.write(&encoding.encode(&text)),
            Err(failure) => out.write_failure(encoding, &failure),
        }
    })
}

/// A function this library does not provide: −13 and a message.
fn unsupported(out: *mut c_char, name: &str) -> c_long {
    guarded(|| {
        // SAFETY: the caller passes NULL or a buffer of the customary 1024 bytes.
        let out = unsafe { Out::legacy(out) };
        let failure = Failure::new(
            SSCARD_E_UNSUPPORTED,
            format!("不支持 ({name} is not supported by libsscard)"),
        );
        out.write_failure(TextEncoding::default(), &failure)
    })
}

// --------------------------------------------------------------------- basic information

/// Reads the card's basic information (社会保障卡基本信息): `发卡地区行政区划代码|社会保障号码|卡号|卡识别码|姓名|卡复位信息|规范版本|发卡日期|卡有效期|终端机编号|终端设备号|`.
/// iType: 1 contact, 2 contactless, 3 auto (contact first), 4 auto (contactless first).
/// A 3.0 card needs a security module; without one the call returns -2201 (use the HSM steps).
/// pOutInfo: 1024 bytes; on failure it holds a message.
#[no_mangle]
pub unsafe extern "system" fn iReadCardBas(iType: c_int, pOutInfo: *mut c_char) -> c_long {
    // SAFETY: the caller passes NULL or a buffer of the customary 1024 bytes.
    let out = unsafe { Out::legacy(pOutInfo) };
    call(&out, false, |s| ops::read_card_bas(s, iType))
}

/// iReadCardBas with the buffer size in *pOutLen; *pOutLen receives the size needed (NUL included).
#[no_mangle]
pub unsafe extern "system" fn iReadCardBas_ex(
    iType: c_int,
    pOutInfo: *mut c_char,
    pOutLen: *mut usize,
) -> c_long {
    // SAFETY: the caller passes a valid size_t and a buffer of *pOutLen bytes (or NULLs).
    let out = unsafe { Out::ex(pOutInfo, pOutLen) };
    call(&out, true, |s| ops::read_card_bas(s, iType))
}

// ------------------------------------------------------------------- items by address

/// Reads items by address: pFileAddr like `SSSEEF05|06|07|$DF01EF05|20|$`; the output mirrors it with values in place of the tags.
/// iAuthType: 0 none, 1 the PIN (from the configured PIN source) in each application DF, 2 the files' read keys (security module).
/// pCardInfo: `卡识别码|卡号|` to check against the card, or empty/NULL for no check.
#[no_mangle]
pub unsafe extern "system" fn iReadCard(
    iType: c_int,
    iAuthType: c_int,
    pCardInfo: *const c_char,
    pFileAddr: *const c_char,
    pOutInfo: *mut c_char,
) -> c_long {
    // SAFETY: the caller passes NULL or NUL-terminated strings.
    let (info, addr) = unsafe { (input(pCardInfo), input(pFileAddr)) };
    // SAFETY: the caller passes NULL or a buffer of the customary 1024 bytes.
    let out = unsafe { Out::legacy(pOutInfo) };
    call(&out, false, |s| {
        let info = text(s, info, "pCardInfo", false)?;
        let addr = text(s, addr, "pFileAddr", true)?;
        ops::read_card(s, iType, iAuthType, &info, &addr)
    })
}

/// iReadCard with the buffer size in *pOutLen; *pOutLen receives the size needed.
#[no_mangle]
pub unsafe extern "system" fn iReadCard_ex(
    iType: c_int,
    iAuthType: c_int,
    pCardInfo: *const c_char,
    pFileAddr: *const c_char,
    pOutInfo: *mut c_char,
    pOutLen: *mut usize,
) -> c_long {
    // SAFETY: the caller passes NULL or NUL-terminated strings.
    let (info, addr) = unsafe { (input(pCardInfo), input(pFileAddr)) };
    // SAFETY: the caller passes a valid size_t and a buffer of *pOutLen bytes (or NULLs).
    let out = unsafe { Out::ex(pOutInfo, pOutLen) };
    call(&out, true, |s| {
        let info = text(s, info, "pCardInfo", false)?;
        let addr = text(s, addr, "pFileAddr", true)?;
        ops::read_card(s, iType, iAuthType, &info, &addr)
    })
}

/// Writes items by address, authenticating with each file's update key (security module).
/// pWriteData has iReadCard's output shape for the same address (`SSSEEF05|v1|v2|$`; the file heads may be left out).
/// The output is what was written.
#[no_mangle]
pub unsafe extern "system" fn iWriteCard(
    iType: c_int,
    pCardInfo: *const c_char,
    pFileAddr: *const c_char,
    pWriteData: *const c_char,
    pOutInfo: *mut c_char,
) -> c_long {
    // SAFETY: the caller passes NULL or NUL-terminated strings.
    let (info, addr, data) = unsafe { (input(pCardInfo), input(pFileAddr), input(pWriteData)) };
    // SAFETY: the caller passes NULL or a buffer of the customary 1024 bytes.
    let out = unsafe { Out::legacy(pOutInfo) };
    call(&out, false, |s| {
        let info = text(s, info, "pCardInfo", false)?;
        let addr = text(s, addr, "pFileAddr", true)?;
        let data = text(s, data, "pWriteData", true)?;
        ops::write_card(s, iType, &info, &addr, &data)
    })
}

/// iWriteCard with the buffer size in *pOutLen; *pOutLen receives the size needed.
#[no_mangle]
pub unsafe extern "system" fn iWriteCard_ex(
    iType: c_int,
    pCardInfo: *const c_char,
    pFileAddr: *const c_char,
    pWriteData: *const c_char,
    pOutInfo: *mut c_char,
    pOutLen: *mut usize,
) -> c_long {
    // SAFETY: the caller passes NULL or NUL-terminated strings.
    let (info, addr, data) = unsafe { (input(pCardInfo), input(pFileAddr), input(pWriteData)) };
    // SAFETY: the caller passes a valid size_t and a buffer of *pOutLen bytes (or NULLs).
    let out = unsafe { Out::ex(pOutInfo, pOutLen) };
    call(&out, true, |s| {
        let info = text(s, info, "pCardInfo", false)?;
        let addr = text(s, addr, "pFileAddr", true)?;
        let data = text(s, data, "pWriteData", true)?;
        ops::write_card(s, iType, &info, &addr, &data)
    })
}

// ----------------------------------------------------------------------------- PINs

/// Verifies the PIN entered on the PIN pad: here, taken from the configured pin_source (none: -13).
/// 0 on success; -51 wrong PIN (pOutInfo says the tries left), -52 blocked.
#[no_mangle]
pub unsafe extern "system" fn iVerifyPIN(iType: c_int, pOutInfo: *mut c_char) -> c_long {
    // SAFETY: the caller passes NULL or a buffer of the customary 1024 bytes.
    let out = unsafe { Out::legacy(pOutInfo) };
    call(&out, false, |s| ops::verify_pin(s, iType, PinInput::Source))
}

/// iVerifyPIN with the buffer size in *pOutLen; *pOutLen receives the size needed.
#[no_mangle]
pub unsafe extern "system" fn iVerifyPIN_ex(
    iType: c_int,
    pOutInfo: *mut c_char,
    pOutLen: *mut usize,
) -> c_long {
    // SAFETY: the caller passes a valid size_t and a buffer of *pOutLen bytes (or NULLs).
    let out = unsafe { Out::ex(pOutInfo, pOutLen) };
    call(&out, true, |s| ops::verify_pin(s, iType, PinInput::Source))
}

/// Verifies the PIN given by the application (4 to 12 digits), as some vendor libraries export it.
/// 0 on success; -51 wrong PIN (pOutInfo says the tries left), -52 blocked, -41/-33 not a PIN.
#[no_mangle]
pub unsafe extern "system" fn iVerifyPin(
    iType: c_int,
    pPin: *const c_char,
    pOutInfo: *mut c_char,
) -> c_long {
    // SAFETY: the caller passes NULL or a NUL-terminated string.
    let pin = unsafe { input(pPin) };
    // SAFETY: the caller passes NULL or a buffer of the customary 1024 bytes.
    let out = unsafe { Out::legacy(pOutInfo) };
    call(&out, false, |s| {
        let pin = zeroize::Zeroizing::new(text(s, pin, "pPin", true)?);
        ops::verify_pin(s, iType, PinInput::Given(&pin))
    })
}

/// iVerifyPin with the buffer size in *pOutLen; *pOutLen receives the size needed.
#[no_mangle]
pub unsafe extern "system" fn iVerifyPin_ex(
    iType: c_int,
    pPin: *const c_char,
    pOutInfo: *mut c_char,
    pOutLen: *mut usize,
) -> c_long {
    // SAFETY: the caller passes NULL or a NUL-terminated string.
    let pin = unsafe { input(pPin) };
    // SAFETY: the caller passes a valid size_t and a buffer of *pOutLen bytes (or NULLs).
    let out = unsafe { Out::ex(pOutInfo, pOutLen) };
    call(&out, true, |s| {
        let pin = zeroize::Zeroizing::new(text(s, pin, "pPin", true)?);
        ops::verify_pin(s, iType, PinInput::Given(&pin))
    })
}

/// Changes the PIN entered on the PIN pad (old, new, new again): here, from the configured pin_source (none: -13).
#[no_mangle]
pub unsafe extern "system" fn iChangePIN(iType: c_int, pOutInfo: *mut c_char) -> c_long {
    // SAFETY: the caller passes NULL or a buffer of the customary 1024 bytes.
    let out = unsafe { Out::legacy(pOutInfo) };
    call(&out, false, |s| {
        ops::change_pin(s, iType, PinInput::Source, PinInput::Source)
    })
}

/// iChangePIN with the buffer size in *pOutLen; *pOutLen receives the size needed.
#[no_mangle]
pub unsafe extern "system" fn iChangePIN_ex(
    iType: c_int,
    pOutInfo: *mut c_char,
    pOutLen: *mut usize,
) -> c_long {
    // SAFETY: the caller passes a valid size_t and a buffer of *pOutLen bytes (or NULLs).
    let out = unsafe { Out::ex(pOutInfo, pOutLen) };
    call(&out, true, |s| {
        ops::change_pin(s, iType, PinInput::Source, PinInput::Source)
    })
}

/// Changes the PIN from pOldPin to pNewPin (given by the application), as some vendor libraries export it.
#[no_mangle]
pub unsafe extern "system" fn iChangePin(
    iType: c_int,
    pOldPin: *const c_char,
    pNewPin: *const c_char,
    pOutInfo: *mut c_char,
) -> c_long {
    // SAFETY: the caller passes NULL or NUL-terminated strings.
    let (old, new) = unsafe { (input(pOldPin), input(pNewPin)) };
    // SAFETY: the caller passes NULL or a buffer of the customary 1024 bytes.
    let out = unsafe { Out::legacy(pOutInfo) };
    call(&out, false, |s| {
        let old = zeroize::Zeroizing::new(text(s, old, "pOldPin", true)?);
        let new = zeroize::Zeroizing::new(text(s, new, "pNewPin", true)?);
        ops::change_pin(s, iType, PinInput::Given(&old), PinInput::Given(&new))
    })
}

/// iChangePin with the buffer size in *pOutLen; *pOutLen receives the size needed.
#[no_mangle]
pub unsafe extern "system" fn iChangePin_ex(
    iType: c_int,
    pOldPin: *const c_char,
    pNewPin: *const c_char,
    pOutInfo: *mut c_char,
    pOutLen: *mut usize,
) -> c_long {
    // SAFETY: the caller passes NULL or NUL-terminated strings.
    let (old, new) = unsafe { (input(pOldPin), input(pNewPin)) };
    // SAFETY: the caller passes a valid size_t and a buffer of *pOutLen bytes (or NULLs).
    let out = unsafe { Out::ex(pOutInfo, pOutLen) };
    call(&out, true, |s| {
        let old = zeroize::Zeroizing::new(text(s, old, "pOldPin", true)?);
        let new = zeroize::Zeroizing::new(text(s, new, "pNewPin", true)?);
        ops::change_pin(s, iType, PinInput::Given(&old), PinInput::Given(&new))
    })
}

/// Reloads (重装) the PIN: the new PIN twice from the configured pin_source, then the security module's PIN-unblock and secure-transport keys.
/// pCardInfo: `卡识别码|卡号|` (required, checked against the card: -22).
#[no_mangle]
pub unsafe extern "system" fn iReloadPIN(
    iType: c_int,
    pCardInfo: *const c_char,
    pOutInfo: *mut c_char,
) -> c_long {
    // SAFETY: the caller passes NULL or a NUL-terminated string.
    let info = unsafe { input(pCardInfo) };
    // SAFETY: the caller passes NULL or a buffer of the customary 1024 bytes.
    let out = unsafe { Out::legacy(pOutInfo) };
    call(&out, false, |s| {
        let info = text(s, info, "pCardInfo", true)?;
        ops::reload_pin(s, iType, &info)
    })
}

/// iReloadPIN with the buffer size in *pOutLen; *pOutLen receives the size needed.
#[no_mangle]
pub unsafe extern "system" fn iReloadPIN_ex(
    iType: c_int,
    pCardInfo: *const c_char,
    pOutInfo: *mut c_char,
    pOutLen: *mut usize,
) -> c_long {
    // SAFETY: the caller passes NULL or a NUL-terminated string.
    let info = unsafe { input(pCardInfo) };
    // SAFETY: the caller passes a valid size_t and a buffer of *pOutLen bytes (or NULLs).
    let out = unsafe { Out::ex(pOutInfo, pOutLen) };
    call(&out, true, |s| {
        let info = text(s, info, "pCardInfo", true)?;
        ops::reload_pin(s, iType, &info)
    })
}

/// Unblocks (解锁) the PIN: resets its try counter with the security module's keys.
/// pCardInfo: `卡识别码|卡号|` (required, checked against the card: -22).
#[no_mangle]
pub unsafe extern "system" fn iUnblockPIN(
    iType: c_int,
    pCardInfo: *const c_char,
    pOutInfo: *mut c_char,
) -> c_long {
    // SAFETY: the caller passes NULL or a NUL-terminated string.
    let info = unsafe { input(pCardInfo) };
    // SAFETY: the caller passes NULL or a buffer of the customary 1024 bytes.
    let out = unsafe { Out::legacy(pOutInfo) };
    call(&out, false, |s| {
        let info = text(s, info, "pCardInfo", true)?;
        ops::unblock_pin(s, iType, &info)
    })
}

/// iUnblockPIN with the buffer size in *pOutLen; *pOutLen receives the size needed.
#[no_mangle]
pub unsafe extern "system" fn iUnblockPIN_ex(
    iType: c_int,
    pCardInfo: *const c_char,
    pOutInfo: *mut c_char,
    pOutLen: *mut usize,
) -> c_long {
    // SAFETY: the caller passes NULL or a NUL-terminated string.
    let info = unsafe { input(pCardInfo) };
    // SAFETY: the caller passes a valid size_t and a buffer of *pOutLen bytes (or NULLs).
    let out = unsafe { Out::ex(pOutInfo, pOutLen) };
    call(&out, true, |s| {
        let info = text(s, info, "pCardInfo", true)?;
        ops::unblock_pin(s, iType, &info)
    })
}

// ---------------------------------------------------------------------------- reader

/// pReaderSN receives the reader's PC/SC name (PC/SC has no portable serial number); pPsamTermNo the PSAM terminal number (000000000000 without a PSAM).
/// Both buffers: 1024 bytes.
#[no_mangle]
pub unsafe extern "system" fn iGetReaderInfo(
    pReaderSN: *mut c_char,
    pPsamTermNo: *mut c_char,
) -> c_long {
    // SAFETY: the caller passes NULL or buffers of the customary 1024 bytes.
    let (sn, term) = unsafe { (Out::legacy(pReaderSN), Out::legacy(pPsamTermNo)) };
    reader_info(&sn, &term, false)
}

/// iGetReaderInfo with each buffer's size in its length argument, which receives the size needed.
#[no_mangle]
pub unsafe extern "system" fn iGetReaderInfo_ex(
    pReaderSN: *mut c_char,
    pReaderSNLen: *mut usize,
    pPsamTermNo: *mut c_char,
    pPsamTermNoLen: *mut usize,
) -> c_long {
    // SAFETY: the caller passes valid size_t's and buffers of their sizes (or NULLs).
    let (sn, term) = unsafe {
        (
            Out::ex(pReaderSN, pReaderSNLen),
            Out::ex(pPsamTermNo, pPsamTermNoLen),
        )
    };
    reader_info(&sn, &term, true)
}

fn reader_info(sn: &Out, term: &Out, ex: bool) -> c_long {
    guarded(|| {
        if !sn.usable(ex) || !term.usable(ex) {
            return SSCARD_E_PARAM;
        }
        let mut slot = lock();
        let (encoding, result) = match session(&mut slot) {
            Ok(s) => (s.config.encoding, ops::reader_info(s)),
            Err(e) => (TextEncoding::default(), Err(e)),
        };
        match result {
            Ok((name, number)) => {
                let a = sn.write(&encoding.encode(&name));
                let b = term.write(&encoding.encode(&number));
                if a != SSCARD_OK {
                    a
                } else {
                    b
                }
            }
            Err(failure) => {
                term.write_fitting(&[]);
                sn.write_failure(encoding, &failure)
            }
        }
    })
}

// ------------------------------------------------------------------------- HSM steps

/// HSM Step 1 for the basic information of a 3.0 card: pOutInfo receives `发卡地区行政区划代码|卡复位信息|算法标识|卡识别码|内部认证过程因子|内部认证原始数据|外部认证过程因子|外部认证原始数据|` (and `终端设备号|` when device_number is configured) for the HSM.
/// -2204 for a card that needs no HSM. The card stays connected until Step 2; any other call in between voids Step 1.
#[no_mangle]
pub unsafe extern "system" fn iReadCardBas_HSM_Step1(
    iType: c_int,
    pOutInfo: *mut c_char,
) -> c_long {
    // SAFETY: the caller passes NULL or a buffer of the customary 1024 bytes.
    let out = unsafe { Out::legacy(pOutInfo) };
    call(&out, false, |s| ops::hsm_step1(s, iType))
}

/// iReadCardBas_HSM_Step1 with the buffer size in *pOutLen; *pOutLen receives the size needed.
#[no_mangle]
pub unsafe extern "system" fn iReadCardBas_HSM_Step1_ex(
    iType: c_int,
    pOutInfo: *mut c_char,
    pOutLen: *mut usize,
) -> c_long {
    // SAFETY: the caller passes a valid size_t and a buffer of *pOutLen bytes (or NULLs).
    let out = unsafe { Out::ex(pOutInfo, pOutLen) };
    call(&out, true, |s| ops::hsm_step1(s, iType))
}

/// HSM Step 2: pKey is the HSM's answer `<32 hex internal>|<32 hex external>|`; pOutInfo receives the iReadCardBas string.
/// -25 when the HSM's internal-authentication data disagrees with the card, -14 without a Step 1.
#[no_mangle]
pub unsafe extern "system" fn iReadCardBas_HSM_Step2(
    pKey: *const c_char,
    pOutInfo: *mut c_char,
) -> c_long {
    // SAFETY: the caller passes NULL or a NUL-terminated string.
    let key = unsafe { input(pKey) };
    // SAFETY: the caller passes NULL or a buffer of the customary 1024 bytes.
    let out = unsafe { Out::legacy(pOutInfo) };
    call(&out, false, |s| {
        let key = text(s, key, "pKey", true)?;
        ops::hsm_step2(s, &key)
    })
}

/// iReadCardBas_HSM_Step2 with the buffer size in *pOutLen; *pOutLen receives the size needed.
#[no_mangle]
pub unsafe extern "system" fn iReadCardBas_HSM_Step2_ex(
    pKey: *const c_char,
    pOutInfo: *mut c_char,
    pOutLen: *mut usize,
) -> c_long {
    // SAFETY: the caller passes NULL or a NUL-terminated string.
    let key = unsafe { input(pKey) };
    // SAFETY: the caller passes a valid size_t and a buffer of *pOutLen bytes (or NULLs).
    let out = unsafe { Out::ex(pOutInfo, pOutLen) };
    call(&out, true, |s| {
        let key = text(s, key, "pKey", true)?;
        ops::hsm_step2(s, &key)
    })
}

// ------------------------------------------------ standard names this library lacks

/// Not supported (-13): the HSM string formats of this flow are not documented.
#[no_mangle]
pub unsafe extern "system" fn iReadCard_HSM_Step1(
    _iType: c_int,
    _pCardInfo: *const c_char,
    _pFileAddr: *const c_char,
    pOutInfo: *mut c_char,
) -> c_long {
    unsupported(pOutInfo, "iReadCard_HSM_Step1")
}

/// Not supported (-13).
#[no_mangle]
pub unsafe extern "system" fn iReadCard_HSM_Step2(
    _pKey: *const c_char,
    pOutInfo: *mut c_char,
) -> c_long {
    unsupported(pOutInfo, "iReadCard_HSM_Step2")
}

/// Not supported (-13): the HSM string formats of this flow are not documented.
#[no_mangle]
pub unsafe extern "system" fn iWriteCard_HSM_Step1(
    _iType: c_int,
    _pCardInfo: *const c_char,
    _pFileAddr: *const c_char,
    pOutInfo: *mut c_char,
) -> c_long {
    unsupported(pOutInfo, "iWriteCard_HSM_Step1")
}

/// Not supported (-13).
#[no_mangle]
pub unsafe extern "system" fn iWriteCard_HSM_Step2(
    _pKey: *const c_char,
    _pWriteData: *const c_char,
    pOutInfo: *mut c_char,
) -> c_long {
    unsupported(pOutInfo, "iWriteCard_HSM_Step2")
}

/// PIN reload (重装) through an HSM, Step 1: pCardInfo `卡识别码|卡号|` is checked against the card (-22); pOutInfo receives `算法标识|PUK地址|过程因子|原始数据|` for the HSM (PUK address: hsm_puk_address, default 0090).
/// The card stays connected until Step 3; any other call in between voids the flow.
#[no_mangle]
pub unsafe extern "system" fn iReloadPIN_HSM_Step1(
    iType: c_int,
    pCardInfo: *const c_char,
    pOutInfo: *mut c_char,
) -> c_long {
    // SAFETY: the caller passes NULL or a NUL-terminated string.
    let info = unsafe { input(pCardInfo) };
    // SAFETY: the caller passes NULL or a buffer of the customary 1024 bytes.
    let out = unsafe { Out::legacy(pOutInfo) };
    call(&out, false, |s| {
        let info = text(s, info, "pCardInfo", true)?;
        ops::pin_hsm_step1(s, iType, &info, PinOp::Reload)
    })
}

/// iReloadPIN_HSM_Step1 with the buffer size in *pOutLen; *pOutLen receives the size needed.
#[no_mangle]
pub unsafe extern "system" fn iReloadPIN_HSM_Step1_ex(
    iType: c_int,
    pCardInfo: *const c_char,
    pOutInfo: *mut c_char,
    pOutLen: *mut usize,
) -> c_long {
    // SAFETY: the caller passes NULL or a NUL-terminated string.
    let info = unsafe { input(pCardInfo) };
    // SAFETY: the caller passes a valid size_t and a buffer of *pOutLen bytes (or NULLs).
    let out = unsafe { Out::ex(pOutInfo, pOutLen) };
    call(&out, true, |s| {
        let info = text(s, info, "pCardInfo", true)?;
        ops::pin_hsm_step1(s, iType, &info, PinOp::Reload)
    })
}

/// Step 2: pKey is the HSM's external authentication for the PUK (32 hex digits); the new PIN comes from pin_source (new, then again: -34 if they differ). pOutInfo receives `算法标识|STK地址|随机数|命令头|新密码|` (STK address: hsm_stk_address, default 0173; command header 842400010C for 3DES, 8424000114 for SM4).
#[no_mangle]
pub unsafe extern "system" fn iReloadPIN_HSM_Step2(
    pKey: *const c_char,
    pOutInfo: *mut c_char,
) -> c_long {
    // SAFETY: the caller passes NULL or a NUL-terminated string.
    let key = unsafe { input(pKey) };
    // SAFETY: the caller passes NULL or a buffer of the customary 1024 bytes.
    let out = unsafe { Out::legacy(pOutInfo) };
    call(&out, false, |s| {
        let key = text(s, key, "pKey", true)?;
        ops::pin_hsm_step2(s, &key, PinOp::Reload)
    })
}

/// iReloadPIN_HSM_Step2 with the buffer size in *pOutLen; *pOutLen receives the size needed.
#[no_mangle]
pub unsafe extern "system" fn iReloadPIN_HSM_Step2_ex(
    pKey: *const c_char,
    pOutInfo: *mut c_char,
    pOutLen: *mut usize,
) -> c_long {
    // SAFETY: the caller passes NULL or a NUL-terminated string.
    let key = unsafe { input(pKey) };
    // SAFETY: the caller passes a valid size_t and a buffer of *pOutLen bytes (or NULLs).
    let out = unsafe { Out::ex(pOutInfo, pOutLen) };
    call(&out, true, |s| {
        let key = text(s, key, "pKey", true)?;
        ops::pin_hsm_step2(s, &key, PinOp::Reload)
    })
}

/// Step 3: pKey is the HSM's answer, the body of `84 24` in hex (enciphered PIN block ‖ 4-byte MAC); pOutInfo receives an empty string. -14 without Step 2 or for an answer of the wrong length.
#[no_mangle]
pub unsafe extern "system" fn iReloadPIN_HSM_Step3(
    pKey: *const c_char,
    pOutInfo: *mut c_char,
) -> c_long {
    // SAFETY: the caller passes NULL or a NUL-terminated string.
    let key = unsafe { input(pKey) };
    // SAFETY: the caller passes NULL or a buffer of the customary 1024 bytes.
    let out = unsafe { Out::legacy(pOutInfo) };
    call(&out, false, |s| {
        let key = text(s, key, "pKey", true)?;
        ops::pin_hsm_step3(s, &key, PinOp::Reload)
    })
}

/// iReloadPIN_HSM_Step3 with the buffer size in *pOutLen; *pOutLen receives the size needed.
#[no_mangle]
pub unsafe extern "system" fn iReloadPIN_HSM_Step3_ex(
    pKey: *const c_char,
    pOutInfo: *mut c_char,
    pOutLen: *mut usize,
) -> c_long {
    // SAFETY: the caller passes NULL or a NUL-terminated string.
    let key = unsafe { input(pKey) };
    // SAFETY: the caller passes a valid size_t and a buffer of *pOutLen bytes (or NULLs).
    let out = unsafe { Out::ex(pOutInfo, pOutLen) };
    call(&out, true, |s| {
        let key = text(s, key, "pKey", true)?;
        ops::pin_hsm_step3(s, &key, PinOp::Reload)
    })
}

/// PIN unblock (解锁) through an HSM, Step 1: as iReloadPIN_HSM_Step1.
#[no_mangle]
pub unsafe extern "system" fn iUnblockPIN_HSM_Step1(
    iType: c_int,
    pCardInfo: *const c_char,
    pOutInfo: *mut c_char,
) -> c_long {
    // SAFETY: the caller passes NULL or a NUL-terminated string.
    let info = unsafe { input(pCardInfo) };
    // SAFETY: the caller passes NULL or a buffer of the customary 1024 bytes.
    let out = unsafe { Out::legacy(pOutInfo) };
    call(&out, false, |s| {
        let info = text(s, info, "pCardInfo", true)?;
        ops::pin_hsm_step1(s, iType, &info, PinOp::Unblock)
    })
}

/// iUnblockPIN_HSM_Step1 with the buffer size in *pOutLen; *pOutLen receives the size needed.
#[no_mangle]
pub unsafe extern "system" fn iUnblockPIN_HSM_Step1_ex(
    iType: c_int,
    pCardInfo: *const c_char,
    pOutInfo: *mut c_char,
    pOutLen: *mut usize,
) -> c_long {
    // SAFETY: the caller passes NULL or a NUL-terminated string.
    let info = unsafe { input(pCardInfo) };
    // SAFETY: the caller passes a valid size_t and a buffer of *pOutLen bytes (or NULLs).
    let out = unsafe { Out::ex(pOutInfo, pOutLen) };
    call(&out, true, |s| {
        let info = text(s, info, "pCardInfo", true)?;
        ops::pin_hsm_step1(s, iType, &info, PinOp::Unblock)
    })
}

/// Step 2: pKey is the HSM's external authentication for the PUK (32 hex digits). pOutInfo receives `算法标识|STK地址|随机数|8424000004|` for the HSM's MAC.
#[no_mangle]
pub unsafe extern "system" fn iUnblockPIN_HSM_Step2(
    pKey: *const c_char,
    pOutInfo: *mut c_char,
) -> c_long {
    // SAFETY: the caller passes NULL or a NUL-terminated string.
    let key = unsafe { input(pKey) };
    // SAFETY: the caller passes NULL or a buffer of the customary 1024 bytes.
    let out = unsafe { Out::legacy(pOutInfo) };
    call(&out, false, |s| {
        let key = text(s, key, "pKey", true)?;
        ops::pin_hsm_step2(s, &key, PinOp::Unblock)
    })
}

/// iUnblockPIN_HSM_Step2 with the buffer size in *pOutLen; *pOutLen receives the size needed.
#[no_mangle]
pub unsafe extern "system" fn iUnblockPIN_HSM_Step2_ex(
    pKey: *const c_char,
    pOutInfo: *mut c_char,
    pOutLen: *mut usize,
) -> c_long {
    // SAFETY: the caller passes NULL or a NUL-terminated string.
    let key = unsafe { input(pKey) };
    // SAFETY: the caller passes a valid size_t and a buffer of *pOutLen bytes (or NULLs).
    let out = unsafe { Out::ex(pOutInfo, pOutLen) };
    call(&out, true, |s| {
        let key = text(s, key, "pKey", true)?;
        ops::pin_hsm_step2(s, &key, PinOp::Unblock)
    })
}

/// Step 3: pKey is the HSM's 4-byte MAC in hex; pOutInfo receives an empty string. -14 without Step 2 or for an answer of the wrong length.
#[no_mangle]
pub unsafe extern "system" fn iUnblockPIN_HSM_Step3(
    pKey: *const c_char,
    pOutInfo: *mut c_char,
) -> c_long {
    // SAFETY: the caller passes NULL or a NUL-terminated string.
    let key = unsafe { input(pKey) };
    // SAFETY: the caller passes NULL or a buffer of the customary 1024 bytes.
    let out = unsafe { Out::legacy(pOutInfo) };
    call(&out, false, |s| {
        let key = text(s, key, "pKey", true)?;
        ops::pin_hsm_step3(s, &key, PinOp::Unblock)
    })
}

/// iUnblockPIN_HSM_Step3 with the buffer size in *pOutLen; *pOutLen receives the size needed.
#[no_mangle]
pub unsafe extern "system" fn iUnblockPIN_HSM_Step3_ex(
    pKey: *const c_char,
    pOutInfo: *mut c_char,
    pOutLen: *mut usize,
) -> c_long {
    // SAFETY: the caller passes NULL or a NUL-terminated string.
    let key = unsafe { input(pKey) };
    // SAFETY: the caller passes a valid size_t and a buffer of *pOutLen bytes (or NULLs).
    let out = unsafe { Out::ex(pOutInfo, pOutLen) };
    call(&out, true, |s| {
        let key = text(s, key, "pKey", true)?;
        ops::pin_hsm_step3(s, &key, PinOp::Unblock)
    })
}

/// Not supported (-13): the medical purse (DF04) is not implemented.
#[no_mangle]
pub unsafe extern "system" fn iDoDebit(
    _iType: c_int,
    _pCardInfo: *const c_char,
    _pPayInfo: *const c_char,
    pOutInfo: *mut c_char,
) -> c_long {
    unsupported(pOutInfo, "iDoDebit")
}

/// Not supported (-13): the medical purse (DF04) is not implemented.
#[no_mangle]
pub unsafe extern "system" fn iReadDebitRecord(_iType: c_int, pOutInfo: *mut c_char) -> c_long {
    unsupported(pOutInfo, "iReadDebitRecord")
}

/// Not supported (-13).
#[no_mangle]
pub unsafe extern "system" fn iDoDebit_HSM_Step1(
    _iType: c_int,
    _pCardInfo: *const c_char,
    _pPayInfo: *const c_char,
    pOutInfo: *mut c_char,
) -> c_long {
    unsupported(pOutInfo, "iDoDebit_HSM_Step1")
}

/// Not supported (-13).
#[no_mangle]
pub unsafe extern "system" fn iDoDebit_HSM_Step2(
    _pKey: *const c_char,
    pOutInfo: *mut c_char,
) -> c_long {
    unsupported(pOutInfo, "iDoDebit_HSM_Step2")
}

// ------------------------------------------------------------------------ sscard's own

/// The library's name and version, a static NUL-terminated ASCII string.
#[no_mangle]
pub extern "system" fn sscard_version() -> *const c_char {
    static VERSION: &str = concat!("libsscard ", env!("CARGO_PKG_VERSION"), "\0");
    VERSION.as_ptr().cast()
}

/// Forgets the session (and any pending HSM Step 1) and reads the environment and sscard.ini again; 0, or -1003 for a bad configuration.
#[no_mangle]
pub extern "system" fn sscard_reload_config() -> c_long {
    guarded(|| {
        let mut slot = lock();
        *slot = None;
        match session(&mut slot) {
            Ok(_) => SSCARD_OK,
            Err(f) => f.code,
        }
    })
}
