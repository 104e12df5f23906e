//! The `sscard` binary: the JSON contract, the text table, and clear errors for bad
//! input (no panics, exit status 1).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::{Command, Output};

fn sscard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sscard"))
        .args(args)
        // Never talk to a real pcscd from these tests.
        .env("PCSCLITE_CSOCK_NAME", "/nonexistent/sscard-test/pcscd.comm")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn sample() -> serde_json::Value {
    serde_json::from_str(sscard_fs::SAMPLE_IMAGE_JSON).unwrap()
}

#[test]
fn read_emulated_json_is_the_image() {
    let o = sscard(&["read", "--emulated", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let want = sample();
    assert_eq!(got["schema"], "sscard-image/1");
    assert_eq!(got["files"], want["files"]);
    assert_eq!(got["atr"], want["atr"]);
    assert_eq!(got["algorithm_id"], want["algorithm_id"]);
    assert_eq!(got["reader"], "emulated");
    assert_eq!(got["basic"]["name"], "李测试");
    assert_eq!(got["basic"]["region_code"], "330100");
    assert_eq!(got["basic"]["atr_historical"], "00815353433300001234567890");
}

#[test]
fn what_read_prints_can_be_emulated_again() {
    let dir = std::env::temp_dir().join(format!("sscard-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A different holder, with a name that needs the extension item.
    let mut image = sample();
    image["files"]["SSSE/EF06"]["name"] = "阿卜杜热合曼·买买提艾力·吐".into();
    image["files"]["SSSE/EF06"]["name_ext"] = "尔逊".into();
    let path = dir.join("card.json");
    std::fs::write(&path, image.to_string()).unwrap();
    let first = sscard(&[
        "read",
        "--emulated",
        "--image",
        path.to_str().unwrap(),
        "--json",
    ]);
    assert!(first.status.success(), "{}", stderr(&first));
    // Feed the output back as an image: the same card comes out.
    let again_path = dir.join("again.json");
    std::fs::write(&again_path, &first.stdout).unwrap();
    let second = sscard(&[
        "read",
        "--emulated",
        "--image",
        again_path.to_str().unwrap(),
        "--json",
    ]);
    assert!(second.status.success(), "{}", stderr(&second));
    let a: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(a["files"], b["files"]);
    assert_eq!(
        a["files"]["SSSE/EF06"]["name"],
        "阿卜杜热合曼·买买提艾力·吐"
    );
    // iReadCardBas's name is 09 followed by 4E.
    assert_eq!(a["basic"]["name"], "阿卜杜热合曼·买买提艾力·吐尔逊");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn read_emulated_text_table() {
    let o = sscard(&["read", "--emulated"]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("card number                A12345678"),
        "{text}"
    );
    assert!(text.contains("李测试"));
}

#[test]
fn trace_shows_every_apdu() {
    let o = sscard(&["read", "--emulated", "--trace"]);
    assert!(o.status.success());
    let err = stderr(&o);
    // SELECT SSSE with Le 00, then READ RECORD by SFI and tag (P2 = SFI << 3).
    assert!(
        err.contains("> 00A404000F7378312E73682EC9E7BBE1B1A3D5CF00"),
        "{err}"
    );
    assert!(err.contains("< 6F19840F"), "{err}");
    assert!(err.contains("> 00B207280B"), "{err}");
    assert!(err.contains("> 00B2093020"), "{err}");
}

#[test]
fn bad_image_files_are_clear_errors() {
    let dir = std::env::temp_dir().join(format!("sscard-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases: [(&str, String, &str); 4] = [
        (
            "truncated.json",
            "{\"schema\": \"sscard-image/1\",".into(),
            "not valid JSON",
        ),
        (
            "name.json",
            {
                let mut v = sample();
                v["files"]["SSSE/EF06"]["name"] = "😀".into();
                v.to_string()
            },
            "SSSE/EF06/name",
        ),
        (
            "date.json",
            {
                let mut v = sample();
                v["files"]["SSSE/EF05"]["issue_date"] = "2024-03-15".into();
                v.to_string()
            },
            "SSSE/EF05/issue_date",
        ),
        (
            "atr.json",
            {
                let mut v = sample();
                v["atr"] = "3B".into();
                v.to_string()
            },
            "ATR",
        ),
    ];
    for (file, content, expect) in cases {
        let path = dir.join(file);
        std::fs::write(&path, content).unwrap();
        let o = sscard(&["read", "--emulated", "--image", path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{file}");
        let err = stderr(&o);
        assert!(err.contains(expect), "{file}: {err}");
        assert!(!err.contains("panicked"), "{file}: {err}");
    }
    let o = sscard(&["read", "--emulated", "--image", "/nonexistent/card.json"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot read card image /nonexistent/card.json"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn no_reader_and_no_flag_explains_what_was_looked_for() {
    let o = sscard(&["read"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("no PC/SC service"), "{err}");
    assert!(err.contains("sscard read --emulated"), "{err}");
}

fn full_image() -> String {
    format!(
        "{}/../../apdu-specs/images/full.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn sscard_stdin(args: &[&str], stdin: &str) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_sscard"))
        .args(args)
        .env("PCSCLITE_CSOCK_NAME", "/nonexistent/sscard-test/pcscd.comm")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn items_by_address_with_the_pin_from_stdin() {
    let img = full_image();
    let args = [
        "read",
        "--emulated",
        "--image",
        &img,
        "--items",
        "SSSEEF06|08|$DF01EF15|40:01|$",
        "--pin-stdin",
    ];
    let o = sscard_stdin(&args, "123456\n");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8(o.stdout).unwrap().trim(),
        "SSSEEF06|330102199003071230|$DF01EF15|B01,330,测试大学|$"
    );
    // Without a PIN the card refuses DF01, and the message says what to do.
    let o = sscard(&[
        "read",
        "--emulated",
        "--image",
        &img,
        "--items",
        "DF01EF15|2A|$",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("wants the PIN"), "{}", stderr(&o));
    // A malformed address is refused before any APDU.
    let o = sscard(&["read", "--emulated", "--items", "SSSEEF05|7|$"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("2-digit hex tag"), "{}", stderr(&o));
}

#[test]
fn pin_verify_never_takes_the_pin_from_argv() {
    let o = sscard_stdin(&["pin", "verify", "--emulated", "--pin-stdin"], "123456\n");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8(o.stdout).unwrap().trim(), "PIN verified");
    let o = sscard_stdin(&["pin", "verify", "--emulated", "--pin-stdin"], "654321\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("wrong PIN: 5 tries left"),
        "{}",
        stderr(&o)
    );
    let o = sscard_stdin(&["pin", "verify", "--emulated", "--pin-stdin"], "12ab56\n");
    assert!(stderr(&o).contains("4 to 12 digits"), "{}", stderr(&o));
    let o = sscard(&["pin", "verify", "--emulated"]);
    assert!(
        stderr(&o).contains("never on the command line"),
        "{}",
        stderr(&o)
    );
    // There is no option that takes the PIN itself.
    let o = sscard(&["pin", "verify", "--emulated", "--pin", "123456"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn verify_passes_on_the_issued_record_and_fails_on_another() {
    let record = std::env::temp_dir().join(format!("sscard-verify-{}.json", std::process::id()));
    std::fs::write(&record, sscard_fs::SAMPLE_IMAGE_JSON).unwrap();
    let path = record.to_str().unwrap();
    let ok = sscard(&[
        "verify",
        "--emulated",
        "--record",
        path,
        "--soft-keys",
        "--json",
    ]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(v["passed"], true);
    let checks = v["checks"].as_array().unwrap();
    assert!(checks
        .iter()
        .any(|c| c["check"] == "bank certificates" && c["ok"] == true));
    assert!(checks
        .iter()
        .any(|c| c["check"].as_str().unwrap().starts_with("key 04") && c["ok"] == true));
    // Another holder's name in the record: that check fails and so does the command.
    let mut other = sample();
    other["files"]["SSSE/EF06"]["name"] = "王测试".into();
    std::fs::write(&record, other.to_string()).unwrap();
    let bad = sscard(&["verify", "--emulated", "--record", path, "--soft-keys"]);
    assert!(!bad.status.success());
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(out.contains("FAIL data SSSE/EF06 name"), "{out}");
    assert!(stderr(&bad).contains("1 of"), "{}", stderr(&bad));
    std::fs::remove_file(&record).ok();
}
