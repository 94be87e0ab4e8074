"""One POST to a receiver, with the failures that are not an answer turned into an ``Attempt``.

TLS is always verified: ``tls`` is the sink's setting from ``monitor.tls`` (the system's CAs, or
its own ``ca_file``). A certificate that is not accepted is a retryable ``connection`` failure
(the receiver may be fixed before the retry schedule runs out), described without the URL.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from monitor import USER_AGENT
from monitor.canvas.http_headers import retry_after
from monitor.core.net_errors import describe
from monitor.core.secret import Secret
from monitor.core.tls import TlsSetting
from monitor.delivery.sinks.base import Attempt, Verdict

MAX_RESPONSE = 64 * 1024  # what we read of a receiver's answer


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    retry_after: float | None


async def post(
    session: aiohttp.ClientSession,
    url: Secret,
    body: bytes,
    headers: dict[str, str],
    within: float,
    *,
    tls: TlsSetting = True,
) -> Answer | Attempt:
    """The receiver's answer, or a retryable ``Attempt`` when there was none.

    Redirects are not followed: a receiver that moved must be reconfigured (and a redirect must
    not carry a signed event somewhere else).
    """
    try:
        async with session.post(
            url.reveal(),
            data=body,
            headers={"content-type": "application/json", "user-agent": USER_AGENT, **headers},
            timeout=aiohttp.ClientTimeout(total=within),
            allow_redirects=False,
            ssl=tls,
        ) as response:
            content = await response.content.read(MAX_RESPONSE)
            return Answer(
                response.status, content, retry_after(response.headers.get("Retry-After"))
            )
    except TimeoutError:
        return Attempt(Verdict.RETRY, failure="timeout", detail="timed out")
    except aiohttp.ClientError as exc:
        return Attempt(Verdict.RETRY, failure="connection", detail=describe(exc, host=False))
