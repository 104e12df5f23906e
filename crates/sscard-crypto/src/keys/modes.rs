//! ECB and CBC on whole blocks, generic over any RustCrypto block cipher (so an SM4 or
//! 3DES hardware engine, or a masked implementation, plugs in through the same traits).
//! The public, per-algorithm entry points are in [`crate::sm4`] and [`crate::des3`].
//!
//! No padding here: the data must be a whole number of blocks (ISO/IEC 10116 modes on
//! complete blocks). Padded helpers compose these with [`crate::pad`].

use cipher::{
    array::ArraySize, typenum::Unsigned, Array, Block, BlockCipherDecrypt, BlockCipherEncBackend,
    BlockCipherEncClosure, BlockCipherEncrypt, BlockSizeUser,
};

use super::SymError;

/// `buf` viewed as whole blocks of `C`, or [`SymError::NotBlockAligned`].
pub(crate) fn blocks_mut<C: BlockSizeUser>(buf: &mut [u8]) -> Result<&mut [Block<C>], SymError> {
    let (blocks, rest) = Array::slice_as_chunks_mut(buf);
    if rest.is_empty() {
        Ok(blocks)
    } else {
        Err(SymError::NotBlockAligned {
            block_len: C::BlockSize::USIZE,
        })
    }
}

/// XORs `other` into `block`.
#[inline(always)]
fn xor_into<C: BlockSizeUser>(block: &mut Block<C>, other: &Block<C>) {
    for (a, b) in block.iter_mut().zip(other.iter()) {
        *a ^= *b;
    }
}

/// ECB encryption in place.
pub(crate) fn ecb_encrypt<C: BlockCipherEncrypt>(
    cipher: &C,
    buf: &mut [u8],
) -> Result<(), SymError> {
    cipher.encrypt_blocks(blocks_mut::<C>(buf)?);
    Ok(())
}

/// ECB decryption in place.
pub(crate) fn ecb_decrypt<C: BlockCipherDecrypt>(
    cipher: &C,
    buf: &mut [u8],
) -> Result<(), SymError> {
    cipher.decrypt_blocks(blocks_mut::<C>(buf)?);
    Ok(())
}

/// CBC encryption in place: `C_i = E(P_i ⊕ C_{i-1})`, `C_0 = IV`.
pub(crate) fn cbc_encrypt<C: BlockCipherEncrypt>(
    cipher: &C,
    iv: &Block<C>,
    buf: &mut [u8],
) -> Result<(), SymError> {
    cbc_encrypt_blocks(cipher, iv, blocks_mut::<C>(buf)?);
    Ok(())
}

/// CBC encryption of whole blocks in place.
pub(crate) fn cbc_encrypt_blocks<C: BlockCipherEncrypt>(
    cipher: &C,
    iv: &Block<C>,
    blocks: &mut [Block<C>],
) {
    cipher.encrypt_with_backend(CbcEncrypt { iv, blocks });
}

/// The CBC encryption loop, run inside the cipher's backend (so the whole loop is
/// compiled for the concrete backend, as the RustCrypto mode crates do).
struct CbcEncrypt<'a, N: ArraySize> {
    iv: &'a Array<u8, N>,
    blocks: &'a mut [Array<u8, N>],
}

impl<N: ArraySize> BlockSizeUser for CbcEncrypt<'_, N> {
    type BlockSize = N;
}

impl<N: ArraySize> BlockCipherEncClosure for CbcEncrypt<'_, N> {
    #[inline(always)]
    fn call<B: BlockCipherEncBackend<BlockSize = N>>(self, backend: &B) {
        let mut chain = self.iv.clone();
        for block in self.blocks {
            for (c, p) in chain.iter_mut().zip(block.iter()) {
                *c ^= *p;
            }
            backend.encrypt_block_inplace(&mut chain);
            block.clone_from(&chain);
        }
    }
}

/// CBC decryption in place: `P_i = D(C_i) ⊕ C_{i-1}`, `C_0 = IV`.
pub(crate) fn cbc_decrypt<C: BlockCipherDecrypt>(
    cipher: &C,
    iv: &Block<C>,
    buf: &mut [u8],
) -> Result<(), SymError> {
    cbc_decrypt_blocks(cipher, iv, blocks_mut::<C>(buf)?);
    Ok(())
}

