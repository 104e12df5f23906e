//! Configuration without code changes: environment variables over an ini file beside
//! the library, over the defaults.
//!
//! | ini key (`[sscard]`) | environment | values | default |
//! |---|---|---|---|
//! | `mode` | `SSCARD_MODE` | `pcsc`, `emulated` (the built-in card in process: development and tests) | `pcsc` |
//! | `reader` | `SSCARD_READER` | PC/SC reader for contact cards: its exact name, or a part of it that only one reader's name contains (case-insensitive) | the only reader (other than the PSAM's) holding a card |
//! | `reader_index` | `SSCARD_READER_INDEX` | that reader as a 0-based index in PC/SC's reader list (instead of `reader`) | |
//! | `contactless_reader` | `SSCARD_CONTACTLESS_READER` | reader for contactless cards (iType 2, 3, 4), as `reader` | the contact reader |
//! | `psam_reader` | `SSCARD_PSAM_READER` | reader holding the PSAM | none |
//! | `security` | `SSCARD_SECURITY` | `auto` (PSAM if `psam_reader` is set, else none), `none`, `psam`, `emulation-test-keys` (**not for production**: the fictional keys of the emulated card) | `auto` |
//! | `itype` | `SSCARD_ITYPE` | `caller`, or `1`–`4` to override whatever iType the application passes | `caller` |
//! | `encoding` | `SSCARD_ENCODING` | `gbk`, `utf-8` (strings in and out) | `gbk` |
//! | `pin_source` | `SSCARD_PIN_SOURCE` | `none` (PIN-pad functions return −13), `file:PATH`, `command:PROGRAM [ARGS]`, `pinpad` (reserved, −13) | `none` |
//! | `pin_timeout_s` | `SSCARD_PIN_TIMEOUT_S` | seconds a `command:` PIN source may take | `60` |
//! | `device_number` | `SSCARD_DEVICE_NUMBER` | 终端设备号 for iReadCardBas (and the HSM Step 1 string when set) | empty |
//! | `card_wait_ms` | `SSCARD_CARD_WAIT_MS` | how long to wait for a card | `0` |
//! | `hsm_puk_address` | `SSCARD_HSM_PUK_ADDRESS` | the HSM's key address of the PIN-unblock key (4 hex digits), in the PIN HSM steps | `0090` |
//! | `hsm_stk_address` | `SSCARD_HSM_STK_ADDRESS` | the HSM's key address of the secure-transport key | `0173` |
//! | `emulated_image` | `SSCARD_EMULATED_IMAGE` | card image JSON for `mode = emulated` | the built-in sample card |
//!
//! `SSCARD_INI` names the ini file; without it the library looks for `sscard.ini` in
//! the directory of the loaded library (`libsscard.so`; when linked statically, of the
//! executable). The ini file may be UTF-8 or GBK. Keys outside a section or in
//! `[sscard]` are read, other sections ignored; an unknown key or a bad value is an
//! error (−1003) rather than a silent default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::text::TextEncoding;

/// Where cards are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// PC/SC readers.
    #[default]
    Pcsc,
    /// The emulated card, in process (development and tests).
    Emulated,
}

/// Which PC/SC reader.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ReaderChoice {
    /// The only reader holding a card (the PSAM's excluded).
    #[default]
    Auto,
    /// By name, or a unique case-insensitive part of it.
    Name(String),
    /// By 0-based index in the reader list.
    Index(usize),
}

/// Where PINs come from when a PIN-pad function is called.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PinSource {
    /// None: PIN-pad functions return −13.
    #[default]
    None,
    /// Lines of a file (or FIFO), one PIN per line in the order the function needs them.
    File(PathBuf),
    /// A program run once per PIN with one argument (`verify`, `old`, `new`), printing
    /// the PIN on its first output line.
    Command(Vec<String>),
    /// A PC/SC PIN pad (reserved: not implemented yet, −13).
    PinPad,
}

/// Who computes the cryptograms for 3.0 cards, PIN reload and writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Security {
    /// A PSAM if a PSAM reader is configured, else none.
    #[default]
    Auto,
    /// None: operations that need one return −2201 (applications fall back to the HSM).
    None,
    /// The PSAM in `psam_reader`.
    Psam,
    /// The fictional emulation test keys (`apdu-specs/keys/emulation.json`): they only
    /// open emulated cards. Not for production.
    EmulationTestKeys,
}

