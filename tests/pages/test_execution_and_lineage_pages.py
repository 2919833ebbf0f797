"""The execution and lineage pages in a real browser on a real `watcher serve` (SQLite and PostgreSQL):
timeline bars and tree links lead to their runs, "parent" goes up, an anomaly flag is cleared from the
page; lineage nodes re-centre the graph, a wide fan-out ends in an "N more" node whose list works, the
address search finds an address; hostile names stay text; no console errors, no foreign requests."""

from __future__ import annotations

import datetime as dt
import re

import httpx
from playwright.sync_api import expect

HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(1)> javascript:alert(1) \' "'


class Seed:
    """Data posted over HTTP to the live server before the browser looks."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def post(self, path: str, body: dict, **params) -> dict:
        response = self.http.post(path, json=body, params=params)
        assert response.status_code in (200, 201, 204), (path, response.text)
        return response.json() if response.content else {}

    def pipeline(self, name: str) -> int:
        return self.post("/pipeline", {"name": name, "pipeline_type_name": "etl"})["id"]

    def start(self, pipeline_id: int, start: dt.datetime, parent: int | None = None, **extra) -> int:
        return self.post(
            "/start_pipeline_execution", {"pipeline_id": pipeline_id, "start_date": start.isoformat(), "parent_id": parent, **extra}
        )["id"]

    def end(self, execution_id: int, end: dt.datetime, ok: bool = True, **extra) -> None:
        self.post("/end_pipeline_execution", {"id": execution_id, "end_date": end.isoformat(), "completed_successfully": ok, **extra})

    def lineage(self, pipeline_id: int, sources: list[str], targets: list[str]) -> None:
        def address(name: str) -> dict:
            return {"name": name, "address_type_name": "table", "address_type_group_name": "database"}

        self.post("/address_lineage", {"pipeline_id": pipeline_id, "source_addresses": [address(n) for n in sources],
                                       "target_addresses": [address(n) for n in targets]})  # fmt: skip

    def address_id(self, name: str) -> int:
        [found] = [a for a in self.http.get("/address", params={"name_contains": name}).json() if a["name"] == name]
        return found["id"]


def _clean(visit) -> None:
    assert visit.console_errors == [], visit.console_errors
    assert visit.page_errors == [], visit.page_errors
    assert visit.dialogs == [], visit.dialogs
    assert visit.foreign_requests() == []


def _tree(seed: Seed) -> dict[str, int]:
    """root (succeeded) with child_a (succeeded, whose grandchild failed) and child_b (running)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    orchestrator, loader = seed.pipeline("orchestrator"), seed.pipeline("loader")
    ids = {"root": seed.start(orchestrator, now - dt.timedelta(hours=2))}
    ids["child_a"] = seed.start(loader, now - dt.timedelta(hours=2) + dt.timedelta(minutes=5), parent=ids["root"])
    ids["grandchild"] = seed.start(loader, now - dt.timedelta(hours=2) + dt.timedelta(minutes=6), parent=ids["child_a"])
    ids["child_b"] = seed.start(loader, now - dt.timedelta(minutes=30), parent=ids["root"])
    seed.end(ids["grandchild"], now - dt.timedelta(hours=1, minutes=50), ok=False)
    seed.end(ids["child_a"], now - dt.timedelta(hours=1, minutes=40))
    seed.end(ids["root"], now - dt.timedelta(hours=1))
    return ids


