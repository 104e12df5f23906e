//! PC/SC readers (pcsc-lite, WinSCard, macOS PCSC) as sscard transports.
//!
//! # Layers
//!
//! A thin backend under `sscard-apdu`: [`PcscCard`] implements only
//! [`Transport`] and [`Reader`]; GET RESPONSE, `6Cxx`, tracing and everything else
//! protocol-aware is `sscard_apdu::Exchange`'s job.
//!
//! * [`Readers`] owns the PC/SC context and re-establishes it when the service
//!   reports `NoService`/`ServiceStopped` (after a pcscd restart an old context never
//!   recovers, though `is_valid()` still says it is fine: `spec/pcsc-vpcd.md` §3.1).
//! * [`PcscCard::disconnect`] takes an explicit disposition and gives the card back on
//!   failure; dropping a `PcscCard` leaves the card as it is (the `pcsc` crate's own
//!   `Drop` would reset it).
//!
//! # Features
//!
//! None. Linking: see the workspace `.cargo/config.toml` (`libpcsclite.so.1` is used
//! directly, so `libpcsclite-dev` is not needed to build).
//!
//! # Testing
//!
//! Needs a PC/SC service: `tools/e2e/` runs the CLI and this crate against a private
//! pcscd with the emulator in a vpcd slot; `examples/rtt.rs` is the round-trip
//! benchmark.

use std::ffi::CString;
use std::time::{Duration, Instant};

use sscard_apdu::{Reader, ResetKind, Transport, TransportError, TransportErrorKind};

pub use pcsc;
pub use pcsc::Disposition;

/// Errors of the PC/SC backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PcscError {
    /// The PC/SC service reported an error.
    #[error("PC/SC: {0}")]
    Pcsc(#[from] pcsc::Error),
    /// No reader is attached.
    #[error("no PC/SC reader found")]
    NoReaders,
    /// No reader has this name.
    #[error("no PC/SC reader named {name:?}")]
    UnknownReader {
        /// The name asked for.
        name: String,
    },
    /// No card arrived in time.
    #[error("no card present within {waited:?}")]
    NoCard {
        /// How long we waited.
        waited: Duration,
    },
    /// Several readers hold a card and none was named.
    #[error("cards in several readers ({count}); name one")]
    Ambiguous {
        /// Readers holding a card.
        count: usize,
    },
    /// The response does not fit the caller's buffer; the command has executed.
    #[error("response buffer too small ({needed} bytes needed)")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
}

impl TransportError for PcscError {
    fn kind(&self) -> TransportErrorKind {
        match self {
            Self::BufferTooSmall { needed } => {
                TransportErrorKind::BufferTooSmall { needed: *needed }
            }
            Self::NoCard { .. } => TransportErrorKind::NoCard,
            Self::NoReaders | Self::UnknownReader { .. } | Self::Ambiguous { .. } => {
                TransportErrorKind::ReaderUnavailable
            }
            Self::Pcsc(e) => match e {
                pcsc::Error::NoSmartcard => TransportErrorKind::NoCard,
                pcsc::Error::RemovedCard => TransportErrorKind::CardRemoved,
                pcsc::Error::ResetCard => TransportErrorKind::CardReset,
                pcsc::Error::Timeout => TransportErrorKind::Timeout,
                pcsc::Error::NoService
                | pcsc::Error::ServiceStopped
                | pcsc::Error::ReaderUnavailable
                | pcsc::Error::UnknownReader
                | pcsc::Error::NoReadersAvailable => TransportErrorKind::ReaderUnavailable,
                pcsc::Error::InsufficientBuffer => TransportErrorKind::BufferTooSmall { needed: 0 },
                pcsc::Error::CommError
                | pcsc::Error::ProtoMismatch
                | pcsc::Error::UnresponsiveCard => TransportErrorKind::Protocol,
                _ => TransportErrorKind::Other,
            },
        }
    }
}

