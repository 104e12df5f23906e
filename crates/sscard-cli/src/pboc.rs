//! `sscard pboc`: the bank application (PBOC 3.0 / UnionPay) on the card, through the
//! `sscard-pboc` kernel: read it, pay, load electronic cash, and the issuer host
//! simulator that answers online requests with the keys of a personalisation profile.
//!
//! The host simulator holds the emulated card's TEST keys by default
//! (`apdu-specs/pboc/card.json`); real cards need their issuer, which is not here.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use sscard_apdu::hex;
use sscard_apdu::trace::Trace;
use sscard_apdu::{Exchange, Transport};
use sscard_emv::capk::CapkStore;
use sscard_emv::oda::testpki::TestPki;
use sscard_emv::Tag;
use sscard_pboc::config::{from_bcd, TerminalConfig, TransactionData};
use sscard_pboc::contact::{self, Outcome, TransactionResult};
use sscard_pboc::ec;
use sscard_pboc::host::HostSimulator;
use sscard_pboc::tlvdb::TlvDb;
use sscard_pboc::traits::{
    AppChoice, Cardholder, Environment, Issuer, NoIssuer, OdaInput, OdaVerdict, OfflineAuth,
    OnlineRequest, PinEntry, Rng,
};
use sscard_pboc::verifier::EmvOda;
use zeroize::Zeroizing;

use crate::conn::{self, CardArgs};
use crate::pin::PinArgs;

/// The emulated card's TEST PKI (its CA public keys are trusted only on request).
const TEST_PKI_JSON: &str = include_str!("../../../apdu-specs/pboc/test-pki.json");

/// The bank application's commands.
#[derive(clap::Subcommand)]
pub enum PbocCmd {
    /// Read the bank application: the application, PAN, expiry, electronic-cash balance
    /// and limits, the transaction and load logs, and the offline data authentication.
    Read(ReadArgs),
    /// A purchase over the contact interface: selection to GENERATE AC, online through
    /// the issuer host simulator when the card asks for it.
    Pay(PayArgs),
    /// Electronic-cash load (圈存): an online transaction whose issuer script sets the
    /// new balance; the card accepts it only with a valid MAC.
    Load(LoadArgs),
    /// The issuer host simulator on standard input and output: one field-55 TLV set in
    /// hex per line in, `approved|ARC|91|scripts|` or `declined|ARC|reason|` out.
    Host(HostArgs),
}

/// The terminal: where the card is, the algorithm family, trusted keys, the date.
#[derive(clap::Args, Debug, Clone)]
pub struct TerminalArgs {
    #[command(flatten)]
    card: CardArgs,
    /// Announce the national algorithms (DF69 = 01): SM2 certificates, SM4 cryptograms.
    #[arg(long)]
    sm: bool,
    /// Also trust the TEST CA public keys of the emulated card
    /// (apdu-specs/pboc/test-pki.json). Implied by --emulated.
    #[arg(long)]
    test_capks: bool,
    /// The transaction date, YYMMDD (default: today in China Standard Time).
    #[arg(long, value_name = "YYMMDD")]
    date: Option<String>,
    /// Print the whole PAN (default: masked but the first 6 and last 4 digits).
    #[arg(long)]
    full_pan: bool,
    /// Turn off terminal risk management's random selection for online processing
    /// (below the floor limit a transaction is otherwise sent online at random).
    #[arg(long)]
    no_random_selection: bool,
}

impl TerminalArgs {
    /// A terminal for a card opened elsewhere (`sscard verify`, `sscard load`): today's
    /// date, RSA/3DES, the UnionPay CAPKs (and the TEST ones with `test_capks`).
    fn headless(test_capks: bool) -> Self {
        Self {
            card: CardArgs {
                reader: None,
                emulated: false,
                image: None,
                wait: 0.0,
                trace: false,
            },
            sm: false,
            test_capks,
            date: None,
            full_pan: false,
            no_random_selection: false,
        }
    }
}

