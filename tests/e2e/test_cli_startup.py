"""Start-up and configuration problems stop the real command with one clear line: the URL without its
password, the likely fix, exit status 2, no traceback."""

import os
import subprocess
import sys

import asyncpg
import pytest

from watcher_server.db.connect_errors import explain

PG = os.environ.get("WATCHER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PG_HOST_PORT = PG.split("@", 1)[1].rsplit("/", 1)[0]


def run_watcher(*args: str, tmp_path, timeout: float = 60, **settings: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_")}
    env.update({f"WATCHER_{k.upper()}": v for k, v in settings.items()})
    return subprocess.run(
        [sys.executable, "-m", "watcher_server.cli", *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=timeout
    )


def assert_one_clear_failure(result: subprocess.CompletedProcess, *expected: str) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output and "errors.pydantic.dev" not in output, output
    assert len(result.stderr.strip().splitlines()) <= 4, output
    for text in expected:
        assert text in output, (text, output)
    return output


@pytest.mark.parametrize("command", [("db", "upgrade"), ("serve", "--port", "1"), ("worker",)])
def test_a_missing_database_names_the_url_and_how_to_create_it(command, tmp_path):
    url = f"postgresql://postgres:s3cret@{PG_HOST_PORT}/watcher_no_such_database"
    result = run_watcher(*command, tmp_path=tmp_path, database_url=url)
    output = assert_one_clear_failure(result, "watcher_no_such_database", "does not exist", "createdb")
    assert "s3cret" not in output and "***" in output


def test_an_unknown_role_is_named(tmp_path):
    result = run_watcher("db", "upgrade", tmp_path=tmp_path, database_url=f"postgresql://nobody_here@{PG_HOST_PORT}/test")
    assert_one_clear_failure(result, "nobody_here", "role")


def test_an_unreachable_server_names_host_and_port(tmp_path):
    result = run_watcher("db", "upgrade", tmp_path=tmp_path, database_url="postgresql://postgres:pw@127.0.0.1:9/watcher")
    output = assert_one_clear_failure(result, "127.0.0.1:9", "start PostgreSQL")
    assert ":pw@" not in output


def test_a_bad_password_is_explained():
    # trust authentication on the test server accepts any password, so the server's own error is built here
    refused = asyncpg.exceptions.InvalidPasswordError('password authentication failed for user "etl"')
    message = explain(refused, "postgresql://etl:hunter2@db.internal:5432/watcher")
    assert "password authentication failed for user 'etl'" in message and "fix the password" in message
    assert "hunter2" not in message and "db.internal:5432/watcher" in message


def test_bad_settings_are_listed_by_variable_without_library_noise(tmp_path):
    result = run_watcher("serve", tmp_path=tmp_path, db_pool_size="lots", freshness_check_schedule="every hour")
    output = assert_one_clear_failure(result, "WATCHER_DB_POOL_SIZE", "WATCHER_FRESHNESS_CHECK_SCHEDULE", "invalid settings")
    assert "validation error" not in output and "type=" not in output


def test_an_unsupported_database_url_names_the_supported_forms(tmp_path):
    result = run_watcher("db", "upgrade", tmp_path=tmp_path, database_url="mysql://root@localhost/x")
    assert_one_clear_failure(result, "WATCHER_DATABASE_URL", "sqlite://", "postgresql://")


def test_worker_on_sqlite_says_in_plain_words_that_serve_runs_the_jobs(tmp_path):
    result = run_watcher("worker", tmp_path=tmp_path)
    assert_one_clear_failure(result, "`watcher serve` runs every check and alert itself", "WATCHER_JOB_QUEUE=procrastinate")


def test_postgres_scheme_urls_are_accepted(database_url, backend, tmp_path):
    if backend != "postgresql":
        pytest.skip("a PostgreSQL URL form")
    url = database_url.replace("postgresql://", "postgres://", 1)
    result = run_watcher("db", "upgrade", tmp_path=tmp_path, database_url=url)
    assert result.returncode == 0, result.stderr
    assert "is at revision head" in result.stdout


def test_db_upgrade_names_the_absolute_path_of_the_sqlite_file(tmp_path):
    result = run_watcher("db", "upgrade", tmp_path=tmp_path, database_url="sqlite:///relative.db")
    assert result.returncode == 0, result.stderr
    assert str(tmp_path / "relative.db") in result.stdout
