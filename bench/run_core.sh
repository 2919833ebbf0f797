#!/usr/bin/env bash
# Run the core load benchmark against a fresh database and a freshly started server.
#
#   bench/run_core.sh postgresql [WORKERS]
#   bench/run_core.sh sqlite     [WORKERS]
#
# Environment knobs (all optional):
#   DURATION=30 CLIENTS=50 WARMUP=5 CLIENT=raw|aiohttp  passed to bench/core_load.py
#   POOL_SIZE / MAX_OVERFLOW       exported as WATCHER_DB_POOL_SIZE / WATCHER_DB_MAX_OVERFLOW
#   PORT=8099                      server port (loopback only)
#   PROFILE=1                      py-spy record the server (all processes) during the run
#   PROFILE_SECONDS=20 PROFILE_FORMAT=raw|speedscope|flamegraph PROFILE_RATE=100
#   PROFILE_FLAGS="--gil"          extra py-spy record flags (--gil: only the thread holding the GIL;
#                                  --nonblocking: do not pause the server, but get partial stacks)
#   GC_TUNE=1                      experiment: start the server with bench/gc_tuning on PYTHONPATH
#                                  (sitecustomize raising GC thresholds + gc.freeze(); server code unchanged)
#   TOP=1                          save `top -b -n 1` and `pidstat` in the middle of the run
#   DETECTION=1                    start the server with WATCHER_AUTO_CREATE_ANOMALY_DETECTION_RULES=true and
#                                  report the anomaly-detection backlog: the pending count sampled every second,
#                                  the drain time after the load (up to DETECTION_DRAIN=120 s) and the lag from
#                                  each end to its anomaly_checked_at (core_load.py --detection-db-url)
#   PGHOST=127.0.0.1 PGUSER=postgres PGADMIN_DB=test
#   WAIT_IDLE=120                  wait up to this many seconds for the machine to be idle
#                                  (< 0.25 busy cores) before starting, so other work does not skew numbers
#
# Outputs land in bench/results/<tag>.{txt,json,server.log,...} (git-ignored).
set -euo pipefail

BACKEND=${1:?usage: run_core.sh postgresql|sqlite [WORKERS]}
WORKERS=${2:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PORT=${PORT:-8099}
DURATION=${DURATION:-30}
CLIENTS=${CLIENTS:-50}
WARMUP=${WARMUP:-5}
CLIENT=${CLIENT:-raw}
PGHOST=${PGHOST:-127.0.0.1}
PGUSER=${PGUSER:-postgres}
PGADMIN_DB=${PGADMIN_DB:-test}
RESULTS=${RESULTS:-$HERE/results}
mkdir -p "$RESULTS"

DETECTION=${DETECTION:-0}
DETECTION_DRAIN=${DETECTION_DRAIN:-120}
DET_TAG=""
[ "$DETECTION" = 1 ] && DET_TAG=-det
TAG=${TAG:-core-${BACKEND}-w${WORKERS}${POOL_SIZE:+-pool${POOL_SIZE}}${DET_TAG}-$(date -u +%Y%m%dT%H%M%S)}
OUT="$RESULTS/$TAG"

case "$BACKEND" in
  postgresql|postgres|pg)
    BACKEND=postgresql
    psql -q -h "$PGHOST" -U "$PGUSER" -d "$PGADMIN_DB" \
      -c "DROP DATABASE IF EXISTS watcher_bench" -c "CREATE DATABASE watcher_bench" >/dev/null
    DB_URL="postgresql://$PGUSER@$PGHOST:5432/watcher_bench"
    # without autovacuum, dead row versions pile up and long runs slow down (bench/README.md, "2026-11-30 night")
    VACUUM_NOTE=" autovacuum=$(psql -Atq -h "$PGHOST" -U "$PGUSER" -d "$PGADMIN_DB" -c "SHOW autovacuum")"
    ;;
  sqlite)
    SQLITE_DIR=${SQLITE_DIR:-/tmp/watcher_bench_sqlite}
    mkdir -p "$SQLITE_DIR"
    rm -f "$SQLITE_DIR"/watcher_bench.db "$SQLITE_DIR"/watcher_bench.db-wal "$SQLITE_DIR"/watcher_bench.db-shm
    DB_URL="sqlite:///$SQLITE_DIR/watcher_bench.db"
    ;;
  *) echo "unknown backend $BACKEND (postgresql or sqlite)" >&2; exit 2 ;;
esac

# busy cores over one second, from /proc/stat
busy_cores() {
  local a b
  a=($(head -n 1 /proc/stat)); sleep 1; b=($(head -n 1 /proc/stat))
  local total=0 idle i
  for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
  idle=$((b[4] - a[4] + b[5] - a[5]))
  echo $(( (total - idle) * 100 / $(getconf CLK_TCK) ))   # in hundredths of a core
}
WAIT_IDLE=${WAIT_IDLE:-120}
waited=0
while [ "$waited" -lt "$WAIT_IDLE" ]; do
  busy=$(busy_cores)
  [ "$busy" -lt 25 ] && break
  [ "$waited" = 0 ] && echo "machine busy (${busy}% of a core); waiting up to ${WAIT_IDLE}s for it to go idle" >&2
  waited=$((waited + 2)); sleep 1
done

