//! The card-side contract: a card (or one of its applications) is a deterministic
//! command handler. The same implementation answers in-process tests, the vpcd bridge
//! and the UART simulation; paging (`61xx`/GET RESPONSE) and chaining live in the
//! runtime around it, not in the handler.

use core::fmt;

use crate::{CommandView, Status};

/// The interface a command arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interface {
    /// ISO/IEC 7816-3 contacts.
    Contact,
    /// ISO/IEC 14443 contactless.
    Contactless,
}

/// The response data a handler writes, in a buffer owned by the runtime.
pub struct Reply<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> Reply<'b> {
    /// An empty reply over `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// Appends bytes; a reply larger than the runtime's buffer is the card's memory
    /// problem and answers `6F00`.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) -> Result<(), Status> {
        let end = self
            .len
            .checked_add(bytes.len())
            .ok_or(Status::UnspecifiedError)?;
        let dst = self
            .buf
            .get_mut(self.len..end)
            .ok_or(Status::UnspecifiedError)?;
        dst.copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    /// The bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// Number of bytes written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Discards what was written.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The buffer's capacity.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }
}

impl fmt::Debug for Reply<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reply({} bytes)", self.len)
    }
}

/// A whole card as seen from the terminal: answer to reset, reset, commands.
pub trait Card {
    /// The answer to reset.
    fn atr(&self) -> &[u8];

    /// Power-on or reset: a fresh card session. Clears selection and security state.
    fn reset(&mut self);

    /// Handles one complete command; on success the reply data goes with `9000`,
    /// on error the reply is discarded and the status is sent.
    fn process(
        &mut self,
        interface: Interface,
        command: &CommandView<'_>,
        reply: &mut Reply<'_>,
    ) -> Result<(), Status>;
}

impl<C: Card + ?Sized> Card for &mut C {
    fn atr(&self) -> &[u8] {
        (**self).atr()
    }
    fn reset(&mut self) {
        (**self).reset()
    }
    fn process(
        &mut self,
        interface: Interface,
        command: &CommandView<'_>,
        reply: &mut Reply<'_>,
    ) -> Result<(), Status> {
        (**self).process(interface, command, reply)
    }
}
