//! Holder batches: every validation rule with its row and reason, CSV quirks (BOM,
//! quotes, CRLF, GBK), JSON, duplicates, strict and skip modes, the card image built
//! for a holder, and arbitrary input never panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use proptest::prelude::*;
use sscard_fs::codec::CodecError;
use sscard_fs::{builtin_profile, sample_image, Profile, SSSE_EF05, SSSE_EF06};
use sscard_issue::batch::{
    Batch, BatchError, ColumnMap, Mode, Options, RowError, RowProblem, TextEncoding, ToImageError,
};

/// GB 11643 check character, computed here from the definition (weights 2^(17-i)
/// mod 11, ISO 7064 MOD 11-2), independently of the library.
fn check_char(first17: &str) -> char {
    let sum: u64 = first17
        .bytes()
        .enumerate()
        .map(|(i, d)| u64::from(d - b'0') * ((1u64 << (17 - i)) % 11))
        .sum();
    match (12 - sum % 11) % 11 {
        10 => 'X',
        r => char::from_digit(u32::try_from(r).unwrap(), 10).unwrap(),
    }
}

/// A fictional ID number with a correct check character.
fn id(first17: &str) -> String {
    assert_eq!(first17.len(), 17);
    format!("{first17}{}", check_char(first17))
}

/// The same with a wrong check character.
fn wrong_id(first17: &str) -> String {
    let good = check_char(first17);
    let bad = if good == '0' { '1' } else { '0' };
    format!("{first17}{bad}")
}

fn profile() -> Profile {
    builtin_profile().unwrap()
}

const HEADER: &str = "ssn,name,gender,nation,card_number,issue_date,expiry_date";

fn row(ssn: &str, name: &str, gender: &str, card: &str) -> String {
    format!("{ssn},{name},{gender},01,{card},20240315,20340315")
}

fn csv(rows: &[String]) -> String {
    let mut s = String::from(HEADER);
    for r in rows {
        s.push('\n');
        s.push_str(r);
    }
    s.push('\n');
    s
}

fn parse(text: &str) -> Batch {
    Batch::parse_csv(text.as_bytes(), &profile(), &Options::default()).unwrap()
}

/// The problems of the batch, as (row, problem).
fn problems(batch: &Batch) -> Vec<(usize, RowProblem)> {
    batch
        .errors
        .iter()
        .map(|e| (e.row, e.problem.clone()))
        .collect()
}

/// One valid row alone, then the same row with one change, must give exactly `expect`.
fn single_problem(bad_row: String, expect: RowProblem) {
    let text = csv(&[
        row(&id("33010219900307123"), "李测试", "1", "A12345678"),
        bad_row,
    ]);
    let batch = parse(&text);
    assert_eq!(batch.holders.len(), 1, "{:?}", batch.errors);
    assert_eq!(problems(&batch), vec![(2, expect)]);
    assert_eq!(batch.errors[0].line, Some(3));
}

#[test]
fn known_good_vectors() {
    // The sample card's holder and the examples printed in GB 11643.
    for ssn in [
        "330102199003071230",
        "11010519491231002X",
        "440524188001010014",
    ] {
        assert_eq!(check_char(&ssn[..17]), ssn.chars().last().unwrap());
        assert_eq!(
            sscard_issue::batch::gb11643_check_character(&ssn.as_bytes()[..17]),
            ssn.chars().last()
        );
    }
    let g = if check_char("11010519491231002") == 'X' {
        "2"
    } else {
        "1"
    };
    // 17th digit 2: female.
    let text = csv(&[
        row("11010519491231002X", "王某", "2", "B00000001"),
        row("440524188001010014", "陈某", "1", "B00000002"),
    ]);
    assert_eq!(g, "2");
    let batch = parse(&text);
    assert!(batch.errors.is_empty(), "{:?}", batch.errors);
    assert_eq!(batch.holders.len(), 2);
}

