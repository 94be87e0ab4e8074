"""Chat notices, Slack and Teams messages, digests and verdicts: pure functions, no network."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.models import Conference, EndReason, Event, EventType, event_id, format_time
from monitor.delivery.sinks.base import Attempt, Verdict
from monitor.delivery.sinks.notice import (
    DIGEST_MAX_NOTICES,
    Chunk,
    Notice,
    encode,
    format_duration,
    merge,
    notice_of,
    safe_url,
)
from monitor.delivery.sinks.slack_format import slack_digest, slack_message, slack_verdict
from monitor.delivery.sinks.teams_format import (
    MAX_MESSAGE_BYTES,
    teams_digest,
    teams_message,
    teams_verdict,
)
from tests.support.chat_examples import examples
from tests.support.chat_receivers import slack_problems, teams_problems
from tests.support.factories import NOW, raw_conference
from tests.support.paths import ROOT

START = NOW - timedelta(minutes=65)


def make(
    kind: EventType,
    conference_id: int = 42,
    *,
    source: str = "main",
    detected: datetime = NOW,
    reason: EndReason | None = None,
    restart: bool = False,
    **fields: Any,
) -> Notice:
    """A notice made the way the sinks will make it: from a real event's envelope."""
    fields.setdefault("started_at", START)
    raw = raw_conference(conference_id, **fields)
    started = raw["started_at"]
    generation = 1 if restart else 0
    event = Event(
        id=event_id(source, conference_id, started or "", generation, kind),
        type=kind,
        source=source,
        conference=Conference(conference_id, raw),
        started_at=started,
        ended_at=raw["ended_at"],
        detected_at=detected,
        restart=restart,
        reason=reason if kind is EventType.ENDED else None,
    )
    return notice_of(event.id, event.envelope())


def started(conference_id: int = 42, **kwargs: Any) -> Notice:
    return make(EventType.STARTED, conference_id, **kwargs)


def ended(conference_id: int = 42, **kwargs: Any) -> Notice:
    kwargs.setdefault("reason", EndReason.ENDED)
    return make(EventType.ENDED, conference_id, **kwargs)


def mrkdwn_texts(payload: dict[str, Any]) -> list[str]:
    """Every string Slack parses as mrkdwn in ``payload``."""
    found = [payload["text"]]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(payload["blocks"])
    return found


def card(payload: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = payload["attachments"][0]["content"]
    return content


def facts(payload: dict[str, Any]) -> dict[str, str]:
    factset = next(e for e in card(payload)["body"] if e["type"] == "FactSet")
    return {fact["title"]: fact["value"] for fact in factset["facts"]}


# --- notices ---------------------------------------------------------------------------------


def test_a_start_notice_carries_the_conference_facts() -> None:
    notice = started(42, title="Office hours", context_type="Group", context_id=7)
    assert notice.kind == "started"
    assert (notice.source, notice.conference_id, notice.title) == ("main", 42, "Office hours")
    assert (notice.context, notice.conference_type) == ("Group 7", "BigBlueButton")
    assert notice.url == "https://canvas.test/courses/7/conferences/42"
    assert notice.started_at == START
    assert notice.detected_at == NOW
    assert (notice.ended_at, notice.duration, notice.reason, notice.restart) == (
        None,
        None,
        None,
        False,
    )
    assert len(notice.event_ids) == 1
    assert notice.event_ids[0].startswith("evt_")


def test_an_end_lasts_until_canvas_ended_at_or_else_until_detection() -> None:
    with_end = ended(ended_at=START + timedelta(minutes=50), detected=NOW)
    assert with_end.ended_at == START + timedelta(minutes=50)
    assert with_end.duration == timedelta(minutes=50)
    without = ended(ended_at=None, detected=NOW, reason=EndReason.EXPIRED)
    assert without.ended_at is None
    assert without.duration == timedelta(minutes=65)
    assert without.reason == "expired"


@pytest.mark.parametrize(
    "conference",
    [
        {},
        {"id": "42", "title": 5, "context_type": None, "url": 7, "started_at": "yesterday"},
        {"id": True, "title": "  multi\nline\ttitle ", "context_id": "101", "recordings": None},
        {"id": 1, "conference_type": "", "context_type": "Course", "started_at": "2026-13-45"},
    ],
)
def test_odd_conference_objects_give_defaults_not_errors(conference: dict[str, Any]) -> None:
    envelope = {"type": "conference.ended", "data": {"conference": conference, "reason": 3}}
    notice = notice_of("evt_1", envelope)
    assert notice.title in ("Untitled conference", "multi line title")
    assert notice.conference_type == "unknown"
    assert notice.url is None
    assert notice.started_at is None
    assert notice.duration is None
    assert notice.detected_at == datetime(1970, 1, 1, tzinfo=UTC)
    assert slack_problems(slack_message(notice)) == []
    assert teams_problems(teams_message(notice)) == []


def test_an_envelope_that_is_no_conference_event_is_refused() -> None:
    with pytest.raises(ValueError, match=r"monitor\.test"):
        notice_of("evt_test", {"type": "monitor.test", "data": {}})
    with pytest.raises(ValueError, match="not a conference event"):
        notice_of("evt_list", cast(Any, ["conference.started"]))


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://canvas.test/courses/1/conferences/2", True),
        ("HTTP://canvas.test/x?a=1&b=2", True),
        ("javascript:alert(1)", False),
        ("ftp://canvas.test/x", False),
        ("https://", False),
        ("/courses/1/conferences/2", False),
        ("https://canvas.test/a b", False),
        ("https://canvas.test/a>b|c", False),
        ("https://canvas.test/" + "x" * 3000, False),
        (None, False),
    ],
)
def test_only_plain_http_links_are_kept(url: str | None, kept: bool) -> None:
    assert safe_url(url) == (url if kept else None)
    assert (started(url=url).url is not None) is kept


