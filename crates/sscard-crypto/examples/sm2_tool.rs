//! A small SM2 file tool for cross-checking `sscard_crypto::sm2` against OpenSSL 3
//! (`tools/crosscheck/sm2.sh`).
//!
//! Keys are exchanged in the DER forms `openssl pkey -outform DER` reads and writes
//! for SM2: SEC1 `ECPrivateKey` (121 bytes) and `SubjectPublicKeyInfo` (91 bytes).
//! Hex text files also work (64 hex digits for a private key, 128 or 130 for a
//! public key). Signatures are GM/T 0009 DER; ciphertexts default to GM/T 0009 DER.
//!
//! ```text
//! sm2_tool keygen  KEY.der PUB.der
//! sm2_tool export  KEY KEY.der PUB.der            (e.g. a hex key to DER)
//! sm2_tool sign    KEY ID MSG SIG.der
//! sm2_tool verify  PUB ID MSG SIG.der             exit 0 = valid, 1 = invalid
//! sm2_tool encrypt PUB MSG CT [der|c1c3c2|c1c2c3|c1c3c2-bare|c1c2c3-bare]
//! sm2_tool decrypt KEY CT MSG [der|c1c3c2|c1c2c3|c1c3c2-bare|c1c2c3-bare]
//! ```
//!
//! `ID` is taken as text, or as bytes when written `hex:<digits>`.

use std::fs;
use std::io::Read;
use std::process::ExitCode;

use sscard_crypto::sm2::rand_core::{TryCryptoRng, TryRng};
use sscard_crypto::sm2::{C1Encoding, CiphertextFormat, PrivateKey, PublicKey, Signature, Sm2Mode};

/// `ECPrivateKey { version 1, privateKey OCTET STRING (32) ...`: bytes before `d`.
const SEC1_HEAD: [u8; 7] = [0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20];
/// `... [0] OID sm2p256v1, [1] BIT STRING 04 ‖ x ‖ y }`: bytes between `d` and `x ‖ y`.
const SEC1_MIDDLE: [u8; 18] = [
    0xA0, 0x0A, 0x06, 0x08, 0x2A, 0x81, 0x1C, 0xCF, 0x55, 0x01, 0x82, 0x2D, 0xA1, 0x44, 0x03, 0x42,
    0x00, 0x04,
];
/// `SubjectPublicKeyInfo { id-ecPublicKey, sm2p256v1 }, BIT STRING 04 ‖ ...`.
const SPKI_HEAD: [u8; 27] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01, 0x06, 0x08, 0x2A,
    0x81, 0x1C, 0xCF, 0x55, 0x01, 0x82, 0x2D, 0x03, 0x42, 0x00, 0x04,
];

type Result<T> = std::result::Result<T, String>;

/// The kernel RNG through `/dev/urandom`.
struct UrandomRng(fs::File);

impl TryRng for UrandomRng {
    type Error = std::io::Error;

    fn try_next_u32(&mut self) -> std::result::Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> std::result::Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> std::result::Result<(), Self::Error> {
        self.0.read_exact(dst)
    }
}

impl TryCryptoRng for UrandomRng {}

fn rng() -> Result<UrandomRng> {
    fs::File::open("/dev/urandom")
        .map(UrandomRng)
        .map_err(|e| format!("/dev/urandom: {e}"))
}

fn read(path: &str) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| format!("{path}: {e}"))
}

