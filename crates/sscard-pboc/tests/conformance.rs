//! Table-driven conformance suite (spec/pboc.md §5.3) over the programmable fake card
//! in `common`. Each row sets up card, terminal and cardholder, runs a contact
//! transaction and asserts the outcome and the exact TVR (95), TSI (9B) and CVM
//! results (9F34), plus a row-specific check where the case needs one.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod common;

use common::*;
use sscard_emv::Tag;
use sscard_pboc::error::Step;
use sscard_pboc::{IssuerResponse, Outcome, PinEntry, Termination, TransactionResult};
use zeroize::Zeroizing;

type Setup = fn(&mut Harness);
type Check = fn(&Harness, &TransactionResult);

struct Case {
    name: &'static str,
    setup: Setup,
    outcome: Outcome,
    tvr: &'static str,
    tsi: &'static str,
    cvm: &'static str,
    check: Option<Check>,
}

const BASE_TVR: &str = "8000000000";
const BASE_TSI: &str = "6800";
const NO_CVM: &str = "1F0002";

fn approve_with_91(h: &mut Harness) {
    h.txn.amount = 50_000;
    h.issuer.response = Some(IssuerResponse {
        arc: *b"00",
        auth_data: Some(h_("0102030405060708 3030")),
        scripts: Vec::new(),
    });
}

fn h_(s: &str) -> Vec<u8> {
    h(s)
}

fn online_approve(h: &mut Harness) {
    h.txn.amount = 50_000;
    h.issuer = FixedIssuer::approve();
}

fn scripts(h: &mut Harness, scripts: Vec<u8>) {
    online_approve(h);
    h.issuer.response.as_mut().unwrap().scripts = scripts;
}

fn cvm_list(h: &mut Harness, list: &str) {
    h.card.app().set(0x8E, Some(&h_(list)));
}

fn gac_data(card: &FakeCard, n: usize) -> Vec<u8> {
    let gacs = card.sent(0xAE);
    let c = &gacs[n];
    c[5..5 + usize::from(c[4])].to_vec()
}

