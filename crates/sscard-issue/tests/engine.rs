//! The batch engine against emulated blank cards: two readers in threads, every holder
//! issued exactly once, and runs cut off at random journal appends (and mid-APDU, so
//! cards are left half-issued) then resumed until the batch is through.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use sscard_apdu::transport::{TransportError, TransportErrorKind};
use sscard_apdu::{Exchange, Transport};
use sscard_crypto::kdf::EmulationScheme;
use sscard_emu::{EmulatedReader, Runtime, SsCard};
use sscard_issue::batch::Batch;
use sscard_issue::cos::CosBackend;
use sscard_issue::cos::{EmulatedCos, LifecycleState, SoftKeyWrap};
use sscard_issue::engine::{self, Card, Config, Observer, Station, StepEvent};
use sscard_issue::journal::{self, HolderState, Journal, OnChangedBatch};
use sscard_ssse::security::SoftKeys;

mod common;
use common::{base, profile};

fn batch_csv(n: usize) -> String {
    let mut s = format!("{}\n", common::HEADER);
    for i in 0..n {
        s.push_str(&common::holder_row(100, 'B', i));
        s.push('\n');
    }
    s
}

fn batch(n: usize) -> Batch {
    common::parse(&batch_csv(n), n)
}

/// When set, the next APDU fails (the power goes mid-command) and the stop flag is set.
#[derive(Default)]
struct Crash {
    after_apdus: AtomicUsize,
    armed: AtomicBool,
    /// The next eject goes through, then the power goes (before `done` is written).
    at_eject: AtomicBool,
    /// The next UPDATE RECORD of EF06 reaches the card with its last byte changed.
    garble_ef06_update: AtomicBool,
    stop: Arc<AtomicBool>,
}

struct Flaky {
    inner: EmulatedReader<SsCard>,
    crash: Arc<Crash>,
    apdus: Arc<AtomicUsize>,
}

impl Transport for Flaky {
    type Error = TransportErrorKind;

    fn transmit(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, Self::Error> {
        if self.crash.armed.load(Ordering::SeqCst) {
            let left = self.crash.after_apdus.load(Ordering::SeqCst);
            if left == 0 {
                self.crash.stop.store(true, Ordering::SeqCst);
                return Err(TransportErrorKind::CardRemoved);
            }
            self.crash.after_apdus.store(left - 1, Ordering::SeqCst);
        }
        if self.crash.stop.load(Ordering::SeqCst) {
            return Err(TransportErrorKind::ReaderUnavailable);
        }
        if command
            .get(1..4)
            .is_some_and(|h| h[0] == 0xDC && h[2] == (6 << 3) | 4)
            && self.crash.garble_ef06_update.swap(false, Ordering::SeqCst)
        {
            // The last byte (a digit of the record's text) changes on the way.
            let mut garbled = command.to_vec();
            let last = garbled.last_mut().unwrap();
            *last = if *last == b'1' { b'2' } else { b'1' };
            self.apdus.fetch_add(1, Ordering::SeqCst);
            return self
                .inner
                .transmit(&garbled, response)
                .map_err(|e| e.kind());
        }
        self.apdus.fetch_add(1, Ordering::SeqCst);
        self.inner.transmit(command, response).map_err(|e| e.kind())
    }
}

type Ex = Exchange<Flaky>;

/// One reader: the card in it, and the cards it ejected (kept across runs).
#[derive(Default)]
struct Slot {
    current: Option<Ex>,
    ejected: Vec<Ex>,
}

struct TestStation {
    name: String,
    slot: Arc<Mutex<Slot>>,
    current: Option<Ex>,
    crash: Arc<Crash>,
    apdus: Arc<AtomicUsize>,
}

impl TestStation {
    fn new(name: &str, slot: Arc<Mutex<Slot>>, crash: Arc<Crash>) -> Self {
        let mut current = slot.lock().unwrap().current.take();
        // A crash is a power cycle: the card's volatile state is gone.
        let apdus: Arc<AtomicUsize> = Arc::default();
        if let Some(ex) = current.as_mut() {
            ex.transport().inner.runtime().reset();
            ex.transport().crash = crash.clone();
            ex.transport().apdus = apdus.clone();
        }
        Self {
            name: name.into(),
            slot,
            current,
            crash,
            apdus,
        }
    }
}

impl Drop for TestStation {
    fn drop(&mut self) {
        self.slot.lock().unwrap().current = self.current.take();
    }
}

impl Station for TestStation {
    type Transport = Flaky;
    type Trace = sscard_apdu::trace::NoTrace;

