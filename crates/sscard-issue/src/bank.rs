//! The bank (PBOC) application: per-holder personalisation data from a bank
//! personalisation profile, written to a blank card's bank application with STORE DATA
//! of DGIs (`sscard_emv::dgi`, `apdu-specs/cos-emulated.md` "Bank application").
//!
//! A bank personalisation profile (format `sscard-bank-perso/1`,
//! `apdu-specs/pboc/bank-issuer.json`) names the application template (a
//! `sscard-pboc-card/1` card profile, whose first application is used), the issuer's
//! TEST PKI (`test-pki.json`: issuer keys that sign the per-card certificates), the
//! issuer master keys and the DEK:
//!
//! ```text
//! { "format": "sscard-bank-perso/1", "warning",
//!   "card_profile": "card.json", "test_pki": "test-pki.json",   (paths relative to the file)
//!   "issuer_id": "62280001",            (the PAN prefix the issuer certificates carry)
//!   "imk": { "test_only", "rsa3des": {mk_ac, mk_smi, mk_smc}, "sm2sm4": {…} },
//!   "dek": hex (default sscard_emv::dgi::TEST_DEK),
//!   "icc_rsa_key": "profile" | "per-card" }
//! ```
//!
//! For each holder ([`BankProfile::personalise`]):
//!
//! * the records get the holder's PAN (`5A`, and in the track-2 equivalent `57`), PAN
//!   sequence number (`5F34`), expiry (`5F24`, and in `57`), effective date (`5F25`)
//!   and ID number (`9F61`, with ID type `9F62` = `00`, the resident identity card
//!   \[U: type code\]) where the template has those tags; the cardholder name `5F20`
//!   (format *ans*, not GBK) stays the template's;
//! * the card master keys (MK_AC, MK_SMI, MK_SMC) are derived from the issuer master
//!   keys: 3DES with EMV Option A from PAN and PSN (`spec/pboc.md` §3.1 \[S\], the
//!   published vector is tested), SM4 with the analogue `SM4_IMK(Y ‖ ~Y)` over the same
//!   8 bytes `Y` \[U: ours; no public source\];
//! * a per-card SM2 ICC key pair and its ICC certificate (`9F46`) signed by the TEST
//!   issuer key, and both families' SSADs (`93`) over the card's own static data;
//! * the RSA ICC certificate (`9F46`, `9F48`) for the card's PAN, signed by the TEST
//!   issuer key, with a per-card key of the template key's size (`"per-card"`, what
//!   `bank-issuer.json` ships) or the template's ICC RSA key for every card
//!   (`"profile"`, the default when the field is absent). Measured with
//!   `cargo run --release -p sscard-issue --example bank-rate`: about 1 ms per card
//!   with the template's key, about 9 ms with a per-card 1024-bit key (one core), small
//!   beside a card's issuance time, hence per-card in the shipped profile.
//!
//! Per-card keys come from a deterministic TEST generator seeded with the TEST PKI's
//! public seed and the PAN \[TEST: a real issuer generates them in its HSM\].

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use sscard_apdu::tlv::ber;
use sscard_apdu::trace::Trace;
use sscard_apdu::{CommandBuilder, Exchange, Status, Transport};
use sscard_crypto::keys::{AnyKey, Des3Key, Sm4Key};
use sscard_crypto::sm2::PrivateKey;
use sscard_emv::cryptogram::Family;
use sscard_emv::dgi::{self, Dgi};
use sscard_emv::oda::rsa::{self as oda_rsa, RsaPrivateKey};
use sscard_emv::oda::sm2::{self as oda_sm2, Sm2Profile};
use sscard_emv::oda::testpki::{TestPki, TestRng};
use sscard_emv::perso::{self, Application, CardProfile, IccRsaKey, MasterKeys};
use zeroize::Zeroizing;

/// The format string of bank personalisation profiles.
pub const FORMAT: &str = "sscard-bank-perso/1";

