#!/usr/bin/env bash
# Flash and static RAM of the firmware, for issue 9's footprint goals:
#   (a) the card stack alone (link + apdu + basic read):  <= 32 KiB flash, <= 4 KiB RAM
#       measured twice: with the holder's name kept as the card's GBK bytes
#       (`card-stack`, sscard_ssse::read_basic_gbk: no GBK table) and with the name
#       decoded to Unicode (`card-stack-unicode`, sscard_ssse::read_basic: the GBK tables)
#   (b) the full kiosk example, SM2/SM3/SM4 included:     <= 192 KiB flash
# Builds firmware/kiosk-example (release: opt-level z, LTO, panic=abort) for
# thumbv7em-none-eabihf and reads the ELF sections with llvm-size (Debian's llvm-size,
# or rustup's llvm-tools, or GNU size as a fallback). Flash = .vector_table + .text +
# .rodata (+ .data's load image); static RAM = .data + .bss, shown with and without the
# heap (a static array given to embedded-alloc). The stack is not in the ELF.
# Then the largest contributors by crate and by symbol (llvm-nm symbol sizes), and the
# heap the kiosk and the card stack need (firmware/kiosk/examples/footprint.rs,
# measured on the host).
# A report: it prints figures and asserts nothing.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=thumbv7em-none-eabihf
OUT="$ROOT/target/$TARGET/release"

if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
	rustup target add "$TARGET" || { echo "size-report: cannot add $TARGET; skipped"; exit 0; }
fi
(cd "$ROOT/firmware/kiosk-example" && cargo build -q --release --bins)

pick() { # first of the named tools that exists
	for t in "$@"; do
		if command -v "$t" >/dev/null 2>&1; then
			echo "$t"
			return
		fi
	done
}
SIZE=$(pick llvm-size llvm-size-14 rust-size size)
NM=$(pick llvm-nm llvm-nm-14 rust-nm nm)
echo "tools: $SIZE, $NM"

report() { # name, ELF
	local name=$1 elf=$2
	"$SIZE" -A "$elf" | python3 -c '
import re, subprocess, sys
name, elf, nm = sys.argv[1], sys.argv[2], sys.argv[3]
sec = {}
for line in sys.stdin:
    f = line.split()
    if len(f) >= 2 and f[0].startswith(".") and f[1].isdigit():
        sec[f[0]] = int(f[1])
flash = sec.get(".vector_table", 0) + sec.get(".text", 0) + sec.get(".rodata", 0)
data, bss = sec.get(".data", 0), sec.get(".bss", 0)
# The heap is the singleton array handed to embedded-alloc: the largest .bss object of
# at least 1 KiB (named …::VAR by the cortex-m singleton macro).
syms = subprocess.run([nm, "--size-sort", "-S", "-C", elf], capture_output=True, text=True).stdout.splitlines()
heap = 0
by_crate = {}
flash_syms = []
for s in syms:
    f = s.split(None, 3)
    if len(f) < 4:
        continue
    size, kind, sym = int(f[1], 16), f[2], f[3]
    if kind in "bB" and size >= 1024:
        heap = max(heap, size)
    if kind not in "tTrR":
        continue
    flash_syms.append((size, re.sub(r"::h[0-9a-f]{16}$", "", sym)))
    # The first path segment: `<&mut serde_json::de::…`, `_$LT$serde_json..de..…`.
    m = re.search(r"([A-Za-z][A-Za-z0-9_]*)(?:::|\.\.)", sym.replace("_$LT$", "<"))
    crate = m.group(1) if m else sym.split("::")[0]
    by_crate[crate] = by_crate.get(crate, 0) + size
kib = lambda n: f"{n / 1024:.1f} KiB"
print(f"{name}")
text, ro, vt = sec.get(".text", 0), sec.get(".rodata", 0), sec.get(".vector_table", 0)
print(f"  flash  {flash:>8} B  ({kib(flash)}): .text {text}, .rodata {ro}, .vector_table {vt}, + .data image {data}")
print(f"  RAM    {data + bss:>8} B  ({kib(data + bss)}): .data {data}, .bss {bss}; heap {heap} -> without heap {data + bss - heap} B ({kib(data + bss - heap)})")
print("  largest crates (code + read-only data in symbols):")
for crate, size in sorted(by_crate.items(), key=lambda kv: -kv[1])[:10]:
    print(f"    {crate:<28} {size:>8} B  ({kib(size)})")
print("  largest symbols:")
for size, sym in sorted(flash_syms, reverse=True)[:8]:
    print(f"    {size:>8} B  {sym[:100]}")
' "$name" "$elf" "$NM"
}

echo
report "(a) card stack, name kept as GBK: link + apdu + read_basic_gbk (goal: flash <= 32 KiB, RAM <= 4 KiB)" "$OUT/card-stack"
echo
report "(a') card stack, name decoded GBK -> Unicode: link + apdu + read_basic (GBK tables linked)" "$OUT/card-stack-unicode"
echo
report "(b) kiosk example with SM2/SM3/SM4 self-test (goal: flash <= 192 KiB)" "$OUT/kiosk"

echo
# The heap the firmware needs, measured on the host (debug build of an example of
# sscard-kiosk with a counting allocator; 64-bit, so an upper bound for the MCU).
(cd "$ROOT" && cargo run -q -p sscard-kiosk --example footprint)
