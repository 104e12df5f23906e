//! Board-support stub for the kiosk example on an STM32F4-class Cortex-M4F: the card
//! UART (USART1, smartcard mode programmed elsewhere), the console UART (USART2) for
//! the text display, GPIO inputs for the card switch and a 4×3 keypad, RST/VCC outputs,
//! a cycle-counting delay and the heap.
//!
//! The register accesses are real addresses of that family, but nothing sets up clocks
//! or pin functions: the stub exists so the example links with every driver path in
//! place and so `benches/size-report.sh` can measure it. On a real board replace this
//! module with the HAL crate's drivers; the kiosk only sees the embedded-hal and
//! embedded-io traits.
#![no_std]

pub mod board;
pub mod card_stack;
