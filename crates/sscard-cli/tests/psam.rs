//! `sscard read --emulated-psam` (3.0 cards authenticated through the emulated PSAM in
//! process) and `sscard emulate --psam-port` (the PSAM in a second vpcd slot, here a
//! loopback stand-in for vpcd).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

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

/// The sample card as a 3rd-generation card with this algorithm identifier, in a file
/// of its own (removed with [`remove`]).
fn v3_image(name: &str, algorithm_id: &str) -> PathBuf {
    let mut v: serde_json::Value = serde_json::from_str(sscard_fs::SAMPLE_IMAGE_JSON).unwrap();
    v["files"]["SSSE/EF05"]["spec_version"] = "3.00".into();
    v["algorithm_id"] = algorithm_id.into();
    let path = std::env::temp_dir().join(format!("sscard-cli-psam-{}-{name}", std::process::id()));
    std::fs::write(&path, v.to_string()).unwrap();
    path
}

fn remove(path: PathBuf) {
    std::fs::remove_file(path).ok();
}

#[test]
fn third_generation_cards_read_with_the_emulated_psam() {
    for (id, env) in [("03", "sx3"), ("01", "sx1")] {
        let path = v3_image(&format!("v3-{id}.json"), id);
        let image = path.to_str().unwrap();
        // Without a PSAM: a clear refusal.
        let o = sscard(&["read", "--emulated", "--image", image]);
        assert_eq!(o.status.code(), Some(1));
        let err = stderr(&o);
        assert!(err.contains("3rd-generation card"), "{err}");
        assert!(err.contains("--psam"), "{err}");
        // With the emulated PSAM: the basic information.
        let o = sscard(&[
            "read",
            "--emulated",
            "--image",
            image,
            "--emulated-psam",
            "--json",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let got: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(got["basic"]["name"], "李测试");
        assert_eq!(got["basic"]["spec_version"], "3.00");
        assert_eq!(got["reader"], "emulated");
        assert_eq!(got["psam"]["environment"], env);
        assert_eq!(got["psam"]["terminal_number"], "000000000001");
        let o = sscard(&["read", "--emulated", "--image", image, "--emulated-psam"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = String::from_utf8(o.stdout).unwrap();
        assert!(
            text.contains(&format!(
                "PSAM: emulated PSAM ({env}, terminal number 000000000001)"
            )),
            "{text}"
        );
        assert!(text.contains("李测试"), "{text}");
        remove(path);
    }
}

#[test]
fn second_generation_output_is_unchanged_with_a_psam() {
    let plain = sscard(&["read", "--emulated", "--json"]);
    let with = sscard(&["read", "--emulated", "--emulated-psam", "--json"]);
    assert!(with.status.success(), "{}", stderr(&with));
    assert_eq!(plain.stdout, with.stdout);
}

#[test]
fn psam_options_are_checked() {
    // The emulated PSAM goes with the emulated card.
    assert_eq!(sscard(&["read", "--emulated-psam"]).status.code(), Some(2));
    // A PSAM is not used for items.
    let o = sscard(&[
        "read",
        "--emulated",
        "--emulated-psam",
        "--items",
        "SSSEEF05|01|$",
    ]);
    assert_eq!(o.status.code(), Some(2));
    // --psam-env needs --psam-port.
    assert_eq!(
        sscard(&["emulate", "--psam-env", "sx3"]).status.code(),
        Some(2)
    );
    // A PSAM reader without pcscd: a clear error naming the PSAM.
    let o = sscard(&["read", "--emulated", "--psam", "No Such Reader"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("PSAM in \"No Such Reader\""), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// One vpcd frame out, one back.
fn exchange(stream: &mut TcpStream, payload: &[u8]) -> Vec<u8> {
    let mut frame = u16::try_from(payload.len()).unwrap().to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    stream.write_all(&frame).unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut body).unwrap();
    body
}

#[test]
fn emulate_puts_the_psam_into_a_second_slot_and_stops_both() {
    // Two loopback listeners stand in for vpcd's two slots.
    let card_slot = TcpListener::bind("127.0.0.1:0").unwrap();
    let psam_slot = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = |l: &TcpListener| l.local_addr().unwrap().port().to_string();
    let image = v3_image("emulate.json", "03");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sscard"))
        .args([
            "emulate",
            "--image",
            image.to_str().unwrap(),
            "--port",
            &port(&card_slot),
            "--psam-port",
            &port(&psam_slot),
            "--max-seconds",
            "3",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let accept = |l: &TcpListener| {
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    };
    let mut card = accept(&card_slot);
    let mut psam = accept(&psam_slot);
    // GET ATR on each slot.
    assert_eq!(
        exchange(&mut card, &[0x04]),
        sscard_apdu::hex::to_vec("3B6D000000815353433300001234567890").unwrap()
    );
    assert_eq!(exchange(&mut psam, &[0x04]), sscard_emu::psam::PSAM_ATR);
    // The image's algorithm (03) chose the sx3 environment.
    let select_sx3 = sscard_apdu::hex::to_vec("00A404000F7378332E73682EC9E7BBE1B1A3D5CF").unwrap();
    assert_eq!(exchange(&mut psam, &select_sx3), [0x61, 0x13]);
    assert_eq!(
        exchange(&mut psam, &[0x00, 0xB0, 0x96, 0x00, 0x06]).len(),
        8
    );
    // --max-seconds stops both bridges and the process ends by itself.
    let status = child.wait().unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("sscard emulate (PSAM): card inserted"),
        "{log}"
    );
    remove(image);
}
