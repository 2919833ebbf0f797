#!/usr/bin/env python3
"""Schemathesis over the whole OpenAPI document, long: many examples and stateful links, on PostgreSQL.

The same run as the CI test (tests/drills/test_openapi_fuzz.py, which uses tests/drills/fuzzing.py too)
with more examples per operation (`--max-examples`, default 300) and the stateful phase over the links
schemathesis infers (create → read → update chains). `watcher serve --workers 2` on a fresh database
with a few seeded rows; derandomized with a fixed seed (`--seed`), so a run can be repeated.

Gating checks: no 5xx, every status documented, Content-Type documented, body matches the documented
schema. `--all-checks` adds schemathesis's other checks (negative data rejected, positive data accepted,
headers, use after free, …); their failures are listed but only inform.

    python bench/drills/fuzz.py [--max-examples 300] [--sqlite] [--all-checks]
"""

from __future__ import annotations

import argparse
import asyncio
import collections

from common import (  # common puts the repository on sys.path
    DrillDatabase,
    Server,
    finish_work,
    log,
    run_main,
    table,
    work_dir,
    write_results,
)


async def drill(args) -> int:
    from tests.drills.fuzzing import EXTRA_CHECKS, GATING_CHECKS, run_fuzz
    from tests.drills.seed import seed_api

    work = work_dir("fuzz")
    checks = GATING_CHECKS + (EXTRA_CHECKS if args.all_checks else ())
    database = None if args.sqlite else DrillDatabase("fuzz")
    try:
        database_url = f"sqlite:///{work / 'watcher.db'}" if database is None else await database.create()
        server = Server(database_url, work / "server.log", workers=2)
        try:
            log(f"starting watcher serve --workers 2 on {'SQLite' if args.sqlite else 'PostgreSQL'} (log {server.log_path})")
            await asyncio.to_thread(server.start)
            seeded = await asyncio.to_thread(seed_api, server.base_url)
            log(f"seeded ids {seeded}; schemathesis, max-examples {args.max_examples}")
            report = await asyncio.to_thread(
                run_fuzz,
                server.base_url,
                max_examples=args.max_examples,
                stateful=not args.no_stateful,
                stateful_max_steps=args.stateful_max_steps,
                checks=checks,
                seed=args.seed,
            )
        finally:
            await asyncio.to_thread(server.stop)
    finally:
        if database is not None:
            await database.drop()
        for suffix in ("", "-wal", "-shm"):
            (work / f"watcher.db{suffix}").unlink(missing_ok=True)

    gating = report.failures_for(GATING_CHECKS)
    informative = [f for f in report.failures if f.check not in GATING_CHECKS]
    print()
    print(report.summary())
    rows = []
    by_operation: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for (operation, status), count in report.statuses.items():
        by_operation[operation][str(status)[0] + "xx" if status else "none"] += count
    for operation in sorted(by_operation):
        counts = by_operation[operation]
        failed = sorted({f.check for f in report.failures if f.operation == operation})
        rows.append([operation, sum(counts.values()), counts.get("2xx", 0), counts.get("4xx", 0), counts.get("5xx", 0), ", ".join(failed)])
    print()
    print(table(rows, ["operation", "requests", "2xx", "4xx", "5xx", "failed checks"]))
    if gating or report.errors:
        print("\nFAILURES (gating):\n")
        print("\n\n".join(f.render() for f in gating + report.errors))
    if informative:
        print(f"\ninformative checks ({len(informative)} failures, not gating):\n")
        print("\n\n".join(f.render() for f in informative[:40]))
    ok = not gating and not report.errors and report.stop_reason == "completed"
    path = write_results("fuzz", {"config": vars(args), "backend": "sqlite" if args.sqlite else "postgresql", **report.as_json()})
    print(f"\nfuzz: {'PASS' if ok else 'FAIL'}  (results: {path}{finish_work(work, ok)})")
    return 0 if ok else 1


def main() -> int:
    from tests.drills.fuzzing import SEED

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-examples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--no-stateful", action="store_true")
    parser.add_argument("--stateful-max-steps", type=int, default=50)
    parser.add_argument("--all-checks", action="store_true", help="also run schemathesis's other checks (informative)")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    args = parser.parse_args()
    return run_main(lambda: drill(args))


if __name__ == "__main__":
    raise SystemExit(main())
