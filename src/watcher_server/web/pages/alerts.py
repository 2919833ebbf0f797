"""TODO: the alerts page(s)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
