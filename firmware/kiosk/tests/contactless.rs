//! Whole kiosk sessions in the field: the firmware state machine with
//! `sscard_link::iso14443::IsoDep` over the simulated RF channel
//! (`sscard_link::iso14443::Loopback`) and the `sscard-emu` sample card behind
//! `PiccEngine`; presence is the card answering, eject is S(DESELECT) and field off.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod sim;

use std::sync::{Arc, Mutex};

use embedded_hal::delay::DelayNs;
use sim::{pin, Act, SimDisplay, SimKeypad, Wire};
use sscard_apdu::applet::Interface;
use sscard_appdir::Directory;
use sscard_emu::{sample_card, SsCard};
use sscard_kiosk::hal::NoSwitch;
use sscard_kiosk::services::CardOnlyServices;
use sscard_kiosk::{CardFault, Contactless, Event, Key, Kiosk, KioskConfig, Outcome, Phase};
use sscard_link::iso14443::{
    strip_crc_a, AppletHandler, AtsConfig, BitRate, Capabilities, ContactlessFrontEnd,
    FrontEndErrorKind, IsoDep, IsoDepConfig, Loopback, PiccConfig, PiccEngine, TypeA,
};

/// What went over the air, as the reader did it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Air {
    Field(bool),
    Poll,
    /// A frame without its CRC.
    Frame(Vec<u8>),
}

/// The loopback with a log of the reader's actions; the card can be made mute
/// from a given frame on.
struct Recording {
    inner: Loopback<AppletHandler<SsCard>>,
    log: Arc<Mutex<Vec<Air>>>,
    mute: bool,
    /// The card leaves the field before this frame (counted from the first).
    remove_at: Option<usize>,
    frames: usize,
}

impl ContactlessFrontEnd for Recording {
    type Error = FrontEndErrorKind;

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn set_field(&mut self, on: bool) -> Result<(), Self::Error> {
        self.log.lock().unwrap().push(Air::Field(on));
        self.inner.set_field(on)
    }

    fn activate_a(&mut self, wake_up: bool) -> Result<Option<TypeA>, Self::Error> {
        self.log.lock().unwrap().push(Air::Poll);
        self.inner.activate_a(wake_up)
    }

    fn transceive(
        &mut self,
        frame: &[u8],
        response: &mut [u8],
        timeout_us: u32,
    ) -> Result<usize, Self::Error> {
        let body = strip_crc_a(frame).unwrap().to_vec();
        self.log.lock().unwrap().push(Air::Frame(body));
        if self.remove_at == Some(self.frames) {
            self.inner.remove();
        }
        self.frames += 1;
        if self.mute {
            self.inner.advance(u64::from(timeout_us));
            return Err(FrontEndErrorKind::Timeout);
        }
        self.inner.transceive(frame, response, timeout_us)
    }

    fn set_bit_rate(&mut self, to_card: BitRate, from_card: BitRate) -> Result<(), Self::Error> {
        self.inner.set_bit_rate(to_card, from_card)
    }

    fn delay_us(&mut self, us: u32) -> Result<(), Self::Error> {
        self.inner.delay_us(us)
    }
}

type RfKiosk = Kiosk<Contactless<Recording>, SimKeypad, SimDisplay, NoSwitch, CardOnlyServices>;

/// A delay that only counts (the RF clock is the loopback's).
#[derive(Default)]
struct CountingDelay(u64);

impl DelayNs for CountingDelay {
    fn delay_ns(&mut self, ns: u32) {
        self.0 += u64::from(ns);
    }
}

struct Rig {
    kiosk: RfKiosk,
    display: SimDisplay,
    log: Arc<Mutex<Vec<Air>>>,
    delay: CountingDelay,
}

fn historical() -> Vec<u8> {
    let card = sample_card().unwrap();
    sscard_apdu::atr::historical_bytes(sscard_apdu::applet::Card::atr(&card))
        .unwrap()
        .to_vec()
}

impl Rig {
    fn new(script: Vec<Act>, rate: BitRate) -> Self {
        let uid = TypeA::new(&[0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66], 0x20, [0x44, 0]).unwrap();
        let ats = AtsConfig::new()
            .timing(8, 1)
            .bit_rates(BitRate::Kbps424)
            .historical(&historical());
        let picc = PiccEngine::new(
            AppletHandler::new(sample_card().unwrap(), Interface::Contactless),
            PiccConfig::new(uid, ats),
        );
        let mut rf = Loopback::new(picc, Capabilities::new(false, BitRate::Kbps848));
        rf.remove();
        let log = Arc::new(Mutex::new(Vec::new()));
        let fe = Recording {
            inner: rf,
            log: log.clone(),
            mute: false,
            remove_at: None,
            frames: 0,
        };
        let iso = IsoDep::new(fe, IsoDepConfig::new().with_bit_rate(rate));
        let wire = Wire::new();
        let keypad = SimKeypad::new(&wire);
        keypad.extend(script);
        let display = SimDisplay::default();
        let mut kiosk = Kiosk::contactless(
            iso,
            keypad,
            display.clone(),
            NoSwitch,
            CardOnlyServices,
            sscard_kiosk::profile::basic_profile().unwrap(),
            Directory::builtin().unwrap(),
            KioskConfig::default(),
        );
        kiosk.start().unwrap();
        Self {
            kiosk,
            display,
            log,
            delay: CountingDelay::default(),
        }
    }

    fn rf(&mut self) -> &mut Recording {
        self.kiosk.link().front_end()
    }

    fn run_to(&mut self, until: impl Fn(&Event) -> bool) -> Vec<Event> {
        let mut events = Vec::new();
        for _ in 0..100_000 {
            let e = self.kiosk.step(&mut self.delay).unwrap();
            if e != Event::Idle {
                events.push(e);
            }
            if until(&e) {
                return events;
            }
        }
        panic!("no end in sight: {events:?}");
    }

