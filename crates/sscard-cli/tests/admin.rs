//! Writes, PIN administration, authentication, the HSM two-step read and the
//! application directory, through the `sscard` binary against emulated cards.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sscard"));
    c.env("PCSCLITE_CSOCK_NAME", "/nonexistent/sscard-test/pcscd.comm");
    c
}

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
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

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A 3rd-generation SM4 image in a temp file.
fn gen3_image(tag: &str) -> std::path::PathBuf {
    let mut v: serde_json::Value = serde_json::from_str(sscard_fs::SAMPLE_IMAGE_JSON).unwrap();
    v["files"]["SSSE/EF05"]["spec_version"] = "3.00".into();
    v["algorithm_id"] = "03".into();
    let path = std::env::temp_dir().join(format!("sscard-admin-{tag}-{}.json", std::process::id()));
    std::fs::write(&path, v.to_string()).unwrap();
    path
}

#[test]
fn write_then_read_back_with_update_keys() {
    let o = run(
        &[
            "write",
            "--emulated",
            "--soft-keys",
            "--items",
            "SSSEEF05|05|07|$SSSEEF06|09|$",
            "--data",
            "SSSEEF05|20250101|B99999999|$SSSEEF06|张三丰|$",
        ],
        "",
    );
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "SSSEEF05|20250101|B99999999|$SSSEEF06|张三丰|$");
    // Without a module the write is refused before touching the card.
    let o = run(
        &[
            "write",
            "--emulated",
            "--items",
            "SSSEEF05|05|$",
            "--data",
            "SSSEEF05|20250101|$",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("needs a security module"), "{}", err(&o));
    // A value that does not fit the item.
    let o = run(
        &[
            "write",
            "--emulated",
            "--soft-keys",
            "--items",
            "SSSEEF05|05|$",
            "--data",
            "SSSEEF05|2025-01-01|$",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    // Shape mismatch between --items and --data.
    let o = run(
        &[
            "write",
            "--emulated",
            "--soft-keys",
            "--items",
            "SSSEEF05|05|06|$",
            "--data",
            "SSSEEF05|20250101|$",
        ],
        "",
    );
    assert!(err(&o).contains("2 items"), "{}", err(&o));
}

#[test]
fn pin_change_reload_unblock_and_internal_auth() {
    let o = run(
        &["pin", "change", "--emulated", "--pin-stdin"],
        "123456\n654321\n",
    );
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "PIN changed");
    let o = run(
        &["pin", "change", "--emulated", "--pin-stdin"],
        "111111\n654321\n",
    );
    assert!(err(&o).contains("wrong PIN: 5 tries left"), "{}", err(&o));
    let o = run(
        &["pin", "reload", "--emulated", "--soft-keys", "--pin-stdin"],
        "246810\n",
    );
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "PIN reloaded");
    let o = run(&["pin", "unblock", "--emulated", "--emulated-psam"], "");
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "PIN unblocked");
    let img = gen3_image("auth");
    let o = run(
        &[
            "auth",
            "internal",
            "--emulated",
            "--image",
            img.to_str().unwrap(),
            "--emulated-psam",
        ],
        "",
    );
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).starts_with("card is genuine"));
    let o = run(&["pin", "reload", "--emulated", "--pin-stdin"], "246810\n");
    assert!(err(&o).contains("needs a security module"));
    std::fs::remove_file(img).ok();
}

