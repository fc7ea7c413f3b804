#!/usr/bin/env bash
# Runs every fuzz target (libFuzzer, through cargo-fuzz) for a bounded time each, from its seed corpus
# in fuzz/corpus/<target>/, after replaying the inputs that once crashed it (fuzz/regressions/<target>/).
#
#   fuzz/run.sh [seconds per target, default 60]
#
# Prints the executions of each target (libFuzzer's stat::number_of_executed_units) and exits non-zero
# if any target crashed. A crashing input is saved as fuzz/artifacts/<target>/crash-<sha1> (rerun it
# with fuzz/target/<triple>/release/<target> <file>); inputs that found new coverage go to
# fuzz/work/<target>/ and are used again by the next run. Neither is committed.
#
# Environment: FUZZ_TARGETS="a b" runs only those targets; FUZZ_SANITIZER=address builds with
# AddressSanitizer (needs RUSTC_BOOTSTRAP=1 on stable Rust, set here; the crate forbids unsafe code,
# so the default is none: panics, overflows and failed assertions are what the targets detect).
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-60}"
sanitizer="${FUZZ_SANITIZER:-none}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz" >&2
  timeout 900 cargo install cargo-fuzz --locked
fi

build=(cargo fuzz build --release --sanitizer "$sanitizer")
if [ "$sanitizer" != none ]; then
  export RUSTC_BOOTSTRAP=1
fi
"${build[@]}"

triple="$(rustc -vV | sed -n 's/^host: //p')"
bin_dir="target/$triple/release"
targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"

# The journal target writes its files here; a crash or the end of a run leaves them behind.
export TMPDIR="$PWD/work/tmp"
failed=()
printf '\n%-20s %12s %10s  %s\n' target executions exec/s result
for target in $targets; do
  rm -rf "$TMPDIR"
  mkdir -p "work/$target" "artifacts/$target" logs "$TMPDIR"
  log="logs/$target.log"
  result=ok
  # Inputs that crashed a target once: each must now run clean.
  if compgen -G "regressions/$target/*" >/dev/null; then
    if ! "$bin_dir/$target" regressions/"$target"/* >"logs/$target.regressions.log" 2>&1; then
      result="regression failed (logs/$target.regressions.log)"
    fi
  fi
  if ! "$bin_dir/$target" "work/$target" "corpus/$target" \
    -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
    -artifact_prefix="artifacts/$target/" >"$log" 2>&1; then
    crash="$(sed -n 's/^.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
    result="CRASH ${crash:-see fuzz/$log}"
  fi
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
  printf '%-20s %12s %10s  %s\n' "$target" "${runs:-?}" "${rate:-?}" "$result"
  if [ "$result" != ok ]; then
    failed+=("$target")
    grep -E -A 12 'panicked at|ERROR: libFuzzer' "$log" | head -n 30 >&2 || true
  fi
done

rm -rf "$TMPDIR"

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzzing failed: ${failed[*]}" >&2
  exit 1
fi
