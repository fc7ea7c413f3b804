#!/usr/bin/env bash
# bench/ab.sh BIN_A BIN_B: scenarios (b) and (a) of bench/run.sh on two release builds, alternating
# A, B, A, B… for three rounds so that the machine's drift falls on both alike. Each measurement starts
# the binary on a fresh data directory with 2,000 instances, warms up for 5 s and measures 10 s with
# wrk -t2 -c64; prints one line per measurement: `A|B scenario requests/s`. 127.0.0.1 only; needs wrk.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KEY="sbk_bench_$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
export SWITCHBOARD_ADMIN_KEY="$KEY" SWITCHBOARD_LOG_FORMAT=json RUST_LOG=warn
export SWITCHBOARD_WEBHOOK__RATE_LIMIT_PER_SECOND=1000000 SWITCHBOARD_WEBHOOK__RATE_LIMIT_BURST=1000000
PORT=18090
W=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-ab.XXXXXX")
trap 'rm -rf "$W"' EXIT
one() { # bin label scenario
  local bin=$1 label=$2 sc=$3
  rm -rf "$W/data"; "$bin" serve --bind 127.0.0.1:$PORT --data-dir "$W/data" >>"$W/log" 2>&1 & local pid=$!
  python3 $ROOT/bench/bench.py wait --base http://127.0.0.1:$PORT --path /healthz --timeout 60
  python3 $ROOT/bench/bench.py setup --base http://127.0.0.1:$PORT --key "$KEY" --instances 2000 --action-instances 1 --threads 4 --out "$W/s" >/dev/null 2>&1
  local paths="$W/s/paths_notify.txt"; [ "$sc" = b ] && paths="$W/s/paths_exec.txt"
  BENCH_RESULT="$W/warm.json" wrk -t2 -c64 -d5s --timeout 5s -H "Content-Type: application/json" -s $ROOT/bench/wrk.lua http://127.0.0.1:$PORT/ -- POST "$paths" '{"power": true}' >/dev/null
  BENCH_RESULT="$W/r.json" wrk -t2 -c64 -d10s --timeout 5s -H "Content-Type: application/json" -s $ROOT/bench/wrk.lua http://127.0.0.1:$PORT/ -- POST "$paths" '{"power": true}' >/dev/null
  kill $pid; wait $pid 2>/dev/null || true
  echo "$label $sc $(python3 -c "import json;print(json.load(open('$W/r.json'))['rps'])")"
}
for round in 1 2 3; do
  for sc in b a; do
    one "$1" A "$sc"; one "$2" B "$sc"
  done
done
