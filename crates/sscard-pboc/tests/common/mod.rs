//! A programmable fake PBOC card for the kernel tests (terminal-side test double; the
//! real applet lives in sscard-emu). It answers SELECT (PSE, PPSE, AIDs with partial
//! selection), READ RECORD, GPO, GET DATA, VERIFY, INTERNAL/EXTERNAL AUTHENTICATE,
//! GENERATE AC (real PBOC cryptograms when keys are set, EC offline purchases) and
//! issuer-script commands; `overrides` answer matching command prefixes first.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    missing_docs
)]

use std::collections::{BTreeMap, VecDeque};

use sscard_apdu::{Exchange, Transport, TransportErrorKind};
use sscard_crypto::keys::AnyKey;
use sscard_emv::cryptogram::{self, AcInput, Family};
use sscard_emv::{Dol, Tag};
use sscard_pboc::tlvdb::push_tlv;
use sscard_pboc::traits::*;
use sscard_pboc::{IssuerResponse, TerminalConfig, TransactionData};
use zeroize::Zeroizing;

pub fn h(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

pub fn t(tag: u32, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    push_tlv(Tag(tag), value, &mut out);
    out
}

pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

pub const DEBIT: &str = "A000000333010101";
pub const CREDIT: &str = "A000000333010102";
pub const CONTACT_PDOL: &str = "9F1A02 9F7A01 9F0206 5F2A02 9F4E14 DF6901";
pub const CDOL1: &str = "9F0206 9F0306 9F1A02 9505 5F2A02 9A03 9F2103 9C01 9F3704";
pub const CDOL2: &str = "8A02 9F0206 9F0306 9F1A02 9505 5F2A02 9A03 9F2103 9C01 9F3704";
pub const PAN: &str = "6228000100001117";

#[derive(Clone, Debug)]
pub enum GacMode {
    /// Answer the requested type (EC rules may turn TC into ARQC).
    Follow,
    /// Answer this CID.
    Cid(u8),
    /// Answer this status word.
    Sw(u16),
}

#[derive(Clone, Debug)]
pub struct FakeApp {
    pub aid: Vec<u8>,
    pub label: Vec<u8>,
    pub priority: Option<u8>,
    pub blocked: bool,
    pub pdol: Option<Vec<u8>>,
    pub gpo_sw: Option<u16>,
    pub gpo_format2: bool,
    pub gpo_extra: Vec<u8>,
    pub aip: [u8; 2],
    pub afl: Vec<u8>,
    pub records: BTreeMap<(u8, u8), Vec<u8>>,
    pub get_data: BTreeMap<u16, Vec<u8>>,
    pub fci_extra: Vec<u8>,
    pub atc: u16,
    pub gac1: GacMode,
    pub gac2: GacMode,
    pub gac_format2: bool,
    pub keys: Option<(AnyKey, AnyKey)>,
    pub ext_auth_sw: u16,
    pub script_sw: VecDeque<u16>,
    pub pin: Vec<u8>,
    pub pin_tries: u8,
    pub ec_balance: u64,
    pub ec_single_limit: u64,
}

impl FakeApp {
    pub fn debit() -> Self {
        let mut records = BTreeMap::new();
        records.insert(
            (1, 1),
            t(
                0x70,
                &cat(&[
                    &t(0x5A, &h(PAN)),
                    &t(0x5F24, &h("301231")),
                    &t(0x5F25, &h("200101")),
                    &t(0x5F28, &h("0156")),
                    &t(0x9F07, &h("FF00")),
                    &t(0x9F08, &h("0030")),
                    &t(0x5F34, &h("01")),
                ]),
            ),
        );
        records.insert(
            (1, 2),
            t(
                0x70,
                &cat(&[
                    &t(0x8C, &h(CDOL1)),
                    &t(0x8D, &h(CDOL2)),
                    &t(0x8E, &h("00000000 00000000 1F00")),
                ]),
            ),
        );
        records.insert(
            (2, 1),
            t(
                0x70,
                &cat(&[
                    &t(0x9F0D, &h("0000000000")),
                    &t(0x9F0E, &h("0000000000")),
                    &t(0x9F0F, &h("0000000000")),
                    &t(0x9F42, &h("0156")),
                    &t(0x9F62, &h("00")),
                    &t(0x9F61, b"110101199001011234"),
                ]),
            ),
        );
        let mut get_data = BTreeMap::new();
        get_data.insert(0x9F17, h("03"));
        Self {
            aid: h(DEBIT),
            label: b"PBOC DEBIT".to_vec(),
            priority: Some(1),
            blocked: false,
            pdol: Some(h(CONTACT_PDOL)),
            gpo_sw: None,
            gpo_format2: false,
            gpo_extra: Vec::new(),
            aip: [0x1C, 0x00],
            afl: h("08010201 10010100"),
            records,
            get_data,
            fci_extra: Vec::new(),
            atc: 0x0012,
            gac1: GacMode::Follow,
            gac2: GacMode::Follow,
            gac_format2: false,
            keys: None,
            ext_auth_sw: 0x9000,
            script_sw: VecDeque::new(),
            pin: b"1234".to_vec(),
            pin_tries: 3,
            ec_balance: 10_000,
            ec_single_limit: 20_000,
        }
    }

    pub fn credit() -> Self {
        let mut app = Self::debit();
        app.aid = h(CREDIT);
        app.label = b"PBOC CREDIT".to_vec();
        app.priority = Some(2);
        app
    }

    /// Replaces the data object `tag` in whichever record holds it (or adds it to
    /// record SFI 2 #1); `None` removes it.
    pub fn set(&mut self, tag: u32, value: Option<&[u8]>) {
        for rec in self.records.values_mut() {
            if rec.first() != Some(&0x70) {
                continue;
            }
            let body = sscard_apdu::tlv::ber::parse(rec).unwrap().0.value.to_vec();
            let mut found = false;
            let mut out = Vec::new();
            for o in sscard_apdu::tlv::ber::iter(&body) {
                let o = o.unwrap();
                if o.tag == tag {
                    found = true;
                    if let Some(v) = value {
                        out.extend(t(tag, v));
                    }
                } else {
                    out.extend(t(o.tag, o.value));
                }
            }
            if found {
                *rec = t(0x70, &out);
                return;
            }
        }
        if let Some(v) = value {
            let rec = self.records.entry((2, 1)).or_insert_with(|| t(0x70, &[]));
            let body = sscard_apdu::tlv::ber::parse(rec).unwrap().0.value.to_vec();
            *rec = t(0x70, &cat(&[&body, &t(tag, v)]));
        }
    }

    fn fci(&self) -> Vec<u8> {
        let mut a5 = t(0x50, &self.label);
        if let Some(p) = self.priority {
            a5.extend(t(0x87, &[p]));
        }
        if let Some(pdol) = &self.pdol {
            a5.extend(t(0x9F38, pdol));
        }
        a5.extend(self.fci_extra.clone());
        t(0x6F, &cat(&[&t(0x84, &self.aid), &t(0xA5, &a5)]))
    }

    fn dir_entry(&self) -> Vec<u8> {
        let mut e = cat(&[&t(0x4F, &self.aid), &t(0x50, &self.label)]);
        if let Some(p) = self.priority {
            e.extend(t(0x87, &[p]));
        }
        t(0x61, &e)
    }
}

#[derive(Clone, Debug)]
pub struct FakeCard {
    pub pse: bool,
    pub pse_blocked: bool,
    pub ppse: bool,
    pub apps: Vec<FakeApp>,
    pub selected: Option<usize>,
    pub commands: Vec<Vec<u8>>,
    pub overrides: Vec<(Vec<u8>, Vec<u8>)>,
    /// PDOL data of the last GPO, split by the app's PDOL.
    pdol_values: BTreeMap<u32, Vec<u8>>,
    last_arqc: [u8; 8],
    issuer_auth_ok: bool,
    /// qPBOC answer to GPO (whole response data), if set.
    pub qpboc_gpo: Option<Vec<u8>>,
    pub transaction_log: Vec<Vec<u8>>,
    pub load_log: Vec<Vec<u8>>,
}

impl FakeCard {
    pub fn new(apps: Vec<FakeApp>) -> Self {
        Self {
            pse: true,
            pse_blocked: false,
            ppse: true,
            apps,
            selected: None,
            commands: Vec::new(),
            overrides: Vec::new(),
            pdol_values: BTreeMap::new(),
            last_arqc: [0; 8],
            issuer_auth_ok: false,
            qpboc_gpo: None,
            transaction_log: Vec::new(),
            load_log: Vec::new(),
        }
    }

    pub fn debit() -> Self {
        Self::new(vec![FakeApp::debit()])
    }

    pub fn app(&mut self) -> &mut FakeApp {
        &mut self.apps[0]
    }

    /// Commands sent with this INS.
    pub fn sent(&self, ins: u8) -> Vec<Vec<u8>> {
        self.commands
            .iter()
            .filter(|c| c.get(1) == Some(&ins))
            .cloned()
            .collect()
    }

    pub fn ec_balance(&self) -> u64 {
        self.apps[0].ec_balance
    }

    fn respond(&mut self, cmd: &[u8]) -> Vec<u8> {
        if let Some((_, r)) = self.overrides.iter().find(|(p, _)| cmd.starts_with(p)) {
            return r.clone();
        }
        let (cla, ins, p1, p2) = (cmd[0], cmd[1], cmd[2], cmd[3]);
        let data: &[u8] = if cmd.len() > 5 {
            let lc = usize::from(cmd[4]);
            &cmd[5..(5 + lc).min(cmd.len())]
        } else {
            &[]
        };
        match (cla, ins) {
            (0x00, 0xA4) => self.select(data, p2),
            (0x00, 0xB2) => self.read_record(p1, p2 >> 3),
            (0x80, 0xA8) => self.gpo(data),
            (0x80, 0xCA) => self.get_data(u16::from_be_bytes([p1, p2])),
            (0x00, 0x20) => self.verify(data),
            (0x00, 0x88) => sw(&t(0x80, &h("0102030405060708")), 0x9000),
            (0x00, 0x82) => self.external_authenticate(data),
            (0x80, 0xAE) => self.generate_ac(p1, data),
            (0x84 | 0x04, _) => self.script(cmd),
            _ => vec![0x6D, 0x00],
        }
    }

    fn select(&mut self, name: &[u8], p2: u8) -> Vec<u8> {
        if name == b"1PAY.SYS.DDF01" {
            if self.pse_blocked {
                return vec![0x6A, 0x81];
            }
            if !self.pse {
                return vec![0x6A, 0x82];
            }
            self.selected = None;
            let fci = t(
                0x6F,
                &cat(&[
                    &t(0x84, name),
                    &t(0xA5, &cat(&[&t(0x88, &[1]), &t(0x5F2D, b"zh")])),
                ]),
            );
            return sw(&fci, 0x9000);
        }
        if name == b"2PAY.SYS.DDF01" {
            if !self.ppse {
                return vec![0x6A, 0x82];
            }
            let entries: Vec<u8> = self.apps.iter().flat_map(FakeApp::dir_entry).collect();
            let fci = t(
                0x6F,
                &cat(&[&t(0x84, name), &t(0xA5, &t(0xBF0C, &entries))]),
            );
            return sw(&fci, 0x9000);
        }
        let matches: Vec<usize> = (0..self.apps.len())
            .filter(|i| self.apps[*i].aid.starts_with(name))
            .collect();
        let pick = if p2 == 0x02 {
            let current = self.selected;
            matches
                .iter()
                .copied()
                .find(|i| current.is_some_and(|c| *i > c))
        } else {
            matches.first().copied()
        };
        let Some(i) = pick else {
            return vec![0x6A, 0x82];
        };
        self.selected = Some(i);
        let app = &self.apps[i];
        sw(&app.fci(), if app.blocked { 0x6283 } else { 0x9000 })
    }

    fn read_record(&mut self, rec: u8, sfi: u8) -> Vec<u8> {
        match self.selected {
            None if sfi == 1 && self.pse => {
                let entries: Vec<Vec<u8>> = self.apps.iter().map(FakeApp::dir_entry).collect();
                match entries.get(usize::from(rec) - 1) {
                    Some(e) => sw(&t(0x70, e), 0x9000),
                    None => vec![0x6A, 0x83],
                }
            }
            None => vec![0x6A, 0x82],
            Some(i) => {
                let app = &self.apps[i];
                if sfi == 11 && !self.transaction_log.is_empty() {
                    return match self.transaction_log.get(usize::from(rec) - 1) {
                        Some(r) => sw(r, 0x9000),
                        None => vec![0x6A, 0x83],
                    };
                }
                if sfi == 12 && !self.load_log.is_empty() {
                    return match self.load_log.get(usize::from(rec) - 1) {
                        Some(r) => sw(r, 0x9000),
                        None => vec![0x6A, 0x83],
                    };
                }
                match app.records.get(&(sfi, rec)) {
                    Some(r) => sw(r, 0x9000),
                    None => vec![0x6A, 0x83],
                }
            }
        }
    }

    fn gpo(&mut self, data: &[u8]) -> Vec<u8> {
        let Some(i) = self.selected else {
            return vec![0x69, 0x85];
        };
        let app = self.apps[i].clone();
        if let Some(s) = app.gpo_sw {
            return s.to_be_bytes().to_vec();
        }
        let pdol = app.pdol.clone().unwrap_or_default();
        let dol = Dol::parse(&pdol).unwrap();
        let Some(body) = data.get(2..) else {
            return vec![0x67, 0x00];
        };
        let Ok(parts) = dol.split(body) else {
            return vec![0x67, 0x00];
        };
        self.pdol_values = parts.iter().map(|(t, v)| (t.0, v.to_vec())).collect();
        if let Some(r) = &self.qpboc_gpo {
            return sw(r, 0x9000);
        }
        let resp = if app.gpo_format2 {
            t(
                0x77,
                &cat(&[&t(0x82, &app.aip), &t(0x94, &app.afl), &app.gpo_extra]),
            )
        } else {
            t(0x80, &cat(&[&app.aip, &app.afl]))
        };
        sw(&resp, 0x9000)
    }

    fn get_data(&mut self, tag: u16) -> Vec<u8> {
        let Some(i) = self.selected else {
            return vec![0x6A, 0x88];
        };
        let app = &self.apps[i];
        let value = match tag {
            0x9F79 => Some(sscard_pboc::config::to_n12(app.ec_balance).to_vec()),
            0x9F78 => Some(sscard_pboc::config::to_n12(app.ec_single_limit).to_vec()),
            _ => app.get_data.get(&tag).cloned(),
        };
        match value {
            Some(v) => sw(&t(u32::from(tag), &v), 0x9000),
            None => vec![0x6A, 0x88],
        }
    }

    fn verify(&mut self, block: &[u8]) -> Vec<u8> {
        let app = &mut self.apps[self.selected.unwrap_or(0)];
        if app.pin_tries == 0 {
            return vec![0x69, 0x83];
        }
        let expected = sscard_pboc::cvm::plaintext_pin_block(&app.pin).unwrap();
        if block == expected.as_slice() {
            app.pin_tries = 3;
            vec![0x90, 0x00]
        } else {
            app.pin_tries -= 1;
            vec![0x63, 0xC0 | app.pin_tries]
        }
    }

    fn external_authenticate(&mut self, data: &[u8]) -> Vec<u8> {
        let app = &self.apps[self.selected.unwrap_or(0)];
        if let Some((mk, _)) = &app.keys {
            let (arpc, arc) = data.split_at(8.min(data.len()));
            let arc: [u8; 2] = arc.try_into().unwrap_or([0, 0]);
            let want = cryptogram::arpc(mk, app.atc, &self.last_arqc, &arc).unwrap();
            self.issuer_auth_ok = arpc == want;
            return if self.issuer_auth_ok {
                vec![0x90, 0x00]
            } else {
                vec![0x63, 0x00]
            };
        }
        self.issuer_auth_ok = app.ext_auth_sw == 0x9000;
        app.ext_auth_sw.to_be_bytes().to_vec()
    }

    fn family(&self) -> Family {
        Family::from_df69(
            self.pdol_values
                .get(&0xDF69)
                .and_then(|v| v.first().copied()),
        )
    }

    fn generate_ac(&mut self, p1: u8, data: &[u8]) -> Vec<u8> {
        let i = self.selected.unwrap_or(0);
        let first = self
            .commands
            .iter()
            .filter(|c| c.get(1) == Some(&0xAE))
            .count()
            == 1;
        let app = self.apps[i].clone();
        let mode = if first { &app.gac1 } else { &app.gac2 };
        let requested = p1 & 0xC0;
        let dol_tag = if first { 0x8C } else { 0x8D };
        let dol_bytes = find_record_tag(&app, dol_tag).unwrap_or_default();
        let dol = Dol::parse(&dol_bytes).unwrap();
        let Ok(parts) = dol.split(data) else {
            return vec![0x67, 0x00];
        };
        let get = |tag: u32| -> Vec<u8> {
            parts
                .iter()
                .find(|(t, _)| t.0 == tag)
                .map(|(_, v)| v.to_vec())
                .unwrap_or_default()
        };
        let mut ec_approved = false;
        let cid = match mode {
            GacMode::Sw(s) => return s.to_be_bytes().to_vec(),
            GacMode::Cid(c) => *c,
            GacMode::Follow => {
                let ec = self.pdol_values.get(&0x9F7A) == Some(&vec![1]) && get(0x9C) == [0x00];
                if first && requested == 0x40 && ec {
                    let amount = sscard_pboc::config::from_bcd(&get(0x9F02)).unwrap_or(0);
                    if amount <= app.ec_balance && amount <= app.ec_single_limit {
                        ec_approved = true;
                        self.apps[i].ec_balance -= amount;
                        0x40
                    } else {
                        0x80
                    }
                } else {
                    requested
                }
            }
        };
        let cvr_type = match cid & 0xC0 {
            0x40 => 0x90,
            0x80 => 0xA0,
            _ => 0x80,
        };
        let family = self.family();
        let cvr = [0x03, cvr_type, 0x00, 0x00];
        let iad = cat(&[&[0x07, 0x01, 0x01], &cvr, &[family.iad_byte()]]);
        let ac = match &app.keys {
            Some((mk, _)) => {
                let mut input = AcInput {
                    txn_type: get(0x9C).first().copied().unwrap_or(0),
                    aip: app.aip,
                    atc: app.atc,
                    cvr,
                    ..AcInput::default()
                };
                input.amount.copy_from_slice(&get(0x9F02));
                input.amount_other.copy_from_slice(&get(0x9F03));
                input.terminal_country.copy_from_slice(&get(0x9F1A));
                input.tvr.copy_from_slice(&get(0x95));
                input.currency.copy_from_slice(&get(0x5F2A));
                input.date.copy_from_slice(&get(0x9A));
                input.unpredictable_number.copy_from_slice(&get(0x9F37));
                cryptogram::application_cryptogram(mk, &input).unwrap()
            }
            None => [0xAC; 8],
        };
        if first {
            self.last_arqc = ac;
        }
        let resp = if app.gac_format2 || ec_approved {
            let mut v = cat(&[
                &t(0x9F27, &[cid]),
                &t(0x9F36, &app.atc.to_be_bytes()),
                &t(0x9F26, &ac),
                &t(0x9F10, &iad),
            ]);
            if ec_approved {
                v.extend(t(0x9F74, b"ECC001"));
            }
            t(0x77, &v)
        } else {
            t(0x80, &cat(&[&[cid], &app.atc.to_be_bytes(), &ac, &iad]))
        };
        sw(&resp, 0x9000)
    }

    fn script(&mut self, cmd: &[u8]) -> Vec<u8> {
        let i = self.selected.unwrap_or(0);
        if let Some(s) = self.apps[i].script_sw.pop_front() {
            return s.to_be_bytes().to_vec();
        }
        // PUT DATA 9F79 with a MAC: check it with MK_SMI when keys are set.
        if cmd.get(..4) == Some(&[0x04, 0xDA, 0x9F, 0x79]) {
            let app = &self.apps[i];
            let Some((_, smi)) = &app.keys else {
                return vec![0x90, 0x00];
            };
            if cmd.len() != 5 + 10 {
                return vec![0x67, 0x00];
            }
            let header: [u8; 5] = cmd[..5].try_into().unwrap();
            let value = &cmd[5..11];
            let mac =
                cryptogram::script_mac(smi, app.atc, &self.last_arqc, &header, value).unwrap();
            if mac != cmd[11..15] || !self.issuer_auth_ok {
                return vec![0x69, 0x88];
            }
            let v = sscard_pboc::config::from_bcd(value).unwrap();
            self.apps[i].ec_balance = v;
            return vec![0x90, 0x00];
        }
        vec![0x90, 0x00]
    }
}

fn find_record_tag(app: &FakeApp, tag: u32) -> Option<Vec<u8>> {
    app.records.values().find_map(|r| {
        sscard_apdu::tlv::ber::find(r, tag)
            .ok()
            .flatten()
            .map(<[u8]>::to_vec)
    })
}

fn sw(data: &[u8], sw: u16) -> Vec<u8> {
    let mut v = data.to_vec();
    v.extend(sw.to_be_bytes());
    v
}

impl Transport for FakeCard {
    type Error = TransportErrorKind;

    fn transmit(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, Self::Error> {
        self.commands.push(command.to_vec());
        let r = self.respond(command);
        let out = response
            .get_mut(..r.len())
            .ok_or(TransportErrorKind::BufferTooSmall { needed: r.len() })?;
        out.copy_from_slice(&r);
        Ok(r.len())
    }
}

/// The RNG: each `fill` takes the next value (big-endian, repeated over the buffer).
#[derive(Clone, Debug, Default)]
pub struct SeqRng {
    pub values: VecDeque<u32>,
}

impl SeqRng {
    pub fn new(values: &[u32]) -> Self {
        Self {
            values: values.iter().copied().collect(),
        }
    }
}

impl Rng for SeqRng {
    fn fill(&mut self, out: &mut [u8]) {
        let v = self.values.pop_front().unwrap_or(0x1122_3344);
        for (i, b) in out.iter_mut().enumerate() {
            *b = v.to_be_bytes()[i % 4];
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct TestCardholder {
    pub confirm: bool,
    pub offline: VecDeque<PinEntry>,
    pub online: Option<PinEntry>,
    pub id_ok: bool,
    pub offline_prompts: Vec<Option<u8>>,
    pub confirmations: Vec<Vec<u8>>,
}

impl TestCardholder {
    pub fn pins(pins: &[&[u8]]) -> Self {
        Self {
            offline: pins
                .iter()
                .map(|p| PinEntry::Entered(Zeroizing::new(p.to_vec())))
                .collect(),
            ..Self::default()
        }
    }
}

impl Cardholder for TestCardholder {
    fn confirm_application(&mut self, app: &AppChoice<'_>) -> bool {
        self.confirmations.push(app.aid.to_vec());
        self.confirm
    }
    fn offline_pin(&mut self, tries_left: Option<u8>) -> PinEntry {
        self.offline_prompts.push(tries_left);
        self.offline.pop_front().unwrap_or(PinEntry::Bypassed)
    }
    fn online_pin(&mut self) -> PinEntry {
        self.online.clone().unwrap_or(PinEntry::Unavailable)
    }
    fn present_id(&mut self, _: Option<&[u8]>, id_number: Option<&[u8]>) -> bool {
        self.id_ok && id_number.is_some()
    }
}

#[derive(Clone, Debug, Default)]
pub struct FixedIssuer {
    pub response: Option<IssuerResponse>,
    pub requests: Vec<Vec<u8>>,
}

impl FixedIssuer {
    pub fn approve() -> Self {
        Self {
            response: Some(IssuerResponse {
                arc: *b"00",
                ..IssuerResponse::default()
            }),
            requests: Vec::new(),
        }
    }
}

impl Issuer for FixedIssuer {
    fn authorise(&mut self, request: &OnlineRequest<'_>) -> Option<IssuerResponse> {
        self.requests.push(request.field55.to_vec());
        self.response.clone()
    }
}

#[derive(Clone, Debug)]
pub struct RecordingOda {
    pub verdict: OdaVerdict,
    /// Verdict of the post-GAC CDA check, when different from `verdict`.
    pub cda_verdict: Option<OdaVerdict>,
    pub static_data: Vec<Vec<u8>>,
    pub calls: Vec<&'static str>,
}

impl Default for RecordingOda {
    fn default() -> Self {
        Self {
            verdict: OdaVerdict::Passed(Vec::new()),
            cda_verdict: None,
            static_data: Vec::new(),
            calls: Vec::new(),
        }
    }
}

impl OfflineAuth for RecordingOda {
    fn sda(&mut self, input: &OdaInput<'_>) -> OdaVerdict {
        self.calls.push("sda");
        self.static_data.push(input.static_data.to_vec());
        self.verdict.clone()
    }
    fn dda(&mut self, input: &OdaInput<'_>, _: &[u8], _: &[u8]) -> OdaVerdict {
        self.calls.push("dda");
        self.static_data.push(input.static_data.to_vec());
        self.verdict.clone()
    }
    fn cda_prepare(&mut self, input: &OdaInput<'_>) -> OdaVerdict {
        self.calls.push("cda_prepare");
        self.static_data.push(input.static_data.to_vec());
        self.verdict.clone()
    }
    fn cda(&mut self, _: &OdaInput<'_>, _: &CdaInput<'_>) -> OdaVerdict {
        self.calls.push("cda");
        self.cda_verdict
            .clone()
            .unwrap_or_else(|| self.verdict.clone())
    }
    fn fdda(&mut self, _: &OdaInput<'_>, _: &[u8]) -> OdaVerdict {
        self.calls.push("fdda");
        self.verdict.clone()
    }
}

/// The test terminal: TACs that only react to floor/velocity/random/forced (online).
pub fn config() -> TerminalConfig {
    TerminalConfig {
        tac_default: [0; 5],
        tac_online: [0x00, 0x00, 0x00, 0xF8, 0x00],
        tac_denial: [0; 5],
        random_selection: false,
        ..TerminalConfig::default()
    }
}

pub fn txn(amount: u64) -> TransactionData {
    TransactionData {
        amount,
        ..TransactionData::default()
    }
}

/// Everything one run needs.
pub struct Harness {
    pub card: FakeCard,
    pub cfg: TerminalConfig,
    pub txn: TransactionData,
    pub oda: RecordingOda,
    pub use_no_oda: bool,
    pub cardholder: TestCardholder,
    pub issuer: FixedIssuer,
    pub rng: SeqRng,
}

impl Default for Harness {
    fn default() -> Self {
        Self {
            card: FakeCard::debit(),
            cfg: config(),
            txn: txn(10_000),
            oda: RecordingOda::default(),
            use_no_oda: true,
            cardholder: TestCardholder::default(),
            issuer: FixedIssuer::default(),
            rng: SeqRng::default(),
        }
    }
}

impl Harness {
    pub fn run(&mut self) -> sscard_pboc::TransactionResult {
        let mut no_oda = NoOda;
        let oda: &mut dyn OfflineAuth = if self.use_no_oda {
            &mut no_oda
        } else {
            &mut self.oda
        };
        let mut env = Environment {
            oda,
            cardholder: &mut self.cardholder,
            issuer: &mut self.issuer,
            rng: &mut self.rng,
        };
        let mut ex = Exchange::new(&mut self.card);
        sscard_pboc::contact::run(&mut ex, &self.cfg, &self.txn, &mut env).unwrap()
    }
}

pub const QPBOC_PDOL: &str = "9F6604 9F0206 9F0306 9F1A02 9505 5F2A02 9A03 9C01 9F3704 DF6901";

/// A qPBOC GPO answer: AIP with DDA, AFL of record SFI 1 #1, the cryptogram of type
/// `cvr` (`90` TC, `A0` ARQC, `80` AAC), track 2, CTQ and card authentication data.
pub fn qpboc_gpo(cvr: u8, ctq: &str) -> Vec<u8> {
    t(
        0x77,
        &cat(&[
            &t(0x82, &h("7C00")),
            &t(0x94, &h("08010100")),
            &t(0x9F36, &h("0003")),
            &t(0x57, &h("6228000100001117D3012201")),
            &t(0x9F10, &cat(&[&h("070101 03"), &[cvr], &h("0000 01")])),
            &t(0x9F26, &h("1122334455667788")),
            &t(0x9F6C, &h(ctq)),
            &t(0x9F69, &h("0100000000300000")),
            &t(0x9F4B, &[0x15; 16]),
        ]),
    )
}

impl Harness {
    /// A contactless card answering PPSE, no PSE, a qPBOC PDOL and a TC with CTQ
    /// `2000` (online if ODA fails).
    pub fn qpboc() -> Self {
        let mut h = Self::default();
        h.card.pse = false;
        h.card.app().pdol = Some(self::h(QPBOC_PDOL));
        h.card.qpboc_gpo = Some(qpboc_gpo(0x90, "2000"));
        h.txn.amount = 1_000;
        h.use_no_oda = false;
        h
    }

    pub fn run_qpboc(&mut self) -> sscard_pboc::TransactionResult {
        let mut no_oda = NoOda;
        let oda: &mut dyn OfflineAuth = if self.use_no_oda {
            &mut no_oda
        } else {
            &mut self.oda
        };
        let mut env = Environment {
            oda,
            cardholder: &mut self.cardholder,
            issuer: &mut self.issuer,
            rng: &mut self.rng,
        };
        let mut ex = Exchange::new(&mut self.card);
        sscard_pboc::qpboc::run(&mut ex, &self.cfg, &self.txn, &mut env).unwrap()
    }
}
