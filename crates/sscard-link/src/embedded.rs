//! [`CardIo`] and [`TerminalIo`] over embedded-hal 1.0 and embedded-io 0.6
//! (feature `embedded-io`): a UART with [`Read`], [`Write`] and [`ReadReady`], a
//! [`DelayNs`] for the waits, and optional RST and VCC [`OutputPin`]s.
//!
//! embedded-hal has no clock, so [`EmbeddedIo`] keeps time itself: it advances its
//! microsecond counter by every delay it makes and by the transmission time of what
//! it sends. Time spent elsewhere is not counted, so waits come out slightly longer
//! than nominal, never shorter. Receiving polls `read_ready` every
//! [`EmbeddedIo::with_poll_us`] microseconds (default: one character time).
//!
//! Changing the bit rate, guard time or convention is hardware specific: pass a
//! function with [`EmbeddedIo::with_reconfigure`]; it receives the UART and the new
//! [`LineConfig`]. A half-duplex single-wire UART that reads back its own
//! characters is handled with [`EmbeddedIo::with_echo`].
//!
//! UART read errors map onto [`IoErrorKind`]: `InvalidData` is a parity error,
//! `NotConnected`/`BrokenPipe`/`ConnectionReset` mean the card is gone, anything
//! else is [`IoErrorKind::Other`].

use core::convert::Infallible;

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType as PinErrorType, OutputPin};
use embedded_io::{Error as _, ErrorKind, Read, ReadReady, Write};
use sscard_apdu::ResetKind;

use crate::io::{CardIo, IoErrorKind, LineConfig, TerminalIo};

/// A pin that is not connected (readers with automatic activation, card side).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPin;

impl PinErrorType for NoPin {
    type Error = Infallible;
}

