"""Runs under the SDK's own Python (3.12) with the public etl-watcher-sdk, as its users write it.

Usage: python sdk_workflow.py BASE_URL PIPELINE_ID CHILD_PIPELINE_ID ; prints one JSON line of results.
"""

import json
import sys
import warnings

import httpx
import pendulum

from watcher import ETLResult, Pipeline, PipelineConfig, Watcher, WatcherContext

base_url, pipeline_id, child_pipeline_id = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client = Watcher(base_url)
results = {}

# Configuration sync for a pipeline whose lineage is already loaded (load_lineage false).
config = PipelineConfig(
    pipeline=Pipeline(name="sdk pipeline", pipeline_type_name="sdk", freshness_number=2, freshness_datepart="hour"),
    default_watermark="1970-01-01",
    next_watermark="2024-06-01",
)
synced = client.sync_pipeline_config(config)
results["synced_id"] = synced.pipeline.id
results["synced_watermark"] = synced.watermark


@client.track_pipeline_execution(pipeline_id=pipeline_id, active=True, next_watermark="2024-06-01")
def parent_job(watcher_context: WatcherContext):
    results["parent_execution_id"] = watcher_context.execution_id

    def child_job(watcher_context: WatcherContext):
        results["child_execution_id"] = watcher_context.execution_id
        return ETLResult(completed_successfully=True, inserts=3, total_rows=3)

    client.track_child_pipeline_execution(
        pipeline_id=child_pipeline_id, active=True, parent_execution_id=watcher_context.execution_id, func=child_job
    )
    return ETLResult(completed_successfully=True, inserts=10, updates=2, total_rows=12, execution_metadata={"rows": 12})


parent_job()

# The explicit API: start with the SDK's parent_execution_id key, end, and move the watermark.
manual = client.start_pipeline_execution(pipeline_id=child_pipeline_id, parent_execution_id=results["parent_execution_id"])
client.end_pipeline_execution(
    manual, completed_successfully=False, end_date=pendulum.now("UTC").add(seconds=1), execution_metadata={"error": "boom"}
)
results["manual_execution_id"] = manual
client.update_pipeline_next_watermark(pipeline_id, "2024-07-01")
results["patched_next_watermark"] = httpx.get(f"{base_url}/pipeline/{pipeline_id}").json()["next_watermark"]

with warnings.catch_warnings(record=True):
    resynced = client.sync_pipeline_config(config)
results["resynced_watermark"] = resynced.watermark
print(json.dumps(results))
