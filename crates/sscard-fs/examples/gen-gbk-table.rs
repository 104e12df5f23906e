//! Generates `src/gbk/table.rs`, the compact GBK mapping of `sscard_fs::gbk`, from
//! `encoding_rs` (the WHATWG `index-gb18030` and `index-gb18030-ranges` data of the
//! GB18030 standard). Run by `tools/gen-gbk-table.sh`; the output is checked in, and
//! `sscard_fs::gbk`'s tests compare the codec with `encoding_rs` exhaustively.
//!
//! The two-byte pointer space (lead `81`–`FE` × 190 trail bytes = 23 940 pointers) is
//! cut into segments of four kinds:
//!
//! * *sequential ideographs*: GBK/3 and GBK/4 hold the CJK unified ideographs that
//!   GB2312 lacks in Unicode order, so a pointer there is "the k-th member of a set",
//!   and the set is a bitmap over `U+4E00`… with a rank per block of 256 bits;
//! * *linear*: runs where the code point grows with the pointer (PUA areas,
//!   full-width ASCII, Greek, Cyrillic, kana, box drawing…): a base code point;
//! * *literal*: everything else (the GB2312 hanzi in pinyin order, symbols): one
//!   `u16` each in a shared table;
//! * *unmapped*.
//!
//! The generator checks its own model against `encoding_rs` for every pointer before
//! printing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![allow(clippy::cast_possible_truncation)]

use std::fmt::Write as _;

const POINTERS: u32 = 126 * 190;
const RANGE_POINTERS: u32 = 39420;
const SEQ_BASE: u32 = 0x4E00;
const SEQ_END: u32 = 0xA000;
/// A run of consecutive code points at least this long becomes a linear segment
/// (a segment costs 6 bytes and may split a literal segment in two).
const MIN_LINEAR_RUN: usize = 7;

const UNMAPPED: u8 = 0;
const LINEAR: u8 = 1;
const SEQUENTIAL: u8 = 2;
const LITERAL: u8 = 3;
const HANZI: u8 = 4;
/// Bits of a packed hanzi rank.
const HANZI_BITS: u32 = 13;

fn bytes_of(p: u32) -> [u8; 2] {
    let lead = 0x81 + p / 190;
    let t = p % 190;
    let trail = if t < 0x3F { 0x40 + t } else { 0x41 + t };
    [lead as u8, trail as u8]
}

fn decode_one(bytes: &[u8]) -> Option<u32> {
    let text = encoding_rs::GBK.decode_without_bom_handling_and_without_replacement(bytes)?;
    let mut chars = text.chars();
    let c = chars.next()?;
    assert!(
        chars.next().is_none(),
        "{bytes:02X?} decodes to more than one char"
    );
    Some(u32::from(c))
}

fn four_bytes(p: u32) -> [u8; 4] {
    [
        (0x81 + p / 12600) as u8,
        (0x30 + p / 1260 % 10) as u8,
        (0x81 + p / 10 % 126) as u8,
        (0x30 + p % 10) as u8,
    ]
}

/// The rank of `cp` among the code points of the bitmap's range that are not
/// sequential ideographs, if it is one of them.
fn complement_rank(seq_set: &[bool], cp: u32) -> Option<u32> {
    let i = cp.checked_sub(SEQ_BASE)? as usize;
    if i >= seq_set.len() || seq_set[i] {
        return None;
    }
    Some(seq_set[..i].iter().filter(|b| !**b).count() as u32)
}

#[derive(Clone, Copy, PartialEq)]
enum Class {
    Unmapped,
    Seq,
    Lit(u32),
}

