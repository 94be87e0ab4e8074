"""One root for every error the monitor raises on purpose.

Library errors (aiohttp, redis, yaml) are converted at the boundary with ``raise ... from exc``,
so callers catch ``MonitorError`` subclasses and never a bare ``Exception``. Messages carry
context (source, sink, field, status) but never a secret: URLs in messages are redacted first.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ExitCode(IntEnum):
    """Process exit codes, sysexits-style where one exists."""

    OK = 0
    FAILURE = 1
    CONFIG = 78  # EX_CONFIG


class MonitorError(Exception):
    """Root of every error the monitor raises deliberately."""


class ConfigError(MonitorError):
    """The configuration is invalid; ``field`` names where (``sources[0].base_url``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class StoreError(MonitorError):
    """The state store could not be reached or refused an operation."""


class StaleStateError(StoreError):
    """Another writer committed this source's state since we loaded it; reload and retry."""


class FencedError(StaleStateError):
    """The commit's lease is no longer the writer's (taken over, or lost by the store)."""


class ReplicaNameTakenError(MonitorError):
    """Another live process acts under this replica's name (invariant 11)."""


class PollFailure(StrEnum):
    """Why a poll failed: the ``reason`` label of ``conference_monitor_poll_failures_total``."""

    AUTH = "auth"  # 401: the token is invalid, expired or revoked
    FORBIDDEN = "forbidden"  # 403 that is not throttling: a permission problem
    THROTTLED = "throttled"  # Canvas kept throttling past the poll's time budget
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    HTTP_5XX = "http_5xx"
    HTTP_4XX = "http_4xx"
    INVALID_RESPONSE = "invalid_response"  # not JSON of the expected shape
    STORE = "store"  # the commit to the state store failed


class CanvasError(MonitorError):
    """A Canvas request failed for good (after the retries its kind allows)."""

    def __init__(self, reason: PollFailure, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status

    @property
    def definite(self) -> bool:
        """Canvas answered, and the answer was no: 401 or 404 (docs/design.md, invariant 4).
        Anything else, a 403 included, may pass, so a confirmation is asked again during the
        grace."""
        return self.status in (401, 404)