/// CBC decryption of whole blocks in place.
pub(crate) fn cbc_decrypt_blocks<C: BlockCipherDecrypt>(
    cipher: &C,
    iv: &Block<C>,
    blocks: &mut [Block<C>],
) {
    let mut chain = iv.clone();
    for block in blocks {
        let ciphertext = block.clone();
        cipher.decrypt_block(block);
        xor_into::<C>(block, &chain);
        chain = ciphertext;
    }
}

/// Copies `input` to the front of `output` and runs `op` on that copy: the "into a
/// caller buffer" form of the in-place functions. Returns the number of bytes written.
/// Checks block alignment before copying, so a failed call never leaves a copy of the
/// input in `output`.
pub(crate) fn into_output(
    block_len: usize,
    input: &[u8],
    output: &mut [u8],
    op: impl FnOnce(&mut [u8]) -> Result<(), SymError>,
) -> Result<usize, SymError> {
    if input.len().checked_rem(block_len) != Some(0) {
        return Err(SymError::NotBlockAligned { block_len });
    }
    let out = output
        .get_mut(..input.len())
        .ok_or(SymError::BufferTooSmall {
            needed: input.len(),
        })?;
    out.copy_from_slice(input);
    op(out)?;
    Ok(input.len())
}

/// Generates the per-algorithm block-mode API (`ecb_*`, `cbc_*`, their `_into` and
/// `_padded` forms) for a block size, in [`crate::sm4`] and [`crate::des3`].
macro_rules! block_mode_api {
    (
        block: $block:ty,
        len: $n:literal,
        name: $alg:literal,
        enc: [$($enc:tt)+],
        dec: [$($dec:tt)+],
        cbc_encrypt: $cbc_enc:path,
        cbc_decrypt: $cbc_dec:path $(,)?
    ) => {
        #[doc = concat!("ECB encryption of whole ", $alg, " blocks in place (no padding).")]
        ///
        /// Errors: [`SymError::NotBlockAligned`] (nothing is written).
        pub fn ecb_encrypt<C>(cipher: &C, buf: &mut [u8]) -> Result<(), SymError>
        where
            C: $($enc)+,
        {
            $crate::keys::ecb_encrypt(cipher, buf)
        }

        #[doc = concat!("ECB decryption of whole ", $alg, " blocks in place (no padding).")]
        ///
        /// Errors: [`SymError::NotBlockAligned`] (nothing is written).
        pub fn ecb_decrypt<C>(cipher: &C, buf: &mut [u8]) -> Result<(), SymError>
        where
            C: $($dec)+,
        {
            $crate::keys::ecb_decrypt(cipher, buf)
        }

        #[doc = concat!("CBC encryption of whole ", $alg, " blocks in place (no padding).")]
        ///
        /// Errors: [`SymError::NotBlockAligned`] (nothing is written).
        pub fn cbc_encrypt<C>(cipher: &C, iv: &[u8; $n], buf: &mut [u8]) -> Result<(), SymError>
        where
            C: $($enc)+,
        {
            $cbc_enc(cipher, iv.into(), buf)
        }

        #[doc = concat!("CBC decryption of whole ", $alg, " blocks in place (no padding).")]
        ///
        /// Errors: [`SymError::NotBlockAligned`] (nothing is written).
        pub fn cbc_decrypt<C>(cipher: &C, iv: &[u8; $n], buf: &mut [u8]) -> Result<(), SymError>
        where
            C: $($dec)+,
        {
            $cbc_dec(cipher, iv.into(), buf)
        }

        /// [`ecb_encrypt`] from `input` into the front of `output`; returns the number of
        /// bytes written (`input.len()`).
        ///
        /// Errors: [`SymError::NotBlockAligned`], [`SymError::BufferTooSmall`].
        pub fn ecb_encrypt_into<C>(
            cipher: &C,
            input: &[u8],
            output: &mut [u8],
        ) -> Result<usize, SymError>
        where
            C: $($enc)+,
        {
            $crate::keys::into_output($n, input, output, |buf| ecb_encrypt(cipher, buf))
        }

        /// [`ecb_decrypt`] from `input` into the front of `output`; returns the number of
        /// bytes written (`input.len()`).
        ///
        /// Errors: [`SymError::NotBlockAligned`], [`SymError::BufferTooSmall`].
        pub fn ecb_decrypt_into<C>(
            cipher: &C,
            input: &[u8],
            output: &mut [u8],
        ) -> Result<usize, SymError>
        where
            C: $($dec)+,
        {
            $crate::keys::into_output($n, input, output, |buf| ecb_decrypt(cipher, buf))
        }

        /// [`cbc_encrypt`] from `input` into the front of `output`; returns the number of
        /// bytes written (`input.len()`).
        ///
        /// Errors: [`SymError::NotBlockAligned`], [`SymError::BufferTooSmall`].
        pub fn cbc_encrypt_into<C>(
            cipher: &C,
            iv: &[u8; $n],
            input: &[u8],
            output: &mut [u8],
        ) -> Result<usize, SymError>
        where
            C: $($enc)+,
        {
            $crate::keys::into_output($n, input, output, |buf| cbc_encrypt(cipher, iv, buf))
        }

        /// [`cbc_decrypt`] from `input` into the front of `output`; returns the number of
        /// bytes written (`input.len()`).
        ///
        /// Errors: [`SymError::NotBlockAligned`], [`SymError::BufferTooSmall`].
        pub fn cbc_decrypt_into<C>(
            cipher: &C,
            iv: &[u8; $n],
            input: &[u8],
            output: &mut [u8],
        ) -> Result<usize, SymError>
        where
            C: $($dec)+,
        {
            $crate::keys::into_output($n, input, output, |buf| cbc_decrypt(cipher, iv, buf))
        }

        /// Pads the message `buf[..msg_len]` with ISO/IEC 9797-1 method 2 (`80 00…`,
        /// always at least one byte) inside `buf`, then ECB-encrypts it; returns the
        /// ciphertext length.
        ///
        /// Errors: [`SymError::BufferTooSmall`] when `buf` cannot hold the padding.
        pub fn ecb_encrypt_padded<C>(
            cipher: &C,
            buf: &mut [u8],
            msg_len: usize,
        ) -> Result<usize, SymError>
        where
            C: $($enc)+,
        {
            let len = $crate::pad::pad_in_place(buf, msg_len, $n)?;
            ecb_encrypt(cipher, buf.get_mut(..len).unwrap_or_default())?;
            Ok(len)
        }

        /// ECB-decrypts `buf` in place and strictly removes ISO/IEC 9797-1 method 2
        /// padding; returns the message.
        ///
        /// Errors: [`SymError::Integrity`] for invalid padding (and `buf` is zeroised),
        /// [`SymError::NotBlockAligned`].
        pub fn ecb_decrypt_padded<'a, C>(
            cipher: &C,
            buf: &'a mut [u8],
        ) -> Result<&'a [u8], SymError>
        where
            C: $($dec)+,
        {
            ecb_decrypt(cipher, buf)?;
            $crate::pad::unpad_or_wipe(buf, $n)
        }

        /// Pads the message `buf[..msg_len]` with ISO/IEC 9797-1 method 2 inside `buf`,
        /// then CBC-encrypts it; returns the ciphertext length.
        ///
        /// Errors: [`SymError::BufferTooSmall`] when `buf` cannot hold the padding.
        pub fn cbc_encrypt_padded<C>(
            cipher: &C,
            iv: &[u8; $n],
            buf: &mut [u8],
            msg_len: usize,
        ) -> Result<usize, SymError>
        where
            C: $($enc)+,
        {
            let len = $crate::pad::pad_in_place(buf, msg_len, $n)?;
            cbc_encrypt(cipher, iv, buf.get_mut(..len).unwrap_or_default())?;
            Ok(len)
        }

        /// CBC-decrypts `buf` in place and strictly removes ISO/IEC 9797-1 method 2
        /// padding; returns the message.
        ///
        /// Errors: [`SymError::Integrity`] for invalid padding (and `buf` is zeroised),
        /// [`SymError::NotBlockAligned`].
        pub fn cbc_decrypt_padded<'a, C>(
            cipher: &C,
            iv: &[u8; $n],
            buf: &'a mut [u8],
        ) -> Result<&'a [u8], SymError>
        where
            C: $($dec)+,
        {
            cbc_decrypt(cipher, iv, buf)?;
            $crate::pad::unpad_or_wipe(buf, $n)
        }
    };
}

pub(crate) use block_mode_api;
