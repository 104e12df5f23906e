//! The terminal: [`Link`] activates the card, reads its ATR, selects protocol and
//! parameters (PPS), and runs T=0 or T=1 behind [`Transport`] and [`Reader`].

use sscard_apdu::{Reader, ResetKind, Transport};

use crate::atr::{Atr, AtrError, ATR_MAX};
use crate::error::{LinkError, T1Error};
use crate::io::{self, Convention, IoError, IoErrorKind, LineConfig, TerminalIo};
use crate::pps::{self, Pps, PpsError, ReaderLimits, PPS_MAX};
use crate::t0::{self, T0Config};
use crate::t1::terminal::{T1Config, T1Terminal};
use crate::t1::DEFAULT_IFSD;
use crate::timing::{self, Timing, DEFAULT_D, DEFAULT_F};
use crate::Protocol;

/// How the terminal sets up the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkConfig {
    /// Clock, fastest bit rate and largest D of the reader.
    pub limits: ReaderLimits,
    /// Negotiate with PPS (otherwise the card's first protocol at F = 372, D = 1).
    pub pps: bool,
    /// The protocol to ask for when the card offers several.
    pub prefer: Option<Protocol>,
    /// IFSD for T=1 (announced with S(IFS) when not 32).
    pub ifsd: u8,
    /// T=1: consecutive errors before resynchronising.
    pub retries: u8,
    /// T=1: S(RESYNCH) attempts.
    pub resync_attempts: u8,
    /// T=1: S(WTX) requests per command.
    pub max_wtx: u16,
    /// T=0: NULL bytes per command.
    pub max_nulls: u32,
}

impl LinkConfig {
    /// PPS on, IFSD 254, 3 retries, 3 resynchronisations, 64 WTX, 1000 NULLs.
    pub const fn new(limits: ReaderLimits) -> Self {
        Self {
            limits,
            pps: true,
            prefer: None,
            ifsd: 254,
            retries: 3,
            resync_attempts: 3,
            max_wtx: 64,
            max_nulls: 1000,
        }
    }

    /// Turns PPS on or off.
    pub const fn with_pps(mut self, pps: bool) -> Self {
        self.pps = pps;
        self
    }

    /// Prefers a protocol.
    pub const fn prefer(mut self, protocol: Protocol) -> Self {
        self.prefer = Some(protocol);
        self
    }

    /// Sets IFSD.
    pub const fn with_ifsd(mut self, ifsd: u8) -> Self {
        self.ifsd = ifsd;
        self
    }

    /// Sets the bounds of error recovery and waiting-time extensions.
    pub const fn with_bounds(
        mut self,
        retries: u8,
        resync_attempts: u8,
        max_wtx: u16,
        max_nulls: u32,
    ) -> Self {
        self.retries = retries;
        self.resync_attempts = resync_attempts;
        self.max_wtx = max_wtx;
        self.max_nulls = max_nulls;
        self
    }
}

impl Default for LinkConfig {
    /// A 3.5712 MHz clock, up to 115200 bit/s and D = 64.
    fn default() -> Self {
        Self::new(ReaderLimits::new(timing::DEFAULT_CLOCK_HZ, 115_200, 64))
    }
}

// No allocator to box the T=1 engine; a link holds exactly one session.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Session {
    T0(T0Config),
    T1(T1Terminal),
}

/// The terminal side of the link. See the module docs.
#[derive(Debug)]
pub struct Link<IO> {
    io: IO,
    cfg: LinkConfig,
    atr: Option<Atr>,
    session: Option<Session>,
    line: LineConfig,
    down: bool,
    flush: bool,
}

impl<IO: TerminalIo> Link<IO> {
    /// A link over `io`; the card is activated on first use or by
    /// [`Link::power_on`].
    pub fn new(io: IO, cfg: LinkConfig) -> Self {
        Self {
            io,
            cfg,
            atr: None,
            session: None,
            line: LineConfig::initial(cfg.limits.clock_hz),
            down: false,
            flush: false,
        }
    }

    /// The I/O.
    pub fn io(&mut self) -> &mut IO {
        &mut self.io
    }

    /// Gives the I/O back.
    pub fn into_io(self) -> IO {
        self.io
    }

    /// The card's ATR, once activated.
    pub fn atr(&self) -> Option<&Atr> {
        self.atr.as_ref()
    }

    /// The protocol in use, once activated.
    pub fn protocol(&self) -> Option<Protocol> {
        match self.session {
            Some(Session::T0(_)) => Some(Protocol::T0),
            Some(Session::T1(_)) => Some(Protocol::T1),
            None => None,
        }
    }

