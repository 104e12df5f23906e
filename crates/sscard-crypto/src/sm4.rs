//! SM4 (GB/T 32907-2016, GM/T 0002-2012): the block cipher [`Sm4`] and ECB/CBC on whole
//! blocks, in place or into caller buffers, plus padded helpers.
//!
//! # Why our own SM4
//!
//! [`Sm4`] is written from the algorithm definition: the round function
//! `X_{i+4} = X_i ⊕ T(X_{i+1} ⊕ X_{i+2} ⊕ X_{i+3} ⊕ rk_i)` with `T = L∘τ` evaluated as
//! four lookups in combined S-box + L tables (`T0`…`T3`, 4 KiB, built at compile time by
//! `const fn`). RustCrypto's `sm4` applies the S-box and L separately; ours is about 1.6×
//! faster per block on x86-64 (`benches/sym.rs`), which matters for CBC encryption: it
//! cannot be parallelised, so single-block latency is its speed. ECB and CBC decryption
//! also run four independent blocks interleaved. RustCrypto `sm4` stays as the test
//! oracle (the property tests check random keys and blocks against it).
//!
//! # Security: not constant time
//!
//! Like OpenSSL's portable SM4 and RustCrypto's `sm4`, [`Sm4`] indexes tables with
//! secret-dependent bytes. On CPUs with data caches this can leak key material through
//! cache timing to code sharing the machine. It is meant for hosts, tests and the
//! emulator. **Card or terminal firmware that holds real keys must use a hardware SM4
//! engine or a masked implementation**, and on a cacheless MCU a table is still a
//! power-analysis (DPA) target. Every mode and MAC in this crate is generic over the
//! RustCrypto traits (`cipher::{BlockCipherEncrypt, BlockCipherDecrypt}` with 16-byte
//! blocks) and [`Sm4Backend`], so such a backend plugs in by implementing them. The
//! tables also cost 4 KiB of flash.
//!
//! # Modes
//!
//! [`ecb_encrypt`], [`cbc_encrypt`] (and `decrypt`) work in place on whole blocks and
//! never pad; the `_into` forms write to a caller buffer; the `_padded` forms add or
//! strictly remove ISO/IEC 9797-1 method-2 padding (see [`crate::pad`]). Vectors:
//! GB/T 32907 Annex A and draft-ribose-cfrg-sm4-10 A.2 (`tests/sym_vectors.rs`).
//!
//! ```
//! use sscard_crypto::keys::Sm4Key;
//! use sscard_crypto::sm4;
//!
//! # fn main() -> Result<(), sscard_crypto::keys::SymError> {
//! let cipher = Sm4Key::from_bytes(*b"0123456789abcdef").cipher();
//! let iv = [0u8; 16];
//! let mut buf = [0u8; 32];
//! buf[..5].copy_from_slice(b"hello");
//! let len = sm4::cbc_encrypt_padded(&cipher, &iv, &mut buf, 5)?; // 16: padded 80 00…
//! assert_eq!(sm4::cbc_decrypt_padded(&cipher, &iv, &mut buf[..len])?, b"hello");
//! # Ok(())
//! # }
//! ```

mod tables;

use core::fmt;

use cipher::{
    consts::{U16, U4},
    AlgorithmName, Array, Block, BlockCipherDecBackend, BlockCipherDecClosure, BlockCipherDecrypt,
    BlockCipherEncBackend, BlockCipherEncClosure, BlockCipherEncrypt, BlockSizeUser, InOut, Key,
    KeyInit, KeySizeUser, ParBlocks, ParBlocksSizeUser,
};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::keys::SymError;
use tables::{l_prime, CK, FK, SBOX, T0, T1, T2, T3};

/// SM4 block length in bytes.
pub const BLOCK_LEN: usize = 16;
/// SM4 key length in bytes.
pub const KEY_LEN: usize = 16;

