//! ISO/IEC 14443-4 (ISO-DEP) between `IsoDep` and `PiccEngine` over a simulated RF
//! channel (`Loopback`, simulated clock) with fault injection: the `sscard-emu`
//! sample card read through `sscard-ssse`, chaining both ways with small frames,
//! WTX, lost and damaged frames, a mute card, a card removed mid-exchange, garbage
//! blocks, CID, PPS, DESELECT, presence checks, and properties (arbitrary card
//! answers never panic or hang; random APDUs round-trip with random FSC/FSD).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::collections::HashMap;

use proptest::prelude::*;
use sscard_apdu::applet::Interface;
use sscard_apdu::{Exchange, Reader, ResetKind, Status, Transport};
use sscard_emu::{sample_card, EchoCard, SsCard};
use sscard_link::iso14443::picc::PiccState;
use sscard_link::iso14443::{
    crc_a, AppletHandler, Ats, AtsConfig, BitRate, Block, Capabilities, ContactlessFrontEnd,
    FrontEndErrorKind, IsoDep, IsoDepConfig, IsoDepError, Loopback, PiccConfig, PiccEngine, TypeA,
    FWT_MAX_US, PSEUDO_ATR_MAX,
};
use sscard_link::{Atr, CardHandler};

const SELECT_SSSE: &str = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF";
const READ_CARD_NUMBER: &str = "00B207280B";
const CARD_NUMBER_RECORD: &str = "0709413132333435363738";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// What the channel does to one reader frame (counted from 0, activation
/// included).
#[derive(Clone, Debug)]
enum Fault {
    /// The card never hears the frame.
    LoseCommand,
    /// The card answers, the reader hears nothing.
    LoseAnswer,
    /// The card answers, the reader's chip reports a transmission error.
    Damage,
    /// The card answers; this bit of this byte of the answer flips on the air.
    Flip { index: usize, mask: u8 },
    /// The card answers; the reader receives these bytes instead.
    Replace(Vec<u8>),
    /// The card leaves the field before the frame.
    Remove,
}

/// A front end with faults on given frames, or on every frame from one on.
struct Faulty<H> {
    inner: Loopback<H>,
    faults: HashMap<u64, Fault>,
    always_from: Option<(u64, Fault)>,
    sent: Vec<Vec<u8>>,
}

impl<H: CardHandler> Faulty<H> {
    fn new(inner: Loopback<H>) -> Self {
        Self {
            inner,
            faults: HashMap::new(),
            always_from: None,
            sent: Vec::new(),
        }
    }

    fn at(&mut self, frame: u64, fault: Fault) {
        self.faults.insert(frame, fault);
    }

    /// Frames the reader sent so far.
    fn count(&self) -> u64 {
        self.sent.len() as u64
    }

    /// Frames sent after `from`, without CRC when the reader adds it.
    fn sent_after(&self, from: usize) -> Vec<Vec<u8>> {
        let crc = !self.inner.capabilities().crc;
        self.sent[from..]
            .iter()
            .map(|f| {
                if crc {
                    f[..f.len() - 2].to_vec()
                } else {
                    f.clone()
                }
            })
            .collect()
    }
}

impl<H: CardHandler> ContactlessFrontEnd for Faulty<H> {
    type Error = FrontEndErrorKind;

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn set_field(&mut self, on: bool) -> Result<(), Self::Error> {
        self.inner.set_field(on)
    }

    fn activate_a(&mut self, wake_up: bool) -> Result<Option<TypeA>, Self::Error> {
        self.inner.activate_a(wake_up)
    }

