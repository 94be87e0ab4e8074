"""Bad input from Canvas never crashes the monitor (issue 5, item 6).

Hypothesis-generated JSON values (records of every shape, odd ids, odd times, lone surrogates)
and byte-level garbage (random bytes, mutated pages) are served by a real loopback server
(``ScriptedCanvas``) as Canvas pages. ``CanvasClient.live()`` either returns conferences or
raises ``CanvasError`` (``invalid_response`` for a page that is not ``{"conferences": [...]}``)
and nothing else; records without a usable integer id are skipped and counted in
``conference_monitor_invalid_records_total``. Downstream of the client, ``Conference.from_api``,
the diff, event bodies, both store codecs, the sinks' renderers, the metrics and the web pages
take any record that got through. A ``Poller`` fed a garbage page fails the poll and changes
nothing (invariant 1).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any, cast

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from monitor.canvas import client as canvas_module
from monitor.canvas.client import CanvasClient
from monitor.canvas.lane import Deadline, Lane
from monitor.config.settings import SinkType
from monitor.core.canvas_json import MAX_DEPTH
from monitor.core.diff import Answer, Confirmation, diff, vanished
from monitor.core.errors import CanvasError, PollFailure
from monitor.core.models import Conference, SourceState
from monitor.core.secret import Secret
from monitor.delivery.sinks import ChatSink, WebhookSink
from monitor.delivery.sinks.notice import notice_of
from monitor.observe.metrics import Metrics
from monitor.store.memory import MemoryStore
from monitor.store.redis.codec import (
    decode_tombstone,
    decode_tracked,
    encode_tombstone,
    encode_tracked,
)
from monitor.store.redis.store import RedisStore
from monitor.store.roles import Store
from monitor.watch.poller import Poller
from monitor.web.server import create_app, live
from tests.support.canvas_helpers import (
    LIVE,
    SINK,
    T0,
    FakeClock,
    ScriptedCanvas,
    committed_events,
    fast_source,
    http_session,
    make_client,
    new_metrics,
    sample,
)
from tests.support.delivery_helpers import entry_of
from tests.support.service import webhook_config

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # one server for all examples
)
INVALID = "conference_monitor_invalid_records_total"
_SURROGATE = re.compile("[\ud800-\udfff]")

# strategies: JSON of every shape, and records that look more or less like Canvas's

SURROGATES = st.characters(categories=["Cs"])  # lone halves: JSON escapes them as \udXXX
TEXT = st.text(max_size=12) | st.text(SURROGATES | st.characters(), max_size=6)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
OFFSETS = st.integers(-1439, 1439).map(lambda m: timezone(timedelta(minutes=m)))
NEAR_T0 = st.datetimes(  # hypothesis takes naive bounds and adds the zone itself
    min_value=datetime(2026, 11, 22),  # noqa: DTZ001
    max_value=datetime(2026, 11, 25),  # noqa: DTZ001
    timezones=OFFSETS,
)
TIMES = (
    NEAR_T0.map(lambda d: d.isoformat())
    | NEAR_T0.map(lambda d: d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    | st.datetimes(timezones=OFFSETS).map(lambda d: d.isoformat())  # year 1 to 9999
    | SCALARS
)
IDS = (
    st.integers(min_value=1, max_value=12)
    | st.integers()
    | st.just(2**80)
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=4)
    | st.none()
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "id": IDS,
        "title": TEXT | SCALARS,
        "conference_type": st.sampled_from(["BigBlueButton", "Zoom", ""]) | SCALARS,
        "context_type": st.sampled_from(["Course", "Group", "Account", ""]) | SCALARS,
        "context_id": st.integers(-3, 300) | SCALARS,
        "started_at": TIMES,
        "ended_at": TIMES,
        "url": st.sampled_from(
            ["https://canvas.example.edu/courses/1/conferences/2", "javascript:alert(1)"]
        )
        | TEXT,
        "recordings": JSON,
        "users": JSON,
        "long_running": SCALARS,
    },
)
RECORDS = st.builds(
    lambda extra, fields: {**extra, **fields}, st.dictionaries(TEXT, JSON, max_size=3), FIELDS
)
RECORD = RECORDS | JSON
PAGES = (
    st.builds(lambda records: {"conferences": records}, st.lists(RECORD, max_size=8))
    | st.builds(
        lambda records, extra: {**extra, "conferences": records},
        st.lists(RECORD, max_size=5),
        st.dictionaries(TEXT, JSON, max_size=3),
    )
    | st.builds(lambda value: {"conferences": value}, JSON)
    | JSON
)
GOOD_PAGE = json.dumps(
    {
        "conferences": [
            {
                "id": 7,
                "title": "Good",
                "conference_type": "BigBlueButton",
                "context_type": "Course",
                "context_id": 101,
                "started_at": "2026-11-24T09:59:00Z",
                "ended_at": None,
                "recordings": [{"playback_formats": [{"url": "https://r.example/1"}]}],
            },
            {"id": 8, "started_at": "2026-11-24T09:58:00Z", "title": "Zwei"},
        ]
    }
).encode()


def mutate(page: bytes, at: int, cut: int, junk: bytes) -> bytes:
    at %= len(page) + 1
    return page[:at] + junk + page[at + cut :]


GARBAGE_BYTES = st.binary(max_size=400) | st.builds(
    mutate, st.just(GOOD_PAGE), st.integers(0, 10_000), st.integers(0, 40), st.binary(max_size=8)
)


# the reference the client is held to


def repaired(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {repaired(k): repaired(v) for k, v in value.items()}
    if isinstance(value, list):
        return [repaired(v) for v in value]
    return value


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def expected_records(payload: Any) -> list[Any] | None:
    """What Canvas's answer means: its records, or None when it is not a valid page."""
    canonical = repaired(json.loads(json.dumps(payload)))  # escapes pair up surrogates
    if depth(canonical) > MAX_DEPTH:
        return None
    records = canonical.get("conferences") if isinstance(canonical, dict) else None
    return records if isinstance(records, list) else None


