//! The part of the card profile the kiosk needs (the SSSE and its basic files EF05
//! and EF06) from `apdu-specs/sscard.json`, without notes, sources and human names,
//! in two forms:
//!
//! * `basic-profile.rs`: the nodes as Rust data (`src/profile.rs` turns them into a
//!   `sscard_fs::Profile`), so the firmware neither embeds nor parses JSON and does
//!   not link `serde_json`. The data comes from the profile as
//!   `sscard_fs::Profile::from_json` validated it.
//! * `basic-profile.json`: the same subset as JSON, for hosts and for the test that
//!   proves both forms, and the full profile, agree.
//!
//! And `directory.rs`: the built-in application directory
//! (`apdu-specs/appdir/provisional.json`, as `sscard_appdir::Directory::builtin`
//! checks it) as Rust data, whole, for `src/directory.rs`.
use std::fmt::Write as _;
use std::path::PathBuf;

use sscard_fs::profile::{AccessRule, Node};

const NODES: [&str; 3] = ["SSSE", "SSSE/EF05", "SSSE/EF06"];
/// Notes, sources and the human names of nodes, items and keys: the kiosk shows
/// none of them, and each would be a heap string on the device.
const DROPPED_KEYS: [&str; 4] = ["note", "source", "sources", "name"];
const TITLE: &str = "SSSE basic files (subset of apdu-specs/sscard.json for sscard-kiosk)";

type Error = Box<dyn std::error::Error>;

