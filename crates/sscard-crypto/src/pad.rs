//! ISO/IEC 9797-1 padding method 2: append `80`, then `00` bytes up to a whole number of
//! blocks. It always adds at least one byte, so a message that is already block-aligned
//! gains a whole block `80 00…00`. The card world calls it "padded 80 00…" (PBOC,
//! sscard.md §3.5); it is also ISO/IEC 7816-4 padding.
//!
//! No allocation: padding is written into caller buffers ([`pad_in_place`],
//! [`pad_into`]); MACs pad while streaming ([`crate::mac`]).
//!
//! [`unpad`] is strict: the data must be a non-empty whole number of blocks, and the
//! last block must end in `80 00…00` (zero or more `00`). Any violation is the opaque
//! [`SymError::Integrity`]. It examines the whole last block without data-dependent
//! branches, so a decrypt-then-unpad caller does not become a timing padding oracle.

use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroize;

use crate::keys::SymError;

/// The first padding byte.
pub const PAD_BYTE: u8 = 0x80;

/// Length of a `msg_len`-byte message after method-2 padding to `block_len`-byte blocks
/// (`block_len` 0 is treated as 1). Saturates at `usize::MAX`.
pub const fn padded_len(msg_len: usize, block_len: usize) -> usize {
    let block_len = if block_len == 0 { 1 } else { block_len };
    let whole = msg_len / block_len;
    whole.saturating_add(1).saturating_mul(block_len)
}

/// Pads the message `buf[..msg_len]` in place: writes `80 00…` after it, up to the next
/// block boundary (a whole block if already aligned). Returns the padded length.
///
/// Errors: [`SymError::BufferTooSmall`] when `buf` is shorter than the padded length
/// (nothing is written).
pub fn pad_in_place(buf: &mut [u8], msg_len: usize, block_len: usize) -> Result<usize, SymError> {
    let len = padded_len(msg_len, block_len);
    let tail = buf
        .get_mut(..len)
        .and_then(|padded| padded.get_mut(msg_len..))
        .ok_or(SymError::BufferTooSmall { needed: len })?;
    write_padding(tail);
    Ok(len)
}

/// Writes `msg ‖ 80 00…` to the front of `out`; returns the padded length.
///
/// Errors: [`SymError::BufferTooSmall`] when `out` is shorter than the padded length
/// (nothing is written).
pub fn pad_into(msg: &[u8], block_len: usize, out: &mut [u8]) -> Result<usize, SymError> {
    let len = padded_len(msg.len(), block_len);
    let padded = out
        .get_mut(..len)
        .ok_or(SymError::BufferTooSmall { needed: len })?;
    let (head, tail) = padded.split_at_mut(msg.len().min(len));
    head.copy_from_slice(msg);
    write_padding(tail);
    Ok(len)
}

/// `80 00…00` over the whole of `tail` (which is never empty for method 2).
fn write_padding(tail: &mut [u8]) {
    let mut bytes = tail.iter_mut();
    if let Some(first) = bytes.next() {
        *first = PAD_BYTE;
    }
    for byte in bytes {
        *byte = 0;
    }
}

/// Strictly removes method-2 padding: returns the message, without the trailing
/// `80 00…`.
///
/// Errors: [`SymError::Integrity`] when `data` is empty, not a whole number of
/// `block_len`-byte blocks, or its last block does not end in `80` followed only by
/// `00` bytes.
pub fn unpad(data: &[u8], block_len: usize) -> Result<&[u8], SymError> {
    let msg_len = unpadded_len(data, block_len)?;
    data.get(..msg_len).ok_or(SymError::Integrity)
}

/// [`unpad`] for the decrypt-then-unpad helpers: on failure the (decrypted) buffer is
/// zeroised, so no unauthenticated plaintext is left behind.
pub(crate) fn unpad_or_wipe(buf: &mut [u8], block_len: usize) -> Result<&[u8], SymError> {
    match unpadded_len(buf, block_len) {
        Ok(msg_len) => buf.get(..msg_len).ok_or(SymError::Integrity),
        Err(error) => {
            buf.zeroize();
            Err(error)
        }
    }
}

/// Length of the message inside method-2 padded `data`, checking the last block in
/// constant time.
fn unpadded_len(data: &[u8], block_len: usize) -> Result<usize, SymError> {
    if block_len == 0 || data.is_empty() || !data.len().is_multiple_of(block_len) {
        return Err(SymError::Integrity);
    }
    let last_start = data.len() - block_len;
    let last = data.get(last_start..).ok_or(SymError::Integrity)?;
    // Scan from the end: skip 00 bytes; the first other byte must be 80.
    let mut found = Choice::from(0);
    let mut bad = Choice::from(0);
    let mut offset = 0u64;
    for (index, byte) in last.iter().enumerate().rev() {
        let is_zero = byte.ct_eq(&0);
        let is_pad = byte.ct_eq(&PAD_BYTE);
        let searching = !found;
        bad |= searching & !is_zero & !is_pad;
        let hit = searching & is_pad;
        let index = u64::try_from(index).map_err(|_| SymError::Integrity)?;
        offset.conditional_assign(&index, hit);
        found |= hit;
    }
    if bool::from(found & !bad) {
        let offset = usize::try_from(offset).map_err(|_| SymError::Integrity)?;
        Ok(last_start + offset)
    } else {
        Err(SymError::Integrity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_to_the_next_block_and_always_adds_a_byte() {
        assert_eq!(padded_len(0, 8), 8);
        assert_eq!(padded_len(7, 8), 8);
        assert_eq!(padded_len(8, 8), 16);
        assert_eq!(padded_len(13, 8), 16);
        assert_eq!(padded_len(16, 16), 32);
        let mut out = [0xEEu8; 16];
        assert_eq!(pad_into(&[1, 2, 3, 4, 5, 6, 7, 8], 8, &mut out), Ok(16));
        assert_eq!(out, [1, 2, 3, 4, 5, 6, 7, 8, 0x80, 0, 0, 0, 0, 0, 0, 0]);
        let mut buf = [9u8, 9, 9, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE];
        assert_eq!(pad_in_place(&mut buf, 3, 8), Ok(8));
        assert_eq!(buf, [9, 9, 9, 0x80, 0, 0, 0, 0]);
        assert_eq!(
            pad_in_place(&mut buf, 8, 8),
            Err(SymError::BufferTooSmall { needed: 16 })
        );
    }

    #[test]
    fn strict_unpad() {
        assert_eq!(unpad(&[1, 2, 0x80, 0, 0, 0, 0, 0], 8), Ok(&[1u8, 2][..]));
        assert_eq!(unpad(&[0x80, 0, 0, 0, 0, 0, 0, 0], 8), Ok(&[][..]));
        assert_eq!(
            unpad(&[1, 2, 3, 4, 5, 6, 7, 0x80], 8),
            Ok(&[1u8, 2, 3, 4, 5, 6, 7][..])
        );
        // 80 in the previous block is not padding of this block.
        let data = [1, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(unpad(&data, 8), Err(SymError::Integrity));
        assert_eq!(
            unpad(&[1, 2, 0x80, 0, 0, 0, 0, 1], 8),
            Err(SymError::Integrity)
        );
        assert_eq!(
            unpad(&[1, 2, 0x81, 0, 0, 0, 0, 0], 8),
            Err(SymError::Integrity)
        );
        assert_eq!(unpad(&[], 8), Err(SymError::Integrity));
        assert_eq!(unpad(&[0x80, 0, 0], 8), Err(SymError::Integrity));
        assert_eq!(unpad(&[0x80], 0), Err(SymError::Integrity));
    }
}
