//! Criterion benchmarks of the symmetric half. The ids are fixed so that scripts can find
//! them (`target/criterion/<group>/<function>/new/estimates.json`):
//!
//! * `sm3/8KiB`
//! * `sm4/ecb-enc-8KiB`, `sm4/cbc-enc-8KiB`, `sm4/cbc-dec-8KiB`,
//!   `sm4/cbc-mac-32B-with-key-setup`
//! * `des3/retail-mac-32B`
//!
//! Compare with `openssl speed -seconds 1 -bytes 8192 -evp sm3|sm4-ecb|sm4-cbc` run in the
//! same session (criterion prints MiB/s, OpenSSL 1000-byte "k": convert before dividing).
//! A measurement, not a test: nothing is asserted.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sscard_crypto::keys::{Des3Key, Sm4Key};
use sscard_crypto::{mac, sm3, sm4};

const LEN: usize = 8192;

fn data(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from(i * 31 % 251).unwrap_or(0))
        .collect()
}

fn bench_sm3(c: &mut Criterion) {
    let input = data(LEN);
    let mut group = c.benchmark_group("sm3");
    group.throughput(Throughput::Bytes(LEN as u64));
    group.bench_function("8KiB", |b| b.iter(|| sm3::sm3(black_box(&input))));
    group.finish();
}

fn bench_sm4(c: &mut Criterion) {
    let key = Sm4Key::from_bytes(*b"sscard bench key");
    let cipher = key.cipher();
    let iv = [0x5Au8; 16];
    let mut buf = data(LEN);
    let mut group = c.benchmark_group("sm4");
    group.throughput(Throughput::Bytes(LEN as u64));
    group.bench_function("ecb-enc-8KiB", |b| {
        b.iter(|| sm4::ecb_encrypt(&cipher, black_box(&mut buf)))
    });
    group.bench_function("cbc-enc-8KiB", |b| {
        b.iter(|| sm4::cbc_encrypt(&cipher, &iv, black_box(&mut buf)))
    });
    group.bench_function("cbc-dec-8KiB", |b| {
        b.iter(|| sm4::cbc_decrypt(&cipher, &iv, black_box(&mut buf)))
    });
    let msg = data(32);
    group.throughput(Throughput::Bytes(msg.len() as u64));
    group.bench_function("cbc-mac-32B-with-key-setup", |b| {
        b.iter(|| {
            let key = Sm4Key::from_bytes(black_box(*b"sscard bench key"));
            mac::cbc_mac_sm4(&key, &[0; 16], black_box(&msg))
        })
    });
    group.finish();
}

fn bench_des3(c: &mut Criterion) {
    let key = Des3Key::from_double(*b"sscard bench key");
    let msg = data(32);
    let mut group = c.benchmark_group("des3");
    group.throughput(Throughput::Bytes(msg.len() as u64));
    // Key schedules built once (three DES schedules take longer than the MAC itself);
    // each iteration starts from a copy of the keyed state.
    let keyed = mac::RetailMac::new(&key, &[0; 8]).unwrap_or_else(|_| unreachable!());
    group.bench_function("retail-mac-32B", |b| {
        b.iter(|| {
            let mut m = keyed.clone();
            m.update(black_box(&msg));
            m.finalize()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_sm3, bench_sm4, bench_des3);
criterion_main!(benches);