#[test]
fn valid_row_derives_birth_data_and_builds_the_image() {
    let ssn = id("33010219900307123");
    let text = format!(
        "{HEADER},region_code\n{},330100\n",
        row(&ssn, "李测试", "男", "A12345678")
    );
    let batch = parse(&text);
    assert!(batch.errors.is_empty(), "{:?}", batch.errors);
    let h = &batch.holders[0];
    assert_eq!(h.row(), 1);
    assert_eq!(h.ssn(), ssn);
    assert_eq!(h.card_number(), "A12345678");
    assert_eq!(h.region_code(), Some("330100"));
    assert_eq!(h.value(SSSE_EF06, "birth_date"), Some("19900307"));
    assert_eq!(h.value(SSSE_EF06, "birthplace"), Some("330102"));
    assert_eq!(h.value(SSSE_EF06, "sex"), Some("1"));
    let profile = profile();
    let base = sample_image().unwrap();
    let image = h.to_image(&base, &profile).unwrap();
    assert_eq!(image.files[SSSE_EF06]["name"].as_text(), Some("李测试"));
    assert_eq!(
        image.files[SSSE_EF05]["card_number"].as_text(),
        Some("A12345678")
    );
    assert_eq!(
        image.files[SSSE_EF05]["issue_date"].as_text(),
        Some("20240315")
    );
    // Items the batch does not give come from the base.
    assert_eq!(
        image.files[SSSE_EF05]["spec_version"].as_text(),
        Some("2.00")
    );
    image.validate(&profile).unwrap();
    let records = image.records(&profile, SSSE_EF06).unwrap();
    assert_eq!(records[0].bytes[..2], [0x08, 18]);
    assert_eq!(&records[0].bytes[2..], ssn.as_bytes());
}

#[test]
fn to_image_keeps_nothing_of_the_base_holder() {
    let batch = parse(&csv(&[row(
        &id("33010219900307123"),
        "甲",
        "1",
        "A12345678",
    )]));
    let mut base = sample_image().unwrap();
    base.files
        .get_mut(SSSE_EF06)
        .unwrap()
        .insert("name_ext".into(), "旧扩展".into());
    let image = batch.holders[0].to_image(&base, &profile()).unwrap();
    assert_eq!(image.files[SSSE_EF06]["name_ext"].as_text(), Some(""));
    assert_eq!(image.files[SSSE_EF06]["name"].as_text(), Some("甲"));
}

#[test]
fn custom_column_for_an_item_the_profile_lacks() {
    let opts = Options {
        columns: ColumnMap::standard().with("mobile", SSSE_EF06, "mobile"),
        ..Options::default()
    };
    let text = format!(
        "{HEADER},mobile\n{},13800000000\n",
        row(&id("33010219900307123"), "甲", "1", "A00000001")
    );
    let batch = Batch::parse_csv(text.as_bytes(), &profile(), &opts).unwrap();
    assert_eq!(
        problems(&batch),
        vec![(
            1,
            RowProblem::UnknownItem {
                file: SSSE_EF06.into(),
                item: "mobile".into()
            }
        )]
    );
}

#[test]
fn several_problems_of_one_row_are_all_reported() {
    let text = format!(
        "{HEADER}\n{},{},3,99,a,2024,20340315\n",
        id("33010219900307123"),
        "测".repeat(16)
    );
    let batch = parse(&text);
    let p = problems(&batch);
    assert_eq!(p.len(), 5, "{p:?}");
    assert!(p.iter().all(|(row, _)| *row == 1));
    assert!(p.contains(&(1, RowProblem::BadGender { value: "3".into() })));
    assert!(p.contains(&(1, RowProblem::BadNation { value: "99".into() })));
}

#[test]
fn to_image_refuses_a_card_of_another_region() {
    let text = format!(
        "{HEADER},region_code\n{},110100\n",
        row(&id("33010219900307123"), "李测试", "1", "A12345678")
    );
    let batch = parse(&text);
    let err = batch.holders[0]
        .to_image(&sample_image().unwrap(), &profile())
        .unwrap_err();
    assert_eq!(
        err,
        ToImageError::RegionMismatch {
            region: "110100".into(),
            card_id: "330100D15600000500A1B2C3D4E5F607".into()
        }
    );
}

