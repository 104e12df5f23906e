//! Application cryptograms, issuer authentication and issuer-script MACs (spec/pboc.md
//! §3.2), for both algorithm families. The card applet computes them with its master
//! keys; the issuer host simulator recomputes them; the terminal never does.
//!
//! * **3DES (CVN 01)** \[S\]: session key `3DES_MK(00…‖ATC ‖ 00…‖~ATC)`; AC and script
//!   MAC = ISO 9797-1 MAC algorithm 3 with padding method 2; ARPC method 1.
//! * **SM4** \[U — hypothesis, no public source\]: session key `SM4_MK(00…‖ATC‖00…‖~ATC)`;
//!   MAC = SM4-CBC-MAC with padding method 2, leftmost 8 bytes; ARPC =
//!   `SM4_SK(ARQC ⊕ ARC‖00… ‖ 00×8)` leftmost 8 bytes. Replaceable: every use goes
//!   through [`Family`], so a confirmed construction changes one match arm.
//! * **AC input** \[U\]: the fields of [`AcInput`] in that fixed order (the "8 terminal
//!   + 3 card fields" of pboc.md §3.2), padding method 2.

use sscard_crypto::kdf;
use sscard_crypto::keys::{AnyKey, Des3Key, Sm4Key, SymError};
use sscard_crypto::mac;

/// The algorithm family of a transaction: chosen by the card from the terminal's `DF69`
/// in the PDOL data (pboc.md §0.2) and announced in IAD byte 8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// RSA certificates, 3DES cryptograms (IAD algorithm byte `01`).
    Rsa3Des,
    /// SM2 certificates, SM4 cryptograms (IAD algorithm byte `04`).
    Sm2Sm4,
}

impl Family {
    /// The IAD algorithm byte.
    pub fn iad_byte(self) -> u8 {
        match self {
            Self::Rsa3Des => 0x01,
            Self::Sm2Sm4 => 0x04,
        }
    }

    /// The family an IAD algorithm byte names.
    pub fn from_iad_byte(byte: u8) -> Option<Self> {
        match byte {
            0x01 => Some(Self::Rsa3Des),
            0x04 => Some(Self::Sm2Sm4),
            _ => None,
        }
    }

    /// The family for a terminal's `DF69` when the card supports both: the national
    /// algorithm is preferred when the terminal announces it (`DF69` = `01`) \[U, SZD1\].
    pub fn from_df69(df69: Option<u8>) -> Self {
        if df69 == Some(0x01) {
            Self::Sm2Sm4
        } else {
            Self::Rsa3Des
        }
    }
}

/// Builds a master key of `family` from bytes (16 bytes for either family).
pub fn master_key(family: Family, bytes: &[u8]) -> Result<AnyKey, SymError> {
    match family {
        Family::Rsa3Des => Des3Key::new(bytes).map(AnyKey::Des3),
        Family::Sm2Sm4 => Sm4Key::new(bytes).map(AnyKey::Sm4),
    }
}

/// The session key for `atc` (pboc.md §3.2; the SM4 arm is the \[U\] hypothesis).
pub fn session_key(mk: &AnyKey, atc: u16) -> Result<AnyKey, SymError> {
    match mk {
        AnyKey::Des3(k) => Ok(AnyKey::Des3(kdf::pboc_session_key(k, atc))),
        AnyKey::Sm4(k) => Ok(AnyKey::Sm4(kdf::sm4_session_key_hypothesis(k, atc))),
        _ => Err(SymError::InvalidKeyLength {
            len: mk.as_bytes().len(),
        }),
    }
}

/// An 8-byte MAC under a session key: retail MAC (3DES) or the leftmost 8 bytes of
/// SM4-CBC-MAC \[U\]; both with padding method 2 and a zero IV.
pub fn mac8(sk: &AnyKey, data: &[u8]) -> Result<[u8; 8], SymError> {
    match sk {
        AnyKey::Des3(k) => mac::retail_mac(k, &[0; 8], data),
        AnyKey::Sm4(k) => {
            let full = mac::cbc_mac_sm4(k, &[0; 16], data);
            let mut out = [0u8; 8];
            out.copy_from_slice(full.get(..8).unwrap_or_default());
            Ok(out)
        }
        _ => Err(SymError::InvalidKeyLength {
            len: sk.as_bytes().len(),
        }),
    }
}

/// The transaction data an application cryptogram covers \[U: the field set is the
/// "8 terminal + 3 card fields" of pboc.md §3.2; order and the CVR bytes are ours\].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AcInput {
    /// 9F02, amount authorised (n12).
    pub amount: [u8; 6],
    /// 9F03, amount other (n12).
    pub amount_other: [u8; 6],
    /// 9F1A, terminal country code.
    pub terminal_country: [u8; 2],
    /// 95, TVR.
    pub tvr: [u8; 5],
    /// 5F2A, transaction currency code.
    pub currency: [u8; 2],
    /// 9A, transaction date.
    pub date: [u8; 3],
    /// 9C, transaction type.
    pub txn_type: u8,
    /// 9F37, unpredictable number.
    pub unpredictable_number: [u8; 4],
    /// 82, AIP.
    pub aip: [u8; 2],
    /// 9F36, ATC.
    pub atc: u16,
    /// The CVR as carried in IAD bytes 4–7 (length byte `03` and three bytes).
    pub cvr: [u8; 4],
}

impl AcInput {
    /// Length of [`AcInput::to_bytes`].
    pub const LEN: usize = 6 + 6 + 2 + 5 + 2 + 3 + 1 + 4 + 2 + 2 + 4;

