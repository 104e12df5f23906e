//! **TEST ONLY.** A deterministic test PKI for emulated cards and tests: a test CA per
//! family (SM2, RSA), an issuer key pair per family, ICC key pairs, and the
//! certificates, SSAD and keys of one fictional card, all derived from a seed.
//!
//! Every key here is public (the output is checked in as
//! `apdu-specs/pboc/test-pki.json`): never personalise a real card with them, never
//! load the test CAPKs into a production terminal. The CAPK indexes (`F1` SM2, `F2` RSA
//! by default) are parameters chosen not to collide with UnionPay's published ones.
//!
//! Determinism: every key has its own [`TestRng`] stream (SM3 in counter mode over the
//! seed and a label). SM2 signatures are deterministic (RFC 6979 style); RSA key
//! generation follows the `rsa`/`crypto-primes` versions in `Cargo.lock`, so a new
//! version of those may produce other RSA keys from the same seed — the checked-in file,
//! not the seed, is the reference.

use alloc::string::String;
use alloc::vec::Vec;
use core::convert::Infallible;

use ::rsa::rand_core::{TryCryptoRng, TryRng};
use serde::{Deserialize, Serialize};
use sscard_apdu::hex;
use sscard_crypto::sm2::{PrivateKey, PublicKey};
use sscard_crypto::sm3::sm3_parts;

use super::rsa::{self as oda_rsa, RsaPrivateKey};
use super::sm2::{self as oda_sm2, Sm2Profile};
use super::{pad_pan, OdaError, Result};
use crate::capk::{Capk, CapkError};

/// **TEST ONLY.** A deterministic RNG: SM3 in counter mode over a seed and a label.
/// Reproducible test keys, nothing else.
pub struct TestRng {
    key: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl core::fmt::Debug for TestRng {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("TestRng")
    }
}

impl TestRng {
    /// The stream for `label` under `seed`.
    pub fn new(seed: &[u8], label: &[u8]) -> Self {
        Self {
            key: sm3_parts(&[b"sscard TEST-ONLY rng", seed, label]),
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }

    fn fill(&mut self, dst: &mut [u8]) {
        for byte in dst.iter_mut() {
            if self.used >= self.block.len() {
                self.block = sm3_parts(&[&self.key, &self.counter.to_be_bytes()]);
                self.counter = self.counter.wrapping_add(1);
                self.used = 0;
            }
            *byte = self.block.get(self.used).copied().unwrap_or_default();
            self.used += 1;
        }
    }
}

impl TryRng for TestRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> core::result::Result<u32, Infallible> {
        let mut b = [0; 4];
        self.fill(&mut b);
        Ok(u32::from_be_bytes(b))
    }
    fn try_next_u64(&mut self) -> core::result::Result<u64, Infallible> {
        let mut b = [0; 8];
        self.fill(&mut b);
        Ok(u64::from_be_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> core::result::Result<(), Infallible> {
        self.fill(dst);
        Ok(())
    }
}

impl TryCryptoRng for TestRng {}

/// What to generate. [`TestPkiParams::EMULATED_CARD`] is the emulator's card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestPkiParams<'a> {
    /// The seed of every key.
    pub seed: &'a [u8],
    /// The RID of the test CAPKs.
    pub rid: [u8; 5],
    /// The test SM2 CAPK index.
    pub sm2_ca_index: u8,
    /// The test RSA CAPK index.
    pub rsa_ca_index: u8,
    /// Tag 5A of the card.
    pub pan: &'a [u8],
    /// How many leading PAN digits form the issuer identifier (3–8).
    pub issuer_id_digits: usize,
    /// The static data to authenticate (what the AFL marks for ODA).
    pub static_data: &'a [u8],
    /// Expiry `MMYY` of the certificates.
    pub cert_expiry: [u8; 2],
    /// Expiry `YYYYMMDD` of the test CAPKs.
    pub capk_expiry: [u8; 4],
    /// The data authentication code in the SSAD.
    pub dac: [u8; 2],
    /// RSA modulus sizes in bits: CA, issuer, ICC.
    pub rsa_bits: [usize; 3],
}

impl TestPkiParams<'static> {
    /// The emulated card: PAN `6228000100001117`, static data = SFI 3 record 1 of the
    /// public PBOC sample, test CAPKs `A000000333` `F1` (SM2) and `F2` (RSA-1024).
    pub const EMULATED_CARD: Self = Self {
        seed: b"sscard test PKI v1",
        rid: [0xA0, 0x00, 0x00, 0x03, 0x33],
        sm2_ca_index: 0xF1,
        rsa_ca_index: 0xF2,
        pan: &[0x62, 0x28, 0x00, 0x01, 0x00, 0x00, 0x11, 0x17],
        issuer_id_digits: 8,
        static_data: &[
            0x5A, 0x08, 0x62, 0x28, 0x00, 0x01, 0x00, 0x00, 0x11, 0x17, 0x5F, 0x24, 0x03, 0x30,
            0x12, 0x31, 0x5F, 0x25, 0x03, 0x95, 0x07, 0x01, 0x9F, 0x08, 0x02, 0x00, 0x30,
        ],
        cert_expiry: [0x12, 0x49],
        capk_expiry: [0x20, 0x49, 0x12, 0x31],
        dac: [0xDA, 0xC1],
        rsa_bits: [1024, 1024, 1024],
    };
}

