//! Extracts the part of the card profile the kiosk needs (the SSSE and its basic
//! files EF05 and EF06) from `apdu-specs/sscard.json`, without notes and sources, so
//! the firmware carries a few kilobytes of the same data instead of the whole
//! 115-KB profile. `src/profile.rs` embeds the result; its test checks the subset
//! parses to the same nodes as the full profile.
use std::path::PathBuf;

const NODES: [&str; 3] = ["SSSE", "SSSE/EF05", "SSSE/EF06"];
const DROPPED_KEYS: [&str; 3] = ["note", "source", "sources"];

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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let source = manifest.join("../../apdu-specs/sscard.json");
    println!("cargo:rerun-if-changed={}", source.display());
    let full: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&source)?)?;
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
        "title": "SSSE basic files (subset of apdu-specs/sscard.json for sscard-kiosk)",
        "nodes": picked,
    });
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("basic-profile.json");
    std::fs::write(out, serde_json::to_string(&subset)?)?;
    Ok(())
}