    fn name(&self) -> &str {
        &self.name
    }

    fn card(&mut self) -> Result<Option<Card<'_, Flaky, Self::Trace>>, String> {
        if self.name.starts_with("broken") {
            return Err("no card came in 10 s".into());
        }
        if self.current.is_none() {
            let card = sscard_emu::factory_blank_card().map_err(|e| e.to_string())?;
            self.current = Some(Exchange::new(Flaky {
                inner: EmulatedReader::new(Runtime::new(card)),
                crash: self.crash.clone(),
                apdus: self.apdus.clone(),
            }));
        }
        // The card's own ATR, as a reader reports it (each factory card has its serial).
        Ok(self.current.as_mut().map(|ex| Card {
            atr: sscard_apdu::applet::Card::atr(ex.transport().inner.runtime().card()).to_vec(),
            ex,
        }))
    }

    fn eject(&mut self) -> Result<(), String> {
        let card = self.current.take().ok_or("no card")?;
        self.slot.lock().unwrap().ejected.push(card);
        if self.crash.at_eject.swap(false, Ordering::SeqCst) {
            self.crash.stop.store(true, Ordering::SeqCst);
            return Err("power cut after the eject".into());
        }
        Ok(())
    }
}

fn keys() -> (SoftKeyWrap<EmulationScheme>, SoftKeys<EmulationScheme>) {
    common::soft_keys()
}

/// Sets the stop flag after `n` journal writes (0: never).
struct StopAfter {
    n: usize,
    seen: AtomicUsize,
    stop: Arc<AtomicBool>,
    events: Mutex<Vec<StepEvent>>,
}

impl Observer for StopAfter {
    fn step(&self, event: &StepEvent) {
        self.events.lock().unwrap().push(event.clone());
        let seen = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
        if self.n != 0 && seen >= self.n {
            self.stop.store(true, Ordering::SeqCst);
        }
    }
}

/// Every ejected card holds exactly the holders' data; each holder exactly once.
fn check_cards(slots: &[Arc<Mutex<Slot>>], batch: &Batch) {
    let profile = profile();
    let base = base();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut card_ids = std::collections::HashSet::new();
    for slot in slots {
        let mut slot = slot.lock().unwrap();
        for card in &mut slot.ejected {
            card.transport().inner.runtime().reset();
            // Straight to the card, past the crash switch.
            let ex = &mut Exchange::new(&mut card.transport().inner);
            let life = EmulatedCos::default().lifecycle(ex).unwrap();
            if life.state != LifecycleState::Issued {
                continue;
            }
            let atr =
                sscard_apdu::applet::Card::atr(card.transport().inner.runtime().card()).to_vec();
            let ex = &mut Exchange::new(&mut card.transport().inner);
            let got = sscard_ssse::read_basic(ex, &profile, &atr).unwrap();
            let holder = batch
                .holders
                .iter()
                .find(|h| h.ssn() == got.ssn)
                .unwrap_or_else(|| panic!("card of unknown holder {got:?}"));
            // Each card has its own identification code, from its chip.
            let want = holder.to_card_image(&base, &profile, &atr).unwrap();
            assert_eq!(got, sscard_ssse::BasicInfo::from_image(&want));
            assert!(got
                .card_id
                .ends_with(&sscard_apdu::hex::to_string(&atr[atr.len() - 8..])));
            assert!(
                card_ids.insert(got.card_id.clone()),
                "card id {} twice",
                got.card_id
            );
            *seen.entry(got.ssn.clone()).or_default() += 1;
        }
    }
    for h in &batch.holders {
        assert_eq!(seen.get(h.ssn()), Some(&1), "holder {} cards", h.ssn());
    }
}