/// An RSA key pair in a test-PKI file (hex, big-endian). TEST ONLY.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RsaKeyHex {
    /// Modulus.
    pub n: String,
    /// Public exponent.
    pub e: String,
    /// Private exponent.
    pub d: String,
    /// First prime.
    pub p: String,
    /// Second prime.
    pub q: String,
}

impl RsaKeyHex {
    fn from_key(key: &RsaPrivateKey) -> Self {
        let c = key.components();
        Self {
            n: hex::to_string(&c.n),
            e: hex::to_string(&c.e),
            d: hex::to_string(&c.d),
            p: hex::to_string(&c.p),
            q: hex::to_string(&c.q),
        }
    }

    /// The key.
    pub fn to_key(&self) -> Result<RsaPrivateKey> {
        RsaPrivateKey::from_components(
            &unhex(&self.n)?,
            &unhex(&self.e)?,
            &unhex(&self.d)?,
            &unhex(&self.p)?,
            &unhex(&self.q)?,
        )
    }
}

fn unhex(text: &str) -> Result<Vec<u8>> {
    hex::to_vec(text).map_err(|_| OdaError::BadField)
}

/// A test CAPK as stored in the file: the POS parameter TLV loads it into a
/// [`crate::capk::CapkStore`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapkHex {
    /// RID.
    pub rid: String,
    /// Index (tag 8F).
    pub index: String,
    /// The POS parameter TLV (`9F06 9F22 DF05 DF06 DF07 DF02 [DF04 DF03]`).
    pub tlv: String,
}

impl CapkHex {
    /// The CAPK (checksum verified by [`crate::capk::CapkStore::add`]).
    pub fn to_capk(&self) -> core::result::Result<Capk, CapkError> {
        Capk::from_pos_tlv(&hex::to_vec(&self.tlv).map_err(|_| CapkError::Hex)?)
    }
}

/// The SM2 half of a test PKI (hex). TEST ONLY.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sm2Pki {
    /// The test CA public key.
    pub capk: CapkHex,
    /// The test CA public key `x ‖ y`.
    pub ca_public_key_xy: String,
    /// TEST ONLY: the CA private key `d`.
    pub ca_private_key_d: String,
    /// TEST ONLY: the issuer private key `d`.
    pub issuer_private_key_d: String,
    /// The issuer public key `x ‖ y`.
    pub issuer_public_key_xy: String,
    /// Tag 90.
    pub issuer_cert_90: String,
    /// TEST ONLY: the ICC private key `d`.
    pub icc_private_key_d: String,
    /// The ICC public key `x ‖ y`.
    pub icc_public_key_xy: String,
    /// Tag 9F46.
    pub icc_cert_9f46: String,
    /// Tag 93.
    pub ssad_93: String,
}

