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
use sscard_crypto::sm2::PrivateKey;
use sscard_emv::oda::{self, sm2::Sm2Profile};

/// The SDAD format byte of our SM2 layout \[U\] (defined once, in `sscard_emv::oda::sm2`).
pub use sscard_emv::oda::sm2::FORMAT_SDAD as SDAD_FORMAT;

/// Builds the SDAD for INTERNAL AUTHENTICATE.
pub trait DynamicAuthenticator: Send {
    /// The `9F4B` value for `icc_dynamic_data` (length byte ‖ ICC dynamic number) and the
    /// terminal's DDOL data. A status error is sent to the terminal as is.
    fn sdad(&self, icc_dynamic_data: &[u8], ddol_data: &[u8]) -> Result<Vec<u8>, Status>;
}

/// The SM2 signer with the ICC private key (\[U\] layout above), through the shared
/// builder `sscard_emv::oda::sm2::sign_dynamic`.
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
        oda::sm2::sign_dynamic(&self.key, icc_dynamic_data, ddol_data, &Sm2Profile::PBOC)
            .map_err(|_| Status::UnspecifiedError)
    }
}

/// The RSA signer (EMV format `05`, SHA-1) with the ICC private key, through the shared
/// builder `sscard_emv::oda::rsa::sign_dynamic`.
pub struct RsaAuthenticator {
    key: oda::rsa::RsaPrivateKey,
}

impl RsaAuthenticator {
    /// A signer with the ICC private key.
    pub fn new(key: oda::rsa::RsaPrivateKey) -> Self {
        Self { key }
    }
}

impl core::fmt::Debug for RsaAuthenticator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RsaAuthenticator(..)")
    }
}

impl DynamicAuthenticator for RsaAuthenticator {
    fn sdad(&self, icc_dynamic_data: &[u8], ddol_data: &[u8]) -> Result<Vec<u8>, Status> {
        oda::rsa::sign_dynamic(&self.key, icc_dynamic_data, ddol_data)
            .map_err(|_| Status::UnspecifiedError)
    }
}

/// No signer: a profile without the family's ICC key. INTERNAL AUTHENTICATE answers
/// `6985`, and CDA requests get the plain response.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoAuthenticator;

impl DynamicAuthenticator for NoAuthenticator {
    fn sdad(&self, _: &[u8], _: &[u8]) -> Result<Vec<u8>, Status> {
        Err(Status::ConditionsOfUseNotSatisfied)
    }
}
