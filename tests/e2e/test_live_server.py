"""The README walkthrough against a real server process, and the command line itself."""

import subprocess
import sys

import httpx
import pytest

from watcher_server.settings import documented_settings


def test_walkthrough_over_real_http(live_server):
    with httpx.Client(base_url=live_server, timeout=10) as http:
        created = http.post("/pipeline", json={"name": "daily sales pipeline", "pipeline_type_name": "extraction"})
        assert created.status_code == 201
        pipeline_id = created.json()["id"]
        main = http.post("/start_pipeline_execution", json={"pipeline_id": pipeline_id, "start_date": "2024-01-01T10:00:00Z"}).json()["id"]
        child = http.post(
            "/start_pipeline_execution", json={"pipeline_id": pipeline_id, "start_date": "2024-01-01T10:00:00Z", "parent_id": main}
        ).json()["id"]
        ended = http.post(
            "/end_pipeline_execution",
            json={
                "id": main,
                "end_date": "2024-01-01T10:05:00Z",
                "completed_successfully": True,
                "total_rows": 10000,
                "inserts": 8000,
                "updates": 2000,
                "soft_deletes": 0,
            },
        )
        assert ended.status_code == 200 and ended.json()["throughput"] == 33.3333
        tree = http.get(f"/pipeline_execution/{main}").json()
        assert [c["id"] for c in tree["child_executions"]] == [child]
        assert http.patch("/pipeline", json={"id": pipeline_id, "active": False}).json()["active"] is False
        assert http.get("/docs").status_code == 200


def _cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "watcher_server.cli", *args], capture_output=True, text=True, timeout=60, **kwargs)


def test_help_documents_every_option_and_setting():
    top = _cli("--help")
    serve = _cli("serve", "--help")
    upgrade = _cli("db", "upgrade", "--help")
    for result in (top, serve, upgrade):
        assert result.returncode == 0, result.stderr
    for option in ("--host", "--port", "--workers", "--database-url"):
        assert option in serve.stdout
    for variable, _default, _description in documented_settings():
        assert variable in serve.stdout
        assert variable in top.stdout


def test_db_upgrade_migrates_an_empty_sqlite_file(tmp_path):
    target = tmp_path / "nested" / "fresh.db"
    result = _cli("db", "upgrade", "--database-url", f"sqlite:///{target}")
    assert result.returncode == 0, result.stderr
    import sqlite3

    tables = {r[0] for r in sqlite3.connect(target).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"pipeline", "pipeline_execution", "pipeline_execution_closure"} <= tables


def test_bad_database_url_stops_with_a_clear_message(tmp_path):
    result = _cli("db", "upgrade", "--database-url", "mysql://root@localhost/x")
    assert result.returncode != 0
    assert "WATCHER_DATABASE_URL" in result.stderr and "postgresql://" in result.stderr


@pytest.mark.parametrize("scheme", ["postgresql://", "postgresql+asyncpg://", "postgresql+psycopg://"])
def test_any_postgresql_url_form_is_accepted(scheme):
    from watcher_server.db.urls import async_url

    assert async_url(f"{scheme}u:p%40ss@h:5432/db").startswith("postgresql+asyncpg://u:p%40ss@h:5432/db")
