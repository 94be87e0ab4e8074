"""What one Canvas answer means: a payload, a retry signal, or the error that ends the poll.

Kept apart from the client's request loop (``client``) so that the mapping of statuses and
bodies to reasons reads in one place: 200 is read (``ValueError``: not valid), 429 and a 403
saying ``Rate Limit Exceeded`` are throttling, 5xx is transient, the rest ends the poll with a
message that quotes Canvas's own error message, never the raw body.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

import aiohttp
from yarl import URL

from monitor.canvas.http_headers import retry_after
from monitor.core import canvas_json
from monitor.core.errors import CanvasError, PollFailure

_RATE_LIMITED: Final = b"Rate Limit Exceeded"


async def read_body(response: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The whole body, or None once it passes ``limit`` bytes."""
    if (response.content_length or 0) > limit:
        return None
    blocks: list[bytes] = []
    size = 0
    while block := await response.content.readany():  # whatever has arrived, in one piece
        size += len(block)
        if size > limit:
            return None
        blocks.append(block)
    return b"".join(blocks)


class Throttled(Exception):  # noqa: N818 - a signal between two methods, not an error
    def __init__(self, status: int, wait: float | None, remaining: float | None) -> None:
        self.status = status
        self.wait = wait
        self.remaining = remaining


class Transient(Exception):  # noqa: N818 - wraps the error to raise if retries run out
    def __init__(self, error: CanvasError) -> None:
        self.error = error


def interpret(
    url: URL, status: int, headers: Mapping[str, str], body: bytes, read: Callable[[bytes], Any]
) -> tuple[Any, Mapping[str, str]]:
    """Map one answer to a payload, a retry signal, or the ``CanvasError`` that ends the poll."""
    where = url.path
    if status == 200:
        try:
            return read(body), headers
        except ValueError as exc:  # UnicodeDecodeError included
            message = f"{where}: body is not valid JSON ({_why(exc)})"
            raise CanvasError(PollFailure.INVALID_RESPONSE, message) from None
    if status == 429 or (status == 403 and _RATE_LIMITED in body):
        raise Throttled(status, retry_after(headers.get("Retry-After")), remaining(headers))
    if status == 401:
        raise CanvasError(PollFailure.AUTH, f"{where}: 401 {_canvas_message(body)}", status=401)
    if status == 403:
        raise CanvasError(
            PollFailure.FORBIDDEN, f"{where}: 403 {_canvas_message(body)}", status=403
        )
    if status >= 500:
        raise Transient(CanvasError(PollFailure.HTTP_5XX, f"{where}: {status}", status=status))
    if 300 <= status < 400:
        message = f"{where}: redirected ({status}); set base_url to the final URL"
        raise CanvasError(PollFailure.INVALID_RESPONSE, message, status=status)
    message = f"{where}: {status} {_canvas_message(body)}"
    raise CanvasError(PollFailure.HTTP_4XX, message, status=status)


def remaining(headers: Mapping[str, str]) -> float | None:
    try:
        return float(headers["X-Rate-Limit-Remaining"])
    except (KeyError, ValueError):
        return None


def _why(exc: ValueError) -> str:
    """What was wrong with a body, in a few words that quote none of it."""
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8"
    text = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
    return text.split(":")[0][:80]


def _canvas_message(body: bytes) -> str:
    """The first message of a Canvas error body, if it has one (bounded, never the raw body)."""
    try:
        payload = canvas_json.decode(body)
    except ValueError:
        return ""
    if isinstance(payload, dict):
        errors = payload.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message", ""))[:200]
        if isinstance(payload.get("message"), str):
            return str(payload["message"])[:200]
    return ""
