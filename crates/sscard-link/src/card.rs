//! The card: [`CardLink`] answers resets with its ATR, answers PPS requests, and
//! runs T=0 or T=1 to deliver command APDUs to a [`CardHandler`] and carry its
//! responses back.

use crate::atr::Atr;
use crate::error::LinkError;
use crate::io::{self, CardIo, IoError, IoErrorKind, LineConfig};
use crate::pps::{self, Pps, PPS_MAX};
use crate::t0::{Direction, T0Card, T0CardConfig, T0Command};
use crate::t1::card::{T1Card, T1CardConfig};
use crate::timing::Timing;
use crate::Protocol;

/// What the card side has to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardEvent {
    /// The terminal reset the card and the ATR went out: clear volatile state.
    Reset,
    /// A command APDU of this length is in the caller's buffer: answer it with
    /// [`CardLink::respond`].
    Command(usize),
}

/// An applet runtime behind the card link: C-APDU bytes in, R-APDU bytes out.
pub trait CardHandler {
    /// The card was reset.
    fn reset(&mut self);

    /// Handles one command APDU, writing the response (data ‖ SW1 SW2) into
    /// `response` and returning its length.
    fn handle(&mut self, command: &[u8], response: &mut [u8]) -> usize;
}

/// How the card runs its link.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct CardConfig {
    /// The clock the terminal gives the card (for waiting times in microseconds).
    pub clock_hz: u32,
    /// Whether a T=0 command's data flows in or out, from its header.
    pub classify: fn(&[u8; 5]) -> Direction,
    /// T=0: acknowledge data one byte at a time.
    pub single_byte_acks: bool,
    /// T=0: NULL bytes sent before each answer.
    pub nulls_before_answer: u8,
    /// Answer PPS requests (otherwise stay silent, which fails the terminal's PPS).
    pub accept_pps: bool,
}

fn iso_direction(header: &[u8; 5]) -> Direction {
    let [cla, ins, ..] = *header;
    Direction::of_ins(cla, ins)
}

impl CardConfig {
    /// Classification by [`Direction::of_ins`], block ACKs, no NULLs, PPS accepted.
    pub const fn new(clock_hz: u32) -> Self {
        Self {
            clock_hz,
            classify: iso_direction,
            single_byte_acks: false,
            nulls_before_answer: 0,
            accept_pps: true,
        }
    }

    /// Sets the T=0 acknowledgement style and NULL bytes.
    pub const fn with_t0_style(mut self, single_byte_acks: bool, nulls_before_answer: u8) -> Self {
        self.single_byte_acks = single_byte_acks;
        self.nulls_before_answer = nulls_before_answer;
        self
    }

    /// Sets the T=0 direction classifier.
    pub const fn with_classifier(mut self, classify: fn(&[u8; 5]) -> Direction) -> Self {
        self.classify = classify;
        self
    }

    /// Turns the PPS responder on or off.
    pub const fn with_pps(mut self, accept: bool) -> Self {
        self.accept_pps = accept;
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for the terminal's reset.
    Unpowered,
    /// The ATR went out; a PPS request may come.
    AfterAtr,
    /// The protocol runs.
    Ready,
}

/// The card side of the link. See the module docs.
#[derive(Debug)]
pub struct CardLink<IO> {
    io: IO,
    atr: Atr,
    cfg: CardConfig,
    state: State,
    protocol: Protocol,
    line: LineConfig,
    t0: T0Card,
    t1: T1Card,
    pending: Option<u8>,
    last_t0: Option<T0Command>,
}

/// The I/O with one character pushed back (the first character after the ATR,
/// read to tell a PPS request from a command).
struct Pushback<'a, IO> {
    io: &'a mut IO,
    pending: &'a mut Option<u8>,
}

impl<IO: CardIo> CardIo for Pushback<'_, IO> {
    type Error = IO::Error;

    fn now_us(&mut self) -> u64 {
        self.io.now_us()
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), Self::Error> {
        self.io.send(bytes)
    }

    fn receive(&mut self, deadline_us: u64) -> Result<Option<u8>, Self::Error> {
        match self.pending.take() {
            Some(b) => Ok(Some(b)),
            None => self.io.receive(deadline_us),
        }
    }

    fn configure(&mut self, line: &LineConfig) -> Result<(), Self::Error> {
        self.io.configure(line)
    }

    fn wait_until(&mut self, deadline_us: u64) -> Result<(), Self::Error> {
        self.io.wait_until(deadline_us)
    }
}

impl<IO: CardIo> CardLink<IO> {
    /// A card with this ATR over `io`, waiting for the terminal's reset.
    pub fn new(io: IO, atr: Atr, cfg: CardConfig) -> Result<Self, LinkError> {
        let timing = Timing::initial(cfg.clock_hz).with_n(atr.extra_guard_time());
        let protocol = default_protocol(&atr)?;
        Ok(Self {
            io,
            atr,
            cfg,
            state: State::Unpowered,
            protocol,
            line: LineConfig::initial(cfg.clock_hz),
            t0: T0Card::new(t0_config(&atr, &timing, &cfg)?),
            t1: T1Card::new(T1CardConfig::from_atr(&atr, &timing)?),
            pending: None,
            last_t0: None,
        })
    }