/// `sscard pboc read`.
#[derive(clap::Args, Debug)]
pub struct ReadArgs {
    #[command(flatten)]
    terminal: TerminalArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// The issuer host simulator's keys.
#[derive(clap::Args, Debug, Clone)]
pub struct IssuerArgs {
    /// A personalisation profile whose master keys the host simulator uses (default:
    /// the emulated card's TEST keys, apdu-specs/pboc/card.json).
    #[arg(long, value_name = "FILE", conflicts_with = "bank_profile")]
    issuer_profile: Option<PathBuf>,
    /// A bank personalisation profile (`sscard issue --bank-profile`): the host derives
    /// the card's keys from its issuer master keys and --pan.
    #[arg(long, value_name = "FILE", requires = "pan")]
    bank_profile: Option<PathBuf>,
    /// The card's PAN, with --bank-profile.
    #[arg(long, value_name = "DIGITS", requires = "bank_profile")]
    pan: Option<String>,
    /// The card's PAN sequence number, with --bank-profile.
    #[arg(long, default_value_t = 1)]
    psn: u8,
}

/// `sscard pboc pay`.
#[derive(clap::Args, Debug)]
pub struct PayArgs {
    #[command(flatten)]
    terminal: TerminalArgs,
    /// The amount, in yuan (e.g. 12.34).
    #[arg(long)]
    amount: String,
    /// Offer electronic cash (9F7A = 01): the card may approve offline from its balance.
    #[arg(long)]
    ec: bool,
    /// The issuer is unreachable (the card's and terminal's default actions decide).
    #[arg(long)]
    offline: bool,
    #[command(flatten)]
    issuer: IssuerArgs,
    #[command(flatten)]
    pin: PinArgs,
}

/// `sscard pboc load`.
#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    #[command(flatten)]
    terminal: TerminalArgs,
    /// The amount to load, in yuan.
    #[arg(long)]
    amount: String,
    #[command(flatten)]
    issuer: IssuerArgs,
    #[command(flatten)]
    pin: PinArgs,
}

/// `sscard pboc host`.
#[derive(clap::Args, Debug)]
pub struct HostArgs {
    #[command(flatten)]
    issuer: IssuerArgs,
    /// The card's booked electronic-cash balance, in yuan, for load requests.
    #[arg(long, default_value = "0")]
    balance: String,
}

/// Runs a `sscard pboc` command.
pub fn run(cmd: &PbocCmd) -> Result<()> {
    match cmd {
        PbocCmd::Read(args) => read(args),
        PbocCmd::Pay(args) => pay(args),
        PbocCmd::Load(args) => load(args),
        PbocCmd::Host(args) => host(args),
    }
}

// ------------------------------------------------------------------------- helpers

/// Yuan with up to two decimals to minor units (fen).
fn parse_amount(text: &str) -> Result<u64> {
    let text = text.trim();
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (text.contains('.') && !digits(frac)) || frac.len() > 2 {
        bail!("amount {text:?}: want yuan with at most two decimals, e.g. 12.34");
    }
    let whole: u64 = whole.parse().context("amount too large")?;
    let frac: u64 = format!("{frac:0<2}").parse().unwrap_or(0);
    whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(frac))
        .filter(|v| *v <= 999_999_999_999)
        .context("amount too large")
}

fn yuan(minor: u64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

/// Today (China Standard Time, UTC+8) as YYMMDD and HHMMSS in BCD.
fn now_bcd() -> ([u8; 3], [u8; 3]) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        + 8 * 3600;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let bcd = |v: i64| {
        let v = u8::try_from(v.rem_euclid(100)).unwrap_or(0);
        ((v / 10) << 4) | (v % 10)
    };
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let small = |v: u64| bcd(i64::try_from(v).unwrap_or(0));
    (
        [bcd(year), bcd(month), bcd(day)],
        [small(h), small(m), small(s)],
    )
}

fn parse_date(text: &str) -> Result<[u8; 3]> {
    let bytes = hex::to_vec(text).ok().filter(|_| text.len() == 6);
    match bytes.and_then(|b| <[u8; 3]>::try_from(b).ok()) {
        Some(d) if text.bytes().all(|b| b.is_ascii_digit()) => Ok(d),
        _ => bail!("--date {text:?}: want YYMMDD"),
    }
}

