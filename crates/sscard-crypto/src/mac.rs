//! MACs of the card world, streaming (no allocation), and constant-time verification.
//!
//! | function / type | definition |
//! |---|---|
//! | [`cbc_mac_des`], [`cbc_mac_des3`], [`cbc_mac_sm4`], [`CbcMac`] | ISO/IEC 9797-1 MAC algorithm 1 (CBC-MAC) with padding method 2, explicit IV; DES, 3DES, SM4 or any RustCrypto block cipher |
//! | [`retail_mac`], [`RetailMac`] | ISO/IEC 9797-1 MAC algorithm 3 ("retail MAC"): single-DES CBC with K1, final block 3DES (K1 K2 K1); padding method 2; the PBOC application cryptogram and script MAC |
//! | [`psam_mac`], [`PsamMac`] | the PSAM's `80 FA 05 00` MAC (sscard.md §3.5), partly **unconfirmed \[U\]**, see [`PsamMac`] |
//! | [`truncate4`] | the first 4 bytes, as the card sends them |
//! | [`verify`], [`verify_truncated`] | constant-time comparison (`subtle`); one opaque [`SymError::Integrity`] on mismatch |
//!
//! Padding method 2 always adds `80` (and `00`s to the block boundary), so a message that
//! is already aligned gains a whole block. The `finalize_unpadded` methods MAC data the
//! caller already padded (what the PSAM receives in `80 FA 05 00`).

use cipher::{array::ArraySize, Array, Block, BlockCipherEncrypt, KeyInit};
use des::{Des, TdesEde2};
use subtle::ConstantTimeEq;

use crate::keys::{block_ref, AnyKey, Des3Key, DesKey, Sm4Key, SymError};
use crate::pad::PAD_BYTE;
use crate::sm4::Sm4;

/// Shortest MAC prefix [`verify_truncated`] accepts (the card's 4-byte MACs).
pub const MIN_MAC_LEN: usize = 4;

/// The CBC chaining state shared by the MACs: the running value H_i and the last,
/// not yet processed, (partial) block. The last block is held back until more data
/// arrives so that `finalize_unpadded` can give it the final transformation.
#[derive(Clone)]
struct CbcState<N: ArraySize> {
    chain: Array<u8, N>,
    pending: Array<u8, N>,
    pending_len: usize,
}

impl<N: ArraySize> CbcState<N> {
    fn new(iv: &Array<u8, N>) -> Self {
        Self {
            chain: iv.clone(),
            pending: Array::default(),
            pending_len: 0,
        }
    }

    /// H_i = E(H_{i-1} ⊕ D_i) for the held-back block.
    fn absorb_pending<C: BlockCipherEncrypt<BlockSize = N>>(&mut self, cipher: &C) {
        for (h, d) in self.chain.iter_mut().zip(self.pending.iter()) {
            *h ^= *d;
        }
        cipher.encrypt_block(&mut self.chain);
        self.pending_len = 0;
    }

    fn update<C: BlockCipherEncrypt<BlockSize = N>>(&mut self, cipher: &C, mut data: &[u8]) {
        while !data.is_empty() {
            if self.pending_len == N::USIZE {
                self.absorb_pending(cipher);
            }
            let space = self.pending.get_mut(self.pending_len..).unwrap_or_default();
            let taken = space.len().min(data.len());
            for (dst, src) in space.iter_mut().zip(data.iter()) {
                *dst = *src;
            }
            self.pending_len += taken;
            data = data.get(taken..).unwrap_or_default();
        }
    }

    /// Pads the last block (method 2) and returns `H_{q-1} ⊕ D_q`, the input of the final
    /// transformation.
    fn final_input_padded<C: BlockCipherEncrypt<BlockSize = N>>(
        mut self,
        cipher: &C,
    ) -> Array<u8, N> {
        if self.pending_len == N::USIZE {
            self.absorb_pending(cipher);
        }
        let mut tail = self.pending.iter_mut().skip(self.pending_len);
        if let Some(first) = tail.next() {
            *first = PAD_BYTE;
        }
        for byte in tail {
            *byte = 0;
        }
        self.chain_xor_pending()
    }

