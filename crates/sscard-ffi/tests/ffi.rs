//! The exported C functions, called in process against the emulated card (config mode
//! `emulated`): every documented output and code, NULLs, short buffers, bad iTypes,
//! garbage strings, concurrent callers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    unsafe_code,
    clippy::undocumented_unsafe_blocks
)]

use std::ffi::CString;
use std::os::raw::{c_char, c_long};
use std::path::PathBuf;
use std::ptr::{null, null_mut};
use std::sync::{Mutex, MutexGuard};

use sscard::codes::*;
use sscard::config::{Config, Mode, PinSource, Security};
use sscard::exports::*;
use sscard::text::TextEncoding;
use sscard_crypto::kdf::EmulationScheme;
use sscard_fs::keys::KeySet;
use sscard_ssse::hsm::{SoftHsm, Step1};
use sscard_ssse::security::SoftKeys;

/// The sample card's iReadCardBas string, without terminal fields.
const SAMPLE: &str = "330100|330102199003071230|A12345678|330100D15600000500A1B2C3D4E5F607|李测试|00815353433300001234567890|2.00|20240315|20340315|";
const CARD_INFO: &str = "330100D15600000500A1B2C3D4E5F607|A12345678|";

/// One test at a time: they share the process's session.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sscard-ffi-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A 3.0 SM4 image of the sample card, in a temp file.
fn image_v3() -> PathBuf {
    let mut v: serde_json::Value = serde_json::from_str(sscard_fs::SAMPLE_IMAGE_JSON).unwrap();
    v["files"]["SSSE/EF05"]["spec_version"] = "3.00".into();
    v["algorithm_id"] = "03".into();
    let path = tmp("v3.json");
    std::fs::write(&path, v.to_string()).unwrap();
    path
}

fn emulated(f: impl FnOnce(&mut Config)) {
    let mut c = Config {
        mode: Mode::Emulated,
        ..Config::default()
    };
    f(&mut c);
    sscard::configure(c).unwrap();
}

fn gbk(buf: &[u8]) -> String {
    let end = buf.iter().position(|b| *b == 0).expect("NUL-terminated");
    TextEncoding::Gbk.decode(&buf[..end]).expect("GBK")
}

fn c(s: &str) -> CString {
    CString::new(TextEncoding::Gbk.encode(s).into_owned()).unwrap()
}

fn read_bas(itype: i32) -> (c_long, String) {
    let mut buf = [0xAAu8; 1024];
    let rc = unsafe { iReadCardBas(itype, buf.as_mut_ptr().cast()) };
    (rc, gbk(&buf))
}

fn verify(pin: &str) -> (c_long, String) {
    let mut buf = [0u8; 1024];
    let pin = c(pin);
    let rc = unsafe { iVerifyPin(1, pin.as_ptr(), buf.as_mut_ptr().cast()) };
    (rc, gbk(&buf))
}

#[test]
fn read_card_bas_gives_every_field_in_gbk_or_utf8() {
    let _g = serial();
    emulated(|_| {});
    for itype in 1..=4 {
        let (rc, out) = read_bas(itype);
        assert_eq!(rc, 0, "{out}");
        assert_eq!(out, format!("{SAMPLE}000000000000||"));
    }
    // The name is GBK bytes by default.
    let mut buf = [0u8; 1024];
    assert_eq!(unsafe { iReadCardBas(1, buf.as_mut_ptr().cast()) }, 0);
    assert!(buf
        .windows(6)
        .any(|w| w == [0xC0, 0xEE, 0xB2, 0xE2, 0xCA, 0xD4]));
    emulated(|c| {
        c.encoding = TextEncoding::Utf8;
        c.device_number = "HIS-07".into();
    });
    let mut buf = [0u8; 1024];
    assert_eq!(unsafe { iReadCardBas(1, buf.as_mut_ptr().cast()) }, 0);
    let end = buf.iter().position(|b| *b == 0).unwrap();
    assert_eq!(
        std::str::from_utf8(&buf[..end]).unwrap(),
        format!("{SAMPLE}000000000000|HIS-07|")
    );
    // The iType override.
    emulated(|c| c.itype = Some(2));
    assert_eq!(read_bas(99).0, 0);
}