#[test]
fn a_card_gets_its_identification_code_from_its_chip() {
    let atr = sscard_apdu::hex::to_vec("3B6D0000008153534333000012ABCDEF01").unwrap();
    let card_id = |image: &sscard_fs::Image| {
        image.files[SSSE_EF05]["card_id"]
            .as_text()
            .unwrap()
            .to_owned()
    };
    // No card_id column: region ‖ the template's D156000005 ‖ the ATR's last 8 bytes,
    // and the record names the chip's ATR.
    let text = format!(
        "{HEADER},region_code\n{},110100\n",
        row(&id("33010219900307123"), "李测试", "1", "A12345678")
    );
    let batch = parse(&text);
    let image = batch.holders[0]
        .to_card_image(&sample_image().unwrap(), &profile(), &atr)
        .unwrap();
    assert_eq!(card_id(&image), "110100D15600000533000012ABCDEF01");
    assert_eq!(image.atr, "3B6D0000008153534333000012ABCDEF01");
    // Without a region column, the template's region.
    let batch = parse(&csv(&[row(
        &id("33010219900307123"),
        "李测试",
        "1",
        "A12345678",
    )]));
    let image = batch.holders[0]
        .to_card_image(&sample_image().unwrap(), &profile(), &atr)
        .unwrap();
    assert_eq!(card_id(&image), "330100D15600000533000012ABCDEF01");
    // Another chip, another code.
    let mut other = atr.clone();
    *other.last_mut().unwrap() ^= 1;
    let image2 = batch.holders[0]
        .to_card_image(&sample_image().unwrap(), &profile(), &other)
        .unwrap();
    assert_ne!(card_id(&image), card_id(&image2));
    // A too-short ATR is an error, not a short code.
    assert!(matches!(
        batch.holders[0].to_card_image(&sample_image().unwrap(), &profile(), &atr[..7]),
        Err(ToImageError::ChipCardId { .. })
    ));
    // A card_id column wins.
    let text = format!(
        "{HEADER},card_id\n{},330100D15600000599110145FFFFFFFF\n",
        row(&id("33010219900307123"), "李测试", "1", "A12345678")
    );
    let batch = parse(&text);
    let image = batch.holders[0]
        .to_card_image(&sample_image().unwrap(), &profile(), &atr)
        .unwrap();
    assert_eq!(card_id(&image), "330100D15600000599110145FFFFFFFF");
}

#[test]
fn to_image_reports_a_base_missing_items() {
    let batch = parse(&csv(&[row(
        &id("33010219900307123"),
        "李测试",
        "1",
        "A12345678",
    )]));
    let mut base = sample_image().unwrap();
    base.files.get_mut(SSSE_EF05).unwrap().remove("card_id");
    assert!(matches!(
        batch.holders[0].to_image(&base, &profile()),
        Err(ToImageError::Image(
            sscard_fs::ImageError::MissingItem { .. }
        ))
    ));
}

#[test]
fn ssn_rules() {
    let ok17 = "33010219900307123";
    single_problem(
        row("33010219900307", "甲", "1", "A00000002"),
        RowProblem::SsnLength { found: 14 },
    );
    single_problem(
        row("33010219900307A23X", "甲", "1", "A00000002"),
        RowProblem::SsnCharacter { at: 14 },
    );
    let wrong = wrong_id(ok17);
    single_problem(
        row(&wrong, "甲", "1", "A00000002"),
        RowProblem::SsnCheck {
            expected: check_char(ok17),
            found: wrong.chars().last().unwrap(),
        },
    );
    single_problem(
        row(&id("99010219900307123"), "甲", "1", "A00000002"),
        RowProblem::SsnRegion {
            prefix: "990102".into(),
        },
    );
    single_problem(
        row(&id("33010219900230123"), "甲", "1", "A00000002"),
        RowProblem::SsnBirthDate {
            date: "19900230".into(),
        },
    );
    // 17th digit 3 is odd: male, so 2 (female) disagrees.
    single_problem(
        row(&id("33010219900307133"), "甲", "2", "A00000002"),
        RowProblem::GenderMismatch { given: '2' },
    );
}

