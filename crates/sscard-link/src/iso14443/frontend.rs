//! The contactless front end: the RF chip (PN532, MFRC522, ST25R39xx, …) as one
//! small trait, [`ContactlessFrontEnd`]. The ISO-DEP engine ([`super::IsoDep`])
//! runs on top of it; chip drivers implement it in adapters kept apart.
//!
//! The contract:
//!
//! * [`ContactlessFrontEnd::set_field`] switches the 13.56 MHz field; switching it
//!   on returns once cards may be addressed (the chip or driver waits the card
//!   power-up time of ISO/IEC 14443-3);
//! * [`ContactlessFrontEnd::activate_a`] runs the whole type A activation, REQA or
//!   WUPA, anticollision and SELECT at every cascade level, as front ends do in
//!   hardware or firmware, and returns the selected card's UID, SAK and ATQA, or
//!   `None` when no card answers;
//! * [`ContactlessFrontEnd::transceive`] sends one standard frame and returns the
//!   card's frame, or a [`FrontEndErrorKind::Timeout`] when none starts within the
//!   given time after the end of ours, or [`FrontEndErrorKind::Transmission`]
//!   (CRC, parity, framing, collision). Whether the chip appends and checks CRC_A
//!   is a capability ([`Capabilities::crc`]): when it does not, the frames passed
//!   include the CRC and the engine computes and checks it;
//! * [`ContactlessFrontEnd::set_bit_rate`] changes the bit rates after a PPS.

use core::fmt;

/// What went wrong on the RF side, independent of the chip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrontEndErrorKind {
    /// No frame started within the waiting time.
    Timeout,
    /// A frame arrived damaged (CRC, parity, framing, collision).
    Transmission,
    /// The frame was longer than the receive buffer.
    Overflow,
    /// The chip does not answer (bus error, chip reset, unplugged reader).
    Unavailable,
    /// Anything else.
    Other,
}

impl fmt::Display for FrontEndErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Timeout => "no answer within the frame waiting time",
            Self::Transmission => "transmission error",
            Self::Overflow => "frame longer than the buffer",
            Self::Unavailable => "front end unavailable",
            Self::Other => "front end error",
        })
    }
}

impl core::error::Error for FrontEndErrorKind {}

/// A front end driver's error.
pub trait FrontEndError: fmt::Debug + fmt::Display {
    /// The chip-independent kind.
    fn kind(&self) -> FrontEndErrorKind;
}

impl FrontEndError for FrontEndErrorKind {
    fn kind(&self) -> FrontEndErrorKind {
        *self
    }
}

/// The bit rates of ISO/IEC 14443 (fc/128 × D).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum BitRate {
    /// fc/128, about 106 kbit/s (D = 1).
    #[default]
    Kbps106,
    /// fc/64, about 212 kbit/s (D = 2).
    Kbps212,
    /// fc/32, about 424 kbit/s (D = 4).
    Kbps424,
    /// fc/16, about 848 kbit/s (D = 8).
    Kbps848,
}

impl BitRate {
    /// The DSI/DRI code (0…3).
    pub const fn code(self) -> u8 {
        match self {
            Self::Kbps106 => 0,
            Self::Kbps212 => 1,
            Self::Kbps424 => 2,
            Self::Kbps848 => 3,
        }
    }

    /// The rate for a DSI/DRI code (the low two bits).
    pub const fn from_code(code: u8) -> Self {
        match code & 0x03 {
            0 => Self::Kbps106,
            1 => Self::Kbps212,
            2 => Self::Kbps424,
            _ => Self::Kbps848,
        }
    }

    /// The divisor D.
    pub const fn divisor(self) -> u8 {
        1 << self.code()
    }

    /// The nominal rate in kbit/s.
    pub const fn kbps(self) -> u16 {
        106 * self.divisor() as u16
    }
}

