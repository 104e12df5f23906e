//! The terminal-side transport: one method that moves one APDU to a card and its
//! response back. PC/SC readers, UART readers, the in-process emulator and the
//! kiosk firmware's link implement it; everything protocol-aware sits above, in
//! [`Exchange`](crate::Exchange).

use core::fmt;

/// What kind of failure a transport reports, independent of the backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The response buffer is too small; `needed` bytes are required.
    /// The command may already have executed on the card.
    BufferTooSmall {
        /// Bytes needed for the whole response.
        needed: usize,
    },
    /// No card is present.
    NoCard,
    /// The card was removed during the exchange.
    CardRemoved,
    /// The card was reset by someone else; volatile card state (selection,
    /// security status) is lost.
    CardReset,
    /// The reader or the reader service is unavailable.
    ReaderUnavailable,
    /// The card did not answer in time.
    Timeout,
    /// The link protocol failed (framing, checksum, parity).
    Protocol,
    /// Anything else.
    Other,
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { needed } => {
                write!(f, "response buffer too small ({needed} bytes needed)")
            }
            Self::NoCard => f.write_str("no card present"),
            Self::CardRemoved => f.write_str("card removed"),
            Self::CardReset => f.write_str("card was reset"),
            Self::ReaderUnavailable => f.write_str("reader unavailable"),
            Self::Timeout => f.write_str("card timed out"),
            Self::Protocol => f.write_str("link protocol error"),
            Self::Other => f.write_str("transport error"),
        }
    }
}

/// A transport's error type.
pub trait TransportError: fmt::Debug + fmt::Display {
    /// The backend-independent kind of this error.
    fn kind(&self) -> TransportErrorKind;
}

impl TransportError for TransportErrorKind {
    fn kind(&self) -> TransportErrorKind {
        *self
    }
}

/// Moves one command APDU to the card and its full response (data ‖ SW1 SW2) back.
pub trait Transport {
    /// The backend's error.
    type Error: TransportError;

    /// Sends `command` and writes the response into `response`, returning its length.
    fn transmit(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, Self::Error>;
}

impl<T: Transport + ?Sized> Transport for &mut T {
    type Error = T::Error;

    fn transmit(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, Self::Error> {
        (**self).transmit(command, response)
    }
}

/// How to reset a card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetKind {
    /// Power off and on.
    Cold,
    /// Reset with power kept.
    Warm,
}

/// A reader slot: a transport that can also reset the card and tell its ATR.
pub trait Reader: Transport {
    /// Writes the card's answer to reset into `atr`, returning its length.
    fn atr(&mut self, atr: &mut [u8]) -> Result<usize, Self::Error>;

    /// Resets the card; all volatile card state is lost.
    fn reset(&mut self, kind: ResetKind) -> Result<(), Self::Error>;
}

impl<T: Reader + ?Sized> Reader for &mut T {
    fn atr(&mut self, atr: &mut [u8]) -> Result<usize, Self::Error> {
        (**self).atr(atr)
    }

    fn reset(&mut self, kind: ResetKind) -> Result<(), Self::Error> {
        (**self).reset(kind)
    }
}
