//! The card's authentication cryptograms (`spec/sscard.md` §3.4).
//!
//! Both INTERNAL AUTHENTICATE (`00 88 00 00 10 R ‖ P`, the card proves it holds its key)
//! and EXTERNAL AUTHENTICATE (`00 82 00 <key> 10 C ‖ P`, the terminal proves it does)
//! use the same computation: the process key of the card key for the 8-byte process
//! factor R (a card challenge), then the encryption of the 8-byte plain data P:
//!
//! * 3DES: `C = 3DES_PK(P)` (what a PSAM's `80 FA 00 00 08 P` returns).
//! * SM4: `C` = the first 8 bytes of `SM4_PK(P ‖ 00×8)` — **unconfirmed \[U\]**: public
//!   code shows 16-byte SM4 blocks (`80 FA 00 00 10`) and HSM answers of 16 bytes of
//!   which terminals compare the first 8, but no source states the card's side.
//!
//! The process key comes from a [`KeyScheme`] (the emulation scheme, or a region's real
//! one), so the emulator, the emulated PSAM and software keys agree.

use crate::kdf::KeyScheme;
use crate::keys::{AnyKey, SymError};

/// The 8-byte cryptogram of `plain` under the process key of `card_key` for `factor`.
pub fn cryptogram(
    scheme: &(impl KeyScheme + ?Sized),
    card_key: &AnyKey,
    factor: &[u8; 8],
    plain: &[u8; 8],
) -> Result<[u8; 8], SymError> {
    let process = scheme.process_key(card_key, factor)?;
    encrypt8(&process, plain)
}

/// `E_K(P)` for 3DES; the first 8 bytes of `SM4_K(P ‖ 00×8)` for SM4 (\[U\], see the
/// module docs).
pub fn encrypt8(key: &AnyKey, plain: &[u8; 8]) -> Result<[u8; 8], SymError> {
    let [a, b, c, d, e, f, g, h] = *plain;
    let mut block = [a, b, c, d, e, f, g, h, 0, 0, 0, 0, 0, 0, 0, 0];
    let len = key.block_len();
    let buf = block
        .get_mut(..len)
        .ok_or(SymError::NotBlockAligned { block_len: len })?;
    key.ecb_encrypt(buf)?;
    let [a, b, c, d, e, f, g, h, ..] = block;
    Ok([a, b, c, d, e, f, g, h])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kdf::EmulationScheme;
    use crate::keys::{Des3Key, Sm4Key};

    #[test]
    fn three_des_is_one_block_and_sm4_the_left_half() {
        let key = AnyKey::Des3(Des3Key::new(&[0x11; 16]).unwrap());
        let c = cryptogram(&EmulationScheme, &key, &[1; 8], &[2; 8]).unwrap();
        let pk = EmulationScheme.process_key(&key, &[1; 8]).unwrap();
        let mut block = [2u8; 8];
        pk.ecb_encrypt(&mut block).unwrap();
        assert_eq!(c, block);

        let key = AnyKey::Sm4(Sm4Key::from_bytes([0x22; 16]));
        let c = cryptogram(&EmulationScheme, &key, &[1; 8], &[2; 8]).unwrap();
        let pk = EmulationScheme.process_key(&key, &[1; 8]).unwrap();
        let mut block = [0u8; 16];
        block[..8].copy_from_slice(&[2; 8]);
        pk.ecb_encrypt(&mut block).unwrap();
        assert_eq!(c, block[..8]);
        // Different factors give different cryptograms.
        assert_ne!(
            c,
            cryptogram(&EmulationScheme, &key, &[3; 8], &[2; 8]).unwrap()
        );
    }
}
