//! SM2 key exchange (GB/T 32918.3 §6) with optional key confirmation.
//!
//! Roles: the initiator A sends `R_A`, the responder B answers `R_B` (and `S_B` when
//! confirming), A checks `S_B` and may send `S_A`, which B checks. `Z_A` is always the
//! initiator's and `Z_B` the responder's, whichever side computes.
//!
//! ```text
//! w = 127, x̄ = 2^127 + (x mod 2^127)
//! t = (d + x̄_own · r_own) mod n
//! U = [h·t](P_peer + [x̄_peer] R_peer)            (h = 1)
//! K = KDF(x_U ‖ y_U ‖ Z_A ‖ Z_B, klen)
//! S_B = SM3(0x02 ‖ y_U ‖ SM3(x_U ‖ Z_A ‖ Z_B ‖ x_1 ‖ y_1 ‖ x_2 ‖ y_2))
//! S_A = SM3(0x03 ‖ y_U ‖ SM3(x_U ‖ Z_A ‖ Z_B ‖ x_1 ‖ y_1 ‖ x_2 ‖ y_2))
//! ```
//!
//! Each ephemeral key lives inside a value that is consumed when it is used, so it
//! serves exactly one exchange; peer points are validated [`PublicKey`]s.

use sm2::elliptic_curve::rand_core::TryCryptoRng;
use sm2::elliptic_curve::{Generate, Group};
use sm2::{NonZeroScalar, ProjectivePoint, Scalar};
use sm3::{Digest, Sm3};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::hash::{kdf, z_a, DIGEST_LEN};
use super::{curve, PrivateKey, PublicKey, Sm2Error};

/// Longest shared key one exchange derives, in bytes (`klen` is bounded so that keys
/// fit caller buffers on small devices; the KDF itself allows far more).
pub const MAX_SHARED_KEY_LEN: usize = 1024;

/// Prefix byte of `S_B` (= S_1 on A's side).
const TAG_S_B: u8 = 0x02;
/// Prefix byte of `S_A` (= S_2 on B's side).
const TAG_S_A: u8 = 0x03;

/// x̄ = 2^127 + (x mod 2^127) of an ephemeral point, as a scalar (w = 127 for the
/// 256-bit order, GB/T 32918.3 §6.1 A4/B3).
fn x_bar(point: &PublicKey) -> Scalar {
    let x = point.x();
    let mut low = [0u8; 32];
    if let (Some(dst), Some(src)) = (low.get_mut(16..), x.get(16..)) {
        dst.copy_from_slice(src);
    }
    if let Some(top) = low.get_mut(16) {
        *top |= 0x80;
    }
    curve::scalar_reduce(&low)
}

/// An ephemeral key pair `(r, R = [r]G)`. Not `Clone`; wiped on drop.
struct Ephemeral {
    r: NonZeroScalar,
    point: PublicKey,
}

impl Ephemeral {
    fn new(r: NonZeroScalar) -> Result<Self, Sm2Error> {
        let point = PublicKey::from_affine(ProjectivePoint::mul_by_generator(&*r).to_affine())?;
        Ok(Self { r, point })
    }

    fn generate<R: TryCryptoRng + ?Sized>(rng: &mut R) -> Result<Self, Sm2Error> {
        Self::new(NonZeroScalar::try_generate_from_rng(rng).map_err(|_| Sm2Error::Rng)?)
    }
}

impl Drop for Ephemeral {
    fn drop(&mut self) {
        self.r.zeroize();
    }
}

/// What both sides keep after deriving the key: `y_U` and the inner hash of the
/// confirmation values.
struct Shared {
    y_u: Zeroizing<[u8; 32]>,
    inner: Zeroizing<[u8; DIGEST_LEN]>,
}

