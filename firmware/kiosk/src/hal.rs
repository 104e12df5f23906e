//! The kiosk's peripherals as small traits, with adapters onto embedded-hal 1.0 and
//! embedded-io: a [`Keypad`], a [`Display`] showing [`Screen`]s, and a [`CardSwitch`]
//! (the card-presence contact of the card slot). The card link itself is
//! [`sscard_link::TerminalIo`]; delays are `embedded_hal::delay::DelayNs`, passed per
//! call.
//!
//! Each trait has an associated error type; the kiosk keeps them apart in
//! [`crate::Error`].

use core::fmt::{self, Write as _};

use embedded_hal::digital::InputPin;

/// A key of the PIN pad.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A digit key, 0–9.
    Digit(u8),
    /// Confirm (确认 / Enter).
    Enter,
    /// Delete the last digit (更正 / Clear).
    Clear,
    /// Abort (取消 / Cancel): the session ends and the card is ejected.
    Cancel,
}

impl fmt::Debug for Key {
    /// Digits are not printed: they may be PIN digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Digit(_) => f.write_str("Digit(*)"),
            Self::Enter => f.write_str("Enter"),
            Self::Clear => f.write_str("Clear"),
            Self::Cancel => f.write_str("Cancel"),
        }
    }
}

/// The PIN pad.
pub trait Keypad {
    /// The driver's error.
    type Error: fmt::Debug;

    /// The next key pressed since the last call, if any (never blocks).
    fn read_key(&mut self) -> Result<Option<Key>, Self::Error>;
}

impl<T: Keypad + ?Sized> Keypad for &mut T {
    type Error = T::Error;

    fn read_key(&mut self) -> Result<Option<Key>, Self::Error> {
        (**self).read_key()
    }
}

/// The card-presence switch of the card slot.
pub trait CardSwitch {
    /// The driver's error.
    type Error: fmt::Debug;

    /// Whether a card is in the slot.
    fn card_present(&mut self) -> Result<bool, Self::Error>;
}

impl<T: CardSwitch + ?Sized> CardSwitch for &mut T {
    type Error = T::Error;

    fn card_present(&mut self) -> Result<bool, Self::Error> {
        (**self).card_present()
    }
}

/// No presence switch: for contactless kiosks, whose presence comes from the field
/// ([`crate::CardPort::detect`]). Reads "no card" if ever asked.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoSwitch;

impl CardSwitch for NoSwitch {
    type Error = core::convert::Infallible;

    fn card_present(&mut self) -> Result<bool, Self::Error> {
        Ok(false)
    }
}

/// A presence switch on an embedded-hal input pin.
#[derive(Debug)]
pub struct SwitchPin<P> {
    pin: P,
    present_high: bool,
}

impl<P: InputPin> SwitchPin<P> {
    /// A switch that reads high when a card is in (`present_high`) or low.
    pub fn new(pin: P, present_high: bool) -> Self {
        Self { pin, present_high }
    }

    /// Gives the pin back.
    pub fn destroy(self) -> P {
        self.pin
    }
}

impl<P: InputPin> CardSwitch for SwitchPin<P> {
    type Error = P::Error;

    fn card_present(&mut self) -> Result<bool, Self::Error> {
        Ok(self.pin.is_high()? == self.present_high)
    }
}

/// What the kiosk wants shown. The display decides how (language, layout, fonts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Screen<'a> {
    /// Waiting: "please insert your social security card".
    InsertCard,
    /// The card is being read.
    Reading,
    /// The holder's name, and the PIN prompt with this many digits typed (shown as
    /// asterisks).
    EnterPin {
        /// The holder's name from the card.
        name: &'a str,
        /// Digits typed so far.
        digits: u8,
    },
    /// The card refused the PIN.
    WrongPin {
        /// Tries left, as the card reports them.
        tries_left: u8,
    },
    /// The PIN is blocked: the holder has to go to a service counter.
    PinBlocked,
    /// The services offered for this card, numbered from 1; `selected` is highlighted.
    Menu {
        /// Service names (Chinese), at most [`crate::MAX_MENU`].
        items: &'a [&'a str],
        /// The entry the holder has chosen so far.
        selected: Option<u8>,
    },
    /// A service runs.
    Service {
        /// Its name.
        name: &'a str,
    },
    /// A service is not available on this kiosk yet (e.g. payment: the PBOC kernel).
    NotAvailable {
        /// Its name.
        name: &'a str,
    },
    /// Please take the card.
    TakeCard,
    /// The card was taken out before the session ended.
    CardRemoved,
    /// The card could not be read (not a social security card, or it failed).
    CardError,
}

