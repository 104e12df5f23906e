//! The card session as a state machine ([`Kiosk`]): one [`Kiosk::step`] per
//! transition, so the caller's main loop (or an RTOS task) stays in control.
//!
//! ```text
//!  WaitCard ─switch closes─▶ Debounce ─held─▶ Activate ─ATR, PPS─▶ ReadBasic
//!     ▲                                                              │ SELECT SSSE,
//!     │                                                              ▼ 8 × READ RECORD
//!  WaitRemoval ◀── Eject ◀──Cancel/timeout/blocked/error──────── PinEntry ◀─┐
//!     ▲              ▲                                               │ Enter │ wrong PIN
//!     │              │                                               ▼       │
//!     │              └──────────── Service ◀── Menu ◀──── VerifyPin ─────────┘
//!     └── card taken out at any point after Debounce: CardRemoved
//! ```
//!
//! Card exchanges go through `sscard_apdu::Exchange` over the kiosk's
//! [`CardPort`]: `sscard_link::Link` on the contacts, or
//! `sscard_link::iso14443::IsoDep` in the field, with the host's own
//! `sscard_ssse::read_basic` and `sscard_ssse::verify_pin` either way. A failed
//! exchange with the card gone (switch open, or no answer in the field) is a
//! removal; with the card still there, the session shows an error and ejects.
//!
//! Contactless, "the switch closes" reads "a card answers in the field"; Activate
//! is RATS/ATS (and PPS), Eject is S(DESELECT) and field off, and WaitRemoval
//! waits until the card no longer answers a wake-up.

use alloc::vec::Vec;
use core::fmt;

use embedded_hal::delay::DelayNs;
use sscard_apdu::{Exchange, ExchangeError, Status, TransportError, TransportErrorKind};
use sscard_appdir::{Directory, TerminalFacts};
use sscard_fs::Profile;
use sscard_link::iso14443::{ContactlessFrontEnd, IsoDep};
use sscard_link::{Atr, Link, Protocol, TerminalIo};
use sscard_ssse::{read_basic, verify_pin, BasicInfo, Pin, ReadError, Step};
use zeroize::Zeroizing;

use crate::hal::{CardSwitch, Display, Key, Keypad, Screen};
use crate::port::{CardInterface, CardPort, Contactless};
use crate::services::{self, Outcome, ServiceHandler};

/// The longest PIN the keypad collects (`sscard_ssse::Pin` takes 4 to 12 digits; the
/// card's policy, usually 6, is the card's business).
pub const MAX_PIN: usize = 12;
/// The shortest PIN [`Key::Enter`] accepts.
pub const MIN_PIN: usize = 4;
/// Menu entries (chosen with one digit key).
pub const MAX_MENU: usize = 9;

/// Timing and terminal facts of the kiosk.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct KioskConfig {
    /// Polling period of the switch and the keypad, in milliseconds.
    pub poll_ms: u32,
    /// How long the switch must stay closed before the card is powered.
    pub debounce_ms: u32,
    /// PIN entry and menu time-out (no key for this long ends the session).
    pub input_timeout_ms: u32,
    /// How long a message (wrong PIN, not available) stays before the next screen.
    pub message_ms: u32,
    /// What this terminal has, for the application directory.
    pub terminal: TerminalFacts,
    /// Offer the uses that need the card's bank application (2nd-generation cards
    /// carry one); their payment part is the service handler's
    /// ([`crate::services::PbocPayments`]). Off by default.
    pub bank_app: bool,
}

impl Default for KioskConfig {
    /// 20 ms polling, 100 ms debounce, 30 s input time-out, 1.5 s messages; a PIN
    /// pad, no security module, offline.
    fn default() -> Self {
        Self {
            poll_ms: 20,
            debounce_ms: 100,
            input_timeout_ms: 30_000,
            message_ms: 1_500,
            terminal: TerminalFacts {
                pin_pad: true,
                ..TerminalFacts::default()
            },
            bank_app: false,
        }
    }
}

