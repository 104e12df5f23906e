//! Issuance through the security-module protocol (`apdu-specs/hsm-issuance.md`): a
//! server thread holding the emulation masters, the batch engine holding none. The
//! cards it issues are byte for byte the cards software keys issue, 2nd- and
//! 3rd-generation; malformed answers fail cards cleanly; a module killed mid-batch stops
//! the reader, leaving its card for the next run to resume.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use sscard_apdu::Exchange;
use sscard_crypto::kdf::EmulationScheme;
use sscard_crypto::keys::Algorithm;
use sscard_emu::cos::BlankOptions;
use sscard_emu::{EmulatedReader, Runtime, SsCard};
use sscard_fs::image::Value;
use sscard_fs::{Image, SAMPLE_IMAGE_JSON};
use sscard_issue::batch::Batch;
use sscard_issue::cos::{
    CosBackend, EmulatedCos, KeyWrap, LifecycleState, SoftKeyWrap, TransportKey,
};
use sscard_issue::engine::{self, Card, Config, Observer, Station, StepEvent, Summary};
use sscard_issue::hsm::{serve, HsmClient, HsmError, IssuanceHsm, ServeReport, PROTOCOL};
use sscard_issue::journal::{self, Journal, OnChangedBatch, Step};
use sscard_ssse::security::{
    external_authenticate, internal_authenticate, CardContext, SecurityModule, SoftKeys,
};

type Ex = Exchange<EmulatedReader<SsCard>>;

mod common;
use common::{key_set, profile};

/// The sample image as a card of this spec version and algorithm identifier.
fn template(version: &str, algorithm: &str) -> Image {
    let mut v: serde_json::Value = serde_json::from_str(SAMPLE_IMAGE_JSON).unwrap();
    v["files"]["SSSE/EF05"]["spec_version"] = version.into();
    v["algorithm_id"] = algorithm.into();
    Image::from_json(&v.to_string()).unwrap()
}

fn batch(n: usize) -> Batch {
    let mut s = format!("{}\n", common::HEADER);
    for i in 0..n {
        s.push_str(&common::holder_row(200, 'C', i));
        s.push('\n');
    }
    common::parse(&s, n)
}

/// A reader whose feeder gives blank cards of one algorithm; ejected cards are kept.
struct Feeder {
    algorithm: Algorithm,
    current: Option<Ex>,
    ejected: Arc<Mutex<Vec<Ex>>>,
    /// Where the card in the reader stays between runs.
    slot: Arc<Mutex<Option<Ex>>>,
}

impl Drop for Feeder {
    fn drop(&mut self) {
        *self.slot.lock().unwrap() = self.current.take();
    }
}

impl Station for Feeder {
    type Transport = EmulatedReader<SsCard>;
    type Trace = sscard_apdu::trace::NoTrace;

    fn name(&self) -> &str {
        "feeder"
    }

    fn card(&mut self) -> Result<Option<Card<'_, Self::Transport, Self::Trace>>, String> {
        if self.current.is_none() {
            let options = BlankOptions {
                algorithm: self.algorithm,
                ..BlankOptions::new().map_err(|e| e.to_string())?
            };
            let card = SsCard::blank(options).map_err(|e| e.to_string())?;
            self.current = Some(Exchange::new(EmulatedReader::new(Runtime::new(card))));
        }
        Ok(self.current.as_mut().map(|ex| Card {
            atr: sscard_emu::cos::BLANK_ATR.to_vec(),
            ex,
        }))
    }

    fn eject(&mut self) -> Result<(), String> {
        let card = self.current.take().ok_or("no card")?;
        self.ejected.lock().unwrap().push(card);
        Ok(())
    }
}

fn soft() -> (SoftKeyWrap<EmulationScheme>, SoftKeys<EmulationScheme>) {
    common::soft_keys()
}

/// A server thread on a loopback port, stopped by its flag.
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<ServeReport>>,
}

