//! Every exported function of libsscard with arbitrary strings (and iType, iAuthType,
//! buffer sizes) against the emulated card with the emulation test keys: each call
//! returns 0 or a negative code, writes a NUL-terminated string inside its buffer and
//! never panics across the boundary. Input: selector byte, then up to four strings
//! separated by NUL bytes (the rest ignored).
#![no_main]

use std::ffi::CString;
use std::os::raw::c_char;
use std::sync::Once;

use libfuzzer_sys::fuzz_target;
use sscard::config::{Config, Mode, Security};
use sscard::exports::*;

static INIT: Once = Once::new();

fn check(rc: std::os::raw::c_long, out: &[u8], cap: usize) {
    assert!(rc <= 0, "positive return code {rc}");
    assert!(out[cap..].iter().all(|b| *b == 0xAA), "written past the buffer");
    if cap > 0 {
        assert!(out[..cap].contains(&0), "not NUL-terminated");
    }
}

fuzz_target!(|data: &[u8]| {
    INIT.call_once(|| {
        let config = Config {
            mode: Mode::Emulated,
            security: Security::EmulationTestKeys,
            ..Config::default()
        };
        sscard::configure(config).expect("emulated configuration");
    });
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest
        .split(|b| *b == 0)
        .take(4)
        .map(|p| CString::new(p).expect("split at NUL"));
    let a = parts.next().unwrap_or_default();
    let b = parts.next().unwrap_or_default();
    let c = parts.next().unwrap_or_default();
    let d = parts.next().unwrap_or_default();
    let itype = i32::from(sel & 7) - 1;
    let auth = i32::from((sel >> 3) & 3);
    let small = usize::from(sel >> 5) * 9;
    let mut out = vec![0xAAu8; 1024 + 64];
    let o = out.as_mut_ptr().cast::<c_char>();
    macro_rules! legacy {
        ($call:expr) => {{
            out.fill(0xAA);
            // SAFETY: NUL-terminated strings and a 1024-byte buffer, as the ABI asks.
            let rc = unsafe { $call };
            check(rc, &out, 1024);
        }};
    }
    legacy!(iReadCardBas(itype, o));
    legacy!(iReadCard(itype, auth, a.as_ptr(), b.as_ptr(), o));
    legacy!(iWriteCard(itype, a.as_ptr(), b.as_ptr(), c.as_ptr(), o));
    legacy!(iVerifyPin(itype, a.as_ptr(), o));
    legacy!(iChangePin(itype, b.as_ptr(), c.as_ptr(), o));
    legacy!(iReloadPIN(itype, a.as_ptr(), o));
    legacy!(iUnblockPIN(itype, d.as_ptr(), o));
    legacy!(iVerifyPIN(itype, o));
    legacy!(iChangePIN(itype, o));
    legacy!(iReadCardBas_HSM_Step1(itype, o));
    legacy!(iReadCardBas_HSM_Step2(a.as_ptr(), o));
    legacy!(iReadCard_HSM_Step1(itype, a.as_ptr(), b.as_ptr(), o));
    legacy!(iWriteCard_HSM_Step2(a.as_ptr(), b.as_ptr(), o));
    legacy!(iDoDebit(itype, a.as_ptr(), b.as_ptr(), o));
    // The _ex functions with a small buffer.
    out.fill(0xAA);
    let mut len = small;
    // SAFETY: a NUL-terminated string and a buffer of `len` bytes.
    let rc = unsafe { iReadCard_ex(itype, auth, d.as_ptr(), a.as_ptr(), o, &mut len) };
    check(rc, &out, small);
    out.fill(0xAA);
    let mut len = small;
    // SAFETY: as above.
    let rc = unsafe { iReadCardBas_ex(itype, o, &mut len) };
    check(rc, &out, small);
});
