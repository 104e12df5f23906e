//! Sending commands through the exchange layer and classifying its failures.

use alloc::vec::Vec;

use sscard_apdu::trace::Trace;
use sscard_apdu::{Exchange, ExchangeError, Transport, TransportError};

use crate::error::{KernelError, Step, Stop, Termination};

/// Room for the largest response after GET RESPONSE concatenation.
const RESPONSE_BUFFER: usize = 4096;

/// A card response: data and status word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    pub data: Vec<u8>,
    pub sw: u16,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.sw == 0x9000
    }
}

/// Sends `apdu` and returns the complete answer. Transport failures stop the kernel;
/// responses that break the exchange rules end the transaction at `step`.
pub(crate) fn send<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    apdu: &[u8],
    step: Step,
) -> Result<Answer, Stop> {
    let mut buf = alloc::vec![0u8; RESPONSE_BUFFER];
    match ex.transceive(apdu, &mut buf) {
        Ok(r) => Ok(Answer {
            data: r.data.to_vec(),
            sw: u16::from(r.status),
        }),
        Err(ExchangeError::Transport(e)) => Err(Stop::Fail(KernelError::Transport(e.kind()))),
        Err(ExchangeError::CommandTooShort | ExchangeError::Build(_)) => {
            Err(Stop::Fail(KernelError::Command))
        }
        Err(_) => Err(Stop::End(Termination::Malformed { step })),
    }
}

/// A case-4 (or case-2 when `data` is empty and `le`) short command.
pub(crate) fn apdu(
    cla: u8,
    ins: u8,
    p1: u8,
    p2: u8,
    data: &[u8],
    le: bool,
) -> Result<Vec<u8>, Stop> {
    let lc = u8::try_from(data.len()).map_err(|_| Stop::Fail(KernelError::Command))?;
    let mut out = Vec::with_capacity(data.len() + 6);
    out.extend_from_slice(&[cla, ins, p1, p2]);
    if !data.is_empty() {
        out.push(lc);
        out.extend_from_slice(data);
    }
    if le {
        out.push(0x00);
    }
    Ok(out)
}

/// READ RECORD `record` of `sfi`.
pub(crate) fn read_record<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    sfi: u8,
    record: u8,
    step: Step,
) -> Result<Answer, Stop> {
    let cmd = apdu(0x00, 0xB2, record, (sfi << 3) | 0x04, &[], true)?;
    send(ex, &cmd, step)
}

/// GET DATA `tag` (two-byte tags; CLA `80`, spec/pboc.md §2).
pub(crate) fn get_data<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    tag: u16,
) -> Result<Answer, Stop> {
    let [p1, p2] = tag.to_be_bytes();
    let cmd = apdu(0x80, 0xCA, p1, p2, &[], true)?;
    send(ex, &cmd, Step::GetData)
}

/// Converts internal control flow into the public error for helpers that have no
/// termination outcome (readers).
pub(crate) fn stop_to_result<T>(r: Result<T, Stop>) -> Result<Result<T, Termination>, KernelError> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(Stop::End(t)) => Ok(Err(t)),
        Err(Stop::Fail(e)) => Err(e),
    }
}