#[test]
fn bad_itype_null_and_short_buffers() {
    let _g = serial();
    emulated(|_| {});
    for itype in [0, 5, -1, i32::MAX, i32::MIN] {
        let (rc, msg) = read_bas(itype);
        assert_eq!(rc, SSCARD_E_PARAM, "iType {itype}");
        assert!(msg.contains("iType"), "{msg}");
    }
    assert_eq!(unsafe { iReadCardBas(1, null_mut()) }, SSCARD_E_PARAM);
    // _ex: the size needed comes back; nothing is written past the given size.
    let mut buf = [0xAAu8; 300];
    let mut len = 10usize;
    let rc = unsafe { iReadCardBas_ex(1, buf.as_mut_ptr().cast(), &mut len) };
    assert_eq!(rc, SSCARD_E_BUFFER_TOO_SMALL);
    let needed = len;
    assert_eq!(needed, SAMPLE.len() - 3 + 13 + 2); // GBK name: 6 bytes, not 9; NUL
    assert_eq!(buf[0], 0);
    assert!(buf[10..].iter().all(|b| *b == 0xAA));
    let mut len = needed;
    assert_eq!(
        unsafe { iReadCardBas_ex(1, buf.as_mut_ptr().cast(), &mut len) },
        0
    );
    assert_eq!(len, needed);
    assert!(gbk(&buf).starts_with(SAMPLE));
    assert!(buf[needed..].iter().all(|b| *b == 0xAA));
    let mut len = 0usize;
    assert_eq!(
        unsafe { iReadCardBas_ex(1, buf.as_mut_ptr().cast(), &mut len) },
        SSCARD_E_BUFFER_TOO_SMALL
    );
    assert_eq!(len, needed);
    assert_eq!(
        unsafe { iReadCardBas_ex(1, buf.as_mut_ptr().cast(), null_mut()) },
        SSCARD_E_PARAM
    );
    assert_eq!(
        unsafe { iReadCardBas_ex(1, null_mut(), &mut len) },
        SSCARD_E_PARAM
    );
    // A legacy call whose output exceeds 1024 bytes writes nothing past them.
    let addr = format!("SSSEEF06|{}$", "09|".repeat(200));
    let addr = c(&addr);
    let mut big = [0xAAu8; 2048];
    let rc = unsafe { iReadCard(1, 0, null(), addr.as_ptr(), big.as_mut_ptr().cast()) };
    assert_eq!(rc, SSCARD_E_BUFFER_TOO_SMALL);
    assert_eq!(big[0], 0);
    assert!(big[1024..].iter().all(|b| *b == 0xAA));
    // Two output buffers.
    let (mut sn, mut term) = ([0u8; 64], [0u8; 64]);
    assert_eq!(
        unsafe { iGetReaderInfo(sn.as_mut_ptr().cast(), term.as_mut_ptr().cast()) },
        0
    );
    assert_eq!(gbk(&sn), "sscard emulated card");
    assert_eq!(gbk(&term), "000000000000");
    assert_eq!(
        unsafe { iGetReaderInfo(null_mut(), term.as_mut_ptr().cast()) },
        SSCARD_E_PARAM
    );
    let (mut a, mut b) = (3usize, 64usize);
    assert_eq!(
        unsafe {
            iGetReaderInfo_ex(
                sn.as_mut_ptr().cast(),
                &mut a,
                term.as_mut_ptr().cast(),
                &mut b,
            )
        },
        SSCARD_E_BUFFER_TOO_SMALL
    );
    assert_eq!(a, "sscard emulated card".len() + 1);
}

