"""Canvas's JSON, read strictly: what an answer may hold before anything downstream sees it.

``json.loads`` alone is too lenient and too fragile for a parser that faces the network. It
accepts ``NaN`` and ``Infinity`` (not JSON: they would be sent on to receivers as invalid JSON,
and ``NaN != NaN`` would make a record look changed on every poll), turns ``1e999`` into
infinity, raises ``RecursionError`` rather than ``ValueError`` on deeply nested input, and
returns strings holding lone surrogates (from ``\\ud800`` escapes) that cannot be encoded as
UTF-8 again, so an event about such a conference could never be written.

``decode`` refuses the first three (``ValueError``: the answer is not valid, the poll fails and
nothing changes) and repairs the last (each lone surrogate becomes U+FFFD), so whatever it
returns can be stored, compared and re-encoded at any depth the rest of the monitor reaches.
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


def decode(body: bytes) -> Any:
    """The JSON value of ``body``; ``ValueError`` (with a short reason) when it is not one."""
    try:
        value = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if _inspect(value):
        value = _repair(value)
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError("a number out of range")
    return number


def _inspect(value: Any) -> bool:
    """Check the depth (``ValueError`` past ``MAX_DEPTH``); True if a string needs repair."""
    dirty = False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            dirty = dirty or _unencodable(item)
            continue
        if isinstance(item, dict):
            children: Any = item.values()
            dirty = dirty or any(_unencodable(key) for key in item)
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)
    return dirty


def _unencodable(text: str) -> bool:
    return not text.isascii() and _SURROGATE.search(text) is not None


def _repair(value: Any) -> Any:
    """A copy with every lone surrogate replaced (recursion bounded by ``MAX_DEPTH``)."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_repair(key): _repair(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_repair(item) for item in value]
    return value
