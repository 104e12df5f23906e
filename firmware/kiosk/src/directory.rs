//! The built-in application directory (`apdu-specs/appdir/provisional.json`) compiled
//! into the firmware: `build.rs` checks it with `sscard_appdir::Directory::builtin` at
//! build time and writes it as Rust data, which [`builtin_directory`] turns into the
//! same [`Directory`], so the device neither embeds nor parses JSON (no `serde_json`
//! in the firmware). The test proves it equal to the parsed one.

use alloc::string::String;
use alloc::vec::Vec;

use sscard_appdir::{App, Capability, Directory, Form, Mode, Provenance, SCHEMA};

/// An [`App`] with static data.
struct AppSpec {
    id: &'static str,
    category: &'static str,
    name_zh: &'static str,
    name_en: &'static str,
    modes: &'static [Mode],
    forms: &'static [Form],
    capabilities: &'static [Capability],
    provenance: Provenance,
    sources: &'static [&'static str],
    note: Option<&'static str>,
}

include!(concat!(env!("OUT_DIR"), "/directory.rs"));

impl AppSpec {
    fn to_app(&self) -> App {
        App {
            id: self.id.into(),
            category: self.category.into(),
            name_zh: self.name_zh.into(),
            name_en: self.name_en.into(),
            modes: self.modes.to_vec(),
            forms: self.forms.to_vec(),
            capabilities: self.capabilities.to_vec(),
            provenance: self.provenance,
            sources: self.sources.iter().map(|s| String::from(*s)).collect(),
            note: self.note.map(String::from),
        }
    }
}

/// The built-in directory, built from the compiled data (no JSON); equal to
/// `sscard_appdir::Directory::builtin()`.
pub fn builtin_directory() -> Directory {
    Directory {
        schema: SCHEMA.into(),
        directory_version: VERSION.into(),
        status: STATUS.into(),
        items: APPS.iter().map(AppSpec::to_app).collect::<Vec<_>>(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_directory_equals_the_parsed_one() {
        assert_eq!(builtin_directory(), Directory::builtin().unwrap());
    }
}