fn cases() -> Vec<Case> {
    let mut v = vec![
        // ---------------- Selection ----------------
        Case {
            name: "selection: PSE present",
            setup: |_| {},
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|h, r| {
                assert_eq!(r.aid, h_(DEBIT));
                assert!(
                    h.card.sent(0xB2).iter().any(|c| c[3] == 0x0C),
                    "PSE directory read"
                );
            }),
        },
        Case {
            name: "selection: PSE absent (6A82) => terminal AID list",
            setup: |h| h.card.pse = false,
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|h, r| {
                assert_eq!(r.aid, h_(DEBIT));
                assert!(
                    h.card.sent(0xA4).iter().any(|c| c[3] == 0x02),
                    "select next used"
                );
            }),
        },
        Case {
            name: "selection: candidates sorted by priority",
            setup: |h| h.card.apps = vec![FakeApp::credit(), FakeApp::debit()],
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|_, r| assert_eq!(r.aid, h_(DEBIT))),
        },
        Case {
            name: "selection: confirmation bit, terminal cannot confirm => excluded",
            setup: |h| {
                let mut d = FakeApp::debit();
                d.priority = Some(0x81);
                h.card.apps = vec![d, FakeApp::credit()];
            },
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|h, r| {
                assert_eq!(r.aid, h_(CREDIT));
                assert!(h.cardholder.confirmations.is_empty());
            }),
        },
        Case {
            name: "selection: confirmation bit, cardholder confirms",
            setup: |h| {
                let mut d = FakeApp::debit();
                d.priority = Some(0x81);
                h.card.apps = vec![d, FakeApp::credit()];
                h.cfg.can_confirm = true;
                h.cardholder.confirm = true;
            },
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|h, r| {
                assert_eq!(r.aid, h_(DEBIT));
                assert_eq!(h.cardholder.confirmations, vec![h_(DEBIT)]);
            }),
        },
        Case {
            name: "selection: blocked application (6283) => next candidate",
            setup: |h| {
                let mut d = FakeApp::debit();
                d.blocked = true;
                h.card.apps = vec![d, FakeApp::credit()];
            },
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|_, r| assert_eq!(r.aid, h_(CREDIT))),
        },
        Case {
            name: "selection: only application blocked => no application",
            setup: |h| h.card.app().blocked = true,
            outcome: Outcome::Terminated(Termination::NoApplication),
            tvr: "0000000000",
            tsi: "0000",
            cvm: "3F0000",
            check: None,
        },
        Case {
            name: "selection: AID not in terminal list",
            setup: |h| h.card.app().aid = h_("A000000333010199"),
            outcome: Outcome::Terminated(Termination::NoApplication),
            tvr: "0000000000",
            tsi: "0000",
            cvm: "3F0000",
            check: None,
        },
        Case {
            name: "selection: partial AID match allowed (ASI)",
            setup: |h| h.card.app().aid = h_("A00000033301010101"),
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|_, r| assert_eq!(r.aid, h_("A00000033301010101"))),
        },
        Case {
            name: "selection: partial AID match not allowed",
            setup: |h| {
                h.card.app().aid = h_("A00000033301010101");
                h.cfg.aids = vec![sscard_pboc::AidEntry {
                    aid: h_(DEBIT),
                    partial_match: false,
                }];
            },
            outcome: Outcome::Terminated(Termination::NoApplication),
            tvr: "0000000000",
            tsi: "0000",
            cvm: "3F0000",
            check: None,
        },
        Case {
            name: "selection: partial name, SELECT next occurrence (P2=02) finds both",
            setup: |h| {
                h.card.pse = false;
                h.card.apps = vec![FakeApp::credit(), FakeApp::debit()];
                h.cfg.aids = vec![sscard_pboc::AidEntry {
                    aid: h_("A0000003330101"),
                    partial_match: true,
                }];
            },
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|h, r| {
                assert_eq!(r.aid, h_(DEBIT));
                let selects = h.card.sent(0xA4);
                let next: Vec<_> = selects.iter().filter(|c| c[3] == 0x02).collect();
                assert_eq!(next.len(), 2, "next occurrence until 6A82");
                assert_eq!(&selects[1][5..12], &h_("A0000003330101")[..]);
            }),
        },
        Case {
            name: "selection: card blocked (6A81 on PSE)",
            setup: |h| h.card.pse_blocked = true,
            outcome: Outcome::Terminated(Termination::CardBlocked),
            tvr: "0000000000",
            tsi: "0000",
            cvm: "3F0000",
            check: None,
        },
        // ---------------- GPO ----------------
        Case {
            name: "gpo: PDOL asks for data the terminal lacks => zero-filled",
            setup: |h| h.card.app().pdol = Some(h_("9F6604 9F0206")),
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|h, _| {
                assert_eq!(
                    h.card.sent(0xA8)[0],
                    h_("80A800000C 830A 00000000 000000010000 00")
                );
            }),
        },
        Case {
            name: "gpo: PDOL lengths shorter/longer than the values => cut/padded",
            setup: |h| h.card.app().pdol = Some(h_("9F0204 9F4E1E")),
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|h, _| {
                let gpo = &h.card.sent(0xA8)[0];
                assert_eq!(&gpo[5..7], &[0x83, 34]);
                assert_eq!(&gpo[7..11], &h_("00010000")[..]);
                assert_eq!(&gpo[11..31], b"SSCARD TEST TERMINAL");
                assert_eq!(&gpo[31..41], &[0u8; 10]);
            }),
        },
        Case {
            name: "gpo: response format 2 (77)",
            setup: |h| h.card.app().gpo_format2 = true,
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|_, r| assert_eq!(r.card.get(Tag::AIP), Some(&[0x1C, 0x00][..]))),
        },
        Case {
            name: "gpo: 6985 => candidate removed, next selected",
            setup: |h| {
                let mut d = FakeApp::debit();
                d.gpo_sw = Some(0x6985);
                h.card.apps = vec![d, FakeApp::credit()];
            },
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|h, r| {
                assert_eq!(r.aid, h_(CREDIT));
                assert_eq!(h.card.sent(0xA8).len(), 2);
            }),
        },
        Case {
            name: "gpo: card rejects PDOL data (6700) => terminate",
            setup: |h| h.card.app().gpo_sw = Some(0x6700),
            outcome: Outcome::Terminated(Termination::CardStatus {
                step: Step::Gpo,
                sw: 0x6700,
            }),
            tvr: "0000000000",
            tsi: "0000",
            cvm: "3F0000",
            check: None,
        },
        // ---------------- Records / ODA collection ----------------
        Case {
            name: "records: AFL with 0 ODA records",
            setup: |h| {
                h.use_no_oda = false;
                h.card.app().aip = [0x5C, 0x00];
                h.card.app().afl = h_("08010200 10010100");
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "0200000000",
            tsi: "E800",
            cvm: NO_CVM,
            check: Some(|h, _| {
                assert_eq!(h.oda.calls, vec!["sda"]);
                assert_eq!(h.oda.static_data, vec![Vec::<u8>::new()]);
            }),
        },
        Case {
            name: "records: AFL with 1 ODA record (value of 70)",
            setup: |h| {
                h.use_no_oda = false;
                h.card.app().aip = [0x5C, 0x00];
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "0200000000",
            tsi: "E800",
            cvm: NO_CVM,
            check: Some(|h, _| {
                let rec = &h.card.apps[0].records[&(1, 1)];
                assert_eq!(h.oda.static_data, vec![rec[2..].to_vec()]);
            }),
        },
        Case {
            name: "records: AFL with n ODA records",
            setup: |h| {
                h.use_no_oda = false;
                h.card.app().aip = [0x5C, 0x00];
                h.card.app().afl = h_("08010202 10010101");
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "0200000000",
            tsi: "E800",
            cvm: NO_CVM,
            check: Some(|h, _| {
                let r = &h.card.apps[0].records;
                let value = |k: (u8, u8)| {
                    sscard_apdu::tlv::ber::parse(&r[&k])
                        .unwrap()
                        .0
                        .value
                        .to_vec()
                };
                let want = [value((1, 1)), value((1, 2)), value((2, 1))].concat();
                assert_eq!(h.oda.static_data, vec![want]);
            }),
        },
        Case {
            name: "records: SFI 11-30 ODA record contributes the whole record",
            setup: |h| {
                h.use_no_oda = false;
                h.card.app().aip = [0x5C, 0x00];
                h.card.app().afl = h_("08010200 10010100 58010101");
                h.card
                    .app()
                    .records
                    .insert((11, 1), t(0x70, &t(0x9F12, b"DEBIT")));
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "0200000000",
            tsi: "E800",
            cvm: NO_CVM,
            check: Some(|_, r| {
                assert_eq!(r.card.get(Tag::PREFERRED_NAME), Some(&b"DEBIT"[..]));
            }),
        },
        Case {
            name: "records: non-70 template in SFI 1-10 ODA record => SDA failed",
            setup: |h| {
                h.use_no_oda = false;
                h.card.app().aip = [0x5C, 0x00];
                h.card.app().afl = h_("08010200 10010100 18010101");
                h.card
                    .app()
                    .records
                    .insert((3, 1), t(0x6F, &t(0x9F12, b"X")));
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "4200000000",
            tsi: "E800",
            cvm: NO_CVM,
            check: Some(|h, _| assert!(h.oda.calls.is_empty())),
        },
        Case {
            name: "records: 9F4A lists 82 => AIP appended to static data",
            setup: |h| {
                h.use_no_oda = false;
                h.card.app().aip = [0x5C, 0x00];
                h.card.app().set(0x9F4A, Some(&[0x82]));
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "0200000000",
            tsi: "E800",
            cvm: NO_CVM,
            check: Some(|h, _| assert!(h.oda.static_data[0].ends_with(&[0x5C, 0x00]))),
        },
        Case {
            name: "records: 9F4A lists a tag other than 82 => SDA failed",
            setup: |h| {
                h.use_no_oda = false;
                h.card.app().aip = [0x5C, 0x00];
                h.card.app().set(0x9F4A, Some(&[0x9F, 0x36]));
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "4200000000",
            tsi: "E800",
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "records: missing 5A => terminate",
            setup: |h| h.card.app().set(0x5A, None),
            outcome: Outcome::Terminated(Termination::MissingMandatory(Tag::PAN)),
            tvr: "0000000000",
            tsi: "0000",
            cvm: "3F0000",
            check: None,
        },
        Case {
            name: "records: missing 5F24 => terminate",
            setup: |h| h.card.app().set(0x5F24, None),
            outcome: Outcome::Terminated(Termination::MissingMandatory(Tag::EXPIRY)),
            tvr: "0000000000",
            tsi: "0000",
            cvm: "3F0000",
            check: None,
        },
        Case {
            name: "records: missing 8C => terminate",
            setup: |h| h.card.app().set(0x8C, None),
            outcome: Outcome::Terminated(Termination::MissingMandatory(Tag::CDOL1)),
            tvr: "0000000000",
            tsi: "0000",
            cvm: "3F0000",
            check: None,
        },
        Case {
            name: "records: missing 8D => terminate",
            setup: |h| h.card.app().set(0x8D, None),
            outcome: Outcome::Terminated(Termination::MissingMandatory(Tag::CDOL2)),
            tvr: "0000000000",
            tsi: "0000",
            cvm: "3F0000",
            check: None,
        },
        Case {
            name: "records: duplicate tag => terminate",
            setup: |h| {
                h.card
                    .app()
                    .records
                    .insert((2, 1), t(0x70, &t(0x5A, &h_(PAN))));
            },
            outcome: Outcome::Terminated(Termination::DuplicateTag(Tag::PAN)),
            tvr: "0000000000",
            tsi: "0000",
            cvm: "3F0000",
            check: None,
        },
        Case {
            name: "records: 6A83 inside the AFL range => terminate",
            setup: |h| h.card.app().afl = h_("08010300 10010100"),
            outcome: Outcome::Terminated(Termination::RecordNotFound { sfi: 1, record: 3 }),
            tvr: "0000000000",
            tsi: "0000",
            cvm: "3F0000",
            check: None,
        },
        Case {
            name: "records: malformed AFL (ODA count beyond range) => terminate",
            setup: |h| h.card.app().afl = h_("08010203"),
            outcome: Outcome::Terminated(Termination::BadAfl),
            tvr: "0000000000",
            tsi: "0000",
            cvm: "3F0000",
            check: None,
        },
        // ---------------- Offline data authentication (through the trait) ----------------
        Case {
            name: "oda: SDA passes, recovered DAC 9F45 stored",
            setup: |h| {
                h.use_no_oda = false;
                h.card.app().aip = [0x5C, 0x00];
                h.oda.verdict = sscard_pboc::OdaVerdict::Passed(vec![(Tag::DAC, vec![0xDA, 0xC1])]);
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "0200000000",
            tsi: "E800",
            cvm: NO_CVM,
            check: Some(|_, r| assert_eq!(r.card.get(Tag::DAC), Some(&[0xDA, 0xC1][..]))),
        },
        Case {
            name: "oda: SDA fails",
            setup: |h| {
                h.use_no_oda = false;
                h.card.app().aip = [0x5C, 0x00];
                h.oda.verdict = sscard_pboc::OdaVerdict::Failed;
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "4200000000",
            tsi: "E800",
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "oda: DDA with the terminal default DDOL (9F37)",
            setup: |h| {
                h.use_no_oda = false;
                h.card.app().aip = [0x3C, 0x00];
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "0000000000",
            tsi: "E800",
            cvm: NO_CVM,
            check: Some(|h, r| {
                assert_eq!(h.oda.calls, vec!["dda"]);
                assert_eq!(h.card.sent(0x88), vec![h_("0088000004 11223344 00")]);
                assert_eq!(r.card.get(Tag::SDAD), Some(&h_("0102030405060708")[..]));
            }),
        },
        Case {
            name: "oda: DDA with a card DDOL lacking 9F37 => DDA failed",
            setup: |h| {
                h.use_no_oda = false;
                h.card.app().aip = [0x3C, 0x00];
                h.card.app().set(0x9F49, Some(&h_("9F0206")));
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "0800000000",
            tsi: "E800",
            cvm: NO_CVM,
            check: Some(|h, _| {
                assert!(h.oda.calls.is_empty());
                assert!(h.card.sent(0x88).is_empty());
            }),
        },
        Case {
            name: "oda: INTERNAL AUTHENTICATE refused => DDA failed",
            setup: |h| {
                h.use_no_oda = false;
                h.card.app().aip = [0x3C, 0x00];
                h.card.overrides.push((h_("0088"), h_("6985")));
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "0800000000",
            tsi: "E800",
            cvm: NO_CVM,
            check: Some(|h, _| assert!(h.oda.calls.is_empty())),
        },
        Case {
            name: "oda: CDA requested in GAC P1 and verified",
            setup: |h| {
                h.use_no_oda = false;
                h.card.app().aip = [0x1D, 0x00];
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "0000000000",
            tsi: "E800",
            cvm: NO_CVM,
            check: Some(|h, _| {
                assert_eq!(h.oda.calls, vec!["cda_prepare", "cda"]);
                assert_eq!(h.card.sent(0xAE)[0][2], 0x50);
            }),
        },
        Case {
            name: "oda: CDA signature does not verify => CDA failed, declined",
            setup: |h| {
                h.use_no_oda = false;
                h.card.app().aip = [0x1D, 0x00];
                h.oda.cda_verdict = Some(sscard_pboc::OdaVerdict::Failed);
            },
            outcome: Outcome::DeclinedOffline,
            tvr: "0400000000",
            tsi: "E800",
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "oda: CDA certificates fail before GAC => CDA not requested",
            setup: |h| {
                h.use_no_oda = false;
                h.card.app().aip = [0x1D, 0x00];
                h.oda.verdict = sscard_pboc::OdaVerdict::Failed;
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "0400000000",
            tsi: "E800",
            cvm: NO_CVM,
            check: Some(|h, _| {
                assert_eq!(h.card.sent(0xAE)[0][2], 0x40);
                assert_eq!(h.oda.calls, vec!["cda_prepare"]);
            }),
        },
        Case {
            name: "oda: terminal on exception file",
            setup: |h| h.cfg.exception_file = vec![h_(PAN)],
            outcome: Outcome::ApprovedOffline,
            tvr: "9000000000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        // ---------------- Processing restrictions ----------------
        Case {
            name: "restrictions: expired application",
            setup: |h| h.card.app().set(0x5F24, Some(&h_("251231"))),
            outcome: Outcome::ApprovedOffline,
            tvr: "8040000000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "restrictions: application not yet effective",
            setup: |h| h.card.app().set(0x5F25, Some(&h_("260201"))),
            outcome: Outcome::ApprovedOffline,
            tvr: "8020000000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "restrictions: AUC domestic goods only, international card use",
            setup: |h| {
                h.card.app().set(0x9F07, Some(&h_("2100")));
                h.card.app().set(0x5F28, Some(&h_("0840")));
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "8010000000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "restrictions: AUC domestic goods, domestic purchase allowed",
            setup: |h| h.card.app().set(0x9F07, Some(&h_("2100"))),
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "restrictions: AUC without domestic cash, cash transaction",
            setup: |h| {
                h.card.app().set(0x9F07, Some(&h_("2100")));
                h.txn.txn_type = 0x01;
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "8010000000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "restrictions: AUC services bit for a services purchase",
            setup: |h| {
                h.card.app().set(0x9F07, Some(&h_("2100")));
                h.txn.services = true;
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "8010000000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "restrictions: application version mismatch (TVR bit only)",
            setup: |h| h.card.app().set(0x9F08, Some(&h_("0020"))),
            outcome: Outcome::ApprovedOffline,
            tvr: "8080000000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        // ---------------- CVM ----------------
        Case {
            name: "cvm: plaintext offline PIN verified",
            setup: |h| {
                cvm_list(h, "00000000 00000000 0100");
                h.cardholder = TestCardholder::pins(&[b"1234"]);
            },
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: "010002",
            check: Some(|h, _| {
                assert_eq!(h.card.sent(0x20), vec![h_("0020008008 241234FFFFFFFFFF")]);
                assert_eq!(h.cardholder.offline_prompts, vec![Some(3)]);
            }),
        },
        Case {
            name: "cvm: wrong PIN (63C2) then right PIN",
            setup: |h| {
                cvm_list(h, "00000000 00000000 0100");
                h.cardholder = TestCardholder::pins(&[b"9999", b"1234"]);
            },
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: "010002",
            check: Some(|h, _| {
                assert_eq!(h.cardholder.offline_prompts, vec![Some(3), Some(2)]);
            }),
        },
        Case {
            name: "cvm: PIN try counter 9F17 already 0 => try limit exceeded",
            setup: |h| {
                cvm_list(h, "00000000 00000000 0100");
                h.card.app().get_data.insert(0x9F17, vec![0]);
                h.cardholder = TestCardholder::pins(&[b"1234"]);
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "8000A00000",
            tsi: BASE_TSI,
            cvm: "010001",
            check: Some(|h, _| assert!(h.card.sent(0x20).is_empty())),
        },
        Case {
            name: "cvm: wrong PIN until 63C0 => try limit exceeded",
            setup: |h| {
                cvm_list(h, "00000000 00000000 0100");
                h.cardholder = TestCardholder::pins(&[b"9999", b"9999", b"9999", b"1234"]);
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "8000A00000",
            tsi: BASE_TSI,
            cvm: "010001",
            check: Some(|h, _| assert_eq!(h.card.sent(0x20).len(), 3)),
        },
        Case {
            name: "cvm: VERIFY answers 6983 (blocked) => try limit exceeded",
            setup: |h| {
                cvm_list(h, "00000000 00000000 0100");
                h.card.app().pin_tries = 0;
                h.cardholder = TestCardholder::pins(&[b"1234"]);
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "8000A00000",
            tsi: BASE_TSI,
            cvm: "010001",
            check: None,
        },
        Case {
            name: "cvm: PIN bypassed, apply-next bit => signature",
            setup: |h| cvm_list(h, "00000000 00000000 4100 1E00"),
            outcome: Outcome::ApprovedOffline,
            tvr: "8000080000",
            tsi: BASE_TSI,
            cvm: "1E0000",
            check: Some(|_, r| assert!(r.signature_required)),
        },
        Case {
            name: "cvm: PIN bypassed without apply-next bit => CVM failed",
            setup: |h| cvm_list(h, "00000000 00000000 0100 1E00"),
            outcome: Outcome::ApprovedOffline,
            tvr: "8000880000",
            tsi: BASE_TSI,
            cvm: "010001",
            check: Some(|_, r| assert!(!r.signature_required)),
        },
        Case {
            name: "cvm: online PIN",
            setup: |h| {
                cvm_list(h, "00000000 00000000 0200");
                h.cardholder.online = Some(PinEntry::Entered(Zeroizing::new(vec![0xEE; 8])));
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "8000040000",
            tsi: BASE_TSI,
            cvm: "020000",
            check: Some(|_, r| assert_eq!(r.online_pin.as_deref(), Some(&vec![0xEE; 8]))),
        },
        Case {
            name: "cvm: signature",
            setup: |h| cvm_list(h, "00000000 00000000 1E00"),
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: "1E0000",
            check: Some(|_, r| assert!(r.signature_required)),
        },
        Case {
            name: "cvm: cardholder ID presentation accepted [U code 20]",
            setup: |h| {
                cvm_list(h, "00000000 00000000 2000");
                h.cardholder.id_ok = true;
            },
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: "200002",
            check: None,
        },
        Case {
            name: "cvm: cardholder ID presentation refused",
            setup: |h| cvm_list(h, "00000000 00000000 2000"),
            outcome: Outcome::ApprovedOffline,
            tvr: "8000800000",
            tsi: BASE_TSI,
            cvm: "200001",
            check: None,
        },
        Case {
            name: "cvm: unrecognised method",
            setup: |h| cvm_list(h, "00000000 00000000 3A00"),
            outcome: Outcome::ApprovedOffline,
            tvr: "8000C00000",
            tsi: BASE_TSI,
            cvm: "3A0001",
            check: None,
        },
        Case {
            name: "cvm: condition 07 amount over X satisfied => PIN",
            setup: |h| {
                cvm_list(h, "00001388 00000000 0107 1F00");
                h.cardholder = TestCardholder::pins(&[b"1234"]);
            },
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: "010702",
            check: None,
        },
        Case {
            name: "cvm: condition 07 amount under X => next rule",
            setup: |h| {
                cvm_list(h, "00001388 00000000 0107 1F00");
                h.txn.amount = 1_000;
            },
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "cvm: condition 09 amount over Y, currency differs => skipped",
            setup: |h| {
                cvm_list(h, "00000000 00001388 0109 1F00");
                h.card.app().set(0x9F42, Some(&h_("0840")));
            },
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "cvm: condition 01 unattended cash => PIN",
            setup: |h| {
                cvm_list(h, "00000000 00000000 0101 1F00");
                h.cfg.terminal_type = 0x14;
                h.txn.txn_type = 0x01;
                h.cardholder = TestCardholder::pins(&[b"1234"]);
            },
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: "010102",
            check: None,
        },
        Case {
            name: "cvm: condition 01 on an attended terminal => next rule",
            setup: |h| {
                cvm_list(h, "00000000 00000000 0101 1F00");
                h.txn.txn_type = 0x01;
            },
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "cvm: condition 04 manual cash => PIN",
            setup: |h| {
                cvm_list(h, "00000000 00000000 0104 1F00");
                h.txn.txn_type = 0x01;
                h.cardholder = TestCardholder::pins(&[b"1234"]);
            },
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: "010402",
            check: None,
        },
        Case {
            name: "cvm: condition 05 purchase with cashback (AUC lacks cashback)",
            setup: |h| {
                cvm_list(h, "00000000 00000000 0105 1F00");
                h.txn.amount_other = 1_000;
                h.cardholder = TestCardholder::pins(&[b"1234"]);
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "8010000000",
            tsi: BASE_TSI,
            cvm: "010502",
            check: None,
        },
        Case {
            name: "cvm: condition 02 not cash / cashback => PIN for a purchase",
            setup: |h| {
                cvm_list(h, "00000000 00000000 0102 1F00");
                h.cardholder = TestCardholder::pins(&[b"1234"]);
            },
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: "010202",
            check: None,
        },
        Case {
            name: "cvm: condition 03 terminal supports, no PIN pad => signature",
            setup: |h| {
                cvm_list(h, "00000000 00000000 0103 1E03");
                h.cfg.capabilities = [0xE0, 0x68, 0xC8];
            },
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: "1E0300",
            check: None,
        },
        Case {
            name: "cvm: PIN required, terminal has no PIN pad",
            setup: |h| {
                cvm_list(h, "00000000 00000000 0100");
                h.cfg.capabilities = [0xE0, 0x68, 0xC8];
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "8000900000",
            tsi: BASE_TSI,
            cvm: "010001",
            check: None,
        },
        Case {
            name: "cvm: no rule condition satisfied",
            setup: |h| cvm_list(h, "00001388 00000000 0106"),
            outcome: Outcome::ApprovedOffline,
            tvr: "8000800000",
            tsi: BASE_TSI,
            cvm: "3F0001",
            check: None,
        },
        Case {
            name: "cvm: CVM list missing => ICC data missing, CVM not performed",
            setup: |h| h.card.app().set(0x8E, None),
            outcome: Outcome::ApprovedOffline,
            tvr: "A000000000",
            tsi: "2800",
            cvm: "3F0000",
            check: None,
        },
        // ---------------- Terminal risk management ----------------
        Case {
            name: "trm: amount equal to floor limit => online; unable => default TC (Y3)",
            setup: |h| h.txn.amount = 50_000,
            outcome: Outcome::ApprovedOffline,
            tvr: "8000008000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|h, r| {
                assert!(r.unable_online);
                assert_eq!(&gac_data(&h.card, 1)[..2], b"Y3");
            }),
        },
        Case {
            name: "trm: random selection below threshold, pick == target",
            setup: |h| {
                h.cfg.random_selection = true;
                h.txn.amount = 5_000;
                h.rng = SeqRng::new(&[0x1122_3344, 9]);
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "8000001000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|_, r| assert!(r.unable_online)),
        },
        Case {
            name: "trm: random selection below threshold, pick == target + 1",
            setup: |h| {
                h.cfg.random_selection = true;
                h.txn.amount = 5_000;
                h.rng = SeqRng::new(&[0x1122_3344, 10]);
            },
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "trm: biased random selection at midpoint (30 %), pick 30",
            setup: |h| {
                h.cfg.random_selection = true;
                h.txn.amount = 30_000;
                h.rng = SeqRng::new(&[0x1122_3344, 29]);
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "8000001000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "trm: biased random selection at midpoint (30 %), pick 31",
            setup: |h| {
                h.cfg.random_selection = true;
                h.txn.amount = 30_000;
                h.rng = SeqRng::new(&[0x1122_3344, 30]);
            },
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "trm: LCOL exceeded",
            setup: |h| {
                h.card.app().set(0x9F14, Some(&[2]));
                h.card.app().set(0x9F23, Some(&[4]));
                h.card.app().get_data.insert(0x9F36, h_("000A"));
                h.card.app().get_data.insert(0x9F13, h_("0007"));
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "8000004000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "trm: LCOL and UCOL exceeded",
            setup: |h| {
                h.card.app().set(0x9F14, Some(&[2]));
                h.card.app().set(0x9F23, Some(&[4]));
                h.card.app().get_data.insert(0x9F36, h_("000A"));
                h.card.app().get_data.insert(0x9F13, h_("0005"));
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "8000006000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "trm: last online ATC 9F13 missing => ICC data missing, both limits",
            setup: |h| {
                h.card.app().set(0x9F14, Some(&[2]));
                h.card.app().set(0x9F23, Some(&[4]));
                h.card.app().get_data.insert(0x9F36, h_("000A"));
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "A000006000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "trm: last online ATC zero => new card",
            setup: |h| {
                h.card.app().set(0x9F14, Some(&[2]));
                h.card.app().set(0x9F23, Some(&[40]));
                h.card.app().get_data.insert(0x9F36, h_("000A"));
                h.card.app().get_data.insert(0x9F13, h_("0000"));
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "8008004000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        // ---------------- Terminal action analysis ----------------
        Case {
            name: "taa: TAC denial matches (expired) => AAC",
            setup: |h| {
                h.card.app().set(0x5F24, Some(&h_("251231")));
                h.cfg.tac_denial = [0x00, 0x40, 0, 0, 0];
            },
            outcome: Outcome::DeclinedOffline,
            tvr: "8040000000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|h, _| assert_eq!(h.card.sent(0xAE)[0][2], 0x00)),
        },
        Case {
            name: "taa: IAC denial matches (expired) => AAC",
            setup: |h| {
                h.card.app().set(0x5F24, Some(&h_("251231")));
                h.card.app().set(0x9F0E, Some(&h_("0040000000")));
            },
            outcome: Outcome::DeclinedOffline,
            tvr: "8040000000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "taa: IAC online matches (floor) => ARQC, issuer approves",
            setup: |h| {
                online_approve(h);
                h.cfg.tac_online = [0; 5];
                h.card.app().set(0x9F0F, Some(&h_("0000008000")));
            },
            outcome: Outcome::ApprovedOnline,
            tvr: "8000008000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|h, _| {
                assert_eq!(h.card.sent(0xAE)[0][2], 0x80);
                assert_eq!(h.card.sent(0xAE)[1][2], 0x40);
                assert_eq!(h.issuer.requests.len(), 1);
            }),
        },
        Case {
            name: "taa: TAC online and IAC online clear => TC despite floor bit",
            setup: |h| {
                h.txn.amount = 50_000;
                h.cfg.tac_online = [0; 5];
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "8000008000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|h, _| assert_eq!(h.card.sent(0xAE).len(), 1)),
        },
        Case {
            name: "taa: offline-only terminal, TAC default matches => AAC",
            setup: |h| {
                h.txn.amount = 50_000;
                h.cfg.online_capable = false;
                h.cfg.tac_default = [0, 0, 0, 0x80, 0];
            },
            outcome: Outcome::DeclinedOffline,
            tvr: "8000008000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "taa: offline-only terminal, defaults clear => TC",
            setup: |h| {
                h.txn.amount = 50_000;
                h.cfg.online_capable = false;
            },
            outcome: Outcome::ApprovedOffline,
            tvr: "8000008000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "taa: unable to go online, IAC default matches => AAC (Z3)",
            setup: |h| {
                h.txn.amount = 50_000;
                h.card.app().set(0x9F0D, Some(&h_("0000008000")));
            },
            outcome: Outcome::DeclinedOffline,
            tvr: "8000008000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|h, r| {
                assert!(r.unable_online);
                assert_eq!(&gac_data(&h.card, 1)[..2], b"Z3");
                assert_eq!(h.card.sent(0xAE)[1][2], 0x00);
            }),
        },
        Case {
            name: "taa: IAC online absent => defaults to all bits (ODA not performed)",
            setup: |h| {
                h.card.app().set(0x9F0F, None);
                h.issuer = FixedIssuer::approve();
            },
            outcome: Outcome::ApprovedOnline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "taa: merchant forced online => ARQC",
            setup: |h| {
                h.txn.force_online = true;
                h.issuer = FixedIssuer::approve();
            },
            outcome: Outcome::ApprovedOnline,
            tvr: "8000000800",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        // ---------------- GENERATE AC ----------------
        Case {
            name: "gac: TC requested, card returns AAC (lower)",
            setup: |h| h.card.app().gac1 = GacMode::Cid(0x00),
            outcome: Outcome::DeclinedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "gac: TC requested, card returns ARQC (lower) => online",
            setup: |h| {
                h.card.app().gac1 = GacMode::Cid(0x80);
                h.issuer = FixedIssuer::approve();
            },
            outcome: Outcome::ApprovedOnline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "gac: ARQC requested, card returns TC (higher) => terminate",
            setup: |h| {
                h.txn.force_online = true;
                h.card.app().gac1 = GacMode::Cid(0x40);
            },
            outcome: Outcome::Terminated(Termination::CryptogramHigherThanRequested),
            tvr: "8000000800",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "gac: AAC at GAC1 when ARQC requested",
            setup: |h| {
                h.txn.force_online = true;
                h.card.app().gac1 = GacMode::Cid(0x00);
            },
            outcome: Outcome::DeclinedOffline,
            tvr: "8000000800",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|h, _| assert_eq!(h.card.sent(0xAE).len(), 1)),
        },
        Case {
            name: "gac: CID advice bit",
            setup: |h| h.card.app().gac1 = GacMode::Cid(0x48),
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|_, r| assert!(r.advice)),
        },
        Case {
            name: "gac: reserved CID C0 => terminate",
            setup: |h| h.card.app().gac1 = GacMode::Cid(0xC0),
            outcome: Outcome::Terminated(Termination::InvalidCid),
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "gac: GAC1 answered 6985 => terminate",
            setup: |h| h.card.app().gac1 = GacMode::Sw(0x6985),
            outcome: Outcome::Terminated(Termination::CardStatus {
                step: Step::FirstGenerateAc,
                sw: 0x6985,
            }),
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "gac: ARQC at GAC2 => terminate",
            setup: |h| {
                online_approve(h);
                h.card.app().gac2 = GacMode::Cid(0x80);
            },
            outcome: Outcome::Terminated(Termination::InvalidCid),
            tvr: "8000008000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "gac: response format 2 (77)",
            setup: |h| h.card.app().gac_format2 = true,
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|_, r| assert_eq!(r.card.get(Tag::CID), Some(&[0x40][..]))),
        },
        // ---------------- Issuer ----------------
        Case {
            name: "issuer: ARPC rejected by EXTERNAL AUTHENTICATE",
            setup: |h| {
                approve_with_91(h);
                h.card.app().ext_auth_sw = 0x6300;
            },
            outcome: Outcome::ApprovedOnline,
            tvr: "8000008040",
            tsi: "7800",
            cvm: NO_CVM,
            check: Some(|h, _| {
                assert_eq!(
                    h.card.sent(0x82),
                    vec![h_("008200000A 0102030405060708 3030")]
                );
            }),
        },
        Case {
            name: "issuer: ARPC accepted by EXTERNAL AUTHENTICATE",
            setup: approve_with_91,
            outcome: Outcome::ApprovedOnline,
            tvr: "8000008000",
            tsi: "7800",
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "issuer: 91 passed in CDOL2, no EXTERNAL AUTHENTICATE",
            setup: |h| {
                approve_with_91(h);
                h.card.app().set(0x8D, Some(&h_("8A02 910A 9505 9F3704")));
            },
            outcome: Outcome::ApprovedOnline,
            tvr: "8000008000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|h, _| {
                assert!(h.card.sent(0x82).is_empty());
                assert_eq!(
                    &gac_data(&h.card, 1)[2..12],
                    &h_("0102030405060708 3030")[..]
                );
            }),
        },
        Case {
            name: "issuer: AIP without issuer authentication => 91 not sent",
            setup: |h| {
                approve_with_91(h);
                h.card.app().aip = [0x18, 0x00];
            },
            outcome: Outcome::ApprovedOnline,
            tvr: "8000008000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|h, _| assert!(h.card.sent(0x82).is_empty())),
        },
        Case {
            name: "issuer: declines (ARC 05) => AAC at GAC2",
            setup: |h| {
                online_approve(h);
                h.issuer.response.as_mut().unwrap().arc = *b"05";
            },
            outcome: Outcome::DeclinedOnline,
            tvr: "8000008000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|h, _| assert_eq!(h.card.sent(0xAE)[1][2], 0x00)),
        },
        Case {
            name: "issuer: approves, card AAC at GAC2",
            setup: |h| {
                online_approve(h);
                h.card.app().gac2 = GacMode::Cid(0x00);
            },
            outcome: Outcome::DeclinedOnline,
            tvr: "8000008000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "issuer: scripts 71 before and 72 after GAC2, DF31 results",
            setup: |h| {
                let s71 = t(
                    0x71,
                    &[
                        t(0x9F18, &h_("11223344")),
                        t(0x86, &h_("841E000004 AABBCCDD")),
                    ]
                    .concat(),
                );
                let s72 = t(
                    0x72,
                    &[
                        t(0x9F18, &h_("55667788")),
                        t(0x86, &h_("04DA9F7A05 01AABBCCDD")),
                    ]
                    .concat(),
                );
                scripts(h, [s71, s72].concat());
            },
            outcome: Outcome::ApprovedOnline,
            tvr: "8000008000",
            tsi: "6C00",
            cvm: NO_CVM,
            check: Some(|h, r| {
                assert_eq!(
                    r.script_results,
                    vec![
                        [0x20, 0x11, 0x22, 0x33, 0x44],
                        [0x20, 0x55, 0x66, 0x77, 0x88]
                    ]
                );
                let order: Vec<u8> = h
                    .card
                    .commands
                    .iter()
                    .map(|c| c[1])
                    .filter(|i| [0xAE, 0x1E, 0xDA].contains(i))
                    .collect();
                assert_eq!(order, vec![0xAE, 0x1E, 0xAE, 0xDA]);
                assert_eq!(
                    r.terminal.get(Tag::SCRIPT_RESULTS),
                    Some(&h_("2011223344 2055667788")[..])
                );
            }),
        },
        Case {
            name: "issuer: script 71 fails at command 2 => rest of template skipped",
            setup: |h| {
                let cmds: Vec<u8> = (0..3)
                    .flat_map(|i| t(0x86, &[0x84, 0x1E, 0x00, i, 0x04, 1, 2, 3, 4]))
                    .collect();
                let s71 = t(0x71, &[t(0x9F18, &h_("01020304")), cmds].concat());
                scripts(h, s71);
                h.card.app().script_sw = [0x9000, 0x6A80].into_iter().collect();
            },
            outcome: Outcome::ApprovedOnline,
            tvr: "8000008020",
            tsi: "6C00",
            cvm: NO_CVM,
            check: Some(|h, r| {
                assert_eq!(r.script_results, vec![[0x12, 1, 2, 3, 4]]);
                assert_eq!(h.card.sent(0x1E).len(), 2);
            }),
        },
        Case {
            name: "issuer: script 72 fails at command 1",
            setup: |h| {
                let s72 = t(0x72, &t(0x86, &h_("04DA9F7A05 01AABBCCDD")));
                scripts(h, s72);
                h.card.app().script_sw = [0x6985].into_iter().collect();
            },
            outcome: Outcome::ApprovedOnline,
            tvr: "8000008010",
            tsi: "6C00",
            cvm: NO_CVM,
            check: Some(|_, r| assert_eq!(r.script_results, vec![[0x11, 0, 0, 0, 0]])),
        },
        Case {
            name: "issuer: script over 128 bytes => not performed",
            setup: |h| {
                let mut cmd = h_("04DA9F7A7C");
                cmd.extend([0u8; 124]);
                let s71 = t(0x71, &[t(0x9F18, &h_("0A0B0C0D")), t(0x86, &cmd)].concat());
                scripts(h, s71);
            },
            outcome: Outcome::ApprovedOnline,
            tvr: "8000008020",
            tsi: "6C00",
            cvm: NO_CVM,
            check: Some(|h, r| {
                assert_eq!(r.script_results, vec![[0x00, 0x0A, 0x0B, 0x0C, 0x0D]]);
                assert!(h.card.sent(0xDA).is_empty());
            }),
        },
        // ---------------- Electronic cash ----------------
        Case {
            name: "ec: offline purchase within balance (9F7A=1, 9F7B as floor)",
            setup: |h| {
                h.cfg.ec_support = true;
                h.cfg.floor_limit = 0;
                h.txn.amount = 5_000;
            },
            outcome: Outcome::ApprovedOffline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|h, r| {
                assert!(r.ec_attempted);
                assert_eq!(h.card.ec_balance(), 5_000);
                assert_eq!(r.card.get(Tag::EC_AUTH_CODE), Some(&b"ECC001"[..]));
                assert_eq!(h.card.sent(0xA8)[0][9], 0x01, "9F7A = 01 in the PDOL data");
            }),
        },
        Case {
            name: "ec: amount above the EC single-transaction limit 9F78 => online",
            setup: |h| {
                h.cfg.ec_support = true;
                h.txn.amount = 5_000;
                h.card.app().ec_single_limit = 2_000;
                h.issuer = FixedIssuer::approve();
            },
            outcome: Outcome::ApprovedOnline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|h, _| assert_eq!(h.card.ec_balance(), 10_000)),
        },
        Case {
            name: "ec: balance below amount => online",
            setup: |h| {
                h.cfg.ec_support = true;
                h.txn.amount = 5_000;
                h.card.app().ec_balance = 3_000;
                h.issuer = FixedIssuer::approve();
            },
            outcome: Outcome::ApprovedOnline,
            tvr: BASE_TVR,
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|h, _| assert_eq!(h.card.ec_balance(), 3_000)),
        },
        Case {
            name: "ec: amount above the EC terminal limit 9F7B => not EC, floor applies",
            setup: |h| {
                h.cfg.ec_support = true;
                h.cfg.ec_terminal_limit = 1_000;
                h.cfg.floor_limit = 0;
                h.txn.amount = 5_000;
                h.issuer = FixedIssuer::approve();
            },
            outcome: Outcome::ApprovedOnline,
            tvr: "8000008000",
            tsi: BASE_TSI,
            cvm: NO_CVM,
            check: Some(|h, r| {
                assert!(!r.ec_attempted);
                assert_eq!(h.card.sent(0xA8)[0][9], 0x00);
            }),
        },
    ];
    v.retain(|c| !c.name.is_empty());
    v
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[test]
fn conformance_table() {
    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        let mut h = Harness::default();
        (case.setup)(&mut h);
        let r = h.run();
        let got = (r.outcome, hex(&r.tvr), hex(&r.tsi), hex(&r.cvm_results));
        let want = (
            case.outcome,
            case.tvr.to_string(),
            case.tsi.to_string(),
            case.cvm.to_string(),
        );
        if got != want {
            failures.push(format!("{}: got {got:?}, want {want:?}", case.name));
            continue;
        }
        if let Some(check) = case.check {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&h, &r)));
            if outcome.is_err() {
                failures.push(format!("{}: row check failed", case.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!("{} conformance rows passed", cases.len());
}

#[test]
fn field55_carries_the_acquirer_set() {
    let mut h = Harness::default();
    online_approve(&mut h);
    let r = h.run();
    let sent = &h.issuer.requests[0];
    for tag in [
        0x9F26u32, 0x9F27, 0x9F10, 0x9F37, 0x9F36, 0x95, 0x9A, 0x9C, 0x9F02, 0x5F2A, 0x82, 0x9F1A,
        0x9F03, 0x9F33, 0x9F34, 0x9F35, 0x9F1E, 0x84, 0x9F09, 0x9F41,
    ] {
        assert!(
            sscard_apdu::tlv::ber::find(sent, tag).unwrap().is_some(),
            "field 55 lacks {tag:X}"
        );
    }
    assert_eq!(
        sscard_apdu::tlv::ber::find(sent, 0x9F27).unwrap(),
        Some(&[0x80][..])
    );
    assert_eq!(
        sscard_apdu::tlv::ber::find(&r.field55, 0x9F27).unwrap(),
        Some(&[0x40][..])
    );
    assert_eq!(
        sscard_apdu::tlv::ber::find(&r.field55, 0x8A).unwrap(),
        Some(&b"00"[..])
    );
}

fn selected_card() -> (FakeCard, sscard_pboc::select::Selected) {
    let mut card = FakeCard::debit();
    let app = card.app();
    app.get_data.insert(0x9F4D, h("0B0A"));
    app.get_data.insert(
        0x9F4F,
        h("9A03 9F2103 9F0206 9F0306 9F1A02 5F2A02 9F4E14 9C01 9F3602"),
    );
    app.get_data.insert(0xDF4D, h("0C0A"));
    app.get_data
        .insert(0xDF4F, h("9A03 9F2103 9F1A02 9F4E14 9C01 9F3602"));
    app.get_data.insert(0x9F77, h("000000015000"));
    app.get_data.insert(0x9F6D, h("000000001500"));
    app.get_data.insert(0x9F51, h("0156"));
    app.get_data.insert(0x9F13, h("0003"));
    app.get_data.insert(0x9F36, h("0012"));
    let shop = b"SSCARD TEST SHOP    ";
    card.transaction_log = vec![
        [
            h("260101 120000 000000001000 000000000000 0156 0156"),
            shop.to_vec(),
            h("00 0012"),
        ]
        .concat(),
        [
            h("251231 235959 000000000250 000000000000 0156 0156"),
            shop.to_vec(),
            h("00 0011"),
        ]
        .concat(),
    ];
    card.load_log = vec![[
        h("9F79 000000002000 000000005000 260101 120000 0156"),
        shop.to_vec(),
        h("63 0013"),
    ]
    .concat()];
    let selected = {
        let mut ex = sscard_apdu::Exchange::new(&mut card);
        sscard_pboc::select::select_application(&mut ex, &h(DEBIT))
            .unwrap()
            .unwrap()
    };
    (card, selected)
}

#[test]
fn ec_transaction_log_records_split_by_9f4f() {
    let (mut card, selected) = selected_card();
    let log = sscard_pboc::ec::read_transaction_log(
        &mut sscard_apdu::Exchange::new(&mut card),
        Some(&selected.fci),
    )
    .unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].record, 1);
    assert_eq!(log[0].get(Tag::AMOUNT), Some(&h("000000001000")[..]));
    assert_eq!(
        log[0].get(Tag::MERCHANT_NAME),
        Some(&b"SSCARD TEST SHOP    "[..])
    );
    assert_eq!(log[1].get(Tag::ATC), Some(&h("0011")[..]));
    assert_eq!(log[1].get(Tag::TXN_DATE), Some(&h("251231")[..]));
    assert_eq!(log[0].fields.len(), 9);
    // The reader stopped at 6A83 after record 2, reading SFI 11 (P2 = 5C).
    let reads: Vec<_> = card
        .sent(0xB2)
        .into_iter()
        .filter(|c| c[3] == 0x5C)
        .collect();
    assert_eq!(reads.len(), 3);
}

#[test]
fn ec_transaction_log_short_record_is_an_error() {
    let (mut card, selected) = selected_card();
    card.transaction_log[1].truncate(40);
    let err = sscard_pboc::ec::read_transaction_log(
        &mut sscard_apdu::Exchange::new(&mut card),
        Some(&selected.fci),
    )
    .unwrap_err();
    assert_eq!(
        err,
        sscard_pboc::ec::EcError::RecordTooShort {
            record: 2,
            expected: 45,
            actual: 40
        }
    );
}

#[test]
fn ec_load_log_prefix_and_fields() {
    let (mut card, selected) = selected_card();
    let layout = sscard_pboc::ec::LoadLogLayout::default();
    let log = sscard_pboc::ec::read_load_log(
        &mut sscard_apdu::Exchange::new(&mut card),
        Some(&selected.fci),
        &layout,
    )
    .unwrap();
    assert_eq!(log.len(), 1);
    let r = &log[0];
    assert_eq!((r.p1, r.p2), (Some(0x9F), Some(0x79)));
    assert_eq!(
        (r.balance_before, r.balance_after),
        (Some(2_000), Some(5_000))
    );
    assert_eq!(r.fields[4], (Tag::TXN_TYPE, vec![0x63]));
    assert_eq!(r.fields.len(), 6);
}

#[test]
fn ec_info_by_get_data() {
    let (mut card, _) = selected_card();
    let info = sscard_pboc::ec::read_info(&mut sscard_apdu::Exchange::new(&mut card)).unwrap();
    assert_eq!(info.balance, Some(10_000));
    assert_eq!(info.single_limit, Some(20_000));
    assert_eq!(info.balance_limit, Some(15_000));
    assert_eq!(info.reset_threshold, Some(1_500));
    assert_eq!(info.currency, Some([0x01, 0x56]));
    assert_eq!(info.last_online_atc, Some(3));
    assert_eq!(info.atc, Some(0x12));
    assert_eq!(info.pin_tries, Some(3));
}

#[test]
fn ec_log_without_entry() {
    let mut card = FakeCard::debit();
    let selected = sscard_pboc::select::select_application(
        &mut sscard_apdu::Exchange::new(&mut card),
        &h(DEBIT),
    )
    .unwrap()
    .unwrap();
    let err = sscard_pboc::ec::read_transaction_log(
        &mut sscard_apdu::Exchange::new(&mut card),
        Some(&selected.fci),
    )
    .unwrap_err();
    assert_eq!(err, sscard_pboc::ec::EcError::NoLogEntry);
}

fn qpboc_cases() -> Vec<Case> {
    vec![
        Case {
            name: "qpboc: PPSE only, TC, fDDA passes => offline approval",
            setup: |_| {},
            outcome: Outcome::ApprovedOffline,
            tvr: "0000000000",
            tsi: "A000",
            cvm: NO_CVM,
            check: Some(|h, r| {
                assert_eq!(h.oda.calls, vec!["fdda"]);
                assert_eq!(r.aid, h_(DEBIT));
                assert!(h
                    .card
                    .sent(0xA4)
                    .iter()
                    .any(|c| c[5..].starts_with(b"2PAY.SYS.DDF01")));
                // TTQ as configured, no online/CVM bits for 10.00.
                assert_eq!(&h.card.sent(0xA8)[0][7..11], &h_("26000080")[..]);
            }),
        },
        Case {
            name: "qpboc: fDDA fails, CTQ online-if-ODA-fails => online",
            setup: |h| {
                h.oda.verdict = sscard_pboc::OdaVerdict::Failed;
                h.issuer = FixedIssuer::approve();
            },
            outcome: Outcome::ApprovedOnline,
            tvr: "0800000000",
            tsi: "A000",
            cvm: NO_CVM,
            check: Some(|h, _| assert_eq!(h.issuer.requests.len(), 1)),
        },
        Case {
            name: "qpboc: fDDA fails, CTQ switch-interface => use contact",
            setup: |h| {
                h.oda.verdict = sscard_pboc::OdaVerdict::Failed;
                h.card.qpboc_gpo = Some(qpboc_gpo(0x90, "1000"));
            },
            outcome: Outcome::Terminated(Termination::UseContactInterface),
            tvr: "0800000000",
            tsi: "A000",
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "qpboc: fDDA fails, CTQ without fallback bits => decline",
            setup: |h| {
                h.oda.verdict = sscard_pboc::OdaVerdict::Failed;
                h.card.qpboc_gpo = Some(qpboc_gpo(0x90, "0000"));
            },
            outcome: Outcome::DeclinedOffline,
            tvr: "0800000000",
            tsi: "A000",
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "qpboc: no verifier (fDDA not performed), CTQ online => online",
            setup: |h| {
                h.use_no_oda = true;
                h.issuer = FixedIssuer::approve();
            },
            outcome: Outcome::ApprovedOnline,
            tvr: "8000000000",
            tsi: "2000",
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "qpboc: amount over contactless floor => TTQ online bit, ARQC",
            setup: |h| {
                h.txn.amount = 50_000;
                h.card.qpboc_gpo = Some(qpboc_gpo(0xA0, "2000"));
                h.issuer = FixedIssuer::approve();
            },
            outcome: Outcome::ApprovedOnline,
            tvr: "0000000000",
            tsi: "2000",
            cvm: "3F0000",
            check: Some(|h, _| {
                assert_eq!(&h.card.sent(0xA8)[0][7..11], &h_("26C00080")[..]);
                assert!(h.oda.calls.is_empty());
            }),
        },
        Case {
            name: "qpboc: ARQC, issuer declines",
            setup: |h| {
                h.card.qpboc_gpo = Some(qpboc_gpo(0xA0, "2000"));
                h.issuer = FixedIssuer::approve();
                h.issuer.response.as_mut().unwrap().arc = *b"51";
            },
            outcome: Outcome::DeclinedOnline,
            tvr: "0000000000",
            tsi: "2000",
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "qpboc: ARQC, issuer unreachable => decline",
            setup: |h| h.card.qpboc_gpo = Some(qpboc_gpo(0xA0, "2000")),
            outcome: Outcome::DeclinedOffline,
            tvr: "0000000000",
            tsi: "2000",
            cvm: NO_CVM,
            check: Some(|_, r| assert!(r.unable_online)),
        },
        Case {
            name: "qpboc: AAC from GPO => decline",
            setup: |h| h.card.qpboc_gpo = Some(qpboc_gpo(0x80, "2000")),
            outcome: Outcome::DeclinedOffline,
            tvr: "0000000000",
            tsi: "2000",
            cvm: NO_CVM,
            check: None,
        },
        Case {
            name: "qpboc: amount reaches the contactless limit DF20",
            setup: |h| h.txn.amount = 500_000,
            outcome: Outcome::Terminated(Termination::ContactlessLimitExceeded),
            tvr: "0000000000",
            tsi: "0000",
            cvm: "3F0000",
            check: Some(|h, _| assert!(h.card.commands.is_empty())),
        },
        Case {
            name: "qpboc: CVM limit reached, CTQ online PIN => online PIN",
            setup: |h| {
                h.txn.amount = 30_000;
                h.card.qpboc_gpo = Some(qpboc_gpo(0xA0, "A000"));
                h.cfg.ttq = [0x26, 0x00, 0x00, 0x80];
                h.cardholder.online = Some(PinEntry::Entered(Zeroizing::new(vec![0xEE; 8])));
                h.issuer = FixedIssuer::approve();
            },
            outcome: Outcome::ApprovedOnline,
            tvr: "0000040000",
            tsi: "6000",
            cvm: "020000",
            check: Some(|h, _| assert_eq!(h.card.sent(0xA8)[0][8], 0x40)),
        },
        Case {
            name: "qpboc: CTQ signature",
            setup: |h| h.card.qpboc_gpo = Some(qpboc_gpo(0x90, "4000")),
            outcome: Outcome::ApprovedOffline,
            tvr: "0000000000",
            tsi: "E000",
            cvm: "1E0000",
            check: Some(|_, r| assert!(r.signature_required)),
        },
        Case {
            name: "qpboc: PDOL without TTQ => use contact interface",
            setup: |h| h.card.app().pdol = Some(h_(CONTACT_PDOL)),
            outcome: Outcome::Terminated(Termination::UseContactInterface),
            tvr: "0000000000",
            tsi: "0000",
            cvm: "3F0000",
            check: Some(|h, _| assert!(h.card.sent(0xA8).is_empty())),
        },
        Case {
            name: "qpboc: GPO without cryptogram (contact path) => use contact interface",
            setup: |h| h.card.qpboc_gpo = None,
            outcome: Outcome::Terminated(Termination::UseContactInterface),
            tvr: "0000000000",
            tsi: "0000",
            cvm: "3F0000",
            check: None,
        },
        Case {
            name: "qpboc: PPSE absent => no application (no AID-list fallback)",
            setup: |h| h.card.ppse = false,
            outcome: Outcome::Terminated(Termination::NoApplication),
            tvr: "0000000000",
            tsi: "0000",
            cvm: "3F0000",
            check: None,
        },
    ]
}

#[test]
fn qpboc_table() {
    let cases = qpboc_cases();
    let mut failures = Vec::new();
    for case in &cases {
        let mut h = Harness::qpboc();
        (case.setup)(&mut h);
        let r = h.run_qpboc();
        let got = (r.outcome, hex(&r.tvr), hex(&r.tsi), hex(&r.cvm_results));
        let want = (
            case.outcome,
            case.tvr.to_string(),
            case.tsi.to_string(),
            case.cvm.to_string(),
        );
        if got != want {
            failures.push(format!("{}: got {got:?}, want {want:?}", case.name));
            continue;
        }
        if let Some(check) = case.check {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&h, &r)));
            if outcome.is_err() {
                failures.push(format!("{}: row check failed", case.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!("{} qPBOC rows passed", cases.len());
}

#[test]
fn read_application_without_transaction() {
    let mut card = FakeCard::debit();
    let r = sscard_pboc::contact::read_application(
        &mut sscard_apdu::Exchange::new(&mut card),
        &config(),
        &txn(0),
        &mut SeqRng::default(),
    )
    .unwrap();
    assert_eq!(r.termination, None);
    assert_eq!(r.aid, h(DEBIT));
    assert_eq!(r.card.get(Tag::PAN), Some(&h(PAN)[..]));
    assert_eq!(r.card.get(Tag::APP_LABEL), Some(&b"PBOC DEBIT"[..]));
    assert!(card.sent(0xAE).is_empty());
    let mut card = FakeCard::debit();
    card.app().set(0x8D, None);
    card.app().afl = h("08010300");
    let r = sscard_pboc::contact::read_application(
        &mut sscard_apdu::Exchange::new(&mut card),
        &config(),
        &txn(0),
        &mut SeqRng::default(),
    )
    .unwrap();
    assert_eq!(
        r.termination,
        Some(Termination::RecordNotFound { sfi: 1, record: 3 })
    );
}

#[test]
fn step_by_step_typestates() {
    use sscard_pboc::contact::{Cryptogram, FirstAc, Stopped, Transaction};
    use sscard_pboc::traits::NoOda;
    let mut card = FakeCard::debit();
    let cfg = config();
    let mut ex = sscard_apdu::Exchange::new(&mut card);
    let (mut rng, mut ch) = (SeqRng::default(), TestCardholder::default());
    let tx = txn(50_000);
    let t = Transaction::select(&mut ex, &cfg, &tx, &mut rng, &mut ch).unwrap();
    assert_eq!(t.aid(), &h(DEBIT)[..]);
    let t = t.initiate(&mut ch).unwrap().read_records().unwrap();
    assert_eq!(t.card_data().get(Tag::PAN), Some(&h(PAN)[..]));
    let t = t
        .authenticate(&mut NoOda)
        .unwrap()
        .verify_cardholder(&mut ch)
        .unwrap()
        .manage_risk(&mut rng)
        .unwrap();
    assert_eq!(t.tvr(), [0x80, 0, 0, 0x80, 0]);
    assert_eq!(t.tsi(), [0x48, 0]);
    assert_eq!(t.action_analysis(), Cryptogram::Arqc);
    let FirstAc::Online(mut online) = t.first_ac(&mut NoOda).unwrap() else {
        panic!("expected an ARQC");
    };
    let f55 = online.field55();
    assert_eq!(
        sscard_apdu::tlv::ber::find(&f55, 0x9F27).unwrap(),
        Some(&[0x80][..])
    );
    let r = online
        .complete(&mut FixedIssuer::approve(), &mut NoOda)
        .unwrap();
    assert_eq!(r.outcome, Outcome::ApprovedOnline);

    // A step that ends the transaction hands back the result so far.
    let mut card = FakeCard::debit();
    card.app().set(0x5A, None);
    let mut ex = sscard_apdu::Exchange::new(&mut card);
    let t = Transaction::select(&mut ex, &cfg, &tx, &mut rng, &mut ch)
        .unwrap()
        .initiate(&mut ch)
        .unwrap();
    match t.read_records() {
        Err(Stopped::Ended(r)) => {
            assert_eq!(
                r.outcome,
                Outcome::Terminated(Termination::MissingMandatory(Tag::PAN))
            );
            assert_eq!(r.aid, h(DEBIT));
        }
        _ => panic!("expected a termination"),
    }
}