#[test]
fn two_readers_issue_twenty_holders_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let batch = batch(20);
    let profile = profile();
    let base = base();
    let journal =
        Journal::open_batch(dir.path().join("j.jsonl"), &batch, OnChangedBatch::Refuse).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let crash = Arc::new(Crash {
        stop: stop.clone(),
        ..Crash::default()
    });
    let slots: Vec<Arc<Mutex<Slot>>> = (0..2).map(|_| Arc::default()).collect();
    let stations = vec![
        TestStation::new("r1", slots[0].clone(), crash.clone()),
        TestStation::new("r2", slots[1].clone(), crash.clone()),
    ];
    let config = Config {
        results: Some(dir.path().join("results")),
        ..Config::new(
            &profile,
            &base,
            &batch.holders,
            &journal,
            EmulatedCos::default(),
            sscard_crypto::keys::Algorithm::Des3,
            &stop,
        )
    };
    let observer = StopAfter {
        n: 0,
        seen: AtomicUsize::new(0),
        stop: stop.clone(),
        events: Mutex::default(),
    };
    let summary = engine::run(&config, stations, keys, &observer).unwrap();
    assert_eq!(summary.issued, 20, "{summary:?}");
    assert!(summary.failed.is_empty());
    assert!(!summary.stopped);
    assert_eq!(summary.readers.len(), 2);
    // Both readers did work.
    assert!(summary.readers.iter().all(|r| r.issued > 0), "{summary:?}");
    assert_eq!(summary.readers.iter().map(|r| r.issued).sum::<usize>(), 20);
    let s = journal.summary().unwrap();
    assert_eq!(
        (s.done, s.failed, s.in_progress, s.not_started),
        (20, 0, 0, 0)
    );
    // Each holder: started, preissued, personalised, verified, done, in that order.
    let events = observer.events.lock().unwrap();
    for h in &batch.holders {
        let steps: Vec<&str> = events
            .iter()
            .filter(|e| e.holder == h.ssn())
            .map(|e| e.step.name())
            .collect();
        assert_eq!(
            steps,
            ["started", "preissued", "personalised", "verified", "done"]
        );
    }
    // The result files.
    for h in &batch.holders {
        let text =
            std::fs::read_to_string(dir.path().join("results").join(format!("{}.json", h.ssn())))
                .unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["result"], "done");
        assert_eq!(v["holder"], h.ssn());
        assert_eq!(v["steps"].as_array().unwrap().len(), 5);
        assert!(v["atr"].as_str().unwrap().starts_with("3B"));
    }
    check_cards(&slots, &batch);
    // The journal parses, and a second run has nothing to do.
    let parsed = journal::parse(&std::fs::read(dir.path().join("j.jsonl")).unwrap()).unwrap();
    assert!(!parsed.torn);
    let journal2 =
        Journal::open_batch(dir.path().join("j.jsonl"), &batch, OnChangedBatch::Refuse).unwrap();
    let config = Config {
        journal: &journal2,
        ..config
    };
    // A run killed between `done` and the result file: the next run writes it.
    let lost = dir
        .path()
        .join("results")
        .join(format!("{}.json", batch.holders[3].ssn()));
    std::fs::remove_file(&lost).unwrap();
    let stations = vec![TestStation::new("r1", slots[0].clone(), crash.clone())];
    let again = engine::run(&config, stations, keys, &engine::Quiet).unwrap();
    assert_eq!((again.issued, again.done_before), (0, 20));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&lost).unwrap()).unwrap();
    assert_eq!(v["result"], "done");
    assert_eq!(v["resumed_from"], "recovered");
    assert_eq!(v["steps"][0]["step"], "done");
}

/// A tiny deterministic generator (no dependency needed).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(self.0 >> 33).unwrap() % n
    }
}