    fn transceive(
        &mut self,
        frame: &[u8],
        response: &mut [u8],
        timeout_us: u32,
    ) -> Result<usize, Self::Error> {
        let index = self.count();
        self.sent.push(frame.to_vec());
        let fault = match &self.always_from {
            Some((from, f)) if index >= *from => Some(f.clone()),
            _ => self.faults.get(&index).cloned(),
        };
        match fault {
            None => self.inner.transceive(frame, response, timeout_us),
            Some(Fault::LoseCommand) => {
                self.inner.advance(u64::from(timeout_us));
                Err(FrontEndErrorKind::Timeout)
            }
            Some(Fault::Remove) => {
                self.inner.remove();
                self.inner.transceive(frame, response, timeout_us)
            }
            Some(Fault::LoseAnswer) => {
                self.inner.transceive(frame, response, timeout_us)?;
                Err(FrontEndErrorKind::Timeout)
            }
            Some(Fault::Damage) => {
                self.inner.transceive(frame, response, timeout_us)?;
                Err(FrontEndErrorKind::Transmission)
            }
            Some(Fault::Flip { index, mask }) => {
                let n = self.inner.transceive(frame, response, timeout_us)?;
                response[index.min(n - 1)] ^= mask;
                Ok(n)
            }
            Some(Fault::Replace(bytes)) => {
                self.inner.transceive(frame, response, timeout_us)?;
                response[..bytes.len()].copy_from_slice(&bytes);
                Ok(bytes.len())
            }
        }
    }

    fn set_bit_rate(&mut self, to_card: BitRate, from_card: BitRate) -> Result<(), Self::Error> {
        self.inner.set_bit_rate(to_card, from_card)
    }

    fn delay_us(&mut self, us: u32) -> Result<(), Self::Error> {
        self.inner.delay_us(us)
    }
}

fn uid() -> TypeA {
    TypeA::new(
        &[0x04, 0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC],
        0x20,
        [0x44, 0x00],
    )
    .unwrap()
}

/// The sample card's ATR historical bytes: the ATS carries them.
fn historical() -> Vec<u8> {
    let card = sample_card().unwrap();
    sscard_apdu::atr::historical_bytes(sscard_apdu::applet::Card::atr(&card))
        .unwrap()
        .to_vec()
}

fn sample_ats() -> AtsConfig {
    AtsConfig::new().timing(7, 1).historical(&historical())
}

type Emu = AppletHandler<SsCard>;

fn emu_picc(cfg: PiccConfig) -> PiccEngine<Emu> {
    PiccEngine::new(
        AppletHandler::new(sample_card().unwrap(), Interface::Contactless),
        cfg,
    )
}

fn rig(caps: Capabilities, cfg: IsoDepConfig, picc: PiccConfig) -> IsoDep<Faulty<Emu>> {
    IsoDep::new(Faulty::new(Loopback::new(emu_picc(picc), caps)), cfg)
}

fn sw_crc() -> Capabilities {
    Capabilities::new(false, BitRate::Kbps848)
}

fn hw_crc() -> Capabilities {
    Capabilities::new(true, BitRate::Kbps848)
}

fn default_rig() -> IsoDep<Faulty<Emu>> {
    rig(
        sw_crc(),
        IsoDepConfig::new(),
        PiccConfig::new(uid(), sample_ats()),
    )
}

fn read_card_number(iso: &mut IsoDep<Faulty<Emu>>) -> Result<Vec<u8>, IsoDepError> {
    let mut buf = [0u8; 300];
    let n = iso.transceive(&hex(SELECT_SSSE), &mut buf)?;
    assert_eq!(&buf[n - 2..n], &[0x90, 0x00]);
    let n = iso.transceive(&hex(READ_CARD_NUMBER), &mut buf)?;
    Ok(buf[..n].to_vec())
}

fn expected_record() -> Vec<u8> {
    let mut v = hex(CARD_NUMBER_RECORD);
    v.extend_from_slice(&[0x90, 0x00]);
    v
}

fn picc_commands(iso: &mut IsoDep<Faulty<Emu>>) -> usize {
    iso.front_end().inner.picc().commands()
}

fn now(iso: &mut IsoDep<Faulty<Emu>>) -> u64 {
    iso.front_end().inner.now_us()
}

#[test]
fn crc_a_test_vectors() {
    assert_eq!(crc_a(&[0x00, 0x00]), [0xA0, 0x1E]);
    assert_eq!(crc_a(&[0x12, 0x34]), [0x26, 0xCF]);
}

