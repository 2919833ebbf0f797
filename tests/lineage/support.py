"""Request helpers for the address and lineage tests (§8-§9)."""

from __future__ import annotations

import re

from ..helpers import create_pipeline

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z$")

ADDRESS_KEYS = {
    "id", "name", "address_type_id", "database_name", "schema_name", "table_name", "primary_key",
    "address_metadata", "input_hash", "created_at", "updated_at",
}  # fmt: skip


def addr(name, type_name="s3", group="file", **extra) -> dict:
    """A POST /address body (and a lineage address object)."""
    return {
        "name": name,
        "address_type_name": type_name,
        "address_type_group_name": group,
        **extra,
    }


def sdk_addr(name, type_name, group) -> dict:
    """An address exactly as etl-watcher-sdk serialises it: every key present, nulls explicit."""
    return {
        "name": name,
        "address_type_name": type_name,
        "address_type_group_name": group,
        "database_name": None,
        "schema_name": None,
        "table_name": None,
        "primary_key": None,
        "address_metadata": None,
    }


def without_times(row: dict) -> dict:
    """The row minus created_at/updated_at, after checking created_at's format."""
    row = dict(row)
    assert TIMESTAMP.match(row.pop("created_at")), row
    row.pop("updated_at")
    return row


async def post_address(client, body, expected_status=None) -> int:
    response = await client.post("/address", json=body)
    assert response.status_code in (200, 201), response.text
    if expected_status is not None:
        assert response.status_code == expected_status, response.text
    return response.json()["id"]


async def post_lineage(client, pipeline_id, sources, targets):
    response = await client.post(
        "/address_lineage",
        json={
            "pipeline_id": pipeline_id,
            "source_addresses": sources,
            "target_addresses": targets,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


async def make_addresses(client, count) -> list[int]:
    """Addresses a1..aN in group `file` (so no name parsing); on a fresh database their ids are 1..N."""
    ids = [await post_address(client, addr(f"a{i}")) for i in range(1, count + 1)]
    assert ids == list(range(1, count + 1))
    return ids


async def build_graph(client, count, edges) -> dict[int, int]:
    """Create addresses a1..aN, then one pipeline per target address ("load aT") declaring all its sources.

    Returns {target address id: pipeline id}.
    """
    await make_addresses(client, count)
    by_target: dict[int, list[int]] = {}
    for source, target in edges:
        by_target.setdefault(target, []).append(source)
    pipelines = {}
    for target, sources in by_target.items():
        pipeline_id = await create_pipeline(client, f"load a{target}", "extraction")
        await post_lineage(client, pipeline_id, [addr(f"a{s}") for s in sources], [addr(f"a{target}")])
        pipelines[target] = pipeline_id
    return pipelines


def reach(address_id, depth, path) -> dict:
    """One expected row of /downstream or /upstream for an address made by make_addresses."""
    return {
        "id": address_id,
        "name": f"a{address_id}",
        "address_type_id": 1,
        "address_type_name": "s3",
        "address_type_group_name": "file",
        "depth": depth,
        "lineage_path": path,
    }


async def downstream(client, address_id, **params):
    response = await client.get(f"/address/{address_id}/downstream", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def upstream(client, address_id, **params):
    response = await client.get(f"/address/{address_id}/upstream", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def lineage_graph(client, source_address_id, **params):
    response = await client.get("/lineage-graph/", params={"source_address_id": source_address_id, **params})
    assert response.status_code == 200, response.text
    return response.json()


def edge_pairs(graph) -> list[tuple[int, int, int]]:
    return [(e["source_address_id"], e["target_address_id"], e["pipeline_id"]) for e in graph["edges"]]


def node_ids(graph) -> list[int]:
    return [n["id"] for n in graph["nodes"]]
