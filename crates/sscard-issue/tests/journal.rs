//! The issuance journal: append and reopen, a torn last line at every byte offset,
//! a fake batch engine killed at random points (each holder done exactly once),
//! concurrent claims, a changed batch, and arbitrary bytes never panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;
use std::sync::{Arc, Barrier};

use proptest::prelude::*;
use sscard_issue::journal::{
    parse, CardIdentity, Event, HolderState, Journal, JournalError, OnChangedBatch, Step,
};

const HASH: &str = "aa11";

fn keys(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("H{i:04}")).collect()
}

fn open(path: &Path, n: usize) -> Journal {
    Journal::open(path, HASH, keys(n), OnChangedBatch::Refuse).unwrap()
}

fn card(atr: &str) -> CardIdentity {
    CardIdentity {
        atr: Some(atr.into()),
        card_id: None,
    }
}

/// Done events per holder in the file.
fn done_counts(path: &Path) -> HashMap<String, usize> {
    let parsed = parse(&fs::read(path).unwrap()).unwrap();
    let mut counts = HashMap::new();
    for e in parsed.events {
        if let Event::Step {
            holder,
            step: Step::Done,
            ..
        } = e
        {
            *counts.entry(holder).or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn journal_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Journal>();
}

#[test]
fn append_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    {
        let j = open(&path, 3);
        assert_eq!(j.next_holders().unwrap(), keys(3));
        assert_eq!(j.claim_next("r1").unwrap().as_deref(), Some("H0001"));
        j.record("H0001", "r1", Step::Preissued, &card("3B6D00"))
            .unwrap();
        j.record(
            "H0001",
            "r1",
            Step::Personalised,
            &CardIdentity {
                atr: None,
                card_id: Some("330100D156".into()),
            },
        )
        .unwrap();
        j.claim("H0002", "r2").unwrap();
        for step in [
            Step::Preissued,
            Step::Personalised,
            Step::Verified,
            Step::Done,
        ] {
            j.record("H0002", "r2", step, &card("3B6D02")).unwrap();
        }
        // Claimed and in progress: not next, not half-done while held.
        assert_eq!(j.next_holders().unwrap(), vec!["H0003".to_owned()]);
        assert!(j.half_done().unwrap().is_empty());
    }
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 1 + 3 + 5);
    assert!(text
        .lines()
        .next()
        .unwrap()
        .contains(r#""event":"batch","batch":"aa11","holders":3"#));
    assert!(text.ends_with('\n'));

    let j = open(&path, 3);
    let half = j.half_done().unwrap();
    assert_eq!(half.len(), 1);
    assert_eq!(half[0].holder, "H0001");
    assert_eq!(half[0].progress.last, Step::Personalised);
    assert_eq!(half[0].progress.reader, "r1");
    // The ATR of the earlier event is carried forward.
    assert_eq!(
        half[0].progress.card,
        CardIdentity {
            atr: Some("3B6D00".into()),
            card_id: Some("330100D156".into())
        }
    );
    assert!(matches!(j.state("H0002").unwrap(), HolderState::Done(_)));
    assert_eq!(j.next_holders().unwrap(), vec!["H0003".to_owned()]);
    let s = j.summary().unwrap();
    assert_eq!(
        (
            s.holders,
            s.done,
            s.in_progress,
            s.not_started,
            s.failed,
            s.torn_tail
        ),
        (3, 1, 1, 1, 0, false)
    );
    // Resuming keeps the last step and card; a crash right after the claim still
    // reports how far the card got.
    j.claim("H0001", "r3").unwrap();
    j.release("H0001", "r3").unwrap();
    drop(j);
    let j = open(&path, 3);
    let half = j.half_done().unwrap();
    assert_eq!(half[0].progress.last, Step::Personalised);
    assert_eq!(half[0].progress.reader, "r3");
    assert_eq!(half[0].progress.card.atr.as_deref(), Some("3B6D00"));
    // No second header on reopen.
    drop(j);
    assert_eq!(
        fs::read_to_string(&path)
            .unwrap()
            .matches(r#""event":"batch""#)
            .count(),
        1
    );
}

#[test]
fn claims_and_records_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    let j = open(&path, 2);
    assert!(matches!(
        j.record("H0001", "r1", Step::Preissued, &CardIdentity::default()),
        Err(JournalError::NotClaimed { .. })
    ));
    assert!(matches!(
        j.claim("nobody", "r1"),
        Err(JournalError::UnknownHolder { .. })
    ));
    j.claim("H0001", "r1").unwrap();
    match j.claim("H0001", "r2") {
        Err(JournalError::Claimed { holder, reader }) => {
            assert_eq!((holder.as_str(), reader.as_str()), ("H0001", "r1"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        j.record("H0001", "r2", Step::Done, &CardIdentity::default()),
        Err(JournalError::NotClaimed { .. })
    ));
    match j.record("H0001", "r1", Step::Done, &CardIdentity::default()) {
        Err(JournalError::OutOfOrder { last, step, .. }) => {
            assert_eq!((last, step), ("started", "done"));
        }
        other => panic!("done before verified: {other:?}"),
    }
    // Pre-issuance may be skipped; steps never go back.
    j.record("H0001", "r1", Step::Verified, &CardIdentity::default())
        .unwrap();
    assert!(matches!(
        j.record("H0001", "r1", Step::Personalised, &CardIdentity::default()),
        Err(JournalError::OutOfOrder { .. })
    ));
    j.record("H0001", "r1", Step::Done, &CardIdentity::default())
        .unwrap();
    assert!(matches!(
        j.claim("H0001", "r1"),
        Err(JournalError::AlreadyDone { .. })
    ));
    assert!(matches!(
        j.record("H0001", "r1", Step::Done, &CardIdentity::default()),
        Err(JournalError::AlreadyDone { .. })
    ));
    // Failed: released, reported, and can be retried.
    j.claim("H0002", "r1").unwrap();
    j.record(
        "H0002",
        "r1",
        Step::Failed {
            reason: "verify: name differs".into(),
        },
        &card("3B01"),
    )
    .unwrap();
    let failed = j.failed().unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].progress.last,
        Step::Failed {
            reason: "verify: name differs".into()
        }
    );
    assert!(j.next_holders().unwrap().is_empty());
    assert_eq!(j.claim_next("r1").unwrap(), None);
    j.claim("H0002", "r2").unwrap();
    j.release("H0002", "r2").unwrap();
    assert_eq!(j.half_done().unwrap().len(), 1);
    drop(j);
    let j = open(&path, 2);
    assert_eq!(
        j.failed().unwrap().len(),
        0,
        "the retry's started replaces the failure"
    );
    assert_eq!(j.half_done().unwrap()[0].progress.last, Step::Started);
}

#[test]
fn changed_batch_is_refused_unless_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    {
        let j = open(&path, 2);
        j.claim("H0001", "r1").unwrap();
        j.record("H0001", "r1", Step::Verified, &CardIdentity::default())
            .unwrap();
        j.record("H0001", "r1", Step::Done, &CardIdentity::default())
            .unwrap();
    }
    match Journal::open(&path, "bb22", keys(2), OnChangedBatch::Refuse) {
        Err(JournalError::BatchChanged { journal, batch }) => {
            assert_eq!((journal.as_str(), batch.as_str()), (HASH, "bb22"));
        }
        other => panic!("{other:?}"),
    }
    {
        let j = Journal::open(&path, "bb22", keys(3), OnChangedBatch::Accept).unwrap();
        assert!(matches!(j.state("H0001").unwrap(), HolderState::Done(_)));
        assert_eq!(j.next_holders().unwrap(), vec!["H0002", "H0003"]);
    }
    // The new hash is now the journal's.
    Journal::open(&path, "bb22", keys(3), OnChangedBatch::Refuse).unwrap();
    assert!(Journal::open(&path, HASH, keys(3), OnChangedBatch::Refuse).is_err());
}

#[test]
fn torn_last_line_at_every_offset() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.jsonl");
    {
        let j = open(&full, 2);
        j.claim("H0001", "r1").unwrap();
        j.record("H0001", "r1", Step::Verified, &card("3B01"))
            .unwrap();
        j.record("H0001", "r1", Step::Done, &card("3B01")).unwrap();
        j.claim("H0002", "r1").unwrap();
        j.record("H0002", "r1", Step::Verified, &card("3B02"))
            .unwrap();
        j.record("H0002", "r1", Step::Done, &card("3B02")).unwrap();
    }
    let bytes = fs::read(&full).unwrap();
    let body = &bytes[..bytes.len() - 1];
    let last_start = body.iter().rposition(|b| *b == b'\n').unwrap() + 1;
    for cut in last_start..bytes.len() {
        let path = dir.path().join(format!("cut{cut}.jsonl"));
        fs::write(&path, &bytes[..cut]).unwrap();
        {
            let j = open(&path, 2);
            let s = j.summary().unwrap();
            assert_eq!(s.torn_tail, cut > last_start, "cut {cut}");
            // The last event (H0002 done) is ignored: H0002 is half-done at verified.
            let half = j.half_done().unwrap();
            assert_eq!(half.len(), 1, "cut {cut}");
            assert_eq!(half[0].progress.last, Step::Verified);
            assert_eq!(half[0].progress.card, card("3B02"));
            assert!(matches!(j.state("H0001").unwrap(), HolderState::Done(_)));
            // The file is left alone until the next append.
            assert_eq!(fs::read(&path).unwrap(), &bytes[..cut]);
            j.claim("H0002", "r9").unwrap();
            j.record("H0002", "r9", Step::Done, &card("3B02")).unwrap();
        }
        let after = fs::read(&path).unwrap();
        assert!(after.starts_with(&bytes[..last_start]), "cut {cut}");
        let parsed = parse(&after).unwrap();
        assert!(!parsed.torn);
        assert_eq!(parsed.events.len(), 1 + 6 - 1 + 2);
        let j = open(&path, 2);
        assert_eq!(j.summary().unwrap().done, 2);
        assert_eq!(done_counts(&path)["H0002"], 1);
    }
}