#[test]
fn basic_information_through_sscard_ssse_over_iso_dep() {
    for caps in [sw_crc(), hw_crc()] {
        let iso = rig(
            caps,
            IsoDepConfig::new(),
            PiccConfig::new(uid(), sample_ats()),
        );
        let mut ex = Exchange::new(iso);
        let mut atr = [0u8; 40];
        let n = ex.transport().atr(&mut atr).unwrap();
        // The pseudo-ATR carries the card's historical bytes.
        let parsed = Atr::parse(&atr[..n]).unwrap();
        assert_eq!(parsed.historical_bytes(), historical().as_slice());
        assert_eq!(ex.transport().card().unwrap().uid(), uid().uid());
        let profile = sscard_fs::builtin_profile().unwrap();
        let info = sscard_ssse::read_basic(&mut ex, &profile, &atr[..n]).unwrap();
        assert_eq!(info.name, "李测试");
        assert_eq!(info.card_number, "A12345678");
        assert_eq!(
            info.atr_historical,
            sscard_apdu::hex::to_string(&historical())
        );
        let frames = ex.transport().front_end().count();
        assert!(frames > 8, "{frames}");
    }
}

#[test]
fn chaining_both_ways_with_fsc_16_and_fsd_32() {
    let ats = sample_ats().fsci(0);
    let mut iso = rig(
        sw_crc(),
        IsoDepConfig::new().with_fsd(32),
        PiccConfig::new(uid(), ats),
    );
    iso.activate().unwrap();
    assert_eq!(iso.fsc(), 16);
    assert_eq!(iso.front_end().inner.picc().fsd(), 32);
    let from = iso.front_end().count() as usize;
    let mut buf = [0u8; 300];
    // SELECT is 21 bytes: two chained I-blocks (13 bytes of INF each at most)
    // and a last one.
    let n = iso.transceive(&hex(SELECT_SSSE), &mut buf).unwrap();
    assert_eq!(&buf[n - 2..n], &[0x90, 0x00]);
    let sent = iso.front_end().sent_after(from);
    assert!(sent.len() >= 2, "{sent:02X?}");
    assert_eq!(sent[0][0], 0x12, "I(0) with chaining");
    assert_eq!(sent[0].len(), 14);
    assert_eq!(sent[1][0], 0x03, "I(1) without chaining");
    assert_eq!(picc_commands(&mut iso), 1);
    // A response longer than FSD − 3 comes chained; the reader acknowledges.
    let echo = PiccEngine::new(
        AppletHandler::new(EchoCard::new(), Interface::Contactless),
        PiccConfig::new(uid(), AtsConfig::new().fsci(0)),
    );
    let mut iso = IsoDep::new(
        Faulty::new(Loopback::new(echo, sw_crc())),
        IsoDepConfig::new().with_fsd(32),
    );
    let data: Vec<u8> = (0..100u8).collect();
    let mut cmd = vec![0x00, 0x10, 0x00, 0x00, data.len() as u8];
    cmd.extend_from_slice(&data);
    cmd.push(0x00);
    iso.activate().unwrap();
    let from = iso.front_end().count() as usize;
    let n = iso.transceive(&cmd, &mut buf).unwrap();
    assert_eq!(&buf[..n - 2], data.as_slice());
    assert_eq!(&buf[n - 2..n], &[0x90, 0x00]);
    let sent = iso.front_end().sent_after(from);
    let i_blocks = sent.iter().filter(|f| f[0] & 0xE2 == 0x02).count();
    let acks = sent.iter().filter(|f| f[0] & 0xF6 == 0xA2).count();
    // 106 bytes in 13-byte chunks: 9 I-blocks; 102 back in 29-byte chunks: 4
    // blocks, 3 of them acknowledged.
    assert_eq!(i_blocks, 9, "{sent:02X?}");
    assert_eq!(acks, 3, "{sent:02X?}");
}

