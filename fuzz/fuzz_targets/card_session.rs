//! APDU sequences against the full emulated card (every kind of file, PIN, keys):
//! a guided mix of real commands with fuzzed parameters and raw bytes. Every command
//! gets a status word; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sscard_emu::{Runtime, SsCard};

const SELECT_SSSE: &[u8] = b"\x00\xA4\x04\x00\x0F\x73\x78\x31\x2E\x73\x68\x2E\xC9\xE7\xBB\xE1\xB1\xA3\xD5\xCF";

static PROFILE: std::sync::OnceLock<(sscard_fs::Profile, sscard_fs::Image)> = std::sync::OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let (profile, image) = PROFILE.get_or_init(|| {
        (
            sscard_fs::builtin_profile().expect("profile"),
            sscard_fs::Image::from_json(sscard_fs::FULL_IMAGE_JSON).expect("image"),
        )
    });
    let mut counter = 0u8;
    let entropy = Box::new(move |out: &mut [u8]| {
        for b in out {
            counter = counter.wrapping_add(1);
            *b = counter;
        }
    });
    let card = SsCard::with_entropy(profile, image, entropy).expect("card");
    let mut rt = Runtime::new(card);
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        let (apdu, tail): (Vec<u8>, &[u8]) = match op % 8 {
            0 => (SELECT_SSSE.to_vec(), tail),
            1 => (vec![0x00, 0x20, 0x00, 0x00, 0x03, 0x12, 0x34, 0x56], tail),
            2 => (vec![0x00, 0x84, 0x00, 0x00, 0x08], tail),
            // A command header from the input with a fuzzed body.
            _ => {
                let n = usize::from(op >> 3).min(tail.len());
                let (bytes, tail) = tail.split_at(n);
                (bytes.to_vec(), tail)
            }
        };
        let r = rt.transmit(&apdu);
        assert!(r.len() >= 2, "empty answer");
        rest = tail;
    }
});
