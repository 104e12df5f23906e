//! T=0, the half-duplex character protocol (ISO/IEC 7816-3 §10), both sides.
//!
//! The terminal maps a short command APDU onto a TPDU (§12.2):
//!
//! | APDU case | TPDU header | then |
//! |---|---|---|
//! | 1 | CLA INS P1 P2 `00` | SW1 SW2 |
//! | 2 | CLA INS P1 P2 Le | Le bytes from the card, SW1 SW2 |
//! | 3 | CLA INS P1 P2 Lc | Lc bytes to the card, SW1 SW2 |
//! | 4 | CLA INS P1 P2 Lc | Lc bytes to the card, SW1 SW2 (normally `61xx`) |
//!
//! and follows the card's procedure bytes (§10.3.3): `60` NULL (wait again), INS or
//! INS ⊕ `01` (transfer all remaining data), ~INS or ~INS ⊕ `01` (transfer one
//! byte), `6x`/`9x` (SW1; SW2 follows). `61xx` and `6Cxx` are answered by the APDU
//! layer ([`sscard_apdu::Exchange`]), not here. INS `6x`/`9x` cannot be sent.
//!
//! The card side ([`T0Card`]) reads the header, decides from the INS whether the
//! data goes in or out ([`Direction`], because P3 is Lc for one and Le for the
//! other), sends procedure bytes and answers.

use sscard_apdu::CommandView;

use crate::atr::{Atr, AtrError};
use crate::error::{LinkError, T0Error};
use crate::io::{self, CardIo};
use crate::timing::Timing;

/// The NULL procedure byte.
pub const NULL: u8 = 0x60;

/// Whether `ins` can travel over T=0 (not `6x` or `9x`).
pub const fn valid_ins(ins: u8) -> bool {
    !matches!(ins & 0xF0, 0x60 | 0x90)
}

const fn is_sw1(b: u8) -> bool {
    b != NULL && matches!(b & 0xF0, 0x60 | 0x90)
}

/// What a procedure byte means for a command with this INS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Procedure {
    /// `60`: the card needs more time.
    Null,
    /// INS or INS ⊕ `01`: transfer all remaining data bytes.
    All,
    /// ~INS or ~INS ⊕ `01`: transfer the next data byte.
    One,
    /// `6x` (not `60`) or `9x`: the first status byte.
    Sw1(u8),
}

impl Procedure {
    /// Classifies `byte` for `ins`; `None` when it is no procedure byte.
    pub const fn classify(ins: u8, byte: u8) -> Option<Self> {
        if byte == NULL {
            Some(Self::Null)
        } else if is_sw1(byte) {
            Some(Self::Sw1(byte))
        } else if byte == ins || byte == ins ^ 0x01 {
            Some(Self::All)
        } else if byte == !ins || byte == !ins ^ 0x01 {
            Some(Self::One)
        } else {
            None
        }
    }
}

/// T=0 parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct T0Config {
    /// Waiting time WT between characters from the other side.
    pub wt_us: u64,
    /// Delay between a received character and one sent in reply (16 ETU).
    pub turnaround_us: u64,
    /// NULL bytes accepted per command before giving up (bounds a card that asks
    /// for time for ever).
    pub max_nulls: u32,
}

impl T0Config {
    /// From the ATR's WI and the line timing; at most 1000 NULL bytes per command.
    pub fn from_atr(atr: &Atr, timing: &Timing) -> Result<Self, AtrError> {
        Ok(Self {
            wt_us: timing.t0_wt_us(atr.wi()?),
            turnaround_us: timing.t0_turnaround_us(),
            max_nulls: 1000,
        })
    }

    /// Sets the NULL byte budget.
    pub const fn with_max_nulls(mut self, max_nulls: u32) -> Self {
        self.max_nulls = max_nulls;
        self
    }
}

/// A T=0 command header (TPDU) built from a short command APDU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tpdu<'a> {
    /// CLA INS P1 P2 P3.
    pub header: [u8; 5],
    /// Data for the card (cases 3 and 4).
    pub data: &'a [u8],
    /// Bytes expected from the card before SW1 SW2 (case 2).
    pub ne: usize,
}

