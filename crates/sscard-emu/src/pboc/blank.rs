//! A blank bank application and its personalisation by STORE DATA (ours, in the spirit
//! of EMV CPS; `apdu-specs/cos-emulated.md`, "Bank application"):
//!
//! | command | APDU |
//! |---|---|
//! | SELECT the blank application | `00 A4 04 00 Lc AID` (answers `6F{84 AID}`) |
//! | STORE DATA | `80 E2 P1 P2 Lc DGI…` (P1 `80` on the last block, else `00`; P2 = 0, 1, 2, …) |
//! | GET DATA (bank lifecycle) | `80 CA 00 C0 00` → `C0 03 state ‖ DGIs stored ‖ next P2` |
//!
//! Each STORE DATA carries whole DGIs (`DGI(2) ‖ L(1, or FF ‖ L(2)) ‖ value`); the
//! layout and which DGIs are enciphered under the DEK are [`sscard_emv::dgi`]'s. A
//! command is checked as a whole and committed before the card answers, so a power cut
//! leaves it stored or not stored; the last block (P1 `80`) turns the DGIs into the
//! application ([`sscard_emv::dgi::to_profile`]) and the application is then exactly a
//! [`PbocApp`] built from that profile. A card cut off before the last block stays
//! *personalising* (lifecycle `02`) and cannot be resumed by a different batch: the
//! issuer re-issues the holder on another card.

use serde::{Deserialize, Serialize};
use sscard_apdu::applet::{Interface, Reply};
use sscard_apdu::{CommandView, Status};
use sscard_emv::dgi::{self, Dgi};

use super::{PbocApp, PbocState, Selected, Session};

/// Lifecycle byte: blank, no DGI stored.
pub const LIFECYCLE_BLANK: u8 = 0x01;
/// Lifecycle byte: some DGIs stored, not yet the last block.
pub const LIFECYCLE_PERSONALISING: u8 = 0x02;
/// Lifecycle byte: personalised (also for applications built from a profile).
pub const LIFECYCLE_PERSONALISED: u8 = 0x0F;

/// CLA/INS of STORE DATA.
pub const STORE_DATA: [u8; 2] = [0x80, 0xE2];
/// CLA/INS/P1/P2 of GET DATA (bank lifecycle).
pub const GET_LIFECYCLE: [u8; 4] = [0x80, 0xCA, 0x00, 0xC0];

/// The default AID of a blank card's bank application (UnionPay debit).
pub const DEFAULT_BLANK_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x03, 0x33, 0x01, 0x01, 0x01];

/// One stored DGI, hex (secrets deciphered: the state file is the card's memory).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDgi {
    /// The DGI number, 4 hex digits.
    pub dgi: String,
    /// The plaintext value, hex.
    pub value: String,
}

/// Personalisation progress of a bank application that started blank.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersoState {
    /// The AID the application answers to, hex.
    pub aid: String,
    /// The P2 the next STORE DATA must carry.
    pub next_sequence: u8,
    /// The DGIs stored so far, in order.
    pub dgis: Vec<StoredDgi>,
    /// Whether the last block was stored (the application is built from `dgis`).
    pub personalised: bool,
}

impl PersoState {
    /// The stored DGIs as numbers and bytes.
    pub fn decoded(&self) -> Result<Vec<Dgi>, Status> {
        self.dgis
            .iter()
            .map(|s| {
                let d = sscard_apdu::hex::decode_array::<2>(&s.dgi)
                    .map_err(|_| Status::UnspecifiedError)?;
                let v = sscard_apdu::hex::to_vec(&s.value).map_err(|_| Status::UnspecifiedError)?;
                Ok((u16::from_be_bytes(d), v))
            })
            .collect()
    }

    /// The lifecycle byte.
    pub fn lifecycle(&self) -> u8 {
        if self.personalised {
            LIFECYCLE_PERSONALISED
        } else if self.dgis.is_empty() {
            LIFECYCLE_BLANK
        } else {
            LIFECYCLE_PERSONALISING
        }
    }
}

