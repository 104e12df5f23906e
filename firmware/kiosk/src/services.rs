//! The services a card holder can choose at the kiosk: the uses of the application
//! directory (`sscard-appdir`) that this card and this terminal support, and the
//! [`ServiceHandler`] that carries one out.
//!
//! The card part of most directory uses is what the session already did (basic
//! information, PIN); the rest is the back office's, reached through the handler.
//! Payment is the exception: it needs the card's PBOC application. [`PbocPayments`]
//! runs it through the `sscard-pboc` kernel (selection, GPO, records, offline data
//! authentication, CVM, risk management, GENERATE AC, online through the integrator's
//! [`Issuer`]); [`CardOnlyServices`] is the handler of a kiosk without payments.

use alloc::vec::Vec;

use sscard_apdu::{Exchange, Transport};
use sscard_appdir::{
    check, App, Availability, Capability, CardFacts, Directory, Mode, TerminalFacts,
};
#[cfg(feature = "payment")]
use sscard_pboc::config::{TerminalConfig, TransactionData};
#[cfg(feature = "payment")]
use sscard_pboc::contact::{self, TransactionResult};
#[cfg(feature = "payment")]
use sscard_pboc::traits::{Cardholder, Environment, Issuer, OfflineAuth, Rng};
use sscard_ssse::BasicInfo;

/// How a service ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Done.
    Done,
    /// This kiosk cannot carry the service out (yet).
    NotAvailable,
    /// The holder aborted.
    Cancelled,
    /// The payment was declined (by the card, the terminal or the issuer).
    Declined,
    /// The payment could not be carried out (the card's bank application failed or
    /// the transaction was terminated).
    Failed,
}

/// Carries out a chosen service with the card (PIN verified, SSSE selected).
pub trait ServiceHandler<T: Transport> {
    /// Runs `app` for the holder of `card`.
    fn run(&mut self, app: &App, holder: &BasicInfo, card: &mut Exchange<T>) -> Outcome;
}

impl<T: Transport, H: ServiceHandler<T> + ?Sized> ServiceHandler<T> for &mut H {
    fn run(&mut self, app: &App, holder: &BasicInfo, card: &mut Exchange<T>) -> Outcome {
        (**self).run(app, holder, card)
    }
}

/// Whether a use goes through the card's payment (PBOC) application.
pub fn is_payment(app: &App) -> bool {
    app.capabilities.contains(&Capability::BankApp)
        || app.modes.contains(&Mode::Bank)
        || app.modes.contains(&Mode::Payment)
}

/// The handler of a kiosk without payments: payment uses are [`Outcome::NotAvailable`]
/// (the card is not touched); every other use needs nothing more from the card than
/// the session did, and the hand-off to the back office is the integrator's (`Done`).
#[derive(Clone, Copy, Debug, Default)]
pub struct CardOnlyServices;

impl<T: Transport> ServiceHandler<T> for CardOnlyServices {
    fn run(&mut self, app: &App, _holder: &BasicInfo, _card: &mut Exchange<T>) -> Outcome {
        if is_payment(app) {
            Outcome::NotAvailable
        } else {
            Outcome::Done
        }
    }
}

/// Payment uses through the PBOC kernel, on the same card and link as the session
/// (feature `payment`, on by default).
///
/// The integrator supplies what a kiosk board has: the terminal configuration, the
/// amount of each use (`amount`, e.g. a fee table), the date and time from its clock
/// (set `date`/`time` before each session), the ODA verifier with its CA keys (e.g.
/// `sscard_pboc::verifier::EmvOda`), the cardholder (the bank PIN on the keypad), the
/// issuer (the acquirer link) and a random source. The last transaction's result
/// (field 55, TVR, receipt data) stays in [`PbocPayments::last`].
#[cfg(feature = "payment")]
pub struct PbocPayments<O, C, I, R> {
    /// The terminal configuration.
    pub config: TerminalConfig,
    /// The amount (minor units) of a payment use.
    pub amount: fn(&App) -> u64,
    /// 9A transaction date YYMMDD (BCD).
    pub date: [u8; 3],
    /// 9F21 transaction time HHMMSS (BCD).
    pub time: [u8; 3],
    /// Offline data authentication.
    pub oda: O,
    /// The cardholder at the keypad.
    pub cardholder: C,
    /// The issuer behind the acquirer link.
    pub issuer: I,
    /// The random source.
    pub rng: R,
    /// The last payment's result.
    pub last: Option<TransactionResult>,
}

#[cfg(feature = "payment")]
impl<T, O, C, I, R> ServiceHandler<T> for PbocPayments<O, C, I, R>
where
    T: Transport,
    O: OfflineAuth,
    C: Cardholder,
    I: Issuer,
    R: Rng,
{
    fn run(&mut self, app: &App, _holder: &BasicInfo, card: &mut Exchange<T>) -> Outcome {
        if !is_payment(app) {
            return Outcome::Done;
        }
        let txn = TransactionData {
            amount: (self.amount)(app),
            date: self.date,
            time: self.time,
            ..TransactionData::default()
        };
        let result = contact::run(
            card,
            &self.config,
            &txn,
            &mut Environment {
                oda: &mut self.oda,
                cardholder: &mut self.cardholder,
                issuer: &mut self.issuer,
                rng: &mut self.rng,
            },
        );
        match result {
            Ok(r) => {
                let outcome = match r.outcome {
                    contact::Outcome::ApprovedOffline | contact::Outcome::ApprovedOnline => {
                        Outcome::Done
                    }
                    contact::Outcome::DeclinedOffline | contact::Outcome::DeclinedOnline => {
                        Outcome::Declined
                    }
                    contact::Outcome::Terminated(_) => Outcome::Failed,
                };
                self.last = Some(r);
                outcome
            }
            Err(_) => {
                self.last = None;
                Outcome::Failed
            }
        }
    }
}

/// What the kiosk knows about a card from its basic information: the generation from
/// the spec version (`2.00` → 2). The application DFs are not probed, and the bank
/// application is not looked for (that is the PBOC kernel's job): `bank_app` says
/// whether to assume one.
pub fn card_facts(holder: &BasicInfo, bank_app: bool) -> CardFacts {
    let generation = holder
        .spec_version
        .bytes()
        .next()
        .filter(u8::is_ascii_digit)
        .map_or(0, |d| d - b'0');
    CardFacts {
        generation,
        bank_app,
        ..CardFacts::default()
    }
}

/// The indices (into `directory.items`) of the uses available with the physical card,
/// at most `max`, in directory order.
pub fn available(
    directory: &Directory,
    card: &CardFacts,
    terminal: &TerminalFacts,
    max: usize,
) -> Vec<usize> {
    check(directory, card, terminal)
        .iter()
        .enumerate()
        .filter(|(_, (_, a))| *a == Availability::Card)
        .map(|(i, _)| i)
        .take(max)
        .collect()
}
