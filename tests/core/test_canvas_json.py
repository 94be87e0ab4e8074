"""The strict JSON reader's fast paths (``monitor.canvas_json``) against a plain reference.

``decode`` checks depth by walking containers only and decides from the raw bytes whether any
string may hold a lone surrogate. These tests hold it to the straightforward rule it replaced
(walk every value; repair every string), on generated values in every encoding ``json.loads``
accepts, and pin the edges: nesting just under and over ``MAX_DEPTH``, a lone surrogate that
arrives as an escape, as its UTF-8 form, or in UTF-16.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.core.canvas_json import MAX_DEPTH, decode
from tests.canvas.test_fuzz_canvas import repaired


def reference(body: bytes) -> Any:
    """The rule, spelled out: ``json.loads``, then a walk over every value."""
    value = json.loads(body, parse_constant=_refuse, parse_float=_finite)
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise ValueError("too deep")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return repaired(value)


def _refuse(name: str) -> Any:
    raise ValueError(name)


def _finite(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError(text)
    return number


def outcome(read: Any, body: bytes) -> Any:
    try:
        return ("value", read(body))
    except (RecursionError, ValueError):  # RecursionError: json.loads on ~1,000 levels
        return ("error", None)


def nested(levels: int, inner: str = "1", *, kind: str = "[") -> bytes:
    close = "]" if kind == "[" else "}"
    opening = kind if kind == "[" else '{"k":'
    return (opening * levels + inner + close * levels).encode()


TEXT = st.text(st.characters(categories=["Cs"]) | st.characters(), max_size=6)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=40,
)
DEEP = st.integers(MAX_DEPTH - 2, MAX_DEPTH + 2).flatmap(
    lambda levels: st.builds(
        lambda inner, kind: nested(levels, inner, kind=kind),
        st.sampled_from(["1", "[]", "{}", '"\\ud800"', '"x"', "[1]"]),
        st.sampled_from(["[", "{"]),
    )
)
ENCODINGS = st.sampled_from(["utf-8", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"])


def encoded(value: Any, ascii_only: bool, encoding: str) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode(encoding, "surrogatepass")


@settings(max_examples=400, deadline=None)
@given(value=VALUES, ascii_only=st.booleans(), encoding=ENCODINGS)
def test_any_value_in_any_encoding_reads_as_the_reference_does(
    value: Any, ascii_only: bool, encoding: str
) -> None:
    body = encoded(value, ascii_only, encoding)
    assert outcome(decode, body) == outcome(reference, body)


@settings(max_examples=200, deadline=None)
@given(body=DEEP | st.binary(max_size=60))
@example(body=b'["\\ud800", "\\\\ud800"]')
@example(body=b'{"\xed\xa0\x80": "\xed\xbf\xbf"}')
def test_any_bytes_read_as_the_reference_does(body: bytes) -> None:
    assert outcome(decode, body) == outcome(reference, body)


@pytest.mark.parametrize("kind", ["[", "{"])
@pytest.mark.parametrize(
    ("levels", "inner", "accepted"),
    [
        (MAX_DEPTH, "1", True),
        (MAX_DEPTH, '"deep scalar"', True),
        (MAX_DEPTH - 1, "[]", True),  # the empty list is the 32nd level
        (MAX_DEPTH, "[]", False),  # ... and here the 33rd, empty or not
        (MAX_DEPTH, "{}", False),
        (MAX_DEPTH + 1, "1", False),
    ],
)
def test_depth_just_under_and_over_the_limit(
    kind: str, levels: int, inner: str, accepted: bool
) -> None:
    body = nested(levels, inner, kind=kind)
    if accepted:
        assert decode(body) == json.loads(body)
    else:
        with pytest.raises(ValueError, match=f"deeper than {MAX_DEPTH}"):
            decode(body)


def test_a_deep_branch_after_shallow_ones_is_found() -> None:
    page = {"conferences": [{"id": i, "users": [1], "settings": {}} for i in range(50)]}
    page["conferences"].append({"id": 99, "x": json.loads(nested(MAX_DEPTH))})
    with pytest.raises(ValueError, match="deeper than"):
        decode(json.dumps(page).encode())


@pytest.mark.parametrize(
    ("body", "title"),
    [
        (b'{"title": "a\\ud800b"}', "a\ufffdb"),  # an escape, lower case
        (b'{"title": "a\\uDFFFb"}', "a\ufffdb"),  # upper case
        (b'{"title": "a\\udBffb"}', "a\ufffdb"),  # mixed
        (b'{"title": "a\xed\xa0\x80b"}', "a\ufffdb"),  # the UTF-8 form json.loads lets through
        ('{"title": "a\ud800b"}'.encode("utf-16", "surrogatepass"), "a\ufffdb"),
        (b'{"title": "\\ud83d\\ude00"}', "\U0001f600"),  # a pair is a character, kept
        (b'{"title": "\\\\ud800"}', "\\ud800"),  # an escaped backslash, no surrogate
        (b'{"title": "\\u00e9t\\u00e9"}', "\u00e9t\u00e9"),
    ],
)
def test_lone_surrogates_are_repaired_however_they_arrive(body: bytes, title: str) -> None:
    value = decode(body)
    assert value == {"title": title}
    json.dumps(value, ensure_ascii=False).encode()  # encodable


def test_keys_are_repaired_too() -> None:
    assert decode(b'{"\\ud800": ["\\udc00", {"\\udfff": 1}]}') == {
        "\ufffd": ["\ufffd", {"\ufffd": 1}]
    }
