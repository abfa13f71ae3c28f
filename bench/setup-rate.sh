#!/usr/bin/env bash
# Call setup at rising rates, side by side in one run (issue 20). SIPp's uac
# calls, 10 s at each rate:
#   1. SIPp's built-in uas (the generator's limit on this machine),
#   2. Kamailio as a stateful proxy in front of that uas (Debian's
#      `kamailio`, installed here when missing and run as root; the
#      configuration is bench/kamailio-proxy.cfg),
#   3. `dialect serve`,
# printing successful/failed calls and the server's CPU per call.
#
#   bench/setup-rate.sh [PART...]
#
# Parts (all by default):
#   signalling   INVITE, 200, ACK, BYE: scheme 1 after hours (the runtime
#                answers and hangs up; no prompt), at $RATES (1000 2000 3000)
#   media        an IVR call held 1 s with media (scheme 1 in hours: the
#                runtime plays the menu, the caller hangs up), at
#                $MEDIA_RATES (500 1000 2000); SIPp's uas and Kamailio hold
#                their calls 1 s (-d 1000) without media
#   concurrency  $CALLS (8000) calls with media up at once (400 new a
#                second, each 30 s, hearing music from a benchmark campaign):
#                failed calls, CPU per call-second and memory per call
#                while all are up
#   cluster      Kamailio (deploy/kamailio/kamailio.cfg) in front of 1,
#                then 2 nodes sharing one PostgreSQL database (started
#                here from Debian's postgresql), signalling calls at
#                $CLUSTER_RATES (500 1000 2000): successful/failed calls,
#                the nodes' and Kamailio's CPU per call; each in the modes
#                $CLUSTER_MODES (spread leader): spread, every node takes
#                calls (no [cluster]); leader, [cluster] on every node, the
#                leader takes the calls and the others stand by. Not run
#                by default (all: the four parts above)
#   overload     beyond the media capacity (4,000 a second for 5 s were
#                served in full, the socket's queue absorbing them): 500
#                calls up (30 s each), then $OVERLOAD (6000) new calls a
#                second for 5 s, then $RECOVER (2000) a second for 5 s from
#                1 s after: the calls up must not suffer, the excess must
#                get 503 at once, and the rate after must be served in full
#
# BEFORE=path/to/an/older/dialect adds a column: the same load against that
# binary, in the same run (the machine is shared and noisy: compare side by
# side, never with figures from another run). KEEP=1 keeps the work
# directory (SIPp's statistics and output, the server's log) for a look.
#
# The column measured first reads a few per cent higher (a warmer machine):
# BEFORE_FIRST=1 measures BEFORE first, to alternate the order over runs.
# ONLY_DIALECT=1 leaves SIPp's uas and Kamailio out of the signalling and
# media rows, for quicker A/B runs.
#
# Needs: sipp (Debian package sip-tester). Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v sipp >/dev/null || { echo "sipp is missing: apt-get install sip-tester" >&2; exit 2; }
parts=("${@:-signalling media concurrency overload}")
parts=(${parts[@]})
read -r -a rates <<<"${RATES:-1000 2000 3000}"
read -r -a media_rates <<<"${MEDIA_RATES:-500 1000 2000}"
read -r -a cluster_rates <<<"${CLUSTER_RATES:-500 1000 2000}"
read -r -a cluster_modes <<<"${CLUSTER_MODES:-spread leader}"
calls=${CALLS:-8000}
overload=${OVERLOAD:-6000}
recover=${RECOVER:-2000}
seconds=10
after_hours="2026-12-24T20:00:00+01:00"
in_hours="2026-11-23T10:00:00+01:00"

if ! command -v kamailio >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "== installing kamailio (Debian package)"
  apt-get install -y -qq kamailio >/dev/null 2>&1 || echo "(kamailio could not be installed: its column is left out)"
fi

cargo build --release --quiet
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
hz=$(getconf CLK_TCK)
# SIPp refuses a call limit (-l) that, with its sockets, reaches the open
# files limit; several SIPp run at once in the overload part.
sipp_calls=$(( $(ulimit -n) / 2 - 100 ))
[ "$sipp_calls" -gt 20000 ] && sipp_calls=20000

