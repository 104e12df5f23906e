//! Test support: a simulated wire with a simulated clock, fault injection, a
//! scripted I/O, and card handlers.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use sscard_apdu::ResetKind;
use sscard_link::io::{CardIo, Convention, IoError, IoErrorKind, LineConfig, TerminalIo};
use sscard_link::{Atr, CardConfig, CardHandler, CardLink, LinkError};

/// Which end of the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Terminal = 0,
    Card = 1,
}

impl Side {
    fn idx(self) -> usize {
        self as usize
    }
    fn other(self) -> Side {
        match self {
            Side::Terminal => Side::Card,
            Side::Card => Side::Terminal,
        }
    }
}

/// A fault applied to one `send` call of one side.
#[derive(Clone, Debug)]
pub enum Fault {
    /// The whole send is lost.
    Drop,
    /// Byte `index` arrives XORed with `xor`.
    Corrupt { index: usize, xor: u8 },
    /// Byte `index` arrives with a parity error.
    Parity { index: usize },
    /// Only the first `keep` bytes arrive.
    Truncate { keep: usize },
    /// These bytes follow the send.
    Garbage(Vec<u8>),
}

#[derive(Clone, Copy, Debug)]
enum Item {
    Byte {
        b: u8,
        etu_ns: u64,
        conv: Convention,
    },
    Parity,
    Reset,
}

struct State {
    now: u64,
    /// `inbox[s]`: what side `s` receives, with arrival times.
    inbox: [VecDeque<(u64, Item)>; 2],
    last_arrival: [u64; 2],
    /// `Some((deadline, consuming))` while a side is blocked.
    waiting: [Option<(u64, bool)>; 2],
    closed: [bool; 2],
    line: [LineConfig; 2],
    sends: [usize; 2],
    faults: Vec<(Side, usize, Fault)>,
    transcript: Vec<(u64, Side, Vec<u8>)>,
    powered: bool,
    deadlock: bool,
}

#[derive(Clone)]
pub struct Wire {
    shared: Arc<(Mutex<State>, Condvar)>,
}

/// The simulated I/O's error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimError(pub IoErrorKind);

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "simulated wire: {}", self.0)
    }
}

impl IoError for SimError {
    fn kind(&self) -> IoErrorKind {
        self.0
    }
}

/// One end of the wire.
pub struct End {
    wire: Wire,
    side: Side,
}

impl Wire {
    /// A wire at `clock_hz`, both ends at the initial line parameters.
    pub fn new(clock_hz: u32) -> Self {
        let line = LineConfig::initial(clock_hz);
        Self {
            shared: Arc::new((
                Mutex::new(State {
                    now: 0,
                    inbox: [VecDeque::new(), VecDeque::new()],
                    last_arrival: [0, 0],
                    waiting: [None, None],
                    closed: [false, false],
                    line: [line, line],
                    sends: [0, 0],
                    faults: Vec::new(),
                    transcript: Vec::new(),
                    powered: false,
                    deadlock: false,
                }),
                Condvar::new(),
            )),
        }
    }

