//! Where PINs come from in a setting without a PIN pad (`pin_source`), and checking
//! PINs given explicitly.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sscard_ssse::Pin;
use zeroize::Zeroizing;

use crate::codes::{
    Failure, Outcome, SSCARD_E_ILLEGAL_CHARS, SSCARD_E_PIN_CANCELLED, SSCARD_E_PIN_LENGTH,
    SSCARD_E_PIN_TIMEOUT, SSCARD_E_UNSUPPORTED,
};
use crate::config::PinSource;

/// Which PIN is asked for (the argument a `command:` source gets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prompt {
    /// The PIN, to verify it.
    Verify,
    /// The current PIN, to change it.
    Old,
    /// The new PIN (change, reload).
    New,
}

impl Prompt {
    fn arg(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Old => "old",
            Self::New => "new",
        }
    }
}

/// A PIN typed by a person or given by the application: 4 to 12 digits.
pub fn parse_pin(text: &str) -> Outcome<Pin> {
    let digits = text.trim();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Failure::new(
            SSCARD_E_ILLEGAL_CHARS,
            "密码只能是数字 (a PIN is digits only)",
        ));
    }
    Pin::new(digits)
        .map_err(|_| Failure::new(SSCARD_E_PIN_LENGTH, "密码长度错 (a PIN is 4 to 12 digits)"))
}

/// The PINs for `prompts`, in order, from `source`.
pub fn obtain(source: &PinSource, timeout: Duration, prompts: &[Prompt]) -> Outcome<Vec<Pin>> {
    match source {
        PinSource::None => Err(Failure::new(
            SSCARD_E_UNSUPPORTED,
            "没有密码键盘 (no PIN pad: configure pin_source, or call the explicit-PIN function)",
        )),
        PinSource::PinPad => Err(Failure::new(
            SSCARD_E_UNSUPPORTED,
            "PC/SC PIN pads are not supported yet (pin_source = pinpad)",
        )),
        PinSource::File(path) => {
            let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|_| {
                Failure::new(
                    SSCARD_E_PIN_CANCELLED,
                    format!("cannot read the PIN file {}", path.display()),
                )
            })?);
            let mut lines = text.lines();
            prompts
                .iter()
                .map(|_| {
                    lines.next().map(parse_pin).unwrap_or_else(|| {
                        Err(Failure::new(
                            SSCARD_E_PIN_CANCELLED,
                            "the PIN file has fewer lines than PINs needed",
                        ))
                    })
                })
                .collect()
        }
        PinSource::Command(argv) => prompts
            .iter()
            .map(|p| run_command(argv, *p, timeout))
            .collect(),
    }
}

fn run_command(argv: &[String], prompt: Prompt, timeout: Duration) -> Outcome<Pin> {
    let cancelled = |why: &str| Failure::new(SSCARD_E_PIN_CANCELLED, format!("PIN entry: {why}"));
    let (program, args) = argv.split_first().ok_or_else(|| cancelled("no program"))?;
    let mut child = Command::new(program)
        .args(args)
        .arg(prompt.arg())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|_| cancelled("cannot start the PIN program"))?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() < timeout => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                // Our own child: stop it and reap it.
                let _ = child.kill();
                let _ = child.wait();
                return Err(Failure::new(SSCARD_E_PIN_TIMEOUT, "PIN entry timed out"));
            }
            Err(_) => return Err(cancelled("lost the PIN program")),
        }
    };
    let mut out = Zeroizing::new(String::new());
    if let Some(mut stdout) = child.stdout.take() {
        stdout
            .read_to_string(&mut out)
            .map_err(|_| cancelled("unreadable answer"))?;
    }
    if !status.success() {
        return Err(cancelled("cancelled"));
    }
    match out.lines().next() {
        Some(line) if !line.trim().is_empty() => parse_pin(line),
        _ => Err(cancelled("no PIN given")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_digits_of_the_right_length() {
        assert!(parse_pin(" 123456\n").is_ok());
        assert_eq!(
            parse_pin("12a456").unwrap_err().code,
            SSCARD_E_ILLEGAL_CHARS
        );
        assert_eq!(parse_pin("123").unwrap_err().code, SSCARD_E_PIN_LENGTH);
        assert_eq!(parse_pin("").unwrap_err().code, SSCARD_E_PIN_LENGTH);
    }

    #[test]
    fn sources() {
        let t = Duration::from_secs(5);
        assert_eq!(
            obtain(&PinSource::None, t, &[Prompt::Verify])
                .unwrap_err()
                .code,
            SSCARD_E_UNSUPPORTED
        );
        let dir = std::env::temp_dir().join(format!("sscard-ffi-pin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pins");
        std::fs::write(&file, "111111\n222222\n").unwrap();
        let src = PinSource::File(file.clone());
        assert_eq!(
            obtain(&src, t, &[Prompt::Old, Prompt::New]).unwrap().len(),
            2
        );
        assert_eq!(
            obtain(&src, t, &[Prompt::Old, Prompt::New, Prompt::New])
                .unwrap_err()
                .code,
            SSCARD_E_PIN_CANCELLED
        );
        let cmd = PinSource::Command(vec![
            "/bin/sh".into(),
            "-c".into(),
            "test \"$1\" = verify && echo 123456".into(),
            "sh".into(),
        ]);
        assert!(obtain(&cmd, t, &[Prompt::Verify]).is_ok());
        let fail = PinSource::Command(vec!["/bin/false".into()]);
        assert_eq!(
            obtain(&fail, t, &[Prompt::Verify]).unwrap_err().code,
            SSCARD_E_PIN_CANCELLED
        );
        let slow = PinSource::Command(vec![
            "/bin/sh".into(),
            "-c".into(),
            "exec sleep 5".into(),
            "sh".into(),
        ]);
        assert_eq!(
            obtain(&slow, Duration::from_millis(100), &[Prompt::Verify])
                .unwrap_err()
                .code,
            SSCARD_E_PIN_TIMEOUT
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
