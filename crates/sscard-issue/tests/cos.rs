//! Pre-personalisation of blank emulated cards through the COS backend trait, then the
//! normal data personalisation (external authentication with the update key, UPDATE
//! RECORD): the issued card must be indistinguishable from the card the emulator builds
//! from the same profile and image.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use sscard_apdu::{hex, Exchange, Status};
use sscard_crypto::kdf::EmulationScheme;
use sscard_crypto::keys::Algorithm;
use sscard_emu::cos::BlankOptions;
use sscard_emu::persist::{FileJournal, TearPoint};
use sscard_emu::{EmulatedReader, Runtime, SsCard};
use sscard_fs::image::FileContent;
use sscard_fs::keys::KeySet;
use sscard_fs::{Image, Profile, EMULATION_KEYS_JSON, SAMPLE_IMAGE_JSON};
use sscard_issue::cos::{
    pre_personalise, reissue, CosBackend, CosError, EmulatedCos, IssuePlan, IssueReport,
    LifecycleState, SoftKeyWrap, Step, TransportKey,
};
use sscard_ssse::security::{external_authenticate, internal_authenticate, CardContext, SoftKeys};

type Ex = Exchange<EmulatedReader<SsCard>>;

fn profile() -> Profile {
    sscard_fs::builtin_profile().unwrap()
}

fn image(version: &str, algorithm: &str) -> Image {
    let mut v: serde_json::Value = serde_json::from_str(SAMPLE_IMAGE_JSON).unwrap();
    v["files"]["SSSE/EF05"]["spec_version"] = version.into();
    v["algorithm_id"] = algorithm.into();
    Image::from_json(&v.to_string()).unwrap()
}

fn card_id(image: &Image) -> String {
    image.files["SSSE/EF05"]["card_id"]
        .as_text()
        .unwrap()
        .to_string()
}

fn blank(algorithm: Algorithm) -> Ex {
    let options = BlankOptions {
        algorithm,
        ..BlankOptions::new().unwrap()
    };
    Exchange::new(EmulatedReader::new(Runtime::new(
        SsCard::blank(options).unwrap(),
    )))
}

fn reference(image: &Image) -> Ex {
    Exchange::new(EmulatedReader::new(Runtime::new(
        SsCard::new(&profile(), image).unwrap(),
    )))
}

fn wrap() -> SoftKeyWrap<EmulationScheme> {
    SoftKeyWrap::new(
        KeySet::from_json(EMULATION_KEYS_JSON).unwrap(),
        TransportKey::test_key().unwrap(),
        EmulationScheme,
    )
}

fn soft_keys() -> SoftKeys<EmulationScheme> {
    SoftKeys::new(
        KeySet::from_json(EMULATION_KEYS_JSON).unwrap(),
        EmulationScheme,
    )
}

fn apdu(ex: &mut Ex, command: &str) -> (Vec<u8>, Status) {
    let mut buf = [0u8; 1024];
    let r = ex
        .transceive(&hex::to_vec(command).unwrap(), &mut buf)
        .unwrap();
    (r.data.to_vec(), r.status)
}

fn select_ssse(ex: &mut Ex) -> Vec<u8> {
    let (fci, sw) = apdu(ex, "00A404000F7378312E73682EC9E7BBE1B1A3D5CF00");
    assert_eq!(sw, Status::Success);
    fci
}

/// Data personalisation as a card centre or kiosk does it (`spec/sscard.md` §6.1):
/// external authentication with the EF05/EF06 update key, then UPDATE RECORD of every
/// record of the image, by record number and SFI.
fn write_basic_files(ex: &mut Ex, image: &Image, ctx: &CardContext<'_>) {
    let profile = profile();
    select_ssse(ex);
    external_authenticate(ex, &mut soft_keys(), ctx, 0x04).unwrap();
    for path in ["SSSE/EF05", "SSSE/EF06"] {
        let sfi = profile.node(path).unwrap().sfi.unwrap();
        let FileContent::Records(records) = image.content(&profile, path).unwrap() else {
            panic!("record file");
        };
        assert!(!records.is_empty());
        for r in records {
            let cmd = format!(
                "00DC{:02X}{:02X}{:02X}{}",
                r.number,
                (sfi << 3) | 4,
                r.bytes.len(),
                hex::to_string(&r.bytes)
            );
            assert_eq!(apdu(ex, &cmd).1, Status::Success, "{cmd}");
        }
    }
}

