#!/usr/bin/env bash
# Regenerates crates/sscard-fs/src/gbk/table.rs, the compact GBK mapping of
# sscard_fs::gbk, from encoding_rs (WHATWG index-gb18030 data). Development time
# only: the output is checked in; `cargo test -p sscard-fs gbk` compares the codec
# with encoding_rs over every two- and four-byte sequence and every code point.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/crates/sscard-fs/src/gbk/table.rs"
(cd "$ROOT" && nice -n 10 cargo run -q -p sscard-fs --example gen-gbk-table) >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "wrote $OUT"