impl Shared {
    /// Steps A4–A8 / B3–B7: t, U, then K into `key_out` and the confirmation hash.
    #[allow(clippy::too_many_arguments)]
    fn derive(
        own_key: &PrivateKey,
        own: &Ephemeral,
        peer_key: &PublicKey,
        peer_point: &PublicKey,
        z_a: &[u8; DIGEST_LEN],
        z_b: &[u8; DIGEST_LEN],
        r_a: &PublicKey,
        r_b: &PublicKey,
        key_out: &mut [u8],
    ) -> Result<Self, Sm2Error> {
        // t = (d + x̄_own · r_own) mod n.
        let t = Zeroizing::new(**own_key.scalar() + x_bar(&own.point) * *own.r);
        // U = [h·t](P_peer + [x̄_peer]R_peer), h = 1; the identity is a failure.
        let base = peer_key.to_projective() + peer_point.to_projective() * x_bar(peer_point);
        let u = base * *t;
        if bool::from(u.is_identity()) {
            return Err(Sm2Error::KeyExchange);
        }
        let (x_u, y_u) = curve::coordinates(&u.to_affine());
        let (x_u, y_u) = (Zeroizing::new(x_u), Zeroizing::new(y_u));
        // K = KDF(x_U ‖ y_U ‖ Z_A ‖ Z_B, klen).
        kdf(&[x_u.as_ref(), y_u.as_ref(), z_a, z_b], key_out)?;
        // SM3(x_U ‖ Z_A ‖ Z_B ‖ x_1 ‖ y_1 ‖ x_2 ‖ y_2).
        let mut sm3 = Sm3::new();
        sm3.update(x_u.as_ref());
        sm3.update(z_a);
        sm3.update(z_b);
        sm3.update(r_a.to_xy());
        sm3.update(r_b.to_xy());
        let inner = Zeroizing::new(sm3.finalize().into());
        Ok(Self { y_u, inner })
    }

    /// `SM3(tag ‖ y_U ‖ inner)`: S_B with tag 0x02, S_A with tag 0x03.
    fn confirmation(&self, tag: u8) -> [u8; DIGEST_LEN] {
        let mut sm3 = Sm3::new();
        sm3.update([tag]);
        sm3.update(self.y_u.as_ref());
        sm3.update(self.inner.as_ref());
        sm3.finalize().into()
    }
}

fn check_key_len(key_out: &[u8]) -> Result<(), Sm2Error> {
    if key_out.is_empty() || key_out.len() > MAX_SHARED_KEY_LEN {
        return Err(Sm2Error::InvalidKeyLength);
    }
    Ok(())
}

/// The initiator (user A) after sending `R_A`, waiting for the responder's answer.
///
/// [`finish`](Self::finish) consumes it, so its ephemeral key is used once.
pub struct KeyExchangeInitiator<'k> {
    own_key: &'k PrivateKey,
    peer_key: PublicKey,
    z_a: [u8; DIGEST_LEN],
    z_b: [u8; DIGEST_LEN],
    ephemeral: Ephemeral,
}

impl core::fmt::Debug for KeyExchangeInitiator<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyExchangeInitiator")
            .field("ephemeral_public_key", &self.ephemeral.point)
            .finish_non_exhaustive()
    }
}

impl<'k> KeyExchangeInitiator<'k> {
    /// Steps A1–A3: draws `r_A` from `rng` and computes `R_A`. `own_id` and `peer_id`
    /// are the distinguishing IDs of A (this side) and B.
    pub fn new<R: TryCryptoRng + ?Sized>(
        rng: &mut R,
        own_key: &'k PrivateKey,
        own_id: &[u8],
        peer_key: &PublicKey,
        peer_id: &[u8],
    ) -> Result<Self, Sm2Error> {
        let ephemeral = Ephemeral::generate(rng)?;
        Self::with_ephemeral(ephemeral, own_key, own_id, peer_key, peer_id)
    }

    fn with_ephemeral(
        ephemeral: Ephemeral,
        own_key: &'k PrivateKey,
        own_id: &[u8],
        peer_key: &PublicKey,
        peer_id: &[u8],
    ) -> Result<Self, Sm2Error> {
        Ok(Self {
            own_key,
            peer_key: *peer_key,
            z_a: z_a(own_id, own_key.public_key())?,
            z_b: z_a(peer_id, peer_key)?,
            ephemeral,
        })
    }

