//! Parsing the user card's commands: shape checks only (CLA, INS, P1, P2, Lc, Le), as
//! the specification states them (`spec/sscard.md` §1.6, §2.1), and the emulated COS's
//! issuance commands (ours, `apdu-specs/cos-emulated.md`). State and access
//! conditions are checked when the command executes.

use sscard_apdu::{CommandView, Status};

/// A parsed command of the user card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command<'a> {
    /// SELECT by DF name (P1 `04`).
    SelectByName {
        /// The (possibly right-truncated) AID.
        aid: &'a [u8],
        /// Whether the FCI is wanted (P2 `00`) or not (P2 `0C`).
        fci: bool,
    },
    /// SELECT by file identifier (P1 `00`: any file; P1 `02`: EF under the current DF).
    SelectByFid {
        /// The FID.
        fid: u16,
        /// Only an EF under the current DF may be selected.
        ef_only: bool,
    },
    /// READ RECORD.
    ReadRecord {
        /// Which record.
        target: RecordRef,
        /// The EF by SFI, or the current EF.
        sfi: Option<u8>,
        /// Ne (0 when the command has no Le).
        ne: usize,
    },
    /// UPDATE RECORD: the data is the whole record (a TLV in TLV files).
    UpdateRecord {
        /// Which record.
        target: RecordRef,
        /// The EF by SFI, or the current EF.
        sfi: Option<u8>,
        /// The new record.
        data: &'a [u8],
    },
    /// APPEND RECORD (cyclic and record files).
    AppendRecord {
        /// The EF by SFI, or the current EF.
        sfi: Option<u8>,
        /// The new record.
        data: &'a [u8],
    },
    /// READ BINARY.
    ReadBinary {
        /// The EF by SFI (P1 bit 8 set), or the current EF.
        sfi: Option<u8>,
        /// Offset.
        offset: usize,
        /// Ne (0 when the command has no Le).
        ne: usize,
    },
    /// UPDATE BINARY.
    UpdateBinary {
        /// The EF by SFI (P1 bit 8 set), or the current EF.
        sfi: Option<u8>,
        /// Offset.
        offset: usize,
        /// The bytes to write.
        data: &'a [u8],
    },
    /// VERIFY (PIN, BCD). Without data: ask for the remaining tries.
    Verify {
        /// The BCD PIN, `None` for the status query.
        pin: Option<&'a [u8]>,
    },
    /// CHANGE PIN `80 5E 01 00 Lc old ‖ FF ‖ new` (BCD).
    ChangePin {
        /// The old PIN.
        old: &'a [u8],
        /// The new PIN.
        new: &'a [u8],
    },
    /// EXTERNAL AUTHENTICATE `00 82 00 <key> 10 C(8) ‖ P(8)`.
    ExternalAuth {
        /// The card key id.
        key: u8,
        /// Cryptogram and plain data.
        data: &'a [u8; 16],
    },
    /// INTERNAL AUTHENTICATE `00 88 00 <key> 10 R(8) ‖ P(8)`.
    InternalAuth {
        /// The card key id (`00`: the internal-authentication key).
        key: u8,
        /// Process factor and plain data.
        data: &'a [u8; 16],
    },
    /// RELOAD PIN `84 24 00 01 Lc EncPIN ‖ MAC(4)` (`spec/sscard.md` §3.5).
    ReloadPin {
        /// The encrypted PIN block (8 bytes for 3DES, 16 for SM4).
        enc_pin: &'a [u8],
        /// The 4-byte MAC.
        mac: &'a [u8],
    },
    /// UNBLOCK PIN `84 24 00 00 04 MAC(4)`: resets the try counter.
    UnblockPin {
        /// The 4-byte MAC.
        mac: &'a [u8],
    },
    /// GET CHALLENGE of `len` bytes (8 for 3DES cards, 16 for SM4).
    GetChallenge {
        /// Challenge length.
        len: usize,
    },
    /// Issuance (emulated COS, ours): CREATE DF `80 E0 00 00 Lc TLV`
    /// (`apdu-specs/cos-emulated.md`).
    CreateDf {
        /// The file description (TLV).
        data: &'a [u8],
    },
    /// Issuance (ours): CREATE EF `80 E0 01 00 Lc TLV`.
    CreateEf {
        /// The file description (TLV).
        data: &'a [u8],
    },
    /// Issuance (ours): END PRE-ISSUANCE `80 E0 02 00`.
    EndPreIssuance,
    /// Issuance (ours): ERASE `80 EE 00 00`: a card still in pre-issuance back to blank.
    Erase,
    /// Issuance (ours): GET DATA lifecycle `80 CA 00 C0 Le`.
    IssuanceStatus,
    /// Issuance (ours): WRITE KEY `84 D4 00 00 Lc id ‖ type ‖ alg ‖ tries ‖ blob ‖
    /// MAC(4)`.
    WriteKey {
        /// Everything before the MAC (`id ‖ type ‖ alg ‖ tries ‖ blob`).
        body: &'a [u8],
        /// The 4-byte MAC.
        mac: &'a [u8],
    },
}

