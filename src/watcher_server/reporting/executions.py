"""The execution page's read model: one run with its pipeline, its anomaly results, and the tree it belongs
to, read from the root ancestor down so the page shows its siblings too.

Every read is an index lookup: the run by primary key, the root through the closure's (child, depth) index,
the tree through its (parent, depth) index, capped at `max_nodes` rows nearest the root; the run's own
ancestors are always added, so the run is in the tree however large the tree is."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Integer, bindparam, func, select

from ..anomalies.tables import anomaly_detection_result as result
from ..core.errors import NotFound
from ..core.ids import fits_int64
from ..db.engine import Database
from ..executions.tables import pipeline_execution as pe
from ..executions.tables import pipeline_execution_closure as closure
from ..pipelines.tables import pipeline

MAX_TREE_NODES = 300  # runs drawn per tree: about 1 KB of page each (bar, list item, labels)
COUNT_CAP = 100_000  # past this many runs a tree's size is shown as "100,000+"

_ID = bindparam("execution_id", type_=BigInteger)
_ROOT_ID = bindparam("root_id", type_=BigInteger)

_RUN = select(pe, pipeline.c.name.label("pipeline_name")).join(pipeline, pipeline.c.id == pe.c.pipeline_id).where(pe.c.id == _ID)
# the farthest ancestor still stored (retention may have deleted older ones; their closure rows go with them)
_ROOT = (
    select(closure.c.parent_execution_id, closure.c.depth)
    .where(closure.c.child_execution_id == _ID)
    .order_by(closure.c.depth.desc())
    .limit(1)
)
_NODE_COLUMNS = (
    pe.c.id, pe.c.parent_id, pe.c.pipeline_id, pipeline.c.name.label("pipeline_name"), pe.c.start_date, pe.c.end_date,
    pe.c.completed_successfully, pe.c.duration_seconds, pe.c.total_rows,
)  # fmt: skip
# Nearest the root first, so the nodes kept always include every parent of a kept node.
_TREE = (
    select(*_NODE_COLUMNS, closure.c.depth)
    .select_from(closure.join(pe, pe.c.id == closure.c.child_execution_id).join(pipeline, pipeline.c.id == pe.c.pipeline_id))
    .where(closure.c.parent_execution_id == _ROOT_ID)
    .order_by(closure.c.depth, closure.c.child_execution_id)
    .limit(bindparam("most", type_=Integer))
)
_ANCESTORS = (
    select(*_NODE_COLUMNS, closure.c.depth)
    .select_from(closure.join(pe, pe.c.id == closure.c.parent_execution_id).join(pipeline, pipeline.c.id == pe.c.pipeline_id))
    .where(closure.c.child_execution_id == _ID)
)
_TREE_SIZE = select(func.count()).select_from(
    select(closure.c.child_execution_id).where(closure.c.parent_execution_id == _ROOT_ID).limit(COUNT_CAP + 1).subquery()
)
_RESULTS = select(result).where(result.c.pipeline_execution_id == _ID).order_by(result.c.metric_field)


@dataclass(frozen=True)
class TreeNode:
    id: int
    parent_id: int | None
    pipeline_id: int
    pipeline_name: str
    start_date: dt.datetime
    end_date: dt.datetime | None
    completed_successfully: bool | None
    duration_seconds: int | None
    total_rows: int | None
    depth: int  # hops below the root


@dataclass
class ExecutionPage:
    run: Any  # the pipeline_execution row with pipeline_name
    anomalies: list[Any]  # anomaly_detection_result rows of this run
    root_id: int
    tree: list[TreeNode]  # the root's tree, nearest the root first, at most `max_nodes` plus the run's ancestors
    tree_size: int  # runs in the whole tree, counted up to COUNT_CAP + 1
    parent_stored: bool  # whether the run's parent is still stored (retention may have deleted it)
    flagged: list[str] = field(default_factory=list)  # metrics whose anomaly flag is set

    @property
    def not_shown(self) -> int:
        return max(0, self.tree_size - len(self.tree))


async def execution_page(db: Database, execution_id: int, max_nodes: int = MAX_TREE_NODES) -> ExecutionPage:
    missing = f"Pipeline execution {execution_id} not found"
    if not fits_int64(execution_id):
        raise NotFound(missing)
    async with db.read() as conn:
        run = (await conn.execute(_RUN, {"execution_id": execution_id})).first()
        if run is None:
            raise NotFound(missing)
        found = (await conn.execute(_ROOT, {"execution_id": execution_id})).first()
        root_id, run_depth = (found.parent_execution_id, found.depth) if found is not None else (execution_id, 0)
        rows = (await conn.execute(_TREE, {"root_id": root_id, "most": max_nodes + 1})).all()
        tree = {row.id: _node(row, row.depth) for row in rows[:max_nodes]}
        size = len(tree)
        if len(rows) > max_nodes:
            size = (await conn.execute(_TREE_SIZE, {"root_id": root_id})).scalar_one()
            # the run and its ancestors, wherever they are in the tree: their depth below the root is
            # the run's minus their distance to it
            for row in await conn.execute(_ANCESTORS, {"execution_id": execution_id}):
                tree.setdefault(row.id, _node(row, run_depth - row.depth))
        anomalies = (await conn.execute(_RESULTS, {"execution_id": execution_id})).all()
    flags = run.anomaly_flags if isinstance(run.anomaly_flags, dict) else {}
    nodes = sorted(tree.values(), key=lambda node: (node.depth, node.id))
    return ExecutionPage(
        run=run,
        anomalies=anomalies,
        root_id=root_id,
        tree=nodes,
        tree_size=size,
        parent_stored=run.parent_id is not None and run.parent_id in tree,
        flagged=[metric for metric, flagged in sorted(flags.items()) if flagged is True],
    )


def _node(row, depth: int) -> TreeNode:
    return TreeNode(
        id=row.id,
        parent_id=row.parent_id,
        pipeline_id=row.pipeline_id,
        pipeline_name=row.pipeline_name,
        start_date=row.start_date,
        end_date=row.end_date,
        completed_successfully=row.completed_successfully,
        duration_seconds=row.duration_seconds,
        total_rows=row.total_rows,
        depth=depth,
    )
