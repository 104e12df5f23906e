//! The bank application as DGIs (data grouping identifiers): what an issuer sends with
//! STORE DATA to personalise a blank card's PBOC application, and how the card turns
//! the DGIs back into the [`perso`] profile the applet runs on.
//!
//! Both directions live here so the issuer ([`from_application`]) and the card
//! ([`to_profile`]) cannot disagree; `to_profile(from_application(p)) == p` is tested.
//! The card side builds a `sscard-pboc-card/1` document from the DGIs and validates it
//! with [`perso::load`], so a DGI set is accepted exactly when the
//! equivalent JSON profile would be.
//!
//! # Layout \[U: ours; numbers follow the \[PS\] script and EMV CPS where the meaning is
//! shared, `spec/pboc.md` §3.1\]
//!
//! | DGI | content |
//! |---|---|
//! | `SSRR` (SS = SFI 01–1E) | record RR of SFI SS, both families (`70` template) |
//! | `SSRR` (SS = 20+SFI / 40+SFI) | the SM2/SM4-only / RSA/3DES-only variant of the record |
//! | `9102` / `9103` | FCI of SELECT on the contact / contactless interface |
//! | `9104` / `9105` | contact GPO answer `82 AIP 94 AFL`, RSA/3DES / SM2/SM4 family |
//! | `9207` / `9208` | contactless GPO answer, RSA/3DES / SM2/SM4 family |
//! | `9200` | IAD template: DKI ‖ CVN ‖ discretionary bytes |
//! | `8000` / `9000` | 3DES MK_AC ‖ MK_SMI ‖ MK_SMC (secret) / their KCVs (3 bytes each) |
//! | `8400` / `9400` | the SM4 key set (secret) / its KCVs |
//! | `8010` / `9010` | the plaintext offline PIN block (secret) / try limit ‖ try counter |
//! | `8201`–`8205` | ICC RSA key: q⁻¹ mod p, d mod (q−1), d mod (p−1), q, p (secret) |
//! | `8501` | ICC SM2 private key d (secret) |
//! | `B001` | application parameters, BER-TLV: `8C`, `8D`, `9F49`, `9F79`, `9F77`, `9F78`, `9F6D`, `9F51`, `9F74`, `9F4D`+`9F4F`, `DF4D`+`DF4F`, `9F6C`, and ours: `DF70` ICC dynamic number length, `DF71` issuer authentication required, `DF72` EC balance in GPO, `DF73` keys are TEST keys |
//! | `B100` / `B1RR` | PSE FCI / PSE directory record RR |
//! | `B200` / `B201` | PPSE FCI / PPSE interfaces (`01` contact, `02` contactless) |
//!
//! Secret DGIs ([`is_secret`]) travel enciphered: value ‖ `80 00…` (ISO/IEC 9797-1
//! padding method 2) enciphered 3DES-ECB under a data-encryption key (DEK) \[U: ours;
//! real cards derive the DEK from a GlobalPlatform secure channel\].

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde_json::{json, Map, Value};
use sscard_apdu::hex;
use sscard_apdu::tlv::ber;
use sscard_crypto::keys::{AnyKey, Des3Key, Sm4Key};
use zeroize::Zeroizing;

use crate::cryptogram::Family;
use crate::oda::rsa::RsaPrivateKey;
use crate::perso::{self, amount_bcd, Application, CardProfile, PersoError};

/// One DGI: its number and (plaintext) value.
pub type Dgi = (u16, Vec<u8>);

/// 3DES card master keys.
pub const KEYS_3DES: u16 = 0x8000;
/// KCVs of [`KEYS_3DES`].
pub const KCV_3DES: u16 = 0x9000;
/// SM4 card master keys.
pub const KEYS_SM4: u16 = 0x8400;
/// KCVs of [`KEYS_SM4`].
pub const KCV_SM4: u16 = 0x9400;
/// Offline PIN block.
pub const PIN: u16 = 0x8010;
/// PIN try limit and counter.
pub const PIN_TRIES: u16 = 0x9010;
/// ICC SM2 private key.
pub const SM2_KEY: u16 = 0x8501;
/// Application parameters (ours).
pub const PARAMETERS: u16 = 0xB001;
/// IAD template.
pub const IAD: u16 = 0x9200;