impl Server {
    fn start_on(addr: &str) -> Self {
        let listener = TcpListener::bind(addr).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let hsm = IssuanceHsm::new(
                key_set(),
                TransportKey::test_key().unwrap(),
                EmulationScheme,
            );
            serve(&listener, hsm, &flag, &|_| {}).unwrap()
        });
        Self {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    fn start() -> Self {
        Self::start_on("127.0.0.1:0")
    }

    /// Stops the server and waits until every connection is closed.
    fn kill(&mut self) -> Option<ServeReport> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().map(|t| t.join().unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn hsm(addr: SocketAddr) -> (HsmClient, HsmClient) {
    (HsmClient::new(addr), HsmClient::new(addr))
}

struct Run {
    summary: Summary,
    cards: Vec<Ex>,
    events: Vec<StepEvent>,
}

/// Records every event; calls `hook` on each.
struct Watch<'a> {
    events: Mutex<Vec<StepEvent>>,
    hook: &'a (dyn Fn(&StepEvent) + Sync),
}

impl Observer for Watch<'_> {
    fn step(&self, event: &StepEvent) {
        self.events.lock().unwrap().push(event.clone());
        (self.hook)(event);
    }
}

/// Runs the engine on one feeder of blank `algorithm` cards.
/// Runs the batch on one feeder reader whose card in the reader is kept in `slot`
/// across runs (a fresh `Arc::default()` for a run on its own).
#[allow(clippy::too_many_arguments)]
fn run_batch<W, M, F>(
    slot: &Arc<Mutex<Option<Ex>>>,
    dir: &std::path::Path,
    batch: &Batch,
    base: &Image,
    algorithm: Algorithm,
    retry_failed: bool,
    keys: F,
    hook: &(dyn Fn(&StepEvent) + Sync),
) -> Run
where
    W: KeyWrap,
    M: SecurityModule,
    F: Fn() -> (W, M) + Sync,
{
    let profile = profile();
    let journal = Journal::open_batch(dir.join("j.jsonl"), batch, OnChangedBatch::Refuse).unwrap();
    let stop = AtomicBool::new(false);
    let config = Config {
        results: Some(dir.join("results")),
        retry_failed,
        ..Config::new(
            &profile,
            base,
            &batch.holders,
            &journal,
            EmulatedCos::default(),
            algorithm,
            &stop,
        )
    };
    let ejected = Arc::new(Mutex::new(Vec::new()));
    let station = Feeder {
        algorithm,
        current: slot.lock().unwrap().take(),
        ejected: ejected.clone(),
        slot: slot.clone(),
    };
    let watch = Watch {
        events: Mutex::default(),
        hook,
    };
    let summary = engine::run(&config, vec![station], keys, &watch).unwrap();
    let cards = std::mem::take(&mut *ejected.lock().unwrap());
    Run {
        summary,
        cards,
        events: watch.events.into_inner().unwrap(),
    }
}

fn card_id(image: &Image) -> String {
    image.files["SSSE/EF05"]["card_id"]
        .as_text()
        .unwrap()
        .to_owned()
}

