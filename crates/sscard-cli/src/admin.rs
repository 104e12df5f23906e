//! Commands that change the card or need keys: write items, PIN change / reload /
//! unblock, internal authentication, the HSM two-step read, and the application
//! directory.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use sscard_crypto::kdf::EmulationScheme;
use sscard_crypto::keys::Algorithm;
use sscard_fs::keys::KeySet;
use sscard_fs::{Address, Profile, SSSE_EF05};
use sscard_issue::hsm::{HsmClient, HsmError};
use sscard_ssse::psam::PsamError;
use sscard_ssse::security::{
    internal_authenticate, reload_pin, unblock_pin, AuthError, CardContext, SecureTransport,
    SecurityModule, SoftKeys, SoftKeysError,
};
use sscard_ssse::{ReadError, Selection};

use crate::conn::{self, CardArgs, ConnError, Opened, OpenedPsam, PsamArgs};
use crate::pin::PinArgs;

/// Who computes the cryptograms.
#[derive(clap::Args, Debug, Clone)]
pub struct ModuleArgs {
    /// PC/SC reader holding the PSAM.
    #[arg(long = "psam", value_name = "READER", conflicts_with_all = ["emulated_psam", "soft_keys"])]
    pub psam_reader: Option<String>,
    /// The built-in emulated PSAM in process (with --emulated).
    #[arg(long, requires = "emulated", conflicts_with = "soft_keys")]
    pub emulated_psam: bool,
    /// DEVELOPMENT ONLY: the built-in emulation test keys in memory (they authenticate
    /// emulated cards only).
    #[arg(long)]
    pub soft_keys: bool,
    /// The issuance security module at ADDR (host:port, apdu-specs/hsm-issuance.md; `sscard
    /// hsm serve` for development): card-key cryptograms only (verify, write, internal
    /// authentication), not PIN reload or unblock.
    #[arg(long = "hsm", value_name = "ADDR", conflicts_with_all = ["psam_reader", "emulated_psam", "soft_keys"])]
    pub hsm: Option<String>,
}

/// A PSAM, software keys or the issuance security module.
pub enum Module {
    /// A PSAM in a reader or in process.
    Psam(Box<OpenedPsam>),
    /// The emulation test keys.
    Soft(SoftKeys<EmulationScheme>),
    /// The issuance security module.
    Hsm(HsmClient),
}

/// Errors of either module.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// The PSAM.
    #[error(transparent)]
    Psam(#[from] PsamError<ConnError>),
    /// Software keys.
    #[error(transparent)]
    Soft(#[from] SoftKeysError),
    /// The issuance security module.
    #[error(transparent)]
    Hsm(#[from] HsmError),
    /// The module does not do this.
    #[error(
        "the issuance security module does not encipher or MAC for PIN reload/unblock; use a PSAM"
    )]
    Unsupported,
}

impl SecurityModule for Module {
    type Error = ModuleError;
    fn cryptogram(
        &mut self,
        card: &CardContext<'_>,
        key: u8,
        factor: &[u8; 8],
        plain: &[u8; 8],
    ) -> Result<[u8; 8], ModuleError> {
        Ok(match self {
            Self::Psam(p) => p.psam.cryptogram(card, key, factor, plain)?,
            Self::Soft(s) => s.cryptogram(card, key, factor, plain)?,
            Self::Hsm(h) => h.cryptogram(card, key, factor, plain)?,
        })
    }
}

impl SecureTransport for Module {
    fn encrypt(
        &mut self,
        card: &CardContext<'_>,
        key: u8,
        factor: &[u8; 8],
        data: &mut [u8],
    ) -> Result<(), ModuleError> {
        match self {
            Self::Psam(p) => p.psam.encrypt(card, key, factor, data)?,
            Self::Soft(s) => s.encrypt(card, key, factor, data)?,
            Self::Hsm(_) => return Err(ModuleError::Unsupported),
        }
        Ok(())
    }
    fn mac(
        &mut self,
        card: &CardContext<'_>,
        key: u8,
        factor: &[u8; 8],
        data: &[u8],
    ) -> Result<[u8; 8], ModuleError> {
        Ok(match self {
            Self::Psam(p) => p.psam.mac(card, key, factor, data)?,
            Self::Soft(s) => s.mac(card, key, factor, data)?,
            Self::Hsm(_) => return Err(ModuleError::Unsupported),
        })
    }
}