/// The TEST data-encryption key of emulated blank cards' bank application \[U: ours\].
pub const TEST_DEK: [u8; 16] = [
    0x44, 0x45, 0x4B, 0x54, 0x45, 0x53, 0x54, 0x31, 0x44, 0x45, 0x4B, 0x54, 0x45, 0x53, 0x54, 0x32,
];

/// Why DGIs do not make a bank application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DgiError {
    /// A DGI number this layout does not know.
    Unknown(u16),
    /// A DGI given twice.
    Duplicate(u16),
    /// A mandatory DGI is missing.
    Missing(u16),
    /// A DGI whose value is malformed (length, TLV, padding).
    Malformed(u16),
    /// A key does not match its KCV DGI (the KCV DGI's number).
    Kcv(u16),
    /// The profile cannot be expressed as DGIs (e.g. a record too long for one DGI).
    Unrepresentable,
    /// The DGIs make a profile the profile loader rejects.
    Profile(PersoError),
}

impl fmt::Display for DgiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(d) => write!(f, "unknown DGI {d:04X}"),
            Self::Duplicate(d) => write!(f, "DGI {d:04X} given twice"),
            Self::Missing(d) => write!(f, "DGI {d:04X} missing"),
            Self::Malformed(d) => write!(f, "DGI {d:04X} malformed"),
            Self::Kcv(d) => write!(f, "a key does not match its check values (DGI {d:04X})"),
            Self::Unrepresentable => f.write_str("the profile cannot be written as DGIs"),
            Self::Profile(e) => write!(f, "DGIs make an invalid profile: {e}"),
        }
    }
}

impl core::error::Error for DgiError {}

/// Whether DGI `dgi` carries a secret (enciphered under the DEK in STORE DATA).
pub fn is_secret(dgi: u16) -> bool {
    matches!(dgi, KEYS_3DES | KEYS_SM4 | PIN | SM2_KEY | 0x8201..=0x8205)
}

/// Whether `dgi` is one this layout knows.
pub fn is_known(dgi: u16) -> bool {
    let [hi, lo] = dgi.to_be_bytes();
    let sfi = hi & 0x1F;
    let record = matches!(hi & 0xE0, 0x00 | 0x20 | 0x40) && (1..=30).contains(&sfi) && lo != 0;
    record
        || matches!(
            dgi,
            0x9102..=0x9105
                | 0x9207
                | 0x9208
                | IAD
                | KEYS_3DES
                | KCV_3DES
                | KEYS_SM4
                | KCV_SM4
                | PIN
                | PIN_TRIES
                | 0x8201..=0x8205
                | SM2_KEY
                | PARAMETERS
                | 0xB200
                | 0xB201
        )
        || (hi == 0xB1 && lo != 0xFF)
}

/// Pads `value` (method 2) and enciphers it 3DES-ECB under `dek`.
pub fn encipher(dek: &[u8; 16], value: &[u8]) -> Vec<u8> {
    let mut buf = value.to_vec();
    buf.push(0x80);
    while !buf.len().is_multiple_of(8) {
        buf.push(0);
    }
    // A 16-byte key always makes a 3DES key and a padded buffer always has whole blocks.
    let _ = AnyKey::Des3(Des3Key::from_double(*dek)).ecb_encrypt(&mut buf);
    buf
}

