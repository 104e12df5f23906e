//! Host simulation of the kiosk hardware: a UART to the card at byte level with a
//! simulated clock, the `sscard-emu` sample card behind `sscard_link::CardLink` on a
//! thread, a scripted keypad, a recording display, a card switch and a delay that
//! advances simulated time.
//!
//! Time: every character takes its guard time (12 ETU at the sender's line
//! parameters) on the wire and arrives when it is complete. When both sides wait,
//! the clock jumps to the next event, so a session of minutes runs in milliseconds
//! and every wait the link layer makes (turnaround, BGT, BWT, WTX) is accounted.
//!
//! Wire time per exchange: the card thread marks the end of each response (its last
//! character); an exchange runs from the leading edge of the terminal's first
//! character after the previous mark to the arrival of the card's last character.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use embedded_hal::delay::DelayNs;
use sscard_apdu::ResetKind;
use sscard_emu::{sample_card, PagingMode, Runtime};
use sscard_kiosk::hal::{render, CardSwitch, Display, Key, Keypad, Screen};
use sscard_link::io::{CardIo, IoError, IoErrorKind, LineConfig, TerminalIo};
use sscard_link::timing::DEFAULT_CLOCK_HZ;
use sscard_link::{Atr, AtrBuilder, CardConfig, CardEvent, CardLink, LinkError, Protocol};

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

#[derive(Clone, Copy, Debug)]
enum Item {
    Byte { b: u8, etu_ns: u64 },
    Reset,
}

/// One character on the wire.
#[derive(Clone, Copy, Debug)]
pub struct Char {
    pub side: Side,
    pub byte: u8,
    /// Leading edge, µs.
    pub start: u64,
    /// Arrival (end of the guard time), µs.
    pub end: u64,
}

/// The wire time of one command-response exchange.
#[derive(Clone, Copy, Debug)]
pub struct ExchangeTime {
    /// Leading edge of the terminal's first character to the arrival of the card's
    /// last, µs.
    pub wire_us: u64,
    /// Characters on the wire (both directions, protocol bytes included).
    pub chars: usize,
    /// C-APDU and R-APDU bytes.
    pub apdu_bytes: usize,
    /// One character (guard time) at the line's rate, µs (fractional).
    pub char_us: f64,
    /// The line's bit rate.
    pub baud: u32,
}

impl ExchangeTime {
    /// Characters × character time.
    pub fn min_us(&self) -> f64 {
        self.chars as f64 * self.char_us
    }
}

struct State {
    now: u64,
    inbox: [VecDeque<(u64, Item)>; 2],
    last_arrival: [u64; 2],
    waiting: [Option<(u64, bool)>; 2],
    closed: [bool; 2],
    line: [LineConfig; 2],
    /// The card is in the slot (the switch).
    inserted: bool,
    /// The card is powered (after a reset, until deactivation or removal).
    powered: bool,
    chars: Vec<Char>,
    /// Record `chars` (off for heap measurements).
    logging: bool,
    /// (index into `chars` after the exchange, apdu bytes, baud, char µs); apdu
    /// bytes 0 is a start mark, not an exchange.
    marks: Vec<(usize, usize, u32, f64)>,
}

/// The simulated wire, switch and clock.
#[derive(Clone)]
pub struct Wire {
    shared: Arc<(Mutex<State>, Condvar)>,
}

/// The simulated I/O's error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimError(pub IoErrorKind);

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "simulated UART: {}", self.0)
    }
}

impl IoError for SimError {
    fn kind(&self) -> IoErrorKind {
        self.0
    }
}

impl Default for Wire {
    fn default() -> Self {
        Self::new()
    }
}

impl Wire {
    pub fn new() -> Self {
        let line = LineConfig::initial(DEFAULT_CLOCK_HZ);
        Self {
            shared: Arc::new((
                Mutex::new(State {
                    now: 0,
                    inbox: [VecDeque::new(), VecDeque::new()],
                    last_arrival: [0, 0],
                    waiting: [None, None],
                    closed: [false, false],
                    line: [line, line],
                    inserted: false,
                    powered: false,
                    chars: Vec::new(),
                    logging: true,
                    marks: Vec::new(),
                }),
                Condvar::new(),
            )),
        }
    }

