//! The emulation key scheme, the diversification factors of sscard.md §3.3, the PSAM
//! flows of §3.4/§3.5 run with software keys, and secret hygiene (`Debug`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use cipher::{BlockCipherEncrypt, KeyInit};
use sscard_apdu::hex;
use sscard_crypto::kdf::{DivFactor, DivPath, EmulationScheme, KeyScheme, KeyType, KeyUsage};
use sscard_crypto::keys::{AnyKey, Des3Key, Sm4Key, SymError};
use sscard_crypto::pin::Pin;
use sscard_crypto::{mac, pad};

/// Step1 example of sscard.md §3.8 (card reset information and identification code).
const ATR: &str = "00904A3001866033110000048A";
const CARD_ID: &str = "331100D156000005500509728DB46EF9";

fn h(text: &str) -> Vec<u8> {
    hex::to_vec(text).unwrap()
}

#[test]
fn factors_have_the_exact_bytes_of_the_spec() {
    let atr = h(ATR);
    assert_eq!(
        hex::to_string(DivFactor::card(&atr).unwrap().as_bytes()),
        "866033110000048A"
    );
    // "331100" ‖ "sx"; "33" ‖ "0000" ‖ "sh".
    assert_eq!(
        hex::to_string(DivFactor::city(CARD_ID).unwrap().as_bytes()),
        "3333313130307378"
    );
    assert_eq!(
        hex::to_string(DivFactor::province(CARD_ID).unwrap().as_bytes()),
        "3333303030307368"
    );
    assert_eq!(DivFactor::city("331100"), DivFactor::city(CARD_ID));
    assert_eq!(
        DivFactor::card(&atr[..7]),
        Err(SymError::InvalidDiversificationInput)
    );
    assert_eq!(
        DivFactor::city("33110"),
        Err(SymError::InvalidDiversificationInput)
    );
    assert_eq!(
        DivFactor::city("3311A0"),
        Err(SymError::InvalidDiversificationInput)
    );
    assert_eq!(
        DivFactor::province("3"),
        Err(SymError::InvalidDiversificationInput)
    );
}

#[test]
fn bf_de_factor_order_card_city_province() {
    let atr = h(ATR);
    for levels in 1..=3u8 {
        let path = DivPath::from_card(&atr, CARD_ID, levels).unwrap();
        assert_eq!(path.levels(), levels);
        let mut data = [0u8; 24];
        let n = path.write_factor_bytes(&mut data).unwrap();
        assert_eq!(n, 8 * usize::from(levels));
        let expected = ["866033110000048A", "3333313130307378", "3333303030307368"]
            [..usize::from(levels)]
            .concat();
        assert_eq!(hex::to_string(&data[..n]), expected);
        assert_eq!(DivPath::from_factor_bytes(&data[..n]), Ok(path));
    }
    assert!(DivPath::from_card(&atr, CARD_ID, 0).is_err());
    assert!(DivPath::from_card(&atr, CARD_ID, 4).is_err());
    assert!(DivPath::from_factor_bytes(&[0; 12]).is_err());
    assert!(DivPath::from_factor_bytes(&[]).is_err());
}

#[test]
fn key_usage_byte() {
    assert_eq!(KeyUsage(0x27).levels(), 1);
    assert_eq!(KeyUsage(0x27).key_type(), KeyType::Encryption);
    assert_eq!(KeyUsage(0x48).levels(), 2);
    assert_eq!(KeyUsage(0x48).key_type(), KeyType::MacEncryption);
    assert_eq!(KeyUsage(0x67).levels(), 3);
    assert_eq!(KeyUsage(0x2C).key_type(), KeyType::Other(12));
}

fn des3_encrypt(key: &[u8], block: [u8; 8]) -> [u8; 8] {
    let cipher = des::TdesEde2::new_from_slice(key).unwrap();
    let mut b = block.into();
    cipher.encrypt_block(&mut b);
    b.into()
}

fn sm4_encrypt(key: &[u8], block: [u8; 16]) -> [u8; 16] {
    let cipher = ::sm4::Sm4::new_from_slice(key).unwrap();
    let mut b = block.into();
    cipher.encrypt_block(&mut b);
    b.into()
}

#[test]
fn emulation_scheme_3des_definition() {
    let master = [0x11u8; 8]
        .iter()
        .chain(&[0x22u8; 8])
        .copied()
        .collect::<Vec<_>>();
    let f = [1, 2, 3, 4, 5, 6, 7, 8];
    let child = EmulationScheme
        .diversify_once(&AnyKey::Des3(Des3Key::new(&master).unwrap()), &DivFactor(f))
        .unwrap();
    let mut expected = des3_encrypt(&master, f).to_vec();
    expected.extend(des3_encrypt(&master, f.map(|b| !b)));
    assert_eq!(child.as_bytes(), expected.as_slice());

    let r = [9, 8, 7, 6, 5, 4, 3, 2];
    let pk = EmulationScheme.process_key(&child, &r).unwrap();
    let mut expected_pk = des3_encrypt(&expected, r).to_vec();
    expected_pk.extend(des3_encrypt(&expected, r.map(|b| !b)));
    assert_eq!(pk.as_bytes(), expected_pk.as_slice());
}