/// The SM4 block cipher (table-based; **not constant time**, see the [module
/// docs](self)). Implements `KeyInit`, `BlockCipherEncrypt` and `BlockCipherDecrypt`.
/// Round keys are zeroised on drop and hidden from `Debug`.
#[derive(Clone)]
pub struct Sm4 {
    /// rk_0 … rk_31 (GB/T 32907-2016 §7.3), grouped by four as the rounds use them.
    rk: [[u32; 4]; 8],
}

/// `table[index]` without a panic path (a `u8` index into 256 entries is always in range,
/// and the compiler removes the check).
#[inline(always)]
fn lookup(table: &[u32; 256], index: u8) -> u32 {
    match table.get(usize::from(index)) {
        Some(value) => *value,
        None => 0,
    }
}

/// The round transformation T = L∘τ (GB/T 32907-2016 §6.2) as four table lookups.
#[inline(always)]
fn t(x: u32) -> u32 {
    // Bytes from the least significant up (no byte swap needed on little-endian CPUs);
    // `a` is the most significant byte, which T0 handles.
    let [d, c, b, a] = x.to_le_bytes();
    (lookup(&T0, a) ^ lookup(&T1, b)) ^ (lookup(&T2, c) ^ lookup(&T3, d))
}

/// τ: the S-box on each byte (GB/T 32907-2016 §6.2.1); the key schedule only.
fn tau(x: u32) -> u32 {
    let [a, b, c, d] = x.to_be_bytes();
    let s = |byte: u8| match SBOX.get(usize::from(byte)) {
        Some(value) => *value,
        None => 0,
    };
    u32::from_be_bytes([s(a), s(b), s(c), s(d)])
}

/// A 16-byte block as four big-endian words X_0 … X_3.
#[inline(always)]
fn load(block: &[u8; 16]) -> [u32; 4] {
    let [a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3] = *block;
    [
        u32::from_be_bytes([a0, a1, a2, a3]),
        u32::from_be_bytes([b0, b1, b2, b3]),
        u32::from_be_bytes([c0, c1, c2, c3]),
        u32::from_be_bytes([d0, d1, d2, d3]),
    ]
}

/// Four words back to a 16-byte block.
#[inline(always)]
fn store(words: [u32; 4], block: &mut [u8; 16]) {
    let [w0, w1, w2, w3] = words;
    let [a0, a1, a2, a3] = w0.to_be_bytes();
    let [b0, b1, b2, b3] = w1.to_be_bytes();
    let [c0, c1, c2, c3] = w2.to_be_bytes();
    let [d0, d1, d2, d3] = w3.to_be_bytes();
    *block = [
        a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3,
    ];
}

impl Sm4 {
    /// Key expansion (GB/T 32907-2016 §7.3): `K_i = MK_i ⊕ FK_i`, then
    /// `rk_i = K_{i+4} = K_i ⊕ T'(K_{i+1} ⊕ K_{i+2} ⊕ K_{i+3} ⊕ CK_i)`, `T' = L'∘τ`.
    fn expand(key: &[u8; 16]) -> Self {
        let [m0, m1, m2, m3] = load(key);
        let [f0, f1, f2, f3] = FK;
        let (mut k0, mut k1, mut k2, mut k3) = (m0 ^ f0, m1 ^ f1, m2 ^ f2, m3 ^ f3);
        let mut rk = [[0u32; 4]; 8];
        for (group, &[c0, c1, c2, c3]) in rk.iter_mut().zip(CK.iter()) {
            k0 ^= l_prime(tau(k1 ^ k2 ^ k3 ^ c0));
            k1 ^= l_prime(tau(k2 ^ k3 ^ k0 ^ c1));
            k2 ^= l_prime(tau(k3 ^ k0 ^ k1 ^ c2));
            k3 ^= l_prime(tau(k0 ^ k1 ^ k2 ^ c3));
            *group = [k0, k1, k2, k3];
        }
        Self { rk }
    }

