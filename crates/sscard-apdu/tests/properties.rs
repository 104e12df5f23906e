//! Property tests: parsing never panics; build → parse round-trips.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use sscard_apdu::tlv::{ber, simple};
use sscard_apdu::{atr, hex, CommandBuilder, CommandView, Response};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = CommandView::parse(&bytes);
        let _ = Response::parse(&bytes);
        let _ = simple::parse(&bytes);
        let _ = ber::find(&bytes, 0x9F0C);
        for tlv in ber::iter(&bytes) { let _ = tlv; }
        let _ = atr::historical_bytes(&bytes);
        if let Ok(text) = core::str::from_utf8(&bytes) {
            let mut out = [0u8; 300];
            let _ = hex::decode(text, &mut out);
        }
    }

    #[test]
    fn build_then_parse_round_trips(
        cla in 0u8..0xFF, ins: u8, p1: u8, p2: u8,
        data in proptest::collection::vec(any::<u8>(), 0..400),
        le in proptest::option::of(1usize..=65536),
        extended: bool,
    ) {
        let b = CommandBuilder::new(cla, ins, p1, p2).data(&data).extended(extended);
        let b = match le { Some(ne) => b.le(ne), None => b };
        let mut out = vec![0u8; b.encoded_len().unwrap()];
        let n = b.write_into(&mut out).unwrap();
        prop_assert_eq!(n, out.len());
        let view = CommandView::parse(&out).unwrap();
        prop_assert_eq!((view.cla(), view.ins(), view.p1(), view.p2()), (cla, ins, p1, p2));
        prop_assert_eq!(view.data(), &data[..]);
        prop_assert_eq!(view.le(), le);
        prop_assert_eq!(view.is_extended(), b.is_extended());
        // And the view rebuilds the same bytes.
        let mut again = vec![0u8; n];
        prop_assert_eq!(view.to_builder().write_into(&mut again), Ok(n));
        prop_assert_eq!(again, out);
    }

    #[test]
    fn tlv_round_trips(tag in 1u8..0xFF, value in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut out = vec![0u8; simple::encoded_len(value.len()).unwrap()];
        let n = simple::write(tag, &value, &mut out).unwrap();
        prop_assert_eq!(simple::parse_record(&out[..n]).unwrap(), (tag, &value[..]));
        let ber_tag = 0x9F00 | u32::from(tag & 0x7F);
        let mut out = vec![0u8; ber::encoded_len(ber_tag, value.len()).unwrap()];
        let n = ber::write(ber_tag, &value, &mut out).unwrap();
        let (tlv, rest) = ber::parse(&out[..n]).unwrap();
        prop_assert_eq!((tlv.tag, tlv.value, rest.len()), (ber_tag, &value[..], 0));
    }

    #[test]
    fn hex_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let text = format!("{}", hex::Hex(&bytes));
        let mut out = vec![0u8; bytes.len()];
        prop_assert_eq!(hex::decode(&text.to_lowercase(), &mut out), Ok(bytes.len()));
        prop_assert_eq!(out, bytes);
    }
}