/// The RSA half of a test PKI (hex). TEST ONLY.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RsaPki {
    /// The test CA public key.
    pub capk: CapkHex,
    /// TEST ONLY: the CA key pair.
    pub ca_key: RsaKeyHex,
    /// TEST ONLY: the issuer key pair.
    pub issuer_key: RsaKeyHex,
    /// Tag 90.
    pub issuer_cert_90: String,
    /// Tag 92 (empty when none).
    pub issuer_remainder_92: String,
    /// Tag 9F32.
    pub issuer_exponent_9f32: String,
    /// The data the CA key recovers from tag 90 (`6A02…BC`), for cross-checks.
    pub issuer_cert_recovered: String,
    /// TEST ONLY: the ICC key pair.
    pub icc_key: RsaKeyHex,
    /// Tag 9F46.
    pub icc_cert_9f46: String,
    /// Tag 9F48 (empty when none).
    pub icc_remainder_9f48: String,
    /// Tag 9F47.
    pub icc_exponent_9f47: String,
    /// Tag 93.
    pub ssad_93: String,
}

/// A generated test PKI: the content of `apdu-specs/pboc/test-pki.json`. TEST ONLY.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestPki {
    /// The warning every reader must see.
    pub warning: String,
    /// How the file was made.
    pub generator: String,
    /// The seed (hex).
    pub seed: String,
    /// Tag 5A.
    pub pan: String,
    /// The static data to authenticate.
    pub static_data: String,
    /// The SM2 distinguishing ID (hex).
    pub sm2_dist_id: String,
    /// Expiry `MMYY` of every certificate.
    pub cert_expiry: String,
    /// The DAC in both SSADs.
    pub dac: String,
    /// The SM2 family.
    pub sm2: Sm2Pki,
    /// The RSA family.
    pub rsa: RsaPki,
}

/// The warning written into every test-PKI file.
pub const WARNING: &str = "TEST ONLY: every private key in this file is public. Never personalise a real card with these keys and never load these CAPKs into a production terminal.";

fn date_tlv(expiry: [u8; 4]) -> Vec<u8> {
    let mut ascii = Vec::with_capacity(8);
    for b in expiry {
        ascii.push(b'0' + (b >> 4));
        ascii.push(b'0' + (b & 0x0F));
    }
    ascii
}

fn tlv(out: &mut Vec<u8>, tag: u32, value: &[u8]) -> Result<()> {
    sscard_apdu::tlv::ber::push(tag, value, out).map_err(|_| OdaError::BadField)
}

fn capk_tlv(
    rid: [u8; 5],
    index: u8,
    expiry: [u8; 4],
    alg: u8,
    key: &[u8],
    exponent: Option<&[u8]>,
) -> Result<String> {
    let mut out = Vec::new();
    tlv(&mut out, 0x9F06, &rid)?;
    tlv(&mut out, 0x9F22, &[index])?;
    tlv(&mut out, 0xDF05, &date_tlv(expiry))?;
    tlv(&mut out, 0xDF06, &[crate::capk::HASH_SHA1])?;
    tlv(&mut out, 0xDF07, &[alg])?;
    tlv(&mut out, 0xDF02, key)?;
    if let Some(e) = exponent {
        tlv(&mut out, 0xDF04, e)?;
        tlv(&mut out, 0xDF03, &oda_rsa::sha1(&[&rid, &[index], key, e]))?;
    }
    Ok(hex::to_string(&out))
}

fn sm2_key(seed: &[u8], label: &[u8]) -> Result<PrivateKey> {
    PrivateKey::generate(&mut TestRng::new(seed, label)).map_err(|_| OdaError::KeyGeneration)
}

fn rsa_key(seed: &[u8], label: &[u8], bits: usize, exponent: u32) -> Result<RsaPrivateKey> {
    RsaPrivateKey::generate(&mut TestRng::new(seed, label), bits, exponent)
}

