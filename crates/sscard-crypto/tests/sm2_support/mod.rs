//! Shared helpers of the SM2 integration tests: the vector files, hex, and a seeded
//! RNG for the `rand_core` 0.10 traits that `sm2` takes.
#![allow(dead_code)] // each test crate uses a part

use sscard_crypto::sm2::rand_core::{TryCryptoRng, TryRng};

/// Parses a JSON file of `test-vectors/`.
pub fn vectors(name: &str) -> serde_json::Value {
    let path = format!("{}/../../test-vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// A string field of a JSON object.
pub fn field<'a>(value: &'a serde_json::Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("missing string field {key}"))
}

/// Hex to bytes.
pub fn bytes(text: &str) -> Vec<u8> {
    sscard_apdu::hex::to_vec(text).unwrap()
}

/// Hex to a fixed array.
pub fn array<const N: usize>(text: &str) -> [u8; N] {
    sscard_apdu::hex::decode_array(text).unwrap()
}

/// Bytes to upper-case hex.
pub fn hex(bytes: &[u8]) -> String {
    sscard_apdu::hex::to_string(bytes).to_uppercase()
}

/// A deterministic test RNG (SplitMix64). Not cryptographic: tests only.
pub struct TestRng(pub u64);

impl TryRng for TestRng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let [a, b, c, d, ..] = self.try_next_u64()?.to_be_bytes();
        Ok(u32::from_be_bytes([a, b, c, d]))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let word = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(())
    }
}

impl TryCryptoRng for TestRng {}
