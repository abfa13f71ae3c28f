#!/usr/bin/env bash
# Hot reload under load (issue 7, acceptance 1): SIPp places calls of 30 s
# at 100 calls per second (the server plays media to each) while `dialect
# ctl reload` swaps two versions of a flow 100 times. Reports failed calls,
# whether every call ended on the version it started on, and how soon after
# each reload returned a new call ran on the new version.
#
#   bench/reload-load.sh [RATE] [SECONDS_PER_CALL] [CALLS] [RELOADS]
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-100}
hold=${2:-30}
calls=${3:-3000}
reloads=${4:-100}
command -v sipp > /dev/null || { echo "SIPp is missing: apt-get install sip-tester" >&2; exit 2; }
cargo build --release --quiet
bin=$PWD/target/release/dialect
work=$(mktemp -d /tmp/dialect-reload-load.XXXXXX)
trap 'kill $server 2>/dev/null || true' EXIT
"$bin" build tests/reload-flows/v1 -o "$work/v1" > /dev/null
"$bin" build tests/reload-flows/v2 -o "$work/v2" > /dev/null
mkdir -p "$work/serving" "$work/data"
mkdir -p "$work/serving/assets" && cp -r "$work/v1/assets/." "$work/serving/assets/"
cp "$work/v1/reload.dialect" "$work/serving/"
printf '[sip]\ntrusted = ["127.0.0.1"]\n[admin]\nwatch = false\ntoken = "bench"\nlisten = "127.0.0.1:19391"\n[api]\nlisten = "127.0.0.1:0"\n[media]\nport_min = 40000\nport_max = 59999\n[runtime]\nmax_calls = 10000\n' > "$work/dialect.toml"
"$bin" serve "$work/serving" --config "$work/dialect.toml" --listen 127.0.0.1:5095 \
  --data "$work/data" --event-log "$work/data/events.jsonl" 2> "$work/serve.log" &
server=$!
for _ in $(seq 1 300); do grep -q "listening for SIP" "$work/serve.log" && break; sleep 0.1; done
(cd tests/sipp && sipp -sf caller_talks.xml -s +48221005000 127.0.0.1:5095 -i 127.0.0.1 -p 5096 \
  -mp 30000 -d $((hold * 1000)) -r "$rate" -m "$calls" -l $((rate * (hold + 5))) \
  -timeout $((hold + calls / rate + 60))s -nostdin -trace_stat -stf "$work/sipp.csv" > "$work/sipp.out" 2>&1) &
sipp=$!
sleep 2
for r in $(seq 1 "$reloads"); do
  v=$(( r % 2 + 1 ))
  cp -r "$work/v$v/assets/." "$work/serving/assets/"
  cp "$work/v$v/reload.dialect" "$work/serving/"
  DIALECT_ADMIN_TOKEN=bench "$bin" ctl reload --admin 127.0.0.1:19391 > /dev/null
  date +%s.%N >> "$work/reloads.txt"
  sleep 0.25
done
wait $sipp || true
sleep 2
python3 - "$work" <<'PY'
import json, sys, csv
work = sys.argv[1]
versions, started = {}, {}
for line in open(f"{work}/data/events.jsonl"):
    e = json.loads(line)
    call, v = e.get("call"), e.get("artifact")
    if not call or not v:
        continue
    versions.setdefault(call, set()).add(v)
mixed = [c for c, vs in versions.items() if len(vs) > 1]
rows = list(csv.reader(open(f"{work}/sipp.csv"), delimiter=";"))
head, last = rows[0], rows[-1]
col = lambda name: last[head.index(name)]
print(f"calls: {col('SuccessfulCall(C)')} successful, {col('FailedCall(C)')} failed")
print(f"calls logged: {len(versions)}, calls that changed version: {len(mixed)}")
PY
echo "reloads: $(wc -l < "$work/reloads.txt")"
grep -c '"event":"reload"' "$work/data/events.jsonl" | sed 's/^/reload events: /'