#[test]
fn wtx_requests_are_answered_and_stretch_the_wait() {
    let picc = PiccConfig::new(uid(), sample_ats()).with_wtx(3, 5);
    let mut iso = rig(sw_crc(), IsoDepConfig::new(), picc);
    iso.activate().unwrap();
    let from = iso.front_end().count() as usize;
    assert_eq!(read_card_number(&mut iso).unwrap(), expected_record());
    let sent = iso.front_end().sent_after(from);
    let wtx: Vec<_> = sent.iter().filter(|f| f[0] == 0xF2).collect();
    assert_eq!(wtx.len(), 6, "three per command: {sent:02X?}");
    assert!(wtx.iter().all(|f| f[1] == 5));
}

#[test]
fn a_wtx_storm_ends_in_an_error_within_the_budget() {
    let picc = PiccConfig::new(uid(), sample_ats()).with_wtx(u16::MAX, 59);
    let mut iso = rig(sw_crc(), IsoDepConfig::new().with_bounds(3, 10), picc);
    iso.activate().unwrap();
    let from = iso.front_end().count();
    let mut buf = [0u8; 64];
    let err = iso.transceive(&hex(SELECT_SSSE), &mut buf).unwrap_err();
    assert_eq!(err, IsoDepError::TooManyWtx);
    // The I-block and ten S(WTX) responses.
    assert_eq!(iso.front_end().count() - from, 11);
    assert!(!iso.is_active());
    assert_eq!(
        iso.transceive(&hex(SELECT_SSSE), &mut buf),
        Err(IsoDepError::NotActive)
    );
    // WTXM 59 × FWT(7) stays below the cap of an extension.
    assert!(iso.fwt_us() * 59 < FWT_MAX_US);
}

#[test]
fn a_lost_command_frame_is_sent_again() {
    let mut iso = default_rig();
    iso.activate().unwrap();
    let first = iso.front_end().count();
    iso.front_end().at(first, Fault::LoseCommand);
    assert_eq!(read_card_number(&mut iso).unwrap(), expected_record());
    let sent = iso.front_end().sent_after(first as usize);
    // I(0) lost, R(NAK)(0), the card's R(ACK)(1) asks for it again (rule 6).
    assert_eq!(sent[0][0], 0x02);
    assert_eq!(sent[1][0], 0xB2);
    assert_eq!(sent[2], sent[0]);
    assert_eq!(picc_commands(&mut iso), 2);
}

#[test]
fn a_lost_answer_is_sent_again_without_running_the_command_twice() {
    let mut iso = default_rig();
    iso.activate().unwrap();
    let first = iso.front_end().count();
    iso.front_end().at(first, Fault::LoseAnswer);
    assert_eq!(read_card_number(&mut iso).unwrap(), expected_record());
    let sent = iso.front_end().sent_after(first as usize);
    // R(NAK)(0) gets the card's last block again (rule 11).
    assert_eq!(sent[1][0], 0xB2);
    assert_eq!(sent.len(), 3);
    assert_eq!(picc_commands(&mut iso), 2, "SELECT ran once");
}

#[test]
fn crc_errors_and_transmission_errors_are_recovered() {
    let mut iso = default_rig();
    iso.activate().unwrap();
    let first = iso.front_end().count();
    // The reader checks CRC_A itself here: a flipped bit is a CRC error.
    iso.front_end().at(
        first,
        Fault::Flip {
            index: 1,
            mask: 0x04,
        },
    );
    iso.front_end().at(first + 2, Fault::Damage);
    assert_eq!(read_card_number(&mut iso).unwrap(), expected_record());
    let sent = iso.front_end().sent_after(first as usize);
    let naks = sent.iter().filter(|f| f[0] & 0xF6 == 0xB2).count();
    assert_eq!(naks, 2, "{sent:02X?}");
    assert_eq!(picc_commands(&mut iso), 2);
}

#[test]
fn too_many_errors_in_a_row_fail_the_command() {
    let mut iso = default_rig();
    iso.activate().unwrap();
    let first = iso.front_end().count();
    for k in 0..4 {
        iso.front_end().at(first + k, Fault::Damage);
    }
    let mut buf = [0u8; 64];
    assert_eq!(
        iso.transceive(&hex(SELECT_SSSE), &mut buf),
        Err(IsoDepError::Transmission)
    );
    assert_eq!(iso.front_end().count() - first, 4);
}

