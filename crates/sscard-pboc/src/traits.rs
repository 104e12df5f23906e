//! The kernel's seams: offline data authentication, the cardholder, the issuer and
//! the random source. The kernel calls them; it never knows who implements them.

use alloc::vec::Vec;

use sscard_emv::Tag;
use zeroize::Zeroizing;

use crate::tlvdb::TlvDb;

/// What the terminal knows when it authenticates the card offline.
#[derive(Clone, Copy, Debug)]
pub struct OdaInput<'a> {
    /// The selected application's AID (its first 5 bytes are the RID of the CAPK).
    pub aid: &'a [u8],
    /// Static data to authenticate: record values of SFI 1–10, whole records of
    /// SFI 11–30, then the values of the tags listed in 9F4A (only 82).
    pub static_data: &'a [u8],
    /// Every data object the card has returned (FCI, GPO, records).
    pub card: &'a TlvDb,
    /// The terminal's data objects of this transaction (9F37, 9F02, 5F2A, ...).
    pub terminal: &'a TlvDb,
}

/// What CDA verification needs besides [`OdaInput`].
#[derive(Clone, Copy, Debug)]
pub struct CdaInput<'a> {
    /// The PDOL data sent in GPO.
    pub pdol_data: &'a [u8],
    /// The CDOL1 data (and CDOL2 data after the second GENERATE AC) sent.
    pub cdol_data: &'a [u8],
    /// The GENERATE AC response data field (template `77`).
    pub response: &'a [u8],
}

/// The verdict of one offline data authentication method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OdaVerdict {
    /// Verified; data objects recovered on the way (e.g. 9F45 DAC, 9F4C) are stored.
    Passed(Vec<(Tag, Vec<u8>)>),
    /// Failed: the kernel sets the method's "failed" TVR bit.
    Failed,
    /// Not performed (no verifier): the kernel sets "ODA not performed".
    NotPerformed,
}