/// Splits STORE DATA's data field into DGIs (6700 when the lengths do not add up).
fn parse_dgis(mut data: &[u8]) -> Result<Vec<(u16, &[u8])>, Status> {
    let mut out = Vec::new();
    if data.is_empty() {
        return Err(Status::WrongLength);
    }
    while !data.is_empty() {
        let Some(([hi, lo], rest)) = data.split_first_chunk::<2>() else {
            return Err(Status::WrongLength);
        };
        let (len, rest) = match rest.split_first() {
            Some((0xFF, rest)) => match rest.split_first_chunk::<2>() {
                Some((l, rest)) => (usize::from(u16::from_be_bytes(*l)), rest),
                None => return Err(Status::WrongLength),
            },
            Some((l, rest)) => (usize::from(*l), rest),
            None => return Err(Status::WrongLength),
        };
        let value = rest.get(..len).ok_or(Status::WrongLength)?;
        out.push((u16::from_be_bytes([*hi, *lo]), value));
        data = rest.get(len..).unwrap_or_default();
    }
    Ok(out)
}

impl PbocApp {
    /// A blank bank application answering to `aid`: it accepts only SELECT of that AID,
    /// STORE DATA and GET DATA (lifecycle) until personalised. Secret DGIs are
    /// deciphered with `dek` ([`sscard_emv::dgi::TEST_DEK`] on emulated blank cards).
    pub fn blank(
        aid: &[u8],
        dek: [u8; 16],
        entropy: Box<dyn crate::cos::Entropy>,
    ) -> Result<Self, super::PbocBuildError> {
        if !(5..=16).contains(&aid.len()) {
            return Err(super::PbocBuildError::NoApplication);
        }
        let state = PbocState {
            version: super::PBOC_STATE_VERSION,
            applications: Vec::new(),
            perso: Some(PersoState {
                aid: sscard_apdu::hex::to_string(aid),
                next_sequence: 0,
                dgis: Vec::new(),
                personalised: false,
            }),
        };
        Ok(Self {
            profile: sscard_emv::perso::CardProfile {
                label: String::from("blank"),
                notes: Vec::new(),
                pse: None,
                ppse: None,
                applications: Vec::new(),
            },
            state,
            session: Session::default(),
            entropy,
            authenticators: Vec::new(),
            journal: None,
            dek: zeroize::Zeroizing::new(dek),
        })
    }

    /// The bank lifecycle ([`LIFECYCLE_BLANK`], [`LIFECYCLE_PERSONALISING`],
    /// [`LIFECYCLE_PERSONALISED`]).
    pub fn lifecycle(&self) -> u8 {
        self.state
            .perso
            .as_ref()
            .map_or(LIFECYCLE_PERSONALISED, PersoState::lifecycle)
    }

    /// Whether this application is still being personalised (blank or part-way).
    pub fn is_blank(&self) -> bool {
        self.lifecycle() != LIFECYCLE_PERSONALISED
    }

    pub(super) fn perso_aid(&self) -> Option<Vec<u8>> {
        let p = self.state.perso.as_ref()?;
        sscard_apdu::hex::to_vec(&p.aid).ok()
    }

    /// Rebuilds profile and signers from a personalised state's DGIs.
    pub(super) fn rebuild_from_dgis(&mut self, perso: &PersoState) -> Result<(), Status> {
        let aid = sscard_apdu::hex::to_vec(&perso.aid).map_err(|_| Status::UnspecifiedError)?;
        let profile =
            dgi::to_profile(&aid, &perso.decoded()?).map_err(|_| Status::UnspecifiedError)?;
        self.authenticators = super::authenticators_for(&profile);
        self.profile = profile;
        Ok(())
    }