#[test]
fn killed_and_resumed_runs_issue_every_holder_exactly_once() {
    // Which cuts happen depends on the threads' timing: counted over all seeds.
    let mut seen = Seen::default();
    for seed in [0x5eed_1234, 7, 0xdead_beef, 42, 0x0bad_cafe, 99] {
        let s = kill_and_resume(seed);
        seen.after_eject += s.after_eject;
        seen.half_done += s.half_done;
        seen.half_issued += s.half_issued;
    }
    assert!(seen.half_done > 0, "no run left a holder half-done");
    assert!(
        seen.half_issued > 0,
        "no run left a card half-issued (raise the APDU cut-off range)"
    );
    assert!(
        seen.after_eject > 0,
        "no run was cut off right after an eject"
    );
}

/// What the cut-off runs of one seed left for the next run.
#[derive(Default)]
struct Seen {
    /// Holders finished from `verified` after a cut right after their card's eject.
    after_eject: usize,
    /// Half-done holders found by a run.
    half_done: usize,
    /// Half-issued cards in a reader at the start of a run (all re-issued, since the
    /// batch ends with no failure).
    half_issued: usize,
}

/// Runs the batch, cut off at random, until it is through, checking exactly-once.
fn kill_and_resume(seed: u64) -> Seen {
    let dir = tempfile::tempdir().unwrap();
    let batch = batch(12);
    let profile = profile();
    let base = base();
    let path = dir.path().join("j.jsonl");
    let slots: Vec<Arc<Mutex<Slot>>> = (0..2).map(|_| Arc::default()).collect();
    let mut rng = Lcg(seed);
    let mut after_eject = 0;
    let mut half_done_seen = 0;
    let mut reissued_half_issued = 0;
    let mut runs = 0;
    loop {
        runs += 1;
        assert!(runs < 60, "the batch never finished");
        let stop = Arc::new(AtomicBool::new(false));
        let crash = Arc::new(Crash {
            stop: stop.clone(),
            ..Crash::default()
        });
        // Cut off after a random number of journal writes, or mid-APDU.
        let last = runs > 8;
        let mode = rng.below(3);
        let by_apdu = mode == 0;
        if !last && by_apdu {
            crash
                .after_apdus
                .store(1 + rng.below(150), Ordering::SeqCst);
            crash.armed.store(true, Ordering::SeqCst);
        }
        let at_eject = !last && mode == 1;
        crash.at_eject.store(at_eject, Ordering::SeqCst);
        let half_issued_before = slots
            .iter()
            .filter(|s| {
                let mut s = s.lock().unwrap();
                s.current.as_mut().is_some_and(|ex| {
                    // Straight to the card, past the previous run's crash switch.
                    let mut direct = Exchange::new(&mut ex.transport().inner);
                    let st = EmulatedCos::default().lifecycle(&mut direct).unwrap().state;
                    st == LifecycleState::PrePersonalising
                })
            })
            .count();
        let journal = Journal::open_batch(&path, &batch, OnChangedBatch::Refuse).unwrap();
        let empty: Vec<bool> = slots
            .iter()
            .map(|s| s.lock().unwrap().current.is_none())
            .collect();
        let stations = vec![
            TestStation::new("r1", slots[0].clone(), crash.clone()),
            TestStation::new("r2", slots[1].clone(), crash.clone()),
        ];
        let config = Config {
            results: Some(dir.path().join("results")),
            ..Config::new(
                &profile,
                &base,
                &batch.holders,
                &journal,
                EmulatedCos::default(),
                sscard_crypto::keys::Algorithm::Des3,
                &stop,
            )
        };
        let observer = StopAfter {
            n: if last || by_apdu || at_eject {
                0
            } else {
                1 + rng.below(20)
            },
            seen: AtomicUsize::new(0),
            stop: stop.clone(),
            events: Mutex::default(),
        };
        let verified_before: Vec<String> = journal
            .half_done()
            .unwrap()
            .into_iter()
            .filter(|h| h.progress.last.name() == "verified")
            // Its card is out of the reader: the reader is empty.
            .filter(|h| empty[usize::from(h.progress.reader != "r1")])
            .map(|h| h.holder)
            .collect();
        let summary = engine::run(&config, stations, keys, &observer).unwrap();
        assert!(summary.failed.is_empty(), "run {runs}: {summary:?}");
        // A holder cut off after its card's eject: finished without a new card.
        after_eject += verified_before
            .iter()
            .filter(|h| matches!(journal.state(h).unwrap(), HolderState::Done(_)))
            .count();
        half_done_seen += summary.half_done_at_start;
        if half_issued_before > 0 {
            reissued_half_issued += half_issued_before;
        }
        // No holder is ever recorded done twice within a run.
        let events = observer.events.lock().unwrap();
        let mut done = HashMap::new();
        for e in events.iter().filter(|e| e.step.name() == "done") {
            *done.entry(e.holder.clone()).or_insert(0) += 1;
        }
        assert!(done.values().all(|n| *n == 1));
        let s = journal.summary().unwrap();
        drop(journal);
        if s.done == batch.holders.len() {
            assert!(!summary.stopped);
            break;
        }
    }
    // The journal parses (any torn tail aside), every holder done exactly once.
    let bytes = std::fs::read(&path).unwrap();
    let parsed = journal::parse(&bytes).unwrap();
    let mut done = HashMap::new();
    for e in &parsed.events {
        if let journal::Event::Step { holder, step, .. } = e {
            if step.name() == "done" {
                *done.entry(holder.clone()).or_insert(0) += 1;
            }
        }
    }
    for h in &batch.holders {
        assert_eq!(done.get(h.ssn()), Some(&1), "holder {}", h.ssn());
    }
    let journal = Journal::open_batch(&path, &batch, OnChangedBatch::Refuse).unwrap();
    for h in &batch.holders {
        assert!(matches!(
            journal.state(h.ssn()).unwrap(),
            HolderState::Done(_)
        ));
    }
    check_cards(&slots, &batch);
    Seen {
        after_eject,
        half_done: half_done_seen,
        half_issued: reissued_half_issued,
    }
}

