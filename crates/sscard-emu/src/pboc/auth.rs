//! Dynamic data authentication on the card side: who signs the Signed Dynamic
//! Application Data (`9F4B`) for INTERNAL AUTHENTICATE.
//!
//! The signer sits behind [`DynamicAuthenticator`] so the shared certificate builders
//! (`sscard_emv::oda`, RSA and SM2) can replace these after merging.
//!
//! **SM2 SDAD layout \[U — ours; no public sample exists (pboc.md §1.4.3)\]:**
//! `15 ‖ Ldd ‖ ICC dynamic data ‖ r ‖ s` where ICC dynamic data = `len ‖ ICC dynamic
//! number`, and the signature (SM2 with `Z_A` for ID `1234567812345678`) covers
//! `15 ‖ Ldd ‖ ICC dynamic data ‖ DDOL data`.

use sscard_apdu::Status;
use sscard_crypto::sm2::{PrivateKey, DEFAULT_DIST_ID};

/// The SDAD format byte of our SM2 layout \[U\].
pub const SDAD_FORMAT: u8 = 0x15;

/// Builds the SDAD for INTERNAL AUTHENTICATE.
pub trait DynamicAuthenticator: Send {
    /// The `9F4B` value for `icc_dynamic_data` (length byte ‖ ICC dynamic number) and the
    /// terminal's DDOL data. A status error is sent to the terminal as is.
    fn sdad(&self, icc_dynamic_data: &[u8], ddol_data: &[u8]) -> Result<Vec<u8>, Status>;
}

/// The SM2 signer with the ICC private key (\[U\] layout above).
pub struct Sm2Authenticator {
    key: PrivateKey,
}

impl Sm2Authenticator {
    /// A signer with the ICC private key `d`.
    pub fn new(d: &[u8; 32]) -> Result<Self, sscard_crypto::sm2::Sm2Error> {
        PrivateKey::from_bytes(d).map(|key| Self { key })
    }
}

impl core::fmt::Debug for Sm2Authenticator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Sm2Authenticator(..)")
    }
}

impl DynamicAuthenticator for Sm2Authenticator {
    fn sdad(&self, icc_dynamic_data: &[u8], ddol_data: &[u8]) -> Result<Vec<u8>, Status> {
        let ldd = u8::try_from(icc_dynamic_data.len()).map_err(|_| Status::WrongLength)?;
        let mut signed = Vec::with_capacity(2 + icc_dynamic_data.len() + ddol_data.len());
        signed.push(SDAD_FORMAT);
        signed.push(ldd);
        signed.extend_from_slice(icc_dynamic_data);
        let header_len = signed.len();
        signed.extend_from_slice(ddol_data);
        let signature = self
            .key
            .sign(DEFAULT_DIST_ID, &signed)
            .map_err(|_| Status::UnspecifiedError)?;
        signed.truncate(header_len);
        signed.extend_from_slice(&signature.to_bytes());
        Ok(signed)
    }
}

/// PLACEHOLDER: no signer (the RSA family until the shared `sscard_emv::oda` builders
/// are plugged in, or a profile without an ICC key). INTERNAL AUTHENTICATE answers `6985`.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoAuthenticator;

impl DynamicAuthenticator for NoAuthenticator {
    fn sdad(&self, _: &[u8], _: &[u8]) -> Result<Vec<u8>, Status> {
        Err(Status::ConditionsOfUseNotSatisfied)
    }
}