    fn steps(&mut self, n: usize) -> Vec<Event> {
        (0..n)
            .map(|_| self.kiosk.step(&mut self.delay).unwrap())
            .filter(|e| *e != Event::Idle)
            .collect()
    }
}

fn is(e: Event) -> impl Fn(&Event) -> bool {
    move |x| *x == e
}

fn milestones(events: Vec<Event>) -> Vec<Event> {
    events.into_iter().filter(|e| *e != Event::Key).collect()
}

#[test]
fn whole_session_in_the_field() {
    let mut script = pin("000000");
    script.extend(pin("123456"));
    script.extend([Act::Key(Key::Digit(1)), Act::Key(Key::Enter)]);
    let mut rig = Rig::new(script, BitRate::Kbps424);
    // No card in the field: polling finds nothing.
    assert_eq!(rig.steps(20), []);
    assert_eq!(rig.kiosk.phase(), Phase::WaitCard);
    rig.rf().inner.insert();
    let events = rig.run_to(is(Event::Ejected));
    assert_eq!(
        milestones(events),
        [
            Event::CardInserted,
            Event::ActivatedContactless { kbps: 424 },
            Event::BasicRead,
            Event::PinWrong { tries_left: 5 },
            Event::PinVerified,
            Event::ServiceChosen(1),
            Event::ServiceDone(Outcome::Done),
            Event::Ejected,
        ]
    );
    // Eject: S(DESELECT) answered, then the field goes off.
    let log = rig.log.lock().unwrap().clone();
    assert_eq!(
        &log[log.len() - 2..],
        &[Air::Frame(vec![0xC2]), Air::Field(false)],
        "{:?}",
        &log[log.len().saturating_sub(6)..]
    );
    // RATS, PPS to 424 kbit/s, then I-blocks.
    let rats = log
        .iter()
        .position(|a| *a == Air::Frame(vec![0xE0, 0x80]))
        .unwrap();
    assert_eq!(log[rats + 1], Air::Frame(vec![0xD0, 0x11, 0x0A]));
    // The card answered the wrong and the right PIN in one ISO-DEP session, with
    // presence checks (R(NAK)) between the steps.
    assert!(log
        .iter()
        .any(|a| matches!(a, Air::Frame(f) if f[0] & 0xF6 == 0xB2)));
    assert_eq!(
        rig.rf().inner.picc().state(),
        sscard_link::iso14443::picc::PiccState::Off
    );

    // The holder keeps the card in the field: the kiosk waits (wake-up polls).
    assert_eq!(rig.steps(10), []);
    assert_eq!(rig.kiosk.phase(), Phase::WaitRemoval);
    rig.rf().inner.remove();
    assert_eq!(rig.run_to(is(Event::CardTaken)), [Event::CardTaken]);
    assert_eq!(rig.kiosk.phase(), Phase::WaitCard);

    let lines = rig.display.lines();
    assert!(
        lines.iter().any(|l| l.starts_with("李测试 请输入密码")),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l.contains("wrong PIN, 5 tries left")));
    assert_eq!(lines.last().unwrap(), "请插入社会保障卡 / insert card");
}

#[test]
fn card_taken_away_during_pin_entry() {
    let mut rig = Rig::new(
        vec![Act::Key(Key::Digit(1)), Act::Pause(3)],
        BitRate::Kbps106,
    );
    rig.rf().inner.insert();
    let events = rig.run_to(is(Event::BasicRead));
    assert_eq!(
        milestones(events),
        [
            Event::CardInserted,
            Event::ActivatedContactless { kbps: 106 },
            Event::BasicRead,
        ]
    );
    rig.steps(2);
    rig.rf().inner.remove();
    assert_eq!(
        rig.run_to(|e| matches!(e, Event::CardRemoved(_))),
        [Event::CardRemoved(Phase::PinEntry)]
    );
    assert_eq!(rig.kiosk.phase(), Phase::WaitCard);
    assert!(rig.kiosk.holder().is_none());
    assert!(rig
        .display
        .lines()
        .iter()
        .any(|l| l.contains("card removed")));
}

#[test]
fn a_card_mute_in_iso_dep_is_a_card_error_not_a_removal() {
    let mut rig = Rig::new(Vec::new(), BitRate::Kbps106);
    rig.rf().inner.insert();
    rig.rf().mute = true;
    let events = rig.run_to(is(Event::Ejected));
    // It answers the polls (layer 3) but not RATS.
    assert_eq!(
        milestones(events),
        [
            Event::CardInserted,
            Event::CardFailed(
                Phase::Activate,
                CardFault::Link(sscard_apdu::TransportErrorKind::Timeout)
            ),
            Event::Ejected,
        ]
    );
    assert!(rig
        .display
        .lines()
        .iter()
        .any(|l| l.contains("card cannot be read")));
}

#[test]
fn card_taken_away_during_an_exchange() {
    let mut rig = Rig::new(Vec::new(), BitRate::Kbps106);
    // Frames: RATS, a presence check, SELECT, READ RECORD, …: the card leaves
    // while the basic information is read.
    rig.rf().remove_at = Some(4);
    rig.rf().inner.insert();
    let events = rig.run_to(|e| matches!(e, Event::CardRemoved(_)));
    assert_eq!(
        events,
        [
            Event::CardInserted,
            Event::ActivatedContactless { kbps: 106 },
            Event::CardRemoved(Phase::ReadBasic),
        ]
    );
    assert!(rig.kiosk.holder().is_none());
    // The field is off after the removal.
    assert!(!rig.rf().inner.field_on());
}
