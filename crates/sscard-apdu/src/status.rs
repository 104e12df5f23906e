//! Status words (SW1 SW2), losslessly.
//!
//! Every `u16` maps to exactly one [`Status`] and back: the named variants cover the
//! status words of `spec/sscard.md` §2.2 plus the ISO 7816-4 words a terminal meets
//! in practice, and [`Status::Other`] carries everything else. [`Status::from_u16`]
//! never produces `Other` for a word that has a named variant, so
//! `Status::from_u16(x).to_u16() == x` for every `x`.

use core::fmt;

/// A status word, as sent by a card in the last two bytes of a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// `9000`: normal processing.
    Success,
    /// `61xx`: `xx` more bytes available with GET RESPONSE (`00` means 256).
    MoreAvailable(u8),
    /// `6281`: part of the returned data may be corrupted.
    DataMayBeCorrupted,
    /// `6282`: end of file or record reached before Le bytes were read.
    EndOfFileReached,
    /// `63Cx`: verification (PIN or key) failed, `x` tries left.
    VerificationFailed {
        /// Remaining tries, 0 to 15.
        tries_left: u8,
    },
    /// `6581`: memory failure.
    MemoryFailure,
    /// `6700`: wrong length (Lc or Le inconsistent with the command).
    WrongLength,
    /// `6881`: logical channel not supported.
    LogicalChannelNotSupported,
    /// `6882`: secure messaging not supported.
    SecureMessagingNotSupported,
    /// `6981`: command incompatible with the file structure.
    IncompatibleFileStructure,
    /// `6982`: security status not satisfied.
    SecurityStatusNotSatisfied,
    /// `6983`: authentication method (PIN or key) blocked.
    AuthenticationMethodBlocked,
    /// `6984`: referenced data invalid (e.g. no challenge before EXTERNAL AUTHENTICATE).
    ReferencedDataInvalid,
    /// `6985`: conditions of use not satisfied.
    ConditionsOfUseNotSatisfied,
    /// `6986`: command not allowed (no current EF).
    CommandNotAllowedNoCurrentEf,
    /// `6988`: secure messaging data object incorrect (MAC wrong).
    SecureMessagingDataIncorrect,
    /// `6A80`: incorrect data field.
    WrongData,
    /// `6A81`: function not supported (or application locked).
    FunctionNotSupported,
    /// `6A82`: file or application not found.
    FileNotFound,
    /// `6A83`: record not found.
    RecordNotFound,
    /// `6A84`: not enough memory space in the file.
    NotEnoughMemory,
    /// `6A86`: incorrect P1 or P2.
    IncorrectP1P2,
    /// `6A87`: Lc inconsistent with P1/P2.
    LcInconsistentWithP1P2,
    /// `6A88`: referenced data (key) not found.
    ReferencedDataNotFound,
    /// `6B00`: wrong parameters P1/P2 (offset outside the EF).
    WrongP1P2,
    /// `6Cxx`: wrong Le; `xx` is the exact length available (`00` means 256).
    WrongLe(u8),
    /// `6D00`: instruction not supported.
    InstructionNotSupported,
    /// `6E00`: class not supported.
    ClassNotSupported,
    /// `6F00`: no precise diagnosis.
    UnspecifiedError,
    /// `9303`: application permanently locked.
    ApplicationPermanentlyLocked,
    /// Any other status word.
    Other(u16),
}