#[test]
fn corrupt_middle_line_is_refused_garbled_last_line_is_torn() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    {
        let j = open(&path, 2);
        j.claim("H0001", "r1").unwrap();
    }
    let good = fs::read_to_string(&path).unwrap();
    // A garbled complete last line (a write that reached the disk in pieces).
    fs::write(&path, format!("{good}{{\"ts_ms\":1,\0\0\0\0\n")).unwrap();
    {
        let j = open(&path, 2);
        assert!(j.summary().unwrap().torn_tail);
        j.record("H0001", "r1", Step::Done, &CardIdentity::default())
            .unwrap_err(); // not held after reopen
        j.claim("H0001", "r1").unwrap();
    }
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(&good));
    assert!(!text.contains('\0'));
    // The same garbage in the middle is corruption.
    fs::write(&path, format!("{good}garbage\n{good}")).unwrap();
    match Journal::open(&path, HASH, keys(2), OnChangedBatch::Refuse) {
        Err(JournalError::Corrupt { line }) => assert_eq!(line, 3),
        other => panic!("{other:?}"),
    }
    // A first line that is not the header.
    let step_line = good.lines().nth(1).unwrap();
    fs::write(&path, format!("{step_line}\n{good}")).unwrap();
    assert!(matches!(
        Journal::open(&path, HASH, keys(2), OnChangedBatch::Refuse),
        Err(JournalError::Corrupt { line: 1 })
    ));
}