fn pan_text(pan: &[u8], full: bool) -> String {
    let digits: String = hex::to_string(pan).trim_end_matches('F').to_string();
    if full || digits.len() < 11 {
        return digits;
    }
    let (head, rest) = digits.split_at(6);
    let tail = &rest[rest.len().saturating_sub(4)..];
    format!("{head}{}{tail}", "*".repeat(rest.len().saturating_sub(4)))
}

fn date_text(yymmdd: &[u8]) -> String {
    let h = hex::to_string(yymmdd);
    if h.len() == 6 {
        // EMV: YY below 50 is 20YY, else 19YY.
        let century = if h.as_bytes().first().is_some_and(|b| *b < b'5') {
            "20"
        } else {
            "19"
        };
        format!("{century}{}-{}-{}", &h[0..2], &h[2..4], &h[4..6])
    } else {
        h
    }
}

struct OsRng;

impl Rng for OsRng {
    fn fill(&mut self, out: &mut [u8]) {
        if getrandom::fill(out).is_err() {
            // No OS randomness: the transaction still runs, with a weak but varying
            // unpredictable number (a terminal must never stop for this).
            let t = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
                .to_le_bytes();
            for (b, t) in out.iter_mut().zip(t.iter().cycle()) {
                *b ^= *t;
            }
        }
    }
}

/// The cardholder at the terminal: the offline PIN from --pin-file/--pin-stdin.
struct Holder {
    pin: Option<Zeroizing<String>>,
    asked: u8,
}

impl Cardholder for Holder {
    fn confirm_application(&mut self, _: &AppChoice<'_>) -> bool {
        true
    }
    fn offline_pin(&mut self, tries_left: Option<u8>) -> PinEntry {
        self.asked += 1;
        match (&self.pin, self.asked) {
            // One attempt per transaction: a wrong PIN is not retried blindly.
            (Some(pin), 1) => PinEntry::Entered(Zeroizing::new(pin.as_bytes().to_vec())),
            (Some(_), _) => {
                if let Some(n) = tries_left {
                    eprintln!("sscard: the PIN was wrong ({n} tries left)");
                }
                PinEntry::Bypassed
            }
            (None, _) => PinEntry::Unavailable,
        }
    }
    fn online_pin(&mut self) -> PinEntry {
        PinEntry::Unavailable
    }
    fn present_id(&mut self, _: Option<&[u8]>, _: Option<&[u8]>) -> bool {
        false
    }
}

fn holder(pin: &PinArgs) -> Result<Holder> {
    Ok(Holder {
        pin: pin.read_digits()?,
        asked: 0,
    })
}

fn capks(t: &TerminalArgs) -> Result<CapkStore> {
    let mut store = CapkStore::unionpay().map_err(|e| anyhow::anyhow!("UnionPay CAPKs: {e:?}"))?;
    if t.test_capks || t.card.emulated {
        let pki = TestPki::from_json(TEST_PKI_JSON).map_err(|e| anyhow::anyhow!("{e}"))?;
        for capk in [&pki.sm2.capk, &pki.rsa.capk] {
            let capk = capk
                .to_capk()
                .map_err(|e| anyhow::anyhow!("test CAPK: {e:?}"))?;
            store
                .add(capk)
                .map_err(|e| anyhow::anyhow!("test CAPK: {e:?}"))?;
        }
    }
    Ok(store)
}

fn terminal_config(t: &TerminalArgs, ec: bool) -> TerminalConfig {
    TerminalConfig {
        sm_support: t.sm,
        ec_support: ec,
        random_selection: !t.no_random_selection,
        ..TerminalConfig::default()
    }
}

fn transaction(t: &TerminalArgs, amount: u64) -> Result<TransactionData> {
    let (today, time) = now_bcd();
    Ok(TransactionData {
        amount,
        date: match &t.date {
            Some(d) => parse_date(d)?,
            None => today,
        },
        time,
        ..TransactionData::default()
    })
}

