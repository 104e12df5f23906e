//! The card stack alone, for the size report (see `sscard_kiosk_example::card_stack`),
//! with the holder's name decoded from GBK to Unicode (`sscard_ssse::read_basic`): the
//! GBK tables of `sscard_fs::gbk` are linked.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use panic_halt as _;
use sscard_kiosk_example::card_stack;

#[entry]
fn main() -> ! {
    card_stack::run(|card, profile, atr| {
        let info = sscard_ssse::read_basic(card, profile, atr).ok()?;
        Some(info.name.len())
    })
}