impl Module {
    /// Opens the module the arguments name; `None` when none is named.
    pub fn open(args: &ModuleArgs, card: &CardArgs) -> Result<Option<Self>> {
        if let Some(addr) = &args.hsm {
            return Ok(Some(Self::Hsm(crate::issue::hsm_client(addr)?)));
        }
        if args.soft_keys {
            let keys =
                KeySet::from_json(sscard_fs::EMULATION_KEYS_JSON).context("built-in key set")?;
            return Ok(Some(Self::Soft(SoftKeys::new(keys, EmulationScheme))));
        }
        let psam = PsamArgs {
            psam: args.psam_reader.clone(),
            emulated_psam: args.emulated_psam,
        };
        Ok(conn::open_psam(&psam, card)?.map(|p| Self::Psam(Box::new(p))))
    }

    /// Like [`Module::open`], with an error naming the options when none is named.
    pub fn require(args: &ModuleArgs, card: &CardArgs) -> Result<Self> {
        Self::open(args, card)?.ok_or_else(|| {
            anyhow!("this needs a security module: --psam READER, --emulated-psam (with --emulated), --hsm ADDR, or --soft-keys (development)")
        })
    }

    /// Gives the PSAM's reader back (nothing to do for software keys).
    pub fn close(self) {
        if let Self::Psam(p) = self {
            p.close();
        }
    }
}

fn explain(e: AuthError<ConnError, ModuleError>) -> anyhow::Error {
    match e {
        AuthError::Card(ReadError::Card(step, status)) => anyhow!("{step}: card answered {status}"),
        other => anyhow!("{other}"),
    }
}

/// Selects the SSSE and reads one EF05 item: the image read and the item's text.
fn read_ef05_item(
    card: &mut Opened,
    profile: &Profile,
    key: &str,
) -> Result<(sscard_fs::Image, Option<String>)> {
    let keys = [key];
    let wanted = [(SSSE_EF05, Selection::Keys(&keys))];
    let image = sscard_ssse::read_files(&mut card.ex, profile, &card.atr, &wanted)
        .map_err(|e| anyhow!("{e}"))?;
    let text = image
        .files
        .get(SSSE_EF05)
        .and_then(|f| f.get(key))
        .and_then(|v| v.as_text())
        .map(String::from);
    Ok((image, text))
}

/// Selects the SSSE and reads what a security module needs to know about the card.
fn card_context(card: &mut Opened, profile: &Profile) -> Result<(String, Algorithm)> {
    let (image, card_id) = read_ef05_item(card, profile, "card_id")?;
    let card_id = card_id.context("the card has no identification code")?;
    let id = image
        .algorithm_id_byte()
        .ok()
        .flatten()
        .unwrap_or(Algorithm::DEFAULT_CARD_ID);
    let algorithm = Algorithm::from_card_id(id).map_err(|e| anyhow!("{e}"))?;
    Ok((card_id, algorithm))
}

/// The card key id of the profile's internal-authentication key (IRK).
fn internal_auth_key(profile: &Profile) -> Result<u8> {
    profile
        .node(sscard_fs::SSSE)
        .and_then(|n| {
            n.keys
                .iter()
                .find(|k| k.usage == sscard_fs::profile::KeyUsage::InternalAuth)
        })
        .map(|k| k.id)
        .context("the profile names no internal-authentication key")
}

