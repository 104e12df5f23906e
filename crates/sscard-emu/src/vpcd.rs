//! The vsmartcard `vpcd` bridge: puts an emulated card into pcscd, so every PC/SC
//! application and tool sees it in a reader (`spec/pcsc-vpcd.md` §1.2–1.3).
//!
//! The card is the TCP client of pcscd's vpcd driver. Every message in both
//! directions is a big-endian `u16` length and a payload. A one-byte payload from
//! vpcd is a control message (`00` power off, `01` power on, `02` reset, `04` get
//! ATR, which alone expects an answer, the ATR); anything else is a C-APDU answered
//! with the R-APDU. The bridge:
//!
//! * sets `TCP_QUICKACK` before every read (Linux), which takes Debian 12's vpcd from
//!   ~48 ms to well under a millisecond per APDU (Nagle on vpcd's two-part sends
//!   meeting delayed ACKs);
//! * writes each reply with one `write` (length and body together);
//! * treats every power-on and reset as a fresh card session;
//! * reconnects while pcscd is not (or no longer) listening;
//! * never sends an empty reply (vpcd would block the slot until the socket closes).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sscard_apdu::applet::Card;

use crate::runtime::Runtime;

/// pcscd's default vpcd port for slot 0 (`/etc/reader.conf.d/vpcd`: 0x8C7B).
pub const DEFAULT_VPCD_PORT: u16 = 35963;

/// vpcd control messages.
mod control {
    pub const POWER_OFF: u8 = 0x00;
    pub const POWER_ON: u8 = 0x01;
    pub const RESET: u8 = 0x02;
    pub const GET_ATR: u8 = 0x04;
}

/// How often the bridge looks at its stop flag and retries a refused connection.
const POLL: Duration = Duration::from_millis(200);

/// Errors that end a bridge session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VpcdError {
    /// The socket failed.
    #[error("vpcd connection: {0}")]
    Io(#[from] io::Error),
}

/// What happened to one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// vpcd closed the connection (pcscd stopped or restarted).
    Closed,
    /// The stop flag was raised.
    Stopped,
}

/// Counts of what the bridge handled, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections made.
    pub connections: u64,
    /// C-APDUs answered.
    pub apdus: u64,
    /// Control messages received.
    pub controls: u64,
}

type LogFn = Box<dyn FnMut(&str) + Send>;

/// An emulated card connected to vpcd.
pub struct VpcdBridge<C> {
    runtime: Runtime<C>,
    addr: SocketAddr,
    stats: Stats,
    out: Vec<u8>,
    log: Option<LogFn>,
    quickack: bool,
}

impl<C: Card> VpcdBridge<C> {
    /// A bridge for `runtime` to the vpcd listening at `addr` (normally `127.0.0.1:35963`).
    pub fn new(runtime: Runtime<C>, addr: SocketAddr) -> Self {
        Self {
            runtime,
            addr,
            stats: Stats::default(),
            out: Vec::with_capacity(260),
            log: None,
            quickack: true,
        }
    }

    /// Turns the per-read `TCP_QUICKACK` off. Only for measuring what a naive bridge
    /// costs (about 48 ms per APDU on Debian 12's vpcd); never useful otherwise.
    pub fn with_quickack(mut self, on: bool) -> Self {
        self.quickack = on;
        self
    }

    /// Sends one line per connection event to `log`.
    pub fn with_log(mut self, log: impl FnMut(&str) + Send + 'static) -> Self {
        self.log = Some(Box::new(log));
        self
    }

