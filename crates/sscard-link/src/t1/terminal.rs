//! The terminal (interface device) side of T=1 (ISO/IEC 7816-3 §11.6, Annex A).
//!
//! [`T1Terminal::transceive`] sends one APDU as a chain of I-blocks of at most IFSC
//! bytes and collects the card's chained answer, acknowledging with R-blocks. Error
//! handling follows §11.6.3:
//!
//! * an invalid block (parity, EDC, framing, CWT) or no block within BWT is answered
//!   with R(N(R)) carrying the error; an R-block asking for our last I-block gets it
//!   again; after [`T1Config::retries`] consecutive errors the terminal
//!   resynchronises with S(RESYNCH) (at most [`T1Config::resync_attempts`] times)
//!   and reports [`T1Error::Resynchronised`] or [`T1Error::ResyncFailed`];
//! * S(WTX) requests are answered and stretch the next BWT, at most
//!   [`T1Config::max_wtx`] times per command; S(IFS) requests change IFSC;
//!   S(ABORT) ends the exchange with [`T1Error::Aborted`]; a card's S(RESYNCH)
//!   request (not allowed for cards) makes the terminal resynchronise.
//!
//! Every wait has a deadline and every retry a bound, so a silent, babbling or
//! hostile card costs at most (retries + 1 + resync attempts) × BWT plus the WTX
//! budget.

use super::{receive_block, Block, BlockTx, Edc, Pcb, RCode, Rx, SKind, DEFAULT_IFSD, MAX_BLOCK};
use crate::atr::{Atr, AtrError};
use crate::error::{LinkError, T1Error};
use crate::timing::Timing;

/// The longest response accepted in a chain: an extended response.
pub const MAX_RESPONSE: usize = 65536 + 2;

/// T=1 parameters of the terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct T1Config {
    /// The card's information field size (from the ATR).
    pub ifsc: u8,
    /// Our information field size, announced with S(IFS) when not 32.
    pub ifsd: u8,
    /// Error detection code.
    pub edc: Edc,
    /// Character waiting time.
    pub cwt_us: u64,
    /// Block waiting time.
    pub bwt_us: u64,
    /// Block guard time.
    pub bgt_us: u64,
    /// The node address byte we send.
    pub nad: u8,
    /// Consecutive errors tolerated before resynchronising.
    pub retries: u8,
    /// S(RESYNCH) attempts before giving up.
    pub resync_attempts: u8,
    /// S(WTX) requests answered per command.
    pub max_wtx: u16,
}

impl T1Config {
    /// Parameters from an ATR and the line timing, with IFSD 254, 3 retries,
    /// 3 resynchronisation attempts and 64 WTX rounds.
    pub fn from_atr(atr: &Atr, timing: &Timing) -> Result<Self, AtrError> {
        Ok(Self {
            ifsc: atr.ifsc()?,
            ifsd: 254,
            edc: atr.edc(),
            cwt_us: timing.t1_cwt_us(atr.cwi()),
            bwt_us: timing.t1_bwt_us(atr.bwi()?),
            bgt_us: timing.t1_bgt_us(),
            nad: 0,
            retries: 3,
            resync_attempts: 3,
            max_wtx: 64,
        })
    }

    /// Sets IFSD (1…254; other values are clamped).
    pub const fn with_ifsd(mut self, ifsd: u8) -> Self {
        self.ifsd = match ifsd {
            0 => 1,
            255 => 254,
            v => v,
        };
        self
    }

    /// Sets the retry bounds.
    pub const fn with_retries(mut self, retries: u8, resync_attempts: u8, max_wtx: u16) -> Self {
        self.retries = retries;
        self.resync_attempts = resync_attempts;
        self.max_wtx = max_wtx;
        self
    }
}

