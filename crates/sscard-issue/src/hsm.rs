//! Issuance through a security module over a socket, so the issuing process never holds
//! a master key.
//!
//! * [`HsmClient`]: a [`KeyWrap`] (transport-key cryptogram and MAC, wrapped card keys,
//!   wrapped PIN for pre-personalisation) and a [`SecurityModule`] (card-key
//!   cryptograms: the update key before personalisation, RKSSSE before a 3.0 card's
//!   read-back). It sends the card context (ATR, identification code, algorithm), the
//!   key id and the card's challenge; it gets back cryptograms and wrapped keys.
//! * [`IssuanceHsm`]: the server side's answers, from a key file's masters held in
//!   memory by [`SoftKeyWrap`] and [`SoftKeys`] (a development or test HSM: the same
//!   crypto as software issuance, in another process).
//! * [`serve`]: the server loop on a TCP listener, one thread per connection, until a
//!   stop flag is set.
//!
//! **The protocol is ours** (`apdu-specs/hsm-issuance.md`): real issuance HSMs load
//! keys in "HSM (ciphertext)" mode (`spec/sscard.md` §6.2), but their protocols are
//! not public. Treat every detail of it as `[U]`.
//!
//! One request line, one answer line, in order, ASCII, LF-terminated, at most
//! [`MAX_LINE`] bytes; a connection carries any number of requests:
//!
//! ```text
//! PING                                                   OK sscard-issuance-hsm/1
//! TRANSPORT-AUTH <alg> <factor> <plain>                  OK <8 bytes>
//! TRANSPORT-MAC <alg> <factor> <data>                    OK <4 bytes>
//! WRAP-KEY <alg> <atr> <card_id> <key id> <factor>       OK <wrapped key>
//! WRAP-PIN <alg> <pin> <factor>                          OK <wrapped PIN>
//! CARD-AUTH <alg> <atr> <card_id> <key id> <factor> <plain>  OK <8 bytes>
//! anything refused                                       ERR <CODE> <text>
//! ```
//!
//! Binary fields are hex; `<alg>` is the card's algorithm identifier (`01` 3DES, `03`
//! SM4), `<pin>` the PIN's ASCII digits in hex.
//!
//! **Errors.** Every client failure is an [`HsmError`], never a panic: the server gone
//! (cannot connect, connection lost or closed), a malformed or over-long answer, an
//! answer of the wrong length, a refusal (`ERR`). In the batch engine it fails the card
//! at hand (journal `failed`, card ejected) like any other card error; the client
//! reconnects on its next request, so a restarted module serves the next card.

use core::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use sscard_apdu::hex;
use sscard_crypto::kdf::KeyScheme;
use sscard_crypto::keys::Algorithm;
use sscard_fs::keys::KeySet;
use sscard_ssse::security::{CardContext, SecurityModule, SoftKeys};
use zeroize::Zeroizing;

use crate::cos::{KeyWrap, SoftKeyWrap, TransportKey};

/// The protocol's name and version, as `PING` answers it.
pub const PROTOCOL: &str = "sscard-issuance-hsm/1";

/// The longest request or answer line, LF included.
pub const MAX_LINE: usize = 1024;

/// The longest card identification code the protocol carries (ASCII letters and digits).
pub const MAX_CARD_ID: usize = 32;

/// Length of a card key (3DES double length, SM4), for the wrapped-key length check.
const CARD_KEY_LEN: usize = 16;