/// Deciphers a secret DGI value and removes its padding.
pub fn decipher(dek: &[u8; 16], dgi: u16, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, DgiError> {
    if blob.is_empty() || !blob.len().is_multiple_of(8) {
        return Err(DgiError::Malformed(dgi));
    }
    let mut buf = Zeroizing::new(blob.to_vec());
    AnyKey::Des3(Des3Key::from_double(*dek))
        .ecb_decrypt(&mut buf)
        .map_err(|_| DgiError::Malformed(dgi))?;
    let end = buf
        .iter()
        .rposition(|b| *b != 0)
        .ok_or(DgiError::Malformed(dgi))?;
    if buf.get(end) != Some(&0x80) || buf.len() - end > 8 {
        return Err(DgiError::Malformed(dgi));
    }
    buf.truncate(end);
    Ok(buf)
}

/// The KCVs of a key set: the first 3 bytes of each key's encryption of zeros.
pub fn kcvs(family: Family, keys: &[u8]) -> Result<[u8; 9], DgiError> {
    let dgi = match family {
        Family::Rsa3Des => KEYS_3DES,
        Family::Sm2Sm4 => KEYS_SM4,
    };
    if keys.len() != 48 {
        return Err(DgiError::Malformed(dgi));
    }
    let mut out = [0u8; 9];
    for (chunk, kcv) in keys.chunks_exact(16).zip(out.chunks_exact_mut(3)) {
        let bytes: [u8; 16] = chunk.try_into().map_err(|_| DgiError::Malformed(dgi))?;
        let key = match family {
            Family::Rsa3Des => AnyKey::Des3(Des3Key::from_double(bytes)),
            Family::Sm2Sm4 => AnyKey::Sm4(Sm4Key::from_bytes(bytes)),
        };
        kcv.copy_from_slice(&key.kcv());
    }
    Ok(out)
}

fn tlv(out: &mut Vec<u8>, tag: u32, value: &[u8]) -> Result<(), DgiError> {
    ber::push(tag, value, out).map_err(|_| DgiError::Unrepresentable)
}

fn gpo_value(g: &perso::GpoData) -> Result<Vec<u8>, DgiError> {
    let mut v = Vec::new();
    tlv(&mut v, 0x82, &g.aip)?;
    tlv(&mut v, 0x94, &g.afl)?;
    Ok(v)
}

/// The DGIs (plaintext) of application `index` of `profile`, with the profile's PSE and
/// PPSE. Secret DGIs still have to be enciphered ([`encipher`]) for STORE DATA.
pub fn from_application(profile: &CardProfile, index: usize) -> Result<Vec<Dgi>, DgiError> {
    let app = profile
        .applications
        .get(index)
        .ok_or(DgiError::Unrepresentable)?;
    let mut out: Vec<Dgi> = Vec::new();
    for r in &app.records {
        let hi = match r.family {
            None => r.sfi,
            Some(Family::Sm2Sm4) => 0x20 | r.sfi,
            Some(Family::Rsa3Des) => 0x40 | r.sfi,
        };
        out.push((u16::from_be_bytes([hi, r.record]), r.data.clone()));
    }
    out.push((0x9102, app.fci_contact.clone()));
    out.push((0x9103, app.fci_contactless.clone()));
    out.push((0x9104, gpo_value(&app.gpo_rsa.contact)?));
    out.push((0x9105, gpo_value(&app.gpo_sm.contact)?));
    out.push((0x9207, gpo_value(&app.gpo_rsa.contactless)?));
    out.push((0x9208, gpo_value(&app.gpo_sm.contactless)?));
    let mut iad = Vec::from([app.iad.dki, app.iad.cvn]);
    iad.extend_from_slice(&app.iad.discretionary);
    out.push((IAD, iad));
    for (family, k, kcv) in [
        (Family::Rsa3Des, KEYS_3DES, KCV_3DES),
        (Family::Sm2Sm4, KEYS_SM4, KCV_SM4),
    ] {
        let keys = app.keys(family);
        let mut bytes = Vec::with_capacity(48);
        bytes.extend_from_slice(&keys.mk_ac);
        bytes.extend_from_slice(&keys.mk_smi);
        bytes.extend_from_slice(&keys.mk_smc);
        let check = kcvs(family, &bytes)?;
        out.push((k, bytes));
        out.push((kcv, check.to_vec()));
    }
    let pin = sscard_crypto::pin::Pin::new(&app.pin).map_err(|_| DgiError::Unrepresentable)?;
    out.push((PIN, pin.plaintext_block().to_vec()));
    out.push((PIN_TRIES, Vec::from([app.pin_try_limit, app.pin_try_limit])));
    if let Some(key) = &app.icc_rsa_private_key {
        let key = key.private_key().map_err(|_| DgiError::Unrepresentable)?;
        let crt = key.crt().map_err(|_| DgiError::Unrepresentable)?;
        let c = key.components();
        out.push((0x8201, crt.qinv.to_vec()));
        out.push((0x8202, crt.dq.to_vec()));
        out.push((0x8203, crt.dp.to_vec()));
        out.push((0x8204, c.q.to_vec()));
        out.push((0x8205, c.p.to_vec()));
    }
    if let Some(d) = &app.icc_sm2_private_key {
        out.push((SM2_KEY, d.to_vec()));
    }
    let mut p = Vec::new();
    tlv(&mut p, 0x8C, &app.cdol1)?;
    tlv(&mut p, 0x8D, &app.cdol2)?;
    tlv(&mut p, 0x9F49, &app.ddol)?;
    tlv(&mut p, 0x9F79, &amount_bcd(app.ec.balance))?;
    tlv(&mut p, 0x9F77, &amount_bcd(app.ec.balance_limit))?;
    tlv(&mut p, 0x9F78, &amount_bcd(app.ec.single_limit))?;
    tlv(&mut p, 0x9F6D, &amount_bcd(app.ec.reset_threshold))?;
    tlv(&mut p, 0x9F51, &app.ec.currency)?;
    tlv(&mut p, 0x9F74, &app.ec.issuer_auth_code)?;
    if let Some(log) = &app.transaction_log {
        tlv(&mut p, 0x9F4D, &log.entry())?;
        tlv(&mut p, 0x9F4F, &log.format)?;
    }
    if let Some(log) = &app.load_log {
        tlv(&mut p, 0xDF4D, &log.entry())?;
        tlv(&mut p, 0xDF4F, &log.format)?;
    }
    tlv(&mut p, 0x9F6C, &app.ctq)?;
    tlv(&mut p, 0xDF70, &[app.icc_dynamic_number_len])?;
    tlv(
        &mut p,
        0xDF71,
        &[u8::from(app.issuer_authentication_required)],
    )?;
    tlv(&mut p, 0xDF72, &[u8::from(app.gpo_ec_balance)])?;
    tlv(&mut p, 0xDF73, &[u8::from(app.keys_test_only)])?;
    out.push((PARAMETERS, p));
    if let Some(pse) = &profile.pse {
        out.push((0xB100, pse.fci.clone()));
        for (i, r) in pse.records.iter().enumerate() {
            let n = u8::try_from(i + 1).map_err(|_| DgiError::Unrepresentable)?;
            out.push((u16::from_be_bytes([0xB1, n]), r.clone()));
        }
    }
    if let Some(ppse) = &profile.ppse {
        out.push((0xB200, ppse.fci.clone()));
        let flags = u8::from(ppse.on_contact) | (u8::from(ppse.on_contactless) << 1);
        out.push((0xB201, Vec::from([flags])));
    }
    Ok(out)
}

/// Looks a DGI up.
fn get(dgis: &[Dgi], dgi: u16) -> Option<&[u8]> {
    dgis.iter()
        .find(|(d, _)| *d == dgi)
        .map(|(_, v)| v.as_slice())
}

fn need(dgis: &[Dgi], dgi: u16) -> Result<&[u8], DgiError> {
    get(dgis, dgi).ok_or(DgiError::Missing(dgi))
}

fn hx(bytes: &[u8]) -> Value {
    Value::String(hex::to_string(bytes))
}

fn gpo_json(dgis: &[Dgi], dgi: u16) -> Result<Value, DgiError> {
    let v = need(dgis, dgi)?;
    let bad = DgiError::Malformed(dgi);
    let aip = ber::find(v, 0x82).map_err(|_| bad)?.ok_or(bad)?;
    let afl = ber::find(v, 0x94).map_err(|_| bad)?.ok_or(bad)?;
    Ok(json!({ "aip": hx(aip), "afl": hx(afl) }))
}

fn keys_json(dgis: &[Dgi], family: Family) -> Result<Value, DgiError> {
    let (k, kcv) = match family {
        Family::Rsa3Des => (KEYS_3DES, KCV_3DES),
        Family::Sm2Sm4 => (KEYS_SM4, KCV_SM4),
    };
    let keys = need(dgis, k)?;
    if keys.len() != 48 {
        return Err(DgiError::Malformed(k));
    }
    if kcvs(family, keys)?.as_slice() != need(dgis, kcv)? {
        return Err(DgiError::Kcv(kcv));
    }
    let part = |i: usize| keys.get(i * 16..i * 16 + 16).map(hx).unwrap_or_default();
    Ok(json!({ "mk_ac": part(0), "mk_smi": part(1), "mk_smc": part(2) }))
}

/// The ICC RSA key from DGIs 8201–8205 and the public exponent, checked: the CRT parts
/// must be those of the primes.
fn rsa_json(dgis: &[Dgi], exponent: &[u8]) -> Result<Option<Value>, DgiError> {
    let parts: Vec<Option<&[u8]>> = (0x8201..=0x8205).map(|d| get(dgis, d)).collect();
    if parts.iter().all(Option::is_none) {
        return Ok(None);
    }
    let mut got = Vec::new();
    for (d, p) in (0x8201u16..).zip(&parts) {
        got.push(p.ok_or(DgiError::Missing(d))?);
    }
    let &[qinv, dq, dp, q, p] = got.as_slice() else {
        return Err(DgiError::Missing(0x8201));
    };
    let key =
        RsaPrivateKey::from_primes(p, q, exponent).map_err(|_| DgiError::Malformed(0x8205))?;
    let crt = key.crt().map_err(|_| DgiError::Malformed(0x8205))?;
    let trim = |b: &[u8]| -> Vec<u8> {
        let start = b.iter().position(|x| *x != 0).unwrap_or(b.len());
        b.get(start..).unwrap_or_default().to_vec()
    };
    for (dgi, given, computed) in [
        (0x8201, qinv, &crt.qinv),
        (0x8202, dq, &crt.dq),
        (0x8203, dp, &crt.dp),
    ] {
        if trim(given) != trim(computed) {
            return Err(DgiError::Malformed(dgi));
        }
    }
    let c = key.components();
    Ok(Some(json!({
        "n": hx(&c.n), "e": hx(&c.e), "d": hx(&c.d), "p": hx(&c.p), "q": hx(&c.q)
    })))
}

fn param(params: &[u8], tag: u32) -> Result<Option<&[u8]>, DgiError> {
    ber::find(params, tag).map_err(|_| DgiError::Malformed(PARAMETERS))
}

fn param_need(params: &[u8], tag: u32) -> Result<&[u8], DgiError> {
    param(params, tag)?.ok_or(DgiError::Malformed(PARAMETERS))
}

fn flag(params: &[u8], tag: u32) -> Result<bool, DgiError> {
    Ok(param(params, tag)? == Some(&[1u8][..]))
}

fn log_json(params: &[u8], entry: u32, format: u32) -> Result<Value, DgiError> {
    match (param(params, entry)?, param(params, format)?) {
        (Some(e), Some(f)) => Ok(json!({ "entry": hx(e), "format": hx(f) })),
        (None, None) => Ok(Value::Null),
        _ => Err(DgiError::Malformed(PARAMETERS)),
    }
}

/// Checks that every DGI is known and none repeats.
pub fn check_set(dgis: &[Dgi]) -> Result<(), DgiError> {
    for (i, (d, _)) in dgis.iter().enumerate() {
        if !is_known(*d) {
            return Err(DgiError::Unknown(*d));
        }
        if dgis.iter().take(i).any(|(o, _)| o == d) {
            return Err(DgiError::Duplicate(*d));
        }
    }
    Ok(())
}

/// The profile (one application `aid`, with PSE/PPSE if their DGIs are present) that
/// plaintext `dgis` personalise, validated by the profile loader.
pub fn to_profile(aid: &[u8], dgis: &[Dgi]) -> Result<CardProfile, DgiError> {
    check_set(dgis)?;
    let mut records = Vec::new();
    let mut sorted: Vec<&Dgi> = dgis.iter().collect();
    sorted.sort_by_key(|(d, _)| *d);
    for (d, v) in &sorted {
        let [hi, lo] = d.to_be_bytes();
        let family = match hi & 0xE0 {
            0x00 => "both",
            0x20 => "sm2sm4",
            0x40 => "rsa3des",
            _ => continue,
        };
        records.push(json!({ "sfi": hi & 0x1F, "record": lo, "family": family, "data": hx(v) }));
    }
    let iad = need(dgis, IAD)?;
    let (dki, cvn, disc) = match iad {
        [dki, cvn, disc @ ..] => (*dki, *cvn, disc),
        _ => return Err(DgiError::Malformed(IAD)),
    };
    let params = need(dgis, PARAMETERS)?;
    let pin_block = need(dgis, PIN)?;
    let pin = sscard_crypto::pin::Pin::from_plaintext_block(pin_block)
        .map_err(|_| DgiError::Malformed(PIN))?;
    let tries = match need(dgis, PIN_TRIES)? {
        [limit, _] => *limit,
        _ => return Err(DgiError::Malformed(PIN_TRIES)),
    };
    let mut app = Map::new();
    app.insert("aid".into(), hx(aid));
    app.insert(
        "fci".into(),
        json!({ "contact": hx(need(dgis, 0x9102)?), "contactless": hx(need(dgis, 0x9103)?) }),
    );
    app.insert(
        "gpo".into(),
        json!({
            "rsa3des": { "contact": gpo_json(dgis, 0x9104)?, "contactless": gpo_json(dgis, 0x9207)? },
            "sm2sm4": { "contact": gpo_json(dgis, 0x9105)?, "contactless": gpo_json(dgis, 0x9208)? },
        }),
    );
    app.insert("records".into(), Value::Array(records));
    app.insert("cdol1".into(), hx(param_need(params, 0x8C)?));
    app.insert("cdol2".into(), hx(param_need(params, 0x8D)?));
    app.insert("ddol".into(), hx(param_need(params, 0x9F49)?));
    app.insert(
        "iad".into(),
        json!({ "dki": hx(&[dki]), "cvn": hx(&[cvn]), "discretionary": hx(disc) }),
    );
    app.insert(
        "keys".into(),
        json!({
            "test_only": flag(params, 0xDF73)?,
            "rsa3des": keys_json(dgis, Family::Rsa3Des)?,
            "sm2sm4": keys_json(dgis, Family::Sm2Sm4)?,
        }),
    );
    if let Some(d) = get(dgis, SM2_KEY) {
        app.insert("icc_sm2_private_key".into(), hx(d));
    }
    // The public exponent is the one the ICC certificate's records carry (9F47).
    let exponent = sorted
        .iter()
        .find_map(|(d, v)| {
            let [hi, _] = d.to_be_bytes();
            (hi < 0x80)
                .then(|| ber::find(v, 0x9F47).ok().flatten())
                .flatten()
        })
        .unwrap_or(&[0x03]);
    if let Some(rsa) = rsa_json(dgis, exponent)? {
        app.insert("icc_rsa_private_key".into(), rsa);
    }
    let dn = param_need(params, 0xDF70)?;
    let &[dn_len] = dn else {
        return Err(DgiError::Malformed(PARAMETERS));
    };
    app.insert("icc_dynamic_number_len".into(), json!(dn_len));
    app.insert("gpo_ec_balance".into(), json!(flag(params, 0xDF72)?));
    let mut ascii = Zeroizing::new([0u8; 12]);
    let len = pin
        .write_ascii(ascii.as_mut_slice())
        .map_err(|_| DgiError::Malformed(PIN))?;
    let digits: Zeroizing<String> = Zeroizing::new(
        ascii
            .get(..len)
            .unwrap_or_default()
            .iter()
            .map(|b| char::from(*b))
            .collect(),
    );
    app.insert(
        "pin".into(),
        json!({ "digits": digits.as_str(), "try_limit": tries }),
    );
    app.insert(
        "issuer_authentication_required".into(),
        json!(flag(params, 0xDF71)?),
    );
    app.insert(
        "ec".into(),
        json!({
            "balance": hx(param_need(params, 0x9F79)?),
            "balance_limit": hx(param_need(params, 0x9F77)?),
            "single_limit": hx(param_need(params, 0x9F78)?),
            "reset_threshold": hx(param_need(params, 0x9F6D)?),
            "currency": hx(param_need(params, 0x9F51)?),
            "issuer_auth_code": hx(param_need(params, 0x9F74)?),
        }),
    );
    let tlog = log_json(params, 0x9F4D, 0x9F4F)?;
    if !tlog.is_null() {
        app.insert("transaction_log".into(), tlog);
    }
    let llog = log_json(params, 0xDF4D, 0xDF4F)?;
    if !llog.is_null() {
        app.insert("load_log".into(), llog);
    }
    app.insert(
        "qpboc".into(),
        json!({ "ctq": hx(param_need(params, 0x9F6C)?) }),
    );

    let mut doc = Map::new();
    doc.insert("format".into(), json!(perso::FORMAT));
    doc.insert("label".into(), json!("personalised from DGIs"));
    if let Some(fci) = get(dgis, 0xB100) {
        let mut recs = Vec::new();
        for n in 1..=0xFEu8 {
            match get(dgis, u16::from_be_bytes([0xB1, n])) {
                Some(r) => recs.push(hx(r)),
                None => break,
            }
        }
        let value = ber::find(fci, 0x6F)
            .ok()
            .flatten()
            .ok_or(DgiError::Malformed(0xB100))?;
        let sfi = match ber::find(value, 0xA5) {
            Ok(Some(a5)) => ber::find(a5, 0x88).ok().flatten(),
            _ => None,
        };
        let &[sfi] = sfi.ok_or(DgiError::Malformed(0xB100))? else {
            return Err(DgiError::Malformed(0xB100));
        };
        doc.insert(
            "pse".into(),
            json!({ "fci": hx(fci), "sfi": sfi, "records": recs }),
        );
    }
    if let Some(fci) = get(dgis, 0xB200) {
        let flags = match need(dgis, 0xB201)? {
            [f] => *f,
            _ => return Err(DgiError::Malformed(0xB201)),
        };
        let mut interfaces = Vec::new();
        if flags & 1 != 0 {
            interfaces.push("contact");
        }
        if flags & 2 != 0 {
            interfaces.push("contactless");
        }
        doc.insert(
            "ppse".into(),
            json!({ "fci": hx(fci), "interfaces": interfaces }),
        );
    }
    doc.insert(
        "applications".into(),
        Value::Array(Vec::from([Value::Object(app)])),
    );
    let text: Zeroizing<String> = Zeroizing::new(
        serde_json::to_string(&Value::Object(doc)).map_err(|_| DgiError::Unrepresentable)?,
    );
    perso::load(&text).map_err(DgiError::Profile)
}

/// The application of a one-application profile (what [`to_profile`] returns).
pub fn only_application(profile: &CardProfile) -> Option<&Application> {
    profile.applications.first()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARD: &str = include_str!("../../../apdu-specs/pboc/card.json");

    fn sample() -> (CardProfile, Vec<Dgi>) {
        let profile = perso::load(CARD).unwrap();
        let dgis = from_application(&profile, 0).unwrap();
        (profile, dgis)
    }

    #[test]
    fn round_trip_gives_the_same_application_pse_and_ppse() {
        let (profile, dgis) = sample();
        let back = to_profile(&profile.applications[0].aid, &dgis).unwrap();
        assert_eq!(back.applications, profile.applications);
        assert_eq!(back.pse, profile.pse);
        assert_eq!(back.ppse, profile.ppse);
    }

    #[test]
    fn every_dgi_is_known_and_secret_ones_are_the_keys_and_pin() {
        let (_, dgis) = sample();
        check_set(&dgis).unwrap();
        let secret: Vec<u16> = dgis
            .iter()
            .map(|(d, _)| *d)
            .filter(|d| is_secret(*d))
            .collect();
        assert_eq!(
            secret,
            [0x8000, 0x8400, 0x8010, 0x8201, 0x8202, 0x8203, 0x8204, 0x8205, 0x8501]
        );
    }

    #[test]
    fn kcvs_of_the_3des_test_keys_match_the_spec_sample() {
        // spec/pboc.md §3.1: the [PS] 3DES keys' KCVs are 97DCB0 CE4E2C B37DF3 [V].
        let (_, dgis) = sample();
        assert_eq!(
            get(&dgis, KCV_3DES).unwrap(),
            hex::to_vec("97DCB0CE4E2CB37DF3").unwrap()
        );
    }

    #[test]
    fn wrong_kcv_missing_and_unknown_dgis_are_refused() {
        let (profile, dgis) = sample();
        let aid = profile.applications[0].aid.clone();
        let mut bad = dgis.clone();
        bad.iter_mut().find(|(d, _)| *d == KCV_SM4).unwrap().1[0] ^= 1;
        assert_eq!(to_profile(&aid, &bad), Err(DgiError::Kcv(KCV_SM4)));
        let missing: Vec<Dgi> = dgis.iter().filter(|(d, _)| *d != PIN).cloned().collect();
        assert_eq!(to_profile(&aid, &missing), Err(DgiError::Missing(PIN)));
        let mut unknown = dgis.clone();
        unknown.push((0x7F01, vec![0]));
        assert_eq!(to_profile(&aid, &unknown), Err(DgiError::Unknown(0x7F01)));
        let mut twice = dgis.clone();
        twice.push((IAD, vec![1, 1]));
        assert_eq!(to_profile(&aid, &twice), Err(DgiError::Duplicate(IAD)));
        let mut crt = dgis;
        crt.iter_mut().find(|(d, _)| *d == 0x8203).unwrap().1[5] ^= 1;
        assert_eq!(to_profile(&aid, &crt), Err(DgiError::Malformed(0x8203)));
    }

    #[test]
    fn a_record_that_breaks_the_afl_is_a_profile_error() {
        let (profile, dgis) = sample();
        let trimmed: Vec<Dgi> = dgis.into_iter().filter(|(d, _)| *d != 0x0301).collect();
        assert!(matches!(
            to_profile(&profile.applications[0].aid, &trimmed),
            Err(DgiError::Profile(_))
        ));
    }

    #[test]
    fn encipher_decipher_round_trip_and_bad_padding() {
        let blob = encipher(&TEST_DEK, &[1, 2, 3, 0, 0]);
        assert_eq!(blob.len(), 8);
        assert_eq!(
            decipher(&TEST_DEK, 0x8000, &blob).unwrap().as_slice(),
            &[1, 2, 3, 0, 0]
        );
        let mut other = TEST_DEK;
        other[0] ^= 0x02; // not the parity bit, which DES ignores
        assert!(decipher(&other, 0x8000, &blob).is_err());
        assert!(decipher(&TEST_DEK, 0x8000, &blob[..7]).is_err());
        assert_eq!(encipher(&TEST_DEK, &[0; 8]).len(), 16);
    }
}