    pub fn end(&self, side: Side) -> End {
        End {
            wire: self.clone(),
            side,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The simulated time in microseconds.
    pub fn now(&self) -> u64 {
        self.lock().now
    }

    /// Applies `fault` to the `nth` next send of `side` (0: the very next).
    pub fn arm(&self, side: Side, nth: usize, fault: Fault) {
        let mut st = self.lock();
        let at = st.sends[side.idx()] + nth;
        st.faults.push((side, at, fault));
    }

    /// Everything sent so far: (time, sender, bytes of one `send` call).
    pub fn transcript(&self) -> Vec<(u64, Side, Vec<u8>)> {
        self.lock().transcript.clone()
    }

    /// What `side` sent, one entry per `send` call (before faults).
    pub fn sends_by(&self, side: Side) -> Vec<Vec<u8>> {
        self.lock()
            .transcript
            .iter()
            .filter(|(_, s, _)| *s == side)
            .map(|(_, _, b)| b.clone())
            .collect()
    }

    /// All bytes `side` sent.
    pub fn sent_by(&self, side: Side) -> Vec<u8> {
        self.sends_by(side).concat()
    }

    /// Whether a test side ever blocked with no event pending on either side.
    pub fn deadlocked(&self) -> bool {
        self.lock().deadlock
    }

    fn close(&self, side: Side) {
        let mut st = self.lock();
        st.closed[side.idx()] = true;
        self.shared.1.notify_all();
    }

    /// Blocks `side` until `deadline` or (when `consume`) an item is available.
    fn wait(&self, side: Side, deadline: u64, consume: bool) -> Result<Option<Item>, SimError> {
        let s = side.idx();
        let o = side.other().idx();
        let mut st = self.lock();
        loop {
            st.waiting[s] = None;
            if consume {
                if let Some(&(t, item)) = st.inbox[s].front() {
                    if t <= st.now {
                        st.inbox[s].pop_front();
                        self.shared.1.notify_all();
                        return Ok(Some(item));
                    }
                }
                if side == Side::Card && st.closed[o] && st.inbox[s].is_empty() {
                    return Err(SimError(IoErrorKind::Closed));
                }
            }
            if st.now >= deadline {
                self.shared.1.notify_all();
                return Ok(None);
            }
            st.waiting[s] = Some((deadline, consume));
            let other_blocked = st.closed[o] || st.waiting[o].is_some();
            if other_blocked {
                let other_ready = !st.closed[o]
                    && st.waiting[o].is_some_and(|(d, c)| {
                        d <= st.now || (c && st.inbox[o].front().is_some_and(|&(t, _)| t <= st.now))
                    });
                if !other_ready {
                    // Both sides wait: jump to the next event.
                    let mut next = deadline;
                    if consume {
                        if let Some(&(t, _)) = st.inbox[s].front() {
                            next = next.min(t);
                        }
                    }
                    if !st.closed[o] {
                        if let Some((d, c)) = st.waiting[o] {
                            next = next.min(d);
                            if c {
                                if let Some(&(t, _)) = st.inbox[o].front() {
                                    next = next.min(t);
                                }
                            }
                        }
                    }
                    if next == u64::MAX {
                        st.deadlock = true;
                        st.waiting[s] = None;
                        self.shared.1.notify_all();
                        return Err(SimError(IoErrorKind::Closed));
                    }
                    st.now = st.now.max(next);
                    self.shared.1.notify_all();
                    continue;
                }
            }
            st = self.shared.1.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn send(&self, side: Side, bytes: &[u8]) -> Result<(), SimError> {
        let s = side.idx();
        let r = side.other().idx();
        let last = {
            let mut st = self.lock();
            let nth = st.sends[s];
            st.sends[s] += 1;
            let mut faults = Vec::new();
            st.faults.retain(|(fs, at, f)| {
                if *fs == side && *at == nth {
                    faults.push(f.clone());
                    false
                } else {
                    true
                }
            });
            let line = st.line[s];
            let etu_ns = line.timing.etu_ns();
            let char_us = line.timing.etus_us(u64::from(line.guard_etu));
            let mut items: Vec<Item> = bytes
                .iter()
                .map(|&b| Item::Byte {
                    b,
                    etu_ns,
                    conv: line.convention,
                })
                .collect();
            let mut dropped = false;
            for f in &faults {
                match f {
                    Fault::Drop => dropped = true,
                    Fault::Corrupt { index, xor } => {
                        if let Some(Item::Byte { b, .. }) = items.get_mut(*index) {
                            *b ^= xor;
                        }
                    }
                    Fault::Parity { index } => {
                        if let Some(item) = items.get_mut(*index) {
                            *item = Item::Parity;
                        }
                    }
                    Fault::Truncate { keep } => items.truncate(*keep),
                    Fault::Garbage(g) => items.extend(g.iter().map(|&b| Item::Byte {
                        b,
                        etu_ns,
                        conv: line.convention,
                    })),
                }
            }
            let now = st.now;
            let mut t = st.last_arrival[r].max(now);
            st.transcript.push((now, side, bytes.to_vec()));
            for item in items {
                t += char_us;
                let deliver = !dropped && (st.powered || side == Side::Terminal);
                if deliver {
                    st.inbox[r].push_back((t, item));
                }
            }
            // The sender is busy until its last character is out.
            let busy_until = now + char_us * bytes.len() as u64;
            st.last_arrival[r] = t.max(busy_until);
            self.shared.1.notify_all();
            busy_until
        };
        self.wait(side, last, false).map(|_| ())
    }
}

impl Drop for End {
    fn drop(&mut self) {
        self.wire.close(self.side);
    }
}

impl CardIo for End {
    type Error = SimError;

    fn now_us(&mut self) -> u64 {
        self.wire.now()
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), SimError> {
        self.wire.send(self.side, bytes)
    }

    fn receive(&mut self, deadline_us: u64) -> Result<Option<u8>, SimError> {
        match self.wire.wait(self.side, deadline_us, true)? {
            None => Ok(None),
            Some(Item::Reset) => Err(SimError(IoErrorKind::Reset)),
            Some(Item::Parity) => Err(SimError(IoErrorKind::Parity)),
            Some(Item::Byte { b, etu_ns, conv }) => {
                let line = self.wire.lock().line[self.side.idx()];
                let mine = line.timing.etu_ns();
                // A receiver at another bit rate reads garbage: a parity error.
                if mine.abs_diff(etu_ns) * 50 > mine {
                    return Err(SimError(IoErrorKind::Parity));
                }
                Ok(Some(if conv == line.convention {
                    b
                } else {
                    Convention::swap_byte(b)
                }))
            }
        }
    }

    fn configure(&mut self, line: &LineConfig) -> Result<(), SimError> {
        self.wire.lock().line[self.side.idx()] = *line;
        Ok(())
    }

    fn wait_until(&mut self, deadline_us: u64) -> Result<(), SimError> {
        self.wire.wait(self.side, deadline_us, false).map(|_| ())
    }
}

impl TerminalIo for End {
    fn reset(&mut self, _kind: ResetKind) -> Result<(), SimError> {
        let wire = &self.wire;
        let mut st = wire.lock();
        st.inbox[0].clear();
        st.inbox[1].clear();
        st.powered = true;
        let now = st.now;
        st.last_arrival = [now, now];
        st.inbox[Side::Card.idx()].push_back((now, Item::Reset));
        wire.shared.1.notify_all();
        Ok(())
    }

    fn deactivate(&mut self) -> Result<(), SimError> {
        let mut st = self.wire.lock();
        st.powered = false;
        st.inbox[0].clear();
        st.inbox[1].clear();
        Ok(())
    }
}

impl End {
    /// Receives with a deadline `us` from now.
    pub fn recv_within(&mut self, us: u64) -> Result<Option<u8>, SimError> {
        let deadline = self.wire.now() + us;
        self.receive(deadline)
    }

    /// Lets simulated time pass (card processing).
    pub fn sleep(&mut self, us: u64) {
        let until = self.wire.now() + us;
        let _ = self.wire.wait(self.side, until, false);
    }
}

/// A handler that records commands and answers by a rule.
pub struct Recorder<F> {
    pub log: Arc<Mutex<Vec<Vec<u8>>>>,
    pub resets: Arc<Mutex<usize>>,
    pub answer: F,
}

impl<F: FnMut(&[u8]) -> Vec<u8>> CardHandler for Recorder<F> {
    fn reset(&mut self) {
        *self.resets.lock().unwrap() += 1;
    }
    fn handle(&mut self, command: &[u8], response: &mut [u8]) -> usize {
        self.log.lock().unwrap().push(command.to_vec());
        let r = (self.answer)(command);
        let n = r.len().min(response.len());
        response[..n].copy_from_slice(&r[..n]);
        n
    }
}

/// Runs `CardLink::serve` on a thread; returns the handle with the final error.
pub fn spawn_card<H: CardHandler + Send + 'static>(
    wire: &Wire,
    atr: Atr,
    cfg: CardConfig,
    mut handler: H,
) -> JoinHandle<LinkError> {
    let end = wire.end(Side::Card);
    std::thread::spawn(move || {
        let mut card = CardLink::new(end, atr, cfg).unwrap();
        let mut apdu = vec![0u8; 65544];
        let mut resp = vec![0u8; 65538];
        card.serve(&mut handler, &mut apdu, &mut resp)
    })
}

/// The answer the round-trip handlers give: a deterministic function of the
/// command, `len` data bytes and 9000.
pub fn pattern(command: &[u8], len: usize) -> Vec<u8> {
    let seed = command
        .iter()
        .fold(0x5Au8, |a, b| a.wrapping_mul(31).wrapping_add(*b));
    let mut r: Vec<u8> = (0..len).map(|i| seed.wrapping_add(i as u8)).collect();
    r.extend_from_slice(&[0x90, 0x00]);
    r
}

/// A scripted I/O: the peer's bytes come from a list, then silence; time jumps to
/// each deadline. For the no-panic properties.
pub struct ScriptIo {
    pub input: VecDeque<Result<u8, IoErrorKind>>,
    pub sent: Vec<u8>,
    pub now: u64,
    pub receives: usize,
}

impl ScriptIo {
    pub fn new(bytes: &[u8]) -> Self {
        Self {
            input: bytes.iter().map(|&b| Ok(b)).collect(),
            sent: Vec::new(),
            now: 0,
            receives: 0,
        }
    }
}

impl CardIo for ScriptIo {
    type Error = IoErrorKind;
    fn now_us(&mut self) -> u64 {
        self.now
    }
    fn send(&mut self, bytes: &[u8]) -> Result<(), IoErrorKind> {
        self.sent.extend_from_slice(bytes);
        self.now += 1000 * bytes.len() as u64;
        Ok(())
    }
    fn receive(&mut self, deadline_us: u64) -> Result<Option<u8>, IoErrorKind> {
        self.receives += 1;
        match self.input.pop_front() {
            Some(Ok(b)) => {
                self.now += 1000;
                Ok(Some(b))
            }
            Some(Err(e)) => Err(e),
            None => {
                if deadline_us == u64::MAX {
                    return Err(IoErrorKind::Closed);
                }
                self.now = self.now.max(deadline_us);
                Ok(None)
            }
        }
    }
    fn configure(&mut self, _line: &LineConfig) -> Result<(), IoErrorKind> {
        Ok(())
    }
    fn wait_until(&mut self, deadline_us: u64) -> Result<(), IoErrorKind> {
        self.now = self.now.max(deadline_us);
        Ok(())
    }
}

impl TerminalIo for ScriptIo {
    fn reset(&mut self, _kind: ResetKind) -> Result<(), IoErrorKind> {
        Ok(())
    }
    fn deactivate(&mut self) -> Result<(), IoErrorKind> {
        Ok(())
    }
}

pub fn hex(s: &str) -> Vec<u8> {
    sscard_apdu::hex::to_vec(s).unwrap()
}
