//! Errors of the link layer: one small `Copy` enum per concern, gathered in
//! [`LinkError`], which maps onto [`sscard_apdu::TransportErrorKind`].

use core::fmt;

use sscard_apdu::{TransportError, TransportErrorKind};

use crate::atr::AtrError;
use crate::io::IoErrorKind;
use crate::pps::PpsError;

/// Why a T=0 exchange failed (ISO/IEC 7816-3 §10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum T0Error {
    /// INS `6x` or `9x` cannot be sent over T=0 (§10.3.2): the card would read it
    /// as a status byte.
    InvalidIns(u8),
    /// The card sent a byte that is no procedure byte for this command.
    UnexpectedProcedureByte(u8),
    /// The card asked for or offered more data than the TPDU carries.
    TooMuchData,
    /// The card kept sending NULL (`60`) bytes beyond the configured limit.
    TooManyNullBytes,
}

impl fmt::Display for T0Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidIns(ins) => write!(f, "INS {ins:02X} cannot be sent over T=0"),
            Self::UnexpectedProcedureByte(b) => write!(f, "unexpected procedure byte {b:02X}"),
            Self::TooMuchData => f.write_str("card transferred more data than the TPDU holds"),
            Self::TooManyNullBytes => f.write_str("card kept sending NULL procedure bytes"),
        }
    }
}

impl core::error::Error for T0Error {}

/// Why a T=1 exchange failed (ISO/IEC 7816-3 §11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum T1Error {
    /// Error recovery failed, the link was resynchronised with S(RESYNCH): the link
    /// works again, but the command's outcome is unknown (it may have executed).
    Resynchronised,
    /// Error recovery and every S(RESYNCH) attempt failed; the card must be reset.
    ResyncFailed,
    /// The peer aborted the chain with S(ABORT).
    Aborted,
    /// The card asked for more time (S(WTX)) more often than the configured limit.
    TooManyWtx,
    /// S(IFS) negotiation failed.
    IfsNegotiation,
    /// The card's chained response exceeded the largest APDU response.
    ChainTooLong,
    /// An empty command cannot be sent.
    EmptyCommand,
}

impl fmt::Display for T1Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Resynchronised => "T=1 link resynchronised; the command's outcome is unknown",
            Self::ResyncFailed => "T=1 resynchronisation failed; reset the card",
            Self::Aborted => "T=1 chain aborted",
            Self::TooManyWtx => "card requested waiting time extension too often",
            Self::IfsNegotiation => "T=1 information field size negotiation failed",
            Self::ChainTooLong => "T=1 chained response too long",
            Self::EmptyCommand => "empty command",
        })
    }
}

impl core::error::Error for T1Error {}

/// Any failure of the link layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkError {
    /// The byte-level I/O failed.
    Io(IoErrorKind),
    /// The card (or terminal) did not answer within the waiting time.
    Timeout,
    /// The answer to reset is malformed or unusable.
    Atr(AtrError),
    /// Protocol and parameter selection failed.
    Pps(PpsError),
    /// The T=0 exchange failed.
    T0(T0Error),
    /// The T=1 exchange failed.
    T1(T1Error),
    /// The caller's buffer is too small; `needed` bytes are required.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
    /// The command cannot be carried by the selected protocol (for T=0: not a short
    /// command APDU).
    InvalidCommand,
    /// The card offers no protocol or parameters this link supports.
    Unsupported,
    /// An earlier failure left the link unusable: reset the card.
    LinkDown,
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(k) => write!(f, "I/O: {k}"),
            Self::Timeout => f.write_str("no answer within the waiting time"),
            Self::Atr(e) => write!(f, "ATR: {e}"),
            Self::Pps(e) => write!(f, "PPS: {e}"),
            Self::T0(e) => write!(f, "T=0: {e}"),
            Self::T1(e) => write!(f, "T=1: {e}"),
            Self::BufferTooSmall { needed } => {
                write!(f, "buffer too small ({needed} bytes needed)")
            }
            Self::InvalidCommand => f.write_str("command cannot be carried by this protocol"),
            Self::Unsupported => f.write_str("no supported protocol or parameters"),
            Self::LinkDown => f.write_str("link down; reset the card"),
        }
    }
}

impl core::error::Error for LinkError {}

impl From<AtrError> for LinkError {
    fn from(e: AtrError) -> Self {
        Self::Atr(e)
    }
}

impl From<PpsError> for LinkError {
    fn from(e: PpsError) -> Self {
        Self::Pps(e)
    }
}

impl From<T0Error> for LinkError {
    fn from(e: T0Error) -> Self {
        Self::T0(e)
    }
}

impl From<T1Error> for LinkError {
    fn from(e: T1Error) -> Self {
        Self::T1(e)
    }
}

impl TransportError for LinkError {
    fn kind(&self) -> TransportErrorKind {
        match self {
            Self::Io(IoErrorKind::NoCard) => TransportErrorKind::NoCard,
            Self::Io(IoErrorKind::Reset) => TransportErrorKind::CardReset,
            Self::Io(IoErrorKind::Closed) => TransportErrorKind::ReaderUnavailable,
            Self::Timeout => TransportErrorKind::Timeout,
            Self::BufferTooSmall { needed } => {
                TransportErrorKind::BufferTooSmall { needed: *needed }
            }
            Self::Io(_)
            | Self::Atr(_)
            | Self::Pps(_)
            | Self::T0(_)
            | Self::T1(_)
            | Self::LinkDown => TransportErrorKind::Protocol,
            Self::InvalidCommand | Self::Unsupported => TransportErrorKind::Other,
        }
    }
}
