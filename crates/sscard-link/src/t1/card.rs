//! The card side of T=1 (ISO/IEC 7816-3 §11.6).
//!
//! The card never times out on the terminal: it waits for blocks as long as the
//! caller lets it (a deadline, or none), answers invalid blocks with R-blocks,
//! resends its last I-block when asked, follows S(IFS), S(RESYNCH) and S(ABORT)
//! requests, and can itself ask for more time (S(WTX)) or a new IFSC (S(IFS)).
//!
//! A card's main loop is:
//!
//! ```text
//! let n = t1.receive_command(&mut io, &mut apdu, u64::MAX)?;
//! // … process, calling t1.request_wtx(&mut io, 2)? when it takes long …
//! t1.send_response(&mut io, &reply)?;
//! ```

use super::{receive_block, Block, BlockTx, Edc, Pcb, RCode, Rx, SKind, DEFAULT_IFSD, MAX_BLOCK};
use crate::atr::{Atr, AtrError};
use crate::error::{LinkError, T1Error};
use crate::io::CardIo;
use crate::timing::Timing;

/// T=1 parameters of the card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct T1CardConfig {
    /// Our information field size, as announced in our ATR (the most INF we accept).
    pub ifsc: u8,
    /// Error detection code.
    pub edc: Edc,
    /// Character waiting time.
    pub cwt_us: u64,
    /// How long to wait for the terminal's answer to our S-requests.
    pub bwt_us: u64,
    /// Block guard time.
    pub bgt_us: u64,
    /// The node address byte we send.
    pub nad: u8,
    /// How often an S-request is sent before giving up.
    pub retries: u8,
}

impl T1CardConfig {
    /// Parameters from our own ATR and the line timing.
    pub fn from_atr(atr: &Atr, timing: &Timing) -> Result<Self, AtrError> {
        Ok(Self {
            ifsc: atr.ifsc()?,
            edc: atr.edc(),
            cwt_us: timing.t1_cwt_us(atr.cwi()),
            bwt_us: timing.t1_bwt_us(atr.bwi()?),
            bgt_us: timing.t1_bgt_us(),
            nad: 0,
            retries: 3,
        })
    }
}

/// The card's T=1 engine.
#[derive(Debug)]
pub struct T1Card {
    cfg: T1CardConfig,
    /// The terminal's IFSD.
    ifsd: u8,
    ns: bool,
    nr: bool,
    /// Our last I-block, kept for retransmission until the terminal acknowledges it.
    last_i: Option<(BlockTx, bool)>,
    /// The code of our last R-block, if our last block was one.
    last_r: Option<RCode>,
    tx: BlockTx,
    rx: [u8; MAX_BLOCK],
    last_rx_us: u64,
}

impl T1Card {
    /// A fresh engine after the ATR (or PPS): sequence numbers 0, IFSD 32.
    pub fn new(cfg: T1CardConfig) -> Self {
        Self {
            cfg,
            ifsd: DEFAULT_IFSD,
            ns: false,
            nr: false,
            last_i: None,
            last_r: None,
            tx: BlockTx::new(),
            rx: [0; MAX_BLOCK],
            last_rx_us: 0,
        }
    }

    /// The terminal's IFSD as negotiated.
    pub fn ifsd(&self) -> u8 {
        self.ifsd
    }

    /// The parameters.
    pub fn config(&self) -> &T1CardConfig {
        &self.cfg
    }

    fn reset_state(&mut self) {
        self.ns = false;
        self.nr = false;
        self.ifsd = DEFAULT_IFSD;
        self.last_i = None;
        self.last_r = None;
    }

    fn send_block<IO: CardIo + ?Sized>(
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
        self.last_r = match pcb {
            Pcb::R { code, .. } => Some(code),
            _ => None,
        };
        self.tx.send(io, &block, self.cfg.edc, not_before)
    }

    fn send_r<IO: CardIo + ?Sized>(&mut self, io: &mut IO, code: RCode) -> Result<(), LinkError> {
        self.send_block(io, Pcb::R { nr: self.nr, code }, &[])
    }

    fn receive<IO: CardIo + ?Sized>(
        &mut self,
        io: &mut IO,
        deadline: u64,
    ) -> Result<Rx, LinkError> {
        let rx = receive_block(io, &mut self.rx, deadline, self.cfg.cwt_us, self.cfg.edc)?;
        self.last_rx_us = io.now_us();
        Ok(rx)
    }

