"""Screenshots of every web page for docs/ui.md: a real `watcher serve` on a fresh SQLite file, seeded
over the HTTP API with a small, realistic day of pipelines, then photographed in headless Chromium.

Usage: .venv/bin/python scripts/ui_screenshots.py [--out docs/ui] [--keep-server]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

CHROMIUM = "/usr/bin/chromium"
UTC = dt.UTC


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(directory: Path):
    port = _free_port()
    env = {**os.environ, "WATCHER_DATABASE_URL": f"sqlite:///{directory / 'demo.db'}", "WATCHER_SCHEDULER_ENABLED": "false"}
    process = subprocess.Popen(
        [sys.executable, "-m", "watcher_server.cli", "serve", "--port", str(port), "--workers", "1"],
        env=env, cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


class Seeder:
    def __init__(self, base: str):
        self.http = httpx.Client(base_url=base, timeout=30)
        self.now = dt.datetime.now(UTC).replace(microsecond=0)

    def post(self, path: str, body: dict, **params) -> dict:
        response = self.http.post(path, json=body, params=params)
        response.raise_for_status()
        return response.json() if response.content else {}

    def pipeline(self, name: str, type_name: str, **fields) -> int:
        return self.post("/pipeline", {"name": name, "pipeline_type_name": type_name, **fields})["id"]

    def run(self, pipeline_id: int, start: dt.datetime, minutes: float, ok: bool = True, parent: int | None = None, **counts) -> int:
        body = {"pipeline_id": pipeline_id, "start_date": start.isoformat()}
        if parent:
            body["parent_id"] = parent
        execution = self.post("/start_pipeline_execution", body)["id"]
        end = {"id": execution, "end_date": (start + dt.timedelta(minutes=minutes)).isoformat(), "completed_successfully": ok, **counts}
        self.post("/end_pipeline_execution", end)
        return execution

    def seed(self) -> dict[str, int]:
        rng = random.Random(7)
        shown: dict[str, int] = {}
        names = [
            "orders_extract", "customers_extract", "payments_extract", "inventory_sync", "shipments_extract",
            "orders_clean", "customers_dedupe", "revenue_daily", "churn_features", "marketing_attribution",
            "finance_ledger_load", "warehouse_snapshot", "sessions_rollup", "product_catalog_sync", "refunds_extract",
        ]  # fmt: skip
        ids = {}
        for index, name in enumerate(names):
            kind = "extraction" if name.endswith(("extract", "sync")) else "transformation"
            ids[name] = self.pipeline(name, kind, freshness_number=2, freshness_datepart="day", timeliness_number=1, timeliness_datepart="hour",
                                      pipeline_metadata={"owner": ["data-platform", "analytics", "finance"][index % 3], "tier": index % 3 + 1})  # fmt: skip
            self.post(
                "/anomaly_detection_rule",
                {"pipeline_id": ids[name], "metric_field": "total_rows", "z_threshold": 3, "minimum_executions": 10, "seasonality": "none"},
            )

        # lineage before any run: a successful end turns a pipeline's load_lineage off (contract §7.2)
        def table(name: str) -> dict:
            return {"name": name, "address_type_name": "postgres", "address_type_group_name": "database"}

        def lineage(pipeline: str, sources: list[str], targets: list[str]) -> None:
            self.post(
                "/address_lineage",
                {
                    "pipeline_id": ids[pipeline],
                    "source_addresses": [table(s) for s in sources],
                    "target_addresses": [table(t) for t in targets],
                },
            )

        lineage("orders_extract", ["shop.public.orders"], ["raw.orders"])
        lineage("customers_extract", ["shop.public.customers"], ["raw.customers"])
        lineage("payments_extract", ["stripe.api.charges"], ["raw.payments"])
        lineage("orders_clean", ["raw.orders", "raw.payments"], ["core.orders"])
        lineage("customers_dedupe", ["raw.customers"], ["core.customers"])
        lineage("revenue_daily", ["core.orders", "core.customers"], ["mart.revenue_daily"])
        lineage("churn_features", ["core.customers", "core.orders"], ["mart.churn_features"])
        lineage("marketing_attribution", ["core.orders", "raw.sessions"], ["mart.attribution"])
        lineage("sessions_rollup", ["raw.sessions"], ["mart.sessions_daily"])
        for name in names:
            base_rows = rng.randint(5_000, 200_000)
            for hour in range(36, 0, -1):
                start = self.now - dt.timedelta(hours=hour, minutes=rng.randint(0, 20))
                ok = rng.random() > 0.04
                rows = int(base_rows * rng.uniform(0.9, 1.1))
                self.run(ids[name], start, rng.uniform(2, 9), ok, inserts=rows, total_rows=rows)
        # a spike the anomaly rule flags, a failure that has not recovered, a stale and a late pipeline
        spike = self.run(ids["revenue_daily"], self.now - dt.timedelta(minutes=40), 6, inserts=2_400_000, total_rows=2_400_000)
        self.run(ids["payments_extract"], self.now - dt.timedelta(minutes=30), 3, ok=False)
        stale = self.pipeline("legacy_crm_export", "extraction", freshness_number=6, freshness_datepart="hour")
        self.run(stale, self.now - dt.timedelta(days=3), 12, inserts=1200, total_rows=1200)
        late = self.pipeline("nightly_warehouse_build", "orchestration", timeliness_number=1, timeliness_datepart="hour")
        root = self.post("/start_pipeline_execution", {"pipeline_id": late, "start_date": (self.now - dt.timedelta(hours=2)).isoformat()})[
            "id"
        ]
        for step, name in enumerate(("orders_clean", "customers_dedupe", "revenue_daily")):
            begin = self.now - dt.timedelta(hours=2) + dt.timedelta(minutes=25 * step)
            child = self.post("/start_pipeline_execution", {"pipeline_id": ids[name], "start_date": begin.isoformat(), "parent_id": root})[
                "id"
            ]
            for part in range(3):
                self.run(
                    ids[name],
                    begin + dt.timedelta(minutes=6 * part),
                    5,
                    ok=not (step == 1 and part == 2),
                    parent=child,
                    inserts=1000 * (part + 1),
                )
            self.post(
                "/end_pipeline_execution",
                {"id": child, "end_date": (begin + dt.timedelta(minutes=20)).isoformat(), "completed_successfully": step != 1},
            )

        self.http.post("/freshness", params={"wait": "true"}).raise_for_status()
        self.http.post("/timeliness", params={"wait": "true"}, json={"lookback_minutes": 600}).raise_for_status()
        shown.update(pipeline=ids["revenue_daily"], execution=root, spike=spike)
        shown["address"] = self.http.get("/address", params={"name_contains": "core.orders"}).json()[0]["id"]
        return shown


PAGES = [
    ("overview", "/ui"),
    ("pipelines", "/ui/pipelines"),
    ("pipeline", "/ui/pipelines/{pipeline}"),
    ("execution", "/ui/executions/{execution}"),
    ("lineage", "/ui/lineage?address_id={address}&depth=2"),
    ("incidents", "/ui/incidents"),
    ("alerts", "/ui/alerts"),
]


def photograph(base: str, ids: dict[str, int], out: Path) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for index, (name, path) in enumerate(PAGES, start=1):
            page.goto(base + path.format(**ids), wait_until="networkidle")
            target = out / f"{index}-{name}.png"
            page.screenshot(path=str(target), full_page=True)
            print(f"[{index}/{len(PAGES)}] {path.format(**ids)} -> {target}", flush=True)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="docs/ui")
    parser.add_argument("--keep-server", action="store_true", help="leave the seeded server running until Enter is pressed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory, server(Path(directory)) as base:
        print(f"seeding {base} …", flush=True)
        ids = Seeder(base).seed()
        photograph(base, ids, Path(args.out))
        if args.keep_server:
            input(f"server at {base}; press Enter to stop")


if __name__ == "__main__":
    main()
