//! The card profile the kiosk reads with: the SSSE and its basic files EF05 and EF06,
//! cut from `apdu-specs/sscard.json` at build time (`build.rs`: the same nodes, items,
//! tags, lengths and encodings, without notes and sources), so the firmware embeds a
//! few kilobytes instead of the whole profile and parses it with the same
//! `sscard_fs::Profile` code as the host.

use sscard_fs::{Profile, ProfileError};

/// The profile subset as JSON.
pub const BASIC_PROFILE_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/basic-profile.json"));

/// Parses [`BASIC_PROFILE_JSON`].
pub fn basic_profile() -> Result<Profile, ProfileError> {
    Profile::from_json(BASIC_PROFILE_JSON)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subset_has_the_full_profiles_basic_nodes() {
        let subset = basic_profile().unwrap();
        let full = sscard_fs::builtin_profile().unwrap();
        assert_eq!(subset.nodes().len(), 3);
        for node in subset.nodes() {
            let original = full.node(&node.path).unwrap();
            assert_eq!(node.aid, original.aid);
            assert_eq!(node.fid, original.fid);
            assert_eq!(node.sfi, original.sfi);
            // Equal but for the sources, which the subset leaves out.
            let mut items = original.items.clone();
            for item in &mut items {
                item.source.clear();
            }
            assert_eq!(node.items, items, "{}", node.path);
        }
        assert!(
            BASIC_PROFILE_JSON.len() < 8 * 1024,
            "{}",
            BASIC_PROFILE_JSON.len()
        );
    }
}