/// The terminal's T=1 engine state: sequence numbers, current IFSC and buffers.
#[derive(Debug)]
pub struct T1Terminal {
    cfg: T1Config,
    ifsc: u8,
    /// N(S) of our next new I-block.
    ns: bool,
    /// N(S) we expect on the card's next I-block.
    nr: bool,
    need_resync: bool,
    need_ifsd: bool,
    tx: BlockTx,
    rx: [u8; MAX_BLOCK],
    last_rx_us: u64,
}

/// What our last data block was, for the retransmission rules.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// We sent an I-block of the command (`more`: not its last).
    Sending { more: bool },
    /// We acknowledged a chained I-block of the response with this R-block code.
    Receiving,
}

impl T1Terminal {
    /// A fresh engine (sequence numbers 0); IFSD is negotiated before the first
    /// command when not 32.
    pub fn new(cfg: T1Config) -> Self {
        Self {
            cfg,
            ifsc: cfg.ifsc,
            ns: false,
            nr: false,
            need_resync: false,
            need_ifsd: cfg.ifsd != DEFAULT_IFSD,
            tx: BlockTx::new(),
            rx: [0; MAX_BLOCK],
            last_rx_us: 0,
        }
    }

    /// The parameters.
    pub fn config(&self) -> &T1Config {
        &self.cfg
    }

    /// The card's current IFSC (after any S(IFS) from the card).
    pub fn ifsc(&self) -> u8 {
        self.ifsc
    }

    /// Sends one APDU and writes the card's answer into `response`.
    pub fn transceive<IO: crate::io::CardIo + ?Sized>(
        &mut self,
        io: &mut IO,
        command: &[u8],
        response: &mut [u8],
    ) -> Result<usize, LinkError> {
        if command.is_empty() {
            return Err(T1Error::EmptyCommand.into());
        }
        if self.need_resync {
            self.resync(io)?;
        }
        if self.need_ifsd {
            self.negotiate_ifsd(io)?;
        }
        self.exchange(io, command, response)
    }

    /// Announces IFSD with S(IFS request) and waits for the echo (§11.4.2).
    pub fn negotiate_ifsd<IO: crate::io::CardIo + ?Sized>(
        &mut self,
        io: &mut IO,
    ) -> Result<(), LinkError> {
        let ifsd = self.cfg.ifsd;
        let mut wtx = 0u16;
        for _ in 0..=self.cfg.retries {
            self.send_s(io, SKind::Ifs, false, &[ifsd])?;
            let mut mult = 1u64;
            loop {
                match self.receive_s(io, mult)? {
                    Some((SKind::Ifs, true, Some(v))) if v == ifsd => {
                        self.need_ifsd = false;
                        return Ok(());
                    }
                    Some((SKind::Wtx, false, Some(m))) if wtx < self.cfg.max_wtx => {
                        wtx += 1;
                        mult = u64::from(m);
                        self.send_s(io, SKind::Wtx, true, &[m])?;
                    }
                    _ => break,
                }
            }
        }
        Err(T1Error::IfsNegotiation.into())
    }

    /// Resynchronises: S(RESYNCH request) until S(RESYNCH response), at most
    /// [`T1Config::resync_attempts`] times. Sequence numbers, IFSC and IFSD return
    /// to their initial values (§11.6.3.2 rule 6.4).
    pub fn resync<IO: crate::io::CardIo + ?Sized>(&mut self, io: &mut IO) -> Result<(), LinkError> {
        self.need_resync = true;
        for _ in 0..self.cfg.resync_attempts {
            self.send_s(io, SKind::Resynch, false, &[])?;
            if let Some((SKind::Resynch, true, _)) = self.receive_s(io, 1)? {
                self.ns = false;
                self.nr = false;
                self.ifsc = self.cfg.ifsc;
                self.need_ifsd = self.cfg.ifsd != DEFAULT_IFSD;
                self.need_resync = false;
                return Ok(());
            }
        }
        Err(T1Error::ResyncFailed.into())
    }

