//! Every parser of sscard-apdu on arbitrary bytes; what parses must rebuild identically.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sscard_apdu::tlv::{ber, simple};
use sscard_apdu::{atr, CommandView, Response};

fuzz_target!(|data: &[u8]| {
    if let Ok(view) = CommandView::parse(data) {
        let mut out = vec![0u8; data.len()];
        let n = view.to_builder().write_into(&mut out).expect("a parsed command rebuilds");
        assert_eq!(&out[..n], data);
    }
    let _ = Response::parse(data);
    let _ = simple::parse(data);
    let _ = ber::find(data, 0x9F0C);
    for tlv in ber::iter(data) {
        if let Ok(tlv) = tlv {
            for child in tlv.children() {
                let _ = child;
            }
        }
    }
    let _ = atr::historical_bytes(data);
});
