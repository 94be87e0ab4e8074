"""Pages already read (``monitor.pages``): an unchanged page is answered from memory, a changed
one is parsed, and nothing a failed read saw is remembered. Against a real loopback Canvas
(``ScriptedCanvas``), through ``CanvasClient``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from monitor.canvas import client as canvas_module
from monitor.canvas import pages as pages_module
from monitor.canvas.client import CanvasClient
from monitor.canvas.lane import Deadline
from monitor.core.errors import CanvasError
from monitor.observe.metrics import Metrics
from tests.support.canvas_helpers import (
    LIVE,
    ScriptedCanvas,
    fast_source,
    http_session,
    make_client,
    new_metrics,
    sample,
)

COURSE = "/api/v1/courses/101/conferences"


def page(*ids: int, title: str = "T", extra: list[Any] | None = None) -> bytes:
    records: list[Any] = [{"id": i, "title": title, "context_type": "Course"} for i in ids]
    return json.dumps({"conferences": records + (extra or [])}).encode()


@dataclass
class Rig:
    canvas: ScriptedCanvas
    client: CanvasClient
    metrics: Metrics
    parsed: list[bytes]

    def serve(self, *bodies: bytes, path: str = LIVE) -> None:
        """One read of a listing: its pages in order, linked by ``Link: rel="next"``."""
        for number, body in enumerate(bodies, 1):
            headers = {}
            if number < len(bodies):
                headers["Link"] = f'<{self.canvas.url}{path}?page={number + 1}>; rel="next"'
            self.canvas.answer(path, body=body, headers=headers)


@pytest.fixture
async def rig(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    parsed: list[bytes] = []
    real_parse = pages_module.parse

    def counting_parse(body: bytes) -> pages_module.Page | None:
        parsed.append(body)
        return real_parse(body)

    monkeypatch.setattr(pages_module, "parse", counting_parse)
    monkeypatch.setattr(canvas_module, "parse", counting_parse)
    async with ScriptedCanvas() as canvas, http_session() as session:
        metrics = new_metrics()
        yield Rig(canvas, make_client(session, fast_source(canvas.url), metrics), metrics, parsed)


async def test_an_unchanged_page_is_not_parsed_again(rig: Rig) -> None:
    rig.serve(page(1, 2), page(3))
    first = await rig.client.live(Deadline(5))
    assert len(rig.parsed) == 2
    rig.serve(page(1, 2), page(3))
    again = await rig.client.live(Deadline(5))
    assert len(rig.parsed) == 2  # both answered from memory
    assert [c.id for c in again] == [1, 2, 3]
    assert all(a is b for a, b in zip(first, again, strict=True))


async def test_a_changed_page_is_parsed_and_the_others_are_not(rig: Rig) -> None:
    rig.serve(page(1, 2), page(3))
    await rig.client.live(Deadline(5))
    rig.serve(page(1, 2), page(3, title="renamed"))
    conferences = await rig.client.live(Deadline(5))
    assert rig.parsed[2:] == [page(3, title="renamed")]
    assert conferences[2].title == "renamed"
    rig.serve(page(1, 2), page(3))  # and back: a page is remembered from the last read only
    await rig.client.live(Deadline(5))
    assert rig.parsed[3:] == [page(3)]


async def test_conferences_that_moved_to_a_changed_page_are_the_same(rig: Rig) -> None:
    rig.serve(page(1, 2), page(3))
    first = {c.id: c for c in await rig.client.live(Deadline(5))}
    rig.serve(page(9, 1), page(2, 3))  # 9 started: every page changed, 1, 2 and 3 did not
    moved = {c.id: c for c in await rig.client.live(Deadline(5))}
    assert len(rig.parsed) == 4
    assert all(moved[i].same(first[i]) for i in (1, 2, 3))
    rig.serve(page(1), page(2), page(3, title="renamed"))
    renamed = {c.id: c for c in await rig.client.live(Deadline(5))}
    assert renamed[1].same(first[1])
    assert not renamed[3].same(first[3])
    assert renamed[3].title == "renamed"


async def test_the_same_bytes_at_another_url_are_parsed(rig: Rig) -> None:
    rig.serve(page(1), page(1, 2))
    await rig.client.live(Deadline(5))
    rig.serve(page(1, 2), page(1))  # page 2's bytes now on page 1, and the other way round
    assert [c.id for c in await rig.client.live(Deadline(5))] == [1, 2, 1]
    assert len(rig.parsed) == 4


async def test_a_failed_read_changes_what_is_remembered_not(rig: Rig) -> None:
    rig.serve(page(1), page(2))
    await rig.client.live(Deadline(5))
    rig.canvas.answer(
        LIVE, body=page(7), headers={"Link": f'<{rig.canvas.url}{LIVE}?page=2>; rel="next"'}
    )
    rig.canvas.answer(LIVE, body=b'{"conferences": [')  # page 2 is garbage: the read fails
    with pytest.raises(CanvasError):
        await rig.client.live(Deadline(5))
    rig.serve(page(1), page(2))
    await rig.client.live(Deadline(5))
    assert rig.parsed == [page(1), page(2), page(7), b'{"conferences": [']  # remembered still


async def test_records_without_an_id_are_counted_on_every_read(rig: Rig) -> None:
    body = page(1, extra=[{"id": "x"}, None])
    for _ in range(3):
        rig.serve(body)
        assert [c.id for c in await rig.client.live(Deadline(5))] == [1]
    assert len(rig.parsed) == 1
    assert sample(rig.metrics, "conference_monitor_invalid_records_total", source="main") == 6


async def test_contexts_are_remembered_only_when_asked(rig: Rig) -> None:
    for remember in (False, False, True, True):
        rig.serve(page(5), path=COURSE)
        await rig.client.context("Course", 101, Deadline(5), remember=remember)
    assert len(rig.parsed) == 3  # the last read came from memory


async def test_a_page_changed_in_place_to_the_same_length_is_parsed(rig: Rig) -> None:
    rig.serve(page(1, title="Morning"))
    await rig.client.live(Deadline(5))
    rig.serve(page(1, title="Evening"))  # other bytes, as many: the fingerprint still differs
    (conference,) = await rig.client.live(Deadline(5))
    assert conference.title == "Evening"
    assert len(rig.parsed) == 2
