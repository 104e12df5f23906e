//! The bank application's commands, parsed from APDUs with shape checks only (CLA, INS,
//! P1, P2, Lc); state and access conditions are checked when they execute (STYLE.md,
//! "Parse, then execute").

use sscard_apdu::{CommandView, Status};

/// What an issuer-script command does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptKind {
    /// PUT DATA `04 DA` / `84 DA` of a two-byte tag.
    PutData {
        /// The tag from P1 P2.
        tag: u16,
    },
    /// APPLICATION BLOCK `84 1E`.
    Block,
    /// APPLICATION UNBLOCK `84 18`.
    Unblock,
    /// PIN CHANGE/UNBLOCK `84 24`: P2 `01` carries a new PIN.
    PinChange {
        /// Whether the data holds a new PIN block.
        new_pin: bool,
    },
}

/// A bank-application command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BankCommand<'a> {
    /// SELECT by DF name; `next` for P2 `02`.
    Select {
        /// Next occurrence.
        next: bool,
        /// The DF name (full or partial AID, PSE or PPSE).
        name: &'a [u8],
    },
    /// READ RECORD `record` of `sfi`.
    ReadRecord {
        /// Record number (1–255).
        record: u8,
        /// SFI (1–31).
        sfi: u8,
    },
    /// GET PROCESSING OPTIONS with the PDOL data from the `83` template.
    GetProcessingOptions {
        /// The PDOL data.
        pdol_data: &'a [u8],
    },
    /// GET DATA of a two-byte tag.
    GetData {
        /// The tag from P1 P2.
        tag: u16,
    },
    /// VERIFY with a plaintext PIN block (8 bytes).
    Verify {
        /// The PIN block.
        pin_block: &'a [u8],
    },
    /// GENERATE AC.
    GenerateAc {
        /// Requested cryptogram type (`00`, `40`, `80`).
        requested: u8,
        /// CDA requested (P1 bit `10`).
        cda: bool,
        /// The CDOL data.
        data: &'a [u8],
    },
    /// EXTERNAL AUTHENTICATE with ARPC ‖ ARC.
    ExternalAuthenticate {
        /// The 8-byte ARPC.
        arpc: &'a [u8],
        /// The authorisation response code.
        arc: [u8; 2],
    },
    /// INTERNAL AUTHENTICATE with the DDOL data.
    InternalAuthenticate {
        /// The DDOL data (1–128 bytes).
        ddol_data: &'a [u8],
    },
    /// An issuer-script command with a 4-byte MAC.
    Script {
        /// What it does.
        kind: ScriptKind,
        /// `CLA INS P1 P2 Lc` as the MAC covers them (Lc counts the MAC).
        header: [u8; 5],
        /// The data without the MAC.
        body: &'a [u8],
        /// The MAC.
        mac: &'a [u8],
    },
}

const KNOWN_INS: [u8; 12] = [
    0xA4, 0xB2, 0xA8, 0xCA, 0x20, 0xAE, 0x82, 0x88, 0xDA, 0x1E, 0x18, 0x24,
];

fn p1p2_zero(cmd: &CommandView<'_>) -> Result<(), Status> {
    if cmd.p1() == 0 && cmd.p2() == 0 {
        Ok(())
    } else {
        Err(Status::IncorrectP1P2)
    }
}

/// `83 L <data>` with L in one byte or `81 xx`.
fn gpo_template(data: &[u8]) -> Result<&[u8], Status> {
    let (&tag, rest) = data.split_first().ok_or(Status::WrongLength)?;
    if tag != 0x83 {
        return Err(Status::WrongData);
    }
    let (len, body) = match rest.split_first() {
        Some((&0x81, r)) => {
            let (&l, r) = r.split_first().ok_or(Status::WrongLength)?;
            (usize::from(l), r)
        }
        Some((&l, r)) if l < 0x80 => (usize::from(l), r),
        _ => return Err(Status::WrongLength),
    };
    if body.len() != len {
        return Err(Status::WrongLength);
    }
    Ok(body)
}

