"""Reading admin API request bodies: one JSON object, each field checked and named on error.

Every failure is a ``SimInputError`` whose message starts with the field, which the admin
middleware turns into ``400 {"error": "duration: must be an integer or null"}``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aiohttp import web

from monitor.simulator.errors import SimInputError
from monitor.simulator.records import CONTEXT_TYPES, ContextType
from monitor.simulator.serialize import parse_iso


async def read_body(request: web.Request) -> Body:
    """The request's JSON object; an empty body counts as ``{}``."""
    raw = await request.read()
    if not raw.strip():
        return Body({})
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise SimInputError(f"body: not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise SimInputError("body: must be a JSON object")
    return Body(data)


def path_integer(request: web.Request, key: str, what: str) -> int:
    """An id from the admin path, or a 400 naming what it should have been."""
    raw = request.match_info[key]
    if not raw.isdigit():
        raise SimInputError(f"{what} must be an integer, not {raw!r}")
    return int(raw)


def parse_context_type(value: str) -> ContextType:
    for context_type in CONTEXT_TYPES:
        if value == context_type:
            return context_type
    raise SimInputError(f"context_type: must be one of {list(CONTEXT_TYPES)}, not {value!r}")


class Body:
    """Typed access to the fields of one JSON object."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def only(self, allowed: set[str] | frozenset[str]) -> None:
        unknown = sorted(set(self.data) - allowed)
        if unknown:
            raise SimInputError(f"{unknown[0]}: unknown field (allowed: {sorted(allowed)})")

    def _get(self, key: str) -> Any:
        if key not in self.data:
            raise SimInputError(f"{key}: required")
        return self.data[key]

    def integer(self, key: str) -> int:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SimInputError(f"{key}: must be an integer")
        return value

    def optional_integer(self, key: str) -> int | None:
        return None if self._get(key) is None else self.integer(key)

    def integers(self, key: str) -> list[int]:
        value = self._get(key)
        if not isinstance(value, list) or any(
            isinstance(v, bool) or not isinstance(v, int) for v in value
        ):
            raise SimInputError(f"{key}: must be a list of integers")
        return value

    def number(self, key: str) -> float:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise SimInputError(f"{key}: must be a non-negative number")
        return float(value)

    def string(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise SimInputError(f"{key}: must be a string")
        return value

    def optional_string(self, key: str) -> str | None:
        return None if self._get(key) is None else self.string(key)

    def boolean(self, key: str, *, default: bool | None = None) -> bool:
        if key not in self.data and default is not None:
            return default
        value = self._get(key)
        if not isinstance(value, bool):
            raise SimInputError(f"{key}: must be true or false")
        return value

    def time(self, key: str) -> datetime:
        value = self.string(key)
        try:
            return parse_iso(value)
        except ValueError as exc:
            raise SimInputError(f"{key}: not an ISO 8601 timestamp with a zone: {value!r}") from exc