def usable(record: Any) -> bool:
    return isinstance(record, dict) and type(record.get("id")) is int


def encodable(conference: Conference) -> None:
    json.dumps(conference.raw, ensure_ascii=False, allow_nan=False).encode("utf-8")


# one scripted Canvas and one client for all the examples of a test


@dataclass
class Rig:
    canvas: ScriptedCanvas
    client: CanvasClient
    metrics: Metrics
    session: aiohttp.ClientSession

    def invalid(self) -> float:
        return sample(self.metrics, INVALID, source="main") or 0.0

    async def live(
        self, body: bytes, status: int = 200, headers: dict[str, str] | None = None
    ) -> list[Conference]:
        self.canvas.answer(LIVE, status, body=body, headers=headers)
        return await self.client.live(Deadline(5))

    async def outcome(
        self, body: bytes, headers: dict[str, str] | None = None
    ) -> list[Conference] | CanvasError:
        """The conferences, or the ``CanvasError``; anything else escapes and fails the test."""
        try:
            return await self.live(body, headers=headers)
        except CanvasError as exc:
            return exc


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with ScriptedCanvas() as canvas, http_session() as session:
        metrics = new_metrics()
        client = make_client(session, fast_source(canvas.url), metrics)
        yield Rig(canvas, client, metrics, session)


@FUZZ
@given(payload=PAGES)
@example(payload={"conferences": [{"id": 1, "title": "\ud800"}, {"id": True}, {"\udfff": 2}]})
@example(payload={"conferences": [{"id": 2**80, "started_at": "0001-01-01T00:00:00+14:00"}]})
async def test_any_json_page_gives_conferences_or_invalid_response(rig: Rig, payload: Any) -> None:
    before = rig.invalid()
    records = expected_records(payload)
    conferences = await rig.outcome(json.dumps(payload).encode())
    if isinstance(conferences, CanvasError):
        assert conferences.reason is PollFailure.INVALID_RESPONSE, conferences
        assert records is None, f"a valid page was refused: {conferences}"
        assert rig.invalid() == before
        return
    assert records is not None, "an invalid page was accepted"
    good = [r for r in records if usable(r)]
    assert [c.raw for c in conferences] == good
    assert [c.id for c in conferences] == [r["id"] for r in good]
    assert rig.invalid() - before == len(records) - len(good)
    for conference in conferences:
        encodable(conference)