/// Why a bank application cannot be prepared or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BankError {
    /// The bank profile (or a file it names) is unreadable or invalid.
    #[error("bank profile: {0}")]
    Profile(String),
    /// A holder's PAN the profile cannot issue (not 16–19 digits, or another issuer's).
    #[error("PAN {pan}: {reason}")]
    Pan {
        /// The PAN.
        pan: String,
        /// Why.
        reason: &'static str,
    },
    /// A date that is not `YYYYMMDD`, or an expiry beyond the issuer certificate's.
    #[error("{0}")]
    Date(String),
    /// Key derivation, key generation or signing failed.
    #[error("bank keys: {0}")]
    Crypto(String),
    /// The DGIs could not be built.
    #[error(transparent)]
    Dgi(#[from] dgi::DgiError),
    /// The card's bank application is personalised already.
    #[error("the card's bank application is personalised already")]
    AlreadyPersonalised,
    /// The card's bank application was cut off part-way (re-issue on another card).
    #[error("the card's bank application is half personalised ({stored} DGIs stored)")]
    HalfPersonalised {
        /// DGIs the card holds.
        stored: u8,
    },
    /// The card has no blank bank application with the profile's AID.
    #[error("the card has no bank application {aid} to personalise ({status})")]
    NoApplication {
        /// The AID, hex.
        aid: String,
        /// The card's answer.
        status: Status,
    },
    /// The card refused a command.
    #[error("{step}: card answered {status}")]
    Card {
        /// What was being done.
        step: String,
        /// The status word.
        status: Status,
    },
    /// The reader failed.
    #[error("{step}: {error}")]
    Exchange {
        /// What was being done.
        step: String,
        /// The reader's error.
        error: String,
    },
}

type R<T> = Result<T, BankError>;

fn profile_err(what: impl fmt::Display) -> BankError {
    BankError::Profile(what.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    mk_ac: Zeroizing<String>,
    mk_smi: Zeroizing<String>,
    mk_smc: Zeroizing<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImk {
    #[serde(default)]
    test_only: bool,
    rsa3des: RawKeys,
    sm2sm4: RawKeys,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBankProfile {
    format: String,
    #[serde(default)]
    #[allow(dead_code)]
    warning: String,
    card_profile: String,
    test_pki: String,
    issuer_id: String,
    imk: RawImk,
    #[serde(default)]
    dek: Option<Zeroizing<String>>,
    #[serde(default)]
    icc_rsa_key: Option<String>,
}

/// The issuer master keys of one family (AC, SMI, SMC).
#[derive(Clone, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
struct Imk([[u8; 16]; 3]);

impl fmt::Debug for Imk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Imk(..)")
    }
}

fn key16(field: &str, text: &str) -> R<[u8; 16]> {
    sscard_apdu::hex::decode_array::<16>(text)
        .map_err(|_| profile_err(format_args!("{field}: not 16 bytes of hex")))
}

impl Imk {
    fn from_raw(family: &str, raw: &RawKeys) -> R<Self> {
        Ok(Self([
            key16(&format!("imk.{family}.mk_ac"), &raw.mk_ac)?,
            key16(&format!("imk.{family}.mk_smi"), &raw.mk_smi)?,
            key16(&format!("imk.{family}.mk_smc"), &raw.mk_smc)?,
        ]))
    }
}

/// The 8 bytes `Y` of EMV Option A: the rightmost 16 digits of PAN ‖ PSN (left-padded
/// with zeros), BCD.
fn option_a_input(pan: &str, psn: u8) -> R<[u8; 8]> {
    let digits = format!("{pan}{psn:02}");
    let padded = format!("{digits:0>16}");
    let tail = padded
        .get(padded.len().saturating_sub(16)..)
        .unwrap_or_default();
    sscard_apdu::hex::decode_array::<8>(tail).map_err(|_| BankError::Pan {
        pan: pan.to_owned(),
        reason: "not decimal digits",
    })
}

/// Derives a card master key from an issuer master key (`spec/pboc.md` §3.1).
///
/// * 3DES: EMV Option A, `3DES_IMK(Y) ‖ 3DES_IMK(Y ⊕ FF…FF)` with odd parity \[S\].
/// * SM4: `SM4_IMK(Y ‖ (Y ⊕ FF…FF))` \[U: ours, by analogy; no public source\].
pub fn derive_card_key(family: Family, imk: &[u8; 16], pan: &str, psn: u8) -> R<[u8; 16]> {
    let crypto = |e: sscard_crypto::keys::SymError| BankError::Crypto(e.to_string());
    match family {
        Family::Rsa3Des => {
            let imk = Des3Key::from_double(*imk);
            let mk = sscard_crypto::kdf::emv_option_a(&imk, pan, Some(psn)).map_err(crypto)?;
            let bytes = mk.as_bytes();
            let mut out = [0u8; 16];
            for (o, b) in out.iter_mut().zip(bytes.iter()) {
                *o = *b;
            }
            Ok(out)
        }
        Family::Sm2Sm4 => {
            let y = option_a_input(pan, psn)?;
            let mut block = [0u8; 16];
            for (i, b) in block.iter_mut().enumerate() {
                let v = y.get(i % 8).copied().unwrap_or(0);
                *b = if i < 8 { v } else { !v };
            }
            AnyKey::Sm4(Sm4Key::from_bytes(*imk))
                .ecb_encrypt(&mut block)
                .map_err(crypto)?;
            Ok(block)
        }
    }
}

/// A holder's bank data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankHolder<'a> {
    /// PAN, 16–19 digits.
    pub pan: &'a str,
    /// PAN sequence number.
    pub psn: u8,
    /// Expiry date `YYYYMMDD` (the card's).
    pub expiry: &'a str,
    /// Effective date `YYYYMMDD` (the issue date).
    pub effective: &'a str,
    /// The holder's ID number (`9F61`, when the template carries the tag).
    pub id_number: Option<&'a str>,
}