    /// The 32 rounds and the reverse transformation R (GB/T 32907-2016 §7.1) on words.
    #[inline(always)]
    fn encrypt_words(&self, [mut x0, mut x1, mut x2, mut x3]: [u32; 4]) -> [u32; 4] {
        for &[k0, k1, k2, k3] in &self.rk {
            x0 ^= t(x1 ^ x2 ^ x3 ^ k0);
            x1 ^= t(x2 ^ x3 ^ x0 ^ k1);
            x2 ^= t(x3 ^ x0 ^ x1 ^ k2);
            x3 ^= t(x0 ^ x1 ^ x2 ^ k3);
        }
        [x3, x2, x1, x0]
    }

    /// Decryption: the same rounds with the round keys in reverse order (§7.2).
    #[inline(always)]
    fn decrypt_words(&self, [mut x0, mut x1, mut x2, mut x3]: [u32; 4]) -> [u32; 4] {
        for &[k0, k1, k2, k3] in self.rk.iter().rev() {
            x0 ^= t(x1 ^ x2 ^ x3 ^ k3);
            x1 ^= t(x2 ^ x3 ^ x0 ^ k2);
            x2 ^= t(x3 ^ x0 ^ x1 ^ k1);
            x3 ^= t(x0 ^ x1 ^ x2 ^ k0);
        }
        [x3, x2, x1, x0]
    }

    /// Four independent blocks, round by round, so that their table lookups overlap
    /// (ECB and CBC decryption; CBC encryption is inherently one block at a time).
    #[inline(always)]
    fn encrypt_words_x4(&self, mut x: [[u32; 4]; 4]) -> [[u32; 4]; 4] {
        for &[k0, k1, k2, k3] in &self.rk {
            for s in &mut x {
                s[0] ^= t(s[1] ^ s[2] ^ s[3] ^ k0);
            }
            for s in &mut x {
                s[1] ^= t(s[2] ^ s[3] ^ s[0] ^ k1);
            }
            for s in &mut x {
                s[2] ^= t(s[3] ^ s[0] ^ s[1] ^ k2);
            }
            for s in &mut x {
                s[3] ^= t(s[0] ^ s[1] ^ s[2] ^ k3);
            }
        }
        x.map(|[x0, x1, x2, x3]| [x3, x2, x1, x0])
    }

    /// Decryption of four independent blocks (see [`Sm4::encrypt_words_x4`]).
    #[inline(always)]
    fn decrypt_words_x4(&self, mut x: [[u32; 4]; 4]) -> [[u32; 4]; 4] {
        for &[k0, k1, k2, k3] in self.rk.iter().rev() {
            for s in &mut x {
                s[0] ^= t(s[1] ^ s[2] ^ s[3] ^ k3);
            }
            for s in &mut x {
                s[1] ^= t(s[2] ^ s[3] ^ s[0] ^ k2);
            }
            for s in &mut x {
                s[2] ^= t(s[3] ^ s[0] ^ s[1] ^ k1);
            }
            for s in &mut x {
                s[3] ^= t(s[0] ^ s[1] ^ s[2] ^ k0);
            }
        }
        x.map(|[x0, x1, x2, x3]| [x3, x2, x1, x0])
    }
}

impl KeySizeUser for Sm4 {
    type KeySize = U16;
}

impl KeyInit for Sm4 {
    fn new(key: &Key<Self>) -> Self {
        Self::expand(key.into())
    }
}

impl BlockSizeUser for Sm4 {
    type BlockSize = U16;
}

impl BlockCipherEncrypt for Sm4 {
    #[inline]
    fn encrypt_with_backend(&self, f: impl BlockCipherEncClosure<BlockSize = U16>) {
        f.call(&Backend(self));
    }
}

impl BlockCipherDecrypt for Sm4 {
    #[inline]
    fn decrypt_with_backend(&self, f: impl BlockCipherDecClosure<BlockSize = U16>) {
        f.call(&Backend(self));
    }
}