impl<'a> Tpdu<'a> {
    /// Maps a short command APDU (cases 1–4) onto a TPDU. Case 4 drops Le: the card
    /// announces its data with `61xx`.
    pub fn from_apdu(apdu: &'a [u8]) -> Result<Self, LinkError> {
        let cmd = CommandView::parse(apdu).map_err(|_| LinkError::InvalidCommand)?;
        if cmd.is_extended() {
            return Err(LinkError::InvalidCommand);
        }
        if !valid_ins(cmd.ins()) {
            return Err(T0Error::InvalidIns(cmd.ins()).into());
        }
        let (p3, ne, data) = match cmd.case() {
            1 => (0, 0, &[][..]),
            2 => {
                let ne = cmd.le().unwrap_or(256);
                (u8::try_from(ne).unwrap_or(0), ne, &[][..])
            }
            _ => {
                let lc = u8::try_from(cmd.data().len()).map_err(|_| LinkError::InvalidCommand)?;
                (lc, 0, cmd.data())
            }
        };
        Ok(Self {
            header: [cmd.cla(), cmd.ins(), cmd.p1(), cmd.p2(), p3],
            data,
            ne,
        })
    }
}

/// Sends one short command APDU over T=0 and writes the card's answer (data and
/// SW1 SW2) into `response`, returning its length.
pub fn transceive<IO: CardIo + ?Sized>(
    io: &mut IO,
    cfg: &T0Config,
    command: &[u8],
    response: &mut [u8],
) -> Result<usize, LinkError> {
    let tpdu = Tpdu::from_apdu(command)?;
    let needed = tpdu.ne + 2;
    if response.len() < needed {
        return Err(LinkError::BufferTooSmall { needed });
    }
    let ins = tpdu.header[1];
    io::send(io, &tpdu.header)?;
    let mut to_send = tpdu.data;
    let mut to_recv = tpdu.ne;
    let mut got = 0usize;
    let mut nulls = 0u32;
    loop {
        let b = recv_wt(io, cfg)?;
        match Procedure::classify(ins, b) {
            Some(Procedure::Null) => {
                nulls += 1;
                if nulls > cfg.max_nulls {
                    return Err(T0Error::TooManyNullBytes.into());
                }
            }
            Some(Procedure::Sw1(sw1)) => {
                let sw2 = recv_wt(io, cfg)?;
                let out = response
                    .get_mut(got..got + 2)
                    .ok_or(LinkError::BufferTooSmall { needed: got + 2 })?;
                out.copy_from_slice(&[sw1, sw2]);
                return Ok(got + 2);
            }
            Some(Procedure::All) if !to_send.is_empty() => {
                turnaround(io, cfg)?;
                io::send(io, to_send)?;
                to_send = &[];
            }
            Some(Procedure::All) if to_recv > 0 => {
                for _ in 0..to_recv {
                    let byte = recv_wt(io, cfg)?;
                    *response.get_mut(got).ok_or(T0Error::TooMuchData)? = byte;
                    got += 1;
                }
                to_recv = 0;
            }
            Some(Procedure::One) if !to_send.is_empty() => {
                let (first, rest) = to_send.split_at(1);
                turnaround(io, cfg)?;
                io::send(io, first)?;
                to_send = rest;
            }
            Some(Procedure::One) if to_recv > 0 => {
                let byte = recv_wt(io, cfg)?;
                *response.get_mut(got).ok_or(T0Error::TooMuchData)? = byte;
                got += 1;
                to_recv -= 1;
            }
            Some(Procedure::All | Procedure::One) => return Err(T0Error::TooMuchData.into()),
            None => return Err(T0Error::UnexpectedProcedureByte(b).into()),
        }
    }
}

fn recv_wt<IO: CardIo + ?Sized>(io: &mut IO, cfg: &T0Config) -> Result<u8, LinkError> {
    let deadline = io.now_us().saturating_add(cfg.wt_us);
    io::recv(io, deadline)?.ok_or(LinkError::Timeout)
}