impl Status {
    /// The status word for `SW1 SW2` as a big-endian `u16`.
    pub const fn from_u16(sw: u16) -> Self {
        let [sw1, sw2] = sw.to_be_bytes();
        match (sw1, sw2) {
            (0x90, 0x00) => Self::Success,
            (0x61, n) => Self::MoreAvailable(n),
            (0x62, 0x81) => Self::DataMayBeCorrupted,
            (0x62, 0x82) => Self::EndOfFileReached,
            (0x63, n) if n & 0xF0 == 0xC0 => Self::VerificationFailed {
                tries_left: n & 0x0F,
            },
            (0x65, 0x81) => Self::MemoryFailure,
            (0x67, 0x00) => Self::WrongLength,
            (0x68, 0x81) => Self::LogicalChannelNotSupported,
            (0x68, 0x82) => Self::SecureMessagingNotSupported,
            (0x69, 0x81) => Self::IncompatibleFileStructure,
            (0x69, 0x82) => Self::SecurityStatusNotSatisfied,
            (0x69, 0x83) => Self::AuthenticationMethodBlocked,
            (0x69, 0x84) => Self::ReferencedDataInvalid,
            (0x69, 0x85) => Self::ConditionsOfUseNotSatisfied,
            (0x69, 0x86) => Self::CommandNotAllowedNoCurrentEf,
            (0x69, 0x88) => Self::SecureMessagingDataIncorrect,
            (0x6A, 0x80) => Self::WrongData,
            (0x6A, 0x81) => Self::FunctionNotSupported,
            (0x6A, 0x82) => Self::FileNotFound,
            (0x6A, 0x83) => Self::RecordNotFound,
            (0x6A, 0x84) => Self::NotEnoughMemory,
            (0x6A, 0x86) => Self::IncorrectP1P2,
            (0x6A, 0x87) => Self::LcInconsistentWithP1P2,
            (0x6A, 0x88) => Self::ReferencedDataNotFound,
            (0x6B, 0x00) => Self::WrongP1P2,
            (0x6C, n) => Self::WrongLe(n),
            (0x6D, 0x00) => Self::InstructionNotSupported,
            (0x6E, 0x00) => Self::ClassNotSupported,
            (0x6F, 0x00) => Self::UnspecifiedError,
            (0x93, 0x03) => Self::ApplicationPermanentlyLocked,
            _ => Self::Other(sw),
        }
    }

    /// The status word as a big-endian `u16`.
    pub const fn to_u16(self) -> u16 {
        match self {
            Self::Success => 0x9000,
            Self::MoreAvailable(n) => 0x6100 | n as u16,
            Self::DataMayBeCorrupted => 0x6281,
            Self::EndOfFileReached => 0x6282,
            Self::VerificationFailed { tries_left } => 0x63C0 | (tries_left & 0x0F) as u16,
            Self::MemoryFailure => 0x6581,
            Self::WrongLength => 0x6700,
            Self::LogicalChannelNotSupported => 0x6881,
            Self::SecureMessagingNotSupported => 0x6882,
            Self::IncompatibleFileStructure => 0x6981,
            Self::SecurityStatusNotSatisfied => 0x6982,
            Self::AuthenticationMethodBlocked => 0x6983,
            Self::ReferencedDataInvalid => 0x6984,
            Self::ConditionsOfUseNotSatisfied => 0x6985,
            Self::CommandNotAllowedNoCurrentEf => 0x6986,
            Self::SecureMessagingDataIncorrect => 0x6988,
            Self::WrongData => 0x6A80,
            Self::FunctionNotSupported => 0x6A81,
            Self::FileNotFound => 0x6A82,
            Self::RecordNotFound => 0x6A83,
            Self::NotEnoughMemory => 0x6A84,
            Self::IncorrectP1P2 => 0x6A86,
            Self::LcInconsistentWithP1P2 => 0x6A87,
            Self::ReferencedDataNotFound => 0x6A88,
            Self::WrongP1P2 => 0x6B00,
            Self::WrongLe(n) => 0x6C00 | n as u16,
            Self::InstructionNotSupported => 0x6D00,
            Self::ClassNotSupported => 0x6E00,
            Self::UnspecifiedError => 0x6F00,
            Self::ApplicationPermanentlyLocked => 0x9303,
            Self::Other(sw) => sw,
        }
    }

    /// The status word from `SW1`, `SW2`.
    pub const fn from_bytes(sw1: u8, sw2: u8) -> Self {
        Self::from_u16(u16::from_be_bytes([sw1, sw2]))
    }

    /// `[SW1, SW2]`.
    pub const fn to_bytes(self) -> [u8; 2] {
        self.to_u16().to_be_bytes()
    }

    /// `true` for `9000`.
    pub const fn is_success(self) -> bool {
        matches!(self, Self::Success)
    }

    /// `true` for the warning class `62xx`/`63xx` (processing completed, NV memory may have changed).
    pub const fn is_warning(self) -> bool {
        matches!(self.to_bytes()[0], 0x62 | 0x63)
    }

