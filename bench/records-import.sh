#!/usr/bin/env bash
# Importing customer records (issue 17): N rows (default 100,000) of the
# helpline campaign (phone, customer number, a valid PESEL), every row
# checked, imported in one transaction into a fresh database, with the
# release build. Prints the time and the rows per second, and the same for
# an export.
#
#   bench/records-import.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
cargo build --release --quiet
bin=target/release/dialect
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
awk -v n="$n" 'BEGIN {
  print "phone,customer_number,pesel";
  split("1 3 7 9 1 3 7 9 1 3", w, " ");
  for (i = 0; i < n; i++) {
    base = sprintf("440514%04d", i % 10000); s = 0;
    for (k = 1; k <= 10; k++) s += substr(base, k, 1) * w[k];
    printf "6%08d,C-%d,%s%d\n", i, i, base, (10 - s % 10) % 10;
  }
}' > "$work/records.csv"
echo "$(wc -l < "$work/records.csv") lines, $(du -h "$work/records.csv" | cut -f1)"
start=$(date +%s%N)
"$bin" records import helpline "$work/records.csv" flows/ --data "$work/data"
end=$(date +%s%N)
ms=$(( (end - start) / 1000000 ))
echo "import: ${ms} ms, $(( n * 1000 / (ms > 0 ? ms : 1) )) rows/s"
start=$(date +%s%N)
"$bin" records export helpline flows/ --data "$work/data" > "$work/export.csv"
end=$(date +%s%N)
ms=$(( (end - start) / 1000000 ))
echo "export: ${ms} ms, $(( $(wc -l < "$work/export.csv") - 1 )) rows"