fn turnaround<IO: CardIo + ?Sized>(io: &mut IO, cfg: &T0Config) -> Result<(), LinkError> {
    let at = io.now_us().saturating_add(cfg.turnaround_us);
    io::wait_until(io, at)
}

/// Which way a command's data flows; over T=0 only the card's knowledge of INS
/// tells whether P3 is Lc or Le.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Data to the card: P3 is Lc (P3 = 0: no data, case 1).
    Incoming,
    /// Data from the card: P3 is Le (P3 = 0: 256).
    Outgoing,
}

impl Direction {
    /// The direction of the ISO/IEC 7816-4 and PBOC commands a social security card
    /// knows: commands that carry data (SELECT, VERIFY, UPDATE, authentication,
    /// PIN changes, PUT DATA, purchase steps …) are incoming, everything else
    /// (READ BINARY/RECORD, GET RESPONSE, GET CHALLENGE, GET DATA …) outgoing.
    pub const fn of_ins(cla: u8, ins: u8) -> Self {
        let proprietary = cla & 0x80 != 0;
        match ins {
            0x0E | 0x20 | 0x21 | 0x22 | 0x24 | 0x2A | 0x2C | 0x44 | 0x46 | 0x82 | 0x86 | 0x88
            | 0xA2 | 0xA4 | 0xC2 | 0xD0 | 0xD2 | 0xD6 | 0xDA | 0xDB | 0xDC | 0xDE | 0xE0 | 0xE2
            | 0xE4 | 0xE6 | 0xE8 => Self::Incoming,
            // PBOC/SSSE proprietary: INITIALIZE FOR LOAD/PURCHASE, CREDIT/DEBIT,
            // PIN change/reload, PSAM MAC steps, APPLICATION BLOCK/UNBLOCK, GPO, GENERATE AC.
            0x50 | 0x52 | 0x54 | 0x5A | 0x5E | 0x70 | 0x72 | 0x74 | 0x1E | 0x18 | 0x16 | 0xFA
            | 0xA8 | 0xAE
                if proprietary =>
            {
                Self::Incoming
            }
            _ => Self::Outgoing,
        }
    }
}

/// A command as the card received it over T=0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct T0Command {
    /// The header as received.
    pub header: [u8; 5],
    /// Which way its data flows.
    pub direction: Direction,
    /// The length of the command APDU rebuilt in the caller's buffer.
    pub len: usize,
}

impl T0Command {
    /// Ne for an outgoing command (P3 = 0 means 256), 0 otherwise.
    pub fn ne(&self) -> usize {
        match (self.direction, self.header[4]) {
            (Direction::Outgoing, 0) => 256,
            (Direction::Outgoing, p3) => usize::from(p3),
            (Direction::Incoming, _) => 0,
        }
    }
}

/// Parameters of the card's T=0 engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct T0CardConfig {
    /// How long to wait for the rest of a header or for data after a procedure byte.
    pub wt_us: u64,
    /// Delay between a received character and one sent in reply (16 ETU).
    pub turnaround_us: u64,
    /// Acknowledge data one byte at a time (~INS) instead of all at once (INS).
    pub single_byte_acks: bool,
    /// NULL bytes to send before the answer (to exercise the terminal).
    pub nulls_before_answer: u8,
}

impl T0CardConfig {
    /// From our ATR's WI and the line timing.
    pub fn from_atr(atr: &Atr, timing: &Timing) -> Result<Self, AtrError> {
        Ok(Self {
            wt_us: timing.t0_wt_us(atr.wi()?),
            turnaround_us: timing.t0_turnaround_us(),
            single_byte_acks: false,
            nulls_before_answer: 0,
        })
    }

    /// Sets the acknowledgement style and the NULL bytes sent before each answer.
    pub const fn with_style(mut self, single_byte_acks: bool, nulls_before_answer: u8) -> Self {
        self.single_byte_acks = single_byte_acks;
        self.nulls_before_answer = nulls_before_answer;
        self
    }
}

