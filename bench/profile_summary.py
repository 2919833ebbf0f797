#!/usr/bin/env python3
"""Summarise a py-spy `--format raw` (collapsed stacks) profile of the Watcher server.

    python bench/profile_summary.py bench/results/<tag>.profile.txt [--top 25]

Record with bench/run_core.sh PROFILE=1 PROFILE_FLAGS=--gil (blocking mode: complete stacks;
--gil keeps only the thread holding the GIL, i.e. the Python CPU that limits one process).

Prints, as shares of all samples:
  * self time by layer: each sample goes to the first recognised layer walking from the leaf
    frame towards the root (so time in asyncpg called by SQLAlchemy counts as asyncpg);
  * where the samples sit: request handling on the event loop, SQLAlchemy's synchronous core
    running inside a greenlet (its stacks start at Connection.execute & co.), worker threads,
    native code with no Python frame;
  * inclusive time per endpoint function and for a few interesting subtrees;
  * the top self-time functions.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?):(?P<line>\d+)\)\s*$")

# (layer, predicate on the frame's file path, function name); first match from the leaf wins
SELF_LAYERS = [
    ("asyncpg driver (protocol, prepared statements, transactions)", lambda p, f: p.startswith("asyncpg/")),
    ("aiosqlite / sqlite3", lambda p, f: p.startswith(("aiosqlite/", "sqlite3/"))),
    ("SQLAlchemy dialect adapter (dialects/*)", lambda p, f: p.startswith("sqlalchemy/dialects/")),
    ("SQLAlchemy SQL compiler (sql/compiler.py, construct_params)", lambda p, f: p == "sqlalchemy/sql/compiler.py"),
    (
        "SQLAlchemy cache-key generation (sql/cache_key.py, traversals)",
        lambda p, f: p in ("sqlalchemy/sql/cache_key.py", "sqlalchemy/sql/traversals.py"),
    ),
    ("SQLAlchemy expression building (select/insert/update/case, coercions, elements)", lambda p, f: p.startswith("sqlalchemy/sql/")),
    ("SQLAlchemy engine (Connection.execute, cursor, result rows)", lambda p, f: p.startswith("sqlalchemy/engine/")),
    ("SQLAlchemy pool", lambda p, f: p.startswith("sqlalchemy/pool/")),
    (
        "SQLAlchemy asyncio layer + greenlet bridge",
        lambda p, f: p.startswith(("sqlalchemy/ext/asyncio/", "sqlalchemy/util/concurrency", "sqlalchemy/util/_concurrency")),
    ),
    ("SQLAlchemy other (events, util)", lambda p, f: p.startswith("sqlalchemy/")),
    ("pydantic validation", lambda p, f: p.startswith(("pydantic/", "pydantic_core/"))),
    ("FastAPI dependency/param solving (fastapi/dependencies)", lambda p, f: p.startswith("fastapi/dependencies/")),
    ("FastAPI routing + request handler (fastapi/*)", lambda p, f: p.startswith("fastapi/")),
    ("Starlette (middleware, requests, responses)", lambda p, f: p.startswith("starlette/")),
    ("anyio / thread pool (sync dependency run in a thread)", lambda p, f: p.startswith("anyio/") or p in ("threading.py", "queue.py")),
    ("uvicorn (HTTP protocol, ASGI glue)", lambda p, f: p.startswith("uvicorn/")),
    ("JSON encode/decode", lambda p, f: p.startswith(("json/", "orjson"))),
    ("watcher_server app code", lambda p, f: p.startswith("watcher_server/")),
    ("event loop (uvloop C, asyncio)", lambda p, f: p.startswith("asyncio/")),
    ("stdlib / other Python", lambda p, f: True),
]

SUBTREES = [
    ("POST /pipeline  (create_pipeline)", "create_pipeline (watcher_server/pipelines/router.py"),
    ("POST /start_pipeline_execution  (start_pipeline_execution)", "start_pipeline_execution (watcher_server/executions/router.py"),
    ("POST /end_pipeline_execution  (end_pipeline_execution)", "end_pipeline_execution (watcher_server/executions/router.py"),
    ("GET /pipeline_execution/{id}  (get_pipeline_execution)", "get_pipeline_execution (watcher_server/executions/router.py"),
    ("fastapi solve_dependencies (params, body validation, DB dependency)", "solve_dependencies (fastapi/dependencies/utils.py"),
    ("starlette run_in_threadpool (sync `def database()` dependency)", "run_in_threadpool (starlette/concurrency.py"),
    ("SQLAlchemy AsyncConnection.execute (awaited, event-loop side)", "AsyncConnection.execute (sqlalchemy/ext/asyncio/engine.py"),
    ("watcher Database.write()/read() enter+exit (connect, begin, commit)", "watcher_server/db/engine.py"),
    ("uvicorn RequestResponseCycle.send (response write)", "RequestResponseCycle.send (uvicorn/"),
    ("uvicorn HttpToolsProtocol.data_received (request parse)", "HttpToolsProtocol.data_received (uvicorn/"),
]


def parse(path: str):
    stacks = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line:
                continue
            stack, _, count = line.rpartition(" ")
            try:
                n = int(count)
            except ValueError:
                continue
            frames = [f.strip() for f in stack.split(";") if f.strip() and not f.startswith(("process ", "thread "))]
            stacks.append((frames, n))
    return stacks


def split_frame(frame: str) -> tuple[str, str]:
    m = FRAME.match(frame)
    if not m:
        return frame, ""
    return m.group("func"), m.group("file")


def self_layer(frames: list[str]) -> str:
    if not frames:
        return "native code with no Python frame (uvloop/asyncpg C, GC)"
    leaf_func, leaf_path = split_frame(frames[-1])
    if leaf_path == "asyncio/runners.py":
        return "event loop (uvloop C, asyncio)"
    for frame in reversed(frames):
        func, path = split_frame(frame)
        for label, pred in SELF_LAYERS[:-1]:
            if pred(path, func):
                return label
    return SELF_LAYERS[-1][0]


def context(frames: list[str]) -> str:
    if not frames:
        return "native code (no Python frame)"
    root_func, root_path = split_frame(frames[0])
    if root_path.startswith("sqlalchemy/"):
        return "SQLAlchemy sync core inside greenlet (compile, execute, results)"
    if root_path.startswith("threading.py") or any("anyio/" in f for f in frames[:3]):
        return "worker threads (anyio thread pool)"
    if any("run_asgi" in f for f in frames):
        return "request handling on the event loop (ASGI app)"
    if frames[-1].startswith("Runner.run (asyncio/runners.py"):
        return "event loop idle/dispatch (uvloop C)"
    return "other event-loop callbacks (uvicorn protocol, asyncpg protocol, timers)"


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("profile")
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args(argv)
    stacks = parse(args.profile)
    total = sum(n for _, n in stacks)
    if not total:
        print("no samples")
        return 1
    layers, contexts, subtrees, funcs = Counter(), Counter(), Counter(), Counter()
    for frames, n in stacks:
        layers[self_layer(frames)] += n
        contexts[context(frames)] += n
        funcs[frames[-1] if frames else "(native)"] += n
        for label, needle in SUBTREES:
            if any(needle in f for f in frames):
                subtrees[label] += n

    def pct(n):
        return f"{100 * n / total:5.1f}%"

    print(f"{total} samples\n")
    print("Self time by layer (first recognised layer from the leaf up):")
    for name, n in layers.most_common():
        print(f"  {pct(n)}  {name}")
    print("\nWhere the samples sit:")
    for name, n in contexts.most_common():
        print(f"  {pct(n)}  {name}")
    print("\nInclusive time of subtrees (greenlet-side SQLAlchemy work is NOT included in the endpoint rows):")
    for label, _ in SUBTREES:
        print(f"  {pct(subtrees[label])}  {label}")
    print(f"\nTop {args.top} functions by self time:")
    for name, n in funcs.most_common(args.top):
        print(f"  {pct(n)}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