/// The library configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// PC/SC or the emulated card.
    pub mode: Mode,
    /// The contact reader.
    pub reader: ReaderChoice,
    /// The contactless reader (`None`: the contact reader).
    pub contactless_reader: Option<ReaderChoice>,
    /// The PSAM's reader.
    pub psam_reader: Option<String>,
    /// The security module.
    pub security: Security,
    /// iType used instead of the caller's.
    pub itype: Option<i32>,
    /// String encoding.
    pub encoding: TextEncoding,
    /// Where PIN-pad functions get PINs.
    pub pin_source: PinSource,
    /// How long a `command:` PIN source may take.
    pub pin_timeout: Duration,
    /// 终端设备号.
    pub device_number: String,
    /// How long to wait for a card.
    pub card_wait: Duration,
    /// Card image for the emulated mode (`None`: the built-in sample).
    pub emulated_image: Option<PathBuf>,
    /// The HSM's key addresses for the PIN HSM steps.
    pub hsm_addresses: sscard_ssse::hsm::HsmKeyAddresses,
    /// The ini file that was read, if any.
    pub ini: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            mode: Mode::default(),
            reader: ReaderChoice::default(),
            contactless_reader: None,
            psam_reader: None,
            security: Security::default(),
            itype: None,
            encoding: TextEncoding::default(),
            pin_source: PinSource::default(),
            pin_timeout: Duration::from_secs(60),
            device_number: String::new(),
            card_wait: Duration::ZERO,
            emulated_image: None,
            hsm_addresses: sscard_ssse::hsm::HsmKeyAddresses::default(),
            ini: None,
        }
    }
}

/// A bad configuration value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("configuration{}: {key} = {value:?}: {reason}", .source_file.as_ref().map(|p| format!(" ({})", p.display())).unwrap_or_default())]
pub struct ConfigError {
    /// The key.
    pub key: String,
    /// The value given.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
    /// The ini file, when the value came from there.
    pub source_file: Option<PathBuf>,
}

/// The keys, in ini spelling; the environment variable is `SSCARD_` + upper case.
pub const KEYS: [&str; 15] = [
    "mode",
    "reader",
    "reader_index",
    "contactless_reader",
    "psam_reader",
    "security",
    "itype",
    "encoding",
    "pin_source",
    "pin_timeout_s",
    "device_number",
    "hsm_puk_address",
    "hsm_stk_address",
    "card_wait_ms",
    "emulated_image",
];

/// The ini file's name beside the library.
pub const INI_NAME: &str = "sscard.ini";