#[test]
fn a_mute_card_fails_in_bounded_time() {
    let mut iso = default_rig();
    iso.activate().unwrap();
    let first = iso.front_end().count();
    iso.front_end().always_from = Some((first, Fault::LoseCommand));
    let start = now(&mut iso);
    let mut buf = [0u8; 64];
    assert_eq!(
        iso.transceive(&hex(SELECT_SSSE), &mut buf),
        Err(IsoDepError::Timeout)
    );
    let frames = iso.front_end().count() - first;
    assert_eq!(frames, 4, "the I-block and three R(NAK)s");
    let per_frame = u64::from(iso.fwt_us() + iso.config().fwt_margin_us) + 3_000;
    assert!(now(&mut iso) - start <= frames * per_frame);
    // Still in the field at layer 3: polling finds it, activation fails.
    assert!(iso.presence().unwrap());
    assert_eq!(iso.activate().unwrap_err(), IsoDepError::Timeout);
}

#[test]
fn a_card_removed_mid_exchange() {
    // FSD 16: the answer to SELECT (its FCI) comes chained; the card leaves
    // during the chain.
    let mut iso = rig(
        sw_crc(),
        IsoDepConfig::new().with_fsd(16),
        PiccConfig::new(uid(), sample_ats()),
    );
    iso.activate().unwrap();
    let mut buf = [0u8; 300];
    let first = iso.front_end().count();
    iso.front_end().at(first + 1, Fault::Remove);
    assert_eq!(
        iso.transceive(&hex(SELECT_SSSE), &mut buf),
        Err(IsoDepError::Timeout)
    );
    let sent = iso.front_end().sent_after(first as usize);
    assert_eq!(
        sent[1],
        [0xA3],
        "removed while acknowledging a chained block"
    );
    assert_eq!(sent.len(), 5, "R(ACK) and three repetitions: {sent:02X?}");
    assert!(!iso.presence().unwrap());
    assert!(!iso.is_active());
    // Back in the field: found, activated, and it answers.
    iso.front_end().inner.insert();
    assert!(iso.presence().unwrap());
    assert_eq!(read_card_number(&mut iso).unwrap(), expected_record());
}

#[test]
fn garbage_blocks_are_rejected_and_recovered_from() {
    let mut iso = default_rig();
    iso.activate().unwrap();
    let garbage: [&[u8]; 6] = [
        &[0x22],             // reserved PCB (b6 set in an I-block)
        &[0x0A, 0x05, 0x90], // a CID we did not send
        &[0xA2, 0x00],       // R-block with INF
        &[0xF2],             // S(WTX) without WTXM
        &[0xF2, 0x00],       // WTXM 0
        &[0x12],             // empty chained I-block
    ];
    for g in garbage {
        let first = iso.front_end().count();
        let mut framed = g.to_vec();
        framed.extend_from_slice(&crc_a(g));
        iso.front_end().at(first, Fault::Replace(framed));
        let mut buf = [0u8; 64];
        let n = iso.transceive(&hex(READ_CARD_NUMBER), &mut buf);
        // The card's first answer is replaced; the R(NAK) gets it again.
        assert!(n.is_ok(), "{g:02X?}: {n:?}");
        let sent = iso.front_end().sent_after(first as usize);
        assert_eq!(sent[1][0] & 0xF6, 0xB2, "{g:02X?}");
    }
    // Garbage for ever: a protocol error after the retries.
    let first = iso.front_end().count();
    iso.front_end().always_from = Some((first, Fault::Replace(vec![0x22, 0x00, 0x00])));
    let mut buf = [0u8; 64];
    assert_eq!(
        iso.transceive(&hex(READ_CARD_NUMBER), &mut buf),
        Err(IsoDepError::Transmission)
    );
    assert_eq!(iso.front_end().count() - first, 4);
}

