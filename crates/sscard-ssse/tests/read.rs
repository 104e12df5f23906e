//! Reading the emulated sample card in process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use sscard_apdu::applet::{Card, Interface, Reply};
use sscard_apdu::{CommandView, Exchange, Status};
use sscard_emu::{sample_card, EmulatedReader, PagingMode, Runtime, SsCard};
use sscard_ssse::{read_image, BasicInfo, ReadError, Step};

#[test]
fn reads_back_the_image_exactly() {
    for mode in [PagingMode::T0, PagingMode::Direct] {
        let rt = Runtime::new(sample_card().unwrap()).with_paging(mode);
        let atr = rt.atr().to_vec();
        let mut ex = Exchange::new(EmulatedReader::new(rt));
        let profile = sscard_fs::builtin_profile().unwrap();
        let image = read_image(&mut ex, &profile, &atr).unwrap();
        let sample = sscard_fs::sample_image().unwrap();
        assert_eq!(image.files, sample.files);
        assert_eq!(image.atr, sample.atr);
        assert_eq!(image.algorithm_id, sample.algorithm_id);

        let basic = BasicInfo::from_image(&image);
        assert_eq!(basic.region_code, "330100");
        assert_eq!(basic.name, "李测试");
        assert_eq!(basic.card_number, "A12345678");
        assert_eq!(basic.atr_historical, "00815353433300001234567890");
        assert_eq!(basic.atr_historical.len(), 26);
    }
}

/// A card wrapper that breaks one answer, to test the reader's error paths.
struct Faulty<F> {
    inner: SsCard,
    fault: F,
}

impl<F: FnMut(&CommandView<'_>, &mut Reply<'_>) -> Option<Result<(), Status>>> Card for Faulty<F> {
    fn atr(&self) -> &[u8] {
        self.inner.atr()
    }
    fn reset(&mut self) {
        self.inner.reset()
    }
    fn process(
        &mut self,
        i: Interface,
        c: &CommandView<'_>,
        r: &mut Reply<'_>,
    ) -> Result<(), Status> {
        match (self.fault)(c, r) {
            Some(result) => result,
            None => self.inner.process(i, c, r),
        }
    }
}

fn read_with<F>(
    fault: F,
) -> Result<sscard_fs::Image, ReadError<sscard_emu::reader::EmulatedReaderError>>
where
    F: FnMut(&CommandView<'_>, &mut Reply<'_>) -> Option<Result<(), Status>>,
{
    let card = Faulty {
        inner: sample_card().unwrap(),
        fault,
    };
    let mut ex = Exchange::new(EmulatedReader::new(Runtime::new(card)));
    read_image(
        &mut ex,
        &sscard_fs::builtin_profile().unwrap(),
        &[0x3B, 0x00],
    )
}

#[test]
fn a_card_without_ssse_is_reported() {
    let err =
        read_with(|c, _| (c.ins() == 0xA4 && c.p1() == 4).then_some(Err(Status::FileNotFound)))
            .unwrap_err();
    assert!(matches!(
        err,
        ReadError::Card(Step::SelectSsse, Status::FileNotFound)
    ));
    assert_eq!(
        err.to_string(),
        "SELECT SSSE: card answered 6A82 (file or application not found)"
    );
}

#[test]
fn a_1_0_card_without_name_extension_reads() {
    let image = read_with(|c, _| {
        (c.ins() == 0xB2 && c.p1() == 0x4E).then_some(Err(Status::RecordNotFound))
    })
    .unwrap();
    assert!(!image.files["SSSE/EF06"].contains_key("name_ext"));
    assert_eq!(BasicInfo::from_image(&image).name, "李测试");
}

#[test]
fn a_missing_mandatory_record_is_an_error() {
    let err = read_with(|c, _| {
        (c.ins() == 0xB2 && c.p1() == 0x07).then_some(Err(Status::RecordNotFound))
    })
    .unwrap_err();
    assert!(matches!(
        err,
        ReadError::Card(
            Step::ReadRecord {
                fid: 0xEF05,
                tag: 7
            },
            Status::RecordNotFound
        )
    ));
}

