//! Whole kiosk sessions on the host: the firmware state machine against the
//! `sscard-emu` sample card through the simulated UART (`sim`), over T=0 and T=1,
//! with simulated time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod sim;

use sim::{
    pin, spawn_card, Act, CardLog, CardOptions, End, Side, SimDelay, SimDisplay, SimKeypad,
    SimSwitch, Wire,
};
use sscard_apdu::{Status, TransportErrorKind};
use sscard_appdir::Directory;
use sscard_fs::Profile;
use sscard_kiosk::services::CardOnlyServices;
use sscard_kiosk::{CardFault, Event, Key, Kiosk, KioskConfig, Outcome, Phase};
use sscard_link::{Link, LinkConfig, Protocol};

type SimKiosk<H = CardOnlyServices> = Kiosk<End, SimKeypad, SimDisplay, SimSwitch, H>;

const FAST: u32 = 111_600;

struct Rig<H = CardOnlyServices> {
    wire: Wire,
    kiosk: SimKiosk<H>,
    display: SimDisplay,
    keypad: SimKeypad,
    delay: SimDelay,
    card: Option<std::thread::JoinHandle<CardLog>>,
}

impl Rig {
    fn new(card: CardOptions, script: Vec<Act>) -> Self {
        Self::with_config(card, script, KioskConfig::default())
    }

    fn with_config(card: CardOptions, script: Vec<Act>, cfg: KioskConfig) -> Self {
        let profile = sscard_kiosk::profile::basic_profile().unwrap();
        Self::build(card, script, cfg, profile)
    }

    fn build(card: CardOptions, script: Vec<Act>, cfg: KioskConfig, profile: Profile) -> Self {
        Rig::with_services(card, script, cfg, profile, CardOnlyServices)
    }
}

impl<H: sscard_kiosk::ServiceHandler<Link<End>>> Rig<H> {
    fn with_services(
        card: CardOptions,
        script: Vec<Act>,
        cfg: KioskConfig,
        profile: Profile,
        services: H,
    ) -> Self {
        let wire = Wire::new();
        let handle = spawn_card(&wire, card);
        let display = SimDisplay::default();
        let link = Link::new(wire.end(Side::Terminal), LinkConfig::default());
        let keypad = SimKeypad::new(&wire);
        keypad.extend(script);
        let mut kiosk = Kiosk::new(
            link,
            keypad.clone(),
            display.clone(),
            SimSwitch(wire.clone()),
            services,
            profile,
            Directory::builtin().unwrap(),
            cfg,
        );
        kiosk.start().unwrap();
        Self {
            delay: SimDelay(wire.clone()),
            keypad,
            wire,
            kiosk,
            display,
            card: Some(handle),
        }
    }

    /// Steps until `until` matches an event (included in the result).
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

    /// Drops the kiosk (and its end of the wire) and returns the card's log.
    fn finish(mut self) -> CardLog {
        let card = self.card.take().unwrap();
        drop(self.kiosk);
        card.join().unwrap()
    }
}

fn is(e: Event) -> impl Fn(&Event) -> bool {
    move |x| *x == e
}

