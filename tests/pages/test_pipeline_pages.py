"""The pipelines list (/ui/pipelines) and the pipeline page (/ui/pipelines/{id}).

First over HTTP on the real app (SQLite and PostgreSQL): what each page shows, which query values it
refuses and how. Then in a real browser on a real `watcher serve`: from the list to a pipeline and through
the pages, every action button of the pipeline page end to end, and hostile text in every field both
pages show staying inert text."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from watcher_server.executions.tables import pipeline_execution

from ..helpers import create_pipeline, end, stale_pipeline, start

# ---------------------------------------------------------------- over HTTP


def rows_of(html: str) -> list[str]:
    """The pipeline names the list page shows, in order (escaped as in the HTML)."""
    return re.findall(r'<td class="name"><a href="/ui/pipelines/\d+">(.*?)</a></td>', html)


async def test_the_list_shows_type_activity_last_run_state_and_watermark(client, clock):
    stale = await stale_pipeline(client, "stale one")
    paused = await create_pipeline(client, "paused one", "batch")
    assert (await client.patch("/pipeline", json={"id": paused, "active": False, "watermark": "2026-02-28"})).status_code == 200
    execution = await start(client, paused, start_date="2026-03-01T10:00:00Z")
    await end(client, execution, end_date="2026-03-01T10:02:05Z", ok=False)
    clock.freeze(dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC))
    assert (await client.post("/freshness", params={"wait": "true"})).status_code == 200

    response = await client.get("/ui/pipelines")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert rows_of(html) == ["paused one", "stale one"]
    paused_row = html[html.index(f'href="/ui/pipelines/{paused}"') : html.index(f'href="/ui/pipelines/{stale}"')]
    assert "<td>batch</td>" in paused_row and '<span class="badge muted">paused</span>' in paused_row
    assert '<span class="badge bad">failed</span>' in paused_row and f'href="/ui/executions/{execution}"' in paused_row
    assert "2 min 05 s" in paused_row and "<code>2026-02-28</code>" in paused_row
    assert ">failing</span>" in paused_row
    stale_row = html[html.index(f'href="/ui/pipelines/{stale}"') :]
    assert ">stale</span>" in stale_row.split("</tr>")[0]


async def test_the_list_filters_keep_their_values_in_the_form_and_the_pager(client):
    for i in range(3):
        await create_pipeline(client, f"orders {i}", "batch")
    await create_pipeline(client, "customers", "stream")
    types = {t["name"]: t["id"] for t in (await client.get("/pipeline_type")).json()}
    params = {"q": "  ORDERS ", "type": str(types["batch"]), "active": "yes", "state": "any", "sort": "-name"}
    html = (await client.get("/ui/pipelines", params=params)).text
    assert rows_of(html) == ["orders 2", "orders 1", "orders 0"]
    assert 'name="q" value="  ORDERS "' in html
    assert f'<option value="{types["batch"]}" selected>batch</option>' in html
    assert '<option value="yes" selected>yes</option>' in html and '<option value="-name" selected>' in html
    assert rows_of((await client.get("/ui/pipelines", params={"type": str(types["stream"])})).text) == ["customers"]
    assert rows_of((await client.get("/ui/pipelines", params={"active": "no"})).text) == []
    assert "No pipeline matches these filters." in (await client.get("/ui/pipelines", params={"q": "zzz"})).text
    assert rows_of((await client.get("/ui/pipelines", params={"type": "", "active": "any", "state": "any", "q": ""})).text) == [
        "customers", "orders 0", "orders 1", "orders 2",
    ]  # fmt: skip


async def test_the_pager_moves_by_fifty_and_keeps_the_filters(client):
    for i in range(101):
        await create_pipeline(client, f"p{i:03d}", "t")
    first = (await client.get("/ui/pipelines", params={"q": "p", "sort": "name"})).text
    assert len(rows_of(first)) == 50 and rows_of(first)[0] == "p000"
    next_url = re.search(r'<a rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(next_url).query) == {"q": ["p"], "sort": ["name"], "page": ["2"]}
    third = (await client.get("/ui/pipelines", params={"q": "p", "page": "3"})).text
    assert rows_of(third) == ["p100"] and 'rel="next"' not in third and 'rel="prev"' in third
    assert "No pipelines on this page." in (await client.get("/ui/pipelines", params={"page": "4"})).text


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("page=abc", "page"), ("page=0", "page"), ("page=-1", "page"), ("page=99999999", "page"), ("type=xyz", "type"),
        ("type=1.5", "type"), ("active=maybe", "active"), ("state=broken", "state"), ("sort=created", "sort"), ("sort=--id", "sort"),
    ],
)  # fmt: skip
async def test_bad_list_query_values_get_a_422_page_naming_the_parameter(client, query, named):
    response = await client.get(f"/ui/pipelines?{query}")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert f"Query parameter &#39;{named}&#39; must be" in response.text


async def test_a_nul_in_the_search_is_a_422_page(client):
    response = await client.get("/ui/pipelines", params={"q": "a\x00b"})
    assert response.status_code == 422 and response.headers["content-type"].startswith("text/html")


async def test_a_missing_pipeline_is_a_404_page_and_a_bad_id_a_422_page(client):
    for missing in ("2", "0", str(2**63)):
        response = await client.get(f"/ui/pipelines/{missing}")
        assert response.status_code == 404 and f"Pipeline {missing} not found" in response.text
    assert (await client.get("/ui/pipelines/abc")).status_code == 422
    pid = await create_pipeline(client, "there")
    assert (await client.get(f"/ui/pipelines/{pid}", params={"runs_page": "x"})).status_code == 422


async def test_the_pipeline_page_says_where_each_check_setting_comes_from(client):
    body = {"name": "hourly", "freshness_number": 2, "freshness_datepart": "day", "mute_timeliness_check": True}
    assert (await client.post("/pipeline_type", json=body)).status_code in (200, 201)
    inherits = await create_pipeline(client, "inherits", "hourly")
    own = await create_pipeline(client, "own", "hourly", freshness_number=1, freshness_datepart="hour", pipeline_metadata={"team": "ops"})

    def check_row(html: str, check: str) -> str:
        return html.split(f'<tr class="check-{check}">')[1].split("</tr>")[0]

    html = (await client.get(f"/ui/pipelines/{inherits}")).text
    assert "every 2 days" in check_row(html, "freshness") and "type hourly" in check_row(html, "freshness")
    assert "not set" in check_row(html, "timeliness") and "muted by type hourly" in check_row(html, "timeliness")
    assert '<p class="muted">None.</p>' in html.split("<h2>Metadata</h2>")[1]
    html = (await client.get(f"/ui/pipelines/{own}")).text
    assert "every 1 hour<" in check_row(html, "freshness") and ">pipeline<" in check_row(html, "freshness")
    assert "&#34;team&#34;: &#34;ops&#34;" in html  # pretty JSON, escaped
    types = {t["name"]: t["id"] for t in (await client.get("/pipeline_type")).json()}
    assert f'<a href="/ui/pipelines?type={types["hourly"]}">hourly</a>' in html


async def test_the_charts_mark_failures_and_anomalies_and_draw_the_rules_band(client, db):
    pid = await create_pipeline(client, "charted")
    ids = []
    for hour in range(6):
        execution = await start(client, pid, start_date=f"2026-03-01T0{hour}:00:00Z")
        await end(client, execution, end_date=f"2026-03-01T0{hour}:0{hour + 1}:00Z", ok=hour != 4, total_rows=100 + hour)
        ids.append(execution)
    await start(client, pid, start_date="2026-03-01T07:00:00Z")  # running: not charted
    # the rule comes after the runs, so no background detection rewrites the flags set here
    rule = {"pipeline_id": pid, "metric_field": "total_rows", "z_threshold": 2.5}
    assert (await client.post("/anomaly_detection_rule", json=rule)).status_code in (200, 201)
    async with db.write() as conn:
        flags = {"total_rows": True}
        await conn.execute(update(pipeline_execution).where(pipeline_execution.c.id == ids[5]).values(anomaly_flags=flags))

    html = (await client.get(f"/ui/pipelines/{pid}")).text
    duration, rows = html.split('id="chart-duration_seconds"')[1].split('id="chart-total_rows"')
    assert duration.count("<circle ") == 6 and rows.count("<circle ") == 6
    assert duration.count('class="point failed"') == 1 and duration.count('class="point anomaly"') == 0
    assert rows.count('class="point anomaly"') == 1 and rows.count('class="point failed"') == 1
    assert f"run {ids[5]} · 2026-03-01 05:00:00 UTC · 105 · anomaly on total_rows</title>" in rows
    assert "baseline: mean ± 2.5σ of the last 4 successful runs without an anomaly" in rows
    assert "z from this pipeline's active anomaly rule on total_rows" in rows
    assert "baseline: mean ± 3σ of the last 5 successful runs without an anomaly" in duration
    assert "z = 3, no active anomaly rule on duration_seconds" in duration
    assert '<rect class="band"' in duration and '<rect class="band"' in rows
    assert ">total_rows</span>" in html.split('id="runs"')[1]  # the run's flag in the runs table


async def test_a_pipeline_without_runs_or_lineage_reads_empty_not_broken(client):
    pid = await create_pipeline(client, "new")
    html = (await client.get(f"/ui/pipelines/{pid}")).text
    assert "No finished run reported duration_seconds yet." in html and "<svg" not in html
    assert "No runs yet." in html and html.count("None declared.") == 2
    assert f'href="/ui/lineage?pipeline_id={pid}">lineage graph</a>' in html


async def test_runs_are_paged_newest_first(client):
    pid = await create_pipeline(client, "busy")
    ids = [
        await start(client, pid, start_date=(dt.datetime(2026, 3, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=i)).isoformat())
        for i in range(51)
    ]
    first = (await client.get(f"/ui/pipelines/{pid}")).text
    shown = re.findall(r'<td><a href="/ui/executions/(\d+)">', first.split('id="runs"')[1])
    assert [int(i) for i in shown] == ids[::-1][:50]
    assert f'<a rel="next" href="/ui/pipelines/{pid}?runs_page=2">' in first
    second = (await client.get(f"/ui/pipelines/{pid}", params={"runs_page": "2"})).text
    assert re.findall(r'<td><a href="/ui/executions/(\d+)">', second.split('id="runs"')[1]) == [str(ids[0])]


# ---------------------------------------------------------------- in a browser

HOSTILE = {
    "name": "<script>alert('n')</script>\"><img src=x onerror=alert(1)>",
    "type": "javascript:alert('t')' onmouseover='alert(2)",
    "watermark": "\"><img src=x onerror=alert('w')>",
    "next_watermark": "</title><svg onload=alert('nw')>",
    "meta": "<img src=x onerror=alert('m')>",
    "address": "javascript:alert('a')<script>alert(3)</script>",
}


def _http(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=30)


def _post(http: httpx.Client, path: str, body: dict, **params) -> dict:
    response = http.post(path, json=body, params=params)
    assert response.status_code in (200, 201), (path, response.text)
    return response.json()


def _clean(visit) -> None:
    assert visit.dialogs == []  # no alert() of an injected script fired
    assert visit.console_errors == [] and visit.page_errors == []
    assert visit.foreign_requests() == []


def test_from_the_list_through_the_pages_and_filters_to_a_pipeline(live_server, browser):
    with _http(live_server) as http:
        ids = [
            _post(http, "/pipeline", {"name": f"load {i:02d}", "pipeline_type_name": "batch" if i % 2 else "stream"})["id"]
            for i in range(53)
        ]
        run = _post(http, "/start_pipeline_execution", {"pipeline_id": ids[52], "start_date": "2026-03-01T10:00:00Z"})["id"]

    def inspect(page):
        rows = page.locator("table.pipelines tbody tr")
        expect(rows).to_have_count(50)
        expect(rows.first.locator("td.name a")).to_have_text("load 00")
        page.get_by_role("link", name="Next →").click()
        expect(page).to_have_url(re.compile(r"/ui/pipelines\?page=2$"))
        expect(rows).to_have_count(3)
        page.get_by_role("link", name="← Previous").click()
        expect(page).to_have_url(re.compile(r"/ui/pipelines$"))
        page.get_by_label("Name contains").fill("LOAD 5")
        page.get_by_label("Type").select_option(label="stream")
        page.get_by_label("Sort").select_option("-id")
        page.get_by_role("button", name="Show").click()
        expect(rows).to_have_count(2)
        expect(rows.locator("td.name a")).to_have_text(["load 52", "load 50"])
        assert parse_qs(urlsplit(page.url).query)["sort"] == ["-id"]
        rows.first.get_by_role("link", name=f"run {run}").click()
        expect(page).to_have_url(re.compile(rf"/ui/executions/{run}$"))
        page.go_back()
        rows.first.locator("td.name a").click()
        expect(page).to_have_url(re.compile(rf"/ui/pipelines/{ids[52]}$"))
        expect(page.locator("h1")).to_contain_text("load 52")
        page.get_by_role("link", name="stream").click()
        expect(page).to_have_url(re.compile(r"/ui/pipelines\?type=\d+$"))
        expect(rows).to_have_count(27)
        page.get_by_role("link", name="Pipelines", exact=True).first.click()
        expect(page).to_have_url(re.compile(r"/ui/pipelines$"))

    _clean(browser.visit(live_server, "/ui/pipelines", inspect))


def test_every_action_on_the_pipeline_page_works(live_server, browser):
    with _http(live_server) as http:
        body = {"name": "actor", "pipeline_type_name": "batch", "freshness_number": 1, "freshness_datepart": "hour",
                "timeliness_number": 1, "timeliness_datepart": "minute"}  # fmt: skip
        pid = _post(http, "/pipeline", body)["id"]
        done = _post(http, "/start_pipeline_execution", {"pipeline_id": pid, "start_date": "2025-01-01T00:00:00Z"})["id"]
        _post(
            http, "/end_pipeline_execution", {"id": done, "end_date": "2025-01-01T00:10:00Z", "completed_successfully": True, "inserts": 1}
        )
        started = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)).isoformat()
        _post(http, "/start_pipeline_execution", {"pipeline_id": pid, "start_date": started})  # running past its minute

        def stored() -> dict:
            return http.get(f"/pipeline/{pid}").json()

        def inspect(page):
            notice = page.locator("p.notice")
            page.get_by_role("button", name="Pause").click()
            expect(notice).to_have_text("Pipeline paused: it is marked inactive.")
            expect(page.locator("td.active")).to_have_text("paused")
            assert stored()["active"] is False
            page.get_by_role("button", name="Resume").click()
            expect(notice).to_have_text("Pipeline resumed: it is marked active.")
            expect(page.locator("td.active")).to_have_text("yes")
            assert stored()["active"] is True
            for check in ("freshness", "timeliness"):
                row = page.locator(f"tr.check-{check} td.muted-flag")
                page.get_by_role("button", name=f"Mute {check}").click()
                expect(notice).to_have_text(f"{check.capitalize()} check muted for this pipeline.")
                expect(row).to_have_text("muted")
                assert stored()[f"mute_{check}_check"] is True
                page.get_by_role("button", name=f"Unmute {check}").click()
                expect(notice).to_have_text(f"{check.capitalize()} check unmuted for this pipeline.")
                expect(row).to_have_text("no")
                assert stored()[f"mute_{check}_check"] is False
            expect(page.locator("h1 .states")).to_have_text("ok")
            page.get_by_role("button", name="Run freshness check now").click()
            expect(notice).to_have_text("Freshness check ran.")
            expect(page).to_have_url(re.compile(rf"/ui/pipelines/{pid}\?done=freshness-run$"))
            expect(page.locator("h1 .states")).to_contain_text("stale")
            expect(page.locator("table.freshness-incidents tbody tr")).to_have_count(1)
            page.get_by_role("button", name="Run timeliness check now").click()
            expect(notice).to_have_text("Timeliness check ran.")
            expect(page.locator("h1 .states")).to_contain_text("late")
            expect(page.locator("table.timeliness-incidents tbody tr")).to_have_count(1)
            page.reload()
            expect(notice).to_have_count(1)  # the notice stays with the URL, the action is not repeated

        _clean(browser.visit(live_server, f"/ui/pipelines/{pid}", inspect))
        assert [i["status"] for i in http.get("/freshness", params={"pipeline_id": pid}).json()] == ["open"]


def test_hostile_text_in_every_field_stays_inert_text(live_server, browser):
    with _http(live_server) as http:
        body = {"name": HOSTILE["name"], "pipeline_type_name": HOSTILE["type"], "next_watermark": HOSTILE["next_watermark"],
                "pipeline_metadata": {HOSTILE["meta"]: [HOSTILE["meta"], {"deep": HOSTILE["name"]}]}}  # fmt: skip
        pid = _post(http, "/pipeline", body)["id"]
        address = {"name": HOSTILE["address"], "address_type_name": HOSTILE["type"], "address_type_group_name": HOSTILE["meta"]}
        target = {**address, "name": HOSTILE["meta"]}
        _post(http, "/address_lineage", {"pipeline_id": pid, "source_addresses": [address], "target_addresses": [target]})
        run = _post(http, "/start_pipeline_execution", {"pipeline_id": pid, "start_date": "2026-03-01T10:00:00Z"})["id"]
        _post(
            http,
            "/end_pipeline_execution",
            {"id": run, "end_date": "2026-03-01T10:01:00Z", "completed_successfully": True, "total_rows": 3},
        )
        # after the run: its successful end moved next_watermark into watermark
        patch = {"id": pid, "watermark": HOSTILE["watermark"], "next_watermark": HOSTILE["next_watermark"]}
        assert http.patch("/pipeline", json=patch).status_code == 200
        stored = http.get(f"/pipeline/{pid}").json()
    name, type_name = stored["name"], HOSTILE["type"].lower()  # names are stored trimmed and lower-cased

    def inspect(page):
        found = {}
        for path in ("/ui/pipelines", f"/ui/pipelines?q={httpx.URL('', params={'q': name}).query.decode()[2:]}", f"/ui/pipelines/{pid}"):
            page.goto(page.url.split("/ui")[0] + path)
            page.wait_for_load_state("load")
            found[path] = {
                "injected": page.locator("img[src='x'], svg[onload], [onerror], [onmouseover], body script").count(),
                "javascript_links": page.eval_on_selector_all(
                    "[href]", "es => es.map(e => e.getAttribute('href')).filter(h => h.trim().toLowerCase().startsWith('javascript:'))"
                ),
                "text": page.inner_text("main"),
            }
        detail = found[f"/ui/pipelines/{pid}"]
        assert page.locator("h1").inner_text().startswith(name)
        assert page.locator("code.watermark").inner_text() == HOSTILE["watermark"]
        assert page.locator("code.next-watermark").inner_text() == HOSTILE["next_watermark"]
        assert HOSTILE["meta"] in page.locator("pre.metadata").inner_text()
        for address_name in (HOSTILE["address"], HOSTILE["meta"]):
            link = page.get_by_role("link", name=address_name.lower(), exact=True)
            assert link.get_attribute("href").startswith("/ui/lineage?address_id=")
        assert page.get_by_role("link", name=type_name).get_attribute("href").startswith("/ui/pipelines?type=")
        assert page.title() == f"{name} · Watcher"
        return found, detail

    visit = browser.visit(live_server, "/ui/pipelines", inspect)
    found, detail = visit.result
    for path, result in found.items():
        assert result["injected"] == 0 and result["javascript_links"] == [], path
        assert name in result["text"], path
    assert type_name in detail["text"]
    _clean(visit)