/// One card's bank application, ready to write.
#[derive(Clone, Debug)]
pub struct BankCard {
    /// The application's AID.
    pub aid: Vec<u8>,
    /// The DGIs, plaintext (secret ones are enciphered when sent).
    pub dgis: Vec<Dgi>,
    /// The same application as a profile (the issuer's copy: host keys, checks).
    pub profile: CardProfile,
}

/// A loaded bank personalisation profile.
pub struct BankProfile {
    template: CardProfile,
    pki: TestPki,
    issuer_id: String,
    imk_rsa: Imk,
    imk_sm: Imk,
    keys_test_only: bool,
    dek: Zeroizing<[u8; 16]>,
    rsa_per_card: bool,
    sm2_issuer: PrivateKey,
    rsa_issuer: RsaPrivateKey,
    rsa_icc: RsaPrivateKey,
    cert_expiry: [u8; 2],
    dac: [u8; 2],
    seed: Vec<u8>,
}

impl fmt::Debug for BankProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BankProfile")
            .field("issuer_id", &self.issuer_id)
            .field("rsa_per_card", &self.rsa_per_card)
            .finish_non_exhaustive()
    }
}

fn bcd_digits(digits: &str) -> R<Vec<u8>> {
    let mut text = digits.to_owned();
    if !text.len().is_multiple_of(2) {
        text.push('F');
    }
    sscard_apdu::hex::to_vec(&text).map_err(|_| BankError::Date(format!("{digits}: not digits")))
}

/// `YYYYMMDD` → `YYMMDD` BCD.
fn yymmdd(date: &str) -> R<[u8; 3]> {
    let ok = date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit());
    let short = date.get(2..).filter(|_| ok);
    let short = short.ok_or_else(|| BankError::Date(format!("{date}: not YYYYMMDD")))?;
    sscard_apdu::hex::decode_array::<3>(short)
        .map_err(|_| BankError::Date(format!("{date}: not YYYYMMDD")))
}

/// Replaces the values of `tags` at the top level of a `70` record template.
fn set_tags(record: &[u8], values: &[(u32, Vec<u8>)]) -> R<Vec<u8>> {
    let bad = || BankError::Profile("a template record is not a 70 template".to_owned());
    let (outer, _) = ber::parse(record).map_err(|_| bad())?;
    let mut inner = Vec::new();
    for tlv in ber::iter(outer.value) {
        let tlv = tlv.map_err(|_| bad())?;
        let value = values
            .iter()
            .find(|(t, _)| *t == tlv.tag)
            .map_or(tlv.value, |(_, v)| v.as_slice());
        ber::push(tlv.tag, value, &mut inner).map_err(|_| bad())?;
    }
    let mut out = Vec::new();
    ber::push(0x70, &inner, &mut out).map_err(|_| bad())?;
    Ok(out)
}