    /// Stops recording characters (no wire times then).
    pub fn without_log(self) -> Self {
        self.lock().logging = false;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn end(&self, side: Side) -> End {
        End {
            wire: self.clone(),
            side,
        }
    }

    /// Simulated time, µs.
    pub fn now(&self) -> u64 {
        self.lock().now
    }

    /// Puts the card in the slot.
    pub fn insert(&self) {
        self.lock().inserted = true;
        self.shared.1.notify_all();
    }

    /// Takes the card out: the switch opens and the card loses power.
    pub fn remove(&self) {
        let mut st = self.lock();
        st.inserted = false;
        st.powered = false;
        st.inbox[0].clear();
        st.inbox[1].clear();
        self.shared.1.notify_all();
    }

    pub fn inserted(&self) -> bool {
        self.lock().inserted
    }

    /// Every character so far.
    pub fn chars(&self) -> Vec<Char> {
        self.lock().chars.clone()
    }

    /// Marks the end of an exchange (card side, after its response went out).
    fn mark(&self, apdu_bytes: usize) {
        let mut st = self.lock();
        if !st.logging {
            return;
        }
        let line = st.line[Side::Card.idx()];
        let char_us = line.timing.etu_ns() as f64 * f64::from(line.guard_etu) / 1000.0;
        // The terminal may already be sending the next command: the exchange ends
        // with the card's last character.
        let n = st
            .chars
            .iter()
            .rposition(|c| c.side == Side::Card)
            .map_or(0, |i| i + 1);
        st.marks.push((n, apdu_bytes, line.baud(), char_us));
    }

    /// Wire time of each exchange marked so far.
    pub fn exchanges(&self) -> Vec<ExchangeTime> {
        let st = self.lock();
        let mut out = Vec::new();
        let mut from = 0usize;
        for &(to, apdu_bytes, baud, char_us) in &st.marks {
            if apdu_bytes == 0 {
                from = to;
                continue;
            }
            let chars = &st.chars[from..to];
            // The exchange starts with the terminal's first character.
            let first = chars.iter().position(|c| c.side == Side::Terminal);
            if let (Some(first), Some(last)) = (first, chars.last()) {
                let span = &chars[first..];
                out.push(ExchangeTime {
                    wire_us: last.end - span[0].start,
                    chars: span.len(),
                    apdu_bytes,
                    char_us,
                    baud,
                });
            }
            from = to;
        }
        out
    }

    /// Forgets the exchange marks (to measure a part of a session).
    pub fn clear_marks(&self) {
        let mut st = self.lock();
        let n = st.chars.len();
        st.marks.clear();
        st.marks.push((n, 0, 0, 0.0));
    }

    fn close(&self, side: Side) {
        self.lock().closed[side.idx()] = true;
        self.shared.1.notify_all();
    }

    /// Blocks `side` until `deadline` or (when `consume`) an item is available.
    /// When both sides wait, the clock jumps to the earliest event.
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
        let busy_until = {
            let mut st = self.lock();
            let line = st.line[s];
            let etu_ns = line.timing.etu_ns();
            let char_us = line.timing.etus_us(u64::from(line.guard_etu));
            let now = st.now;
            let mut t = st.last_arrival[r].max(now);
            let deliver = st.powered;
            for &b in bytes {
                let start = t;
                t += char_us;
                if st.logging {
                    st.chars.push(Char {
                        side,
                        byte: b,
                        start,
                        end: t,
                    });
                }
                if deliver {
                    st.inbox[r].push_back((t, Item::Byte { b, etu_ns }));
                }
            }
            st.last_arrival[r] = t;
            self.shared.1.notify_all();
            t
        };
        self.wait(side, busy_until, false).map(|_| ())
    }
}

/// One end of the wire.
pub struct End {
    wire: Wire,
    side: Side,
}

impl Drop for End {
    fn drop(&mut self) {
        self.wire.close(self.side);
    }
}