# The last line's value of a SIPp statistics column, by name.
stat() {
  awk -F';' -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i } END { print $c }' \
    <(head -1 "$1"; tail -1 "$1")
}

# SIPp's uac against 127.0.0.1:PORT from LOCAL_PORT (media on LOCAL_PORT +
# 10000): both outside the server's RTP range (10000-29999), whose ports
# the server keeps bound between calls. SCENARIO empty for SIPp's built-in
# uac.
# Extra arguments go to SIPp. Prints "successful failed".
uac() {
  local port=$1 rate=$2 total=$3 name=$4 scenario=$5 local_port=$6
  shift 6
  local args=(-sn uac)
  [ -n "$scenario" ] && args=(-sf "$PWD/$scenario")
  ( cd tests/sipp && sipp "${args[@]}" -s "${service:-48221000001}" "127.0.0.1:$port" -i 127.0.0.1 -p "$local_port" \
      -mp $(( local_port + 10000 )) -m "$total" -r "$rate" -l "$sipp_calls" -timeout 120s -nostdin \
      -trace_stat -stf "$work/$name.csv" "$@" >"$work/$name.out" 2>&1 ) || true
  if [ ! -s "$work/$name.csv" ]; then
    echo "SIPp did not run ($name):" >&2
    grep -v '^ \|^-\|^$' "$work/$name.out" | head -5 >&2
    echo "0 0"
    return
  fi
  echo "$(stat "$work/$name.csv" 'SuccessfulCall(C)') $(stat "$work/$name.csv" 'FailedCall(C)')"
}

uas_start() {
  sipp -sn uas -i 127.0.0.1 -p 15090 -nostdin >/dev/null 2>&1 &
  uas=$!; pids+=("$uas"); sleep 0.5
}
uas_stop() { kill "$uas" 2>/dev/null || true; wait "$uas" 2>/dev/null || true; }

kamailio_start() {
  command -v kamailio >/dev/null || return 1
  kamailio -f bench/kamailio-proxy.cfg -DD -E -n 2 -P "$work/kamailio.pid" >/dev/null 2>&1 &
  kam=$!; pids+=("$kam"); sleep 1
}
kamailio_stop() {
  kill "$kam" 2>/dev/null || true; pkill -F "$work/kamailio.pid" 2>/dev/null || true
  wait "$kam" 2>/dev/null || true
}

cat > "$work/dialect.toml" <<TOML
[sip]
trusted = ["127.0.0.1"]
[runtime]
max_calls = 20000
[media]
port_min = 10000
port_max = 29999
TOML
# The benchmark campaign: answered, music until the caller hangs up (the
# examples' queues hold 50 callers; this holds any number).
mkdir -p "$work/flows"
ln -s "$PWD/flows/prompts" "$work/flows/prompts"
cat > "$work/flows/bench.flow" <<'FLOW'
campaign bench {
  name "Benchmark: music until the caller hangs up"
  id "BENCH"
  numbers [+48221000009]
  ivr {
    answer
    music: play "prompts/moh.wav"
    goto music
  }
}
FLOW
# dialect_start CLOCK [FLOWS [BINARY]]
dialect_start() {
  rm -rf "$work/data"
  "${3:-./target/release/dialect}" serve "${2:-flows/}" --config "$work/dialect.toml" --listen 127.0.0.1:15080 \
    --clock "$1" --data "$work/data" --event-log "$work/events.jsonl" \
    --api off --admin off >/dev/null 2>"$work/serve.log" &
  server=$!; pids+=("$server")
  for _ in $(seq 100); do grep -q "listening" "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
  # Warm-up: the queue announcements' phrases are synthesised by espeak-ng
  # processes after start-up; the load starts once they are done.
  quiet=0
  for _ in $(seq 300); do
    if pgrep -P "$server" >/dev/null; then quiet=0; else quiet=$((quiet + 1)); fi
    [ "$quiet" -ge 5 ] && break; sleep 0.1
  done
}
dialect_stop() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
per_call() { awk -v c="$1" -v hz="$hz" -v n="$2" 'BEGIN { if (n > 0) printf "%.3f", c * 1000 / hz / n; else print "-" }'; }