#[test]
fn emulation_scheme_sm4_definition() {
    let master = [0x5Au8; 16];
    let f = [1, 2, 3, 4, 5, 6, 7, 8];
    let child = EmulationScheme
        .diversify_once(&AnyKey::Sm4(Sm4Key::from_bytes(master)), &DivFactor(f))
        .unwrap();
    let mut factor = [0u8; 16];
    factor[..8].copy_from_slice(&f);
    factor[8..].copy_from_slice(&f.map(|b| !b));
    let expected = sm4_encrypt(&master, factor);
    assert_eq!(child.as_bytes(), &expected);

    let r = [9, 8, 7, 6, 5, 4, 3, 2];
    let pk = EmulationScheme.process_key(&child, &r).unwrap();
    let mut process_factor = [0u8; 16];
    process_factor[..8].copy_from_slice(&r);
    assert_eq!(pk.as_bytes(), &sm4_encrypt(&expected, process_factor));
}

#[test]
fn diversification_runs_down_the_hierarchy() {
    let atr = h(ATR);
    for master in [
        AnyKey::Des3(Des3Key::from_double(*b"top-level 3DES k")),
        AnyKey::Sm4(Sm4Key::from_bytes(*b"top-level SM4 k!")),
    ] {
        let card = DivFactor::card(&atr).unwrap();
        let city = DivFactor::city(CARD_ID).unwrap();
        let province = DivFactor::province(CARD_ID).unwrap();
        let scheme = EmulationScheme;
        // Province key, then city key, then card key.
        let province_key = scheme.diversify_once(&master, &province).unwrap();
        let city_key = scheme.diversify_once(&province_key, &city).unwrap();
        let card_key = scheme.diversify_once(&city_key, &card).unwrap();
        // A PSAM with the top-level key (3 levels), the province key (2 levels) and the
        // city key (1 level) all reach the same card key.
        let three = DivPath::from_card(&atr, CARD_ID, 3).unwrap();
        let two = DivPath::from_card(&atr, CARD_ID, 2).unwrap();
        let one = DivPath::from_card(&atr, CARD_ID, 1).unwrap();
        assert_eq!(scheme.diversify(&master, &three).unwrap(), card_key);
        assert_eq!(scheme.diversify(&province_key, &two).unwrap(), card_key);
        assert_eq!(scheme.diversify(&city_key, &one).unwrap(), card_key);
        assert_eq!(card_key.algorithm(), master.algorithm());
    }
}

/// External authentication (sscard.md §3.4) with the emulation scheme on both sides: the
/// terminal's (software) PSAM and the card derive the same process key.
#[test]
fn external_authentication_round_trip() {
    let atr = h(ATR);
    let master = AnyKey::Sm4(Sm4Key::from_bytes([0x42; 16]));
    let path = DivPath::from_card(&atr, CARD_ID, 2).unwrap();
    let challenge = [0x4F, 0x5F, 0xB5, 0x93, 0x2F, 0x10, 0x69, 0x4D];
    let scheme = EmulationScheme;

    // PSAM: BF DE … then 80 FA 00 00 10 P.
    let psam_card_key = scheme.diversify(&master, &path).unwrap();
    let process = scheme.process_key(&psam_card_key, &challenge).unwrap();
    let mut cryptogram = [0x11u8; 16];
    process.ecb_encrypt(&mut cryptogram).unwrap();

    // Card: its own copy of the card key, the challenge it issued.
    let card_key = scheme.diversify(&master, &path).unwrap();
    let mut check = [0x11u8; 16];
    scheme
        .process_key(&card_key, &challenge)
        .unwrap()
        .ecb_encrypt(&mut check)
        .unwrap();
    assert_eq!(mac::verify(&check, &cryptogram), Ok(()));
}

