//! Arbitrary APDU sequences against the emulated card: it must always answer with a
//! status word and never panic. Input: repeated `len(1) apdu(len)`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sscard_emu::{sample_card, Runtime};

fuzz_target!(|data: &[u8]| {
    let mut rt = Runtime::new(sample_card().expect("sample card"));
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let (apdu, tail) = tail.split_at(n);
        if apdu.first() == Some(&0xFE) {
            rt.reset();
        }
        let r = rt.transmit(apdu);
        assert!(r.len() >= 2, "empty answer");
        rest = tail;
    }
});
