//! Known-answer tests of the symmetric half, driven by the vector files in
//! `test-vectors/` (GB/T 32905/32907 examples, draft-ribose-cfrg-sm4 modes, pyemv's
//! published 3DES vectors, the KCVs of a PBOC personalisation script, and the
//! self-computed, unconfirmed PBOC values of pboc.md A.4).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use serde_json::Value;
use sscard_apdu::hex;
use sscard_crypto::keys::{self, Algorithm, AnyKey, Des3Key, Sm4Key, SymError};
use sscard_crypto::sm4::{self, Sm4};
use sscard_crypto::{kdf, mac, sm3};

use cipher::{BlockCipherEncrypt, KeyInit};

fn load(name: &str) -> Value {
    let path = format!("{}/../../test-vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn bytes(value: &Value) -> Vec<u8> {
    hex::to_vec(value.as_str().unwrap()).unwrap()
}

fn array<const N: usize>(value: &Value) -> [u8; N] {
    hex::decode_array(value.as_str().unwrap()).unwrap()
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap()
}

fn des3(value: &Value) -> Des3Key {
    Des3Key::new(&bytes(value)).unwrap()
}

#[test]
fn sm3_standard_examples() {
    let v = load("sm-vectors.json");
    let cases = v["sm3"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let msg = text(&case["msg_ascii"]).as_bytes();
        assert_eq!(hex::to_string(&sm3::sm3(msg)), text(&case["digest"]));
        // Streaming over two parts gives the same digest.
        let (a, b) = msg.split_at(msg.len() / 2);
        assert_eq!(
            hex::to_string(&sm3::sm3_parts(&[a, b])),
            text(&case["digest"])
        );
    }
}

#[test]
fn sm4_single_block() {
    let v = load("sm-vectors.json");
    let case = &v["sm4"]["single_block"];
    let key = Sm4Key::from_bytes(array(&case["key"]));
    let mut block = bytes(&case["plaintext"]);
    sm4::ecb_encrypt(&key.cipher(), &mut block).unwrap();
    assert_eq!(hex::to_string(&block), text(&case["ciphertext"]));
    sm4::ecb_decrypt(&key.cipher(), &mut block).unwrap();
    assert_eq!(block, bytes(&case["plaintext"]));
}

/// GB/T 32907 Annex A example 2: 10^6 chained encryptions. About a second in a debug
/// build with this crate's table SM4 (well under that in release).
#[test]
fn sm4_one_million_iterations() {
    let v = load("sm-vectors.json");
    let case = &v["sm4"]["iterated_1e6"];
    let cipher = Sm4::new(&array::<16>(&case["key"]).into());
    let mut block = array::<16>(&case["plaintext"]).into();
    let iterations = case["iterations"].as_u64().unwrap();
    assert_eq!(iterations, 1_000_000);
    for _ in 0..iterations {
        cipher.encrypt_block(&mut block);
    }
    assert_eq!(hex::to_string(&block), text(&case["ciphertext"]));
}

#[test]
fn sm4_modes() {
    let v = load("sm-vectors.json");
    let mut checked = 0;
    for case in v["sm4"]["modes"].as_array().unwrap() {
        let key = Sm4Key::from_bytes(array(&case["key"]));
        let cipher = key.cipher();
        let plaintext = bytes(&case["plaintext"]);
        let expected = bytes(&case["ciphertext"]);
        let mut buf = plaintext.clone();
        let mut out = vec![0u8; plaintext.len() + 5];
        match text(&case["mode"]) {
            "ECB" => {
                sm4::ecb_encrypt(&cipher, &mut buf).unwrap();
                assert_eq!(buf, expected);
                assert_eq!(
                    sm4::ecb_encrypt_into(&cipher, &plaintext, &mut out),
                    Ok(plaintext.len())
                );
                assert_eq!(&out[..plaintext.len()], expected.as_slice());
                sm4::ecb_decrypt(&cipher, &mut buf).unwrap();
                assert_eq!(buf, plaintext);
            }
            "CBC" => {
                let iv = array::<16>(&case["iv"]);
                sm4::cbc_encrypt(&cipher, &iv, &mut buf).unwrap();
                assert_eq!(buf, expected);
                // The same through RustCrypto's SM4 as the backend, and through AnyKey.
                let mut other = plaintext.clone();
                sm4::cbc_encrypt(&::sm4::Sm4::new(key.as_bytes().into()), &iv, &mut other).unwrap();
                assert_eq!(other, expected);
                let mut any = plaintext.clone();
                AnyKey::from(key.clone())
                    .cbc_encrypt(&iv, &mut any)
                    .unwrap();
                assert_eq!(any, expected);
                assert_eq!(
                    sm4::cbc_decrypt_into(&cipher, &iv, &expected, &mut out),
                    Ok(plaintext.len())
                );
                assert_eq!(&out[..plaintext.len()], plaintext.as_slice());
                sm4::cbc_decrypt(&cipher, &iv, &mut buf).unwrap();
                assert_eq!(buf, plaintext);
            }
            // GCM is not in scope of this crate's symmetric half.
            _ => continue,
        }
        checked += 1;
    }
    assert_eq!(checked, 5);
}

#[test]
fn pyemv_option_a_and_common_session_key() {
    let v = load("pboc-vectors.json");
    let p = &v["pyemv_published"];
    let a = &p["icc_mk_option_a"];
    let psn = array::<1>(&a["psn"])[0];
    let icc_mk = kdf::emv_option_a(&des3(&a["iss_mk"]), text(&a["pan"]), Some(psn)).unwrap();
    assert_eq!(hex::to_string(icc_mk.as_bytes()), text(&a["icc_mk"]));

    let c = &p["common_session_key"];
    let sk = kdf::emv_common_session_key(&des3(&c["mk"]), &array(&c["r"]));
    assert_eq!(hex::to_string(sk.as_bytes()), text(&c["sk"]));
}

#[test]
fn kcvs_from_the_perso_script() {
    let v = load("pboc-vectors.json");
    let k = &v["symmetric_keys_from_perso_script"];
    for (key, kcv_3des, kcv_sm4) in [
        ("mk_ac", "kcv_3des", "kcv_sm4_16zero"),
        ("mk_smi", "kcv_3des_smi", "kcv_sm4_smi"),
        ("mk_smc", "kcv_3des_smc", "kcv_sm4_smc"),
    ] {
        let raw = bytes(&k[key]);
        assert_eq!(
            hex::to_string(&Des3Key::new(&raw).unwrap().kcv()),
            text(&k[kcv_3des])
        );
        assert_eq!(
            hex::to_string(&Sm4Key::new(&raw).unwrap().kcv()),
            text(&k[kcv_sm4])
        );
        let any = AnyKey::new(Algorithm::Sm4, &raw).unwrap();
        assert_eq!(hex::to_string(&any.kcv()), text(&k[kcv_sm4]));
    }
    let sm4_key = Sm4Key::new(&bytes(&k["mk_ac"])).unwrap();
    assert_eq!(format!("{sm4_key:?}"), "Sm4Key(KCV 8447EB)");
    assert_eq!(format!("{:?}", des3(&k["mk_ac"])), "Des3Key(KCV 97DCB0)");
}

/// pboc.md A.4: computed with the method of pboc.md §3.2, **not** published expected
/// values. They pin our implementation of that method; they do not confirm the method.
#[test]
fn pboc_self_computed_unconfirmed() {
    let v = load("pboc-vectors.json");
    let u = &v["self_computed_unconfirmed"];
    let mk_ac_bytes = bytes(&v["symmetric_keys_from_perso_script"]["mk_ac"]);
    let mk_ac = Des3Key::new(&mk_ac_bytes).unwrap();

    let sk = kdf::pboc_session_key(&mk_ac, 0x0001);
    assert_eq!(
        hex::to_string(sk.as_bytes()),
        text(&u["pboc_3des_sk_atc0001_mk_ac"])
    );

    // The A.4 contrast value was computed without the parity adjustment that pyemv (and
    // so `emv_common_session_key`) applies; they agree once both have odd parity.
    let csk = kdf::emv_common_session_key(&mk_ac, &[0x00, 0x01, 0, 0, 0, 0, 0, 0]);
    let mut contrast = bytes(&u["emv_csk_same_inputs_for_contrast"]);
    assert!(!keys::has_odd_parity(&contrast));
    keys::adjust_odd_parity(&mut contrast);
    assert_eq!(csk.as_bytes(), contrast.as_slice());

    // [U] hypothesis: SM4 session key of the same form.
    let sm4_sk = kdf::sm4_session_key_hypothesis(&Sm4Key::new(&mk_ac_bytes).unwrap(), 0x0001);
    assert_eq!(
        hex::to_string(sm4_sk.as_bytes()),
        text(&u["sm4_sk_hypothesis_same_inputs"])
    );

    let e = &u["ecash_demo_load"];
    let atc = u16::from_be_bytes(array(&e["atc"]));
    let sk = kdf::pboc_session_key(&des3(&e["mk"]), atc);
    assert_eq!(hex::to_string(sk.as_bytes()), text(&e["sk"]));

    // Script MAC: retail MAC over CLA INS P1 P2 Lc ‖ ATC ‖ ARQC ‖ data, padded 80.
    let arqc = array::<8>(&e["arqc"]);
    let mut script = mac::RetailMac::new(&sk, &[0; 8]).unwrap();
    script.update(&[0x04, 0xDA, 0x9F, 0x79, 0x0A]);
    script.update(&atc.to_be_bytes());
    script.update(&arqc);
    script.update(&bytes(&e["new_balance"]));
    assert_eq!(
        hex::to_string(&mac::truncate4(&script.finalize())),
        text(&e["script_mac4"])
    );
    assert!(text(&e["mac_input"]).starts_with("04DA9F790A0012E2F6ED390FDB4755000000000104"));

    let arpc = kdf::arpc_method_1(&sk, &arqc, b"00");
    assert_eq!(hex::to_string(&arpc), text(&e["arpc_arc3030"]));
}

#[test]
fn retail_mac_equals_its_definition() {
    // ISO/IEC 9797-1 algorithm 3: E_K1(D_K2(H_q)) with H_q from single-DES CBC under K1.
    use cipher::BlockCipherDecrypt;
    let key = Des3Key::from_double(*b"0123456789abcdef");
    let data = b"social security card, retail MAC check";
    let k1 = des::Des::new(b"01234567".into());
    let k2 = des::Des::new(b"89abcdef".into());
    let mut padded = data.to_vec();
    padded.push(0x80);
    while !padded.len().is_multiple_of(8) {
        padded.push(0);
    }
    let mut h = [0u8; 8];
    for block in padded.chunks(8) {
        for (a, b) in h.iter_mut().zip(block) {
            *a ^= b;
        }
        let mut b = h.into();
        k1.encrypt_block(&mut b);
        h = b.into();
    }
    let mut out = h.into();
    k2.decrypt_block(&mut out);
    k1.encrypt_block(&mut out);
    assert_eq!(
        mac::retail_mac(&key, &[0; 8], data),
        Ok(<[u8; 8]>::from(out))
    );
    assert_eq!(
        mac::retail_mac(&Des3Key::from_triple([1; 24]), &[0; 8], data),
        Err(SymError::InvalidKeyLength { len: 24 })
    );
}
