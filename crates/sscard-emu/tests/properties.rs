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

fn bank_apdu() -> impl Strategy<Value = Vec<u8>> {
    let pse = b"\x00\xA4\x04\x00\x0E1PAY.SYS.DDF01\x00".to_vec();
    let ppse = b"\x00\xA4\x04\x00\x0E2PAY.SYS.DDF01\x00".to_vec();
    let aid = vec![
        0x00, 0xA4, 0x04, 0x00, 0x08, 0xA0, 0x00, 0x00, 0x03, 0x33, 0x01, 0x01, 0x01, 0x00,
    ];
    // A well-formed contact GPO (DF69 from the strategy) and GENERATE AC.
    let gpo = any::<u8>().prop_map(|df69| {
        let mut v = vec![0x80, 0xA8, 0x00, 0x00, 0x22, 0x83, 0x20];
        v.extend_from_slice(&[0x01, 0x56, 0x01, 0, 0, 0, 0, 0x01, 0x00, 0x01, 0x56]);
        v.extend_from_slice(&[0x20; 20]);
        v.push(df69 & 1);
        v.push(0x00);
        v
    });
    let gac = (
        prop_oneof![Just(0x00u8), Just(0x40), Just(0x80), any::<u8>()],
        proptest::collection::vec(any::<u8>(), 32..35),
    )
        .prop_map(|(p1, data)| {
            let mut v = vec![0x80, 0xAE, p1, 0x00, data.len() as u8];
            v.extend(data);
            v.push(0);
            v
        });
    prop_oneof![
        apdu(),
        Just(pse),
        Just(ppse),
        Just(aid),
        gpo,
        gac,
        // Bank instructions with random parameters and data.
        (
            prop_oneof![Just(0x00u8), Just(0x80), Just(0x84), Just(0x04)],
            prop_oneof![
                Just(0xB2u8),
                Just(0xCA),
                Just(0x20),
                Just(0x82),
                Just(0x88),
                Just(0xDA),
                Just(0x1E),
                Just(0x18),
                Just(0x24),
                Just(0xA8),
                Just(0xAE)
            ],
            any::<u8>(),
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 0..40),
        )
            .prop_map(|(cla, ins, p1, p2, data)| {
                let mut v = vec![cla, ins, p1, p2];
                if !data.is_empty() {
                    v.push(data.len() as u8);
                    v.extend(data);
                }
                v.push(0);
                v
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_card_with_the_bank_application_always_answers(
        seq in proptest::collection::vec(bank_apdu(), 1..40),
        contactless in any::<bool>(),
    ) {
        let iface = if contactless {
            sscard_apdu::applet::Interface::Contactless
        } else {
            sscard_apdu::applet::Interface::Contact
        };
        let mut rt = Runtime::new(sscard_emu::sample_card_with_bank().unwrap()).with_interface(iface);
        let mut last_atc = 0;
        for apdu in seq {
            let r = rt.transmit(&apdu);
            prop_assert!(r.len() >= 2);
            let sw = Status::from_bytes(r[r.len() - 2], r[r.len() - 1]);
            if r.len() > 2 {
                prop_assert!(matches!(sw, Status::Success | Status::MoreAvailable(_)), "{sw}");
            }
            // The ATC never goes back.
            let atc = rt.card().bank().state().applications[0].atc;
            prop_assert!(atc >= last_atc);
            last_atc = atc;
        }
    }
}