def test_timeline_bars_and_links_lead_up_and_down_the_run_tree(live_server, browser):
    ids = _tree(Seed(live_server))

    def inspect(page):
        rows = page.locator("svg.timeline a.run-row")
        expect(rows).to_have_count(4)
        assert rows.evaluate_all("rows => rows.map(r => r.dataset.id)") == [
            str(ids[k]) for k in ("root", "child_a", "grandchild", "child_b")
        ]
        expect(page.locator("svg.timeline a.current")).to_have_attribute("data-id", str(ids["root"]))
        expect(page.locator(f"svg.timeline a[data-id='{ids['child_b']}'] rect.run.running")).to_have_count(1)
        expect(page.locator(f"svg.timeline a[data-id='{ids['grandchild']}'] rect.run.failed")).to_have_count(1)
        page.locator(f"svg.timeline a[data-id='{ids['child_a']}'] rect.run").click()  # a child's bar
        page.wait_for_url(re.compile(rf"/ui/executions/{ids['child_a']}$"))
        expect(page.locator("h1")).to_contain_text(f"Run {ids['child_a']} of loader")
        expect(page.locator("svg.timeline a.current")).to_have_attribute("data-id", str(ids["child_a"]))
        page.locator("#run-tree a", has_text="loader").nth(1).click()  # the grandchild in the nested list
        page.wait_for_url(re.compile(rf"/ui/executions/{ids['grandchild']}$"))
        expect(page.locator("h1 .badge")).to_have_text("failed")
        page.click("#parent-link")
        page.wait_for_url(re.compile(rf"/ui/executions/{ids['child_a']}$"))
        page.click("#root-link")
        page.wait_for_url(re.compile(rf"/ui/executions/{ids['root']}$"))
        page.click("main h1 a")  # the pipeline's name
        page.wait_for_url(re.compile(r"/ui/pipelines/\d+$"))

    _clean(browser.visit(live_server, f"/ui/executions/{ids['root']}", inspect))


def test_a_flag_is_cleared_from_the_execution_page(live_server, browser):
    seed = Seed(live_server)
    pid = seed.pipeline("orders")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    runs = []
    for days_ago, total in zip(range(6, 0, -1), [20, 22, 24, 26, 28, 500], strict=True):
        begin = now - dt.timedelta(days=days_ago)
        runs.append(seed.start(pid, begin))
        seed.end(runs[-1], begin + dt.timedelta(minutes=10), total_rows=total)
    seed.post(
        "/anomaly_detection_rule",
        {"pipeline_id": pid, "metric_field": "total_rows", "z_threshold": 2, "minimum_executions": 5, "seasonality": "none"},
    )
    assert seed.post("/detect_anomalies", {"pipeline_execution_id": runs[-1]}, wait="true")["status"] == "warning"

    def inspect(page):
        expect(page.locator("#anomaly-results")).to_contain_text("total_rows")
        expect(page.locator("#anomaly-flags")).to_contain_text("flagged")
        page.click("#anomaly-flags button:has-text('Clear flag')")
        page.wait_for_url(re.compile(rf"/ui/executions/{runs[-1]}\?done=unflagged$"))
        expect(page.locator("p.notice")).to_have_text("Anomaly flag cleared.")
        expect(page.locator("#anomaly-flags button")).to_have_count(0)
        expect(page.locator("#anomaly-results")).to_have_count(0)

    _clean(browser.visit(live_server, f"/ui/executions/{runs[-1]}", inspect))
    assert seed.http.get(f"/pipeline_execution/{runs[-1]}").json()["anomaly_flags"] == {"total_rows": False}


def test_lineage_nodes_recentre_and_a_wide_fan_out_ends_in_a_working_more_node(live_server, browser):
    seed = Seed(live_server)
    seed.lineage(seed.pipeline("extract"), ["raw.orders"], ["stage.orders"])
    seed.lineage(seed.pipeline("fan out"), ["stage.orders"], [f"mart.t{i:02d}" for i in range(30)])
    stage, raw, first = seed.address_id("stage.orders"), seed.address_id("raw.orders"), seed.address_id("mart.t00")

    def inspect(page):
        graph = page.locator("svg#lineage-graph")
        expect(graph.locator("a.node.centre")).to_have_attribute("data-node", f"a{stage}")
        expect(graph.locator("a.node[data-column='1']")).to_have_count(25)
        more = graph.locator("a.node.more[data-more='1']")
        expect(more).to_contain_text("5 more")
        expect(graph.locator("path.edge title").first).to_contain_text("Created by")
        graph.locator(f"a.node[data-node='a{raw}']").click()  # re-centre upstream
        page.wait_for_url(re.compile(rf"/ui/lineage\?address_id={raw}&depth=2$"))
        expect(page.locator("h1")).to_have_text("raw.orders")
        expect(page.locator("svg#lineage-graph a.node.centre")).to_have_attribute("data-node", f"a{raw}")
        page.locator(f"svg#lineage-graph a.node[data-node='a{stage}']").click()
        page.wait_for_url(re.compile(rf"address_id={stage}&depth=2$"))
        page.locator("svg#lineage-graph a.node.more").click()
        page.wait_for_url(re.compile(rf"address_id={stage}&depth=2&column=1$"))
        names = page.locator("#column-list td.address a").all_inner_texts()
        assert names == [f"mart.t{i:02d}" for i in range(30)]
        page.click("#back-to-graph")
        page.wait_for_url(re.compile(rf"address_id={stage}&depth=2$"))
        page.select_option("select[name=depth]", "1")
        page.click("form:has(input[name=address_id]) button")
        page.wait_for_url(re.compile(rf"address_id={stage}&depth=1$"))
        page.locator(f"#downstream a[href='/ui/lineage?address_id={first}&depth=1']").click()  # the table's links re-centre too
        expect(page.locator("h1")).to_have_text("mart.t00")

    _clean(browser.visit(live_server, f"/ui/lineage?address_id={stage}", inspect))


