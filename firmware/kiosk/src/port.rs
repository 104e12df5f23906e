//! The card interfaces a kiosk reads through. Social security cards are
//! dual-interface: the same application answers on the contacts and in the field.
//!
//! * Contact: [`sscard_link::Link`] over any [`sscard_link::TerminalIo`] (cold
//!   reset, ATR, PPS, T=0/T=1); presence comes from the slot's [`CardSwitch`].
//! * Contactless: [`sscard_link::iso14443::IsoDep`] over any
//!   [`ContactlessFrontEnd`] (field, type A activation, RATS/ATS, PPS, ISO-DEP);
//!   presence is the card answering in the field, and the switch is not read
//!   ([`crate::hal::NoSwitch`] fills the place).
//!
//! [`CardPort`] is what the session needs from either beyond
//! [`sscard_apdu::Transport`]; [`CardInterface`] names the port of a kiosk's first
//! type parameter: an I/O type for contact kiosks (as before), [`Contactless`] for
//! contactless ones.
//!
//! [`CardSwitch`]: crate::hal::CardSwitch

use core::marker::PhantomData;

use sscard_apdu::{ResetKind, Transport};
use sscard_link::iso14443::{ContactlessFrontEnd, IsoDep, IsoDepError, PSEUDO_ATR_MAX};
use sscard_link::{Atr, Link, LinkError, Protocol, TerminalIo};

use crate::session::Event;

/// A card interface as the session drives it.
pub trait CardPort: Transport {
    /// Activates the card (contact: cold reset, ATR, PPS; contactless: polling,
    /// RATS, ATS, PPS) and returns its ATR (contactless: the PC/SC pseudo-ATR with
    /// the ATS historical bytes) and the event that reports it.
    fn activate(&mut self) -> Result<(Atr, Event), Self::Error>;

    /// Ends the card session (contact: deactivation; contactless: S(DESELECT)
    /// and field off).
    fn deactivate(&mut self) -> Result<(), Self::Error>;

    /// Whether a card is there, as the interface itself sees it; `None` when the
    /// slot's switch tells (contact).
    fn detect(&mut self) -> Option<bool>;
}

impl<IO: TerminalIo> CardPort for Link<IO> {
    fn activate(&mut self) -> Result<(Atr, Event), LinkError> {
        let atr = self.power_on(ResetKind::Cold)?;
        let event = Event::Activated {
            protocol: self.protocol().unwrap_or(Protocol::T0),
            baud: self.line().baud(),
        };
        Ok((atr, event))
    }

    fn deactivate(&mut self) -> Result<(), LinkError> {
        self.power_off()
    }

    fn detect(&mut self) -> Option<bool> {
        None
    }
}

impl<F: ContactlessFrontEnd> CardPort for IsoDep<F> {
    fn activate(&mut self) -> Result<(Atr, Event), IsoDepError> {
        let ats = IsoDep::activate(self)?;
        let mut buf = [0u8; PSEUDO_ATR_MAX];
        let n = ats.pseudo_atr(&mut buf);
        let atr =
            Atr::parse(buf.get(..n).unwrap_or_default()).map_err(|_| IsoDepError::Protocol)?;
        Ok((
            atr,
            Event::ActivatedContactless {
                kbps: self.bit_rate().kbps(),
            },
        ))
    }

    fn deactivate(&mut self) -> Result<(), IsoDepError> {
        self.power_off()
    }

    /// A front end that fails is taken as no card.
    fn detect(&mut self) -> Option<bool> {
        Some(self.presence().unwrap_or(false))
    }
}

/// The first type parameter of [`crate::Kiosk`]: which [`CardPort`] it reads
/// through. Every [`TerminalIo`] is one (its port is [`Link`]); [`Contactless`]
/// is the other.
pub trait CardInterface {
    /// The port.
    type Port: CardPort;
}

impl<IO: TerminalIo> CardInterface for IO {
    type Port = Link<IO>;
}

/// Marks a contactless kiosk: its port is [`IsoDep`] over the front end `F`.
#[derive(Debug)]
pub struct Contactless<F>(PhantomData<F>);

impl<F: ContactlessFrontEnd> CardInterface for Contactless<F> {
    type Port = IsoDep<F>;
}
