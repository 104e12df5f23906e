//! The card (PICC) side of ISO-DEP, for simulations: [`PiccEngine`] answers the
//! type A activation, RATS (with the ATS of its [`PiccConfig`]), PPS and the
//! blocks of ISO/IEC 14443-4 §7, delivering whole command APDUs to a
//! [`CardHandler`] and carrying its responses back, chained to the reader's FSD.
//! [`AppletHandler`] puts any [`sscard_apdu::applet::Card`] behind it.
//!
//! It works frame by frame ([`PiccEngine::frame`]: a frame in, an answer or
//! silence out); the RF channel around it ([`super::Loopback`], or a test's) moves
//! the frames and the time. Block handling follows the card's rules of §7.5.4:
//!
//! * rule 10: a command (an I-block without chaining) is answered with an I-block
//!   (or first with S(WTX), rule 9, as configured);
//! * rule 11: an R-block with our block number gets our last block again;
//! * rule 12: an R(NAK) with another block number gets R(ACK);
//! * rule 13: an R(ACK) with another block number continues our chain;
//! * block numbers start at 1 (rule C) and toggle on every I-block received
//!   (rule D) and on R(ACK)s that continue a chain (rule E).
//!
//! Invalid blocks and blocks for another CID get no answer.
//!
//! Simplifications (named): one card per field and type A only; a NAD from the
//! reader is accepted and ignored (answers carry none); S(WTX) requests come only
//! before a response's first block, as configured, not from real processing time;
//! no S(PARAMETERS) or frame sizes above 256 (later editions of the standard).

use sscard_apdu::applet::{Card, Interface, Reply};
use sscard_apdu::command::ParseError;
use sscard_apdu::{CommandView, Status};

use super::frontend::{BitRate, TypeA};
use super::{frame_size, AtsConfig, Block, Pcb, SKind, ATS_MAX, FRAME_MAX, RATS};
use crate::card::CardHandler;

/// The longest command or response the card side holds.
pub const PICC_APDU_MAX: usize = 512;

/// How the simulated card behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PiccConfig {
    /// UID, SAK and ATQA answered at activation.
    pub id: TypeA,
    /// The ATS.
    pub ats: AtsConfig,
    /// S(WTX) requests sent before each response.
    pub wtx_per_command: u16,
    /// The WTXM of those requests.
    pub wtxm: u8,
    /// Answer PPS requests (otherwise stay silent).
    pub accept_pps: bool,
}

impl PiccConfig {
    /// A card answering with `id` and `ats`, no WTX, PPS accepted.
    pub const fn new(id: TypeA, ats: AtsConfig) -> Self {
        Self {
            id,
            ats,
            wtx_per_command: 0,
            wtxm: 1,
            accept_pps: true,
        }
    }

    /// Asks for `count` waiting time extensions of `wtxm` before every response.
    pub const fn with_wtx(mut self, count: u16, wtxm: u8) -> Self {
        self.wtx_per_command = count;
        self.wtxm = wtxm;
        self
    }

    /// Turns the PPS responder on or off.
    pub const fn with_pps(mut self, accept: bool) -> Self {
        self.accept_pps = accept;
        self
    }
}

/// Where the card is (ISO/IEC 14443-3 §6.3 states, then ISO-DEP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PiccState {
    /// No field.
    Off,
    /// In the field, waiting for REQA or WUPA.
    Idle,
    /// Halted (HLTA or S(DESELECT)): only WUPA wakes it.
    Halt,
    /// Selected (ACTIVE), waiting for RATS.
    Selected,
    /// ISO-DEP runs.
    Protocol,
}

/// The card side of ISO-DEP. See the module docs.
#[derive(Debug)]
pub struct PiccEngine<H> {
    handler: H,
    cfg: PiccConfig,
    state: PiccState,
    cid: u8,
    fsd: usize,
    bn: bool,
    /// The reader used a CID in its last block.
    with_cid: bool,
    pps_allowed: bool,
    to_card: BitRate,
    from_card: BitRate,
    last: [u8; FRAME_MAX],
    last_len: usize,
    cmd: [u8; PICC_APDU_MAX],
    cmd_len: usize,
    overflow: bool,
    resp: [u8; PICC_APDU_MAX],
    resp_len: usize,
    resp_off: usize,
    chunk: usize,
    sending: bool,
    wtx_left: u16,
    awaiting_wtx: bool,
    commands: usize,
}