/// Issues the same three holders with software keys and through a module server, and
/// compares the cards' whole state (files, records, keys' values, PIN, counters).
fn same_cards_as_soft_keys(version: &str, alg_id: &str, algorithm: Algorithm) {
    let batch = batch(3);
    let base = template(version, alg_id);
    let soft_dir = tempfile::tempdir().unwrap();
    let soft_run = run_batch(
        &Arc::default(),
        soft_dir.path(),
        &batch,
        &base,
        algorithm,
        false,
        soft,
        &|_| {},
    );
    assert_eq!(soft_run.summary.issued, 3, "{:?}", soft_run.summary);

    let mut server = Server::start();
    let addr = server.addr;
    let hsm_dir = tempfile::tempdir().unwrap();
    let hsm_run = run_batch(
        &Arc::default(),
        hsm_dir.path(),
        &batch,
        &base,
        algorithm,
        false,
        || hsm(addr),
        &|_| {},
    );
    assert_eq!(hsm_run.summary.issued, 3, "{:?}", hsm_run.summary);
    let report = server.kill().unwrap();
    // Pre-personalisation and personalisation went through the module: for each card
    // a transport cryptogram, keys, PIN, MACs, the update key (and RKSSSE on 3.0).
    assert!(report.requests > 3 * 30, "{report:?}");
    assert!(report.connections >= 2, "{report:?}");

    assert_eq!(hsm_run.cards.len(), 3);
    let profile = profile();
    let atr = sscard_emu::cos::BLANK_ATR;
    for (mut got, mut want) in hsm_run.cards.into_iter().zip(soft_run.cards) {
        let g = serde_json::to_string(&got.transport().runtime().card().state()).unwrap();
        let w = serde_json::to_string(&want.transport().runtime().card().state()).unwrap();
        assert!(g.contains("\"layout\"") && g.len() > 1000);
        assert_eq!(g, w);
        assert_eq!(
            EmulatedCos::default().lifecycle(&mut got).unwrap().state,
            LifecycleState::Issued
        );
        // Its keys authenticate: the IRK internally, every other key externally.
        let info = sscard_ssse::read_basic_secured(
            &mut got,
            &profile,
            &atr,
            &mut SoftKeys::new(key_set(), EmulationScheme),
            &[3; 8],
        )
        .unwrap();
        let holder = batch.holders.iter().find(|h| h.ssn() == info.ssn).unwrap();
        let image = holder.to_image(&base, &profile).unwrap();
        let id = card_id(&image);
        let ctx = CardContext {
            atr: &atr,
            card_id: &id,
            algorithm,
        };
        let mut keys = SoftKeys::new(key_set(), EmulationScheme);
        sscard_ssse::select_ssse(&mut got, &profile).unwrap();
        internal_authenticate(&mut got, &mut keys, &ctx, 0x00, &[5; 8]).unwrap();
        for k in key_set().keys() {
            sscard_ssse::select_ssse(&mut got, &profile).unwrap();
            external_authenticate(&mut got, &mut keys, &ctx, k.card_key)
                .unwrap_or_else(|e| panic!("key {:02X}: {e}", k.card_key));
        }
    }
}

#[test]
fn module_issued_2nd_generation_cards_equal_soft_issued_ones() {
    same_cards_as_soft_keys("2.00", "01", Algorithm::Des3);
}

#[test]
fn module_issued_3rd_generation_sm4_cards_equal_soft_issued_ones() {
    same_cards_as_soft_keys("3.00", "03", Algorithm::Sm4);
}

#[test]
fn third_generation_blank_cards_are_issued_with_3_0_read_rules_and_read_back_authenticated() {
    let batch = batch(2);
    let base = template("3.00", "03");
    let dir = tempfile::tempdir().unwrap();
    let run = run_batch(
        &Arc::default(),
        dir.path(),
        &batch,
        &base,
        Algorithm::Sm4,
        false,
        soft,
        &|_| {},
    );
    assert_eq!(run.summary.issued, 2, "{:?}", run.summary);
    let profile = profile();
    let atr = sscard_emu::cos::BLANK_ATR;
    for mut card in run.cards {
        // The basic information is closed without RKSSSE…
        assert!(sscard_ssse::read_basic(&mut card, &profile, &atr).is_err());
        // …and open after it; the FCI announces SM4.
        let img = sscard_ssse::read_image_secured(
            &mut card,
            &profile,
            &atr,
            &mut SoftKeys::new(key_set(), EmulationScheme),
            &[1; 8],
        )
        .unwrap();
        assert_eq!(img.algorithm_id.as_deref(), Some("03"));
        let ssn = img.files["SSSE/EF06"]["ssn"].as_text().unwrap().to_owned();
        let holder = batch.holders.iter().find(|h| h.ssn() == ssn).unwrap();
        let want = holder.to_card_image(&base, &profile, &atr).unwrap();
        for path in sscard_ssse::BASIC_FILES {
            assert_eq!(img.files[path], want.files[path]);
        }
        assert_eq!(
            img.files["SSSE/EF05"]["spec_version"],
            Value::Text("3.00".into())
        );
    }
    // A 2nd-generation template on the same SM4 blanks reads without authentication.
    let base2 = template("2.00", "03");
    let dir = tempfile::tempdir().unwrap();
    let mut run = run_batch(
        &Arc::default(),
        dir.path(),
        &batch,
        &base2,
        Algorithm::Sm4,
        false,
        soft,
        &|_| {},
    );
    assert_eq!(run.summary.issued, 2);
    assert!(sscard_ssse::read_basic(&mut run.cards[0], &profile, &atr).is_ok());
}

