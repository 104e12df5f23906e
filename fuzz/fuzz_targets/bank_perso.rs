//! STORE DATA sequences against the blank bank application of an emulated blank card
//! (`sscard_emu::blank_card_with_bank`): a guided mix of SELECT of the bank ADF, STORE
//! DATA with fuzzed P1/P2 and bodies, STORE DATA of well-shaped DGIs (known numbers,
//! fuzzed values, the sequence number kept right), the bank lifecycle query, SELECT MF,
//! power cycles and raw bytes. Every command gets a status word, nothing panics, and
//! the bank application's lifecycle never goes back: once personalised it stays so
//! and refuses STORE DATA.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sscard_emu::pboc::{DEFAULT_BLANK_AID, LIFECYCLE_PERSONALISED};
use sscard_emu::{blank_card_with_bank_entropy, Runtime};

/// DGI numbers the card knows (records of SFI 1, 2 and 3, GPO answers, IAD, keys and
/// KCVs, PIN, RSA CRT, SM2 key, application parameters, PSE/PPSE) and a few it does not.
const DGIS: &[u16] = &[
    0x0101, 0x0102, 0x0201, 0x0202, 0x0203, 0x0204, 0x0301, 0x0503, 0x2101, 0x4101, 0x9102, 0x9103,
    0x9104, 0x9105, 0x9207, 0x9208, 0x9200, 0x8000, 0x9000, 0x8400, 0x9400, 0x8010, 0x9010, 0x8201,
    0x8202, 0x8203, 0x8204, 0x8205, 0x8501, 0xB001, 0xB101, 0xB201, 0x0000, 0xFFFF, 0x1F01,
];

fuzz_target!(|data: &[u8]| {
    let mut counter = 0u8;
    let entropy = Box::new(move |out: &mut [u8]| {
        for b in out {
            counter = counter.wrapping_add(1);
            *b = counter;
        }
    });
    let Ok(card) = blank_card_with_bank_entropy(entropy) else {
        return;
    };
    let mut rt = Runtime::new(card);
    let mut select = vec![0x00, 0xA4, 0x04, 0x00, 0x08];
    select.extend_from_slice(&DEFAULT_BLANK_AID);
    select.push(0x00);
    let mut sequence = 0u8;
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        let take = |tail: &[u8], n: usize| {
            let n = n.min(tail.len());
            let (a, b) = tail.split_at(n);
            (a.to_vec(), b.to_vec())
        };
        let (apdu, tail): (Vec<u8>, Vec<u8>) = match op % 8 {
            0 => (select.clone(), tail.to_vec()),
            1 => (vec![0x80, 0xCA, 0x00, 0xC0, 0x00], tail.to_vec()),
            // STORE DATA with fuzzed P1, P2 and body.
            2 => {
                let (head, tail) = take(tail, 3);
                let [p1, p2, n] = [0, 1, 2].map(|i| head.get(i).copied().unwrap_or(0));
                let (body, tail) = take(&tail, usize::from(n));
                let mut apdu = vec![0x80, 0xE2, p1, p2, u8::try_from(body.len()).unwrap_or(0)];
                apdu.extend_from_slice(&body);
                (apdu, tail)
            }
            // STORE DATA of one well-shaped DGI, the sequence number kept right; the
            // op's high bit marks the last block.
            3 => {
                let (head, tail) = take(tail, 2);
                let [which, n] = [0, 1].map(|i| head.get(i).copied().unwrap_or(0));
                let dgi = DGIS[usize::from(which) % DGIS.len()];
                let (value, tail) = take(&tail, usize::from(n).min(240));
                let mut body = dgi.to_be_bytes().to_vec();
                body.push(u8::try_from(value.len()).unwrap_or(0));
                body.extend_from_slice(&value);
                let p1 = if op & 0x80 != 0 { 0x80 } else { 0x00 };
                let mut apdu = vec![
                    0x80,
                    0xE2,
                    p1,
                    sequence,
                    u8::try_from(body.len()).unwrap_or(0),
                ];
                apdu.extend_from_slice(&body);
                sequence = sequence.wrapping_add(1);
                (apdu, tail)
            }
            4 => (
                vec![0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00],
                tail.to_vec(),
            ),
            5 => {
                rt.power_off();
                rt.reset();
                (select.clone(), tail.to_vec())
            }
            6 => (vec![0x80, 0xCA, 0x9F, 0x36, 0x00], tail.to_vec()),
            // Raw bytes.
            _ => {
                let (head, tail) = take(tail, 1);
                let n = usize::from(head.first().copied().unwrap_or(0));
                take(&tail, n)
            }
        };
        let before = rt.card_mut().bank_mut().lifecycle();
        let r = rt.transmit(&apdu);
        assert!(r.len() >= 2, "empty answer");
        let after = rt.card_mut().bank_mut().lifecycle();
        if before == LIFECYCLE_PERSONALISED {
            assert_eq!(
                after, LIFECYCLE_PERSONALISED,
                "a personalised bank application went back"
            );
            if apdu.get(..2) == Some(&[0x80, 0xE2][..]) {
                assert_ne!(
                    r[r.len() - 2..],
                    [0x90, 0x00],
                    "STORE DATA accepted after personalisation"
                );
            }
        }
        rest = &rest[rest.len() - tail.len()..];
    }
});
