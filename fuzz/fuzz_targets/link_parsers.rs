//! ISO 7816-3 parsers of sscard-link: ATR, PPS and T=1 blocks (both EDCs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sscard_link::t1::{Block, Edc};
use sscard_link::{Atr, Pps};

fuzz_target!(|data: &[u8]| {
    if let Ok(atr) = Atr::parse(data) {
        let _ = atr.historical_bytes();
    }
    let _ = Pps::parse(data);
    let _ = Block::parse(data, Edc::Lrc);
    let _ = Block::parse(data, Edc::Crc);
});
