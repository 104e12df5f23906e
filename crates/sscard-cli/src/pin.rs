//! Where a PIN comes from: a file or standard input, never the command line.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use sscard_ssse::Pin;
use zeroize::Zeroizing;

/// A PIN's digits (from its BCD form; `sscard_ssse::Pin` keeps them private), zeroised
/// on drop.
pub fn digits(pin: &Pin) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::new());
    for byte in pin.bcd().iter() {
        for nibble in [byte >> 4, byte & 0x0F] {
            if nibble <= 9 {
                out.push(char::from(b'0' + nibble));
            }
        }
    }
    out
}

/// PIN sources. A PIN on the command line would end up in shell history and `ps`.
#[derive(clap::Args, Debug, Clone)]
pub struct PinArgs {
    /// Read the PIN from the first line of this file.
    #[arg(long, conflicts_with = "pin_stdin")]
    pub pin_file: Option<PathBuf>,
    /// Read the PIN from the first line of standard input.
    #[arg(long)]
    pub pin_stdin: bool,
}

impl PinArgs {
    /// The PIN, if a source was given.
    pub fn read(&self) -> Result<Option<Pin>> {
        let mut line = Zeroizing::new(String::new());
        if let Some(path) = &self.pin_file {
            let text = Zeroizing::new(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read PIN file {}", path.display()))?,
            );
            line.push_str(text.lines().next().unwrap_or_default());
        } else if self.pin_stdin {
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("cannot read the PIN from standard input")?;
        } else {
            return Ok(None);
        }
        match Pin::new(&line) {
            Ok(pin) => Ok(Some(pin)),
            Err(e) => bail!("{e}"),
        }
    }

    /// Two PINs (old, new): the first two lines of the file or of standard input.
    pub fn read_two(&self) -> Result<(Pin, Pin)> {
        let text = if let Some(path) = &self.pin_file {
            Zeroizing::new(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read PIN file {}", path.display()))?,
            )
        } else if self.pin_stdin {
            let mut all = Zeroizing::new(String::new());
            for _ in 0..2 {
                std::io::stdin()
                    .lock()
                    .read_line(&mut all)
                    .context("cannot read the PINs from standard input")?;
            }
            all
        } else {
            bail!("give the old and new PIN (two lines) with --pin-file FILE or --pin-stdin (never on the command line)");
        };
        let mut lines = text.lines();
        let (Some(old), Some(new)) = (lines.next(), lines.next()) else {
            bail!("two lines are needed: the old PIN, then the new one");
        };
        match (Pin::new(old), Pin::new(new)) {
            (Ok(old), Ok(new)) => Ok((old, new)),
            _ => bail!("a PIN is 4 to 12 digits"),
        }
    }

    /// The PIN's digits, if a source was given (validated as a PIN, zeroised on drop).
    pub fn read_digits(&self) -> Result<Option<Zeroizing<String>>> {
        Ok(self.read()?.as_ref().map(digits))
    }

    /// The PIN; an error naming the options when no source was given.
    pub fn require(&self) -> Result<Pin> {
        match self.read()? {
            Some(pin) => Ok(pin),
            None => bail!(
                "give the PIN with --pin-file FILE or --pin-stdin (never on the command line)"
            ),
        }
    }
}