    /// Resynchronises after failed error recovery and reports the outcome.
    fn recover<IO: crate::io::CardIo + ?Sized>(&mut self, io: &mut IO) -> Result<usize, LinkError> {
        self.resync(io)?;
        Err(T1Error::Resynchronised.into())
    }

    /// Receives one block within BWT × `mult`: the S-block's type, response flag
    /// and value, or `None` for anything else, invalid blocks and timeouts.
    fn receive_s<IO: crate::io::CardIo + ?Sized>(
        &mut self,
        io: &mut IO,
        mult: u64,
    ) -> Result<Option<(SKind, bool, Option<u8>)>, LinkError> {
        let Rx::Block(n) = self.receive_rx(io, mult)? else {
            return Ok(None);
        };
        Ok(self.block(n).and_then(|b| match b.pcb {
            Pcb::S { kind, response } => Some((kind, response, b.inf.first().copied())),
            _ => None,
        }))
    }

    fn receive_rx<IO: crate::io::CardIo + ?Sized>(
        &mut self,
        io: &mut IO,
        mult: u64,
    ) -> Result<Rx, LinkError> {
        let deadline = io
            .now_us()
            .saturating_add(self.cfg.bwt_us.saturating_mul(mult.max(1)));
        let rx = receive_block(io, &mut self.rx, deadline, self.cfg.cwt_us, self.cfg.edc)?;
        self.last_rx_us = io.now_us();
        Ok(rx)
    }

