//! A [`Transport`](sscard_apdu::Transport) for UART smart-card readers of the
//! Phoenix/Smartmouse kind: the card's I/O contact on the UART's RX and TX (usually
//! one wire, so the reader hears its own characters), the card's RST on a modem
//! control line (RTS or DTR), and a fixed card clock on the reader board.
//!
//! # Layers
//!
//! * [`SerialIo`]: [`sscard_link::CardIo`] and [`sscard_link::TerminalIo`] over a
//!   [`serialport::SerialPort`]: characters with 8 data bits, even parity and two stop
//!   bits (the 12-ETU character of ISO/IEC 7816-3), the bit rate from the line's F, D
//!   and the reader's clock, the inverse convention converted in software, the echo of
//!   a single-wire reader dropped, and RST on the modem line [`ResetLine`] names.
//! * [`open`] / [`SerialReader`]: [`sscard_link::Link`] over it — ATR, PPS, T=0 or
//!   T=1 — so `sscard_apdu::Exchange` and everything above (`sscard-ssse`) run over
//!   a serial port unchanged.
//! * [`card::SerialCard`]: the other end, a [`sscard_link::CardIo`] for a card (or a
//!   card emulator) on a serial line; it learns of resets from a modem status line or
//!   from a signal (a pseudo-terminal has no modem lines).
//!
//! # Features
//!
//! None. `serialport` is used without its default `libudev` feature (port
//! enumeration with USB details), so building needs no `libudev-dev`.
//!
//! # Testing
//!
//! `tests/pty.rs` (Unix) opens a pseudo-terminal pair: `sscard_link::CardLink` with
//! the `sscard-emu` sample card serves on the master end through [`card::SerialCard`],
//! and the reader opens the slave by path with [`open`] and reads the basic
//! information with `sscard_ssse::read_basic`, over T=0 at 9600 bit/s and over T=1
//! after a PPS exchange, and once more with the card end writing every terminal
//! character back (a single-wire Phoenix line) to test the echo suppression. Resets
//! reach the card through a [`ResetLine::Hook`].
//!
//! Real readers are not tested in CI; timing on a real UART depends on the USB
//! latency of the adapter (the waiting times of ISO/IEC 7816-3 are long enough for
//! the usual 1–16 ms).

pub mod card;

use std::fmt;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use serialport::{ClearBuffer, DataBits, FlowControl, Parity, SerialPort, StopBits};
use sscard_apdu::ResetKind;
use sscard_link::io::{CardIo, Convention, IoError, IoErrorKind, LineConfig, TerminalIo};
use sscard_link::pps::ReaderLimits;
use sscard_link::{Link, LinkConfig};

/// A serial reader: the link layer over a serial port.
pub type SerialReader = Link<SerialIo>;

/// The longest single wait on the port; longer deadlines are waited in slices.
const MAX_SLICE: Duration = Duration::from_millis(500);

/// What a serial line operation failed with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SerialError {
    /// Opening or configuring the port failed.
    #[error("serial port: {0}")]
    Port(#[from] serialport::Error),
    /// Reading or writing failed.
    #[error("serial I/O: {0}")]
    Io(#[from] io::Error),
    /// The reset hook failed.
    #[error("reset line: {0}")]
    ResetHook(#[source] io::Error),
    /// The terminal reset the card (card side).
    #[error("reset by the terminal")]
    Reset,
    /// The port answered with nothing (end of file: the other end is gone).
    #[error("serial line closed")]
    Closed,
}

impl IoError for SerialError {
    fn kind(&self) -> IoErrorKind {
        match self {
            Self::Reset => IoErrorKind::Reset,
            Self::Closed => IoErrorKind::Closed,
            Self::Port(e) => match e.kind() {
                serialport::ErrorKind::NoDevice => IoErrorKind::Closed,
                serialport::ErrorKind::Io(kind) => io_kind(kind),
                _ => IoErrorKind::Other,
            },
            Self::Io(e) => io_kind(e.kind()),
            Self::ResetHook(_) => IoErrorKind::Other,
        }
    }
}

fn io_kind(kind: io::ErrorKind) -> IoErrorKind {
    match kind {
        io::ErrorKind::BrokenPipe
        | io::ErrorKind::NotConnected
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::UnexpectedEof => IoErrorKind::Closed,
        io::ErrorKind::InvalidData => IoErrorKind::Parity,
        _ => IoErrorKind::Other,
    }
}

/// A function told the level of RST: `true` while the card is held in reset.
pub type ResetHook = Box<dyn FnMut(bool) -> io::Result<()> + Send>;

/// Which modem control line drives the card's RST.
#[non_exhaustive]
pub enum ResetLine {
    /// RTS (Phoenix readers). `active_high`: asserting RTS holds the card in reset
    /// (true on most Phoenix boards; Smartmouse boards are the other way round).
    Rts {
        /// Whether RTS asserted means RST low (card in reset).
        active_high: bool,
    },
    /// DTR.
    Dtr {
        /// Whether DTR asserted means RST low (card in reset).
        active_high: bool,
    },
    /// No reset line (the reader resets the card itself, e.g. on a button).
    None,
    /// A function instead of a line: simulations and pseudo-terminals, which have no
    /// modem lines.
    Hook(ResetHook),
}

impl fmt::Debug for ResetLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rts { active_high } => write!(f, "Rts {{ active_high: {active_high} }}"),
            Self::Dtr { active_high } => write!(f, "Dtr {{ active_high: {active_high} }}"),
            Self::None => f.write_str("None"),
            Self::Hook(_) => f.write_str("Hook(..)"),
        }
    }
}

