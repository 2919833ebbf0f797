"""The overview (/ui), incidents (/ui/incidents) and alerts (/ui/alerts) pages.

HTTP tests run on the app in-process (SQLite and PostgreSQL); browser tests click through a real
`watcher serve` in headless Chromium (see conftest.py), seeded over HTTP: hostile pipeline names made
stale by a real freshness run, whose alert is stored undelivered (no webhook: not_configured)."""

from __future__ import annotations

import datetime as dt
import re

import httpx
from playwright.sync_api import expect
from sqlalchemy import insert

from watcher_server.alerts.tables import alert
from watcher_server.monitoring.tables import freshness_pipeline_log
from watcher_server.reporting.overview import PROBLEMS_SHOWN
from watcher_server.web.pages.incidents import MAX_PAGE

from ..helpers import create_pipeline, end, stale_pipeline, start

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    'it\'s "quoted" & <b>bold</b>',
]
UTC = dt.UTC


# --- HTTP: rendering, escaping, filters and paging on both databases ---------------------------------


async def test_overview_renders_counts_problem_links_and_the_chart(client, clock):
    stale = await stale_pipeline(client, "orders")
    runner = await create_pipeline(client, "runner", "t")
    now = dt.datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
    await start(client, runner, start_date="2026-03-10T12:00:00Z")
    failed = await start(client, runner, start_date="2026-03-10T11:00:00Z")
    await end(client, failed, end_date="2026-03-10T11:10:00Z", ok=False)
    clock.freeze(now)
    assert (await client.post("/freshness", params={"wait": "true"})).status_code == 200

    page = await client.get("/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text

    def card(name):
        return re.search(rf'data-count="{name}"><div class="value">([\d,]+)<', html).group(1)

    assert [card(n) for n in ("pipelines", "active", "running", "runs", "failures")] == ["2", "2", "1", "2", "1"]
    assert re.search(r'data-kind="freshness">\s*<div class="value">1<', html)
    assert f'<a href="/ui/pipelines/{stale}">orders</a>' in html
    assert html.count('<rect class="bar" ') == 24 and html.count('<rect class="bar bad" ') == 1
    assert "2026-03-10 11:00–12:00 UTC: 1 run, 1 failed" in html
    assert 'href="/ui/alerts?kind=freshness"' in html  # the check's alert, in the recent alerts
    assert 'action="/ui/checks/freshness"' in html and 'action="/ui/checks/timeliness"' in html
    assert "<script" not in html and "style=" not in html
    assert "/ui/pipelines?state=" not in html  # every problem pipeline is listed: no "all N" link
    assert 'data-kind="queue"' not in html


async def test_overview_links_to_every_pipeline_of_a_long_state_and_to_an_open_queue_incident(client, db, clock):
    for n in range(PROBLEMS_SHOWN + 1):
        await stale_pipeline(client, f"stale {n:02d}")
    clock.freeze(dt.datetime(2026, 3, 10, 12, 0, tzinfo=UTC))
    assert (await client.post("/freshness", params={"wait": "true"})).status_code == 200
    async with db.write() as conn:
        values = {"kind": "queue", "event": "opened", "level": "critical", "title": "Background Queue Alert", "message": "m"}
        await conn.execute(insert(alert).values(**values, created_at=dt.datetime(2026, 3, 10, 11, 0, tzinfo=UTC)))
    html = (await client.get("/ui")).text
    assert html.count('<li><a href="/ui/pipelines/') == PROBLEMS_SHOWN
    assert f'<a href="/ui/pipelines?state=stale">all {PROBLEMS_SHOWN + 1} stale pipelines</a>' in html
    queue = re.search(r'<a class="card bad" href="/ui/alerts\?kind=queue" data-kind="queue">\s*<div class="value">(\w+)</div>', html)
    assert queue and queue.group(1) == "critical"
    assert "backed up since 1 h 00 min ago" in html


async def test_hostile_names_are_escaped_on_every_page(client, clock):
    ids = [await stale_pipeline(client, name) for name in HOSTILE]
    assert (await client.post("/freshness", params={"wait": "true"})).status_code == 200
    for path in ("/ui", "/ui/incidents", "/ui/alerts"):
        html = (await client.get(path)).text
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>bold" not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
        assert 'href="javascript:' not in html, path
        for pipeline_id in ids:
            assert f'href="/ui/pipelines/{pipeline_id}"' in html, path


async def test_incident_filters_select_kind_and_status_and_refuse_unknown_values(client, clock):
    await stale_pipeline(client, "stale one")
    slow = await create_pipeline(client, "slow", "t", timeliness_number=1, timeliness_datepart="minute")
    clock.freeze(dt.datetime(2026, 3, 10, 12, 0, tzinfo=UTC))
    await start(client, slow, start_date="2026-03-10T11:30:00Z")
    assert (await client.post("/freshness", params={"wait": "true"})).status_code == 200
    assert (await client.post("/timeliness", params={"wait": "true"})).status_code == 200

    html = (await client.get("/ui/incidents")).text
    assert re.findall(r'data-kind="(\w+)" data-status="open"', html) == ["freshness", "timeliness"]  # opened at once: by kind
    html = (await client.get("/ui/incidents", params={"kind": "timeliness", "status": "open"})).text
    assert re.findall(r'data-kind="(\w+)"', html) == ["timeliness"]
    assert '<option value="timeliness" selected>' in html and '<option value="open" selected>' in html
    assert "running, 30 min 00 s (allowed 1 min 00 s: 1 minute)" in " ".join(html.split())
    html = (await client.get("/ui/incidents", params={"kind": "anomaly"})).text
    assert 'id="no-incidents"' in html
    bad = await client.get("/ui/incidents", params={"kind": "everything"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("text/html")


async def test_alert_pages_follow_each_other_and_keep_the_filters(client, db):
    async with db.write() as conn:
        await conn.execute(
            insert(alert),
            [
                {"kind": "queue" if n % 2 else "freshness", "event": "opened", "level": "warning", "title": f"alert number {n}",
                 "message": "m" * (400 if n == 0 else 5), "created_at": dt.datetime(2026, 3, 1, tzinfo=UTC) + dt.timedelta(minutes=n),
                 "delivery_status": "failed" if n == 3 else "not_configured", "delivery_error": "<script>alert(1)</script>" if n == 3 else None}
                for n in range(110)
            ],
        )  # fmt: skip
    first = (await client.get("/ui/alerts", params={"kind": "queue"})).text
    assert first.count('<tr class="alert"') == 50
    assert "alert number 109<" in first and "alert number 11<" in first and "alert number 9<" not in first
    assert 'href="/ui/alerts?kind=queue&amp;page=2"' in first
    second = (await client.get("/ui/alerts", params={"kind": "queue", "page": "2"})).text
    assert second.count('<tr class="alert"') == 5 and "alert number 9<" in second and "alert number 1<" in second
    assert 'href="/ui/alerts?kind=queue"' in second  # previous page
    failed = (await client.get("/ui/alerts", params={"delivery": "failed"})).text
    assert failed.count('<tr class="alert"') == 1 and "&lt;script&gt;alert(1)&lt;/script&gt;" in failed
    oldest = (await client.get("/ui/alerts", params={"page": "3"})).text
    assert "m" * 300 + "…" in oldest and "m" * 301 not in oldest  # a long message is cut
    assert (await client.get("/ui/alerts", params={"delivery": "lost"})).status_code == 422


async def test_incidents_are_paged_up_to_a_limit_that_points_to_the_api(client, db):
    pid = await create_pipeline(client, "flapping", "t")
    first = dt.datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        {"pipeline_id": pid, "last_dml_timestamp": first, "evaluation_timestamp": first, "last_evaluated_at": first, "deadline": first,
         "freshness_number": 1, "freshness_datepart": "hour", "used_child_config": False, "created_at": first + dt.timedelta(hours=n),
         "resolved_at": first + dt.timedelta(hours=n, minutes=30), "resolution": "recovered"}
        for n in range(MAX_PAGE * 50 + 1)
    ]  # fmt: skip
    async with db.write() as conn:
        await conn.execute(insert(freshness_pipeline_log), rows)
    second = (await client.get("/ui/incidents", params={"page": "2"})).text
    assert second.count('<tr class="incident"') == 50 and 'rel="next"' in second and 'id="older-incidents"' not in second
    assert "30 min 00 s" in second  # each was open half an hour
    last = (await client.get("/ui/incidents", params={"page": str(MAX_PAGE)})).text
    assert last.count('<tr class="incident"') == 50
    assert 'rel="next"' not in last and 'id="older-incidents"' in last
    assert (await client.get("/ui/incidents", params={"page": str(MAX_PAGE + 1)})).status_code == 422


# --- browser: a real server, real clicks ----------------------------------------------------------


def _stale(http: httpx.Client, name: str) -> int:
    response = http.post("/pipeline", json={"name": name, "pipeline_type_name": "t", "freshness_number": 1, "freshness_datepart": "hour"})
    assert response.status_code in (200, 201), response.text
    pipeline_id = response.json()["id"]
    execution = http.post("/start_pipeline_execution", json={"pipeline_id": pipeline_id, "start_date": "2025-01-01T00:00:00Z"})
    body = {"id": execution.json()["id"], "end_date": "2025-01-01T01:00:00Z", "completed_successfully": True, "inserts": 5}
    assert http.post("/end_pipeline_execution", json=body).status_code == 200
    return pipeline_id


def _seed(base_url: str) -> dict:
    """Hostile and plain stale pipelines (with their freshness alert), a running run and a failed one."""
    with httpx.Client(base_url=base_url, timeout=30) as http:
        stale = {name: _stale(http, name) for name in [*HOSTILE, "plain orders"]}
        names = {pid: http.get(f"/pipeline/{pid}").json()["name"] for pid in stale.values()}
        busy = http.post("/pipeline", json={"name": "busy", "pipeline_type_name": "t"}).json()["id"]
        now = dt.datetime.now(UTC)
        http.post("/start_pipeline_execution", json={"pipeline_id": busy, "start_date": (now - dt.timedelta(minutes=5)).isoformat()})
        failed = http.post(
            "/start_pipeline_execution", json={"pipeline_id": busy, "start_date": (now - dt.timedelta(minutes=30)).isoformat()}
        )
        body = {"id": failed.json()["id"], "end_date": (now - dt.timedelta(minutes=20)).isoformat(), "completed_successfully": False}
        assert http.post("/end_pipeline_execution", json=body).status_code == 200
        assert http.post("/freshness", params={"wait": "true"}).status_code == 200
    return {"stale": names}


def _watch_dialogs(page) -> list[str]:
    dialogs: list[str] = []

    def seen(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", seen)
    return dialogs


def _clean(visit):
    assert visit.foreign_requests() == [], visit.requests
    assert visit.console_errors == [], visit.console_errors
    assert visit.page_errors == [], visit.page_errors


def _inert(page, dialogs):
    """Hostile names stayed text: no injected element, no script, no javascript: link, no dialog."""
    assert page.locator("img[src=x]").count() == 0
    assert page.locator("script").count() == 0
    assert page.locator("b", has_text="bold").count() == 0
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
    assert not [h for h in hrefs if h.lower().startswith("javascript:")], hrefs
    assert dialogs == []


def test_overview_shows_counts_and_stale_pipelines_and_a_name_leads_to_its_page(live_server, browser):
    seeded = _seed(live_server)
    target_id, target_name = next((pid, name) for pid, name in seeded["stale"].items() if name == "plain orders")

    def inspect(page):
        dialogs = _watch_dialogs(page)
        page.wait_for_timeout(200)  # a dialog an injected handler would raise
        counts = {name: page.locator(f'[data-count="{name}"] .value').inner_text() for name in ("pipelines", "running", "runs", "failures")}
        stale_links = page.locator('[data-state="stale"] li a')
        listed = dict(
            zip(stale_links.all_inner_texts(), stale_links.evaluate_all("links => links.map(a => a.getAttribute('href'))"), strict=True)
        )
        freshness = page.locator('[data-kind="freshness"] .value').inner_text()
        alerts = page.locator("#recent-alerts tbody tr").count()
        bars = page.locator("#runs-chart rect.bar").count()
        _inert(page, dialogs)
        with page.expect_navigation() as navigation:
            page.get_by_role("link", name=target_name, exact=True).click()
        return counts, listed, freshness, alerts, bars, page.url, navigation.value.status

    visit = browser.visit(live_server, "/ui", inspect)
    counts, listed, freshness, alerts, bars, url, status = visit.result
    assert counts == {"pipelines": "6", "running": "1", "runs": "2", "failures": "1"}
    assert listed == {name: f"/ui/pipelines/{pid}" for pid, name in seeded["stale"].items()}  # every hostile name, as text
    assert freshness == "5"
    assert alerts >= 1 and bars == 25  # 24 hours, one with a failure
    assert url.endswith(f"/ui/pipelines/{target_id}") and status == 200
    _clean(visit)


def test_an_incident_kind_on_the_overview_opens_the_incidents_of_that_kind(live_server, browser):
    seeded = _seed(live_server)

    def inspect(page):
        dialogs = _watch_dialogs(page)
        page.locator('a[data-kind="freshness"]').click()
        page.wait_for_url(re.compile(r"/ui/incidents\?kind=freshness&status=open$"))
        page.wait_for_timeout(200)
        _inert(page, dialogs)
        rows = page.locator("tr.incident")
        kinds = rows.evaluate_all("rows => rows.map(r => r.dataset.kind + '/' + r.dataset.status)")
        names = page.locator("tr.incident td.name a").all_inner_texts()
        chosen = page.locator("select[name=kind]").input_value(), page.locator("select[name=status]").input_value()
        page.locator("select[name=kind]").select_option("anomaly")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url(re.compile(r"kind=anomaly"))
        expect(page.locator("#no-incidents")).to_be_visible()
        return kinds, sorted(names), chosen

    visit = browser.visit(live_server, "/ui", inspect)
    kinds, names, chosen = visit.result
    assert kinds == ["freshness/open"] * 5
    assert names == sorted(seeded["stale"].values())
    assert chosen == ("freshness", "open")
    _clean(visit)


def test_the_run_check_buttons_run_the_checks_and_come_back_with_a_notice(live_server, browser):
    def inspect(page):
        notices = []
        for check, text in (("freshness", "Freshness check ran."), ("timeliness", "Timeliness check ran.")):
            page.get_by_role("button", name=f"Run {check} check now").click()
            page.wait_for_url(re.compile(rf"/ui\?done={check}-run$"))
            expect(page.locator(".notice")).to_have_text(text)
            notices.append(page.locator(".notice").inner_text())
        return notices

    visit = browser.visit(live_server, "/ui", inspect)
    assert visit.result == ["Freshness check ran.", "Timeliness check ran."]
    _clean(visit)
    status = httpx.get(f"{live_server}/jobs/status", timeout=10).json()
    assert "freshness_check" in str(status) and "timeliness_check" in str(status)


def test_the_alerts_page_lists_the_freshness_alert_with_its_pipelines_as_inert_text(live_server, browser):
    seeded = _seed(live_server)

    def inspect(page):
        dialogs = _watch_dialogs(page)
        page.wait_for_timeout(200)
        row = page.locator('tr.alert[data-kind="freshness"]')  # a scheduled timeliness run may add a failure alert
        cells = row.locator("td").all_inner_texts()
        subjects = row.locator("td.subjects a")
        listed = subjects.all_inner_texts()
        hrefs = subjects.evaluate_all("links => links.map(a => a.getAttribute('href'))")
        more = row.locator("td.subjects .muted").all_inner_texts()
        _inert(page, dialogs)
        page.locator("select[name=delivery]").select_option("sent")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url(re.compile(r"delivery=sent"))
        expect(page.locator("#no-alerts")).to_be_visible()
        page.go_back()
        with page.expect_navigation() as navigation:
            page.locator('tr.alert[data-kind="freshness"] td.subjects a').first.click()
        return cells, listed, hrefs, more, page.url, navigation.value.status

    visit = browser.visit(live_server, "/ui/alerts", inspect)
    cells, listed, hrefs, more, url, status = visit.result
    assert cells[1:4] == ["freshness", "opened", "warning"]
    assert "NEW pipeline(s) overdue" in cells[4]
    assert cells[6] == "not sent"
    by_id = sorted(seeded["stale"].items())
    assert listed == [name for _, name in by_id]  # all five, by id, each shown as its literal name
    assert hrefs == [f"/ui/pipelines/{pid}" for pid, _ in by_id] and more == []
    assert url.endswith(hrefs[0]) and status == 200
    _clean(visit)


async def test_the_alert_pager_stops_at_the_last_page_it_serves_and_points_to_the_api(client, db, monkeypatch):
    from watcher_server.web.pages import alerts as alerts_page

    monkeypatch.setattr(alerts_page, "MAX_PAGE", 2)  # the page limit, reached here with 110 alerts instead of 100,000
    async with db.write() as conn:
        await conn.execute(
            insert(alert),
            [{"kind": "freshness", "event": "opened", "level": "warning", "title": f"alert {n}", "message": "m",
              "created_at": dt.datetime(2026, 3, 1, tzinfo=UTC), "delivery_status": "not_configured"} for n in range(110)],
        )  # fmt: skip
    second = (await client.get("/ui/alerts", params={"page": "2"})).text
    assert second.count('<tr class="alert"') == 50
    assert 'rel="next"' not in second and 'id="older-alerts"' in second
    first = (await client.get("/ui/alerts")).text
    assert 'rel="next"' in first and 'id="older-alerts"' not in first
