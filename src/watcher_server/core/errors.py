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


class Conflict(DomainError):
    """The change would collide with another row (e.g. a rename onto a taken name)."""