    /// The line parameters in force.
    pub fn line(&self) -> &LineConfig {
        &self.line
    }

    /// The T=1 engine, when T=1 runs.
    pub fn t1(&mut self) -> Option<&mut T1Terminal> {
        match &mut self.session {
            Some(Session::T1(t)) => Some(t),
            _ => None,
        }
    }

    /// Deactivates the card.
    pub fn power_off(&mut self) -> Result<(), LinkError> {
        self.session = None;
        self.atr = None;
        self.io.deactivate().map_err(|e| LinkError::Io(e.kind()))
    }

    /// Resets the card, reads the ATR, selects protocol and parameters and sets up
    /// the protocol engine. A card in specific mode (TA2) whose parameters the
    /// reader cannot run is warm-reset once if it says it can change mode.
    pub fn power_on(&mut self, kind: ResetKind) -> Result<Atr, LinkError> {
        match self.activate(kind, true) {
            Ok(atr) => Ok(atr),
            Err(e) => {
                self.session = None;
                self.down = true;
                Err(e)
            }
        }
    }

    fn activate(&mut self, kind: ResetKind, may_warm_reset: bool) -> Result<Atr, LinkError> {
        self.session = None;
        self.atr = None;
        self.down = true;
        self.flush = false;
        let clock_hz = self.cfg.limits.clock_hz;
        self.io.reset(kind).map_err(|e| LinkError::Io(e.kind()))?;
        self.line = LineConfig::initial(clock_hz);
        self.configure()?;
        let atr = self.read_atr()?;
        self.atr = Some(atr);
        let n = atr.extra_guard_time();
        let (protocol, f, d) = if let Some(mode) = atr.specific_mode() {
            let protocol = Protocol::from_t(mode.protocol).ok_or(LinkError::Unsupported)?;
            let (f, d) = if mode.implicit {
                (DEFAULT_F, DEFAULT_D)
            } else {
                (atr.fi_fmax()?.0, atr.di()?)
            };
            let fmax_ok = mode.implicit
                || atr
                    .fi_fmax()
                    .is_ok_and(|(_, fmax)| u64::from(clock_hz) <= u64::from(fmax) * 1000);
            if !fmax_ok || !self.cfg.limits.supports(f, d) {
                if mode.can_change && may_warm_reset {
                    return self.activate(ResetKind::Warm, false);
                }
                return Err(LinkError::Unsupported);
            }
            (protocol, f, d)
        } else {
            let sel = pps::select(&atr, &self.cfg.limits, self.cfg.prefer)?;
            if !self.cfg.pps {
                let first = Protocol::from_t(atr.first_protocol()).ok_or(LinkError::Unsupported)?;
                (first, DEFAULT_F, DEFAULT_D)
            } else if sel.needs_pps {
                let (f, d) = self.exchange_pps(&sel.request())?;
                (sel.protocol, f, d)
            } else {
                (sel.protocol, DEFAULT_F, DEFAULT_D)
            }
        };
        let timing = Timing::new(clock_hz, f, d, n);
        self.line = LineConfig::new(timing, self.line.convention, Some(protocol));
        self.configure()?;
        let session = match protocol {
            Protocol::T0 => {
                Session::T0(T0Config::from_atr(&atr, &timing)?.with_max_nulls(self.cfg.max_nulls))
            }
            Protocol::T1 => {
                let cfg = T1Config::from_atr(&atr, &timing)?
                    .with_ifsd(self.cfg.ifsd)
                    .with_retries(self.cfg.retries, self.cfg.resync_attempts, self.cfg.max_wtx);
                let mut t1 = T1Terminal::new(cfg);
                if cfg.ifsd != DEFAULT_IFSD {
                    t1.negotiate_ifsd(&mut self.io)?;
                }
                Session::T1(t1)
            }
        };
        self.session = Some(session);
        self.down = false;
        Ok(atr)
    }

    fn configure(&mut self) -> Result<(), LinkError> {
        self.io
            .configure(&self.line)
            .map_err(|e| LinkError::Io(e.kind()))
    }