/// Why a request to the security module failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HsmError {
    /// No connection to the module.
    #[error("security module at {addr}: cannot connect: {source}")]
    Connect {
        /// The module's address.
        addr: SocketAddr,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// The connection failed during a request (timeout, reset).
    #[error("security module at {addr}: connection lost: {source}")]
    Lost {
        /// The module's address.
        addr: SocketAddr,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// The module closed the connection before answering.
    #[error("security module at {addr}: closed the connection without answering")]
    Closed {
        /// The module's address.
        addr: SocketAddr,
    },
    /// The answer is longer than [`MAX_LINE`].
    #[error("security module: answer longer than {MAX_LINE} bytes")]
    TooLong,
    /// The answer is not `OK …` or `ERR …` of the protocol.
    #[error("security module: malformed answer ({0})")]
    Malformed(&'static str),
    /// The answer has the wrong number of bytes.
    #[error("security module: {what} of {got} bytes, expected {expected}")]
    WrongLength {
        /// What was asked for.
        what: &'static str,
        /// Bytes expected.
        expected: usize,
        /// Bytes received.
        got: usize,
    },
    /// The module refused the request (`ERR <code> <text>`).
    #[error("security module refused: {code} {message}")]
    Refused {
        /// The error code.
        code: String,
        /// Its text.
        message: String,
    },
    /// The module speaks another protocol or version.
    #[error("security module speaks {0:?}, not {PROTOCOL}")]
    Protocol(String),
    /// The request cannot be expressed in the protocol (a card identification code that
    /// is not 1 to 32 ASCII letters and digits, too much data).
    #[error("cannot ask the security module: {0}")]
    Request(&'static str),
}

/// A connection's reader of LF-terminated lines of at most [`MAX_LINE`] bytes. Bytes
/// read before a timeout stay buffered.
#[derive(Debug, Default)]
struct Lines {
    buf: Vec<u8>,
}

/// What [`Lines::next`] found.
enum Line {
    /// A whole line, without its LF (and CR).
    Text(String),
    /// The peer closed the connection (after whole lines only).
    Eof,
    /// A line longer than [`MAX_LINE`], or not ASCII.
    Bad,
}

impl Lines {
    fn next(&mut self, stream: &mut impl Read) -> io::Result<Line> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if end >= MAX_LINE || !line.is_ascii() {
                    return Ok(Line::Bad);
                }
                return Ok(String::from_utf8(line).map_or(Line::Bad, Line::Text));
            }
            if self.buf.len() >= MAX_LINE {
                return Ok(Line::Bad);
            }
            let mut chunk = [0u8; 512];
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Ok(Line::Eof);
            }
            self.buf
                .extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }
}

/// The card algorithm identifier's hex (`01`, `03`).
fn alg_hex(algorithm: Algorithm) -> String {
    hex::to_string(&[algorithm.card_id()])
}

/// The card context's fields: `<alg> <atr> <card_id>`.
fn card_fields(card: &CardContext<'_>) -> Result<String, HsmError> {
    let id = card.card_id;
    if id.is_empty() || id.len() > MAX_CARD_ID || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(HsmError::Request(
            "the card identification code is not 1 to 32 ASCII letters and digits",
        ));
    }
    if card.atr.is_empty() {
        return Err(HsmError::Request("no ATR"));
    }
    Ok(format!(
        "{} {} {id}",
        alg_hex(card.algorithm),
        hex::to_string(card.atr)
    ))
}

/// `n` rounded up to whole cipher blocks of `algorithm`.
fn whole_blocks(algorithm: Algorithm, n: usize) -> usize {
    let block = match algorithm {
        Algorithm::Sm4 => 16,
        _ => 8,
    };
    n.div_ceil(block) * block
}

/// One open connection.
#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    lines: Lines,
}

/// A security module over TCP ([`PROTOCOL`]). Connects on its first request (and again
/// after a lost connection); see the module docs.
#[derive(Debug)]
pub struct HsmClient {
    addr: SocketAddr,
    timeout: Duration,
    conn: Option<Conn>,
}

