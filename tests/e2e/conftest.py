"""A real `watcher serve` process on loopback, for end-to-end and SDK tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, seconds: float = 30) -> bool:
    """Poll `predicate` until it is true or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def live_server(database_url, tmp_path):
    with serving(database_url, tmp_path) as base_url:
        yield base_url


@contextlib.contextmanager
def serving(database_url, tmp_path, **settings):
    """`watcher serve --workers 2` on a free loopback port; settings become WATCHER_* variables."""
    with server_process(database_url, tmp_path, **settings) as (_process, base_url):
        yield base_url


@contextlib.contextmanager
def server_process(database_url, tmp_path, workers: int = 2, args: tuple[str, ...] = (), **settings):
    """Like `serving`, yielding (process, base_url); its output goes to tmp_path/server.log."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = {**os.environ, "WATCHER_DATABASE_URL": database_url, **{f"WATCHER_{k.upper()}": str(v) for k, v in settings.items()}}
    log = open(tmp_path / "server.log", "w+")  # noqa: SIM115 (closed in the finally below)
    process = subprocess.Popen(
        [sys.executable, "-m", "watcher_server.cli", "serve", "--port", str(port), "--workers", str(workers), *args],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            if process.poll() is not None:
                log.seek(0)
                pytest.fail(f"watcher serve exited early:\n{log.read()}")
            try:
                if httpx.get(f"{base_url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"watcher serve did not become ready:\n{log.read()}")
            time.sleep(0.2)
        yield process, base_url
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@contextlib.contextmanager
def worker(database_url, log_path, **settings):
    env = {**os.environ, "WATCHER_DATABASE_URL": database_url, **{f"WATCHER_{k.upper()}": str(v) for k, v in settings.items()}}
    with open(log_path, "w+") as log:
        process = subprocess.Popen([sys.executable, "-m", "watcher_server.cli", "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)  # graceful: running jobs finish first
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                log.seek(0)
                pytest.fail(f"watcher worker did not stop on SIGTERM:\n{log.read()}")