#[test]
fn lower_case_x_is_upper_cased() {
    // Find a 17-digit body whose check character is X.
    let body = (0..1000)
        .map(|n| format!("33010219900307{n:03}"))
        .find(|b| check_char(b) == 'X')
        .unwrap();
    let male = (body.as_bytes()[16] - b'0') % 2 == 1;
    let text = csv(&[row(
        &format!("{body}x"),
        "甲",
        if male { "1" } else { "2" },
        "A00000001",
    )]);
    let batch = parse(&text);
    assert!(batch.errors.is_empty(), "{:?}", batch.errors);
    assert_eq!(batch.holders[0].ssn(), format!("{body}X"));
}

#[test]
fn birth_date_must_match_the_id() {
    let ssn = id("33010219900307123");
    let text = format!(
        "{HEADER},birth_date\n{},19900307\n{},19900308\n{},19900231\n",
        row(&ssn, "甲", "1", "A00000001"),
        row(&id("33010219900307133"), "乙", "1", "A00000002"),
        row(&id("33010219900307143"), "丙", "1", "A00000003"),
    );
    let batch = parse(&text);
    assert_eq!(batch.holders.len(), 1);
    let p = problems(&batch);
    assert!(p.contains(&(
        2,
        RowProblem::BirthDateMismatch {
            given: "19900308".into(),
            in_ssn: "19900307".into()
        }
    )));
    assert!(p.contains(&(
        3,
        RowProblem::BadDate {
            item: "birth_date".into(),
            value: "19900231".into()
        }
    )));
}

#[test]
fn date_rules() {
    let s = id("33010219900307123");
    let with_dates = |issue: &str, expiry: &str| format!("{s},甲,1,01,A00000002,{issue},{expiry}");
    single_problem(
        with_dates("20230229", "20330228"),
        RowProblem::BadDate {
            item: "issue_date".into(),
            value: "20230229".into(),
        },
    );
    single_problem(
        with_dates("20240315", "2034-03-15"),
        RowProblem::BadDate {
            item: "expiry_date".into(),
            value: "2034-03-15".into(),
        },
    );
    single_problem(
        with_dates("20240315", "20240315"),
        RowProblem::ExpiryNotAfterIssue {
            issue: "20240315".into(),
            expiry: "20240315".into(),
        },
    );
    single_problem(
        with_dates("19800101", "19900101"),
        RowProblem::IssueBeforeBirth {
            issue: "19800101".into(),
            birth: "19900307".into(),
        },
    );
    // Leap day of a leap year and century rules.
    let batch = parse(&csv(&[with_dates("20240229", "20340228")]));
    assert!(batch.errors.is_empty(), "{:?}", batch.errors);
    let batch = parse(&csv(&[with_dates("21000229", "21100228")]));
    assert_eq!(batch.errors.len(), 1);
    let batch = parse(&csv(&[with_dates("20000229", "21000228")]));
    assert!(batch.errors.is_empty(), "{:?}", batch.errors);
}

#[test]
fn name_rules() {
    let s = id("33010219900307123");
    // 16 hanzi are 32 GBK bytes: one too many... two, for a 30-byte item.
    let long: String = "测".repeat(16);
    single_problem(
        row(&s, &long, "1", "A00000002"),
        RowProblem::Item {
            item: "name".into(),
            problem: CodecError::TooLong { max: 30 },
        },
    );
    // 15 hanzi fit exactly.
    let batch = parse(&csv(&[row(&s, &"测".repeat(15), "1", "A00000002")]));
    assert!(batch.errors.is_empty(), "{:?}", batch.errors);
    single_problem(
        row(&s, "李😀", "1", "A00000002"),
        RowProblem::Item {
            item: "name".into(),
            problem: CodecError::InvalidCharacter { at: 1 },
        },
    );
}

