//! The RSA public operation `x^e mod n` for offline data authentication, without a
//! big-integer crate: Montgomery multiplication (CIOS) on 32-bit limbs, moduli up to
//! [`MAX_LIMBS`] limbs (1984 bits, EMV's largest), any public exponent.
//!
//! The terminal only ever needs the public operation, on public data (certificates and
//! signatures the card sends, keys it certifies), so the code is variable-time and
//! simple: no allocation inside the operation, a few limb arrays on the stack, nothing
//! that needs atomics. It builds for every target, thumbv6m (Cortex-M0) included, where
//! the `rsa` crate's big integers do not; `rsa` is kept for the private operations
//! (key generation, signing), behind the `rsa-sign` feature.

use alloc::vec::Vec;

/// The most 32-bit limbs a modulus may have: 1984 bits.
pub const MAX_LIMBS: usize = 62;

/// Scratch of a Montgomery product: the limbs and two of carry.
const SCRATCH: usize = MAX_LIMBS + 2;

/// The low 32 bits of `v`.
fn low(v: u64) -> u32 {
    u32::try_from(v & u64::from(u32::MAX)).unwrap_or_default()
}

/// A modulus ready for Montgomery arithmetic (R = 2^(32·limbs)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Modulus {
    /// The modulus, little-endian limbs, the top one non-zero.
    n: Vec<u32>,
    /// −n⁻¹ mod 2³².
    n0_inv: u32,
    /// R² mod n.
    rr: Vec<u32>,
}

impl Modulus {
    /// The modulus from its big-endian bytes: odd, greater than 1, at most
    /// [`MAX_LIMBS`] limbs. `None` otherwise.
    pub fn new(be: &[u8]) -> Option<Self> {
        let n = limbs_of(be);
        let n0 = *n.first()?;
        if n0 & 1 == 0 || n.len() > MAX_LIMBS || (n.len() == 1 && n0 == 1) {
            return None;
        }
        // Newton's iteration doubles the correct low bits: 1 → 2 → … → 32 after 5.
        let mut inv = 1u32;
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u32.wrapping_sub(n0.wrapping_mul(inv)));
        }
        // R² mod n by doubling 1 modulo n, 2 × 32 × limbs times.
        let mut rr = alloc::vec![0u32; n.len()];
        if let Some(first) = rr.first_mut() {
            *first = 1;
        }
        for _ in 0..2 * 32 * n.len() {
            let carry = shift_left_one(&mut rr);
            if carry || !less(&rr, &n) {
                sub_in_place(&mut rr, &n);
            }
        }
        Some(Self {
            n,
            n0_inv: inv.wrapping_neg(),
            rr,
        })
    }

    /// `base^exponent mod n`, big-endian in and out; the result has exactly `out_len`
    /// bytes. `None` when `base` is not less than the modulus, the exponent is zero or
    /// the result does not fit `out_len` bytes.
    pub fn pow(&self, base: &[u8], exponent: &[u8], out_len: usize) -> Option<Vec<u8>> {
        let len = self.n.len();
        let mut x = limbs_of(base);
        if x.len() > len {
            return None;
        }
        x.resize(len, 0);
        if !less(&x, &self.n) {
            return None;
        }
        let mut bits = exponent
            .iter()
            .flat_map(|byte| (0..8).rev().map(move |i| byte >> i & 1 == 1))
            .skip_while(|bit| !bit);
        // The top bit: acc = x (in Montgomery form).
        bits.next()?;
        let mut xm = [0u32; MAX_LIMBS];
        let xm = xm.get_mut(..len)?;
        self.mul(&x, &self.rr, xm);
        let mut acc = [0u32; MAX_LIMBS];
        let acc = acc.get_mut(..len)?;
        acc.copy_from_slice(xm);
        let mut tmp = [0u32; MAX_LIMBS];
        let tmp = tmp.get_mut(..len)?;
        for bit in bits {
            self.mul(acc, acc, tmp);
            if bit {
                self.mul(tmp, xm, acc);
            } else {
                acc.copy_from_slice(tmp);
            }
        }
        // Out of Montgomery form: acc × 1 × R⁻¹.
        let mut one = [0u32; MAX_LIMBS];
        let one = one.get_mut(..len)?;
        *one.first_mut()? = 1;
        self.mul(acc, one, tmp);
        bytes_of(tmp, out_len)
    }

    /// `out = a · b · R⁻¹ mod n` (all `n.len()` limbs, `a`, `b` < n).
    fn mul(&self, a: &[u32], b: &[u32], out: &mut [u32]) {
        let len = self.n.len();
        let mut scratch = [0u32; SCRATCH];
        let Some(t) = scratch.get_mut(..len + 2) else {
            return;
        };
        for &ai in a {
            // t += ai · b
            let carry = mul_add(t, b, ai);
            add_from(t, len, carry);
            // t += m · n makes t divisible by 2³²; then t /= 2³².
            let m = t
                .first()
                .copied()
                .unwrap_or_default()
                .wrapping_mul(self.n0_inv);
            let carry = mul_add(t, &self.n, m);
            add_from(t, len, carry);
            t.copy_within(1.., 0);
            if let Some(top) = t.last_mut() {
                *top = 0;
            }
        }
        // t < 2n: one conditional subtraction.
        let over = t.get(len).is_some_and(|top| *top != 0);
        let Some(t) = t.get_mut(..len) else {
            return;
        };
        if over || !less(t, &self.n) {
            sub_in_place(t, &self.n);
        }
        out.copy_from_slice(t);
    }
}

