"""Which pipelines a check looks at, and with which configuration (contract §10.2, §11.2).

The checks decide these in SQL, over all pipelines at once; tests/monitoring/test_rule_sql.py holds
the contract's wording of both rules and checks every combination against these expressions."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import and_, case


class Effective(NamedTuple):
    """A pipeline's effective (number, datepart), and whether it is the pipeline's own pair."""

    number: int
    datepart: str
    used_child_config: bool


def effective_config_columns(own_number, own_datepart, type_number, type_datepart):
    """(number, datepart, used_child_config): the pipeline's own pair when complete, else its type's
    complete pair, never a mix; number and datepart are NULL when neither level has a complete pair."""
    own = and_(own_number.is_not(None), own_datepart.is_not(None))
    typed = and_(type_number.is_not(None), type_datepart.is_not(None))
    return case((own, own_number), (typed, type_number)), case((own, own_datepart), (typed, type_datepart)), own


def eligible_condition(own_mute, type_mute, active, skip_inactive: bool):
    """Not muted on the pipeline nor on its type, and active when inactive pipelines are skipped."""
    condition = and_(own_mute.is_(False), type_mute.is_(False))
    return and_(condition, active.is_(True)) if skip_inactive else condition
