//! SM3-based pieces of SM2: the user hash Z_A, the signed digest e, and the KDF.

use sm3::{Digest, Sm3};
use subtle::{Choice, ConstantTimeEq};

use super::{curve, PublicKey, Sm2Error, MAX_DIST_ID_LEN};

/// Length of an SM3 digest (Z_A, e, C3, S_A, S_B) in bytes.
pub const DIGEST_LEN: usize = 32;

/// Computes the user hash `Z_A = SM3(ENTL_A ‖ ID_A ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A)`
/// (GB/T 32918.2 §5.5) for any byte-string distinguishing ID.
///
/// `ENTL_A` is the bit length of `id` as 16 bits big-endian, so IDs longer than
/// [`MAX_DIST_ID_LEN`] bytes are rejected with [`Sm2Error::DistIdTooLong`].
pub fn z_a(id: &[u8], public_key: &PublicKey) -> Result<[u8; DIGEST_LEN], Sm2Error> {
    let entl = entl(id)?;
    let xy = public_key.to_xy();
    let mut sm3 = Sm3::new();
    sm3.update(entl.to_be_bytes());
    sm3.update(id);
    sm3.update(curve::A);
    sm3.update(curve::B);
    sm3.update(curve::GX);
    sm3.update(curve::GY);
    sm3.update(xy);
    Ok(sm3.finalize().into())
}

/// ENTL: the ID length in bits as a `u16`.
fn entl(id: &[u8]) -> Result<u16, Sm2Error> {
    let too_long = Sm2Error::DistIdTooLong { len: id.len() };
    if id.len() > MAX_DIST_ID_LEN {
        return Err(too_long);
    }
    id.len()
        .checked_mul(8)
        .and_then(|bits| u16::try_from(bits).ok())
        .ok_or(too_long)
}

/// Computes the digest that SM2 signs, `e = SM3(Z_A ‖ M)` (GB/T 32918.2 §6.1 steps A1–A2).
pub fn message_digest(z_a: &[u8; DIGEST_LEN], message: &[u8]) -> [u8; DIGEST_LEN] {
    let mut sm3 = Sm3::new();
    sm3.update(z_a);
    sm3.update(message);
    sm3.finalize().into()
}

/// The SM2 key derivation function of GB/T 32918.4 §5.4.3 (also used by part 3):
/// fills `out` with `SM3(Z ‖ ct)` blocks for `ct = 1, 2, …` (32 bits big-endian),
/// where `Z` is the concatenation of `z_parts`. `klen` is `out.len()` bytes.
///
/// Returns [`Sm2Error::LengthOverflow`] if `out` needs more than 2^32 − 1 blocks.
pub fn kdf(z_parts: &[&[u8]], out: &mut [u8]) -> Result<(), Sm2Error> {
    let mut prefix = Sm3::new();
    for part in z_parts {
        prefix.update(part);
    }
    for (index, chunk) in out.chunks_mut(DIGEST_LEN).enumerate() {
        let counter = index
            .checked_add(1)
            .and_then(|ct| u32::try_from(ct).ok())
            .ok_or(Sm2Error::LengthOverflow)?;
        let mut block = prefix.clone();
        block.update(counter.to_be_bytes());
        let digest: [u8; DIGEST_LEN] = block.finalize().into();
        for (dst, src) in chunk.iter_mut().zip(digest.iter()) {
            *dst = *src;
        }
    }
    Ok(())
}

/// Whether `bytes` is all zero, without data-dependent branches.
pub(crate) fn is_all_zero(bytes: &[u8]) -> Choice {
    let acc = bytes.iter().fold(0u8, |acc, b| acc | b);
    acc.ct_eq(&0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entl_limits() {
        assert_eq!(entl(b""), Ok(0));
        assert_eq!(entl(b"1234567812345678"), Ok(0x0080));
        assert_eq!(entl(&[0u8; MAX_DIST_ID_LEN]), Ok(65528));
        assert_eq!(
            entl(&[0u8; MAX_DIST_ID_LEN + 1]),
            Err(Sm2Error::DistIdTooLong { len: 8192 })
        );
    }

    #[test]
    fn kdf_blocks_are_counter_hashes() {
        let mut out = [0u8; 40];
        kdf(&[b"ab", b"c"], &mut out).unwrap();
        let first: [u8; 32] = Sm3::digest(b"abc\x00\x00\x00\x01").into();
        let second: [u8; 32] = Sm3::digest(b"abc\x00\x00\x00\x02").into();
        assert_eq!(&out[..32], &first);
        assert_eq!(&out[32..], &second[..8]);
    }
}