impl HsmClient {
    /// A client of the module at `addr`, with a 10-second timeout per request. Nothing
    /// is sent until the first request ([`HsmClient::ping`] checks at once).
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            timeout: Duration::from_secs(10),
            conn: None,
        }
    }

    /// The same with another timeout for connecting and for each answer.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The module's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connects (if not connected) and checks the module speaks [`PROTOCOL`].
    pub fn ping(&mut self) -> Result<(), HsmError> {
        let answer = self.request("PING")?;
        if answer == PROTOCOL {
            Ok(())
        } else {
            self.conn = None;
            Err(HsmError::Protocol(answer))
        }
    }

    fn connect(&mut self) -> Result<Conn, HsmError> {
        let addr = self.addr;
        let err = |source| HsmError::Connect { addr, source };
        let stream = TcpStream::connect_timeout(&addr, self.timeout).map_err(err)?;
        stream.set_read_timeout(Some(self.timeout)).map_err(err)?;
        stream.set_write_timeout(Some(self.timeout)).map_err(err)?;
        stream.set_nodelay(true).map_err(err)?;
        Ok(Conn {
            stream,
            lines: Lines::default(),
        })
    }

    /// Sends one line on `conn` and reads the answer line.
    fn exchange(&self, conn: &mut Conn, line: &str) -> Result<String, HsmError> {
        let addr = self.addr;
        let lost = |source| HsmError::Lost { addr, source };
        let mut out = Zeroizing::new(Vec::with_capacity(line.len() + 1));
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
        conn.stream.write_all(&out).map_err(lost)?;
        match conn.lines.next(&mut conn.stream).map_err(lost)? {
            Line::Text(answer) => Ok(answer),
            Line::Eof => Err(HsmError::Closed { addr }),
            Line::Bad => Err(HsmError::TooLong),
        }
    }

    /// Sends a request and returns the payload of `OK <payload>`. A connection that
    /// fails on an old connection is retried once on a new one (the module may have
    /// restarted; every request is a pure function of its fields).
    fn request(&mut self, line: &str) -> Result<String, HsmError> {
        if line.len() >= MAX_LINE {
            return Err(HsmError::Request(
                "the request is longer than a protocol line",
            ));
        }
        let (mut conn, fresh) = match self.conn.take() {
            Some(c) => (c, false),
            None => (self.connect()?, true),
        };
        let answer = match self.exchange(&mut conn, line) {
            Err(HsmError::Lost { .. } | HsmError::Closed { .. }) if !fresh => {
                conn = self.connect()?;
                self.exchange(&mut conn, line)?
            }
            other => other?,
        };
        if let Some(payload) = answer.strip_prefix("OK ") {
            let payload = payload.to_owned();
            self.conn = Some(conn);
            return Ok(payload);
        }
        if let Some(rest) = answer.strip_prefix("ERR ") {
            let (code, message) = rest.split_once(' ').unwrap_or((rest, ""));
            self.conn = Some(conn);
            return Err(HsmError::Refused {
                code: code.to_owned(),
                message: message.to_owned(),
            });
        }
        // Out of step with the module: this connection is not used again.
        Err(HsmError::Malformed("neither OK nor ERR"))
    }

    /// A request whose answer is `expected` bytes of hex.
    fn request_bytes(
        &mut self,
        line: &str,
        what: &'static str,
        expected: usize,
    ) -> Result<Vec<u8>, HsmError> {
        let payload = self.request(line)?;
        let bytes = hex::to_vec(&payload).map_err(|_| HsmError::Malformed("not hex"))?;
        if bytes.len() == expected {
            Ok(bytes)
        } else {
            Err(HsmError::WrongLength {
                what,
                expected,
                got: bytes.len(),
            })
        }
    }

    fn request_array<const N: usize>(
        &mut self,
        line: &str,
        what: &'static str,
    ) -> Result<[u8; N], HsmError> {
        let bytes = self.request_bytes(line, what, N)?;
        <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| HsmError::WrongLength {
            what,
            expected: N,
            got: bytes.len(),
        })
    }
}

impl KeyWrap for HsmClient {
    type Error = HsmError;