/// A scripted module: answers PING correctly, every other request with `answer`.
fn fake_server(answer: &'static str) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        listener.set_nonblocking(false).unwrap();
        // Serve connections until one is closed by the client after a request.
        while let Ok((stream, _)) = listener.accept() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut out = stream;
            let mut line = String::new();
            let mut done = false;
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                if line.trim() == "PING" {
                    writeln!(out, "OK {PROTOCOL}").unwrap();
                } else if line.trim() == "QUIT" {
                    done = true;
                    break;
                } else if answer == "<close>" {
                    break;
                } else {
                    let _ = out.write_all(answer.as_bytes());
                    let _ = out.write_all(b"\n");
                }
                line.clear();
            }
            if done {
                return;
            }
        }
    });
    (addr, thread)
}

fn quit(addr: SocketAddr, thread: JoinHandle<()>) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"QUIT\n").unwrap();
    thread.join().unwrap();
}

/// Whether an error is the one expected.
type Expect = fn(&HsmError) -> bool;

#[test]
fn malformed_and_refused_answers_are_clear_errors() {
    let long: &'static str = Box::leak("OK ".to_owned().repeat(600).into_boxed_str());
    let cases: [(&'static str, Expect); 6] = [
        ("OK zz", |e| matches!(e, HsmError::Malformed(_))),
        ("OK 0011", |e| {
            matches!(
                e,
                HsmError::WrongLength {
                    expected: 8,
                    got: 2,
                    ..
                }
            )
        }),
        (
            "ERR NO-KEY no master for key 04",
            |e| matches!(e, HsmError::Refused { code, .. } if code == "NO-KEY"),
        ),
        ("HELLO", |e| matches!(e, HsmError::Malformed(_))),
        (long, |e| matches!(e, HsmError::TooLong)),
        ("<close>", |e| matches!(e, HsmError::Closed { .. })),
    ];
    for (answer, expected) in cases {
        let (addr, thread) = fake_server(answer);
        let mut client = HsmClient::new(addr).with_timeout(Duration::from_secs(5));
        client.ping().unwrap();
        let err = client
            .transport_cryptogram(Algorithm::Des3, &[1; 8], &[1; 8])
            .unwrap_err();
        assert!(expected(&err), "{answer:.20}: {err:?}");
        assert!(!err.to_string().is_empty());
        drop(client);
        quit(addr, thread);
    }
    // A wrapped key of the wrong length (one 3DES block short).
    let (addr, thread) = fake_server("OK 00112233445566778899AABBCCDDEEFF");
    let mut client = HsmClient::new(addr);
    let atr = sscard_emu::cos::BLANK_ATR;
    let ctx = CardContext {
        atr: &atr,
        card_id: "110100D15600000500A1B2C3D4E5F6A7",
        algorithm: Algorithm::Des3,
    };
    let err = client.wrap_card_key(&ctx, 0x04, &[2; 8]).unwrap_err();
    assert!(
        matches!(
            err,
            HsmError::WrongLength {
                expected: 24,
                got: 16,
                ..
            }
        ),
        "{err:?}"
    );
    // A card identification code the protocol cannot carry is refused before sending.
    let bad = CardContext {
        card_id: "11 01",
        ..ctx
    };
    let err = client.cryptogram(&bad, 0x04, &[2; 8], &[2; 8]).unwrap_err();
    assert!(matches!(err, HsmError::Request(_)), "{err:?}");
    drop(client);
    quit(addr, thread);
    // Another protocol.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut line = String::new();
        BufReader::new(s.try_clone().unwrap())
            .read_line(&mut line)
            .unwrap();
        s.write_all(b"OK other-hsm/9\n").unwrap();
    });
    let err = HsmClient::new(addr).ping().unwrap_err();
    assert!(
        matches!(err, HsmError::Protocol(ref p) if p == "other-hsm/9"),
        "{err:?}"
    );
    t.join().unwrap();
    // Nobody listening.
    let err = HsmClient::new(addr).ping().unwrap_err();
    assert!(matches!(err, HsmError::Connect { .. }), "{err:?}");
}