    /// `H_{q-1} ⊕ D_q` for data that was already a non-empty whole number of blocks.
    fn final_input_unpadded(self) -> Result<Array<u8, N>, SymError> {
        if self.pending_len == N::USIZE {
            Ok(self.chain_xor_pending())
        } else {
            Err(SymError::NotBlockAligned {
                block_len: N::USIZE,
            })
        }
    }

    fn chain_xor_pending(mut self) -> Array<u8, N> {
        for (h, d) in self.chain.iter_mut().zip(self.pending.iter()) {
            *h ^= *d;
        }
        self.chain
    }
}

/// ISO/IEC 9797-1 MAC algorithm 1 (CBC-MAC), streaming, over any RustCrypto block
/// cipher: `H_i = E_K(H_{i-1} ⊕ D_i)`, `H_0 = IV`, MAC = H_q (a whole block; truncate
/// with [`truncate4`] where the card uses 4 bytes).
#[derive(Clone)]
pub struct CbcMac<C: BlockCipherEncrypt> {
    cipher: C,
    state: CbcState<C::BlockSize>,
}

impl<C: BlockCipherEncrypt> CbcMac<C> {
    /// A MAC computation with `cipher` and an explicit IV (all zero in EMV/PBOC).
    pub fn new(cipher: C, iv: &Block<C>) -> Self {
        Self {
            state: CbcState::new(iv),
            cipher,
        }
    }

    /// Adds message bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.state.update(&self.cipher, data);
    }

    /// Pads with method 2 (`80 00…`) and returns the MAC block.
    pub fn finalize(self) -> Block<C> {
        let mut last = self.state.final_input_padded(&self.cipher);
        self.cipher.encrypt_block(&mut last);
        last
    }

    /// Returns the MAC block of data the caller already padded.
    ///
    /// Errors: [`SymError::NotBlockAligned`] when the data was empty or not a whole
    /// number of blocks.
    pub fn finalize_unpadded(self) -> Result<Block<C>, SymError> {
        let mut last = self.state.final_input_unpadded()?;
        self.cipher.encrypt_block(&mut last);
        Ok(last)
    }
}

/// ISO/IEC 9797-1 MAC algorithm 3 (the retail MAC), streaming: CBC with single DES under
/// K1 for every block, then the last `H_{q-1} ⊕ D_q` goes through 3DES (K1 K2 K1), which
/// equals the standard's `E_K1(D_K2(H_q))` output transformation. 8-byte output.
#[derive(Clone)]
pub struct RetailMac {
    des: Des,
    tdes: TdesEde2,
    state: CbcState<<Des as cipher::BlockSizeUser>::BlockSize>,
}

impl RetailMac {
    /// A retail MAC with a double-length key and an explicit IV (zero in EMV/PBOC).
    ///
    /// Errors: [`SymError::InvalidKeyLength`] for a triple-length key (algorithm 3 is
    /// defined for two keys).
    pub fn new(key: &Des3Key, iv: &[u8; 8]) -> Result<Self, SymError> {
        let double = key
            .as_double()
            .ok_or(SymError::InvalidKeyLength { len: key.len() })?;
        let (k1, _) = double.split_at(8);
        let des = Des::new_from_slice(k1).map_err(|_| SymError::InvalidKeyLength { len: 8 })?;
        Ok(Self {
            des,
            tdes: TdesEde2::new(double.into()),
            state: CbcState::new(iv.into()),
        })
    }

