//! `sscard hsm serve` (the development issuance security module) as a process, and
//! `sscard issue`'s key options.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sscard_crypto::kdf::EmulationScheme;
use sscard_crypto::keys::Algorithm;
use sscard_fs::keys::KeySet;
use sscard_issue::cos::{KeyWrap, SoftKeyWrap, TransportKey};
use sscard_issue::hsm::HsmClient;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sscard"));
    c.env("PCSCLITE_CSOCK_NAME", "/nonexistent/sscard-test/pcscd.comm");
    c
}

#[test]
fn the_development_module_answers_like_software_keys_and_stops_by_itself() {
    let started = Instant::now();
    let mut child = bin()
        .args([
            "hsm",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--max-seconds",
            "5",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .parse()
        .unwrap();
    let mut client = HsmClient::new(addr);
    client.ping().unwrap();
    let mut soft = SoftKeyWrap::new(
        KeySet::from_json(sscard_fs::EMULATION_KEYS_JSON).unwrap(),
        TransportKey::test_key().unwrap(),
        EmulationScheme,
    );
    for algorithm in [Algorithm::Des3, Algorithm::Sm4] {
        let factor = [0x21, 0x43, 0x65, 0x87, 0xA9, 0xCB, 0xED, 0x0F];
        assert_eq!(
            client
                .transport_cryptogram(algorithm, &factor, &factor)
                .unwrap(),
            soft.transport_cryptogram(algorithm, &factor, &factor)
                .unwrap()
        );
        assert_eq!(
            client.wrap_pin(algorithm, "123456", &factor).unwrap(),
            soft.wrap_pin(algorithm, "123456", &factor).unwrap()
        );
    }
    drop(client);
    // --max-seconds ends it.
    let status = child.wait().unwrap();
    assert!(status.success());
    assert!(started.elapsed() < Duration::from_secs(20));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("5 requests"), "{stderr}");
}

#[test]
fn the_development_module_listens_on_loopback_only() {
    let o = bin()
        .args([
            "hsm",
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--max-seconds",
            "1",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("loopback addresses only"), "{err}");
}

#[test]
fn issue_needs_keys_and_checks_the_module_before_anything_else() {
    let o = bin()
        .args(["issue", "--batch", "/nonexistent.csv", "--reader", "r"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--hsm ADDR"), "{err}");
    // Nobody on this port: refused before the batch is even read.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = bin()
        .args([
            "issue",
            "--batch",
            "/nonexistent.csv",
            "--reader",
            "r",
            "--hsm",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("the security module does not answer"), "{err}");
    assert!(err.contains("cannot connect"), "{err}");
    let o = bin()
        .args([
            "issue",
            "--batch",
            "/nonexistent.csv",
            "--reader",
            "r",
            "--soft-keys",
            "--hsm",
            "127.0.0.1:1",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot be used with"));
}