@pytest.mark.parametrize(
    ("duration", "words"),
    [
        (timedelta(seconds=40), "40 s"),
        (timedelta(minutes=5), "5 min"),
        (timedelta(hours=2), "2 h"),
        (timedelta(hours=1, minutes=5, seconds=59), "1 h 5 min"),
        (timedelta(days=1, minutes=2), "1 d 2 min"),
    ],
)
def test_durations_read_naturally(duration: timedelta, words: str) -> None:
    assert format_duration(duration) == words


# --- merging a digest window -------------------------------------------------------------------


def test_a_start_and_its_end_become_one_notice_in_the_start_place() -> None:
    a_start, b_start, a_end = started(1), started(2), ended(1, ended_at=NOW)
    c_end = ended(3)
    merged = merge([a_start, b_start, a_end, c_end])
    assert [(n.conference_id, n.kind) for n in merged] == [
        (1, "started_and_ended"),
        (2, "started"),
        (3, "ended"),
    ]
    assert merged[0].event_ids == a_start.event_ids + a_end.event_ids
    assert merged[0].duration == timedelta(minutes=65)


def test_an_end_without_its_start_stays_an_end() -> None:
    notices = [ended(1), started(2)]
    assert merge(notices) == notices


def test_interleaved_conferences_merge_each_with_its_own() -> None:
    merged = merge([started(1), started(2), ended(2), ended(1)])
    assert [(n.conference_id, n.kind) for n in merged] == [
        (1, "started_and_ended"),
        (2, "started_and_ended"),
    ]


def test_a_restart_is_not_merged_with_the_previous_generation_end() -> None:
    first_end, restart = ended(1), started(1, restart=True)
    assert merge([first_end, restart]) == [first_end, restart]
    merged = merge([started(1), ended(1), restart, ended(1, restart=True)])
    assert [n.kind for n in merged] == ["started_and_ended", "started_and_ended"]
    assert [n.restart for n in merged] == [False, True]
    assert len({ids for n in merged for ids in n.event_ids}) == 4


def test_each_end_folds_into_at_most_the_one_start_just_before_it() -> None:
    again = ended(1)  # e.g. an entry delivered twice (delivery is at-least-once)
    merged = merge([started(1), ended(1), again])
    assert [n.kind for n in merged] == ["started_and_ended", "ended"]
    assert merged[1] is again


def test_the_same_id_from_two_sources_is_two_conferences() -> None:
    notices = [started(1, source="main"), ended(1, source="other")]
    assert merge(notices) == notices


# --- one message ------------------------------------------------------------------------------


def test_a_slack_start_shows_the_facts_and_a_link() -> None:
    message = slack_message(started(42, title="Office hours", context_id=101))
    assert message["text"] == "Live now: Office hours (Course 101)"
    header = message["blocks"][0]["text"]["text"]
    assert "Office hours" in header
    assert "Live now" in header
    texts = "\n".join(mrkdwn_texts(message))
    assert "Course 101" in texts
    assert "BigBlueButton" in texts
    stamp = int(START.timestamp())
    assert f"<!date^{stamp}^{{date_short_pretty}} {{time}}|{format_time(START)}>" in texts
    assert "Duration" not in texts
    assert "Reason" not in texts
    assert "Restart" not in texts
    button = message["blocks"][2]["elements"][0]
    assert button["url"] == "https://canvas.test/courses/101/conferences/42"
    assert button["text"]["text"] == "Open in Canvas"
    assert slack_problems(message) == []