/// Selects the DF at `path` from the top (AID where the DF has one, else FID).
fn select_df(ex: &mut Ex, profile: &Profile, path: &str) {
    let mut prefix = String::new();
    for part in path.split('/') {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(part);
        let node = profile.node(&prefix).unwrap();
        let cmd = match (&node.aid, node.fid) {
            (Some(aid), _) => format!("00A4040C{:02X}{}", aid.len(), hex::to_string(aid)),
            (None, Some(fid)) => format!("00A4000C02{fid:04X}"),
            _ => panic!("{prefix}"),
        };
        assert_eq!(apdu(ex, &cmd).1, Status::Success, "{prefix}");
    }
}

/// What an unauthenticated terminal (and then one that verified the PIN) sees of every
/// EF: SELECT, the first record or the first bytes, and whether an UPDATE gets past the
/// access rule. Two cards with the same files, contents and rules give the same probe.
fn probe(ex: &mut Ex, profile: &Profile) -> Vec<String> {
    let mut out = Vec::new();
    for with_pin in [false, true] {
        for node in profile.nodes() {
            let (sscard_fs::profile::NodeKind::Ef, Some(parent), Some(fid)) =
                (node.kind, node.parent(), node.fid)
            else {
                continue;
            };
            select_df(ex, profile, parent);
            if with_pin {
                let (_, sw) = apdu(ex, "0020000003123456");
                out.push(format!("{} VERIFY {sw}", node.path));
            }
            let (_, sw) = apdu(ex, &format!("00A4020002{fid:04X}"));
            out.push(format!("{} SELECT {sw}", node.path));
            let binary = node.structure == Some(sscard_fs::profile::Structure::Transparent);
            let (read, update) = if binary {
                ("00B0000010", "00D600000100")
            } else {
                ("00B2010400", "00DC010403010100")
            };
            let (data, sw) = apdu(ex, read);
            out.push(format!("{} READ {} {sw}", node.path, hex::to_string(&data)));
            let (_, sw) = apdu(ex, update);
            out.push(format!("{} UPDATE {sw}", node.path));
        }
    }
    out
}

fn card_state(ex: &mut Ex) -> sscard_emu::persist::CardState {
    ex.transport().runtime().card().state()
}

/// Issues a blank card for `image` and checks it against the card built from it.
fn issue_and_compare(image: &Image, algorithm: Algorithm, generation3: bool) -> IssueReport {
    let profile = profile();
    let id = card_id(image);
    let atr = image.atr_bytes().unwrap();
    let ctx = CardContext {
        atr: &atr,
        card_id: &id,
        algorithm,
    };
    let mut ex = blank(algorithm);
    assert_eq!(ex.transport().runtime().atr(), atr.as_slice());
    let mut plan = IssuePlan::new(ctx);
    plan.generation3 = generation3;
    let report = pre_personalise(
        &mut ex,
        &mut EmulatedCos::default(),
        &profile,
        &mut wrap(),
        &plan,
    )
    .unwrap();
    assert_eq!(
        EmulatedCos::default().lifecycle(&mut ex).unwrap().state,
        LifecycleState::Issued
    );
    write_basic_files(&mut ex, image, &ctx);

    let mut want = reference(image);
    // The same FCI (AID and algorithm identifier).
    assert_eq!(select_ssse(&mut ex), select_ssse(&mut want));
    // The same file contents, PIN, try counters and key ids.
    let (mut got, mut exp) = (card_state(&mut ex), card_state(&mut want));
    assert_eq!(got.efs, exp.efs);
    assert_eq!(got.pin, exp.pin);
    assert_eq!(got.pin_tries, exp.pin_tries);
    got.key_tries.sort();
    exp.key_tries.sort();
    assert_eq!(got.key_tries, exp.key_tries);
    assert!(got.layout.is_some() && exp.layout.is_none());
    // The same answers, file by file, under the same access rules.
    let (got, exp) = (probe(&mut ex, &profile), probe(&mut want, &profile));
    assert!(got.len() > 100);
    assert!(got.iter().any(|l| l.contains("UPDATE 6982")));
    assert!(got.iter().any(|l| l.contains("READ 0110")));
    for (g, e) in got.iter().zip(&exp) {
        assert_eq!(g, e);
    }
    assert_eq!(got.len(), exp.len());

    // Every key of the key set authenticates on both cards (the DF's keys in the DF).
    let keys = KeySet::from_json(EMULATION_KEYS_JSON).unwrap();
    for card in [&mut ex, &mut want] {
        select_ssse(card);
        internal_authenticate(card, &mut soft_keys(), &ctx, 0x00, &[7; 8]).unwrap();
        for k in keys.keys() {
            select_ssse(card);
            external_authenticate(card, &mut soft_keys(), &ctx, k.card_key)
                .unwrap_or_else(|e| panic!("key {:02X}: {e}", k.card_key));
        }
        // The PIN is the default one, with its try counter.
        select_ssse(card);
        assert_eq!(apdu(card, "0020000003123456").1, Status::Success);
        assert_eq!(
            apdu(card, "0020000003999999").1,
            Status::VerificationFailed { tries_left: 5 }
        );
    }
    report
}

