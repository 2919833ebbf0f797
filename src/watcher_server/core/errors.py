"""What the domain services raise when a request cannot be done; the HTTP layer maps each to a status."""

from __future__ import annotations


class DomainError(Exception):
    """A failure the caller can fix, with a text that says what is wrong."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class Invalid(DomainError):
    """The request contradicts the stored data (e.g. an end before its start)."""


class NotFound(DomainError):
    """A referenced row does not exist."""


class Forbidden(DomainError):
    """The caller may not do this (a read-only login acting, a form from another site)."""


class Conflict(DomainError):
    """The change would collide with another row (e.g. a rename onto a taken name)."""


class Unprocessable(DomainError):
    """Well-formed input the server will not take (e.g. beyond a documented limit): 422 in the shape of
    a validation error, naming where (`loc`, e.g. ("body", "source_addresses")) and why."""

    def __init__(self, loc: tuple[str | int, ...], detail: str, kind: str = "value_error", input_value=None):
        super().__init__(detail)
        self.loc = loc
        self.kind = kind
        self.input_value = input_value