fn is_service_gone(e: &pcsc::Error) -> bool {
    matches!(
        e,
        pcsc::Error::NoService | pcsc::Error::ServiceStopped | pcsc::Error::InvalidHandle
    )
}

/// The PC/SC reader list and connections, with a self-healing context.
pub struct Readers {
    ctx: Option<pcsc::Context>,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers")
            .field("established", &self.ctx.is_some())
            .finish()
    }
}

impl Readers {
    /// Connects to the PC/SC service (lazily: a missing service is reported by the
    /// first call that needs it).
    pub fn new() -> Self {
        Self { ctx: None }
    }

    fn context(&mut self) -> Result<&pcsc::Context, PcscError> {
        if self.ctx.is_none() {
            self.ctx = Some(pcsc::Context::establish(pcsc::Scope::User)?);
        }
        self.ctx
            .as_ref()
            .ok_or(PcscError::Pcsc(pcsc::Error::NoService))
    }

    /// Runs `f` with the context, re-establishing it once if the service went away.
    fn with_context<T>(
        &mut self,
        mut f: impl FnMut(&pcsc::Context) -> Result<T, pcsc::Error>,
    ) -> Result<T, PcscError> {
        match f(self.context()?) {
            Err(e) if is_service_gone(&e) => {
                self.ctx = None;
                Ok(f(self.context()?)?)
            }
            other => Ok(other?),
        }
    }

    /// The names of all readers (empty when none is attached).
    pub fn list(&mut self) -> Result<Vec<String>, PcscError> {
        let names = match self.with_context(|c| c.list_readers_owned()) {
            Err(PcscError::Pcsc(pcsc::Error::NoReadersAvailable)) => Vec::new(),
            other => other?,
        };
        Ok(names
            .into_iter()
            .map(|n| n.to_string_lossy().into_owned())
            .collect())
    }

    /// Readers that hold a card right now.
    pub fn with_card(&mut self) -> Result<Vec<String>, PcscError> {
        let names = self.list()?;
        if names.is_empty() {
            return Ok(names);
        }
        let mut states: Vec<pcsc::ReaderState> = names
            .iter()
            .filter_map(|n| CString::new(n.as_str()).ok())
            .map(|n| pcsc::ReaderState::new(n, pcsc::State::UNAWARE))
            .collect();
        self.with_context(|c| c.get_status_change(Duration::ZERO, &mut states))
            .or_else(|e| match e {
                PcscError::Pcsc(pcsc::Error::Timeout) => Ok(()),
                e => Err(e),
            })?;
        Ok(states
            .iter()
            .filter(|s| s.event_state().contains(pcsc::State::PRESENT))
            .map(|s| s.name().to_string_lossy().into_owned())
            .collect())
    }

    /// Waits until `reader` (or, with `None`, exactly one reader) holds a card and
    /// returns that reader's name.
    pub fn wait_for_card(
        &mut self,
        reader: Option<&str>,
        timeout: Duration,
    ) -> Result<String, PcscError> {
        let start = Instant::now();
        loop {
            let names = self.list()?;
            if names.is_empty() && reader.is_none() {
                return Err(PcscError::NoReaders);
            }
            if let Some(want) = reader {
                if !names.iter().any(|n| n == want) {
                    return Err(PcscError::UnknownReader { name: want.into() });
                }
            }
            let present = self.with_card()?;
            match reader {
                Some(want) if present.iter().any(|n| n == want) => return Ok(want.into()),
                None if present.len() == 1 => {
                    return present.into_iter().next().ok_or(PcscError::NoReaders)
                }
                None if present.len() > 1 => {
                    return Err(PcscError::Ambiguous {
                        count: present.len(),
                    })
                }
                _ => {}
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(PcscError::NoCard { waited });
            }
            std::thread::sleep(Duration::from_millis(50).min(timeout - waited));
        }
    }

