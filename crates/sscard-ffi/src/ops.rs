//! The operations behind the C functions, in safe Rust over the session: each one
//! opens the card, runs one flow of `sscard-ssse`, closes the card and returns the
//! pOutInfo text or a [`Failure`]. The C layer (`crate::exports`) only moves strings.

use std::os::raw::c_int;

use sscard_apdu::hex;
use sscard_crypto::keys::Algorithm;
use sscard_fs::{Address, SSSE_EF05};
use sscard_ssse::hsm::{self, PinOp, Step2Key};
use sscard_ssse::security::{self, CardContext};
use sscard_ssse::{Pin, Selection};

use crate::codes::{
    from_auth, from_hsm, from_pin_hsm, from_read, Failure, ModuleCode, Outcome,
    SSCARD_E_CARD_ID_FORMAT, SSCARD_E_DATA_MISMATCH, SSCARD_E_INTERNAL, SSCARD_E_PARAM,
    SSCARD_E_PIN_CONFIRM, SSCARD_E_PSAM_ALGORITHM,
};
use crate::pin::{obtain, parse_pin, Prompt};
use crate::session::{HsmState, Module, Opened, PendingHsm, Session};

/// Where a PIN comes from for one call.
#[derive(Clone, Copy, Debug)]
pub enum PinInput<'a> {
    /// The configured PIN source (the PIN-pad functions).
    Source,
    /// Given by the application (the explicit-PIN functions).
    Given(&'a str),
}

/// What a flow can use besides the card.
struct Ctx<'s> {
    profile: &'s sscard_fs::Profile,
    module: &'s mut Module,
    device_number: &'s str,
}

/// Opens the card, runs `f`, closes the card.
fn run<T>(
    s: &mut Session,
    itype: c_int,
    f: impl FnOnce(&mut Ctx<'_>, &mut Opened) -> Outcome<T>,
) -> Outcome<T> {
    s.discard_pending();
    let mut opened = s.open(itype)?;
    let result = f(
        &mut Ctx {
            profile: &s.profile,
            module: &mut s.module,
            device_number: &s.config.device_number,
        },
        &mut opened,
    );
    s.close(opened);
    result
}

fn pins(s: &Session, inputs: &[(PinInput<'_>, Prompt)]) -> Outcome<Vec<Pin>> {
    // The source is asked once for all its PINs (a file gives them line by line).
    let prompts: Vec<Prompt> = inputs
        .iter()
        .filter(|(input, _)| matches!(input, PinInput::Source))
        .map(|(_, prompt)| *prompt)
        .collect();
    let mut from_source = if prompts.is_empty() {
        Vec::new()
    } else {
        obtain(&s.config.pin_source, s.config.pin_timeout, &prompts)?
    }
    .into_iter();
    inputs
        .iter()
        .map(|(input, _)| match input {
            PinInput::Given(text) => parse_pin(text),
            PinInput::Source => from_source
                .next()
                .ok_or_else(|| Failure::new(SSCARD_E_INTERNAL, "no PIN")),
        })
        .collect()
}

/// `iReadCardBas`: the §4.3 string. 3.0 cards are authenticated through the security
/// module (none: −2201, the applications' cue for the HSM steps).
pub fn read_card_bas(s: &mut Session, itype: c_int) -> Outcome<String> {
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce)
        .map_err(|e| Failure::new(SSCARD_E_INTERNAL, format!("random: {e}")))?;
    run(s, itype, |ctx, card| {
        let basic = sscard_ssse::read_basic_secured(
            &mut card.ex,
            ctx.profile,
            &card.atr,
            ctx.module,
            &nonce,
        )
        .map_err(|e| from_auth(&e))?;
        // A 2nd-generation card needs no module, but a configured PSAM still gives the
        // 终端机编号; a PSAM that cannot be reached leaves it 000000000000.
        let _ = ctx.module.prepare();
        Ok(basic.ireadcardbas(ctx.module.terminal_number(), ctx.device_number))
    })
}

/// What a flow needs to know about the card before authenticating.
struct Facts {
    card_id: String,
    card_number: String,
    algorithm: Algorithm,
    algorithm_id: u8,
}

fn facts(ctx: &Ctx<'_>, card: &mut Opened) -> Outcome<Facts> {
    let image = sscard_ssse::read_files(
        &mut card.ex,
        ctx.profile,
        &card.atr,
        &[(SSSE_EF05, Selection::Keys(&["card_id", "card_number"]))],
    )
    .map_err(|e| from_read(&e))?;
    let get = |key: &str| {
        image
            .files
            .get(SSSE_EF05)
            .and_then(|f| f.get(key))
            .and_then(|v| v.as_text())
            .unwrap_or_default()
            .to_string()
    };
    let id = image
        .algorithm_id
        .as_deref()
        .and_then(|h| hex::to_vec(h).ok())
        .and_then(|v| v.first().copied())
        .unwrap_or(Algorithm::DEFAULT_CARD_ID);
    let algorithm = Algorithm::from_card_id(id).map_err(|_| {
        Failure::new(
            SSCARD_E_PSAM_ALGORITHM,
            format!("the card's algorithm {id:02X} is not supported"),
        )
    })?;
    Ok(Facts {
        card_id: get("card_id"),
        card_number: get("card_number"),
        algorithm,
        algorithm_id: id,
    })
}

/// Checks `卡识别码|卡号|` against the card (§4.4); an empty string checks nothing
/// when `required` is false.
fn check_card_info(card_info: &str, facts: &Facts, required: bool) -> Outcome<()> {
    if card_info.trim().is_empty() {
        return if required {
            Err(Failure::new(
                SSCARD_E_PARAM,
                "pCardInfo must be 卡识别码|卡号|",
            ))
        } else {
            Ok(())
        };
    }
    let mut fields = card_info.split('|');
    let id = fields.next().unwrap_or_default().trim();
    let number = fields.next().unwrap_or_default().trim();
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Failure::new(
            SSCARD_E_CARD_ID_FORMAT,
            "卡识别码格式错 (the card identification code is 32 hex digits)",
        ));
    }
    if !id.eq_ignore_ascii_case(&facts.card_id)
        || (!number.is_empty() && number != facts.card_number)
    {
        return Err(Failure::new(
            SSCARD_E_DATA_MISMATCH,
            "数据不符 (pCardInfo is not this card)",
        ));
    }
    Ok(())
}