fn write(path: &str, data: &[u8]) -> Result<()> {
    fs::write(path, data).map_err(|e| format!("{path}: {e}"))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

/// Key file contents: DER with the expected head, or hex text.
fn key_bytes(data: &[u8], head: &[u8]) -> Option<Vec<u8>> {
    if let Some(rest) = data.strip_prefix(head) {
        return Some(rest.to_vec());
    }
    std::str::from_utf8(data).ok().and_then(decode_hex)
}

fn load_private(path: &str) -> Result<PrivateKey> {
    let data = read(path)?;
    let body = key_bytes(&data, &SEC1_HEAD).ok_or(format!("{path}: not an SM2 private key"))?;
    let d = body.get(..32).ok_or(format!("{path}: too short"))?;
    let key = PrivateKey::from_slice(d).map_err(|e| format!("{path}: {e}"))?;
    // A DER file also carries the curve and the public key: both must match.
    if data.starts_with(&SEC1_HEAD) {
        let expected = [&SEC1_MIDDLE[..], &key.public_key().to_xy()].concat();
        if body.get(32..) != Some(&expected[..]) {
            return Err(format!("{path}: not an SM2 key or public key mismatch"));
        }
    }
    Ok(key)
}

fn load_public(path: &str) -> Result<PublicKey> {
    let data = read(path)?;
    let body = key_bytes(&data, &SPKI_HEAD).ok_or(format!("{path}: not an SM2 public key"))?;
    PublicKey::from_slice(&body).map_err(|e| format!("{path}: {e}"))
}

fn private_der(key: &PrivateKey) -> Vec<u8> {
    let mut der = SEC1_HEAD.to_vec();
    der.extend_from_slice(key.to_bytes().as_ref());
    der.extend_from_slice(&SEC1_MIDDLE);
    der.extend_from_slice(&key.public_key().to_xy());
    der
}

fn public_der(key: &PublicKey) -> Vec<u8> {
    let mut der = SPKI_HEAD.to_vec();
    der.extend_from_slice(&key.to_xy());
    der
}

fn id(text: &str) -> Result<Vec<u8>> {
    match text.strip_prefix("hex:") {
        Some(digits) => decode_hex(digits).ok_or(format!("bad hex ID {text}")),
        None => Ok(text.as_bytes().to_vec()),
    }
}

fn format(name: Option<&String>) -> Result<CiphertextFormat> {
    let bare = |mode| CiphertextFormat::Concat {
        mode,
        c1: C1Encoding::Bare,
    };
    match name.map(String::as_str) {
        None | Some("der") => Ok(CiphertextFormat::DER),
        Some("c1c3c2") => Ok(CiphertextFormat::C1C3C2),
        Some("c1c2c3") => Ok(CiphertextFormat::C1C2C3),
        Some("c1c3c2-bare") => Ok(bare(Sm2Mode::C1C3C2)),
        Some("c1c2c3-bare") => Ok(bare(Sm2Mode::C1C2C3)),
        Some(other) => Err(format!("unknown ciphertext format {other}")),
    }
}

/// Runs one command; `Ok(false)` is a signature that does not verify.
fn run(args: &[String]) -> Result<bool> {
    let arg = |i: usize| {
        args.get(i)
            .map(String::as_str)
            .ok_or("missing argument (see the source header)".to_owned())
    };
    match arg(0)? {
        "keygen" => {
            let key = PrivateKey::generate(&mut rng()?).map_err(|e| e.to_string())?;
            write(arg(1)?, &private_der(&key))?;
            write(arg(2)?, &public_der(key.public_key()))?;
        }
        "export" => {
            let key = load_private(arg(1)?)?;
            write(arg(2)?, &private_der(&key))?;
            write(arg(3)?, &public_der(key.public_key()))?;
        }
        "sign" => {
            let key = load_private(arg(1)?)?;
            let signature = key
                .sign(&id(arg(2)?)?, &read(arg(3)?)?)
                .map_err(|e| e.to_string())?;
            write(arg(4)?, signature.to_der().as_bytes())?;
        }
        "verify" => {
            let key = load_public(arg(1)?)?;
            let signature = Signature::from_der(&read(arg(4)?)?).map_err(|e| e.to_string())?;
            return Ok(key
                .verify(&id(arg(2)?)?, &read(arg(3)?)?, &signature)
                .is_ok());
        }
        "encrypt" => {
            let key = load_public(arg(1)?)?;
            let message = read(arg(2)?)?;
            let format = format(args.get(4))?;
            let len = format
                .max_ciphertext_len(message.len())
                .ok_or("message too long")?;
            let mut out = vec![0u8; len];
            let len = key
                .encrypt(&mut rng()?, &message, format, &mut out)
                .map_err(|e| e.to_string())?;
            write(arg(3)?, out.get(..len).unwrap_or_default())?;
        }
        "decrypt" => {
            let key = load_private(arg(1)?)?;
            let ciphertext = read(arg(2)?)?;
            let mut out = vec![0u8; ciphertext.len()];
            let len = key
                .decrypt(&ciphertext, format(args.get(4))?, &mut out)
                .map_err(|e| e.to_string())?;
            write(arg(3)?, out.get(..len).unwrap_or_default())?;
        }
        other => return Err(format!("unknown command {other}")),
    }
    Ok(true)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("signature does not verify");
            ExitCode::from(1)
        }
        Err(message) => {
            eprintln!("sm2_tool: {message}");
            ExitCode::from(2)
        }
    }
}
