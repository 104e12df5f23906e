//! Quick in-crate checks against the GB/T 32918.5 examples; the full vector suite reads
//! `test-vectors/sm-vectors.json` in `tests/sm2_vectors.rs`.

use super::test_only::*;
use super::*;

fn hex<const N: usize>(text: &str) -> [u8; N] {
    sscard_apdu::hex::decode_array(text).unwrap()
}

const D: &str = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8";
const K: &str = "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21";

struct CountingRng(u64);

impl rand_core::TryRng for CountingRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1);
        let [a, b, c, d, ..] = self.0.to_be_bytes();
        Ok(u32::from_be_bytes([a, b, c, d]))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(u64::from(self.try_next_u32()?) << 32 | u64::from(self.try_next_u32()?))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for b in dst {
            *b = self.try_next_u32()?.to_be_bytes()[0];
        }
        Ok(())
    }
}
impl rand_core::TryCryptoRng for CountingRng {}

#[test]
fn standard_signature_example() {
    let key = PrivateKey::from_bytes(&hex(D)).unwrap();
    assert_eq!(
        key.public_key().z_a(DEFAULT_DIST_ID).unwrap(),
        hex::<32>("B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3")
    );
    let sig = sign_with_fixed_nonce(&key, DEFAULT_DIST_ID, b"message digest", &hex(K)).unwrap();
    assert_eq!(
        sig.r(),
        &hex::<32>("F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3")
    );
    assert_eq!(
        sig.s(),
        &hex::<32>("B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA")
    );
    key.public_key()
        .verify(DEFAULT_DIST_ID, b"message digest", &sig)
        .unwrap();
}

#[test]
fn deterministic_signing_equals_rustcrypto_sign_prehash() {
    use sm2::dsa::signature::hazmat::PrehashSigner;
    for seed in 1u8..=8 {
        let d = [seed; 32];
        let key = PrivateKey::from_bytes(&d).unwrap();
        let theirs = sm2::dsa::SigningKey::from_slice("", &d).unwrap();
        let e = message_digest(&key.public_key().z_a(DEFAULT_DIST_ID).unwrap(), &[seed; 7]);
        let ours = key.sign_prehash(&e).unwrap();
        let theirs: sm2::dsa::Signature = theirs.sign_prehash(&e).unwrap();
        assert_eq!(ours.to_bytes(), <[u8; 64]>::from(theirs.to_bytes()));
    }
}

#[test]
fn verification_decides_like_rustcrypto_verify_prehash() {
    use sm2::dsa::signature::hazmat::PrehashVerifier;
    let key = PrivateKey::from_bytes(&hex(D)).unwrap();
    let theirs = sm2::dsa::VerifyingKey::new("", *key.public_key().inner()).unwrap();
    let mut rng = CountingRng(3);
    for round in 0u8..40 {
        let e = message_digest(&key.public_key().z_a(b"id").unwrap(), &[round]);
        let good = key.sign_prehash(&e).unwrap();
        let mut candidates = vec![good];
        let mut bytes = good.to_bytes();
        bytes[usize::from(round) % 64] ^= 1 << (round % 8);
        candidates.extend(Signature::from_bytes(&bytes));
        let mut random = [0u8; 64];
        rand_core::TryRng::try_fill_bytes(&mut rng, &mut random).unwrap();
        candidates.extend(Signature::from_bytes(&random));
        for sig in candidates {
            let ours = key.public_key().verify_prehash(&e, &sig).is_ok();
            let rc = sm2::dsa::Signature::from_bytes(&sig.to_bytes().into()).unwrap();
            assert_eq!(ours, theirs.verify_prehash(&e, &rc).is_ok(), "{sig:?}");
            assert_eq!(ours, sig == good);
        }
    }
}

#[test]
fn hedged_signatures_differ_and_verify() {
    let key = PrivateKey::from_bytes(&hex(D)).unwrap();
    let mut rng = CountingRng(7);
    let a = key.sign_with_rng(&mut rng, b"id", b"m").unwrap();
    let b = key.sign_with_rng(&mut rng, b"id", b"m").unwrap();
    assert_ne!(a, b);
    assert_eq!(
        key.sign(b"id", b"m").unwrap(),
        key.sign(b"id", b"m").unwrap()
    );
    for sig in [a, b] {
        key.public_key().verify(b"id", b"m", &sig).unwrap();
    }
}

