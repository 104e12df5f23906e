//! The terminal's protocol layer above a [`Transport`]: what every real terminal must
//! do, written once.
//!
//! * `61xx` → GET RESPONSE (`00 C0 00 00 xx`), repeated and concatenated until the card
//!   stops announcing more data (ISO/IEC 7816-4 §5.3.4; `spec/sscard.md` §2.1).
//! * `6Cxx` → the same command again with Le = `xx` (once per command).
//! * Commands shorter than four bytes are refused before they reach the transport
//!   (pcscd would otherwise pass a one-byte "APDU" to vpcd as a control message,
//!   `spec/pcsc-vpcd.md` §1.2).
//! * Every APDU goes to the [`Trace`] with PINs and keys redacted.

use core::fmt;

use crate::command::{CommandBuilder, CommandView, SHORT_COMMAND_MAX};
use crate::trace::{NoTrace, Trace, TracedCommand, TracedResponse};
use crate::transport::{Transport, TransportError, TransportErrorKind};
use crate::{Response, Status};

/// At most this many GET RESPONSE rounds follow one command (256 × 256 bytes covers
/// the largest extended response).
pub const MAX_GET_RESPONSE_ROUNDS: usize = 257;

/// Why an exchange failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExchangeError<E> {
    /// The transport failed.
    Transport(E),
    /// The command is shorter than the four-byte header; nothing was sent.
    CommandTooShort,
    /// The command could not be rebuilt for a `6Cxx` retry.
    Build(crate::command::BuildError),
    /// The card answered with fewer than two bytes.
    ResponseTooShort,
    /// The caller's response buffer cannot hold the data the card announced.
    BufferTooSmall {
        /// Bytes needed (data so far, announced data and the status word).
        needed: usize,
    },
    /// The card kept answering `61xx` beyond [`MAX_GET_RESPONSE_ROUNDS`].
    TooManyGetResponses,
    /// The card answered with a status other than `9000` where success was required.
    Status(Status),
}