/// **TEST ONLY.** Generates the test PKI described by `params`. Serial numbers are
/// `000001`; the SM2 objects follow [`Sm2Profile::PBOC`]; RSA exponents are 3 (CA,
/// issuer) and 65537 (ICC).
pub fn generate(params: &TestPkiParams<'_>) -> Result<TestPki> {
    let seed = params.seed;
    let serial = [0x00, 0x00, 0x01];
    let issuer_id: [u8; 4] = pad_pan(params.pan, params.issuer_id_digits)?;
    let profile = Sm2Profile::PBOC;

    // SM2 family.
    let ca = sm2_key(seed, b"sm2 ca")?;
    let issuer = sm2_key(seed, b"sm2 issuer")?;
    let icc = sm2_key(seed, b"sm2 icc")?;
    let sm2_issuer_cert = oda_sm2::build_issuer_cert(
        &ca,
        issuer_id,
        params.cert_expiry,
        serial,
        issuer.public_key(),
        &profile,
    )?;
    let sm2_icc_cert = oda_sm2::build_icc_cert(
        &issuer,
        params.pan,
        params.cert_expiry,
        serial,
        icc.public_key(),
        params.static_data,
        &profile,
    )?;
    let sm2_ssad = oda_sm2::sign_ssad(&issuer, params.dac, params.static_data, &profile)?;
    let ca_xy = ca.public_key().to_xy();
    let sm2 = Sm2Pki {
        capk: CapkHex {
            rid: hex::to_string(&params.rid),
            index: hex::to_string(&[params.sm2_ca_index]),
            tlv: capk_tlv(
                params.rid,
                params.sm2_ca_index,
                params.capk_expiry,
                crate::capk::ALG_SM2,
                &ca_xy,
                None,
            )?,
        },
        ca_public_key_xy: hex::to_string(&ca_xy),
        ca_private_key_d: hex::to_string(ca.to_bytes().as_slice()),
        issuer_private_key_d: hex::to_string(issuer.to_bytes().as_slice()),
        issuer_public_key_xy: hex::to_string(&issuer.public_key().to_xy()),
        issuer_cert_90: hex::to_string(&sm2_issuer_cert),
        icc_private_key_d: hex::to_string(icc.to_bytes().as_slice()),
        icc_public_key_xy: hex::to_string(&icc.public_key().to_xy()),
        icc_cert_9f46: hex::to_string(&sm2_icc_cert),
        ssad_93: hex::to_string(&sm2_ssad),
    };

    // RSA family.
    let [ca_bits, issuer_bits, icc_bits] = params.rsa_bits;
    let ca = rsa_key(seed, b"rsa ca", ca_bits, 3)?;
    let issuer = rsa_key(seed, b"rsa issuer", issuer_bits, 3)?;
    let icc = rsa_key(seed, b"rsa icc", icc_bits, 65537)?;
    let issuer_cert = oda_rsa::build_issuer_cert(
        &ca,
        issuer_id,
        params.cert_expiry,
        serial,
        issuer.public_key(),
    )?;
    let icc_cert = oda_rsa::build_icc_cert(
        &issuer,
        params.pan,
        params.cert_expiry,
        serial,
        icc.public_key(),
        params.static_data,
    )?;
    let ssad = oda_rsa::sign_ssad(&issuer, params.dac, params.static_data)?;
    let recovered = ca.public_key().recover(&issuer_cert.cert)?;
    let rsa = RsaPki {
        capk: CapkHex {
            rid: hex::to_string(&params.rid),
            index: hex::to_string(&[params.rsa_ca_index]),
            tlv: capk_tlv(
                params.rid,
                params.rsa_ca_index,
                params.capk_expiry,
                crate::capk::ALG_RSA,
                ca.public_key().modulus(),
                Some(ca.public_key().exponent()),
            )?,
        },
        ca_key: RsaKeyHex::from_key(&ca),
        issuer_key: RsaKeyHex::from_key(&issuer),
        issuer_cert_90: hex::to_string(&issuer_cert.cert),
        issuer_remainder_92: hex::to_string(&issuer_cert.remainder),
        issuer_exponent_9f32: hex::to_string(issuer.public_key().exponent()),
        issuer_cert_recovered: hex::to_string(&recovered),
        icc_key: RsaKeyHex::from_key(&icc),
        icc_cert_9f46: hex::to_string(&icc_cert.cert),
        icc_remainder_9f48: hex::to_string(&icc_cert.remainder),
        icc_exponent_9f47: hex::to_string(icc.public_key().exponent()),
        ssad_93: hex::to_string(&ssad),
    };

    Ok(TestPki {
        warning: String::from(WARNING),
        generator: String::from(
            "sscard_emv::oda::testpki::generate(&TestPkiParams::EMULATED_CARD); regenerate with `cargo run -p sscard-emv --example gen-test-pki`",
        ),
        seed: hex::to_string(seed),
        pan: hex::to_string(params.pan),
        static_data: hex::to_string(params.static_data),
        sm2_dist_id: hex::to_string(profile.dist_id),
        cert_expiry: hex::to_string(&params.cert_expiry),
        dac: hex::to_string(&params.dac),
        sm2,
        rsa,
    })
}

