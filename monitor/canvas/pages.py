"""Canvas pages already read: a page whose bytes have not changed is not parsed again.

Most polls find nothing new, and then Canvas answers every page with the very bytes it sent
the last time. Parsing them again would give the same conferences, so a listing remembers, per
page URL, a fingerprint of the body and the conferences it held, and a page with the same
fingerprint is answered from there: an idle poll costs the HTTP requests and a hash, not a
parse. Only a page that was read whole and valid is remembered (a failed page fails the poll
as before, invariant 1), and what a listing remembers is replaced by its last complete read, so
pages that are gone are forgotten.

The fingerprint is the body's length and Python's own hash of it: SipHash, keyed at random for
each process (unless ``PYTHONHASHSEED`` fixes the key), so a page cannot be made to collide on
purpose, and two different pages collide by chance once in 2^64. It costs 1.9 us for an 11 kB
page where SHA-256 cost 5.8 (bench: CPU of polling, 100 sources every second); keeping the
bodies to compare would cost the many-sources scenario ~11 MB it does not have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

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


#: Page URL -> (the body's fingerprint, the page it held).
Pages = dict[str, tuple[tuple[int, int], Page]]
#: A fingerprint no body has: the page is read as changed.
CHANGED: Final = (-1, 0)


def fingerprint(body: bytes) -> tuple[int, int]:
    return len(body), hash(body)


class PageMemory:
    """The pages of each remembered listing's last complete read, by the listing's path."""

    def __init__(self) -> None:
        self._known: dict[str, Pages] = {}

    def read(self, path: str, url: str, body: bytes, *, into: Pages) -> Page | None:
        """As ``parse``, from memory when the page of ``url`` has not changed; the page read is
        added to ``into``, the pages of the read under way."""
        digest = fingerprint(body)
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
                pages[url] = (CHANGED, page)