#[test]
fn the_server_refuses_bad_requests_and_keeps_serving() {
    let mut hsm = IssuanceHsm::new(
        key_set(),
        TransportKey::test_key().unwrap(),
        EmulationScheme,
    );
    assert_eq!(hsm.answer("PING"), format!("OK {PROTOCOL}"));
    for (request, code) in [
        ("", "ERR UNKNOWN-REQUEST"),
        ("SIGN 00", "ERR UNKNOWN-REQUEST"),
        ("TRANSPORT-AUTH 01 0011 0011223344556677", "ERR SYNTAX"),
        (
            "TRANSPORT-AUTH 07 0011223344556677 0011223344556677",
            "ERR NO-ALGORITHM",
        ),
        ("WRAP-PIN 01 31323X 0011223344556677", "ERR SYNTAX"),
        ("WRAP-PIN 01 4142 0011223344556677", "ERR SYNTAX"),
        (
            "CARD-AUTH 01 3B00 ab-c 04 0011223344556677 0011223344556677",
            "ERR SYNTAX",
        ),
        (
            "CARD-AUTH 01 3B6C0000 110100D156000005 7E 0011223344556677 0011223344556677",
            "ERR NO-KEY",
        ),
        (
            "WRAP-KEY 01 3B6C0000 110100D156000005 7E 0011223344556677",
            "ERR NO-KEY",
        ),
    ] {
        let answer = hsm.answer(request);
        assert!(answer.starts_with(code), "{request:?} → {answer}");
    }
    // The answers equal software wrapping.
    let (mut wrap, mut keys) = soft();
    let answer = hsm.answer("TRANSPORT-AUTH 03 0102030405060708 1112131415161718");
    let want = wrap
        .transport_cryptogram(
            Algorithm::Sm4,
            &[1, 2, 3, 4, 5, 6, 7, 8],
            &[0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18],
        )
        .unwrap();
    assert_eq!(answer, format!("OK {}", sscard_apdu::hex::to_string(&want)));
    let atr = sscard_emu::cos::BLANK_ATR;
    let ctx = CardContext {
        atr: &atr,
        card_id: "110100D156000005",
        algorithm: Algorithm::Des3,
    };
    let want = keys.cryptogram(&ctx, 0x04, &[9; 8], &[8; 8]).unwrap();
    let request = format!(
        "CARD-AUTH 01 {} 110100D156000005 04 {} {}",
        sscard_apdu::hex::to_string(&atr),
        sscard_apdu::hex::to_string(&[9; 8]),
        sscard_apdu::hex::to_string(&[8; 8])
    );
    assert_eq!(
        hsm.answer(&request),
        format!("OK {}", sscard_apdu::hex::to_string(&want))
    );
}

#[test]
fn an_over_long_request_line_is_refused_and_the_connection_closed() {
    let mut server = Server::start();
    let mut s = std::net::TcpStream::connect(server.addr).unwrap();
    s.write_all(&[b'A'; 2000]).unwrap();
    let mut line = String::new();
    BufReader::new(s.try_clone().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("ERR TOO-LONG"), "{line}");
    // The server still serves others.
    HsmClient::new(server.addr).ping().unwrap();
    server.kill();
}

#[test]
fn wrong_answers_fail_the_card_cleanly_and_eject_it() {
    let (addr, thread) = fake_server("OK 0011");
    let batch = batch(2);
    let base = template("2.00", "01");
    let dir = tempfile::tempdir().unwrap();
    let run = run_batch(
        &Arc::default(),
        dir.path(),
        &batch,
        &base,
        Algorithm::Des3,
        false,
        || hsm(addr),
        &|_| {},
    );
    quit(addr, thread);
    assert_eq!(run.summary.issued, 0);
    assert_eq!(run.summary.failed.len(), 2, "{:?}", run.summary);
    for (_, reason) in &run.summary.failed {
        assert!(
            reason.contains("transport cryptogram of 2 bytes, expected 8"),
            "{reason}"
        );
    }
    // Both cards went out, still blank (nothing was written).
    assert_eq!(run.cards.len(), 2);
    for mut card in run.cards {
        assert_eq!(
            EmulatedCos::default().lifecycle(&mut card).unwrap().state,
            LifecycleState::Blank
        );
    }
    let parsed = journal::parse(&std::fs::read(dir.path().join("j.jsonl")).unwrap()).unwrap();
    assert!(!parsed.torn);
    let journal =
        Journal::open_batch(dir.path().join("j.jsonl"), &batch, OnChangedBatch::Refuse).unwrap();
    let s = journal.summary().unwrap();
    assert_eq!((s.done, s.failed, s.in_progress), (0, 2, 0));
}

