"""With tokens configured, a person logs in once in a real browser, reads the pages and the API docs,
acts only with a read-write token, and logs out (auth.py, web/router.py)."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import serving

WRITE, READ = "write-tok", "read-tok"


@pytest.fixture
def guarded_server(database_url, tmp_path):
    with serving(database_url, tmp_path, api_tokens=WRITE, api_read_tokens=READ) as base_url:
        bearer = {"Authorization": f"Bearer {WRITE}"}
        created = httpx.post(f"{base_url}/pipeline", json={"name": "orders", "pipeline_type_name": "t"}, headers=bearer, timeout=10)
        assert created.status_code == 201, created.text
        yield base_url, created.json()["id"]


def _log_in(page, token: str) -> None:
    expect(page.locator("input[name=token]")).to_be_visible()
    page.fill("input[name=token]", token)
    page.click("form[action='/ui/login'] button[type=submit]")


def test_a_browser_logs_in_once_opens_pages_and_api_docs_and_logs_out(guarded_server, browser):
    base_url, pipeline_id = guarded_server

    def inspect(page):
        assert "/ui/login?next=" in page.url  # asked for the token first
        _log_in(page, "wrong")
        expect(page.locator("p.error")).to_contain_text("not one of this server")
        _log_in(page, READ)
        page.wait_for_url(f"**/ui/pipelines/{pipeline_id}")
        expect(page.locator("h1")).to_contain_text("orders")
        expect(page.locator("header .role")).to_have_text("read-only")
        assert page.locator("form[action$='/active'] button").count() == 0  # no actions for a read-only login
        page.goto(page.url.split("/ui/")[0] + "/docs")
        expect(page.locator(".opblock").first).to_be_visible(timeout=30_000)
        page.goto(page.url.split("/docs")[0] + "/ui")
        page.click("header form[action='/ui/logout'] button")
        page.wait_for_url("**/ui/login")
        page.goto(page.url.split("/ui/")[0] + "/ui/alerts")
        assert "/ui/login?next=%2Fui%2Falerts" in page.url

    visit = browser.visit(base_url, f"/ui/pipelines/{pipeline_id}", inspect)
    assert visit.console_errors == [] and visit.page_errors == [] and visit.foreign_requests() == []


def test_a_read_write_login_pauses_a_pipeline_from_its_page(guarded_server, browser):
    base_url, pipeline_id = guarded_server

    def inspect(page):
        _log_in(page, WRITE)
        page.wait_for_url(f"**/ui/pipelines/{pipeline_id}")
        expect(page.locator("header .role")).to_have_text("read-write")
        page.click("form[action$='/active'] button")
        expect(page.locator(".notice")).to_contain_text("paused")

    visit = browser.visit(base_url, f"/ui/pipelines/{pipeline_id}", inspect)
    assert visit.console_errors == [] and visit.page_errors == []
    answer = httpx.get(f"{base_url}/pipeline/{pipeline_id}", headers={"Authorization": f"Bearer {READ}"}, timeout=10)
    assert answer.json()["active"] is False