fn parse_address(s: &Session, text: &str) -> Outcome<Address> {
    let address = Address::parse(text)
        .map_err(|e| Failure::new(SSCARD_E_PARAM, format!("pFileAddr: {e}")))?;
    address
        .validate(&s.profile)
        .map_err(|e| Failure::new(SSCARD_E_PARAM, format!("pFileAddr: {e}")))?;
    Ok(address)
}

/// `iReadCard`: the items of `file_addr` (§4.4), the output mirroring the address.
/// `auth_type` 0: none, 1: the PIN (from the PIN source) in each application DF, 2: the
/// files' read keys through the security module.
pub fn read_card(
    s: &mut Session,
    itype: c_int,
    auth_type: c_int,
    card_info: &str,
    file_addr: &str,
) -> Outcome<String> {
    let address = parse_address(s, file_addr)?;
    let pin = match auth_type {
        0 | 2 => None,
        1 => pins(s, &[(PinInput::Source, Prompt::Verify)])?.pop(),
        _ => {
            return Err(Failure::new(
                SSCARD_E_PARAM,
                format!("iAuthType {auth_type}: want 1 (PIN) or 2 (read key)"),
            ))
        }
    };
    run(s, itype, |ctx, card| {
        let f = facts(ctx, card)?;
        check_card_info(card_info, &f, false)?;
        let values = if auth_type == 2 {
            let cc = CardContext {
                atr: &card.atr,
                card_id: &f.card_id,
                algorithm: f.algorithm,
            };
            sscard_ssse::read_address_with(
                &mut card.ex,
                ctx.profile,
                &address,
                pin.as_ref(),
                ctx.module,
                &cc,
            )
            .map_err(|e| from_auth(&e))?
        } else {
            sscard_ssse::read_address(&mut card.ex, ctx.profile, &address, pin.as_ref())
                .map_err(|e| from_read(&e))?
        };
        Ok(address.format_values(&values))
    })
}