/// A whole session: card in, wrong PIN, right PIN, a service, card out.
fn full_session(card: CardOptions, protocol: Protocol, baud: u32) {
    let mut script = pin("000000");
    script.extend(pin("123456"));
    script.extend([Act::Key(Key::Digit(1)), Act::Key(Key::Enter)]);
    let mut rig = Rig::new(card, script);
    rig.wire.insert();
    let events = rig.run_to(is(Event::Ejected));
    let expected = [
        Event::CardInserted,
        Event::Activated { protocol, baud },
        Event::BasicRead,
        Event::PinWrong { tries_left: 5 },
        Event::PinVerified,
        Event::ServiceChosen(1),
        Event::ServiceDone(Outcome::Done),
        Event::Ejected,
    ];
    let milestones: Vec<Event> = events.into_iter().filter(|e| *e != Event::Key).collect();
    assert_eq!(milestones, expected);
    rig.wire.remove();
    assert_eq!(rig.run_to(is(Event::CardTaken)), [Event::CardTaken]);
    assert_eq!(rig.kiosk.phase(), Phase::WaitCard);

    let lines = rig.display.lines();
    assert!(
        lines.iter().any(|l| l.starts_with("李测试 请输入密码")),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l.contains("wrong PIN, 5 tries left")));
    assert!(
        lines.iter().any(|l| l.contains(">1.求职登记")),
        "{lines:#?}"
    );
    assert_eq!(lines.last().unwrap(), "请插入社会保障卡 / insert card");
    // No PIN digit ever reached the display.
    assert!(lines
        .iter()
        .all(|l| !l.contains("123456") && !l.contains("000000")));

    let log = rig.finish();
    let verifies: Vec<&Vec<u8>> = log.commands.iter().filter(|c| c[1] == 0x20).collect();
    assert_eq!(verifies.len(), 2);
    assert_eq!(verifies[1][5..], [0x12, 0x34, 0x56]);
    // SELECT SSSE and eight READ RECORDs (plus GET RESPONSE over T=0).
    assert_eq!(log.commands.iter().filter(|c| c[1] == 0xB2).count(), 8);
}

#[test]
fn session_over_t0_at_9600_without_pps() {
    full_session(CardOptions::emulator_t0(), Protocol::T0, 9600);
}

#[test]
fn session_over_t0_after_pps() {
    full_session(CardOptions::fast_t0(), Protocol::T0, FAST);
}

#[test]
fn session_over_t1_after_pps() {
    full_session(CardOptions::fast_t1(), Protocol::T1, FAST);
}

/// The card is pulled out while the holder types the PIN; the kiosk notices on its
/// next poll, and the next card (the same one, put back) gets a whole new session.
fn removal_during_pin_entry(card: CardOptions, protocol: Protocol, baud: u32) {
    let mut rig = Rig::new(
        card,
        vec![
            Act::Key(Key::Digit(1)),
            Act::Key(Key::Digit(2)),
            Act::Remove,
        ],
    );
    rig.wire.insert();
    let events = rig.run_to(|e| matches!(e, Event::CardRemoved(_)));
    assert_eq!(
        events,
        [
            Event::CardInserted,
            Event::Activated { protocol, baud },
            Event::BasicRead,
            Event::Key,
            Event::Key,
            Event::CardRemoved(Phase::PinEntry),
        ]
    );
    assert_eq!(rig.kiosk.phase(), Phase::WaitCard);
    assert!(rig.kiosk.holder().is_none());
    assert_eq!(
        rig.display.lines().last().unwrap(),
        "卡已拔出 / card removed"
    );

    // Put it back: a fresh session, starting with a new PIN.
    rig.keypad.extend(pin("123456"));
    rig.keypad.extend([Act::Key(Key::Cancel)]);
    rig.wire.insert();
    let events = rig.run_to(is(Event::Ejected));
    assert!(events.contains(&Event::PinVerified), "{events:?}");
    assert!(events.contains(&Event::Cancelled));
    let log = rig.finish();
    assert_eq!(log.resets, 2);
}

#[test]
fn removal_during_pin_entry_t0() {
    removal_during_pin_entry(CardOptions::fast_t0(), Protocol::T0, FAST);
}

#[test]
fn removal_during_pin_entry_t1() {
    removal_during_pin_entry(CardOptions::fast_t1(), Protocol::T1, FAST);
}

/// The card goes away in the middle of reading the basic information (the fourth
/// command gets no answer): the exchange fails, the switch is open, the session ends
/// as a removal after the protocol's waiting times, not as a card error.
fn removal_during_exchange(card: CardOptions) {
    let mut card = card;
    card.remove_at_command = Some(3);
    let mut rig = Rig::new(card, vec![]);
    rig.wire.insert();
    let start = rig.wire.now();
    let events = rig.run_to(|e| matches!(e, Event::CardRemoved(_)));
    assert_eq!(events.last(), Some(&Event::CardRemoved(Phase::ReadBasic)));
    assert!(!events.iter().any(|e| matches!(e, Event::CardFailed(..))));
    let waited = rig.wire.now() - start;
    assert!(waited < 60_000_000, "{waited} µs");
    assert_eq!(
        rig.display.lines().last().unwrap(),
        "卡已拔出 / card removed"
    );
    let log = rig.finish();
    assert_eq!(log.commands.len(), 4);
}

