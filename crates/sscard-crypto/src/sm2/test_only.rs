//! **TEST ONLY. Never enable in production.** SM2 operations with caller-chosen
//! nonces, to reproduce the worked examples of GB/T 32918 / GM/T 0003 byte for byte.
//!
//! Exists only under `cfg(test)` or the `test-fixed-nonce` feature. A signature or
//! ciphertext made with a known or repeated nonce gives away the private key or the
//! plaintext.

use sm2::NonZeroScalar;

use super::encryption::{check_encrypt_buffer, encrypt_with_nonce};
use super::hash::{message_digest, z_a};
use super::key_exchange::{fixed, KeyExchangeInitiator, KeyExchangeResponder, ResponderReply};
use super::signature::sign_with_nonce;
use super::{curve, CiphertextFormat, PrivateKey, PublicKey, Signature, Sm2Error};

fn nonce(k: &[u8; 32]) -> Result<NonZeroScalar, Sm2Error> {
    let scalar = curve::scalar_from_bytes(k).ok_or(Sm2Error::InvalidPrivateKey)?;
    Option::<NonZeroScalar>::from(NonZeroScalar::new(scalar)).ok_or(Sm2Error::InvalidPrivateKey)
}

/// TEST ONLY: signs `message` for `id` with the nonce `k` (GB/T 32918.2 §6.1 with A3
/// replaced by the given `k`).
pub fn sign_with_fixed_nonce(
    key: &PrivateKey,
    id: &[u8],
    message: &[u8],
    k: &[u8; 32],
) -> Result<Signature, Sm2Error> {
    let e = message_digest(&z_a(id, key.public_key())?, message);
    let k = nonce(k)?;
    sign_with_nonce(key, &curve::scalar_reduce(&e), &k).ok_or(Sm2Error::SigningFailed)
}

/// TEST ONLY: encrypts `plaintext` to `key` with the nonce `k` (GB/T 32918.4 §6.1 with
/// A1 replaced by the given `k`).
pub fn encrypt_with_fixed_nonce(
    key: &PublicKey,
    plaintext: &[u8],
    format: CiphertextFormat,
    k: &[u8; 32],
    out: &mut [u8],
) -> Result<usize, Sm2Error> {
    check_encrypt_buffer(plaintext, format, out)?;
    encrypt_with_nonce(key, &nonce(k)?, plaintext, format, out)?.ok_or(Sm2Error::Rng)
}

/// TEST ONLY: starts a key exchange as initiator with the ephemeral scalar `r_a`.
pub fn key_exchange_initiator_with_fixed_ephemeral<'k>(
    r_a: &[u8; 32],
    own_key: &'k PrivateKey,
    own_id: &[u8],
    peer_key: &PublicKey,
    peer_id: &[u8],
) -> Result<KeyExchangeInitiator<'k>, Sm2Error> {
    fixed::initiator(r_a, own_key, own_id, peer_key, peer_id)
}

/// TEST ONLY: answers a key exchange as responder with the ephemeral scalar `r_b`.
#[allow(clippy::too_many_arguments)]
pub fn key_exchange_respond_with_fixed_ephemeral<'b>(
    r_b: &[u8; 32],
    own_key: &PrivateKey,
    own_id: &[u8],
    peer_key: &PublicKey,
    peer_id: &[u8],
    initiator_ephemeral: &PublicKey,
    key_out: &'b mut [u8],
) -> Result<(ResponderReply, KeyExchangeResponder<'b>), Sm2Error> {
    fixed::respond(
        r_b,
        own_key,
        own_id,
        peer_key,
        peer_id,
        initiator_ephemeral,
        key_out,
    )
}