    /// Adds message bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.state.update(&self.des, data);
    }

    /// Pads with method 2 and returns the 8-byte MAC.
    pub fn finalize(self) -> [u8; 8] {
        let mut last = self.state.final_input_padded(&self.des);
        self.tdes.encrypt_block(&mut last);
        last.into()
    }

    /// The 8-byte MAC of data the caller already padded.
    ///
    /// Errors: [`SymError::NotBlockAligned`] when the data was empty or not a whole
    /// number of blocks.
    pub fn finalize_unpadded(self) -> Result<[u8; 8], SymError> {
        let mut last = self.state.final_input_unpadded()?;
        self.tdes.encrypt_block(&mut last);
        Ok(last.into())
    }
}

/// ISO/IEC 9797-1 MAC algorithm 1 with single DES, padding method 2.
pub fn cbc_mac_des(key: &DesKey, iv: &[u8; 8], data: &[u8]) -> [u8; 8] {
    let mut mac = CbcMac::new(key.cipher(), iv.into());
    mac.update(data);
    mac.finalize().into()
}

/// ISO/IEC 9797-1 MAC algorithm 1 with 3DES (every block 3DES), padding method 2.
pub fn cbc_mac_des3(key: &Des3Key, iv: &[u8; 8], data: &[u8]) -> [u8; 8] {
    let mut mac = CbcMac::new(key.cipher(), iv.into());
    mac.update(data);
    mac.finalize().into()
}

/// SM4-CBC-MAC (ISO/IEC 9797-1 MAC algorithm 1 with SM4), padding method 2 to 16 bytes;
/// 16-byte result.
pub fn cbc_mac_sm4(key: &Sm4Key, iv: &[u8; 16], data: &[u8]) -> [u8; 16] {
    let mut mac = CbcMac::new(key.cipher(), iv.into());
    mac.update(data);
    mac.finalize().into()
}

/// ISO/IEC 9797-1 MAC algorithm 3 (retail MAC) with a double-length key, padding
/// method 2. This is the PBOC AC / script MAC construction (pboc.md §3.2).
///
/// Errors: [`SymError::InvalidKeyLength`] for a triple-length key.
pub fn retail_mac(key: &Des3Key, iv: &[u8; 8], data: &[u8]) -> Result<[u8; 8], SymError> {
    let mut mac = RetailMac::new(key, iv)?;
    mac.update(data);
    Ok(mac.finalize())
}

/// The PSAM's MAC (`80 FA 05 00 Lc <IV> <data padded 80 00…>`, sscard.md §3.5, source
/// S4), streaming, with the key the PSAM holds after `BF DE` (normally the process key).
///
/// What the spec shows: the IV travels in the command, the data is padded with
/// `80 00…` by the terminal, the PSAM returns 8 bytes and the card uses the first 4
/// (e.g. PIN reload: IV `00×8`, data `84 24 00 01 0C ‖ EncPIN ‖ 80 00 00`). An 8-byte IV
/// and 8-byte result mean a 64-bit block cipher, i.e. the DES family in the 3DES
/// environment.
///
/// **Unconfirmed \[U\]**, chosen here and to be checked against a real PSAM or LD/T 32:
/// * 3DES key: ISO/IEC 9797-1 MAC algorithm 3 (single-DES CBC, final 3DES), as PBOC
///   and the PBOC-derived PSAMs use for double-length keys. (Algorithm 1 with full 3DES
///   per block would give a different value.)
/// * SM4 key: SM4-CBC-MAC with a 16-byte IV (the 3rd-generation PKI application's MAC is
///   SM4-CBC with a 16-byte IV, sscard.md §3.5); the result is the first 8 bytes of the
///   16-byte block, of which the card uses 4.
#[derive(Clone)]
pub struct PsamMac(PsamMacInner);

// No allocator to box the larger variant; a few hundred bytes of stack are fine.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum PsamMacInner {
    Des3(RetailMac),
    Sm4(CbcMac<Sm4>),
}