#[test]
fn malformed_records_are_errors_not_panics() {
    // Wrong tag in the record.
    let err = read_with(|c, r| {
        (c.ins() == 0xB2 && c.p1() == 0x07).then(|| r.extend_from_slice(&[0x08, 0x01, 0x41]))
    })
    .unwrap_err();
    assert!(matches!(
        err,
        ReadError::BadRecord(Step::ReadRecord { tag: 7, .. })
    ));
    // Truncated TLV.
    let err = read_with(|c, r| {
        (c.ins() == 0xB2 && c.p1() == 0x07).then(|| r.extend_from_slice(&[0x07, 0x09, 0x41]))
    })
    .unwrap_err();
    assert!(matches!(err, ReadError::BadRecord(_)));
    // A BCD date with a non-digit nibble.
    let err = read_with(|c, r| {
        (c.ins() == 0xB2 && c.p1() == 0x05)
            .then(|| r.extend_from_slice(&[0x05, 0x04, 0x20, 0x2A, 0x01, 0x01]))
    })
    .unwrap_err();
    assert!(matches!(
        err,
        ReadError::BadValue(_, sscard_fs::CodecError::InvalidBytes)
    ));
}

/// Counts the APDUs that reach the card.
struct Counting<T> {
    inner: T,
    count: usize,
}

impl<T: sscard_apdu::Transport> sscard_apdu::Transport for Counting<T> {
    type Error = T::Error;
    fn transmit(&mut self, c: &[u8], r: &mut [u8]) -> Result<usize, Self::Error> {
        self.count += 1;
        self.inner.transmit(c, r)
    }
}

#[test]
fn basic_information_takes_at_most_nine_apdus() {
    let profile = sscard_fs::builtin_profile().unwrap();
    let rt = Runtime::new(sample_card().unwrap());
    let atr = rt.atr().to_vec();
    let mut ex = Exchange::new(Counting {
        inner: EmulatedReader::new(rt),
        count: 0,
    });
    let basic = sscard_ssse::read_basic(&mut ex, &profile, &atr).unwrap();
    assert_eq!(basic.name, "李测试");
    assert_eq!(basic.card_number, "A12345678");
    assert_eq!(basic.expiry_date, "20340315");
    assert!(ex.transport().count <= 9, "{} APDUs", ex.transport().count);
    // The full basic files: one SELECT and one READ RECORD per item.
    ex.transport().count = 0;
    read_image(&mut ex, &profile, &atr).unwrap();
    assert_eq!(ex.transport().count, 1 + 7 + 7);
}

fn full_card() -> Exchange<EmulatedReader<SsCard>> {
    let profile = sscard_fs::builtin_profile().unwrap();
    let image = sscard_fs::Image::from_json(sscard_fs::FULL_IMAGE_JSON).unwrap();
    Exchange::new(EmulatedReader::new(Runtime::new(
        SsCard::new(&profile, &image).unwrap(),
    )))
}

#[test]
fn items_by_address_across_dfs_with_the_pin() {
    use sscard_fs::Address;
    use sscard_ssse::{read_address, Pin};
    let profile = sscard_fs::builtin_profile().unwrap();
    let addr = Address::parse(
        "SSSEEF05|06|07|$DF01EF05|20|21|$DF01EF15|2A|40:02|$DF02EF07:01$SSSEEF06|09|$",
    )
    .unwrap();
    let mut ex = full_card();
    let pin = Pin::new("123456").unwrap();
    let values = read_address(&mut ex, &profile, &addr, Some(&pin)).unwrap();
    assert_eq!(
        addr.format_values(&values),
        "SSSEEF05|20340315|A12345678|$DF01EF05|01|浙江省杭州市西湖区测试路1号|$\
         DF01EF15|5|C02,330,测试研究院|$DF02EF07:01|A000001,20200101,20231231,测试公司|$SSSEEF06|李测试|$"
    );
    // Without the PIN the DF01 read is refused by the card.
    let mut ex = full_card();
    let err = read_address(&mut ex, &profile, &addr, None).unwrap_err();
    assert!(
        matches!(
            err,
            ReadError::Card(
                Step::ReadRecord {
                    fid: 0xEF05,
                    tag: 0x20
                },
                Status::SecurityStatusNotSatisfied
            )
        ),
        "{err}"
    );
    // A wrong PIN says how many tries are left.
    let mut ex = full_card();
    let err =
        read_address(&mut ex, &profile, &addr, Some(&Pin::new("000000").unwrap())).unwrap_err();
    assert!(
        matches!(
            err,
            ReadError::Card(
                Step::VerifyPin,
                Status::VerificationFailed { tries_left: 5 }
            )
        ),
        "{err}"
    );
    // Items the profile does not know never reach the card.
    let bad = Address::parse("SSSEEF05|42|$").unwrap();
    assert!(matches!(
        read_address(&mut ex, &profile, &bad, None),
        Err(ReadError::Address(_))
    ));
    // PINs are digits, and never printed.
    assert!(Pin::new("12a456").is_err());
    assert!(Pin::new("123").is_err());
    assert_eq!(
        format!("{:?}", Pin::new("123456").unwrap()),
        "Pin(<redacted>)"
    );
    assert_eq!(&*Pin::new("12345").unwrap().bcd(), &[0x12, 0x34, 0x5F]);
}