    /// Commands of a blank (or personalising) application.
    pub(super) fn process_blank(
        &mut self,
        _interface: Interface,
        command: &CommandView<'_>,
        reply: &mut Reply<'_>,
    ) -> Result<(), Status> {
        let aid = self.perso_aid().ok_or(Status::UnspecifiedError)?;
        match (command.cla(), command.ins()) {
            (0x00, 0xA4) => {
                if command.p1() != 0x04 || !matches!(command.p2(), 0x00 | 0x0C) {
                    return Err(Status::IncorrectP1P2);
                }
                let name = command.data();
                if name.len() < 5 || !aid.starts_with(name) {
                    return Err(Status::FileNotFound);
                }
                self.session = Session {
                    selected: Selected::App(0),
                    ..Session::default()
                };
                if command.p2() == 0x0C {
                    return Ok(());
                }
                let mut fci = Vec::new();
                super::put_tlv(&mut fci, 0x84, &aid);
                let mut out = Vec::new();
                super::put_tlv(&mut out, 0x6F, &fci);
                reply.extend_from_slice(&out)
            }
            (0x80, 0xCA) if command.p1() == 0x00 && command.p2() == 0xC0 => {
                self.lifecycle_reply(reply)
            }
            (0x80, 0xE2) => {
                if self.session.selected != Selected::App(0) {
                    return Err(Status::ConditionsOfUseNotSatisfied);
                }
                self.store_data(command.p1(), command.p2(), command.data())
            }
            (0x80 | 0x84 | 0x00 | 0x04, _) => Err(Status::ConditionsOfUseNotSatisfied),
            _ => Err(Status::ClassNotSupported),
        }
    }

    /// GET DATA lifecycle: `C0 03 state ‖ DGIs stored ‖ next P2`.
    pub(super) fn lifecycle_reply(&self, reply: &mut Reply<'_>) -> Result<(), Status> {
        let (count, next) = self.state.perso.as_ref().map_or((0, 0), |p| {
            (u8::try_from(p.dgis.len()).unwrap_or(0xFF), p.next_sequence)
        });
        reply.extend_from_slice(&[0xC0, 0x03, self.lifecycle(), count, next])
    }

    fn store_data(&mut self, p1: u8, p2: u8, data: &[u8]) -> Result<(), Status> {
        let last = match p1 {
            0x00 => false,
            0x80 => true,
            _ => return Err(Status::IncorrectP1P2),
        };
        let perso = self
            .state
            .perso
            .as_ref()
            .ok_or(Status::ConditionsOfUseNotSatisfied)?;
        if perso.personalised {
            return Err(Status::ConditionsOfUseNotSatisfied);
        }
        if p2 != perso.next_sequence {
            return Err(Status::IncorrectP1P2);
        }
        let items = parse_dgis(data)?;
        let mut stored = perso.decoded()?;
        let mut new = Vec::new();
        for (number, value) in items {
            if !dgi::is_known(number) || stored.iter().any(|(d, _)| *d == number) {
                return Err(Status::WrongData);
            }
            let plain = if dgi::is_secret(number) {
                dgi::decipher(&self.dek, number, value)
                    .map_err(|_| Status::WrongData)?
                    .to_vec()
            } else {
                value.to_vec()
            };
            stored.push((number, plain.clone()));
            new.push(StoredDgi {
                dgi: format!("{number:04X}"),
                value: sscard_apdu::hex::to_string(&plain),
            });
        }
        let before_state = self.state.clone();
        let aid = sscard_apdu::hex::to_vec(&perso.aid).map_err(|_| Status::UnspecifiedError)?;
        let built = if last {
            let profile = dgi::to_profile(&aid, &stored).map_err(|_| Status::WrongData)?;
            Some(profile)
        } else {
            None
        };
        let perso = self
            .state
            .perso
            .as_mut()
            .ok_or(Status::ConditionsOfUseNotSatisfied)?;
        perso.dgis.extend(new);
        perso.next_sequence = p2.wrapping_add(1);
        if let Some(profile) = built {
            perso.personalised = true;
            self.state.applications = profile
                .applications
                .iter()
                .map(super::initial_state)
                .collect();
            self.commit(before_state)?;
            self.authenticators = super::authenticators_for(&profile);
            self.profile = profile;
            self.session = Session::default();
            return Ok(());
        }
        self.commit(before_state)
    }
}