impl Config {
    /// Reads the environment and the ini file.
    pub fn load() -> Result<Self, ConfigError> {
        let path = std::env::var_os("SSCARD_INI")
            .map(PathBuf::from)
            .or_else(|| crate::sys::library_dir().map(|d| d.join(INI_NAME)));
        let ini = match &path {
            Some(p) => match std::fs::read(p) {
                Ok(bytes) => Some((p.as_path(), decode_ini(&bytes))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(_) => {
                    return Err(ConfigError {
                        key: "SSCARD_INI".into(),
                        value: p.display().to_string(),
                        reason: "cannot read the file",
                        source_file: None,
                    })
                }
            },
            None => None,
        };
        let ini_ref = ini.as_ref().map(|(p, t)| (*p, t.as_str()));
        Self::from_sources(ini_ref, |name| std::env::var(name).ok())
    }

    /// The configuration from an ini text (with its path, for messages) and an
    /// environment lookup; the environment wins.
    pub fn from_sources(
        ini: Option<(&Path, &str)>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut values: Vec<(String, String, Option<PathBuf>)> = Vec::new();
        if let Some((path, text)) = ini {
            for (key, value) in parse_ini(text).map_err(|(key, reason)| ConfigError {
                key,
                value: String::new(),
                reason,
                source_file: Some(path.into()),
            })? {
                values.retain(|(k, _, _)| *k != key);
                values.push((key, value, Some(path.into())));
            }
        }
        for key in KEYS {
            if let Some(value) = env(&format!("SSCARD_{}", key.to_ascii_uppercase())) {
                values.retain(|(k, _, _)| k != key);
                values.push((key.into(), value, None));
            }
        }
        let mut config = Self {
            ini: ini.map(|(p, _)| p.to_path_buf()),
            ..Self::default()
        };
        for (key, value, source_file) in &values {
            let bad = |reason| ConfigError {
                key: key.clone(),
                value: value.clone(),
                reason,
                source_file: source_file.clone(),
            };
            config.set(key, value.trim()).map_err(bad)?;
        }
        if values.iter().any(|(k, _, _)| k == "reader")
            && values.iter().any(|(k, _, _)| k == "reader_index")
        {
            return Err(ConfigError {
                key: "reader_index".into(),
                value: String::new(),
                reason: "give reader or reader_index, not both",
                source_file: None,
            });
        }
        if config.security == Security::Psam && config.psam_reader.is_none() {
            return Err(ConfigError {
                key: "security".into(),
                value: "psam".into(),
                reason: "needs psam_reader",
                source_file: None,
            });
        }
        Ok(config)
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), &'static str> {
        let lower = value.to_ascii_lowercase();
        match key {
            "mode" => {
                self.mode = match lower.as_str() {
                    "pcsc" => Mode::Pcsc,
                    "emulated" => Mode::Emulated,
                    _ => return Err("want pcsc or emulated"),
                }
            }
            "reader" => {
                self.reader = if value.is_empty() {
                    ReaderChoice::Auto
                } else {
                    ReaderChoice::Name(value.into())
                }
            }
            "reader_index" => {
                self.reader =
                    ReaderChoice::Index(value.parse().map_err(|_| "want a number from 0")?)
            }
            "contactless_reader" => {
                self.contactless_reader =
                    (!value.is_empty()).then(|| ReaderChoice::Name(value.into()))
            }
            "psam_reader" => self.psam_reader = (!value.is_empty()).then(|| value.into()),
            "security" => {
                self.security = match lower.as_str() {
                    "auto" => Security::Auto,
                    "none" => Security::None,
                    "psam" => Security::Psam,
                    "emulation-test-keys" => Security::EmulationTestKeys,
                    _ => return Err("want auto, none, psam or emulation-test-keys"),
                }
            }
            "itype" => {
                self.itype = match lower.as_str() {
                    "caller" | "" => None,
                    "1" | "2" | "3" | "4" => lower.parse().ok(),
                    _ => return Err("want caller, 1, 2, 3 or 4"),
                }
            }
            "encoding" => {
                self.encoding = match lower.as_str() {
                    "gbk" | "gb2312" | "cp936" => TextEncoding::Gbk,
                    "utf-8" | "utf8" => TextEncoding::Utf8,
                    _ => return Err("want gbk or utf-8"),
                }
            }
            "pin_source" => {
                self.pin_source = if lower == "none" || value.is_empty() {
                    PinSource::None
                } else if lower == "pinpad" {
                    PinSource::PinPad
                } else if let Some(path) = value.strip_prefix("file:") {
                    if path.is_empty() {
                        return Err("file: needs a path");
                    }
                    PinSource::File(path.into())
                } else if let Some(cmd) = value.strip_prefix("command:") {
                    let argv: Vec<String> = cmd.split_whitespace().map(String::from).collect();
                    if argv.is_empty() {
                        return Err("command: needs a program");
                    }
                    PinSource::Command(argv)
                } else {
                    return Err("want none, file:PATH, command:PROGRAM or pinpad");
                }
            }
            "pin_timeout_s" => {
                let s: u64 = value.parse().map_err(|_| "want whole seconds")?;
                self.pin_timeout = Duration::from_secs(s.clamp(1, 3600));
            }
            "hsm_puk_address" | "hsm_stk_address" => {
                let address = sscard_apdu::hex::decode_array::<2>(value)
                    .ok()
                    .filter(|_| value.len() == 4)
                    .ok_or("want 4 hex digits")?;
                if key == "hsm_puk_address" {
                    self.hsm_addresses.puk = address;
                } else {
                    self.hsm_addresses.stk = address;
                }
            }
            "device_number" => {
                if value.contains('|') {
                    return Err("must not contain |");
                }
                self.device_number = value.into();
            }
            "card_wait_ms" => {
                let ms: u64 = value.parse().map_err(|_| "want milliseconds")?;
                self.card_wait = Duration::from_millis(ms.min(600_000));
            }
            "emulated_image" => self.emulated_image = (!value.is_empty()).then(|| value.into()),
            _ => return Err("unknown key"),
        }
        Ok(())
    }