/// How a serial reader is wired and what it can do.
#[derive(Debug)]
#[non_exhaustive]
pub struct SerialConfig {
    /// The card clock on the reader board (3.579545 MHz on most Phoenix boards,
    /// 3.5712 MHz gives exactly 9600 bit/s at F = 372, D = 1).
    pub clock_hz: u32,
    /// The fastest bit rate the UART can run (limits PPS).
    pub max_baud: u32,
    /// The largest D to negotiate.
    pub max_d: u8,
    /// The RST line.
    pub reset: ResetLine,
    /// Single-wire I/O: the reader receives its own characters (true for Phoenix
    /// boards; false for a pseudo-terminal or a two-wire adapter).
    pub echo: bool,
    /// Extra slack added to every receive deadline for USB serial adapters that
    /// deliver characters in bursts (default 20 ms).
    pub latency: Duration,
}

impl SerialConfig {
    /// A Phoenix reader at `clock_hz`: RST on RTS (active high), echo on, up to
    /// 115200 bit/s with D ≤ 32, 20 ms latency slack.
    pub fn phoenix(clock_hz: u32) -> Self {
        Self {
            clock_hz,
            max_baud: 115_200,
            max_d: 32,
            reset: ResetLine::Rts { active_high: true },
            echo: true,
            latency: Duration::from_millis(20),
        }
    }

    /// Sets the reset line.
    pub fn with_reset(mut self, reset: ResetLine) -> Self {
        self.reset = reset;
        self
    }

    /// Turns echo suppression on or off.
    pub fn with_echo(mut self, echo: bool) -> Self {
        self.echo = echo;
        self
    }

    /// Sets the bit-rate limits.
    pub fn with_limits(mut self, max_baud: u32, max_d: u8) -> Self {
        self.max_baud = max_baud;
        self.max_d = max_d;
        self
    }

    /// Sets the latency slack.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// The reader limits for PPS.
    pub fn limits(&self) -> ReaderLimits {
        ReaderLimits::new(self.clock_hz, self.max_baud, self.max_d)
    }
}

/// Opens the serial reader at `path` (e.g. `/dev/ttyUSB0`) with the link layer on
/// top: the card is activated on first use or with `Link::power_on`. `link` is
/// usually `LinkConfig::new(cfg.limits())`.
pub fn open(path: &str, cfg: SerialConfig, link: LinkConfig) -> Result<SerialReader, SerialError> {
    let port = serialport::new(path, LineConfig::initial(cfg.clock_hz).baud())
        .data_bits(DataBits::Eight)
        .parity(Parity::Even)
        .stop_bits(StopBits::Two)
        .flow_control(FlowControl::None)
        .timeout(MAX_SLICE)
        .open()?;
    Ok(Link::new(SerialIo::new(port, cfg)?, link))
}

/// [`CardIo`] and [`TerminalIo`] over a serial port. See the crate docs.
pub struct SerialIo {
    port: Box<dyn SerialPort>,
    cfg: SerialConfig,
    line: LineConfig,
    epoch: Instant,
}

impl fmt::Debug for SerialIo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SerialIo")
            .field("port", &self.port.name())
            .field("cfg", &self.cfg)
            .field("line", &self.line)
            .finish()
    }
}

impl SerialIo {
    /// Wraps an open port and sets it to the initial line (8E2 at the clock's
    /// 372-ETU rate).
    pub fn new(port: Box<dyn SerialPort>, cfg: SerialConfig) -> Result<Self, SerialError> {
        let mut io = Self {
            port,
            line: LineConfig::initial(cfg.clock_hz),
            cfg,
            epoch: Instant::now(),
        };
        io.apply_line()?;
        Ok(io)
    }

    /// The port.
    pub fn port(&mut self) -> &mut dyn SerialPort {
        self.port.as_mut()
    }

    /// Gives the port back.
    pub fn into_port(self) -> Box<dyn SerialPort> {
        self.port
    }

    fn apply_line(&mut self) -> Result<(), SerialError> {
        self.port.set_data_bits(DataBits::Eight)?;
        self.port.set_parity(Parity::Even)?;
        self.port.set_stop_bits(StopBits::Two)?;
        self.port.set_flow_control(FlowControl::None)?;
        self.port.set_baud_rate(self.line.baud().max(1))?;
        Ok(())
    }

