//! An issuer host simulator (spec/pboc.md §3.2) for tests, the CLI (`sscard pboc
//! host`) and the emulator: it recomputes the ARQC from the field-55 TLVs with the
//! card's master keys, answers ARC `3030` ("00") with the ARPC, or `3035` ("05") when
//! the cryptogram does not verify, and for an EC load request builds the `72` script
//! that sets the new absolute balance with a script MAC.
//!
//! The family comes from IAD byte 7 (0-based; `01` 3DES, `04` SM4 \[U\]); the AC input
//! is [`sscard_emv::cryptogram::AcInput`] filled from 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37
//! 82 9F36 and the CVR = IAD bytes 3..7.

use alloc::vec::Vec;

use sscard_apdu::tlv::ber;
use sscard_crypto::keys::{AnyKey, SymError};
use sscard_emv::cryptogram::{self, AcInput, Family};
use sscard_emv::Tag;
use subtle::ConstantTimeEq;

use crate::config::{from_bcd, to_n12};
use crate::tlvdb::push_tlv;
use crate::traits::{Issuer, IssuerResponse, OnlineRequest};

/// ARC for an approval (`"00"`).
pub const ARC_APPROVED: [u8; 2] = *b"00";
/// ARC for a decline (`"05"`).
pub const ARC_DECLINED: [u8; 2] = *b"05";
/// Header of the EC load script command: PUT DATA 9F79, Lc 10 (6 + MAC 4).
pub const LOAD_HEADER: [u8; 5] = [0x04, 0xDA, 0x9F, 0x79, 0x0A];

/// One card's master keys for one algorithm family.
#[derive(Clone)]
pub struct CardKeys {
    /// MK_AC (cryptograms, ARPC).
    pub mk_ac: AnyKey,
    /// MK_SMI (script MACs).
    pub mk_smi: AnyKey,
}

impl core::fmt::Debug for CardKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CardKeys { .. }")
    }
}

/// Why the host declined (or what it decided).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// ARQC verified; approved.
    Approved,
    /// The ARQC does not verify.
    BadCryptogram,
    /// A field-55 object the check needs is missing or has the wrong length.
    MissingData(Tag),
    /// IAD byte 7 names no known family.
    UnknownFamily(u8),
    /// No keys for the family the card used.
    NoKeys(Family),
    /// The load would exceed the EC balance limit.
    OverBalanceLimit,
    /// The key or MAC computation failed.
    Crypto,
}

/// A verified ARQC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifiedArqc {
    /// Family of the card's keys.
    pub family: Family,
    /// 9F36.
    pub atc: u16,
    /// 9F26.
    pub arqc: [u8; 8],
    /// 9C.
    pub txn_type: u8,
    /// 9F02 in minor units.
    pub amount: u64,
}

/// The simulator. See the module docs.
#[derive(Clone, Debug)]
pub struct HostSimulator {
    rsa3des: Option<CardKeys>,
    sm2sm4: Option<CardKeys>,
    /// The card's EC balance as the issuer books it, in minor units.
    pub ec_balance: u64,
    /// Upper bound for a load's new balance (9F77), when set.
    pub ec_balance_limit: Option<u64>,
    /// 9C that marks a load request \[U: `63`\].
    pub load_txn_type: u8,
    /// 9F18 of the load script.
    pub script_id: [u8; 4],
    last: Option<Decision>,
}

fn get(field55: &[u8], tag: u32) -> Option<&[u8]> {
    ber::iter(field55)
        .flatten()
        .find(|t| t.tag == tag)
        .map(|t| t.value)
}

fn fixed<const N: usize>(field55: &[u8], tag: u32) -> Result<[u8; N], Decision> {
    get(field55, tag)
        .and_then(|v| <[u8; N]>::try_from(v).ok())
        .ok_or(Decision::MissingData(Tag(tag)))
}

impl HostSimulator {
    /// A host for one card with keys per family (either may be absent).
    pub fn new(rsa3des: Option<CardKeys>, sm2sm4: Option<CardKeys>) -> Self {
        Self {
            rsa3des,
            sm2sm4,
            ec_balance: 0,
            ec_balance_limit: None,
            load_txn_type: 0x63,
            script_id: [0, 0, 0, 1],
            last: None,
        }
    }

    /// A host holding the master keys of a personalisation-profile application (both
    /// families), e.g. the emulated card's TEST keys in `apdu-specs/pboc/card.json`.
    pub fn for_application(app: &sscard_emv::perso::Application) -> Result<Self, SymError> {
        let keys =
            |family: Family, k: &sscard_emv::perso::MasterKeys| -> Result<CardKeys, SymError> {
                Ok(CardKeys {
                    mk_ac: cryptogram::master_key(family, &k.mk_ac)?,
                    mk_smi: cryptogram::master_key(family, &k.mk_smi)?,
                })
            };
        let mut host = Self::new(
            Some(keys(Family::Rsa3Des, &app.keys_rsa)?),
            Some(keys(Family::Sm2Sm4, &app.keys_sm)?),
        );
        host.ec_balance_limit = Some(app.ec.balance_limit);
        Ok(host)
    }

    /// Sets the booked EC balance.
    pub fn with_ec_balance(mut self, balance: u64) -> Self {
        self.ec_balance = balance;
        self
    }

