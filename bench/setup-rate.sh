#!/usr/bin/env bash
# Call setup rate, side by side in one run (issue 20): SIPp's uac against
#   1. SIPp's built-in uas (the generator's limit on this machine),
#   2. Kamailio as a stateful proxy in front of that uas (Debian's
#      `kamailio`, installed here when missing and run as root; the
#      configuration is bench/kamailio-proxy.cfg),
#   3. `dialect serve` (scheme 1 after hours: INVITE, 200, ACK, and the
#      runtime's BYE; no media),
# at rising rates, 10 s each. Prints failed and successful calls, and the
# server's CPU per call (dialect serve only).
#
#   bench/setup-rate.sh [RATE...]      (default: 1000 2000 3000)
#
# Needs: sipp (Debian package sip-tester). Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v sipp >/dev/null || { echo "sipp is missing: apt-get install sip-tester" >&2; exit 2; }
rates=("${@:-1000 2000 3000}")
rates=(${rates[@]})
seconds=10

if ! command -v kamailio >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "== installing kamailio (Debian package)"
  apt-get install -y -qq kamailio >/dev/null 2>&1 || echo "(kamailio could not be installed: its column is left out)"
fi

cargo build --release --quiet
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
ulimit -n 65536 2>/dev/null || true
hz=$(getconf CLK_TCK)

# SIPp's uac at `rate` for `seconds` against 127.0.0.1:PORT; prints
# "successful failed".
uac() {
  local port=$1 rate=$2 name=$3 scenario=${4:-}
  local total=$(( rate * seconds ))
  local args=(-sn uac)
  [ -n "$scenario" ] && args=(-sf "$scenario")
  ( cd tests/sipp && sipp "${args[@]}" -s 48221000001 "127.0.0.1:$port" -i 127.0.0.1 -p 16090 \
      -mp 40000 -m "$total" -r "$rate" -l 20000 -timeout $(( seconds + 40 ))s -nostdin \
      -trace_stat -stf "$work/$name.csv" >/dev/null 2>&1 ) || true
  tail -1 "$work/$name.csv" | awk -F';' '{print $16, $18}'
}

uas_start() {
  sipp -sn uas -i 127.0.0.1 -p 15090 -nostdin >/dev/null 2>&1 &
  uas=$!; pids+=("$uas"); sleep 0.5
}

kamailio_start() {
  command -v kamailio >/dev/null || return 1
  kamailio -f bench/kamailio-proxy.cfg -DD -E -n 2 -P "$work/kamailio.pid" >/dev/null 2>&1 &
  kam=$!; pids+=("$kam"); sleep 1
}

cat > "$work/dialect.toml" <<TOML
[sip]
trusted = ["127.0.0.1"]
[runtime]
max_calls = 20000
TOML
dialect_start() {
  ./target/release/dialect serve flows/ --config "$work/dialect.toml" --listen 127.0.0.1:15080 \
    --clock "2026-12-24T20:00:00+01:00" --data "$work/data" --event-log "$work/events.jsonl" \
    --api off --admin off >/dev/null 2>"$work/serve.log" &
  server=$!; pids+=("$server")
  for _ in $(seq 100); do grep -q "listening" "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

printf "%6s | %18s | %18s | %18s %10s\n" rate "SIPp uas ok/failed" "Kamailio ok/failed" "dialect ok/failed" "ms CPU/call"
for rate in "${rates[@]}"; do
  uas_start
  read -r ok failed < <(uac 15090 "$rate" "uas-$rate")
  sipp_col="$ok/$failed"
  kam_col="-"
  if kamailio_start; then
    read -r ok failed < <(uac 15070 "$rate" "kam-$rate")
    kam_col="$ok/$failed"
    kill "$kam" 2>/dev/null || true; pkill -F "$work/kamailio.pid" 2>/dev/null || true; wait "$kam" 2>/dev/null || true
  fi
  kill "$uas" 2>/dev/null || true; wait "$uas" 2>/dev/null || true
  dialect_start
  before=$(cpu_ticks "$server")
  read -r ok failed < <(uac 15080 "$rate" "dialect-$rate" caller_bye_from_server.xml)
  cpu=$(( $(cpu_ticks "$server") - before ))
  kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true
  per=$(awk -v c="$cpu" -v hz="$hz" -v n="$ok" 'BEGIN { if (n > 0) printf "%.3f", c * 1000 / hz / n; else print "-" }')
  printf "%6d | %18s | %18s | %18s %10s\n" "$rate" "$sipp_col" "$kam_col" "$ok/$failed" "$per"
done
