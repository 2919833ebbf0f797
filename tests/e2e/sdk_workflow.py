"""Runs under the SDK's own Python (3.12) with the public etl-watcher-sdk, as its users write it.

Usage: python sdk_workflow.py BASE_URL ; prints one JSON line of results.
"""

import json
import sys
import warnings

import httpx
import pendulum
from watcher import (
    Address,
    AddressLineage,
    ETLResult,
    Pipeline,
    PipelineConfig,
    Watcher,
    WatcherContext,
)

base_url = sys.argv[1]
client = Watcher(base_url)
results = {}


def config(name, source, target):
    return PipelineConfig(
        pipeline=Pipeline(name=name, pipeline_type_name="sdk", freshness_number=2, freshness_datepart="hour"),
        address_lineage=AddressLineage(
            source_addresses=[Address(name=source, address_type_name="postgres", address_type_group_name="database")],
            target_addresses=[Address(name=target, address_type_name="snowflake", address_type_group_name="database")],
        ),
        default_watermark="1970-01-01",
        next_watermark="2024-06-01",
    )


parent_config = config("SDK Pipeline", "db.sales.orders", "dw.sales.orders")
child_config = config("sdk child", "dw.sales.orders", "dw.marts.daily_orders")

# First sync: creates the pipelines and posts their lineage (load_lineage starts true).
synced = client.sync_pipeline_config(parent_config)
child = client.sync_pipeline_config(child_config)
results["synced_id"] = synced.pipeline.id
results["child_pipeline_id"] = child.pipeline.id
results["first_watermark"] = synced.watermark


@client.track_pipeline_execution(pipeline_id=synced.pipeline.id, active=synced.pipeline.active, next_watermark="2024-06-01")
def parent_job(watcher_context: WatcherContext):
    results["parent_execution_id"] = watcher_context.execution_id

    def child_job(watcher_context: WatcherContext):
        results["child_execution_id"] = watcher_context.execution_id
        return ETLResult(completed_successfully=True, inserts=3, total_rows=3)

    client.track_child_pipeline_execution(
        pipeline_id=child.pipeline.id, active=True, parent_execution_id=watcher_context.execution_id, func=child_job
    )
    return ETLResult(completed_successfully=True, inserts=10, updates=2, total_rows=12, execution_metadata={"rows": 12})


parent_job()

# The explicit API: start with the SDK's parent_execution_id key, end, and move the watermark.
manual = client.start_pipeline_execution(pipeline_id=child.pipeline.id, parent_execution_id=results["parent_execution_id"])
client.end_pipeline_execution(
    manual, completed_successfully=False, end_date=pendulum.now("UTC").add(seconds=1), execution_metadata={"error": "boom"}
)
results["manual_execution_id"] = manual
client.update_pipeline_next_watermark(synced.pipeline.id, "2024-07-01")
results["patched_next_watermark"] = httpx.get(f"{base_url}/pipeline/{synced.pipeline.id}").json()["next_watermark"]

# Second sync: the watermark reached by the run comes back; lineage is not posted again.
with warnings.catch_warnings(record=True):
    resynced = client.sync_pipeline_config(parent_config)
results["resynced_watermark"] = resynced.watermark

# The check triggers: queued, whichever runner the server uses.
client.trigger_freshness_check()
client.trigger_timeliness_check(lookback_minutes=60)
client.trigger_celery_queue_check()
print(json.dumps(results))
