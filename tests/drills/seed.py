"""A few real rows behind a live server, so fuzzed path ids and bodies sometimes reach existing data.

Used by the CI fuzz test (tests/drills/test_openapi_fuzz.py) and by the drills in bench/drills/.
Plain httpx against the public API: no pytest, no server internals.
"""

from __future__ import annotations

import datetime as dt

import httpx

UTC = dt.UTC


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def seed_api(base_url: str, *, pipelines: int = 3) -> dict[str, list[int]]:
    """Create pipelines, nested executions (succeeded, failed, running), lineage addresses and an anomaly rule.

    Ids start at 1 on a fresh database, so the small integers Hypothesis favours for `{id}` hit these rows.
    Returns the ids created, by kind.
    """
    now = dt.datetime.now(UTC).replace(microsecond=0)
    created: dict[str, list[int]] = {"pipeline": [], "execution": [], "address": []}
    with httpx.Client(base_url=base_url, timeout=30) as http:

        def post(path: str, body: dict, expect: tuple[int, ...]) -> dict:
            response = http.post(path, json=body)
            if response.status_code not in expect:
                raise RuntimeError(f"seeding: POST {path} {body} -> {response.status_code} {response.text[:300]}")
            return response.json() if response.content else {}

        for k in range(pipelines):
            pipeline = post(
                "/pipeline",
                {
                    "name": f"drill pipeline {k}",
                    "pipeline_type_name": "extraction" if k % 2 == 0 else "transformation",
                    "next_watermark": "2024-01-02",
                    "pipeline_metadata": {"owner": "drills"},
                },
                (200, 201),
            )
            created["pipeline"].append(pipeline["id"])
        first = created["pipeline"][0]
        # lineage first: a successful end turns the pipeline's load_lineage off
        post(
            "/address_lineage",
            {
                "pipeline_id": first,
                "source_addresses": [{"name": "db.sales.orders", "address_type_name": "postgres", "address_type_group_name": "database"}],
                "target_addresses": [
                    {"name": "dw.sales.orders", "address_type_name": "snowflake", "address_type_group_name": "database"},
                    {"name": "s3://lake/orders/", "address_type_name": "s3", "address_type_group_name": "file"},
                ],
            },
            (201,),
        )
        start = now - dt.timedelta(hours=2)
        # a parent that succeeded, a child that failed, a grandchild still running
        parent = post("/start_pipeline_execution", {"pipeline_id": first, "start_date": _iso(start)}, (201,))["id"]
        child = post("/start_pipeline_execution", {"pipeline_id": first, "start_date": _iso(start), "parent_id": parent}, (201,))["id"]
        grandchild = post("/start_pipeline_execution", {"pipeline_id": first, "start_date": _iso(start), "parent_id": child}, (201,))["id"]
        end = {"total_rows": 100, "inserts": 80, "updates": 20, "soft_deletes": 0}
        post(
            "/end_pipeline_execution",
            {"id": child, "end_date": _iso(start + dt.timedelta(minutes=5)), "completed_successfully": False},
            (200,),
        )
        post(
            "/end_pipeline_execution",
            {"id": parent, "end_date": _iso(start + dt.timedelta(minutes=10)), "completed_successfully": True, **end},
            (200,),
        )
        created["execution"] += [parent, child, grandchild]
        for pipeline_id in created["pipeline"][1:]:
            execution = post("/start_pipeline_execution", {"pipeline_id": pipeline_id, "start_date": _iso(start)}, (201,))["id"]
            post(
                "/end_pipeline_execution",
                {"id": execution, "end_date": _iso(start + dt.timedelta(seconds=30)), "completed_successfully": True, **end},
                (200,),
            )
            created["execution"].append(execution)
        addresses = http.get("/address").json()
        created["address"] = [a["id"] for a in addresses]
        post("/anomaly_detection_rule", {"pipeline_id": first, "metric_field": "total_rows", "minimum_executions": 5}, (200, 201))
    return created
