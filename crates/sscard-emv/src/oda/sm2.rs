//! SM2 offline data authentication (PBOC 3.0 part 17, pboc.md §1.4.3): no message
//! recovery; every object is plain data followed by a 64-byte signature `r ‖ s`, checked
//! with `e = SM3(Z_A ‖ M)` where `Z_A` uses the distinguishing ID of the
//! [`Sm2Profile`] (`1234567812345678`) and the *signer's* public key.
//!
//! | object | layout | signed data | signer |
//! |---|---|---|---|
//! | issuer cert 90 (142 B) | `12` ‖ issuer ID 4 ‖ expiry 2 ‖ serial 3 ‖ indicators 3 ‖ `40` ‖ x‖y ‖ sig | first 78 bytes | CA |
//! | ICC cert 9F46 (148 B) | `14` ‖ PAN 10 ‖ expiry 2 ‖ serial 3 ‖ indicators 3 ‖ `40` ‖ x‖y ‖ sig | first 84 bytes ‖ static data | issuer |
//! | SSAD 93 (67 B) | `13` ‖ DAC 2 ‖ sig | `13` ‖ DAC ‖ static data | issuer |
//! | SDAD 9F4B \[U, ours\] | `15` ‖ `L_DD` ‖ ICC dynamic data ‖ sig | `15` ‖ `L_DD` ‖ ICC dynamic data ‖ terminal data | ICC |
//!
//! \[U\] The three indicator bytes after the serial (`04 00 11` in issuer certificates,
//! `04 00 04` in ICC certificates in the only public sample, spec/pboc.md §1.4.3) are not
//! interpreted: they are data in [`Sm2Profile`], written by the builders and, only when
//! [`Sm2Profile::strict_indicators`] is set, compared by the verifiers.
//!
//! \[U\] The signed dynamic data layout (9F4B, DDA and CDA) is **not public**; the one
//! above is ours, chosen to mirror the RSA layout (format `15` after `12`/`13`/`14`, the
//! ICC dynamic data starting with the length of the ICC dynamic number). Replace
//! [`sign_dynamic`] and [`verify_dynamic`] together when JR/T 0025.17 is checked.

use alloc::vec::Vec;

use sscard_crypto::sm2::{PrivateKey, PublicKey, Signature, DEFAULT_DIST_ID};

use super::{array_at, byte_at, issuer_id_matches, pan_matches, Date, OdaError, Result};

/// Format of an SM2 issuer public key certificate.
pub const FORMAT_ISSUER: u8 = 0x12;
/// Format of SM2 signed static application data.
pub const FORMAT_SSAD: u8 = 0x13;
/// Format of an SM2 ICC public key certificate.
pub const FORMAT_ICC: u8 = 0x14;
/// Format of SM2 signed dynamic application data \[U, ours\].
pub const FORMAT_SDAD: u8 = 0x15;
/// Length of an SM2 issuer certificate (90).
pub const ISSUER_CERT_LEN: usize = 142;
/// Length of an SM2 ICC certificate (9F46).
pub const ICC_CERT_LEN: usize = 148;
/// Length of SM2 signed static application data (93).
pub const SSAD_LEN: usize = 67;
/// Length of an SM2 signature `r ‖ s`.
pub const SIG_LEN: usize = 64;
/// The public-key length byte of both certificates (64 bytes, `x ‖ y`).
pub const KEY_LEN_BYTE: u8 = 0x40;

const ISSUER_SIGNED_LEN: usize = ISSUER_CERT_LEN - SIG_LEN;
const ICC_SIGNED_LEN: usize = ICC_CERT_LEN - SIG_LEN;

/// The configurable parts of the SM2 objects: the distinguishing ID and the \[U\]
/// indicator bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sm2Profile<'a> {
    /// The SM2 distinguishing ID of every signer (`Z_A`).
    pub dist_id: &'a [u8],
    /// \[U\] The three bytes after the serial in issuer certificates.
    pub issuer_cert_indicators: [u8; 3],
    /// \[U\] The three bytes after the serial in ICC certificates.
    pub icc_cert_indicators: [u8; 3],
    /// Reject certificates whose indicator bytes differ from this profile's.
    pub strict_indicators: bool,
}