#[test]
fn issued_blank_card_reads_like_the_sample_card_3des() {
    let img = image("2.00", "01");
    let report = issue_and_compare(&img, Algorithm::Des3, false);
    let profile = profile();
    let dfs = profile
        .nodes()
        .iter()
        .filter(|n| n.kind == sscard_fs::profile::NodeKind::Df)
        .count();
    let efs = profile
        .nodes()
        .iter()
        .filter(|n| n.kind == sscard_fs::profile::NodeKind::Ef)
        .count();
    // Every DF but the MF, every EF, every key id the profile names once, the PIN.
    assert_eq!(report.dfs, dfs - 1);
    assert_eq!(report.efs, efs);
    assert_eq!(report.keys, 16);
    assert!(report.pin);

    // read_basic through the reader library flow gives the sample's basic information.
    let atr = img.atr_bytes().unwrap();
    let id = card_id(&img);
    let ctx = CardContext {
        atr: &atr,
        card_id: &id,
        algorithm: Algorithm::Des3,
    };
    let mut ex = blank(Algorithm::Des3);
    pre_personalise(
        &mut ex,
        &mut EmulatedCos::default(),
        &profile,
        &mut wrap(),
        &IssuePlan::new(ctx),
    )
    .unwrap();
    write_basic_files(&mut ex, &img, &ctx);
    let got = sscard_ssse::read_basic(&mut ex, &profile, &atr).unwrap();
    let want = sscard_ssse::read_basic(&mut reference(&img), &profile, &atr).unwrap();
    assert_eq!(got, want);
    assert_eq!(got, sscard_ssse::BasicInfo::from_image(&img));
}

#[test]
fn issued_blank_card_reads_like_a_third_generation_sm4_card() {
    let img = image("3.00", "03");
    issue_and_compare(&img, Algorithm::Sm4, true);
    // On a 3.0 card the basic information needs RKSSSE: the issued card enforces it.
    let profile = profile();
    let atr = img.atr_bytes().unwrap();
    let id = card_id(&img);
    let ctx = CardContext {
        atr: &atr,
        card_id: &id,
        algorithm: Algorithm::Sm4,
    };
    let mut ex = blank(Algorithm::Sm4);
    let mut plan = IssuePlan::new(ctx);
    plan.generation3 = true;
    pre_personalise(
        &mut ex,
        &mut EmulatedCos::default(),
        &profile,
        &mut wrap(),
        &plan,
    )
    .unwrap();
    write_basic_files(&mut ex, &img, &ctx);
    assert!(sscard_ssse::read_basic(&mut ex, &profile, &atr).is_err());
    let got = sscard_ssse::read_basic_secured(&mut ex, &profile, &atr, &mut soft_keys(), &[9; 8])
        .unwrap();
    assert_eq!(got, sscard_ssse::BasicInfo::from_image(&img));
}

#[test]
fn an_issued_card_is_not_pre_personalised_twice() {
    let img = image("2.00", "01");
    let atr = img.atr_bytes().unwrap();
    let id = card_id(&img);
    let ctx = CardContext {
        atr: &atr,
        card_id: &id,
        algorithm: Algorithm::Des3,
    };
    let mut ex = blank(Algorithm::Des3);
    let plan = IssuePlan::new(ctx);
    let mut cos = EmulatedCos::default();
    pre_personalise(&mut ex, &mut cos, &profile(), &mut wrap(), &plan).unwrap();
    let err = pre_personalise(&mut ex, &mut cos, &profile(), &mut wrap(), &plan).unwrap_err();
    assert!(matches!(err, CosError::AlreadyIssued), "{err}");
    let err = reissue(&mut ex, &mut cos, &profile(), &mut wrap(), &plan).unwrap_err();
    assert!(matches!(err, CosError::AlreadyIssued), "{err}");
    // The card built from an image is an issued card too.
    let err = pre_personalise(
        &mut reference(&img),
        &mut cos,
        &profile(),
        &mut wrap(),
        &plan,
    )
    .unwrap_err();
    assert!(matches!(err, CosError::AlreadyIssued), "{err}");
}