fn strip(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for key in DROPPED_KEYS {
                map.remove(key);
            }
            for v in map.values_mut() {
                strip(v);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

fn json_subset(text: &str) -> Result<String, Error> {
    let full: serde_json::Value = serde_json::from_str(text)?;
    let nodes = full
        .get("nodes")
        .and_then(|n| n.as_array())
        .ok_or("profile without nodes")?;
    let mut picked = Vec::new();
    for path in NODES {
        let node = nodes
            .iter()
            .find(|n| n.get("path").and_then(|p| p.as_str()) == Some(path))
            .ok_or_else(|| format!("profile lacks {path}"))?;
        let mut node = node.clone();
        strip(&mut node);
        picked.push(node);
    }
    let subset = serde_json::json!({
        "schema": full.get("schema").cloned().unwrap_or_default(),
        "title": TITLE,
        "nodes": picked,
    });
    Ok(serde_json::to_string(&subset)?)
}

fn rule(r: &AccessRule) -> Result<String, Error> {
    Ok(match r {
        AccessRule::Free => "AccessRule::Free".into(),
        AccessRule::Never => "AccessRule::Never".into(),
        AccessRule::Require { pin, key } => {
            format!("AccessRule::Require {{ pin: {pin}, key: {key:?} }}")
        }
        other => return Err(format!("access rule {other:?} unknown to build.rs").into()),
    })
}

fn opt<T>(value: Option<T>, f: impl Fn(T) -> Result<String, Error>) -> Result<String, Error> {
    value.map_or(Ok("None".into()), |v| Ok(format!("Some({})", f(v)?)))
}

/// `[0x01, 0x02]`.
fn hex_list(bytes: &[u8]) -> String {
    let items: Vec<String> = bytes.iter().map(|b| format!("0x{b:02X}")).collect();
    format!("[{}]", items.join(", "))
}

/// One node as a `NodeSpec` literal (`src/profile.rs`).
fn node_spec(node: &Node) -> Result<String, Error> {
    if !node.groups.is_empty() || !node.fields.is_empty() {
        return Err(format!("{}: groups and fields are not compiled yet", node.path).into());
    }
    let mut s = String::new();
    writeln!(s, "    NodeSpec {{")?;
    writeln!(s, "        path: {:?},", node.path)?;
    writeln!(s, "        kind: NodeKind::{:?},", node.kind)?;
    writeln!(
        s,
        "        aid: {},",
        opt(node.aid.as_ref(), |a| Ok(format!("&{}", hex_list(a))))?
    )?;
    writeln!(
        s,
        "        fid: {},",
        opt(node.fid, |f| Ok(format!("{f:#06X}")))?
    )?;
    writeln!(s, "        sfi: {:?},", node.sfi)?;
    writeln!(
        s,
        "        structure: {},",
        opt(node.structure, |t| Ok(format!("Structure::{t:?}")))?
    )?;
    let access = opt(node.access, |a| {
        Ok(format!(
            "Access {{ read: {}, update: {} }}",
            rule(&a.read)?,
            rule(&a.update)?
        ))
    })?;
    writeln!(s, "        access: {access},")?;
    writeln!(s, "        read_v3: {},", opt(node.read_v3.as_ref(), rule)?)?;
    writeln!(s, "        items: &[")?;
    for i in &node.items {
        writeln!(
            s,
            "            ItemSpec {{ key: {:?}, tag: {:#04X}, record: {:?}, length: {}, \
             encoding: Encoding::{:?}, pad: {:#04X}, optional: {}, read_v3: {}, confidence: Confidence::{:?} }},",
            i.key,
            i.tag,
            i.record,
            i.length,
            i.encoding,
            i.pad,
            i.optional,
            opt(i.read_v3.as_ref(), rule)?,
            i.confidence
        )?;
    }
    writeln!(s, "        ],")?;
    writeln!(s, "        record_count: {:?},", node.record_count)?;
    writeln!(s, "        size: {:?},", node.size)?;
    writeln!(s, "        keys: &[")?;
    for k in &node.keys {
        writeln!(
            s,
            "            KeySpec {{ id: {:#04X}, usage: KeyUsage::{:?}, confidence: Confidence::{:?} }},",
            k.id, k.usage, k.confidence
        )?;
    }
    writeln!(s, "        ],")?;
    let pin = opt(node.pin, |p| {
        Ok(format!(
            "PinPolicy {{ digits: {}, tries: {}, confidence: Confidence::{:?} }}",
            p.digits, p.tries, p.confidence
        ))
    })?;
    writeln!(s, "        pin: {pin},")?;
    writeln!(s, "        confidence: Confidence::{:?},", node.confidence)?;
    writeln!(s, "    }},")?;
    Ok(s)
}

/// `&["a", "b"]`.
fn str_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("&[{}]", items.join(", "))
}

/// The built-in application directory as `AppSpec` literals (`src/directory.rs`).
fn directory_code() -> Result<String, Error> {
    let dir = sscard_appdir::Directory::builtin().map_err(|e| e.to_string())?;
    let mut code = String::new();
    writeln!(
        code,
        "// Generated by firmware/kiosk/build.rs from apdu-specs/appdir/provisional.json."
    )?;
    writeln!(code, "/// `directory_version` of the built-in directory.")?;
    writeln!(code, "const VERSION: &str = {:?};", dir.directory_version)?;
    writeln!(code, "/// `status` of the built-in directory.")?;
    writeln!(code, "const STATUS: &str = {:?};", dir.status)?;
    writeln!(code, "/// The entries.")?;
    writeln!(code, "static APPS: [AppSpec; {}] = [", dir.items.len())?;
    for app in &dir.items {
        let list = |v: Vec<String>| format!("&[{}]", v.join(", "));
        writeln!(code, "    AppSpec {{")?;
        writeln!(code, "        id: {:?},", app.id)?;
        writeln!(code, "        category: {:?},", app.category)?;
        writeln!(code, "        name_zh: {:?},", app.name_zh)?;
        writeln!(code, "        name_en: {:?},", app.name_en)?;
        writeln!(
            code,
            "        modes: {},",
            list(app.modes.iter().map(|m| format!("Mode::{m:?}")).collect())
        )?;
        writeln!(
            code,
            "        forms: {},",
            list(app.forms.iter().map(|f| format!("Form::{f:?}")).collect())
        )?;
        let caps = app
            .capabilities
            .iter()
            .map(|c| format!("Capability::{c:?}"))
            .collect();
        writeln!(code, "        capabilities: {},", list(caps))?;
        writeln!(
            code,
            "        provenance: Provenance::{:?},",
            app.provenance
        )?;
        writeln!(code, "        sources: {},", str_list(&app.sources))?;
        writeln!(code, "        note: {:?},", app.note)?;
        writeln!(code, "    }},")?;
    }
    writeln!(code, "];")?;
    Ok(code)
}

fn main() -> Result<(), Error> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let source = manifest.join("../../apdu-specs/sscard.json");
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-changed=build.rs");
    let text = std::fs::read_to_string(&source)?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("basic-profile.json"), json_subset(&text)?)?;

    let profile = sscard_fs::Profile::from_json(&text).map_err(|e| e.to_string())?;
    let mut code = String::new();
    writeln!(
        code,
        "// Generated by firmware/kiosk/build.rs from apdu-specs/sscard.json."
    )?;
    writeln!(code, "/// Title of the profile subset.")?;
    writeln!(code, "const TITLE: &str = {TITLE:?};")?;
    writeln!(code, "/// The nodes of the profile subset.")?;
    writeln!(code, "static NODES: [NodeSpec; {}] = [", NODES.len())?;
    for path in NODES {
        let node = profile
            .node(path)
            .ok_or_else(|| format!("profile lacks {path}"))?;
        code.push_str(&node_spec(node)?);
    }
    writeln!(code, "];")?;
    std::fs::write(out.join("basic-profile.rs"), code)?;

    let directory = manifest.join("../../apdu-specs/appdir/provisional.json");
    println!("cargo:rerun-if-changed={}", directory.display());
    std::fs::write(out.join("directory.rs"), directory_code()?)?;
    Ok(())
}
