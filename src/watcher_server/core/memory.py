"""Garbage-collector control for short, allocation-heavy stretches of synchronous work."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block. A check that builds one small object per pipeline
    (100,000 of them) otherwise triggers collections that walk all of them again and again; the block
    must not await, so no other request runs while collection is off."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
