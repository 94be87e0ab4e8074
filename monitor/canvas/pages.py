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
from collections.abc import Mapping
from dataclasses import dataclass

from monitor.core import canvas_json
from monitor.core.models import Conference


@dataclass(frozen=True, slots=True)
class Page:
    """The conferences of one page, and how many records it had without a usable id."""

    conferences: tuple[Conference, ...]
    skipped: int


def parse(body: bytes, held: Mapping[int, Conference] | None = None) -> Page | None:
    """The page ``body`` holds; None when it is not ``{"conferences": [...]}``; ``ValueError``
    when it is not valid JSON (``canvas_json``). A record whose text is that of the conference
    with its id in ``held`` is that conference."""
    records = canvas_json.decode_list(body, "conferences")
    if records is None:
        return None
    conferences = tuple(
        conference
        for record, data in records
        if (conference := _conference(record, data, held)) is not None
    )
    return Page(conferences, len(records) - len(conferences))


def _conference(
    record: object, data: bytes, held: Mapping[int, Conference] | None
) -> Conference | None:
    # A page changes when a conference on it or before it starts or ends; the others moved but
    # did not change. Keeping the object already held costs an unpacking to compare (2 us)
    # instead of a packing (5 us, ``models._pack``), and no new object.
    if held and type(record) is dict and type(conference_id := record.get("id")) is int:
        known = held.get(conference_id)
        if known is not None and known.data == data:
            return known
    return Conference.from_api(record, data)


#: Page URL -> (SHA-256 of the body, the page it held).
Pages = dict[str, tuple[bytes, Page]]


class PageMemory:
    """The pages of each remembered listing's last complete read, by the listing's path."""

    def __init__(self) -> None:
        self._known: dict[str, Pages] = {}
        #: The conferences of a listing's last read by id, while a read of it parses pages.
        self._held: dict[str, dict[int, Conference]] = {}

    def read(self, path: str, url: str, body: bytes, *, into: Pages) -> Page | None:
        """As ``parse``, from memory when the page of ``url`` has not changed; the page read is
        added to ``into``, the pages of the read under way."""
        digest = hashlib.sha256(body).digest()
        known = self._known.get(path, {}).get(url)
        if known is not None and known[0] == digest:
            page: Page | None = known[1]
        else:
            page = parse(body, self._held_in(path))
        if page is not None:
            into[url] = (digest, page)
        return page

    def _held_in(self, path: str) -> dict[int, Conference]:
        held = self._held.get(path)
        if held is None:
            pages = self._known.get(path, {}).values()
            held = self._held[path] = {c.id: c for _, page in pages for c in page.conferences}
        return held

    def keep(self, path: str, pages: Pages) -> None:
        """A complete read of ``path``: remember its pages, and only those, for the next one."""
        self._known[path] = pages
        self._held.pop(path, None)

    def forget_digests(self) -> None:
        """Take every page for changed on the next read, keeping its conferences (benchmarks)."""
        for pages in self._known.values():
            for url, (_, page) in pages.items():
                pages[url] = (b"", page)