/// The card's T=0 engine.
#[derive(Clone, Copy, Debug)]
pub struct T0Card {
    cfg: T0CardConfig,
}

impl T0Card {
    /// An engine with these parameters.
    pub const fn new(cfg: T0CardConfig) -> Self {
        Self { cfg }
    }

    /// The parameters.
    pub const fn config(&self) -> &T0CardConfig {
        &self.cfg
    }

    fn recv_wt<IO: CardIo + ?Sized>(&self, io: &mut IO) -> Result<u8, LinkError> {
        let deadline = io.now_us().saturating_add(self.cfg.wt_us);
        io::recv(io, deadline)?.ok_or(LinkError::Timeout)
    }

    fn turnaround<IO: CardIo + ?Sized>(&self, io: &mut IO) -> Result<(), LinkError> {
        let at = io.now_us().saturating_add(self.cfg.turnaround_us);
        io::wait_until(io, at)
    }

    /// Receives one command: the header (its first byte by `deadline_us`), then for
    /// incoming data the procedure bytes and the data. The command APDU is rebuilt
    /// in `apdu` (case 1: 4 bytes; case 2: header with Le; case 3: header, Lc,
    /// data). Headers with INS `6x`/`9x` are answered `6D00` and skipped.
    pub fn receive_command<IO: CardIo + ?Sized>(
        &self,
        io: &mut IO,
        apdu: &mut [u8],
        classify: impl Fn(&[u8; 5]) -> Direction,
        deadline_us: u64,
    ) -> Result<T0Command, LinkError> {
        loop {
            let mut header = [0u8; 5];
            for (i, slot) in header.iter_mut().enumerate() {
                *slot = if i == 0 {
                    io::recv(io, deadline_us)?.ok_or(LinkError::Timeout)?
                } else {
                    self.recv_wt(io)?
                };
            }
            let [_, ins, _, _, p3] = header;
            if !valid_ins(ins) {
                self.turnaround(io)?;
                io::send(io, &[0x6D, 0x00])?;
                continue;
            }
            let direction = classify(&header);
            let lc = usize::from(p3);
            let len = match direction {
                Direction::Outgoing => 5,
                Direction::Incoming if lc == 0 => 4,
                Direction::Incoming => 5 + lc,
            };
            if apdu.len() < len {
                return Err(LinkError::BufferTooSmall { needed: len });
            }
            let (head, data) = apdu.split_at_mut(len.min(5));
            head.copy_from_slice(header.get(..len.min(5)).unwrap_or_default());
            if direction == Direction::Incoming && lc > 0 {
                let data = data
                    .get_mut(..lc)
                    .ok_or(LinkError::BufferTooSmall { needed: len })?;
                if self.cfg.single_byte_acks {
                    for slot in data.iter_mut() {
                        self.turnaround(io)?;
                        io::send(io, &[!ins])?;
                        *slot = self.recv_wt(io)?;
                    }
                } else {
                    self.turnaround(io)?;
                    io::send(io, &[ins])?;
                    for slot in data.iter_mut() {
                        *slot = self.recv_wt(io)?;
                    }
                }
            }
            return Ok(T0Command {
                header,
                direction,
                len,
            });
        }
    }

    /// Sends a NULL procedure byte: the terminal restarts its waiting time.
    pub fn send_null<IO: CardIo + ?Sized>(&self, io: &mut IO) -> Result<(), LinkError> {
        io::send(io, &[NULL])
    }

