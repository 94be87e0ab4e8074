"""Canvas pages already read: a page whose bytes have not changed is not parsed again.

Most polls find nothing new, and then Canvas answers every page with the very bytes it sent
the last time. Parsing them again would give the same conferences, so a listing remembers, per
page URL, the SHA-256 of the body and the conferences it held, and a page with the same digest
is answered from there: an idle poll costs the HTTP requests and a hash, not a parse. Only a
page that was read whole and valid is remembered (a failed page fails the poll as before,
invariant 1), and what a listing remembers is replaced by its last complete read, so pages
that are gone are forgotten.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from monitor.core import canvas_json
from monitor.core.models import Conference


@dataclass(frozen=True, slots=True)
class Page:
    """The conferences of one page, and how many records it had without a usable id."""

    conferences: tuple[Conference, ...]
    skipped: int


def parse(body: bytes) -> Page | None:
    """The page ``body`` holds; None when it is not ``{"conferences": [...]}``; ``ValueError``
    when it is not valid JSON (``canvas_json``)."""
    payload = canvas_json.decode(body)
    records = payload.get("conferences") if isinstance(payload, dict) else None
    if not isinstance(records, list):
        return None
    conferences = tuple(c for r in records if (c := Conference.from_api(r)) is not None)
    return Page(conferences, len(records) - len(conferences))


#: Page URL -> (SHA-256 of the body, the page it held).
Pages = dict[str, tuple[bytes, Page]]


class PageMemory:
    """The pages of each remembered listing's last complete read, by the listing's path."""

    def __init__(self) -> None:
        self._known: dict[str, Pages] = {}

    def read(self, path: str, url: str, body: bytes, *, into: Pages) -> Page | None:
        """As ``parse``, from memory when the page of ``url`` has not changed; the page read is
        added to ``into``, the pages of the read under way."""
        digest = hashlib.sha256(body).digest()
        known = self._known.get(path, {}).get(url)
        page = known[1] if known is not None and known[0] == digest else parse(body)
        if page is not None:
            into[url] = (digest, page)
        return page

    def keep(self, path: str, pages: Pages) -> None:
        """A complete read of ``path``: remember its pages, and only those, for the next one."""
        self._known[path] = pages

    def forget_digests(self) -> None:
        """Take every page for changed on the next read (benchmarks)."""
        for pages in self._known.values():
            for url, (_, page) in pages.items():
                pages[url] = (b"", page)