#[test]
fn a_reader_without_cards_stops_without_failing_holders() {
    let dir = tempfile::tempdir().unwrap();
    let batch = batch(6);
    let profile = profile();
    let base = base();
    let journal =
        Journal::open_batch(dir.path().join("j.jsonl"), &batch, OnChangedBatch::Refuse).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let crash = Arc::new(Crash {
        stop: stop.clone(),
        ..Crash::default()
    });
    let slots: Vec<Arc<Mutex<Slot>>> = (0..2).map(|_| Arc::default()).collect();
    let stations = vec![
        TestStation::new("broken", slots[0].clone(), crash.clone()),
        TestStation::new("r2", slots[1].clone(), crash.clone()),
    ];
    let config = Config {
        invalid_rows: 2,
        ..Config::new(
            &profile,
            &base,
            &batch.holders,
            &journal,
            EmulatedCos::default(),
            sscard_crypto::keys::Algorithm::Des3,
            &stop,
        )
    };
    let summary = engine::run(&config, stations, keys, &engine::Quiet).unwrap();
    assert_eq!(summary.issued, 6);
    assert!(summary.failed.is_empty());
    assert_eq!(summary.skipped_invalid, 2);
    let broken = summary
        .readers
        .iter()
        .find(|r| r.reader == "broken")
        .unwrap();
    assert_eq!(broken.issued, 0);
    assert_eq!(broken.error.as_deref(), Some("no card came in 10 s"));
    let r2 = summary.readers.iter().find(|r| r.reader == "r2").unwrap();
    assert_eq!((r2.issued, r2.error.as_deref()), (6, None));
    assert!(r2.cards_per_min > 0.0);
    check_cards(&slots, &batch);
}