    fn resend_last_i<IO: CardIo + ?Sized>(&mut self, io: &mut IO) -> Result<bool, LinkError> {
        let not_before = self.last_rx_us.saturating_add(self.cfg.bgt_us);
        match self.last_i.as_mut() {
            Some((tx, _)) => {
                tx.resend(io, not_before)?;
                self.last_r = None;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Handles the S-requests every state accepts (IFS, RESYNCH, ABORT); returns
    /// whether it was one of them.
    fn handle_s_request<IO: CardIo + ?Sized>(
        &mut self,
        io: &mut IO,
        kind: SKind,
        value: Option<u8>,
    ) -> Result<bool, LinkError> {
        match (kind, value) {
            (SKind::Ifs, Some(v)) => {
                self.ifsd = v;
                self.send_block(
                    io,
                    Pcb::S {
                        kind: SKind::Ifs,
                        response: true,
                    },
                    &[v],
                )?;
                Ok(true)
            }
            (SKind::Resynch, _) => {
                self.reset_state();
                self.send_block(
                    io,
                    Pcb::S {
                        kind: SKind::Resynch,
                        response: true,
                    },
                    &[],
                )?;
                Ok(true)
            }
            (SKind::Abort, _) => {
                self.last_i = None;
                self.send_block(
                    io,
                    Pcb::S {
                        kind: SKind::Abort,
                        response: true,
                    },
                    &[],
                )?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Receives one command (a complete I-block chain) into `apdu`, returning its
    /// length. `deadline_us` bounds the wait for each block's first character
    /// (`u64::MAX`: wait for ever). A chain longer than `apdu` is received to its end
    /// and reported as [`LinkError::BufferTooSmall`]; answer it with an error status.
    pub fn receive_command<IO: CardIo + ?Sized>(
        &mut self,
        io: &mut IO,
        apdu: &mut [u8],
        deadline_us: u64,
    ) -> Result<usize, LinkError> {
        let mut got = 0usize;
        loop {
            let n = match self.receive(io, deadline_us)? {
                Rx::Timeout => return Err(LinkError::Timeout),
                Rx::Invalid(code) => {
                    self.send_r(io, code)?;
                    continue;
                }
                Rx::Block(n) => n,
            };
            let Some(block) = Block::parse(self.rx.get(..n).unwrap_or_default(), self.cfg.edc).ok()
            else {
                continue;
            };
            let (pcb, inf_len, value) = (block.pcb, block.inf.len(), block.inf.first().copied());
            match pcb {
                Pcb::I { ns, more } => {
                    if ns != self.nr || (more && inf_len == 0) {
                        self.send_r(io, RCode::Other)?;
                        continue;
                    }
                    // A new I-block from the terminal acknowledges our last one.
                    self.last_i = None;
                    self.nr = !self.nr;
                    let start = got;
                    got += inf_len;
                    if let (Some(dst), Some(src)) =
                        (apdu.get_mut(start..got), self.rx.get(3..3 + inf_len))
                    {
                        dst.copy_from_slice(src);
                    }
                    if more {
                        self.send_r(io, RCode::Ok)?;
                        continue;
                    }
                    if got > apdu.len() {
                        return Err(LinkError::BufferTooSmall { needed: got });
                    }
                    return Ok(got);
                }
                Pcb::R { nr, .. } => {
                    let asks_again = self.last_i.as_ref().is_some_and(|&(_, i_ns)| i_ns == nr);
                    if asks_again && self.resend_last_i(io)? {
                        continue;
                    }
                    // Otherwise say which I-block we expect (our last R-block again).
                    let code = self.last_r.unwrap_or(RCode::Ok);
                    self.send_r(io, code)?;
                }
                Pcb::S {
                    kind,
                    response: false,
                } => {
                    if matches!(kind, SKind::Resynch | SKind::Abort) {
                        got = 0;
                    }
                    if !self.handle_s_request(io, kind, value)? {
                        self.send_r(io, RCode::Other)?;
                    }
                }
                Pcb::S { response: true, .. } => self.send_r(io, RCode::Other)?,
            }
        }
    }

    /// Sends the response as a chain of I-blocks of at most IFSD bytes. Returns
    /// after the last block is sent; the terminal's next I-block acknowledges it (in
    /// [`T1Card::receive_command`], which also resends it when asked).
    pub fn send_response<IO: CardIo + ?Sized>(
        &mut self,
        io: &mut IO,
        response: &[u8],
    ) -> Result<(), LinkError> {
        let mut off = 0usize;
        loop {
            let len = (response.len() - off).min(usize::from(self.ifsd));
            let more = off + len < response.len();
            let inf = response.get(off..off + len).unwrap_or_default();
            let i_ns = self.ns;
            self.send_block(io, Pcb::I { ns: i_ns, more }, inf)?;
            self.last_i = Some((self.tx, i_ns));
            self.ns = !self.ns;
            if !more {
                return Ok(());
            }
            // Wait for the acknowledgement R(N(R) ≠ i_ns).
            loop {
                let n = match self.receive(io, u64::MAX)? {
                    Rx::Timeout => return Err(LinkError::Timeout),
                    Rx::Invalid(code) => {
                        self.send_r(io, code)?;
                        continue;
                    }
                    Rx::Block(n) => n,
                };
                let Some(block) =
                    Block::parse(self.rx.get(..n).unwrap_or_default(), self.cfg.edc).ok()
                else {
                    continue;
                };
                let (pcb, value) = (block.pcb, block.inf.first().copied());
                match pcb {
                    Pcb::R { nr, .. } if nr != i_ns => {
                        self.last_i = None;
                        off += len;
                        break;
                    }
                    Pcb::R { .. } => {
                        self.resend_last_i(io)?;
                    }
                    Pcb::S {
                        kind: SKind::Resynch,
                        response: false,
                    } => {
                        self.handle_s_request(io, SKind::Resynch, value)?;
                        return Err(T1Error::Resynchronised.into());
                    }
                    Pcb::S {
                        kind: SKind::Abort,
                        response: false,
                    } => {
                        self.handle_s_request(io, SKind::Abort, value)?;
                        return Err(T1Error::Aborted.into());
                    }
                    Pcb::S {
                        kind,
                        response: false,
                    } => {
                        if !self.handle_s_request(io, kind, value)? {
                            self.send_r(io, RCode::Other)?;
                        }
                    }
                    Pcb::I { .. } | Pcb::S { response: true, .. } => {
                        self.send_r(io, RCode::Other)?;
                    }
                }
            }
        }
    }

    /// Asks the terminal for `multiplier` × BWT for the next block (S(WTX)).
    pub fn request_wtx<IO: CardIo + ?Sized>(
        &mut self,
        io: &mut IO,
        multiplier: u8,
    ) -> Result<(), LinkError> {
        self.s_request(io, SKind::Wtx, multiplier.max(1))
    }

    /// Announces a new IFSC (S(IFS)); the terminal's later chunks fit it.
    pub fn request_ifs<IO: CardIo + ?Sized>(
        &mut self,
        io: &mut IO,
        ifsc: u8,
    ) -> Result<(), LinkError> {
        let ifsc = ifsc.clamp(1, 254);
        self.s_request(io, SKind::Ifs, ifsc)?;
        self.cfg.ifsc = ifsc;
        Ok(())
    }

    /// Sends an S-request until the matching response arrives (§11.6.3.2 rule 7.3:
    /// an invalid answer or none makes us send the request again).
    fn s_request<IO: CardIo + ?Sized>(
        &mut self,
        io: &mut IO,
        kind: SKind,
        value: u8,
    ) -> Result<(), LinkError> {
        let request = Pcb::S {
            kind,
            response: false,
        };
        for _ in 0..=self.cfg.retries {
            self.send_block(io, request, &[value])?;
            let deadline = io.now_us().saturating_add(self.cfg.bwt_us);
            let Rx::Block(n) = self.receive(io, deadline)? else {
                continue;
            };
            let Some(block) = Block::parse(self.rx.get(..n).unwrap_or_default(), self.cfg.edc).ok()
            else {
                continue;
            };
            match block.pcb {
                Pcb::S {
                    kind: k,
                    response: true,
                } if k == kind && block.inf == [value] => return Ok(()),
                Pcb::S {
                    kind: SKind::Resynch,
                    response: false,
                } => {
                    self.handle_s_request(io, SKind::Resynch, None)?;
                    return Err(T1Error::Resynchronised.into());
                }
                _ => {}
            }
        }
        Err(LinkError::Timeout)
    }
}
