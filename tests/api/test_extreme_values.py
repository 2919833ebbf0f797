"""Values at the edge of JSON: stored data never breaks a read; undecodable bodies are 422 (issue 10, defects 1 and 7)."""

import pytest
from sqlalchemy import text

from tests.helpers import create_pipeline, start

# Numbers orjson cannot write (beyond 64 bits), or that PostgreSQL's jsonb gives back in plain
# notation as such integers (1e20, 1.5e300).
EXTREMES = {"big": 2**64, "negative": -(2**63) - 1, "exponent": 1e20, "huge": 1.5e300, "tiny": 1e-300}


def _same_numbers(stored: dict) -> bool:
    """Integers exactly; floats as floats (jsonb keeps 1.5e300 as the decimal 15 followed by 299 zeros)."""
    return all(stored[key] == value if isinstance(value, int) else float(stored[key]) == value for key, value in EXTREMES.items())


async def test_metadata_numbers_beyond_64_bits_round_trip_through_every_read(client):
    pipeline_id = await create_pipeline(client, pipeline_metadata=EXTREMES)
    execution_id = await start(client, pipeline_id, start_date="2024-01-01T10:00:00Z")
    ended = await client.post(
        "/end_pipeline_execution",
        json={"id": execution_id, "end_date": "2024-01-01T10:05:00Z", "completed_successfully": True, "execution_metadata": EXTREMES},
    )
    assert ended.status_code == 200, ended.text
    assert _same_numbers((await client.get(f"/pipeline/{pipeline_id}")).json()["pipeline_metadata"])
    listed = await client.get("/pipeline")
    assert listed.status_code == 200 and _same_numbers(listed.json()[0]["pipeline_metadata"])
    execution = await client.get(f"/pipeline_execution/{execution_id}")
    assert execution.status_code == 200 and _same_numbers(execution.json()["execution_metadata"])
    executions = await client.get("/pipeline_execution", params={"pipeline_id": pipeline_id})
    assert executions.status_code == 200 and _same_numbers(executions.json()[0]["execution_metadata"])


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_rows_written_outside_the_api_with_non_finite_numbers_still_render(client, db):
    pipeline_id = await create_pipeline(client)
    async with db.write() as conn:  # SQLite keeps JSON as text: any tool can write 1e400 (read back as infinity)
        await conn.execute(text("""UPDATE pipeline SET pipeline_metadata = '{"x": 1e400, "big": 18446744073709551616}'"""))
    read = await client.get(f"/pipeline/{pipeline_id}")
    assert read.status_code == 200
    assert read.json()["pipeline_metadata"] == {"x": None, "big": 2**64}
    assert (await client.get("/pipeline")).status_code == 200


async def test_metadata_nested_deeper_than_64_levels_is_refused_with_422_naming_the_field(client):
    def nested(depth):
        value = {"leaf": 1}
        for _ in range(depth - 1):
            value = {"a": value}
        return value

    accepted = await client.post("/pipeline", json={"name": "ok", "pipeline_type_name": "t", "pipeline_metadata": nested(64)})
    assert accepted.status_code == 201
    refused = await client.post("/pipeline", json={"name": "deep", "pipeline_type_name": "t", "pipeline_metadata": nested(65)})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "pipeline_metadata"]
    assert "64 levels" in refused.json()["message"]
    assert [p["name"] for p in (await client.get("/pipeline")).json()] == ["ok"]


async def test_a_body_that_is_not_utf8_is_422_naming_the_byte(client):
    response = await client.post(
        "/pipeline", content=b'{"name": "\xff\xfe", "pipeline_type_name": "t"}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["message"] == "Request body is not valid UTF-8: byte 0xff at position 10"
    assert response.json()["detail"][0]["type"] == "json_invalid"


async def test_json_too_deep_to_parse_is_422(client):
    body = b'{"name": "d", "pipeline_type_name": "t", "pipeline_metadata": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    response = await client.post("/pipeline", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["message"] == "Request body JSON is nested too deeply to parse"


@pytest.mark.parametrize("wait", [False, True])
async def test_detecting_anomalies_of_an_unknown_execution_is_404_queued_or_not(client, wait):
    response = await client.post("/detect_anomalies", params={"wait": wait}, json={"pipeline_execution_id": 999_999})
    assert response.status_code == 404
    assert response.json()["message"] == "Pipeline execution not found"


async def test_detecting_anomalies_of_a_known_execution_is_still_queued(client):
    execution_id = await start(client, await create_pipeline(client), start_date="2024-01-01T10:00:00Z")
    response = await client.post("/detect_anomalies", json={"pipeline_execution_id": execution_id})
    assert (response.status_code, response.json()) == (200, {"status": "queued"})
