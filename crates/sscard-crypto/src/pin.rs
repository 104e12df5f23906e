//! PINs and PIN blocks.
//!
//! * [`Pin`]: 4–12 decimal digits, zeroised on drop, redacted in `Debug`, compared in
//!   constant time.
//! * The card's PIN block (sscard.md §3.5, PIN reload): `len ‖ PIN (BCD) ‖ 80 00…`, 8
//!   bytes for 3DES and 16 for SM4, encrypted by the PSAM (`80 FA 00 00`) before
//!   `84 24`. **Unconfirmed \[U\]**: `len` is taken as the number of BCD bytes (`03` for
//!   six digits), since the card stores PINs as 2–6 whole BCD bytes (§3.1); for the same
//!   reason only even digit counts have a card encoding.
//! * ISO 9564-1 format 0 (with the PAN), as PBOC online PINs use.
//!
//! PIN blocks are returned in [`Zeroizing`] buffers. Decoding a malformed block (after
//! decryption) is the opaque [`SymError::Integrity`].

use core::fmt;

use subtle::{Choice, ConstantTimeEq};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::keys::{Algorithm, SymError};
use crate::pad::PAD_BYTE;

/// Fewest PIN digits accepted.
pub const MIN_PIN_DIGITS: usize = 4;
/// Most PIN digits accepted.
pub const MAX_PIN_DIGITS: usize = 12;

/// A PIN of 4–12 decimal digits. Zeroised on drop; `Debug` prints `Pin(<redacted>)`;
/// `==` is constant time in the digits.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Pin {
    /// Digit values 0–9; only the first `len` are used.
    digits: [u8; MAX_PIN_DIGITS],
    len: u8,
}

impl Pin {
    /// A PIN from ASCII digits.
    ///
    /// Errors: [`SymError::InvalidPin`] unless `digits` is 4–12 ASCII digits.
    pub fn new(digits: &str) -> Result<Self, SymError> {
        Self::from_ascii(digits.as_bytes())
    }

    /// A PIN from ASCII digit bytes.
    ///
    /// Errors: [`SymError::InvalidPin`] unless `digits` is 4–12 ASCII digits.
    pub fn from_ascii(digits: &[u8]) -> Result<Self, SymError> {
        Self::from_values(digits.iter().map(|&b| b.wrapping_sub(b'0')))
    }

    /// A PIN from digit values (each must be 0–9), 4–12 of them.
    fn from_values(values: impl Iterator<Item = u8>) -> Result<Self, SymError> {
        let mut pin = Self {
            digits: [0; MAX_PIN_DIGITS],
            len: 0,
        };
        let mut count = 0usize;
        for value in values {
            let slot = pin.digits.get_mut(count).ok_or(SymError::InvalidPin)?;
            if value > 9 {
                return Err(SymError::InvalidPin);
            }
            *slot = value;
            count += 1;
        }
        if count < MIN_PIN_DIGITS {
            return Err(SymError::InvalidPin);
        }
        pin.len = u8::try_from(count).map_err(|_| SymError::InvalidPin)?;
        Ok(pin)
    }

    /// Number of digits (4–12).
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Always `false`: a PIN has at least 4 digits.
    pub fn is_empty(&self) -> bool {
        false
    }

    fn values(&self) -> &[u8] {
        self.digits.get(..self.len()).unwrap_or(&self.digits)
    }

    /// Writes the PIN as packed BCD (two digits a byte, as in `VERIFY`) to the front of
    /// `out`; returns the number of bytes (2–6).
    ///
    /// Errors: [`SymError::InvalidPin`] for an odd number of digits (no card encoding),
    /// [`SymError::BufferTooSmall`].
    pub fn write_bcd(&self, out: &mut [u8]) -> Result<usize, SymError> {
        if !self.len().is_multiple_of(2) {
            return Err(SymError::InvalidPin);
        }
        let needed = self.len() / 2;
        let out = out
            .get_mut(..needed)
            .ok_or(SymError::BufferTooSmall { needed })?;
        for (byte, pair) in out.iter_mut().zip(self.values().chunks_exact(2)) {
            if let [high, low] = *pair {
                *byte = (high << 4) | low;
            }
        }
        Ok(needed)
    }

