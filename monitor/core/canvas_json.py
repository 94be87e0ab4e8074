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


def encode(value: Any) -> bytes:
    """Compact JSON, UTF-8 (what ``decode`` returns always encodes)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


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
