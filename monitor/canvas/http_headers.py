"""Reading the HTTP headers that steer us: ``Link`` pagination and ``Retry-After``."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

_LINK: Final = re.compile(r'<([^>]*)>\s*;\s*rel="?([^";,]+)"?')


def next_link(headers: Mapping[str, str]) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header (any case), exactly as written."""
    header = headers.get("Link")  # case-insensitive for aiohttp's headers
    if header is None:  # a plain mapping: look for any spelling
        header = next((v for k, v in headers.items() if k.lower() == "link"), "")
    if "next" not in header:  # most pages: the last (or only) one
        return None
    for url, rel in _LINK.findall(header):
        if "next" in rel.split():
            return str(url)
    return None


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); None when absent or bad."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
