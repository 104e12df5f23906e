//! The batch engine with a bank profile: each blank card (SSCard + blank bank
//! application) gets the holder's bank application in the `personalised` step, and the
//! issued cards pass the PBOC kernel's ODA with ARQCs under the derived keys. A card
//! whose bank application was cut off part-way is not resumed: the holder fails and a
//! retry issues it on a new card.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::sync::atomic::AtomicBool;

use sscard_apdu::trace::NoTrace;
use sscard_apdu::Exchange;
use sscard_crypto::kdf::EmulationScheme;
use sscard_emu::{DualCard, EmulatedReader, Runtime};
use sscard_fs::{Image, SAMPLE_IMAGE_JSON};
use sscard_issue::bank::{self, BankProfile};
use sscard_issue::batch::Batch;
use sscard_issue::cos::{EmulatedCos, SoftKeyWrap};
use sscard_issue::engine::{self, Card, Config, Station};
use sscard_issue::journal::{Journal, OnChangedBatch};
use sscard_ssse::security::SoftKeys;

type Ex = Exchange<EmulatedReader<DualCard>>;

struct DualStation {
    current: Option<Ex>,
    ejected: Vec<Ex>,
    /// Whether the next card comes with a half-personalised bank application.
    cut_next: bool,
}

impl Station for DualStation {
    type Transport = EmulatedReader<DualCard>;
    type Trace = NoTrace;

    fn name(&self) -> &str {
        "r1"
    }

    fn card(&mut self) -> Result<Option<Card<'_, Self::Transport, NoTrace>>, String> {
        if self.current.is_none() {
            let card = sscard_emu::blank_card_with_bank().map_err(|e| e.to_string())?;
            let mut ex = Exchange::new(EmulatedReader::new(Runtime::new(card)));
            if std::mem::take(&mut self.cut_next) {
                // Half-personalise the bank application with one DGI, as a cut-off
                // earlier attempt would have left it.
                let select = sscard_apdu::hex::to_vec("00A4040008A00000033301010100").unwrap();
                let store = sscard_apdu::hex::to_vec("80E200000692000301010A").unwrap();
                for apdu in [select, store] {
                    let r = ex.transport().runtime().transmit(&apdu);
                    assert_eq!(&r[r.len() - 2..], &[0x90, 0x00]);
                }
                // No power cycle: the bank application stays current, as on a card
                // left by a killed run; the engine selects the MF first.
            }
            self.current = Some(ex);
        }
        Ok(self.current.as_mut().map(|ex| Card {
            atr: sscard_emu::cos::BLANK_ATR.to_vec(),
            ex,
        }))
    }

    fn eject(&mut self) -> Result<(), String> {
        let card = self.current.take().ok_or("no card")?;
        self.ejected.push(card);
        Ok(())
    }
}

mod common;

fn keys() -> (SoftKeyWrap<EmulationScheme>, SoftKeys<EmulationScheme>) {
    common::soft_keys()
}

fn luhn(body: &str) -> String {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let d2 = d * 2;
                if d2 > 9 {
                    d2 - 9
                } else {
                    d2
                }
            } else {
                d
            }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

fn batch(n: usize, with_pan: bool) -> Batch {
    let mut s = format!("{},pan\n", common::HEADER);
    for i in 0..n {
        let pan = if with_pan {
            luhn(&format!("622800017000{i:03}"))
        } else {
            String::new()
        };
        s.push_str(&format!("{},{pan}\n", common::holder_row(100, 'B', i)));
    }
    common::parse(&s, n)
}

fn bank_profile() -> BankProfile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../apdu-specs/pboc/bank-issuer.json");
    BankProfile::load(&path).unwrap()
}

fn run(
    batch: &Batch,
    journal: &Path,
    results: &Path,
    station: DualStation,
    retry: bool,
) -> (engine::Summary, DualStation) {
    let profile = sscard_fs::builtin_profile().unwrap();
    let base = Image::from_json(SAMPLE_IMAGE_JSON).unwrap();
    let bank = bank_profile();
    let journal = Journal::open_batch(journal, batch, OnChangedBatch::Refuse).unwrap();
    let stop = AtomicBool::new(false);
    let config = Config {
        results: Some(results.to_path_buf()),
        retry_failed: retry,
        bank: Some(&bank),
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
    let station = std::sync::Mutex::new(Some(station));
    struct Back<'a>(
        &'a std::sync::Mutex<Option<DualStation>>,
        Option<DualStation>,
    );
    impl Drop for Back<'_> {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = self.1.take();
        }
    }
    // The engine takes the stations by value; get ours back through Drop.
    struct Wrapped<'a>(Back<'a>);
    impl Station for Wrapped<'_> {
        type Transport = EmulatedReader<DualCard>;
        type Trace = NoTrace;
        fn name(&self) -> &str {
            "r1"
        }
        fn card(&mut self) -> Result<Option<Card<'_, Self::Transport, NoTrace>>, String> {
            self.0 .1.as_mut().unwrap().card()
        }
        fn eject(&mut self) -> Result<(), String> {
            self.0 .1.as_mut().unwrap().eject()
        }
    }
    let taken = station.lock().unwrap().take();
    let summary = engine::run(
        &config,
        vec![Wrapped(Back(&station, taken))],
        keys,
        &engine::Quiet,
    )
    .unwrap();
    let back = station.lock().unwrap().take().unwrap();
    (summary, back)
}

#[test]
fn the_engine_issues_the_bank_application_and_a_half_personalised_one_is_reissued() {
    let dir = tempfile::tempdir().unwrap();
    let batch = batch(3, true);
    let station = DualStation {
        current: None,
        ejected: Vec::new(),
        cut_next: true,
    };
    let journal = dir.path().join("j.jsonl");
    let results = dir.path().join("results");
    // The first card's bank application is half personalised already: that holder fails.
    let (summary, station) = run(&batch, &journal, &results, station, false);
    assert_eq!(summary.issued, 2, "{summary:?}");
    assert_eq!(summary.failed.len(), 1);
    assert!(
        summary.failed[0].1.contains("half personalised"),
        "{:?}",
        summary.failed
    );
    // Retried on a new card.
    let (summary, mut station) = run(&batch, &journal, &results, station, true);
    assert_eq!(summary.issued, 1, "{summary:?}");
    assert_eq!(station.ejected.len(), 4);
    let p = bank_profile();
    let mut personalised = 0;
    for ex in &mut station.ejected {
        ex.transport().runtime().reset();
        let (state, _) = bank::lifecycle(ex, p.aid()).unwrap();
        if state == bank::LIFECYCLE_PERSONALISED {
            personalised += 1;
        }
    }
    assert_eq!(personalised, 3);
    // Each result file names the bank application written.
    for h in &batch.holders {
        let text = std::fs::read_to_string(results.join(format!("{}.json", h.ssn()))).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["result"], "done");
        assert_eq!(v["bank"]["pan"], h.pan().unwrap());
        assert_eq!(v["bank"]["aid"], "A000000333010101");
    }
}

#[test]
fn rows_without_a_pan_fail_with_a_bank_profile() {
    let dir = tempfile::tempdir().unwrap();
    let batch = batch(1, false);
    let station = DualStation {
        current: None,
        ejected: Vec::new(),
        cut_next: false,
    };
    let (summary, _) = run(
        &batch,
        &dir.path().join("j.jsonl"),
        &dir.path().join("r"),
        station,
        false,
    );
    assert_eq!(summary.failed.len(), 1);
    assert!(
        summary.failed[0].1.contains("no pan"),
        "{:?}",
        summary.failed
    );
}
