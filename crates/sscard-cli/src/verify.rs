//! `sscard verify`: proves an issued card right against its issuance record — every
//! data item, every SSSE key by authentication, the PIN's initial state, and the bank
//! application's certificates. A verdict per check; exit non-zero on any failure.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde_json::json;
use sscard_fs::Image;

use crate::admin::{Module, ModuleArgs};
use crate::conn::{self, CardArgs};

/// Arguments of `sscard verify`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    card: CardArgs,
    /// The issuance record: the card image the card was personalised with (the schema
    /// `sscard read --json` prints).
    #[arg(long, value_name = "FILE")]
    record: PathBuf,
    #[command(flatten)]
    module: ModuleArgs,
    /// Also trust the emulator's TEST CA keys for the bank application's certificates.
    #[arg(long)]
    test_capks: bool,
    /// The card must carry a bank application (else its absence is only noted).
    #[arg(long)]
    bank: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs the checks and prints a verdict per check.
pub fn run(args: &VerifyArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.record)
        .with_context(|| format!("issuance record {}", args.record.display()))?;
    let record = Image::from_json(&text)
        .with_context(|| format!("issuance record {}", args.record.display()))?;
    let profile = conn::profile()?;
    let mut module = Module::open(&args.module, &args.card)?;
    let mut card = conn::open(&args.card)?;
    let report = sscard_issue::verify::verify_card(
        &mut card.ex,
        &profile,
        &card.atr,
        &record,
        module.as_mut(),
    );
    let bank = crate::pboc::certificates_check(&mut card.ex, args.test_capks || args.card.emulated);
    card.close();
    if let Some(m) = module {
        m.close();
    }
    let mut report = report.context("verification")?;
    match bank {
        Ok(Some((ok, detail))) => report.checks.push(sscard_issue::verify::Check {
            name: "bank certificates".into(),
            ok,
            detail,
        }),
        Ok(None) => report.checks.push(sscard_issue::verify::Check {
            name: "bank application".into(),
            ok: !args.bank,
            detail: "none on this card".into(),
        }),
        Err(e) => report.checks.push(sscard_issue::verify::Check {
            name: "bank certificates".into(),
            ok: false,
            detail: e.to_string(),
        }),
    }
    if args.json {
        let checks: Vec<_> = report
            .checks
            .iter()
            .map(|c| json!({"check": c.name, "ok": c.ok, "detail": c.detail}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"passed": report.passed(), "checks": checks}))?
        );
    } else {
        for c in &report.checks {
            println!("{c}");
        }
    }
    let failed = report.failures().count();
    if failed > 0 {
        bail!("{failed} of {} checks failed", report.checks.len());
    }
    if !args.json {
        println!("verified: all {} checks passed", report.checks.len());
    }
    Ok(())
}
