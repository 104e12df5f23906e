//! APDU tracing with secrets redacted.
//!
//! A tracer never sees raw bytes: it gets [`TracedCommand`] and [`TracedResponse`],
//! whose only textual form is their `Display`, which hides the data field of commands
//! that carry PINs, PIN blocks, key material or authentication cryptograms, and the
//! response data of those commands.

use core::fmt;

use crate::hex::Hex;

/// Instructions whose command data (and response data) is never traced.
///
/// `20` VERIFY, `24` CHANGE / RELOAD PIN, `2C` RESET RETRY COUNTER, `5E` CHANGE PIN
/// (`80 5E`, `spec/sscard.md` §2.1), `82` EXTERNAL AUTHENTICATE, `86` GENERAL
/// AUTHENTICATE, `C4` PKI PIN hashing (`80 C4`, carries the PIN, §3.7), `D4`/`D8` key
/// loading, `FA` PSAM encrypt/MAC (its input can be a PIN block, §3.5).
pub const SENSITIVE_INS: [u8; 9] = [0x20, 0x24, 0x2C, 0x5E, 0x82, 0x86, 0xC4, 0xD4, 0xD8];
/// `FA`, the PSAM cipher instruction, which is sensitive too.
pub const PSAM_CIPHER_INS: u8 = 0xFA;

/// Whether a command with this INS carries secrets in its data field.
pub fn is_sensitive(ins: u8) -> bool {
    ins == PSAM_CIPHER_INS || SENSITIVE_INS.contains(&ins)
}

/// A command APDU as shown in a trace.
#[derive(Clone, Copy)]
pub struct TracedCommand<'a> {
    bytes: &'a [u8],
}

impl<'a> TracedCommand<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// INS, when the command has one.
    pub fn ins(&self) -> Option<u8> {
        self.bytes.get(1).copied()
    }

    /// Whether the data field is hidden in the trace.
    pub fn is_redacted(&self) -> bool {
        self.ins().is_some_and(is_sensitive) && self.bytes.len() > 5
    }
}

impl fmt::Display for TracedCommand<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.is_redacted() {
            return write!(f, "{}", Hex(self.bytes));
        }
        // Header and the first length byte stay visible; the rest is hidden.
        let (head, body) = self.bytes.split_at(self.bytes.len().min(5));
        write!(f, "{} <{} bytes redacted>", Hex(head), body.len())
    }
}

impl fmt::Debug for TracedCommand<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A response APDU as shown in a trace.
#[derive(Clone, Copy)]
pub struct TracedResponse<'a> {
    bytes: &'a [u8],
    redact: bool,
}

impl<'a> TracedResponse<'a> {
    pub(crate) fn new(bytes: &'a [u8], command: TracedCommand<'_>) -> Self {
        Self {
            bytes,
            redact: command.ins().is_some_and(is_sensitive),
        }
    }
}

impl fmt::Display for TracedResponse<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let split = self.bytes.len().saturating_sub(2);
        let (data, sw) = self.bytes.split_at(split);
        if self.redact && !data.is_empty() {
            write!(f, "<{} bytes redacted> {}", data.len(), Hex(sw))
        } else {
            write!(f, "{}", Hex(self.bytes))
        }
    }
}

impl fmt::Debug for TracedResponse<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Receives every APDU an [`Exchange`](crate::Exchange) sends and receives.
pub trait Trace {
    /// A command is about to be sent.
    fn command(&mut self, command: TracedCommand<'_>);
    /// A response arrived.
    fn response(&mut self, response: TracedResponse<'_>);
}

/// The tracer that discards everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoTrace;

impl Trace for NoTrace {
    fn command(&mut self, _: TracedCommand<'_>) {}
    fn response(&mut self, _: TracedResponse<'_>) {}
}

impl<T: Trace + ?Sized> Trace for &mut T {
    fn command(&mut self, command: TracedCommand<'_>) {
        (**self).command(command)
    }
    fn response(&mut self, response: TracedResponse<'_>) {
        (**self).response(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_hidden() {
        let verify = [0x00, 0x20, 0x00, 0x00, 0x03, 0x12, 0x34, 0x56];
        let text = format!("{}", TracedCommand::new(&verify));
        assert_eq!(text, "0020000003 <3 bytes redacted>");
        assert!(!text.contains("123456"));
        let reload = [0x84, 0x24, 0x00, 0x01, 0x02, 0xAB, 0xCD];
        assert!(!format!("{}", TracedCommand::new(&reload)).contains("ABCD"));
        let select = [0x00, 0xA4, 0x02, 0x00, 0x02, 0xEF, 0x05];
        assert_eq!(format!("{}", TracedCommand::new(&select)), "00A4020002EF05");
        let psam = [0x80, 0xFA, 0x00, 0x00, 0x01, 0x99, 0x90, 0x00];
        let cmd = TracedCommand::new(&psam[..6]);
        assert!(!format!("{cmd}").contains("99"));
        let resp = TracedResponse::new(&[0x11, 0x22, 0x90, 0x00], cmd);
        assert_eq!(format!("{resp}"), "<2 bytes redacted> 9000");
    }
}