impl<H: CardHandler> PiccEngine<H> {
    /// A card outside the field.
    pub fn new(handler: H, cfg: PiccConfig) -> Self {
        Self {
            handler,
            cfg,
            state: PiccState::Off,
            cid: 0,
            fsd: frame_size(2),
            bn: true,
            with_cid: false,
            pps_allowed: false,
            to_card: BitRate::Kbps106,
            from_card: BitRate::Kbps106,
            last: [0; FRAME_MAX],
            last_len: 0,
            cmd: [0; PICC_APDU_MAX],
            cmd_len: 0,
            overflow: false,
            resp: [0; PICC_APDU_MAX],
            resp_len: 0,
            resp_off: 0,
            chunk: 0,
            sending: false,
            wtx_left: 0,
            awaiting_wtx: false,
            commands: 0,
        }
    }

    /// The handler.
    pub fn handler(&mut self) -> &mut H {
        &mut self.handler
    }

    /// The configuration, to change between commands (WTX, PPS).
    pub fn config_mut(&mut self) -> &mut PiccConfig {
        &mut self.cfg
    }

    /// Where the card is.
    pub fn state(&self) -> PiccState {
        self.state
    }

    /// The bit rates (reader to card, card to reader) after any PPS.
    pub fn bit_rate(&self) -> (BitRate, BitRate) {
        (self.to_card, self.from_card)
    }

    /// The reader's FSD from RATS.
    pub fn fsd(&self) -> usize {
        self.fsd
    }

    /// Complete commands handled since power-up.
    pub fn commands(&self) -> usize {
        self.commands
    }

    /// The field went on or off. Off loses everything; on brings the card to IDLE.
    pub fn field(&mut self, on: bool) {
        if !on {
            self.state = PiccState::Off;
            self.to_card = BitRate::Kbps106;
            self.from_card = BitRate::Kbps106;
        } else if self.state == PiccState::Off {
            self.state = PiccState::Idle;
        }
    }

    /// Type A activation: REQA answers from IDLE, WUPA (`wake_up`) also from HALT.
    /// A selected or active card does not answer and drops back to IDLE.
    pub fn activate_a(&mut self, wake_up: bool) -> Option<TypeA> {
        match self.state {
            PiccState::Idle => {}
            PiccState::Halt if wake_up => {}
            PiccState::Off | PiccState::Halt => return None,
            PiccState::Selected | PiccState::Protocol => {
                self.state = PiccState::Idle;
                return None;
            }
        }
        self.state = PiccState::Selected;
        self.to_card = BitRate::Kbps106;
        self.from_card = BitRate::Kbps106;
        Some(self.cfg.id)
    }

    /// Handles one frame (CRC removed) and writes the answer (without CRC) into
    /// `tx`, returning its length; `None` is silence.
    pub fn frame(&mut self, rx: &[u8], tx: &mut [u8]) -> Option<usize> {
        match self.state {
            PiccState::Off | PiccState::Idle | PiccState::Halt => None,
            PiccState::Selected => self.rats(rx, tx),
            PiccState::Protocol => self.block(rx, tx),
        }
    }

    fn rats(&mut self, rx: &[u8], tx: &mut [u8]) -> Option<usize> {
        match *rx {
            [RATS, param] if param & 0x0F != 0x0F => {
                self.fsd = frame_size(param >> 4);
                self.cid = if self.cfg.ats.cid { param & 0x0F } else { 0 };
                self.bn = true;
                self.last_len = 0;
                self.cmd_len = 0;
                self.resp_len = 0;
                self.resp_off = 0;
                self.sending = false;
                self.awaiting_wtx = false;
                self.pps_allowed = true;
                self.handler.reset();
                let mut ats = [0u8; ATS_MAX];
                let n = self.cfg.ats.encode(&mut ats);
                tx.get_mut(..n)?.copy_from_slice(ats.get(..n)?);
                self.state = PiccState::Protocol;
                Some(n)
            }
            // HLTA.
            [0x50, 0x00] => {
                self.state = PiccState::Halt;
                None
            }
            _ => {
                self.state = PiccState::Idle;
                None
            }
        }
    }