/// The RustCrypto backend of [`Sm4`], kept private so that `Sm4` itself has only the
/// `BlockCipherEncrypt`/`BlockCipherDecrypt` methods (no ambiguous `encrypt_block`).
struct Backend<'a>(&'a Sm4);

impl BlockSizeUser for Backend<'_> {
    type BlockSize = U16;
}

impl ParBlocksSizeUser for Backend<'_> {
    type ParBlocksSize = U4;
}

/// Loads four blocks as words.
#[inline(always)]
fn load_x4(blocks: &ParBlocks<Backend<'_>>) -> [[u32; 4]; 4] {
    let mut words = [[0u32; 4]; 4];
    for (w, block) in words.iter_mut().zip(blocks.iter()) {
        *w = load(block.into());
    }
    words
}

/// Stores four blocks of words.
#[inline(always)]
fn store_x4(words: [[u32; 4]; 4], blocks: &mut ParBlocks<Backend<'_>>) {
    for (block, w) in blocks.iter_mut().zip(words) {
        store(w, block.into());
    }
}

impl BlockCipherEncBackend for Backend<'_> {
    #[inline]
    fn encrypt_block(&self, mut block: InOut<'_, '_, Block<Self>>) {
        let words = self.0.encrypt_words(load(block.get_in().into()));
        store(words, block.get_out().into());
    }

    #[inline]
    fn encrypt_par_blocks(&self, mut blocks: InOut<'_, '_, ParBlocks<Self>>) {
        let words = self.0.encrypt_words_x4(load_x4(blocks.get_in()));
        store_x4(words, blocks.get_out());
    }
}

impl BlockCipherDecBackend for Backend<'_> {
    #[inline]
    fn decrypt_block(&self, mut block: InOut<'_, '_, Block<Self>>) {
        let words = self.0.decrypt_words(load(block.get_in().into()));
        store(words, block.get_out().into());
    }

    #[inline]
    fn decrypt_par_blocks(&self, mut blocks: InOut<'_, '_, ParBlocks<Self>>) {
        let words = self.0.decrypt_words_x4(load_x4(blocks.get_in()));
        store_x4(words, blocks.get_out());
    }
}

impl AlgorithmName for Sm4 {
    fn write_alg_name(f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SM4")
    }
}

impl fmt::Debug for Sm4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sm4 { .. }")
    }
}

impl Drop for Sm4 {
    fn drop(&mut self) {
        self.rk.zeroize();
    }
}

impl ZeroizeOnDrop for Sm4 {}

/// An SM4 implementation that the modes of this module run on: the RustCrypto
/// block-cipher traits on 16-byte blocks, plus CBC over whole blocks, which an
/// implementation may override (a hardware engine with a native CBC mode, or a faster
/// chained path such as [`Sm4`]'s). The provided methods are correct for any cipher, so
/// a backend only needs `impl Sm4Backend for MyEngine {}` next to its cipher traits.
///
/// Implemented for this crate's [`Sm4`] and for RustCrypto's `sm4::Sm4` (byte-wise
/// S-box, slower; the reference the tests compare against).
pub trait Sm4Backend:
    BlockCipherEncrypt<BlockSize = U16> + BlockCipherDecrypt<BlockSize = U16>
{
    /// CBC-encrypts whole blocks in place, chaining from `iv`.
    fn cbc_encrypt_blocks(&self, iv: &[u8; 16], blocks: &mut [[u8; 16]]) {
        crate::keys::cbc_encrypt_blocks(self, iv.into(), Array::cast_slice_from_core_mut(blocks));
    }

    /// CBC-decrypts whole blocks in place, chaining from `iv`.
    fn cbc_decrypt_blocks(&self, iv: &[u8; 16], blocks: &mut [[u8; 16]]) {
        crate::keys::cbc_decrypt_blocks(self, iv.into(), Array::cast_slice_from_core_mut(blocks));
    }
}