/// Offline data authentication (SDA, DDA, CDA, fDDA; RSA or SM2). The kernel collects
/// the input and talks to the card; the implementation checks certificates and
/// signatures. See [`NoOda`].
pub trait OfflineAuth {
    /// SDA over `input.static_data` (signed static application data 93).
    fn sda(&mut self, input: &OdaInput<'_>) -> OdaVerdict;
    /// DDA: `ddol_data` was sent in INTERNAL AUTHENTICATE; `signed_dynamic` is the
    /// 9F4B value (or the format-1 response value) that came back.
    fn dda(&mut self, input: &OdaInput<'_>, ddol_data: &[u8], signed_dynamic: &[u8]) -> OdaVerdict;
    /// Before a CDA GENERATE AC: recover the ICC key (certificates). A verdict other
    /// than `Passed` means CDA is not requested.
    fn cda_prepare(&mut self, input: &OdaInput<'_>) -> OdaVerdict;
    /// After a CDA GENERATE AC: verify the signed dynamic data in the response.
    fn cda(&mut self, input: &OdaInput<'_>, cda: &CdaInput<'_>) -> OdaVerdict;
    /// qPBOC fDDA: `fdda_data` is the terminal's input (9F37 ‖ 9F02 ‖ 5F2A ‖ 9F69)
    /// \[U\]; the card's 9F4B is in `input.card`.
    fn fdda(&mut self, input: &OdaInput<'_>, fdda_data: &[u8]) -> OdaVerdict;
}

/// Performs no offline data authentication: every method is "not performed", so the
/// kernel sets TVR "ODA not performed". Replace with the `sscard_emv::oda` verifier.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoOda;

impl OfflineAuth for NoOda {
    fn sda(&mut self, _: &OdaInput<'_>) -> OdaVerdict {
        OdaVerdict::NotPerformed
    }
    fn dda(&mut self, _: &OdaInput<'_>, _: &[u8], _: &[u8]) -> OdaVerdict {
        OdaVerdict::NotPerformed
    }
    fn cda_prepare(&mut self, _: &OdaInput<'_>) -> OdaVerdict {
        OdaVerdict::NotPerformed
    }
    fn cda(&mut self, _: &OdaInput<'_>, _: &CdaInput<'_>) -> OdaVerdict {
        OdaVerdict::NotPerformed
    }
    fn fdda(&mut self, _: &OdaInput<'_>, _: &[u8]) -> OdaVerdict {
        OdaVerdict::NotPerformed
    }
}

/// What the cardholder did at a PIN prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinEntry {
    /// Offline PIN: the digits as ASCII (`b"1234"`); online PIN: the enciphered PIN
    /// block for the acquirer. Zeroised on drop.
    Entered(Zeroizing<Vec<u8>>),
    /// The cardholder (or attendant) bypassed PIN entry.
    Bypassed,
    /// No working PIN pad.
    Unavailable,
}

/// A description of a candidate application shown to the cardholder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppChoice<'a> {
    /// AID.
    pub aid: &'a [u8],
    /// 50 application label.
    pub label: Option<&'a [u8]>,
    /// 9F12 preferred name.
    pub preferred_name: Option<&'a [u8]>,
}

/// The cardholder and attendant: confirmation, PIN entry, ID presentation.
pub trait Cardholder {
    /// Confirms an application whose priority has bit 8 set (only called when the
    /// terminal configuration says it can confirm).
    fn confirm_application(&mut self, app: &AppChoice<'_>) -> bool;
    /// Asks for the offline PIN; `tries_left` from 9F17 when the card told it.
    fn offline_pin(&mut self, tries_left: Option<u8>) -> PinEntry;
    /// Asks for the online PIN and returns the enciphered PIN block.
    fn online_pin(&mut self) -> PinEntry;
    /// Cardholder ID presentation \[U: PBOC CVM `20`\]: the attendant checks the
    /// document of type `id_type` (9F62) and number `id_number` (9F61).
    fn present_id(&mut self, id_type: Option<&[u8]>, id_number: Option<&[u8]>) -> bool;
}

/// A cardholder who confirms nothing, has no PIN pad and presents no ID.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCardholder;

impl Cardholder for NoCardholder {
    fn confirm_application(&mut self, _: &AppChoice<'_>) -> bool {
        false
    }
    fn offline_pin(&mut self, _: Option<u8>) -> PinEntry {
        PinEntry::Unavailable
    }
    fn online_pin(&mut self) -> PinEntry {
        PinEntry::Unavailable
    }
    fn present_id(&mut self, _: Option<&[u8]>, _: Option<&[u8]>) -> bool {
        false
    }
}

/// An online authorisation request.
#[derive(Clone, Copy, Debug)]
pub struct OnlineRequest<'a> {
    /// The field-55 TLV set.
    pub field55: &'a [u8],
    /// 5A PAN.
    pub pan: Option<&'a [u8]>,
    /// 5F34 PAN sequence number.
    pub psn: Option<&'a [u8]>,
    /// The enciphered online PIN block, when one was entered.
    pub online_pin: Option<&'a [u8]>,
}

/// The issuer's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IssuerResponse {
    /// 8A authorisation response code.
    pub arc: [u8; 2],
    /// 91 issuer authentication data (ARPC ‖ ARC for PBOC).
    pub auth_data: Option<Vec<u8>>,
    /// Issuer script templates (`71`/`72` TLVs, concatenated).
    pub scripts: Vec<u8>,
}

/// Online authorisation (the acquirer and issuer behind it).
pub trait Issuer {
    /// Authorises; `None` when the issuer cannot be reached.
    fn authorise(&mut self, request: &OnlineRequest<'_>) -> Option<IssuerResponse>;
}

/// An issuer that is never reachable.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoIssuer;

impl Issuer for NoIssuer {
    fn authorise(&mut self, _: &OnlineRequest<'_>) -> Option<IssuerResponse> {
        None
    }
}

/// The terminal's random source (unpredictable number, random selection).
pub trait Rng {
    /// Fills `out` with random bytes.
    fn fill(&mut self, out: &mut [u8]);
}

/// The collaborators of one transaction.
pub struct Environment<'a> {
    /// Offline data authentication.
    pub oda: &'a mut dyn OfflineAuth,
    /// The cardholder.
    pub cardholder: &'a mut dyn Cardholder,
    /// The issuer.
    pub issuer: &'a mut dyn Issuer,
    /// The random source.
    pub rng: &'a mut dyn Rng,
}