/// The values of pWriteData for `address`: the shape of iReadCard's output for the same
/// address (`SSSEEF05|v1|v2|$…`); the file heads may be left out (`v1|v2|$…`).
pub fn parse_write_data(address: &Address, data: &str) -> Outcome<Vec<Vec<String>>> {
    let bad = |why: &str| Failure::new(SSCARD_E_PARAM, format!("pWriteData: {why}"));
    let parts: Vec<&str> = data.split('$').filter(|p| !p.trim().is_empty()).collect();
    if parts.len() != address.files.len() {
        return Err(bad("one part per file part of pFileAddr, each ending in $"));
    }
    let mut out = Vec::with_capacity(parts.len());
    for (file, part) in address.files.iter().zip(parts) {
        let spelled = Address {
            files: vec![file.clone()],
        }
        .to_string();
        let head = spelled.split(['|', '$']).next().unwrap_or_default();
        let mut fields: Vec<&str> = part.split('|').collect();
        if fields.last() == Some(&"") {
            fields.pop();
        }
        if fields
            .first()
            .is_some_and(|f| f.trim().eq_ignore_ascii_case(head))
        {
            fields.remove(0);
        }
        let expected = file.items.len() + usize::from(file.record.is_some());
        if fields.len() != expected {
            return Err(bad(&format!(
                "{head}: {} values for {expected} items",
                fields.len()
            )));
        }
        out.push(fields.into_iter().map(String::from).collect());
    }
    Ok(out)
}

/// `iWriteCard`: writes the items of `file_addr`, authenticating with each file's
/// update key through the security module. The output is what was written, in
/// iReadCard's shape.
pub fn write_card(
    s: &mut Session,
    itype: c_int,
    card_info: &str,
    file_addr: &str,
    write_data: &str,
) -> Outcome<String> {
    let address = parse_address(s, file_addr)?;
    let values = parse_write_data(&address, write_data)?;
    run(s, itype, |ctx, card| {
        let f = facts(ctx, card)?;
        check_card_info(card_info, &f, false)?;
        let cc = CardContext {
            atr: &card.atr,
            card_id: &f.card_id,
            algorithm: f.algorithm,
        };
        sscard_ssse::write_address(
            &mut card.ex,
            ctx.profile,
            &address,
            &values,
            None,
            ctx.module,
            &cc,
        )
        .map_err(|e| from_auth(&e))?;
        Ok(address.format_values(&values))
    })
}

fn select_ssse(ctx: &Ctx<'_>, card: &mut Opened) -> Outcome<()> {
    sscard_ssse::select_ssse(&mut card.ex, ctx.profile)
        .map(|_| ())
        .map_err(|e| from_read(&e))
}

/// `iVerifyPIN` / `iVerifyPin`: VERIFY in the SSSE. Empty output on success.
pub fn verify_pin(s: &mut Session, itype: c_int, pin: PinInput<'_>) -> Outcome<String> {
    let pin = pins(s, &[(pin, Prompt::Verify)])?;
    run(s, itype, |ctx, card| {
        select_ssse(ctx, card)?;
        for p in &pin {
            sscard_ssse::verify_pin(&mut card.ex, p).map_err(|e| from_read(&e))?;
        }
        Ok(String::new())
    })
}

/// `iChangePIN` / `iChangePin`: CHANGE PIN in the SSSE. From a PIN source the new PIN
/// is asked twice and both entries must agree (−34).
pub fn change_pin(
    s: &mut Session,
    itype: c_int,
    old: PinInput<'_>,
    new: PinInput<'_>,
) -> Outcome<String> {
    let mut asked = vec![(old, Prompt::Old), (new, Prompt::New)];
    if matches!(new, PinInput::Source) {
        asked.push((new, Prompt::New));
    }
    let got = pins(s, &asked)?;
    let (old, new) = match got.as_slice() {
        [old, new] => (old.clone(), new.clone()),
        [old, new, again] => {
            if new.bcd() != again.bcd() {
                return Err(Failure::new(
                    SSCARD_E_PIN_CONFIRM,
                    "两次输入的新密码不一致 (the two new PINs differ)",
                ));
            }
            (old.clone(), new.clone())
        }
        _ => return Err(Failure::new(SSCARD_E_INTERNAL, "PINs")),
    };
    run(s, itype, |ctx, card| {
        select_ssse(ctx, card)?;
        sscard_ssse::change_pin(&mut card.ex, &old, &new).map_err(|e| from_read(&e))?;
        Ok(String::new())
    })
}