/// `sscard write`.
#[derive(clap::Args)]
pub struct WriteArgs {
    #[command(flatten)]
    card: CardArgs,
    #[command(flatten)]
    module: ModuleArgs,
    #[command(flatten)]
    pin: PinArgs,
    /// The items, in the reader library's address form ("SSSEEF05|05|06|$").
    #[arg(long)]
    items: String,
    /// The values in the same form as `read --items` prints ("SSSEEF05|20250101|20350101|$"):
    /// one value per item, file parts in the same order.
    #[arg(long)]
    data: String,
}

fn parse_values(address: &Address, data: &str) -> Result<Vec<Vec<String>>> {
    let parts: Vec<&str> = data.split('$').filter(|p| !p.is_empty()).collect();
    if parts.len() != address.files.len() {
        bail!(
            "--data has {} file parts, --items {}",
            parts.len(),
            address.files.len()
        );
    }
    let mut values = Vec::with_capacity(parts.len());
    for (part, file) in parts.iter().zip(&address.files) {
        let mut fields: Vec<String> = part.split('|').skip(1).map(String::from).collect();
        if fields.last().is_some_and(String::is_empty) {
            fields.pop();
        }
        let want = file.items.len() + usize::from(file.record.is_some());
        if fields.len() != want {
            bail!(
                "--data gives {} values for {}, which has {want} items",
                fields.len(),
                file.path()
            );
        }
        values.push(fields);
    }
    Ok(values)
}

/// Writes items after the update keys' authentication.
pub fn write(args: &WriteArgs) -> Result<()> {
    let profile = conn::profile()?;
    let address = Address::parse(&args.items)?;
    address.validate(&profile)?;
    let values = parse_values(&address, &args.data)?;
    let pin = args.pin.read()?;
    let mut card = conn::open(&args.card)?;
    let mut module = Module::require(&args.module, &args.card)?;
    let (card_id, algorithm) = card_context(&mut card, &profile)?;
    let ctx = CardContext {
        atr: &card.atr,
        card_id: &card_id,
        algorithm,
    };
    let result = sscard_ssse::write_address(
        &mut card.ex,
        &profile,
        &address,
        &values,
        pin.as_ref(),
        &mut module,
        &ctx,
    );
    // Read back what was written, in the same session (an emulated card lives only here).
    let back = result.map_err(explain).and_then(|()| {
        sscard_ssse::read_address_with(
            &mut card.ex,
            &profile,
            &address,
            pin.as_ref(),
            &mut module,
            &ctx,
        )
        .map_err(explain)
    });
    module.close();
    card.close();
    let back = back.context("writing the card")?;
    println!("{}", address.format_values(&back));
    Ok(())
}

/// PIN subcommands beyond verify.
#[derive(clap::Args)]
pub struct PinAdminArgs {
    #[command(flatten)]
    pub card: CardArgs,
    #[command(flatten)]
    pub module: ModuleArgs,
    #[command(flatten)]
    pub pin: PinArgs,
}

