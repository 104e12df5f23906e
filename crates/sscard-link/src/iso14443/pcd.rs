//! The reader (PCD) side of ISO-DEP: [`IsoDep`] activates a type A card (RATS,
//! ATS, optional PPS) and runs the block protocol of ISO/IEC 14443-4 §7 behind
//! [`sscard_apdu::Transport`] and [`sscard_apdu::Reader`].
//!
//! Error handling follows the rules of §7.5.4 (numbers as in the standard):
//!
//! * rule 4: an invalid block or a frame waiting time-out is answered with
//!   R(NAK); rule 5: while the card chains, with R(ACK);
//! * rule 6: an R(ACK) whose block number is not ours makes us send our last
//!   I-block again; rule 7: one that is ours continues our chain;
//! * S(WTX) requests are answered with the same WTXM; the next frame may then take
//!   FWT × WTXM, capped at [`super::FWT_MAX_US`]; a WTXM of 0 or above 59 makes
//!   the block invalid;
//! * rule 8: S(DESELECT) is sent again when not answered, a bounded number of
//!   times, then the card is ignored.
//!
//! Every wait has a time-out and every retry a bound: consecutive errors
//! ([`IsoDepConfig::retries`]) and waiting time extensions per command
//! ([`IsoDepConfig::max_wtx`]). Past them the command fails with an
//! [`IsoDepError`], the engine stops until the card is activated again, and a
//! silent or hostile card costs at most (retries + 1) × FWT plus the WTX budget.
//!
//! Simplifications (named): the reader never sends a NAD; a PPS is sent once and a
//! failed PPS leaves the link at 106 kbit/s; only equal bit rates in both
//! directions are chosen; RATS is repeated up to [`IsoDepConfig::retries`] times
//! before activation fails (the standard leaves the count to the reader); a WTXM
//! of 60–63 (RFU) is a protocol error rather than being clamped; the frame delay
//! times between frames are the front end's business.

use core::fmt;

use sscard_apdu::{Reader, ResetKind, Transport, TransportError, TransportErrorKind};

use super::frontend::{
    BitRate, Capabilities, ContactlessFrontEnd, FrontEndError, FrontEndErrorKind, TypeA,
};
use super::{
    crc_a, frame_size, strip_crc_a, Ats, AtsError, Block, Pcb, SKind, ACTIVATION_FWT_US, FRAME_MAX,
    FWT_MAX_US, PSEUDO_ATR_MAX, RATS, WTXM_MAX,
};

/// The longest response accepted in a chain: an extended response.
pub const MAX_RESPONSE: usize = 65536 + 2;

/// Why an ISO-DEP operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IsoDepError {
    /// The front end failed (other than time-outs and transmission errors, which
    /// the protocol recovers from).
    FrontEnd(FrontEndErrorKind),
    /// No card answered the activation.
    NoCard,
    /// The card's SAK does not announce ISO/IEC 14443-4.
    NotIsoDep,
    /// The ATS is malformed.
    Ats(AtsError),
    /// The card stopped answering: the retries ended with a time-out.
    Timeout,
    /// The retries ended with a damaged frame (CRC, parity, framing).
    Transmission,
    /// The retries ended with blocks that break the protocol.
    Protocol,
    /// The card asked for more time (S(WTX)) more often than allowed.
    TooManyWtx,
    /// The caller's buffer is too small; `needed` bytes are required.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
    /// The card's chained response exceeded the largest APDU response.
    ChainTooLong,
    /// An empty command cannot be sent.
    EmptyCommand,
    /// An earlier failure stopped the protocol: activate the card again.
    NotActive,
}

impl fmt::Display for IsoDepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FrontEnd(k) => write!(f, "front end: {k}"),
            Self::NoCard => f.write_str("no card in the field"),
            Self::NotIsoDep => f.write_str("card does not support ISO/IEC 14443-4"),
            Self::Ats(e) => write!(f, "ATS: {e}"),
            Self::Timeout => f.write_str("card stopped answering"),
            Self::Transmission => f.write_str("transmission errors"),
            Self::Protocol => f.write_str("ISO-DEP protocol error"),
            Self::TooManyWtx => f.write_str("card requested waiting time extension too often"),
            Self::BufferTooSmall { needed } => {
                write!(f, "buffer too small ({needed} bytes needed)")
            }
            Self::ChainTooLong => f.write_str("chained response too long"),
            Self::EmptyCommand => f.write_str("empty command"),
            Self::NotActive => f.write_str("ISO-DEP not active; activate the card"),
        }
    }
}

