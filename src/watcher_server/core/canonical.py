"""Stable change-detection hash of a configuration (contract §6.1)."""

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def config_hash(fields: dict[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON of the fields that were present in the request."""
    return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()