# One row: the same load against SIPp's uas, Kamailio and dialect serve.
row() {
  local label=$1 rate=$2 clock=$3 scenario=$4 hold=$5
  local total=$(( rate * seconds )) ok failed sipp_col="-" kam_col="-" hold_args=()
  [ -n "$hold" ] && hold_args=(-d "$hold")
  if [ -z "${ONLY_DIALECT:-}" ]; then
    uas_start
    read -r ok failed < <(uac 15090 "$rate" "$total" "uas-$label-$rate" "" 31090 "${hold_args[@]}")
    sipp_col="$ok/$failed"
    if kamailio_start; then
      read -r ok failed < <(uac 15070 "$rate" "$total" "kam-$label-$rate" "" 31090 "${hold_args[@]}")
      kam_col="$ok/$failed"
      kamailio_stop
    fi
    uas_stop
  fi
  local now_col before_col=""
  if [ -n "${BEFORE:-}" ] && [ -n "${BEFORE_FIRST:-}" ]; then
    before_col=$(dialect_row "$label" "$rate" "$total" "$clock" "$scenario" "$BEFORE" "${hold_args[@]}")
  fi
  now_col=$(dialect_row "$label" "$rate" "$total" "$clock" "$scenario" ./target/release/dialect "${hold_args[@]}")
  if [ -n "${BEFORE:-}" ] && [ -z "${BEFORE_FIRST:-}" ]; then
    before_col=$(dialect_row "$label" "$rate" "$total" "$clock" "$scenario" "$BEFORE" "${hold_args[@]}")
  fi
  printf "%-11s %6d | %18s | %18s | %29s | %29s\n" "$label" "$rate" "$sipp_col" "$kam_col" "$now_col" "$before_col"
}

# The same load against one dialect binary: "ok/failed, ms CPU per call".
dialect_row() {
  local label=$1 rate=$2 total=$3 clock=$4 scenario=$5 binary=$6 ok failed
  shift 6
  dialect_start "$clock" flows/ "$binary"
  local before; before=$(cpu_ticks "$server")
  read -r ok failed < <(uac 15080 "$rate" "$total" "dialect-$label-$rate" "$scenario" 31090 "$@")
  local cpu=$(( $(cpu_ticks "$server") - before ))
  dialect_stop
  echo "$ok/$failed, $(per_call "$cpu" "$ok") ms"
}

# PostgreSQL for the cluster part: in $work/pg, on a Unix socket there
# only (as the `postgres` user when run as root, as PostgreSQL requires).
pg_start() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -x "$bin/initdb" ] || { echo "PostgreSQL is missing: apt-get install postgresql" >&2; exit 2; }
  local as=()
  if [ "$(id -u)" = 0 ]; then
    chmod 755 "$work"; mkdir -p "$work/pg"; chown postgres:postgres "$work/pg"
    as=(setpriv --reuid=postgres --regid=postgres --init-groups)
  fi
  "${as[@]}" "$bin/initdb" -D "$work/pg/data" -A trust -U postgres --no-sync >/dev/null
  "${as[@]}" "$bin/postgres" -D "$work/pg/data" -k "$work/pg" -c listen_addresses= -p 5432 \
    >"$work/pg/log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -S "$work/pg/.s.PGSQL.5432" ] && break; sleep 0.1; done
  sleep 0.5
}
pg_url() { echo "postgres://postgres@$(echo "$work/pg" | sed 's|/|%2F|g'):5432/$1"; }