    /// The decision of the last [`Issuer::authorise`].
    pub fn last_decision(&self) -> Option<Decision> {
        self.last
    }

    fn keys(&self, family: Family) -> Result<&CardKeys, Decision> {
        match family {
            Family::Rsa3Des => self.rsa3des.as_ref(),
            Family::Sm2Sm4 => self.sm2sm4.as_ref(),
        }
        .ok_or(Decision::NoKeys(family))
    }

    /// Recomputes the ARQC of a field-55 TLV set.
    pub fn verify_arqc(&self, field55: &[u8]) -> Result<VerifiedArqc, Decision> {
        let iad = get(field55, 0x9F10).ok_or(Decision::MissingData(Tag::IAD))?;
        let cvr: [u8; 4] = iad
            .get(3..7)
            .and_then(|c| c.try_into().ok())
            .ok_or(Decision::MissingData(Tag::IAD))?;
        let alg = *iad.get(7).ok_or(Decision::MissingData(Tag::IAD))?;
        let family = Family::from_iad_byte(alg).ok_or(Decision::UnknownFamily(alg))?;
        let keys = self.keys(family)?;
        let atc = u16::from_be_bytes(fixed::<2>(field55, 0x9F36)?);
        let [txn_type] = fixed::<1>(field55, 0x9C)?;
        let input = AcInput {
            amount: fixed(field55, 0x9F02)?,
            amount_other: fixed(field55, 0x9F03)?,
            terminal_country: fixed(field55, 0x9F1A)?,
            tvr: fixed(field55, 0x95)?,
            currency: fixed(field55, 0x5F2A)?,
            date: fixed(field55, 0x9A)?,
            txn_type,
            unpredictable_number: fixed(field55, 0x9F37)?,
            aip: fixed(field55, 0x82)?,
            atc,
            cvr,
        };
        let arqc: [u8; 8] = fixed(field55, 0x9F26)?;
        let want = cryptogram::application_cryptogram(&keys.mk_ac, &input)
            .map_err(|_| Decision::Crypto)?;
        if !bool::from(want.ct_eq(&arqc)) {
            return Err(Decision::BadCryptogram);
        }
        Ok(VerifiedArqc {
            family,
            atc,
            arqc,
            txn_type,
            amount: from_bcd(&input.amount).unwrap_or(0),
        })
    }

    /// The `72` load script: `9F18 id ‖ 86 <04 DA 9F 79 0A ‖ balance 6 ‖ MAC 4>`.
    pub fn load_script(
        &self,
        verified: &VerifiedArqc,
        new_balance: u64,
    ) -> Result<Vec<u8>, Decision> {
        let keys = self.keys(verified.family)?;
        let value = to_n12(new_balance);
        let mac = cryptogram::script_mac(
            &keys.mk_smi,
            verified.atc,
            &verified.arqc,
            &LOAD_HEADER,
            &value,
        )
        .map_err(|_| Decision::Crypto)?;
        let mut command = Vec::with_capacity(15);
        command.extend_from_slice(&LOAD_HEADER);
        command.extend_from_slice(&value);
        command.extend_from_slice(&mac);
        let mut body = Vec::new();
        push_tlv(Tag::SCRIPT_ID, &self.script_id, &mut body);
        push_tlv(Tag::SCRIPT_COMMAND, &command, &mut body);
        let mut out = Vec::new();
        push_tlv(Tag::SCRIPT_72, &body, &mut out);
        Ok(out)
    }

    /// Issuer authentication data 91 = ARPC ‖ ARC for `arc`.
    pub fn issuer_auth_data(
        &self,
        verified: &VerifiedArqc,
        arc: [u8; 2],
    ) -> Result<Vec<u8>, Decision> {
        let keys = self.keys(verified.family)?;
        let arpc = cryptogram::arpc(&keys.mk_ac, verified.atc, &verified.arqc, &arc)
            .map_err(|_| Decision::Crypto)?;
        let mut auth = arpc.to_vec();
        auth.extend_from_slice(&arc);
        Ok(auth)
    }

    fn decide(&mut self, field55: &[u8]) -> Result<IssuerResponse, Decision> {
        let verified = self.verify_arqc(field55)?;
        let auth = self.issuer_auth_data(&verified, ARC_APPROVED)?;
        let mut scripts = Vec::new();
        if verified.txn_type == self.load_txn_type {
            let new_balance = self.ec_balance.saturating_add(verified.amount);
            if self.ec_balance_limit.is_some_and(|l| new_balance > l) {
                return Err(Decision::OverBalanceLimit);
            }
            scripts = self.load_script(&verified, new_balance)?;
            self.ec_balance = new_balance;
        }
        Ok(IssuerResponse {
            arc: ARC_APPROVED,
            auth_data: Some(auth),
            scripts,
        })
    }
}

impl Issuer for HostSimulator {
    fn authorise(&mut self, request: &OnlineRequest<'_>) -> Option<IssuerResponse> {
        match self.decide(request.field55) {
            Ok(r) => {
                self.last = Some(Decision::Approved);
                Some(r)
            }
            Err(d) => {
                self.last = Some(d);
                Some(IssuerResponse {
                    arc: ARC_DECLINED,
                    auth_data: None,
                    scripts: Vec::new(),
                })
            }
        }
    }
}