/// Where the session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// No card: polling the switch.
    WaitCard,
    /// The switch closed; waiting for it to settle.
    Debounce,
    /// Cold reset, ATR, PPS (`Link::power_on`).
    Activate,
    /// SELECT SSSE and the basic information (`sscard_ssse::read_basic`).
    ReadBasic,
    /// Collecting PIN digits from the keypad.
    PinEntry,
    /// VERIFY.
    VerifyPin,
    /// The holder chooses a service.
    Menu,
    /// The chosen service runs (menu entry, from 1).
    Service(u8),
    /// Deactivating the card.
    Eject,
    /// Waiting for the holder to take the card.
    WaitRemoval,
}

/// Why a card step failed, for logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CardFault {
    /// The link or transport failed (activation, timeouts, protocol errors).
    Link(TransportErrorKind),
    /// The card answered a step with an error status.
    Status(Status),
    /// The card's answer did not fit the profile.
    Data,
}

/// What a step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Nothing changed (polling).
    Idle,
    /// The switch closed and stayed closed: the card is being activated.
    CardInserted,
    /// ATR received and parameters selected.
    Activated {
        /// The protocol in use.
        protocol: Protocol,
        /// The negotiated bit rate.
        baud: u32,
    },
    /// Contactless: ATS received, ISO-DEP runs.
    ActivatedContactless {
        /// The bit rate in kbit/s (106, 212, 424 or 848).
        kbps: u16,
    },
    /// The basic information was read.
    BasicRead,
    /// A key was taken (its value is not reported).
    Key,
    /// The card accepted the PIN.
    PinVerified,
    /// The card refused the PIN.
    PinWrong {
        /// Tries left.
        tries_left: u8,
    },
    /// The PIN is blocked.
    PinBlocked,
    /// No key in time.
    TimedOut,
    /// The holder cancelled.
    Cancelled,
    /// The holder chose a service (menu entry, from 1).
    ServiceChosen(u8),
    /// The service ended.
    ServiceDone(Outcome),
    /// A card step failed with the card still in the slot.
    CardFailed(Phase, CardFault),
    /// The card was taken out during the session.
    CardRemoved(Phase),
    /// The card was deactivated; the holder is asked to take it.
    Ejected,
    /// The card was taken after the session: ready for the next one.
    CardTaken,
}

/// A peripheral failed. Card trouble is not an error: the session handles it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error<KE, DE, SE> {
    /// The keypad.
    Keypad(KE),
    /// The display.
    Display(DE),
    /// The card-presence switch.
    Switch(SE),
}

impl<KE: fmt::Debug, DE: fmt::Debug, SE: fmt::Debug> fmt::Display for Error<KE, DE, SE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Keypad(e) => write!(f, "keypad: {e:?}"),
            Self::Display(e) => write!(f, "display: {e:?}"),
            Self::Switch(e) => write!(f, "card switch: {e:?}"),
        }
    }
}

impl<KE: fmt::Debug, DE: fmt::Debug, SE: fmt::Debug> core::error::Error for Error<KE, DE, SE> {}

/// The error of a [`Kiosk`] with these peripherals.
pub type KioskError<K, D, S> =
    Error<<K as Keypad>::Error, <D as Display>::Error, <S as CardSwitch>::Error>;

/// The PIN digits typed so far, zeroised when cleared or dropped.
struct PinBuffer {
    digits: Zeroizing<[u8; MAX_PIN]>,
    len: usize,
}

impl PinBuffer {
    fn new() -> Self {
        Self {
            digits: Zeroizing::new([0; MAX_PIN]),
            len: 0,
        }
    }

    fn push(&mut self, digit: u8) {
        if let Some(slot) = self.digits.get_mut(self.len) {
            *slot = b'0' + digit % 10;
            self.len += 1;
        }
    }

    fn pop(&mut self) {
        self.len = self.len.saturating_sub(1);
        if let Some(slot) = self.digits.get_mut(self.len) {
            *slot = 0;
        }
    }

