"""Request bodies and response rendering for executions (contract §7)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, model_validator

from ..core.fields import Id, Int64Count, JsonObject, UtcDatetime, Watermark
from ..core.rendering import render_row
from ..core.text import normalize
from .tables import API_COLUMNS


class StartExecution(BaseModel):
    pipeline_id: Id
    start_date: UtcDatetime | None = None
    watermark: Watermark = None
    next_watermark: Watermark = None
    parent_id: Id | None = None
    parent_execution_id: Id | None = None

    @model_validator(mode="after")
    def _one_parent(self):
        a, b = self.parent_id, self.parent_execution_id
        if a is not None and b is not None and a != b:
            raise ValueError("parent_id and parent_execution_id must match")
        parent = a if a is not None else b
        self.parent_id = parent or None  # 0 means "no parent"
        return self


class EndExecution(BaseModel):
    id: Id
    end_date: UtcDatetime
    completed_successfully: bool
    inserts: Int64Count | None = None
    updates: Int64Count | None = None
    soft_deletes: Int64Count | None = None
    total_rows: Int64Count | None = None
    execution_metadata: JsonObject = None

    def recorded_values(self) -> dict[str, Any]:
        """The optional keys present in the body (absent keys keep their stored value)."""
        optional = ("inserts", "updates", "soft_deletes", "total_rows", "execution_metadata")
        return {k: getattr(self, k) for k in optional if k in self.model_fields_set}


class StartedExecution(BaseModel):
    id: int


Status = Annotated[Literal["running", "succeeded", "failed"], BeforeValidator(normalize)]


EXECUTION_KEYS = tuple(str(column.name) for column in API_COLUMNS)  # plain str: orjson refuses subclasses as keys


def render_execution(row) -> dict[str, Any]:
    return render_row(row, EXECUTION_KEYS)
