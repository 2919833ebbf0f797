#!/usr/bin/env bash
# The whole test suite, on SQLite and PostgreSQL, including the public SDK against a live server.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
SDK_VERSION="0.1.43"

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
echo "==> installing Watcher and its test dependencies (locked in requirements.lock)"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[test]'

# The public etl-watcher-sdk needs Python 3.12; pyenv provides it on our machines.
SDK_PY="${WATCHER_SDK_BASE_PYTHON:-}"
if [ -z "$SDK_PY" ]; then
  # pyenv's shim exists even when 3.12 is not selected, so try real interpreters and keep one that runs
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12; do
    if [ -x "$candidate" ] && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
      SDK_PY="$candidate"
    fi
  done
fi
if [ -z "$SDK_PY" ]; then
  echo "error: Python 3.12 is needed for the etl-watcher-sdk tests; install it (pyenv install 3.12) or set WATCHER_SDK_BASE_PYTHON" >&2
  exit 2
fi
if [ ! -x .venv-sdk/bin/python ]; then
  echo "==> creating .venv-sdk with $($SDK_PY --version)"
  "$SDK_PY" -m venv .venv-sdk
fi
.venv-sdk/bin/python -m pip install --quiet --disable-pip-version-check "etl-watcher-sdk==$SDK_VERSION"
export WATCHER_SDK_PYTHON="$PWD/.venv-sdk/bin/python"

echo "==> lint (ruff), format (ruff format --check) and the layer contract (import-linter)"
.venv/bin/ruff check --quiet src tests bench
.venv/bin/ruff format --check --quiet src tests bench
.venv/bin/lint-imports --no-cache >/dev/null || .venv/bin/lint-imports --no-cache

echo "==> running the tests (PostgreSQL at ${WATCHER_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/test})"
exec .venv/bin/python -m pytest "$@"