fn select(card: &mut Opened, profile: &Profile) -> Result<()> {
    sscard_ssse::select_ssse(&mut card.ex, profile).map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

/// CHANGE PIN: the old PIN on the first line, the new one on the second.
pub fn pin_change(args: &PinAdminArgs) -> Result<()> {
    let profile = conn::profile()?;
    let (old, new) = args.pin.read_two()?;
    let mut card = conn::open(&args.card)?;
    select(&mut card, &profile)?;
    let mut data = old.bcd().to_vec();
    data.push(0xFF);
    data.extend_from_slice(&new.bcd());
    let mut buf = [0u8; 8];
    let r = card
        .ex
        .send(
            &sscard_apdu::CommandBuilder::new(0x80, 0x5E, 0x01, 0x00).data(&data),
            &mut buf,
        )
        .map_err(|e| anyhow!("CHANGE PIN: {e}"))?;
    let status = r.status;
    card.close();
    match status {
        sscard_apdu::Status::Success => {
            println!("PIN changed");
            Ok(())
        }
        sscard_apdu::Status::VerificationFailed { tries_left } => {
            bail!("wrong PIN: {tries_left} tries left")
        }
        sscard_apdu::Status::AuthenticationMethodBlocked => bail!("the PIN is blocked"),
        other => bail!("CHANGE PIN: card answered {other}"),
    }
}

/// RELOAD (new PIN from the PIN source) or UNBLOCK (no PIN) through a security module.
pub fn pin_reload_or_unblock(args: &PinAdminArgs, reload: bool) -> Result<()> {
    let profile = conn::profile()?;
    let new = if reload {
        Some(args.pin.require()?)
    } else {
        None
    };
    let mut card = conn::open(&args.card)?;
    let mut module = Module::require(&args.module, &args.card)?;
    let (card_id, algorithm) = card_context(&mut card, &profile)?;
    let ctx = CardContext {
        atr: &card.atr,
        card_id: &card_id,
        algorithm,
    };
    let result = match &new {
        Some(pin) => reload_pin(&mut card.ex, &profile, &mut module, &ctx, pin),
        None => unblock_pin(&mut card.ex, &profile, &mut module, &ctx),
    };
    module.close();
    card.close();
    result.map_err(explain)?;
    println!(
        "{}",
        if reload {
            "PIN reloaded"
        } else {
            "PIN unblocked"
        }
    );
    Ok(())
}

/// `sscard auth internal`.
#[derive(clap::Args)]
pub struct AuthArgs {
    #[command(flatten)]
    card: CardArgs,
    #[command(flatten)]
    module: ModuleArgs,
}

/// INTERNAL AUTHENTICATE with the profile's internal-authentication key.
pub fn auth_internal(args: &AuthArgs) -> Result<()> {
    let profile = conn::profile()?;
    let irk = internal_auth_key(&profile)?;
    let mut card = conn::open(&args.card)?;
    let mut module = Module::require(&args.module, &args.card)?;
    let (card_id, algorithm) = card_context(&mut card, &profile)?;
    let ctx = CardContext {
        atr: &card.atr,
        card_id: &card_id,
        algorithm,
    };
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| anyhow!("no randomness: {e}"))?;
    let result = internal_authenticate(&mut card.ex, &mut module, &ctx, irk, &nonce);
    module.close();
    card.close();
    result.map_err(explain)?;
    println!("card is genuine (internal authentication with key {irk:02X} passed)");
    Ok(())
}

/// `sscard hsm read`.
#[derive(clap::Args)]
pub struct HsmReadArgs {
    #[command(flatten)]
    card: CardArgs,
    /// 终端设备号 to append to the Step 1 string (some deployments send none).
    #[arg(long)]
    device: Option<String>,
}

/// Prints the Step 1 string, reads the HSM's Step 2 key string from standard input,
/// finishes the read and prints the iReadCardBas string.
pub fn hsm_read(args: &HsmReadArgs) -> Result<()> {
    let profile = conn::profile()?;
    let mut card = conn::open(&args.card)?;
    let (step1, pending) =
        match sscard_ssse::hsm::step1(&mut card.ex, &profile, &card.atr, args.device.as_deref()) {
            Ok(s) => s,
            Err(e) => {
                card.close();
                bail!("HSM step 1: {e}");
            }
        };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{step1}")?;
    out.flush()?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the HSM answer")?;
    let key = sscard_ssse::hsm::Step2Key::parse(&line).map_err(|e| anyhow!("HSM answer: {e}"))?;
    let result = sscard_ssse::hsm::step2(&mut card.ex, &profile, pending, &key);
    card.close();
    let basic = result.map_err(|e| anyhow!("HSM step 2: {e}"))?;
    writeln!(
        out,
        "{}",
        basic.ireadcardbas(None, args.device.as_deref().unwrap_or(""))
    )?;
    Ok(())
}