/// The sample card's exchange with one answer broken by `fault`.
fn faulty_exchange<F>(fault: F) -> Exchange<EmulatedReader<Faulty<F>>>
where
    F: FnMut(&CommandView<'_>, &mut Reply<'_>) -> Option<Result<(), Status>>,
{
    Exchange::new(EmulatedReader::new(Runtime::new(Faulty {
        inner: sample_card().unwrap(),
        fault,
    })))
}

/// The name record (tag 09) answered with these GBK bytes, 30-byte item padded.
fn name_record(
    gbk: &[u8],
) -> impl FnMut(&CommandView<'_>, &mut Reply<'_>) -> Option<Result<(), Status>> {
    let mut value = gbk.to_vec();
    value.resize(30, 0x00);
    move |c, r| {
        (c.ins() == 0xB2 && c.p1() == 0x09).then(|| {
            r.extend_from_slice(&[0x09, 30])?;
            r.extend_from_slice(&value)
        })
    }
}

#[test]
fn the_name_kept_as_gbk_is_the_cards_bytes_and_decodes_to_the_same_info() {
    let profile = sscard_fs::builtin_profile().unwrap();
    let rt = Runtime::new(sample_card().unwrap());
    let atr = rt.atr().to_vec();
    let mut ex = Exchange::new(EmulatedReader::new(rt));
    let kept = sscard_ssse::read_basic_gbk(&mut ex, &profile, &atr).unwrap();
    // 李测试 in GBK, padding stripped, the (empty) extension appended.
    assert_eq!(kept.name.as_bytes(), [0xC0, 0xEE, 0xB2, 0xE2, 0xCA, 0xD4]);
    assert_eq!(kept.card_number, "A12345678");
    let decoded = sscard_ssse::read_basic(&mut ex, &profile, &atr).unwrap();
    assert_eq!(decoded.name, "李测试");
    assert_eq!(kept.clone().decode().unwrap(), decoded);
    let image = read_image(&mut ex, &profile, &atr).unwrap();
    assert_eq!(decoded, BasicInfo::from_image(&image));

    // A name with its extension: both parts, in order.
    let mut ex = faulty_exchange(|c, r| {
        (c.ins() == 0xB2 && c.p1() == 0x4E).then(|| {
            r.extend_from_slice(&[0x4E, 20])?;
            r.extend_from_slice(&[0xB6, 0xFE, b'B', 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])?;
            r.extend_from_slice(&[0xFF; 10])
        })
    });
    let kept = sscard_ssse::read_basic_gbk(&mut ex, &profile, &atr).unwrap();
    assert_eq!(
        kept.name.as_bytes(),
        [0xC0, 0xEE, 0xB2, 0xE2, 0xCA, 0xD4, 0xB6, 0xFE, b'B']
    );
    assert_eq!(kept.decode().unwrap().name, "李测试二B");
}

#[test]
fn bad_gbk_names_are_errors_in_both_forms() {
    let profile = sscard_fs::builtin_profile().unwrap();
    let name_step = Step::ReadRecord {
        fid: 0xEF06,
        tag: 0x09,
    };
    // Malformed (a lead byte cut short): both reads fail at the name's record.
    let malformed = [0xC0, 0xEE, 0xB2];
    let err =
        sscard_ssse::read_basic_gbk(&mut faulty_exchange(name_record(&malformed)), &profile, &[])
            .unwrap_err();
    assert!(
        matches!(err, ReadError::BadValue(s, sscard_fs::CodecError::InvalidBytes) if s == name_step),
        "{err:?}"
    );
    let err = sscard_ssse::read_basic(&mut faulty_exchange(name_record(&malformed)), &profile, &[])
        .unwrap_err();
    assert!(
        matches!(err, ReadError::BadValue(s, _) if s == name_step),
        "{err:?}"
    );
    // Well-formed but unmapped (a four-byte sequence past the BMP ranges): kept, and
    // decoding it fails, as reading it decoded does.
    let unmapped = [0xC0, 0xEE, 0x84, 0x31, 0xA5, 0x30];
    let kept =
        sscard_ssse::read_basic_gbk(&mut faulty_exchange(name_record(&unmapped)), &profile, &[])
            .unwrap();
    assert_eq!(kept.name.as_bytes(), unmapped);
    assert_eq!(kept.decode(), Err(sscard_fs::CodecError::InvalidBytes));
    let err = sscard_ssse::read_basic(&mut faulty_exchange(name_record(&unmapped)), &profile, &[])
        .unwrap_err();
    assert!(
        matches!(err, ReadError::BadValue(s, sscard_fs::CodecError::InvalidBytes) if s == name_step)
    );
}
