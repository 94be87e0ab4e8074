"""The Canvas HTTP client: auth, pagination, throttling, retries, and errors mapped to reasons.

Every request goes through the token's ``Lane``. Pages are followed through ``Link: rel="next"``
exactly as Canvas wrote them (bookmarks are opaque). A page that is not ``{"conferences": [...]}``
fails the whole listing, so the poll fails and nothing changes (invariant 1); a single record
without a usable id is skipped and counted. Transient failures (timeouts, connection errors,
5xx) are retried with jittered backoff; throttling waits as long as Canvas asks (up to
``MAX_THROTTLE_WAIT``); all of it inside the poll's ``Deadline``.

Bad input never escapes as anything but a ``CanvasError``: bodies are read up to ``MAX_BODY``
and decoded strictly (``canvas_json``), so garbage fails the poll as ``invalid_response``. TLS
is always verified (``tls``); a certificate that is not accepted fails the poll as
``connection`` at once, since retrying cannot fix it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Final

import aiohttp
from yarl import URL

from monitor.canvas.answers import Throttled, Transient, interpret, read_body
from monitor.canvas.answers import remaining as remaining_of
from monitor.canvas.http_headers import next_link
from monitor.canvas.lane import Deadline, Lane
from monitor.canvas.pages import CHANGED, PageMemory, Pages, parse
from monitor.config.settings import SourceConfig
from monitor.core import canvas_json, purpose
from monitor.core.errors import CanvasError, PollFailure
from monitor.core.models import Conference
from monitor.core.net_errors import describe
from monitor.core.timings import PRODUCTION, Timings
from monitor.core.tls import client_tls, tls_failure
from monitor.observe.metrics import Metrics

PER_PAGE: Final = 100
MAX_PAGES: Final = 10_000
ATTEMPTS: Final = 3  # per request, for transient failures (backoff: ``Timings``)
#: Longest a ``Retry-After`` is honoured: a garbled one (``1e12``) must not silence the token.
MAX_THROTTLE_WAIT: Final = 900.0
#: Largest answer read (a page of 100 conferences is a few hundred kB).
MAX_BODY: Final = 16 * 1024 * 1024
CONTEXT_PATHS: Final = {"Course": "courses", "Group": "groups"}
#: Jitter for every client that is not given its own generator (each one is 2.5 kB).
_JITTER: Final = random.Random()  # noqa: S311 - jitter, not cryptography


class CanvasClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        source: SourceConfig,
        lane: Lane,
        metrics: Metrics,
        *,
        rng: random.Random | None = None,
        timings: Timings = PRODUCTION,
    ) -> None:
        self._session = session
        self._backoff_base, self._backoff_cap = timings.backoff_base, timings.backoff_cap
        self._source = source
        self._base = URL(source.base_url)
        self._headers = {
            "Authorization": f"Bearer {source.token.reveal()}",
            "Accept": "application/json",
        }
        self._lane = lane
        self._metrics = metrics
        self._tls = client_tls(source.ca_file, f"ca_file of source {source.name!r}")
        self._rng = rng or _JITTER
        # The series every answered request moves, looked up once (most answers are 200s).
        self._answered_ok = metrics.canvas_requests.labels(source.name, "200")
        self._remaining = metrics.rate_limit_remaining.labels(source.name)
        self._pages = PageMemory()
        self._first_pages: dict[tuple[str, tuple[tuple[str, str], ...]], URL] = {}
        self.pages_read = 0  # pages answered in full since start (the ``baseline`` log line)

    def pages_changed(self) -> None:
        """Take every page for changed on the next read, as when the conferences on them
        moved (benchmarks)."""
        self._pages.forget_digests()

    def requests_per_second(self) -> float:
        """Requests per second on this source's token over the last minute (every source on
        the token together: they share one budget)."""
        return self._lane.usage.per_second()

    async def live(self, deadline: Deadline) -> list[Conference]:
        """``GET /api/v1/conferences?state=live``, every page."""
        return await self._list("/api/v1/conferences", {"state": "live"}, deadline, remember=True)

    async def context(
        self, context_type: str, context_id: int, deadline: Deadline, *, remember: bool = False
    ) -> list[Conference]:
        """Every conference of a course or group (``index``: Canvas ignores ``state`` there);
        ``remember`` its pages when it is asked on every poll (``PageMemory``)."""
        path = f"/api/v1/{CONTEXT_PATHS[context_type]}/{context_id}/conferences"
        return await self._list(path, {}, deadline, remember=remember)

    async def whoami(self, deadline: Deadline) -> dict[str, Any]:
        """``GET /api/v1/users/self``: proves the URL and the token work."""
        url = self._base.with_path(self._base.path.rstrip("/") + "/api/v1/users/self")
        payload, _ = await self._get(url, deadline, canvas_json.decode)
        if not isinstance(payload, dict):
            raise CanvasError(PollFailure.INVALID_RESPONSE, "users/self did not answer an object")
        return payload

    async def one(
        self, path: str, deadline: Deadline, params: Sequence[tuple[str, str]] = ()
    ) -> dict[str, Any]:
        """One object (``/api/v1/courses/:id``, ``.../permissions``)."""
        url = self._base.with_path(self._base.path.rstrip("/") + path).with_query(list(params))
        payload, _ = await self._get(url, deadline, canvas_json.decode)
        if not isinstance(payload, dict):
            raise CanvasError(PollFailure.INVALID_RESPONSE, f"{path}: expected an object")
        return payload

    async def objects(
        self, path: str, params: Mapping[str, str], deadline: Deadline, *, first_only: bool = False
    ) -> list[dict[str, Any]]:
        """Every page of a listing that answers a JSON array of objects (an account's courses,
        its sub-accounts, a course's groups): ``next`` is followed until it is absent, since
        these numbered pages carry no ``rel="last"``. A page of anything else fails the read."""
        url: URL | None = self._base.with_path(self._base.path.rstrip("/") + path).with_query(
            {"per_page": str(PER_PAGE), **params}
        )
        found: list[dict[str, Any]] = []
        seen: set[str] = set()
        while url is not None:
            if first_only and seen:
                break
            key = str(url)
            if key in seen or len(seen) >= MAX_PAGES:
                raise CanvasError(PollFailure.INVALID_RESPONSE, f"{path}: pagination loops")
            seen.add(key)
            page, headers = await self._get(url, deadline, canvas_json.decode)
            if not isinstance(page, list) or not all(isinstance(o, dict) for o in page):
                raise CanvasError(PollFailure.INVALID_RESPONSE, f"{path}: expected [{{...}}]")
            self.pages_read += 1
            found.extend(page)
            url = self._follow(next_link(headers), path)
        return found

    async def _list(
        self, path: str, params: dict[str, str], deadline: Deadline, *, remember: bool
    ) -> list[Conference]:
        url: URL | None = self._first_page(path, params)
        conferences: list[Conference] = []
        pages: Pages = {}  # the pages of this read, by URL
        while url is not None:
            key = str(url)
            if key in pages or len(pages) >= MAX_PAGES:
                raise CanvasError(PollFailure.INVALID_RESPONSE, f"{path}: pagination loops")
            read = partial(self._pages.read, path, key, into=pages) if remember else parse
            page, headers = await self._get(url, deadline, read)
            if page is None:
                raise CanvasError(
                    PollFailure.INVALID_RESPONSE, f'{path}: expected {{"conferences": [...]}}'
                )
            pages.setdefault(key, (CHANGED, page))  # seen, when not remembered
            self.pages_read += 1
            conferences.extend(page.conferences)
            if page.skipped:
                self._metrics.invalid_records.labels(self._source.name).inc(page.skipped)
            url = self._follow(next_link(headers), path)  # an empty page may still have a next
        if remember:
            self._pages.keep(path, pages)
        return conferences

    def _first_page(self, path: str, params: dict[str, str]) -> URL:
        """The first page's URL, made once per listing: aiohttp reads a dozen properties of
        it on every request, and yarl works each out once per URL object (~10 us a poll)."""
        key = (path, tuple(params.items()))
        url = self._first_pages.get(key)
        if url is None:
            url = self._base.with_path(self._base.path.rstrip("/") + path).with_query(
                {**params, "per_page": str(PER_PAGE)}
            )
            self._first_pages[key] = url
        return url

    def _follow(self, link: str | None, path: str) -> URL | None:
        """The next page's URL, refusing to carry the token to another host."""
        if link is None:
            return None
        try:
            url = URL(link, encoded=True)
            host, _ = url.host, url.port  # yarl checks lazily: a bad port raises here
        except ValueError:
            raise CanvasError(PollFailure.INVALID_RESPONSE, f"{path}: bad next-page URL") from None
        if (
            url.scheme != self._base.scheme
            or (host or "").lower() != (self._base.host or "").lower()
        ):
            raise CanvasError(
                PollFailure.INVALID_RESPONSE, f"{path}: next page points to another host"
            )
        return url

    async def _get(
        self, url: URL, deadline: Deadline, read: Callable[[bytes], Any]
    ) -> tuple[Any, Mapping[str, str]]:
        """One page, read by ``read`` (``ValueError``: not valid), with retries: transient
        failures up to ``ATTEMPTS``, throttling while the deadline allows."""
        failures = 0
        throttled = 0
        while True:
            try:
                return await self._attempt(url, deadline, read)
            except Throttled as exc:
                throttled += 1
                self._note_throttled(exc)
                # Honour Retry-After; without one (or when "now" keeps being throttled) back off.
                floor = self._throttle_wait(throttled - 1) if throttled > 1 else 0.0
                wait = self._throttle_wait(throttled) if exc.wait is None else max(exc.wait, floor)
                wait = min(wait, MAX_THROTTLE_WAIT)
                self._lane.pause(wait)  # also when this poll gives up: the next one must wait too
                if wait >= deadline.remaining():
                    raise CanvasError(
                        PollFailure.THROTTLED,
                        f"{url.path}: throttled by Canvas (status {exc.status}) past the budget",
                        status=exc.status,
                    ) from None
            except Transient as exc:
                failures += 1
                wait = self._backoff(failures, self._backoff_base, self._backoff_cap)
                if failures >= ATTEMPTS or wait >= deadline.remaining():
                    raise exc.error from None
                await asyncio.sleep(wait)

    def _note_throttled(self, exc: Throttled) -> None:
        if exc.remaining is not None:
            self._metrics.rate_limit_remaining.labels(self._source.name).set(exc.remaining)

    def _backoff(self, attempt: int, base: float, cap: float) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^attempt)]."""
        return self._rng.uniform(0, min(cap, base * 2**attempt))

    def _throttle_wait(self, attempt: int) -> float:
        """Throttled without ``Retry-After``: 1-2 s, then 2-4 s, ... up to 60 s; never ~0."""
        return self._rng.uniform(0.5, 1.0) * min(60.0, 2.0**attempt)

    async def _attempt(
        self, url: URL, deadline: Deadline, read: Callable[[bytes], Any]
    ) -> tuple[Any, Mapping[str, str]]:
        name = self._source.name
        async with self._lane.turn(deadline):
            timeout = min(self._source.request_timeout, deadline.remaining())
            if timeout <= 0:
                raise CanvasError(
                    PollFailure.TIMEOUT, f"{url.path}: the poll's time budget ran out"
                )
            if name in self._metrics.watch.watched:
                self._metrics.watch.requests.labels(name, purpose.current().value).inc()
            try:
                async with self._session.get(
                    url,
                    headers=self._headers,
                    timeout=aiohttp.ClientTimeout(total=timeout),
                    allow_redirects=False,
                    ssl=self._tls,
                ) as response:
                    status, headers = response.status, response.headers
                    body = await read_body(response, MAX_BODY)
            except TimeoutError:
                self._metrics.canvas_requests.labels(name, "timeout").inc()
                raise Transient(
                    CanvasError(PollFailure.TIMEOUT, f"{url.path}: timed out")
                ) from None
            except aiohttp.ClientConnectorCertificateError as exc:  # retrying cannot fix it
                self._metrics.canvas_requests.labels(name, "connection").inc()
                message = f"{url.path}: {tls_failure(exc)}"
                raise CanvasError(PollFailure.CONNECTION, message) from None
            except aiohttp.ClientError as exc:
                self._metrics.canvas_requests.labels(name, "connection").inc()
                message = f"{url.path}: {describe(exc)}"
                raise Transient(CanvasError(PollFailure.CONNECTION, message)) from None
        if status == 200:
            self._answered_ok.inc()
        else:
            self._metrics.canvas_requests.labels(name, str(status)).inc()
        if body is None:
            message = f"{url.path}: answer larger than {MAX_BODY} bytes"
            raise CanvasError(PollFailure.INVALID_RESPONSE, message, status=status)
        result = interpret(url, status, headers, body, read)  # raises unless 200 and valid
        self._observe_remaining(headers)
        return result

    def _observe_remaining(self, headers: Mapping[str, str]) -> None:
        """Export ``X-Rate-Limit-Remaining`` and let the lane ease off when it runs low.

        Called for answered requests only: a throttled answer has its own wait (Retry-After),
        and its remaining figure, below zero by definition, would only add to it.
        """
        remaining = remaining_of(headers)
        if remaining is not None:
            self._remaining.set(remaining)
            self._lane.observe_remaining(remaining)
