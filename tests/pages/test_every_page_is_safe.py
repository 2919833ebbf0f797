"""Every page, reached by following links from /ui in a real browser, over data whose every field holds
hostile text: each answers 200 with our Content-Security-Policy, shows the text as text (no element,
attribute or script of the attacker's appears, no dialog fires), asks nothing of another origin, logs no
console error, and every link it offers leads to a page that exists. The essentials (tables, fields,
lists) read with JavaScript off."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import httpx
import pytest

HOSTILE = [
    "<script>alert('xss-script')</script>",
    '"><img src=x id=injected onerror=alert(1)>',
    "javascript:alert('xss-link')",
    "' onmouseover='alert(2)' data-x='",
    "</title><svg onload=alert(3)>",
]
MARK = "pwn"  # every hostile value carries it, so the page can be searched for where it went


def _hostile(index: int) -> str:
    return f"{MARK}{index} {HOSTILE[index % len(HOSTILE)]}"


def _seed(base_url: str) -> dict[str, int]:
    """Hostile names, types, metadata, watermarks, addresses and address types; a nested run, a failure,
    a stale pipeline and the alerts the checks raise about them."""
    http = httpx.Client(base_url=base_url, timeout=30)

    def post(path, body, **params):
        response = http.post(path, json=body, params=params)
        assert response.status_code in (200, 201, 204), (path, response.text)
        return response.json() if response.content else {}

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ids = {}
    for index in range(3):
        ids[index] = post("/pipeline", {
            "name": _hostile(index), "pipeline_type_name": _hostile(index + 3),
            "pipeline_metadata": {_hostile(index): _hostile(index + 1), "list": [_hostile(index + 2)]},
            "watermark": _hostile(index + 4)[:200], "next_watermark": _hostile(index)[:200],
            "freshness_number": 1, "freshness_datepart": "hour", "timeliness_number": 1, "timeliness_datepart": "hour",
        })["id"]  # fmt: skip
    # lineage first: a successful end turns the pipeline's load_lineage off (contract §7.2)
    post("/address_lineage", {
        "pipeline_id": ids[0],
        "source_addresses": [{"name": _hostile(0), "address_type_name": _hostile(3), "address_type_group_name": _hostile(4)}],
        "target_addresses": [{"name": _hostile(1), "address_type_name": _hostile(3), "address_type_group_name": _hostile(4)}],
    })  # fmt: skip
    root = post("/start_pipeline_execution", {"pipeline_id": ids[0], "start_date": (now - dt.timedelta(hours=5)).isoformat(),
                                              "execution_metadata": {"note": _hostile(1)}})["id"]  # fmt: skip
    child = post(
        "/start_pipeline_execution", {"pipeline_id": ids[1], "parent_id": root, "start_date": (now - dt.timedelta(hours=4)).isoformat()}
    )["id"]
    post("/end_pipeline_execution", {"id": child, "end_date": (now - dt.timedelta(hours=3)).isoformat(), "completed_successfully": False,
                                     "execution_metadata": {"error": _hostile(2)}})  # fmt: skip
    post(
        "/end_pipeline_execution",
        {"id": root, "end_date": (now - dt.timedelta(hours=2)).isoformat(), "completed_successfully": True, "inserts": 5},
    )
    post("/start_pipeline_execution", {"pipeline_id": ids[2], "start_date": (now - dt.timedelta(hours=3)).isoformat()})  # running, late
    post("/freshness", {}, wait="true")
    post("/timeliness", {"lookback_minutes": 600}, wait="true")
    ids["execution"] = root
    ids["address"] = http.get("/address").json()[0]["id"]
    return ids


@pytest.fixture
def hostile_server(live_server):
    return live_server, _seed(live_server)


START = ["/ui", "/ui/pipelines", "/ui/incidents", "/ui/alerts", "/ui/lineage"]


def _inspect_page(page, origin: str) -> dict:
    """What this page shows that matters for safety, and the same-origin /ui links it offers."""
    injected = page.locator("#injected, img[src='x'], svg[onload], [onmouseover], [onerror]").count()
    links = page.eval_on_selector_all("a[href]", "as => as.map(a => a.getAttribute('href'))")
    hrefs = page.eval_on_selector_all("a[href], [href]", "as => as.map(a => a.getAttribute('href') || a.getAttribute('xlink:href') || '')")
    scripts = page.eval_on_selector_all("script", "ss => ss.map(s => s.getAttribute('src'))")
    return {
        "injected": injected,
        "javascript_links": [h for h in hrefs if h.strip().lower().startswith("javascript:")],
        "inline_scripts": [s for s in scripts if not s],
        "shows_hostile_text": MARK in page.inner_text("body"),
        "links": [h for h in links if h.startswith("/ui") or h.startswith(origin + "/ui")],
    }


def test_every_page_reached_from_the_overview_is_safe_and_every_link_works(hostile_server, browser):
    base_url, ids = hostile_server
    starts = START + [f"/ui/pipelines/{ids[0]}", f"/ui/executions/{ids['execution']}", f"/ui/lineage?address_id={ids['address']}"]

    def crawl(page):
        origin = f"{urlsplit(page.url).scheme}://{urlsplit(page.url).netloc}"
        seen, queue, report = set(), list(starts), {}
        while queue and len(seen) < 60:
            path = queue.pop(0)
            path = path.removeprefix(origin)
            if path in seen or "/static/" in path or path.startswith("/ui/login"):
                continue
            seen.add(path)
            response = page.goto(origin + path, wait_until="load")
            found = _inspect_page(page, origin)
            report[path] = {"status": response.status, "csp": response.headers.get("content-security-policy", ""), **found}
            queue.extend(link for link in found["links"] if link.removeprefix(origin) not in seen)
        return report

    visit = browser.visit(base_url, "/ui", crawl, timeout=300)
    report = visit.result
    assert len(report) >= 10, sorted(report)  # the crawl reached every kind of page
    broken = {path: r["status"] for path, r in report.items() if r["status"] != 200}
    assert broken == {}
    for path, result in report.items():
        assert result["csp"].startswith("default-src 'none'") and "script-src 'self'" in result["csp"], path
        assert result["injected"] == 0, path
        assert result["javascript_links"] == [], path
        assert result["inline_scripts"] == [], path
    for page_kind in (f"/ui/pipelines/{ids[0]}", f"/ui/executions/{ids['execution']}", "/ui/pipelines"):
        assert report[page_kind]["shows_hostile_text"], page_kind  # the text is there, as text
    assert visit.dialogs == [] and visit.page_errors == [] and visit.console_errors == []
    assert visit.foreign_requests() == []


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_essentials_read_with_javascript_off(hostile_server, browser):
    base_url, ids = hostile_server
    essentials = {
        "/ui": "main .cards",
        "/ui/pipelines": "main table tbody tr",
        f"/ui/pipelines/{ids[0]}": "main table",
        f"/ui/executions/{ids['execution']}": "main table",
        f"/ui/lineage?address_id={ids['address']}": "main table",
        "/ui/incidents": "main table tbody tr",
        "/ui/alerts": "main table tbody tr",
    }

    def read_all(page):
        origin = f"{urlsplit(page.url).scheme}://{urlsplit(page.url).netloc}"
        counts = {}
        for path, selector in essentials.items():
            assert page.goto(origin + path).status == 200, path
            counts[path] = page.locator(selector).count()
        return counts

    visit = browser.visit(base_url, "/ui", read_all, javascript=False)
    assert all(count > 0 for count in visit.result.values()), visit.result