#[test]
fn cid_pps_deselect_and_wake_up() {
    let ats = sample_ats().bit_rates(BitRate::Kbps424);
    let mut iso = rig(
        hw_crc(),
        IsoDepConfig::new()
            .with_cid(3)
            .with_bit_rate(BitRate::Kbps848),
        PiccConfig::new(uid(), ats),
    );
    let ats = iso.activate().unwrap();
    assert!(ats.cid_supported());
    assert_eq!(iso.bit_rate(), BitRate::Kbps424);
    assert_eq!(
        iso.front_end().inner.picc().bit_rate(),
        (BitRate::Kbps424, BitRate::Kbps424)
    );
    let from = iso.front_end().count() as usize;
    assert_eq!(read_card_number(&mut iso).unwrap(), expected_record());
    let sent = iso.front_end().sent_after(from);
    // I-blocks with the CID flag and CID 3.
    assert_eq!(&sent[0][..2], &[0x0A, 0x03]);
    assert_eq!(&sent[1][..2], &[0x0B, 0x03]);
    // Presence check: R(NAK) with the CID.
    let from = iso.front_end().count() as usize;
    assert!(iso.presence().unwrap());
    assert_eq!(iso.front_end().sent_after(from), [vec![0xBA, 0x03]]);
    // Warm reset: S(DESELECT), WUPA wakes the halted card, RATS again.
    let from = iso.front_end().count() as usize;
    iso.reset(ResetKind::Warm).unwrap();
    let sent = iso.front_end().sent_after(from);
    assert_eq!(sent[0], [0xCA, 0x03]);
    assert_eq!(sent[1], [0xE0, 0x83]);
    assert_eq!(read_card_number(&mut iso).unwrap(), expected_record());
    // Power off: S(DESELECT), the card halts, the field goes.
    iso.power_off().unwrap();
    assert!(!iso.front_end().inner.field_on());
    assert_eq!(iso.front_end().inner.picc().state(), PiccState::Off);
}

#[test]
fn a_card_without_cid_support_gets_no_cid() {
    let ats = sample_ats().cid_nad(false, false);
    let mut iso = rig(
        sw_crc(),
        IsoDepConfig::new().with_cid(5),
        PiccConfig::new(uid(), ats),
    );
    iso.activate().unwrap();
    let from = iso.front_end().count() as usize;
    assert_eq!(read_card_number(&mut iso).unwrap(), expected_record());
    assert_eq!(iso.front_end().sent_after(from)[0][0], 0x02);
}

#[test]
fn deselect_without_answer_is_repeated_then_given_up() {
    let mut iso = default_rig();
    iso.activate().unwrap();
    let first = iso.front_end().count();
    iso.front_end().always_from = Some((first, Fault::LoseCommand));
    assert_eq!(iso.deselect(), Err(IsoDepError::Timeout));
    assert_eq!(iso.front_end().count() - first, 3);
    assert!(!iso.is_active());
}

#[test]
fn no_card_and_not_iso_dep() {
    let mut iso = default_rig();
    iso.front_end().inner.remove();
    assert_eq!(iso.activate().unwrap_err(), IsoDepError::NoCard);
    assert_eq!(iso.presence(), Ok(false));
    let mifare = TypeA::new(&[1, 2, 3, 4], 0x08, [0x04, 0x00]).unwrap();
    let mut iso = rig(
        sw_crc(),
        IsoDepConfig::new(),
        PiccConfig::new(mifare, sample_ats()),
    );
    assert_eq!(iso.activate().unwrap_err(), IsoDepError::NotIsoDep);
    let mut buf = [0u8; 8];
    assert_eq!(
        iso.transmit(&hex(READ_CARD_NUMBER), &mut buf),
        Err(IsoDepError::NotActive)
    );
}

#[test]
fn a_mute_card_at_rats_fails_activation() {
    let mut iso = default_rig();
    iso.front_end().always_from = Some((0, Fault::LoseAnswer));
    assert_eq!(iso.activate().unwrap_err(), IsoDepError::Timeout);
    assert_eq!(iso.front_end().count(), 4, "RATS and three repetitions");
}

