"""Schemathesis over every operation of /openapi.json against a real `watcher serve` (the CI part of the drills).

One test per backend (SQLite and PostgreSQL, each a fresh database with a few seeded rows, so fuzzed ids
sometimes hit real pipelines, executions and addresses). Every answer must pass:

- `not_a_server_error`: no 5xx;
- `status_code_conformance`: the status is documented for the operation;
- `content_type_conformance`: the Content-Type is one the operation documents for that status;
- `response_schema_conformance`: the body validates against the documented schema.

Generation is bounded (`WATCHER_FUZZ_MAX_EXAMPLES` per operation, default 100, plus schemathesis's
deterministic coverage cases and a short stateful run over the inferred links) and derandomized with a
fixed seed, so CI sends the same requests every run. No request may take more than 20 s, and the engine
must finish the run (a server that stops answering fails it). A failure lists every problem found with
the `curl` that reproduces it. The API runs open (no tokens): authentication is tested in tests/api.
The long run is `bash bench/drills/run.sh fuzz`.
"""

from __future__ import annotations

import os

import pytest

from ..e2e.conftest import server_process
from .fuzzing import run_fuzz
from .seed import seed_api

MAX_EXAMPLES = int(os.environ.get("WATCHER_FUZZ_MAX_EXAMPLES", "100"))


def test_every_operation_answers_as_documented(database_url, tmp_path):
    with server_process(database_url, tmp_path, workers=1) as (_process, base_url):
        seed_api(base_url)
        report = run_fuzz(base_url, max_examples=MAX_EXAMPLES, stateful=True, stateful_max_steps=10)
    if report.requests < 1000 or len(report.operations) < 40:  # the run itself went wrong: nothing was tested
        pytest.fail(f"too little was tested:\n{report.summary()}", pytrace=False)
    if not report.ok:
        pytest.fail(f"{report.summary()}\n\n{report.details()}", pytrace=False)
