//! `sscard load`: a bounded load test. One client thread per PC/SC reader, all in
//! parallel, each running a mix of operations on its card for a fixed time; prints the
//! throughput and the p50/p99 latency of every operation and exits non-zero on any error.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use sscard_apdu::{CommandBuilder, Exchange, Status};
use sscard_fs::Profile;
use sscard_pcsc::{Disposition, PcscCard, Readers};
use sscard_ssse::Pin;

/// Arguments of `sscard load`.
#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// A reader to drive (repeat for several); default: every reader holding a card.
    #[arg(long = "reader", value_name = "NAME")]
    pub readers: Vec<String>,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 60.0)]
    pub seconds: f64,
    /// The operations to cycle through: `read` (basic information), `pin` (a wrong PIN,
    /// which must answer 63Cx, then the right one, which must answer 9000), `pay` (a
    /// 1.00 PBOC purchase, online to the host simulator with the emulated card's TEST
    /// keys; the PIN is the bank application's).
    #[arg(long, value_delimiter = ',', default_value = "read,pin")]
    pub mix: Vec<Op>,
    #[command(flatten)]
    pub pin: crate::pin::PinArgs,
}

/// One operation of the mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Op {
    /// SELECT SSSE and the basic-information READ RECORDs.
    Read,
    /// VERIFY with a wrong PIN (63Cx expected), then with the right one (9000).
    Pin,
    /// A PBOC purchase approved online.
    Pay,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Pin => "pin",
            Self::Pay => "pay",
        }
    }
}

/// What one client measured.
#[derive(Default)]
struct Tally {
    /// Latencies of the successful operations, per operation kind (index of `Op`).
    latencies: Vec<(Op, Duration)>,
    errors: Vec<String>,
}

/// Runs the load test.
pub fn run(args: &LoadArgs) -> Result<()> {
    let limit = Duration::try_from_secs_f64(args.seconds)
        .context("--seconds must be a number of seconds")?;
    if args.mix.is_empty() {
        bail!("--mix names no operation");
    }
    let pin = if args.mix.contains(&Op::Pin) || args.mix.contains(&Op::Pay) {
        Some(args.pin.require()?)
    } else {
        None
    };
    let readers = if args.readers.is_empty() {
        Readers::new()
            .with_card()
            .context("listing the readers that hold a card")?
    } else {
        args.readers.clone()
    };
    if readers.is_empty() {
        bail!("no reader holds a card");
    }
    let profile = crate::conn::profile()?;
    let started = Instant::now();
    let tallies: Vec<(String, Tally)> = std::thread::scope(|scope| {
        let handles: Vec<_> = readers
            .iter()
            .map(|name| {
                let (profile, pin, mix) = (&profile, pin.as_ref(), &args.mix);
                scope.spawn(move || (name.clone(), client(name, profile, pin, mix, limit)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    (
                        "?".into(),
                        Tally {
                            errors: vec!["client thread panicked".into()],
                            ..Tally::default()
                        },
                    )
                })
            })
            .collect()
    });
    let wall = started.elapsed();
    report(&tallies, &args.mix, wall)
}

fn client(name: &str, profile: &Profile, pin: Option<&Pin>, mix: &[Op], limit: Duration) -> Tally {
    let mut tally = Tally::default();
    let mut payment = if mix.contains(&Op::Pay) {
        match crate::pboc::LoadTestPayment::new(pin.map(crate::pin::digits)) {
            Ok(p) => Some(p),
            Err(e) => {
                tally.errors.push(format!("{name}: payment setup: {e}"));
                return tally;
            }
        }
    } else {
        None
    };
    let card = match Readers::new().connect(name) {
        Ok(card) => card,
        Err(e) => {
            tally.errors.push(format!("{name}: connect: {e}"));
            return tally;
        }
    };
    let atr = card.cached_atr().to_vec();
    let mut ex = Exchange::new(card);
    let end = Instant::now() + limit;
    let mut ops = mix.iter().cycle();
    while Instant::now() < end {
        let Some(&op) = ops.next() else { break };
        let t0 = Instant::now();
        let result = match op {
            Op::Read => sscard_ssse::read_basic(&mut ex, profile, &atr)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Op::Pin => pin.map_or(Err("no PIN".to_string()), |pin| {
                pin_round(&mut ex, profile, pin)
            }),
            Op::Pay => payment
                .as_mut()
                .map_or(Err("no payment terminal".to_string()), |p| p.run(&mut ex)),
        };
        match result {
            Ok(()) => tally.latencies.push((op, t0.elapsed())),
            Err(e) => tally.errors.push(format!("{name}: {}: {e}", op.name())),
        }
    }
    let (card, _) = ex.into_parts();
    let _ = card.disconnect(Disposition::ResetCard);
    tally
}