    /// The 16-byte card block; the 8-byte (3DES) block is its first half, since the
    /// content never exceeds 8 bytes and the rest is `00`.
    fn card_block16(&self) -> Result<Zeroizing<[u8; 16]>, SymError> {
        let mut block = Zeroizing::new([0u8; 16]);
        let (len_byte, rest) = block.split_first_mut().ok_or(SymError::InvalidPin)?;
        let bcd_len = self.write_bcd(rest)?;
        *len_byte = u8::try_from(bcd_len).map_err(|_| SymError::InvalidPin)?;
        let pad = rest.get_mut(bcd_len).ok_or(SymError::InvalidPin)?;
        *pad = PAD_BYTE;
        Ok(block)
    }

    /// The card's 3DES PIN block: `len ‖ PIN (BCD) ‖ 80 00…` in 8 bytes, `len` = number
    /// of BCD bytes (**unconfirmed \[U\]**, see the module docs).
    ///
    /// Errors: [`SymError::InvalidPin`] for an odd number of digits.
    pub fn card_block_des3(&self) -> Result<Zeroizing<[u8; 8]>, SymError> {
        let block = self.card_block16()?;
        let mut out = Zeroizing::new([0u8; 8]);
        for (dst, src) in out.iter_mut().zip(block.iter()) {
            *dst = *src;
        }
        Ok(out)
    }

    /// The card's SM4 PIN block: `len ‖ PIN (BCD) ‖ 80 00…` in 16 bytes (**unconfirmed
    /// \[U\]** as [`Pin::card_block_des3`]).
    ///
    /// Errors: [`SymError::InvalidPin`] for an odd number of digits.
    pub fn card_block_sm4(&self) -> Result<Zeroizing<[u8; 16]>, SymError> {
        self.card_block16()
    }

    /// The card PIN block for `algorithm` (8 or 16 bytes) written to the front of `out`;
    /// returns its length.
    ///
    /// Errors: [`SymError::InvalidPin`], [`SymError::BufferTooSmall`].
    pub fn write_card_block(
        &self,
        algorithm: Algorithm,
        out: &mut [u8],
    ) -> Result<usize, SymError> {
        let needed = algorithm.block_len();
        let block = self.card_block16()?;
        let out = out
            .get_mut(..needed)
            .ok_or(SymError::BufferTooSmall { needed })?;
        for (dst, src) in out.iter_mut().zip(block.iter()) {
            *dst = *src;
        }
        Ok(needed)
    }

    /// Decodes a card PIN block (8 or 16 bytes, after decryption), as the card or an
    /// emulated card does on `84 24`.
    ///
    /// Errors: [`SymError::Integrity`] for anything but `len ‖ BCD ‖ 80 00…` with `len`
    /// 2–6 (opaque).
    pub fn from_card_block(block: &[u8]) -> Result<Self, SymError> {
        if block.len() != 8 && block.len() != 16 {
            return Err(SymError::Integrity);
        }
        let (&len_byte, rest) = block.split_first().ok_or(SymError::Integrity)?;
        let bcd_len = usize::from(len_byte);
        if !(MIN_PIN_DIGITS / 2..=MAX_PIN_DIGITS / 2).contains(&bcd_len) {
            return Err(SymError::Integrity);
        }
        let (bcd, padding) = rest.split_at_checked(bcd_len).ok_or(SymError::Integrity)?;
        let (&first_pad, zeros) = padding.split_first().ok_or(SymError::Integrity)?;
        if first_pad != PAD_BYTE || zeros.iter().any(|&b| b != 0) {
            return Err(SymError::Integrity);
        }
        Self::from_values(bcd.iter().flat_map(|&b| [b >> 4, b & 0x0F]))
            .map_err(|_| SymError::Integrity)
    }