#[test]
fn empty_or_torn_header_starts_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    fs::write(&path, b"").unwrap();
    drop(open(&path, 1));
    let header = fs::read_to_string(&path).unwrap();
    assert_eq!(header.lines().count(), 1);
    fs::write(&path, &header.as_bytes()[..header.len() / 2]).unwrap();
    let j = open(&path, 1);
    assert!(j.summary().unwrap().torn_tail);
    drop(j);
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 1);
    assert!(parse(text.as_bytes()).unwrap().events.len() == 1);
}

/// A small deterministic generator for the crash test.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The steps after `last` to reach done.
fn remaining(last: &Step) -> Vec<Step> {
    let all = [
        Step::Preissued,
        Step::Personalised,
        Step::Verified,
        Step::Done,
    ];
    let from = match last {
        Step::Preissued => 1,
        Step::Personalised => 2,
        Step::Verified => 3,
        _ => 0,
    };
    all[from..].to_vec()
}

/// A fake batch engine that stops (as if killed) after `budget` appends. Resumes the
/// half-done and failed holders first, then takes new ones; sometimes fails a card.
/// Returns whether it finished.
fn engine(j: &Journal, rng: &mut Rng, mut budget: u32) -> bool {
    let mut spend = || {
        if budget == 0 {
            return false;
        }
        budget -= 1;
        true
    };
    let mut work: Vec<(String, Step)> = j
        .half_done()
        .unwrap()
        .into_iter()
        .chain(j.failed().unwrap())
        .map(|h| (h.holder, h.progress.last))
        .collect();
    loop {
        let (holder, last) = match work.pop() {
            Some((holder, last)) => {
                if !spend() {
                    return false;
                }
                j.claim(&holder, "r1").unwrap();
                (holder, last)
            }
            None => {
                if j.next_holders().unwrap().is_empty() {
                    return true;
                }
                if !spend() {
                    return false;
                }
                let holder = j.claim_next("r1").unwrap().unwrap();
                (holder, Step::Started)
            }
        };
        // Resuming after a failure starts over.
        let last = if matches!(last, Step::Failed { .. }) {
            Step::Started
        } else {
            last
        };
        for step in remaining(&last) {
            if !spend() {
                return false;
            }
            if step == Step::Verified && rng.below(10) == 0 {
                j.record(
                    &holder,
                    "r1",
                    Step::Failed {
                        reason: "verify mismatch".into(),
                    },
                    &card("3B"),
                )
                .unwrap();
                work.insert(
                    0,
                    (
                        holder.clone(),
                        Step::Failed {
                            reason: String::new(),
                        },
                    ),
                );
                break;
            }
            j.record(&holder, "r1", step, &card("3B")).unwrap();
        }
    }
}