fn issuer_host(args: &IssuerArgs) -> Result<HostSimulator> {
    if let (Some(path), Some(pan)) = (&args.bank_profile, &args.pan) {
        let bank = sscard_issue::bank::BankProfile::load(path)
            .with_context(|| format!("bank profile {}", path.display()))?;
        let keys = |family| -> Result<sscard_pboc::host::CardKeys> {
            let k = bank.card_keys(family, pan, args.psn)?;
            let key = |b: &[u8; 16]| {
                sscard_emv::cryptogram::master_key(family, b)
                    .map_err(|e| anyhow::anyhow!("issuer keys: {e}"))
            };
            Ok(sscard_pboc::host::CardKeys {
                mk_ac: key(&k.mk_ac)?,
                mk_smi: key(&k.mk_smi)?,
            })
        };
        return Ok(HostSimulator::new(
            Some(keys(sscard_emv::cryptogram::Family::Rsa3Des)?),
            Some(keys(sscard_emv::cryptogram::Family::Sm2Sm4)?),
        ));
    }
    let text = match &args.issuer_profile {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("issuer profile {}", path.display()))?,
        None => sscard_emu::pboc::BUILTIN_PROFILE.to_string(),
    };
    let profile =
        sscard_emv::perso::load(&text).map_err(|e| anyhow::anyhow!("issuer profile: {e}"))?;
    let app = profile
        .applications
        .first()
        .context("the issuer profile has no application")?;
    HostSimulator::for_application(app).map_err(|e| anyhow::anyhow!("issuer keys: {e}"))
}

fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::ApprovedOffline => "approved offline".into(),
        Outcome::ApprovedOnline => "approved online".into(),
        Outcome::DeclinedOffline => "declined offline".into(),
        Outcome::DeclinedOnline => "declined online".into(),
        Outcome::Terminated(t) => format!("terminated: {t}"),
    }
}

fn family(card: &TlvDb) -> &'static str {
    match card.get(Tag::IAD).and_then(|iad| iad.get(7)) {
        Some(0x04) => "SM2/SM4",
        Some(0x01) => "RSA/3DES",
        _ => "?",
    }
}

fn log_json(fields: &[(Tag, Vec<u8>)]) -> Value {
    let mut m = serde_json::Map::new();
    for (tag, value) in fields {
        let v = match tag.0 {
            0x9F02 | 0x9F03 => json!(yuan(from_bcd(value).unwrap_or(0))),
            0x9F4E => json!(String::from_utf8_lossy(value).trim_end().to_string()),
            0x9A => json!(date_text(value)),
            _ => json!(hex::to_string(value)),
        };
        m.insert(format!("{tag}"), v);
    }
    Value::Object(m)
}

// --------------------------------------------------------------------------- read

fn read(args: &ReadArgs) -> Result<()> {
    let t = &args.terminal;
    let cfg = terminal_config(t, false);
    let txn = transaction(t, 0)?;
    let mut card = conn::open(&t.card)?;
    let result = read_card(&mut card.ex, t, &cfg, &txn);
    card.close();
    let (value, text) = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{text}");
    }
    Ok(())
}

