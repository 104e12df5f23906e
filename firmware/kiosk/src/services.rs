//! The services a card holder can choose at the kiosk: the uses of the application
//! directory (`sscard-appdir`) that this card and this terminal support, and the
//! [`ServiceHandler`] that carries one out.
//!
//! The card part of most directory uses is what the session already did (basic
//! information, PIN); the rest is the back office's, reached through the handler.
//! Payment is the exception: it needs the card's PBOC application and a PBOC kernel,
//! which does not exist yet. [`payment_placeholder`] marks where it goes.

use alloc::vec::Vec;

use sscard_apdu::{Exchange, Transport};
use sscard_appdir::{
    check, App, Availability, Capability, CardFacts, Directory, Mode, TerminalFacts,
};
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

/// PLACEHOLDER for the payment flow: selection of the card's PBOC application, GPO,
/// READ RECORD, offline data authentication and GENERATE AC through the PBOC kernel
/// (`sscard-pboc`), which does not exist yet. Until it lands every payment use ends
/// here with [`Outcome::NotAvailable`] and the card is not touched.
pub fn payment_placeholder<T: Transport>(_app: &App, _card: &mut Exchange<T>) -> Outcome {
    Outcome::NotAvailable
}

/// The default handler: payment uses go to [`payment_placeholder`]; every other use
/// needs nothing more from the card than the session did, and the hand-off to the back
/// office is the integrator's (`Done`).
#[derive(Clone, Copy, Debug, Default)]
pub struct CardOnlyServices;

impl<T: Transport> ServiceHandler<T> for CardOnlyServices {
    fn run(&mut self, app: &App, _holder: &BasicInfo, card: &mut Exchange<T>) -> Outcome {
        if is_payment(app) {
            payment_placeholder(app, card)
        } else {
            Outcome::Done
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
