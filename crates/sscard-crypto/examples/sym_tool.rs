//! A small command-line front end to the symmetric primitives, for cross-checking
//! against OpenSSL (`tools/crosscheck/sym.sh`). Reads the data from standard input and
//! prints the result as upper-case hex.
//!
//! ```text
//! sym_tool sm3                      < data
//! sym_tool sm4-ecb-enc KEY          < data    (whole blocks, no padding)
//! sym_tool sm4-ecb-dec KEY          < data
//! sym_tool sm4-cbc-enc KEY IV       < data
//! sym_tool sm4-cbc-dec KEY IV       < data
//! ```

use std::io::Read;
use std::process::ExitCode;

use sscard_apdu::hex;
use sscard_crypto::keys::Sm4Key;
use sscard_crypto::{sm3, sm4};

fn run(args: &[String]) -> Result<String, String> {
    let mut data = Vec::new();
    std::io::stdin()
        .read_to_end(&mut data)
        .map_err(|e| format!("reading standard input: {e}"))?;
    let arg = |index: usize, what: &str| -> Result<&str, String> {
        args.get(index)
            .map(String::as_str)
            .ok_or_else(|| format!("missing {what}"))
    };
    let key = |index: usize| -> Result<Sm4Key, String> {
        hex::decode_array::<16>(arg(index, "KEY")?)
            .map(Sm4Key::from_bytes)
            .map_err(|e| format!("KEY: {e}"))
    };
    let iv = |index: usize| -> Result<[u8; 16], String> {
        hex::decode_array::<16>(arg(index, "IV")?).map_err(|e| format!("IV: {e}"))
    };
    let done = |result: Result<(), sscard_crypto::keys::SymError>, data: &[u8]| {
        result
            .map(|()| hex::to_string(data))
            .map_err(|e| e.to_string())
    };
    match arg(1, "operation")? {
        "sm3" => Ok(hex::to_string(&sm3::sm3(&data))),
        "sm4-ecb-enc" => {
            let result = sm4::ecb_encrypt(&key(2)?.cipher(), &mut data);
            done(result, &data)
        }
        "sm4-ecb-dec" => {
            let result = sm4::ecb_decrypt(&key(2)?.cipher(), &mut data);
            done(result, &data)
        }
        "sm4-cbc-enc" => {
            let result = sm4::cbc_encrypt(&key(2)?.cipher(), &iv(3)?, &mut data);
            done(result, &data)
        }
        "sm4-cbc-dec" => {
            let result = sm4::cbc_decrypt(&key(2)?.cipher(), &iv(3)?, &mut data);
            done(result, &data)
        }
        other => Err(format!("unknown operation {other:?}")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match run(&args) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("sym_tool: {message}");
            ExitCode::FAILURE
        }
    }
}
