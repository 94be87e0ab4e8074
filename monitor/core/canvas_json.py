"""Canvas's JSON, read strictly: what an answer may hold before anything downstream sees it.

``json.loads`` alone is too lenient and too fragile for a parser that faces the network. It
accepts ``NaN`` and ``Infinity`` (not JSON: they would be sent on to receivers as invalid JSON,
and ``NaN != NaN`` would make a record look changed on every poll), turns ``1e999`` into
infinity, raises ``RecursionError`` rather than ``ValueError`` on deeply nested input, and
returns strings holding lone surrogates that cannot be encoded as UTF-8 again, so an event
about such a conference could never be written.

``decode`` refuses the first three (``ValueError``: the answer is not valid, the poll fails and
nothing changes) and repairs the last (each lone surrogate becomes U+FFFD), so whatever it
returns can be stored, compared and re-encoded at any depth the rest of the monitor reaches.

Every poll decodes every page, so the checks after ``json.loads`` are kept cheap (together
about a third of ``json.loads`` itself): the depth walk visits containers only, and whether a
string may need repair is read from the raw bytes, so clean pages (nearly all) skip the repair.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

#: Deepest nesting an answer may have. Canvas conference objects nest a handful of levels
#: (page, list, conference, recordings, recording, playback formats, format).
MAX_DEPTH: Final = 32
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
# ``json.loads`` decodes bytes with ``surrogatepass``, so a lone surrogate reaches a string in
# two ways only: a ``\uD800``-``\uDFFF`` escape, or its (invalid) UTF-8 form, ED A0-BF xx.
# Pages in other encodings (UTF-16, UTF-32, which json.loads also takes) are always repaired.
_SURROGATE_ESCAPE: Final = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE_UTF8: Final = re.compile(rb"\xed[\xa0-\xbf]")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError("a number out of range")
    return number


_DECODER: Final = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite)


def decode(body: bytes) -> Any:
    """The JSON value of ``body``; ``ValueError`` (with a short reason) when it is not one."""
    encoding = json.detect_encoding(body)
    try:  # what json.loads(body, ...) does, with one decoder made once
        value = _DECODER.decode(body.decode(encoding, "surrogatepass"))
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if type(value) is dict or type(value) is list:
        _check_depth(value, 1)
    if _may_hold_surrogates(body, encoding):
        value = _repair(value)
    return value


def decode_list(body: bytes, key: str) -> list[tuple[Any, bytes]] | None:
    """The items of the list under ``key`` of the object ``body`` holds, each with its own JSON
    text (UTF-8, as ``encode`` would give or as Canvas wrote it); None when ``body`` is valid
    but not such an object; ``ValueError`` as ``decode``.

    A Canvas page is ``{"conferences": [...]}`` and the monitor keeps each record as its text
    (``models.Conference``). For such a page, the records are parsed one by one where they
    stand, so each one's text is a slice of the page: no second encoding, and each parsed
    record is dropped at once, not kept in a list of thousands. Any other page, or one that
    needs a repair or fails a check, is decoded whole by ``decode``, which decides as always.
    """
    fast = _items_in_place(body, key)
    if fast is not None:
        return fast
    payload = decode(body)
    items = payload.get(key) if isinstance(payload, dict) else None
    if not isinstance(items, list):
        return None
    return [(item, encode(item)) for item in items]


def encode(value: Any) -> bytes:
    """Compact JSON, UTF-8 (what ``decode`` returns always encodes)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


_WHITESPACE: Final = re.compile(r"[ \t\n\r]*")  # JSON's four
_END: Final = re.compile(r"\][ \t\n\r]*\}[ \t\n\r]*")


def _items_in_place(body: bytes, key: str) -> list[tuple[Any, bytes]] | None:
    """``decode_list`` for a plain ``{key: [item, ...]}`` in UTF-8 without surrogate escapes;
    None for anything else (``decode`` then has the last word, errors included)."""
    if json.detect_encoding(body) != "utf-8" or _may_hold_surrogates(body, "utf-8"):
        return None
    items: list[tuple[Any, bytes]] = []
    try:
        text = body.decode()
        ws = "[ \t\n\r]*"
        start = re.match(f'{ws}\\{{{ws}"{re.escape(key)}"{ws}:{ws}\\[', text)
        if start is None:
            return None
        at = _skip(text, start.end())
        while text[at] != "]":
            if items:  # after the first item, a comma
                if text[at] != ",":
                    return None
                at = _skip(text, at + 1)
            item, end = _DECODER.raw_decode(text, at)
            if type(item) is dict or type(item) is list:
                _check_depth(item, 3)  # the page is level 1, the list 2, the item 3
            items.append((item, text[at:end].encode()))
            at = _skip(text, end)
    except (ValueError, IndexError, RecursionError):
        return None
    return items if _END.fullmatch(text, at) else None


def _skip(text: str, at: int) -> int:
    """Where the whitespace from ``at`` on ends."""
    return _WHITESPACE.match(text, at).end()  # type: ignore[union-attr]  # always matches


def _check_depth(container: dict[str, Any] | list[Any], depth: int) -> None:
    """``ValueError`` when a container nested in ``container`` (at ``depth``) passes
    ``MAX_DEPTH``. Recursion is bounded by ``MAX_DEPTH``; ``json`` makes exact dicts and lists,
    so ``type() is`` suffices, and scalars (most values) cost one comparison each."""
    for child in container.values() if type(container) is dict else container:
        if type(child) is dict or type(child) is list:
            if depth >= MAX_DEPTH:
                raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
            if child:
                _check_depth(child, depth + 1)


def _may_hold_surrogates(body: bytes, encoding: str) -> bool:
    if not encoding.startswith("utf-8"):
        return True
    return bool(_SURROGATE_ESCAPE.search(body) or _SURROGATE_UTF8.search(body))


def _repair(value: Any) -> Any:
    """A copy with every lone surrogate replaced (recursion bounded by ``MAX_DEPTH``)."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_repair(key): _repair(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_repair(item) for item in value]
    return value
