//! Transmission parameters and waiting times (ISO/IEC 7816-3 §7.1, §8.3, §10.2,
//! §11.4), in microseconds for the engines' deadlines.
//!
//! * ETU = F / (D × f) seconds.
//! * Guard time: 12 ETU + N; N = 255 means 12 ETU for T=0 and 11 ETU for T=1.
//! * T=0 waiting time WT = WI × 960 × Fi / f.
//! * T=1 character waiting time CWT = (11 + 2^CWI) ETU; block waiting time
//!   BWT = 11 ETU + 2^BWI × 960 × 372 / f; block guard time BGT = 22 ETU.
//! * Before the protocol is set (ATR, PPS) characters are at most the initial
//!   waiting time apart: 9600 ETU at F = 372, D = 1.

use crate::Protocol;

/// F = 372 and D = 1: the values in force until a PPS exchange or a specific mode
/// changes them (Fd, Dd).
pub const DEFAULT_F: u16 = 372;
/// The default bit-rate adjustment factor Dd.
pub const DEFAULT_D: u8 = 1;
/// A usual terminal clock: 3.5712 MHz gives 9600 bit/s at F = 372, D = 1.
pub const DEFAULT_CLOCK_HZ: u32 = 3_571_200;
/// The initial waiting time in ETU (§8.1, §9.1).
pub const INITIAL_WAITING_ETU: u64 = 9600;
/// The ATR starts at most this many clock cycles after RST goes high (§8.1).
pub const ATR_START_CLOCKS: u64 = 40_000;
/// Block guard time in ETU (§11.4.3).
pub const BGT_ETU: u64 = 22;
/// Minimum delay between the leading edges of two characters in opposite
/// directions for T=0, in ETU (§10.2).
pub const T0_TURNAROUND_ETU: u64 = 16;

/// Fi and fmax (kHz) for the clock rate conversion index of TA1 / PPS1 (§8.3,
/// Table 7). `None` for the reserved values.
pub const fn fi_fmax(index: u8) -> Option<(u16, u32)> {
    match index {
        0 => Some((372, 4_000)),
        1 => Some((372, 5_000)),
        2 => Some((558, 6_000)),
        3 => Some((744, 8_000)),
        4 => Some((1116, 12_000)),
        5 => Some((1488, 16_000)),
        6 => Some((1860, 20_000)),
        9 => Some((512, 5_000)),
        10 => Some((768, 7_500)),
        11 => Some((1024, 10_000)),
        12 => Some((1536, 15_000)),
        13 => Some((2048, 20_000)),
        _ => None,
    }
}

/// Di for the bit-rate adjustment index of TA1 / PPS1 (§8.3, Table 8). `None` for
/// the reserved values.
pub const fn di(index: u8) -> Option<u8> {
    match index {
        1 => Some(1),
        2 => Some(2),
        3 => Some(4),
        4 => Some(8),
        5 => Some(16),
        6 => Some(32),
        7 => Some(64),
        8 => Some(12),
        9 => Some(20),
        _ => None,
    }
}

/// The clock, F, D and extra guard time N of a line; the waiting times follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    clock_hz: u32,
    f: u16,
    d: u8,
    n: u8,
}

/// `a / b` rounded up; `u64::MAX` when `b` is zero.
fn ceil_div(a: u64, b: u64) -> u64 {
    match div_rem(a, b) {
        Some((q, 0)) => q,
        // A non-zero remainder means b ≥ 2, so q < u64::MAX.
        Some((q, _)) => q.saturating_add(1),
        None => u64::MAX,
    }
}

/// Quotient and remainder of `n / d` (`None` for `d = 0`) by binary long division.
///
/// The timing divides a 64-bit number a few times per exchange. A microcontroller
/// without a 64-bit divider (Cortex-M) would otherwise link compiler-builtins' 64-bit
/// division (about 0.9 KB of flash); this loop is a few dozen bytes and at most 64
/// shift-and-subtract steps.
fn div_rem(n: u64, d: u64) -> Option<(u64, u64)> {
    if d == 0 {
        return None;
    }
    let (mut q, mut r) = (0u64, 0u64);
    for bit in (0..64).rev() {
        // r < d before the shift; `carry` is the bit shifted out of r.
        let carry = r >> 63;
        r = (r << 1) | ((n >> bit) & 1);
        if carry == 1 || r >= d {
            r = r.wrapping_sub(d);
            q |= 1 << bit;
        }
    }
    Some((q, r))
}