fn read_card<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    t: &TerminalArgs,
    cfg: &TerminalConfig,
    txn: &TransactionData,
) -> Result<(Value, String)> {
    let read = contact::read_application(ex, cfg, txn, &mut OsRng)
        .map_err(|e| anyhow::anyhow!("reading the bank application: {e}"))?;
    if let Some(t) = &read.termination {
        bail!("reading the bank application stopped: {t}");
    }
    let c = &read.card;
    let mut out = String::new();
    let label = c
        .get(Tag::APP_LABEL)
        .map(|l| String::from_utf8_lossy(l).to_string())
        .unwrap_or_default();
    out.push_str(&format!(
        "application: {} {label:?}\n",
        hex::to_string(&read.aid)
    ));
    let pan = c.get(Tag::PAN).map(|p| pan_text(p, t.full_pan));
    let expiry = c.get(Tag::EXPIRY).map(date_text);
    out.push_str(&format!(
        "PAN: {}  PSN: {}\nexpiry: {}  effective: {}\n",
        pan.clone().unwrap_or_default(),
        c.get(Tag::PSN).map(hex::to_string).unwrap_or_default(),
        expiry.clone().unwrap_or_default(),
        c.get(Tag::EFFECTIVE).map(date_text).unwrap_or_default(),
    ));
    // Offline data authentication: SDA, and the ICC public key for DDA/CDA.
    let mut oda = EmvOda::new(capks(t)?);
    let mut terminal = TlvDb::new();
    terminal.set(Tag::TXN_DATE, &txn.date);
    let input = OdaInput {
        aid: &read.aid,
        static_data: &read.static_data,
        card: c,
        terminal: &terminal,
    };
    let aip = c.get(Tag::AIP).unwrap_or_default();
    let sda = if aip.first().is_some_and(|b| b & 0x40 != 0) {
        match oda.sda(&input) {
            OdaVerdict::Passed(_) => "passed".to_string(),
            OdaVerdict::Failed => format!("FAILED ({:?})", oda.last_error()),
            OdaVerdict::NotPerformed => "not performed".to_string(),
        }
    } else {
        "not supported by the card".to_string()
    };
    let icc = if aip.first().is_some_and(|b| b & 0x21 != 0) {
        match oda.cda_prepare(&input) {
            OdaVerdict::Passed(_) => "recovered".to_string(),
            OdaVerdict::Failed => format!("FAILED ({:?})", oda.last_error()),
            OdaVerdict::NotPerformed => "not performed".to_string(),
        }
    } else {
        "not supported by the card".to_string()
    };
    let ca = c.get(Tag::CA_INDEX).map(hex::to_string).unwrap_or_default();
    out.push_str(&format!(
        "ODA: CA index {ca}; SDA {sda}; ICC public key (DDA/CDA) {icc}\n"
    ));
    // Electronic cash and counters (GET DATA).
    let info = ec::read_info(ex).map_err(|e| anyhow::anyhow!("GET DATA: {e}"))?;
    let amount = |v: Option<u64>| v.map(yuan).unwrap_or_else(|| "-".into());
    out.push_str(&format!(
        "EC balance: {}  balance limit: {}  single limit: {}  reset threshold: {}  currency: {}\n",
        amount(info.balance),
        amount(info.balance_limit),
        amount(info.single_limit),
        amount(info.reset_threshold),
        info.currency
            .map(|c| hex::to_string(&c))
            .unwrap_or_default(),
    ));
    out.push_str(&format!(
        "ATC: {}  last online ATC: {}  PIN tries left: {}\n",
        info.atc.map(|v| v.to_string()).unwrap_or_default(),
        info.last_online_atc
            .map(|v| v.to_string())
            .unwrap_or_default(),
        info.pin_tries.map(|v| v.to_string()).unwrap_or_default(),
    ));
    let log = ec::read_transaction_log(ex, Some(c)).unwrap_or_default();
    out.push_str(&format!("transaction log: {} record(s)\n", log.len()));
    for r in &log {
        out.push_str(&format!("  {}: {}\n", r.record, log_json(&r.fields)));
    }
    let loads = ec::read_load_log(ex, Some(c), &ec::LoadLogLayout::default()).unwrap_or_default();
    out.push_str(&format!("load log: {} record(s)\n", loads.len()));
    for r in &loads {
        out.push_str(&format!(
            "  {}: {} -> {} {}\n",
            r.record,
            amount(r.balance_before),
            amount(r.balance_after),
            log_json(&r.fields)
        ));
    }
    let value = json!({
        "aid": hex::to_string(&read.aid),
        "label": label,
        "pan": pan,
        "psn": c.get(Tag::PSN).map(hex::to_string),
        "expiry": expiry,
        "aip": hex::to_string(aip),
        "oda": { "ca_index": ca, "sda": sda, "icc_public_key": icc },
        "ec": {
            "balance": info.balance.map(yuan),
            "balance_limit": info.balance_limit.map(yuan),
            "single_limit": info.single_limit.map(yuan),
            "reset_threshold": info.reset_threshold.map(yuan),
            "currency": info.currency.map(|c| hex::to_string(&c)),
        },
        "atc": info.atc,
        "last_online_atc": info.last_online_atc,
        "pin_tries": info.pin_tries,
        "transaction_log": log.iter().map(|r| log_json(&r.fields)).collect::<Vec<_>>(),
        "load_log": loads.iter().map(|r| json!({
            "p1p2": format!("{:02X}{:02X}", r.p1.unwrap_or(0), r.p2.unwrap_or(0)),
            "before": r.balance_before.map(yuan),
            "after": r.balance_after.map(yuan),
            "fields": log_json(&r.fields),
        })).collect::<Vec<_>>(),
    });
    Ok((value, out))
}

