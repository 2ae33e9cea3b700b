#!/usr/bin/env bash
# The ledger benchmark (bench/README.md; DESIGN "The performance budget").
# In one run, against one PostgreSQL, one after the other:
#   1. baseline: pgbench doing the durable work of one spend per transaction
#      (conditional UPDATE of the balance + INSERT of the journal row);
#   2. engine:   `tally serve` driven by tally_loadgen (POST /v1/credits/spend,
#      keep-alive, the same concurrency and duration);
#   3. engine again, open loop at 80% of the peak just measured (p99 target);
#   4. with --memory: the engine's resident memory after 1,000,000 accounts
#      were touched once, and again --memory-settle seconds later (past the
#      engine's default TALLY_LEDGER_IDLE_MS of 30 s, so idle accounts have
#      been passivated);
# then prints them side by side with the engine/baseline ratio.
#
#   bash bench/run_ledger_bench.sh [--seconds=20] [--clients=64] [--accounts=10000]
#       [--warmup=3] [--amount=1] [--accounts-via=db|http] [--no-rate80]
#       [--memory] [--memory-accounts=1000000] [--memory-settle=35] [--loadgen-threads=1]
#       [--port=18080] [--build-dir=build/release] [--no-build] [--smoke]
#
# --smoke (CI): 3 s, 100 accounts, 8 clients, accounts registered over HTTP,
# no 80% run; fails only when a step fails or a run errored, never on a slow
# ratio.
#
# PostgreSQL and Redis: TALLY_BENCH_ADMIN_URL (a URL of the server's
# maintenance database), else TALLY_TEST_DATABASE_ADMIN_URL, else the server of
# DATABASE_URL; Redis from REDIS_URL. With none of them set, the script starts
# its own private pair with scripts/services.sh (ports TALLY_BENCH_PG_PORT,
# default 55436, and TALLY_BENCH_REDIS_PORT, default 56386, data under
# .run/bench) and stops it at the end. Scratch databases tally_bench_baseline
# and tally_bench_engine are created and dropped. Other TALLY_* variables in
# the environment reach the engine (e.g. a limiter to disable).
#
# Exit status: 0 all runs completed without errors; 1 a step failed or a run
# errored (the message names the step); 2 bad options.
set -Eeuo pipefail

script="$(realpath "${BASH_SOURCE[0]}")"
repo="$(cd "$(dirname "$script")/.." && pwd)"
cd "$repo"

usage() { sed -n '2,/^set -Eeuo/p' "$script" | sed '$d; s/^# \{0,1\}//'; }

# ---------------------------------------------------------------- options
seconds="" clients="" accounts="" warmup="" amount=1 accounts_via="" rate80="" memory=0
memory_accounts=1000000 memory_settle=35 loadgen_threads=1 port=18080 build_dir="build/release" build=1 smoke=0
while [ $# -gt 0 ]; do
  arg="$1"
  shift
  case "$arg" in
    --*=*) name="${arg%%=*}" value="${arg#*=}" ;;
    --smoke | --memory | --no-rate80 | --no-build | --help | -h) name="$arg" value="" ;;
    --*)
      [ $# -gt 0 ] || { echo "run_ledger_bench: $arg needs a value" >&2; exit 2; }
      name="$arg" value="$1"
      shift
      ;;
    *) echo "run_ledger_bench: unexpected argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
  case "$name" in
    --seconds) seconds="$value" ;;
    --clients) clients="$value" ;;
    --accounts) accounts="$value" ;;
    --warmup) warmup="$value" ;;
    --amount) amount="$value" ;;
    --accounts-via) accounts_via="$value" ;;
    --no-rate80) rate80=0 ;;
    --memory) memory=1 ;;
    --memory-accounts) memory_accounts="$value" ;;
    --memory-settle) memory_settle="$value" ;;
    --loadgen-threads) loadgen_threads="$value" ;;
    --port) port="$value" ;;
    --build-dir) build_dir="$value" ;;
    --no-build) build=0 ;;
    --smoke) smoke=1 ;;
    --help | -h) usage; exit 0 ;;
    *) echo "run_ledger_bench: unknown option $name (try --help)" >&2; exit 2 ;;
  esac