/// How READ/UPDATE RECORD names its record (P2 bits 3–1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordRef {
    /// P2 `xxxxx100`: record number P1.
    Number(u8),
    /// P2 `xxxxx000`: first record whose tag is P1.
    Tag(u8),
}

mod ins {
    pub const SELECT: u8 = 0xA4;
    pub const READ_RECORD: u8 = 0xB2;
    pub const UPDATE_RECORD: u8 = 0xDC;
    pub const APPEND_RECORD: u8 = 0xE2;
    pub const READ_BINARY: u8 = 0xB0;
    pub const UPDATE_BINARY: u8 = 0xD6;
    pub const VERIFY: u8 = 0x20;
    pub const GET_CHALLENGE: u8 = 0x84;
    pub const EXTERNAL_AUTHENTICATE: u8 = 0x82;
    pub const INTERNAL_AUTHENTICATE: u8 = 0x88;
    /// Proprietary (CLA 80): CHANGE PIN.
    pub const CHANGE_PIN: u8 = 0x5E;
    /// Proprietary with MAC (CLA 84): RELOAD (P2 01) / UNBLOCK (P2 00) PIN.
    pub const PIN_RELOAD: u8 = 0x24;
    /// Issuance, emulated COS (CLA 80): CREATE DF / CREATE EF / END PRE-ISSUANCE.
    pub const ISSUE_CREATE: u8 = 0xE0;
    /// Issuance, emulated COS (CLA 80): ERASE (pre-issuance only).
    pub const ISSUE_ERASE: u8 = 0xEE;
    /// Issuance, emulated COS (CLA 80): GET DATA (lifecycle, P2 `C0`).
    pub const GET_DATA: u8 = 0xCA;
    /// Issuance, emulated COS (CLA 84, MAC'd): WRITE KEY.
    pub const WRITE_KEY: u8 = 0xD4;
}

