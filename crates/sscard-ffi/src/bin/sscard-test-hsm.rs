//! `sscard-test-hsm`: a software HSM on the fictional emulation test keys, for the
//! end-to-end tests of the HSM steps. NOT an HSM: these keys open only emulated cards.
//!
//! * `sscard-test-hsm STEP1`: reads an `iReadCardBas_HSM_Step1` string (the argument,
//!   or the first line of standard input) and prints the Step 2 key string
//!   (`<32 hex>|<32 hex>|`).
//! * `sscard-test-hsm pin1 STEP1 CARD_ID ATR_HISTORICAL`: answers the Step 1 string of
//!   iReloadPIN_HSM / iUnblockPIN_HSM with the PUK's external authentication (32 hex).
//! * `sscard-test-hsm pin2 STEP2 CARD_ID ATR_HISTORICAL`: answers their Step 2 string
//!   with the body of `84 24` (hex). A real HSM learns 卡识别码 and the card's
//!   historical bytes from the application's request; here they are arguments.

use std::io::BufRead;
use std::process::ExitCode;

use sscard_crypto::kdf::EmulationScheme;
use sscard_fs::keys::KeySet;
use sscard_fs::profile::KeyUsage;
use sscard_ssse::hsm::{SoftHsm, Step1};
use sscard_ssse::security::SoftKeys;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [mode, step, card_id, hist] = args.as_slice() {
        if mode == "pin1" || mode == "pin2" {
            return match pin_answer(mode, step.trim(), card_id, hist) {
                Ok(answer) => {
                    println!("{answer}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("sscard-test-hsm: {e}");
                    ExitCode::FAILURE
                }
            };
        }
    }
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

fn pin_answer(mode: &str, step: &str, card_id: &str, hist: &str) -> Result<String, String> {
    use sscard_ssse::hsm::{PinStep1, PinStep2};
    use sscard_ssse::security::CardContext;
    let profile = sscard_fs::builtin_profile().map_err(|e| e.to_string())?;
    let key_of = |usage| {
        profile
            .nodes()
            .iter()
            .flat_map(|n| n.keys.iter())
            .find(|k| k.usage == usage)
            .map(|k| k.id)
    };
    let puk = key_of(KeyUsage::PinUnblock).ok_or("the profile has no PUK")?;
    let stk = key_of(KeyUsage::SecureTransport).ok_or("the profile has no STK")?;
    let hist = sscard_apdu::hex::to_vec(hist).map_err(|e| e.to_string())?;
    let keys = KeySet::from_json(sscard_fs::EMULATION_KEYS_JSON).map_err(|e| e.to_string())?;
    let mut hsm = SoftHsm::new(SoftKeys::new(keys, EmulationScheme), 0, 0);
    let algorithm_of =
        |id: u8| sscard_crypto::keys::Algorithm::from_card_id(id).map_err(|e| e.to_string());
    if mode == "pin1" {
        let s1 = PinStep1::parse(step).map_err(|e| e.to_string())?;
        let card = CardContext {
            atr: &hist,
            card_id,
            algorithm: algorithm_of(s1.algorithm_id)?,
        };
        let a = hsm
            .answer_pin_step1(&s1, &card, puk)
            .map_err(|e| e.to_string())?;
        Ok(sscard_apdu::hex::to_string(&a))
    } else {
        let s2 = PinStep2::parse(step).map_err(|e| e.to_string())?;
        let card = CardContext {
            atr: &hist,
            card_id,
            algorithm: algorithm_of(s2.algorithm_id)?,
        };
        let a = hsm
            .answer_pin_step2(&s2, &card, stk)
            .map_err(|e| e.to_string())?;
        Ok(sscard_apdu::hex::to_string(&a))
    }
}