    fn transport_cryptogram(
        &mut self,
        algorithm: Algorithm,
        factor: &[u8; 8],
        plain: &[u8; 8],
    ) -> Result<[u8; 8], Self::Error> {
        let line = format!(
            "TRANSPORT-AUTH {} {} {}",
            alg_hex(algorithm),
            hex::to_string(factor),
            hex::to_string(plain)
        );
        self.request_array(&line, "transport cryptogram")
    }

    fn wrap_card_key(
        &mut self,
        card: &CardContext<'_>,
        id: u8,
        factor: &[u8; 8],
    ) -> Result<Vec<u8>, Self::Error> {
        let line = format!(
            "WRAP-KEY {} {} {}",
            card_fields(card)?,
            hex::to_string(&[id]),
            hex::to_string(factor)
        );
        let expected = whole_blocks(card.algorithm, CARD_KEY_LEN + 2);
        self.request_bytes(&line, "wrapped key", expected)
    }

    fn wrap_pin(
        &mut self,
        algorithm: Algorithm,
        digits: &str,
        factor: &[u8; 8],
    ) -> Result<Vec<u8>, Self::Error> {
        let pin = Zeroizing::new(hex::to_string(digits.as_bytes()));
        let line = Zeroizing::new(format!(
            "WRAP-PIN {} {} {}",
            alg_hex(algorithm),
            pin.as_str(),
            hex::to_string(factor)
        ));
        let expected = whole_blocks(algorithm, digits.len() + 2);
        self.request_bytes(&line, "wrapped PIN", expected)
    }

    fn transport_mac(
        &mut self,
        algorithm: Algorithm,
        factor: &[u8; 8],
        data: &[u8],
    ) -> Result<[u8; 4], Self::Error> {
        let line = format!(
            "TRANSPORT-MAC {} {} {}",
            alg_hex(algorithm),
            hex::to_string(factor),
            hex::to_string(data)
        );
        self.request_array(&line, "transport MAC")
    }

    fn check_available(&mut self) -> Result<(), HsmError> {
        self.ping()
    }
}

impl SecurityModule for HsmClient {
    type Error = HsmError;

    fn cryptogram(
        &mut self,
        card: &CardContext<'_>,
        card_key: u8,
        factor: &[u8; 8],
        plain: &[u8; 8],
    ) -> Result<[u8; 8], Self::Error> {
        let line = format!(
            "CARD-AUTH {} {} {} {}",
            card_fields(card)?,
            hex::to_string(&[card_key]),
            hex::to_string(factor),
            hex::to_string(plain)
        );
        self.request_array(&line, "card cryptogram")
    }
}

/// The server side: answers the protocol's requests with a key set's masters and a
/// transport key in memory, through [`SoftKeyWrap`] and [`SoftKeys`] (no crypto of its
/// own). For development and tests: a real HSM keeps its masters in hardware.
pub struct IssuanceHsm<K> {
    wrap: SoftKeyWrap<K>,
    keys: SoftKeys<K>,
}

impl<K> fmt::Debug for IssuanceHsm<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuanceHsm").finish_non_exhaustive()
    }
}

/// A refusal: `ERR <code> <text>`.
struct Refusal(&'static str, String);

fn syntax(what: &str) -> Refusal {
    Refusal("SYNTAX", what.to_owned())
}

fn field_alg(field: &str) -> Result<Algorithm, Refusal> {
    let [id] = hex::decode_array::<1>(field).map_err(|_| syntax("algorithm: 2 hex digits"))?;
    Algorithm::from_card_id(id)
        .map_err(|_| Refusal("NO-ALGORITHM", format!("algorithm {id:02X} not supported")))
}

fn field_8(field: &str, what: &str) -> Result<[u8; 8], Refusal> {
    hex::decode_array::<8>(field).map_err(|_| syntax(&format!("{what}: 16 hex digits")))
}

fn field_hex(field: &str, what: &str) -> Result<Vec<u8>, Refusal> {
    hex::to_vec(field).map_err(|_| syntax(&format!("{what}: hex")))
}

fn field_card_id(field: &str) -> Result<&str, Refusal> {
    if field.is_empty()
        || field.len() > MAX_CARD_ID
        || !field.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(syntax("card_id: 1 to 32 ASCII letters and digits"));
    }
    Ok(field)
}