/// The track-2 equivalent with a new PAN and expiry: PAN ‖ `D` ‖ YYMM ‖ the template's
/// service code and discretionary data ‖ `F` padding.
fn track2(template: &[u8], pan: &str, expiry: &[u8; 3]) -> R<Vec<u8>> {
    let text = sscard_apdu::hex::to_string(template);
    let rest = text
        .split_once('D')
        .and_then(|(_, r)| r.get(4..))
        .unwrap_or("")
        .trim_end_matches('F');
    let [yy, mm, _] = *expiry;
    let mut digits = format!("{pan}D{yy:02X}{mm:02X}{rest}");
    if !digits.len().is_multiple_of(2) {
        digits.push('F');
    }
    sscard_apdu::hex::to_vec(&digits).map_err(|_| BankError::Profile("bad track 2".to_owned()))
}

/// The static data to authenticate of `family`: the records the contact AFL marks for
/// ODA (SFI 1–10 without their `70` header, others whole), then the AIP if `9F4A` asks.
fn static_data(app: &Application, family: Family) -> R<Vec<u8>> {
    let gpo = &app.gpo(family).contact;
    let mut out = Vec::new();
    for entry in gpo.afl.chunks_exact(4) {
        let &[sfi_byte, first, _, oda] = entry else {
            continue;
        };
        let sfi = sfi_byte >> 3;
        for record in first..first.saturating_add(oda) {
            let data = app
                .record(family, sfi, record)
                .ok_or_else(|| BankError::Profile("an ODA record is missing".to_owned()))?;
            if sfi <= 10 {
                let (tlv, _) = ber::parse(data)
                    .map_err(|_| BankError::Profile("bad ODA record".to_owned()))?;
                out.extend_from_slice(tlv.value);
            } else {
                out.extend_from_slice(data);
            }
        }
    }
    if let Some(list) = app.record_tag(family, 0x9F4A) {
        if list == [0x82] {
            out.extend_from_slice(&gpo.aip);
        }
    }
    Ok(out)
}