#[test]
fn garbage_strings() {
    let _g = serial();
    emulated(|_| {});
    let mut out = [0u8; 1024];
    let o = out.as_mut_ptr().cast::<c_char>();
    let bad_gbk = CString::new(vec![0x81u8, 0x20, 0xFF]).unwrap();
    let garbage = [
        bad_gbk.clone(),
        c(""),
        c("$$$|||"),
        c("SSSEEF99|01|$"),
        c("SSSEEF05|zz|$"),
        c("DF01"),
        c(&"A".repeat(5000)),
    ];
    for g in &garbage {
        for auth in [-1, 0, 1, 2, 3] {
            let rc = unsafe { iReadCard(1, auth, g.as_ptr(), g.as_ptr(), o) };
            assert!(rc < 0, "{rc}");
        }
        unsafe {
            assert!(iWriteCard(1, g.as_ptr(), g.as_ptr(), g.as_ptr(), o) < 0);
            assert!(iVerifyPin(1, g.as_ptr(), o) < 0);
            assert!(iChangePin(1, g.as_ptr(), g.as_ptr(), o) < 0);
            assert!(iReloadPIN(1, g.as_ptr(), o) < 0);
            assert!(iUnblockPIN(1, g.as_ptr(), o) < 0);
            assert!(iReadCardBas_HSM_Step2(g.as_ptr(), o) < 0);
        }
    }
    let rc = unsafe { iVerifyPin(1, bad_gbk.as_ptr(), o) };
    assert_eq!(rc, SSCARD_E_ILLEGAL_CHARS);
    let huge = CString::new("1".repeat(MAX_INPUT + 1)).unwrap();
    assert_eq!(
        unsafe { iVerifyPin(1, huge.as_ptr(), o) },
        SSCARD_E_DATA_LENGTH
    );
    unsafe {
        assert_eq!(iReadCard(1, 0, null(), null(), o), SSCARD_E_PARAM);
        assert_eq!(iVerifyPin(1, null(), o), SSCARD_E_PARAM);
        assert_eq!(iChangePin(1, null(), null(), o), SSCARD_E_PARAM);
        assert_eq!(iReloadPIN(1, null(), o), SSCARD_E_PARAM);
        assert_eq!(iReadCardBas_HSM_Step2(null(), o), SSCARD_E_PARAM);
        assert_eq!(iWriteCard(1, null(), null(), null(), o), SSCARD_E_PARAM);
    }
    // The PIN was never tried: the right one still works with all tries.
    assert_eq!(verify("123456").0, 0);
}

#[test]
fn items_by_address() {
    let _g = serial();
    emulated(|_| {});
    let mut out = [0u8; 1024];
    let o = out.as_mut_ptr().cast::<c_char>();
    let addr = c("SSSEEF05|06|07|$SSSEEF06|08|09|$");
    assert_eq!(unsafe { iReadCard(1, 0, null(), addr.as_ptr(), o) }, 0);
    assert_eq!(
        gbk(&out),
        "SSSEEF05|20340315|A12345678|$SSSEEF06|330102199003071230|李测试|$"
    );
    let info = c(CARD_INFO);
    assert_eq!(
        unsafe { iReadCard(3, 2, info.as_ptr(), addr.as_ptr(), o) },
        0
    );
    let other = c("330100D15600000500A1B2C3D4E5F608|A12345678|");
    assert_eq!(
        unsafe { iReadCard(1, 0, other.as_ptr(), addr.as_ptr(), o) },
        SSCARD_E_DATA_MISMATCH
    );
    // iAuthType 1 needs a PIN source.
    assert_eq!(
        unsafe { iReadCard(1, 1, null(), addr.as_ptr(), o) },
        SSCARD_E_UNSUPPORTED
    );
    // Writing needs the update key: no security module, no write.
    let data = c("SSSEEF06|王测试|$");
    let name = c("SSSEEF06|09|$");
    assert_eq!(
        unsafe { iWriteCard(1, info.as_ptr(), name.as_ptr(), data.as_ptr(), o) },
        SSCARD_E_NO_PSAM
    );
    emulated(|c| c.security = Security::EmulationTestKeys);
    assert_eq!(
        unsafe { iWriteCard(1, info.as_ptr(), name.as_ptr(), data.as_ptr(), o) },
        0,
        "{}",
        gbk(&out)
    );
    assert_eq!(gbk(&out), "SSSEEF06|王测试|$");
    assert_eq!(unsafe { iReadCard(1, 0, null(), name.as_ptr(), o) }, 0);
    assert_eq!(gbk(&out), "SSSEEF06|王测试|$");
    // Values without the file heads, and a wrong count.
    let bare = c("张测试|$");
    assert_eq!(
        unsafe { iWriteCard(1, null(), name.as_ptr(), bare.as_ptr(), o) },
        0
    );
    let two = c("a|b|$");
    assert_eq!(
        unsafe { iWriteCard(1, null(), name.as_ptr(), two.as_ptr(), o) },
        SSCARD_E_PARAM
    );
}

