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
    /// The card must carry a personalised bank application (else its absence, or a
    /// blank one, is only noted).
    #[arg(long)]
    bank: bool,
    /// The bank application's PAN must be this one (the `bank.pan` of the result file
    /// of `sscard issue --bank-profile`).
    #[arg(long, value_name = "DIGITS")]
    bank_pan: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What the card's bank application is.
enum Bank {
    /// No bank application.
    None,
    /// A blank application of the emulated COS (`80 CA 00 C0` lifecycle `01`).
    Blank,
    /// Cut off during personalisation (lifecycle `02`), with the DGIs stored.
    Half(u8),
    /// Personalised: the certificate check's verdict.
    Checked(bool, String),
}

/// The bank application's state, then (when personalised) its certificates. Cards whose
/// COS has no bank lifecycle query go straight to the certificate check.
fn bank_check<T: sscard_apdu::Transport, R: sscard_apdu::trace::Trace>(
    ex: &mut sscard_apdu::Exchange<T, R>,
    args: &VerifyArgs,
) -> Result<Bank> {
    use sscard_issue::bank;
    let aid = sscard_emu::pboc::DEFAULT_BLANK_AID;
    match bank::lifecycle(ex, &aid) {
        Ok((bank::LIFECYCLE_BLANK, _)) => return Ok(Bank::Blank),
        Ok((bank::LIFECYCLE_PERSONALISED, _)) | Err(_) => {}
        Ok((_, stored)) => return Ok(Bank::Half(stored)),
    }
    let checked = crate::pboc::certificates_check(
        ex,
        args.test_capks || args.card.emulated,
        args.bank_pan.as_deref(),
    )?;
    Ok(match checked {
        Some((ok, detail)) => Bank::Checked(ok, detail),
        None => Bank::None,
    })
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
    let bank = bank_check(&mut card.ex, args);
    card.close();
    if let Some(m) = module {
        m.close();
    }
    let mut report = report.context("verification")?;
    let must = args.bank || args.bank_pan.is_some();
    match bank {
        Ok(Bank::Checked(ok, detail)) => report.checks.push(sscard_issue::verify::Check {
            name: "bank certificates".into(),
            ok,
            detail,
        }),
        Ok(Bank::None) => report.checks.push(sscard_issue::verify::Check {
            name: "bank application".into(),
            ok: !must,
            detail: "none on this card".into(),
        }),
        Ok(Bank::Blank) => report.checks.push(sscard_issue::verify::Check {
            name: "bank application".into(),
            ok: !must,
            detail: "blank (not personalised) on this card".into(),
        }),
        Ok(Bank::Half(stored)) => report.checks.push(sscard_issue::verify::Check {
            name: "bank application".into(),
            ok: false,
            detail: format!("half personalised ({stored} DGIs stored): re-issue the holder"),
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