    /// The security module the configuration asks for.
    pub fn effective_security(&self) -> Security {
        match (self.security, &self.psam_reader) {
            (Security::Auto, Some(_)) => Security::Psam,
            (Security::Auto, None) => Security::None,
            (s, _) => s,
        }
    }
}

fn decode_ini(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.into(),
        Err(_) => encoding_rs::GBK.decode_without_bom_handling(bytes).0.into(),
    }
}

/// `(key, value)` pairs of the `[sscard]` section (and before any section).
fn parse_ini(text: &str) -> Result<Vec<(String, String)>, (String, &'static str)> {
    let mut out = Vec::new();
    let mut ours = true;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            ours = section.trim().eq_ignore_ascii_case("sscard");
            continue;
        }
        if !ours {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err((line.chars().take(40).collect(), "not key = value"));
        };
        let key = key.trim().to_ascii_lowercase();
        if !KEYS.contains(&key.as_str()) {
            return Err((key, "unknown key"));
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        out.push((key, value.into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).into())
        }
    }

    #[test]
    fn defaults_ini_and_environment() {
        let c = Config::from_sources(None, env(&[])).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.encoding, TextEncoding::Gbk);
        let ini = "; comment\n[other]\nmode = nonsense\n[SSCARD]\nmode = emulated\nreader = \"ACS ACR39U\"\nencoding=UTF-8\npin_source = file:/tmp/p\n";
        let c = Config::from_sources(
            Some((Path::new("/x/sscard.ini"), ini)),
            env(&[("SSCARD_READER", "sscard VPCD 00 00")]),
        )
        .unwrap();
        assert_eq!(c.mode, Mode::Emulated);
        assert_eq!(c.reader, ReaderChoice::Name("sscard VPCD 00 00".into()));
        assert_eq!(c.encoding, TextEncoding::Utf8);
        assert_eq!(c.pin_source, PinSource::File("/tmp/p".into()));
        assert_eq!(c.ini.as_deref(), Some(Path::new("/x/sscard.ini")));
        let c = Config::from_sources(
            None,
            env(&[
                ("SSCARD_PSAM_READER", "PSAM 00"),
                ("SSCARD_PIN_SOURCE", "command:/bin/pin --gui"),
                ("SSCARD_ITYPE", "2"),
            ]),
        )
        .unwrap();
        assert_eq!(c.effective_security(), Security::Psam);
        assert_eq!(
            c.pin_source,
            PinSource::Command(vec!["/bin/pin".into(), "--gui".into()])
        );
        assert_eq!(c.itype, Some(2));
    }

    #[test]
    fn bad_values_are_errors_not_defaults() {
        for (k, v) in [
            ("SSCARD_MODE", "usb"),
            ("SSCARD_ENCODING", "latin1"),
            ("SSCARD_ITYPE", "5"),
            ("SSCARD_PIN_SOURCE", "argv"),
            ("SSCARD_READER_INDEX", "-1"),
            ("SSCARD_SECURITY", "psam"),
            ("SSCARD_DEVICE_NUMBER", "a|b"),
        ] {
            let e = Config::from_sources(None, env(&[(k, v)])).unwrap_err();
            assert!(!e.to_string().is_empty());
        }
        let e =
            Config::from_sources(Some((Path::new("i"), "colour = red\n")), env(&[])).unwrap_err();
        assert_eq!(e.reason, "unknown key");
        assert!(Config::from_sources(
            None,
            env(&[("SSCARD_READER", "a"), ("SSCARD_READER_INDEX", "1")])
        )
        .is_err());
    }

    #[test]
    fn gbk_ini_files_are_read() {
        let gbk = encoding_rs::GBK.encode("device_number = 测试01\n").0;
        let text = decode_ini(&gbk);
        let c = Config::from_sources(Some((Path::new("i"), &text)), env(&[])).unwrap();
        assert_eq!(c.device_number, "测试01");
    }
}