#[test]
fn code_rules() {
    let s = id("33010219900307123");
    single_problem(
        row(&s, "甲", "3", "A00000002"),
        RowProblem::BadGender { value: "3".into() },
    );
    single_problem(
        format!("{s},甲,1,57,A00000002,20240315,20340315"),
        RowProblem::BadNation { value: "57".into() },
    );
    single_problem(
        format!("{s},甲,1,1,A00000002,20240315,20340315"),
        RowProblem::BadNation { value: "1".into() },
    );
    single_problem(
        row(&s, "甲", "1", "a00000002"),
        RowProblem::BadCardNumber {
            value: "a00000002".into(),
            length: 9,
        },
    );
    single_problem(
        row(&s, "甲", "1", "A0000002"),
        RowProblem::BadCardNumber {
            value: "A0000002".into(),
            length: 9,
        },
    );
    // 9 (unspecified) and 0 (unknown) are valid codes, whatever the ID says.
    let batch = parse(&csv(&[row(&s, "甲", "9", "A00000002")]));
    assert!(batch.errors.is_empty(), "{:?}", batch.errors);
}

#[test]
fn region_rules() {
    let s = id("33010219900307123");
    let text = format!(
        "{HEADER},region_code,birthplace,card_id\n\
         {},33010,330102,\n\
         {},330100,990102,\n\
         {},110100,330102,330100D15600000500A1B2C3D4E5F607\n\
         {},330100,330102,330100D15600000500A1B2C3D4E5F6\n",
        row(&s, "甲", "1", "A00000001"),
        row(&id("33010219900307133"), "乙", "1", "A00000002"),
        row(&id("33010219900307143"), "丙", "1", "A00000003"),
        row(&id("33010219900307153"), "丁", "1", "A00000004"),
    );
    let batch = parse(&text);
    assert!(batch.holders.is_empty());
    assert_eq!(
        problems(&batch),
        vec![
            (
                1,
                RowProblem::BadRegion {
                    item: "region_code".into(),
                    value: "33010".into()
                }
            ),
            (
                2,
                RowProblem::BadRegion {
                    item: "birthplace".into(),
                    value: "990102".into()
                }
            ),
            (
                3,
                RowProblem::CardIdRegion {
                    region: "110100".into()
                }
            ),
            (
                4,
                RowProblem::Item {
                    item: "card_id".into(),
                    problem: CodecError::WrongLength { expected: 16 }
                }
            ),
        ]
    );
}

#[test]
fn missing_required_values() {
    let s = id("33010219900307123");
    single_problem(
        format!("{s},,1,01,A00000002,20240315,20340315"),
        RowProblem::Missing {
            item: "name".into(),
        },
    );
}

#[test]
fn duplicates_are_reported_with_the_first_row() {
    let a = id("33010219900307123");
    let b = id("33010219900307133");
    let text = csv(&[
        row(&a, "甲", "1", "A00000001"),
        row(&b, "乙", "1", "A00000002"),
        row(&a, "甲", "1", "A00000003"),
        row(&id("33010219900307143"), "丙", "1", "A00000002"),
    ]);
    let batch = parse(&text);
    assert_eq!(batch.holders.len(), 2);
    assert_eq!(
        problems(&batch),
        vec![
            (3, RowProblem::DuplicateSsn { first_row: 1 }),
            (4, RowProblem::DuplicateCardNumber { first_row: 2 }),
        ]
    );
}

