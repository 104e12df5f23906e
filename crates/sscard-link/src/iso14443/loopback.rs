//! An in-process RF channel: [`Loopback`] is a [`ContactlessFrontEnd`] whose field
//! holds one simulated card ([`PiccEngine`]), with a simulated clock. Frames take
//! their air time at the current bit rate (9 bits per byte plus start and end of
//! frame), the card answers after a fixed turnaround, and a card that stays silent
//! costs the whole waiting time, so simulations account every wait ISO-DEP makes.
//!
//! It models what the protocol engines need, not the physics: no load modulation,
//! no anticollision between several cards (one card, found or not), and a frame
//! received at the wrong bit rate is simply lost or damaged. Fault injection
//! (lost, damaged or replaced frames) belongs to a wrapper in the test.

use super::frontend::{BitRate, Capabilities, ContactlessFrontEnd, FrontEndErrorKind, TypeA};
use super::picc::PiccEngine;
use super::{crc_a, fc_cycles_us, strip_crc_a, FRAME_MAX};
use crate::card::CardHandler;

/// Field power-up before the first command (ISO/IEC 14443-3 gives the card 5 ms).
pub const FIELD_ON_US: u32 = 5_000;
/// Air time of a whole type A activation (REQA, anticollision, SELECT) at
/// 106 kbit/s, for the clock.
pub const ACTIVATION_US: u32 = 2_500;
/// The card's turnaround: from the end of the reader's frame to the start of the
/// answer (about the frame delay time at 106 kbit/s).
pub const TURNAROUND_US: u32 = 90;

/// Air time of a standard frame of `bytes` bytes at `rate`.
pub fn frame_us(bytes: usize, rate: BitRate) -> u32 {
    let bits = u64::try_from(bytes)
        .unwrap_or(u64::MAX / 2304)
        .saturating_mul(9)
        + 2;
    fc_cycles_us(bits.saturating_mul(128) / u64::from(rate.divisor()))
}

/// The simulated field with one card. See the module docs.
#[derive(Debug)]
pub struct Loopback<H> {
    picc: PiccEngine<H>,
    caps: Capabilities,
    now_us: u64,
    field: bool,
    present: bool,
    to_card: BitRate,
    from_card: BitRate,
    frames: u64,
}

impl<H: CardHandler> Loopback<H> {
    /// A field (off) with `picc` in it, on a front end with `caps`.
    pub fn new(picc: PiccEngine<H>, caps: Capabilities) -> Self {
        Self {
            picc,
            caps,
            now_us: 0,
            field: false,
            present: true,
            to_card: BitRate::Kbps106,
            from_card: BitRate::Kbps106,
            frames: 0,
        }
    }

    /// The card.
    pub fn picc(&mut self) -> &mut PiccEngine<H> {
        &mut self.picc
    }

    /// Simulated time in microseconds.
    pub fn now_us(&self) -> u64 {
        self.now_us
    }

    /// Lets time pass.
    pub fn advance(&mut self, us: u64) {
        self.now_us = self.now_us.saturating_add(us);
    }

    /// Frames the reader sent.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Whether the field is on.
    pub fn field_on(&self) -> bool {
        self.field
    }

    /// Whether the card is in the field.
    pub fn present(&self) -> bool {
        self.present
    }

    /// Brings the card into the field.
    pub fn insert(&mut self) {
        self.present = true;
        if self.field {
            self.picc.field(true);
        }
    }

    /// Takes the card out of the field: it loses power.
    pub fn remove(&mut self) {
        self.present = false;
        self.picc.field(false);
    }
}

impl<H: CardHandler> ContactlessFrontEnd for Loopback<H> {
    type Error = FrontEndErrorKind;

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    fn set_field(&mut self, on: bool) -> Result<(), Self::Error> {
        if on && !self.field {
            self.advance(u64::from(FIELD_ON_US));
        }
        self.field = on;
        if !on {
            self.to_card = BitRate::Kbps106;
            self.from_card = BitRate::Kbps106;
        }
        if self.present {
            self.picc.field(on);
        }
        Ok(())
    }

    fn activate_a(&mut self, wake_up: bool) -> Result<Option<TypeA>, Self::Error> {
        self.advance(u64::from(ACTIVATION_US));
        if !self.field || !self.present {
            return Ok(None);
        }
        Ok(self.picc.activate_a(wake_up))
    }

    fn transceive(
        &mut self,
        frame: &[u8],
        response: &mut [u8],
        timeout_us: u32,
    ) -> Result<usize, Self::Error> {
        self.frames += 1;
        self.advance(u64::from(frame_us(frame.len(), self.to_card)));
        // The card answers at the rates in force when the frame arrived (a PPS
        // response still goes at the old rate).
        let (card_rx, card_tx) = self.picc.bit_rate();
        let silent = !self.field || !self.present || card_rx != self.to_card;
        let payload = if self.caps.crc {
            Some(frame)
        } else {
            // A card ignores a frame with a wrong CRC.
            strip_crc_a(frame)
        };
        let mut out = [0u8; FRAME_MAX + 2];
        let answer = match payload {
            Some(p) if !silent => self.picc.frame(p, &mut out),
            _ => None,
        };
        let Some(mut n) = answer.filter(|_| TURNAROUND_US <= timeout_us) else {
            self.advance(u64::from(timeout_us));
            return Err(FrontEndErrorKind::Timeout);
        };
        if !self.caps.crc {
            let crc = crc_a(out.get(..n).unwrap_or_default());
            out.get_mut(n..n + 2)
                .ok_or(FrontEndErrorKind::Overflow)?
                .copy_from_slice(&crc);
            n += 2;
        }
        self.advance(u64::from(TURNAROUND_US) + u64::from(frame_us(n, self.from_card)));
        if card_tx != self.from_card {
            return Err(FrontEndErrorKind::Transmission);
        }
        response
            .get_mut(..n)
            .ok_or(FrontEndErrorKind::Overflow)?
            .copy_from_slice(out.get(..n).unwrap_or_default());
        Ok(n)
    }

    fn set_bit_rate(&mut self, to_card: BitRate, from_card: BitRate) -> Result<(), Self::Error> {
        self.to_card = to_card;
        self.from_card = from_card;
        Ok(())
    }

    fn delay_us(&mut self, us: u32) -> Result<(), Self::Error> {
        self.advance(u64::from(us));
        Ok(())
    }
}