done
if [ "$smoke" = 1 ]; then
  : "${seconds:=3}" "${accounts:=100}" "${clients:=8}" "${warmup:=1}" "${accounts_via:=http}"
  : "${rate80:=0}"
fi
: "${seconds:=20}" "${accounts:=10000}" "${clients:=64}" "${warmup:=3}" "${accounts_via:=db}"
: "${rate80:=1}"
for pair in "seconds:$seconds" "clients:$clients" "accounts:$accounts" "warmup:$warmup" \
  "amount:$amount" "memory-accounts:$memory_accounts" "memory-settle:$memory_settle" "loadgen-threads:$loadgen_threads" \
  "port:$port"; do
  case "${pair#*:}" in
    '' | *[!0-9]*) echo "run_ledger_bench: --${pair%%:*} must be a whole number" >&2; exit 2 ;;
  esac
done
if [ "$seconds" -lt 1 ] || [ "$clients" -lt 1 ] || [ "$accounts" -lt 1 ] || [ "$amount" -lt 1 ]; then
  echo "run_ledger_bench: seconds, clients, accounts and amount must be >= 1" >&2
  exit 2
fi
case "$accounts_via" in
  db | http) ;;
  *) echo "run_ledger_bench: --accounts-via must be db or http" >&2; exit 2 ;;
esac

# ---------------------------------------------------------------- steps and cleanup
current_step="start"
work="$(mktemp -d /tmp/tally-bench.XXXXXX)"
engine_pid="" engine_exit="" started_services=0 services_dir="" admin_url="" made_databases=()
run_errors=()

step() {
  current_step="$1"
  echo "== $current_step" >&2
}

fail() {
  echo "run_ledger_bench: FAILED at step '$current_step': $*" >&2
  exit 1
}

on_error() {
  echo "run_ledger_bench: FAILED at step '$current_step' (command at line $1 exited $2)" >&2
}
trap 'on_error $LINENO $?' ERR

stop_engine() {
  [ -n "$engine_pid" ] || return 0
  local pid="$engine_pid"
  engine_pid=""
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "run_ledger_bench: the engine ignored SIGTERM for 20 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  local status=0
  wait "$pid" 2>/dev/null || status=$?
  # A clean shutdown exits 0 (or 143, killed by the SIGTERM itself); anything
  # else, a crash in particular (139 = SIGSEGV), is reported.
  if [ "$status" != 0 ] && [ "$status" != 143 ]; then
    engine_exit="$status"
    echo "run_ledger_bench: the engine exited with status $status on SIGTERM" \
      "(>128: killed by signal $((status > 128 ? status - 128 : 0))); engine.log:" >&2
    tail -20 "$work/engine.log" >&2
  fi
}

cleanup() {
  local rc=$?
  set +e
  trap - ERR
  stop_engine
  for db in "${made_databases[@]}"; do
    psql "$admin_url" -qAt -c "SET client_min_messages = warning" \
      -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 \
      || echo "run_ledger_bench: could not drop database $db" >&2
  done
  if [ "$started_services" = 1 ]; then
    bash scripts/services.sh stop "$services_dir" >/dev/null 2>&1
  fi
  if [ "$rc" = 0 ]; then
    rm -rf "$work"
  else
    echo "run_ledger_bench: logs kept in $work" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helpers
# url_with_db URL NAME: the same server, database NAME.
url_with_db() {
  case "$1" in
    postgres://* | postgresql://*)
      printf '%s\n' "$1" | sed -E "s#^(postgres(ql)?://[^/?]*)(/[^?]*)?(\\?.*)?\$#\\1/$2\\4#" ;;
    *) printf '%s dbname=%s\n' "$1" "$2" ;;  # libpq key=value: the last dbname wins
  esac
}

