//! The card runtime around a [`Card`]: turns C-APDU bytes into R-APDU bytes, pages
//! long or case-3 answers with `61xx` / GET RESPONSE ([`ResponsePager`]), and maps
//! malformed APDUs to status words. The vpcd bridge, the in-process reader and the
//! tests all go through it, so this glue exists once.

use sscard_apdu::applet::{Card, Interface, Reply};
use sscard_apdu::command::{ParseError, EXTENDED_RESPONSE_MAX};
use sscard_apdu::{CommandView, Status};

const INS_GET_RESPONSE: u8 = 0xC0;

/// When a card announces its answer with `61xx` instead of sending it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PagingMode {
    /// Like a T=0 card: data answering a command without Le (case 1/3) is announced
    /// with `61xx`; data longer than Ne is sent in Ne-sized parts, each followed by `61xx`.
    #[default]
    T0,
    /// Data is always sent at once when it fits Ne; case-1/3 commands get their data
    /// directly too (what many T=1 cards do).
    Direct,
}

/// Holds response data not yet fetched with GET RESPONSE.
#[derive(Clone, Debug, Default)]
pub struct ResponsePager {
    pending: Vec<u8>,
    offset: usize,
}

impl ResponsePager {
    /// Forgets any pending data.
    pub fn clear(&mut self) {
        self.pending.clear();
        self.offset = 0;
    }

    /// Bytes still to be fetched.
    pub fn remaining(&self) -> &[u8] {
        self.pending.get(self.offset..).unwrap_or_default()
    }

    /// Stores `data` and writes `61xx` (or the first `first` bytes and `61xx`) to `out`.
    fn start(&mut self, data: &[u8], first: usize, out: &mut Vec<u8>) {
        self.pending.clear();
        self.pending.extend_from_slice(data);
        self.offset = 0;
        self.send(first, out);
    }

    /// Sends up to `n` pending bytes and the status that says what is left.
    fn send(&mut self, n: usize, out: &mut Vec<u8>) {
        let rest = self.remaining();
        let take = n.min(rest.len());
        out.extend_from_slice(rest.get(..take).unwrap_or_default());
        self.offset += take;
        let left = self.remaining().len();
        if left == 0 {
            self.clear();
            out.extend_from_slice(&Status::Success.to_bytes());
        } else {
            // 61 00 announces 256 or more.
            let announce = u8::try_from(left).unwrap_or(0);
            out.extend_from_slice(&Status::MoreAvailable(announce).to_bytes());
        }
    }

    /// Answers GET RESPONSE.
    fn get_response(&mut self, command: &CommandView<'_>, out: &mut Vec<u8>) {
        let left = self.remaining().len();
        let status = if left == 0 {
            Some(Status::ConditionsOfUseNotSatisfied)
        } else if command.p1() != 0 || command.p2() != 0 {
            Some(Status::IncorrectP1P2)
        } else if !command.data().is_empty() || command.le().is_none() {
            Some(Status::WrongLength)
        } else {
            None
        };
        if let Some(status) = status {
            out.extend_from_slice(&status.to_bytes());
            return;
        }
        let ne = command.le().unwrap_or(0);
        // Le = 00 means "up to 256"; any other Le beyond what is left is wrong (6Cxx).
        let up_to_max = (ne == 256 && !command.is_extended()) || ne == 65536;
        if ne > left && !up_to_max {
            let exact = u8::try_from(left).unwrap_or(0);
            out.extend_from_slice(&Status::WrongLe(exact).to_bytes());
            return;
        }
        self.send(ne, out);
    }
}

/// A card with its runtime state: the pager and the reply buffer.
pub struct Runtime<C> {
    card: C,
    pager: ResponsePager,
    mode: PagingMode,
    interface: Interface,
    buf: Vec<u8>,
    powered: bool,
}

impl<C: Card> Runtime<C> {
    /// A powered card in T=0 paging mode on the contact interface.
    pub fn new(card: C) -> Self {
        Self {
            card,
            pager: ResponsePager::default(),
            mode: PagingMode::default(),
            interface: Interface::Contact,
            buf: vec![0u8; EXTENDED_RESPONSE_MAX],
            powered: true,
        }
    }

    /// Sets the paging mode.
    pub fn with_paging(mut self, mode: PagingMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the interface the commands arrive on (contact by default).
    pub fn with_interface(mut self, interface: Interface) -> Self {
        self.interface = interface;
        self
    }

    /// The card.
    pub fn card(&self) -> &C {
        &self.card
    }

    /// The card, mutably (to attach a journal, for instance).
    pub fn card_mut(&mut self) -> &mut C {
        &mut self.card
    }

    /// The card's answer to reset.
    pub fn atr(&self) -> &[u8] {
        self.card.atr()
    }

    /// Power on or reset: a fresh card session.
    pub fn reset(&mut self) {
        self.pager.clear();
        self.card.reset();
        self.powered = true;
    }

    /// Power off: the session ends; the next command needs a power-on.
    pub fn power_off(&mut self) {
        self.pager.clear();
        self.card.reset();
        self.powered = false;
    }

    /// Whether the card is powered.
    pub fn is_powered(&self) -> bool {
        self.powered
    }

    /// Handles one C-APDU and appends the R-APDU (never empty) to `out`.
    pub fn handle(&mut self, apdu: &[u8], out: &mut Vec<u8>) {
        if !self.powered {
            // A real reader would not pass a command to an unpowered card; answer
            // rather than hang the reader.
            self.reset();
        }
        let command = match CommandView::parse(apdu) {
            Ok(c) => c,
            Err(e) => {
                self.pager.clear();
                let status = match e {
                    ParseError::InvalidClass => Status::ClassNotSupported,
                    _ => Status::WrongLength,
                };
                out.extend_from_slice(&status.to_bytes());
                return;
            }
        };
        if command.ins() == INS_GET_RESPONSE && command.cla() & 0xFC == 0 {
            self.pager.get_response(&command, out);
            return;
        }
        self.pager.clear();
        let mut reply = Reply::new(&mut self.buf);
        match self.card.process(self.interface, &command, &mut reply) {
            Err(status) => out.extend_from_slice(&status.to_bytes()),
            Ok(()) => {
                let data = reply.as_slice();
                let ne = command.le().unwrap_or(0);
                if data.is_empty() {
                    out.extend_from_slice(&Status::Success.to_bytes());
                } else if data.len() <= ne
                    || (self.mode == PagingMode::Direct && ne == 0 && data.len() <= 256)
                {
                    out.extend_from_slice(data);
                    out.extend_from_slice(&Status::Success.to_bytes());
                } else {
                    // Case 1/3 (ne = 0): announce everything; otherwise send Ne bytes.
                    self.pager.start(data, ne, out);
                }
            }
        }
    }

    /// Handles one C-APDU and returns the R-APDU.
    pub fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(258);
        self.handle(apdu, &mut out);
        out
    }
}

impl<C: core::fmt::Debug> core::fmt::Debug for Runtime<C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Runtime")
            .field("card", &self.card)
            .field("pending", &self.pager.remaining().len())
            .field("mode", &self.mode)
            .finish()
    }
}
