//! APDU sequences against the emulated PSAM (both environments): every command gets
//! a status word; nothing panics. Input: an environment byte, then `len(1) apdu`…,
//! with a few real commands (SELECT DF01, BF DE) mixed in by opcode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sscard_crypto::keys::Algorithm;
use sscard_emu::{EmulatedPsam, Runtime};

fuzz_target!(|data: &[u8]| {
    let Some((&env, mut rest)) = data.split_first() else { return };
    let algorithm = if env & 1 == 0 { Algorithm::Des3 } else { Algorithm::Sm4 };
    let mut rt = Runtime::new(EmulatedPsam::builtin(algorithm).expect("PSAM"));
    while let Some((&op, tail)) = rest.split_first() {
        let (apdu, tail): (Vec<u8>, &[u8]) = match op % 6 {
            0 => (vec![0x00, 0xA4, 0x00, 0x00, 0x02, 0xDF, 0x01], tail),
            1 => {
                let n = usize::from(op >> 3).min(tail.len());
                let (body, tail) = tail.split_at(n);
                let mut apdu = vec![0xBF, 0xDE, 0x48, 0x12, u8::try_from(body.len()).unwrap_or(0)];
                apdu.extend_from_slice(body);
                (apdu, tail)
            }
            _ => {
                let n = usize::from(op >> 2).min(tail.len());
                let (bytes, tail) = tail.split_at(n);
                (bytes.to_vec(), tail)
            }
        };
        let r = rt.transmit(&apdu);
        assert!(r.len() >= 2, "empty answer");
        rest = tail;
    }
});