random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# CPU accounting, from /proc (clock ticks): where a spend's cost goes, and so
# what two cores can do at best. proc_ticks PID [1]: utime+stime of PID (with
# 1: plus its waited-for children's). The "(comm)" field may hold spaces.
clk_tck="$(getconf CLK_TCK)"
proc_ticks() {
  { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null || echo; } \
    | awk -v c="${2:-0}" 'NF { s = $12 + $13; if (c) s += $14 + $15; print s; exit } END { if (!NF) print 0 }'
}
# postgres_ticks: the whole cluster (postmaster, its live children, and the
# children that exited since, e.g. pgbench's backends).
postgres_ticks() {
  local total pid
  total="$(proc_ticks "$postmaster_pid" 1)"
  for pid in $(pgrep -P "$postmaster_pid"); do
    total=$((total + $(proc_ticks "$pid")))
  done
  echo "$total"
}
# cpu_us_per TICKS COUNT: microseconds of CPU per unit.
cpu_us_per() { awk -v t="$1" -v n="$2" -v hz="$clk_tck" 'BEGIN { printf "%.0f", (n > 0 ? t * 1e6 / hz / n : 0) }'; }

recreate_database() {
  made_databases+=("$1")
  psql "$admin_url" -qAt -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
}

# json_get FILE FIELD...: a field of the last JSON line of FILE ("latency_ms p99").
json_get() {
  local file="$1"
  shift
  local line
  line="$(grep '^{"tool":"tally_loadgen"' "$file" | tail -1 || true)"
  [ -n "$line" ] || return 1
  if command -v jq >/dev/null 2>&1; then
    local path=""
    for key in "$@"; do path="$path.$key"; done
    printf '%s\n' "$line" | jq -r "$path"
  else
    printf '%s\n' "$line" | python3 -c 'import json,sys
v=json.load(sys.stdin)
for k in sys.argv[1:]: v=v[k]
print(v)' "$@"
  fi
}

# memory_kb FIELD: VmRSS or VmHWM of the engine, in kB.
memory_kb() { awk -v field="$1:" '$1 == field { print $2 }' "/proc/$engine_pid/status"; }
mib() { awk -v kb="$1" 'BEGIN { printf "%.0f", kb / 1024 }'; }

# hint_for LOG: a likely cause for a failed loadgen step, from its output.
hint_for() {
  if grep -q 'grants -> 404' "$1"; then
    echo "POST /v1/admin/users/{id}/grants answered 404: the grant endpoint is not there yet?"
  elif grep -q 'credits/spend.* -> 404' "$1"; then
    echo "POST /v1/credits/spend answered 404: the spend endpoint is not there yet?"
  elif grep -q -- '-> 401' "$1"; then
    echo "401: the engine refused the token or the admin key (JWT key/kid, issuer, audience?)"
  elif grep -q 'no answer' "$1"; then
    echo "requests got no answer: did the engine die? (see engine.log)"
  else
    echo "see $1"
  fi
}

# run_loadgen NAME LOG ARGS...: runs tally_loadgen; a run with errors (exit 4)
# is recorded and the benchmark goes on; any other failure stops it.
run_loadgen() {
  local name="$1" log="$2"
  shift 2
  local rc=0
  # Progress (stderr) shows live and lands in LOG.err; the report (stdout) in LOG.
  "$loadgen_bin" "$@" 2>&1 >"$log" | tee "$log.err" >&2 || rc=$?
  cat "$log"
  case "$rc" in
    0) return 0 ;;
    4)
      run_errors+=("$name")
      echo "run_ledger_bench: $name had errors: $(hint_for "$log")" >&2
      ;;
    *)
      if [ -n "$engine_pid" ] && ! kill -0 "$engine_pid" 2>/dev/null; then
        echo "--- the engine has exited; engine.log (tail):" >&2
        tail -20 "$work/engine.log" >&2
      fi
      fail "tally_loadgen exited $rc: $(hint_for "$log.err")"
      ;;
  esac
}