    /// The EMV plaintext offline PIN block for VERIFY `00 20 00 80` (ISO 9564-1 format
    /// 2): `2N ‖ PIN (BCD) ‖ F…` in 8 bytes.
    pub fn plaintext_block(&self) -> Zeroizing<[u8; 8]> {
        let mut block = Zeroizing::new([0xFFu8; 8]);
        let digits = self.digits.get(..usize::from(self.len)).unwrap_or_default();
        if let Some(first) = block.get_mut(0) {
            *first = 0x20 | self.len;
        }
        for (i, d) in digits.iter().enumerate() {
            if let Some(byte) = block.get_mut(1 + i / 2) {
                *byte = if i % 2 == 0 {
                    (d << 4) | 0x0F
                } else {
                    (*byte & 0xF0) | d
                };
            }
        }
        block
    }

    /// Decodes an EMV plaintext offline PIN block (see [`Pin::plaintext_block`]), as a
    /// card does on VERIFY.
    ///
    /// Errors: [`SymError::Integrity`] for anything but 8 bytes `2N ‖ N digits ‖ F…`
    /// with N 4–12.
    pub fn from_plaintext_block(block: &[u8]) -> Result<Self, SymError> {
        let (&first, rest) = block.split_first().ok_or(SymError::Integrity)?;
        let n = usize::from(first & 0x0F);
        if block.len() != 8 || first >> 4 != 2 || !(MIN_PIN_DIGITS..=MAX_PIN_DIGITS).contains(&n) {
            return Err(SymError::Integrity);
        }
        let mut nibbles = rest.iter().flat_map(|b| [b >> 4, b & 0x0F]);
        let pin = Self::from_values(nibbles.by_ref().take(n)).map_err(|_| SymError::Integrity)?;
        if nibbles.any(|nib| nib != 0x0F) {
            return Err(SymError::Integrity);
        }
        Ok(pin)
    }

    /// Writes the digits as ASCII to the front of `out`; returns their number.
    ///
    /// Errors: [`SymError::BufferTooSmall`].
    pub fn write_ascii(&self, out: &mut [u8]) -> Result<usize, SymError> {
        let n = usize::from(self.len);
        let digits = self.digits.get(..n).unwrap_or_default();
        let out = out
            .get_mut(..n)
            .ok_or(SymError::BufferTooSmall { needed: n })?;
        for (o, d) in out.iter_mut().zip(digits) {
            *o = b'0' + d;
        }
        Ok(n)
    }

    /// ISO 9564-1 format 0 PIN block: `(0 ‖ N ‖ PIN ‖ F…F) ⊕ (0000 ‖ 12 rightmost PAN
    /// digits excluding the check digit)`. `pan` is ASCII digits (2–19; shorter PANs are
    /// left-filled with `0`).
    ///
    /// Errors: [`SymError::InvalidPan`].
    pub fn iso0_block(&self, pan: &str) -> Result<Zeroizing<[u8; 8]>, SymError> {
        let pan_field = iso0_pan_field(pan)?;
        let mut nibbles = Zeroizing::new([0x0Fu8; 16]);
        let [control, length, rest @ ..] = &mut *nibbles;
        *control = 0;
        *length = self.len;
        for (slot, digit) in rest.iter_mut().zip(self.values()) {
            *slot = *digit;
        }
        let mut block = Zeroizing::new([0u8; 8]);
        for ((byte, pair), pan_byte) in block.iter_mut().zip(nibbles.chunks_exact(2)).zip(pan_field)
        {
            if let [high, low] = *pair {
                *byte = ((high << 4) | low) ^ pan_byte;
            }
        }
        Ok(block)
    }

