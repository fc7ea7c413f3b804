#!/usr/bin/env bash
# Switchboard benchmark. Run from anywhere: bench/run.sh
#
# Builds the release binary and examples, installs wrk if missing, then against 127.0.0.1 only:
#   (a) POST trigger webhooks without exec, spread over 10,000 instances
#   (b) POST trigger webhooks with exec to Display_1.request, spread the same way
#   (c) admin GET of one trigger instance
#   (d) POST trigger webhooks with exec as in (b), each asking one callout (examples/bare_actix under /callout,
#       answering 204) first; and, at one connection, (b) and (d) and the callout receiver alone, whose p50s
#       say what asking a callout adds to an exec beyond the receiver's own time
#   (e) POST trigger webhooks of a trigger whose every fire runs one function action, spread the same way
#   and load (a) against examples/bare_actix, the framework's ceiling, before and after each scenario;
# checks that the instances' trigger_count sum equals the 202s wrk saw in (a), records server RSS, and
# times start-up with 100,000 stored instances. Then (a) once more on a server acknowledging fires before
# the device sync (store.sync_interval_ms = BENCH_RELAXED_SYNC_MS, default 100): not a target scenario, it
# shows what the per-fire device flush costs; and (a) once more with receipts off, which (a) with receipts on
# must reach 0.85 of. Then (a), (b) and (c) on the PostgreSQL backend, against a throw-away local server with
# PostgreSQL's default settings (fsync and synchronous_commit on: a 202 means the fire is committed), with
# the same trigger_count check. Prints one table and writes it to bench/results.md.
#
# Every measured Switchboard run follows a warm-up run of the same load (BENCH_WARMUP seconds, default 10),
# and so does the bare handler's first run, so that both are measured in their steady state. This machine's
# speed drifts by ±15 % over minutes, so the bare handler is measured again right before and right after
# every scenario, and each scenario's ratio is to the mean of those two bare runs.
#
# Environment: BENCH_DURATION (seconds per scenario, default 15), BENCH_WARMUP (10), BENCH_CONNECTIONS (64),
# BENCH_THREADS (2), BENCH_PORT (18080), BENCH_BARE_PORT (18081), BENCH_SEED_INSTANCES (100000),
# BENCH_RELAXED_SYNC_MS (100), BENCH_PG_PORT (18082),
# BENCH_KEEP_WORK=1 keeps the temporary directory (data, logs, raw wrk output),
# BENCH_COMPARE_BIN=path/to/switchboard[:another…] also measures (a) and (b) on each of those binaries
# (earlier commits' release builds, say), each on a data directory of its own set up the same way, in
# the same run; a row is named after the file, so give the copies names that say which build they are.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DURATION=${BENCH_DURATION:-15}
WARMUP=${BENCH_WARMUP:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
SB_PORT=${BENCH_PORT:-18080}
BARE_PORT=${BENCH_BARE_PORT:-18081}
SEED_INSTANCES=${BENCH_SEED_INSTANCES:-100000}
RELAXED_SYNC_MS=${BENCH_RELAXED_SYNC_MS:-100}
PG_PORT=${BENCH_PG_PORT:-18082}
INSTANCES=10000
HOST=127.0.0.1
SB_URL="http://$HOST:$SB_PORT"
BARE_URL="http://$HOST:$BARE_PORT"
BENCH_PY=(python3 "$ROOT/bench/bench.py")

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# --- processes we start, and their cleanup ---------------------------------------------------------
PIDS=()
WORK=""
PG_DIR=""
PG_BIN=""
PG_USER=""
pg_as() { if [ -n "$PG_USER" ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi; }

alive() { [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

stop_pid() { # SIGTERM, up to 15 s for a graceful stop, then SIGKILL
  local pid=$1 i
  alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  echo "bench: process $pid did not stop within 15 s; sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$? f i
  trap - EXIT INT TERM
  if [ -n "$WORK" ]; then
    for f in "$WORK"/*.pid; do [ -f "$f" ] && PIDS+=("$(cat "$f")"); done
  fi
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[$i]}"; done
  if [ -n "$PG_DIR" ]; then
    pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    if [ "$rc" -ne 0 ]; then
      for f in "$WORK"/*.log; do
        [ -s "$f" ] && { echo "--- last lines of $f" >&2; tail -n 20 "$f" >&2; }
      done
    fi
    if [ "${BENCH_KEEP_WORK:-0}" = 1 ]; then
      echo "bench: work directory kept: $WORK" >&2
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_in_use() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
jget() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
mib() { awk -v kb="$1" 'BEGIN {printf "%.1f MiB", kb / 1024}'; }
metric() { # base url, metric name: its value in /metrics
  python3 -c 'import sys, urllib.request
text = urllib.request.urlopen(sys.argv[1] + "/metrics", timeout=10).read().decode()
print(next((l.split()[1] for l in text.splitlines() if l.split()[:1] == [sys.argv[2]]), "absent"))' "$1" "$2"
}

# --- set-up on a fresh machine ---------------------------------------------------------------------
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v wrk >/dev/null 2>&1; then
  log "installing wrk with apt-get"
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; then
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk
  fi
fi
command -v wrk >/dev/null 2>&1 || die "wrk is not installed"
command -v python3 >/dev/null 2>&1 || die "python3 is required"
command -v cargo >/dev/null 2>&1 || die "cargo is required (rustup)"

log "building (cargo build --release --bin switchboard --examples)"
cargo build --release --bin switchboard --examples

for port in "$SB_PORT" "$BARE_PORT"; do
  port_in_use "$port" && die "something already listens on $HOST:$port (set BENCH_PORT / BENCH_BARE_PORT)"
done

# Only the settings below reach the server; anything SWITCHBOARD_* in the caller's environment is dropped.
while read -r var; do unset "$var"; done < <(compgen -e | grep '^SWITCHBOARD_' || true)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-bench.XXXXXX")
KEY="sbk_bench_$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
export SWITCHBOARD_ADMIN_KEY="$KEY" SWITCHBOARD_LOG_FORMAT=json RUST_LOG=warn
export SWITCHBOARD_WEBHOOK__RATE_LIMIT_PER_SECOND=1000000 SWITCHBOARD_WEBHOOK__RATE_LIMIT_BURST=1000000
# The callout of (d) is on 127.0.0.1.
export SWITCHBOARD_OUTBOUND__ALLOW_PRIVATE_NETWORKS=true
SERVER=("$ROOT/target/release/switchboard" serve --bind "$HOST:$SB_PORT")

echo "bench: $(nproc) cores; wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s; work directory $WORK" >&2
echo "bench: the per-instance rate limit is raised to 1000000/s (burst 1000000) AND webhook calls are" \
  "spread over all $INSTANCES instances (a random path per request)" >&2

start_server() { # data dir, log file
  "${SERVER[@]}" --data-dir "$1" >>"$2" 2>&1 &
  SB_PID=$!
  PIDS+=("$SB_PID")
  "${BENCH_PY[@]}" wait --base "$SB_URL" --path /healthz --timeout 60
}

ROWS="$WORK/rows.tsv"
: >"$ROWS"

run_wrk() { # id, label, base url, method, paths file, body, then extra wrk arguments (headers)
  local id=$1 label=$2 url=$3 method=$4 paths=$5 body=$6
  shift 6
  log "$label"
  BENCH_RESULT="$WORK/$id.json" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s --latency "$@" \
    -s "$ROOT/bench/wrk.lua" "$url/" -- "$method" "$paths" "$body" | tee "$WORK/$id.wrk.txt" >&2
  [ -s "$WORK/$id.json" ] || die "wrk wrote no result for $label"
}

warm_up() { # id, base url, method, paths file, body, then extra wrk arguments (headers)
  local id=$1 url=$2 method=$3 paths=$4 body=$5
  shift 5
  [ "$WARMUP" -gt 0 ] || return 0
  log "warming up for ${WARMUP}s (not measured)"
  BENCH_RESULT="$WORK/$id.warmup.json" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" --timeout 5s "$@" \
    -s "$ROOT/bench/wrk.lua" "$url/" -- "$method" "$paths" "$body" >"$WORK/$id.warmup.txt"
}

# --- the bare handler, measured between the scenarios ------------------------------------------------
log "starting examples/bare_actix on $HOST:$BARE_PORT"
"$ROOT/target/release/examples/bare_actix" "$HOST:$BARE_PORT" >>"$WORK/bare.log" 2>&1 &
BARE_PID=$!
PIDS+=("$BARE_PID")
"${BENCH_PY[@]}" wait --base "$BARE_URL" --path / --any --timeout 30

JSON=(-H "Content-Type: application/json")
BODY='{"power": true}'
BARE_RUNS=0
bare_run() { # the next bare run, as a table row; leaves its id in BARE_ID
  BARE_RUNS=$((BARE_RUNS + 1))
  BARE_ID="bare$BARE_RUNS"
  run_wrk "$BARE_ID" "bare actix-web handler, load (a), run $BARE_RUNS" "$BARE_URL" POST "$WORK/paths_notify.txt" \
    "$BODY" "${JSON[@]}"
  printf '%s\t%s\t%s\t\n' "bare actix-web handler, load (a), run $BARE_RUNS" "$WORK/$BARE_ID.json" \
    "$(rss_kb "$BARE_PID")" >>"$ROWS"
}

# --- Switchboard: 10,000 instances and scenarios (a), (b), (c) -------------------------------------
log "starting switchboard on $HOST:$SB_PORT"
start_server "$WORK/data" "$WORK/switchboard.log"

log "creating 1 system, 1 Display module, 1 webhook trigger and $INSTANCES instances, 1 trigger with an action and $INSTANCES more"
"${BENCH_PY[@]}" setup --base "$SB_URL" --key "$KEY" --instances "$INSTANCES" --action-instances "$INSTANCES" \
  --threads 4 --out "$WORK" >&2
SYSTEM=$(jget "$WORK/setup.json" system)
RSS_CREATED=$(rss_kb "$SB_PID")
echo "bench: server RSS after creating the instances: $(mib "$RSS_CREATED")" >&2

warm_up bare "$BARE_URL" POST "$WORK/paths_notify.txt" "$BODY" "${JSON[@]}"
bare_run
BEFORE=$BARE_ID
warm_up a "$SB_URL" POST "$WORK/paths_notify.txt" "$BODY" "${JSON[@]}"
"${BENCH_PY[@]}" count --base "$SB_URL" --key "$KEY" --system "$SYSTEM" >"$WORK/count_before.json"

run_wrk a "(a) POST notify, no exec, spread over $INSTANCES instances" "$SB_URL" POST "$WORK/paths_notify.txt" "$BODY" "${JSON[@]}"
RSS_A=$(rss_kb "$SB_PID")
printf '%s\t%s\t%s\t%s\n' "(a) notify, no exec, $INSTANCES instances" "$WORK/a.json" "$RSS_A" \
  "$WORK/$BEFORE.json,$WORK/bare$((BARE_RUNS + 1)).json" >>"$ROWS"
bare_run
BEFORE=$BARE_ID

log "reading every instance's trigger_count"
"${BENCH_PY[@]}" count --base "$SB_URL" --key "$KEY" --system "$SYSTEM" >"$WORK/count_after.json"
COUNT_BEFORE=$(jget "$WORK/count_before.json" sum)
COUNT_AFTER=$(jget "$WORK/count_after.json" sum)
COUNT_LISTED=$(jget "$WORK/count_after.json" listed)
FIRED=$((COUNT_AFTER - COUNT_BEFORE))
SEEN_202=$(jget "$WORK/a.json" status202)
IN_FLIGHT=$(jget "$WORK/a.json" in_flight_at_end)
EXTRA=$((FIRED - SEEN_202))
if [ "$EXTRA" -eq 0 ]; then
  VERDICT="MATCH"
elif [ "$EXTRA" -gt 0 ] && [ "$EXTRA" -le "$IN_FLIGHT" ]; then
  VERDICT="MATCH once wrk's unanswered requests are counted: wrk stopped with $IN_FLIGHT requests sent but not yet answered, and the server fired $EXTRA more times than wrk saw 202s; no acknowledged fire was lost"
else
  VERDICT="MISMATCH: the server fired $EXTRA times more than wrk saw 202s (negative = acknowledged fires lost), with only $IN_FLIGHT requests unanswered when wrk stopped"
fi
COUNT_LINE="trigger_count check after (a): sum over $COUNT_LISTED instances = $COUNT_AFTER (was $COUNT_BEFORE before (a), so $FIRED fires during (a)); 202s seen by wrk = $SEEN_202; $VERDICT"
echo "bench: $COUNT_LINE" >&2

warm_up b "$SB_URL" POST "$WORK/paths_exec.txt" "$BODY" "${JSON[@]}"
run_wrk b "(b) POST notify + exec Display_1.request {\"power\": true}, spread over $INSTANCES instances" "$SB_URL" POST "$WORK/paths_exec.txt" "$BODY" "${JSON[@]}"
RSS_B=$(rss_kb "$SB_PID")
printf '%s\t%s\t%s\t%s\n' "(b) notify + exec Display_1.request" "$WORK/b.json" "$RSS_B" \
  "$WORK/$BEFORE.json,$WORK/bare$((BARE_RUNS + 1)).json" >>"$ROWS"
bare_run
BEFORE=$BARE_ID

warm_up c "$SB_URL" GET "$WORK/path_admin.txt" "" -H "X-API-Key: $KEY"
run_wrk c "(c) admin GET /systems/{sys}/triggers/{trig}, one instance" "$SB_URL" GET "$WORK/path_admin.txt" "" -H "X-API-Key: $KEY"
RSS_C=$(rss_kb "$SB_PID")
printf '%s\t%s\t%s\t%s\n' "(c) admin GET one instance" "$WORK/c.json" "$RSS_C" \
  "$WORK/$BEFORE.json,$WORK/bare$((BARE_RUNS + 1)).json" >>"$ROWS"
bare_run
BEFORE=$BARE_ID

warm_up e "$SB_URL" POST "$WORK/paths_action.txt" "$BODY" "${JSON[@]}"
run_wrk e "(e) POST notify, firing one function action (Display_1.power), spread over $INSTANCES instances" "$SB_URL" \
  POST "$WORK/paths_action.txt" "$BODY" "${JSON[@]}"
RSS_E=$(rss_kb "$SB_PID")
RUNS_QUEUED=$(metric "$SB_URL" switchboard_runs_queued)
printf '%s\t%s\t%s\t%s\n' "(e) notify firing one function action" "$WORK/e.json" "$RSS_E" \
  "$WORK/$BEFORE.json,$WORK/bare$((BARE_RUNS + 1)).json" >>"$ROWS"
bare_run
BEFORE=$BARE_ID
RUNS_LINE="runs of (e) still queued right after it: $RUNS_QUEUED; after the bare run that followed: $(metric "$SB_URL" switchboard_runs_queued) (the action worker carries them out behind the acknowledgements)"
echo "bench: $RUNS_LINE" >&2

# --- (d): execs that ask one callout first ---------------------------------------------------------
echo "/callout" >"$WORK/path_callout.txt"
p50_ms() { awk -v us="$(jget "$1" p50_us)" 'BEGIN {printf "%.3f", us / 1000}'; }
THREADS=1 CONNECTIONS=1 warm_up b1 "$SB_URL" POST "$WORK/paths_exec.txt" "$BODY" "${JSON[@]}"
THREADS=1 CONNECTIONS=1 run_wrk b1 "(b) at one connection, no callout" "$SB_URL" POST "$WORK/paths_exec.txt" "$BODY" \
  "${JSON[@]}"
THREADS=1 CONNECTIONS=1 run_wrk r1 "the callout receiver alone (bare handler, POST /callout) at one connection" \
  "$BARE_URL" POST "$WORK/path_callout.txt" "$BODY" "${JSON[@]}"
"${BENCH_PY[@]}" callout --base "$SB_URL" --key "$KEY" --url "$BARE_URL/callout" >"$WORK/callout.json"
THREADS=1 CONNECTIONS=1 warm_up d1 "$SB_URL" POST "$WORK/paths_exec.txt" "$BODY" "${JSON[@]}"
THREADS=1 CONNECTIONS=1 run_wrk d1 "(d) at one connection: exec asking one callout" "$SB_URL" POST \
  "$WORK/paths_exec.txt" "$BODY" "${JSON[@]}"
warm_up d "$SB_URL" POST "$WORK/paths_exec.txt" "$BODY" "${JSON[@]}"
run_wrk d "(d) POST notify + exec Display_1.request asking one callout, spread over $INSTANCES instances" "$SB_URL" \
  POST "$WORK/paths_exec.txt" "$BODY" "${JSON[@]}"
printf '%s\t%s\t%s\t%s\n' "(d) notify + exec asking one callout (receiver on the same cores)" "$WORK/d.json" \
  "$(rss_kb "$SB_PID")" "$WORK/$BEFORE.json,$WORK/bare$((BARE_RUNS + 1)).json" >>"$ROWS"
bare_run
BEFORE=$BARE_ID
ADDED_MS=$(awk -v d="$(p50_ms "$WORK/d1.json")" -v b="$(p50_ms "$WORK/b1.json")" 'BEGIN {printf "%.3f", d - b}')
RECEIVER_MS=$(p50_ms "$WORK/r1.json")
CALLOUT_VERDICT=$(awk -v a="$ADDED_MS" -v r="$RECEIVER_MS" 'BEGIN {print (a <= r + 1) ? "within" : "OVER"}')
CALLOUT_LINE="(d) at one connection: exec p50 $(p50_ms "$WORK/d1.json") ms asking one callout, $(p50_ms "$WORK/b1.json") ms without; the callout adds $ADDED_MS ms at p50, the receiver alone answers in $RECEIVER_MS ms at p50: $CALLOUT_VERDICT the target of the receiver's time + 1 ms. Callout requests answered: $(metric "$SB_URL" 'switchboard_callout_requests_total{decision="allow"}') allow, $(metric "$SB_URL" 'switchboard_callout_requests_total{decision="unavailable"}') unavailable."
echo "bench: $CALLOUT_LINE" >&2

log "stopping switchboard (SIGTERM)"
STOP_START=$(date +%s%N)
stop_pid "$SB_PID"
STOP_MS=$((($(date +%s%N) - STOP_START) / 1000000))

# --- (a) and (b) on other builds, for a before/after in one run -------------------------------------
IFS=':' read -r -a COMPARE_BINS <<<"${BENCH_COMPARE_BIN:-}"
for bin in "${COMPARE_BINS[@]}"; do
  [ -x "$bin" ] || die "BENCH_COMPARE_BIN: $bin is not an executable"
  other="$(basename "$bin")"
  log "starting $bin on a fresh data directory"
  SERVER=("$bin" serve --bind "$HOST:$SB_PORT")
  start_server "$WORK/data-$other" "$WORK/$other.log"
  "${BENCH_PY[@]}" setup --base "$SB_URL" --key "$KEY" --instances "$INSTANCES" --action-instances "$INSTANCES" \
    --threads 4 --out "$WORK/$other" >&2
  for scenario in a b; do
    paths="$WORK/$other/paths_notify.txt"
    [ "$scenario" = b ] && paths="$WORK/$other/paths_exec.txt"
    warm_up "$other-$scenario" "$SB_URL" POST "$paths" "$BODY" "${JSON[@]}"
    run_wrk "$other-$scenario" "($scenario) on $other" "$SB_URL" POST "$paths" "$BODY" "${JSON[@]}"
    printf '%s\t%s\t%s\t%s\n' "($scenario) on $other (BENCH_COMPARE_BIN)" "$WORK/$other-$scenario.json" \
      "$(rss_kb "$SB_PID")" "$WORK/$BEFORE.json,$WORK/bare$((BARE_RUNS + 1)).json" >>"$ROWS"
    bare_run
    BEFORE=$BARE_ID
  done
  stop_pid "$SB_PID"
done
SERVER=("$ROOT/target/release/switchboard" serve --bind "$HOST:$SB_PORT")

# --- PostgreSQL: (a), (b) and (c) on a local server with default settings ---------------------------
pg_bin_dir() { # the directory of the newest installed server's initdb, pg_ctl and createdb
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  return 1
}
if ! PG_BIN=$(pg_bin_dir); then
  log "installing postgresql with apt-get"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql || {
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
  }
  PG_BIN=$(pg_bin_dir) || die "no PostgreSQL server binaries after installing postgresql"
fi
# initdb refuses root: as root the server runs as the postgres user the package created.
[ "$(id -u)" -eq 0 ] && PG_USER=postgres
PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-bench-pg.XXXXXX")
[ -n "$PG_USER" ] && chown "$PG_USER:" "$PG_DIR"
log "starting a throw-away PostgreSQL ($PG_BIN) on $HOST:$PG_PORT with its default settings"
pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust >"$PG_DIR/initdb.log" 2>&1 \
  || die "initdb failed: $(tail -n 5 "$PG_DIR/initdb.log")"
pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
  -o "-c listen_addresses=$HOST -p $PG_PORT -k $PG_DIR" start >/dev/null || die "PostgreSQL did not start"
pg_as "$PG_BIN/createdb" -h "$HOST" -p "$PG_PORT" -U postgres switchboard
PG_SETTINGS=$(pg_as "$PG_BIN/psql" -h "$HOST" -p "$PG_PORT" -U postgres -At -d switchboard \
  -c "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'max_connections', 'server_version')")

export SWITCHBOARD_STORE__BACKEND=postgres SWITCHBOARD_STORE__POSTGRES_URL="postgres://postgres@$HOST:$PG_PORT/switchboard"
start_server "$WORK/data-pg" "$WORK/switchboard-pg.log"
unset SWITCHBOARD_STORE__BACKEND SWITCHBOARD_STORE__POSTGRES_URL
"${BENCH_PY[@]}" setup --base "$SB_URL" --key "$KEY" --instances "$INSTANCES" --action-instances 1 \
  --threads 4 --out "$WORK/pg" >&2
PG_SYSTEM=$(jget "$WORK/pg/setup.json" system)
warm_up pg-a "$SB_URL" POST "$WORK/pg/paths_notify.txt" "$BODY" "${JSON[@]}"
"${BENCH_PY[@]}" count --base "$SB_URL" --key "$KEY" --system "$PG_SYSTEM" >"$WORK/pg_count_before.json"
run_wrk pg-a "(a) on PostgreSQL" "$SB_URL" POST "$WORK/pg/paths_notify.txt" "$BODY" "${JSON[@]}"
printf '%s\t%s\t%s\t%s\n' "(a) notify, no exec, on PostgreSQL" "$WORK/pg-a.json" "$(rss_kb "$SB_PID")" \
  "$WORK/$BEFORE.json,$WORK/bare$((BARE_RUNS + 1)).json" >>"$ROWS"
bare_run
BEFORE=$BARE_ID
"${BENCH_PY[@]}" count --base "$SB_URL" --key "$KEY" --system "$PG_SYSTEM" >"$WORK/pg_count_after.json"
PG_FIRED=$(($(jget "$WORK/pg_count_after.json" sum) - $(jget "$WORK/pg_count_before.json" sum)))
PG_202=$(jget "$WORK/pg-a.json" status202)
PG_IN_FLIGHT=$(jget "$WORK/pg-a.json" in_flight_at_end)
PG_EXTRA=$((PG_FIRED - PG_202))
if [ "$PG_EXTRA" -ge 0 ] && [ "$PG_EXTRA" -le "$PG_IN_FLIGHT" ]; then PG_VERDICT=MATCH; else PG_VERDICT=MISMATCH; fi
PG_LINE="PostgreSQL ($PG_SETTINGS): trigger_count check after (a): $PG_FIRED fires stored, 202s seen by wrk = $PG_202, $PG_IN_FLIGHT unanswered when wrk stopped: $PG_VERDICT"
echo "bench: $PG_LINE" >&2
for scenario in b c; do
  if [ "$scenario" = b ]; then
    args=(POST "$WORK/pg/paths_exec.txt" "$BODY" "${JSON[@]}")
    label="(b) notify + exec Display_1.request, on PostgreSQL"
  else
    args=(GET "$WORK/pg/path_admin.txt" "" -H "X-API-Key: $KEY")
    label="(c) admin GET one instance, on PostgreSQL"
  fi
  warm_up "pg-$scenario" "$SB_URL" "${args[@]}"
  run_wrk "pg-$scenario" "$label" "$SB_URL" "${args[@]}"
  printf '%s\t%s\t%s\t%s\n' "$label" "$WORK/pg-$scenario.json" "$(rss_kb "$SB_PID")" \
    "$WORK/$BEFORE.json,$WORK/bare$((BARE_RUNS + 1)).json" >>"$ROWS"
  bare_run
  BEFORE=$BARE_ID
done
stop_pid "$SB_PID"

# --- (a) again, acknowledging fires before the device sync ------------------------------------------
log "restarting switchboard with store.sync_interval_ms = $RELAXED_SYNC_MS"
export SWITCHBOARD_STORE__SYNC_INTERVAL_MS=$RELAXED_SYNC_MS
start_server "$WORK/data" "$WORK/switchboard.log"
unset SWITCHBOARD_STORE__SYNC_INTERVAL_MS
warm_up a2 "$SB_URL" POST "$WORK/paths_notify.txt" "$BODY" "${JSON[@]}"
run_wrk a2 "(a) again with store.sync_interval_ms = $RELAXED_SYNC_MS" "$SB_URL" POST "$WORK/paths_notify.txt" "$BODY" \
  "${JSON[@]}"
printf '%s\t%s\t%s\t%s\n' "(a) with store.sync_interval_ms = $RELAXED_SYNC_MS (not a target scenario)" "$WORK/a2.json" \
  "$(rss_kb "$SB_PID")" "$WORK/$BEFORE.json,$WORK/bare$((BARE_RUNS + 1)).json" >>"$ROWS"
bare_run
BEFORE=$BARE_ID
stop_pid "$SB_PID"

# --- (a) again without receipts: what recording every call costs --------------------------------------
log "restarting switchboard with receipts.enabled = false"
export SWITCHBOARD_RECEIPTS__ENABLED=false
start_server "$WORK/data" "$WORK/switchboard.log"
unset SWITCHBOARD_RECEIPTS__ENABLED
warm_up a3 "$SB_URL" POST "$WORK/paths_notify.txt" "$BODY" "${JSON[@]}"
run_wrk a3 "(a) again with receipts.enabled = false" "$SB_URL" POST "$WORK/paths_notify.txt" "$BODY" "${JSON[@]}"
printf '%s\t%s\t%s\t%s\n' "(a) with receipts.enabled = false (receipts on must reach 0.85 of this)" "$WORK/a3.json" \
  "$(rss_kb "$SB_PID")" "$WORK/$BEFORE.json,$WORK/bare$((BARE_RUNS + 1)).json" >>"$ROWS"
bare_run
stop_pid "$BARE_PID"
stop_pid "$SB_PID"

# --- start-up with 100,000 stored instances --------------------------------------------------------
log "seeding a fresh data directory with $SEED_INSTANCES instances"
SEED_START=$(date +%s%N)
"$ROOT/target/release/examples/seed_store" "$WORK/seed" "$SEED_INSTANCES" >&2
SEED_S=$(awk -v ns=$(($(date +%s%N) - SEED_START)) 'BEGIN {printf "%.1f", ns / 1e9}')
SEED_DU=$(du -sh "$WORK/seed" | cut -f1)

log "timing start-up (polling every 10 ms)"
"${BENCH_PY[@]}" startup --base "$SB_URL" --pidfile "$WORK/startup.pid" --log "$WORK/startup.log" --interval 0.01 \
  -- "${SERVER[@]}" --data-dir "$WORK/seed" >"$WORK/startup.json"
START_PID=$(cat "$WORK/startup.pid")
RSS_READY=$(rss_kb "$START_PID")
sleep 5
RSS_READY_5S=$(rss_kb "$START_PID")
READY_MS=$(jget "$WORK/startup.json" ready_ms)
FIRST_MS=$(jget "$WORK/startup.json" first_http_answer_ms)
ENDPOINT=$(jget "$WORK/startup.json" endpoint)
FALLBACK=$(jget "$WORK/startup.json" fallback)
if [ "$FALLBACK" = True ]; then
  HOW="GET /healthz answered 200 (the server has no /readyz, 404, so this falls back to /healthz)"
else
  HOW="GET $ENDPOINT answered 200"
fi
STARTUP_LINE="start-up with $SEED_INSTANCES stored instances ($SEED_DU on disk, seeded in $SEED_S s): $READY_MS ms from process start until $HOW; first HTTP answer at $FIRST_MS ms; server RSS $(mib "$RSS_READY") when ready, $(mib "$RSS_READY_5S") 5 s later"
echo "bench: $STARTUP_LINE" >&2
stop_pid "$START_PID"
rm -f "$WORK/startup.pid"

# --- the table -------------------------------------------------------------------------------------
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || COMMIT="$COMMIT + uncommitted changes"
CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
HEADER="Commit $COMMIT. $(nproc) cores ($CPU); wrk and the server share them. wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --timeout 5s after a ${WARMUP} s warm-up run of the same load (each Switchboard scenario, and the bare handler once), a random path per request from the 10,000 instances' webhook paths in (a), (b) and the bare run; POST body \`$BODY\`. Per-instance rate limit raised to 1000000/s, burst 1000000. Latencies are wrk's exact percentiles; errors are non-2xx responses plus socket errors (connect, read, write, timeout). Server RSS is VmRSS right after each run. The bare handler runs right before and right after each scenario; a scenario's ratio is to the mean of those two runs."
SETUP_LINE="Created the $INSTANCES instances through the admin API in $(jget "$WORK/setup.json" seconds) s ($(jget "$WORK/setup.json" per_second)/s). Server RSS after creating them: $(mib "$RSS_CREATED"); after all the load: $(mib "$RSS_E"). Graceful stop (SIGTERM) took $STOP_MS ms."

echo >&2
"${BENCH_PY[@]}" report --rows "$ROWS" --out "$ROOT/bench/results.md" --header "$HEADER" \
  --note "$COUNT_LINE" --note "$RUNS_LINE" --note "$CALLOUT_LINE" --note "$PG_LINE" --note "$STARTUP_LINE" --note "$SETUP_LINE"
echo >&2
echo "bench: table written to bench/results.md" >&2
