"""What background work a request causes: the rules that turn API events into jobs, kept out of routers."""

from __future__ import annotations

from ..services import Services


def execution_ended(s: Services, execution_id: int, pipeline_id: int, succeeded: bool) -> None:
    """A successful end of a pipeline with active anomaly rules is checked in the background, after
    commit, so it never slows the answer (a lost trigger is found by the anomaly sweep)."""
    if succeeded and s.rule_index.may_watch(pipeline_id):
        s.jobs.enqueue("detect_anomalies", execution_id=execution_id)


async def rules_changed(s: Services) -> None:
    """Rules were created or changed here: this process's view of which pipelines have active rules
    follows at once (other processes refresh theirs every minute)."""
    await s.rule_index.refresh(s.db)
