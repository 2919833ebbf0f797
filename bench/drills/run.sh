#!/usr/bin/env bash
# The failure drills of issue 10. Usage:
#
#   bash bench/drills/run.sh [all|fuzz|kill9|postgres|webhook|soak] [drill options...]
#
#   all       every drill below, one after the other (about 20 minutes); exits non-zero if any failed
#   fuzz      schemathesis over the whole OpenAPI, 300 examples per operation + stateful links (PostgreSQL)
#   kill9     kill -9 of workers / master under load, restarts, integrity checks in SQL
#   postgres  PostgreSQL stopped and frozen under load, on a throwaway cluster (needs root and pg_createcluster)
#   webhook   alert webhook dead, hanging, answering 500, then healthy: every alert delivered exactly once
#   soak      10 minutes at 50 clients (--minutes N): RSS growth, req/s, p99, errors, detection backlog
#             (--auto-rules: the server with WATCHER_AUTO_CREATE_ANOMALY_DETECTION_RULES=true)
#
# Options after the drill name go to its script (python bench/drills/<drill>.py --help).
# Environment: VENV (default .venv), WATCHER_DRILL_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test,
# where the drills create and drop their watcher_drill_* databases).
# Results: a table on stdout and bench/drills/results/<drill>-<UTC time>.json (git-ignored).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PYTHON="$VENV/bin/python"
DRILL=${1:-all}
shift || true

run_one() {
  local name=$1
  shift
  echo "===== drill: $name ($(date -u +%H:%M:%S) UTC)"
  (cd "$ROOT" && PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" "$HERE/$name.py" "$@")
}

case "$DRILL" in
  fuzz|kill9|postgres|webhook|soak)
    run_one "$DRILL" "$@"
    ;;
  all)
    failed=()
    for name in fuzz kill9 postgres webhook soak; do
      run_one "$name" || failed+=("$name")
      echo
    done
    if [ ${#failed[@]} -gt 0 ]; then
      echo "drills that failed: ${failed[*]}"
      exit 1
    fi
    echo "every drill passed"
    ;;
  *)
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