# ---------------------------------------------------------------- build
step "build"
for tool in psql curl awk; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed"
done
command -v jq >/dev/null 2>&1 || command -v python3 >/dev/null 2>&1 || fail "need jq or python3"
pgbench_bin="/usr/lib/postgresql/15/bin/pgbench"
[ -x "$pgbench_bin" ] || pgbench_bin="$(command -v pgbench)" || fail "pgbench is not installed"
if [ "$build" = 1 ]; then
  # Tests off, as scripts/run.sh builds the same folder: the bench needs only these two.
  { cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTALLY_BUILD_TESTS=OFF \
      && cmake --build "$build_dir" --target tally tally_loadgen; } >"$work/build.log" 2>&1 \
    || { tail -40 "$work/build.log" >&2; fail "the build failed"; }
fi
engine_bin="$build_dir/cmd/tally"
loadgen_bin="$build_dir/bench/tally_loadgen"
for binary in "$engine_bin" "$loadgen_bin"; do
  [ -x "$binary" ] || fail "$binary is missing (build it, or drop --no-build)"
done

# ---------------------------------------------------------------- services
step "postgres and redis"
admin_url="${TALLY_BENCH_ADMIN_URL:-${TALLY_TEST_DATABASE_ADMIN_URL:-}}"
if [ -z "$admin_url" ] && [ -n "${DATABASE_URL:-}" ]; then
  admin_url="$(url_with_db "$DATABASE_URL" postgres)"
fi
if [ -z "$admin_url" ]; then
  services_dir="$repo/.run/bench"
  started_services=1
  services_env="$(TALLY_PG_PORT="${TALLY_BENCH_PG_PORT:-55436}" \
    TALLY_REDIS_PORT="${TALLY_BENCH_REDIS_PORT:-56386}" \
    bash scripts/services.sh start "$services_dir")" || fail "scripts/services.sh start failed"
  eval "$services_env"
  admin_url="$TALLY_TEST_DATABASE_ADMIN_URL"
fi
redis_url="${REDIS_URL:-redis://127.0.0.1:56379/0}"
psql "$admin_url" -qAt -c "SELECT 1" >/dev/null || fail "cannot connect to PostgreSQL at $admin_url"
baseline_url="$(url_with_db "$admin_url" tally_bench_baseline)"
engine_url="$(url_with_db "$admin_url" tally_bench_engine)"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
postgres_data="$(psql "$admin_url" -qAt -c "SHOW data_directory")"
postmaster_pid="$(head -1 "$postgres_data/postmaster.pid" 2>/dev/null || true)"
[ -n "$postmaster_pid" ] && [ -r "/proc/$postmaster_pid/stat" ] \
  || fail "cannot read the postmaster's pid from $postgres_data/postmaster.pid (CPU accounting)"

# ---------------------------------------------------------------- baseline
step "baseline: load $accounts accounts into tally_bench_baseline"
recreate_database tally_bench_baseline
# Enough credits that the conditional debit never has to refuse.
psql "$baseline_url" -q -v ON_ERROR_STOP=1 -v naccounts="$accounts" -v initial=1000000000000 \
  -f bench/baseline_schema.sql >"$work/baseline_schema.log" 2>&1 \
  || { cat "$work/baseline_schema.log" >&2; fail "loading the baseline schema failed"; }

pgbench_threads=$((clients < 2 ? clients : 2))
pgbench_args=(-n -M prepared -c "$clients" -j "$pgbench_threads" -D naccounts="$accounts"
  -D amount="$amount" -f bench/baseline.sql)
step "baseline: pgbench warm-up ${warmup}s"
if [ "$warmup" -gt 0 ]; then
  "$pgbench_bin" "${pgbench_args[@]}" -T "$warmup" "$baseline_url" >"$work/pgbench_warmup.log" 2>&1 \
    || { cat "$work/pgbench_warmup.log" >&2; fail "pgbench (warm-up) failed"; }
fi
step "baseline: pgbench ${seconds}s, $clients clients"
postgres_before="$(postgres_ticks)"
"$pgbench_bin" "${pgbench_args[@]}" -T "$seconds" "$baseline_url" >"$work/pgbench.log" 2>&1 \
  || { cat "$work/pgbench.log" >&2; fail "pgbench failed"; }