    fn char_us(&self) -> u64 {
        self.line
            .timing
            .etus_us(u64::from(self.line.guard_etu))
            .max(1)
    }

    fn set_rst(&mut self, in_reset: bool) -> Result<(), SerialError> {
        match &mut self.cfg.reset {
            ResetLine::Rts { active_high } => {
                self.port.write_request_to_send(in_reset == *active_high)?;
            }
            ResetLine::Dtr { active_high } => {
                self.port
                    .write_data_terminal_ready(in_reset == *active_high)?;
            }
            ResetLine::None => {}
            ResetLine::Hook(hook) => hook(in_reset).map_err(SerialError::ResetHook)?,
        }
        Ok(())
    }

    /// Reads one byte, waiting at most `wait`; `Ok(None)` on timeout.
    fn read_one(&mut self, wait: Duration) -> Result<Option<u8>, SerialError> {
        self.port
            .set_timeout(wait.max(Duration::from_micros(100)))?;
        let mut b = [0u8; 1];
        match self.port.read(&mut b) {
            Ok(0) => Err(SerialError::Closed),
            Ok(_) => Ok(b.first().copied()),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn to_line(&self, byte: u8) -> u8 {
        match self.line.convention {
            Convention::Direct => byte,
            Convention::Inverse => Convention::swap_byte(byte),
        }
    }

    fn sleep_until(&mut self, deadline_us: u64) {
        let now = self.now_us();
        if deadline_us > now && deadline_us != u64::MAX {
            std::thread::sleep(Duration::from_micros(deadline_us - now));
        }
    }
}

impl CardIo for SerialIo {
    type Error = SerialError;

    fn now_us(&mut self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), SerialError> {
        let extra_guard = u64::from(self.line.guard_etu.saturating_sub(12));
        if extra_guard == 0 {
            let out: Vec<u8> = bytes.iter().map(|&b| self.to_line(b)).collect();
            self.port.write_all(&out)?;
        } else {
            // Extra guard time (TC1) is longer than two stop bits: pace by hand.
            let pause = self.line.timing.etus_us(extra_guard);
            for &b in bytes {
                let c = self.to_line(b);
                self.port.write_all(&[c])?;
                self.port.flush()?;
                std::thread::sleep(Duration::from_micros(pause));
            }
        }
        self.port.flush()?;
        if self.cfg.echo {
            let n = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
            let deadline = self
                .now_us()
                .saturating_add(n.saturating_add(2).saturating_mul(self.char_us()))
                .saturating_add(u64::try_from(self.cfg.latency.as_micros()).unwrap_or(0));
            for _ in 0..bytes.len() {
                let left = deadline.saturating_sub(self.now_us());
                if self.read_one(Duration::from_micros(left))?.is_none() {
                    break;
                }
            }
        }
        Ok(())
    }

    fn receive(&mut self, deadline_us: u64) -> Result<Option<u8>, SerialError> {
        let slack = u64::try_from(self.cfg.latency.as_micros()).unwrap_or(0);
        let deadline = deadline_us.saturating_add(slack);
        loop {
            let now = self.now_us();
            if now >= deadline {
                return Ok(None);
            }
            let wait = Duration::from_micros(deadline - now).min(MAX_SLICE);
            if let Some(b) = self.read_one(wait)? {
                return Ok(Some(self.to_line(b)));
            }
        }
    }

    fn configure(&mut self, line: &LineConfig) -> Result<(), SerialError> {
        let baud_changed = line.baud() != self.line.baud();
        self.line = *line;
        if baud_changed {
            self.port.set_baud_rate(line.baud().max(1))?;
        }
        Ok(())
    }

    fn wait_until(&mut self, deadline_us: u64) -> Result<(), SerialError> {
        self.sleep_until(deadline_us);
        Ok(())
    }
}

impl TerminalIo for SerialIo {
    /// RST asserted for 40 000 clock cycles (power stays on: these readers do not
    /// switch VCC, so a cold reset is a warm one with a longer hold), stale input
    /// dropped, the line back at its initial values, RST released: the ATR follows.
    fn reset(&mut self, kind: ResetKind) -> Result<(), SerialError> {
        self.set_rst(true)?;
        self.line = LineConfig::initial(self.cfg.clock_hz);
        self.apply_line()?;
        let mut hold = self.line.timing.atr_start_us();
        if kind == ResetKind::Cold {
            hold = hold.saturating_add(10_000);
        }
        let until = self.now_us().saturating_add(hold);
        self.sleep_until(until);
        self.port.clear(ClearBuffer::Input)?;
        self.set_rst(false)
    }

    fn deactivate(&mut self) -> Result<(), SerialError> {
        self.set_rst(true)
    }
}