impl TestPki {
    /// The ODA data objects a card of `family` carries in its records, as BER-TLVs:
    /// `8F ‖ 90 ‖ 9F46 ‖ 93` (SM2) or `8F ‖ 90 ‖ 92 ‖ 9F32 ‖ 9F46 ‖ 9F48 ‖ 9F47 ‖ 93`
    /// (RSA; empty remainders are left out). For personalising the emulated card.
    pub fn record_tlvs(&self, family: crate::cryptogram::Family) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let objects: Vec<(u32, &str)> = match family {
            crate::cryptogram::Family::Sm2Sm4 => alloc::vec![
                (0x8F, self.sm2.capk.index.as_str()),
                (0x90, self.sm2.issuer_cert_90.as_str()),
                (0x9F46, self.sm2.icc_cert_9f46.as_str()),
                (0x93, self.sm2.ssad_93.as_str()),
            ],
            crate::cryptogram::Family::Rsa3Des => alloc::vec![
                (0x8F, self.rsa.capk.index.as_str()),
                (0x90, self.rsa.issuer_cert_90.as_str()),
                (0x92, self.rsa.issuer_remainder_92.as_str()),
                (0x9F32, self.rsa.issuer_exponent_9f32.as_str()),
                (0x9F46, self.rsa.icc_cert_9f46.as_str()),
                (0x9F48, self.rsa.icc_remainder_9f48.as_str()),
                (0x9F47, self.rsa.icc_exponent_9f47.as_str()),
                (0x93, self.rsa.ssad_93.as_str()),
            ],
        };
        for (tag, value) in objects {
            let value = unhex(value)?;
            if !value.is_empty() {
                tlv(&mut out, tag, &value)?;
            }
        }
        Ok(out)
    }

    /// Parses a test-PKI file.
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|_| OdaError::BadField)
    }

    /// The file text (pretty JSON, trailing newline).
    pub fn to_json(&self) -> Result<String> {
        let mut text = serde_json::to_string_pretty(self).map_err(|_| OdaError::BadField)?;
        text.push('\n');
        Ok(text)
    }

    /// TEST ONLY: the SM2 issuer private key.
    pub fn sm2_issuer_key(&self) -> Result<PrivateKey> {
        PrivateKey::from_slice(&unhex(&self.sm2.issuer_private_key_d)?)
            .map_err(|_| OdaError::BadKey)
    }

    /// TEST ONLY: the SM2 ICC private key.
    pub fn sm2_icc_key(&self) -> Result<PrivateKey> {
        PrivateKey::from_slice(&unhex(&self.sm2.icc_private_key_d)?).map_err(|_| OdaError::BadKey)
    }

    /// The SM2 ICC public key.
    pub fn sm2_icc_public_key(&self) -> Result<PublicKey> {
        PublicKey::from_slice(&unhex(&self.sm2.icc_public_key_xy)?).map_err(|_| OdaError::BadKey)
    }

    /// TEST ONLY: the RSA ICC key pair.
    pub fn rsa_icc_key(&self) -> Result<RsaPrivateKey> {
        self.rsa.icc_key.to_key()
    }

    /// TEST ONLY: the RSA issuer key pair.
    pub fn rsa_issuer_key(&self) -> Result<RsaPrivateKey> {
        self.rsa.issuer_key.to_key()
    }

    /// TEST ONLY: the RSA CA key pair.
    pub fn rsa_ca_key(&self) -> Result<RsaPrivateKey> {
        self.rsa.ca_key.to_key()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_and_label_separated() {
        let mut a = TestRng::new(b"s", b"x");
        let mut b = TestRng::new(b"s", b"x");
        let mut c = TestRng::new(b"s", b"y");
        let (mut x, mut y, mut z) = ([0u8; 50], [0u8; 50], [0u8; 50]);
        a.fill(&mut x);
        b.fill(&mut y[..7]);
        b.fill(&mut y[7..]);
        c.fill(&mut z);
        assert_eq!(x, y);
        assert_ne!(x, z);
    }
}