#[test]
fn pins_explicit_and_from_a_source() {
    let _g = serial();
    emulated(|_| {});
    let mut out = [0u8; 1024];
    let o = out.as_mut_ptr().cast::<c_char>();
    // PIN-pad functions without a PIN source.
    assert_eq!(unsafe { iVerifyPIN(1, o) }, SSCARD_E_UNSUPPORTED);
    assert_eq!(unsafe { iChangePIN(1, o) }, SSCARD_E_UNSUPPORTED);
    let (rc, msg) = verify("111111");
    assert_eq!(rc, SSCARD_E_PIN_WRONG);
    assert!(msg.contains("剩余次数:5"), "{msg}");
    assert_eq!(verify("123456").0, 0);
    assert_eq!(verify("12345a").0, SSCARD_E_ILLEGAL_CHARS);
    assert_eq!(verify("123").0, SSCARD_E_PIN_LENGTH);
    // From a file: one PIN per line, as the function needs them.
    let file = tmp("pins");
    emulated(|c| c.pin_source = PinSource::File(file.clone()));
    std::fs::write(&file, "000000\n").unwrap();
    assert_eq!(unsafe { iVerifyPIN(1, o) }, SSCARD_E_PIN_WRONG);
    assert!(gbk(&out).contains("剩余次数:5"));
    std::fs::write(&file, "123456\n").unwrap();
    assert_eq!(unsafe { iVerifyPIN(1, o) }, 0);
    assert_eq!(gbk(&out), "");
    // Change: old, new, new again.
    std::fs::write(&file, "123456\n222222\n333333\n").unwrap();
    assert_eq!(unsafe { iChangePIN(1, o) }, SSCARD_E_PIN_CONFIRM);
    std::fs::write(&file, "123456\n222222\n222222\n").unwrap();
    assert_eq!(unsafe { iChangePIN(1, o) }, 0);
    assert_eq!(verify("222222").0, 0);
    let (old, new) = (c("222222"), c("123456"));
    assert_eq!(
        unsafe { iChangePin(1, new.as_ptr(), old.as_ptr(), o) },
        SSCARD_E_PIN_WRONG
    );
    assert_eq!(unsafe { iChangePin(1, old.as_ptr(), new.as_ptr(), o) }, 0);
    let info = c(CARD_INFO);
    assert_eq!(
        unsafe { iUnblockPIN(1, info.as_ptr(), o) },
        SSCARD_E_NO_PSAM
    );
    // Block it, then unblock and reload with the emulation test keys (a new session:
    // a fresh emulated card).
    emulated(|c| {
        c.security = Security::EmulationTestKeys;
        c.pin_source = PinSource::File(file.clone());
    });
    for left in (1..6).rev() {
        let (rc, msg) = verify("999999");
        assert_eq!(rc, SSCARD_E_PIN_WRONG);
        assert!(msg.contains(&format!("剩余次数:{left}")), "{msg}");
    }
    assert_eq!(verify("999999").0, SSCARD_E_PIN_LOCKED);
    assert_eq!(verify("123456").0, SSCARD_E_PIN_LOCKED);
    let bad_info = c("330100D156|A12345678|");
    assert_eq!(
        unsafe { iUnblockPIN(1, bad_info.as_ptr(), o) },
        SSCARD_E_CARD_ID_FORMAT
    );
    assert_eq!(
        unsafe { iUnblockPIN(1, info.as_ptr(), o) },
        0,
        "{}",
        gbk(&out)
    );
    assert_eq!(verify("123456").0, 0);
    std::fs::write(&file, "654321\n654321\n").unwrap();
    assert_eq!(
        unsafe { iReloadPIN(1, info.as_ptr(), o) },
        0,
        "{}",
        gbk(&out)
    );
    assert_eq!(verify("654321").0, 0);
    assert_eq!(verify("123456").0, SSCARD_E_PIN_WRONG);
}