    /// The I/O.
    pub fn io(&mut self) -> &mut IO {
        &mut self.io
    }

    /// Gives the I/O back.
    pub fn into_io(self) -> IO {
        self.io
    }

    /// The protocol in use (the default one until a PPS exchange).
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The line parameters in force.
    pub fn line(&self) -> &LineConfig {
        &self.line
    }

    /// The T=1 engine (for S(WTX)/S(IFS) requests and the negotiated IFSD).
    pub fn t1(&mut self) -> &mut T1Card {
        &mut self.t1
    }

    fn configure(&mut self) -> Result<(), LinkError> {
        self.io
            .configure(&self.line)
            .map_err(|e| LinkError::Io(e.kind()))
    }

    /// Answers a reset: initial line, ATR, engines back to their start.
    fn answer_reset(&mut self) -> Result<CardEvent, LinkError> {
        let timing = Timing::initial(self.cfg.clock_hz).with_n(self.atr.extra_guard_time());
        self.line = LineConfig::initial(self.cfg.clock_hz);
        self.line.convention = self.atr.convention();
        self.configure()?;
        self.protocol = default_protocol(&self.atr)?;
        self.set_engines(timing)?;
        self.pending = None;
        self.last_t0 = None;
        self.state = State::AfterAtr;
        io::send(&mut self.io, self.atr.as_bytes())?;
        if let Some(mode) = self.atr.specific_mode() {
            // Specific mode (TA2): no PPS; TA1's F and D apply at once unless implicit.
            if !mode.implicit {
                let f = self.atr.fi_fmax()?.0;
                let d = self.atr.di()?;
                let timing = Timing::new(self.cfg.clock_hz, f, d, self.atr.extra_guard_time());
                self.line = LineConfig::new(timing, self.line.convention, Some(self.protocol));
                self.configure()?;
                self.set_engines(timing)?;
            }
            self.state = State::Ready;
        }
        Ok(CardEvent::Reset)
    }

    fn set_engines(&mut self, timing: Timing) -> Result<(), LinkError> {
        self.t0 = T0Card::new(t0_config(&self.atr, &timing, &self.cfg)?);
        self.t1 = T1Card::new(T1CardConfig::from_atr(&self.atr, &timing)?);
        Ok(())
    }