    fn block(&self, n: usize) -> Option<Block<'_>> {
        Block::parse(self.rx.get(..n)?, self.cfg.edc).ok()
    }

    fn send_block<IO: crate::io::CardIo + ?Sized>(
        &mut self,
        io: &mut IO,
        pcb: Pcb,
        inf: &[u8],
    ) -> Result<(), LinkError> {
        let block = Block {
            nad: self.cfg.nad,
            pcb,
            inf,
        };
        let not_before = self.last_rx_us.saturating_add(self.cfg.bgt_us);
        self.tx.send(io, &block, self.cfg.edc, not_before)
    }

    fn send_s<IO: crate::io::CardIo + ?Sized>(
        &mut self,
        io: &mut IO,
        kind: SKind,
        response: bool,
        inf: &[u8],
    ) -> Result<(), LinkError> {
        self.send_block(io, Pcb::S { kind, response }, inf)
    }

    fn send_r<IO: crate::io::CardIo + ?Sized>(
        &mut self,
        io: &mut IO,
        code: RCode,
    ) -> Result<(), LinkError> {
        self.send_block(io, Pcb::R { nr: self.nr, code }, &[])
    }

    /// The I-block state machine for one command.
    fn exchange<IO: crate::io::CardIo + ?Sized>(
        &mut self,
        io: &mut IO,
        command: &[u8],
        response: &mut [u8],
    ) -> Result<usize, LinkError> {
        // The chunk in flight: command[off..off + len], sent with N(S) = i_ns.
        let mut off = 0usize;
        let mut len = command.len().min(usize::from(self.ifsc));
        let mut more = off + len < command.len();
        let mut i_ns = self.ns;
        self.send_i(io, command, off, len, more, i_ns)?;
        self.ns = !self.ns;
        let mut phase = Phase::Sending { more };
        let mut errors = 0u8;
        let mut s_requests = 0u8;
        let mut wtx = 0u16;
        let mut mult = 1u64;
        let mut got = 0usize;
        loop {
            let rx = self.receive_rx(io, mult)?;
            mult = 1;
            let n = match rx {
                Rx::Block(n) => n,
                Rx::Invalid(_) | Rx::Timeout => {
                    errors += 1;
                    if errors > self.cfg.retries {
                        return self.recover(io);
                    }
                    let code = match rx {
                        Rx::Invalid(code) => code,
                        _ => RCode::Other,
                    };
                    self.send_r(io, code)?;
                    continue;
                }
            };
            let Some(block) = self.block(n) else {
                continue;
            };
            let (pcb, inf_len) = (block.pcb, block.inf.len());
            // Copy what we need out of the receive buffer before sending anything.
            let mut first = [0u8; 1];
            if let Some(&b) = block.inf.first() {
                first = [b];
            }
            match pcb {
                Pcb::I {
                    ns,
                    more: card_more,
                } => {
                    let valid = phase != (Phase::Sending { more: true })
                        && ns == self.nr
                        && !(card_more && inf_len == 0);
                    if !valid {
                        errors += 1;
                        if errors > self.cfg.retries {
                            return self.recover(io);
                        }
                        self.send_r(io, RCode::Other)?;
                        continue;
                    }
                    errors = 0;
                    self.nr = !self.nr;
                    let start = got;
                    got += inf_len;
                    if got > MAX_RESPONSE {
                        self.need_resync = true;
                        return Err(T1Error::ChainTooLong.into());
                    }
                    if let (Some(dst), Some(src)) =
                        (response.get_mut(start..got), self.rx.get(3..3 + inf_len))
                    {
                        dst.copy_from_slice(src);
                    }
                    if card_more {
                        phase = Phase::Receiving;
                        self.send_r(io, RCode::Ok)?;
                        continue;
                    }
                    if got > response.len() {
                        return Err(LinkError::BufferTooSmall { needed: got });
                    }
                    return Ok(got);
                }
                Pcb::R { nr, .. } => {
                    errors += 1;
                    let acked = matches!(phase, Phase::Sending { more: true }) && nr != i_ns;
                    if acked {
                        // The card wants our next chunk.
                        errors = 0;
                        off += len;
                        len = (command.len() - off).min(usize::from(self.ifsc));
                        more = off + len < command.len();
                        i_ns = self.ns;
                        self.send_i(io, command, off, len, more, i_ns)?;
                        self.ns = !self.ns;
                        phase = Phase::Sending { more };
                        continue;
                    }
                    if errors > self.cfg.retries {
                        return self.recover(io);
                    }
                    match phase {
                        Phase::Sending { .. } if nr == i_ns => {
                            self.send_i(io, command, off, len, more, i_ns)?;
                        }
                        Phase::Receiving => self.send_r(io, RCode::Ok)?,
                        Phase::Sending { .. } => self.send_r(io, RCode::Other)?,
                    }
                }
                Pcb::S {
                    kind,
                    response: false,
                } => match kind {
                    SKind::Wtx => {
                        wtx += 1;
                        if wtx > self.cfg.max_wtx {
                            self.need_resync = true;
                            return Err(T1Error::TooManyWtx.into());
                        }
                        mult = u64::from(first[0]);
                        self.send_s(io, SKind::Wtx, true, &first)?;
                    }
                    SKind::Ifs => {
                        s_requests += 1;
                        if s_requests > self.cfg.retries {
                            return self.recover(io);
                        }
                        self.ifsc = first[0];
                        self.send_s(io, SKind::Ifs, true, &first)?;
                    }
                    SKind::Abort => {
                        self.send_s(io, SKind::Abort, true, &[])?;
                        self.need_resync = true;
                        return Err(T1Error::Aborted.into());
                    }
                    SKind::Resynch => return self.recover(io),
                },
                Pcb::S { response: true, .. } => {
                    errors += 1;
                    if errors > self.cfg.retries {
                        return self.recover(io);
                    }
                    self.send_r(io, RCode::Other)?;
                }
            }
        }
    }

    fn send_i<IO: crate::io::CardIo + ?Sized>(
        &mut self,
        io: &mut IO,
        command: &[u8],
        off: usize,
        len: usize,
        more: bool,
        ns: bool,
    ) -> Result<(), LinkError> {
        let inf = command
            .get(off..off + len)
            .ok_or(LinkError::InvalidCommand)?;
        self.send_block(io, Pcb::I { ns, more }, inf)
    }
}