#[test]
fn third_generation_card_with_keys_or_through_the_hsm_steps() {
    let _g = serial();
    let image = image_v3();
    let want = SAMPLE.replace("|2.00|", "|3.00|") + "000000000000||";
    // No security module: -2201, the applications' cue for the HSM path.
    emulated(|c| c.emulated_image = Some(image.clone()));
    let (rc, msg) = read_bas(1);
    assert_eq!(rc, SSCARD_E_NO_PSAM, "{msg}");
    // A configured PSAM is not drivable yet: the same code.
    emulated(|c| {
        c.emulated_image = Some(image.clone());
        c.psam_reader = Some("PSAM 00".into());
    });
    assert_eq!(read_bas(1).0, SSCARD_E_NO_PSAM);
    emulated(|c| {
        c.emulated_image = Some(image.clone());
        c.security = Security::EmulationTestKeys;
    });
    assert_eq!(read_bas(1), (0, want.clone()));

    // The HSM steps with a soft HSM on the same keys.
    emulated(|c| c.emulated_image = Some(image.clone()));
    let mut out = [0u8; 1024];
    let o = out.as_mut_ptr().cast::<c_char>();
    let key_before = c("00000000000000000000000000000000|00000000000000000000000000000000|");
    assert_eq!(
        unsafe { iReadCardBas_HSM_Step2(key_before.as_ptr(), o) },
        SSCARD_E_PARAM
    );
    assert_eq!(unsafe { iReadCardBas_HSM_Step1(1, o) }, 0);
    let step1 = gbk(&out);
    assert!(
        step1.starts_with("330100|00815353433300001234567890|03|330100D1"),
        "{step1}"
    );
    assert_eq!(step1.matches('|').count(), 8);
    let keys = KeySet::from_json(sscard_fs::EMULATION_KEYS_JSON).unwrap();
    let mut hsm = SoftHsm::new(SoftKeys::new(keys, EmulationScheme), 0x00, 0x0A);
    let answer = hsm
        .answer(&Step1::parse(&step1).unwrap())
        .unwrap()
        .to_string();
    let key = c(&answer);
    assert_eq!(unsafe { iReadCardBas_HSM_Step2(key.as_ptr(), o) }, 0);
    assert_eq!(gbk(&out), want);
    // Step 2 again: no Step 1 pending.
    assert_eq!(
        unsafe { iReadCardBas_HSM_Step2(key.as_ptr(), o) },
        SSCARD_E_PARAM
    );
    // An HSM that disagrees with the card: -25; another call in between voids Step 1.
    assert_eq!(unsafe { iReadCardBas_HSM_Step1(1, o) }, 0);
    assert_eq!(
        unsafe { iReadCardBas_HSM_Step2(key.as_ptr(), o) },
        SSCARD_E_HSM_MISMATCH
    );
    assert_eq!(unsafe { iReadCardBas_HSM_Step1(1, o) }, 0);
    let _ = read_bas(1);
    assert_eq!(
        unsafe { iReadCardBas_HSM_Step2(key.as_ptr(), o) },
        SSCARD_E_PARAM
    );
    // With the device number configured, Step 1 has the ninth field.
    emulated(|c| {
        c.emulated_image = Some(image.clone());
        c.device_number = "T01".into();
    });
    assert_eq!(unsafe { iReadCardBas_HSM_Step1(1, o) }, 0);
    assert!(gbk(&out).ends_with("|T01|"));
    // A 2nd-generation card needs no HSM.
    emulated(|_| {});
    assert_eq!(
        unsafe { iReadCardBas_HSM_Step1(1, o) },
        SSCARD_E_HSM_NOT_REQUIRED
    );
}