#[test]
fn a_card_that_is_not_blank_fails_its_holder_is_ejected_and_the_holder_is_retried_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let batch = batch(3);
    let profile = profile();
    let base = base();
    let stop = Arc::new(AtomicBool::new(false));
    let crash = Arc::new(Crash {
        stop: stop.clone(),
        ..Crash::default()
    });
    let slot: Arc<Mutex<Slot>> = Arc::default();
    // An issued card (the sample card) on top of the feeder's stack.
    slot.lock().unwrap().current = Some(Exchange::new(Flaky {
        inner: EmulatedReader::new(Runtime::new(SsCard::new(&profile, &base).unwrap())),
        crash: crash.clone(),
        apdus: Arc::default(),
    }));
    let path = dir.path().join("j.jsonl");
    let results = dir.path().join("results");
    let run = |retry_failed: bool| {
        let journal = Journal::open_batch(&path, &batch, OnChangedBatch::Refuse).unwrap();
        let config = Config {
            results: Some(results.clone()),
            retry_failed,
            ..Config::new(
                &profile,
                &base,
                &batch.holders,
                &journal,
                EmulatedCos::default(),
                sscard_crypto::keys::Algorithm::Des3,
                &stop,
            )
        };
        let stations = vec![TestStation::new("r1", slot.clone(), crash.clone())];
        let summary = engine::run(&config, stations, keys, &engine::Quiet).unwrap();
        (summary, journal.summary().unwrap())
    };
    let first = batch.holders[0].ssn().to_owned();
    let (summary, journal) = run(false);
    assert_eq!(summary.issued, 2);
    assert_eq!(summary.failed.len(), 1);
    assert_eq!(summary.failed[0].0, first);
    assert!(
        summary.failed[0].1.contains("not blank"),
        "{:?}",
        summary.failed
    );
    assert_eq!((journal.done, journal.failed), (2, 1));
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(results.join(format!("{first}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(v["result"], "failed");
    assert!(v["reason"].as_str().unwrap().contains("not blank"));
    // The card was ejected (reported, not reused): first out, still the sample card.
    {
        let mut s = slot.lock().unwrap();
        assert_eq!(s.ejected.len(), 3);
        let card = &mut s.ejected[0];
        let ex = &mut Exchange::new(&mut card.transport().inner);
        let got = sscard_ssse::read_basic(ex, &profile, &sscard_emu::cos::BLANK_ATR).unwrap();
        assert_eq!(got, sscard_ssse::BasicInfo::from_image(&base));
    }
    // Without retry_failed a rerun leaves the failed holder alone.
    let (summary, journal) = run(false);
    assert_eq!((summary.issued, summary.failed.len()), (0, 0));
    assert_eq!(journal.failed, 1);
    // With it, the holder gets a new blank card.
    let (summary, journal) = run(true);
    assert_eq!((summary.issued, summary.failed.len()), (1, 0));
    assert_eq!((journal.done, journal.failed), (3, 0));
    let mut s = slot.lock().unwrap();
    assert_eq!(s.ejected.len(), 4);
    let card = s.ejected.last_mut().unwrap();
    let ex = &mut Exchange::new(&mut card.transport().inner);
    let got = sscard_ssse::read_basic(ex, &profile, &sscard_emu::cos::BLANK_ATR).unwrap();
    assert_eq!(got.ssn, first);
}

#[test]
fn a_write_garbled_on_the_way_is_caught_by_the_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let batch = batch(2);
    let profile = profile();
    let base = base();
    let journal =
        Journal::open_batch(dir.path().join("j.jsonl"), &batch, OnChangedBatch::Refuse).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let crash = Arc::new(Crash {
        stop: stop.clone(),
        garble_ef06_update: AtomicBool::new(true),
        ..Crash::default()
    });
    let slot: Arc<Mutex<Slot>> = Arc::default();
    let config = Config::new(
        &profile,
        &base,
        &batch.holders,
        &journal,
        EmulatedCos::default(),
        sscard_crypto::keys::Algorithm::Des3,
        &stop,
    );
    let stations = vec![TestStation::new("r1", slot.clone(), crash.clone())];
    let summary = engine::run(&config, stations, keys, &engine::Quiet).unwrap();
    assert_eq!(summary.issued, 1);
    assert_eq!(summary.failed.len(), 1);
    let (holder, reason) = &summary.failed[0];
    assert_eq!(holder, batch.holders[0].ssn());
    assert!(reason.starts_with("verify: EF06/"), "{reason}");
    assert!(reason.ends_with(" differs"), "{reason}");
    // Failed after personalisation: the bad card went out with the good one.
    assert_eq!(slot.lock().unwrap().ejected.len(), 2);
    let s = journal.summary().unwrap();
    assert_eq!((s.done, s.failed), (1, 1));
}