#[test]
fn a_wrong_transport_key_is_refused_with_the_step_and_status() {
    let img = image("2.00", "01");
    let atr = img.atr_bytes().unwrap();
    let id = card_id(&img);
    let ctx = CardContext {
        atr: &atr,
        card_id: &id,
        algorithm: Algorithm::Des3,
    };
    let mut v: serde_json::Value =
        serde_json::from_str(sscard_issue::cos::TRANSPORT_TEST_KEY_JSON).unwrap();
    v["des3"] = "00112233445566778899AABBCCDDEEFF".into();
    let wrong = TransportKey::from_json(&v.to_string()).unwrap();
    let mut keys = SoftKeyWrap::new(
        KeySet::from_json(EMULATION_KEYS_JSON).unwrap(),
        wrong,
        EmulationScheme,
    );
    let mut ex = blank(Algorithm::Des3);
    let err = pre_personalise(
        &mut ex,
        &mut EmulatedCos::default(),
        &profile(),
        &mut keys,
        &IssuePlan::new(ctx),
    )
    .unwrap_err();
    match err {
        CosError::Card { step, status } => {
            assert_eq!(step, Step::TransportAuth);
            assert_eq!(status, Status::VerificationFailed { tries_left: 14 });
        }
        other => panic!("{other}"),
    }
    // Nothing was created.
    let life = EmulatedCos::default().lifecycle(&mut ex).unwrap();
    assert_eq!(life.state, LifecycleState::Blank);
}

#[test]
fn a_key_missing_from_the_key_set_names_the_key() {
    let img = image("2.00", "01");
    let atr = img.atr_bytes().unwrap();
    let id = card_id(&img);
    let ctx = CardContext {
        atr: &atr,
        card_id: &id,
        algorithm: Algorithm::Des3,
    };
    let mut v: serde_json::Value = serde_json::from_str(EMULATION_KEYS_JSON).unwrap();
    v["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|k| k["card_key"] != "0A");
    let mut keys = SoftKeyWrap::new(
        KeySet::from_json(&v.to_string()).unwrap(),
        TransportKey::test_key().unwrap(),
        EmulationScheme,
    );
    let mut ex = blank(Algorithm::Des3);
    let err = pre_personalise(
        &mut ex,
        &mut EmulatedCos::default(),
        &profile(),
        &mut keys,
        &IssuePlan::new(ctx),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            CosError::Keys {
                step: Step::LoadKey { id: 0x0A },
                ..
            }
        ),
        "{err}"
    );
    // The card is left half-issued, and says so.
    let life = EmulatedCos::default().lifecycle(&mut ex).unwrap();
    assert_eq!(life.state, LifecycleState::PrePersonalising);
    assert!(life.dfs >= 1 && life.keys >= 1);
}

