//! One card, two applications: the social-security application ([`SsCard`]) and the
//! PBOC bank application ([`PbocApp`]) behind one ATR.
//!
//! Routing rules:
//! * `SELECT` by DF name (`00 A4 04 xx`) whose name the bank side claims (PSE, PPSE,
//!   the UnionPay RID `A000000333`, a 5+ byte prefix of a bank AID) goes to the bank
//!   application; every other `SELECT` (other names, by FID) goes to the SSCard.
//! * A successful `SELECT` (or the bank's `6283`, "selected but blocked") makes that
//!   application current; the bank application forgets its session when the SSCard is
//!   selected. A failed `SELECT` leaves the current application as it was (ISO/IEC
//!   7816-4 §7.1.1: the current file is unchanged when selection fails).
//! * Every other command goes to the current application. After reset the SSCard (its
//!   MF) is current.

use sscard_apdu::applet::{Card, Interface, Reply};
use sscard_apdu::{CommandView, Status};

use super::PbocApp;
use crate::cos::SsCard;

/// Which application commands go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Current {
    /// The social-security application (SSCard COS).
    Social,
    /// The PBOC bank application.
    Bank,
}

/// A card holding the SSCard COS and the PBOC bank application.
#[derive(Debug)]
pub struct DualCard {
    social: SsCard,
    bank: PbocApp,
    current: Current,
}

impl DualCard {
    /// Both applications on one card; the SSCard's ATR is the card's.
    pub fn new(social: SsCard, bank: PbocApp) -> Self {
        Self {
            social,
            bank,
            current: Current::Social,
        }
    }

    /// The two applications, e.g. to make them persistent.
    pub fn into_parts(self) -> (SsCard, PbocApp) {
        (self.social, self.bank)
    }

    /// The application commands go to.
    pub fn current(&self) -> Current {
        self.current
    }

    /// The social-security application.
    pub fn social(&self) -> &SsCard {
        &self.social
    }

    /// The social-security application, mutably (journal, state).
    pub fn social_mut(&mut self) -> &mut SsCard {
        &mut self.social
    }

    /// The bank application.
    pub fn bank(&self) -> &PbocApp {
        &self.bank
    }

    /// The bank application, mutably (journal, state, signers).
    pub fn bank_mut(&mut self) -> &mut PbocApp {
        &mut self.bank
    }
}

impl Card for DualCard {
    fn atr(&self) -> &[u8] {
        self.social.atr()
    }

    fn reset(&mut self) {
        self.social.reset();
        self.bank.reset();
        self.current = Current::Social;
    }

    fn process(
        &mut self,
        interface: Interface,
        command: &CommandView<'_>,
        reply: &mut Reply<'_>,
    ) -> Result<(), Status> {
        if command.cla() == 0x00 && command.ins() == 0xA4 {
            if command.p1() == 0x04 && self.bank.claims(command.data()) {
                let result = self.bank.process(interface, command, reply);
                if matches!(result, Ok(()) | Err(Status::Other(0x6283))) {
                    self.current = Current::Bank;
                }
                return result;
            }
            let result = self.social.process(interface, command, reply);
            if result.is_ok() {
                if self.current == Current::Bank {
                    self.bank.deselect();
                }
                self.current = Current::Social;
            }
            return result;
        }
        match self.current {
            Current::Social => self.social.process(interface, command, reply),
            Current::Bank => self.bank.process(interface, command, reply),
        }
    }
}
