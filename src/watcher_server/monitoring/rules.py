"""Which pipelines a check looks at, and with which configuration (contract §10.2, §11.2)."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import and_, case


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


def effective_config_columns(own_number, own_datepart, type_number, type_datepart):
    """`effective_config` as SQL, for checks that decide in the database: (number, datepart,
    used_child_config); number and datepart are NULL when neither level has a complete pair."""
    own = and_(own_number.is_not(None), own_datepart.is_not(None))
    typed = and_(type_number.is_not(None), type_datepart.is_not(None))
    return case((own, own_number), (typed, type_number)), case((own, own_datepart), (typed, type_datepart)), own


def eligible_condition(own_mute, type_mute, active, skip_inactive: bool):
    """`eligible` as SQL."""
    condition = and_(own_mute.is_(False), type_mute.is_(False))
    return and_(condition, active.is_(True)) if skip_inactive else condition
