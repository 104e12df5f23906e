//! The emulated card in process, behind the terminal's [`Transport`] and [`Reader`]
//! traits: the host stack runs against it exactly as against a PC/SC reader.

use sscard_apdu::applet::Card;
use sscard_apdu::{Reader, ResetKind, Transport, TransportError, TransportErrorKind};

use crate::runtime::Runtime;

/// Errors of the in-process reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatedReaderError {
    /// The response does not fit the caller's buffer (the command has executed).
    #[error("response buffer too small ({needed} bytes needed)")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
}

impl TransportError for EmulatedReaderError {
    fn kind(&self) -> TransportErrorKind {
        match self {
            Self::BufferTooSmall { needed } => {
                TransportErrorKind::BufferTooSmall { needed: *needed }
            }
        }
    }
}

/// A reader slot holding an emulated card.
#[derive(Debug)]
pub struct EmulatedReader<C> {
    runtime: Runtime<C>,
    out: Vec<u8>,
}

impl<C: Card> EmulatedReader<C> {
    /// Inserts the card (powered, fresh session).
    pub fn new(runtime: Runtime<C>) -> Self {
        Self {
            runtime,
            out: Vec::with_capacity(258),
        }
    }

    /// The card runtime.
    pub fn runtime(&mut self) -> &mut Runtime<C> {
        &mut self.runtime
    }
}

impl<C: Card> Transport for EmulatedReader<C> {
    type Error = EmulatedReaderError;

    fn transmit(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, Self::Error> {
        self.out.clear();
        self.runtime.handle(command, &mut self.out);
        let needed = self.out.len();
        let dst = response
            .get_mut(..needed)
            .ok_or(EmulatedReaderError::BufferTooSmall { needed })?;
        dst.copy_from_slice(&self.out);
        Ok(needed)
    }
}

impl<C: Card> Reader for EmulatedReader<C> {
    fn atr(&mut self, atr: &mut [u8]) -> Result<usize, Self::Error> {
        let src = self.runtime.atr();
        let needed = src.len();
        let dst = atr
            .get_mut(..needed)
            .ok_or(EmulatedReaderError::BufferTooSmall { needed })?;
        dst.copy_from_slice(src);
        Ok(needed)
    }

    fn reset(&mut self, _kind: ResetKind) -> Result<(), Self::Error> {
        self.runtime.reset();
        Ok(())
    }
}