baseline_pg_ticks=$(($(postgres_ticks) - postgres_before))
cat "$work/pgbench.log" >&2
baseline_tps="$(sed -nE 's/^tps = ([0-9.]+) .*/\1/p' "$work/pgbench.log")"
baseline_latency="$(sed -nE 's/^latency average = ([0-9.]+) ms.*/\1/p' "$work/pgbench.log")"
baseline_failed="$(sed -nE 's/^number of failed transactions: ([0-9]+).*/\1/p' "$work/pgbench.log")"
if [ -z "$baseline_tps" ] || [ -z "$baseline_latency" ]; then
  fail "no tps/latency in pgbench's output"
fi
[ "${baseline_failed:-0}" = 0 ] || run_errors+=("baseline ($baseline_failed failed transactions)")

step "baseline: journal replays to the projection"
mismatches="$(psql "$baseline_url" -qAt -v ON_ERROR_STOP=1 -c "
  SELECT count(*) FROM accounts a
  LEFT JOIN (SELECT account_id, sum(delta) AS total, max(seq) AS last, count(*) AS n
             FROM entries GROUP BY account_id) e USING (account_id)
  WHERE e.total IS DISTINCT FROM a.available OR e.last IS DISTINCT FROM a.last_seq
     OR e.n IS DISTINCT FROM a.last_seq")"
[ "$mismatches" = 0 ] || run_errors+=("baseline ($mismatches accounts disagree with their journal)")

# ---------------------------------------------------------------- engine
step "engine: start on 127.0.0.1:$port (database tally_bench_engine)"
if curl -s -o /dev/null "http://127.0.0.1:$port/health/live"; then
  fail "something already listens on 127.0.0.1:$port (use --port)"
fi
recreate_database tally_bench_engine
admin_key="bench-admin-$(random_hex 24)"
jwt_key="bench-jwt-$(random_hex 32)"
(
  unset TALLY_CONFIG_FILE TALLY_IDENTITY_DATABASE_URL TALLY_LEDGER_DATABASE_URL \
    TALLY_PAYMENTS_DATABASE_URL TALLY_WORKFLOWS_DATABASE_URL TALLY_EVENTS_DATABASE_URL \
    TALLY_AUDIT_DATABASE_URL TALLY_JWT_PREVIOUS_KEYS
  export DATABASE_URL="$engine_url" REDIS_URL="$redis_url" TALLY_MODE=dev \
    TALLY_RUN_DIR="$work/engine-run" TALLY_LISTEN="127.0.0.1:$port" \
    TALLY_ADMIN_API_KEY="$admin_key" TALLY_JWT_KEY="$jwt_key" TALLY_JWT_KID=k1 \
    TALLY_LOG_LEVEL=warn TALLY_RATE_AUTH_PER_IP_PER_MINUTE=0 \
    TALLY_RATE_AUTH_PER_EMAIL_PER_MINUTE=0 TALLY_REDIS_KEY_PREFIX="tally-bench-$$:"
  exec "$engine_bin" serve
) >"$work/engine.log" 2>&1 &
engine_pid=$!
for _ in $(seq 1 600); do
  if ! kill -0 "$engine_pid" 2>/dev/null; then
    tail -30 "$work/engine.log" >&2
    engine_pid=""
    fail "the engine exited during start-up (engine.log above)"
  fi
  curl -s -o /dev/null "http://127.0.0.1:$port/health/live" && break
  sleep 0.1
done
curl -fs -o /dev/null "http://127.0.0.1:$port/health/live" \
  || fail "the engine did not answer /health/live within 60 s"

loadgen_common=(--host=127.0.0.1 --port="$port" --connections="$clients"
  --threads="$loadgen_threads" --accounts="$accounts" --amount="$amount"
  --admin-key="$admin_key" --tokens-file="$work/tokens.tsv")
if [ "$accounts_via" = db ]; then
  loadgen_common+=(--accounts-from-db="$engine_url" --jwt-key="$jwt_key" --jwt-kid=k1)
fi
# Credits for every run below at up to 200,000 spends/s: no spend is refused for lack of them.
grant=$(((200000 * 2 * (warmup + seconds) * amount + accounts - 1) / accounts + 1000))