@pytest.mark.parametrize(
    ("reason", "shown"),
    [
        (EndReason.ENDED, None),
        (EndReason.EXPIRED, "expired"),
        (EndReason.OUT_OF_SCOPE, "out of scope"),
        (EndReason.UNCONFIRMED, "unconfirmed"),
    ],
)
def test_an_end_shows_its_duration_and_a_reason_only_when_not_plain(
    reason: EndReason, shown: str | None
) -> None:
    notice = ended(ended_at=START + timedelta(minutes=65), reason=reason)
    slack = "\n".join(mrkdwn_texts(slack_message(notice)))
    teams = facts(teams_message(notice))
    assert "*Duration*\n1 h 5 min" in slack
    assert teams["Duration"] == "1 h 5 min"
    assert "Ended" in teams
    if shown is None:
        assert "Reason" not in slack
        assert "Reason" not in teams
    else:
        assert f"*Reason*\n{shown}" in slack
        assert teams["Reason"].startswith(shown)
    lines = [
        slack_digest([notice])[0].payload["blocks"][1]["text"]["text"],
        json.dumps(teams_digest([notice])[0].payload),
    ]
    for line in lines:
        assert "lasted 1 h 5 min" in line
        assert (shown is not None and shown in line) or "expired" not in line


def test_a_restart_says_so() -> None:
    notice = started(restart=True)
    assert "*Restart*\nyes" in "\n".join(mrkdwn_texts(slack_message(notice)))
    assert facts(teams_message(notice))["Restart"].startswith("yes")
    assert "restart" in slack_digest([notice])[0].payload["blocks"][1]["text"]["text"]


def test_titles_cannot_forge_slack_markup_but_read_as_written() -> None:
    title = "Q&A <!channel> <https://evil.test|click>"
    message = slack_message(started(title=title))
    for text in mrkdwn_texts(message):
        assert "<!channel>" not in text
        assert "<https://evil" not in text
    assert "Q&amp;A &lt;!channel&gt;" in message["text"]
    assert message["blocks"][0]["text"]["text"].endswith(title)  # plain_text: not parsed
    line = slack_digest([started(title=title)])[0].payload["blocks"][1]["text"]["text"]
    assert "&lt;!channel&gt;" in line
    assert "<!channel>" not in line
    run = card(teams_message(started(title=title)))["body"][1]["inlines"][0]
    assert run == {"type": "TextRun", "text": title, "size": "Large", "weight": "Bolder"}


def test_no_link_without_an_http_url() -> None:
    notice = started(url="javascript:alert(1)")
    assert all(b["type"] != "actions" for b in slack_message(notice)["blocks"])
    assert "actions" not in card(teams_message(notice))
    assert "<javascript" not in json.dumps(slack_digest([notice])[0].payload)
    assert "selectAction" not in json.dumps(teams_digest([notice])[0].payload)


def test_a_teams_card_is_version_1_4_with_the_facts_and_an_open_action() -> None:
    message = teams_message(started(42, title="Office hours", context_id=101))
    assert message["type"] == "message"
    attachment = message["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    assert card(message)["version"] == "1.4"
    assert facts(message) == {
        "Where": "Course 101",
        "Type": "BigBlueButton",
        "Started": f"{{{{DATE({format_time(START)}, SHORT)}}}} {{{{TIME({format_time(START)})}}}}",
    }
    assert card(message)["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Open in Canvas",
            "url": "https://canvas.test/courses/101/conferences/42",
        }
    ]
    assert teams_problems(message) == []


def test_long_titles_are_cut_to_the_limits() -> None:
    notice = started(title="&<>é😀 " * 400, context_type="Course" * 500)
    message = slack_message(notice)
    header = message["blocks"][0]["text"]["text"]
    assert header.endswith("…")
    assert len(header.encode("utf-16-le")) // 2 == 150
    assert slack_problems(message) == []
    assert teams_problems(teams_message(notice)) == []


# --- digests ------------------------------------------------------------------------------------


def batch(count: int, title: str = "Conference") -> list[Notice]:
    kinds = [started, ended, started]
    return [kinds[i % 3](i, title=f"{title} {i}") for i in range(count)]


