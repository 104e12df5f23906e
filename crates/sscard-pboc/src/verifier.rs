//! The offline data authentication verifier the kernel uses on real cards: an
//! [`OfflineAuth`] over `sscard_emv::oda` (RSA recovery and SM2) and a CAPK store.
//!
//! The CAPK is chosen by the RID of the selected AID and the card's `8F`; the
//! certificates' expiry is checked against the transaction date `9A`. The ICC public
//! key recovered for DDA or CDA is kept for the rest of the transaction. The reason of
//! the last failure stays available ([`EmvOda::last_error`]) for logs and the CLI.
//!
//! fDDA (qPBOC) is not performed: its input and the SM2 layout are \[U\] (pboc.md §1.4,
//! item 7), so the kernel records "ODA not performed" and follows the CTQ.

use alloc::vec::Vec;

use sscard_emv::capk::CapkStore;
use sscard_emv::oda::{self, CardObjects, Date, HashAlg, IccPublicKey, OdaError};
use sscard_emv::Tag;

use crate::traits::{CdaInput, OdaInput, OdaVerdict, OfflineAuth};

/// SDA, DDA and CDA with `sscard_emv::oda`.
#[derive(Debug)]
pub struct EmvOda {
    store: CapkStore,
    icc_key: Option<IccPublicKey>,
    last_error: Option<OdaError>,
}

impl EmvOda {
    /// A verifier with these CA public keys.
    pub fn new(store: CapkStore) -> Self {
        Self {
            store,
            icc_key: None,
            last_error: None,
        }
    }

    /// Why the last method failed, if it did.
    pub fn last_error(&self) -> Option<OdaError> {
        self.last_error
    }

    /// The CAPK store.
    pub fn store(&self) -> &CapkStore {
        &self.store
    }

    fn verdict(&mut self, result: Result<Vec<(Tag, Vec<u8>)>, OdaError>) -> OdaVerdict {
        match result {
            Ok(tags) => {
                self.last_error = None;
                OdaVerdict::Passed(tags)
            }
            Err(e) => {
                self.last_error = Some(e);
                OdaVerdict::Failed
            }
        }
    }

    fn icc_key(&mut self, input: &OdaInput<'_>) -> Result<IccPublicKey, OdaError> {
        if let Some(key) = &self.icc_key {
            return Ok(key.clone());
        }
        let (objects, date) = context(input)?;
        let capk = self.capk(input, &objects)?;
        let key = oda::recover_icc_key(capk, input.static_data, &objects, date)?;
        self.icc_key = Some(key.clone());
        Ok(key)
    }

    fn capk(
        &self,
        input: &OdaInput<'_>,
        objects: &CardObjects<'_>,
    ) -> Result<&sscard_emv::capk::Capk, OdaError> {
        let rid: [u8; 5] = input
            .aid
            .get(..5)
            .and_then(|r| r.try_into().ok())
            .ok_or(OdaError::MissingData { tag: 0x4F })?;
        let index = objects
            .ca_index
            .ok_or(OdaError::MissingData { tag: 0x8F })?;
        self.store.get(rid, index)
    }
}

/// The card's ODA objects and the transaction date.
fn context<'a>(input: &OdaInput<'a>) -> Result<(CardObjects<'a>, Date), OdaError> {
    let card = input.card;
    let objects = CardObjects {
        pan: card.get(Tag::PAN),
        ca_index: card.get(Tag::CA_INDEX).and_then(|v| match v {
            [i] => Some(*i),
            _ => None,
        }),
        issuer_cert: card.get(Tag::ISSUER_CERT),
        issuer_remainder: card.get(Tag::ISSUER_PK_REMAINDER),
        issuer_exponent: card.get(Tag::ISSUER_PK_EXPONENT),
        icc_cert: card.get(Tag::ICC_CERT),
        icc_remainder: card.get(Tag::ICC_PK_REMAINDER),
        icc_exponent: card.get(Tag::ICC_PK_EXPONENT),
        ssad: card.get(Tag::SSAD),
    };
    let date = input
        .terminal
        .get(Tag::TXN_DATE)
        .and_then(|d| <[u8; 3]>::try_from(d).ok())
        .ok_or(OdaError::MissingData { tag: 0x9A })?;
    Ok((objects, Date::from_9a(date)?))
}

fn hash_alg(key: &IccPublicKey) -> HashAlg {
    match key {
        IccPublicKey::Sm2(_) => HashAlg::Sm3,
        _ => HashAlg::Sha1,
    }
}

impl OfflineAuth for EmvOda {
    fn sda(&mut self, input: &OdaInput<'_>) -> OdaVerdict {
        let result = context(input).and_then(|(objects, date)| {
            let capk = self.capk(input, &objects)?;
            let sda = oda::verify_sda(capk, input.static_data, &objects, date)?;
            Ok(alloc::vec![(Tag::DAC, sda.dac.to_vec())])
        });
        self.verdict(result)
    }

    fn dda(&mut self, input: &OdaInput<'_>, ddol_data: &[u8], signed_dynamic: &[u8]) -> OdaVerdict {
        let result = self.icc_key(input).and_then(|key| {
            let dda = oda::verify_dda(&key, signed_dynamic, ddol_data)?;
            Ok(alloc::vec![(
                Tag::ICC_DYNAMIC_NUMBER,
                dda.icc_dynamic_number
            )])
        });
        self.verdict(result)
    }

    fn cda_prepare(&mut self, input: &OdaInput<'_>) -> OdaVerdict {
        let result = self.icc_key(input).map(|_| Vec::new());
        self.verdict(result)
    }

    fn cda(&mut self, input: &OdaInput<'_>, cda: &CdaInput<'_>) -> OdaVerdict {
        let result = self.icc_key(input).and_then(|key| {
            let body = sscard_apdu::tlv::ber::find(cda.response, 0x77)
                .ok()
                .flatten()
                .unwrap_or(cda.response);
            let find = |tag: u32| sscard_apdu::tlv::ber::find(body, tag).ok().flatten();
            let sdad = find(0x9F4B).ok_or(OdaError::MissingData { tag: 0x9F4B })?;
            let cid = find(0x9F27)
                .and_then(|v| v.first().copied())
                .ok_or(OdaError::MissingData { tag: 0x9F27 })?;
            let un = input
                .terminal
                .get(Tag::UNPREDICTABLE_NUMBER)
                .ok_or(OdaError::MissingData { tag: 0x9F37 })?;
            let hash = oda::cda_transaction_hash(
                hash_alg(&key),
                cda.pdol_data,
                cda.cdol_data,
                None,
                cda.response,
            )?;
            let result = oda::verify_cda(&key, sdad, un, cid, &hash)?;
            Ok(alloc::vec![
                (Tag::ICC_DYNAMIC_NUMBER, result.icc_dynamic_number),
                (Tag::AC, result.ac.to_vec()),
            ])
        });
        self.verdict(result)
    }

    fn fdda(&mut self, _: &OdaInput<'_>, _: &[u8]) -> OdaVerdict {
        OdaVerdict::NotPerformed
    }
}
