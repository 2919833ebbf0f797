"""Previous/next links for a paged list, keeping the page's other query parameters."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import Request

PAGE_SIZE = 50


@dataclass(frozen=True)
class Pager:
    number: int  # 1-based
    size: int
    has_next: bool
    previous_url: str | None
    next_url: str | None

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def label(self) -> str:
        return f"page {self.number}"


def pager(request: Request, number: int, size: int, has_next: bool, param: str = "page") -> Pager:
    """Links to the neighbouring pages of `request`'s URL. Fetch size + 1 rows to learn `has_next`."""

    def url(n: int) -> str:
        query = [(k, v) for k, v in request.query_params.multi_items() if k not in (param, "done")]
        if n > 1:
            query.append((param, str(n)))
        return request.url.path + (("?" + urlencode(query)) if query else "")

    return Pager(number, size, has_next, url(number - 1) if number > 1 else None, url(number + 1) if has_next else None)