fn field_key_id(field: &str) -> Result<u8, Refusal> {
    let [id] = hex::decode_array::<1>(field).map_err(|_| syntax("key id: 2 hex digits"))?;
    Ok(id)
}

impl<K: KeyScheme + Clone> IssuanceHsm<K> {
    /// A module with the masters of `keys`, the transport key and the key scheme.
    pub fn new(keys: KeySet, transport: TransportKey, scheme: K) -> Self {
        Self {
            wrap: SoftKeyWrap::new(keys.clone(), transport, scheme.clone()),
            keys: SoftKeys::new(keys, scheme),
        }
    }

    /// The answer line (without LF) to one request line (without LF).
    pub fn answer(&mut self, request: &str) -> String {
        match self.dispatch(request) {
            Ok(payload) => format!("OK {payload}"),
            Err(Refusal(code, text)) => format!("ERR {code} {text}"),
        }
    }

    fn dispatch(&mut self, request: &str) -> Result<String, Refusal> {
        let fields: Vec<&str> = request.split(' ').collect();
        let crypto = |e: &dyn fmt::Display| Refusal("CRYPTO", e.to_string());
        match fields.as_slice() {
            ["PING"] => Ok(PROTOCOL.to_owned()),
            ["TRANSPORT-AUTH", alg, factor, plain] => {
                let c = self
                    .wrap
                    .transport_cryptogram(
                        field_alg(alg)?,
                        &field_8(factor, "factor")?,
                        &field_8(plain, "plain")?,
                    )
                    .map_err(|e| crypto(&e))?;
                Ok(hex::to_string(&c))
            }
            ["TRANSPORT-MAC", alg, factor, data] => {
                let data = field_hex(data, "data")?;
                let mac = self
                    .wrap
                    .transport_mac(field_alg(alg)?, &field_8(factor, "factor")?, &data)
                    .map_err(|e| crypto(&e))?;
                Ok(hex::to_string(&mac))
            }
            ["WRAP-KEY", alg, atr, card_id, id, factor] => {
                let atr = field_hex(atr, "atr")?;
                let card = CardContext {
                    atr: &atr,
                    card_id: field_card_id(card_id)?,
                    algorithm: field_alg(alg)?,
                };
                let id = field_key_id(id)?;
                if !self.wrap.has_key(&card, id) {
                    return Err(Refusal(
                        "NO-KEY",
                        format!("no usable master for key {id:02X}"),
                    ));
                }
                let blob = self
                    .wrap
                    .wrap_card_key(&card, id, &field_8(factor, "factor")?)
                    .map_err(|e| crypto(&e))?;
                Ok(hex::to_string(&blob))
            }
            ["WRAP-PIN", alg, pin, factor] => {
                let pin = Zeroizing::new(field_hex(pin, "pin")?);
                let digits = core::str::from_utf8(&pin)
                    .ok()
                    .filter(|d| (1..=16).contains(&d.len()))
                    .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| syntax("pin: 1 to 16 ASCII digits, in hex"))?;
                let blob = self
                    .wrap
                    .wrap_pin(field_alg(alg)?, digits, &field_8(factor, "factor")?)
                    .map_err(|e| crypto(&e))?;
                Ok(hex::to_string(&blob))
            }
            ["CARD-AUTH", alg, atr, card_id, id, factor, plain] => {
                let atr = field_hex(atr, "atr")?;
                let card = CardContext {
                    atr: &atr,
                    card_id: field_card_id(card_id)?,
                    algorithm: field_alg(alg)?,
                };
                let id = field_key_id(id)?;
                let c = self
                    .keys
                    .cryptogram(
                        &card,
                        id,
                        &field_8(factor, "factor")?,
                        &field_8(plain, "plain")?,
                    )
                    .map_err(|e| match e {
                        sscard_ssse::security::SoftKeysError::UnknownKey(id) => {
                            Refusal("NO-KEY", format!("no master for key {id:02X}"))
                        }
                        other => crypto(&other),
                    })?;
                Ok(hex::to_string(&c))
            }
            [op, ..] => Err(Refusal(
                "UNKNOWN-REQUEST",
                format!("{op:?} with {} fields", fields.len().saturating_sub(1)),
            )),
            [] => Err(syntax("empty request")),
        }
    }
}