    /// `R_A`, to send to the responder.
    pub fn ephemeral_public_key(&self) -> &PublicKey {
        &self.ephemeral.point
    }

    /// Steps A4–A10: derives the shared key into `key_out` (`klen` = its length, 1 to
    /// [`MAX_SHARED_KEY_LEN`] bytes) from the responder's `R_B`.
    ///
    /// With `responder_confirmation = Some(S_B)` it checks S_B (A9) and fails with
    /// [`Sm2Error::KeyConfirmation`] on mismatch, wiping `key_out`. It returns `S_A`
    /// (A10), to send to the responder when the protocol confirms keys.
    pub fn finish(
        self,
        responder_ephemeral: &PublicKey,
        responder_confirmation: Option<&[u8; DIGEST_LEN]>,
        key_out: &mut [u8],
    ) -> Result<[u8; DIGEST_LEN], Sm2Error> {
        check_key_len(key_out)?;
        let shared = Shared::derive(
            self.own_key,
            &self.ephemeral,
            &self.peer_key,
            responder_ephemeral,
            &self.z_a,
            &self.z_b,
            &self.ephemeral.point,
            responder_ephemeral,
            key_out,
        );
        let shared = match shared {
            Ok(shared) => shared,
            Err(error) => {
                key_out.zeroize();
                return Err(error);
            }
        };
        if let Some(s_b) = responder_confirmation {
            let s_1 = shared.confirmation(TAG_S_B);
            if !bool::from(s_1.ct_eq(s_b)) {
                key_out.zeroize();
                return Err(Sm2Error::KeyConfirmation);
            }
        }
        Ok(shared.confirmation(TAG_S_A))
    }
}

/// The responder's (user B's) message to the initiator: `R_B` and `S_B`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponderReply {
    /// `R_B`.
    pub ephemeral_public_key: PublicKey,
    /// `S_B`, for key confirmation (the initiator may ignore it).
    pub confirmation: [u8; DIGEST_LEN],
}

/// The responder (user B) holding the derived key until the initiator's `S_A` is
/// checked.
///
/// It borrows the caller's key buffer mutably, so the key cannot be read before
/// [`confirm`](Self::confirm) succeeds or the caller opts out of confirmation with
/// [`into_unconfirmed_key`](Self::into_unconfirmed_key). Dropping it otherwise wipes
/// the key.
pub struct KeyExchangeResponder<'b> {
    key: Option<&'b mut [u8]>,
    expected_s_a: [u8; DIGEST_LEN],
}

impl core::fmt::Debug for KeyExchangeResponder<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyExchangeResponder")
            .finish_non_exhaustive()
    }
}

impl<'b> KeyExchangeResponder<'b> {
    /// Steps B1–B8: draws `r_B` from `rng`, derives the shared key into `key_out` (1 to
    /// [`MAX_SHARED_KEY_LEN`] bytes) and returns the reply for the initiator with this
    /// pending confirmation. `R_A` was validated (B4) when it was parsed into a
    /// [`PublicKey`]. `own_id` is B's ID, `peer_id` A's.
    #[allow(clippy::too_many_arguments)]
    pub fn respond<R: TryCryptoRng + ?Sized>(
        rng: &mut R,
        own_key: &PrivateKey,
        own_id: &[u8],
        peer_key: &PublicKey,
        peer_id: &[u8],
        initiator_ephemeral: &PublicKey,
        key_out: &'b mut [u8],
    ) -> Result<(ResponderReply, Self), Sm2Error> {
        check_key_len(key_out)?;
        let ephemeral = Ephemeral::generate(rng)?;
        Self::respond_with(
            ephemeral,
            own_key,
            own_id,
            peer_key,
            peer_id,
            initiator_ephemeral,
            key_out,
        )
    }