impl PsamMac {
    /// Starts a PSAM MAC with `key` and the IV of the command (8 bytes for 3DES, 16 for
    /// SM4).
    ///
    /// Errors: [`SymError::InvalidIvLength`], [`SymError::InvalidKeyLength`] (a
    /// triple-length 3DES key).
    pub fn new(key: &AnyKey, iv: &[u8]) -> Result<Self, SymError> {
        match key {
            AnyKey::Des3(key) => {
                let iv = <&[u8; 8]>::try_from(iv)
                    .map_err(|_| SymError::InvalidIvLength { len: iv.len() })?;
                RetailMac::new(key, iv).map(|mac| Self(PsamMacInner::Des3(mac)))
            }
            AnyKey::Sm4(key) => {
                let iv = block_ref::<Sm4>(iv)?;
                Ok(Self(PsamMacInner::Sm4(CbcMac::new(key.cipher(), iv))))
            }
        }
    }

    /// Adds message bytes.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            PsamMacInner::Des3(mac) => mac.update(data),
            PsamMacInner::Sm4(mac) => mac.update(data),
        }
    }

    /// Pads the message with method 2 (as the terminal does before sending it) and
    /// returns the PSAM's 8-byte answer.
    pub fn finalize(self) -> [u8; 8] {
        match self.0 {
            PsamMacInner::Des3(mac) => mac.finalize(),
            PsamMacInner::Sm4(mac) => first8(&mac.finalize()),
        }
    }

    /// The PSAM's 8-byte answer for data that is already padded (what an emulated PSAM
    /// receives after the IV).
    ///
    /// Errors: [`SymError::NotBlockAligned`].
    pub fn finalize_unpadded(self) -> Result<[u8; 8], SymError> {
        match self.0 {
            PsamMacInner::Des3(mac) => mac.finalize_unpadded(),
            PsamMacInner::Sm4(mac) => mac.finalize_unpadded().map(|block| first8(&block)),
        }
    }
}

/// The first 8 bytes of an SM4 block.
fn first8(block: &Block<Sm4>) -> [u8; 8] {
    let mut out = [0u8; 8];
    for (dst, src) in out.iter_mut().zip(block.iter()) {
        *dst = *src;
    }
    out
}

/// [`PsamMac`] in one call: pads `data` (method 2) and returns the PSAM's 8 bytes
/// (**partly unconfirmed \[U\]**, see [`PsamMac`]); the card uses [`truncate4`] of it.
///
/// Errors: as [`PsamMac::new`].
pub fn psam_mac(key: &AnyKey, iv: &[u8], data: &[u8]) -> Result<[u8; 8], SymError> {
    let mut mac = PsamMac::new(key, iv)?;
    mac.update(data);
    Ok(mac.finalize())
}

/// The first 4 bytes of a MAC, as the card sends them.
pub fn truncate4<const N: usize>(mac: &[u8; N]) -> [u8; 4] {
    const { assert!(N >= 4, "a MAC has at least 4 bytes") };
    let mut out = [0u8; 4];
    for (dst, src) in out.iter_mut().zip(mac.iter()) {
        *dst = *src;
    }
    out
}

/// Constant-time check that `received` equals `expected` (same length, at least
/// [`MIN_MAC_LEN`] bytes).
///
/// Errors: [`SymError::Integrity`] on any mismatch (opaque).
pub fn verify(expected: &[u8], received: &[u8]) -> Result<(), SymError> {
    if expected.len() < MIN_MAC_LEN || received.len() != expected.len() {
        return Err(SymError::Integrity);
    }
    if bool::from(expected.ct_eq(received)) {
        Ok(())
    } else {
        Err(SymError::Integrity)
    }
}

/// Constant-time check that `received` is a prefix of the full MAC `computed`, of at
/// least [`MIN_MAC_LEN`] bytes (the card sends the first 4 bytes of an 8-byte MAC).
///
/// Errors: [`SymError::Integrity`] on any mismatch or an unacceptable length (opaque).
pub fn verify_truncated(computed: &[u8], received: &[u8]) -> Result<(), SymError> {
    if received.len() < MIN_MAC_LEN {
        return Err(SymError::Integrity);
    }
    let prefix = computed.get(..received.len()).ok_or(SymError::Integrity)?;
    verify(prefix, received)
}
