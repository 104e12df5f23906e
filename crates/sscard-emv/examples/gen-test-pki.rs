//! Generates the TEST ONLY PKI of the emulated card
//! (`sscard_emv::oda::testpki::TestPkiParams::EMULATED_CARD`) and writes it as JSON.
//!
//! ```text
//! cargo run -p sscard-emv --example gen-test-pki                 # writes apdu-specs/pboc/test-pki.json
//! cargo run -p sscard-emv --example gen-test-pki -- OUT.json     # writes OUT.json
//! cargo run -p sscard-emv --example gen-test-pki -- -            # prints to stdout
//! ```
//!
//! Every private key in the output is public: TEST ONLY.

use std::process::ExitCode;

use sscard_emv::oda::testpki::{generate, TestPkiParams};

fn main() -> ExitCode {
    let default = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../apdu-specs/pboc/test-pki.json"
    );
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| default.to_owned());
    let text = match generate(&TestPkiParams::EMULATED_CARD).and_then(|pki| pki.to_json()) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("gen-test-pki: {e}");
            return ExitCode::FAILURE;
        }
    };
    if out == "-" {
        print!("{text}");
    } else if let Err(e) = std::fs::write(&out, text) {
        eprintln!("gen-test-pki: {out}: {e}");
        return ExitCode::FAILURE;
    } else {
        eprintln!("gen-test-pki: wrote {out} (TEST ONLY keys)");
    }
    ExitCode::SUCCESS
}