/// The three PIN HSM steps in process, answered by the software HSM on the emulation
/// keys (which learns the card from the application, as a real HSM does).
#[test]
fn pin_reload_and_unblock_through_the_hsm_steps() {
    use sscard_ssse::hsm::{PinStep1, PinStep2};
    use sscard_ssse::security::CardContext;
    let _g = serial();
    let image = image_v3();
    let pins = tmp("hsm-pins");
    emulated(|c| {
        c.emulated_image = Some(image.clone());
        c.pin_source = PinSource::File(pins.clone());
    });
    let mut out = [0u8; 1024];
    let o = out.as_mut_ptr().cast::<c_char>();
    let hist = sscard_apdu::hex::to_vec("00815353433300001234567890").unwrap();
    let cc = CardContext {
        atr: &hist,
        card_id: "330100D15600000500A1B2C3D4E5F607",
        algorithm: sscard_crypto::keys::Algorithm::Sm4,
    };
    let keys = KeySet::from_json(sscard_fs::EMULATION_KEYS_JSON).unwrap();
    let mut hsm = SoftHsm::new(SoftKeys::new(keys, EmulationScheme), 0x00, 0x0A);
    let info = c(CARD_INFO);
    // Out of order: Step 2 or 3 without Step 1.
    let zero = c("00000000000000000000000000000000");
    assert_eq!(
        unsafe { iReloadPIN_HSM_Step2(zero.as_ptr(), o) },
        SSCARD_E_PARAM
    );
    assert_eq!(
        unsafe { iUnblockPIN_HSM_Step3(zero.as_ptr(), o) },
        SSCARD_E_PARAM
    );
    // Another card's pCardInfo: -22.
    let other = c("330100D15600000500A1B2C3D4E5F608|A12345678|");
    assert_eq!(
        unsafe { iReloadPIN_HSM_Step1(1, other.as_ptr(), o) },
        SSCARD_E_DATA_MISMATCH
    );
    // A wrong PIN first, so the reset of the counter shows.
    assert_eq!(verify("000000").0, SSCARD_E_PIN_WRONG);
    // Reload to 654321.
    std::fs::write(&pins, "654321\n654321\n").unwrap();
    assert_eq!(unsafe { iReloadPIN_HSM_Step1(1, info.as_ptr(), o) }, 0);
    let step1 = gbk(&out);
    assert!(step1.starts_with("03|0090|"), "{step1}");
    let ext = hsm
        .answer_pin_step1(&PinStep1::parse(&step1).unwrap(), &cc, 0x06)
        .unwrap();
    let ext = c(&sscard_apdu::hex::to_string(&ext));
    assert_eq!(unsafe { iReloadPIN_HSM_Step2(ext.as_ptr(), o) }, 0);
    let step2 = gbk(&out);
    assert!(step2.starts_with("03|0173|"), "{step2}");
    assert!(step2.ends_with("|8424000114|654321|"), "{step2}");
    let body = hsm
        .answer_pin_step2(&PinStep2::parse(&step2).unwrap(), &cc, 0x09)
        .unwrap();
    let body = c(&sscard_apdu::hex::to_string(&body));
    assert_eq!(unsafe { iReloadPIN_HSM_Step3(body.as_ptr(), o) }, 0);
    assert_eq!(verify("123456").0, SSCARD_E_PIN_WRONG);
    assert_eq!(verify("654321").0, 0);
    // Unblock: after a wrong PIN the counter is back to full.
    assert!(verify("000000").1.contains('5'));
    assert_eq!(unsafe { iUnblockPIN_HSM_Step1(1, info.as_ptr(), o) }, 0);
    let ext = hsm
        .answer_pin_step1(&PinStep1::parse(&gbk(&out)).unwrap(), &cc, 0x06)
        .unwrap();
    let ext = c(&sscard_apdu::hex::to_string(&ext));
    assert_eq!(unsafe { iUnblockPIN_HSM_Step2(ext.as_ptr(), o) }, 0);
    let step2 = gbk(&out);
    assert!(step2.ends_with("|8424000004|"), "{step2}");
    let mac = hsm
        .answer_pin_step2(&PinStep2::parse(&step2).unwrap(), &cc, 0x09)
        .unwrap();
    // A wrong-length answer is refused (-14) and voids the flow.
    let short = c("0011");
    assert_eq!(
        unsafe { iUnblockPIN_HSM_Step3(short.as_ptr(), o) },
        SSCARD_E_PARAM
    );
    let mac_text = c(&sscard_apdu::hex::to_string(&mac));
    assert_eq!(
        unsafe { iUnblockPIN_HSM_Step3(mac_text.as_ptr(), o) },
        SSCARD_E_PARAM
    );
    // Again, properly.
    assert_eq!(unsafe { iUnblockPIN_HSM_Step1(1, info.as_ptr(), o) }, 0);
    let ext = hsm
        .answer_pin_step1(&PinStep1::parse(&gbk(&out)).unwrap(), &cc, 0x06)
        .unwrap();
    let ext = c(&sscard_apdu::hex::to_string(&ext));
    assert_eq!(unsafe { iUnblockPIN_HSM_Step2(ext.as_ptr(), o) }, 0);
    let mac = hsm
        .answer_pin_step2(&PinStep2::parse(&gbk(&out)).unwrap(), &cc, 0x09)
        .unwrap();
    let mac = c(&sscard_apdu::hex::to_string(&mac));
    assert_eq!(unsafe { iUnblockPIN_HSM_Step3(mac.as_ptr(), o) }, 0);
    let (rc, msg) = verify("000000");
    assert_eq!(rc, SSCARD_E_PIN_WRONG);
    // Full counter again: a wrong try leaves max - 1 tries (the first wrong try said 5).
    assert!(msg.contains('5'), "{msg}");
    // A wrong HSM answer at Step 2: the card refuses the PUK (-SW 63Cx).
    assert_eq!(unsafe { iUnblockPIN_HSM_Step1(1, info.as_ptr(), o) }, 0);
    let rc = unsafe { iUnblockPIN_HSM_Step2(zero.as_ptr(), o) };
    assert!((-0x63CF..=-0x63C0).contains(&rc), "{rc}");
    std::fs::remove_file(&pins).ok();
}

