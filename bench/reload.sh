#!/usr/bin/env bash
# Hot reload latency with 1,000 campaigns loaded (issue 7): builds two
# versions of 1,000 generated campaigns, serves one, and times `dialect ctl
# reload` while alternating them (load and verify every artifact off the
# call path, prepare every flow, swap). Prints each reload's wall time and
# the median and maximum.
#
#   bench/reload.sh [CAMPAIGNS] [RELOADS]
set -euo pipefail
cd "$(dirname "$0")/.."
campaigns=${1:-1000}
reloads=${2:-20}
cargo build --release --quiet
bin=target/release/dialect
work=$(mktemp -d /tmp/dialect-reload-bench.XXXXXX)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for v in 1 2; do
  mkdir -p "$work/src$v"
  for i in $(seq 1 "$campaigns"); do
    printf 'campaign c%d {\n  name "Campaign %d v%d"\n  id "C%d"\n  numbers [+4822%07d]\n  ivr {\n    answer\n    say "Version %d of campaign %d."\n    menu say "Press one." {\n      on 1 { hangup }\n      on no_input { hangup }\n      on invalid { hangup }\n    }\n  }\n}\n' \
      "$i" "$i" "$v" "$i" "$i" "$v" "$i" > "$work/src$v/c$i.flow"
  done
  "$bin" build "$work/src$v" -o "$work/art$v" > /dev/null
done
mkdir -p "$work/serving" "$work/data"
mkdir -p "$work/serving/assets" && cp -r "$work/art1/assets/." "$work/serving/assets/" 2>/dev/null || true
cp "$work/art1/"*.dialect "$work/serving/"
printf '[admin]\nwatch = false\ntoken = "bench"\nlisten = "127.0.0.1:19390"\n[api]\nlisten = "127.0.0.1:0"\n' > "$work/dialect.toml"
"$bin" serve "$work/serving" --config "$work/dialect.toml" --listen 127.0.0.1:0 \
  --data "$work/data" --event-log "$work/data/events.jsonl" 2> "$work/serve.log" &
server=$!
for _ in $(seq 1 600); do
  grep -q "listening for SIP" "$work/serve.log" && break
  sleep 0.1
done
times=()
for r in $(seq 1 "$reloads"); do
  v=$(( r % 2 + 1 ))
  cp -r "$work/art$v/assets/." "$work/serving/assets/" 2>/dev/null || true
  cp "$work/art$v/"*.dialect "$work/serving/"
  start=$(date +%s%N)
  DIALECT_ADMIN_TOKEN=bench "$bin" ctl reload --admin 127.0.0.1:19390 > /dev/null
  end=$(date +%s%N)
  ms=$(( (end - start) / 1000000 ))
  times+=("$ms")
  echo "reload $r (version $v): ${ms} ms"
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
median=$(echo "$sorted" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
max=$(echo "$sorted" | tail -1)
echo "campaigns: $campaigns, reloads: $reloads, median ${median} ms, max ${max} ms"