impl Sm2Profile<'static> {
    /// As in the public PBOC sample (spec/pboc.md A.1): ID `1234567812345678`,
    /// indicators `04 00 11` / `04 00 04` \[U\], not enforced.
    pub const PBOC: Self = Self {
        dist_id: DEFAULT_DIST_ID,
        issuer_cert_indicators: [0x04, 0x00, 0x11],
        icc_cert_indicators: [0x04, 0x00, 0x04],
        strict_indicators: false,
    };
}

impl<'a> Sm2Profile<'a> {
    /// The same profile with another distinguishing ID.
    pub fn with_dist_id(self, dist_id: &'a [u8]) -> Self {
        Self { dist_id, ..self }
    }
}

fn check_len(bytes: &[u8], expected: usize) -> Result<()> {
    if bytes.len() == expected {
        Ok(())
    } else {
        Err(OdaError::BadCertLength {
            expected,
            actual: bytes.len(),
        })
    }
}

fn check_format(bytes: &[u8], expected: u8) -> Result<()> {
    let actual = byte_at(bytes, 0)?;
    if actual == expected {
        Ok(())
    } else {
        Err(OdaError::BadFormat { expected, actual })
    }
}

/// Verifies `sig` (64 bytes) by `key` over the concatenation of `parts`.
fn verify(key: &PublicKey, id: &[u8], parts: &[&[u8]], sig: &[u8]) -> Result<()> {
    let signature = Signature::from_slice(sig).map_err(|_| OdaError::BadSignature)?;
    let message: Vec<u8> = parts.concat();
    key.verify(id, &message, &signature)
        .map_err(|_| OdaError::BadSignature)
}

fn sign(key: &PrivateKey, id: &[u8], parts: &[&[u8]]) -> Result<[u8; SIG_LEN]> {
    let message: Vec<u8> = parts.concat();
    key.sign(id, &message)
        .map(|s| s.to_bytes())
        .map_err(|_| OdaError::SigningFailed)
}

fn point(bytes: &[u8], at: usize) -> Result<PublicKey> {
    let xy: [u8; 64] = array_at(bytes, at)?;
    PublicKey::from_xy(&xy).map_err(|_| OdaError::BadKey)
}

fn check_indicators(found: [u8; 3], expected: [u8; 3], strict: bool) -> Result<()> {
    if strict && found != expected {
        let actual = found
            .iter()
            .zip(expected)
            .find(|(f, e)| **f != *e)
            .map_or(0, |(f, _)| *f);
        return Err(OdaError::BadAlgorithm { actual });
    }
    Ok(())
}

/// What an SM2 issuer certificate says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sm2IssuerCert {
    /// Issuer identifier, `F`-padded.
    pub issuer_id: [u8; 4],
    /// Expiry `MMYY`.
    pub expiry: [u8; 2],
    /// Serial number.
    pub serial: [u8; 3],
    /// \[U\] The indicator bytes, as found.
    pub indicators: [u8; 3],
    /// The certified issuer public key.
    pub key: PublicKey,
}

/// Verifies an SM2 issuer certificate (90) with the CA key: length 142, format `12`, the
/// CA signature over the first 78 bytes, issuer identifier against the PAN, expiry
/// against `date`, key length `40` and a valid point.
pub fn verify_issuer_cert(
    ca: &PublicKey,
    cert: &[u8],
    pan: &[u8],
    date: Date,
    profile: &Sm2Profile<'_>,
) -> Result<Sm2IssuerCert> {
    check_len(cert, ISSUER_CERT_LEN)?;
    check_format(cert, FORMAT_ISSUER)?;
    let (signed, sig) = cert
        .split_at_checked(ISSUER_SIGNED_LEN)
        .ok_or(OdaError::Malformed)?;
    verify(ca, profile.dist_id, &[signed], sig)?;
    let issuer_id: [u8; 4] = array_at(cert, 1)?;
    if !issuer_id_matches(&issuer_id, pan) {
        return Err(OdaError::IssuerIdMismatch);
    }
    let expiry: [u8; 2] = array_at(cert, 5)?;
    date.check_expiry(expiry)?;
    let indicators: [u8; 3] = array_at(cert, 10)?;
    check_indicators(
        indicators,
        profile.issuer_cert_indicators,
        profile.strict_indicators,
    )?;
    if byte_at(cert, 13)? != KEY_LEN_BYTE {
        return Err(OdaError::BadKey);
    }
    Ok(Sm2IssuerCert {
        issuer_id,
        expiry,
        serial: array_at(cert, 7)?,
        indicators,
        key: point(cert, 14)?,
    })
}

