"""Which pipelines a check looks at, and with which configuration (contract §10.2, §11.2)."""

from __future__ import annotations

from typing import NamedTuple


class Effective(NamedTuple):
    number: int
    datepart: str
    used_child_config: bool


def effective_config(own_number, own_datepart, type_number, type_datepart) -> Effective | None:
    """The pipeline's own pair when complete, else its type's complete pair, never a mix."""
    if own_number is not None and own_datepart is not None:
        return Effective(own_number, own_datepart, True)
    if type_number is not None and type_datepart is not None:
        return Effective(type_number, type_datepart, False)
    return None


def eligible(own_mute: bool, type_mute: bool, active: bool, skip_inactive: bool) -> bool:
    return not own_mute and not type_mute and (active or not skip_inactive)