/// What a [`serve`] run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServeReport {
    /// Connections accepted.
    pub connections: u64,
    /// Requests answered (refusals included).
    pub requests: u64,
}

/// How often the server looks at the stop flag.
const POLL: Duration = Duration::from_millis(50);

/// Serves `hsm` on `listener` (one thread per connection, requests answered in order)
/// until `stop` is set; then every connection is closed and the report returned. Fails
/// only when the listener cannot be made non-blocking.
/// `log` gets one line per connection opened or closed and per protocol error.
pub fn serve<K>(
    listener: &TcpListener,
    hsm: IssuanceHsm<K>,
    stop: &AtomicBool,
    log: &(dyn Fn(&str) + Sync),
) -> io::Result<ServeReport>
where
    K: KeyScheme + Clone + Send,
{
    listener.set_nonblocking(true)?;
    let hsm = Mutex::new(hsm);
    let requests = AtomicU64::new(0);
    let mut connections = 0u64;
    std::thread::scope(|scope| {
        while !stop.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((stream, peer)) => {
                    connections += 1;
                    let (hsm, requests) = (&hsm, &requests);
                    scope.spawn(move || {
                        log(&format!("{peer}: connected"));
                        let end = connection(stream, hsm, stop, requests);
                        log(&format!("{peer}: {end}"));
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of file descriptors, a connection reset before accept…: the
                    // server goes on.
                    log(&format!("accept: {e}"));
                    std::thread::sleep(POLL);
                }
            }
        }
    });
    Ok(ServeReport {
        connections,
        requests: requests.load(Ordering::SeqCst),
    })
}

/// Answers one connection's requests; returns why it ended.
fn connection<K: KeyScheme + Clone>(
    mut stream: TcpStream,
    hsm: &Mutex<IssuanceHsm<K>>,
    stop: &AtomicBool,
    requests: &AtomicU64,
) -> String {
    let setup = stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_read_timeout(Some(POLL)))
        .and_then(|()| stream.set_nodelay(true));
    if let Err(e) = setup {
        return format!("closed: {e}");
    }
    let mut lines = Lines::default();
    loop {
        if stop.load(Ordering::SeqCst) {
            return "closed: the server is stopping".into();
        }
        let line = match lines.next(&mut stream) {
            Ok(Line::Text(line)) => line,
            Ok(Line::Eof) => return "closed by the client".into(),
            Ok(Line::Bad) => {
                // The stream cannot be resynchronised: refuse and hang up.
                let _ =
                    stream.write_all(b"ERR TOO-LONG request line over 1024 bytes or not ASCII\n");
                return "closed: over-long or non-ASCII request".into();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return format!("closed: {e}"),
        };
        let answer = match hsm.lock() {
            Ok(mut hsm) => hsm.answer(&line),
            Err(_) => "ERR INTERNAL the module failed".to_owned(),
        };
        drop(Zeroizing::new(line));
        requests.fetch_add(1, Ordering::SeqCst);
        let mut out = Zeroizing::new(answer.into_bytes());
        out.push(b'\n');
        if let Err(e) = stream.write_all(&out) {
            return format!("closed: {e}");
        }
    }
}

/// Whether `addr` is a loopback address (the development servers listen on nothing
/// else: their keys would be open to the network).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}