#[test]
fn removal_during_exchange_t0() {
    removal_during_exchange(CardOptions::fast_t0());
}

#[test]
fn removal_during_exchange_t1() {
    removal_during_exchange(CardOptions::fast_t1());
}

/// A card that needs 5 s for VERIFY and says so: S(WTX) over T=1, NULL bytes over
/// T=0, each within the waiting time. The session goes through.
fn slow_card(mut card: CardOptions, protocol: Protocol) -> CardLog {
    card.wtx_ins = Some(0x20);
    card.wtx_busy_us = 5_000_000;
    card.wtx_every_us = 1_000_000;
    card.wtx_multiplier = 2;
    let mut script = pin("123456");
    script.extend([Act::Key(Key::Digit(2)), Act::Key(Key::Enter)]);
    let mut rig = Rig::new(card, script);
    rig.wire.insert();
    let events = rig.run_to(is(Event::Ejected));
    assert!(events.contains(&Event::Activated {
        protocol,
        baud: FAST
    }));
    assert!(events.contains(&Event::PinVerified), "{events:?}");
    assert!(events.contains(&Event::ServiceDone(Outcome::Done)));
    let chars = rig.wire.chars();
    let log = rig.finish();
    assert_eq!(log.wtx_sent, 5);
    if protocol == Protocol::T1 {
        // S(WTX request) blocks from the card (NAD 00, PCB C3, LEN 1, multiplier 2)
        // and the terminal's S(WTX response) (PCB E3).
        let card_bytes: Vec<u8> = chars
            .iter()
            .filter(|c| c.side == Side::Card)
            .map(|c| c.byte)
            .collect();
        let term_bytes: Vec<u8> = chars
            .iter()
            .filter(|c| c.side == Side::Terminal)
            .map(|c| c.byte)
            .collect();
        let count =
            |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).filter(|w| *w == needle).count();
        assert_eq!(count(&card_bytes, &[0x00, 0xC3, 0x01, 0x02]), 5);
        assert_eq!(count(&term_bytes, &[0x00, 0xE3, 0x01, 0x02]), 5);
    }
    log
}

#[test]
fn card_answering_with_wtx_t1() {
    slow_card(CardOptions::fast_t1(), Protocol::T1);
}

#[test]
fn card_answering_with_null_bytes_t0() {
    slow_card(CardOptions::fast_t0(), Protocol::T0);
}

#[test]
fn six_wrong_pins_block_the_pin_and_eject() {
    let mut script = Vec::new();
    for _ in 0..6 {
        script.extend(pin("999999"));
    }
    let mut rig = Rig::new(CardOptions::fast_t1(), script);
    rig.wire.insert();
    let events = rig.run_to(is(Event::Ejected));
    let wrong: Vec<u8> = events
        .iter()
        .filter_map(|e| match e {
            Event::PinWrong { tries_left } => Some(*tries_left),
            _ => None,
        })
        .collect();
    assert_eq!(wrong, [5, 4, 3, 2, 1]);
    assert!(events.contains(&Event::PinBlocked));
    assert!(rig
        .display
        .lines()
        .iter()
        .any(|l| l.contains("PIN blocked")));
    rig.finish();
}

#[test]
fn short_pins_clear_and_cancel() {
    // Enter after three digits is ignored; Clear removes a digit; Cancel ejects.
    let script = vec![
        Act::Key(Key::Digit(1)),
        Act::Key(Key::Digit(2)),
        Act::Key(Key::Digit(3)),
        Act::Key(Key::Enter),
        Act::Key(Key::Clear),
        Act::Key(Key::Cancel),
    ];
    let mut rig = Rig::new(CardOptions::emulator_t0(), script);
    rig.wire.insert();
    let events = rig.run_to(is(Event::Ejected));
    assert!(events.contains(&Event::Cancelled));
    assert!(!events.contains(&Event::PinVerified));
    let lines = rig.display.lines();
    assert!(lines.iter().any(|l| l.ends_with("enter PIN: ***")));
    assert!(lines.iter().any(|l| l.ends_with("enter PIN: **")));
    let log = rig.finish();
    assert!(log.commands.iter().all(|c| c[1] != 0x20));
}

