#!/usr/bin/env python3
"""Markdown table rows from core_load.py JSON results.

python bench/results_table.py bench/results/core-*.json
"""

from __future__ import annotations

import json
import re
import sys

SHORT = {
    "POST /pipeline": "pipeline",
    "POST /start_pipeline_execution": "start",
    "POST /end_pipeline_execution": "end",
    "GET /pipeline_execution/{id}": "get",
}


def row(path: str) -> str:
    with open(path) as f:
        r = json.load(f)
    label = r["config"].get("label", "")
    backend = re.search(r"backend=(\S+)", label)
    workers = re.search(r"workers=(\S+)", label)
    pool = re.search(r"pool=(\S+)", label)
    cpu = r["cpu"]
    lat = " / ".join(
        f"{r['endpoints'][ep]['p50_ms']:.0f}·{r['endpoints'][ep]['p95_ms']:.0f}·{r['endpoints'][ep]['p99_ms']:.0f}" for ep in SHORT
    )
    return (
        f"| {r['date'][:10]} | {backend.group(1) if backend else '?'} | {workers.group(1) if workers else '?'}"
        f" | {pool.group(1) if pool else '?'} | {r['req_per_s']:.0f} | {r['cycles_per_s']:.0f}"
        f" | {r['all']['p50_ms']:.0f} / {r['all']['p95_ms']:.0f} / {r['all']['p99_ms']:.0f} | {lat} | {r['errors']}"
        f" | {cpu.get('server_cores_proc', 0):.2f} | {cpu.get('postgres_cores_proc', 0):.2f}"
        f" | {cpu['load_generator_cores']:.2f} | {cpu.get('other_cores_proc', 0):.2f} | {cpu['machine_busy_cores']:.2f} |"
    )


def main(paths: list[str]) -> int:
    print(
        "| date | backend | workers | pool | req/s | cycles/s | all p50 / p95 / p99 ms"
        " | p50·p95·p99 ms: pipeline / start / end / get | errors"
        " | CPU server | CPU postgres | CPU loadgen | CPU other | machine busy |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for path in paths:
        print(row(path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
