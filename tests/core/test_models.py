"""A conference is kept as its JSON text, packed (``monitor.core.conference``): whatever object
Canvas sent must come back unchanged, and packed objects must compare as their objects do."""

from __future__ import annotations

import json

from monitor.core import canvas_json
from monitor.core.models import Conference

CANVAS = {
    "id": 1000,
    "title": "Physics — lecture 3 ✓",
    "conference_type": "BigBlueButton",
    "description": None,
    "duration": 60,
    "ended_at": None,
    "started_at": "2026-11-24T12:55:37Z",
    "users": [2],
    "context_type": "Course",
    "context_id": 10002,
    "user_settings": {"record": False, "create_time": 1795524937000},
    "url": "https://canvas.example.edu/courses/10002/conferences/1000",
}


def records_in(body: bytes) -> list[Conference]:
    found = canvas_json.decode(body)["conferences"]
    conferences = [Conference.from_api(record) for record in found]
    return [c for c in conferences if c is not None]


def test_the_object_canvas_sent_comes_back_unchanged() -> None:
    odd = {"id": 7, "zzz": "a key no Canvas object has", "nested": {"x": [1.5, None, '\\"\n']}}
    large = {**CANVAS, "id": 8, "users": list(range(5_000, 7_000))}  # far beyond the window
    texts = [
        json.dumps(CANVAS, ensure_ascii=False, separators=(",", ":")),  # as Canvas writes it
        json.dumps(CANVAS),  # \u escapes
        json.dumps(CANVAS, indent=2),  # whitespace kept
        json.dumps(odd),
        json.dumps(large),
        '{"id":9}',
    ]
    body = ('{"conferences":[' + ",".join(texts) + "]}").encode()
    conferences = records_in(body)
    assert [c.raw for c in conferences] == [json.loads(t) for t in texts]
    assert [c.data for c in conferences] == [canvas_json.encode(json.loads(t)) for t in texts]
    assert conferences[4].started_at is not None
    assert conferences[4].context_id == 10002
    assert len(conferences[0].packed) < len(conferences[0].data) / 2  # packed, not just kept


def test_packed_conferences_compare_as_their_objects() -> None:
    text = json.dumps(CANVAS)
    first, again, respaced, retitled = records_in(
        (
            '{"conferences":['
            f"{text},{text},{json.dumps(CANVAS, indent=1)},"
            f"{json.dumps({**CANVAS, 'title': 'Chemistry'})}"
            "]}"
        ).encode()
    )
    assert first.packed == again.packed
    assert first.same(again)
    assert first.packed == respaced.packed  # the same values, written differently
    reordered = Conference.from_api(dict(reversed(CANVAS.items())))
    assert reordered is not None
    assert first.same(reordered)  # the same values, their keys in another order
    assert not first.same(retitled)
    assert Conference(1000, CANVAS).same(first)
    assert (first.conference_type, first.context_type) == ("BigBlueButton", "Course")