    fn pps(&mut self, rx: &[u8], tx: &mut [u8]) -> Option<usize> {
        let (&ppss, rest) = rx.split_first()?;
        if ppss & 0x0F != self.cid || !self.cfg.accept_pps {
            return None;
        }
        let rates = match *rest {
            [0x11, pps1] => Some((
                BitRate::from_code(pps1 & 0x03),
                BitRate::from_code(pps1 >> 2),
            )),
            [0x01] => None,
            _ => return None,
        };
        *tx.first_mut()? = ppss;
        if let Some((to_card, from_card)) = rates {
            // The new rates apply after this answer.
            self.to_card = to_card;
            self.from_card = from_card;
        }
        Some(1)
    }

    fn block(&mut self, rx: &[u8], tx: &mut [u8]) -> Option<usize> {
        if self.pps_allowed {
            self.pps_allowed = false;
            if rx.first().is_some_and(|b| b & 0xF0 == 0xD0) {
                return self.pps(rx, tx);
            }
        }
        let block = Block::parse(rx).ok()?;
        self.with_cid = match block.cid {
            Some(c) if self.cfg.ats.cid && c == self.cid => true,
            Some(_) => return None,
            None if self.cid != 0 => return None,
            None => false,
        };
        match block.pcb {
            Pcb::I { chaining, .. } => {
                // Rule D.
                self.bn = !self.bn;
                self.sending = false;
                self.awaiting_wtx = false;
                let start = self.cmd_len;
                let end = start + block.inf.len();
                match self.cmd.get_mut(start..end) {
                    Some(dst) => {
                        dst.copy_from_slice(block.inf);
                        self.cmd_len = end;
                    }
                    None => self.overflow = true,
                }
                if chaining {
                    return self.emit(
                        tx,
                        Pcb::R {
                            bn: self.bn,
                            nak: false,
                        },
                        None,
                        true,
                    );
                }
                self.run_command();
                self.wtx_left = self.cfg.wtx_per_command;
                self.next_answer(tx)
            }
            Pcb::R { bn, nak } => {
                if bn == self.bn {
                    // Rule 11.
                    let n = self.last_len;
                    tx.get_mut(..n)?.copy_from_slice(self.last.get(..n)?);
                    return (n > 0).then_some(n);
                }
                if nak {
                    // Rule 12 (not kept as our last block: the reader's presence
                    // check must not replace it).
                    return self.emit(
                        tx,
                        Pcb::R {
                            bn: self.bn,
                            nak: false,
                        },
                        None,
                        false,
                    );
                }
                if !self.sending {
                    return None;
                }
                // Rules 13 and E.
                self.bn = !self.bn;
                self.resp_off += self.chunk;
                self.send_chunk(tx)
            }
            Pcb::S(SKind::Wtx) if self.awaiting_wtx => {
                self.awaiting_wtx = false;
                self.next_answer(tx)
            }
            Pcb::S(SKind::Wtx) => None,
            Pcb::S(SKind::Deselect) => {
                let n = self.emit(tx, Pcb::S(SKind::Deselect), None, false);
                self.state = PiccState::Halt;
                n
            }
        }
    }

    fn run_command(&mut self) {
        self.commands += 1;
        let n = if self.overflow {
            let sw = Status::WrongLength.to_bytes();
            if let Some(dst) = self.resp.get_mut(..2) {
                dst.copy_from_slice(&sw);
            }
            2
        } else {
            let command = self.cmd.get(..self.cmd_len).unwrap_or_default();
            self.handler.handle(command, &mut self.resp)
        };
        self.resp_len = n.min(PICC_APDU_MAX);
        self.resp_off = 0;
        self.chunk = 0;
        self.cmd_len = 0;
        self.overflow = false;
    }