def check_chunks(chunks: list[Chunk], notices: list[Notice], *, slack: bool) -> None:
    """Every notice once, in order; every message inside the receiver's limits."""
    assert [n for chunk in chunks for n in chunk.notices] == notices
    for chunk in chunks:
        assert 1 <= len(chunk.notices) <= DIGEST_MAX_NOTICES
        if slack:
            assert slack_problems(chunk.payload) == []
        else:
            assert len(encode(chunk.payload)) <= MAX_MESSAGE_BYTES
            assert teams_problems(chunk.payload) == []


def test_a_digest_summarises_then_lists_one_line_per_notice() -> None:
    notices = batch(12)
    (chunk,) = slack_digest(notices)
    assert chunk.payload["text"] == "12 conferences: 8 started, 4 ended"
    lines = chunk.payload["blocks"][1]["text"]["text"].split("\n")
    assert len(lines) == 12
    assert all(f"/conferences/{i}|Conference {i}>" in line for i, line in enumerate(lines))
    assert [line.split("*")[1] for line in lines[:3]] == ["Live now", "Ended", "Live now"]
    rows = card(teams_digest(notices)[0].payload)["body"][1:]
    assert [row["inlines"][1]["text"] for row in rows[::2]] == [
        f"Conference {i}" for i in range(12)
    ]
    (teams,) = teams_digest(notices)
    assert card(teams.payload)["body"][0]["text"] == "12 conferences: 8 started, 4 ended"
    assert slack_digest([]) == teams_digest([]) == []


@pytest.mark.parametrize("title", ["Conference", "&<>" * 50 + "😀" * 40])
def test_200_notices_split_into_valid_messages(title: str) -> None:
    notices = batch(200, title)
    slack, teams = slack_digest(notices), teams_digest(notices)
    check_chunks(slack, notices, slack=True)
    check_chunks(teams, notices, slack=False)
    assert len(slack) >= 4
    assert len(teams) >= 4
    assert slack[0].payload["text"].endswith(f"(part 1 of {len(slack)})")


def test_long_lines_split_on_the_slack_block_limit() -> None:
    url = "https://canvas.test/x?" + "&" * 190  # escaped, just under a digest line's link limit
    notices = [started(i, title="&" * 600, url=url) for i in range(DIGEST_MAX_NOTICES)]
    assert all(
        url in chunk.payload["blocks"][1]["text"]["text"].replace("&amp;", "&")
        for chunk in slack_digest(notices[:1])
    )
    chunks = slack_digest(notices)
    check_chunks(chunks, notices, slack=True)
    assert len(chunks) == 2  # 50 one-line sections and a header would be 51 blocks
    assert len(chunks[0].payload["blocks"]) == 50


def test_the_longest_possible_line_still_fits_a_section() -> None:
    url = "https://canvas.test/?" + "&" * 2000
    amp = "&" * 200
    notice = ended(
        title=amp, context_type=amp, conference_type=amp, url=url, reason=EndReason.EXPIRED
    )
    notice = dataclasses.replace(notice, reason=amp)  # a reason this code does not know
    (chunk,) = slack_digest([notice])
    check_chunks([chunk], [notice], slack=True)
    assert "|&amp;" not in chunk.payload["blocks"][1]["text"]["text"]  # listed without its link
    check_chunks(teams_digest([notice]), [notice], slack=False)


titles = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=400)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(titles, st.booleans(), st.booleans()), max_size=120))
def test_any_batch_splits_into_valid_messages(items: list[tuple[str, bool, bool]]) -> None:
    notices = [
        (ended if is_end else started)(
            i, title=title, url=None if no_url else f"https://c.test/{i}"
        )
        for i, (title, is_end, no_url) in enumerate(items)
    ]
    check_chunks(slack_digest(notices), notices, slack=True)
    check_chunks(teams_digest(notices), notices, slack=False)


def test_a_merged_notice_is_listed_once() -> None:
    notices = merge([started(1), started(2), ended(1), started(3)])
    (chunk,) = slack_digest(notices)
    assert chunk.payload["text"] == "3 conferences: 2 started, 1 started and ended"
    assert chunk.payload["blocks"][1]["text"]["text"].count("Conference 1") == 1
    assert len(chunk.notices[0].event_ids) == 2