    /// What was handled so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    fn note(&mut self, line: &str) {
        if let Some(log) = self.log.as_mut() {
            log(line);
        }
    }

    /// Serves the card until `stop` is raised: connects (retrying while vpcd is not
    /// listening), answers, and reconnects when vpcd goes away.
    pub fn run(&mut self, stop: &AtomicBool) -> Result<(), VpcdError> {
        let mut waiting_noted = false;
        while !stop.load(Ordering::Relaxed) {
            let stream = match TcpStream::connect_timeout(&self.addr, POLL) {
                Ok(s) => s,
                Err(e) if is_not_up(&e) => {
                    if !waiting_noted {
                        let line = format!("waiting for pcscd/vpcd at {}", self.addr);
                        self.note(&line);
                        waiting_noted = true;
                    }
                    std::thread::sleep(POLL);
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            waiting_noted = false;
            let line = format!("card inserted into vpcd at {}", self.addr);
            self.note(&line);
            self.stats.connections += 1;
            match self.serve(stream, stop) {
                Ok(SessionEnd::Stopped) => break,
                Ok(SessionEnd::Closed) => self.note("vpcd closed the connection; reconnecting"),
                Err(e) => {
                    let line = format!("vpcd connection failed ({e}); reconnecting");
                    self.note(&line);
                }
            }
            // The card was removed: its session is gone.
            self.runtime.power_off();
        }
        Ok(())
    }

    /// Serves one connection.
    pub fn serve(
        &mut self,
        mut stream: TcpStream,
        stop: &AtomicBool,
    ) -> Result<SessionEnd, VpcdError> {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(POLL))?;
        let mut payload = Vec::with_capacity(300);
        let quickack = self.quickack;
        loop {
            let Some(()) = read_frame(&mut stream, &mut payload, stop, quickack)? else {
                return Ok(if stop.load(Ordering::Relaxed) {
                    SessionEnd::Stopped
                } else {
                    SessionEnd::Closed
                });
            };
            self.out.clear();
            // Room for the length prefix, filled in below.
            self.out.extend_from_slice(&[0, 0]);
            match payload.as_slice() {
                [byte] => {
                    self.stats.controls += 1;
                    match *byte {
                        control::POWER_OFF => self.runtime.power_off(),
                        control::POWER_ON | control::RESET => self.runtime.reset(),
                        control::GET_ATR => self.out.extend_from_slice(self.runtime.atr()),
                        // Unknown control bytes need no answer.
                        _ => {}
                    }
                }
                // vpcd never sends an empty frame; nothing to answer.
                [] => {}
                apdu => {
                    self.stats.apdus += 1;
                    self.runtime.handle(apdu, &mut self.out);
                }
            }
            let body = self.out.len() - 2;
            if body == 0 {
                continue;
            }
            // The largest R-APDU is 65538 bytes; vpcd frames hold 65535.
            let Ok(len) = u16::try_from(body) else {
                self.out.truncate(2);
                self.out
                    .extend_from_slice(&sscard_apdu::Status::UnspecifiedError.to_bytes());
                self.write_reply(&mut stream, 2)?;
                continue;
            };
            self.write_reply(&mut stream, len)?;
        }
    }

    fn write_reply(&mut self, stream: &mut TcpStream, len: u16) -> io::Result<()> {
        if let Some(prefix) = self.out.get_mut(..2) {
            prefix.copy_from_slice(&len.to_be_bytes());
        }
        // One write per reply: length and body in the same segment.
        stream.write_all(&self.out)
    }
}

fn is_not_up(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::TimedOut
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::AddrNotAvailable
    )
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn quickack(stream: &TcpStream) {
    // Not sticky on Linux: the kernel clears it again, so it is set before every read.
    let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn quickack(_stream: &TcpStream) {}

/// Reads one frame into `payload`. `Ok(None)`: the peer closed the connection before a
/// frame started, or `stop` was raised while idle.
fn read_frame(
    stream: &mut TcpStream,
    payload: &mut Vec<u8>,
    stop: &AtomicBool,
    quickack: bool,
) -> io::Result<Option<()>> {
    let mut header = [0u8; 2];
    if !read_full(stream, &mut header, stop, true, quickack)? {
        return Ok(None);
    }
    let len = usize::from(u16::from_be_bytes(header));
    payload.clear();
    payload.resize(len, 0);
    if !read_full(stream, payload, stop, false, quickack)? {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Some(()))
}

/// Fills `buf`. Returns `false` when the connection closed (or `stop` was raised)
/// before the first byte and `idle_ok` is set.
fn read_full(
    stream: &mut TcpStream,
    buf: &mut [u8],
    stop: &AtomicBool,
    idle_ok: bool,
    ack_quickly: bool,
) -> io::Result<bool> {
    let mut have = 0;
    while have < buf.len() {
        if ack_quickly {
            quickack(stream);
        }
        let Some(rest) = buf.get_mut(have..) else {
            break;
        };
        match stream.read(rest) {
            Ok(0) if have == 0 && idle_ok => return Ok(false),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => have += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if have == 0 && idle_ok && stop.load(Ordering::Relaxed) {
                    return Ok(false);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
