//! Exchange behaviour against a scripted transport.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use sscard_apdu::trace::{Trace, TracedCommand, TracedResponse};
use sscard_apdu::{CommandBuilder, Exchange, ExchangeError, Status, Transport, TransportErrorKind};

/// Expects exact commands and answers with scripted responses.
struct Script {
    steps: Vec<(Vec<u8>, Vec<u8>)>,
    sent: usize,
}

impl Script {
    fn new(steps: &[(&[u8], &[u8])]) -> Self {
        Self {
            steps: steps
                .iter()
                .map(|(c, r)| (c.to_vec(), r.to_vec()))
                .collect(),
            sent: 0,
        }
    }
    fn done(&self) {
        assert_eq!(self.sent, self.steps.len(), "not all scripted steps ran");
    }
}

impl Transport for Script {
    type Error = TransportErrorKind;
    fn transmit(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, Self::Error> {
        let (expect, answer) = self.steps.get(self.sent).expect("unexpected extra command");
        assert_eq!(command, &expect[..], "step {}", self.sent);
        self.sent += 1;
        if response.len() < answer.len() {
            return Err(TransportErrorKind::BufferTooSmall {
                needed: answer.len(),
            });
        }
        response[..answer.len()].copy_from_slice(answer);
        Ok(answer.len())
    }
}

#[test]
fn get_response_is_followed_and_concatenated() {
    let mut ex = Exchange::new(Script::new(&[
        (&[0x00, 0xA4, 0x04, 0x00, 0x01, 0xAA], &[0x61, 0x03]),
        (&[0x00, 0xC0, 0x00, 0x00, 0x03], &[1, 2, 3, 0x61, 0x02]),
        (&[0x00, 0xC0, 0x00, 0x00, 0x02], &[4, 5, 0x90, 0x00]),
    ]));
    let mut buf = [0u8; 258];
    let r = ex
        .transceive(&[0x00, 0xA4, 0x04, 0x00, 0x01, 0xAA], &mut buf)
        .unwrap();
    assert_eq!(r.data, &[1, 2, 3, 4, 5]);
    assert_eq!(r.status, Status::Success);
    ex.transport().done();
}

#[test]
fn wrong_le_is_resent_with_the_right_le() {
    let mut ex = Exchange::new(Script::new(&[
        (&[0x00, 0xB2, 0x07, 0x04, 0x05], &[0x6C, 0x0B]),
        (&[0x00, 0xB2, 0x07, 0x04, 0x0B], &[7, 9, 0x41, 0x90, 0x00]),
    ]));
    let mut buf = [0u8; 258];
    let data = ex
        .transceive_ok(&[0x00, 0xB2, 0x07, 0x04, 0x05], &mut buf)
        .unwrap();
    assert_eq!(data, &[7, 9, 0x41]);
    ex.transport().done();
}

#[test]
fn wrong_le_on_a_case_3_command_adds_le() {
    let mut ex = Exchange::new(Script::new(&[
        (&[0x00, 0x88, 0x00, 0x00, 0x01, 0x55], &[0x6C, 0x08]),
        (&[0x00, 0x88, 0x00, 0x00, 0x01, 0x55, 0x08], &[0x90, 0x00]),
    ]));
    let mut buf = [0u8; 16];
    ex.transceive_ok(&[0x00, 0x88, 0x00, 0x00, 0x01, 0x55], &mut buf)
        .unwrap();
    ex.transport().done();
}

#[test]
fn short_commands_never_reach_the_transport() {
    let mut ex = Exchange::new(Script::new(&[]));
    let mut buf = [0u8; 16];
    for cmd in [&[][..], &[0x04], &[0x00, 0xA4, 0x04]] {
        assert!(matches!(
            ex.transceive(cmd, &mut buf),
            Err(ExchangeError::CommandTooShort)
        ));
    }
    ex.transport().done();
}

#[test]
fn errors_are_reported_not_panicked() {
    // One-byte answer.
    let mut ex = Exchange::new(Script::new(&[(&[0, 0xB0, 0, 0, 0], &[0x90])]));
    let mut buf = [0u8; 16];
    assert!(matches!(
        ex.transceive(&[0, 0xB0, 0, 0, 0], &mut buf),
        Err(ExchangeError::ResponseTooShort)
    ));
    // 61xx announcing more than the caller's buffer holds.
    let mut ex = Exchange::new(Script::new(&[(&[0, 0xB0, 0, 0, 0], &[0x61, 0x00])]));
    let mut buf = [0u8; 16];
    assert!(matches!(
        ex.transceive(&[0, 0xB0, 0, 0, 0], &mut buf),
        Err(ExchangeError::BufferTooSmall { needed: 258 })
    ));
    // Non-9000 final status with transceive_ok.
    let mut ex = Exchange::new(Script::new(&[(
        &[0, 0xA4, 2, 0, 2, 0xEF, 0x99],
        &[0x6A, 0x82],
    )]));
    assert!(matches!(
        ex.transceive_ok(&[0, 0xA4, 2, 0, 2, 0xEF, 0x99], &mut buf),
        Err(ExchangeError::Status(Status::FileNotFound))
    ));
    // A transport error keeps its kind.
    let mut ex = Exchange::new(Script::new(&[(&[0, 0xB0, 0, 0, 0], &[0; 40])]));
    let err = ex.transceive(&[0, 0xB0, 0, 0, 0], &mut buf).unwrap_err();
    assert_eq!(
        err.transport_kind(),
        Some(TransportErrorKind::BufferTooSmall { needed: 40 })
    );
}

#[test]
fn endless_61xx_is_bounded() {
    struct Endless;
    impl Transport for Endless {
        type Error = TransportErrorKind;
        fn transmit(&mut self, _: &[u8], r: &mut [u8]) -> Result<usize, Self::Error> {
            r[0] = 0x61;
            r[1] = 0x01;
            Ok(2)
        }
    }
    let mut ex = Exchange::new(Endless);
    let mut buf = vec![0u8; 100_000];
    assert!(matches!(
        ex.transceive(&[0, 0xB0, 0, 0, 0], &mut buf),
        Err(ExchangeError::TooManyGetResponses)
    ));
}

#[derive(Default)]
struct Log(Vec<String>);

impl Trace for Log {
    fn command(&mut self, c: TracedCommand<'_>) {
        self.0.push(format!("> {c}"));
    }
    fn response(&mut self, r: TracedResponse<'_>) {
        self.0.push(format!("< {r}"));
    }
}

#[test]
fn traces_redact_pins() {
    let mut log = Log::default();
    let mut ex = Exchange::with_tracer(
        Script::new(&[
            (
                &[0x00, 0x20, 0x00, 0x00, 0x03, 0x12, 0x34, 0x56],
                &[0x63, 0xC2],
            ),
            (&[0x00, 0xB2, 0x07, 0x04, 0x0B], &[0x6A, 0x83]),
        ]),
        &mut log,
    );
    let mut buf = [0u8; 16];
    let cmd = CommandBuilder::new(0x00, 0x20, 0x00, 0x00).data(&[0x12, 0x34, 0x56]);
    let r = ex.send(&cmd, &mut buf).unwrap();
    assert_eq!(r.status, Status::VerificationFailed { tries_left: 2 });
    let r = ex
        .send(&CommandBuilder::new(0, 0xB2, 7, 4).le(11), &mut buf)
        .unwrap();
    assert_eq!(r.status, Status::RecordNotFound);
    drop(ex);
    assert_eq!(
        log.0,
        [
            "> 0020000003 <3 bytes redacted>",
            "< 63C2",
            "> 00B207040B",
            "< 6A83"
        ]
    );
}