impl Timing {
    /// F = 372, D = 1, N = 0 at `clock_hz`.
    pub const fn initial(clock_hz: u32) -> Self {
        Self {
            clock_hz,
            f: DEFAULT_F,
            d: DEFAULT_D,
            n: 0,
        }
    }

    /// Explicit values. A zero clock, F or D makes every duration `u64::MAX`.
    pub const fn new(clock_hz: u32, f: u16, d: u8, n: u8) -> Self {
        Self { clock_hz, f, d, n }
    }

    /// The clock frequency in Hz.
    pub const fn clock_hz(&self) -> u32 {
        self.clock_hz
    }

    /// The clock rate conversion factor F.
    pub const fn f(&self) -> u16 {
        self.f
    }

    /// The bit-rate adjustment factor D.
    pub const fn d(&self) -> u8 {
        self.d
    }

    /// The extra guard time N (TC1).
    pub const fn n(&self) -> u8 {
        self.n
    }

    /// The same line with extra guard time `n`.
    pub const fn with_n(mut self, n: u8) -> Self {
        self.n = n;
        self
    }

    /// One ETU in nanoseconds (rounded up).
    pub fn etu_ns(&self) -> u64 {
        ceil_div(
            u64::from(self.f) * 1_000_000_000,
            u64::from(self.d) * u64::from(self.clock_hz),
        )
    }

    /// `etus` ETU in microseconds (rounded up).
    pub fn etus_us(&self, etus: u64) -> u64 {
        ceil_div(
            etus.saturating_mul(u64::from(self.f))
                .saturating_mul(1_000_000),
            u64::from(self.d) * u64::from(self.clock_hz),
        )
    }

    /// `clocks` clock cycles in microseconds (rounded up).
    pub fn clocks_us(&self, clocks: u64) -> u64 {
        ceil_div(clocks.saturating_mul(1_000_000), u64::from(self.clock_hz))
    }

    /// Bits per second (rounded down).
    pub fn baud(&self) -> u32 {
        match div_rem(
            u64::from(self.clock_hz) * u64::from(self.d),
            u64::from(self.f),
        ) {
            Some((baud, _)) => u32::try_from(baud).unwrap_or(u32::MAX),
            None => 0,
        }
    }

    /// The guard time in ETU (§7.2, §8.3 TC1): 12 + N, or for N = 255 the minimum of
    /// the protocol, 12 ETU for T=0 and 11 ETU for T=1.
    pub fn guard_time_etu(&self, protocol: Option<Protocol>) -> u16 {
        match (self.n, protocol) {
            (255, Some(Protocol::T1)) => 11,
            (255, _) => 12,
            (n, _) => 12 + u16::from(n),
        }
    }

    /// The duration of one character including guard time, in microseconds.
    pub fn char_us(&self, protocol: Option<Protocol>) -> u64 {
        self.etus_us(u64::from(self.guard_time_etu(protocol)))
    }

    /// The initial waiting time (9600 ETU), used during the ATR and PPS.
    pub fn initial_waiting_us(&self) -> u64 {
        self.etus_us(INITIAL_WAITING_ETU)
    }

    /// The longest delay from RST high to the first ATR character.
    pub fn atr_start_us(&self) -> u64 {
        self.clocks_us(ATR_START_CLOCKS)
    }

    /// The T=0 waiting time WT = WI × 960 × F / f (§10.2), with F the negotiated Fi.
    pub fn t0_wt_us(&self, wi: u8) -> u64 {
        self.clocks_us(u64::from(wi) * 960 * u64::from(self.f))
    }

    /// The T=1 character waiting time CWT = (11 + 2^CWI) ETU (§11.4.3).
    pub fn t1_cwt_us(&self, cwi: u8) -> u64 {
        self.etus_us(11 + (1u64 << (cwi & 0x0F)))
    }

