"""The public etl-watcher-sdk works unchanged against a real `watcher serve` process.

The SDK needs Python 3.12; scripts/test.sh prepares it and sets WATCHER_SDK_PYTHON. Under CI
(WATCHER_REQUIRE_SDK=1) a missing SDK interpreter is a failure, not a skip.
"""

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from .conftest import serving, wait_for, worker

SDK_PYTHON = os.environ.get("WATCHER_SDK_PYTHON")


@pytest.fixture
def sdk_python():
    if not SDK_PYTHON:
        if os.environ.get("WATCHER_REQUIRE_SDK") == "1":
            pytest.fail("WATCHER_SDK_PYTHON is not set; run the suite through scripts/test.sh")
        pytest.skip("WATCHER_SDK_PYTHON not set (scripts/test.sh provides the SDK's Python 3.12)")
    return SDK_PYTHON


@pytest.mark.sdk
def test_sdk_syncs_configuration_and_lineage_and_tracks_nested_executions(live_server, sdk_python):
    script = Path(__file__).with_name("sdk_workflow.py")
    run = subprocess.run([sdk_python, str(script), live_server], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout.strip().splitlines()[-1])

    with httpx.Client(base_url=live_server, timeout=10) as http:
        pipeline = http.get(f"/pipeline/{results['synced_id']}").json()
        assert pipeline["name"] == "sdk pipeline"
        assert (pipeline["freshness_number"], pipeline["freshness_datepart"]) == (2, "hour")
        assert results["first_watermark"] == "1970-01-01"  # new pipeline: the SDK's default
        assert results["patched_next_watermark"] == "2024-07-01"
        assert results["resynced_watermark"] == "2024-06-01"  # promoted by the successful run
        assert pipeline["load_lineage"] is False

        source = http.get("/address", params={"name_contains": "db.sales.orders"}).json()[0]
        assert (source["database_name"], source["schema_name"], source["table_name"]) == ("db", "sales", "orders")
        downstream = http.get(f"/address/{source['id']}/downstream").json()
        assert [(d["name"], d["depth"]) for d in downstream] == [("dw.sales.orders", 1), ("dw.marts.daily_orders", 2)]

        parent = http.get(f"/pipeline_execution/{results['parent_execution_id']}").json()
        assert parent["completed_successfully"] is True and parent["total_rows"] == 12
        assert parent["execution_metadata"] == {"rows": 12}
        children = {c["id"]: c for c in parent["child_executions"]}
        assert set(children) == {results["child_execution_id"], results["manual_execution_id"]}
        assert children[results["child_execution_id"]]["inserts"] == 3
        assert children[results["manual_execution_id"]]["completed_successfully"] is False
        assert children[results["manual_execution_id"]]["execution_metadata"] == {"error": "boom"}


@pytest.mark.sdk
@pytest.mark.parametrize("backend", ["postgresql"])
def test_sdk_works_unchanged_against_a_scale_out_deployment(database_url, tmp_path, sdk_python):
    """API in scale-out mode plus one `watcher worker`: the SDK's calls behave the same, and the
    checks it triggers run in the worker (its failed run raises an execution_failure alert there)."""
    settings = {"job_queue": "procrastinate"}
    with serving(database_url, tmp_path / "api", **settings) as base, worker(database_url, tmp_path / "worker.log", **settings):
        script = Path(__file__).with_name("sdk_workflow.py")
        run = subprocess.run([sdk_python, str(script), base], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        results = json.loads(run.stdout.strip().splitlines()[-1])
        with httpx.Client(base_url=base, timeout=10) as http:
            assert wait_for(lambda: http.get("/alerts", params={"kind": "execution_failure"}).json(), 30), (
                tmp_path / "worker.log"
            ).read_text()
            [failure] = http.get("/alerts", params={"kind": "execution_failure"}).json()
            assert failure["pipeline_execution_ids"] == [results["manual_execution_id"]]
            parent = http.get(f"/pipeline_execution/{results['parent_execution_id']}").json()
            assert parent["completed_successfully"] is True and len(parent["child_executions"]) == 2