#[test]
fn a_card_cut_off_mid_issuance_is_reported_then_erased_and_reissued() {
    let img = image("2.00", "01");
    let profile = profile();
    let atr = img.atr_bytes().unwrap();
    let id = card_id(&img);
    let ctx = CardContext {
        atr: &atr,
        card_id: &id,
        algorithm: Algorithm::Des3,
    };
    let plan = IssuePlan::new(ctx);
    let dir = std::env::temp_dir().join(format!("sscard-issue-cos-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Cut the power at each step of the 3rd, 20th and 40th commit (a DF, EFs, keys).
    for (nth, point) in [
        (2, TearPoint::BeforeRename),
        (19, TearPoint::PartialTemp),
        (39, TearPoint::BeforeDirSync),
    ] {
        let path = dir.join(format!("card-{nth}.json"));
        let _ = std::fs::remove_file(&path);
        let card = SsCard::blank(BlankOptions::new().unwrap())
            .unwrap()
            .persistent(Box::new(FileJournal::new(&path).tearing(point, nth)), None)
            .unwrap();
        let mut ex = Exchange::new(EmulatedReader::new(Runtime::new(card)));
        let err = pre_personalise(
            &mut ex,
            &mut EmulatedCos::default(),
            &profile,
            &mut wrap(),
            &plan,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                CosError::Card {
                    status: Status::MemoryFailure,
                    ..
                }
            ),
            "{err}"
        );
        // Power back on: the card restarts from its last committed state.
        let saved = FileJournal::load(&path).unwrap();
        let card = SsCard::blank(BlankOptions::new().unwrap())
            .unwrap()
            .persistent(Box::new(FileJournal::new(&path)), saved)
            .unwrap();
        let mut ex = Exchange::new(EmulatedReader::new(Runtime::new(card)));
        let mut cos = EmulatedCos::default();
        let life = cos.lifecycle(&mut ex).unwrap();
        if nth == 2 && point == TearPoint::BeforeRename {
            // The rename never happened: commits 0 and 1 (SSSE, first key) survive.
            assert_eq!(life.state, LifecycleState::PrePersonalising);
        }
        assert_ne!(life.state, LifecycleState::Issued);
        let err = pre_personalise(&mut ex, &mut cos, &profile, &mut wrap(), &plan).unwrap_err();
        assert!(matches!(err, CosError::HalfIssued(_)), "{err}");
        reissue(&mut ex, &mut cos, &profile, &mut wrap(), &plan).unwrap();
        write_basic_files(&mut ex, &img, &ctx);
        let got = sscard_ssse::read_basic(&mut ex, &profile, &atr).unwrap();
        assert_eq!(got, sscard_ssse::BasicInfo::from_image(&img));
        // And the issued state survives another restart.
        let saved = FileJournal::load(&path).unwrap();
        let card = SsCard::blank(BlankOptions::new().unwrap())
            .unwrap()
            .persistent(Box::new(FileJournal::new(&path)), saved)
            .unwrap();
        let mut ex = Exchange::new(EmulatedReader::new(Runtime::new(card)));
        let got = sscard_ssse::read_basic(&mut ex, &profile, &atr).unwrap();
        assert_eq!(got, sscard_ssse::BasicInfo::from_image(&img));
        assert_eq!(
            cos.lifecycle(&mut ex).unwrap().state,
            LifecycleState::Issued
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn create_commands_have_the_documented_bytes() {
    use sscard_issue::cos::{DfSpec, EfSpec};
    let profile = profile();
    // apdu-specs/cos-emulated.md: CREATE EF of SSSE/EF05 (TLV records, SFI 5, read
    // free, update after key 04, records 01–07 with their value lengths).
    let ef05 = EfSpec::from_node(profile.node("SSSE/EF05").unwrap(), false).unwrap();
    assert_eq!(
        hex::to_string(&EmulatedCos::ef_data(&ef05).unwrap()),
        "8201C68302EF05880105860400000204C11501011002020103030404040C050504060604070709"
    );
    // On a 3.0 card EF06 is read after RKSSSE (0A).
    let ef06 = EfSpec::from_node(profile.node("SSSE/EF06").unwrap(), true).unwrap();
    assert!(hex::to_string(&EmulatedCos::ef_data(&ef06).unwrap())
        .starts_with("8201C68302EF068801068604020A0204"));
    // A transparent and a cyclic file.
    let ef07 = EfSpec::from_node(profile.node("SSSE/EF07").unwrap(), false).unwrap();
    assert_eq!(
        hex::to_string(&EmulatedCos::ef_data(&ef07).unwrap()),
        "8201C48302EF078801078604020AFF0080020300"
    );
    let cyclic = EfSpec::from_node(profile.node("SSSE/DF04/EF08").unwrap(), false).unwrap();
    assert_eq!(
        hex::to_string(&EmulatedCos::ef_data(&cyclic).unwrap()),
        "8201C78302EF0888010886040100FF0081021C1E"
    );
    // CREATE DF of the SSSE.
    let ssse = profile.node("SSSE").unwrap();
    let df = DfSpec {
        fid: ssse.fid,
        aid: ssse.aid.as_deref(),
        algorithm_id: Some(0x01),
    };
    assert_eq!(
        hex::to_string(&EmulatedCos::df_data(&df).unwrap()),
        "840F7378312E73682EC9E7BBE1B1A3D5CF850101"
    );
}