#[test]
fn strict_mode_refuses_the_batch_skip_mode_keeps_the_rest() {
    let text = csv(&[
        row(&id("33010219900307123"), "甲", "1", "A00000001"),
        row(&wrong_id("33010219900307133"), "乙", "1", "A00000002"),
    ]);
    let skip = parse(&text);
    assert_eq!(skip.holders.len(), 1);
    assert_eq!(skip.errors.len(), 1);
    let strict = Batch::parse_csv(text.as_bytes(), &profile(), &Options::strict());
    let Err(BatchError::Refused { errors }) = strict else {
        panic!("strict mode accepted an invalid batch: {strict:?}");
    };
    assert_eq!(errors, skip.errors);
    assert_eq!(errors[0].row, 2);
    assert!(errors[0]
        .to_string()
        .starts_with("row 2 (line 3): ID number check character"));
    // A valid batch passes strict mode.
    let good = csv(&[row(&id("33010219900307123"), "甲", "1", "A00000001")]);
    let opts = Options {
        mode: Mode::Strict,
        ..Options::default()
    };
    assert_eq!(
        Batch::parse_csv(good.as_bytes(), &profile(), &opts)
            .unwrap()
            .holders
            .len(),
        1
    );
}

#[test]
fn csv_quirks_bom_quotes_crlf_blank_rows() {
    let a = id("33010219900307123");
    let b = id("33010219900307133");
    let text = format!(
        "\u{FEFF}{HEADER}\r\n\"{a}\",\"李 \"\"小\"\" 测\",1,01,A00000001,20240315,20340315\r\n,,,,,,\r\n\"{b}\",\"王,\n二\",1,01,A00000002,20240315,20340315\r\n{},1,01,A00000003,20240315\r\n",
        wrong_id("33010219900307143") + ",丙"
    );
    let batch = parse(&text);
    assert_eq!(batch.holders.len(), 1, "{:?}", batch.errors);
    assert_eq!(
        batch.holders[0].value(SSSE_EF06, "name"),
        Some("李 \"小\" 测")
    );
    // The multi-line name holds a control character (line feed), which GBK items refuse.
    assert_eq!(
        batch.errors,
        vec![
            RowError {
                row: 3,
                line: Some(4),
                problem: RowProblem::Item {
                    item: "name".into(),
                    problem: CodecError::InvalidCharacter { at: 2 }
                }
            },
            RowError {
                row: 4,
                line: Some(6),
                problem: RowProblem::FieldCount {
                    expected: 7,
                    found: 6
                }
            },
        ]
    );
}

#[test]
fn quoted_comma_in_a_name_is_one_field() {
    let text = format!(
        "{HEADER}\n{},\"A,B\",1,01,A00000001,20240315,20340315\n",
        id("33010219900307123")
    );
    let batch = parse(&text);
    assert!(batch.errors.is_empty(), "{:?}", batch.errors);
    assert_eq!(batch.holders[0].value(SSSE_EF06, "name"), Some("A,B"));
}

#[test]
fn gbk_files() {
    let text = csv(&[row(&id("33010219900307123"), "李测试", "1", "A00000001")]);
    let gbk = sscard_fs::gbk::encode(&text).unwrap();
    assert_ne!(gbk, text.as_bytes());
    let opts = Options {
        encoding: TextEncoding::Gbk,
        ..Options::default()
    };
    let batch = Batch::parse_csv(&gbk, &profile(), &opts).unwrap();
    assert!(batch.errors.is_empty(), "{:?}", batch.errors);
    assert_eq!(batch.holders[0].value(SSSE_EF06, "name"), Some("李测试"));
    // The same bytes read as UTF-8: the name field is not valid text.
    let batch = Batch::parse_csv(&gbk, &profile(), &Options::default()).unwrap();
    assert_eq!(
        problems(&batch),
        vec![(
            1,
            RowProblem::BadText {
                column: "name".into(),
                encoding: TextEncoding::Utf8
            }
        )]
    );
    // And UTF-8 read as GBK decodes to other characters or fails; never the same name.
    let batch = Batch::parse_csv(text.as_bytes(), &profile(), &opts).unwrap();
    assert!(batch
        .holders
        .iter()
        .all(|h| h.value(SSSE_EF06, "name") != Some("李测试")));
}

