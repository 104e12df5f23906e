//! The card stack alone, for the size report (see `sscard_kiosk_example::card_stack`),
//! with the holder's name kept as the card's GBK bytes (`sscard_ssse::read_basic_gbk`),
//! as for a display or printer that takes GBK: no GBK table is linked.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use panic_halt as _;
use sscard_kiosk_example::card_stack;

#[entry]
fn main() -> ! {
    card_stack::run(|card, profile, atr| {
        let info = sscard_ssse::read_basic_gbk(card, profile, atr).ok()?;
        Some(info.name.as_bytes().len())
    })
}