/// The bank application's certificates on an open card, for `sscard verify`: `None`
/// when the card has no PBOC application; else whether SDA passed and the ICC public
/// key was recovered (UnionPay CAPKs, and the emulator's TEST CAPKs with `test_capks`),
/// and, with `expected_pan`, whether the card's PAN (`5A`) is that one.
pub fn certificates_check<T: Transport, R: Trace>(
    ex: &mut Exchange<T, R>,
    test_capks: bool,
    expected_pan: Option<&str>,
) -> Result<Option<(bool, String)>> {
    let t = TerminalArgs::headless(test_capks);
    let cfg = terminal_config(&t, false);
    let txn = transaction(&t, 0)?;
    let read = contact::read_application(ex, &cfg, &txn, &mut OsRng)
        .map_err(|e| anyhow::anyhow!("reading the bank application: {e}"))?;
    if read.aid.is_empty() {
        return Ok(None);
    }
    if let Some(stop) = &read.termination {
        return Ok(Some((false, format!("reading stopped: {stop}"))));
    }
    let mut oda = EmvOda::new(capks(&t)?);
    let mut terminal = TlvDb::new();
    terminal.set(Tag::TXN_DATE, &txn.date);
    let input = OdaInput {
        aid: &read.aid,
        static_data: &read.static_data,
        card: &read.card,
        terminal: &terminal,
    };
    let sda = oda.sda(&input);
    let icc = oda.cda_prepare(&input);
    let oda_ok = matches!(sda, OdaVerdict::Passed(_)) && matches!(icc, OdaVerdict::Passed(_));
    let pan = read
        .card
        .get(Tag(0x5A))
        .map(hex::to_string)
        .unwrap_or_default();
    let pan = pan.trim_end_matches('F').to_owned();
    if let Some(want) = expected_pan {
        if pan != want {
            return Ok(Some((
                false,
                format!(
                    "{}: PAN {pan}, the record says {want}",
                    hex::to_string(&read.aid)
                ),
            )));
        }
    }
    let ok = oda_ok;
    let ca = read
        .card
        .get(Tag::CA_INDEX)
        .map(hex::to_string)
        .unwrap_or_default();
    let detail = if ok {
        format!(
            "{} PAN {pan} on CA {ca}: SDA and the ICC public key verify",
            hex::to_string(&read.aid)
        )
    } else {
        format!("{}: {:?}", hex::to_string(&read.aid), oda.last_error())
    };
    Ok(Some((ok, detail)))
}

// ---------------------------------------------------------------------------- pay

fn print_result(r: &TransactionResult) {
    println!("outcome: {}", outcome_text(&r.outcome));
    println!("algorithms: {}", family(&r.card));
    if let Some(ac) = r.card.get(Tag::AC) {
        let kind = match r.card.get(Tag::CID).and_then(|c| c.first()) {
            Some(c) if c & 0xC0 == 0x40 => "TC",
            Some(c) if c & 0xC0 == 0x80 => "ARQC",
            Some(_) => "AAC",
            None => "?",
        };
        println!(
            "cryptogram: {kind} {}  ATC {}",
            hex::to_string(ac),
            r.card.get(Tag::ATC).map(hex::to_string).unwrap_or_default()
        );
    }
    println!(
        "TVR {}  TSI {}  CVM results {}",
        hex::to_string(&r.tvr),
        hex::to_string(&r.tsi),
        hex::to_string(&r.cvm_results)
    );
    if let Some(issuer) = &r.issuer {
        println!(
            "issuer: ARC {} ({})",
            hex::to_string(&issuer.arc),
            String::from_utf8_lossy(&issuer.arc)
        );
    }
    for s in &r.script_results {
        println!("issuer script result (DF31): {}", hex::to_string(s));
    }
    println!("field 55: {}", hex::to_string(&r.field55));
}