#[test]
fn no_key_for_the_time_out_ends_the_session() {
    let mut rig = Rig::new(CardOptions::fast_t1(), vec![]);
    rig.wire.insert();
    let before = rig.wire.now();
    let events = rig.run_to(is(Event::Ejected));
    assert!(events.contains(&Event::TimedOut));
    let waited = rig.wire.now() - before;
    assert!((30_000_000..32_000_000).contains(&waited), "{waited}");
    rig.finish();
}

#[test]
fn a_kiosk_without_payments_says_a_payment_use_is_not_available() {
    let mut cfg = KioskConfig::default();
    cfg.bank_app = true;
    cfg.terminal.online = true;
    let mut script = pin("123456");
    // Entry 4 of this menu is P-05 (training subsidy paid to the card's bank account).
    script.extend([Act::Key(Key::Digit(4)), Act::Key(Key::Enter)]);
    let mut rig = Rig::with_config(CardOptions::fast_t1(), script, cfg);
    rig.wire.insert();
    let events = rig.run_to(is(Event::Ejected));
    assert!(
        events.contains(&Event::ServiceDone(Outcome::NotAvailable)),
        "{events:?}"
    );
    let id = &rig.kiosk.directory().items[4].id;
    assert_eq!(id, "P-05");
    assert!(rig
        .display
        .lines()
        .iter()
        .any(|l| l.starts_with("本机暂不支持")));
    rig.finish();
}

mod payment {
    use super::*;
    use sscard_emv::capk::CapkStore;
    use sscard_emv::oda::testpki::TestPki;
    use sscard_kiosk::services::PbocPayments;
    use sscard_pboc::config::TerminalConfig;
    use sscard_pboc::host::HostSimulator;
    use sscard_pboc::traits::{AppChoice, Cardholder, PinEntry, Rng};
    use sscard_pboc::verifier::EmvOda;

    /// The bank PIN on the keypad (the emulated card's is 123456).
    struct Holder;
    impl Cardholder for Holder {
        fn confirm_application(&mut self, _: &AppChoice<'_>) -> bool {
            true
        }
        fn offline_pin(&mut self, _: Option<u8>) -> PinEntry {
            PinEntry::Entered(zeroize::Zeroizing::new(b"123456".to_vec()))
        }
        fn online_pin(&mut self) -> PinEntry {
            PinEntry::Unavailable
        }
        fn present_id(&mut self, _: Option<&[u8]>, _: Option<&[u8]>) -> bool {
            false
        }
    }

    struct Counter(u8);
    impl Rng for Counter {
        fn fill(&mut self, out: &mut [u8]) {
            for b in out {
                self.0 = self.0.wrapping_add(13);
                *b = self.0;
            }
        }
    }

    type Payments = PbocPayments<EmvOda, Holder, HostSimulator, Counter>;

    fn payments() -> Payments {
        let pki =
            TestPki::from_json(include_str!("../../../apdu-specs/pboc/test-pki.json")).unwrap();
        let mut store = CapkStore::unionpay().unwrap();
        store.add(pki.rsa.capk.to_capk().unwrap()).unwrap();
        store.add(pki.sm2.capk.to_capk().unwrap()).unwrap();
        let profile = sscard_emv::perso::load(sscard_emu::pboc::BUILTIN_PROFILE).unwrap();
        PbocPayments {
            config: TerminalConfig {
                sm_support: true,
                random_selection: false,
                ..TerminalConfig::default()
            },
            amount: |_| 120_000,
            date: [0x26, 0x11, 0x22],
            time: [0x09, 0x30, 0x00],
            oda: EmvOda::new(store),
            cardholder: Holder,
            issuer: HostSimulator::for_application(&profile.applications[0]).unwrap(),
            rng: Counter(0),
            last: None,
        }
    }