impl BankProfile {
    /// Loads a bank profile file and the files it names (relative to its directory).
    pub fn load(path: &Path) -> R<Self> {
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .map_err(|e| profile_err(format_args!("{}: {e}", p.display())))
        };
        let text = Zeroizing::new(read(path)?);
        let raw: RawBankProfile = serde_json::from_str(&text)
            .map_err(|e| profile_err(format_args!("{}: {e}", path.display())))?;
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        let card = read(&dir.join(&raw.card_profile))?;
        let pki = read(&dir.join(&raw.test_pki))?;
        Self::from_raw(raw, &card, &pki)
    }

    /// A bank profile from the texts of its three files.
    pub fn from_texts(profile: &str, card_profile: &str, test_pki: &str) -> R<Self> {
        let raw: RawBankProfile = serde_json::from_str(profile).map_err(profile_err)?;
        Self::from_raw(raw, card_profile, test_pki)
    }

    fn from_raw(raw: RawBankProfile, card_profile: &str, test_pki: &str) -> R<Self> {
        if raw.format != FORMAT {
            return Err(profile_err(format_args!("format is not {FORMAT}")));
        }
        let template = perso::load(card_profile).map_err(profile_err)?;
        if template.applications.is_empty() {
            return Err(profile_err("the card profile has no application"));
        }
        let pki =
            TestPki::from_json(test_pki).map_err(|e| profile_err(format_args!("test PKI: {e}")))?;
        if !(3..=8).contains(&raw.issuer_id.len())
            || !raw.issuer_id.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(profile_err("issuer_id: 3 to 8 digits"));
        }
        let dek = match &raw.dek {
            Some(text) => key16("dek", text)?,
            None => dgi::TEST_DEK,
        };
        let rsa_per_card = match raw.icc_rsa_key.as_deref() {
            None | Some("profile") => false,
            Some("per-card") => true,
            Some(_) => return Err(profile_err("icc_rsa_key: \"profile\" or \"per-card\"")),
        };
        let pki_err = |e: sscard_emv::OdaError| profile_err(format_args!("test PKI: {e}"));
        let hex2 = |t: &str| {
            sscard_apdu::hex::decode_array::<2>(t).map_err(|_| profile_err("test PKI: bad hex"))
        };
        Ok(Self {
            issuer_id: raw.issuer_id.clone(),
            imk_rsa: Imk::from_raw("rsa3des", &raw.imk.rsa3des)?,
            imk_sm: Imk::from_raw("sm2sm4", &raw.imk.sm2sm4)?,
            keys_test_only: raw.imk.test_only,
            dek: Zeroizing::new(dek),
            rsa_per_card,
            sm2_issuer: pki.sm2_issuer_key().map_err(pki_err)?,
            rsa_issuer: pki.rsa_issuer_key().map_err(pki_err)?,
            rsa_icc: pki.rsa_icc_key().map_err(pki_err)?,
            cert_expiry: hex2(&pki.cert_expiry)?,
            dac: hex2(&pki.dac)?,
            seed: sscard_apdu::hex::to_vec(&pki.seed)
                .map_err(|_| profile_err("test PKI: bad seed"))?,
            template,
            pki,
        })
    }

    /// The AID of the application this profile personalises.
    pub fn aid(&self) -> &[u8] {
        self.template
            .applications
            .first()
            .map_or(&[][..], |a| a.aid.as_slice())
    }

    /// The DEK secret DGIs are enciphered under.
    pub fn dek(&self) -> &[u8; 16] {
        &self.dek
    }

    /// The TEST PKI (CAPKs for terminals that check issued cards).
    pub fn test_pki(&self) -> &TestPki {
        &self.pki
    }

    /// The card master keys of `family` for a PAN and PSN.
    pub fn card_keys(&self, family: Family, pan: &str, psn: u8) -> R<MasterKeys> {
        let imk = match family {
            Family::Rsa3Des => &self.imk_rsa,
            Family::Sm2Sm4 => &self.imk_sm,
        };
        let [ac, smi, smc] = &imk.0;
        Ok(MasterKeys {
            mk_ac: derive_card_key(family, ac, pan, psn)?,
            mk_smi: derive_card_key(family, smi, pan, psn)?,
            mk_smc: derive_card_key(family, smc, pan, psn)?,
        })
    }

    fn check_pan(&self, pan: &str) -> R<()> {
        let bad = |reason| BankError::Pan {
            pan: pan.to_owned(),
            reason,
        };
        if !crate::batch::is_pan(pan) {
            return Err(bad("not 16-19 digits with a valid check digit"));
        }
        if !pan.starts_with(&self.issuer_id) {
            return Err(bad("not this issuer's (the issuer certificate's prefix)"));
        }
        Ok(())
    }

    /// The holder's bank application: records, keys, certificates and signatures (see
    /// the module docs), as DGIs and as a profile.
    pub fn personalise(&self, holder: &BankHolder<'_>) -> R<BankCard> {
        self.check_pan(holder.pan)?;
        let expiry = yymmdd(holder.expiry)?;
        let effective = yymmdd(holder.effective)?;
        let [cert_mm, cert_yy] = self.cert_expiry;
        let [yy, mm, _] = expiry;
        if (yy, mm) > (cert_yy, cert_mm) {
            return Err(BankError::Date(format!(
                "expiry {} is after the issuer certificate's ({cert_mm:02X}/{cert_yy:02X})",
                holder.expiry
            )));
        }
        let pan_bcd = bcd_digits(holder.pan)?;
        let mut app = self
            .template
            .applications
            .first()
            .cloned()
            .ok_or_else(|| profile_err("no application"))?;
        // Records: the holder's data.
        let mut values = vec![
            (0x5A, pan_bcd.clone()),
            (0x5F34, vec![holder.psn]),
            (0x5F24, expiry.to_vec()),
            (0x5F25, effective.to_vec()),
        ];
        if let Some(id) = holder.id_number {
            values.push((0x9F61, id.as_bytes().to_vec()));
            values.push((0x9F62, vec![0x00]));
        }
        for r in &mut app.records {
            if let Ok(Some(t2)) = ber::find(&r.data, 0x57) {
                let (outer, _) = ber::parse(&r.data)
                    .map_err(|_| profile_err("a template record is not a 70 template"))?;
                let t2 = ber::find(outer.value, 0x57).ok().flatten().unwrap_or(t2);
                let new = track2(t2, holder.pan, &expiry)?;
                values.retain(|(t, _)| *t != 0x57);
                values.push((0x57, new));
            }
            r.data = set_tags(&r.data, &values)?;
        }
        // Keys.
        app.keys_rsa = self.card_keys(Family::Rsa3Des, holder.pan, holder.psn)?;
        app.keys_sm = self.card_keys(Family::Sm2Sm4, holder.pan, holder.psn)?;
        app.keys_test_only = self.keys_test_only;
        let crypto = |e: sscard_emv::OdaError| BankError::Crypto(e.to_string());
        let serial = [0x00, 0x00, 0x01];
        let mut label = b"card icc ".to_vec();
        label.extend_from_slice(holder.pan.as_bytes());
        label.push(holder.psn);
        // SM2 family: a per-card ICC key, its certificate, the SSAD.
        let sm2_static = static_data(&app, Family::Sm2Sm4)?;
        let mut sm_label = label.clone();
        sm_label.extend_from_slice(b" sm2");
        let icc = PrivateKey::generate(&mut TestRng::new(&self.seed, &sm_label))
            .map_err(|e| BankError::Crypto(e.to_string()))?;
        let profile = Sm2Profile::PBOC;
        let sm2_cert = oda_sm2::build_icc_cert(
            &self.sm2_issuer,
            &pan_bcd,
            self.cert_expiry,
            serial,
            icc.public_key(),
            &sm2_static,
            &profile,
        )
        .map_err(crypto)?;
        let sm2_ssad = oda_sm2::sign_ssad(&self.sm2_issuer, self.dac, &sm2_static, &profile)
            .map_err(crypto)?;
        app.icc_sm2_private_key = Some(Zeroizing::new(*icc.to_bytes()));
        // RSA family.
        let rsa_static = static_data(&app, Family::Rsa3Des)?;
        let rsa_icc = if self.rsa_per_card {
            let mut rsa_label = label;
            rsa_label.extend_from_slice(b" rsa");
            let bits = self.rsa_icc.public_key().len() * 8;
            RsaPrivateKey::generate(&mut TestRng::new(&self.seed, &rsa_label), bits, 65537)
                .map_err(crypto)?
        } else {
            self.rsa_icc.clone()
        };
        let rsa_cert = oda_rsa::build_icc_cert(
            &self.rsa_issuer,
            &pan_bcd,
            self.cert_expiry,
            serial,
            rsa_icc.public_key(),
            &rsa_static,
        )
        .map_err(crypto)?;
        let rsa_ssad =
            oda_rsa::sign_ssad(&self.rsa_issuer, self.dac, &rsa_static).map_err(crypto)?;
        let c = rsa_icc.components();
        app.icc_rsa_private_key = Some(IccRsaKey {
            n: c.n.clone(),
            e: c.e.clone(),
            d: c.d.clone(),
            p: c.p.clone(),
            q: c.q.clone(),
        });
        let sm_values = vec![(0x9F46, sm2_cert), (0x93, sm2_ssad)];
        let mut rsa_values = vec![
            (0x9F46, rsa_cert.cert),
            (0x9F47, rsa_icc.public_key().exponent().to_vec()),
            (0x93, rsa_ssad),
        ];
        if !rsa_cert.remainder.is_empty() {
            rsa_values.push((0x9F48, rsa_cert.remainder));
        }
        for r in &mut app.records {
            match r.family {
                Some(Family::Sm2Sm4) => r.data = set_tags(&r.data, &sm_values)?,
                Some(Family::Rsa3Des) => r.data = set_tags(&r.data, &rsa_values)?,
                None => {}
            }
        }
        let aid = app.aid.clone();
        let profile = CardProfile {
            label: format!("bank application of PAN {}", holder.pan),
            notes: Vec::new(),
            pse: self.template.pse.clone(),
            ppse: self.template.ppse.clone(),
            applications: vec![app],
        };
        let dgis = dgi::from_application(&profile, 0)?;
        Ok(BankCard { aid, dgis, profile })
    }
}

