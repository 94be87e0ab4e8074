"""Generic webhooks, signed the Standard Webhooks way.

Each event is one POST of its stored body, unchanged, with ``webhook-id`` (the stable event id,
the receiver's de-duplication key), ``webhook-timestamp`` (this attempt) and, when the sink has
a secret, ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``. Only a 2xx is
success. 410 means the endpoint is gone (the sink is disabled); 408, 429 and 5xx are retried;
other 4xx mean this event will never be taken (it goes to the dead-letter queue).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Sequence

import aiohttp

from monitor.config.settings import SinkConfig
from monitor.core.secret import Secret
from monitor.core.tls import client_tls
from monitor.delivery.sinks.base import Attempt, Message, Verdict
from monitor.delivery.sinks.http import Answer, post
from monitor.store.values import OutboxEntry


def sign(secret: Secret, event_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<signature>`` for ``{id}.{timestamp}.{body}`` with a ``whsec_`` secret."""
    key = base64.b64decode(secret.reveal().removeprefix("whsec_"))
    content = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verdict(answer: Answer) -> Attempt:
    """What a receiver's answer means (delivery-facts.md: Standard Webhooks, Svix)."""
    status = answer.status
    detail = f"HTTP {status}"
    if 200 <= status < 300:
        return Attempt.ok(status)
    if status == 429:
        return Attempt(Verdict.RETRY, status, "throttled", answer.retry_after, detail)
    if status >= 500 or status == 408:
        failure = "http_5xx" if status >= 500 else "http_4xx"
        return Attempt(Verdict.RETRY, status, failure, answer.retry_after, detail)
    if status == 410:
        return Attempt(Verdict.DISABLED, status, "http_4xx", None, f"{detail}: endpoint gone")
    if status >= 400:
        return Attempt(Verdict.REJECTED, status, "http_4xx", None, detail)
    return Attempt(Verdict.RETRY, status, "http_3xx", None, detail)


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
        self._tls = client_tls(config.ca_file, f"ca_file of sink {config.name!r}")

    def render(self, entries: Sequence[OutboxEntry]) -> list[Message]:
        return [Message((entry,), entry.body) for entry in entries]

    def headers(self, message: Message) -> dict[str, str]:
        timestamp = int(self._clock())
        headers = {name: value.reveal() for name, value in self._config.headers}
        headers["webhook-id"] = message.id
        headers["webhook-timestamp"] = str(timestamp)
        if self._config.secret is not None:
            signature = sign(self._config.secret, message.id, timestamp, message.body)
            headers["webhook-signature"] = signature
        return headers

    async def send(self, message: Message) -> Attempt:
        answer = await post(
            self._session, self._config.url, message.body, self.headers(message),
            self._config.timeout, tls=self._tls,
        )  # fmt: skip
        return answer if isinstance(answer, Attempt) else verdict(answer)