    /// A short English description, as used in traces and error messages.
    pub const fn description(self) -> &'static str {
        match self {
            Self::Success => "normal processing",
            Self::MoreAvailable(_) => "more response data available (GET RESPONSE)",
            Self::DataMayBeCorrupted => "part of the returned data may be corrupted",
            Self::EndOfFileReached => "end of file or record reached before Le bytes",
            Self::VerificationFailed { .. } => "verification failed",
            Self::MemoryFailure => "memory failure",
            Self::WrongLength => "wrong length",
            Self::LogicalChannelNotSupported => "logical channel not supported",
            Self::SecureMessagingNotSupported => "secure messaging not supported",
            Self::IncompatibleFileStructure => "command incompatible with file structure",
            Self::SecurityStatusNotSatisfied => "security status not satisfied",
            Self::AuthenticationMethodBlocked => "authentication method blocked",
            Self::ReferencedDataInvalid => "referenced data invalid",
            Self::ConditionsOfUseNotSatisfied => "conditions of use not satisfied",
            Self::CommandNotAllowedNoCurrentEf => "command not allowed (no current EF)",
            Self::SecureMessagingDataIncorrect => "secure messaging data object incorrect",
            Self::WrongData => "incorrect data field",
            Self::FunctionNotSupported => "function not supported",
            Self::FileNotFound => "file or application not found",
            Self::RecordNotFound => "record not found",
            Self::NotEnoughMemory => "not enough memory space in the file",
            Self::IncorrectP1P2 => "incorrect P1 or P2",
            Self::LcInconsistentWithP1P2 => "Lc inconsistent with P1/P2",
            Self::ReferencedDataNotFound => "referenced data not found",
            Self::WrongP1P2 => "wrong parameters P1/P2",
            Self::WrongLe(_) => "wrong Le",
            Self::InstructionNotSupported => "instruction not supported",
            Self::ClassNotSupported => "class not supported",
            Self::UnspecifiedError => "no precise diagnosis",
            Self::ApplicationPermanentlyLocked => "application permanently locked",
            Self::Other(_) => "unnamed status word",
        }
    }
}

impl From<u16> for Status {
    fn from(sw: u16) -> Self {
        Self::from_u16(sw)
    }
}

impl From<Status> for u16 {
    fn from(status: Status) -> Self {
        status.to_u16()
    }
}

impl From<[u8; 2]> for Status {
    fn from([sw1, sw2]: [u8; 2]) -> Self {
        Self::from_bytes(sw1, sw2)
    }
}

impl From<Status> for [u8; 2] {
    fn from(status: Status) -> Self {
        status.to_bytes()
    }
}

impl From<(u8, u8)> for Status {
    fn from((sw1, sw2): (u8, u8)) -> Self {
        Self::from_bytes(sw1, sw2)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X} ({})", self.to_u16(), self.description())
    }
}

impl core::error::Error for Status {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_u16_round_trips() {
        for sw in 0..=u16::MAX {
            assert_eq!(Status::from_u16(sw).to_u16(), sw, "{sw:04X}");
        }
    }

    #[test]
    fn named_words_are_never_other() {
        for sw in [
            0x9000u16, 0x6110, 0x63C3, 0x6581, 0x6700, 0x6981, 0x6982, 0x6983, 0x6984, 0x6985,
            0x6986, 0x6988, 0x6A80, 0x6A81, 0x6A82, 0x6A83, 0x6A86, 0x6A88, 0x6C0B, 0x6E00, 0x6D00,
            0x9303,
        ] {
            assert!(
                !matches!(Status::from_u16(sw), Status::Other(_)),
                "{sw:04X}"
            );
        }
        assert_eq!(
            Status::from_u16(0x63C2),
            Status::VerificationFailed { tries_left: 2 }
        );
        assert_eq!(Status::from_u16(0x6C0B), Status::WrongLe(0x0B));
        assert_eq!(Status::from_u16(0x63C2).to_bytes(), [0x63, 0xC2]);
        // 63 00 is not a counter word.
        assert_eq!(Status::from_u16(0x6300), Status::Other(0x6300));
    }

    #[test]
    fn display_names_the_word() {
        let text = format!("{}", Status::FileNotFound);
        assert!(text.starts_with("6A82"), "{text}");
    }
}