#[test]
fn header_errors_refuse_the_batch() {
    let p = profile();
    let o = Options::default();
    assert_eq!(Batch::parse_csv(b"", &p, &o), Err(BatchError::NoHeader));
    assert_eq!(
        Batch::parse_csv(format!("{HEADER},colour\n").as_bytes(), &p, &o),
        Err(BatchError::UnknownColumn {
            name: "colour".into()
        })
    );
    assert_eq!(
        Batch::parse_csv(format!("{HEADER},sex\n").as_bytes(), &p, &o),
        Err(BatchError::DuplicateColumn { name: "sex".into() })
    );
    assert_eq!(
        Batch::parse_csv(b"ssn,name,gender,nation,card_number,issue_date\n", &p, &o),
        Err(BatchError::MissingColumn {
            item: "expiry_date".into()
        })
    );
    // Header names are case-insensitive and trimmed.
    let text = format!(
        "SSN, Name ,Gender,NATION,card_number,issue_date,expiry_date\n{}\n",
        row(&id("33010219900307123"), "甲", "1", "A00000001")
    );
    assert_eq!(parse(&text).holders.len(), 1);
}

#[test]
fn custom_column_names_are_data() {
    let columns = ColumnMap::standard()
        .with("身份证号", SSSE_EF06, "ssn")
        .with("性别", SSSE_EF06, "sex")
        .with_region_code("地区");
    let opts = Options {
        columns,
        ..Options::default()
    };
    let text = format!(
        "身份证号,name,性别,nation,card_number,issue_date,expiry_date,地区\n{},330100\n",
        row(&id("33010219900307123"), "甲", "女", "A00000001")
    );
    let batch = Batch::parse_csv(text.as_bytes(), &profile(), &opts).unwrap();
    // 女 is 2, but the 17th digit 3 says male.
    assert_eq!(
        problems(&batch),
        vec![(1, RowProblem::GenderMismatch { given: '2' })]
    );
    let map = ColumnMap::empty().with("x", SSSE_EF06, "no_such_item");
    assert!(map.lookup("X").is_some());
    assert!(map.lookup("y").is_none());
}

#[test]
fn json_batches() {
    let a = id("33010219900307123");
    let b = id("33010219900307133");
    let text = format!(
        r#"[
          {{"ssn":"{a}","name":"李测试","gender":"1","nation":"01","card_number":"A00000001",
            "issue_date":"20240315","expiry_date":"20340315","name_ext":null}},
          {{"ssn":"{b}","name":"乙","gender":"1","nation":1,"card_number":"A00000002",
            "issue_date":"20240315","expiry_date":"20340315"}},
          "not an object",
          {{"ssn":"{b}","colour":"red"}},
          {{"ssn":"{b}","name":"乙","gender":"1","nation":"01","card_number":"A00000002",
            "issue_date":"20240315"}}
        ]"#
    );
    let p = profile();
    let batch = Batch::parse_json(text.as_bytes(), &p, &Options::default()).unwrap();
    assert_eq!(batch.holders.len(), 1);
    assert_eq!(batch.holders[0].value(SSSE_EF06, "name"), Some("李测试"));
    assert_eq!(
        problems(&batch),
        vec![
            (
                2,
                RowProblem::NotText {
                    column: "nation".into()
                }
            ),
            (3, RowProblem::NotAnObject),
            (
                4,
                RowProblem::UnknownField {
                    name: "colour".into()
                }
            ),
            (
                5,
                RowProblem::Missing {
                    item: "expiry_date".into()
                }
            ),
        ]
    );
    assert!(batch.errors.iter().all(|e| e.line.is_none()));
    assert_eq!(
        Batch::parse_json(b"{}", &p, &Options::default()),
        Err(BatchError::NotAnArray)
    );
    assert!(matches!(
        Batch::parse_json(b"[{", &p, &Options::default()),
        Err(BatchError::Json { line: 1, .. })
    ));
    // GBK by option; the same bytes as UTF-8 are refused whole.
    let gbk = sscard_fs::gbk::encode(&text).unwrap();
    let opts = Options {
        encoding: TextEncoding::Gbk,
        ..Options::default()
    };
    assert_eq!(
        Batch::parse_json(&gbk, &p, &opts).unwrap().holders,
        batch.holders
    );
    assert_eq!(
        Batch::parse_json(&gbk, &p, &Options::default()),
        Err(BatchError::Encoding(TextEncoding::Utf8))
    );
    // With a BOM.
    let with_bom = format!("\u{FEFF}{text}");
    assert_eq!(
        Batch::parse_json(with_bom.as_bytes(), &p, &Options::default())
            .unwrap()
            .holders,
        batch.holders
    );
}