impl<E: fmt::Display> fmt::Display for ExchangeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(e) => write!(f, "transport: {e}"),
            Self::CommandTooShort => f.write_str("command APDU shorter than 4 bytes not sent"),
            Self::Build(e) => write!(f, "command: {e}"),
            Self::ResponseTooShort => f.write_str("card answered with fewer than 2 bytes"),
            Self::BufferTooSmall { needed } => {
                write!(f, "response buffer too small ({needed} bytes needed)")
            }
            Self::TooManyGetResponses => f.write_str("card never stopped answering 61xx"),
            Self::Status(s) => write!(f, "card answered {s}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> core::error::Error for ExchangeError<E> {}

impl<E: TransportError> ExchangeError<E> {
    /// The transport error kind, if the transport failed.
    pub fn transport_kind(&self) -> Option<TransportErrorKind> {
        match self {
            Self::Transport(e) => Some(e.kind()),
            _ => None,
        }
    }
}

/// The protocol layer over a transport. See the module docs.
#[derive(Debug)]
pub struct Exchange<T, R = NoTrace> {
    transport: T,
    tracer: R,
}

impl<T: Transport> Exchange<T, NoTrace> {
    /// Wraps a transport without tracing.
    pub fn new(transport: T) -> Self {
        Self {
            transport,
            tracer: NoTrace,
        }
    }
}

impl<T: Transport, R: Trace> Exchange<T, R> {
    /// Wraps a transport with a tracer.
    pub fn with_tracer(transport: T, tracer: R) -> Self {
        Self { transport, tracer }
    }

    /// The transport.
    pub fn transport(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Gives the transport and tracer back.
    pub fn into_parts(self) -> (T, R) {
        (self.transport, self.tracer)
    }

    fn raw(
        &mut self,
        command: &[u8],
        response: &mut [u8],
    ) -> Result<usize, ExchangeError<T::Error>> {
        let traced = TracedCommand::new(command);
        self.tracer.command(traced);
        let n = self
            .transport
            .transmit(command, response)
            .map_err(ExchangeError::Transport)?;
        let got = response.get(..n).ok_or(ExchangeError::ResponseTooShort)?;
        self.tracer.response(TracedResponse::new(got, traced));
        if n < 2 {
            return Err(ExchangeError::ResponseTooShort);
        }
        Ok(n)
    }

    /// Sends a raw command APDU and returns the complete response, following `61xx`
    /// and `6Cxx`. Any final status is returned as is; see [`Exchange::transceive_ok`].
    pub fn transceive<'r>(
        &mut self,
        command: &[u8],
        response: &'r mut [u8],
    ) -> Result<Response<'r>, ExchangeError<T::Error>> {
        if command.len() < 4 {
            return Err(ExchangeError::CommandTooShort);
        }
        let mut n = self.raw(command, response)?;
        let mut status = status_at(response, n);
        if let Status::WrongLe(le) = status {
            if let Some(m) = self.resend_with_le(command, le, response)? {
                n = m;
                status = status_at(response, n);
            }
        }
        // Data received so far, without its status word.
        let mut have = n - 2;
        let mut rounds = 0;
        while let Status::MoreAvailable(avail) = status {
            rounds += 1;
            if rounds > MAX_GET_RESPONSE_ROUNDS {
                return Err(ExchangeError::TooManyGetResponses);
            }
            let ne = if avail == 0 { 256 } else { usize::from(avail) };
            let needed = have + ne + 2;
            let rest = response
                .get_mut(have..)
                .filter(|r| r.len() >= ne + 2)
                .ok_or(ExchangeError::BufferTooSmall { needed })?;
            let get_response = [0x00, 0xC0, 0x00, 0x00, avail];
            let mut m = self.raw(&get_response, rest)?;
            let mut st = status_at(rest, m);
            if let Status::WrongLe(le) = st {
                m = self.raw(&[0x00, 0xC0, 0x00, 0x00, le], rest)?;
                st = status_at(rest, m);
            }
            have += m - 2;
            status = st;
        }
        let data = response
            .get(..have)
            .ok_or(ExchangeError::ResponseTooShort)?;
        Ok(Response { data, status })
    }

    /// Like [`Exchange::transceive`], but a final status other than `9000` is an error.
    pub fn transceive_ok<'r>(
        &mut self,
        command: &[u8],
        response: &'r mut [u8],
    ) -> Result<&'r [u8], ExchangeError<T::Error>> {
        let r = self.transceive(command, response)?;
        r.success().map_err(ExchangeError::Status)
    }

    /// Builds a short command and sends it with [`Exchange::transceive`].
    pub fn send<'r>(
        &mut self,
        command: &CommandBuilder<'_>,
        response: &'r mut [u8],
    ) -> Result<Response<'r>, ExchangeError<T::Error>> {
        let mut buf = [0u8; SHORT_COMMAND_MAX];
        let n = command.write_into(&mut buf).map_err(ExchangeError::Build)?;
        let bytes = buf.get(..n).ok_or(ExchangeError::CommandTooShort)?;
        self.transceive(bytes, response)
    }

    fn resend_with_le(
        &mut self,
        command: &[u8],
        le: u8,
        response: &mut [u8],
    ) -> Result<Option<usize>, ExchangeError<T::Error>> {
        let view = match CommandView::parse(command) {
            Ok(v) if !v.is_extended() => v,
            // An extended or unparsable command cannot take a one-byte Le: the card's
            // answer stands.
            _ => return Ok(None),
        };
        let ne = if le == 0 { 256 } else { usize::from(le) };
        let mut buf = [0u8; SHORT_COMMAND_MAX];
        let n = view
            .to_builder()
            .le(ne)
            .write_into(&mut buf)
            .map_err(ExchangeError::Build)?;
        let bytes = buf.get(..n).ok_or(ExchangeError::CommandTooShort)?;
        self.raw(bytes, response).map(Some)
    }
}

fn status_at(response: &[u8], n: usize) -> Status {
    match response.get(n.saturating_sub(2)..n) {
        Some(&[sw1, sw2]) => Status::from_bytes(sw1, sw2),
        _ => Status::UnspecifiedError,
    }
}