/// What an SM2 ICC certificate says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sm2IccCert {
    /// The PAN, `F`-padded to 10 bytes.
    pub pan: [u8; 10],
    /// Expiry `MMYY`.
    pub expiry: [u8; 2],
    /// Serial number.
    pub serial: [u8; 3],
    /// \[U\] The indicator bytes, as found.
    pub indicators: [u8; 3],
    /// The certified ICC public key.
    pub key: PublicKey,
}

/// Verifies an SM2 ICC certificate (9F46) with the issuer key: length 148, format `14`,
/// the issuer signature over the first 84 bytes ‖ `static_data`, PAN against 5A, expiry,
/// key length `40` and a valid point.
pub fn verify_icc_cert(
    issuer: &PublicKey,
    cert: &[u8],
    static_data: &[u8],
    pan: &[u8],
    date: Date,
    profile: &Sm2Profile<'_>,
) -> Result<Sm2IccCert> {
    check_len(cert, ICC_CERT_LEN)?;
    check_format(cert, FORMAT_ICC)?;
    let (signed, sig) = cert
        .split_at_checked(ICC_SIGNED_LEN)
        .ok_or(OdaError::Malformed)?;
    verify(issuer, profile.dist_id, &[signed, static_data], sig)?;
    let cert_pan: [u8; 10] = array_at(cert, 1)?;
    if !pan_matches(&cert_pan, pan) {
        return Err(OdaError::PanMismatch);
    }
    let expiry: [u8; 2] = array_at(cert, 11)?;
    date.check_expiry(expiry)?;
    let indicators: [u8; 3] = array_at(cert, 16)?;
    check_indicators(
        indicators,
        profile.icc_cert_indicators,
        profile.strict_indicators,
    )?;
    if byte_at(cert, 19)? != KEY_LEN_BYTE {
        return Err(OdaError::BadKey);
    }
    Ok(Sm2IccCert {
        pan: cert_pan,
        expiry,
        serial: array_at(cert, 13)?,
        indicators,
        key: point(cert, 20)?,
    })
}

/// Verifies SM2 signed static application data (93) with the issuer key and returns the
/// DAC (for 9F45).
pub fn verify_ssad(
    issuer: &PublicKey,
    ssad: &[u8],
    static_data: &[u8],
    profile: &Sm2Profile<'_>,
) -> Result<[u8; 2]> {
    check_len(ssad, SSAD_LEN)?;
    check_format(ssad, FORMAT_SSAD)?;
    let (head, sig) = ssad.split_at_checked(3).ok_or(OdaError::Malformed)?;
    verify(issuer, profile.dist_id, &[head, static_data], sig)?;
    array_at(ssad, 1)
}

/// \[U, our layout\] Verifies SM2 signed dynamic application data (9F4B) with the ICC
/// key over `terminal_data` (DDOL data for DDA; the unpredictable number for CDA) and
/// returns the ICC dynamic data.
pub fn verify_dynamic(
    icc: &PublicKey,
    sdad: &[u8],
    terminal_data: &[u8],
    profile: &Sm2Profile<'_>,
) -> Result<Vec<u8>> {
    check_format(sdad, FORMAT_SDAD)?;
    let l_dd = usize::from(byte_at(sdad, 1)?);
    let expected = 2 + l_dd + SIG_LEN;
    check_len(sdad, expected)?;
    let (head, sig) = sdad.split_at_checked(2 + l_dd).ok_or(OdaError::Malformed)?;
    verify(icc, profile.dist_id, &[head, terminal_data], sig)?;
    head.get(2..)
        .map(<[u8]>::to_vec)
        .ok_or(OdaError::BadDynamicData)
}