impl core::error::Error for IsoDepError {}

impl TransportError for IsoDepError {
    fn kind(&self) -> TransportErrorKind {
        match self {
            Self::NoCard => TransportErrorKind::NoCard,
            Self::Timeout => TransportErrorKind::Timeout,
            Self::FrontEnd(FrontEndErrorKind::Unavailable) => TransportErrorKind::ReaderUnavailable,
            Self::BufferTooSmall { needed } => {
                TransportErrorKind::BufferTooSmall { needed: *needed }
            }
            Self::EmptyCommand => TransportErrorKind::Other,
            Self::FrontEnd(_)
            | Self::NotIsoDep
            | Self::Ats(_)
            | Self::Transmission
            | Self::Protocol
            | Self::TooManyWtx
            | Self::ChainTooLong
            | Self::NotActive => TransportErrorKind::Protocol,
        }
    }
}

impl From<AtsError> for IsoDepError {
    fn from(e: AtsError) -> Self {
        Self::Ats(e)
    }
}

/// How the reader runs ISO-DEP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IsoDepConfig {
    /// FSDI sent in RATS: the largest frame we receive (see [`frame_size`]).
    pub fsdi: u8,
    /// The CID given to the card (0…14). Sent in blocks only when not 0 and the
    /// card supports CIDs.
    pub cid: u8,
    /// The fastest bit rate to ask for with a PPS (106 kbit/s: no PPS).
    pub max_bit_rate: BitRate,
    /// Consecutive errors (time-outs, damaged or invalid blocks, requests to send
    /// a block again) tolerated per command before it fails.
    pub retries: u8,
    /// S(WTX) requests answered per command.
    pub max_wtx: u16,
    /// S(DESELECT) repetitions when not answered.
    pub deselect_retries: u8,
    /// Added to every frame waiting time: the front end's timer tolerance.
    pub fwt_margin_us: u32,
}

impl IsoDepConfig {
    /// FSD 256, CID 0, 106 kbit/s, 3 retries, 64 WTX per command, 2 S(DESELECT)
    /// repetitions, 100 µs of timer margin.
    pub const fn new() -> Self {
        Self {
            fsdi: 8,
            cid: 0,
            max_bit_rate: BitRate::Kbps106,
            retries: 3,
            max_wtx: 64,
            deselect_retries: 2,
            fwt_margin_us: 100,
        }
    }

    /// Sets FSD to the largest frame size not above `fsd` (at least 16).
    pub const fn with_fsd(mut self, fsd: usize) -> Self {
        self.fsdi = super::frame_size_index(fsd);
        self
    }

    /// Sets the CID (values above 14 are taken as 14).
    pub const fn with_cid(mut self, cid: u8) -> Self {
        self.cid = if cid > 14 { 14 } else { cid };
        self
    }

    /// Asks for bit rates up to `max` with a PPS.
    pub const fn with_bit_rate(mut self, max: BitRate) -> Self {
        self.max_bit_rate = max;
        self
    }

    /// Sets the retry and WTX bounds.
    pub const fn with_bounds(mut self, retries: u8, max_wtx: u16) -> Self {
        self.retries = retries;
        self.max_wtx = max_wtx;
        self
    }
}

impl Default for IsoDepConfig {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Field off.
    Off,
    /// Field on, no card selected.
    Idle,
    /// A card is selected (ISO/IEC 14443-3 ACTIVE state), RATS not sent.
    Selected,
    /// ISO-DEP runs.
    Active,
    /// A command failed; the card must be activated again.
    Failed,
}

/// Which buffer a frame goes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tx {
    /// The last I-block (kept for retransmission, rule 6).
    I,
    /// R-, S-blocks, RATS and PPS.
    Ctl,
}