    #[test]
    fn a_payment_use_runs_the_pboc_kernel_online_on_the_same_card() {
        let mut cfg = KioskConfig::default();
        cfg.bank_app = true;
        cfg.terminal.online = true;
        let mut script = pin("123456");
        // Entry 4 of this menu is P-05 (paid to the card's bank account).
        script.extend([Act::Key(Key::Digit(4)), Act::Key(Key::Enter)]);
        let profile = sscard_kiosk::profile::basic_profile().unwrap();
        let mut rig = Rig::with_services(CardOptions::fast_t1(), script, cfg, profile, payments());
        rig.wire.insert();
        let events = rig.run_to(is(Event::Ejected));
        assert!(
            events.contains(&Event::ServiceDone(Outcome::Done)),
            "{events:?}"
        );
        let last = rig.kiosk.services().last.clone().expect("a transaction");
        assert_eq!(last.outcome, sscard_pboc::Outcome::ApprovedOnline);
        // SM2/SM4 (DF69), SDA and CDA on the TEST PKI, offline PIN.
        assert_eq!(last.card.get(sscard_emv::Tag::IAD).unwrap()[7], 0x04);
        assert_eq!(last.tvr[0] & 0xCC, 0, "TVR {:02X?}", last.tvr);
        assert_eq!(last.cvm_results[2], 0x02);
        let log = rig.finish();
        // The same card, over the same T=1 link: the SSSE session, then the bank
        // application's two GENERATE ACs and the PIN VERIFY of the payment.
        let gacs = log
            .commands
            .iter()
            .filter(|c| c[..2] == [0x80, 0xAE])
            .count();
        assert_eq!(gacs, 2);
        assert!(log
            .commands
            .iter()
            .any(|c| c[..2] == [0x00, 0x20] && c[3] == 0x80));
    }
}

#[test]
fn a_card_without_the_application_is_ejected_with_an_error() {
    // A profile naming an AID the card does not have (a Visa AID; the card carries the
    // SSSE and the UnionPay application): the card refuses the SELECT with 6A82, and the
    // session shows an error and ejects (the card is still in: not a removal).
    let profile_json = sscard_kiosk::profile::BASIC_PROFILE_JSON
        .replace("7378312E73682EC9E7BBE1B1A3D5CF", "A0000000031010");
    let profile = Profile::from_json(&profile_json).unwrap();
    let mut rig = Rig::build(
        CardOptions::fast_t0(),
        vec![],
        KioskConfig::default(),
        profile,
    );
    rig.wire.insert();
    let events = rig.run_to(is(Event::Ejected));
    assert_eq!(
        events,
        [
            Event::CardInserted,
            Event::Activated {
                protocol: Protocol::T0,
                baud: FAST
            },
            Event::CardFailed(Phase::ReadBasic, CardFault::Status(Status::FileNotFound)),
            Event::Ejected,
        ]
    );
    assert!(rig
        .display
        .lines()
        .iter()
        .any(|l| l.contains("card cannot be read")));
    rig.finish();
}

#[test]
fn a_mute_card_is_a_card_error_not_a_removal() {
    // The card is in the slot but its ATR never comes (its end of the wire is
    // closed: nothing answers).
    let wire = Wire::new();
    drop(wire.end(Side::Card));
    let display = SimDisplay::default();
    let mut kiosk: SimKiosk = Kiosk::new(
        Link::new(wire.end(Side::Terminal), LinkConfig::default()),
        SimKeypad::new(&wire),
        display.clone(),
        SimSwitch(wire.clone()),
        CardOnlyServices,
        sscard_kiosk::profile::basic_profile().unwrap(),
        Directory::builtin().unwrap(),
        KioskConfig::default(),
    );
    let mut delay = SimDelay(wire.clone());
    kiosk.start().unwrap();
    wire.insert();
    let mut events = Vec::new();
    while events.last() != Some(&Event::Ejected) {
        let e = kiosk.step(&mut delay).unwrap();
        if e != Event::Idle {
            events.push(e);
        }
    }
    assert_eq!(
        events[1],
        Event::CardFailed(
            Phase::Activate,
            CardFault::Link(TransportErrorKind::Timeout)
        )
    );
}