#[test]
fn standard_encryption_example_all_formats() {
    let key = PrivateKey::from_bytes(&hex(D)).unwrap();
    let msg = b"encryption standard";
    let der_expected = sscard_apdu::hex::to_vec(
        "307C022004EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73022100E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0042059983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766041321886CA989CA9C7D58087307CA93092D651EFA",
    )
    .unwrap();
    let mut out = [0u8; 160];
    let len = encrypt_with_fixed_nonce(
        key.public_key(),
        msg,
        CiphertextFormat::DER,
        &hex(K),
        &mut out,
    )
    .unwrap();
    assert_eq!(&out[..len], &der_expected[..]);
    let mut plain = [0u8; 19];
    assert_eq!(
        key.decrypt(&der_expected, CiphertextFormat::DER, &mut plain),
        Ok(19)
    );
    assert_eq!(&plain, msg);
}

#[test]
fn standard_key_exchange_example() {
    let d_a = PrivateKey::from_bytes(&hex(
        "81EB26E941BB5AF16DF116495F90695272AE2CD63D6C4AE1678418BE48230029",
    ))
    .unwrap();
    let d_b = PrivateKey::from_bytes(&hex(
        "785129917D45A9EA5437A59356B82338EAADDA6CEB199088F14AE10DEFA229B5",
    ))
    .unwrap();
    let r_a = hex("D4DE15474DB74D06491C440D305E012400990F3E390C7E87153C12DB2EA60BB3");
    let r_b = hex("7E07124814B309489125EAED101113164EBF0F3458C5BD88335C1F9D596243D6");
    let id = DEFAULT_DIST_ID;
    let initiator =
        key_exchange_initiator_with_fixed_ephemeral(&r_a, &d_a, id, d_b.public_key(), id).unwrap();
    let mut key_b = [0u8; 16];
    let (reply, pending) = key_exchange_respond_with_fixed_ephemeral(
        &r_b,
        &d_b,
        id,
        d_a.public_key(),
        id,
        initiator.ephemeral_public_key(),
        &mut key_b,
    )
    .unwrap();
    assert_eq!(
        reply.confirmation,
        hex::<32>("D3A0FE15DEE185CEAE907A6B595CC32A266ED7B3367E9983A896DC32FA20F8EB")
    );
    let mut key_a = [0u8; 16];
    let s_a = initiator
        .finish(
            &reply.ephemeral_public_key,
            Some(&reply.confirmation),
            &mut key_a,
        )
        .unwrap();
    assert_eq!(
        s_a,
        hex::<32>("18C7894B3816DF16CF07B05C5EC0BEF5D655D58F779CC1B400A4F3884644DB88")
    );
    assert_eq!(key_a, hex::<16>("6C89347354DE2484C60B4AB1FDE4C6E5"));
    assert_eq!(pending.confirm(&s_a).unwrap(), &key_a);
}

#[test]
fn random_round_trips() {
    let mut rng = CountingRng(99);
    let a = PrivateKey::generate(&mut rng).unwrap();
    let b = PrivateKey::generate(&mut rng).unwrap();
    let mut out = [0u8; 200];
    let mut plain = [0u8; 64];
    for format in [
        CiphertextFormat::C1C3C2,
        CiphertextFormat::C1C2C3,
        CiphertextFormat::DER,
        CiphertextFormat::Concat {
            mode: Sm2Mode::C1C2C3,
            c1: C1Encoding::Bare,
        },
    ] {
        let len = a
            .public_key()
            .encrypt(&mut rng, b"hello", format, &mut out)
            .unwrap();
        assert_eq!(a.decrypt(&out[..len], format, &mut plain), Ok(5));
        assert_eq!(&plain[..5], b"hello");
        assert_eq!(
            b.decrypt(&out[..len], format, &mut plain),
            Err(Sm2Error::Decryption)
        );
        assert_eq!(plain[..5], [0; 5]);
    }
    let init = KeyExchangeInitiator::new(&mut rng, &a, b"A", b.public_key(), b"B").unwrap();
    let mut kb = [0u8; 48];
    let (reply, pending) = KeyExchangeResponder::respond(
        &mut rng,
        &b,
        b"B",
        a.public_key(),
        b"A",
        init.ephemeral_public_key(),
        &mut kb,
    )
    .unwrap();
    let mut ka = [0u8; 48];
    let s_a = init
        .finish(
            &reply.ephemeral_public_key,
            Some(&reply.confirmation),
            &mut ka,
        )
        .unwrap();
    let mut wrong = s_a;
    wrong[0] ^= 1;
    assert_eq!(pending.confirm(&wrong), Err(Sm2Error::KeyConfirmation));
    assert_eq!(kb, [0u8; 48]);
    assert_ne!(ka, [0u8; 48]);
}