#[test]
fn buffer_too_small_keeps_the_link() {
    let mut iso = default_rig();
    let mut small = [0u8; 4];
    let mut buf = [0u8; 64];
    iso.transceive(&hex(SELECT_SSSE), &mut buf).unwrap();
    assert_eq!(
        iso.transceive(&hex(READ_CARD_NUMBER), &mut small),
        Err(IsoDepError::BufferTooSmall { needed: 13 })
    );
    assert!(iso.is_active());
    assert_eq!(
        iso.transceive(&hex(READ_CARD_NUMBER), &mut buf)
            .map(|n| buf[..n].to_vec()),
        Ok(expected_record())
    );
    assert_eq!(
        iso.transceive(&[], &mut buf),
        Err(IsoDepError::EmptyCommand)
    );
}

/// A card that answers from a script: each reader frame gets the next answer
/// (`None`: silence), then silence for ever.
struct Scripted {
    answers: std::vec::IntoIter<Option<Vec<u8>>>,
    crc: bool,
    calls: u64,
}

impl ContactlessFrontEnd for Scripted {
    type Error = FrontEndErrorKind;

    fn capabilities(&self) -> Capabilities {
        Capabilities::new(self.crc, BitRate::Kbps848)
    }

    fn set_field(&mut self, _on: bool) -> Result<(), Self::Error> {
        Ok(())
    }

    fn activate_a(&mut self, _wake_up: bool) -> Result<Option<TypeA>, Self::Error> {
        Ok(Some(uid()))
    }

    fn transceive(
        &mut self,
        _frame: &[u8],
        response: &mut [u8],
        _timeout_us: u32,
    ) -> Result<usize, Self::Error> {
        self.calls += 1;
        match self.answers.next().flatten() {
            Some(bytes) => {
                let n = bytes.len().min(response.len());
                response[..n].copy_from_slice(&bytes[..n]);
                if bytes.len() > response.len() {
                    Err(FrontEndErrorKind::Overflow)
                } else {
                    Ok(n)
                }
            }
            None => Err(FrontEndErrorKind::Timeout),
        }
    }

    fn set_bit_rate(&mut self, _to: BitRate, _from: BitRate) -> Result<(), Self::Error> {
        Ok(())
    }