    fn clear(&mut self) {
        self.digits.fill(0);
        self.len = 0;
    }

    fn pin(&self) -> Option<Pin> {
        let digits = self.digits.get(..self.len)?;
        Pin::new(core::str::from_utf8(digits).ok()?).ok()
    }

    fn count(&self) -> u8 {
        u8::try_from(self.len).unwrap_or(u8::MAX)
    }
}

/// The kiosk's card session. See the module docs. `IO` is the card interface
/// ([`CardInterface`]): a [`TerminalIo`] for a contact slot, [`Contactless`] for a
/// contactless front end.
pub struct Kiosk<IO: CardInterface, K, D, S, H> {
    card: Exchange<IO::Port>,
    keypad: K,
    display: D,
    switch: S,
    services: H,
    profile: Profile,
    directory: Directory,
    cfg: KioskConfig,
    phase: Phase,
    atr: Option<Atr>,
    holder: Option<BasicInfo>,
    pin: PinBuffer,
    menu: Vec<usize>,
    selected: Option<u8>,
    waited_ms: u32,
}

impl<IO: CardInterface, K, D, S, H> fmt::Debug for Kiosk<IO, K, D, S, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kiosk")
            .field("phase", &self.phase)
            .field("pin_digits", &self.pin.len)
            .field("menu", &self.menu)
            .finish_non_exhaustive()
    }
}

impl<IO: TerminalIo, K, D, S, H> Kiosk<IO, K, D, S, H> {
    /// A kiosk reading cards through `link`, with the card profile (usually
    /// [`crate::profile::basic_profile`]) and the application directory.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        link: Link<IO>,
        keypad: K,
        display: D,
        switch: S,
        services: H,
        profile: Profile,
        directory: Directory,
        cfg: KioskConfig,
    ) -> Self {
        Self::with_port(
            link, keypad, display, switch, services, profile, directory, cfg,
        )
    }
}

impl<F: ContactlessFrontEnd, K, D, S, H> Kiosk<Contactless<F>, K, D, S, H> {
    /// A kiosk reading cards in the field through `iso` (card presence is the card
    /// answering; `switch` is not read: pass [`crate::hal::NoSwitch`]).
    #[allow(clippy::too_many_arguments)]
    pub fn contactless(
        iso: IsoDep<F>,
        keypad: K,
        display: D,
        switch: S,
        services: H,
        profile: Profile,
        directory: Directory,
        cfg: KioskConfig,
    ) -> Self {
        Self::with_port(
            iso, keypad, display, switch, services, profile, directory, cfg,
        )
    }
}

impl<IO: CardInterface, K, D, S, H> Kiosk<IO, K, D, S, H> {
    #[allow(clippy::too_many_arguments)]
    fn with_port(
        port: IO::Port,
        keypad: K,
        display: D,
        switch: S,
        services: H,
        profile: Profile,
        directory: Directory,
        cfg: KioskConfig,
    ) -> Self {
        Self {
            card: Exchange::new(port),
            keypad,
            display,
            switch,
            services,
            profile,
            directory,
            cfg,
            phase: Phase::WaitCard,
            atr: None,
            holder: None,
            pin: PinBuffer::new(),
            menu: Vec::new(),
            selected: None,
            waited_ms: 0,
        }
    }
}