fn pay(args: &PayArgs) -> Result<()> {
    let t = &args.terminal;
    let amount = parse_amount(&args.amount)?;
    let cfg = terminal_config(t, args.ec);
    let txn = transaction(t, amount)?;
    let mut holder = holder(&args.pin)?;
    let mut oda = EmvOda::new(capks(t)?);
    let mut host = issuer_host(&args.issuer)?;
    let mut none = NoIssuer;
    let issuer: &mut dyn Issuer = if args.offline { &mut none } else { &mut host };
    let mut card = conn::open(&t.card)?;
    let result = contact::run(
        &mut card.ex,
        &cfg,
        &txn,
        &mut Environment {
            oda: &mut oda,
            cardholder: &mut holder,
            issuer,
            rng: &mut OsRng,
        },
    );
    let balance = result
        .as_ref()
        .ok()
        .filter(|r| r.ec_attempted)
        .and_then(|_| ec::read_info(&mut card.ex).ok())
        .and_then(|i| i.balance);
    card.close();
    let r = result.map_err(|e| anyhow::anyhow!("transaction failed: {e}"))?;
    println!("amount: {}", yuan(amount));
    print_result(&r);
    if let Some(e) = oda.last_error() {
        println!("ODA failure: {e:?}");
    }
    if let Some(b) = balance {
        println!("EC balance after: {}", yuan(b));
    }
    std::io::stdout().flush().ok();
    match r.outcome {
        Outcome::ApprovedOffline | Outcome::ApprovedOnline => Ok(()),
        Outcome::Terminated(t) => bail!("the transaction was terminated: {t}"),
        _ => bail!("the transaction was declined"),
    }
}

/// The terminal and issuer of `sscard load`'s payment operation: a 1.00 online
/// purchase (CDA, the host simulator on the emulated card's TEST keys).
pub struct LoadTestPayment {
    store: CapkStore,
    host: HostSimulator,
    pin: Option<Zeroizing<String>>,
}

impl LoadTestPayment {
    /// The UnionPay and the emulator's TEST CA keys, the built-in issuer keys, the PIN.
    pub fn new(pin: Option<Zeroizing<String>>) -> Result<Self> {
        let t = TerminalArgs::headless(true);
        Ok(Self {
            store: capks(&t)?,
            host: issuer_host(&IssuerArgs {
                issuer_profile: None,
                bank_profile: None,
                pan: None,
                psn: 1,
            })?,
            pin,
        })
    }

    /// One purchase on an open card; `Err` unless it is approved online.
    pub fn run<T: Transport, R: Trace>(&mut self, ex: &mut Exchange<T, R>) -> Result<(), String> {
        let (date, time) = now_bcd();
        let txn = TransactionData {
            amount: 100,
            date,
            time,
            force_online: true,
            ..TransactionData::default()
        };
        let cfg = TerminalConfig {
            random_selection: false,
            ..TerminalConfig::default()
        };
        let mut oda = EmvOda::new(self.store.clone());
        let mut holder = Holder {
            pin: self.pin.clone(),
            asked: 0,
        };
        let r = contact::run(
            ex,
            &cfg,
            &txn,
            &mut Environment {
                oda: &mut oda,
                cardholder: &mut holder,
                issuer: &mut self.host,
                rng: &mut OsRng,
            },
        )
        .map_err(|e| e.to_string())?;
        match r.outcome {
            Outcome::ApprovedOnline => Ok(()),
            other => Err(format!(
                "{} (TVR {})",
                outcome_text(&other),
                hex::to_string(&r.tvr)
            )),
        }
    }
}

// --------------------------------------------------------------------------- load