/// The STORE DATA commands for `dgis`: secret DGIs enciphered under `dek`, whole DGIs
/// packed into commands of at most 255 data bytes, P2 counting from 0, P1 `80` on the
/// last.
pub fn store_data_commands(dgis: &[Dgi], dek: &[u8; 16]) -> R<Vec<Vec<u8>>> {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    for (number, value) in dgis {
        let value = if dgi::is_secret(*number) {
            dgi::encipher(dek, value)
        } else {
            value.clone()
        };
        let mut one = number.to_be_bytes().to_vec();
        match u8::try_from(value.len()) {
            Ok(l) if l < 0xFF => one.push(l),
            _ => {
                let l = u16::try_from(value.len()).map_err(|_| dgi::DgiError::Unrepresentable)?;
                one.push(0xFF);
                one.extend_from_slice(&l.to_be_bytes());
            }
        }
        one.extend_from_slice(&value);
        if one.len() > 255 {
            return Err(dgi::DgiError::Unrepresentable.into());
        }
        if current.len() + one.len() > 255 {
            blocks.push(std::mem::take(&mut current));
        }
        current.extend_from_slice(&one);
    }
    if !current.is_empty() {
        blocks.push(current);
    }
    let count = blocks.len();
    let mut out = Vec::with_capacity(count);
    for (i, data) in blocks.into_iter().enumerate() {
        let p1 = if i + 1 == count { 0x80 } else { 0x00 };
        let p2 = u8::try_from(i).map_err(|_| dgi::DgiError::Unrepresentable)?;
        let lc = u8::try_from(data.len()).map_err(|_| dgi::DgiError::Unrepresentable)?;
        let mut apdu = vec![0x80, 0xE2, p1, p2, lc];
        apdu.extend_from_slice(&data);
        out.push(apdu);
    }
    Ok(out)
}

