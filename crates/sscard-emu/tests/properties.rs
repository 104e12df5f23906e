//! Arbitrary APDU sequences never panic the card and always get a status word.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use proptest::prelude::*;
use sscard_apdu::Status;
use sscard_emu::{sample_card, Runtime};

fn apdu() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Anything at all.
        proptest::collection::vec(any::<u8>(), 0..300),
        // Well-formed commands of the card's own instructions with random parameters.
        (
            prop_oneof![Just(0x00u8), Just(0x80), any::<u8>()],
            prop_oneof![Just(0xA4u8), Just(0xB2), Just(0xC0), any::<u8>()],
            any::<u8>(),
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 0..20),
            proptest::option::of(any::<u8>()),
        )
            .prop_map(|(cla, ins, p1, p2, data, le)| {
                let mut v = vec![cla, ins, p1, p2];
                if !data.is_empty() {
                    v.push(data.len() as u8);
                    v.extend(data);
                }
                v.extend(le);
                v
            }),
        // The card's own files, selected for real.
        Just(
            b"\x00\xA4\x04\x00\x0F\x73\x78\x31\x2E\x73\x68\x2E\xC9\xE7\xBB\xE1\xB1\xA3\xD5\xCF"
                .to_vec()
        ),
        Just(vec![0x00, 0xA4, 0x02, 0x00, 0x02, 0xEF, 0x06]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn every_apdu_gets_an_answer(seq in proptest::collection::vec(apdu(), 1..30)) {
        let mut rt = Runtime::new(sample_card().unwrap());
        for apdu in seq {
            let r = rt.transmit(&apdu);
            prop_assert!(r.len() >= 2);
            let sw = Status::from_bytes(r[r.len() - 2], r[r.len() - 1]);
            // Data only ever comes with 9000 or 61xx.
            if r.len() > 2 {
                prop_assert!(matches!(sw, Status::Success | Status::MoreAvailable(_)), "{sw}");
            }
        }
    }
}