/// `iReloadPIN`: sets a new PIN (from the PIN source, asked twice) with the PIN-unblock
/// and secure-transport keys of the security module, after checking pCardInfo.
pub fn reload_pin(s: &mut Session, itype: c_int, card_info: &str) -> Outcome<String> {
    let got = pins(
        s,
        &[
            (PinInput::Source, Prompt::New),
            (PinInput::Source, Prompt::New),
        ],
    )?;
    let new = match got.as_slice() {
        [new, again] if new.bcd() == again.bcd() => new.clone(),
        _ => {
            return Err(Failure::new(
                SSCARD_E_PIN_CONFIRM,
                "两次输入的新密码不一致 (the two new PINs differ)",
            ))
        }
    };
    run(s, itype, |ctx, card| {
        let f = facts(ctx, card)?;
        check_card_info(card_info, &f, true)?;
        let cc = CardContext {
            atr: &card.atr,
            card_id: &f.card_id,
            algorithm: f.algorithm,
        };
        security::reload_pin(&mut card.ex, ctx.profile, ctx.module, &cc, &new)
            .map_err(|e| from_auth(&e))?;
        Ok(String::new())
    })
}

/// `iUnblockPIN`: resets the PIN try counter with the security module's keys.
pub fn unblock_pin(s: &mut Session, itype: c_int, card_info: &str) -> Outcome<String> {
    run(s, itype, |ctx, card| {
        let f = facts(ctx, card)?;
        check_card_info(card_info, &f, true)?;
        let cc = CardContext {
            atr: &card.atr,
            card_id: &f.card_id,
            algorithm: f.algorithm,
        };
        security::unblock_pin(&mut card.ex, ctx.profile, ctx.module, &cc)
            .map_err(|e| from_auth(&e))?;
        Ok(String::new())
    })
}

/// `iGetReaderInfo`: the reader's name (PC/SC has no portable serial number) and the
/// PSAM terminal number (`000000000000` without a PSAM).
pub fn reader_info(s: &mut Session) -> Outcome<(String, String)> {
    s.discard_pending();
    let name = s.reader_name()?;
    if let Err(e) = s.module.prepare() {
        return Err(Failure::new(e.code(), e.to_string()));
    }
    let terminal = s
        .module
        .terminal_number()
        .unwrap_or("000000000000")
        .to_string();
    Ok((name, terminal))
}

/// `iReadCardBas_HSM_Step1`: the Step 1 string (§3.8); the card stays connected for
/// Step 2. The 终端设备号 field is present when `device_number` is configured.
pub fn hsm_step1(s: &mut Session, itype: c_int) -> Outcome<String> {
    s.discard_pending();
    let mut opened = s.open(itype)?;
    let device = (!s.config.device_number.is_empty()).then_some(s.config.device_number.as_str());
    match hsm::step1(&mut opened.ex, &s.profile, &opened.atr, device) {
        Ok((step1, state)) => {
            s.pending = Some(PendingHsm {
                opened,
                state: HsmState::Basic(state),
            });
            Ok(step1.to_string())
        }
        Err(e) => {
            s.close(opened);
            Err(from_hsm(&e))
        }
    }
}

/// `iReadCardBas_HSM_Step2`: checks the HSM's answer against the card, authenticates
/// with it and returns the iReadCardBas string.
pub fn hsm_step2(s: &mut Session, key: &str) -> Outcome<String> {
    let key =
        Step2Key::parse(key).map_err(|e| Failure::new(SSCARD_E_PARAM, format!("pKey: {e}")))?;
    let Some(PendingHsm {
        mut opened,
        state: HsmState::Basic(state),
    }) = s.pending.take()
    else {
        s.discard_pending();
        return Err(Failure::new(
            SSCARD_E_PARAM,
            "call iReadCardBas_HSM_Step1 first (no other call in between)",
        ));
    };
    let result = hsm::step2(&mut opened.ex, &s.profile, state, &key);
    s.close(opened);
    let basic = result.map_err(|e| from_hsm(&e))?;
    Ok(basic.ireadcardbas(s.module.terminal_number(), &s.config.device_number))
}

/// `iReloadPIN_HSM_Step1` / `iUnblockPIN_HSM_Step1`: checks pCardInfo (`卡识别码|卡号|`)
/// against the card and returns `算法标识|PUK地址|过程因子|原始数据|` for the HSM; the
/// card stays connected for Step 2.
pub fn pin_hsm_step1(s: &mut Session, itype: c_int, card_info: &str, op: PinOp) -> Outcome<String> {
    s.discard_pending();
    let mut opened = s.open(itype)?;
    let ctx = Ctx {
        profile: &s.profile,
        module: &mut s.module,
        device_number: &s.config.device_number,
    };
    let result = facts(&ctx, &mut opened).and_then(|f| {
        check_card_info(card_info, &f, true)?;
        hsm::pin_step1(&mut opened.ex, op, f.algorithm_id, s.config.hsm_addresses)
            .map_err(|e| from_pin_hsm(&e))
    });
    match result {
        Ok((step1, state)) => {
            s.pending = Some(PendingHsm {
                opened,
                state: HsmState::Pin(state),
            });
            Ok(step1.to_string())
        }
        Err(e) => {
            s.close(opened);
            Err(e)
        }
    }
}

