//! Why a transaction ended early, and the errors the kernel returns.

use core::fmt;

use sscard_apdu::TransportErrorKind;
use sscard_emv::Tag;

/// The kernel step a card answer belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// SELECT of PSE, PPSE or an application.
    Select,
    /// READ RECORD of the PSE directory.
    Directory,
    /// GET PROCESSING OPTIONS.
    Gpo,
    /// READ RECORD of the AFL.
    ReadRecord,
    /// GET DATA.
    GetData,
    /// INTERNAL AUTHENTICATE.
    InternalAuthenticate,
    /// VERIFY.
    Verify,
    /// First GENERATE AC.
    FirstGenerateAc,
    /// Second GENERATE AC.
    SecondGenerateAc,
    /// EXTERNAL AUTHENTICATE.
    ExternalAuthenticate,
    /// An issuer-script command.
    Script,
}

/// Why the kernel terminated a transaction (the card or its data broke a rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Termination {
    /// No candidate application was left.
    NoApplication,
    /// The card answered `6A81` to SELECT (card blocked).
    CardBlocked,
    /// The card answered an unexpected status word.
    CardStatus {
        /// Where.
        step: Step,
        /// The status word.
        sw: u16,
    },
    /// A response did not have the required format.
    Malformed {
        /// Where.
        step: Step,
    },
    /// A mandatory data object (5A, 5F24, 8C, 8D) is missing.
    MissingMandatory(Tag),
    /// A data object was returned twice by the card.
    DuplicateTag(Tag),
    /// The AFL is empty or malformed.
    BadAfl,
    /// The card answered `6A83` for a record the AFL lists.
    RecordNotFound {
        /// Short file identifier.
        sfi: u8,
        /// Record number.
        record: u8,
    },
    /// The card returned a cryptogram of a higher type than requested.
    CryptogramHigherThanRequested,
    /// The cryptogram information data is reserved (`C0`) or missing.
    InvalidCid,
    /// qPBOC: the card asks for the contact interface (CTQ) or the PDOL has no TTQ.
    UseContactInterface,
    /// qPBOC: the amount reaches the contactless transaction limit (DF20).
    ContactlessLimitExceeded,
}

impl fmt::Display for Termination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoApplication => f.write_str("no mutually supported application"),
            Self::CardBlocked => f.write_str("card blocked (6A81)"),
            Self::CardStatus { step, sw } => write!(f, "card answered {sw:04X} at {step:?}"),
            Self::Malformed { step } => write!(f, "malformed card response at {step:?}"),
            Self::MissingMandatory(t) => write!(f, "mandatory data object {t} missing"),
            Self::DuplicateTag(t) => write!(f, "data object {t} returned twice"),
            Self::BadAfl => f.write_str("AFL empty or malformed"),
            Self::RecordNotFound { sfi, record } => {
                write!(
                    f,
                    "record {record} of SFI {sfi} listed in the AFL not found"
                )
            }
            Self::CryptogramHigherThanRequested => {
                f.write_str("card returned a higher cryptogram than requested")
            }
            Self::InvalidCid => f.write_str("invalid cryptogram information data"),
            Self::UseContactInterface => f.write_str("use the contact interface"),
            Self::ContactlessLimitExceeded => f.write_str("contactless transaction limit reached"),
        }
    }
}

/// A kernel failure that is not a card decision: the reader or the command encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KernelError {
    /// The transport failed.
    Transport(TransportErrorKind),
    /// A command could not be encoded (data longer than a short APDU allows).
    Command,
    /// A reader helper (no transaction outcome to end) got a response that broke the
    /// exchange rules (fewer than 2 bytes, endless `61xx`, oversized).
    MalformedResponse,
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(k) => write!(f, "transport: {k}"),
            Self::Command => f.write_str("command could not be encoded"),
            Self::MalformedResponse => f.write_str("malformed card response"),
        }
    }
}

impl core::error::Error for KernelError {}

/// Internal control flow: end the transaction (card decision) or fail (reader).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    End(Termination),
    Fail(KernelError),
}

impl From<KernelError> for Stop {
    fn from(e: KernelError) -> Self {
        Self::Fail(e)
    }
}

impl From<Termination> for Stop {
    fn from(t: Termination) -> Self {
        Self::End(t)
    }
}