/// Builds and signs an SM2 issuer certificate (90) under the CA key.
pub fn build_issuer_cert(
    ca: &PrivateKey,
    issuer_id: [u8; 4],
    expiry: [u8; 2],
    serial: [u8; 3],
    issuer: &PublicKey,
    profile: &Sm2Profile<'_>,
) -> Result<Vec<u8>> {
    let mut cert = Vec::with_capacity(ISSUER_CERT_LEN);
    cert.push(FORMAT_ISSUER);
    cert.extend_from_slice(&issuer_id);
    cert.extend_from_slice(&expiry);
    cert.extend_from_slice(&serial);
    cert.extend_from_slice(&profile.issuer_cert_indicators);
    cert.push(KEY_LEN_BYTE);
    cert.extend_from_slice(&issuer.to_xy());
    let sig = sign(ca, profile.dist_id, &[&cert])?;
    cert.extend_from_slice(&sig);
    Ok(cert)
}

/// Builds and signs an SM2 ICC certificate (9F46) under the issuer key, covering
/// `static_data`. `pan` is tag 5A (it is `F`-padded to 10 bytes).
pub fn build_icc_cert(
    issuer: &PrivateKey,
    pan: &[u8],
    expiry: [u8; 2],
    serial: [u8; 3],
    icc: &PublicKey,
    static_data: &[u8],
    profile: &Sm2Profile<'_>,
) -> Result<Vec<u8>> {
    let cert_pan: [u8; 10] = super::pad_pan(pan, 19)?;
    let mut cert = Vec::with_capacity(ICC_CERT_LEN);
    cert.push(FORMAT_ICC);
    cert.extend_from_slice(&cert_pan);
    cert.extend_from_slice(&expiry);
    cert.extend_from_slice(&serial);
    cert.extend_from_slice(&profile.icc_cert_indicators);
    cert.push(KEY_LEN_BYTE);
    cert.extend_from_slice(&icc.to_xy());
    let sig = sign(issuer, profile.dist_id, &[&cert, static_data])?;
    cert.extend_from_slice(&sig);
    Ok(cert)
}

/// Signs SM2 static application data (93) with the issuer key.
pub fn sign_ssad(
    issuer: &PrivateKey,
    dac: [u8; 2],
    static_data: &[u8],
    profile: &Sm2Profile<'_>,
) -> Result<Vec<u8>> {
    let [d1, d2] = dac;
    let head = [FORMAT_SSAD, d1, d2];
    let sig = sign(issuer, profile.dist_id, &[&head, static_data])?;
    let mut out = head.to_vec();
    out.extend_from_slice(&sig);
    Ok(out)
}

/// \[U, our layout\] Signs SM2 dynamic application data (9F4B) with the ICC key:
/// `15 ‖ L_DD ‖ icc_dynamic_data ‖ sig` with the signature over
/// `15 ‖ L_DD ‖ icc_dynamic_data ‖ terminal_data`. One function for DDA (terminal data =
/// DDOL data) and CDA (ICC dynamic data from [`super::cda_icc_dynamic_data`], terminal
/// data = the unpredictable number).
pub fn sign_dynamic(
    icc: &PrivateKey,
    icc_dynamic_data: &[u8],
    terminal_data: &[u8],
    profile: &Sm2Profile<'_>,
) -> Result<Vec<u8>> {
    let l_dd = u8::try_from(icc_dynamic_data.len()).map_err(|_| OdaError::BadField)?;
    let mut out = Vec::with_capacity(2 + icc_dynamic_data.len() + SIG_LEN);
    out.extend_from_slice(&[FORMAT_SDAD, l_dd]);
    out.extend_from_slice(icc_dynamic_data);
    let sig = sign(icc, profile.dist_id, &[&out, terminal_data])?;
    out.extend_from_slice(&sig);
    Ok(out)
}