impl Sm4Backend for Sm4 {
    /// On 32-bit words, without the per-block trait round trip (about 10 % faster than
    /// the generic path).
    fn cbc_encrypt_blocks(&self, iv: &[u8; 16], blocks: &mut [[u8; 16]]) {
        let mut chain = load(iv);
        for block in blocks {
            let [p0, p1, p2, p3] = load(block);
            let [c0, c1, c2, c3] = chain;
            chain = self.encrypt_words([p0 ^ c0, p1 ^ c1, p2 ^ c2, p3 ^ c3]);
            store(chain, block);
        }
    }

    /// Four blocks at a time (the decryptions are independent), then one at a time.
    fn cbc_decrypt_blocks(&self, iv: &[u8; 16], blocks: &mut [[u8; 16]]) {
        let mut chain = load(iv);
        let mut groups = blocks.chunks_exact_mut(4);
        for group in &mut groups {
            let mut ciphertext = [[0u32; 4]; 4];
            for (words, block) in ciphertext.iter_mut().zip(group.iter()) {
                *words = load(block);
            }
            let plain = self.decrypt_words_x4(ciphertext);
            for ((block, [p0, p1, p2, p3]), c) in group.iter_mut().zip(plain).zip(ciphertext) {
                let [c0, c1, c2, c3] = chain;
                store([p0 ^ c0, p1 ^ c1, p2 ^ c2, p3 ^ c3], block);
                chain = c;
            }
        }
        for block in groups.into_remainder() {
            let ciphertext = load(block);
            let [p0, p1, p2, p3] = self.decrypt_words(ciphertext);
            let [c0, c1, c2, c3] = chain;
            store([p0 ^ c0, p1 ^ c1, p2 ^ c2, p3 ^ c3], block);
            chain = ciphertext;
        }
    }
}

impl Sm4Backend for ::sm4::Sm4 {}

/// `buf` as whole 16-byte blocks, or [`SymError::NotBlockAligned`].
fn blocks16(buf: &mut [u8]) -> Result<&mut [[u8; 16]], SymError> {
    let blocks = crate::keys::blocks_mut::<Sm4>(buf)?;
    Ok(Array::cast_slice_to_core_mut(blocks))
}

fn cbc_encrypt_backend<C: Sm4Backend>(
    cipher: &C,
    iv: &[u8; 16],
    buf: &mut [u8],
) -> Result<(), SymError> {
    cipher.cbc_encrypt_blocks(iv, blocks16(buf)?);
    Ok(())
}

fn cbc_decrypt_backend<C: Sm4Backend>(
    cipher: &C,
    iv: &[u8; 16],
    buf: &mut [u8],
) -> Result<(), SymError> {
    cipher.cbc_decrypt_blocks(iv, blocks16(buf)?);
    Ok(())
}

crate::keys::block_mode_api! {
    block: U16,
    len: 16,
    name: "16-byte SM4",
    enc: [Sm4Backend],
    dec: [Sm4Backend],
    cbc_encrypt: cbc_encrypt_backend,
    cbc_decrypt: cbc_decrypt_backend,
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 16] = [
        0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32,
        0x10,
    ];

    #[test]
    fn standard_example_1() {
        // GB/T 32907-2016 Annex A example 1.
        let cipher = Sm4::new(&KEY.into());
        let mut block = KEY.into();
        cipher.encrypt_block(&mut block);
        assert_eq!(
            <[u8; 16]>::from(block),
            [
                0x68, 0x1E, 0xDF, 0x34, 0xD2, 0x06, 0x96, 0x5E, 0x86, 0xB3, 0xE9, 0x4F, 0x53, 0x6E,
                0x42, 0x46
            ]
        );
        cipher.decrypt_block(&mut block);
        assert_eq!(<[u8; 16]>::from(block), KEY);
    }
}
