"""A `watcher serve` process on loopback for the scale benchmarks, ready when the block starts."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


async def migrated_database(admin_url: str, name: str) -> str:
    """Drop and recreate database `name` next to `admin_url`, apply Watcher's migrations, return its URL."""
    import asyncpg

    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    subprocess.run([sys.executable, "-m", "watcher_server.cli", "db", "upgrade", "--database-url", url], check=True, cwd=ROOT)
    return url


@contextlib.contextmanager
def watcher_server(database_url: str, port: int, workers: int = 1, **settings):
    """Yields the base URL; settings become WATCHER_* variables. Stops the server on exit."""
    env = {**os.environ, "WATCHER_DATABASE_URL": database_url, **{f"WATCHER_{k.upper()}": str(v) for k, v in settings.items()}}
    command = [
        sys.executable,
        "-m",
        "watcher_server.cli",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise SystemExit(f"watcher serve did not become ready on {base}")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


def server_pid(port: int) -> int | None:
    """The `watcher serve` listening on `port` that watcher_server() started (it does not hand out its pid);
    its workers are its children."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"watcher_server.cli" in argv and b"serve" in argv and str(port).encode() in argv:
            return int(cmdline.parent.name)
    return None