impl<IO, K, D, S, H> Kiosk<IO, K, D, S, H>
where
    IO: CardInterface,
    K: Keypad,
    D: Display,
    S: CardSwitch,
    H: ServiceHandler<IO::Port>,
{
    /// Where the session is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The holder's basic information, between reading it and the end of the session.
    pub fn holder(&self) -> Option<&BasicInfo> {
        self.holder.as_ref()
    }

    /// The card link (contact: line parameters, protocol, ATR; contactless: the
    /// ISO-DEP engine and its front end).
    pub fn link(&mut self) -> &mut IO::Port {
        self.card.transport()
    }

    /// The services offered in the current menu (indices into the directory).
    pub fn menu(&self) -> &[usize] {
        &self.menu
    }

    /// The application directory.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The service handler (e.g. the last payment's result).
    pub fn services(&self) -> &H {
        &self.services
    }

    /// Gives the parts back.
    pub fn destroy(self) -> (IO::Port, K, D, S, H) {
        let (link, _) = self.card.into_parts();
        (link, self.keypad, self.display, self.switch, self.services)
    }

    /// Shows the first screen. Call once before stepping.
    pub fn start(&mut self) -> Result<(), KioskError<K, D, S>> {
        self.phase = Phase::WaitCard;
        self.show(&Screen::InsertCard)
    }

    /// Steps until the session returns to [`Phase::WaitCard`] or an event other than
    /// `Idle`/`Key` is followed by `limit` more steps; returns the events, for hosts
    /// and tests that drive a whole session.
    pub fn run_until_idle(
        &mut self,
        delay: &mut impl DelayNs,
        limit: usize,
    ) -> Result<Vec<Event>, KioskError<K, D, S>> {
        let mut events = Vec::new();
        for _ in 0..limit {
            let event = self.step(delay)?;
            if event != Event::Idle {
                events.push(event);
            }
            if self.phase == Phase::WaitCard && event != Event::Idle {
                break;
            }
        }
        Ok(events)
    }

    /// One transition. Polling phases wait `poll_ms` on `delay` when nothing happened.
    pub fn step(&mut self, delay: &mut impl DelayNs) -> Result<Event, KioskError<K, D, S>> {
        let in_session = !matches!(
            self.phase,
            Phase::WaitCard | Phase::Debounce | Phase::WaitRemoval | Phase::Eject
        );
        if in_session && !self.present()? {
            return self.removed(self.phase);
        }
        match self.phase {
            Phase::WaitCard => {
                if self.present()? {
                    self.phase = Phase::Debounce;
                    self.waited_ms = 0;
                } else {
                    delay.delay_ms(self.cfg.poll_ms);
                }
                Ok(Event::Idle)
            }
            Phase::Debounce => {
                if !self.present()? {
                    self.phase = Phase::WaitCard;
                    return Ok(Event::Idle);
                }
                if self.waited_ms >= self.cfg.debounce_ms {
                    self.show(&Screen::Reading)?;
                    self.phase = Phase::Activate;
                    return Ok(Event::CardInserted);
                }
                delay.delay_ms(self.cfg.poll_ms);
                self.waited_ms = self.waited_ms.saturating_add(self.cfg.poll_ms);
                Ok(Event::Idle)
            }
            Phase::Activate => match self.card.transport().activate() {
                Ok((atr, event)) => {
                    self.atr = Some(atr);
                    self.phase = Phase::ReadBasic;
                    Ok(event)
                }
                Err(e) => self.card_failed(CardFault::Link(e.kind())),
            },
            Phase::ReadBasic => {
                let atr = self.atr;
                let atr_bytes = atr.as_ref().map_or(&[][..], Atr::as_bytes);
                match read_basic(&mut self.card, &self.profile, atr_bytes) {
                    Ok(info) => {
                        self.holder = Some(info);
                        self.pin.clear();
                        self.enter_pin_screen()?;
                        self.phase = Phase::PinEntry;
                        self.waited_ms = 0;
                        Ok(Event::BasicRead)
                    }
                    Err(e) => self.card_failed(fault(&e)),
                }
            }
            Phase::PinEntry => match self.key(delay)? {
                None if self.waited_ms >= self.cfg.input_timeout_ms => self.end(Event::TimedOut),
                None => Ok(Event::Idle),
                Some(Key::Digit(d)) => {
                    self.pin.push(d);
                    self.enter_pin_screen()?;
                    Ok(Event::Key)
                }
                Some(Key::Clear) => {
                    self.pin.pop();
                    self.enter_pin_screen()?;
                    Ok(Event::Key)
                }
                Some(Key::Enter) if self.pin.len >= MIN_PIN => {
                    self.phase = Phase::VerifyPin;
                    Ok(Event::Key)
                }
                Some(Key::Enter) => Ok(Event::Key),
                Some(Key::Cancel) => self.end(Event::Cancelled),
            },
            Phase::VerifyPin => self.verify(delay),
            Phase::Menu => match self.key(delay)? {
                None if self.waited_ms >= self.cfg.input_timeout_ms => self.end(Event::TimedOut),
                None => Ok(Event::Idle),
                Some(Key::Digit(d)) => {
                    if (1..=self.menu.len()).contains(&usize::from(d)) {
                        self.selected = Some(d);
                        self.menu_screen()?;
                    }
                    Ok(Event::Key)
                }
                Some(Key::Clear) => {
                    self.selected = None;
                    self.menu_screen()?;
                    Ok(Event::Key)
                }
                Some(Key::Enter) => match self.selected {
                    Some(n) => {
                        self.phase = Phase::Service(n);
                        Ok(Event::ServiceChosen(n))
                    }
                    None => Ok(Event::Key),
                },
                Some(Key::Cancel) => self.end(Event::Cancelled),
            },
            Phase::Service(n) => self.service(n, delay),
            Phase::Eject => {
                self.forget();
                // A card that cannot be powered down is taken out by the holder anyway.
                let _ = self.card.transport().deactivate();
                self.show(&Screen::TakeCard)?;
                self.phase = Phase::WaitRemoval;
                Ok(Event::Ejected)
            }
            Phase::WaitRemoval => {
                if self.present()? {
                    delay.delay_ms(self.cfg.poll_ms);
                    return Ok(Event::Idle);
                }
                self.show(&Screen::InsertCard)?;
                self.phase = Phase::WaitCard;
                Ok(Event::CardTaken)
            }
        }
    }

    fn verify(&mut self, delay: &mut impl DelayNs) -> Result<Event, KioskError<K, D, S>> {
        let Some(pin) = self.pin.pin() else {
            self.pin.clear();
            self.phase = Phase::PinEntry;
            self.enter_pin_screen()?;
            return Ok(Event::Idle);
        };
        self.pin.clear();
        let result = verify_pin(&mut self.card, &pin);
        drop(pin);
        match result {
            Ok(()) => {
                let facts = self
                    .holder
                    .as_ref()
                    .map(|h| services::card_facts(h, self.cfg.bank_app))
                    .unwrap_or_default();
                self.menu =
                    services::available(&self.directory, &facts, &self.cfg.terminal, MAX_MENU);
                self.selected = None;
                self.waited_ms = 0;
                self.menu_screen()?;
                self.phase = Phase::Menu;
                Ok(Event::PinVerified)
            }
            Err(ReadError::Card(Step::VerifyPin, Status::VerificationFailed { tries_left }))
                if tries_left > 0 =>
            {
                self.show(&Screen::WrongPin { tries_left })?;
                delay.delay_ms(self.cfg.message_ms);
                self.enter_pin_screen()?;
                self.phase = Phase::PinEntry;
                self.waited_ms = 0;
                Ok(Event::PinWrong { tries_left })
            }
            Err(ReadError::Card(
                Step::VerifyPin,
                Status::VerificationFailed { .. } | Status::AuthenticationMethodBlocked,
            )) => {
                self.show(&Screen::PinBlocked)?;
                delay.delay_ms(self.cfg.message_ms);
                self.phase = Phase::Eject;
                Ok(Event::PinBlocked)
            }
            Err(e) => self.card_failed(fault(&e)),
        }
    }

    fn service(&mut self, n: u8, delay: &mut impl DelayNs) -> Result<Event, KioskError<K, D, S>> {
        let index = usize::from(n)
            .checked_sub(1)
            .and_then(|i| self.menu.get(i))
            .copied();
        let (Some(app), Some(holder)) = (
            index.and_then(|i| self.directory.items.get(i)),
            self.holder.as_ref(),
        ) else {
            self.phase = Phase::Eject;
            return Ok(Event::ServiceDone(Outcome::NotAvailable));
        };
        self.display
            .show(&Screen::Service { name: &app.name_zh })
            .map_err(Error::Display)?;
        let outcome = self.services.run(app, holder, &mut self.card);
        if outcome == Outcome::NotAvailable {
            self.display
                .show(&Screen::NotAvailable { name: &app.name_zh })
                .map_err(Error::Display)?;
            delay.delay_ms(self.cfg.message_ms);
        }
        self.phase = Phase::Eject;
        Ok(Event::ServiceDone(outcome))
    }

    /// The card interface's own view (contactless), else the switch.
    fn present(&mut self) -> Result<bool, KioskError<K, D, S>> {
        match self.card.transport().detect() {
            Some(present) => Ok(present),
            None => self.switch.card_present().map_err(Error::Switch),
        }
    }

    fn show(&mut self, screen: &Screen<'_>) -> Result<(), KioskError<K, D, S>> {
        self.display.show(screen).map_err(Error::Display)
    }

    fn enter_pin_screen(&mut self) -> Result<(), KioskError<K, D, S>> {
        let name = self.holder.as_ref().map_or("", |h| h.name.as_str());
        self.display
            .show(&Screen::EnterPin {
                name,
                digits: self.pin.count(),
            })
            .map_err(Error::Display)
    }

    fn menu_screen(&mut self) -> Result<(), KioskError<K, D, S>> {
        let items: Vec<&str> = self
            .menu
            .iter()
            .filter_map(|&i| self.directory.items.get(i))
            .map(|app| app.name_zh.as_str())
            .collect();
        self.display
            .show(&Screen::Menu {
                items: &items,
                selected: self.selected,
            })
            .map_err(Error::Display)
    }

    /// Polls the keypad once; waits `poll_ms` and counts towards the time-out when
    /// no key came.
    fn key(&mut self, delay: &mut impl DelayNs) -> Result<Option<Key>, KioskError<K, D, S>> {
        match self.keypad.read_key().map_err(Error::Keypad)? {
            Some(k) => {
                self.waited_ms = 0;
                Ok(Some(k))
            }
            None => {
                delay.delay_ms(self.cfg.poll_ms);
                self.waited_ms = self.waited_ms.saturating_add(self.cfg.poll_ms);
                Ok(None)
            }
        }
    }

    fn end(&mut self, event: Event) -> Result<Event, KioskError<K, D, S>> {
        self.phase = Phase::Eject;
        Ok(event)
    }

    /// Drops everything learnt from the card.
    fn forget(&mut self) {
        self.pin.clear();
        self.holder = None;
        self.atr = None;
        self.menu.clear();
        self.selected = None;
    }

    fn removed(&mut self, phase: Phase) -> Result<Event, KioskError<K, D, S>> {
        self.forget();
        let _ = self.card.transport().deactivate();
        self.show(&Screen::CardRemoved)?;
        self.phase = Phase::WaitCard;
        Ok(Event::CardRemoved(phase))
    }

    fn card_failed(&mut self, fault: CardFault) -> Result<Event, KioskError<K, D, S>> {
        let phase = self.phase;
        if !self.present()? {
            return self.removed(phase);
        }
        self.show(&Screen::CardError)?;
        self.phase = Phase::Eject;
        Ok(Event::CardFailed(phase, fault))
    }
}

fn fault<E: TransportError>(e: &ReadError<E>) -> CardFault {
    match e {
        ReadError::Card(_, status) => CardFault::Status(*status),
        ReadError::Exchange(_, ExchangeError::Transport(t)) => CardFault::Link(t.kind()),
        ReadError::Exchange(_, ExchangeError::Status(status)) => CardFault::Status(*status),
        ReadError::Exchange(..) => CardFault::Link(TransportErrorKind::Protocol),
        _ => CardFault::Data,
    }
}