/// The bank application's lifecycle (`80 CA 00 C0`): (state, DGIs stored). Selects
/// the application first.
pub fn lifecycle<T: Transport, Tr: Trace>(ex: &mut Exchange<T, Tr>, aid: &[u8]) -> R<(u8, u8)> {
    let mut buf = [0u8; 300];
    let select = CommandBuilder::new(0x00, 0xA4, 0x04, 0x00)
        .data(aid)
        .le(256);
    let response = ex
        .send(&select, &mut buf)
        .map_err(|e| BankError::Exchange {
            step: "SELECT bank application".to_owned(),
            error: e.to_string(),
        })?;
    if response.status != Status::Success {
        return Err(BankError::NoApplication {
            aid: sscard_apdu::hex::to_string(aid),
            status: response.status,
        });
    }
    let get = CommandBuilder::new(0x80, 0xCA, 0x00, 0xC0).le(256);
    let response = ex.send(&get, &mut buf).map_err(|e| BankError::Exchange {
        step: "GET DATA bank lifecycle".to_owned(),
        error: e.to_string(),
    })?;
    match (response.status, response.data) {
        (Status::Success, [0xC0, 0x03, state, count, _]) => Ok((*state, *count)),
        (status, _) => Err(BankError::Card {
            step: "GET DATA bank lifecycle".to_owned(),
            status,
        }),
    }
}

/// Lifecycle byte of a blank bank application.
pub const LIFECYCLE_BLANK: u8 = 0x01;
/// Lifecycle byte of a personalised bank application.
pub const LIFECYCLE_PERSONALISED: u8 = 0x0F;