    fn respond_with(
        ephemeral: Ephemeral,
        own_key: &PrivateKey,
        own_id: &[u8],
        peer_key: &PublicKey,
        peer_id: &[u8],
        initiator_ephemeral: &PublicKey,
        key_out: &'b mut [u8],
    ) -> Result<(ResponderReply, Self), Sm2Error> {
        check_key_len(key_out)?;
        let z_a = z_a(peer_id, peer_key)?;
        let z_b = z_a_own(own_id, own_key)?;
        let shared = Shared::derive(
            own_key,
            &ephemeral,
            peer_key,
            initiator_ephemeral,
            &z_a,
            &z_b,
            initiator_ephemeral,
            &ephemeral.point,
            key_out,
        );
        let shared = match shared {
            Ok(shared) => shared,
            Err(error) => {
                key_out.zeroize();
                return Err(error);
            }
        };
        let reply = ResponderReply {
            ephemeral_public_key: ephemeral.point,
            confirmation: shared.confirmation(TAG_S_B),
        };
        let pending = Self {
            key: Some(key_out),
            expected_s_a: shared.confirmation(TAG_S_A),
        };
        Ok((reply, pending))
    }

    /// Step B10: checks the initiator's `S_A` and releases the key on success; on
    /// mismatch wipes it and fails with [`Sm2Error::KeyConfirmation`].
    pub fn confirm(mut self, s_a: &[u8; DIGEST_LEN]) -> Result<&'b [u8], Sm2Error> {
        let key = self.key.take().ok_or(Sm2Error::KeyConfirmation)?;
        if bool::from(self.expected_s_a.ct_eq(s_a)) {
            Ok(key)
        } else {
            key.zeroize();
            Err(Sm2Error::KeyConfirmation)
        }
    }

    /// Releases the key without key confirmation (the exchange without the optional
    /// steps B9/B10).
    pub fn into_unconfirmed_key(mut self) -> &'b [u8] {
        match self.key.take() {
            Some(key) => key,
            None => &[],
        }
    }
}

impl Drop for KeyExchangeResponder<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            key.zeroize();
        }
        self.expected_s_a.zeroize();
    }
}

fn z_a_own(id: &[u8], key: &PrivateKey) -> Result<[u8; DIGEST_LEN], Sm2Error> {
    z_a(id, key.public_key())
}

/// Test-only entry points with caller-chosen ephemeral scalars.
#[cfg(any(test, feature = "test-fixed-nonce"))]
pub(crate) mod fixed {
    use super::*;

    pub(crate) fn initiator<'k>(
        r_a: &[u8; 32],
        own_key: &'k PrivateKey,
        own_id: &[u8],
        peer_key: &PublicKey,
        peer_id: &[u8],
    ) -> Result<KeyExchangeInitiator<'k>, Sm2Error> {
        KeyExchangeInitiator::with_ephemeral(ephemeral(r_a)?, own_key, own_id, peer_key, peer_id)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn respond<'b>(
        r_b: &[u8; 32],
        own_key: &PrivateKey,
        own_id: &[u8],
        peer_key: &PublicKey,
        peer_id: &[u8],
        initiator_ephemeral: &PublicKey,
        key_out: &'b mut [u8],
    ) -> Result<(ResponderReply, KeyExchangeResponder<'b>), Sm2Error> {
        KeyExchangeResponder::respond_with(
            ephemeral(r_b)?,
            own_key,
            own_id,
            peer_key,
            peer_id,
            initiator_ephemeral,
            key_out,
        )
    }

    fn ephemeral(r: &[u8; 32]) -> Result<Ephemeral, Sm2Error> {
        let scalar = curve::scalar_from_bytes(r).ok_or(Sm2Error::InvalidPrivateKey)?;
        let r = Option::<NonZeroScalar>::from(NonZeroScalar::new(scalar))
            .ok_or(Sm2Error::InvalidPrivateKey)?;
        Ephemeral::new(r)
    }
}
