//! The card's end of a serial line: [`SerialCard`] is a [`CardIo`] for
//! `sscard_link::CardLink`, so a card emulator can answer a terminal over a UART or a
//! pseudo-terminal.
//!
//! A card learns of a reset from its RST contact. On a serial line that is a modem
//! status input wired to the terminal's RST output ([`ResetInput::Line`]); a
//! pseudo-terminal has no modem lines, so there the terminal's
//! [`ResetLine::Hook`](crate::ResetLine::Hook) sends the level through a channel
//! ([`ResetInput::Signal`]).

use std::fmt;
use std::io::{Read, Write};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use serialport::{ClearBuffer, SerialPort};
use sscard_link::io::{CardIo, Convention, LineConfig};

use crate::SerialError;

/// A modem status input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModemInput {
    /// Clear to send.
    Cts,
    /// Data set ready.
    Dsr,
    /// Carrier detect.
    Cd,
}

/// Where the card sees its RST contact.
#[non_exhaustive]
pub enum ResetInput {
    /// A modem status input; `active_high`: the input asserted means RST low.
    Line {
        /// The input.
        input: ModemInput,
        /// Whether asserted means "in reset".
        active_high: bool,
    },
    /// Levels sent by the terminal side (`true`: in reset).
    Signal(Receiver<bool>),
}

impl fmt::Debug for ResetInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Line { input, active_high } => f
                .debug_struct("Line")
                .field("input", input)
                .field("active_high", active_high)
                .finish(),
            Self::Signal(_) => f.write_str("Signal(..)"),
        }
    }
}

/// How often the reset input is looked at while receiving.
const POLL: Duration = Duration::from_millis(2);

/// A card on a serial line. See the module docs.
pub struct SerialCard {
    port: Box<dyn SerialPort>,
    reset: ResetInput,
    in_reset: bool,
    convention: Convention,
    epoch: Instant,
}

impl fmt::Debug for SerialCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SerialCard")
            .field("port", &self.port.name())
            .field("reset", &self.reset)
            .field("in_reset", &self.in_reset)
            .finish()
    }
}

impl SerialCard {
    /// A card on `port`, resets seen on `reset`. The card is unpowered until the
    /// first reset.
    pub fn new(port: Box<dyn SerialPort>, reset: ResetInput) -> Self {
        Self {
            port,
            reset,
            in_reset: false,
            convention: Convention::Direct,
            epoch: Instant::now(),
        }
    }

    /// Gives the port back.
    pub fn into_port(self) -> Box<dyn SerialPort> {
        self.port
    }

    /// Looks at the RST input; `Err(Reset)` once RST is released after a reset.
    fn check_reset(&mut self, block: bool) -> Result<(), SerialError> {
        loop {
            let level = match &mut self.reset {
                ResetInput::Line { input, active_high } => {
                    let asserted = match input {
                        ModemInput::Cts => self.port.read_clear_to_send()?,
                        ModemInput::Dsr => self.port.read_data_set_ready()?,
                        ModemInput::Cd => self.port.read_carrier_detect()?,
                    };
                    Some(asserted == *active_high)
                }
                ResetInput::Signal(rx) => {
                    let mut last = None;
                    loop {
                        match rx.try_recv() {
                            Ok(level) => {
                                last = Some(level);
                                if level {
                                    // Remember the reset even if it is released
                                    // in the same batch.
                                    self.in_reset = true;
                                }
                            }
                            Err(TryRecvError::Empty) => break,
                            Err(TryRecvError::Disconnected) => {
                                return Err(SerialError::Closed);
                            }
                        }
                    }
                    last
                }
            };
            if let Some(level) = level {
                if level {
                    self.in_reset = true;
                } else if self.in_reset {
                    self.in_reset = false;
                    self.port.clear(ClearBuffer::Input)?;
                    return Err(SerialError::Reset);
                }
            }
            if !(block && self.in_reset) {
                return Ok(());
            }
            std::thread::sleep(POLL);
        }
    }
}

impl CardIo for SerialCard {
    type Error = SerialError;

    fn now_us(&mut self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), SerialError> {
        let out: Vec<u8> = match self.convention {
            Convention::Direct => bytes.to_vec(),
            Convention::Inverse => bytes.iter().map(|&b| Convention::swap_byte(b)).collect(),
        };
        self.port.write_all(&out)?;
        self.port.flush()?;
        Ok(())
    }

    fn receive(&mut self, deadline_us: u64) -> Result<Option<u8>, SerialError> {
        loop {
            self.check_reset(true)?;
            let now = self.now_us();
            if now >= deadline_us {
                return Ok(None);
            }
            let wait = Duration::from_micros(deadline_us - now).min(POLL);
            self.port.set_timeout(wait)?;
            let mut b = [0u8; 1];
            match self.port.read(&mut b) {
                Ok(0) => return Err(SerialError::Closed),
                Ok(_) => {
                    let c = b.first().copied().unwrap_or_default();
                    return Ok(Some(match self.convention {
                        Convention::Direct => c,
                        Convention::Inverse => Convention::swap_byte(c),
                    }));
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn configure(&mut self, line: &LineConfig) -> Result<(), SerialError> {
        self.convention = line.convention;
        if self.port.baud_rate()? != line.baud() {
            self.port.set_baud_rate(line.baud().max(1))?;
        }
        Ok(())
    }

    fn wait_until(&mut self, deadline_us: u64) -> Result<(), SerialError> {
        loop {
            self.check_reset(false)?;
            let now = self.now_us();
            if now >= deadline_us || deadline_us == u64::MAX {
                return Ok(());
            }
            std::thread::sleep(Duration::from_micros(deadline_us - now).min(POLL));
        }
    }
}
