"""Watermark values are stored as text; this is the one conversion rule (contract §2.5)."""

import math

MAX_WATERMARK_LENGTH = 255


def watermark_text(value: object) -> object:
    """Convert a JSON scalar to its stored text. Raises ValueError for what cannot be stored."""
    if value is None or isinstance(value, str):
        text = value
    elif isinstance(value, bool):  # before int: bool is an int subclass
        text = "true" if value else "false"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("watermark must be a finite number")
        # repr() is the shortest round-trip text, with ".0" and the exponent form the contract wants
        text = repr(value)
    else:
        raise ValueError("watermark must be a string, number or boolean, not an object or list")
    if text is not None and len(text) > MAX_WATERMARK_LENGTH:
        raise ValueError(f"watermark must be at most {MAX_WATERMARK_LENGTH} characters")
    return text