fn script<'a>(cmd: &CommandView<'a>, kind: ScriptKind) -> Result<BankCommand<'a>, Status> {
    let data = cmd.data();
    let lc = u8::try_from(data.len()).map_err(|_| Status::WrongLength)?;
    let split = data.len().checked_sub(4).ok_or(Status::WrongLength)?;
    let (body, mac) = data.split_at_checked(split).ok_or(Status::WrongLength)?;
    Ok(BankCommand::Script {
        kind,
        header: [cmd.cla(), cmd.ins(), cmd.p1(), cmd.p2(), lc],
        body,
        mac,
    })
}

impl<'a> TryFrom<&CommandView<'a>> for BankCommand<'a> {
    type Error = Status;

    fn try_from(cmd: &CommandView<'a>) -> Result<Self, Status> {
        let (p1, p2) = (cmd.p1(), cmd.p2());
        match (cmd.cla(), cmd.ins()) {
            (0x00, 0xA4) => {
                if p1 != 0x04 {
                    return Err(Status::IncorrectP1P2);
                }
                let next = match p2 {
                    0x00 => false,
                    0x02 => true,
                    _ => return Err(Status::IncorrectP1P2),
                };
                Ok(Self::Select {
                    next,
                    name: cmd.data(),
                })
            }
            (0x00, 0xB2) => {
                if p1 == 0 || p2 & 0x07 != 0x04 || p2 >> 3 == 0 {
                    return Err(Status::IncorrectP1P2);
                }
                Ok(Self::ReadRecord {
                    record: p1,
                    sfi: p2 >> 3,
                })
            }
            (0x80, 0xA8) => {
                p1p2_zero(cmd)?;
                Ok(Self::GetProcessingOptions {
                    pdol_data: gpo_template(cmd.data())?,
                })
            }
            (0x80 | 0x00, 0xCA) => Ok(Self::GetData {
                tag: u16::from_be_bytes([p1, p2]),
            }),
            (0x00, 0x20) => {
                if p1 != 0x00 || p2 != 0x80 {
                    return Err(Status::IncorrectP1P2);
                }
                if cmd.data().len() != 8 {
                    return Err(Status::WrongLength);
                }
                Ok(Self::Verify {
                    pin_block: cmd.data(),
                })
            }
            (0x80, 0xAE) => {
                let requested = p1 & 0xC0;
                if p2 != 0 || p1 & 0x2F != 0 || requested == 0xC0 {
                    return Err(Status::IncorrectP1P2);
                }
                Ok(Self::GenerateAc {
                    requested,
                    cda: p1 & 0x10 != 0,
                    data: cmd.data(),
                })
            }
            (0x00, 0x82) => {
                p1p2_zero(cmd)?;
                match cmd.data().split_at_checked(8) {
                    Some((arpc, &[a, b])) => Ok(Self::ExternalAuthenticate { arpc, arc: [a, b] }),
                    _ => Err(Status::WrongLength),
                }
            }
            (0x00, 0x88) => {
                p1p2_zero(cmd)?;
                let ddol_data = cmd.data();
                if ddol_data.is_empty() || ddol_data.len() > 128 {
                    return Err(Status::WrongLength);
                }
                Ok(Self::InternalAuthenticate { ddol_data })
            }
            (0x04 | 0x84, 0xDA) => script(
                cmd,
                ScriptKind::PutData {
                    tag: u16::from_be_bytes([p1, p2]),
                },
            ),
            (0x84, 0x1E) => {
                p1p2_zero(cmd)?;
                script(cmd, ScriptKind::Block)
            }
            (0x84, 0x18) => {
                p1p2_zero(cmd)?;
                script(cmd, ScriptKind::Unblock)
            }
            (0x84, 0x24) => {
                if p1 != 0 || p2 > 1 {
                    return Err(Status::IncorrectP1P2);
                }
                script(cmd, ScriptKind::PinChange { new_pin: p2 == 1 })
            }
            (_, ins) if KNOWN_INS.contains(&ins) => Err(Status::ClassNotSupported),
            _ => Err(Status::InstructionNotSupported),
        }
    }
}