/// What a frame reception produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rx {
    /// A valid block; its INF is `rx[inf_at..inf_at + inf_len]`.
    Block {
        pcb: Pcb,
        inf_at: usize,
        inf_len: usize,
    },
    /// Nothing within the waiting time.
    Timeout,
    /// A damaged frame.
    Damaged,
    /// A frame that is no valid block for us (reserved PCB, wrong CID, bad INF).
    Invalid,
}

/// The reader side of ISO-DEP over a [`ContactlessFrontEnd`]. See the module docs.
#[derive(Debug)]
pub struct IsoDep<F> {
    fe: F,
    cfg: IsoDepConfig,
    caps: Capabilities,
    state: State,
    card: Option<TypeA>,
    ats: Option<Ats>,
    fsc: usize,
    fwt_us: u32,
    cid: Option<u8>,
    bn: bool,
    rate: BitRate,
    iblk: [u8; FRAME_MAX],
    iblk_len: usize,
    ctl: [u8; 8],
    ctl_len: usize,
    rx: [u8; FRAME_MAX],
}

impl<F: ContactlessFrontEnd> IsoDep<F> {
    /// An engine over `fe`; the field stays off until a card is polled or
    /// activated.
    pub fn new(fe: F, cfg: IsoDepConfig) -> Self {
        let caps = fe.capabilities();
        Self {
            fe,
            cfg,
            caps,
            state: State::Off,
            card: None,
            ats: None,
            fsc: frame_size(2),
            fwt_us: super::fwt_us(4),
            cid: None,
            bn: false,
            rate: BitRate::Kbps106,
            iblk: [0; FRAME_MAX],
            iblk_len: 0,
            ctl: [0; 8],
            ctl_len: 0,
            rx: [0; FRAME_MAX],
        }
    }

    /// The front end.
    pub fn front_end(&mut self) -> &mut F {
        &mut self.fe
    }

    /// Gives the front end back.
    pub fn into_front_end(self) -> F {
        self.fe
    }

    /// The configuration.
    pub fn config(&self) -> &IsoDepConfig {
        &self.cfg
    }

    /// The selected card (UID, SAK, ATQA).
    pub fn card(&self) -> Option<&TypeA> {
        self.card.as_ref()
    }

    /// The card's ATS, while ISO-DEP is active.
    pub fn ats(&self) -> Option<&Ats> {
        self.ats.as_ref()
    }

    /// Whether ISO-DEP runs (activated, and no command failed since).
    pub fn is_active(&self) -> bool {
        self.state == State::Active
    }

    /// The bit rate in use.
    pub fn bit_rate(&self) -> BitRate {
        self.rate
    }

    /// The card's frame size FSC.
    pub fn fsc(&self) -> usize {
        self.fsc
    }

    /// The frame waiting time from the ATS.
    pub fn fwt_us(&self) -> u32 {
        self.fwt_us
    }

    fn fe_err(e: &F::Error) -> IsoDepError {
        IsoDepError::FrontEnd(e.kind())
    }

    fn set_field(&mut self, on: bool) -> Result<(), IsoDepError> {
        self.fe.set_field(on).map_err(|e| Self::fe_err(&e))
    }

    fn set_rate(&mut self, rate: BitRate) -> Result<(), IsoDepError> {
        if self.rate != rate {
            self.fe
                .set_bit_rate(rate, rate)
                .map_err(|e| Self::fe_err(&e))?;
            self.rate = rate;
        }
        Ok(())
    }

    fn forget(&mut self) {
        self.card = None;
        self.ats = None;
        self.cid = None;
    }

    /// Looks for a card: the field is switched off and on (every card back to its
    /// start), then WUPA, anticollision and SELECT. The card found stays selected
    /// for [`IsoDep::activate`].
    pub fn poll(&mut self) -> Result<Option<TypeA>, IsoDepError> {
        if self.state != State::Off {
            self.set_field(false)?;
        }
        self.forget();
        self.state = State::Off;
        self.set_rate(BitRate::Kbps106)?;
        self.set_field(true)?;
        self.state = State::Idle;
        self.select(true)
    }