/// `t[..a.len()] += a · m`; the carry out of the top limb.
fn mul_add(t: &mut [u32], a: &[u32], m: u32) -> u32 {
    let mut carry = 0u64;
    for (ti, ai) in t.iter_mut().zip(a) {
        let v = u64::from(*ti) + u64::from(*ai) * u64::from(m) + carry;
        *ti = low(v);
        carry = v >> 32;
    }
    low(carry)
}

/// Adds `c` to `t` from limb `at` upwards.
fn add_from(t: &mut [u32], at: usize, c: u32) {
    let mut carry = c;
    for ti in t.iter_mut().skip(at) {
        if carry == 0 {
            break;
        }
        let (v, over) = ti.overflowing_add(carry);
        *ti = v;
        carry = u32::from(over);
    }
}

/// `a < b` for equal-length little-endian limbs.
fn less(a: &[u32], b: &[u32]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// `a -= b` modulo 2^(32·len) (equal lengths).
fn sub_in_place(a: &mut [u32], b: &[u32]) {
    let mut borrow = false;
    for (x, y) in a.iter_mut().zip(b) {
        let (v, b1) = x.overflowing_sub(*y);
        let (v, b2) = v.overflowing_sub(u32::from(borrow));
        *x = v;
        borrow = b1 || b2;
    }
}

/// `a <<= 1`; whether a bit was shifted out.
fn shift_left_one(a: &mut [u32]) -> bool {
    let mut carry = 0u32;
    for x in a.iter_mut() {
        let next = *x >> 31;
        *x = *x << 1 | carry;
        carry = next;
    }
    carry == 1
}

/// Little-endian limbs of big-endian bytes, without leading zero limbs.
fn limbs_of(be: &[u8]) -> Vec<u32> {
    let mut limbs: Vec<u32> = be
        .rchunks(4)
        .map(|chunk| chunk.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b)))
        .collect();
    while limbs.last() == Some(&0) {
        limbs.pop();
    }
    limbs
}

/// Big-endian bytes of little-endian limbs in exactly `len` bytes; `None` when the
/// value needs more.
fn bytes_of(limbs: &[u32], len: usize) -> Option<Vec<u8>> {
    let mut le: Vec<u8> = limbs.iter().flat_map(|l| l.to_le_bytes()).collect();
    if le.iter().skip(len).any(|b| *b != 0) {
        return None;
    }
    le.resize(len, 0);
    le.reverse();
    Some(le)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    /// Square-and-multiply on u128, for small moduli.
    fn reference(base: u128, exp: u64, n: u128) -> u128 {
        let (mut acc, mut b, mut e) = (1u128 % n, base % n, exp);
        while e > 0 {
            if e & 1 == 1 {
                acc = acc * b % n;
            }
            b = b * b % n;
            e >>= 1;
        }
        acc
    }

    #[test]
    fn small_moduli_against_u128() {
        for (n, base, exp) in [
            (0xFFFF_FFFBu128, 12345u128, 3u64),
            (0xFFFF_FFFB, 0xFFFF_FFFA, 65537),
            (0x1_0000_0001, 0xFFFF_FFFF, 3),
            (0xFFFF_FFFF_FFFF_FFC5, 0x1234_5678_9ABC_DEF0, 65537),
            (0xFFFF_FFFF_FFFF_FFC5, 0, 3),
            (0xFFFF_FFFF_FFFF_FFC5, 2, 0x0001_0001),
            (7, 6, 5),
        ] {
            let nb = n.to_be_bytes();
            let m = Modulus::new(&nb).unwrap();
            let got = m.pow(&base.to_be_bytes(), &exp.to_be_bytes(), 16).unwrap();
            assert_eq!(
                u128::from_be_bytes(got.try_into().unwrap()),
                reference(base, exp, n),
                "{n:x} {base:x} {exp}"
            );
        }
    }

    #[test]
    fn bad_moduli_and_operands() {
        assert!(Modulus::new(&[0x10, 0x00]).is_none(), "even");
        assert!(Modulus::new(&[0x00, 0x01]).is_none(), "one");
        assert!(Modulus::new(&[]).is_none());
        assert!(
            Modulus::new(&[0xFF; 4 * MAX_LIMBS + 1]).is_none(),
            "too long"
        );
        assert!(Modulus::new(&[0xFF; 4 * MAX_LIMBS]).is_some());
        let m = Modulus::new(&[0x00, 0xC5]).unwrap();
        assert_eq!(m.pow(&[0xC5], &[3], 1), None, "base = n");
        assert_eq!(m.pow(&[0x01, 0x00], &[3], 2), None, "base > n");
        assert_eq!(m.pow(&[0x02], &[0, 0], 1), None, "zero exponent");
        assert_eq!(m.pow(&[0x02], &[0x00, 0x03], 1), Some(alloc::vec![8]));
        // 0xC4^3 mod 0xC5 = (-1)^3 = 0xC4: needs one byte, not zero.
        assert_eq!(m.pow(&[0xC4], &[3], 0), None);
    }

    proptest::proptest! {
        #[test]
        fn random_64_bit_moduli(n in 3u64.., base: u64, exp in 1u64..) {
            let n = n | 1;
            let base = base % n;
            let m = Modulus::new(&n.to_be_bytes()).unwrap();
            let got = m.pow(&base.to_be_bytes(), &exp.to_be_bytes(), 8).unwrap();
            proptest::prop_assert_eq!(
                u128::from(u64::from_be_bytes(got.try_into().unwrap())),
                reference(u128::from(base), exp, u128::from(n))
            );
        }
    }
}
