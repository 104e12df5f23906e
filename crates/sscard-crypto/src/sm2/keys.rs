//! SM2 key pairs on the recommended curve.

use core::fmt;

use sm2::elliptic_curve::point::AffineCoordinates;
use sm2::elliptic_curve::rand_core::TryCryptoRng;
use sm2::elliptic_curve::{Generate, Group};
use sm2::{AffinePoint, FieldBytes, NonZeroScalar, ProjectivePoint, Scalar};
use subtle::{Choice, ConstantTimeEq};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{curve, Sm2Error};

/// Length of a private key (a scalar) in bytes.
pub const PRIVATE_KEY_LEN: usize = 32;
/// Length of a public key as `x ‖ y` in bytes.
pub const PUBLIC_KEY_XY_LEN: usize = 64;
/// Length of a public key as uncompressed SEC1 `04 ‖ x ‖ y` in bytes.
pub const PUBLIC_KEY_UNCOMPRESSED_LEN: usize = 65;

/// SM2 private key: a scalar `d` in `[1, n-2]` and its public key `[d]G`.
///
/// `n-1` is excluded because signing needs `(1 + d)^-1` (GB/T 32918.1 §6.1).
/// The scalar is wiped on drop, never shown by `Debug`, and compared in constant time.
#[derive(Clone)]
pub struct PrivateKey {
    d: NonZeroScalar,
    /// `(1 + d)^-1 mod n`, kept for signing (GB/T 32918.2 §6.1 step A6).
    d_plus_1_inv: Scalar,
    public_key: PublicKey,
}

impl PrivateKey {
    /// Builds a key from a big-endian scalar in `[1, n-2]`.
    pub fn from_bytes(bytes: &[u8; PRIVATE_KEY_LEN]) -> Result<Self, Sm2Error> {
        let scalar = curve::scalar_from_bytes(bytes).ok_or(Sm2Error::InvalidPrivateKey)?;
        let d = Option::<NonZeroScalar>::from(NonZeroScalar::new(scalar))
            .ok_or(Sm2Error::InvalidPrivateKey)?;
        Self::from_nonzero_scalar(d)
    }

    /// Builds a key from a big-endian scalar slice of exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Sm2Error> {
        let array: &[u8; PRIVATE_KEY_LEN] =
            bytes.try_into().map_err(|_| Sm2Error::InvalidPrivateKey)?;
        Self::from_bytes(array)
    }

    /// Generates a fresh key with the caller's cryptographic RNG.
    pub fn generate<R: TryCryptoRng + ?Sized>(rng: &mut R) -> Result<Self, Sm2Error> {
        // d = n-1 (probability 2^-256) means drawing again; an RNG that keeps
        // producing it is broken.
        for _ in 0..8 {
            let d = NonZeroScalar::try_generate_from_rng(rng).map_err(|_| Sm2Error::Rng)?;
            if let Ok(key) = Self::from_nonzero_scalar(d) {
                return Ok(key);
            }
        }
        Err(Sm2Error::Rng)
    }

    fn from_nonzero_scalar(d: NonZeroScalar) -> Result<Self, Sm2Error> {
        let d_plus_1_inv = Option::<Scalar>::from((*d + Scalar::ONE).invert())
            .ok_or(Sm2Error::InvalidPrivateKey)?;
        let point = ProjectivePoint::mul_by_generator(&*d).to_affine();
        let public_key = PublicKey::from_affine(point)?;
        Ok(Self {
            d,
            d_plus_1_inv,
            public_key,
        })
    }

    /// The scalar `d` as 32 big-endian bytes, wiped when the returned value drops.
    pub fn to_bytes(&self) -> Zeroizing<[u8; PRIVATE_KEY_LEN]> {
        Zeroizing::new(curve::scalar_to_bytes(&self.d))
    }

    /// The public key `[d]G`.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    pub(crate) fn scalar(&self) -> &NonZeroScalar {
        &self.d
    }

    pub(crate) fn d_plus_1_inv(&self) -> &Scalar {
        &self.d_plus_1_inv
    }
}

impl Drop for PrivateKey {
    fn drop(&mut self) {
        self.d.zeroize();
        self.d_plus_1_inv.zeroize();
    }
}

impl ZeroizeOnDrop for PrivateKey {}

impl ConstantTimeEq for PrivateKey {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.d.ct_eq(&other.d)
    }
}

impl PartialEq for PrivateKey {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for PrivateKey {}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

/// SM2 public key: a point on the recommended curve, validated on construction (on the
/// curve, coordinates below p, not the point at infinity; the cofactor is 1).
///
/// Ephemeral points of the key exchange (R_A, R_B) use this type too.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    point: sm2::PublicKey,
}

impl PublicKey {
    /// Parses `x ‖ y` (64 bytes, big-endian coordinates).
    pub fn from_xy(bytes: &[u8; PUBLIC_KEY_XY_LEN]) -> Result<Self, Sm2Error> {
        let (x, y) = bytes.split_at(32);
        let x = FieldBytes::try_from(x).map_err(|_| Sm2Error::InvalidPublicKey)?;
        let y = FieldBytes::try_from(y).map_err(|_| Sm2Error::InvalidPublicKey)?;
        let point = Option::<AffinePoint>::from(AffinePoint::from_coordinates(&x, &y))
            .ok_or(Sm2Error::InvalidPublicKey)?;
        Self::from_affine(point)
    }

