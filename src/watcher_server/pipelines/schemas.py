"""Request bodies and response rendering for pipeline types and pipelines (contract §5-6)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, model_validator

from ..core.fields import DatePartValue, Id, Int32Positive, JsonObject, Name, Watermark
from ..core.rendering import render_row

MONITORING_FIELDS = (
    "freshness_number",
    "freshness_datepart",
    "mute_freshness_check",
    "timeliness_number",
    "timeliness_datepart",
    "mute_timeliness_check",
)


def require_id_or_name(model: BaseModel) -> None:
    if model.id is None and model.name is None:
        raise ValueError("Either 'id' or 'name' must be provided")


class PipelineTypeCreate(BaseModel):
    name: Name
    freshness_number: Int32Positive | None = None
    freshness_datepart: DatePartValue | None = None
    mute_freshness_check: bool = False
    timeliness_number: Int32Positive | None = None
    timeliness_datepart: DatePartValue | None = None
    mute_timeliness_check: bool = False


class PipelineTypeUpdate(BaseModel):
    id: Id | None = None
    name: Name = None
    freshness_number: Int32Positive | None = None
    freshness_datepart: DatePartValue | None = None
    mute_freshness_check: bool = None
    timeliness_number: Int32Positive | None = None
    timeliness_datepart: DatePartValue | None = None
    mute_timeliness_check: bool = None

    @model_validator(mode="after")
    def _lookup_key(self):
        require_id_or_name(self)
        return self

    def changes(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.model_fields_set if k in MONITORING_FIELDS or k == "name"}


HASHED_PIPELINE_FIELDS = (
    "name",
    "pipeline_type_name",
    "pipeline_metadata",
    "freshness_number",
    "freshness_datepart",
    "timeliness_number",
    "timeliness_datepart",
)


class PipelineCreate(BaseModel):
    name: Name
    pipeline_type_name: Name
    next_watermark: Watermark = None
    pipeline_metadata: JsonObject = None
    freshness_number: Int32Positive | None = None
    freshness_datepart: DatePartValue | None = None
    timeliness_number: Int32Positive | None = None
    timeliness_datepart: DatePartValue | None = None

    @model_validator(mode="after")
    def _pairs(self):
        for kind in ("freshness", "timeliness"):
            if (getattr(self, f"{kind}_number") is None) != (getattr(self, f"{kind}_datepart") is None):
                raise ValueError(f"Both {kind}_number and {kind}_datepart must be provided together")
        return self

    def hashed_fields(self) -> dict[str, Any]:
        """The recognised configuration keys present in the body, normalised (hash input, §6.1)."""
        return {k: getattr(self, k) for k in HASHED_PIPELINE_FIELDS if k in self.model_fields_set}


class PipelineCreated(BaseModel):
    id: int
    active: bool
    load_lineage: bool
    watermark: str | None


class PipelineUpdate(BaseModel):
    id: Id | None = None
    pipeline_id: Id | None = None
    name: Name = None
    pipeline_type_id: Id = None
    watermark: Watermark = None
    next_watermark: Watermark = None
    pipeline_metadata: JsonObject = None
    freshness_number: Int32Positive | None = None
    freshness_datepart: DatePartValue | None = None
    mute_freshness_check: bool = None
    timeliness_number: Int32Positive | None = None
    timeliness_datepart: DatePartValue | None = None
    mute_timeliness_check: bool = None
    load_lineage: bool = None
    active: bool = None

    @model_validator(mode="after")
    def _lookup_key(self):
        if self.id is not None and self.pipeline_id is not None and self.id != self.pipeline_id:
            raise ValueError("id and pipeline_id must match")
        if self.id is None:
            self.id = self.pipeline_id
        require_id_or_name(self)
        return self

    def changes(self) -> dict[str, Any]:
        skip = {"id", "pipeline_id"}
        return {k: getattr(self, k) for k in self.model_fields_set if k not in skip}


class IdResponse(BaseModel):
    id: int


PIPELINE_TYPE_KEYS = (
    "id", "name", "freshness_number", "freshness_datepart", "mute_freshness_check",
    "timeliness_number", "timeliness_datepart", "mute_timeliness_check", "created_at", "updated_at",
)  # fmt: skip


def render_pipeline_type(row) -> dict[str, Any]:
    return render_row(row, PIPELINE_TYPE_KEYS)


PIPELINE_KEYS = (
    "id", "name", "pipeline_type_id", "watermark", "next_watermark", "pipeline_metadata",
    "last_target_insert", "last_target_update", "last_target_soft_delete",
    "freshness_number", "freshness_datepart", "mute_freshness_check",
    "timeliness_number", "timeliness_datepart", "mute_timeliness_check",
    "load_lineage", "active", "input_hash", "created_at", "updated_at",
)  # fmt: skip


def render_pipeline(row) -> dict[str, Any]:
    return render_row(row, PIPELINE_KEYS)
