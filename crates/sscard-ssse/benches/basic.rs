//! Reading the basic information of an emulated card in process: the terminal stack
//! (Exchange, sscard-ssse) plus the card (sscard-emu), without any transport latency.
//! 2nd generation: one SELECT and eight READ RECORDs; 3rd generation adds internal and
//! external authentication with software keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use criterion::{criterion_group, criterion_main, Criterion};
use sscard_apdu::Exchange;
use sscard_crypto::kdf::EmulationScheme;
use sscard_emu::{EmulatedReader, Runtime, SsCard};
use sscard_fs::keys::KeySet;
use sscard_fs::{Image, EMULATION_KEYS_JSON, SAMPLE_IMAGE_JSON};
use sscard_ssse::security::SoftKeys;

fn image(version: &str, alg: &str) -> Image {
    let mut v: serde_json::Value = serde_json::from_str(SAMPLE_IMAGE_JSON).unwrap();
    v["files"]["SSSE/EF05"]["spec_version"] = version.into();
    v["algorithm_id"] = alg.into();
    Image::from_json(&v.to_string()).unwrap()
}

fn bench(c: &mut Criterion) {
    let profile = sscard_fs::builtin_profile().unwrap();
    let gen2 = SsCard::new(&profile, &image("2.00", "01")).unwrap();
    let rt = Runtime::new(gen2);
    let atr = rt.atr().to_vec();
    let mut ex = Exchange::new(EmulatedReader::new(rt));
    c.bench_function("basic/2nd-generation", |b| {
        b.iter(|| sscard_ssse::read_basic(&mut ex, &profile, &atr).unwrap())
    });

    let gen3 = SsCard::new(&profile, &image("3.00", "03")).unwrap();
    let rt = Runtime::new(gen3);
    let atr = rt.atr().to_vec();
    let mut ex = Exchange::new(EmulatedReader::new(rt));
    let mut keys = SoftKeys::new(
        KeySet::from_json(EMULATION_KEYS_JSON).unwrap(),
        EmulationScheme,
    );
    c.bench_function("basic/3rd-generation-sm4-softkeys", |b| {
        b.iter(|| {
            sscard_ssse::read_basic_secured(&mut ex, &profile, &atr, &mut keys, &[7; 8]).unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
