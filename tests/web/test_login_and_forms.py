"""Logging in to the pages with a token, and the forms that act (web/router.py, web/forms.py,
web/pages/actions.py, auth.py), on the real app over SQLite and PostgreSQL."""

from __future__ import annotations

import re
import time

import pytest

from ..helpers import create_pipeline

TOKENS = pytest.mark.settings(api_tokens="write-token", api_read_tokens="read-token")
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}  # what a browser asks for when it opens a page
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def _csrf(client, path: str = "/ui") -> str:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return CSRF.search(response.text).group(1)


async def _login(client, token: str, next_path: str = "/ui"):
    csrf = await _csrf(client, "/ui/login")
    return await client.post("/ui/login", data={"csrf": csrf, "token": token, "next": next_path})


async def _pipeline(client, pipeline_id: int, headers=None) -> dict:
    response = await client.get(f"/pipeline/{pipeline_id}", headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


@TOKENS
async def test_a_page_without_a_login_leads_to_the_login_form_and_back_after_it(client):
    assert (await client.get("/ui/pipelines")).status_code == 401  # an API client asking for a page: JSON 401
    client.headers.update(BROWSER)
    response = await client.get("/ui/pipelines?state=stale&page=2")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login?next=%2Fui%2Fpipelines%3Fstate%3Dstale%26page%3D2"
    form = await client.get(response.headers["location"])
    assert form.status_code == 200 and 'name="token"' in form.text and 'value="/ui/pipelines?state=stale&amp;page=2"' in form.text

    answer = await _login(client, "read-token", "/ui/pipelines?state=stale&page=2")
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/pipelines?state=stale&page=2"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("watcher_session=") and "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "read-token" not in cookie  # the token itself is never stored in the browser


@TOKENS
async def test_a_wrong_token_shows_the_form_again_and_logs_nobody_in(client):
    client.headers.update(BROWSER)
    answer = await _login(client, "not-a-token")
    assert answer.status_code == 200 and "not one of this server" in answer.text and 'name="token"' in answer.text
    assert "watcher_session" not in answer.headers.get("set-cookie", "")
    assert (await client.get("/docs")).status_code == 303


@TOKENS
async def test_api_docs_open_for_a_logged_in_browser(client):
    client.headers.update(BROWSER)
    assert (await client.get("/docs")).headers["location"] == "/ui/login?next=%2Fdocs"
    await _login(client, "read-token")
    assert (await client.get("/docs")).status_code == 200
    assert (await client.get("/openapi.json")).status_code == 200


@TOKENS
async def test_the_login_cookie_cannot_be_forged_or_altered(client):
    client.headers.update(BROWSER)
    await _login(client, "write-token")
    real = client.cookies["watcher_session"]
    for forged in (real[:-2] + ("AA" if not real.endswith("AA") else "BB"), "write-token", ""):
        client.cookies.clear()
        client.cookies.set("watcher_session", forged)
        assert (await client.get("/ui/alerts")).status_code == 303, forged
        assert (await client.get("/pipeline")).status_code == 401


@TOKENS
@pytest.mark.settings(api_tokens="write-token", api_read_tokens="read-token", session_hours=0.0003)
async def test_a_login_expires_after_the_session_hours(client):
    await _login(client, "read-token")
    assert (await client.get("/pipeline")).status_code == 200
    time.sleep(2.2)  # 0.0003 h ≈ 1.1 s; itsdangerous dates cookies to the second
    assert (await client.get("/pipeline")).status_code == 401


@TOKENS
async def test_a_read_only_login_reads_but_cannot_act_and_the_cookie_never_writes_the_api(client):
    bearer = {"Authorization": "Bearer write-token"}
    pipeline_id = (await client.post("/pipeline", json={"name": "orders", "pipeline_type_name": "t"}, headers=bearer)).json()["id"]
    await _login(client, "read-token")
    assert (await client.get(f"/pipeline/{pipeline_id}")).status_code == 200
    csrf = client.cookies["watcher_csrf"]
    refused = await client.post(f"/ui/pipelines/{pipeline_id}/active", data={"csrf": csrf, "active": "false"})
    assert refused.status_code == 403 and "read-only" in refused.text and refused.headers["content-type"].startswith("text/html")
    assert (await client.post("/pipeline", json={"name": "x", "pipeline_type_name": "t"})).status_code == 401
    assert (await _pipeline(client, pipeline_id))["active"] is True


@TOKENS
async def test_a_read_write_login_pauses_resumes_and_mutes_through_the_forms(client):
    await _login(client, "write-token")
    assert (await client.post("/pipeline", json={"name": "orders", "pipeline_type_name": "t"})).status_code == 401  # cookie: pages only
    bearer = {"Authorization": "Bearer write-token"}
    pipeline_id = (await client.post("/pipeline", json={"name": "orders", "pipeline_type_name": "t"}, headers=bearer)).json()["id"]
    csrf = client.cookies["watcher_csrf"]
    steps = [
        ("active", {"active": "false"}, "paused", {"active": False}),
        ("active", {"active": "true"}, "resumed", {"active": True}),
        ("mute", {"check": "freshness", "muted": "true"}, "freshness-muted", {"mute_freshness_check": True}),
        ("mute", {"check": "timeliness", "muted": "true"}, "timeliness-muted", {"mute_timeliness_check": True}),
        ("mute", {"check": "freshness", "muted": "false"}, "freshness-unmuted", {"mute_freshness_check": False}),
    ]
    for action, fields, done, expected in steps:
        answer = await client.post(f"/ui/pipelines/{pipeline_id}/{action}", data={"csrf": csrf, **fields})
        assert answer.status_code == 303 and answer.headers["location"] == f"/ui/pipelines/{pipeline_id}?done={done}"
        stored = await _pipeline(client, pipeline_id)
        assert {key: stored[key] for key in expected} == expected


@TOKENS
async def test_logging_out_ends_the_session(client):
    client.headers.update(BROWSER)
    await _login(client, "read-token")
    assert (await client.get("/pipeline")).status_code == 200
    answer = await client.post("/ui/logout", data={"csrf": client.cookies["watcher_csrf"]})
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/login"
    assert (await client.get("/pipeline")).status_code == 401
    assert (await client.get("/ui/alerts")).status_code == 303


@TOKENS
@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", ""])
async def test_the_login_never_sends_the_browser_to_another_site(client, target):
    answer = await _login(client, "read-token", target)
    assert answer.status_code == 303 and answer.headers["location"] == "/ui"


async def test_forms_without_our_csrf_token_or_from_another_origin_are_refused(client):
    pipeline_id = await create_pipeline(client)
    csrf = await _csrf(client)
    url = f"/ui/pipelines/{pipeline_id}/active"
    for data, headers in (
        ({"active": "false"}, {}),
        ({"active": "false", "csrf": "x" * 43}, {}),
        ({"active": "false", "csrf": csrf}, {"Origin": "https://evil.example"}),
    ):
        refused = await client.post(url, data=data, headers=headers)
        assert refused.status_code == 403, refused.text
        assert "<script" not in refused.text and refused.headers["content-security-policy"].startswith("default-src 'none'")
    assert (await _pipeline(client, pipeline_id))["active"] is True
    same_origin = await client.post(url, data={"active": "false", "csrf": csrf}, headers={"Origin": "http://watcher.test"})
    assert same_origin.status_code == 303 and (await _pipeline(client, pipeline_id))["active"] is False


async def test_bad_action_fields_and_unknown_pipelines_get_a_clear_error_page(client):
    pipeline_id = await create_pipeline(client)
    csrf = await _csrf(client)
    cases = [
        (f"/ui/pipelines/{pipeline_id}/active", {"active": "maybe"}, 400, "must be true or false"),
        (f"/ui/pipelines/{pipeline_id}/mute", {"check": "volume", "muted": "true"}, 400, "freshness or timeliness"),
        (f"/ui/pipelines/{pipeline_id + 100}/active", {"active": "false"}, 404, "not found"),
        ("/ui/pipelines/abc/active", {"active": "false"}, 422, ""),
        ("/ui/executions/1/unflag", {"metric": "volume", "pipeline_id": str(pipeline_id)}, 400, "must be one of"),
        ("/ui/executions/999/unflag", {"metric": "inserts", "pipeline_id": str(pipeline_id)}, 404, "not found"),
    ]
    for url, fields, status, text in cases:
        answer = await client.post(url, data={"csrf": csrf, **fields})
        assert answer.status_code == status, (url, answer.text)
        assert answer.headers["content-type"].startswith("text/html") and text in answer.text.lower()


async def test_running_a_check_from_a_page_runs_it_and_leads_back(client):
    csrf = await _csrf(client)
    for check in ("freshness", "timeliness"):
        answer = await client.post(f"/ui/checks/{check}", data={"csrf": csrf, "next": "/ui/incidents?kind=freshness"})
        assert answer.status_code == 303 and answer.headers["location"] == f"/ui/incidents?kind=freshness&done={check}-run"
    runs = (await client.get("/jobs/status")).json()
    assert runs  # the checks ran (the job runner records them)
    elsewhere = await client.post("/ui/checks/freshness", data={"csrf": csrf, "next": "https://evil.example/"})
    assert elsewhere.headers["location"] == "/ui?done=freshness-run"


async def test_a_browser_asking_for_the_root_goes_to_the_pages_and_api_clients_get_json(client):
    browser = await client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.status_code == 303 and browser.headers["location"] == "/ui"
    for accept in ("*/*", "application/json", None):
        answer = await client.get("/", headers={"Accept": accept} if accept else {})
        assert answer.status_code == 200 and answer.json() == {"status": "ok"}
