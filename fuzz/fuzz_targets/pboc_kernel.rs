//! The PBOC terminal kernel against a card that answers anything: each response is
//! taken from the input (`len(1) ‖ bytes`, the last two bytes the status word), for a
//! whole contact transaction with the real ODA verifier and the issuer host simulator,
//! then the electronic-cash readers. The kernel must end with an outcome or an error,
//! never panic and never loop.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sscard_apdu::{Exchange, Transport, TransportError, TransportErrorKind};
use sscard_emv::capk::CapkStore;
use sscard_pboc::config::{TerminalConfig, TransactionData};
use sscard_pboc::contact;
use sscard_pboc::host::HostSimulator;
use sscard_pboc::traits::{Environment, NoCardholder, Rng};
use sscard_pboc::verifier::EmvOda;

#[derive(Debug)]
struct Mute;
impl core::fmt::Display for Mute {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("mute")
    }
}
impl core::error::Error for Mute {}
impl TransportError for Mute {
    fn kind(&self) -> TransportErrorKind {
        TransportErrorKind::Timeout
    }
}

struct Fuzzed<'a> {
    rest: &'a [u8],
    sent: usize,
}

impl Transport for Fuzzed<'_> {
    type Error = Mute;
    fn transmit(&mut self, _: &[u8], response: &mut [u8]) -> Result<usize, Mute> {
        self.sent += 1;
        assert!(self.sent < 10_000, "the kernel keeps sending");
        let (&len, tail) = self.rest.split_first().ok_or(Mute)?;
        let n = usize::from(len).min(tail.len()).min(response.len());
        let (answer, tail) = tail.split_at(n);
        self.rest = tail;
        response[..n].copy_from_slice(answer);
        Ok(n)
    }
}

static SETUP: std::sync::OnceLock<(CapkStore, HostSimulator)> = std::sync::OnceLock::new();

struct Counter(u8);
impl Rng for Counter {
    fn fill(&mut self, out: &mut [u8]) {
        for b in out {
            self.0 = self.0.wrapping_add(1);
            *b = self.0;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let cfg = TerminalConfig {
        sm_support: flags & 1 != 0,
        ec_support: flags & 2 != 0,
        ..TerminalConfig::default()
    };
    let txn = TransactionData {
        amount: u64::from(flags) * 100,
        date: [0x26, 0x11, 0x22],
        ..TransactionData::default()
    };
    let (store, host) = SETUP.get_or_init(|| {
        let profile =
            sscard_emv::perso::load(sscard_emu::pboc::BUILTIN_PROFILE).expect("profile");
        (
            CapkStore::unionpay().expect("CAPKs"),
            HostSimulator::for_application(&profile.applications[0]).expect("keys"),
        )
    });
    let mut oda = EmvOda::new(store.clone());
    let mut host = host.clone();
    let mut ex = Exchange::new(Fuzzed { rest, sent: 0 });
    let _ = contact::run(
        &mut ex,
        &cfg,
        &txn,
        &mut Environment {
            oda: &mut oda,
            cardholder: &mut NoCardholder,
            issuer: &mut host,
            rng: &mut Counter(flags),
        },
    );
    let _ = sscard_pboc::ec::read_info(&mut ex);
    let _ = sscard_pboc::ec::read_transaction_log(&mut ex, None);
});