fn load(args: &LoadArgs) -> Result<()> {
    let t = &args.terminal;
    let amount = parse_amount(&args.amount)?;
    let cfg = terminal_config(t, true);
    let txn = transaction(t, amount)?;
    let mut holder = holder(&args.pin)?;
    let mut oda = EmvOda::new(capks(t)?);
    let mut card = conn::open(&t.card)?;
    // The host books the card's balance; read it first, as the issuer's ledger would
    // hold it.
    let before = contact::read_application(&mut card.ex, &cfg, &txn, &mut OsRng)
        .ok()
        .and_then(|_| ec::read_info(&mut card.ex).ok())
        .and_then(|i| i.balance);
    let Some(before) = before else {
        card.close();
        bail!("cannot read the card's electronic-cash balance (9F79)");
    };
    let mut host = issuer_host(&args.issuer)?.with_ec_balance(before);
    let result = ec::load(
        &mut card.ex,
        &cfg,
        amount,
        &txn,
        &mut Environment {
            oda: &mut oda,
            cardholder: &mut holder,
            issuer: &mut host,
            rng: &mut OsRng,
        },
    );
    card.close();
    let r = result.map_err(|e| anyhow::anyhow!("load failed: {e}"))?;
    println!("amount: {}", yuan(amount));
    println!("EC balance before: {}", yuan(before));
    print_result(&r.transaction);
    let after = r.balance_after.unwrap_or(before);
    println!("EC balance after: {}", yuan(after));
    std::io::stdout().flush().ok();
    if after != before.saturating_add(amount) {
        bail!(
            "the card did not take the load (balance {} -> {}): see the script result",
            yuan(before),
            yuan(after)
        );
    }
    Ok(())
}

// --------------------------------------------------------------------------- host

fn host(args: &HostArgs) -> Result<()> {
    let mut host = issuer_host(&args.issuer)?.with_ec_balance(parse_amount(&args.balance)?);
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.context("reading standard input")?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Ok(field55) = hex::to_vec(line) else {
            writeln!(stdout, "error|field 55 is not hex|")?;
            continue;
        };
        let answer = host.authorise(&OnlineRequest {
            field55: &field55,
            pan: None,
            psn: None,
            online_pin: None,
        });
        match (answer, host.last_decision()) {
            (Some(a), Some(sscard_pboc::host::Decision::Approved)) => writeln!(
                stdout,
                "approved|{}|{}|{}|",
                hex::to_string(&a.arc),
                a.auth_data
                    .as_deref()
                    .map(hex::to_string)
                    .unwrap_or_default(),
                hex::to_string(&a.scripts)
            )?,
            (Some(a), d) => writeln!(stdout, "declined|{}|{d:?}|", hex::to_string(&a.arc))?,
            (None, d) => writeln!(stdout, "error|{d:?}|")?,
        }
        stdout.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts() {
        assert_eq!(parse_amount("12.34").unwrap(), 1234);
        assert_eq!(parse_amount("12").unwrap(), 1200);
        assert_eq!(parse_amount("0.5").unwrap(), 50);
        assert!(parse_amount("1.234").is_err());
        assert!(parse_amount("-1").is_err());
        assert!(parse_amount("1e3").is_err());
        assert!(parse_amount("").is_err());
        assert!(parse_amount("99999999999999").is_err());
        assert_eq!(yuan(1234), "12.34");
    }

    #[test]
    fn pan_masking_and_dates() {
        assert_eq!(
            pan_text(&[0x62, 0x28, 0x00, 0x01, 0x00, 0x00, 0x11, 0x17], false),
            "622800******1117"
        );
        assert_eq!(
            pan_text(&[0x62, 0x28, 0x00, 0x01, 0x00, 0x00, 0x11, 0x17], true),
            "6228000100001117"
        );
        assert_eq!(date_text(&[0x30, 0x12, 0x31]), "2030-12-31");
        assert_eq!(date_text(&[0x95, 0x07, 0x01]), "1995-07-01");
        assert_eq!(parse_date("261122").unwrap(), [0x26, 0x11, 0x22]);
        assert!(parse_date("26112").is_err());
        assert!(parse_date("2611AA").is_err());
        let (d, _) = now_bcd();
        assert!(d[1] >= 1 && d[1] <= 0x12 && d[2] >= 1 && d[2] <= 0x31);
    }
}
