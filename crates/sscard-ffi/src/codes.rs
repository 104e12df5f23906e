//! Return codes: `spec/sscard.md` §4.5, and where each error of the lower layers lands.
//!
//! Every exported function returns `0` or a negative code. A card status word the
//! library has no better code for is returned as −SW in decimal (`6A88` → −27272);
//! a wrong external-authentication cryptogram (`63Cx`) is therefore −25536 − … as the
//! table says. Codes from −1001 down are this library's own (the standard has none for
//! them); they are never returned by the standard functions for card errors.
//!
//! This file is read by the header generator (`tests/header.rs`): every `pub const`
//! here becomes a `#define` in `include/sscard.h`.

use std::os::raw::c_long;

use sscard_apdu::{ExchangeError, Status, TransportError, TransportErrorKind};
use sscard_ssse::hsm::{HsmError, PinHsmError};
use sscard_ssse::security::AuthError;
use sscard_ssse::{ReadError, Step};

/// Success.
pub const SSCARD_OK: c_long = 0;
/// Wrong card type (not a social security card, or records the profile does not know).
pub const SSCARD_E_CARD_TYPE: c_long = -1;
/// No card (in any reader the call's iType allows).
pub const SSCARD_E_NO_CARD: c_long = -2;
/// Card present but not powered (it was reset by someone else during the call).
pub const SSCARD_E_NOT_POWERED: c_long = -3;
/// The card does not respond (timeout, link protocol error, malformed answer).
pub const SSCARD_E_NOT_RESPONDING: c_long = -4;
/// Reader connection error: no PC/SC service, no such reader, several candidate readers.
pub const SSCARD_E_READER: c_long = -11;
/// Not supported by this library or this configuration (PIN pad without a PIN source,
/// HSM variants other than iReadCardBas, debit functions).
pub const SSCARD_E_UNSUPPORTED: c_long = -13;
/// Bad parameter: NULL where a value is needed, bad iType or iAuthType, malformed
/// address, key or write data, HSM Step 2 without Step 1.
pub const SSCARD_E_PARAM: c_long = -14;
/// The card identification code in pCardInfo is malformed.
pub const SSCARD_E_CARD_ID_FORMAT: c_long = -20;
/// Internal authentication failed: the card is not genuine.
pub const SSCARD_E_INTERNAL_AUTH: c_long = -21;
/// pCardInfo does not match the card.
pub const SSCARD_E_DATA_MISMATCH: c_long = -22;
/// The security module lacks a key the card needs.
pub const SSCARD_E_KEY_LEVEL: c_long = -24;
/// The HSM's internal-authentication data disagrees with the card.
pub const SSCARD_E_HSM_MISMATCH: c_long = -25;
/// PIN entry cancelled (the PIN source command failed or gave nothing).
pub const SSCARD_E_PIN_CANCELLED: c_long = -31;
/// PIN entry timed out.
pub const SSCARD_E_PIN_TIMEOUT: c_long = -32;
/// The PIN has the wrong length (4 to 12 digits).
pub const SSCARD_E_PIN_LENGTH: c_long = -33;
/// The two entries of the new PIN differ.
pub const SSCARD_E_PIN_CONFIRM: c_long = -34;
/// Input data has characters the configured encoding cannot carry, or a PIN has
/// non-digits.
pub const SSCARD_E_ILLEGAL_CHARS: c_long = -41;
/// Input data too long.
pub const SSCARD_E_DATA_LENGTH: c_long = -42;
/// Wrong PIN (`63Cx`); pOutInfo says how many tries are left.
pub const SSCARD_E_PIN_WRONG: c_long = -51;
/// PIN blocked (`6983`).
pub const SSCARD_E_PIN_LOCKED: c_long = -52;
/// No PSAM (none configured, or PSAM support is not in this build): the caller falls
/// back to the HSM steps.
pub const SSCARD_E_NO_PSAM: c_long = -2201;
/// The security module lacks the card's algorithm.
pub const SSCARD_E_PSAM_ALGORITHM: c_long = -2202;
/// The security module lacks RKSSSE (3.0 cards need it for the basic information).
pub const SSCARD_E_PSAM_NO_RKSSSE: c_long = -2203;
/// HSM authentication not required: not a 3.0 card, use iReadCardBas.
pub const SSCARD_E_HSM_NOT_REQUIRED: c_long = -2204;
/// sscard: the output does not fit the buffer (for the `_ex` functions the length
/// pointer then holds the size needed, NUL included).
pub const SSCARD_E_BUFFER_TOO_SMALL: c_long = -1001;
/// sscard: internal error (a bug, caught before it could cross the C boundary).
pub const SSCARD_E_INTERNAL: c_long = -1002;
/// sscard: the configuration (environment or sscard.ini) has a bad value.
pub const SSCARD_E_CONFIG: c_long = -1003;
/// The buffer size the legacy (non-`_ex`) functions assume for each output buffer.
pub const SSCARD_LEGACY_BUFFER_LEN: usize = 1024;