/// Writes `card` to the card's blank bank application: checks it is blank (a half
/// personalised one is reported, never resumed), then sends the STORE DATA commands.
/// Returns the number of commands sent.
pub fn write<T: Transport, Tr: Trace>(
    ex: &mut Exchange<T, Tr>,
    card: &BankCard,
    dek: &[u8; 16],
) -> R<usize> {
    match lifecycle(ex, &card.aid)? {
        (LIFECYCLE_BLANK, _) => {}
        (LIFECYCLE_PERSONALISED, _) => return Err(BankError::AlreadyPersonalised),
        (_, stored) => return Err(BankError::HalfPersonalised { stored }),
    }
    let commands = store_data_commands(&card.dgis, dek)?;
    let mut buf = [0u8; 64];
    for (i, apdu) in commands.iter().enumerate() {
        let step = || format!("STORE DATA {i}");
        let (header, data) = apdu.split_at(5.min(apdu.len()));
        let &[cla, ins, p1, p2, _] = header else {
            return Err(dgi::DgiError::Unrepresentable.into());
        };
        let cmd = CommandBuilder::new(cla, ins, p1, p2).data(data);
        let response = ex.send(&cmd, &mut buf).map_err(|e| BankError::Exchange {
            step: step(),
            error: e.to_string(),
        })?;
        if response.status != Status::Success {
            return Err(BankError::Card {
                step: step(),
                status: response.status,
            });
        }
    }
    Ok(commands.len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn option_a_matches_the_published_vector() {
        // spec/pboc.md §3.1 [V]: IMK 0123…3210, PAN 12345678901234567, PSN 01.
        let imk = sscard_apdu::hex::decode_array::<16>("0123456789ABCDEFFEDCBA9876543210").unwrap();
        let mk = derive_card_key(Family::Rsa3Des, &imk, "12345678901234567", 1).unwrap();
        assert_eq!(
            sscard_apdu::hex::to_string(&mk),
            "73AD54688CEF2934B0979857E3C719F1"
        );
    }

    #[test]
    fn sm4_analogue_is_sm4_of_y_and_its_complement() {
        let imk = sscard_apdu::hex::decode_array::<16>("0123456789ABCDEFFEDCBA9876543210").unwrap();
        let mk = derive_card_key(Family::Sm2Sm4, &imk, "12345678901234567", 1).unwrap();
        // Y = 4567890123456701 (rightmost 16 digits of PAN ‖ PSN).
        let mut block =
            sscard_apdu::hex::decode_array::<16>("4567890123456701BA9876FEDCBA98FE").unwrap();
        AnyKey::Sm4(Sm4Key::from_bytes(imk))
            .ecb_encrypt(&mut block)
            .unwrap();
        assert_eq!(mk, block);
        let other = derive_card_key(Family::Sm2Sm4, &imk, "12345678901234567", 2).unwrap();
        assert_ne!(mk, other);
    }

    #[test]
    fn track2_takes_the_new_pan_and_expiry() {
        let t2 = sscard_apdu::hex::to_vec("6228000100001117D30122201000000000").unwrap();
        let new = track2(&t2, "6228000112345678", &[0x31, 0x06, 0x30]).unwrap();
        assert_eq!(
            sscard_apdu::hex::to_string(&new),
            "6228000112345678D31062201000000000"
        );
        let odd = track2(&t2, "62280001123456789", &[0x31, 0x06, 0x30]).unwrap();
        assert_eq!(
            sscard_apdu::hex::to_string(&odd),
            "62280001123456789D31062201000000000F"
        );
    }

    #[test]
    fn store_data_commands_pack_whole_dgis_and_mark_the_last() {
        let dgis: Vec<Dgi> = vec![
            (0x0101, vec![0x70, 0x01, 0x00]),
            (0x9200, vec![1; 200]),
            (0x8000, vec![2; 48]),
        ];
        let cmds = store_data_commands(&dgis, &dgi::TEST_DEK).unwrap();
        assert_eq!(cmds.len(), 2);
        assert_eq!(&cmds[0][..4], &[0x80, 0xE2, 0x00, 0x00]);
        assert_eq!(&cmds[1][..4], &[0x80, 0xE2, 0x80, 0x01]);
        // The 3DES keys are enciphered (48 bytes + padding block).
        assert_eq!(&cmds[1][5..8], &[0x80, 0x00, 56]);
        assert_ne!(&cmds[1][8..16], &[2; 8]);
        for c in &cmds {
            assert_eq!(usize::from(c[4]), c.len() - 5);
        }
    }
}
