//! VERIFY and CHANGE PIN against the emulated sample card (PIN 123456, six tries).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use sscard_apdu::{CommandBuilder, Exchange, Status};
use sscard_emu::{sample_card, EmulatedReader, Runtime, SsCard};
use sscard_ssse::{change_pin, verify_pin, Pin, ReadError, Step};

fn selected() -> Exchange<EmulatedReader<SsCard>> {
    let mut ex = Exchange::new(EmulatedReader::new(Runtime::new(sample_card().unwrap())));
    let profile = sscard_fs::builtin_profile().unwrap();
    let aid = profile.node(sscard_fs::SSSE).unwrap().aid.clone().unwrap();
    let mut buf = [0u8; 258];
    let select = CommandBuilder::new(0x00, 0xA4, 0x04, 0x0C).data(&aid);
    ex.send(&select, &mut buf).unwrap().success().unwrap();
    ex
}

#[test]
fn change_pin_checks_the_old_pin_and_sets_the_new_one() {
    let mut ex = selected();
    let (old, new) = (Pin::new("123456").unwrap(), Pin::new("654321").unwrap());
    let err = change_pin(&mut ex, &new, &old).unwrap_err();
    assert!(
        matches!(
            err,
            ReadError::Card(
                Step::ChangePin,
                Status::VerificationFailed { tries_left: 5 }
            )
        ),
        "{err}"
    );
    change_pin(&mut ex, &old, &new).unwrap();
    verify_pin(&mut ex, &new).unwrap();
    let err = verify_pin(&mut ex, &old).unwrap_err();
    assert!(
        matches!(
            err,
            ReadError::Card(
                Step::VerifyPin,
                Status::VerificationFailed { tries_left: 5 }
            )
        ),
        "{err}"
    );
    // A new PIN of another length is refused and the PIN stays.
    let err = change_pin(&mut ex, &new, &Pin::new("1234").unwrap()).unwrap_err();
    assert!(
        matches!(err, ReadError::Card(Step::ChangePin, Status::WrongData)),
        "{err}"
    );
    verify_pin(&mut ex, &new).unwrap();
}
