#!/usr/bin/env bash
# Writes the seeds of the `artifact` fuzz target into fuzz/seeds/artifact/
# from artifacts built by `dialect build` (see fuzz/README.md):
#
#   fuzz/make-artifact-seeds.sh /tmp/artifacts
#
# For each artifact: the artifact as it is (`real-*`), and its payload behind
# the target's `P` marker (`payload-*`), which the target wraps in a header
# with the right length and hash. From scheme1, the mutants the loader must
# refuse: cut in the header and in the payload, bytes appended, another
# format version, a bad compiler label, a flipped payload byte without and
# with the hash fixed up (the latter reaches the decoder), and an entry node
# out of range with the hash fixed up (reaches `verify`).
set -euo pipefail

src=${1:?usage: $0 DIR-OF-ARTIFACTS}
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/fuzz/seeds/artifact
mkdir -p "$out"

# Header: magic (8), format version (2), label length (2), label,
# payload length (8), SHA-256 (32); see runtime/bytecode/src/encode.rs.
header_len() { echo $((52 + $(od -An -tu2 -j10 -N2 "$1" | tr -d ' '))); }
payload() { tail -c +$(($(header_len "$1") + 1)) "$1"; }
# Copies $1 to $2 with the header's hash recomputed over the payload.
fix_hash() {
    local h; h=$(header_len "$1")
    { head -c $((h - 32)) "$1"; payload "$1" | sha256sum | cut -c1-64 | xxd -r -p; payload "$1"; } > "$2"
}
# Overwrites the byte at offset $2 of file $1 with the hex byte $3.
poke() { printf "\\x$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

for artifact in "$src"/*.dialect; do
    name=$(basename "$artifact" .dialect)
    cp "$artifact" "$out/real-$name"
    { printf P; payload "$artifact"; } > "$out/payload-$name"
done

base=$src/scheme1.dialect
size=$(stat -c %s "$base")
h=$(header_len "$base")
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

head -c 30 "$base" > "$out/cut-in-header"
head -c $((size - 100)) "$base" > "$out/cut-in-payload"
{ cat "$base"; printf 'xx'; } > "$out/trailing-bytes"
cp "$base" "$out/format-version-2" && poke "$out/format-version-2" 8 02
cp "$base" "$out/label-with-space" && poke "$out/label-with-space" 13 20
cp "$base" "$out/flipped-byte" && poke "$out/flipped-byte" $((h + 40)) ff
cp "$out/flipped-byte" "$tmp" && fix_hash "$tmp" "$out/flipped-byte-fixed-hash"
# The payload ends with the entry node, a varint: make it node 127.
cp "$base" "$tmp" && poke "$tmp" $((size - 1)) 7f && fix_hash "$tmp" "$out/entry-out-of-range-fixed-hash"