# --- verdicts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "verdict", "failure"),
    [
        (200, b"ok", Verdict.DELIVERED, None),
        (429, b"rate_limited", Verdict.RETRY, "throttled"),
        (500, b"rollup_error", Verdict.RETRY, "http_5xx"),
        (503, b"<html>busy</html>", Verdict.RETRY, "http_5xx"),
        (400, b"invalid_payload", Verdict.REJECTED, "http_4xx"),
        (400, b"no_text", Verdict.REJECTED, "http_4xx"),
        (403, b"action_prohibited", Verdict.DISABLED, "http_4xx"),
        (404, b"channel_not_found", Verdict.DISABLED, "http_4xx"),
        (410, b"channel_is_archived", Verdict.DISABLED, "http_4xx"),
        (404, b"", Verdict.DISABLED, "http_4xx"),
        (200, b"no_service", Verdict.DISABLED, "http_4xx"),
        (403, b"invalid_token", Verdict.DISABLED, "http_4xx"),
        (400, b"posting_to_general_channel_denied", Verdict.DISABLED, "http_4xx"),
        (403, b"team_disabled", Verdict.DISABLED, "http_4xx"),
        (413, b"too big", Verdict.REJECTED, "http_4xx"),
        (200, b"something else", Verdict.RETRY, "rejected"),
        (302, b"", Verdict.RETRY, "http_3xx"),
    ],
)
def test_slack_answers(status: int, body: bytes, verdict: Verdict, failure: str | None) -> None:
    attempt = slack_verdict(status, body, 3.0)
    assert (attempt.verdict, attempt.failure, attempt.status) == (verdict, failure, status)
    assert attempt.retry_after == (3.0 if verdict is Verdict.RETRY else None)
    if not attempt.delivered:
        assert attempt.detail == f"HTTP {status} {body.decode()}".strip()


@pytest.mark.parametrize(
    ("status", "body", "verdict", "failure"),
    [
        (202, b"", Verdict.DELIVERED, None),
        (200, b"1", Verdict.DELIVERED, None),
        (202, b'{"echo":"room 429"}', Verdict.DELIVERED, None),  # a 429 that is no error
        (429, b"", Verdict.RETRY, "throttled"),
        (200, b"Microsoft Teams endpoint returned HTTP error 429", Verdict.RETRY, "throttled"),
        (400, b'{"error":"Request throttled"}', Verdict.RETRY, "throttled"),
        (502, b"bad gateway", Verdict.RETRY, "http_5xx"),
        (400, b'{"error":{"code":"InvalidRequestContent"}}', Verdict.REJECTED, "http_4xx"),
        (401, b"", Verdict.DISABLED, "http_4xx"),
        (403, b"", Verdict.DISABLED, "http_4xx"),
        (404, b"", Verdict.DISABLED, "http_4xx"),
        (410, b"", Verdict.DISABLED, "http_4xx"),
        (413, b"", Verdict.REJECTED, "http_4xx"),
        (301, b"", Verdict.RETRY, "http_3xx"),
    ],
)
def test_teams_answers(status: int, body: bytes, verdict: Verdict, failure: str | None) -> None:
    attempt = teams_verdict(status, body, 2.0)
    assert (attempt.verdict, attempt.failure, attempt.status) == (verdict, failure, status)
    assert attempt.retry_after == (2.0 if verdict is Verdict.RETRY else None)


def test_answer_details_never_carry_urls_or_signatures() -> None:
    secret = b"see https://hooks.slack.com/services/T0/B0/sekrit and sig=abc123 " + b"x" * 300
    for verdict in (slack_verdict, teams_verdict):
        detail = verdict(400, secret, None).detail
        assert "sekrit" not in detail
        assert "abc123" not in detail
        assert len(detail) <= len("HTTP 400 ") + 100


@pytest.mark.parametrize("verdict", [slack_verdict, teams_verdict])
def test_answer_details_blank_the_parts_of_the_sinks_own_url(
    verdict: Callable[..., Attempt],
) -> None:
    url = "https://hooks.example/services/T0AAAA/B0BBBB/PathSecret77?sig=QuerySig88&v=1"
    body = b"Cannot POST /services/T0AAAA/B0BBBB/PathSecret77 (also PathSecret77, QuerySig88)"
    detail = verdict(404, body, None, url).detail
    assert "PathSecret77" not in detail
    assert "QuerySig88" not in detail
    assert detail.startswith("HTTP 404 Cannot POST <redacted>")


# --- docs ----------------------------------------------------------------------------------------


def test_docs_chat_md_is_what_the_code_sends() -> None:
    path = ROOT / "docs" / "chat.md"
    assert path.read_text(encoding="utf-8") == examples(), (
        "docs/chat.md is out of date: run `python -m tests.support.chat_examples > docs/chat.md`"
    )
