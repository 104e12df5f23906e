//! Prints how long preparing one card's bank application takes (DGIs: derived keys, a
//! per-card SM2 key and certificate, the RSA certificate and both SSADs), with the
//! profile's ICC RSA key and with a per-card 1024-bit RSA key, and how many STORE DATA
//! commands write it.
//!
//! `cargo run --release -p sscard-issue --example bank-rate [CARDS]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use sscard_issue::bank::{BankHolder, BankProfile};

const CARD: &str = include_str!("../../../apdu-specs/pboc/card.json");
const PKI: &str = include_str!("../../../apdu-specs/pboc/test-pki.json");
const PROFILE: &str = include_str!("../../../apdu-specs/pboc/bank-issuer.json");

fn luhn(body: &str) -> String {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            match (i % 2 == 0, d * 2) {
                (true, d2) if d2 > 9 => d2 - 9,
                (true, d2) => d2,
                (false, _) => d,
            }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

fn main() {
    let cards: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    for policy in ["profile", "per-card"] {
        let text = PROFILE.replace(
            "\"icc_rsa_key\": \"per-card\"",
            &format!("\"icc_rsa_key\": \"{policy}\""),
        );
        let bank = BankProfile::from_texts(&text, CARD, PKI).unwrap();
        let n = if policy == "per-card" {
            cards.min(20)
        } else {
            cards
        };
        let start = Instant::now();
        let mut dgis = 0;
        let mut apdus = 0;
        for i in 0..n {
            let pan = luhn(&format!("622800019{i:06}"));
            let card = bank
                .personalise(&BankHolder {
                    pan: &pan,
                    psn: 1,
                    expiry: "20361231",
                    effective: "20261122",
                    id_number: None,
                })
                .unwrap();
            dgis += card.dgis.len();
            apdus += sscard_issue::bank::store_data_commands(&card.dgis, bank.dek())
                .unwrap()
                .len();
        }
        let per = start.elapsed().as_secs_f64() / n as f64;
        println!(
            "icc_rsa_key {policy}: {n} cards, {:.2} ms per card ({:.0} cards/s on one core), {} DGIs in {} STORE DATA commands per card",
            per * 1000.0,
            1.0 / per,
            dgis / n,
            apdus / n
        );
    }
}