    /// Reads the ATR: TS within 40 000 clock cycles (plus the initial waiting time),
    /// each further character within the initial waiting time, until the structure
    /// is complete (§8.1). TS `03` is the inverse convention's `3F` as a
    /// direct-convention receiver sees it: the line switches to inverse.
    fn read_atr(&mut self) -> Result<Atr, LinkError> {
        let timing = self.line.timing;
        let start = self.io.now_us();
        let first_deadline = start
            .saturating_add(timing.atr_start_us())
            .saturating_add(timing.initial_waiting_us());
        let ts = io::recv(&mut self.io, first_deadline)?.ok_or(LinkError::Timeout)?;
        let ts = match ts {
            0x3B => 0x3B,
            0x3F => {
                self.line.convention = Convention::Inverse;
                0x3F
            }
            0x03 => {
                self.line.convention = Convention::Inverse;
                self.configure()?;
                0x3F
            }
            _ => return Err(AtrError::InvalidTs.into()),
        };
        let mut buf = [0u8; ATR_MAX];
        if let Some(slot) = buf.first_mut() {
            *slot = ts;
        }
        let mut n = 1usize;
        loop {
            match Atr::parse(buf.get(..n).unwrap_or_default()) {
                Ok(atr) => return Ok(atr),
                Err(AtrError::Truncated) if n < ATR_MAX => {
                    let deadline = self.io.now_us().saturating_add(timing.initial_waiting_us());
                    let b = io::recv(&mut self.io, deadline)?
                        .ok_or(LinkError::Atr(AtrError::Truncated))?;
                    if let Some(slot) = buf.get_mut(n) {
                        *slot = b;
                    }
                    n += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Sends the PPS request and checks the response (§9.2, §9.3).
    fn exchange_pps(&mut self, request: &Pps) -> Result<(u16, u8), LinkError> {
        let timing = self.line.timing;
        let mut out = [0u8; PPS_MAX];
        let n = request.encode(&mut out);
        let at = self.io.now_us().saturating_add(timing.t0_turnaround_us());
        io::wait_until(&mut self.io, at)?;
        io::send(&mut self.io, out.get(..n).unwrap_or_default())?;
        let mut resp = [0u8; PPS_MAX];
        let mut got = 0usize;
        loop {
            let deadline = self.io.now_us().saturating_add(timing.initial_waiting_us());
            let Some(b) = io::recv(&mut self.io, deadline)? else {
                return Err(if got == 0 {
                    PpsError::NoResponse
                } else {
                    PpsError::Truncated
                }
                .into());
            };
            *resp.get_mut(got).ok_or(PpsError::TooLong)? = b;
            got += 1;
            if got >= 2
                && Pps::expected_len(resp.get(..got).unwrap_or_default())
                    .is_some_and(|len| got >= len)
            {
                break;
            }
            if got == 1 && b != 0xFF {
                return Err(PpsError::InvalidPpss.into());
            }
        }
        Ok(pps::check_response(
            request,
            resp.get(..got).unwrap_or_default(),
        )?)
    }

    /// Sends one command APDU and returns the response length (data ‖ SW1 SW2).
    pub fn transceive(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, LinkError> {
        if self.down {
            return Err(LinkError::LinkDown);
        }
        if self.session.is_none() {
            self.power_on(ResetKind::Cold)?;
        }
        if self.flush {
            // A failed T=0 command may leave characters on the line.
            let quiet = self
                .line
                .timing
                .char_us(Some(Protocol::T0))
                .saturating_mul(2);
            crate::t1::drain(&mut self.io, quiet)?;
            self.flush = false;
        }
        let result = match &mut self.session {
            Some(Session::T0(cfg)) => t0::transceive(&mut self.io, cfg, command, response),
            Some(Session::T1(t1)) => t1.transceive(&mut self.io, command, response),
            None => Err(LinkError::LinkDown),
        };
        match result {
            Err(LinkError::T1(T1Error::ResyncFailed))
            | Err(LinkError::Io(IoErrorKind::NoCard | IoErrorKind::Closed)) => self.down = true,
            Err(LinkError::BufferTooSmall { .. } | LinkError::InvalidCommand) => {}
            Err(_) if self.protocol() == Some(Protocol::T0) => self.flush = true,
            _ => {}
        }
        result
    }
}

impl<IO: TerminalIo> Transport for Link<IO> {
    type Error = LinkError;

    fn transmit(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, Self::Error> {
        self.transceive(command, response)
    }
}

impl<IO: TerminalIo> Reader for Link<IO> {
    fn atr(&mut self, atr: &mut [u8]) -> Result<usize, Self::Error> {
        if self.atr.is_none() {
            self.power_on(ResetKind::Cold)?;
        }
        let bytes = self.atr.as_ref().map(Atr::as_bytes).unwrap_or_default();
        let needed = bytes.len();
        atr.get_mut(..needed)
            .ok_or(LinkError::BufferTooSmall { needed })?
            .copy_from_slice(bytes);
        Ok(needed)
    }

    fn reset(&mut self, kind: ResetKind) -> Result<(), Self::Error> {
        self.power_on(kind).map(|_| ())
    }
}