#[test]
fn a_module_killed_mid_batch_stops_the_reader_and_a_restarted_one_resumes_the_card() {
    let server = Mutex::new(Server::start());
    let addr = server.lock().unwrap().addr;
    let batch = batch(5);
    let base = template("3.00", "03");
    let dir = tempfile::tempdir().unwrap();
    let slot = Arc::default();
    // Killed when the second holder is pre-issued: its personalisation needs the module.
    let kill = |e: &StepEvent| {
        if e.step == Step::Preissued && e.done == 1 {
            server.lock().unwrap().kill();
        }
    };
    let run = run_batch(
        &slot,
        dir.path(),
        &batch,
        &base,
        Algorithm::Sm4,
        false,
        || hsm(addr),
        &kill,
    );
    // One card done; the second stopped the reader at the update key — not failed, not
    // ejected, and no further card touched.
    assert_eq!(run.summary.issued, 1, "{:?}", run.summary);
    assert!(run.summary.failed.is_empty(), "{:?}", run.summary);
    let error = run.summary.readers[0].error.as_deref().unwrap();
    assert!(
        error.contains("security module unavailable") && error.contains("update key"),
        "{error}"
    );
    assert_eq!(run.cards.len(), 1);
    assert!(!run
        .events
        .iter()
        .any(|e| matches!(&e.step, Step::Failed { .. })));
    let parsed = journal::parse(&std::fs::read(dir.path().join("j.jsonl")).unwrap()).unwrap();
    assert!(!parsed.torn);
    {
        let journal =
            Journal::open_batch(dir.path().join("j.jsonl"), &batch, OnChangedBatch::Refuse)
                .unwrap();
        let s = journal.summary().unwrap();
        assert_eq!(
            (s.done, s.failed, s.in_progress, s.not_started),
            (1, 0, 1, 3)
        );
    }
    // The half-issued card is still in the reader.
    let mut card = slot.lock().unwrap().take().unwrap();
    assert_eq!(
        EmulatedCos::default().lifecycle(&mut card).unwrap().state,
        LifecycleState::Issued
    );
    *slot.lock().unwrap() = Some(card);

    // The module comes back on the same address: the next run resumes the card in the
    // reader and issues the rest, no --retry-failed needed.
    let _server = Server::start_on(&addr.to_string());
    let run = run_batch(
        &slot,
        dir.path(),
        &batch,
        &base,
        Algorithm::Sm4,
        false,
        || hsm(addr),
        &|_| {},
    );
    assert_eq!(run.summary.issued, 4, "{:?}", run.summary);
    assert_eq!(run.summary.readers[0].resumed, 1, "{:?}", run.summary);
    assert!(run.summary.failed.is_empty());
    let journal =
        Journal::open_batch(dir.path().join("j.jsonl"), &batch, OnChangedBatch::Refuse).unwrap();
    let s = journal.summary().unwrap();
    assert_eq!(
        (s.done, s.failed, s.in_progress, s.not_started),
        (5, 0, 0, 0)
    );
}

proptest::proptest! {
    /// Whatever a client sends, the server answers one `OK …` or `ERR …` line, without
    /// panicking, and never a line break inside.
    #[test]
    fn any_request_gets_one_answer_line(
        op in proptest::sample::select(vec![
            "PING", "TRANSPORT-AUTH", "TRANSPORT-MAC", "WRAP-KEY", "WRAP-PIN", "CARD-AUTH", "X",
        ]),
        fields in proptest::collection::vec("[0-9A-Fa-f]{0,40}|[ -~]{0,12}", 0..8),
    ) {
        let mut hsm = IssuanceHsm::new(key_set(), TransportKey::test_key().unwrap(), EmulationScheme);
        let request = std::iter::once(op.to_owned()).chain(fields).collect::<Vec<_>>().join(" ");
        let answer = hsm.answer(&request);
        proptest::prop_assert!(answer.starts_with("OK ") || answer.starts_with("ERR "), "{}", answer);
        proptest::prop_assert!(!answer.contains('\n'));
    }
}