    /// Decodes an ISO 9564-1 format 0 PIN block (after decryption) with its PAN.
    ///
    /// Errors: [`SymError::InvalidPan`]; [`SymError::Integrity`] for a malformed block
    /// (opaque).
    pub fn from_iso0_block(block: &[u8; 8], pan: &str) -> Result<Self, SymError> {
        let pan_field = iso0_pan_field(pan)?;
        let mut nibbles = Zeroizing::new([0u8; 16]);
        for (pair, (byte, pan_byte)) in nibbles.chunks_exact_mut(2).zip(block.iter().zip(pan_field))
        {
            let clear = byte ^ pan_byte;
            if let [high, low] = pair {
                *high = clear >> 4;
                *low = clear & 0x0F;
            }
        }
        let [control, length, rest @ ..] = &*nibbles;
        let len = usize::from(*length);
        if *control != 0 || !(MIN_PIN_DIGITS..=MAX_PIN_DIGITS).contains(&len) {
            return Err(SymError::Integrity);
        }
        let (digits, fill) = rest.split_at_checked(len).ok_or(SymError::Integrity)?;
        if fill.iter().any(|&n| n != 0x0F) {
            return Err(SymError::Integrity);
        }
        Self::from_values(digits.iter().copied()).map_err(|_| SymError::Integrity)
    }
}

/// The PAN field of ISO 9564-1 format 0: `0000` ‖ the 12 rightmost PAN digits excluding
/// the check digit, packed BCD.
fn iso0_pan_field(pan: &str) -> Result<[u8; 8], SymError> {
    let bytes = pan.as_bytes();
    if !(2..=19).contains(&bytes.len()) || !bytes.iter().all(u8::is_ascii_digit) {
        return Err(SymError::InvalidPan);
    }
    let (_, without_check) = bytes.split_last().ok_or(SymError::InvalidPan)?;
    let mut nibbles = [0u8; 16];
    for (slot, digit) in nibbles
        .iter_mut()
        .rev()
        .take(12)
        .zip(without_check.iter().rev())
    {
        *slot = digit - b'0';
    }
    let mut field = [0u8; 8];
    for (byte, pair) in field.iter_mut().zip(nibbles.chunks_exact(2)) {
        if let [high, low] = *pair {
            *byte = (high << 4) | low;
        }
    }
    Ok(field)
}

impl ConstantTimeEq for Pin {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.len.ct_eq(&other.len) & self.digits.ct_eq(&other.digits)
    }
}

impl PartialEq for Pin {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for Pin {}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn emv_plaintext_pin_block_round_trips_and_rejects_garbage() {
        let pin = Pin::new("123456").unwrap();
        let block = pin.plaintext_block();
        assert_eq!(*block, [0x26, 0x12, 0x34, 0x56, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert!(Pin::from_plaintext_block(&*block).unwrap() == pin);
        let odd = Pin::new("12345").unwrap();
        assert_eq!(
            *odd.plaintext_block(),
            [0x25, 0x12, 0x34, 0x5F, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        for bad in [
            &[0x26, 0x12, 0x34, 0x56, 0xFF, 0xFF, 0xFF][..],
            &[0x16, 0x12, 0x34, 0x56, 0xFF, 0xFF, 0xFF, 0xFF],
            &[0x23, 0x12, 0x3F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            &[0x26, 0x12, 0x34, 0x5A, 0xFF, 0xFF, 0xFF, 0xFF],
            &[0x26, 0x12, 0x34, 0x56, 0xF0, 0xFF, 0xFF, 0xFF],
        ] {
            assert!(Pin::from_plaintext_block(bad).is_err(), "{bad:02X?}");
        }
        let mut ascii = [0u8; 12];
        assert_eq!(pin.write_ascii(&mut ascii).unwrap(), 6);
        assert_eq!(&ascii[..6], b"123456");
        assert!(pin.write_ascii(&mut [0u8; 5]).is_err());
    }
}
