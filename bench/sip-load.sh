#!/usr/bin/env bash
# SIP load benchmark: SIPp against `dialect serve` on loopback.
#
#   bench/sip-load.sh [CONCURRENCY...]      (default: 100 300 1000)
#
# 1. IVR calls with media: each call dials scheme 2 in hours and listens to
#    the menu prompt (RTP out every 20 ms) for 20 s, at rising concurrency.
#    Reports the server's CPU time per call-second and its memory per call.
# 2. Calls per second: INVITE, 200, ACK, BYE (scheme 1 after hours: the
#    runtime hangs up at once) at rising rates; reports the highest rate with
#    no failed call.
# Needs: sipp (Debian package sip-tester). Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v sipp >/dev/null || { echo "sipp is missing: apt-get install sip-tester" >&2; exit 2; }
levels=("${@:-100 300 1000}")
levels=(${levels[@]})

cargo build --release --quiet
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
# The load comes from one address: trusted, so not rate-limited.
cat > "$work/dialect.toml" <<TOML
[sip]
trusted = ["127.0.0.1"]
[media]
port_min = 20000
port_max = 29999
[runtime]
max_calls = 5000
TOML
ulimit -n 65536 2>/dev/null || true

start_server() {
  ./target/release/dialect serve flows/ --config "$work/dialect.toml" --listen 127.0.0.1:15080 \
    --clock "$1" --data "$work/data" --event-log "$work/events.jsonl" >/dev/null 2>"$work/serve.log" &
  server=$!
  for _ in $(seq 100); do grep -q "listening" "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }
hz=$(getconf CLK_TCK)

echo "== IVR calls with media (scheme 2, 20 s each)"
printf "%12s %12s %16s %18s %14s\n" concurrent failed "cpu ms/call-s" "rss KB/call" "rtp out/s (50/call)"
start_server "2026-11-23T09:00:00[Europe/Warsaw]"
for n in "${levels[@]}"; do
  base_rss=$(rss_kb); base_cpu=$(cpu_ticks)
  rate=$(( n / 5 > 0 ? n / 5 : 1 ))
  ( cd tests/sipp && sipp -sf caller_listens.xml -s 48221000002 127.0.0.1:15080 -i 127.0.0.1 -p 16080 \
      -mp 30000 -m "$n" -l "$n" -r "$rate" -d 20000 -timeout 300s -nostdin \
      -trace_stat -stf "$work/ivr-$n.csv" >/dev/null 2>&1 ) &
  sipp_pid=$!
  # Memory at the peak: all calls up, sampled mid-run.
  sleep $(( n / rate + 8 ))
  peak_rss=$(rss_kb)
  wait $sipp_pid || true
  cpu=$(( $(cpu_ticks) - base_cpu ))
  failed=$(tail -1 "$work/ivr-$n.csv" | awk -F';' '{print $18}')
  awk -v n="$n" -v f="${failed:-?}" -v cpu="$cpu" -v hz="$hz" -v peak="$peak_rss" -v base="$base_rss" 'BEGIN {
    callsec = n * 20; printf "%12d %12s %16.3f %18.1f %14d\n", n, f, cpu * 1000 / hz / callsec, (peak - base) / n, n * 50 }'
done
kill $server; wait $server 2>/dev/null || true

echo "== calls per second (INVITE, 200, ACK, BYE)"
printf "%8s %8s %8s\n" cps calls failed
start_server "2026-12-24T20:00:00+01:00"
for cps in 100 300 600 1000; do
  total=$(( cps * 10 ))
  ( cd tests/sipp && sipp -sf caller_bye_from_server.xml -s 48221000001 127.0.0.1:15080 -i 127.0.0.1 -p 16081 \
      -mp 40000 -m "$total" -r "$cps" -l 5000 -timeout 120s -nostdin -trace_stat -stf "$work/cps-$cps.csv" >/dev/null 2>&1 ) || true
  failed=$(tail -1 "$work/cps-$cps.csv" | awk -F';' '{print $18}')
  printf "%8d %8d %8s\n" "$cps" "$total" "${failed:-?}"
done
