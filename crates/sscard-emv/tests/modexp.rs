//! The crate's own RSA public operation (`oda::modexp`, behind `RsaPublicKey::recover`)
//! against the `rsa` crate's, on random keys of EMV sizes and random blocks.
#![cfg(feature = "rsa-sign")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use proptest::prelude::*;
use rsa::traits::PublicKeyParts;
use rsa::BoxedUint;
use sscard_emv::oda::rsa::{RsaPrivateKey, RsaPublicKey};
use sscard_emv::oda::testpki::TestRng;

/// `block^e mod n` by the `rsa` crate.
fn rsa_crate_public(key: &RsaPublicKey, block: &[u8]) -> Vec<u8> {
    let n = BoxedUint::from_be_slice_vartime(key.modulus());
    let e = BoxedUint::from_be_slice_vartime(key.exponent());
    let public = rsa::RsaPublicKey::new_with_size_limits(n, e, 505..=1984).unwrap();
    let m = BoxedUint::from_be_slice(block, public.n_bits_precision()).unwrap();
    let x = rsa::hazmat::rsa_encrypt(&public, &m).unwrap();
    let bytes = x.to_be_bytes();
    bytes[bytes.len() - key.len()..].to_vec()
}

/// A block below the modulus from random bytes: the first byte cleared.
fn block_for(key: &RsaPublicKey, bytes: &[u8]) -> Vec<u8> {
    let mut block: Vec<u8> = bytes.iter().cycle().take(key.len()).copied().collect();
    block[0] = 0;
    block
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Random keys (512–1024 bits, e = 3 or 65537): the public operation is the `rsa`
    /// crate's, and it undoes the `rsa` crate's private operation.
    #[test]
    fn public_operation_matches_rsa_crate(
        seed: [u8; 8],
        bytes in 8usize..=16,
        e65537: bool,
        data in proptest::collection::vec(any::<u8>(), 1..64),
    ) {
        let exponent = if e65537 { 65_537 } else { 3 };
        let key = RsaPrivateKey::generate(&mut TestRng::new(&seed, b"modexp"), bytes * 64, exponent).unwrap();
        let public = key.public_key();
        let block = block_for(public, &data);
        let ours = public.recover(&block).unwrap();
        prop_assert_eq!(&ours, &rsa_crate_public(public, &block));
        let signed = key.sign_raw(&block).unwrap();
        prop_assert_eq!(public.recover(&signed).unwrap(), block);
    }
}

/// The largest EMV modulus (1984 bits) with both exponents, on a few blocks, including
/// n − 1 (the largest base) and 0 and 1.
#[test]
fn largest_modulus_matches_rsa_crate() {
    for exponent in [3, 65_537] {
        let key =
            RsaPrivateKey::generate(&mut TestRng::new(b"1984", b"modexp"), 1984, exponent).unwrap();
        let public = key.public_key();
        let mut n_minus_1 = public.modulus().to_vec();
        *n_minus_1.last_mut().unwrap() -= 1; // n is odd
        let mut one = vec![0u8; public.len()];
        *one.last_mut().unwrap() = 1;
        for block in [
            n_minus_1,
            one,
            vec![0u8; public.len()],
            block_for(public, b"sscard"),
        ] {
            let ours = public.recover(&block).unwrap();
            assert_eq!(ours, rsa_crate_public(public, &block));
            assert_eq!(
                public.recover(&key.sign_raw(&block).unwrap()).unwrap(),
                block
            );
        }
        // The modulus itself is not a block.
        assert!(public.recover(public.modulus()).is_err());
    }
}