/// Takes the pending PIN flow of `op`, or fails with −14 (and voids anything pending).
fn take_pin_pending(s: &mut Session, op: PinOp, step3: bool) -> Outcome<(Opened, hsm::PinPending)> {
    match s.pending.take() {
        Some(PendingHsm {
            opened,
            state: HsmState::Pin(state),
        }) if state.op() == op && state.awaiting_step3() == step3 => Ok((opened, state)),
        other => {
            if let Some(p) = other {
                s.close(p.opened);
            }
            let name = match op {
                PinOp::Reload => "iReloadPIN_HSM",
                PinOp::Unblock => "iUnblockPIN_HSM",
            };
            let before = if step3 { "Step2" } else { "Step1" };
            Err(Failure::new(
                SSCARD_E_PARAM,
                format!("call {name}_{before} first (no other call in between)"),
            ))
        }
    }
}

fn hex16(text: &str, what: &str) -> Outcome<[u8; 16]> {
    let text = text.trim().trim_end_matches('|');
    if text.len() != 32 {
        return Err(Failure::new(
            SSCARD_E_PARAM,
            format!("{what}: want 32 hex digits"),
        ));
    }
    hex::decode_array::<16>(text)
        .map_err(|_| Failure::new(SSCARD_E_PARAM, format!("{what}: want 32 hex digits")))
}

/// `iReloadPIN_HSM_Step2` / `iUnblockPIN_HSM_Step2`: pKey is the HSM's external
/// authentication (32 hex digits) for the PUK; returns `算法标识|STK地址|随机数|命令头|新密码|`
/// (unblock: without the PIN). The new PIN comes from the configured PIN source (new,
/// then again), since the standard Step 2 has no PIN parameter.
pub fn pin_hsm_step2(s: &mut Session, key: &str, op: PinOp) -> Outcome<String> {
    let (mut opened, mut state) = take_pin_pending(s, op, false)?;
    let prepared = hex16(key, "pKey").and_then(|external| {
        if op == PinOp::Unblock {
            return Ok((external, None));
        }
        let got = pins(
            s,
            &[
                (PinInput::Source, Prompt::New),
                (PinInput::Source, Prompt::New),
            ],
        )?;
        match got.as_slice() {
            [new, again] if new.bcd() == again.bcd() => Ok((external, Some(new.clone()))),
            _ => Err(Failure::new(
                SSCARD_E_PIN_CONFIRM,
                "两次输入的新密码不一致 (the two new PINs differ)",
            )),
        }
    });
    let result = prepared.and_then(|(external, new)| {
        hsm::pin_step2(
            &mut opened.ex,
            &s.profile,
            &mut state,
            &external,
            new.as_ref(),
        )
        .map_err(|e| from_pin_hsm(&e))
    });
    match result {
        Ok(step2) => {
            s.pending = Some(PendingHsm {
                opened,
                state: HsmState::Pin(state),
            });
            Ok(step2.to_string())
        }
        Err(e) => {
            s.close(opened);
            Err(e)
        }
    }
}

/// `iReloadPIN_HSM_Step3` / `iUnblockPIN_HSM_Step3`: pKey is the HSM's answer, the body
/// of `84 24` in hex (reload: enciphered PIN block ‖ MAC; unblock: MAC).
pub fn pin_hsm_step3(s: &mut Session, key: &str, op: PinOp) -> Outcome<String> {
    let body = hex::to_vec(key.trim().trim_end_matches('|'))
        .map_err(|_| Failure::new(SSCARD_E_PARAM, "pKey: want hex digits"));
    let (mut opened, state) = take_pin_pending(s, op, true)?;
    let result = body.and_then(|body| {
        hsm::pin_step3(&mut opened.ex, state, &body).map_err(|e| from_pin_hsm(&e))
    });
    s.close(opened);
    result.map(|()| String::new())
}