/// SELECT SSSE, a wrong PIN (must answer 63Cx), the right PIN (must answer 9000).
fn pin_round(ex: &mut Exchange<PcscCard>, profile: &Profile, pin: &Pin) -> Result<(), String> {
    let aid = profile
        .node(sscard_fs::SSSE)
        .and_then(|n| n.aid.clone())
        .ok_or("the profile has no SSSE AID")?;
    let mut buf = [0u8; 258];
    let status = ex
        .send(
            &CommandBuilder::new(0x00, 0xA4, 0x04, 0x0C).data(&aid),
            &mut buf,
        )
        .map_err(|e| format!("SELECT SSSE: {e}"))?
        .status;
    if status != Status::Success {
        return Err(format!("SELECT SSSE: {status}"));
    }
    let wrong = wrong_pin(pin)?;
    match sscard_ssse::verify_pin(ex, &wrong) {
        Err(sscard_ssse::ReadError::Card(_, Status::VerificationFailed { .. })) => {}
        Err(e) => return Err(format!("wrong PIN: {e}")),
        Ok(()) => return Err("a wrong PIN was accepted".into()),
    }
    sscard_ssse::verify_pin(ex, pin).map_err(|e| format!("right PIN: {e}"))
}

/// The PIN with its last digit changed.
fn wrong_pin(pin: &Pin) -> Result<Pin, String> {
    let mut digits = crate::pin::digits(pin);
    let last = digits.pop().ok_or("empty PIN")?;
    digits.push(if last == '9' {
        '0'
    } else {
        char::from(last as u8 + 1)
    });
    Pin::new(&digits).map_err(|e| e.to_string())
}

/// The nearest-rank percentile, `per_mille` of 1000, of sorted latencies.
fn percentile(sorted: &[Duration], per_mille: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() * per_mille).div_ceil(1000);
    sorted
        .get(rank.saturating_sub(1).min(sorted.len() - 1))
        .copied()
        .unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(tallies: &[(String, Tally)], mix: &[Op], wall: Duration) -> Result<()> {
    println!(
        "load: {} client(s) for {:.1} s: {}",
        tallies.len(),
        wall.as_secs_f64(),
        tallies
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "{:<6} {:>8} {:>10} {:>9} {:>9}",
        "op", "count", "ops/s", "p50 ms", "p99 ms"
    );
    let mut seen: Vec<Op> = Vec::new();
    for &op in mix {
        if seen.contains(&op) {
            continue;
        }
        seen.push(op);
        let mut all: Vec<Duration> = tallies
            .iter()
            .flat_map(|(_, t)| t.latencies.iter())
            .filter(|(o, _)| *o == op)
            .map(|(_, d)| *d)
            .collect();
        all.sort();
        println!(
            "{:<6} {:>8} {:>10.1} {:>9.2} {:>9.2}",
            op.name(),
            all.len(),
            all.len() as f64 / wall.as_secs_f64(),
            ms(percentile(&all, 500)),
            ms(percentile(&all, 990)),
        );
    }
    for (name, t) in tallies {
        println!("client {name}: {} operations", t.latencies.len());
    }
    let errors: Vec<&String> = tallies.iter().flat_map(|(_, t)| t.errors.iter()).collect();
    println!("errors: {}", errors.len());
    for e in errors.iter().take(10) {
        println!("  {e}");
    }
    if !errors.is_empty() {
        bail!("{} operation(s) failed", errors.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_series() {
        let series: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&series, 500), Duration::from_millis(50));
        assert_eq!(percentile(&series, 990), Duration::from_millis(99));
        assert_eq!(percentile(&[], 500), Duration::ZERO);
    }

    #[test]
    fn wrong_pin_differs_in_the_last_digit() {
        let pin = Pin::new("123459").unwrap();
        assert_eq!(
            wrong_pin(&pin).unwrap().bcd().as_slice(),
            &[0x12, 0x34, 0x50]
        );
        let pin = Pin::new("1234567").unwrap();
        assert_eq!(
            wrong_pin(&pin).unwrap().bcd().as_slice(),
            &[0x12, 0x34, 0x56, 0x8F]
        );
    }
}
