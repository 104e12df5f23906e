//! The personalisation loader never panics on a damaged profile: any byte changed,
//! removed or any hex digit replaced gives a profile or an error.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use proptest::prelude::*;
use sscard_emv::perso;

const PROFILE: &str = include_str!("../../../apdu-specs/pboc/card.json");

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn damaged_profiles_never_panic(at in 0..PROFILE.len(), byte in any::<u8>(), cut in any::<bool>()) {
        let mut bytes = PROFILE.as_bytes().to_vec();
        if cut {
            bytes.remove(at);
        } else {
            bytes[at] = byte;
        }
        if let Ok(text) = core::str::from_utf8(&bytes) {
            let _ = perso::load(text);
        }
    }

    #[test]
    fn hex_digit_changes_are_validated(at in 0..PROFILE.len(), digit in 0..16u8) {
        let mut bytes = PROFILE.as_bytes().to_vec();
        if bytes[at].is_ascii_hexdigit() {
            bytes[at] = b"0123456789ABCDEF"[usize::from(digit)];
            let text = String::from_utf8(bytes).unwrap();
            // Either it still loads (a value changed) or the error names a field.
            if let Err(e) = perso::load(&text) {
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }
}