    /// The T=1 block waiting time BWT = 11 ETU + 2^BWI × 960 × 372 / f (§11.4.3).
    pub fn t1_bwt_us(&self, bwi: u8) -> u64 {
        self.etus_us(11)
            .saturating_add(self.clocks_us((1u64 << (bwi & 0x0F)) * 960 * 372))
    }

    /// The T=1 block guard time (22 ETU).
    pub fn t1_bgt_us(&self) -> u64 {
        self.etus_us(BGT_ETU)
    }

    /// The T=0 turnaround delay between opposite directions (16 ETU).
    pub fn t0_turnaround_us(&self) -> u64 {
        self.etus_us(T0_TURNAROUND_ETU)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn etu_and_waiting_times() {
        let t = Timing::initial(DEFAULT_CLOCK_HZ);
        assert_eq!(t.baud(), 9600);
        assert_eq!(t.etu_ns(), 104_167);
        // 9600 ETU = 1 s at 9600 bit/s.
        assert_eq!(t.initial_waiting_us(), 1_000_000);
        // WI = 10: 10 × 960 × 372 / 3.5712 MHz = 1 s.
        assert_eq!(t.t0_wt_us(10), 1_000_000);
        // CWI = 13: 8203 ETU.
        assert_eq!(t.t1_cwt_us(13), t.etus_us(8203));
        // BWI = 4: 11 ETU + 16 × 960 × 372 / f = 11 ETU + 1.6 s.
        assert_eq!(t.t1_bwt_us(4), t.etus_us(11) + 1_600_000);
        let fast = Timing::new(DEFAULT_CLOCK_HZ, 372, 8, 0);
        assert_eq!(fast.baud(), 76_800);
        // BWT's second term does not scale with D.
        assert_eq!(fast.t1_bwt_us(4) - fast.etus_us(11), 1_600_000);
    }

    #[test]
    fn guard_time() {
        let t = Timing::initial(DEFAULT_CLOCK_HZ);
        assert_eq!(t.guard_time_etu(Some(Protocol::T0)), 12);
        assert_eq!(t.with_n(2).guard_time_etu(Some(Protocol::T1)), 14);
        assert_eq!(t.with_n(255).guard_time_etu(Some(Protocol::T0)), 12);
        assert_eq!(t.with_n(255).guard_time_etu(Some(Protocol::T1)), 11);
        assert_eq!(t.with_n(254).guard_time_etu(None), 266);
    }

    proptest::proptest! {
        /// The long division agrees with the processor's (native) one.
        #[test]
        fn long_division_is_division(n: u64, d: u64, small in 1u64..=u64::from(u32::MAX)) {
            for d in [d, small, d >> 40, u64::MAX - (d & 0xFF)] {
                if d == 0 {
                    proptest::prop_assert_eq!(div_rem(n, d), None);
                    proptest::prop_assert_eq!(ceil_div(n, d), u64::MAX);
                } else {
                    proptest::prop_assert_eq!(div_rem(n, d), Some((n / d, n % d)));
                    proptest::prop_assert_eq!(ceil_div(n, d), n.div_ceil(d));
                }
            }
        }
    }

    #[test]
    fn long_division_edges() {
        assert_eq!(div_rem(u64::MAX, 1), Some((u64::MAX, 0)));
        assert_eq!(div_rem(u64::MAX, u64::MAX), Some((1, 0)));
        assert_eq!(div_rem(u64::MAX - 1, u64::MAX), Some((0, u64::MAX - 1)));
        assert_eq!(div_rem(1 << 63, (1 << 63) + 1), Some((0, 1 << 63)));
        assert_eq!(ceil_div(u64::MAX, 2), 1 << 63);
        assert_eq!(ceil_div(0, 7), 0);
    }

    #[test]
    fn tables() {
        assert_eq!(fi_fmax(1), Some((372, 5_000)));
        assert_eq!(fi_fmax(9), Some((512, 5_000)));
        assert_eq!(fi_fmax(7), None);
        assert_eq!(di(8), Some(12));
        assert_eq!(di(0), None);
        assert_eq!(di(10), None);
        // A zero clock never divides by zero.
        assert_eq!(Timing::new(0, 372, 1, 0).etu_ns(), u64::MAX);
        assert_eq!(Timing::new(1, 0, 1, 0).baud(), 0);
    }
}
