//! Data preparation rate: parsing, validating and building the card images of 10 000
//! generated valid holders (issue 7 target: at least 10 000 cards/s per core). Prints
//! the rate of one full pass besides criterion's timings.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use sscard_fs::{builtin_profile, sample_image, Image, Profile};
use sscard_issue::batch::{gb11643_check_character, Batch, Options};

const HOLDERS: usize = 10_000;
const NAMES: &[&str] = &[
    "李测试",
    "王小明",
    "张伟",
    "欧阳娜娜",
    "陈静",
    "刘洋",
    "赵敏",
];

/// A CSV batch of `n` fictional, valid holders.
fn generate(n: usize) -> String {
    let mut out = String::from(
        "ssn,name,gender,nation,birthplace,card_number,region_code,issue_date,expiry_date\n",
    );
    for i in 0..n {
        let body = format!(
            "33010219{:02}0{}{:02}{:03}",
            60 + i % 40,
            1 + i % 9,
            1 + i % 28,
            i % 1000
        );
        let check = gb11643_check_character(body.as_bytes()).unwrap();
        let gender = if (body.as_bytes()[16] - b'0') % 2 == 1 {
            1
        } else {
            2
        };
        out.push_str(&format!(
            "{body}{check},{},{gender},01,330102,A{i:08},330100,20240315,20340315\n",
            NAMES[i % NAMES.len()]
        ));
    }
    out
}

fn prepare(csv: &str, profile: &Profile, base: &Image) -> usize {
    let batch = Batch::parse_csv(csv.as_bytes(), profile, &Options::strict()).unwrap();
    let mut n = 0;
    for h in &batch.holders {
        let image = h.to_image(base, profile).unwrap();
        n += image.files.len();
    }
    assert_eq!(batch.holders.len(), HOLDERS);
    n
}

fn bench(c: &mut Criterion) {
    let profile = builtin_profile().unwrap();
    let base = sample_image().unwrap();
    let csv = generate(HOLDERS);
    let start = Instant::now();
    prepare(&csv, &profile, &base);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "prepare: {HOLDERS} holders (parse, validate, card image) in {:.3} s: {:.0} cards/s on one core",
        secs,
        HOLDERS as f64 / secs
    );
    let batch = Batch::parse_csv(csv.as_bytes(), &profile, &Options::strict()).unwrap();
    let mut group = c.benchmark_group("prepare");
    group.sample_size(10);
    group.bench_function("parse+validate 10k", |b| {
        b.iter(|| Batch::parse_csv(csv.as_bytes(), &profile, &Options::strict()).unwrap())
    });
    group.bench_function("to_image 10k", |b| {
        b.iter(|| {
            for h in &batch.holders {
                h.to_image(&base, &profile).unwrap();
            }
        })
    });
    group.bench_function("full 10k", |b| b.iter(|| prepare(&csv, &profile, &base)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