    fn delay_us(&mut self, _us: u32) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Answers biased towards valid-looking blocks.
fn answer() -> impl Strategy<Value = Option<Vec<u8>>> {
    let pcb = prop_oneof![
        Just(0x02u8),
        Just(0x03),
        Just(0x12),
        Just(0x13),
        Just(0xA2),
        Just(0xA3),
        Just(0xB2),
        Just(0xF2),
        Just(0xC2),
        any::<u8>(),
    ];
    prop_oneof![
        1 => Just(None),
        4 => (pcb, proptest::collection::vec(any::<u8>(), 0..40)).prop_map(|(p, mut inf)| {
            inf.insert(0, p);
            Some(inf)
        }),
        1 => proptest::collection::vec(any::<u8>(), 0..300).prop_map(Some),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_card_answers_never_panic_or_hang(
        ats in proptest::collection::vec(any::<u8>(), 0..20),
        answers in proptest::collection::vec(answer(), 0..60),
        command in proptest::collection::vec(any::<u8>(), 1..300),
        crc in any::<bool>(),
        good_ats in any::<bool>(),
    ) {
        let mut script = Vec::new();
        if good_ats {
            script.push(Some(vec![0x05, 0x70, 0x00, 0x40, 0x02]));
        } else {
            script.push(Some(ats));
        }
        let len = answers.len() as u64;
        script.extend(answers);
        let fe = Scripted { answers: script.into_iter(), crc, calls: 0 };
        let mut iso = IsoDep::new(fe, IsoDepConfig::new().with_bounds(3, 8));
        let mut buf = [0u8; 300];
        let _ = iso.transceive(&command, &mut buf);
        let _ = iso.transceive(&command, &mut buf);
        let _ = iso.presence();
        let _ = iso.power_off();
        // Every answer is used at most once; after the script, silence ends each
        // operation within the retries (activation included).
        prop_assert!(iso.front_end().calls <= 1 + len + 4 * 8);
    }

    #[test]
    fn blocks_and_ats_parse_without_panic_and_round_trip(
        bytes in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        if let Ok(block) = Block::parse(&bytes) {
            let mut out = [0u8; 100];
            let n = block.encode(&mut out).unwrap();
            prop_assert_eq!(Block::parse(&out[..n]), Ok(block));
        }
        if let Ok(ats) = Ats::parse(&bytes) {
            prop_assert_eq!(ats.as_bytes(), bytes.as_slice());
            let mut atr = [0u8; PSEUDO_ATR_MAX];
            let n = ats.pseudo_atr(&mut atr);
            let parsed = Atr::parse(&atr[..n]).unwrap();
            let hist = ats.historical();
            prop_assert_eq!(parsed.historical_bytes(), &hist[..hist.len().min(15)]);
        }
    }

    #[test]
    fn arbitrary_reader_frames_never_panic_the_card(
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..40),
    ) {
        let mut picc = PiccEngine::new(
            AppletHandler::new(EchoCard::new(), Interface::Contactless),
            PiccConfig::new(uid(), AtsConfig::new().fsci(0)).with_wtx(1, 2),
        );
        picc.field(true);
        let mut out = [0u8; 300];
        for (k, f) in frames.iter().enumerate() {
            if k % 7 == 0 {
                picc.activate_a(true);
            }
            if let Some(n) = picc.frame(f, &mut out) {
                prop_assert!(n <= 256);
            }
        }
    }

    #[test]
    fn random_apdus_round_trip_with_random_frame_sizes(
        data in proptest::collection::vec(any::<u8>(), 1..=255),
        fsci in 0u8..=8,
        fsd in 16usize..=256,
        cid in 0u8..=14,
        crc in any::<bool>(),
    ) {
        let picc = PiccEngine::new(
            AppletHandler::new(EchoCard::new(), Interface::Contactless),
            PiccConfig::new(uid(), AtsConfig::new().fsci(fsci)),
        );
        let caps = Capabilities::new(crc, BitRate::Kbps106);
        let mut iso = IsoDep::new(
            Loopback::new(picc, caps),
            IsoDepConfig::new().with_fsd(fsd).with_cid(cid),
        );
        let mut cmd = vec![0x00, 0x10, 0x00, 0x00, data.len() as u8];
        cmd.extend_from_slice(&data);
        cmd.push(0x00);
        let mut buf = [0u8; 300];
        let n = iso.transceive(&cmd, &mut buf).unwrap();
        prop_assert_eq!(&buf[..n - 2], data.as_slice());
        prop_assert_eq!(Status::from_bytes(buf[n - 2], buf[n - 1]), Status::Success);
    }
}

/// A front end without state, to measure the engine alone.
struct Nothing;

impl ContactlessFrontEnd for Nothing {
    type Error = FrontEndErrorKind;

    fn capabilities(&self) -> Capabilities {
        Capabilities::new(true, BitRate::Kbps106)
    }

    fn set_field(&mut self, _on: bool) -> Result<(), Self::Error> {
        Ok(())
    }

    fn activate_a(&mut self, _wake_up: bool) -> Result<Option<TypeA>, Self::Error> {
        Ok(None)
    }

    fn transceive(&mut self, _: &[u8], _: &mut [u8], _: u32) -> Result<usize, Self::Error> {
        Err(FrontEndErrorKind::Timeout)
    }

    fn set_bit_rate(&mut self, _: BitRate, _: BitRate) -> Result<(), Self::Error> {
        Ok(())
    }

    fn delay_us(&mut self, _: u32) -> Result<(), Self::Error> {
        Ok(())
    }
}

#[test]
fn the_reader_engine_fits_the_ram_budget() {
    // Two frame buffers of FSD 256, the ATS and the state: well under the 2–4 KB
    // the spec allows the whole card stack.
    let size = std::mem::size_of::<IsoDep<Nothing>>();
    println!("IsoDep: {size} bytes");
    assert!(size <= 700, "{size}");
    let mut iso = IsoDep::new(Nothing, IsoDepConfig::new());
    assert_eq!(iso.activate().unwrap_err(), IsoDepError::NoCard);
}
