"""Generic webhooks, signed the Standard Webhooks way.

Each attempt POSTs the event's stored body unchanged with ``webhook-id`` (the stable event id,
the receiver's de-duplication key), ``webhook-timestamp`` (this attempt) and, when the sink has a
secret, ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``. Only a 2xx is
success; ``Retry-After`` on 429 / 503 is passed on to the dispatcher.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable

import aiohttp

from monitor import USER_AGENT
from monitor.config import SinkConfig
from monitor.http_headers import retry_after
from monitor.secret import Secret
from monitor.sinks.base import Attempt
from monitor.store import OutboxEntry

_MAX_RESPONSE = 64 * 1024  # what we read of a receiver's answer


def sign(secret: Secret, event_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<signature>`` for ``{id}.{timestamp}.{body}`` with a ``whsec_`` secret."""
    key = base64.b64decode(secret.reveal().removeprefix("whsec_"))
    content = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def classify(status: int) -> str | None:
    """The failure reason of a status, or None for success."""
    if 200 <= status < 300:
        return None
    if status == 429:
        return "throttled"
    if status >= 500:
        return "http_5xx"
    if status >= 400:
        return "http_4xx"
    return "http_3xx"


class WebhookSink:
    def __init__(
        self,
        config: SinkConfig,
        session: aiohttp.ClientSession,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = config.name
        self._config = config
        self._session = session
        self._clock = clock

    def headers(self, entry: OutboxEntry) -> dict[str, str]:
        timestamp = int(self._clock())
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": entry.event_id,
            "webhook-timestamp": str(timestamp),
        }
        if self._config.secret is not None:
            headers["webhook-signature"] = sign(
                self._config.secret, entry.event_id, timestamp, entry.body
            )
        return headers

    async def send(self, entry: OutboxEntry) -> Attempt:
        try:
            async with self._session.post(
                self._config.url.reveal(),
                data=entry.body,
                headers=self.headers(entry),
                timeout=aiohttp.ClientTimeout(total=self._config.timeout),
                allow_redirects=False,
            ) as response:
                await response.content.read(_MAX_RESPONSE)
                status = response.status
                wait = retry_after(response.headers.get("Retry-After"))
        except TimeoutError:
            return Attempt(False, failure="timeout", detail="timed out")
        except aiohttp.ClientError as exc:
            return Attempt(False, failure="connection", detail=type(exc).__name__)
        failure = classify(status)
        if failure is None:
            return Attempt.ok(status)
        return Attempt(False, status, failure, wait, detail=f"HTTP {status}")
