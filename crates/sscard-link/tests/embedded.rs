//! The embedded-hal / embedded-io adapter with a mock UART, delay and RST pin: a
//! scripted T=0 card behind `Link`. Runs with `--features embedded-io`.
#![cfg(feature = "embedded-io")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::rc::Rc;

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType as PinErrorType, OutputPin};
use embedded_io::{ErrorType, Read, ReadReady, Write};
use sscard_apdu::{ResetKind, Transport};
use sscard_link::embedded::{EmbeddedIo, NoPin};
use sscard_link::timing::DEFAULT_CLOCK_HZ;
use sscard_link::{Link, LinkConfig, LinkError, Protocol};

#[derive(Default)]
struct Card {
    rx: VecDeque<u8>,
    tx: Vec<u8>,
    /// Answers released one per write.
    answers: VecDeque<Vec<u8>>,
    atr: Vec<u8>,
    echo: bool,
}

type Shared = Rc<RefCell<Card>>;

struct Uart(Shared);
struct Rst(Shared);
#[derive(Default)]
struct Delay(u64);

impl ErrorType for Uart {
    type Error = Infallible;
}

impl Read for Uart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        let mut c = self.0.borrow_mut();
        match c.rx.pop_front() {
            Some(b) if !buf.is_empty() => {
                buf[0] = b;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

impl ReadReady for Uart {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(!self.0.borrow().rx.is_empty())
    }
}

impl Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        let mut c = self.0.borrow_mut();
        c.tx.extend_from_slice(buf);
        if c.echo {
            c.rx.extend(buf.iter().copied());
        }
        if let Some(a) = c.answers.pop_front() {
            c.rx.extend(a);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

impl PinErrorType for Rst {
    type Error = Infallible;
}

impl OutputPin for Rst {
    fn set_low(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Infallible> {
        let mut c = self.0.borrow_mut();
        let atr = c.atr.clone();
        c.rx.extend(atr);
        Ok(())
    }
}

impl DelayNs for Delay {
    fn delay_ns(&mut self, ns: u32) {
        self.0 += u64::from(ns);
    }
}

fn link(card: &Shared, echo: bool) -> Link<EmbeddedIo<Uart, Delay, Rst, NoPin>> {
    let io = EmbeddedIo::new(Uart(card.clone()), Delay::default(), DEFAULT_CLOCK_HZ)
        .with_pins(Rst(card.clone()), NoPin)
        .with_echo(echo);
    Link::new(io, LinkConfig::default())
}

fn t0_card(echo: bool) -> Shared {
    Rc::new(RefCell::new(Card {
        atr: vec![0x3B, 0x02, 0x53, 0x43],
        // Case 2 READ BINARY: ACK, two bytes, 9000.
        answers: VecDeque::from([vec![0xB0, 0x12, 0x34, 0x90, 0x00]]),
        echo,
        ..Card::default()
    }))
}

#[test]
fn t0_exchange_over_a_uart() {
    for echo in [false, true] {
        let card = t0_card(echo);
        let mut link = link(&card, echo);
        let atr = link.power_on(ResetKind::Cold).unwrap();
        assert_eq!(atr.historical_bytes(), b"SC");
        assert_eq!(link.protocol(), Some(Protocol::T0));
        let mut r = [0u8; 8];
        let n = link
            .transmit(&[0x00, 0xB0, 0x00, 0x00, 0x02], &mut r)
            .unwrap();
        assert_eq!(&r[..n], &[0x12, 0x34, 0x90, 0x00]);
        assert_eq!(card.borrow().tx, vec![0x00, 0xB0, 0x00, 0x00, 0x02]);
    }
}

#[test]
fn silent_card_times_out_after_wt_of_delays() {
    let card = t0_card(false);
    card.borrow_mut().answers.clear();
    let mut link = link(&card, false);
    link.power_on(ResetKind::Cold).unwrap();
    let before = link.io().now_us_value();
    assert_eq!(
        link.transmit(&[0x00, 0xB0, 0x00, 0x00, 0x02], &mut [0u8; 8]),
        Err(LinkError::Timeout)
    );
    let waited = link.io().now_us_value() - before;
    // WT = 1 s, plus the header's transmission time.
    assert!((1_000_000..1_010_000).contains(&waited), "{waited}");
    let (_, delay, _, _) = link.into_io().release();
    assert!(delay.0 >= 1_000_000_000);
}

trait NowValue {
    fn now_us_value(&mut self) -> u64;
}

impl<T: sscard_link::CardIo> NowValue for T {
    fn now_us_value(&mut self) -> u64 {
        self.now_us()
    }
}