#[test]
fn random_kills_never_do_a_holder_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x5EED_1234_9876_ABCD);
    for run in 0..60 {
        let path = dir.path().join(format!("run{run}.jsonl"));
        let n = 1 + usize::try_from(rng.below(6)).unwrap();
        let mut lives = 0;
        loop {
            lives += 1;
            assert!(lives < 500, "run {run} does not converge");
            let j = open(&path, n);
            let budget = u32::try_from(rng.below(8)).unwrap();
            let finished = engine(&j, &mut rng, budget);
            drop(j);
            if finished {
                break;
            }
            // Sometimes the power fails in the middle of the next write.
            if rng.below(3) == 0 {
                let line =
                    r#"{"ts_ms":1,"event":"step","holder":"H0001","reader":"r1","step":"done"}"#;
                let cut = usize::try_from(rng.below(u64::try_from(line.len()).unwrap())).unwrap();
                let mut bytes = fs::read(&path).unwrap();
                bytes.extend_from_slice(&line.as_bytes()[..cut]);
                fs::write(&path, bytes).unwrap();
            }
        }
        let counts = done_counts(&path);
        assert_eq!(counts.len(), n, "run {run}");
        assert!(counts.values().all(|c| *c == 1), "run {run}: {counts:?}");
        let j = open(&path, n);
        let s = j.summary().unwrap();
        assert_eq!((s.done, s.in_progress, s.failed), (n, 0, 0), "run {run}");
    }
}

#[test]
fn concurrent_claims_never_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    let n = 120;
    let j = Arc::new(open(&path, n));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let j = Arc::clone(&j);
            std::thread::spawn(move || {
                let reader = format!("r{t}");
                let mut mine = Vec::new();
                while let Some(h) = j.claim_next(&reader).unwrap() {
                    j.record(&h, &reader, Step::Verified, &CardIdentity::default())
                        .unwrap();
                    j.record(&h, &reader, Step::Done, &CardIdentity::default())
                        .unwrap();
                    mine.push(h);
                }
                mine
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        all.extend(t.join().unwrap());
    }
    let unique: HashSet<_> = all.iter().cloned().collect();
    assert_eq!(all.len(), n);
    assert_eq!(unique.len(), n);
    assert!(done_counts(&path).values().all(|c| *c == 1));
    // Group commit loses and tears nothing: the header and three lines a holder.
    let parsed = parse(&fs::read(&path).unwrap()).unwrap();
    assert!(!parsed.torn);
    assert_eq!(parsed.events.len(), 1 + 3 * n);

    // Many readers racing for one holder: exactly one wins.
    let path = dir.path().join("race.jsonl");
    let j = Arc::new(open(&path, 1));
    let barrier = Arc::new(Barrier::new(8));
    let wins: usize = (0..8)
        .map(|t| {
            let (j, barrier) = (Arc::clone(&j), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                usize::from(j.claim("H0001", &format!("r{t}")).is_ok())
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .sum();
    assert_eq!(wins, 1);
}

proptest! {
    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(p) = parse(&bytes) {
            prop_assert!(p.valid_len <= u64::try_from(bytes.len()).unwrap());
        }
    }

    #[test]
    fn open_never_panics_on_arbitrary_files(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        prefix in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let mut content = Vec::new();
        if prefix {
            content.extend_from_slice(b"{\"ts_ms\":1,\"event\":\"batch\",\"batch\":\"aa11\",\"holders\":2}\n");
        }
        content.extend_from_slice(&bytes);
        fs::write(&path, &content).unwrap();
        if let Ok(j) = Journal::open(&path, HASH, keys(2), OnChangedBatch::Refuse) {
            let _ = j.summary().unwrap();
            // An append after recovery always leaves a parseable file.
            if j.claim("H0001", "r1").is_ok() {
                drop(j);
                prop_assert!(parse(&fs::read(&path).unwrap()).is_ok());
            }
        }
    }
}
