//! APDU sequences against the card with both applications (social security and PBOC
//! bank application): a guided mix of real bank commands (SELECT PSE/ADF, GPO with
//! both DOL shapes, READ RECORD, GET DATA, GENERATE AC, EXTERNAL AUTHENTICATE, PUT
//! DATA, VERIFY) with fuzzed parameters and raw bytes, on both interfaces. Every
//! command gets a status word, nothing panics, and the ATC never goes back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sscard_apdu::applet::Interface;
use sscard_emu::pboc::PbocApp;
use sscard_emu::{sample_card, DualCard, Runtime};

const SELECT_PSE: &[u8] = b"\x00\xA4\x04\x00\x0E1PAY.SYS.DDF01\x00";
const SELECT_ADF: &[u8] = b"\x00\xA4\x04\x00\x08\xA0\x00\x00\x03\x33\x01\x01\x01\x00";

fuzz_target!(|data: &[u8]| {
    let mut counter = 0u8;
    let entropy = Box::new(move |out: &mut [u8]| {
        for b in out {
            counter = counter.wrapping_add(1);
            *b = counter;
        }
    });
    let Ok(bank) = PbocApp::builtin(entropy) else { return };
    let Ok(social) = sample_card() else { return };
    let interface = if data.first().is_some_and(|b| b & 1 == 1) {
        Interface::Contactless
    } else {
        Interface::Contact
    };
    let mut rt = Runtime::new(DualCard::new(social, bank)).with_interface(interface);
    let mut last_atc = 0u16;
    let mut rest = data.get(1..).unwrap_or_default();
    while let Some((&op, tail)) = rest.split_first() {
        let (apdu, tail): (Vec<u8>, &[u8]) = match op % 10 {
            0 => (SELECT_PSE.to_vec(), tail),
            1 => (SELECT_ADF.to_vec(), tail),
            // GPO / GENERATE AC / PUT DATA with a fuzzed body of a fuzzed length.
            2 | 3 | 4 => {
                let n = usize::from(op >> 2).min(tail.len());
                let (body, tail) = tail.split_at(n);
                let header: &[u8] = match op % 10 {
                    2 => &[0x80, 0xA8, 0x00, 0x00],
                    3 => &[0x80, 0xAE, op & 0xD0, 0x00],
                    _ => &[0x04, 0xDA, 0x9F, 0x79],
                };
                let mut apdu = header.to_vec();
                apdu.push(u8::try_from(body.len()).unwrap_or(0));
                apdu.extend_from_slice(body);
                apdu.push(0);
                (apdu, tail)
            }
            5 => (vec![0x80, 0xCA, 0x9F, 0x36, 0x00], tail),
            6 => (vec![0x00, 0xB2, op >> 4, 0x0C | (op & 0xF0), 0x00], tail),
            // Raw bytes.
            _ => {
                let n = usize::from(op >> 3).min(tail.len());
                let (bytes, tail) = tail.split_at(n);
                (bytes.to_vec(), tail)
            }
        };
        let r = rt.transmit(&apdu);
        assert!(r.len() >= 2, "empty answer");
        let atc = rt.card_mut().bank_mut().state().applications[0].atc;
        assert!(atc >= last_atc, "the ATC went back");
        last_atc = atc;
        rest = tail;
    }
});