#[test]
fn unsupported_names_answer_minus_13() {
    let _g = serial();
    let mut out = [0u8; 1024];
    let o = out.as_mut_ptr().cast::<c_char>();
    let s = c("x");
    unsafe {
        assert_eq!(
            iReadCard_HSM_Step1(1, s.as_ptr(), s.as_ptr(), o),
            SSCARD_E_UNSUPPORTED
        );
        assert_eq!(iReadCard_HSM_Step2(s.as_ptr(), o), SSCARD_E_UNSUPPORTED);
        assert_eq!(
            iWriteCard_HSM_Step1(1, s.as_ptr(), s.as_ptr(), o),
            SSCARD_E_UNSUPPORTED
        );
        assert_eq!(
            iWriteCard_HSM_Step2(s.as_ptr(), s.as_ptr(), o),
            SSCARD_E_UNSUPPORTED
        );
        assert_eq!(iDoDebit(1, s.as_ptr(), s.as_ptr(), o), SSCARD_E_UNSUPPORTED);
        assert_eq!(iReadDebitRecord(1, o), SSCARD_E_UNSUPPORTED);
        assert_eq!(
            iDoDebit_HSM_Step1(1, s.as_ptr(), s.as_ptr(), o),
            SSCARD_E_UNSUPPORTED
        );
        assert_eq!(iDoDebit_HSM_Step2(s.as_ptr(), o), SSCARD_E_UNSUPPORTED);
        assert_eq!(iReadDebitRecord(1, null_mut()), SSCARD_E_UNSUPPORTED);
    }
    assert!(gbk(&out).contains("iDoDebit_HSM_Step2"));
    let v = unsafe { std::ffi::CStr::from_ptr(sscard_version()) };
    assert!(v.to_str().unwrap().starts_with("libsscard "));
}

#[test]
fn concurrent_callers_are_serialised() {
    let _g = serial();
    emulated(|_| {});
    let threads: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let (rc, out) = read_bas(1 + i % 4);
                    assert_eq!(rc, 0);
                    assert!(out.starts_with(SAMPLE));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn configuration_from_the_environment_and_pcsc_errors() {
    let _g = serial();
    std::env::set_var("SSCARD_MODE", "bogus");
    assert_eq!(sscard_reload_config(), SSCARD_E_CONFIG);
    let (rc, msg) = read_bas(1);
    assert_eq!(rc, SSCARD_E_CONFIG);
    assert!(msg.contains("SSCARD_MODE") || msg.contains("mode"), "{msg}");
    std::env::set_var("SSCARD_MODE", "emulated");
    std::env::set_var("SSCARD_ENCODING", "utf-8");
    assert_eq!(sscard_reload_config(), 0);
    let mut buf = [0u8; 1024];
    assert_eq!(unsafe { iReadCardBas(1, buf.as_mut_ptr().cast()) }, 0);
    assert!(std::str::from_utf8(&buf).is_ok_and(|s| s.contains("李测试")));
    // An ini file named by SSCARD_INI; the environment wins over it.
    let ini = tmp("sscard.ini");
    std::fs::write(
        &ini,
        "[sscard]\nmode = pcsc\nreader = definitely-not-a-reader\n",
    )
    .unwrap();
    std::env::set_var("SSCARD_INI", &ini);
    std::env::remove_var("SSCARD_MODE");
    std::env::remove_var("SSCARD_ENCODING");
    assert_eq!(sscard_reload_config(), 0);
    // PC/SC: without pcscd or without that reader, a reader error.
    let (rc, msg) = read_bas(1);
    assert_eq!(rc, SSCARD_E_READER, "{msg}");
    std::env::set_var("SSCARD_MODE", "emulated");
    assert_eq!(sscard_reload_config(), 0);
    assert_eq!(read_bas(1).0, 0);
    std::env::remove_var("SSCARD_INI");
    std::env::remove_var("SSCARD_MODE");
    sscard::reset();
}
