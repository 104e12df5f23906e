//! Property tests of the symmetric half: our table SM4 against RustCrypto `sm4` (the
//! oracle), mode round trips, padding, MAC tamper detection, PIN blocks, and no panics on
//! arbitrary input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use proptest::prelude::*;
use sscard_crypto::keys::{self, AnyKey, Des3Key, DesKey, Sm4Key, SymError};
use sscard_crypto::pin::Pin;
use sscard_crypto::{des3, kdf, mac, pad, sm4};

type MacFn<'a> = dyn Fn(&[u8]) -> Vec<u8> + 'a;

fn whole_blocks(block: usize, max_blocks: usize) -> impl Strategy<Value = Vec<u8>> {
    (0..=max_blocks).prop_flat_map(move |n| proptest::collection::vec(any::<u8>(), n * block))
}

proptest! {
    #[test]
    fn sm4_matches_rustcrypto(key in any::<[u8; 16]>(), block in any::<[u8; 16]>()) {
        let ours = sm4::Sm4::new(&key.into());
        let oracle = ::sm4::Sm4::new(&key.into());
        let mut a = block.into();
        let mut b = block.into();
        ours.encrypt_block(&mut a);
        oracle.encrypt_block(&mut b);
        prop_assert_eq!(a, b);
        ours.decrypt_block(&mut a);
        oracle.decrypt_block(&mut b);
        prop_assert_eq!(<[u8; 16]>::from(a), block);
        prop_assert_eq!(<[u8; 16]>::from(b), block);
    }

    #[test]
    fn sm4_modes_match_rustcrypto_and_round_trip(
        key in any::<[u8; 16]>(),
        iv in any::<[u8; 16]>(),
        data in whole_blocks(16, 8),
    ) {
        let ours = sm4::Sm4::new(&key.into());
        let oracle = ::sm4::Sm4::new(&key.into());
        let mut a = data.clone();
        let mut b = data.clone();
        sm4::cbc_encrypt(&ours, &iv, &mut a).unwrap();
        sm4::cbc_encrypt(&oracle, &iv, &mut b).unwrap();
        prop_assert_eq!(&a, &b);
        sm4::cbc_decrypt(&ours, &iv, &mut a).unwrap();
        prop_assert_eq!(&a, &data);
        sm4::ecb_encrypt(&ours, &mut a).unwrap();
        let mut c = data.clone();
        sm4::ecb_encrypt(&oracle, &mut c).unwrap();
        prop_assert_eq!(&a, &c);
        sm4::ecb_decrypt(&ours, &mut a).unwrap();
        prop_assert_eq!(&a, &data);
    }

    #[test]
    fn des3_cbc_round_trip(
        key in any::<[u8; 24]>(),
        double in any::<bool>(),
        iv in any::<[u8; 8]>(),
        data in whole_blocks(8, 8),
    ) {
        let key = if double { Des3Key::new(&key[..16]).unwrap() } else { Des3Key::from_triple(key) };
        let cipher = key.cipher();
        let mut buf = data.clone();
        des3::cbc_encrypt(&cipher, &iv, &mut buf).unwrap();
        let mut out = vec![0u8; buf.len()];
        prop_assert_eq!(des3::cbc_decrypt_into(&cipher, &iv, &buf, &mut out), Ok(data.len()));
        prop_assert_eq!(&out, &data);
        des3::ecb_encrypt(&cipher, &mut buf).unwrap();
        des3::ecb_decrypt(&cipher, &mut buf).unwrap();
        des3::cbc_decrypt(&cipher, &iv, &mut buf).unwrap();
        prop_assert_eq!(&buf, &data);
    }

    #[test]
    fn unaligned_data_is_rejected_and_left_alone(data in proptest::collection::vec(any::<u8>(), 1..64)) {
        prop_assume!(data.len() % 16 != 0);
        let cipher = sm4::Sm4::new(&[3u8; 16].into());
        let mut buf = data.clone();
        prop_assert_eq!(
            sm4::cbc_encrypt(&cipher, &[0; 16], &mut buf),
            Err(SymError::NotBlockAligned { block_len: 16 })
        );
        prop_assert_eq!(&buf, &data);
        let mut out = vec![0u8; 80];
        prop_assert!(sm4::ecb_encrypt_into(&cipher, &data, &mut out).is_err());
        prop_assert!(out.iter().all(|&b| b == 0));
    }

    #[test]
    fn padding_round_trips(msg in proptest::collection::vec(any::<u8>(), 0..70), block in prop_oneof![Just(8usize), Just(16usize)]) {
        let mut out = vec![0u8; msg.len() + block];
        let len = pad::pad_into(&msg, block, &mut out).unwrap();
        prop_assert_eq!(len, pad::padded_len(msg.len(), block));
        prop_assert!(len > msg.len() && len.is_multiple_of(block) && len - msg.len() <= block);
        prop_assert_eq!(pad::unpad(&out[..len], block), Ok(&msg[..]));
    }

    #[test]
    fn strict_unpad_accepts_exactly_valid_padding(data in proptest::collection::vec(any::<u8>(), 0..48), block in prop_oneof![Just(8usize), Just(16usize)]) {
        match pad::unpad(&data, block) {
            Ok(msg) => {
                // Re-padding the message must give the input back.
                let mut again = vec![0u8; data.len()];
                prop_assert_eq!(pad::pad_into(msg, block, &mut again), Ok(data.len()));
                prop_assert_eq!(&again, &data);
            }
            Err(e) => prop_assert_eq!(e, SymError::Integrity),
        }
    }

    #[test]
    fn padded_decryption_of_garbage_never_panics(key in any::<[u8; 16]>(), data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let cipher = sm4::Sm4::new(&key.into());
        let mut buf = data.clone();
        match sm4::cbc_decrypt_padded(&cipher, &[0; 16], &mut buf) {
            Ok(_) => {}
            Err(e) => {
                let expected = matches!(e, SymError::Integrity | SymError::NotBlockAligned { .. });
                prop_assert!(expected, "unexpected error {:?}", e);
                if e == SymError::Integrity {
                    prop_assert!(buf.iter().all(|&b| b == 0), "decrypted buffer must be wiped");
                }
            }
        }
        let des = Des3Key::from_double([7; 16]).cipher();
        let mut buf = data;
        let _ = des3::ecb_decrypt_padded(&des, &mut buf);
    }

    #[test]
    fn padded_encryption_round_trips(key in any::<[u8; 16]>(), msg in proptest::collection::vec(any::<u8>(), 0..50)) {
        let cipher = sm4::Sm4::new(&key.into());
        let mut buf = msg.clone();
        buf.resize(pad::padded_len(msg.len(), 16), 0xEE);
        let len = sm4::cbc_encrypt_padded(&cipher, &[9; 16], &mut buf, msg.len()).unwrap();
        prop_assert_eq!(sm4::cbc_decrypt_padded(&cipher, &[9; 16], &mut buf[..len]), Ok(&msg[..]));
    }

    #[test]
    fn mac_verification_rejects_any_single_bit_change(
        key in any::<[u8; 16]>(),
        data in proptest::collection::vec(any::<u8>(), 1..40),
        bit in any::<prop::sample::Index>(),
        mac_bit in 0usize..32,
    ) {
        let des3_key = Des3Key::from_double(key);
        let sm4_key = Sm4Key::from_bytes(key);
        let des_key = DesKey::new(&key[..8]).unwrap();
        let macs: [&MacFn; 5] = [
            &|d| mac::retail_mac(&des3_key, &[0; 8], d).unwrap().to_vec(),
            &|d| mac::cbc_mac_des3(&des3_key, &[1; 8], d).to_vec(),
            &|d| mac::cbc_mac_des(&des_key, &[2; 8], d).to_vec(),
            &|d| mac::cbc_mac_sm4(&sm4_key, &[3; 16], d).to_vec(),
            &|d| mac::psam_mac(&AnyKey::Sm4(sm4_key.clone()), &[4; 16], d).unwrap().to_vec(),
        ];
        let flip = bit.index(data.len() * 8);
        let mut tampered = data.clone();
        tampered[flip / 8] ^= 1 << (flip % 8);
        for compute in macs {
            let good = compute(&data);
            prop_assert_eq!(mac::verify(&good, &compute(&data)), Ok(()));
            // A changed message gives a different full MAC.
            prop_assert_eq!(mac::verify(&good, &compute(&tampered)), Err(SymError::Integrity));
            // A changed bit in the (truncated) MAC is rejected.
            let mut sent = good[..4].to_vec();
            prop_assert_eq!(mac::verify_truncated(&good, &sent), Ok(()));
            sent[mac_bit / 8] ^= 1 << (mac_bit % 8);
            prop_assert_eq!(mac::verify_truncated(&good, &sent), Err(SymError::Integrity));
            prop_assert_eq!(mac::verify_truncated(&good, &[]), Err(SymError::Integrity));
            prop_assert_eq!(mac::verify_truncated(&good, &good[..3]), Err(SymError::Integrity));
        }
    }

    #[test]
    fn streaming_macs_do_not_depend_on_the_split(
        key in any::<[u8; 16]>(),
        data in proptest::collection::vec(any::<u8>(), 0..70),
        cut in any::<prop::sample::Index>(),
    ) {
        let cut = cut.index(data.len() + 1);
        let (a, b) = data.split_at(cut);
        let des3_key = Des3Key::from_double(key);
        let mut retail = mac::RetailMac::new(&des3_key, &[0; 8]).unwrap();
        retail.update(a);
        retail.update(b);
        prop_assert_eq!(Ok(retail.finalize()), mac::retail_mac(&des3_key, &[0; 8], &data));
        let mut psam = mac::PsamMac::new(&AnyKey::Des3(des3_key.clone()), &[0; 8]).unwrap();
        psam.update(a);
        psam.update(b);
        prop_assert_eq!(Ok(psam.finalize()), mac::retail_mac(&des3_key, &[0; 8], &data));
        // Caller-padded data through finalize_unpadded gives the same MAC.
        let mut padded = vec![0u8; pad::padded_len(data.len(), 16)];
        pad::pad_into(&data, 16, &mut padded).unwrap();
        let mut sm4_mac = mac::CbcMac::new(Sm4Key::from_bytes(key).cipher(), &[0; 16].into());
        sm4_mac.update(&padded);
        prop_assert_eq!(
            <[u8; 16]>::from(sm4_mac.finalize_unpadded().unwrap()),
            mac::cbc_mac_sm4(&Sm4Key::from_bytes(key), &[0; 16], &data)
        );
    }

    #[test]
    fn pin_blocks_round_trip(digits in "[0-9]{4,12}", pan in "[0-9]{12,19}") {
        let pin = Pin::new(&digits).unwrap();
        let block = pin.iso0_block(&pan).unwrap();
        prop_assert_eq!(Pin::from_iso0_block(&block, &pan), Ok(pin.clone()));
        if digits.len() % 2 == 0 {
            let block = pin.card_block_des3().unwrap();
            prop_assert_eq!(block[0] as usize, digits.len() / 2);
            prop_assert_eq!(Pin::from_card_block(&block[..]), Ok(pin.clone()));
            let block = pin.card_block_sm4().unwrap();
            prop_assert_eq!(Pin::from_card_block(&block[..]), Ok(pin));
        } else {
            prop_assert_eq!(pin.card_block_des3().map(|_| ()), Err(SymError::InvalidPin));
        }
    }

    #[test]
    fn pin_decoding_never_panics(block in proptest::collection::vec(any::<u8>(), 0..20), pan in "[0-9]{0,20}", text in "\\PC{0,14}") {
        let _ = Pin::from_card_block(&block);
        if let Ok(b8) = <[u8; 8]>::try_from(&block[..block.len().min(8)]) {
            let _ = Pin::from_iso0_block(&b8, &pan);
        }
        if let Ok(pin) = Pin::new(&text) {
            prop_assert!(text.len() >= 4 && text.len() <= 12 && text.bytes().all(|b| b.is_ascii_digit()));
            let _ = pin.iso0_block(&pan);
        }
    }

    #[test]
    fn option_a_gives_odd_parity(imk in any::<[u8; 16]>(), pan in "[0-9]{1,19}", psn in 0u8..100) {
        let psn_bcd = ((psn / 10) << 4) | (psn % 10);
        let key = kdf::emv_option_a(&Des3Key::from_double(imk), &pan, Some(psn_bcd)).unwrap();
        prop_assert!(keys::has_odd_parity(key.as_bytes()));
    }
}