fn main() {
    let cps: Vec<Option<u32>> = (0..POINTERS).map(|p| decode_one(&bytes_of(p))).collect();

    // Sequential ideographs: GBK/3 (lead 81–A0) and GBK/4 (lead AA–FE, trail 40–A0),
    // in increasing order.
    let mut last = 0;
    let mut seq_set = vec![false; (SEQ_END - SEQ_BASE) as usize];
    let classes: Vec<Class> = (0..POINTERS)
        .map(|p| {
            let [lead, trail] = bytes_of(p);
            let Some(cp) = cps[p as usize] else {
                return Class::Unmapped;
            };
            let region = lead <= 0xA0 || (lead >= 0xAA && trail <= 0xA0);
            if region && (SEQ_BASE..SEQ_END).contains(&cp) && cp > last {
                last = cp;
                seq_set[(cp - SEQ_BASE) as usize] = true;
                Class::Seq
            } else {
                Class::Lit(cp)
            }
        })
        .collect();

    // Segments.
    let mut segments: Vec<(u32, u8, u32)> = Vec::new();
    let mut literals: Vec<u32> = Vec::new();
    let mut hanzi: Vec<u32> = Vec::new();
    let mut seq_rank = 0u32;
    let mut p = 0usize;
    while p < classes.len() {
        match classes[p] {
            Class::Unmapped => {
                let start = p;
                while p < classes.len() && classes[p] == Class::Unmapped {
                    p += 1;
                }
                segments.push((start as u32, UNMAPPED, 0));
            }
            Class::Seq => {
                let start = p;
                while p < classes.len() && classes[p] == Class::Seq {
                    p += 1;
                }
                segments.push((start as u32, SEQUENTIAL, seq_rank));
                seq_rank += (p - start) as u32;
            }
            Class::Lit(cp) => {
                let mut run = 1;
                while matches!(classes.get(p + run), Some(Class::Lit(c)) if *c == cp + run as u32) {
                    run += 1;
                }
                if run >= MIN_LINEAR_RUN {
                    segments.push((p as u32, LINEAR, cp));
                    p += run;
                } else {
                    // Extend the literal or hanzi segment in progress, or open one.
                    for (q, class) in classes[p..p + run].iter().enumerate() {
                        let Class::Lit(c) = *class else {
                            unreachable!()
                        };
                        let rank = complement_rank(&seq_set, c);
                        let kind = if rank.is_some() { HANZI } else { LITERAL };
                        if !matches!(segments.last(), Some((_, k, _)) if *k == kind) {
                            let at = if kind == HANZI {
                                hanzi.len()
                            } else {
                                literals.len()
                            };
                            segments.push(((p + q) as u32, kind, at as u32));
                        }
                        match rank {
                            Some(r) => hanzi.push(r),
                            None => literals.push(c),
                        }
                    }
                    p += run;
                }
            }
        }
    }
    let words: Vec<u32> = seq_set
        .chunks(32)
        .map(|bits| {
            bits.iter()
                .enumerate()
                .fold(0u32, |w, (i, b)| if *b { w | (1 << i) } else { w })
        })
        .collect();
    let block_rank: Vec<u32> = words
        .chunks(8)
        .scan(0u32, |acc, block| {
            let before = *acc;
            *acc += block.iter().map(|w| w.count_ones()).sum::<u32>();
            Some(before)
        })
        .collect();
    let seq_members: Vec<u32> = (0..seq_set.len() as u32)
        .filter(|i| seq_set[*i as usize])
        .map(|i| SEQ_BASE + i)
        .collect();

    let complement: Vec<u32> = (0..seq_set.len() as u32)
        .filter(|i| !seq_set[*i as usize])
        .map(|i| SEQ_BASE + i)
        .collect();
    assert!(hanzi.iter().all(|r| *r < 1 << HANZI_BITS));
    let mut packed = vec![0u8; (hanzi.len() * HANZI_BITS as usize).div_ceil(8)];
    for (i, r) in hanzi.iter().enumerate() {
        let bit = i * HANZI_BITS as usize;
        for b in 0..HANZI_BITS as usize {
            if r >> b & 1 == 1 {
                packed[(bit + b) / 8] |= 1 << ((bit + b) % 8);
            }
        }
    }

    // Check the model.
    for p in 0..POINTERS {
        let i = segments.partition_point(|s| s.0 <= p) - 1;
        let (start, kind, value) = segments[i];
        let off = p - start;
        let got = match kind {
            UNMAPPED => None,
            LINEAR => Some(value + off),
            SEQUENTIAL => Some(seq_members[(value + off) as usize]),
            HANZI => Some(complement[hanzi[(value + off) as usize] as usize]),
            _ => Some(literals[(value + off) as usize]),
        };
        assert_eq!(got, cps[p as usize], "pointer {p}");
    }
    for v in segments.iter().map(|s| s.2).chain(literals.iter().copied()) {
        assert!(v <= 0xFFFF);
    }

    // Four-byte ranges: runs where pointer and code point grow together.
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    let mut prev: Option<(u32, u32)> = None;
    for p in 0..RANGE_POINTERS {
        let cp = decode_one(&four_bytes(p)).expect("every four-byte pointer below 39420 maps");
        if prev.is_none_or(|(pp, pc)| pc + 1 != cp || pp + 1 != p) {
            ranges.push((p, cp));
        }
        prev = Some((p, cp));
    }
    assert!(ranges.iter().all(|(p, c)| *p <= 0xFFFF && *c <= 0xFFFF));

    // Encode-only mappings: characters whose encoding is not the first pointer that
    // decodes to them (GB18030-2022 keeps encoding the former PUA code points of 18
    // characters to their two-byte sequences).
    let mut first_pointer = std::collections::HashMap::new();
    for (p, cp) in cps.iter().enumerate() {
        if let Some(cp) = cp {
            first_pointer.entry(*cp).or_insert(p as u32);
        }
    }
    let mut extras: Vec<(u32, u32)> = Vec::new();
    for c in (0x80..=0xFFFF).filter_map(char::from_u32) {
        let text = c.to_string();
        let (bytes, _, unmappable) = encoding_rs::GBK.encode(&text);
        if unmappable || bytes.len() != 2 {
            continue;
        }
        let (lead, trail) = (u32::from(bytes[0]), u32::from(bytes[1]));
        let p = (lead - 0x81) * 190 + trail - if trail < 0x7F { 0x40 } else { 0x41 };
        if first_pointer.get(&u32::from(c)) != Some(&p) {
            extras.push((u32::from(c), p));
        }
    }

    let mut out = String::new();
    let version = "0.8.44";
    writeln!(
        out,
        "//! GENERATED by `tools/gen-gbk-table.sh` (`crates/sscard-fs/examples/gen-gbk-table.rs`)"
    )
    .unwrap();
    writeln!(
        out,
        "//! from encoding_rs {version}: the WHATWG index-gb18030 and index-gb18030-ranges"
    )
    .unwrap();
    writeln!(
        out,
        "//! mapping data of the GB18030 standard. Do not edit; regenerate."
    )
    .unwrap();
    writeln!(out).unwrap();
    writeln!(
        out,
        "/// Two-byte pointers: lead `81`–`FE` × 190 trail bytes."
    )
    .unwrap();
    writeln!(out, "pub(super) const POINTERS: u16 = {POINTERS};").unwrap();
    writeln!(
        out,
        "/// Segment kind: no character (the decoder's fallback arm)."
    )
    .unwrap();
    writeln!(out, "#[allow(dead_code)]").unwrap();
    writeln!(out, "pub(super) const UNMAPPED: u8 = {UNMAPPED};").unwrap();
    writeln!(
        out,
        "/// Segment kind: the value is the code point of the first pointer."
    )
    .unwrap();
    writeln!(out, "pub(super) const LINEAR: u8 = {LINEAR};").unwrap();
    writeln!(
        out,
        "/// Segment kind: the value is the rank in [`SEQ_BITS`] of the first pointer."
    )
    .unwrap();
    writeln!(out, "pub(super) const SEQUENTIAL: u8 = {SEQUENTIAL};").unwrap();
    writeln!(
        out,
        "/// Segment kind: the value is the index in [`LITERALS`] of the first pointer."
    )
    .unwrap();
    writeln!(out, "pub(super) const LITERAL: u8 = {LITERAL};").unwrap();
    writeln!(
        out,
        "/// Segment kind: the value is the index in [`HANZI`] of the first pointer."
    )
    .unwrap();
    writeln!(out, "pub(super) const HANZI_SEGMENT: u8 = {HANZI};").unwrap();
    writeln!(out, "/// Bits of an entry of [`HANZI`].").unwrap();
    writeln!(out, "pub(super) const HANZI_BITS: u32 = {HANZI_BITS};").unwrap();
    writeln!(out).unwrap();
    writeln!(
        out,
        "/// `(first pointer, kind, value)`, sorted; a segment ends where the next begins."
    )
    .unwrap();
    writeln!(out, "#[rustfmt::skip]").unwrap();
    writeln!(
        out,
        "pub(super) static SEGMENTS: [(u16, u8, u16); {}] = [",
        segments.len()
    )
    .unwrap();
    for chunk in segments.chunks(8) {
        let row: Vec<String> = chunk
            .iter()
            .map(|(p, k, v)| format!("({p}, {k}, 0x{v:04X})"))
            .collect();
        writeln!(out, "    {},", row.join(", ")).unwrap();
    }
    writeln!(out, "];").unwrap();
    writeln!(out).unwrap();
    writeln!(out, "/// Code points of the literal segments.").unwrap();
    writeln!(out, "#[rustfmt::skip]").unwrap();
    writeln!(
        out,
        "pub(super) static LITERALS: [u16; {}] = [",
        literals.len()
    )
    .unwrap();
    for chunk in literals.chunks(12) {
        let row: Vec<String> = chunk.iter().map(|v| format!("0x{v:04X}")).collect();
        writeln!(out, "    {},", row.join(", ")).unwrap();
    }
    writeln!(out, "];").unwrap();
    writeln!(out).unwrap();
    writeln!(
        out,
        "/// Hanzi of the hanzi segments: {HANZI_BITS}-bit ranks among the code points of"
    )
    .unwrap();
    writeln!(
        out,
        "/// [`SEQ_BITS`]' range whose bit is clear, packed little-endian."
    )
    .unwrap();
    writeln!(out, "#[rustfmt::skip]").unwrap();
    writeln!(out, "pub(super) static HANZI: [u8; {}] = [", packed.len()).unwrap();
    for chunk in packed.chunks(16) {
        let row: Vec<String> = chunk.iter().map(|v| format!("0x{v:02X}")).collect();
        writeln!(out, "    {},", row.join(", ")).unwrap();
    }
    writeln!(out, "];").unwrap();
    writeln!(out).unwrap();
    writeln!(out, "/// The code point of bit 0 of [`SEQ_BITS`].").unwrap();
    writeln!(out, "pub(super) const SEQ_BASE: u32 = 0x{SEQ_BASE:04X};").unwrap();
    writeln!(
        out,
        "/// The ideographs of the sequential segments, one bit per code point from [`SEQ_BASE`]."
    )
    .unwrap();
    writeln!(out, "#[rustfmt::skip]").unwrap();
    writeln!(
        out,
        "pub(super) static SEQ_BITS: [u32; {}] = [",
        words.len()
    )
    .unwrap();
    for chunk in words.chunks(8) {
        let row: Vec<String> = chunk.iter().map(|v| format!("0x{v:08X}")).collect();
        writeln!(out, "    {},", row.join(", ")).unwrap();
    }
    writeln!(out, "];").unwrap();
    writeln!(out).unwrap();
    writeln!(
        out,
        "/// Set bits of [`SEQ_BITS`] before each block of 8 words."
    )
    .unwrap();
    writeln!(out, "#[rustfmt::skip]").unwrap();
    writeln!(
        out,
        "pub(super) static SEQ_BLOCK_RANK: [u16; {}] = [",
        block_rank.len()
    )
    .unwrap();
    for chunk in block_rank.chunks(12) {
        let row: Vec<String> = chunk.iter().map(|v| format!("{v}")).collect();
        writeln!(out, "    {},", row.join(", ")).unwrap();
    }
    writeln!(out, "];").unwrap();
    writeln!(out).unwrap();
    writeln!(
        out,
        "/// Four-byte pointers below 39 420: `(first pointer, its code point)` of each run."
    )
    .unwrap();
    writeln!(out, "#[rustfmt::skip]").unwrap();
    writeln!(
        out,
        "pub(super) static RANGES: [(u16, u16); {}] = [",
        ranges.len()
    )
    .unwrap();
    for chunk in ranges.chunks(8) {
        let row: Vec<String> = chunk
            .iter()
            .map(|(p, c)| format!("({p}, 0x{c:04X})"))
            .collect();
        writeln!(out, "    {},", row.join(", ")).unwrap();
    }
    writeln!(out, "];").unwrap();
    writeln!(out).unwrap();
    writeln!(
        out,
        "/// Encode-only mappings `(code point, pointer)`, sorted by code point."
    )
    .unwrap();
    writeln!(out, "#[rustfmt::skip]").unwrap();
    writeln!(
        out,
        "pub(super) static ENCODE_ONLY: [(u16, u16); {}] = [",
        extras.len()
    )
    .unwrap();
    for chunk in extras.chunks(8) {
        let row: Vec<String> = chunk
            .iter()
            .map(|(c, p)| format!("(0x{c:04X}, {p})"))
            .collect();
        writeln!(out, "    {},", row.join(", ")).unwrap();
    }
    writeln!(out, "];").unwrap();
    print!("{out}");
    eprintln!(
        "segments {} ({} B), literals {} ({} B), hanzi {} ({} B), seq bits {} words ({} B) + {} block ranks, ranges {} ({} B), encode-only {}; sequential ideographs {}",
        segments.len(),
        segments.len() * 6,
        literals.len(),
        literals.len() * 2,
        hanzi.len(),
        packed.len(),
        words.len(),
        words.len() * 4,
        block_rank.len(),
        ranges.len(),
        ranges.len() * 4,
        extras.len(),
        seq_members.len()
    );
}
