//! Bits of the TVR (95), TSI (9B) and CVM results (9F34) the kernel maintains
//! (EMV Book 3 Annex C5/C6, Book 4; PBOC keeps the EMV layouts).

/// One bit: the 0-based byte index and the mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bit(pub usize, pub u8);

/// Sets `bit` in `bytes` (ignored when the byte does not exist).
pub fn set(bytes: &mut [u8], bit: Bit) {
    if let Some(b) = bytes.get_mut(bit.0) {
        *b |= bit.1;
    }
}

/// Whether `bit` is set in `bytes`.
pub fn is_set(bytes: &[u8], bit: Bit) -> bool {
    bytes.get(bit.0).is_some_and(|b| b & bit.1 != 0)
}

/// TVR (95) bits.
pub mod tvr {
    use super::Bit;
    /// Offline data authentication was not performed.
    pub const ODA_NOT_PERFORMED: Bit = Bit(0, 0x80);
    /// SDA failed.
    pub const SDA_FAILED: Bit = Bit(0, 0x40);
    /// ICC data missing.
    pub const ICC_DATA_MISSING: Bit = Bit(0, 0x20);
    /// Card appears on the terminal exception file.
    pub const EXCEPTION_FILE: Bit = Bit(0, 0x10);
    /// DDA failed.
    pub const DDA_FAILED: Bit = Bit(0, 0x08);
    /// CDA failed.
    pub const CDA_FAILED: Bit = Bit(0, 0x04);
    /// SDA selected.
    pub const SDA_SELECTED: Bit = Bit(0, 0x02);
    /// ICC and terminal have different application versions.
    pub const VERSION_MISMATCH: Bit = Bit(1, 0x80);
    /// Expired application.
    pub const EXPIRED: Bit = Bit(1, 0x40);
    /// Application not yet effective.
    pub const NOT_EFFECTIVE: Bit = Bit(1, 0x20);
    /// Requested service not allowed for card product.
    pub const SERVICE_NOT_ALLOWED: Bit = Bit(1, 0x10);
    /// New card (last online ATC is zero).
    pub const NEW_CARD: Bit = Bit(1, 0x08);
    /// Cardholder verification was not successful.
    pub const CVM_FAILED: Bit = Bit(2, 0x80);
    /// Unrecognised CVM.
    pub const UNRECOGNISED_CVM: Bit = Bit(2, 0x40);
    /// PIN try limit exceeded.
    pub const PIN_TRY_LIMIT_EXCEEDED: Bit = Bit(2, 0x20);
    /// PIN entry required and PIN pad not present or not working.
    pub const PIN_PAD_MISSING: Bit = Bit(2, 0x10);
    /// PIN entry required, PIN pad present, but PIN was not entered.
    pub const PIN_NOT_ENTERED: Bit = Bit(2, 0x08);
    /// Online PIN entered.
    pub const ONLINE_PIN_ENTERED: Bit = Bit(2, 0x04);
    /// Transaction exceeds floor limit.
    pub const FLOOR_LIMIT_EXCEEDED: Bit = Bit(3, 0x80);
    /// Lower consecutive offline limit exceeded.
    pub const LCOL_EXCEEDED: Bit = Bit(3, 0x40);
    /// Upper consecutive offline limit exceeded.
    pub const UCOL_EXCEEDED: Bit = Bit(3, 0x20);
    /// Transaction selected randomly for online processing.
    pub const RANDOMLY_SELECTED: Bit = Bit(3, 0x10);
    /// Merchant forced transaction online.
    pub const MERCHANT_FORCED_ONLINE: Bit = Bit(3, 0x08);
    /// Issuer authentication failed.
    pub const ISSUER_AUTH_FAILED: Bit = Bit(4, 0x40);
    /// Script processing failed before final GENERATE AC.
    pub const SCRIPT_FAILED_BEFORE: Bit = Bit(4, 0x20);
    /// Script processing failed after final GENERATE AC.
    pub const SCRIPT_FAILED_AFTER: Bit = Bit(4, 0x10);
}

/// TSI (9B) bits.
pub mod tsi {
    use super::Bit;
    /// Offline data authentication was performed.
    pub const ODA_PERFORMED: Bit = Bit(0, 0x80);
    /// Cardholder verification was performed.
    pub const CVM_PERFORMED: Bit = Bit(0, 0x40);
    /// Card risk management was performed (a GENERATE AC was issued).
    pub const CARD_RISK_MANAGEMENT: Bit = Bit(0, 0x20);
    /// Issuer authentication was performed.
    pub const ISSUER_AUTH_PERFORMED: Bit = Bit(0, 0x10);
    /// Terminal risk management was performed.
    pub const TERMINAL_RISK_MANAGEMENT: Bit = Bit(0, 0x08);
    /// Script processing was performed.
    pub const SCRIPT_PROCESSING: Bit = Bit(0, 0x04);
}

/// CVM result byte 3 of 9F34.
pub mod cvm_result {
    /// Unknown (signature, online PIN).
    pub const UNKNOWN: u8 = 0x00;
    /// Failed.
    pub const FAILED: u8 = 0x01;
    /// Successful.
    pub const SUCCESSFUL: u8 = 0x02;
}
