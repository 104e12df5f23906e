//! Card images and profiles from files: parse, validate, build a card; never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sscard_fs::{Image, Profile};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = Profile::from_json(text);
    if let Ok(image) = Image::from_json(text) {
        let profile = sscard_fs::builtin_profile().expect("built-in profile");
        let _ = sscard_emu::SsCard::new(&profile, &image);
    }
});