    /// Connects to the card in `reader` (shared, T=0 or T=1).
    pub fn connect(&mut self, reader: &str) -> Result<PcscCard, PcscError> {
        let name = CString::new(reader).map_err(|_| PcscError::UnknownReader {
            name: reader.into(),
        })?;
        let card =
            self.with_context(|c| c.connect(&name, pcsc::ShareMode::Shared, pcsc::Protocols::ANY))?;
        let mut card = PcscCard {
            card: Some(card),
            reader: reader.into(),
            atr: Vec::new(),
        };
        card.refresh_atr()?;
        Ok(card)
    }
}

impl Default for Readers {
    fn default() -> Self {
        Self::new()
    }
}

/// A connected card.
pub struct PcscCard {
    /// `None` only after a successful `disconnect`, which consumes `self`.
    card: Option<pcsc::Card>,
    reader: String,
    atr: Vec<u8>,
}

impl std::fmt::Debug for PcscCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscCard")
            .field("reader", &self.reader)
            .finish()
    }
}

impl PcscCard {
    fn card(&self) -> Result<&pcsc::Card, PcscError> {
        self.card
            .as_ref()
            .ok_or(PcscError::Pcsc(pcsc::Error::InvalidHandle))
    }

    fn refresh_atr(&mut self) -> Result<(), PcscError> {
        let status = self.card()?.status2_owned()?;
        self.atr = status.atr().to_vec();
        Ok(())
    }

    /// The reader's name.
    pub fn reader(&self) -> &str {
        &self.reader
    }

    /// The ATR read at connect (or at the last reset).
    pub fn cached_atr(&self) -> &[u8] {
        &self.atr
    }

    /// Disconnects with `disposition`; on failure the card is given back.
    pub fn disconnect(mut self, disposition: Disposition) -> Result<(), (Self, PcscError)> {
        let Some(card) = self.card.take() else {
            return Ok(());
        };
        match card.disconnect(disposition) {
            Ok(()) => Ok(()),
            Err((card, e)) => {
                self.card = Some(card);
                Err((self, e.into()))
            }
        }
    }
}

impl Drop for PcscCard {
    fn drop(&mut self) {
        // Leave the card as it is; the `pcsc` crate would reset it.
        if let Some(card) = self.card.take() {
            let _ = card.disconnect(Disposition::LeaveCard);
        }
    }
}

impl Transport for PcscCard {
    type Error = PcscError;

    fn transmit(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, Self::Error> {
        // Right after a card is inserted, pcscd (seen with vpcd) can refuse the first
        // transmit with SCARD_E_NOT_TRANSACTED while the reader driver finishes the
        // power-up. The command never reached the card, so sending it once more is safe;
        // any other error is reported as is.
        let mut retried = false;
        loop {
            match self.card()?.transmit2(command, response) {
                Ok(r) => return Ok(r.len()),
                Err((pcsc::Error::InsufficientBuffer, needed)) => {
                    return Err(PcscError::BufferTooSmall { needed })
                }
                Err((pcsc::Error::NotTransacted, _)) if !retried => {
                    retried = true;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }
}

impl Reader for PcscCard {
    fn atr(&mut self, atr: &mut [u8]) -> Result<usize, Self::Error> {
        let needed = self.atr.len();
        let dst = atr
            .get_mut(..needed)
            .ok_or(PcscError::BufferTooSmall { needed })?;
        dst.copy_from_slice(&self.atr);
        Ok(needed)
    }

    fn reset(&mut self, kind: ResetKind) -> Result<(), Self::Error> {
        let init = match kind {
            ResetKind::Cold => Disposition::UnpowerCard,
            ResetKind::Warm => Disposition::ResetCard,
        };
        let card = self
            .card
            .as_mut()
            .ok_or(PcscError::Pcsc(pcsc::Error::InvalidHandle))?;
        card.reconnect(pcsc::ShareMode::Shared, pcsc::Protocols::ANY, init)?;
        self.refresh_atr()
    }
}