    /// The MAC input, before padding.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        let parts: [&[u8]; 11] = [
            &self.amount,
            &self.amount_other,
            &self.terminal_country,
            &self.tvr,
            &self.currency,
            &self.date,
            core::slice::from_ref(&self.txn_type),
            &self.unpredictable_number,
            &self.aip,
            &self.atc.to_be_bytes(),
            &self.cvr,
        ];
        let mut at = 0;
        for part in parts {
            if let Some(dst) = out.get_mut(at..at + part.len()) {
                dst.copy_from_slice(part);
            }
            at += part.len();
        }
        out
    }
}

/// The application cryptogram (ARQC, TC or AAC) over `input` with `MK_AC`.
pub fn application_cryptogram(mk_ac: &AnyKey, input: &AcInput) -> Result<[u8; 8], SymError> {
    let sk = session_key(mk_ac, input.atc)?;
    mac8(&sk, &input.to_bytes())
}

/// The ARPC for `arqc` and response code `arc` (pboc.md §3.2): 3DES method 1; SM4 \[U\]
/// the leftmost 8 bytes of `SM4_SK(ARQC ⊕ (ARC ‖ 00…) ‖ 00×8)`.
pub fn arpc(mk_ac: &AnyKey, atc: u16, arqc: &[u8; 8], arc: &[u8; 2]) -> Result<[u8; 8], SymError> {
    let sk = session_key(mk_ac, atc)?;
    match &sk {
        AnyKey::Des3(k) => Ok(kdf::arpc_method_1(k, arqc, arc)),
        AnyKey::Sm4(_) => {
            let mut block = [0u8; 16];
            block.get_mut(..8).unwrap_or_default().copy_from_slice(arqc);
            for (b, m) in block.iter_mut().zip(arc) {
                *b ^= m;
            }
            sk.ecb_encrypt(&mut block)?;
            let mut out = [0u8; 8];
            out.copy_from_slice(block.get(..8).unwrap_or_default());
            Ok(out)
        }
        _ => Err(SymError::InvalidKeyLength {
            len: sk.as_bytes().len(),
        }),
    }
}

/// The 4-byte MAC of an issuer-script command (pboc.md §3.2): session key from `MK_SMI`
/// and the ATC; MAC over `CLA INS P1 P2 Lc ‖ ATC ‖ ARQC ‖ command data (without MAC)`.
/// `header` is the 5 header bytes with `Lc` counting the 4 MAC bytes.
pub fn script_mac(
    mk_smi: &AnyKey,
    atc: u16,
    arqc: &[u8; 8],
    header: &[u8; 5],
    data: &[u8],
) -> Result<[u8; 4], SymError> {
    let sk = session_key(mk_smi, atc)?;
    let mut input = alloc::vec::Vec::with_capacity(5 + 2 + 8 + data.len());
    input.extend_from_slice(header);
    input.extend_from_slice(&atc.to_be_bytes());
    input.extend_from_slice(arqc);
    input.extend_from_slice(data);
    let full = mac8(&sk, &input)?;
    Ok(mac::truncate4(&full))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> alloc::vec::Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn ecash_demo_load_vectors_a4() {
        // pboc-vectors.json self_computed_unconfirmed.ecash_demo_load (regression values
        // of the [EC] method, not published results).
        let mk = master_key(Family::Rsa3Des, &[0xFF; 16]).unwrap();
        let sk = session_key(&mk, 0x0012).unwrap();
        assert_eq!(
            sk.as_bytes(),
            hex("89F1F7F63B648D7C2DE9EE8956F5B979").as_slice()
        );
        let arqc: [u8; 8] = hex("E2F6ED390FDB4755").try_into().unwrap();
        let mac = script_mac(
            &mk,
            0x0012,
            &arqc,
            &[0x04, 0xDA, 0x9F, 0x79, 0x0A],
            &hex("000000000104"),
        )
        .unwrap();
        assert_eq!(mac.as_slice(), hex("523C7BE1").as_slice());
        let arpc = arpc(&mk, 0x0012, &arqc, b"00").unwrap();
        assert_eq!(arpc.as_slice(), hex("CA346FB7A63A5A7D").as_slice());
    }

    #[test]
    fn session_keys_a4() {
        let mk = hex("11223344006677881122334455007788");
        let sk = session_key(&master_key(Family::Rsa3Des, &mk).unwrap(), 1).unwrap();
        assert_eq!(
            sk.as_bytes(),
            hex("8A1B677917131CD4992C006680BF832C").as_slice()
        );
        let sk = session_key(&master_key(Family::Sm2Sm4, &mk).unwrap(), 1).unwrap();
        assert_eq!(
            sk.as_bytes(),
            hex("CADBC2897507C050BA0900DD5597351B").as_slice()
        );
    }

    #[test]
    fn cryptogram_depends_on_every_field_and_family() {
        let mk = master_key(Family::Sm2Sm4, &[0x11; 16]).unwrap();
        let base = AcInput {
            atc: 7,
            amount: [0, 0, 0, 0, 1, 0],
            ..AcInput::default()
        };
        let ac = application_cryptogram(&mk, &base).unwrap();
        let mut changed = base;
        changed.unpredictable_number[3] = 1;
        assert_ne!(application_cryptogram(&mk, &changed).unwrap(), ac);
        let mut changed = base;
        changed.atc = 8;
        assert_ne!(application_cryptogram(&mk, &changed).unwrap(), ac);
        let des = master_key(Family::Rsa3Des, &[0x11; 16]).unwrap();
        assert_ne!(application_cryptogram(&des, &base).unwrap(), ac);
        assert_eq!(Family::from_df69(Some(1)), Family::Sm2Sm4);
        assert_eq!(Family::from_df69(None), Family::Rsa3Des);
        assert_eq!(
            Family::from_iad_byte(Family::Sm2Sm4.iad_byte()),
            Some(Family::Sm2Sm4)
        );
    }
}
