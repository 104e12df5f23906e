//! The reader library's address grammar: parse, validate against the profile, and
//! re-print what parses (which must parse again to the same address).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sscard_fs::Address;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(address) = Address::parse(text) {
        let profile = sscard_fs::builtin_profile().expect("built-in profile");
        let _ = address.validate(&profile);
        let again = Address::parse(&address.to_string()).expect("printed address parses");
        assert_eq!(again, address);
    }
});