impl OutputPin for NoPin {
    fn set_low(&mut self) -> Result<(), Infallible> {
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// Reprograms the UART for new line parameters.
pub type Reconfigure<U> = fn(&mut U, &LineConfig) -> Result<(), IoErrorKind>;

/// Card I/O over an embedded UART. See the module docs.
#[derive(Debug)]
pub struct EmbeddedIo<U, D, RST = NoPin, VCC = NoPin> {
    uart: U,
    delay: D,
    rst: RST,
    vcc: VCC,
    now_us: u64,
    line: LineConfig,
    clock_hz: u32,
    poll_us: Option<u32>,
    echo: bool,
    reconfigure: Option<Reconfigure<U>>,
}

fn map_uart(kind: ErrorKind) -> IoErrorKind {
    match kind {
        ErrorKind::InvalidData => IoErrorKind::Parity,
        ErrorKind::NotConnected | ErrorKind::BrokenPipe | ErrorKind::ConnectionReset => {
            IoErrorKind::Closed
        }
        _ => IoErrorKind::Other,
    }
}

impl<U, D> EmbeddedIo<U, D>
where
    U: Read + Write + ReadReady,
    D: DelayNs,
{
    /// A UART and a delay at the reader's `clock_hz`, without RST and VCC pins.
    pub fn new(uart: U, delay: D, clock_hz: u32) -> Self {
        Self {
            uart,
            delay,
            rst: NoPin,
            vcc: NoPin,
            now_us: 0,
            line: LineConfig::initial(clock_hz),
            clock_hz,
            poll_us: None,
            echo: false,
            reconfigure: None,
        }
    }
}

impl<U, D, RST, VCC> EmbeddedIo<U, D, RST, VCC>
where
    U: Read + Write + ReadReady,
    D: DelayNs,
    RST: OutputPin,
    VCC: OutputPin,
{
    /// Adds the card's RST and VCC control pins (terminal side).
    pub fn with_pins<R: OutputPin, V: OutputPin>(self, rst: R, vcc: V) -> EmbeddedIo<U, D, R, V> {
        EmbeddedIo {
            uart: self.uart,
            delay: self.delay,
            rst,
            vcc,
            now_us: self.now_us,
            line: self.line,
            clock_hz: self.clock_hz,
            poll_us: self.poll_us,
            echo: self.echo,
            reconfigure: self.reconfigure,
        }
    }

    /// Sets the function that reprograms the UART on [`CardIo::configure`].
    pub fn with_reconfigure(mut self, f: Reconfigure<U>) -> Self {
        self.reconfigure = Some(f);
        self
    }

    /// The UART reads back what it sends (single-wire half duplex): drop the echo.
    pub fn with_echo(mut self, echo: bool) -> Self {
        self.echo = echo;
        self
    }

    /// Polls the UART every `poll_us` microseconds while receiving.
    pub fn with_poll_us(mut self, poll_us: u32) -> Self {
        self.poll_us = Some(poll_us.max(1));
        self
    }

    /// The line parameters last configured.
    pub fn line(&self) -> &LineConfig {
        &self.line
    }

    /// Gives the parts back.
    pub fn release(self) -> (U, D, RST, VCC) {
        (self.uart, self.delay, self.rst, self.vcc)
    }

    fn char_us(&self) -> u64 {
        self.line
            .timing
            .etus_us(u64::from(self.line.guard_etu))
            .max(1)
    }

    fn delay_us(&mut self, us: u64) {
        // In whole 2^32-µs rounds, then the rest: a loop of `u32::MAX` steps would be
        // turned into a 64-bit division by the optimiser (about 0.9 KB of flash).
        let rounds = u32::try_from(us >> 32).unwrap_or(u32::MAX);
        for _ in 0..rounds {
            self.delay.delay_us(u32::MAX);
            self.delay.delay_us(1);
        }
        self.delay
            .delay_us(u32::try_from(us & u64::from(u32::MAX)).unwrap_or(u32::MAX));
        self.now_us = self.now_us.saturating_add(us);
    }

    fn read_byte(&mut self) -> Result<Option<u8>, IoErrorKind> {
        if !self.uart.read_ready().map_err(|e| map_uart(e.kind()))? {
            return Ok(None);
        }
        let mut b = [0u8; 1];
        match self.uart.read(&mut b) {
            Ok(1) => Ok(b.first().copied()),
            Ok(_) => Err(IoErrorKind::Closed),
            Err(e) => Err(map_uart(e.kind())),
        }
    }

    fn drain_rx(&mut self) -> Result<(), IoErrorKind> {
        for _ in 0..1024 {
            match self.read_byte() {
                Ok(Some(_)) | Err(IoErrorKind::Parity) => {}
                Ok(None) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn pin<P: OutputPin>(result: Result<(), P::Error>) -> Result<(), IoErrorKind> {
        result.map_err(|_| IoErrorKind::Other)
    }
}

impl<U, D, RST, VCC> CardIo for EmbeddedIo<U, D, RST, VCC>
where
    U: Read + Write + ReadReady,
    D: DelayNs,
    RST: OutputPin,
    VCC: OutputPin,
{
    type Error = IoErrorKind;

    fn now_us(&mut self) -> u64 {
        self.now_us
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), IoErrorKind> {
        self.uart.write_all(bytes).map_err(|e| map_uart(e.kind()))?;
        self.uart.flush().map_err(|e| map_uart(e.kind()))?;
        let n = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.now_us = self.now_us.saturating_add(n.saturating_mul(self.char_us()));
        if self.echo {
            // Drop our own characters as they come back (each within two character
            // times of the previous one).
            let char_us = self.char_us();
            for _ in 0..bytes.len() {
                let deadline = self.now_us.saturating_add(2 * char_us);
                match self.receive(deadline) {
                    Ok(Some(_)) | Err(IoErrorKind::Parity) => {}
                    Ok(None) => break,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    fn receive(&mut self, deadline_us: u64) -> Result<Option<u8>, IoErrorKind> {
        let poll = self.poll_us.map_or_else(|| self.char_us(), u64::from);
        loop {
            if let Some(b) = self.read_byte()? {
                return Ok(Some(b));
            }
            if self.now_us >= deadline_us {
                return Ok(None);
            }
            let step = poll.min(deadline_us - self.now_us);
            self.delay_us(step);
        }
    }

    fn configure(&mut self, line: &LineConfig) -> Result<(), IoErrorKind> {
        self.line = *line;
        match self.reconfigure {
            Some(f) => f(&mut self.uart, line),
            None => Ok(()),
        }
    }

    fn wait_until(&mut self, deadline_us: u64) -> Result<(), IoErrorKind> {
        let us = deadline_us.saturating_sub(self.now_us);
        if deadline_us != u64::MAX {
            self.delay_us(us);
        }
        Ok(())
    }
}

impl<U, D, RST, VCC> TerminalIo for EmbeddedIo<U, D, RST, VCC>
where
    U: Read + Write + ReadReady,
    D: DelayNs,
    RST: OutputPin,
    VCC: OutputPin,
{
    /// Cold: RST low, VCC off for 10 ms, VCC on; warm: RST low. Then RST stays low
    /// for 40 000 clock cycles (§6.2: at least 400) before it goes high; stale
    /// received characters are dropped and the line returns to its initial values.
    fn reset(&mut self, kind: ResetKind) -> Result<(), IoErrorKind> {
        Self::pin::<RST>(self.rst.set_low())?;
        if kind == ResetKind::Cold {
            Self::pin::<VCC>(self.vcc.set_low())?;
            self.delay_us(10_000);
            Self::pin::<VCC>(self.vcc.set_high())?;
        }
        let line = LineConfig::initial(self.clock_hz);
        self.configure(&line)?;
        let hold = line.timing.atr_start_us();
        self.delay_us(hold);
        self.drain_rx()?;
        Self::pin::<RST>(self.rst.set_high())
    }

    fn deactivate(&mut self) -> Result<(), IoErrorKind> {
        Self::pin::<RST>(self.rst.set_low())?;
        Self::pin::<VCC>(self.vcc.set_low())
    }
}