    /// Parses the uncompressed SEC1 form `04 ‖ x ‖ y` (65 bytes).
    pub fn from_uncompressed(bytes: &[u8; PUBLIC_KEY_UNCOMPRESSED_LEN]) -> Result<Self, Sm2Error> {
        match bytes.split_first() {
            Some((0x04, xy)) => {
                let xy: &[u8; PUBLIC_KEY_XY_LEN] =
                    xy.try_into().map_err(|_| Sm2Error::InvalidPublicKey)?;
                Self::from_xy(xy)
            }
            _ => Err(Sm2Error::InvalidPublicKey),
        }
    }

    /// Parses either `x ‖ y` (64 bytes) or `04 ‖ x ‖ y` (65 bytes).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Sm2Error> {
        if let Ok(xy) = <&[u8; PUBLIC_KEY_XY_LEN]>::try_from(bytes) {
            Self::from_xy(xy)
        } else if let Ok(sec1) = <&[u8; PUBLIC_KEY_UNCOMPRESSED_LEN]>::try_from(bytes) {
            Self::from_uncompressed(sec1)
        } else {
            Err(Sm2Error::InvalidPublicKey)
        }
    }

    pub(crate) fn from_affine(point: AffinePoint) -> Result<Self, Sm2Error> {
        let point = sm2::PublicKey::from_affine(point).map_err(|_| Sm2Error::InvalidPublicKey)?;
        Ok(Self { point })
    }

    /// `x ‖ y`, 64 bytes.
    pub fn to_xy(&self) -> [u8; PUBLIC_KEY_XY_LEN] {
        let (x, y) = curve::coordinates(self.as_affine());
        let mut out = [0u8; PUBLIC_KEY_XY_LEN];
        let (left, right) = out.split_at_mut(32);
        left.copy_from_slice(&x);
        right.copy_from_slice(&y);
        out
    }

    /// `04 ‖ x ‖ y`, 65 bytes.
    pub fn to_uncompressed(&self) -> [u8; PUBLIC_KEY_UNCOMPRESSED_LEN] {
        let mut out = [0u8; PUBLIC_KEY_UNCOMPRESSED_LEN];
        let (tag, xy) = out.split_at_mut(1);
        tag.copy_from_slice(&[0x04]);
        xy.copy_from_slice(&self.to_xy());
        out
    }

    /// The x coordinate, big-endian.
    pub fn x(&self) -> [u8; 32] {
        self.as_affine().x().into()
    }

    /// The y coordinate, big-endian.
    pub fn y(&self) -> [u8; 32] {
        self.as_affine().y().into()
    }

    pub(crate) fn as_affine(&self) -> &AffinePoint {
        self.point.as_affine()
    }

    pub(crate) fn to_projective(self) -> ProjectivePoint {
        self.point.to_projective()
    }

    #[cfg(test)]
    pub(crate) fn inner(&self) -> &sm2::PublicKey {
        &self.point
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PublicKey(04")?;
        for byte in self.to_xy() {
            write!(f, "{byte:02X}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_range_is_one_to_n_minus_two() {
        let mut n_minus_1 = curve::N;
        n_minus_1[31] -= 1;
        let mut n_minus_2 = curve::N;
        n_minus_2[31] -= 2;
        assert_eq!(
            PrivateKey::from_bytes(&[0u8; 32]).unwrap_err(),
            Sm2Error::InvalidPrivateKey
        );
        assert!(PrivateKey::from_bytes(&curve::N).is_err());
        assert!(PrivateKey::from_bytes(&[0xFF; 32]).is_err());
        assert!(PrivateKey::from_bytes(&n_minus_1).is_err());
        assert!(PrivateKey::from_bytes(&n_minus_2).is_ok());
        let mut one = [0u8; 32];
        one[31] = 1;
        let key = PrivateKey::from_bytes(&one).unwrap();
        assert_eq!(key.public_key().x(), curve::GX);
        assert_eq!(key.public_key().y(), curve::GY);
    }

    #[test]
    fn debug_hides_the_scalar() {
        let d = [0x11u8; 32];
        let key = PrivateKey::from_bytes(&d).unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains("1111111111"));
        assert!(shown.starts_with("PrivateKey { public_key: PublicKey(04"));
    }

    #[test]
    fn public_key_encodings_round_trip_and_reject_bad_points() {
        let key = PrivateKey::from_bytes(&[0x22u8; 32]).unwrap();
        let public = *key.public_key();
        assert_eq!(PublicKey::from_xy(&public.to_xy()).unwrap(), public);
        assert_eq!(
            PublicKey::from_uncompressed(&public.to_uncompressed()).unwrap(),
            public
        );
        assert_eq!(PublicKey::from_slice(&public.to_xy()).unwrap(), public);
        let mut off_curve = public.to_xy();
        off_curve[63] ^= 1;
        assert_eq!(
            PublicKey::from_xy(&off_curve),
            Err(Sm2Error::InvalidPublicKey)
        );
        assert!(PublicKey::from_xy(&[0u8; 64]).is_err());
        let mut wrong_tag = public.to_uncompressed();
        wrong_tag[0] = 0x02;
        assert!(PublicKey::from_uncompressed(&wrong_tag).is_err());
        assert!(PublicKey::from_slice(&[0x04; 33]).is_err());
    }
}