if curl -s -o /dev/null "http://127.0.0.1:$PORT/health"; then
  echo "something already listens on 127.0.0.1:$PORT; stop it first" >&2
  exit 2
fi

[ -n "${POOL_SIZE:-}" ] && export WATCHER_DB_POOL_SIZE=$POOL_SIZE
[ -n "${MAX_OVERFLOW:-}" ] && export WATCHER_DB_MAX_OVERFLOW=$MAX_OVERFLOW

DETECTION_ARGS=()
if [ "$DETECTION" = 1 ]; then
  export WATCHER_AUTO_CREATE_ANOMALY_DETECTION_RULES=true
  DETECTION_ARGS=(--detection-db-url "$DB_URL" --detection-drain "$DETECTION_DRAIN")
fi
# shown in the banner and the label whenever the variable is set (also when exported by hand)
AUTO_RULES=${WATCHER_AUTO_CREATE_ANOMALY_DETECTION_RULES:+ auto_rules=$WATCHER_AUTO_CREATE_ANOMALY_DETECTION_RULES}

SERVER_PYTHONPATH=${PYTHONPATH:-}
if [ "${GC_TUNE:-0}" = 1 ]; then SERVER_PYTHONPATH="$HERE/gc_tuning${PYTHONPATH:+:$PYTHONPATH}"; TAG_GC=" gc=tuned"; fi
echo "== $TAG: backend=$BACKEND workers=$WORKERS clients=$CLIENTS duration=${DURATION}s pool=${POOL_SIZE:-default}$AUTO_RULES${VACUUM_NOTE:-}"
PYTHONPATH="$SERVER_PYTHONPATH" WATCHER_DATABASE_URL="$DB_URL" "$VENV/bin/watcher" serve --host 127.0.0.1 --port "$PORT" --workers "$WORKERS" \
  --log-level warning >"$OUT.server.log" 2>&1 &
SERVER_PID=$!
HELPER_PIDS=()

stop_server() {
  local pid
  for pid in "${HELPER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    local children
    children=$(pgrep -P "$SERVER_PID" || true)
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      kill -KILL "$SERVER_PID" 2>/dev/null || true
      for pid in $children; do kill -KILL "$pid" 2>/dev/null || true; done
    fi
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}
trap stop_server EXIT

ready=0
for _ in $(seq 1 240); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "server exited early; log:" >&2; tail -n 30 "$OUT.server.log" >&2; exit 1
  fi
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/ready")" = "200" ]; then ready=1; break; fi
  sleep 0.25
done
[ "$ready" = 1 ] || { echo "server not ready after 60 s" >&2; exit 1; }
# with --workers N every worker must be up before we start measuring
sleep 1

if [ "${PROFILE:-0}" = 1 ]; then
  PROFILE_SECONDS=${PROFILE_SECONDS:-20}
  PROFILE_FORMAT=${PROFILE_FORMAT:-raw}
  case "$PROFILE_FORMAT" in raw) EXT=txt ;; speedscope) EXT=speedscope.json ;; *) EXT=svg ;; esac
  (
    sleep $((WARMUP + 4))
    "$VENV/bin/py-spy" record --pid "$SERVER_PID" --subprocesses --rate "${PROFILE_RATE:-100}" \
      --duration "$PROFILE_SECONDS" --format "$PROFILE_FORMAT" ${PROFILE_FLAGS:-} -o "$OUT.profile.$EXT" \
      >"$OUT.py-spy.log" 2>&1
    "$VENV/bin/py-spy" dump --pid "$SERVER_PID" --subprocesses >"$OUT.py-spy-dump.txt" 2>&1 || true
  ) &
  HELPER_PIDS+=($!)
fi
if [ "${TOP:-0}" = 1 ]; then
  (
    sleep $((WARMUP + DURATION / 2))
    top -b -n 1 -w 200 | head -n 40 >"$OUT.top.txt"
    if command -v pidstat >/dev/null; then pidstat -u -l 5 1 >"$OUT.pidstat.txt" 2>&1 || true; fi
  ) &
  HELPER_PIDS+=($!)
fi

set +e
"$VENV/bin/python" "$HERE/core_load.py" --url "http://127.0.0.1:$PORT" --clients "$CLIENTS" \
  --duration "$DURATION" --warmup "$WARMUP" --client "$CLIENT" --server-pid "$SERVER_PID" ${DETECTION_ARGS[@]+"${DETECTION_ARGS[@]}"} \
  --label "backend=$BACKEND workers=$WORKERS pool=${POOL_SIZE:-default}$AUTO_RULES${TAG_GC:-} git=$(git -C "$ROOT" describe --always --dirty 2>/dev/null)" \
  --json "$OUT.json" | tee "$OUT.txt"
STATUS=${PIPESTATUS[0]}
set -e
if [ "$BACKEND" = postgresql ]; then
  PROBE_NOTE=""
  [ "$DETECTION" = 1 ] && PROBE_NOTE=" (one of them the detection probe)"
  # sessions opened on the bench database since it was created (connection churn shows here)
  echo "  postgres sessions opened on watcher_bench: $(psql -h "$PGHOST" -U "$PGUSER" -d "$PGADMIN_DB" -Atc \
    "select sessions from pg_stat_database where datname = 'watcher_bench'")$PROBE_NOTE" | tee -a "$OUT.txt"
fi
for pid in "${HELPER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
HELPER_PIDS=()
exit "$STATUS"
