"""Canvas's two pagination styles and its ``Link`` header.

``for_user`` pages with bookmarks (``page=first``, then ``page=bookmark:<opaque>``, where the
opaque part is unpadded urlsafe base64 of the JSON sort key of the last item shown): no ``prev``,
and ``last`` only on the final page. ``index`` pages by number; a page past the end is empty.
``per_page`` follows ``Api.per_page_for``: Ruby's ``to_i``, clamped to 1..100.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from urllib.parse import quote

from multidict import MultiMapping

from monitor.simulator.records import SimConference
from monitor.simulator.serialize import iso, parse_iso

DEFAULT_PER_PAGE: Final = 10
MAX_PER_PAGE: Final = 100
BOOKMARK_PREFIX: Final = "bookmark:"
_LEADING_INT = re.compile(r"\s*([-+]?\d+)")

SortKey = tuple[datetime, int]


def ruby_to_i(text: str | None) -> int:
    """Ruby's ``String#to_i``: the leading integer, or 0."""
    match = _LEADING_INT.match(text or "")
    if not match:
        return 0
    number = match.group(1)
    if len(number.lstrip("+-")) > 18:  # Ruby makes a bignum; anything this big clamps anyway
        return -(10**18) if number.startswith("-") else 10**18
    return int(number)


def per_page(query: MultiMapping[str]) -> int:
    raw = query.get("per_page")
    wanted = DEFAULT_PER_PAGE if raw is None else ruby_to_i(raw)
    return min(max(wanted, 1), MAX_PER_PAGE)


def page_number(query: MultiMapping[str]) -> int:
    """The requested numbered page; anything below 1 or not a number means page 1."""
    return max(ruby_to_i(query.get("page")), 1)


def encode_bookmark(key: SortKey) -> str:
    raw = json.dumps([iso(key[0]), key[1]], separators=(",", ":")).encode()
    return BOOKMARK_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_bookmark(page: str | None) -> SortKey | None:
    """The sort key a ``bookmark:`` page continues after; ``None`` (first page) if unreadable."""
    if not page or not page.startswith(BOOKMARK_PREFIX):
        return None
    opaque = page.removeprefix(BOOKMARK_PREFIX)
    try:
        created, conf_id = json.loads(base64.urlsafe_b64decode(opaque + "=" * (-len(opaque) % 4)))
        if not isinstance(created, str) or not isinstance(conf_id, int):
            return None
        return (parse_iso(created), conf_id)
    except (binascii.Error, ValueError, TypeError):
        return None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[SimConference]
    next_page: str | None  # the ``page`` value of the next page, if there is one


def bookmark_page(confs: Sequence[SimConference], page: str | None, size: int) -> Page:
    """One page of a list sorted ``created_at DESC, id DESC``, after the bookmark if any."""
    after = decode_bookmark(page)
    rest = [c for c in confs if after is None or c.sort_key < after]
    items = rest[:size]
    more = len(rest) > size
    return Page(items, encode_bookmark(items[-1].sort_key) if more and items else None)


def numbered_page(confs: Sequence[SimConference], page: int, size: int) -> tuple[Page, int]:
    """One numbered page and the number of the last page (at least 1)."""
    last = max(1, math.ceil(len(confs) / size))
    items = list(confs[(page - 1) * size : page * size])
    return Page(items, str(page + 1) if page < last else None), last


class BookmarkPages:
    """Which page of its sequence each bookmark we handed out leads to (for page faults)."""

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._numbers: OrderedDict[tuple[str, str], int] = OrderedDict()

    def remember(self, path: str, bookmark: str, number: int) -> None:
        self._numbers[(path, bookmark)] = number
        self._numbers.move_to_end((path, bookmark))
        while len(self._numbers) > self._limit:
            self._numbers.popitem(last=False)

    def number(self, path: str, page: str | None) -> int | None:
        """1 for the first page; the remembered number for a bookmark; ``None`` if unknown."""
        if page is None or page == "first" or decode_bookmark(page) is None:
            return 1
        return self._numbers.get((path, page))


def link_header(
    base: str, query: MultiMapping[str], size: int, rels: Sequence[tuple[str, str]]
) -> str:
    """``<url>; rel="current",<url>; rel="next",...``: original params, then page and per_page."""
    kept = [(k, v) for k, v in query.items() if k not in ("page", "per_page")]
    links = []
    for rel, page in rels:
        params = [*kept, ("page", page), ("per_page", str(size))]
        qs = "&".join(f"{quote(k, safe='[]')}={quote(v, safe=':[]')}" for k, v in params)
        links.append(f'<{base}?{qs}>; rel="{rel}"')
    return ",".join(links)