    /// S(WTX) while the budget lasts, then the response's first block.
    fn next_answer(&mut self, tx: &mut [u8]) -> Option<usize> {
        if self.wtx_left > 0 {
            self.wtx_left -= 1;
            self.awaiting_wtx = true;
            let m = self.cfg.wtxm & 0x3F;
            return self.emit(tx, Pcb::S(SKind::Wtx), Some(m), true);
        }
        self.send_chunk(tx)
    }

    fn send_chunk(&mut self, tx: &mut [u8]) -> Option<usize> {
        let max = self
            .fsd
            .saturating_sub(Block::overhead(self.with_cid, false))
            .max(1);
        let off = self.resp_off.min(self.resp_len);
        let len = (self.resp_len - off).min(max);
        let more = off + len < self.resp_len;
        self.chunk = len;
        self.sending = more;
        let block = Block {
            pcb: Pcb::I {
                bn: self.bn,
                chaining: more,
            },
            cid: self.with_cid.then_some(self.cid),
            nad: None,
            inf: self.resp.get(off..off + len).unwrap_or_default(),
        };
        let n = block.encode(tx).ok()?;
        self.keep(tx, n);
        Some(n)
    }

    /// Encodes a block without data (or the WTXM), keeping it as our last block
    /// when `keep`.
    fn emit(&mut self, tx: &mut [u8], pcb: Pcb, value: Option<u8>, keep: bool) -> Option<usize> {
        let inf = value.map(|v| [v]);
        let block = Block {
            pcb,
            cid: self.with_cid.then_some(self.cid),
            nad: None,
            inf: inf.as_ref().map_or(&[][..], |v| &v[..]),
        };
        let n = block.encode(tx).ok()?;
        if keep {
            self.keep(tx, n);
        }
        Some(n)
    }

    fn keep(&mut self, tx: &[u8], n: usize) {
        if let (Some(dst), Some(src)) = (self.last.get_mut(..n), tx.get(..n)) {
            dst.copy_from_slice(src);
            self.last_len = n;
        }
    }
}

/// A [`CardHandler`] over an applet [`Card`], for cards behind [`PiccEngine`] or
/// [`crate::CardLink`]: the reply data and `9000` go out at once when they fit Ne
/// (or when the command has no Le, as ISO-DEP and T=1 cards usually do); data
/// longer than Ne is answered `6Cxx` with its exact length. No `61xx` paging.
#[derive(Debug)]
pub struct AppletHandler<C> {
    card: C,
    interface: Interface,
}

impl<C: Card> AppletHandler<C> {
    /// A handler for `card` on `interface`.
    pub fn new(card: C, interface: Interface) -> Self {
        Self { card, interface }
    }

    /// The card.
    pub fn card(&mut self) -> &mut C {
        &mut self.card
    }
}

impl<C: Card> CardHandler for AppletHandler<C> {
    fn reset(&mut self) {
        self.card.reset();
    }

    fn handle(&mut self, command: &[u8], response: &mut [u8]) -> usize {
        let status = match CommandView::parse(command) {
            Err(ParseError::InvalidClass) => Status::ClassNotSupported,
            Err(_) => Status::WrongLength,
            Ok(cmd) => {
                let room = response.len().saturating_sub(2);
                let mut reply = Reply::new(response.get_mut(..room).unwrap_or_default());
                match self.card.process(self.interface, &cmd, &mut reply) {
                    Err(status) => status,
                    Ok(()) => {
                        let n = reply.len();
                        match cmd.le() {
                            Some(ne) if n > ne => Status::WrongLe(u8::try_from(n).unwrap_or(0)),
                            _ => {
                                let sw = Status::Success.to_bytes();
                                return match response.get_mut(n..n + 2) {
                                    Some(dst) => {
                                        dst.copy_from_slice(&sw);
                                        n + 2
                                    }
                                    None => 0,
                                };
                            }
                        }
                    }
                }
            }
        };
        let sw = status.to_bytes();
        match response.get_mut(..2) {
            Some(dst) => {
                dst.copy_from_slice(&sw);
                2
            }
            None => 0,
        }
    }
}
