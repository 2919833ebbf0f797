"""Name normalisation: one rule for every name-like string the API receives."""


def normalize(value: object) -> object:
    """Trim and lower-case strings; leave other values for the type check to reject."""
    if isinstance(value, str):
        return value.strip().lower()
    return value


def contains_pattern(fragment: str) -> str:
    """A LIKE pattern matching `fragment` literally (``%`` and ``_`` lose their meaning)."""
    escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