# $2 nodes on PostgreSQL database $1 behind Kamailio on 15070, in mode $3
# (spread, or leader: with [cluster]).
cluster_start() {
  local db=$1 n=$2 mode=$3 list="$work/dispatcher.list"
  "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/psql" -h "$work/pg" -U postgres -q \
    -c "CREATE DATABASE $db" >/dev/null
  : >"$list"; nodes=()
  for i in $(seq "$n"); do
    mkdir -p "$work/node$i"
    cat >"$work/node$i/dialect.toml" <<TOML
[sip]
trusted = ["127.0.0.1"]
[runtime]
max_calls = 20000
database = "$(pg_url "$db")"
[media]
port_min = $(( 10000 + i * 4000 ))
port_max = $(( 13999 + i * 4000 ))
TOML
    if [ "$mode" = leader ]; then
      printf '[cluster]\nnode = "n%s"\nproxies = ["127.0.0.1"]\n' "$i" >>"$work/node$i/dialect.toml"
    fi
    ./target/release/dialect serve flows/ --config "$work/node$i/dialect.toml" \
      --listen "127.0.0.1:$(( 15080 + i ))" --clock "$after_hours" --data "$work/node$i" \
      --event-log "$work/node$i/events.jsonl" --api off --admin off >/dev/null 2>"$work/node$i/serve.log" &
    nodes+=($!); pids+=($!)
    echo "1 sip:127.0.0.1:$(( 15080 + i )) 0 0" >>"$list"
  done
  for i in $(seq "$n"); do
    for _ in $(seq 100); do grep -q "listening" "$work/node$i/serve.log" 2>/dev/null && break; sleep 0.1; done
  done
  if [ "$mode" = leader ]; then
    for _ in $(seq 100); do cat "$work"/node*/events.jsonl 2>/dev/null | grep -q cluster_leader && break; sleep 0.1; done
  fi
  kamailio -f deploy/kamailio/kamailio.cfg -m 512 -DD -E -n 2 -l udp:127.0.0.1:15070 -l tcp:127.0.0.1:15070 \
    -A "DISPATCHER_LIST=\"$list\"" -P "$work/kamailio.pid" >/dev/null 2>>"$work/kamailio.log" &
  kam=$!; pids+=("$kam"); sleep 2
}
cluster_stop() {
  kamailio_stop
  for p in "${nodes[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}

for part in "${parts[@]}"; do
  case $part in
    signalling|media)
      printf "%-11s %6s | %18s | %18s | %29s | %29s\n" work rate "SIPp uas ok/failed" \
        "Kamailio ok/failed" "dialect ok/failed, CPU/call" "${BEFORE:+before: ok/failed, CPU/call}"
      if [ "$part" = signalling ]; then
        for rate in "${rates[@]}"; do
          row signalling "$rate" "$after_hours" tests/sipp/caller_bye_from_server.xml ""
        done
      else
        for rate in "${media_rates[@]}"; do
          row media-1s "$rate" "$in_hours" bench/sipp/caller_stays.xml 1000
        done
      fi
      ;;
    concurrency)
      # This build and, with BEFORE, that binary.
      for binary in ./target/release/dialect ${BEFORE:+"$BEFORE"}; do
      name=$([ "$binary" = ./target/release/dialect ] && echo "this build" || echo "$binary")
      dialect_start "$in_hours" "$work/flows" "$binary"
      export service=48221000009
      base=$(rss_kb "$server")
      rate=400; hold=30000
      uac 15080 "$rate" "$calls" concurrency bench/sipp/caller_stays.xml 31090 -d "$hold" \
        > "$work/concurrency.result" &
      runner=$!
      # All are up from calls/rate seconds after the start until the first
      # one hangs up, hold seconds after the start.
      up=$(( calls / rate ))
      sleep $(( up + 1 ))
      t0=$(cpu_ticks "$server"); w0=$(date +%s%N)
      sleep $(( hold / 1000 - up - 3 ))
      t1=$(cpu_ticks "$server"); w1=$(date +%s%N)
      rss=$(rss_kb "$server")
      wait "$runner"
      read -r ok failed < "$work/concurrency.result"
      dialect_stop
      unset service
      awk -v name="$name" -v c=$(( t1 - t0 )) -v hz="$hz" -v n="$calls" -v ns=$(( w1 - w0 )) -v rss="$rss" -v base="$base" \
        -v ok="$ok" -v failed="$failed" 'BEGIN {
          printf "concurrency (%s): %d calls with media up at once: %s/%s ok/failed, %.3f ms CPU per call-second, %.1f KB per call (RSS %d MB over %d MB idle)\n",
            name, n, ok, failed, c * 1000 / hz / (n * ns / 1e9), (rss - base) / n, rss / 1024, base / 1024 }'
      done
      ;;
    overload)
      # The same burst against this build and, with BEFORE, that binary.
      for binary in ./target/release/dialect ${BEFORE:+"$BEFORE"}; do
        name=$([ "$binary" = ./target/release/dialect ] && echo "this build" || echo "$binary")
        dialect_start "$in_hours" "$work/flows" "$binary"
        export service=48221000009
        # 500 calls up for 30 s.
        uac 15080 100 500 overload-up bench/sipp/caller_stays.xml 31090 -d 30000 > "$work/up.result" &
        up_runner=$!
        sleep 6
        read -r ok failed < <(uac 15080 "$overload" $(( overload * 5 )) overload-burst \
          bench/sipp/caller_stays_or_refused.xml 32090 -d 1000)
        burst="$ok/$failed"
        csv="$work/overload-burst.csv"
        refused_fast=$(awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i ~ /^ResponseTimeRepartition1_<(1|2|5|10)$/) c[i] = 1;
                                            for (i = 1; i <= NF; i++) if ($i ~ /^ResponseTimeRepartition1_/) a[i] = 1; next }
                                   END { for (i in c) f += $i; for (i in a) t += $i; print f + 0, t + 0 }' \
          <(head -1 "$csv"; tail -1 "$csv"))
        read -r fast refused <<<"$refused_fast"
        sleep 1
        read -r ok failed < <(uac 15080 "$recover" $(( recover * 5 )) overload-after \
          bench/sipp/caller_stays.xml 33090 -d 1000)
        after="$ok/$failed"
        wait "$up_runner"
        read -r ok failed < "$work/up.result"
        dialect_stop
        unset service
        # The server's own count: refused within 10 ms of the INVITE's
        # arrival in its socket (SIPp's response times add SIPp's own lag).
        server_fast=$(grep -o 'refused_within_10ms=[0-9]*' "$work/serve.log" | tail -1 | cut -d= -f2)
        server_refused=$(grep -o ' refused=[0-9]*' "$work/serve.log" | tail -1 | cut -d= -f2)
        by_reader=$(grep -o 'refused_by_reader=[0-9]*' "$work/serve.log" | tail -1 | cut -d= -f2)
        waits=$(grep -o 'waits={[^}]*}' "$work/serve.log" | tail -1 | cut -d= -f2-)
        longest=$(grep -o 'waited_max_ms=[0-9]*' "$work/serve.log" | tail -1 | cut -d= -f2)
        echo "overload ($name): calls up $ok/$failed ok/failed; burst of ${overload}/s for 5 s: $burst ok/failed, $refused refused with 503 ($fast within 10 ms by SIPp's clock; the server: ${server_fast:-?} of ${server_refused:-?} within 10 ms of arrival, ${by_reader:-?} by its reader); ${recover}/s from 1 s after: $after ok/failed"
        echo "  datagrams by their wait: ${waits:-?}; the longest ${longest:-?} ms"
      done
      ;;
    cluster)
      command -v kamailio >/dev/null || { echo "kamailio is missing: apt-get install kamailio" >&2; exit 2; }
      pg_start
      printf "%-8s %-7s %6s | %16s | %24s | %22s\n" nodes mode rate "ok/failed" "nodes' CPU per call (ms)" "Kamailio's CPU per call"
      for mode in "${cluster_modes[@]}"; do
      for n in 1 2; do
        for rate in "${cluster_rates[@]}"; do
          cluster_start "bench_${mode}_${n}_${rate}" "$n" "$mode"
          before=0; for p in "${nodes[@]}"; do before=$(( before + $(cpu_ticks "$p") )); done
          kam_pids=$(pgrep -f "kamailio -f deploy/kamailio" | tr '\n' ' ')
          kam_before=0; for p in $kam_pids; do kam_before=$(( kam_before + $(cpu_ticks "$p" 2>/dev/null || echo 0) )); done
          read -r ok failed < <(uac 15070 "$rate" $(( rate * seconds )) "cluster-$n-$rate" tests/sipp/caller_via_proxy.xml 31090)
          after=0; for p in "${nodes[@]}"; do after=$(( after + $(cpu_ticks "$p") )); done
          kam_after=0; for p in $kam_pids; do kam_after=$(( kam_after + $(cpu_ticks "$p" 2>/dev/null || echo 0) )); done
          printf "%-8s %-7s %6d | %16s | %24s | %22s\n" "$n" "$mode" "$rate" "$ok/$failed" \
            "$(per_call $(( after - before )) "$ok")" "$(per_call $(( kam_after - kam_before )) "$ok")"
          cluster_stop
        done
      done
      done
      ;;
    *) echo "unknown part: $part (signalling, media, concurrency, cluster, overload)" >&2; exit 2 ;;
  esac
done