    fn select(&mut self, wake_up: bool) -> Result<Option<TypeA>, IsoDepError> {
        // Type A activation always runs at 106 kbit/s.
        self.set_rate(BitRate::Kbps106)?;
        let found = match self.fe.activate_a(wake_up) {
            Ok(found) => found,
            Err(e) => match e.kind() {
                // Silence or an unresolved collision: no card to talk to.
                FrontEndErrorKind::Timeout | FrontEndErrorKind::Transmission => None,
                k => return Err(IsoDepError::FrontEnd(k)),
            },
        };
        self.card = found;
        if found.is_some() {
            self.state = State::Selected;
        }
        Ok(found)
    }

    /// Whether a card is in the field: during ISO-DEP a presence check (R(NAK),
    /// which a present card answers with R(ACK) by rule 12, or with its last block
    /// by rule 11); otherwise, or when that fails, [`IsoDep::poll`]. A card found
    /// by polling is selected but no longer active.
    pub fn presence(&mut self) -> Result<bool, IsoDepError> {
        if self.state == State::Active {
            if self.presence_check()? {
                return Ok(true);
            }
            self.state = State::Failed;
        }
        Ok(self.poll()?.is_some())
    }

    fn presence_check(&mut self) -> Result<bool, IsoDepError> {
        for _ in 0..=self.cfg.retries {
            self.build(
                Tx::Ctl,
                Pcb::R {
                    bn: self.bn,
                    nak: true,
                },
                &[],
            )?;
            if let Rx::Block { .. } = self.send(Tx::Ctl, self.fwt_us)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Activates ISO-DEP: polls when no card is selected, checks SAK, sends RATS,
    /// reads the ATS, waits SFGT and, when configured and offered, changes the bit
    /// rate with a PPS.
    pub fn activate(&mut self) -> Result<Ats, IsoDepError> {
        let result = self.activate_selected();
        if result.is_err() && self.state != State::Off {
            self.state = State::Failed;
        }
        result
    }

    fn activate_selected(&mut self) -> Result<Ats, IsoDepError> {
        if self.state != State::Selected && self.poll()?.is_none() {
            return Err(IsoDepError::NoCard);
        }
        let card = self.card.ok_or(IsoDepError::NoCard)?;
        if !card.iso_dep() {
            return Err(IsoDepError::NotIsoDep);
        }
        let fsdi = self.cfg.fsdi.min(8);
        let cid = self.cfg.cid.min(14);
        self.cid = None;
        let mut last = IsoDepError::Timeout;
        let mut found = None;
        for _ in 0..=self.cfg.retries {
            self.raw(&[RATS, (fsdi << 4) | cid])?;
            match self.send_raw(Tx::Ctl, ACTIVATION_FWT_US)? {
                Ok(n) => match Ats::parse(self.rx.get(..n).unwrap_or_default()) {
                    Ok(ats) => {
                        found = Some(ats);
                        break;
                    }
                    Err(e) => last = e.into(),
                },
                Err(e) => last = e,
            }
        }
        let ats = found.ok_or(last)?;
        self.fsc = ats.fsc();
        self.fwt_us = ats.fwt_us();
        self.cid = (ats.cid_supported() && cid != 0).then_some(cid);
        self.bn = false;
        let sfgt = ats.sfgt_us();
        if sfgt > 0 {
            self.fe.delay_us(sfgt).map_err(|e| Self::fe_err(&e))?;
        }
        let rate = ats.best_bit_rate(self.cfg.max_bit_rate.min(self.caps.max_bit_rate));
        if rate != BitRate::Kbps106 {
            let ppss = 0xD0 | cid;
            self.raw(&[ppss, 0x11, (rate.code() << 2) | rate.code()])?;
            let answer = self.send_raw(Tx::Ctl, self.fwt_us)?;
            if answer.is_ok_and(|n| self.rx.get(..n) == Some(&[ppss][..])) {
                self.set_rate(rate)?;
            }
        }
        self.ats = Some(ats);
        self.state = State::Active;
        Ok(ats)
    }

    /// Ends ISO-DEP with S(DESELECT) (the card goes to HALT); repeated when not
    /// answered, then the card is ignored (rule 8). The field stays on.
    pub fn deselect(&mut self) -> Result<(), IsoDepError> {
        if !matches!(self.state, State::Active | State::Failed) {
            return Ok(());
        }
        let mut result = Err(IsoDepError::Timeout);
        for _ in 0..=self.cfg.deselect_retries {
            self.build(Tx::Ctl, Pcb::S(SKind::Deselect), &[])?;
            match self.send(Tx::Ctl, ACTIVATION_FWT_US)? {
                Rx::Block {
                    pcb: Pcb::S(SKind::Deselect),
                    ..
                } => {
                    result = Ok(());
                    break;
                }
                Rx::Timeout => result = Err(IsoDepError::Timeout),
                Rx::Damaged => result = Err(IsoDepError::Transmission),
                Rx::Block { .. } | Rx::Invalid => result = Err(IsoDepError::Protocol),
            }
        }
        self.ats = None;
        self.state = State::Idle;
        result
    }

    /// Deselects an active card (errors ignored: the field goes anyway) and
    /// switches the field off.
    pub fn power_off(&mut self) -> Result<(), IsoDepError> {
        let _ = self.deselect();
        self.forget();
        self.state = State::Off;
        self.rate = BitRate::Kbps106;
        self.set_field(false)
    }

    /// Writes the PC/SC pseudo-ATR built from the ATS (see [`Ats::pseudo_atr`]).
    pub fn pseudo_atr(&self, out: &mut [u8; PSEUDO_ATR_MAX]) -> Option<usize> {
        self.ats.as_ref().map(|ats| ats.pseudo_atr(out))
    }

    /// Sends one command APDU (activating the card first if needed) and returns
    /// the response length.
    pub fn transceive(
        &mut self,
        command: &[u8],
        response: &mut [u8],
    ) -> Result<usize, IsoDepError> {
        if command.is_empty() {
            return Err(IsoDepError::EmptyCommand);
        }
        match self.state {
            State::Active => {}
            State::Failed => return Err(IsoDepError::NotActive),
            State::Off | State::Idle | State::Selected => {
                self.activate()?;
            }
        }
        let result = self.exchange(command, response);
        if let Err(e) = result {
            if !matches!(e, IsoDepError::BufferTooSmall { .. }) {
                self.state = State::Failed;
            }
        }
        result
    }

    /// Puts `bytes` (RATS, PPS) into the control buffer, with CRC when ours.
    fn raw(&mut self, bytes: &[u8]) -> Result<(), IsoDepError> {
        let n = bytes.len();
        self.ctl
            .get_mut(..n)
            .ok_or(IsoDepError::Protocol)?
            .copy_from_slice(bytes);
        self.ctl_len = self.finish(Tx::Ctl, n)?;
        Ok(())
    }

    /// Encodes a block into a buffer, with CRC when ours.
    fn build(&mut self, into: Tx, pcb: Pcb, inf: &[u8]) -> Result<(), IsoDepError> {
        let block = Block {
            pcb,
            cid: self.cid,
            nad: None,
            inf,
        };
        let buf: &mut [u8] = match into {
            Tx::I => &mut self.iblk,
            Tx::Ctl => &mut self.ctl,
        };
        let n = block.encode(buf).map_err(|_| IsoDepError::Protocol)?;
        let len = self.finish(into, n)?;
        match into {
            Tx::I => self.iblk_len = len,
            Tx::Ctl => self.ctl_len = len,
        }
        Ok(())
    }

    /// Appends the CRC_A when the front end does not.
    fn finish(&mut self, into: Tx, n: usize) -> Result<usize, IsoDepError> {
        if self.caps.crc {
            return Ok(n);
        }
        let buf: &mut [u8] = match into {
            Tx::I => &mut self.iblk,
            Tx::Ctl => &mut self.ctl,
        };
        let crc = crc_a(buf.get(..n).unwrap_or_default());
        buf.get_mut(n..n + 2)
            .ok_or(IsoDepError::Protocol)?
            .copy_from_slice(&crc);
        Ok(n + 2)
    }

    /// Sends a buffer and receives a frame: `Ok(Ok(n))` with the frame (CRC
    /// removed) in `rx[..n]`, `Ok(Err(_))` for a time-out or damaged frame.
    fn send_raw(
        &mut self,
        from: Tx,
        fwt_us: u32,
    ) -> Result<Result<usize, IsoDepError>, IsoDepError> {
        let frame = match from {
            Tx::I => self.iblk.get(..self.iblk_len),
            Tx::Ctl => self.ctl.get(..self.ctl_len),
        }
        .unwrap_or_default();
        let timeout = fwt_us.saturating_add(self.cfg.fwt_margin_us);
        let n = match self.fe.transceive(frame, &mut self.rx, timeout) {
            Ok(n) => n,
            Err(e) => {
                return match e.kind() {
                    FrontEndErrorKind::Timeout => Ok(Err(IsoDepError::Timeout)),
                    FrontEndErrorKind::Transmission | FrontEndErrorKind::Overflow => {
                        Ok(Err(IsoDepError::Transmission))
                    }
                    k => Err(IsoDepError::FrontEnd(k)),
                }
            }
        };
        let Some(frame) = self.rx.get(..n) else {
            return Ok(Err(IsoDepError::Transmission));
        };
        if self.caps.crc {
            return Ok(if frame.is_empty() {
                Err(IsoDepError::Transmission)
            } else {
                Ok(n)
            });
        }
        Ok(match strip_crc_a(frame) {
            Some(body) => Ok(body.len()),
            None => Err(IsoDepError::Transmission),
        })
    }

    /// Sends a buffer and receives a block.
    fn send(&mut self, from: Tx, fwt_us: u32) -> Result<Rx, IsoDepError> {
        let n = match self.send_raw(from, fwt_us)? {
            Ok(n) => n,
            Err(IsoDepError::Timeout) => return Ok(Rx::Timeout),
            Err(_) => return Ok(Rx::Damaged),
        };
        let Ok(block) = Block::parse(self.rx.get(..n).unwrap_or_default()) else {
            return Ok(Rx::Invalid);
        };
        // The card answers with a CID exactly when we send one.
        if block.cid != self.cid {
            return Ok(Rx::Invalid);
        }
        if let Pcb::S(SKind::Wtx) = block.pcb {
            let wtxm = block.inf.first().map_or(0, |m| m & 0x3F);
            if wtxm == 0 || wtxm > WTXM_MAX {
                return Ok(Rx::Invalid);
            }
        }
        Ok(Rx::Block {
            pcb: block.pcb,
            inf_at: n - block.inf.len(),
            inf_len: block.inf.len(),
        })
    }

    fn build_i(
        &mut self,
        command: &[u8],
        off: usize,
        len: usize,
        chaining: bool,
    ) -> Result<(), IsoDepError> {
        let inf = command
            .get(off..off + len)
            .ok_or(IsoDepError::EmptyCommand)?;
        self.build(
            Tx::I,
            Pcb::I {
                bn: self.bn,
                chaining,
            },
            inf,
        )
    }

    /// The block protocol for one command (§7.5).
    fn exchange(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, IsoDepError> {
        let max_inf = self
            .fsc
            .saturating_sub(Block::overhead(self.cid.is_some(), false))
            .max(1);
        let mut off = 0usize;
        let mut len = command.len().min(max_inf);
        let mut chaining = len < command.len();
        self.build_i(command, off, len, chaining)?;
        let mut tx = Tx::I;
        // The card is chaining its response.
        let mut receiving = false;
        let mut got = 0usize;
        let mut errors = 0u8;
        let mut wtx = 0u16;
        let mut fwt = self.fwt_us;
        loop {
            let rx = self.send(tx, fwt)?;
            fwt = self.fwt_us;
            let failure = match rx {
                Rx::Block {
                    pcb: Pcb::S(SKind::Wtx),
                    inf_at,
                    ..
                } => {
                    wtx += 1;
                    if wtx > self.cfg.max_wtx {
                        return Err(IsoDepError::TooManyWtx);
                    }
                    let m = self.rx.get(inf_at).map_or(1, |m| m & 0x3F);
                    self.build(Tx::Ctl, Pcb::S(SKind::Wtx), &[m])?;
                    tx = Tx::Ctl;
                    fwt = self.fwt_us.saturating_mul(u32::from(m)).min(FWT_MAX_US);
                    continue;
                }
                Rx::Block {
                    pcb: Pcb::R { nak: false, bn },
                    ..
                } if !receiving => {
                    if bn == self.bn && chaining {
                        // Rule 7 (the block number toggles, rule B): our next chunk.
                        self.bn = !self.bn;
                        errors = 0;
                        off += len;
                        len = (command.len() - off).min(max_inf);
                        chaining = off + len < command.len();
                        self.build_i(command, off, len, chaining)?;
                        tx = Tx::I;
                        continue;
                    }
                    if bn != self.bn {
                        // Rule 6: the card missed our last I-block.
                        errors += 1;
                        if errors > self.cfg.retries {
                            return Err(IsoDepError::Protocol);
                        }
                        tx = Tx::I;
                        continue;
                    }
                    IsoDepError::Protocol
                }
                Rx::Block {
                    pcb: Pcb::I { bn, chaining: more },
                    inf_at,
                    inf_len,
                } if !chaining && bn == self.bn && !(more && inf_len == 0) => {
                    // (An empty chained block carries nothing: a card sending them
                    // could hold us for ever, so it falls to the error arm below.)
                    self.bn = !self.bn;
                    errors = 0;
                    let start = got;
                    got += inf_len;
                    if got > MAX_RESPONSE {
                        return Err(IsoDepError::ChainTooLong);
                    }
                    if let (Some(dst), Some(src)) = (
                        response.get_mut(start..got),
                        self.rx.get(inf_at..inf_at + inf_len),
                    ) {
                        dst.copy_from_slice(src);
                    }
                    if more {
                        receiving = true;
                        self.build(
                            Tx::Ctl,
                            Pcb::R {
                                bn: self.bn,
                                nak: false,
                            },
                            &[],
                        )?;
                        tx = Tx::Ctl;
                        continue;
                    }
                    if got > response.len() {
                        return Err(IsoDepError::BufferTooSmall { needed: got });
                    }
                    return Ok(got);
                }
                Rx::Block { .. } | Rx::Invalid => IsoDepError::Protocol,
                Rx::Timeout => IsoDepError::Timeout,
                Rx::Damaged => IsoDepError::Transmission,
            };
            errors += 1;
            if errors > self.cfg.retries {
                return Err(failure);
            }
            // Rule 4 (R(NAK)), or rule 5 while the card chains (R(ACK)).
            self.build(
                Tx::Ctl,
                Pcb::R {
                    bn: self.bn,
                    nak: !receiving,
                },
                &[],
            )?;
            tx = Tx::Ctl;
        }
    }
}

impl<F: ContactlessFrontEnd> Transport for IsoDep<F> {
    type Error = IsoDepError;

    fn transmit(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, Self::Error> {
        self.transceive(command, response)
    }
}

impl<F: ContactlessFrontEnd> Reader for IsoDep<F> {
    /// The PC/SC pseudo-ATR from the ATS historical bytes (activating the card
    /// first if needed).
    fn atr(&mut self, atr: &mut [u8]) -> Result<usize, Self::Error> {
        if self.ats.is_none() {
            self.activate()?;
        }
        let mut buf = [0u8; PSEUDO_ATR_MAX];
        let n = self.pseudo_atr(&mut buf).ok_or(IsoDepError::NotActive)?;
        atr.get_mut(..n)
            .ok_or(IsoDepError::BufferTooSmall { needed: n })?
            .copy_from_slice(buf.get(..n).unwrap_or_default());
        Ok(n)
    }

    /// Cold: field off and on, then activation. Warm: S(DESELECT), WUPA (which
    /// wakes the halted card) and activation.
    fn reset(&mut self, kind: ResetKind) -> Result<(), Self::Error> {
        match kind {
            ResetKind::Cold => {
                self.power_off()?;
            }
            ResetKind::Warm => {
                let _ = self.deselect();
                if self.state == State::Idle {
                    self.select(true)?;
                }
            }
        }
        self.activate().map(|_| ())
    }
}