#[test]
fn the_hash_identifies_the_file() {
    let a = csv(&[row(&id("33010219900307123"), "甲", "1", "A00000001")]);
    let b = csv(&[row(&id("33010219900307123"), "乙", "1", "A00000001")]);
    let (ha, hb) = (parse(&a).hash, parse(&b).hash);
    assert_eq!(ha.len(), 64);
    assert_ne!(ha, hb);
    assert_eq!(ha, parse(&a).hash);
    assert_eq!(parse(&a).keys(), vec![id("33010219900307123")]);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let p = profile();
        for encoding in [TextEncoding::Utf8, TextEncoding::Gbk] {
            for mode in [Mode::SkipInvalid, Mode::Strict] {
                let o = Options { encoding, mode, ..Options::default() };
                let _ = Batch::parse_csv(&bytes, &p, &o);
                let _ = Batch::parse_json(&bytes, &p, &o);
            }
        }
    }

    #[test]
    fn arbitrary_rows_never_panic(rows in proptest::collection::vec("[0-9Xx,\"\r\n李男女 A-Z-]{0,60}", 0..8)) {
        let p = profile();
        let text = format!("{HEADER},birth_date,birthplace,region_code\n{}", rows.join("\n"));
        let batch = Batch::parse_csv(text.as_bytes(), &p, &Options::default()).unwrap();
        let base = sample_image().unwrap();
        for h in &batch.holders {
            let _ = h.to_image(&base, &p);
        }
        let json = serde_json::to_string(&rows.iter().map(|r| serde_json::json!({"ssn": r, "name": r})).collect::<Vec<_>>()).unwrap();
        let _ = Batch::parse_json(json.as_bytes(), &p, &Options::default()).unwrap();
    }
}

#[test]
fn pan_and_psn_columns_are_validated() {
    let good = id("33010219900307123");
    let other = id("11010519491231002");
    let text = format!(
        "{HEADER},pan,psn\n{good},李测试,1,01,A12345678,20240315,20340315,6228000112345676,02\n\
         {other},王测试,2,01,B12345678,20240315,20340315,6228000112345677,\n\
         {good},张测试,1,01,C12345678,20240315,20340315,,1\n"
    );
    let batch = parse(&text);
    assert_eq!(batch.holders.len(), 1, "{:?}", batch.errors);
    assert_eq!(batch.holders[0].pan(), Some("6228000112345676"));
    assert_eq!(batch.holders[0].psn(), 2);
    let p = problems(&batch);
    assert!(p.contains(&(
        2,
        RowProblem::BadPan {
            value: "6228000112345677".into()
        }
    )));
    assert!(p.contains(&(3, RowProblem::BadPsn { value: "1".into() })));
    // Luhn, length and digits.
    assert!(sscard_issue::batch::is_pan("6228000122223335"));
    assert!(sscard_issue::batch::is_pan("4111111111111111"));
    assert!(!sscard_issue::batch::is_pan("4111111111111112"));
    assert!(!sscard_issue::batch::is_pan("411111111111111"));
    assert!(!sscard_issue::batch::is_pan("41111111111111111111"));
    assert!(!sscard_issue::batch::is_pan("411111111111111A"));
}