step "engine: $accounts accounts (via $accounts_via) and their grants (tally_loadgen --setup-only)"
run_loadgen "setup" "$work/setup.log" "${loadgen_common[@]}" --grant="$grant" --setup-only \
  --duration-s="$seconds" --warmup-s="$warmup"

# The events relay's publish lag (age of the oldest unpublished ledger outbox
# row, /metrics) sampled once a second while the spend run loads the ledger.
# awk reads to the end (an early exit would make curl fail with a write error).
relay_metric() {
  { curl -s "http://127.0.0.1:$port/metrics" 2>/dev/null || true; } \
    | awk -v name="$1" '$1 == name "{context=\"ledger\"}" { v = $2 } END { if (v != "") print v }'
}
sample_relay_lag() {
  trap - ERR  # a missed sample is not a failed run
  set +e
  : >"$work/relay_lag.samples"
  while :; do
    relay_metric tally_events_relay_lag_seconds >>"$work/relay_lag.samples"
    sleep 1
  done
}

step "engine: spend run, closed loop, ${seconds}s after ${warmup}s warm-up"
sample_relay_lag &
lag_sampler=$!
postgres_before="$(postgres_ticks)"
engine_before="$(proc_ticks "$engine_pid")"
run_loadgen "engine spend run" "$work/spend.log" "${loadgen_common[@]}" --skip-setup \
  --duration-s="$seconds" --warmup-s="$warmup" --json
engine_pg_ticks=$(($(postgres_ticks) - postgres_before))
engine_ticks=$(($(proc_ticks "$engine_pid") - engine_before))
kill "$lag_sampler" 2>/dev/null || true
wait "$lag_sampler" 2>/dev/null || true
# Until the backlog left by the run is published (at most 60 s).
drain_start=$(date +%s)
for _ in $(seq 1 120); do
  [ "$(relay_metric tally_events_outbox_backlog)" = 0 ] && break
  sleep 0.5
done
drain_s=$(($(date +%s) - drain_start))
relay_line="$(sort -g "$work/relay_lag.samples" | awk -v drain="$drain_s" '
  NF { v[n++] = $1 }
  END {
    if (n == 0) { print "(no samples: /metrics had no ledger relay gauge)"; exit }
    printf "publish lag (oldest unpublished ledger event, sampled 1/s, %d samples): p50 %.3f s, p90 %.3f s, max %.3f s; backlog published %d s after the run", n, v[int(n * 0.5)], v[int(n * 0.9)], v[n - 1], drain
  }')"
engine_tps="$(json_get "$work/spend.log" throughput_per_s)"
engine_p50="$(json_get "$work/spend.log" latency_ms p50)"
engine_p99="$(json_get "$work/spend.log" latency_ms p99)"
engine_max="$(json_get "$work/spend.log" latency_ms max)"
# CPU per spend: the ticks cover warm-up and measured window, so divide by the
# spends of both (the measured rate times their length). The engine's
# Postgres figure includes the events relay's reads and marks.
engine_spends="$(awk -v t="$engine_tps" -v s="$((seconds + warmup))" 'BEGIN { printf "%d", t * s }')"
baseline_txs="$(awk -v t="$baseline_tps" -v s="$seconds" 'BEGIN { printf "%d", t * s }')"
engine_cpu_us="$(cpu_us_per "$engine_ticks" "$engine_spends")"
engine_pg_cpu_us="$(cpu_us_per "$engine_pg_ticks" "$engine_spends")"
baseline_pg_cpu_us="$(cpu_us_per "$baseline_pg_ticks" "$baseline_txs")"
cpu_line="engine $engine_cpu_us + postgres $engine_pg_cpu_us us/spend   postgres $baseline_pg_cpu_us us/tx (clients not counted)"

