//! Proving an issued card right afterwards (`sscard verify`): given the card and its
//! issuance record (the card image it was personalised with), check
//!
//! * every data item of the basic files (EF05, EF06) against the record (a 3.0 card's
//!   read after internal and RKSSSE external authentication through the module);
//! * every key of the SSSE by authenticating with the expected key (internal
//!   authentication for the internal-authentication key, external authentication for
//!   the others) through a security module — a missing or wrong key fails;
//! * the PIN in its initial state: the full try count, and the record's initial PIN
//!   accepted.
//!
//! Each check gives a verdict; the card passes only if every one does. The bank
//! application's certificates are checked by the caller (the CLI) with the PBOC
//! kernel.

use std::fmt;

use sscard_apdu::trace::Trace;
use sscard_apdu::{CommandBuilder, Exchange, Status, Transport};
use sscard_crypto::keys::Algorithm;
use sscard_fs::image::Value;
use sscard_fs::profile::KeyUsage;
use sscard_fs::{Image, Profile, SSSE, SSSE_EF05};
use sscard_ssse::security::{self, CardContext, SecurityModule};

/// One check and its verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What was checked (`data SSSE/EF05 card_number`, `key 04 UK…`, `PIN tries`).
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was found.
    pub detail: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.ok { "ok  " } else { "FAIL" };
        write!(f, "{verdict} {}: {}", self.name, self.detail)
    }
}

/// Every check of one card.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The checks in the order they ran.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether every check passed (and there was at least one).
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.ok)
    }

    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.ok)
    }

    fn push(&mut self, name: impl Into<String>, ok: bool, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            ok,
            detail: detail.into(),
        });
    }
}

/// Why verification could not run at all (a failed check is not an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The profile lacks the SSSE or its AID.
    #[error("the card profile lacks the SSSE application")]
    Profile,
    /// The record's algorithm identifier is not one sscard implements.
    #[error("the record's algorithm identifier {0:?} is not supported")]
    Algorithm(String),
}

fn text(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_text)
}

/// Runs the checks. `module` is the security module holding the expected keys; without
/// one the key checks fail with "no security module" (the verdict must not pass
/// unchecked). The card is left in an unspecified security state; reset it after.
pub fn verify_card<T, R, M>(
    ex: &mut Exchange<T, R>,
    profile: &Profile,
    atr: &[u8],
    record: &Image,
    module: Option<&mut M>,
) -> Result<Report, VerifyError>
where
    T: Transport,
    R: Trace,
    M: SecurityModule + ?Sized,
{
    let mut report = Report::default();
    let ssse = profile.node(SSSE).ok_or(VerifyError::Profile)?;
    let aid = ssse.aid.clone().ok_or(VerifyError::Profile)?;

    // 1. Data items (on a 3.0 card after internal and RKSSSE external authentication,
    // through the module; without one the read fails and so does the check).
    let mut module = module;
    let read = match module.as_deref_mut() {
        Some(m) if crate::engine::third_generation(record) => {
            let nonce = [0xA5, 0x5A, 0x3C, 0xC3, 0x0F, 0xF0, 0x69, 0x96];
            sscard_ssse::read_image_secured(ex, profile, atr, m, &nonce).map_err(|e| e.to_string())
        }
        _ => sscard_ssse::read_image(ex, profile, atr).map_err(|e| e.to_string()),
    };
    match read {
        Ok(card) => {
            for (path, items) in &record.files {
                if !sscard_ssse::BASIC_FILES.contains(&path.as_str()) {
                    continue;
                }
                for (key, want) in items {
                    let got = card.files.get(path).and_then(|f| f.get(key));
                    let ok = got == Some(want);
                    let detail = match (text(got), text(Some(want))) {
                        (Some(g), Some(_)) if ok => format!("{g:?}"),
                        (g, w) => format!("card {g:?}, record {w:?}"),
                    };
                    report.push(format!("data {path} {key}"), ok, detail);
                }
            }
        }
        Err(e) => report.push("data", false, format!("cannot read the basic files: {e}")),
    }

    // 2. Keys of the SSSE, by authentication.
    let id = record
        .algorithm_id
        .as_deref()
        .map_or(Ok(Algorithm::DEFAULT_CARD_ID), |h| {
            sscard_apdu::hex::to_vec(h)
                .ok()
                .and_then(|v| v.first().copied())
                .ok_or_else(|| VerifyError::Algorithm(h.to_string()))
        })?;
    let algorithm =
        Algorithm::from_card_id(id).map_err(|_| VerifyError::Algorithm(format!("{id:02X}")))?;
    let card_id = record
        .files
        .get(SSSE_EF05)
        .and_then(|f| text(f.get("card_id")))
        .unwrap_or_default()
        .to_string();
    let cc = CardContext {
        atr,
        card_id: &card_id,
        algorithm,
    };
    let mut buf = [0u8; 258];
    let select = CommandBuilder::new(0x00, 0xA4, 0x04, 0x0C).data(&aid);
    let selected = ex.send(&select, &mut buf).map(|r| r.status);
    if selected.as_ref().ok() != Some(&Status::Success) {
        report.push("SSSE", false, format!("SELECT answered {selected:?}"));
        return Ok(report);
    }
    match module {
        None => report.push("keys", false, "no security module to authenticate with"),
        Some(module) => {
            for key in &ssse.keys {
                let name = format!("key {:02X} {}", key.id, key.name);
                let result = if key.usage == KeyUsage::InternalAuth {
                    let mut nonce = [0u8; 8];
                    for (i, b) in nonce.iter_mut().enumerate() {
                        *b = u8::try_from(i).unwrap_or(0) ^ key.id ^ 0x5A;
                    }
                    security::internal_authenticate(ex, &mut *module, &cc, key.id, &nonce)
                        .map(|()| "internal authentication verified")
                } else {
                    security::external_authenticate(ex, &mut *module, &cc, key.id)
                        .map(|()| "external authentication accepted")
                };
                match result {
                    Ok(what) => report.push(name, true, what),
                    Err(e) => report.push(name, false, e.to_string()),
                }
            }
        }
    }

    // 3. The PIN in its initial state.
    if let Some(policy) = &ssse.pin {
        let probe = ex
            .send(&CommandBuilder::new(0x00, 0x20, 0x00, 0x00), &mut buf)
            .map(|r| r.status);
        match probe {
            Ok(Status::VerificationFailed { tries_left }) => report.push(
                "PIN tries",
                tries_left == policy.tries,
                format!("{tries_left} left, {} when issued", policy.tries),
            ),
            other => report.push("PIN tries", false, format!("VERIFY answered {other:?}")),
        }
        let initial = record
            .pin
            .clone()
            .unwrap_or_else(|| sscard_fs::image::DEFAULT_PIN.to_string());
        match sscard_ssse::Pin::new(&initial) {
            Ok(pin) => match sscard_ssse::verify_pin(ex, &pin) {
                Ok(()) => report.push("PIN initial", true, "the initial PIN is accepted"),
                Err(e) => report.push("PIN initial", false, e.to_string()),
            },
            Err(e) => report.push("PIN initial", false, format!("record PIN: {e}")),
        }
    }
    Ok(report)
}
