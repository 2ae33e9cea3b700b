#!/usr/bin/env bash
# Starts or stops Tally's PRIVATE PostgreSQL 15 cluster and Redis 7.
#
#   scripts/services.sh start [RUN_DIR]   # prints the URLs as shell exports
#   scripts/services.sh stop  [RUN_DIR]
#   scripts/services.sh env   [RUN_DIR]   # prints the exports again
#
# Data lives under RUN_DIR (default: <repo>/.run). PostgreSQL refuses to run as
# root, so the cluster runs as the unprivileged `postgres` user on its own port
# and unix socket directory; the machine's default cluster is never touched.
# Both servers are stopped by the process id they wrote at start.
#
# Ports: TALLY_PG_PORT (default 55432), TALLY_REDIS_PORT (default 56379).
set -euo pipefail

cmd="${1:-}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
run_dir="$(realpath -m "${2:-${TALLY_RUN_DIR:-$repo/.run}}")"
pg_port="${TALLY_PG_PORT:-55432}"
redis_port="${TALLY_REDIS_PORT:-56379}"
pg_bin="/usr/lib/postgresql/15/bin"
pg_dir="$run_dir/postgres"
pg_data="$pg_dir/data"
redis_dir="$run_dir/redis"
pg_user="postgres"

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$pg_user" -- "$@"
  else
    "$@"  # already unprivileged: run as ourselves
  fi
}

print_env() {
  echo "export TALLY_TEST_DATABASE_ADMIN_URL='postgresql://postgres@127.0.0.1:$pg_port/postgres'"
  echo "export DATABASE_URL='postgresql://postgres@127.0.0.1:$pg_port/tally'"
  echo "export REDIS_URL='redis://127.0.0.1:$redis_port/0'"
  echo "export TALLY_TEST_REDIS_URL='redis://127.0.0.1:$redis_port/0'"
  # The cluster's data directory, for tests that stop and restart Postgres (pg_ctl -D).
  echo "export TALLY_TEST_PG_DATA='$pg_data'"
}

wait_for() {  # wait_for <what> <seconds> <command...>
  local what="$1" seconds="$2"
  shift 2
  for _ in $(seq 1 $((seconds * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "services: $what did not come up within ${seconds}s" >&2
  return 1
}

start_postgres() {
  mkdir -p "$pg_dir"
  if [ "$(id -u)" -eq 0 ]; then chown "$pg_user" "$pg_dir"; chmod 700 "$pg_dir"; fi
  if [ ! -f "$pg_data/PG_VERSION" ]; then
    as_pg "$pg_bin/initdb" -D "$pg_data" -U postgres -A trust -E UTF8 --no-locale >"$pg_dir/initdb.log" 2>&1 \
      || { cat "$pg_dir/initdb.log" >&2; exit 1; }
  fi
  if [ -f "$pg_data/postmaster.pid" ] && kill -0 "$(head -1 "$pg_data/postmaster.pid")" 2>/dev/null; then
    echo "services: postgres already running (pid $(head -1 "$pg_data/postmaster.pid"))" >&2
  else
    rm -f "$pg_data/postmaster.pid"
    # Durable settings stay on (fsync, synchronous_commit): the ledger's
    # guarantees and the benchmark's baseline are measured with them.
    as_pg "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_dir/server.log" -w -t 30 start -o \
      "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=256MB" \
      >/dev/null || { tail -20 "$pg_dir/server.log" >&2; exit 1; }
  fi
  wait_for postgres 30 "$pg_bin/pg_isready" -h 127.0.0.1 -p "$pg_port" -U postgres
  if ! as_pg psql -h 127.0.0.1 -p "$pg_port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='tally'" | grep -q 1; then
    as_pg psql -h 127.0.0.1 -p "$pg_port" -U postgres -qc "CREATE DATABASE tally" >/dev/null
  fi
}

start_redis() {
  mkdir -p "$redis_dir"
  if [ -f "$redis_dir/redis.pid" ] && kill -0 "$(cat "$redis_dir/redis.pid")" 2>/dev/null; then
    echo "services: redis already running (pid $(cat "$redis_dir/redis.pid"))" >&2
  else
    # Redis holds only what may be lost (rate counters, deny list): no persistence.
    redis-server --port "$redis_port" --bind 127.0.0.1 --daemonize yes \
      --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log" --dir "$redis_dir" \
      --save "" --appendonly no --maxmemory 256mb --maxmemory-policy volatile-lru
  fi
  wait_for redis 10 redis-cli -h 127.0.0.1 -p "$redis_port" ping
}

stop_postgres() {
  if [ -f "$pg_data/postmaster.pid" ]; then
    local pid; pid="$(head -1 "$pg_data/postmaster.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -INT "$pid" 2>/dev/null || true  # fast shutdown
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
}

stop_redis() {
  if [ -f "$redis_dir/redis.pid" ]; then
    local pid; pid="$(cat "$redis_dir/redis.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$redis_dir/redis.pid"
  fi
}

case "$cmd" in
  start) start_postgres; start_redis; print_env ;;
  stop) stop_redis; stop_postgres; echo "services: stopped" >&2 ;;
  env) print_env ;;
  *) echo "usage: $0 start|stop|env [RUN_DIR]" >&2; exit 2 ;;
esac