@FUZZ
@given(body=GARBAGE_BYTES)
@example(body=b"[" * 100_000)
@example(body=b'{"conferences": [' + b"{" * 5000)
@example(body=b'{"conferences": [{"id": 1, "x": NaN}]}')
@example(body=b'{"conferences": [{"id": 1, "x": 1e999}]}')
@example(body=b'{"conferences": [{"id": 1' + b"0" * 5000 + b"}]}")
@example(body=b"\xff\xfe{}")
@example(body=b"")
async def test_any_bytes_give_conferences_or_invalid_response(rig: Rig, body: bytes) -> None:
    conferences = await rig.outcome(body)
    if isinstance(conferences, CanvasError):
        assert conferences.reason is PollFailure.INVALID_RESPONSE, conferences
        assert len(str(conferences)) < 200  # a few words, never the body
        return
    for conference in conferences:
        assert isinstance(conference, Conference)
        encodable(conference)


ERROR_BODIES = (
    GARBAGE_BYTES
    | JSON.map(lambda v: json.dumps(v).encode())
    | JSON.map(lambda v: json.dumps({"errors": [{"message": v}]}).encode())
)


@FUZZ
@given(status=st.sampled_from([400, 401, 403, 404, 409, 410, 422]), body=ERROR_BODIES)
@example(status=401, body=b"[" * 100_000)
@example(status=404, body=b'{"errors": [{"message": ' + b"[" * 100_000)
async def test_any_error_body_gives_a_bounded_canvas_error(
    rig: Rig, status: int, body: bytes
) -> None:
    with pytest.raises(CanvasError) as caught:
        await rig.live(body, status)
    reasons = {401: PollFailure.AUTH, 403: PollFailure.FORBIDDEN}
    assert caught.value.reason is reasons.get(status, PollFailure.HTTP_4XX)
    assert len(str(caught.value)) < 300


LINK_TEXT = st.text(st.characters(exclude_categories=["Cc", "Cs"]), max_size=60)


@FUZZ
@given(same_host=st.booleans(), text=LINK_TEXT, raw=st.booleans())
@example(same_host=True, text="a b/ü?x=%zz#", raw=False)
@example(same_host=False, text="http://[::1/", raw=False)
@example(same_host=False, text="http://h:99999/", raw=False)
async def test_any_link_header_is_followed_or_refused(
    rig: Rig, same_host: bool, text: str, raw: bool
) -> None:
    target = f"{rig.canvas.url}/{text}" if same_host else text
    link = text if raw else f'<{target}>; rel="next"'
    # Followed (the next page is a 404 here), or refused: a CanvasError either way, or a list.
    await rig.outcome(json.dumps({"conferences": []}).encode(), {"Link": link})
    for request in rig.canvas.seen:
        assert request.url.startswith(rig.canvas.url)  # the token never went elsewhere


# explicit cases


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"[" * 100_000, "nested too deeply"),
        (b'{"conferences": [' + b"[" * 40 + b"]" * 40 + b"]}", f"deeper than {MAX_DEPTH}"),
        (b'{"conferences": [{"id": 1, "d": NaN}]}', "NaN is not JSON"),
        (b'{"conferences": [{"id": 1, "d": -Infinity}]}', "-Infinity is not JSON"),
        (b'{"conferences": [{"id": 1, "d": 1e400}]}', "out of range"),
        (b'{"conferences": [{"id": 1' + b"0" * 5000 + b"}]}", "Exceeds the limit"),
        (b'{"conferences": [{"id": 1, "title": "\xff"}]}', "not UTF-8"),
        (b'{"conferences": [{"id": 1}', "Expecting"),
        (b"null", ""),
        (b'{"conferences": {"id": 1}}', ""),
    ],
)
async def test_invalid_pages_are_named(rig: Rig, body: bytes, why: str) -> None:
    with pytest.raises(CanvasError) as caught:
        await rig.live(body)
    assert caught.value.reason is PollFailure.INVALID_RESPONSE
    assert why in str(caught.value)