/// PIN reload (sscard.md §3.5): EncPIN = E_pk(len ‖ BCD ‖ 80 00…), MAC over
/// `84 24 00 01 0C ‖ EncPIN` padded, IV 0, first 4 bytes.
#[test]
fn pin_reload_message() {
    let card_key = AnyKey::Des3(Des3Key::from_double([0x24; 16]));
    let process = EmulationScheme
        .process_key(&card_key, &[1, 2, 3, 4, 5, 6, 7, 8])
        .unwrap();
    let pin = Pin::new("123456").unwrap();
    let mut enc_pin = *pin.card_block_des3().unwrap();
    assert_eq!(hex::to_string(&enc_pin), "0312345680000000");
    process.ecb_encrypt(&mut enc_pin).unwrap();

    // Terminal side: the message unpadded, PsamMac pads.
    let mut mac_stream = mac::PsamMac::new(&process, &[0; 8]).unwrap();
    mac_stream.update(&[0x84, 0x24, 0x00, 0x01, 0x0C]);
    mac_stream.update(&enc_pin);
    let terminal = mac_stream.finalize();

    // Emulated PSAM side: 80 FA 05 00 18 IV(8) ‖ data padded 80 00 00 (16 bytes).
    let mut padded = [0u8; 16];
    let msg: Vec<u8> = [0x84, 0x24, 0x00, 0x01, 0x0C]
        .iter()
        .chain(&enc_pin)
        .copied()
        .collect();
    assert_eq!(pad::pad_into(&msg, 8, &mut padded), Ok(16));
    assert_eq!(&padded[13..], &[0x80, 0, 0]);
    let mut psam = mac::PsamMac::new(&process, &[0; 8]).unwrap();
    psam.update(&padded);
    assert_eq!(psam.finalize_unpadded(), Ok(terminal));
    // [U] the 3DES PSAM MAC is taken to be the retail MAC.
    let AnyKey::Des3(process_des3) = &process else {
        unreachable!()
    };
    assert_eq!(mac::retail_mac(process_des3, &[0; 8], &msg), Ok(terminal));

    // The card receives EncPIN ‖ MAC4 and checks it.
    let mac4 = mac::truncate4(&terminal);
    assert_eq!(mac::verify_truncated(&terminal, &mac4), Ok(()));
    let mut dec = enc_pin;
    process.ecb_decrypt(&mut dec).unwrap();
    assert_eq!(Pin::from_card_block(&dec), Ok(pin));
}

#[test]
fn psam_mac_rejects_bad_iv_and_key_lengths() {
    let des3 = AnyKey::Des3(Des3Key::from_double([1; 16]));
    let sm4 = AnyKey::Sm4(Sm4Key::from_bytes([1; 16]));
    assert!(matches!(
        mac::psam_mac(&des3, &[0; 16], b"x"),
        Err(SymError::InvalidIvLength { len: 16 })
    ));
    assert!(matches!(
        mac::psam_mac(&sm4, &[0; 8], b"x"),
        Err(SymError::InvalidIvLength { len: 8 })
    ));
    let triple = AnyKey::Des3(Des3Key::from_triple([1; 24]));
    assert!(matches!(
        mac::psam_mac(&triple, &[0; 8], b"x"),
        Err(SymError::InvalidKeyLength { len: 24 })
    ));
    let mut unaligned = mac::PsamMac::new(&sm4, &[0; 16]).unwrap();
    unaligned.update(&[0; 15]);
    assert!(matches!(
        unaligned.finalize_unpadded(),
        Err(SymError::NotBlockAligned { block_len: 16 })
    ));
    let empty = mac::PsamMac::new(&des3, &[0; 8]).unwrap();
    assert!(empty.finalize_unpadded().is_err());
}

/// A region with the real algorithm plugs in through `KeyScheme`; the default
/// `diversify` keeps the factor order.
#[test]
fn key_scheme_is_pluggable() {
    struct XorScheme;
    impl KeyScheme for XorScheme {
        fn diversify_once(&self, parent: &AnyKey, factor: &DivFactor) -> Result<AnyKey, SymError> {
            let mut bytes = parent.as_bytes().to_vec();
            for (i, b) in bytes.iter_mut().enumerate() {
                *b = b.rotate_left(1) ^ factor.0[i % 8];
            }
            AnyKey::new(parent.algorithm(), &bytes)
        }
        fn process_key(&self, card_key: &AnyKey, challenge: &[u8; 8]) -> Result<AnyKey, SymError> {
            self.diversify_once(card_key, &DivFactor(*challenge))
        }
    }
    let master = AnyKey::Sm4(Sm4Key::from_bytes([0; 16]));
    let path = DivPath::card_city(DivFactor([1; 8]), DivFactor([2; 8]));
    let key = XorScheme.diversify(&master, &path).unwrap();
    // city (2) first, then card (1): ((0 ^ 2) << 1) ^ 1 = 5.
    assert_eq!(key.as_bytes(), &[5u8; 16]);
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let key = Des3Key::from_double(*b"0123456789ABCDEF");
    let shown = format!("{key:?} {:?} {:?}", key.cipher(), AnyKey::Des3(key.clone()));
    assert!(
        !shown.contains("0123") && !shown.contains("3031"),
        "{shown}"
    );
    assert!(shown.starts_with("Des3Key(KCV "));
    let sm4 = Sm4Key::from_bytes(*b"0123456789ABCDEF");
    let shown = format!("{sm4:?} {:?}", sm4.cipher());
    assert!(
        !shown.contains("0123") && !shown.contains("3031"),
        "{shown}"
    );
    assert_eq!(
        format!("{:?}", Pin::new("123456").unwrap()),
        "Pin(<redacted>)"
    );
    // Constant-time equality still behaves as equality.
    assert_eq!(sm4, Sm4Key::from_bytes(*b"0123456789ABCDEF"));
    assert_ne!(sm4, Sm4Key::from_bytes(*b"0123456789ABCDEG"));
    assert_ne!(AnyKey::Sm4(sm4), AnyKey::Des3(key));
}
