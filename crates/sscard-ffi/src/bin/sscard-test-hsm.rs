//! `sscard-test-hsm`: a software HSM on the fictional emulation test keys, for the
//! end-to-end tests of the HSM steps. NOT an HSM: these keys open only emulated cards.
//!
//! Reads an `iReadCardBas_HSM_Step1` string (first argument, or the first line of
//! standard input) and prints the Step 2 key string (`<32 hex>|<32 hex>|`).

use std::io::BufRead;
use std::process::ExitCode;

use sscard_crypto::kdf::EmulationScheme;
use sscard_fs::keys::KeySet;
use sscard_fs::profile::KeyUsage;
use sscard_ssse::hsm::{SoftHsm, Step1};
use sscard_ssse::security::SoftKeys;

fn main() -> ExitCode {
    let text = match std::env::args().nth(1) {
        Some(t) => t,
        None => {
            let mut line = String::new();
            if std::io::stdin().lock().read_line(&mut line).is_err() {
                eprintln!("sscard-test-hsm: cannot read standard input");
                return ExitCode::FAILURE;
            }
            line
        }
    };
    match answer(text.trim()) {
        Ok(key) => {
            println!("{key}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sscard-test-hsm: {e}");
            ExitCode::FAILURE
        }
    }
}

fn answer(step1: &str) -> Result<String, String> {
    let profile = sscard_fs::builtin_profile().map_err(|e| e.to_string())?;
    let irk = profile
        .node(sscard_fs::SSSE)
        .and_then(|n| n.keys.iter().find(|k| k.usage == KeyUsage::InternalAuth))
        .map(|k| k.id)
        .ok_or("the profile has no internal-authentication key")?;
    let read_key = sscard_ssse::basic_read_key(&profile).ok_or("the profile has no RKSSSE")?;
    let keys = KeySet::from_json(sscard_fs::EMULATION_KEYS_JSON).map_err(|e| e.to_string())?;
    let mut hsm = SoftHsm::new(SoftKeys::new(keys, EmulationScheme), irk, read_key);
    let step1 = Step1::parse(step1).map_err(|e| e.to_string())?;
    hsm.answer(&step1)
        .map(|k| k.to_string())
        .map_err(|e| e.to_string())
}
