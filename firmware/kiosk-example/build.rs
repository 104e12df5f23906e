//! Puts `memory.x` and `device.x` (the default handler of the device interrupts, see
//! `board::__INTERRUPTS`) where the linker (cortex-m-rt's `link.x`) finds them.
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("memory.x"), include_bytes!("memory.x"))?;
    std::fs::write(out.join("device.x"), include_bytes!("device.x"))?;
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=device.x");
    println!("cargo:rerun-if-changed=build.rs");
    Ok(())
}