/// The display.
pub trait Display {
    /// The driver's error.
    type Error: fmt::Debug;

    /// Shows `screen` (replacing what was shown).
    fn show(&mut self, screen: &Screen<'_>) -> Result<(), Self::Error>;
}

impl<T: Display + ?Sized> Display for &mut T {
    type Error = T::Error;

    fn show(&mut self, screen: &Screen<'_>) -> Result<(), Self::Error> {
        (**self).show(screen)
    }
}

/// A display that writes each screen as one line of text to an embedded-io writer
/// (a serial console, a character LCD driver taking UTF-8, a test buffer).
#[derive(Debug)]
pub struct TextDisplay<W> {
    out: W,
}

impl<W: embedded_io::Write> TextDisplay<W> {
    /// A display writing to `out`.
    pub fn new(out: W) -> Self {
        Self { out }
    }

    /// Gives the writer back.
    pub fn destroy(self) -> W {
        self.out
    }
}

/// Adapts an embedded-io writer to `core::fmt::Write`, keeping the first error.
struct FmtWriter<'w, W: embedded_io::Write> {
    out: &'w mut W,
    error: Option<W::Error>,
}

impl<W: embedded_io::Write> fmt::Write for FmtWriter<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.out.write_all(s.as_bytes()).map_err(|e| {
            self.error = Some(e);
            fmt::Error
        })
    }
}

/// Writes the text form of `screen` (one line, no newline).
pub fn render(screen: &Screen<'_>, w: &mut impl fmt::Write) -> fmt::Result {
    match screen {
        Screen::InsertCard => w.write_str("请插入社会保障卡 / insert card"),
        Screen::Reading => w.write_str("正在读卡 / reading card"),
        Screen::EnterPin { name, digits } => {
            write!(w, "{name} 请输入密码 / enter PIN: ")?;
            for _ in 0..*digits {
                w.write_char('*')?;
            }
            Ok(())
        }
        Screen::WrongPin { tries_left } => {
            write!(
                w,
                "密码错误，还可尝试{tries_left}次 / wrong PIN, {tries_left} tries left"
            )
        }
        Screen::PinBlocked => w.write_str("密码已锁定，请到柜台办理 / PIN blocked"),
        Screen::Menu { items, selected } => {
            w.write_str("请选择业务 / choose a service:")?;
            for (n, item) in items.iter().enumerate() {
                let mark = if selected.is_some_and(|s| usize::from(s) == n + 1) {
                    '>'
                } else {
                    ' '
                };
                write!(w, " {mark}{}.{item}", n + 1)?;
            }
            Ok(())
        }
        Screen::Service { name } => write!(w, "正在办理 / in progress: {name}"),
        Screen::NotAvailable { name } => {
            write!(w, "本机暂不支持 / not available here: {name}")
        }
        Screen::TakeCard => w.write_str("请取卡 / please take your card"),
        Screen::CardRemoved => w.write_str("卡已拔出 / card removed"),
        Screen::CardError => w.write_str("读卡失败 / card cannot be read"),
    }
}

impl<W: embedded_io::Write> Display for TextDisplay<W> {
    type Error = W::Error;

    fn show(&mut self, screen: &Screen<'_>) -> Result<(), Self::Error> {
        let mut fw = FmtWriter {
            out: &mut self.out,
            error: None,
        };
        let result = render(screen, &mut fw).and_then(|()| fw.write_str("\n"));
        match (result, fw.error) {
            (Err(_), Some(e)) => Err(e),
            _ => self.out.flush(),
        }
    }
}