impl<'a> TryFrom<&CommandView<'a>> for Command<'a> {
    type Error = Status;

    fn try_from(c: &CommandView<'a>) -> Result<Self, Status> {
        match c.cla() {
            0x00 => {}
            0x80 | 0x84 => return parse_proprietary(c),
            // Logical channels 1-3 of the interindustry class.
            0x01..=0x03 => return Err(Status::LogicalChannelNotSupported),
            // Secure messaging indicated in the interindustry class.
            0x04..=0x0F => return Err(Status::SecureMessagingNotSupported),
            _ => return Err(Status::ClassNotSupported),
        }
        match c.ins() {
            ins::SELECT => parse_select(c),
            ins::READ_RECORD => {
                no_data(c)?;
                let (target, sfi) = record_ref(c)?;
                Ok(Command::ReadRecord {
                    target,
                    sfi,
                    ne: c.le().unwrap_or(0),
                })
            }
            ins::UPDATE_RECORD => {
                let (target, sfi) = record_ref(c)?;
                Ok(Command::UpdateRecord {
                    target,
                    sfi,
                    data: with_data(c)?,
                })
            }
            ins::APPEND_RECORD => {
                // P1 00; P2 = SFI << 3 (bits 3-1 zero).
                if c.p1() != 0 || c.p2() & 0x07 != 0 || c.p2() >> 3 == 31 {
                    return Err(Status::IncorrectP1P2);
                }
                Ok(Command::AppendRecord {
                    sfi: sfi_of(c.p2() >> 3),
                    data: with_data(c)?,
                })
            }
            ins::READ_BINARY => {
                no_data(c)?;
                let (sfi, offset) = binary_ref(c)?;
                Ok(Command::ReadBinary {
                    sfi,
                    offset,
                    ne: c.le().unwrap_or(0),
                })
            }
            ins::UPDATE_BINARY => {
                let (sfi, offset) = binary_ref(c)?;
                Ok(Command::UpdateBinary {
                    sfi,
                    offset,
                    data: with_data(c)?,
                })
            }
            ins::VERIFY => {
                if c.p1() != 0 || c.p2() != 0 {
                    return Err(Status::IncorrectP1P2);
                }
                if c.le().is_some() {
                    return Err(Status::WrongLength);
                }
                let pin = (!c.data().is_empty()).then_some(c.data());
                if pin.is_some_and(|p| p.len() > 8) {
                    return Err(Status::WrongLength);
                }
                Ok(Command::Verify { pin })
            }
            ins::EXTERNAL_AUTHENTICATE | ins::INTERNAL_AUTHENTICATE => {
                if c.p1() != 0 {
                    return Err(Status::IncorrectP1P2);
                }
                let external = c.ins() == ins::EXTERNAL_AUTHENTICATE;
                // EXTERNAL AUTHENTICATE returns nothing; INTERNAL may carry Le.
                if external && c.le().is_some() {
                    return Err(Status::WrongLength);
                }
                let data: &[u8; 16] = c.data().try_into().map_err(|_| Status::WrongLength)?;
                Ok(if external {
                    Command::ExternalAuth { key: c.p2(), data }
                } else {
                    Command::InternalAuth { key: c.p2(), data }
                })
            }
            ins::GET_CHALLENGE => {
                if c.p1() != 0 || c.p2() != 0 {
                    return Err(Status::IncorrectP1P2);
                }
                match (c.data().is_empty(), c.le()) {
                    (true, Some(len @ (4 | 8 | 16))) => Ok(Command::GetChallenge { len }),
                    _ => Err(Status::WrongLength),
                }
            }
            _ => Err(Status::InstructionNotSupported),
        }
    }
}

fn parse_proprietary<'a>(c: &CommandView<'a>) -> Result<Command<'a>, Status> {
    match (c.cla(), c.ins()) {
        (0x80, ins::CHANGE_PIN) => {
            if c.p1() != 0x01 || c.p2() != 0x00 {
                return Err(Status::IncorrectP1P2);
            }
            let data = with_data(c)?;
            let split = data
                .iter()
                .position(|b| *b == 0xFF)
                .ok_or(Status::WrongData)?;
            let (old, rest) = data.split_at(split);
            let new = rest.get(1..).unwrap_or_default();
            if old.is_empty() || new.is_empty() || old.len() > 8 || new.len() > 8 {
                return Err(Status::WrongData);
            }
            Ok(Command::ChangePin { old, new })
        }
        (0x84, ins::PIN_RELOAD) => {
            let data = with_data(c)?;
            match (c.p1(), c.p2(), data.len()) {
                (0x00, 0x01, 12 | 20) => {
                    let (enc_pin, mac) = data.split_at(data.len() - 4);
                    Ok(Command::ReloadPin { enc_pin, mac })
                }
                (0x00, 0x00, 4) => Ok(Command::UnblockPin { mac: data }),
                (0x00, 0x00 | 0x01, _) => Err(Status::WrongLength),
                _ => Err(Status::IncorrectP1P2),
            }
        }
        (0x80, ins::ISSUE_CREATE) => {
            if c.p2() != 0 {
                return Err(Status::IncorrectP1P2);
            }
            match c.p1() {
                0x00 => Ok(Command::CreateDf {
                    data: with_data(c)?,
                }),
                0x01 => Ok(Command::CreateEf {
                    data: with_data(c)?,
                }),
                0x02 => {
                    no_data(c)?;
                    Ok(Command::EndPreIssuance)
                }
                _ => Err(Status::IncorrectP1P2),
            }
        }
        (0x80, ins::ISSUE_ERASE) => {
            if c.p1() != 0 || c.p2() != 0 {
                return Err(Status::IncorrectP1P2);
            }
            no_data(c)?;
            Ok(Command::Erase)
        }
        (0x80, ins::GET_DATA) => {
            // Only the lifecycle object; other objects are not part of this COS (and
            // answered as before the issuance commands existed).
            if c.p1() != 0 || c.p2() != 0xC0 {
                return Err(Status::InstructionNotSupported);
            }
            no_data(c)?;
            Ok(Command::IssuanceStatus)
        }
        (0x84, ins::WRITE_KEY) => {
            if c.p1() != 0 || c.p2() != 0 {
                return Err(Status::IncorrectP1P2);
            }
            let data = with_data(c)?;
            // id, type, algorithm, tries, at least one 8-byte block, MAC.
            if data.len() < 4 + 8 + 4 {
                return Err(Status::WrongLength);
            }
            let (body, mac) = data.split_at(data.len() - 4);
            Ok(Command::WriteKey { body, mac })
        }
        _ => Err(Status::InstructionNotSupported),
    }
}