impl End {
    /// Lets simulated time pass (card processing).
    pub fn sleep(&mut self, us: u64) {
        let until = self.wire.now() + us;
        let _ = self.wire.wait(self.side, until, false);
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
            Some(Item::Byte { b, etu_ns }) => {
                let mine = self.wire.lock().line[self.side.idx()].timing.etu_ns();
                // A receiver at another bit rate reads garbage.
                if mine.abs_diff(etu_ns) * 50 > mine {
                    return Err(SimError(IoErrorKind::Parity));
                }
                Ok(Some(b))
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
        let mut st = self.wire.lock();
        st.inbox[0].clear();
        st.inbox[1].clear();
        let now = st.now;
        st.last_arrival = [now, now];
        if st.inserted {
            st.powered = true;
            st.inbox[Side::Card.idx()].push_back((now, Item::Reset));
        }
        self.wire.shared.1.notify_all();
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

/// A delay that advances simulated time (on the terminal's side of the wire).
pub struct SimDelay(pub Wire);

impl DelayNs for SimDelay {
    fn delay_ns(&mut self, ns: u32) {
        let until = self.0.now() + u64::from(ns).div_ceil(1000);
        let _ = self.0.wait(Side::Terminal, until, false);
    }
}

/// The card switch.
pub struct SimSwitch(pub Wire);

impl CardSwitch for SimSwitch {
    type Error = Infallible;

    fn card_present(&mut self) -> Result<bool, Infallible> {
        Ok(self.0.inserted())
    }
}

/// What the scripted holder does at the keypad, one action per poll.
#[derive(Clone, Copy, Debug)]
pub enum Act {
    Key(Key),
    /// Nothing for this many polls.
    Pause(u32),
    /// Pull the card out of the slot.
    Remove,
}

/// Types a PIN.
pub fn pin(digits: &str) -> Vec<Act> {
    let mut v: Vec<Act> = digits
        .bytes()
        .map(|b| Act::Key(Key::Digit(b - b'0')))
        .collect();
    v.push(Act::Key(Key::Enter));
    v
}

/// A keypad that plays a script (shared, so a test can add to it).
#[derive(Clone)]
pub struct SimKeypad {
    pub script: Arc<Mutex<VecDeque<Act>>>,
    pub wire: Wire,
}

impl SimKeypad {
    pub fn new(wire: &Wire) -> Self {
        Self {
            script: Arc::default(),
            wire: wire.clone(),
        }
    }

    pub fn extend(&self, acts: impl IntoIterator<Item = Act>) {
        self.script.lock().unwrap().extend(acts);
    }
}

impl Keypad for SimKeypad {
    type Error = Infallible;

    fn read_key(&mut self) -> Result<Option<Key>, Infallible> {
        let next = self.script.lock().unwrap().pop_front();
        match next {
            Some(Act::Key(k)) => Ok(Some(k)),
            Some(Act::Pause(n)) => {
                if n > 1 {
                    self.script.lock().unwrap().push_front(Act::Pause(n - 1));
                }
                Ok(None)
            }
            Some(Act::Remove) => {
                self.wire.remove();
                Ok(None)
            }
            None => Ok(None),
        }
    }
}

/// A display that keeps the text of every screen.
#[derive(Clone, Default)]
pub struct SimDisplay(pub Arc<Mutex<Vec<String>>>);

impl SimDisplay {
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl Display for SimDisplay {
    type Error = Infallible;

    fn show(&mut self, screen: &Screen<'_>) -> Result<(), Infallible> {
        let mut s = String::new();
        render(screen, &mut s).unwrap();
        self.0.lock().unwrap().push(s);
        Ok(())
    }
}

/// How the simulated card behaves.
#[derive(Clone, Debug)]
pub struct CardOptions {
    pub atr: Atr,
    pub paging: PagingMode,
    /// Commands with this INS take `wtx_busy_us` of processing, announced with
    /// S(WTX) (T=1, multiplier `wtx_multiplier`) or NULL bytes (T=0) every
    /// `wtx_every_us`.
    pub wtx_ins: Option<u8>,
    pub wtx_multiplier: u8,
    pub wtx_busy_us: u64,
    pub wtx_every_us: u64,
    /// The card is pulled out when its `n`-th command (from 0) arrives.
    pub remove_at_command: Option<usize>,
    /// Keep every command in the log (off for heap measurements: the card thread
    /// then allocates nothing per command once warm).
    pub record: bool,
}

/// The sample card's historical bytes with TA1 = 95 (F = 512, D = 16: 111 600 bit/s
/// at 3.5712 MHz) and the protocols offered, first `first`.
pub fn fast_atr(first: Protocol, t0: bool, t1: bool) -> Atr {
    let rt = Runtime::new(sample_card().unwrap());
    let historical = sscard_apdu::atr::historical_bytes(rt.atr())
        .unwrap()
        .to_vec();
    let mut b = AtrBuilder::new().fi_di(9, 5).historical(&historical);
    b = match first {
        Protocol::T0 => b.protocols(t0, t1),
        Protocol::T1 => b.protocols(false, true).ifsc(254),
    };
    b.build().unwrap()
}

impl CardOptions {
    /// The emulator's own ATR (T=0, no TA1: 9600 bit/s, no PPS).
    pub fn emulator_t0() -> Self {
        let rt = Runtime::new(sample_card().unwrap());
        Self::with_atr(Atr::parse(rt.atr()).unwrap(), PagingMode::T0)
    }

    /// T=0 with TA1 = 95: PPS to 111 600 bit/s.
    pub fn fast_t0() -> Self {
        Self::with_atr(fast_atr(Protocol::T0, true, false), PagingMode::T0)
    }

    /// T=1 with TA1 = 95, IFSC 254: PPS to 111 600 bit/s.
    pub fn fast_t1() -> Self {
        Self::with_atr(fast_atr(Protocol::T1, false, true), PagingMode::Direct)
    }

    pub fn with_atr(atr: Atr, paging: PagingMode) -> Self {
        Self {
            atr,
            paging,
            wtx_ins: None,
            wtx_multiplier: 2,
            wtx_busy_us: 0,
            wtx_every_us: 0,
            remove_at_command: None,
            record: true,
        }
    }
}

/// What the card saw.
#[derive(Debug, Default)]
pub struct CardLog {
    pub commands: Vec<Vec<u8>>,
    pub resets: usize,
    pub wtx_sent: usize,
}

/// Runs the card on its own thread until the terminal end is dropped.
pub fn spawn_card(wire: &Wire, opts: CardOptions) -> JoinHandle<CardLog> {
    let end = wire.end(Side::Card);
    let wire = wire.clone();
    std::thread::spawn(move || {
        // The sample card with its PBOC bank application (the SSCard part answers exactly
        // as the plain sample card).
        let mut runtime =
            Runtime::new(sscard_emu::sample_card_with_bank().unwrap()).with_paging(opts.paging);
        let mut card = CardLink::new(end, opts.atr, CardConfig::new(DEFAULT_CLOCK_HZ)).unwrap();
        let mut apdu = vec![0u8; 300];
        let mut response = Vec::with_capacity(300);
        let mut log = CardLog::default();
        let mut index = 0usize;
        loop {
            match card.next_event(&mut apdu) {
                Ok(CardEvent::Reset) => {
                    runtime.reset();
                    log.resets += 1;
                }
                Ok(CardEvent::Command(n)) => {
                    let command = &apdu[..n];
                    if opts.record {
                        log.commands.push(command.to_vec());
                    }
                    index += 1;
                    let index = index - 1;
                    if opts.remove_at_command == Some(index) {
                        wire.remove();
                        continue;
                    }
                    if opts.wtx_ins.is_some() && command.get(1).copied() == opts.wtx_ins {
                        let mut busy = opts.wtx_busy_us;
                        while busy > 0 {
                            if card.request_wtx(opts.wtx_multiplier).is_err() {
                                break;
                            }
                            log.wtx_sent += 1;
                            let step = busy.min(opts.wtx_every_us.max(1));
                            card.io().sleep(step);
                            busy -= step;
                        }
                    }
                    response.clear();
                    runtime.handle(command, &mut response);
                    match card.respond(&response) {
                        Ok(()) => wire.mark(n + response.len()),
                        Err(LinkError::Io(IoErrorKind::Reset)) => runtime.reset(),
                        Err(LinkError::Io(_)) => break,
                        Err(_) => {}
                    }
                }
                Err(LinkError::Io(IoErrorKind::Closed)) => break,
                Err(_) => {}
            }
        }
        log
    })
}
