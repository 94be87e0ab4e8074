"""Secrets that cannot leak by accident.

A ``Secret`` prints as ``'***'`` in ``repr``, ``str`` and f-strings; the only way to the value is
``reveal()``, which makes every use greppable. Every secret is also registered so the log pipeline
can scrub it from any line as a last line of defence (see ``logs.py``).
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit, urlunsplit

_MASK: Final = "***"
_registered: set[str] = set()


class Secret:
    """A string that refuses to be printed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        # Shorter values would scrub innocent text; a bare origin (``redis://host:6379``) holds
        # nothing secret, and masking it would hide which server a message is about.
        if len(value) >= 4 and not _bare_origin(value):
            _registered.add(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({_MASK!r})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def registered_secrets() -> frozenset[str]:
    """Every secret value created in this process (for log scrubbing and leak tests)."""
    return frozenset(_registered)


def redact_url(url: str) -> str:
    """Keep scheme, host and port; drop credentials, path, query and fragment.

    Webhook URLs (Slack, Teams) carry their secret in the path, Redis URLs in the userinfo, so
    only the origin is ever safe to show.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    tail = "/…" if parts.path not in ("", "/") or parts.query else ""
    return urlunsplit((parts.scheme, netloc, "", "", "")) + tail


def _bare_origin(value: str) -> bool:
    """A URL of scheme, host and port alone: what ``redact_url`` shows of any URL."""
    try:
        return "://" in value and redact_url(value) == value
    except ValueError:  # not a URL after all (an unclosed IPv6 bracket): a secret like any
        return False