/// DEVELOPMENT ONLY: answers Step 1 strings (one per line on standard input) with the
/// emulation test keys, as a test HSM.
pub fn hsm_answer() -> Result<()> {
    let profile = conn::profile()?;
    let irk = internal_auth_key(&profile)?;
    let read_key =
        sscard_ssse::basic_read_key(&profile).context("the profile names no read key")?;
    let keys = KeySet::from_json(sscard_fs::EMULATION_KEYS_JSON).context("built-in key set")?;
    let mut hsm =
        sscard_ssse::hsm::SoftHsm::new(SoftKeys::new(keys, EmulationScheme), irk, read_key);
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let step1 =
            sscard_ssse::hsm::Step1::parse(&line).map_err(|e| anyhow!("Step 1 string: {e}"))?;
        let key = hsm.answer(&step1).map_err(|e| anyhow!("{e}"))?;
        writeln!(out, "{key}")?;
        out.flush()?;
    }
    Ok(())
}

/// `sscard apps …`.
#[derive(clap::Subcommand)]
pub enum AppsCmd {
    /// List the directory (counts per category and provenance with --json).
    List {
        /// Only this category (就业创业, 社会保险, 人事人才, 劳动关系, 综合).
        #[arg(long)]
        category: Option<String>,
        /// A directory file (e.g. the official list) instead of the built-in seed.
        #[arg(long)]
        directory: Option<PathBuf>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Show one application.
    Show {
        /// Its id (P-01 …).
        id: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Which applications this card and terminal support, and why not.
    Check {
        #[command(flatten)]
        card: CardArgs,
        #[command(flatten)]
        module: ModuleArgs,
        /// Terminal description (JSON: security_module, pin_pad, contactless, printer,
        /// online); default: a PIN pad only, plus the module named.
        #[arg(long)]
        terminal: Option<PathBuf>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Replace the directory with a file (the official list) and print what changed.
    Diff {
        /// The new directory file.
        file: PathBuf,
    },
}

fn load_directory(path: Option<&std::path::Path>) -> Result<sscard_appdir::Directory> {
    match path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            sscard_appdir::Directory::from_json(&text)
                .with_context(|| format!("directory {}", p.display()))
        }
        None => sscard_appdir::Directory::builtin().context("built-in directory"),
    }
}

/// Card facts: generation from the spec version, DFs present (SELECT by FID), the bank
/// application (SELECT by its AID).
fn card_facts(card: &mut Opened, profile: &Profile) -> Result<sscard_appdir::CardFacts> {
    let (_, version) = read_ef05_item(card, profile, "spec_version")?;
    let version = version.unwrap_or_default();
    let generation = version
        .chars()
        .next()
        .and_then(|c| c.to_digit(10))
        .and_then(|d| u8::try_from(d).ok())
        .unwrap_or(2);
    let mut buf = [0u8; 258];
    let mut dfs = Vec::new();
    for n in 1u8..=7 {
        let fid = [0xDF, n];
        let r = card
            .ex
            .send(
                &sscard_apdu::CommandBuilder::new(0x00, 0xA4, 0x00, 0x00).data(&fid),
                &mut buf,
            )
            .map_err(|e| anyhow!("{e}"))?;
        if r.status.is_success() {
            dfs.push(n);
            sscard_ssse::select_ssse(&mut card.ex, profile).map_err(|e| anyhow!("{e}"))?;
        }
    }
    // The bank application: any AID of the PBOC kernel's UnionPay list (debit, credit,
    // quasi-credit, electronic cash) that the card selects.
    let mut bank_app = false;
    for entry in sscard_pboc::config::unionpay_aids() {
        let r = card
            .ex
            .send(
                &sscard_apdu::CommandBuilder::new(0x00, 0xA4, 0x04, 0x00)
                    .data(&entry.aid)
                    .le(256),
                &mut buf,
            )
            .map_err(|e| anyhow!("{e}"))?;
        if r.status.is_success() {
            bank_app = true;
            break;
        }
    }
    Ok(sscard_appdir::CardFacts {
        generation,
        dfs,
        bank_app,
        contactless: false,
    })
}

/// `sscard apps …`.
pub fn apps(cmd: &AppsCmd) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        AppsCmd::List {
            category,
            directory,
            json,
        } => {
            let dir = load_directory(directory.as_deref())?;
            let items: Vec<&sscard_appdir::App> = dir
                .items
                .iter()
                .filter(|a| category.as_deref().is_none_or(|c| a.category == c))
                .collect();
            if *json {
                let doc = serde_json::json!({
                    "directory_version": dir.directory_version,
                    "status": dir.status,
                    "counts": dir.counts(),
                    "items": items,
                });
                serde_json::to_writer_pretty(&mut out, &doc)?;
                writeln!(out)?;
            } else {
                writeln!(
                    out,
                    "{} ({}): {} entries",
                    dir.directory_version,
                    dir.status,
                    dir.items.len()
                )?;
                for a in items {
                    writeln!(
                        out,
                        "{:<6} {:<5} {:<12} {} — {}",
                        a.id,
                        format!("{:?}", a.provenance).to_lowercase(),
                        a.category,
                        a.name_zh,
                        a.name_en
                    )?;
                }
            }
        }
        AppsCmd::Show { id, json } => {
            let dir = load_directory(None)?;
            let app = dir
                .get(id)
                .with_context(|| format!("no application {id}"))?;
            if *json {
                serde_json::to_writer_pretty(&mut out, app)?;
                writeln!(out)?;
            } else {
                writeln!(
                    out,
                    "{} [{}] {} — {}",
                    app.id, app.category, app.name_zh, app.name_en
                )?;
                writeln!(out, "provenance: {:?}", app.provenance)?;
                let caps: Vec<String> = app.capabilities.iter().map(ToString::to_string).collect();
                writeln!(out, "needs: {}", caps.join(", "))?;
                for s in &app.sources {
                    writeln!(out, "source: {s}")?;
                }
            }
        }
        AppsCmd::Check {
            card: card_args,
            module,
            terminal,
            json,
        } => {
            let profile = conn::profile()?;
            let dir = load_directory(None)?;
            let mut terminal_facts: sscard_appdir::TerminalFacts = match terminal {
                Some(p) => serde_json::from_str(
                    &std::fs::read_to_string(p)
                        .with_context(|| format!("cannot read {}", p.display()))?,
                )
                .with_context(|| format!("terminal description {}", p.display()))?,
                None => sscard_appdir::TerminalFacts {
                    pin_pad: true,
                    ..Default::default()
                },
            };
            if let Some(m) = Module::open(module, card_args)? {
                terminal_facts.security_module = true;
                m.close();
            }
            let mut card = conn::open(card_args)?;
            let facts = card_facts(&mut card, &profile);
            card.close();
            let facts = facts?;
            let result = sscard_appdir::check(&dir, &facts, &terminal_facts);
            if *json {
                let rows: Vec<serde_json::Value> = result
                    .iter()
                    .map(|(a, av)| serde_json::json!({ "id": a.id, "name_zh": a.name_zh, "availability": av }))
                    .collect();
                let doc = serde_json::json!({ "card": facts, "terminal": terminal_facts, "applications": rows });
                serde_json::to_writer_pretty(&mut out, &doc)?;
                writeln!(out)?;
            } else {
                writeln!(
                    out,
                    "card: generation {}, DFs {:?}, bank application {}",
                    facts.generation, facts.dfs, facts.bank_app
                )?;
                for (a, av) in result {
                    let text = match av {
                        sscard_appdir::Availability::Card => "available".to_string(),
                        sscard_appdir::Availability::ElectronicCard { card_lacks } => format!(
                            "electronic card only ({})",
                            card_lacks
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join("; ")
                        ),
                        sscard_appdir::Availability::No { missing } => format!(
                            "not available: {}",
                            missing
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join("; ")
                        ),
                    };
                    writeln!(out, "{:<6} {:<16} {text}", a.id, a.name_zh)?;
                }
            }
        }
        AppsCmd::Diff { file } => {
            let mut dir = load_directory(None)?;
            let new = load_directory(Some(file))?;
            let diff = dir.replace(new);
            serde_json::to_writer_pretty(&mut out, &diff)?;
            writeln!(out)?;
        }
    }
    Ok(())
}
