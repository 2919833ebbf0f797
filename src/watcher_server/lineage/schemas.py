"""Request bodies and response rendering for address types, addresses and lineage (contract §8-9)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, model_validator

from ..core.fields import Id, JsonObject, Name, Part
from ..core.rendering import render_row
from ..pipelines.schemas import require_id_or_name


class AddressTypeCreate(BaseModel):
    name: Name
    group_name: Name


class AddressTypeUpdate(BaseModel):
    id: Id | None = None
    name: Name = None
    group_name: Name = None

    @model_validator(mode="after")
    def _lookup_key(self):
        require_id_or_name(self)
        return self

    def changes(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.model_fields_set if k in ("name", "group_name")}


ADDRESS_PARTS = ("database_name", "schema_name", "table_name", "primary_key")


class AddressCreate(BaseModel):
    name: Name
    address_type_name: Name
    address_type_group_name: Name
    database_name: Part | None = None
    schema_name: Part | None = None
    table_name: Part | None = None
    primary_key: Part | None = None
    address_metadata: JsonObject = None

    def hashed_fields(self) -> dict[str, Any]:
        """Every recognised key present in the body, normalised (hash input, §8.2)."""
        return {k: getattr(self, k) for k in type(self).model_fields if k in self.model_fields_set}


class AddressUpdate(BaseModel):
    id: Id | None = None
    name: Name = None
    address_type_id: Id = None
    database_name: Part | None = None
    schema_name: Part | None = None
    table_name: Part | None = None
    primary_key: Part | None = None
    address_metadata: JsonObject = None

    @model_validator(mode="after")
    def _lookup_key(self):
        require_id_or_name(self)
        return self

    def changes(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.model_fields_set if k != "id"}


class AddressLineageCreate(BaseModel):
    pipeline_id: Id
    source_addresses: list[AddressCreate]
    target_addresses: list[AddressCreate]


def render_address_type(row) -> dict[str, Any]:
    return render_row(row, ("id", "name", "group_name", "created_at", "updated_at"))


ADDRESS_KEYS = (
    "id", "name", "address_type_id", "database_name", "schema_name", "table_name", "primary_key",
    "address_metadata", "input_hash", "created_at", "updated_at",
)  # fmt: skip


def render_address(row) -> dict[str, Any]:
    return render_row(row, ADDRESS_KEYS)