/// What the front end can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// The chip appends CRC_A to sent frames and checks and removes it from
    /// received ones.
    pub crc: bool,
    /// The fastest bit rate the chip runs (both directions).
    pub max_bit_rate: BitRate,
}

impl Capabilities {
    /// Capabilities: CRC in the chip or not, bit rates up to `max_bit_rate`.
    pub const fn new(crc: bool, max_bit_rate: BitRate) -> Self {
        Self { crc, max_bit_rate }
    }
}

/// A type A card after activation (ISO/IEC 14443-3 §6.5): UID, SAK and ATQA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeA {
    uid: [u8; 10],
    uid_len: u8,
    /// The select acknowledge of the last cascade level.
    pub sak: u8,
    /// The answer to request (as received, least significant byte first).
    pub atqa: [u8; 2],
}

impl TypeA {
    /// A card with a single (4), double (7) or triple (10) size UID; `None` for
    /// other lengths.
    pub fn new(uid: &[u8], sak: u8, atqa: [u8; 2]) -> Option<Self> {
        if !matches!(uid.len(), 4 | 7 | 10) {
            return None;
        }
        let mut bytes = [0u8; 10];
        bytes.get_mut(..uid.len())?.copy_from_slice(uid);
        Some(Self {
            uid: bytes,
            uid_len: u8::try_from(uid.len()).ok()?,
            sak,
            atqa,
        })
    }

    /// The UID.
    pub fn uid(&self) -> &[u8] {
        self.uid
            .get(..usize::from(self.uid_len))
            .unwrap_or_default()
    }

    /// Whether SAK announces ISO/IEC 14443-4 (b6 set).
    pub const fn iso_dep(&self) -> bool {
        self.sak & 0x20 != 0
    }
}

/// The RF chip. See the module docs for the contract.
pub trait ContactlessFrontEnd {
    /// The driver's error.
    type Error: FrontEndError;

    /// What the chip can do.
    fn capabilities(&self) -> Capabilities;

    /// Switches the field on (returning once cards may be addressed) or off.
    fn set_field(&mut self, on: bool) -> Result<(), Self::Error>;

    /// Type A activation: REQA (or WUPA when `wake_up`, which also wakes halted
    /// cards), anticollision and SELECT. `None` when no card answers.
    fn activate_a(&mut self, wake_up: bool) -> Result<Option<TypeA>, Self::Error>;

    /// Sends `frame` and receives the answer into `response`, returning its length.
    /// The answer must start within `timeout_us` after the end of `frame`.
    fn transceive(
        &mut self,
        frame: &[u8],
        response: &mut [u8],
        timeout_us: u32,
    ) -> Result<usize, Self::Error>;

    /// Sets the bit rates, reader to card and card to reader (after a PPS).
    fn set_bit_rate(&mut self, to_card: BitRate, from_card: BitRate) -> Result<(), Self::Error>;

    /// Waits (guard times such as SFGT) with the field kept as it is.
    fn delay_us(&mut self, us: u32) -> Result<(), Self::Error>;
}

impl<T: ContactlessFrontEnd + ?Sized> ContactlessFrontEnd for &mut T {
    type Error = T::Error;

    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }

    fn set_field(&mut self, on: bool) -> Result<(), Self::Error> {
        (**self).set_field(on)
    }

    fn activate_a(&mut self, wake_up: bool) -> Result<Option<TypeA>, Self::Error> {
        (**self).activate_a(wake_up)
    }

    fn transceive(
        &mut self,
        frame: &[u8],
        response: &mut [u8],
        timeout_us: u32,
    ) -> Result<usize, Self::Error> {
        (**self).transceive(frame, response, timeout_us)
    }

    fn set_bit_rate(&mut self, to_card: BitRate, from_card: BitRate) -> Result<(), Self::Error> {
        (**self).set_bit_rate(to_card, from_card)
    }

    fn delay_us(&mut self, us: u32) -> Result<(), Self::Error> {
        (**self).delay_us(us)
    }
}