def test_the_address_search_finds_an_address_and_a_pipeline_opens_its_lineage(live_server, browser):
    seed = Seed(live_server)
    loader = seed.pipeline("loader")
    seed.lineage(loader, ["warehouse.sales.orders", "warehouse.sales.items"], ["mart.revenue"])

    def inspect(page):
        page.fill("input[name=q]", "SALES.ord")
        page.click("form[role=search] button")
        expect(page.locator("#search-results td.address a")).to_have_text(["warehouse.sales.orders"])
        page.click("#search-results td.address a")
        expect(page.locator("h1")).to_have_text("warehouse.sales.orders")
        page.goto(page.url.split("/ui/")[0] + "/ui/lineage")
        page.fill("input[name=pipeline_id]", str(loader))
        page.click("form:has(input[name=pipeline_id]) button")
        page.wait_for_url(re.compile(rf"pipeline_id={loader}$"))
        graph = page.locator("svg#lineage-graph")
        expect(graph.locator("a.node.centre")).to_have_attribute("data-node", f"p{loader}")
        expect(graph.locator("a.node[data-column='-1']")).to_have_count(2)
        expect(graph.locator("a.node[data-column='1']")).to_have_count(1)
        graph.locator("a.node[data-column='1']").click()
        expect(page.locator("h1")).to_have_text("mart.revenue")

    _clean(browser.visit(live_server, "/ui/lineage", inspect))


def test_hostile_names_and_metadata_stay_inert_text(live_server, browser):
    seed = Seed(live_server)
    pid = seed.pipeline(f"p {HOSTILE}")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    root = seed.start(pid, now - dt.timedelta(hours=1), watermark=HOSTILE[:100])
    child = seed.start(pid, now - dt.timedelta(minutes=50), parent=root)
    seed.end(child, now - dt.timedelta(minutes=40), ok=False, execution_metadata={HOSTILE: [HOSTILE]})
    seed.lineage(pid, [f"a {HOSTILE}"], ["javascript:alert(1)"])
    address = seed.address_id(f"a {HOSTILE}".lower())

    def inspect(page):
        origin = page.url.split("/ui/")[0]
        found = {}
        for path in (
            f"/ui/executions/{child}",
            f"/ui/lineage?address_id={address}",
            f"/ui/lineage?pipeline_id={pid}",
            "/ui/lineage?q=script",
        ):
            assert page.goto(origin + path).status == 200, path
            hrefs = page.eval_on_selector_all("[href]", "as => as.map(a => a.getAttribute('href'))")
            found[path] = {
                "injected": page.locator("img[src='x'], [onerror], main script").count(),
                "javascript_links": [h for h in hrefs if h.strip().lower().startswith("javascript:")],
                "shown": "<script>alert(1)</script>" in page.inner_text("main"),
            }
        return found

    visit = browser.visit(live_server, f"/ui/executions/{child}", inspect)
    for path, found in visit.result.items():
        assert found == {"injected": 0, "javascript_links": [], "shown": True}, path
    _clean(visit)


def test_the_tree_and_the_neighbourhood_read_with_javascript_off(live_server, browser):
    seed = Seed(live_server)
    ids = _tree(seed)
    seed.lineage(seed.pipeline("copy"), ["in.a"], ["out.b"])
    address = seed.address_id("in.a")

    def inspect(page):
        origin = page.url.split("/ui/")[0]
        tree = page.locator("#run-tree li").count()
        page.goto(f"{origin}/ui/lineage?address_id={address}")
        return tree, page.locator("#downstream td.address a").all_inner_texts()

    visit = browser.visit(live_server, f"/ui/executions/{ids['grandchild']}", inspect, javascript=False)
    assert visit.result == (4, ["out.b"])
