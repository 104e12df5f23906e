//! File loaders: key sets and application directories (profiles and images have the
//! card_image target).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = sscard_fs::keys::KeySet::from_json(text);
    if let Ok(dir) = sscard_appdir::Directory::from_json(text) {
        let _ = dir.counts();
        let _ = sscard_appdir::check(&dir, &Default::default(), &Default::default());
    }
});