#[test]
fn hsm_read_through_the_test_hsm() {
    let img = gen3_image("hsm");
    let mut reader = bin()
        .args([
            "hsm",
            "read",
            "--emulated",
            "--image",
            img.to_str().unwrap(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(reader.stdout.take().unwrap()).lines();
    let step1 = lines.next().unwrap().unwrap();
    assert!(
        step1.starts_with("330100|00815353433300001234567890|03|"),
        "{step1}"
    );
    // The test HSM answers the Step 1 string.
    let answer = run(&["hsm", "answer"], &format!("{step1}\n"));
    assert!(answer.status.success(), "{}", err(&answer));
    let step2 = out(&answer);
    assert_eq!(step2.len(), 32 + 1 + 32 + 1);
    let mut stdin = reader.stdin.take().unwrap();
    writeln!(stdin, "{step2}").unwrap();
    drop(stdin);
    let result = lines.next().unwrap().unwrap();
    assert_eq!(
        result,
        "330100|330102199003071230|A12345678|330100D15600000500A1B2C3D4E5F607|李测试|00815353433300001234567890|3.00|20240315|20340315|000000000000||"
    );
    assert!(reader.wait().unwrap().success());
    std::fs::remove_file(img).ok();
}

#[test]
fn application_directory_list_and_check() {
    let o = run(&["apps", "list", "--json"], "");
    assert!(o.status.success(), "{}", err(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["counts"]["total"], 28);
    assert_eq!(doc["counts"]["by_category"]["就业创业"], 10);
    assert_eq!(doc["counts"]["by_provenance"]["attested"], 27);
    assert!(doc["counts"]["by_provenance"].get("official").is_none());
    assert_eq!(doc["status"], "provisional");

    let check = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["apps", "check", "--emulated", "--json"];
        args.extend_from_slice(extra);
        let o = run(&args, "");
        assert!(o.status.success(), "{}", err(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let availability = |doc: &serde_json::Value, id: &str| {
        doc["applications"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == id)
            .unwrap()["availability"]
            .clone()
    };
    let gen2 = check(&[]);
    assert_eq!(gen2["card"]["generation"], 2);
    // The emulated card carries the UnionPay debit application, found through the
    // kernel's AID list.
    assert_eq!(gen2["card"]["bank_app"], true, "{}", gen2["card"]);
    assert_eq!(availability(&gen2, "P-02")["available"], "card");
    let img = gen3_image("apps");
    let gen3 = check(&["--image", img.to_str().unwrap()]);
    assert_eq!(availability(&gen3, "P-02")["available"], "no");
    assert_eq!(
        availability(&gen3, "P-02")["missing"][0]["reason"],
        "security-module-to-read"
    );
    let gen3_psam = check(&["--image", img.to_str().unwrap(), "--emulated-psam"]);
    assert_eq!(availability(&gen3_psam, "P-02")["available"], "card");
    // Writing DF02 (P-10) needs the module on either generation.
    assert_eq!(
        availability(&gen2, "P-10")["missing"][0]["reason"],
        "security-module-to-write"
    );
    assert_eq!(availability(&gen3_psam, "P-10")["available"], "card");
    std::fs::remove_file(img).ok();

    let o = run(&["apps", "show", "P-16"], "");
    assert!(out(&o).contains("bank-app"), "{}", out(&o));
    let o = run(&["apps", "show", "P-99"], "");
    assert_eq!(o.status.code(), Some(1));
}

/// Runs the PIN- and key-handling commands with APDU traces on and checks that no PIN
/// and no key appears anywhere in their output (issue 10: secrets never in traces or logs).
#[test]
fn secrets_never_appear_in_traces_or_output() {
    let keys: serde_json::Value = serde_json::from_str(sscard_fs::EMULATION_KEYS_JSON).unwrap();
    // PINs that appear nowhere else on the card (the sample ATR happens to contain 123456).
    let mut secrets: Vec<String> = vec!["975319".into(), "246810".into(), "864202".into()];
    for k in keys["keys"].as_array().unwrap() {
        secrets.push(k["des3"].as_str().unwrap().to_string());
        secrets.push(k["sm4"].as_str().unwrap().to_string());
        // Any 8-byte window of a key would do as a leak too.
        secrets.push(k["des3"].as_str().unwrap()[..16].to_string());
        secrets.push(k["sm4"].as_str().unwrap()[16..].to_string());
    }
    let img = gen3_image("secrets");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&img).unwrap()).unwrap();
    v["pin"] = "975319".into();
    std::fs::write(&img, v.to_string()).unwrap();
    let image = img.to_str().unwrap();
    let runs = [
        (
            vec![
                "pin",
                "verify",
                "--emulated",
                "--image",
                image,
                "--trace",
                "--pin-stdin",
            ],
            "975319\n",
        ),
        (
            vec![
                "pin",
                "change",
                "--emulated",
                "--image",
                image,
                "--trace",
                "--pin-stdin",
            ],
            "975319\n864202\n",
        ),
        (
            vec![
                "pin",
                "reload",
                "--emulated",
                "--image",
                image,
                "--soft-keys",
                "--trace",
                "--pin-stdin",
            ],
            "246810\n",
        ),
        (
            vec![
                "pin",
                "unblock",
                "--emulated",
                "--image",
                image,
                "--emulated-psam",
                "--trace",
            ],
            "",
        ),
        (
            vec![
                "read",
                "--emulated",
                "--image",
                image,
                "--emulated-psam",
                "--trace",
            ],
            "",
        ),
        (
            vec![
                "write",
                "--emulated",
                "--image",
                image,
                "--soft-keys",
                "--trace",
                "--items",
                "DF01EF07|29|$",
                "--data",
                "DF01EF07|1|$",
                "--pin-stdin",
            ],
            "975319\n",
        ),
    ];
    let mut traced = 0;
    for (args, stdin) in runs {
        let o = run(&args, stdin);
        assert!(o.status.success(), "{args:?}: {}", err(&o));
        let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), err(&o)).to_uppercase();
        traced += all.matches("\n> ").count();
        for s in &secrets {
            assert!(!all.contains(s.as_str()), "{args:?} printed a secret ({s})");
        }
    }
    // The traces were really there (and redacted, not absent).
    assert!(traced > 20, "{traced}");
    std::fs::remove_file(img).ok();
}

/// The bank application's flows with APDU traces on: no master key (or 8-byte half of
/// one), no ICC private key and no offline PIN block appears in their output.
#[test]
fn bank_secrets_never_appear_in_traces_or_output() {
    let profile: serde_json::Value =
        serde_json::from_str(sscard_emu::pboc::BUILTIN_PROFILE).unwrap();
    let app = &profile["applications"][0];
    let mut secrets: Vec<String> = Vec::new();
    for family in ["rsa3des", "sm2sm4"] {
        for key in ["mk_ac", "mk_smi", "mk_smc"] {
            let k = app["keys"][family][key].as_str().unwrap().to_uppercase();
            secrets.push(k[..16].to_string());
            secrets.push(k[16..].to_string());
        }
    }
    secrets.push(app["icc_sm2_private_key"].as_str().unwrap().to_uppercase()[..16].to_string());
    let d = app["icc_rsa_private_key"]["d"]
        .as_str()
        .unwrap()
        .to_uppercase();
    secrets.push(d[..16].to_string());
    secrets.push(d[d.len() - 16..].to_string());
    // The plaintext offline PIN block of VERIFY (2N ‖ PIN ‖ F…).
    secrets.push("26123456FFFFFFFF".into());
    let runs: [&[&str]; 3] = [
        &[
            "pboc",
            "pay",
            "--emulated",
            "--trace",
            "--amount",
            "100.00",
            "--pin-stdin",
        ],
        &[
            "pboc",
            "pay",
            "--emulated",
            "--trace",
            "--sm",
            "--amount",
            "100.00",
            "--pin-stdin",
        ],
        &[
            "pboc",
            "load",
            "--emulated",
            "--trace",
            "--amount",
            "10.00",
            "--pin-stdin",
        ],
    ];
    let mut traced = 0;
    for args in runs {
        let o = run(args, "123456\n");
        assert!(o.status.success(), "{args:?}: {}", err(&o));
        let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), err(&o)).to_uppercase();
        traced += all.matches("\n> ").count();
        assert!(all.contains("80AE"), "{args:?}: GENERATE AC traced");
        // The offline PIN's VERIFY is traced, with its data redacted.
        assert!(all.contains("> 0020008008 <8 BYTES REDACTED>"), "{args:?}");
        for s in &secrets {
            assert!(!all.contains(s.as_str()), "{args:?} printed a secret ({s})");
        }
    }
    assert!(traced > 30, "{traced}");
}