rate80_line="(skipped)"
if [ "$rate80" = 1 ]; then
  rate="$(awk -v t="$engine_tps" 'BEGIN { printf "%d", t * 0.8 }')"
  if [ "$rate" -ge 1 ]; then
    step "engine: open loop at 80% of peak ($rate spends/s)"
    run_loadgen "engine 80% run" "$work/rate80.log" "${loadgen_common[@]}" --skip-setup \
      --duration-s="$seconds" --warmup-s="$warmup" --rate="$rate" --json
    rate80_line="$(printf '%s spends/s offered, %.1f answered; p50 %.2f ms, p99 %.2f ms, max %.2f ms (target p99 < 25 ms)' \
      "$rate" "$(json_get "$work/rate80.log" throughput_per_s)" \
      "$(json_get "$work/rate80.log" latency_ms p50)" "$(json_get "$work/rate80.log" latency_ms p99)" \
      "$(json_get "$work/rate80.log" latency_ms max)")"
  fi
fi

memory_line="(skipped: --memory)"
if [ "$memory" = 1 ]; then
  step "engine: touch $memory_accounts accounts once (resident memory)"
  rss_before="$(memory_kb VmRSS)"
  # Grants go only to existing users, so the users are inserted straight into
  # identity.users (registering a million through argon2 would take hours).
  run_loadgen "memory touch run" "$work/touch.log" --host=127.0.0.1 --port="$port" \
    --connections="$clients" --threads="$loadgen_threads" --mode=touch \
    --accounts="$memory_accounts" --accounts-from-db="$engine_url" --admin-key="$admin_key" \
    --json
  rss_after="$(memory_kb VmRSS)"
  hwm_after="$(memory_kb VmHWM)"
  sleep "$memory_settle"
  rss_settled="$(memory_kb VmRSS)"
  memory_line="$(printf '%s accounts in %.0f s: VmRSS %s MiB before, %s MiB after, %s MiB %s s later; peak VmHWM %s MiB' \
    "$memory_accounts" "$(json_get "$work/touch.log" duration_s)" "$(mib "$rss_before")" \
    "$(mib "$rss_after")" "$(mib "$rss_settled")" "$memory_settle" "$(mib "$hwm_after")")"
fi

step "engine: reconcile (journal vs. balances)"
reconcile_line="(endpoint not available)"
reconcile_status="$(curl -s -o "$work/reconcile.json" -w '%{http_code}' \
  -H "Authorization: Bearer $admin_key" "http://127.0.0.1:$port/v1/admin/reconcile" || true)"
if [ "$reconcile_status" = 200 ]; then
  if grep -q '"ok": *true' "$work/reconcile.json"; then
    reconcile_line="ok"
  else
    reconcile_line="MISMATCH (see $work/reconcile.json)"
    run_errors+=("reconcile")
  fi
fi

step "engine: stop"
stop_engine
shutdown_line="clean"
if [ -n "$engine_exit" ]; then
  shutdown_line="exit status $engine_exit on SIGTERM (see engine.log)"
  run_errors+=("engine shutdown (exit status $engine_exit)")
fi

# ---------------------------------------------------------------- report
# Parentheses: a bare ">" after awk's printf would redirect into a file.
ratio="$(awk -v e="$engine_tps" -v b="$baseline_tps" 'BEGIN { printf "%.2f", (b > 0 ? e / b : 0) }')"
verdict="$(awk -v r="$ratio" 'BEGIN { print (r >= 3 ? "meets" : "BELOW") }')"
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
cat <<EOF

Tally ledger benchmark: $(nproc) cores, $clients clients/connections, ${seconds}s measured, $accounts accounts, amount $amount
(load average before $load_before, after $load_after; accounts via $accounts_via)

                          engine (HTTP spend)   baseline (pgbench, 1 tx/spend)
  spends/s                $(printf '%-21.1f' "$engine_tps") $(printf '%.1f' "$baseline_tps")
  latency                 p50 $(printf '%.2f' "$engine_p50") / p99 $(printf '%.2f' "$engine_p99") ms   average $baseline_latency ms
  latency max             $(printf '%.2f' "$engine_max") ms
  server CPU              $cpu_line
  ratio engine/baseline   ${ratio}x  ($verdict the 3x target)
  open loop at 80% peak   $rate80_line
  memory                  $memory_line
  events relay            $relay_line
  engine reconcile        $reconcile_line
  engine shutdown         $shutdown_line
EOF
if [ "${#run_errors[@]}" -gt 0 ]; then
  current_step="report"
  fail "runs with errors: ${run_errors[*]}"
fi