async def test_records_without_a_usable_id_are_skipped_and_counted(rig: Rig) -> None:
    records: list[Any] = [
        {"id": 1},
        {"id": "2"},
        {"id": True},
        {"id": 3.0},
        {"id": None},
        {},
        [],
        "x",
        None,
        {"id": -4},
        {"id": 2**70},
    ]
    conferences = await rig.live(json.dumps({"conferences": records}).encode())
    assert [c.id for c in conferences] == [1, -4, 2**70]
    assert rig.invalid() == 8


async def test_lone_surrogates_are_repaired_not_fatal(rig: Rig) -> None:
    body = b'{"conferences": [{"id": 1, "title": "a\\ud800b", "\\udc00": ["\\uDFFF"]}]}'
    (conference,) = await rig.live(body)
    assert conference.title == "a\ufffdb"
    assert conference.raw["\ufffd"] == ["\ufffd"]
    encodable(conference)
    pair = b'{"conferences": [{"id": 2, "title": "\\ud83d\\ude00"}]}'  # a valid pair stays
    assert (await rig.live(pair))[0].title == "\U0001f600"


async def test_a_body_past_the_limit_is_refused(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(canvas_module, "MAX_BODY", 1000)
    page = json.dumps({"conferences": [{"id": i, "title": "x" * 50} for i in range(30)]})
    with pytest.raises(CanvasError) as caught:
        await rig.live(page.encode())
    assert caught.value.reason is PollFailure.INVALID_RESPONSE
    assert "larger than 1000 bytes" in str(caught.value)


class RecordingLane(Lane):
    def __init__(self) -> None:
        super().__init__(1000.0)
        self.pauses: list[float] = []

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        super().pause(seconds)


@pytest.mark.parametrize("retry_after", ["1e12", "inf", "99999999999999999999"])
async def test_a_garbled_retry_after_cannot_silence_the_token(retry_after: str) -> None:
    lane = RecordingLane()
    async with ScriptedCanvas() as canvas, http_session() as session:
        client = make_client(session, fast_source(canvas.url), new_metrics(), lane=lane)
        canvas.answer(LIVE, 429, headers={"Retry-After": retry_after})
        with pytest.raises(CanvasError) as caught:
            await client.live(Deadline(0.5))
    assert caught.value.reason is PollFailure.THROTTLED
    assert lane.pauses  # held, as Canvas asked, but never for longer than the cap
    assert all(0 < pause <= canvas_module.MAX_THROTTLE_WAIT for pause in lane.pauses)
    if retry_after != "inf":  # (``inf`` is no delay at all: the client's own backoff applies)
        assert lane.pauses == [canvas_module.MAX_THROTTLE_WAIT]


# downstream of the client: any record that got through


def through_the_client(records: list[Any]) -> list[Any]:
    """Records as ``canvas_json`` hands them on (surrogates repaired)."""
    return list(repaired(json.loads(json.dumps(records))))


@dataclass
class Downstream:
    metrics: Metrics
    webhook: WebhookSink
    chats: list[ChatSink]


@pytest.fixture
def downstream() -> Downstream:
    session = cast(aiohttp.ClientSession, None)  # render() never sends
    hook = webhook_config("https://hooks.example.edu/x")
    return Downstream(
        Metrics(["main"], []),
        WebhookSink(hook, session),
        [
            ChatSink(webhook_config("https://hooks.example.edu/x", type=kind), session)
            for kind in (SinkType.SLACK, SinkType.TEAMS)
        ],
    )


@FUZZ
@given(
    polls=st.lists(st.lists(RECORD, max_size=6), min_size=1, max_size=4),
    data=st.data(),
    announce=st.booleans(),
)
async def test_diff_and_everything_after_it_take_any_record(
    downstream: Downstream, polls: list[list[Any]], data: st.DataObject, announce: bool
) -> None:
    state = SourceState()
    now = T0
    for records in polls:
        parsed = [Conference.from_api(r) for r in through_the_client(records)]
        snapshot = {c.id: c for c in parsed if c is not None}
        for conference in snapshot.values():  # the typed views never raise
            _ = (conference.started_at, conference.ended_at, conference.context_type)
            _ = (conference.context_id, conference.conference_type, conference.title)
            conference.is_live(now)
        confirmations = {}
        for gone in vanished(state, snapshot):
            answer = data.draw(st.sampled_from(Answer))
            shown = None
            if answer is Answer.FOUND:
                (extra,) = through_the_client([data.draw(RECORDS)])
                shown = Conference.from_api({**extra, "id": gone.id})
            confirmations[gone.id] = Confirmation(answer, shown)
        outcome = diff(
            "main",
            state,
            snapshot,
            confirmations,
            now=now,
            announce_existing=announce,
            grace_polls=2,
            prune=True,
        )
        state = outcome.state
        for tracked in state.tracked.values():
            assert decode_tracked(encode_tracked(tracked).encode()).conference.raw == (
                tracked.conference.raw
            )
        for tomb in state.tombstones.values():
            assert decode_tombstone(encode_tombstone(tomb).encode()) == tomb
        entries = [entry_of(event) for event in outcome.events]
        for entry in entries:
            notice_of(entry.event_id, json.loads(entry.body))
        assert len(downstream.webhook.render(entries)) == len(entries)
        for chat in downstream.chats:
            messages = chat.render(entries)
            assert sorted(e.event_id for m in messages for e in m.entries) == sorted(
                e.event_id for e in entries
            )
        downstream.metrics.set_live("main", state.live())
        await render_pages(downstream.metrics, state)
        now += timedelta(minutes=1)


async def render_pages(metrics: Metrics, state: SourceState) -> None:
    poller = SimpleNamespace(
        name="main",
        state=state,
        failing=None,
        last_success=None,
        elsewhere=False,
        coverage_problem=None,
        describe=lambda conference: None,
    )
    service = SimpleNamespace(pollers=[poller], runners=[], store=MemoryStore(), metrics=metrics)
    app = create_app(cast(Any, service))
    api = await live(make_mocked_request("GET", "/api/v1/live", app=app))
    assert api.status == 200
    shown = json.loads(cast(bytes, api.body))["sources"][0]["conferences"]
    assert len(shown) == len(state.live())


# the poller: a garbage page fails the poll and changes nothing


@dataclass
class PollRig:
    canvas: ScriptedCanvas
    poller: Poller
    store: Store
    metrics: Metrics

    async def version(self) -> int:
        return (await self.store.load("main")).version


@pytest.fixture
async def poll_rig() -> AsyncIterator[PollRig]:
    async with ScriptedCanvas() as canvas, http_session() as session:
        store = MemoryStore()
        await store.open_outbox([SINK], ["main"])
        metrics = new_metrics()
        source = fast_source(canvas.url, announce_existing=True)
        client = make_client(session, source, metrics)
        poller = Poller(source, client, store, metrics, interval=1.0, clock=FakeClock())
        canvas.answer(LIVE, body=GOOD_PAGE)
        assert await poller.poll_once()
        assert len(await committed_events(store)) == 2
        yield PollRig(canvas, poller, store, metrics)


def conforms(body: bytes) -> bool:
    """Would the client take this page? (Then it is not garbage, whatever it looks like.)"""
    try:
        payload = json.loads(body)
        records = expected_records(payload)
    except (ValueError, RecursionError):
        return False
    return records is not None and b"NaN" not in body and b"Infinity" not in body


GARBAGE_PAGES = GARBAGE_BYTES | JSON.map(lambda v: json.dumps(v).encode())


@FUZZ
@given(body=GARBAGE_PAGES)
@example(body=b"[" * 100_000)
@example(body=b'{"conferences": [{"id": 7, "title": NaN}]}')
async def test_a_garbage_page_fails_the_poll_and_changes_nothing(
    poll_rig: PollRig, body: bytes
) -> None:
    assume(not conforms(body))
    before, version = poll_rig.poller.state, await poll_rig.version()
    poll_rig.canvas.answer(LIVE, body=body)
    assert not await poll_rig.poller.poll_once()
    assert poll_rig.poller.failing is PollFailure.INVALID_RESPONSE
    assert poll_rig.poller.state is before
    assert await poll_rig.version() == version  # no commit, so no event either
    live = sample(
        poll_rig.metrics,
        "conference_monitor_live_conferences",
        source="main",
        conference_type="BigBlueButton",
        context_type="Course",
    )
    assert live == 1


async def test_after_garbage_a_good_page_recovers_with_no_false_event(poll_rig: PollRig) -> None:
    for body in (b"[" * 100_000, b"\x00garbage", b'{"conferences": 1}', GOOD_PAGE[:-5]):
        poll_rig.canvas.answer(LIVE, body=body)
        assert not await poll_rig.poller.poll_once()
    poll_rig.canvas.answer(LIVE, body=GOOD_PAGE)
    assert await poll_rig.poller.poll_once()
    assert poll_rig.poller.failing is None
    assert await committed_events(poll_rig.store) == []  # nothing ended, nothing restarted
    failures = sample(
        poll_rig.metrics,
        "conference_monitor_poll_failures_total",
        source="main",
        reason="invalid_response",
    )
    assert failures == 4


@pytest.fixture(params=["memory", "redis"])
async def any_store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    store = RedisStore.from_url(Secret(request.getfixturevalue("redis_url")), consumer="fuzz")
    yield store
    await store.close()


async def test_odd_but_valid_records_commit_and_deliver(any_store: Store) -> None:
    """Surrogates, huge ids, year-1 times and unicode keys: committed, read back, rendered."""
    store = any_store
    await store.open_outbox([SINK], ["main"])
    odd = (
        b'{"conferences": ['
        b'{"id": 1, "title": "\\ud800", "\\udfff": 1, "conference_type": "\\udbff"},'
        b'{"id": 1180591620717411303424, "started_at": "0001-01-01T00:00:00+14:00"},'
        b'{"id": -3, "ended_at": "9999-12-31T23:59:59-14:00", "context_type": "Course",'
        b' "context_id": 1, "started_at": "2026-11-24T09:59:00Z"},'
        b'{"id": 4, "t\\u00eftle": {"x": [[[]]]}, "started_at": 5}'
        b"]}"
    )
    async with ScriptedCanvas() as canvas, http_session() as session:
        metrics = new_metrics()
        source = fast_source(canvas.url, announce_existing=True)
        poller = Poller(
            source, make_client(session, source, metrics), store, metrics, interval=1.0,
            clock=FakeClock(),
        )  # fmt: skip
        canvas.answer(LIVE, body=odd)
        assert await poller.poll_once()
        events = await committed_events(store)
        assert sorted(e.conference_id for e in events) == [-3, 1, 4, 2**70]
        restarted = Poller(
            source, make_client(session, source, metrics), store, metrics, interval=1.0,
            clock=FakeClock(),
        )  # fmt: skip
        canvas.answer(LIVE, body=odd)
        assert await restarted.poll_once()  # the stored state reads back: no change, no event
        assert await committed_events(store) == []
        assert {c.id for c in restarted.state.live()} == {-3, 1, 4, 2**70}
    await render_pages(metrics, restarted.state)