    /// Waits for the next event: a reset (the ATR is sent here) or a complete
    /// command in `apdu`. PPS requests are answered on the way.
    pub fn next_event(&mut self, apdu: &mut [u8]) -> Result<CardEvent, LinkError> {
        loop {
            let result = self.step(apdu);
            match result {
                Err(LinkError::Io(IoErrorKind::Reset)) => return self.answer_reset(),
                Ok(Some(event)) => return Ok(event),
                Ok(None) => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn step(&mut self, apdu: &mut [u8]) -> Result<Option<CardEvent>, LinkError> {
        match self.state {
            State::Unpowered => {
                // Anything before a reset is noise.
                io::recv(&mut self.io, u64::MAX)?;
                Ok(None)
            }
            State::AfterAtr => {
                let Some(first) = io::recv(&mut self.io, u64::MAX)? else {
                    return Ok(None);
                };
                if first == 0xFF {
                    self.answer_pps()?;
                } else {
                    self.pending = Some(first);
                    self.state = State::Ready;
                }
                Ok(None)
            }
            State::Ready => {
                let mut pio = Pushback {
                    io: &mut self.io,
                    pending: &mut self.pending,
                };
                match self.protocol {
                    Protocol::T0 => {
                        let cmd =
                            self.t0
                                .receive_command(&mut pio, apdu, self.cfg.classify, u64::MAX)?;
                        self.last_t0 = Some(cmd);
                        Ok(Some(CardEvent::Command(cmd.len)))
                    }
                    Protocol::T1 => {
                        let n = self.t1.receive_command(&mut pio, apdu, u64::MAX)?;
                        Ok(Some(CardEvent::Command(n)))
                    }
                }
            }
        }
    }

    /// Reads the rest of a PPS request, answers it (or stays silent) and switches
    /// the line.
    fn answer_pps(&mut self) -> Result<(), LinkError> {
        let timing = self.line.timing;
        let mut req = [0u8; PPS_MAX];
        if let Some(slot) = req.first_mut() {
            *slot = 0xFF;
        }
        let mut got = 1usize;
        loop {
            let deadline = self.io.now_us().saturating_add(timing.initial_waiting_us());
            let Some(b) = io::recv(&mut self.io, deadline)? else {
                return Ok(());
            };
            let Some(slot) = req.get_mut(got) else {
                return Ok(());
            };
            *slot = b;
            got += 1;
            if Pps::expected_len(req.get(..got).unwrap_or_default()).is_some_and(|len| got >= len) {
                break;
            }
        }
        let Ok(request) = Pps::parse(req.get(..got).unwrap_or_default()) else {
            // An erroneous request gets no answer (§9.3); the terminal resets.
            return Ok(());
        };
        let Some(answer) = pps::respond(&request, &self.atr).filter(|_| self.cfg.accept_pps) else {
            return Ok(());
        };
        let Some(protocol) = Protocol::from_t(answer.protocol) else {
            return Ok(());
        };
        let (f, d) = match answer.pps1 {
            Some(fi_di) => pps::fi_di_values(fi_di)?,
            None => (crate::timing::DEFAULT_F, crate::timing::DEFAULT_D),
        };
        let mut out = [0u8; PPS_MAX];
        let n = answer.encode(&mut out);
        let at = self.io.now_us().saturating_add(timing.t0_turnaround_us());
        io::wait_until(&mut self.io, at)?;
        io::send(&mut self.io, out.get(..n).unwrap_or_default())?;
        let timing = Timing::new(self.cfg.clock_hz, f, d, self.atr.extra_guard_time());
        self.protocol = protocol;
        self.line = LineConfig::new(timing, self.line.convention, Some(protocol));
        self.configure()?;
        self.set_engines(timing)?;
        self.state = State::Ready;
        Ok(())
    }

    /// Sends the answer to the last command.
    pub fn respond(&mut self, response: &[u8]) -> Result<(), LinkError> {
        let result = match self.protocol {
            Protocol::T0 => match self.last_t0.take() {
                Some(cmd) => self.t0.send_response(&mut self.io, &cmd, response),
                None => Err(LinkError::InvalidCommand),
            },
            Protocol::T1 => self.t1.send_response(&mut self.io, response),
        };
        if let Err(LinkError::Io(IoErrorKind::Reset)) = result {
            self.answer_reset()?;
        }
        result
    }

    /// Asks for more time: a NULL byte (T=0) or S(WTX) with multiplier 1 (T=1).
    pub fn more_time(&mut self) -> Result<(), LinkError> {
        match self.protocol {
            Protocol::T0 => self.t0.send_null(&mut self.io),
            Protocol::T1 => self.t1.request_wtx(&mut self.io, 1),
        }
    }

    /// T=1: asks for `multiplier` × BWT (S(WTX)); T=0: sends a NULL byte.
    pub fn request_wtx(&mut self, multiplier: u8) -> Result<(), LinkError> {
        match self.protocol {
            Protocol::T0 => self.t0.send_null(&mut self.io),
            Protocol::T1 => self.t1.request_wtx(&mut self.io, multiplier),
        }
    }

    /// T=1: announces a new IFSC (S(IFS)). Not available over T=0.
    pub fn request_ifs(&mut self, ifsc: u8) -> Result<(), LinkError> {
        match self.protocol {
            Protocol::T0 => Err(LinkError::Unsupported),
            Protocol::T1 => self.t1.request_ifs(&mut self.io, ifsc),
        }
    }

    /// Runs the card: events go to `handler` until the I/O fails for good (the
    /// returned error). Commands too long for `apdu` are answered `6700`.
    pub fn serve<H: CardHandler + ?Sized>(
        &mut self,
        handler: &mut H,
        apdu: &mut [u8],
        response: &mut [u8],
    ) -> LinkError {
        loop {
            match self.next_event(apdu) {
                Ok(CardEvent::Reset) => handler.reset(),
                Ok(CardEvent::Command(n)) => {
                    let command = apdu.get(..n).unwrap_or_default();
                    let m = handler.handle(command, response).min(response.len());
                    match self.respond(response.get(..m).unwrap_or_default()) {
                        Ok(()) => {}
                        Err(LinkError::Io(kind)) if kind != IoErrorKind::Reset => {
                            return LinkError::Io(kind)
                        }
                        Err(LinkError::Io(IoErrorKind::Reset)) => handler.reset(),
                        Err(_) => {}
                    }
                }
                Err(LinkError::BufferTooSmall { .. }) => {
                    if let Err(LinkError::Io(kind)) = self.respond(&[0x67, 0x00]) {
                        if kind != IoErrorKind::Reset {
                            return LinkError::Io(kind);
                        }
                        handler.reset();
                    }
                }
                Err(LinkError::Io(kind)) => return LinkError::Io(kind),
                // Protocol trouble: the engines are back in their idle state.
                Err(_) => {}
            }
        }
    }
}

fn default_protocol(atr: &Atr) -> Result<Protocol, LinkError> {
    let t = atr
        .specific_mode()
        .map_or(atr.first_protocol(), |m| m.protocol);
    Protocol::from_t(t).ok_or(LinkError::Unsupported)
}

fn t0_config(atr: &Atr, timing: &Timing, cfg: &CardConfig) -> Result<T0CardConfig, LinkError> {
    Ok(T0CardConfig::from_atr(atr, timing)?
        .with_style(cfg.single_byte_acks, cfg.nulls_before_answer))
}