fn parse_select<'a>(c: &CommandView<'a>) -> Result<Command<'a>, Status> {
    let fci = match c.p2() {
        0x00 => true,
        0x0C => false,
        _ => return Err(Status::IncorrectP1P2),
    };
    match c.p1() {
        0x04 => {
            if c.data().is_empty() || c.data().len() > 16 {
                return Err(Status::WrongLength);
            }
            Ok(Command::SelectByName { aid: c.data(), fci })
        }
        0x00 | 0x02 => {
            let &[hi, lo] = c.data() else {
                return Err(Status::WrongLength);
            };
            Ok(Command::SelectByFid {
                fid: u16::from_be_bytes([hi, lo]),
                ef_only: c.p1() == 0x02,
            })
        }
        _ => Err(Status::IncorrectP1P2),
    }
}

fn no_data(c: &CommandView<'_>) -> Result<(), Status> {
    if c.data().is_empty() {
        Ok(())
    } else {
        Err(Status::WrongLength)
    }
}

fn with_data<'a>(c: &CommandView<'a>) -> Result<&'a [u8], Status> {
    if c.data().is_empty() || c.le().is_some() {
        Err(Status::WrongLength)
    } else {
        Ok(c.data())
    }
}

fn sfi_of(bits: u8) -> Option<u8> {
    (bits != 0).then_some(bits)
}

/// P1/P2 of READ/UPDATE RECORD (`spec/sscard.md` §1.6).
fn record_ref(c: &CommandView<'_>) -> Result<(RecordRef, Option<u8>), Status> {
    let sfi = match c.p2() >> 3 {
        31 => return Err(Status::IncorrectP1P2),
        bits => sfi_of(bits),
    };
    let target = match c.p2() & 0x07 {
        0x04 if c.p1() != 0 => RecordRef::Number(c.p1()),
        0x00 if c.p1() != 0 && c.p1() != 0xFF => RecordRef::Tag(c.p1()),
        // Record 0 (current record) and the next/previous/last forms are not
        // supported by this COS.
        _ => return Err(Status::IncorrectP1P2),
    };
    Ok((target, sfi))
}

/// P1/P2 of READ/UPDATE BINARY: P1 bit 8 set → SFI in bits 5–1 and offset P2;
/// otherwise a 15-bit offset.
fn binary_ref(c: &CommandView<'_>) -> Result<(Option<u8>, usize), Status> {
    if c.p1() & 0x80 != 0 {
        if c.p1() & 0x60 != 0 {
            return Err(Status::IncorrectP1P2);
        }
        let sfi = c.p1() & 0x1F;
        if sfi == 0 || sfi == 31 {
            return Err(Status::IncorrectP1P2);
        }
        Ok((Some(sfi), usize::from(c.p2())))
    } else {
        Ok((None, usize::from(u16::from_be_bytes([c.p1(), c.p2()]))))
    }
}