/// A failed call: its return code and a message for pOutInfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The return code (negative).
    pub code: c_long,
    /// What went wrong, for a person at the counter and for a log.
    pub message: String,
}

impl Failure {
    /// A failure with this code and message.
    pub fn new(code: c_long, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// The result of an operation: the pOutInfo text, or a failure.
pub type Outcome<T> = Result<T, Failure>;

/// −SW in decimal (§4.5).
pub fn status_code(status: Status) -> c_long {
    -c_long::from(status.to_u16())
}

fn transport_code(kind: TransportErrorKind) -> c_long {
    match kind {
        TransportErrorKind::NoCard | TransportErrorKind::CardRemoved => SSCARD_E_NO_CARD,
        TransportErrorKind::CardReset => SSCARD_E_NOT_POWERED,
        TransportErrorKind::ReaderUnavailable => SSCARD_E_READER,
        _ => SSCARD_E_NOT_RESPONDING,
    }
}

/// The code and message of a card-side error.
pub fn from_read<E: TransportError + std::fmt::Display>(e: &ReadError<E>) -> Failure {
    let code = match e {
        ReadError::Card(
            Step::VerifyPin | Step::ChangePin,
            Status::VerificationFailed { tries_left },
        ) => {
            return Failure::new(
                SSCARD_E_PIN_WRONG,
                format!("密码错误，剩余次数:{tries_left} (wrong PIN, {tries_left} tries left)"),
            )
        }
        ReadError::Card(Step::VerifyPin | Step::ChangePin, Status::AuthenticationMethodBlocked) => {
            SSCARD_E_PIN_LOCKED
        }
        ReadError::Card(_, status) => status_code(*status),
        ReadError::Exchange(_, ExchangeError::Transport(t)) => transport_code(t.kind()),
        ReadError::Exchange(_, ExchangeError::Status(status)) => status_code(*status),
        ReadError::Exchange(..) => SSCARD_E_NOT_RESPONDING,
        ReadError::BadRecord(_) | ReadError::BadValue(..) => SSCARD_E_CARD_TYPE,
        ReadError::Address(_) => SSCARD_E_PARAM,
        ReadError::UnsupportedAlgorithm(_) => SSCARD_E_PSAM_ALGORITHM,
        _ => SSCARD_E_INTERNAL,
    };
    Failure::new(code, e.to_string())
}

/// A security module's failure: its own code.
pub trait ModuleCode {
    /// The return code for this failure.
    fn code(&self) -> c_long;
}

/// The code and message of an authenticated operation's error.
pub fn from_auth<E, M>(e: &AuthError<E, M>) -> Failure
where
    E: TransportError + std::fmt::Display,
    M: ModuleCode + std::fmt::Display,
{
    match e {
        AuthError::Card(e) => from_read(e),
        AuthError::Module(m) => Failure::new(m.code(), e.to_string()),
        AuthError::NotGenuine => Failure::new(SSCARD_E_INTERNAL_AUTH, e.to_string()),
        AuthError::BadPin => Failure::new(SSCARD_E_PIN_LENGTH, e.to_string()),
        _ => Failure::new(SSCARD_E_INTERNAL, e.to_string()),
    }
}

/// The code and message of an HSM step's error.
pub fn from_hsm<E: TransportError + std::fmt::Display>(e: &HsmError<E>) -> Failure {
    match e {
        HsmError::Card(e) => from_read(e),
        HsmError::NotRequired => Failure::new(SSCARD_E_HSM_NOT_REQUIRED, e.to_string()),
        HsmError::InternalAuthMismatch => Failure::new(SSCARD_E_HSM_MISMATCH, e.to_string()),
        _ => Failure::new(SSCARD_E_INTERNAL, e.to_string()),
    }
}

/// The code of a failed PIN HSM step.
pub fn from_pin_hsm<E: TransportError + std::fmt::Display>(e: &PinHsmError<E>) -> Failure {
    match e {
        PinHsmError::Card(e) => from_read(e),
        PinHsmError::OutOfOrder | PinHsmError::AnswerLength { .. } => {
            Failure::new(SSCARD_E_PARAM, e.to_string())
        }
        PinHsmError::Algorithm(_) => Failure::new(SSCARD_E_PSAM_ALGORITHM, e.to_string()),
        _ => Failure::new(SSCARD_E_INTERNAL, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_words_are_negative_decimal() {
        assert_eq!(status_code(Status::ReferencedDataNotFound), -27272);
        assert_eq!(status_code(Status::SecurityStatusNotSatisfied), -27010);
        assert_eq!(status_code(Status::ApplicationPermanentlyLocked), -37635);
        assert_eq!(
            status_code(Status::VerificationFailed { tries_left: 0 }),
            -25536
        );
    }
}
