"""Time anomaly detection's baseline statement on an existing database, optionally against another checkout.

Runs `baseline_statement` (anomalies/detection.py) for batches of the newest successful executions, six
metrics, each seasonality, and reports the median time per statement. With `--compare-src`, the
statement of another checkout's detection.py runs interleaved with this one on the same batches, and
the baselines (count, mean, deviation) the two give are compared: "same" when they are equal to the last
bit, else the largest relative difference.

    python bench/baseline_statement.py --url postgresql://postgres@127.0.0.1:5432/watcher_bench \
        [--compare-src /tmp/base/src] [--batch 90] [--repeat 30]

Use it on a database a benchmark filled (bench/run_core.sh leaves `watcher_bench`; monitoring_scale.py
leaves `watcher_monitoring_bench`).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import math
import statistics
import time
import types
from pathlib import Path

from sqlalchemy import text

from watcher_server.anomalies import detection
from watcher_server.db.engine import create_engine

METRICS = ("duration_seconds", "inserts", "updates", "soft_deletes", "total_rows", "throughput")


def other_detection(src: str) -> types.ModuleType:
    """detection.py of another checkout, loaded inside this package so its relative imports resolve here."""
    module = types.ModuleType("watcher_server.anomalies.compared_detection")
    module.__package__ = "watcher_server.anomalies"
    path = Path(src) / "watcher_server" / "anomalies" / "detection.py"
    exec(compile(path.read_text(), str(path), "exec"), module.__dict__)
    return module


def largest_difference(a: dict, b: dict) -> float:
    """The largest relative difference between two sets of baselines (infinite when their keys differ)."""
    if a.keys() != b.keys():
        return math.inf
    worst = 0.0
    for key, x in a.items():
        for p, q in zip(dataclasses.astuple(x), dataclasses.astuple(b[key]), strict=True):
            if p != q and not (math.isnan(p) and math.isnan(q)):
                worst = max(worst, abs(p - q) / max(abs(p), abs(q)))
    return worst


async def main(args: argparse.Namespace) -> None:
    versions = {"this": detection}
    if args.compare_src:
        versions = {"compared": other_detection(args.compare_src), **versions}
    engine = create_engine(args.url)
    try:
        async with engine.connect() as conn:
            ids = list(
                (
                    await conn.execute(
                        text("SELECT id FROM pipeline_execution WHERE completed_successfully ORDER BY id DESC LIMIT :n"),
                        {"n": args.batch * 20},
                    )
                ).scalars()
            )
            if not ids:
                raise SystemExit("no successful executions in this database: run a benchmark first")
            since = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
            for seasonality in ("hour_of_day", "day_of_week", "none"):
                times: dict[str, list[float]] = {name: [] for name in versions}
                worst = 0.0
                for rep in range(args.repeat):
                    start = (rep * args.batch) % max(1, len(ids) - args.batch)
                    batch = ids[start : start + args.batch]
                    rows = {}
                    for name, module in versions.items():
                        statement = module.baseline_statement(conn.dialect.name, METRICS, seasonality)
                        began = time.perf_counter()
                        found = {r.subject: r for r in await conn.execute(statement, {"ids": batch, "since": since})}
                        times[name].append(time.perf_counter() - began)
                        rows[name] = {(s, m): detection._baseline(r, m) for s, r in found.items() for m in METRICS}
                    if len(rows) == 2:
                        worst = max(worst, largest_difference(*rows.values()))
                medians = ", ".join(f"{name} {statistics.median(t) * 1e3:.2f} ms" for name, t in times.items())
                print(
                    f"{seasonality:12} batches of {len(batch)}, median of {args.repeat}: {medians}"
                    + ("" if len(versions) == 1 else f"; baselines: {'same' if worst == 0 else f'differ by up to {worst:.1e}'}")
                )
    finally:
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/watcher_bench")
    parser.add_argument("--compare-src", help="the src/ directory of another checkout")
    parser.add_argument("--batch", type=int, default=90, help="executions per statement (a gathered batch holds about this many)")
    parser.add_argument("--repeat", type=int, default=30)
    asyncio.run(main(parser.parse_args()))
