//! The provisional directory, its queries, the official-list replacement and the check.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use sscard_appdir::qr::{QrError, QrResolver, QrToken};
use sscard_appdir::*;

#[test]
fn provisional_seed_counts_and_provenance() {
    let dir = Directory::builtin().unwrap();
    let c = dir.counts();
    assert_eq!(c.total, 28);
    assert_eq!(c.by_category["就业创业"], 10);
    assert_eq!(c.by_category["社会保险"], 14);
    assert_eq!(c.by_category["人事人才"], 2);
    assert_eq!(c.by_category["综合"], 2);
    assert_eq!(c.by_provenance["attested"], 27);
    assert_eq!(c.by_provenance["provisional"], 1);
    // Nothing claims to be official.
    assert!(!c.by_provenance.contains_key("official"));
    assert_eq!(dir.status, "provisional");
    assert!(dir
        .items
        .iter()
        .filter(|a| a.provenance == Provenance::Attested)
        .all(|a| !a.sources.is_empty()));
}

#[test]
fn queries() {
    let dir = Directory::builtin().unwrap();
    assert_eq!(
        dir.get("P-10").unwrap().capabilities,
        [Capability::VerifyPin, Capability::WriteDf(2)]
    );
    assert_eq!(dir.by_category("人事人才").count(), 2);
    assert!(dir.with_capability(Capability::BankApp).count() >= 10);
    assert!(dir
        .with_mode(Mode::Query)
        .all(|a| a.capabilities.contains(&Capability::VerifyPin)));
    assert_eq!(dir.get("P-13").unwrap().forms, [Form::ESsc]);
}

#[test]
fn the_official_list_replaces_the_seed_with_a_diff() {
    let mut dir = Directory::builtin().unwrap();
    let mut official: serde_json::Value = serde_json::from_str(PROVISIONAL_JSON).unwrap();
    official["status"] = "official".into();
    official["directory_version"] = "102-list (sample official-format file)".into();
    let items = official["items"].as_array_mut().unwrap();
    items.retain(|i| i["id"] != "P-26");
    for i in items.iter_mut() {
        i["provenance"] = "official".into();
    }
    items.push(serde_json::json!({
        "id": "001", "category": "劳动关系", "name_zh": "劳动争议仲裁申请", "name_en": "labour-dispute arbitration",
        "modes": ["身份凭证"], "forms": ["physical"], "capabilities": ["read-basic"], "provenance": "official"
    }));
    let new = Directory::from_json(&official.to_string()).unwrap();
    let diff = dir.replace(new);
    assert_eq!(diff.added, ["001"]);
    assert_eq!(diff.removed, ["P-26"]);
    assert_eq!(diff.changed.len(), 27);
    assert_eq!(dir.counts().by_provenance["official"], 28);
    // Malformed lists are refused.
    let mut dup: serde_json::Value = serde_json::from_str(PROVISIONAL_JSON).unwrap();
    let first = dup["items"][0].clone();
    dup["items"].as_array_mut().unwrap().push(first);
    assert_eq!(
        Directory::from_json(&dup.to_string()),
        Err(DirectoryError::DuplicateId("P-01".into()))
    );
    let mut unsourced: serde_json::Value = serde_json::from_str(PROVISIONAL_JSON).unwrap();
    unsourced["items"][0]["sources"] = serde_json::json!([]);
    assert!(matches!(
        Directory::from_json(&unsourced.to_string()),
        Err(DirectoryError::UnsourcedAttestation(_))
    ));
}

fn available<'a>(res: &'a [(&App, Availability)], id: &str) -> &'a Availability {
    &res.iter().find(|(a, _)| a.id == id).unwrap().1
}

#[test]
fn check_differs_by_generation_and_security_module() {
    let dir = Directory::builtin().unwrap();
    let kiosk = TerminalFacts {
        pin_pad: true,
        online: false,
        ..TerminalFacts::default()
    };
    let with_psam = TerminalFacts {
        security_module: true,
        ..kiosk.clone()
    };
    let gen2 = CardFacts {
        generation: 2,
        dfs: vec![1, 2, 3, 4, 5, 6, 7],
        ..CardFacts::default()
    };
    let gen3 = CardFacts {
        generation: 3,
        ..gen2.clone()
    };

    // Identity use (P-02): a 2nd-generation card reads freely; a 3rd-generation one needs
    // a PSAM or HSM (or, online, the electronic card).
    assert_eq!(
        *available(&check(&dir, &gen2, &kiosk), "P-02"),
        Availability::Card
    );
    assert_eq!(
        *available(&check(&dir, &gen3, &kiosk), "P-02"),
        Availability::No {
            missing: vec![Missing::SecurityModuleToRead, Missing::Online]
        }
    );
    assert_eq!(
        *available(&check(&dir, &gen3, &with_psam), "P-02"),
        Availability::Card
    );
    // Recording on the card (P-10 writes DF02): needs the update key through a PSAM/HSM.
    assert_eq!(
        *available(&check(&dir, &gen2, &kiosk), "P-10"),
        Availability::No {
            missing: vec![Missing::SecurityModuleToWrite { df: 2 }, Missing::Online]
        }
    );
    assert_eq!(
        *available(&check(&dir, &gen2, &with_psam), "P-10"),
        Availability::Card
    );
    // Benefits need the bank application and an online terminal.
    let Availability::No { missing } = available(&check(&dir, &gen2, &with_psam), "P-16").clone()
    else {
        panic!()
    };
    assert_eq!(missing, [Missing::BankApp, Missing::Online]);
    // Online, an e-SSC-capable use works through the QR code even when the card cannot serve it.
    let online = TerminalFacts {
        online: true,
        ..kiosk.clone()
    };
    assert!(matches!(
        available(&check(&dir, &gen3, &online), "P-02"),
        Availability::ElectronicCard { .. }
    ));
    assert!(matches!(
        available(&check(&dir, &gen2, &kiosk), "P-13"),
        Availability::No { .. }
    ));
    assert!(matches!(
        available(&check(&dir, &gen2, &online), "P-13"),
        Availability::ElectronicCard { .. }
    ));
    // A card without DF02 cannot record employment data.
    let no_df02 = CardFacts {
        dfs: vec![1, 3],
        ..gen2.clone()
    };
    let Availability::No { missing } =
        available(&check(&dir, &no_df02, &with_psam), "P-10").clone()
    else {
        panic!()
    };
    assert_eq!(missing, [Missing::CardDf { df: 2 }, Missing::Online]);
}

struct Platform(u32);
impl QrResolver for Platform {
    type Holder = String;
    type Error = &'static str;
    fn resolve_payload(&mut self, payload: &str) -> Result<String, &'static str> {
        self.0 += 1;
        payload
            .strip_prefix("ok:")
            .map(String::from)
            .ok_or("unknown token")
    }
}

#[test]
fn qr_tokens_expire_and_are_used_once() {
    let mut platform = Platform(0);
    let token = QrToken::new("ok:330102199003071230".into(), 1000);
    assert!(!format!("{token:?}").contains("3301"));
    assert_eq!(platform.resolve(token, 1030).unwrap(), "330102199003071230");
    let stale = QrToken::new("ok:x".into(), 1000);
    assert!(matches!(
        platform.resolve(stale, 1061),
        Err(QrError::Expired)
    ));
    // The expired token never reached the platform.
    assert_eq!(platform.0, 1);
    assert!(matches!(
        platform.resolve(QrToken::new("bad".into(), 0), 0),
        Err(QrError::Platform("unknown token"))
    ));
}
