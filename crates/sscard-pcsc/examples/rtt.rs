//! APDU round-trip benchmark: PC/SC client → pcscd → vpcd → emulated card.
//!
//! `rtt <reader> <label> [<reader> <label> …] [--n N]`: for each reader, selects the
//! SSSE application and EF05 when the card has them (the echo card answers
//! everything with 9000), then times `N` READ RECORD commands (`00 B2 07 04 0B`) one
//! by one and prints the median, 10th/90th percentiles and mean. The first reader's
//! median is compared with each other reader's (the first is normally the echo floor).
//! Run by `benches/vpcd-rtt.sh`, which starts pcscd and the cards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use sscard_apdu::{Exchange, Transport};
use sscard_pcsc::Readers;

const READ_RECORD: [u8; 5] = [0x00, 0xB2, 0x07, 0x04, 0x0B];
const SELECT_SSSE: &[u8] =
    b"\x00\xA4\x04\x00\x0F\x73\x78\x31\x2E\x73\x68\x2E\xC9\xE7\xBB\xE1\xB1\xA3\xD5\xCF";
const SELECT_EF05: [u8; 7] = [0x00, 0xA4, 0x02, 0x00, 0x02, 0xEF, 0x05];

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut n = 2000usize;
    if let Some(i) = args.iter().position(|a| a == "--n") {
        n = args[i + 1].parse().expect("--n takes a number");
        args.drain(i..=i + 1);
    }
    assert!(
        args.len() >= 2 && args.len().is_multiple_of(2),
        "usage: rtt <reader> <label> [...] [--n N]"
    );
    let mut readers = Readers::new();
    let mut medians = Vec::new();
    for pair in args.chunks(2) {
        let (reader, label) = (&pair[0], &pair[1]);
        let name = readers
            .wait_for_card(Some(reader), Duration::from_secs(5))
            .expect("card present");
        let mut card = readers.connect(&name).expect("connect");
        {
            let mut ex = Exchange::new(&mut card);
            let mut buf = [0u8; 258];
            ex.transceive(SELECT_SSSE, &mut buf).expect("select SSSE");
            ex.transceive(&SELECT_EF05, &mut buf).expect("select EF05");
        }
        let mut buf = [0u8; 258];
        let warmup = (n / 10).max(5);
        for _ in 0..warmup {
            card.transmit(&READ_RECORD, &mut buf).expect("transmit");
        }
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            let len = card.transmit(&READ_RECORD, &mut buf).expect("transmit");
            times.push(t.elapsed());
            assert!(len >= 2 && buf[len - 2] == 0x90, "unexpected status");
        }
        times.sort();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let median = times[n / 2];
        let mean = times.iter().sum::<Duration>() / u32::try_from(n).unwrap();
        println!(
            "{label:<12} {reader:<24} n={n:<6} median {:>9.1} us  p10 {:>9.1} us  p90 {:>9.1} us  mean {:>9.1} us",
            us(median),
            us(times[n / 10]),
            us(times[n * 9 / 10]),
            us(mean),
        );
        medians.push((label.clone(), median));
    }
    if let Some((floor_label, floor)) = medians.first().cloned() {
        for (label, median) in medians.iter().skip(1) {
            println!(
                "ratio {label} / {floor_label} (median): {:.2}",
                median.as_secs_f64() / floor.as_secs_f64()
            );
        }
    }
}