    /// Answers `command` with `response` (data ‖ SW1 SW2).
    ///
    /// * Outgoing commands: the data goes out after an ACK when it is exactly Ne
    ///   bytes; a shorter answer becomes `6C La` so the terminal asks again with the
    ///   right Le (the data is dropped; the command runs again).
    /// * Incoming commands cannot carry response data over T=0: the handler must
    ///   answer with a status only (`61xx` to announce data, as sscard-emu's T=0
    ///   paging does). Data here is refused with `6F00` and
    ///   [`T0Error::TooMuchData`].
    pub fn send_response<IO: CardIo + ?Sized>(
        &self,
        io: &mut IO,
        command: &T0Command,
        response: &[u8],
    ) -> Result<(), LinkError> {
        self.turnaround(io)?;
        for _ in 0..self.cfg.nulls_before_answer {
            self.send_null(io)?;
        }
        let Some((data, sw)) = response.split_last_chunk::<2>() else {
            io::send(io, &[0x6F, 0x00])?;
            return Err(LinkError::InvalidCommand);
        };
        let ins = command.header[1];
        if data.is_empty() {
            return io::send(io, sw);
        }
        if command.direction == Direction::Incoming {
            io::send(io, &[0x6F, 0x00])?;
            return Err(T0Error::TooMuchData.into());
        }
        let ne = command.ne();
        if data.len() < ne {
            let la = u8::try_from(data.len()).unwrap_or(0);
            return io::send(io, &[0x6C, la]);
        }
        let data = data.get(..ne).unwrap_or(data);
        if self.cfg.single_byte_acks {
            for &b in data {
                io::send(io, &[!ins, b])?;
            }
        } else {
            io::send(io, &[ins])?;
            io::send(io, data)?;
        }
        io::send(io, sw)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tpdu_mapping() {
        let t = Tpdu::from_apdu(&[0x00, 0x84, 0x00, 0x00]).unwrap();
        assert_eq!((t.header, t.ne, t.data), ([0, 0x84, 0, 0, 0], 0, &[][..]));
        let t = Tpdu::from_apdu(&[0x00, 0xB2, 0x07, 0x28, 0x0B]).unwrap();
        assert_eq!((t.header[4], t.ne), (0x0B, 11));
        let t = Tpdu::from_apdu(&[0x00, 0xB0, 0x00, 0x00, 0x00]).unwrap();
        assert_eq!((t.header[4], t.ne), (0, 256));
        let t = Tpdu::from_apdu(&[0x00, 0xA4, 0x04, 0x00, 0x02, 0x3F, 0x00]).unwrap();
        assert_eq!((t.header[4], t.ne, t.data), (2, 0, &[0x3F, 0x00][..]));
        let t = Tpdu::from_apdu(&[0x00, 0xA4, 0x04, 0x00, 0x02, 0x3F, 0x00, 0x00]).unwrap();
        assert_eq!((t.header[4], t.ne, t.data), (2, 0, &[0x3F, 0x00][..]));
        assert_eq!(
            Tpdu::from_apdu(&[0x00, 0x6A, 0, 0]),
            Err(LinkError::T0(T0Error::InvalidIns(0x6A)))
        );
        assert_eq!(
            Tpdu::from_apdu(&[0x00, 0xB0, 0, 0, 0, 0x01, 0x00]),
            Err(LinkError::InvalidCommand)
        );
        assert_eq!(
            Tpdu::from_apdu(&[0x00, 0xB0]),
            Err(LinkError::InvalidCommand)
        );
    }

    #[test]
    fn procedure_bytes() {
        assert_eq!(Procedure::classify(0xA4, 0x60), Some(Procedure::Null));
        assert_eq!(Procedure::classify(0xA4, 0xA4), Some(Procedure::All));
        assert_eq!(Procedure::classify(0xA4, 0xA5), Some(Procedure::All));
        assert_eq!(Procedure::classify(0xA4, 0x5B), Some(Procedure::One));
        assert_eq!(Procedure::classify(0xA4, 0x5A), Some(Procedure::One));
        assert_eq!(Procedure::classify(0xA4, 0x61), Some(Procedure::Sw1(0x61)));
        assert_eq!(Procedure::classify(0xA4, 0x90), Some(Procedure::Sw1(0x90)));
        assert_eq!(Procedure::classify(0xA4, 0x00), None);
        assert_eq!(Direction::of_ins(0x00, 0xA4), Direction::Incoming);
        assert_eq!(Direction::of_ins(0x00, 0xB2), Direction::Outgoing);
        assert_eq!(Direction::of_ins(0x80, 0x50), Direction::Incoming);
        assert_eq!(Direction::of_ins(0x00, 0x50), Direction::Outgoing);
    }
}
