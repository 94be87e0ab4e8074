"""Teams Workflows messages (an Adaptive Card 1.4 attachment) for notices, and what answers mean.

Workflows ("post to a channel when a webhook request is received") reject card versions above
1.4, so only 1.4 elements and properties appear here. ``TextBlock`` renders Markdown and Teams
clients disagree on backslash escapes, so text that Canvas users wrote (titles) goes into a
``RichTextBlock`` ``TextRun``, which renders no Markdown at all; a ``TextRun``'s
``selectAction`` makes a title a link without Markdown either. Times use the card's
``{{DATE()}}``/``{{TIME()}}`` functions, which show each reader their own time zone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from monitor.core.models import format_time
from monitor.delivery.sinks.base import Attempt, Verdict
from monitor.delivery.sinks.notice import (
    DIGEST_MAX_NOTICES,
    LABELS,
    Chunk,
    Notice,
    NoticeKind,
    answer_detail,
    describe_reason,
    encode,
    format_duration,
    summary,
    truncate,
)

CARD_VERSION: Final = "1.4"
CARD_TYPE: Final = "application/vnd.microsoft.card.adaptive"
SCHEMA: Final = "http://adaptivecards.io/schemas/adaptive-card.json"
#: Our cap on one message's JSON; Teams refuses messages over about 28 KB.
MAX_MESSAGE_BYTES: Final = 24 * 1024
COLORS: Final[dict[NoticeKind, str]] = {
    "started": "Good",
    "ended": "Default",
    "started_and_ended": "Accent",
}
_DISABLING: Final = frozenset({401, 403, 404, 410})


def card_time(moment: datetime) -> str:
    """A time the card shows in the reader's zone (RFC 3339, as the functions require)."""
    stamp = format_time(moment)
    return f"{{{{DATE({stamp}, SHORT)}}}} {{{{TIME({stamp})}}}}"


def message_of(body: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    """The Workflows message around a card with ``body`` and ``actions``."""
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "$schema": SCHEMA,
        "body": body,
    }
    if actions:
        card["actions"] = actions
    attachment = {"contentType": CARD_TYPE, "contentUrl": None, "content": card}
    return {"type": "message", "attachments": [attachment]}


def _open(url: str) -> dict[str, str]:
    return {"type": "Action.OpenUrl", "title": "Open in Canvas", "url": url}


def _facts(notice: Notice) -> list[dict[str, str]]:
    facts = []
    if notice.context:
        facts.append(("Where", truncate(notice.context, 300)))
    facts.append(("Type", truncate(notice.conference_type, 300)))
    if notice.started_at is not None:
        facts.append(("Started", card_time(notice.started_at)))
    if notice.ended_at is not None:
        facts.append(("Ended", card_time(notice.ended_at)))
    if notice.duration is not None and notice.kind != "started":
        facts.append(("Duration", format_duration(notice.duration)))
    reason = describe_reason(notice.reason)
    if reason is not None:
        facts.append(("Reason", reason))
    if notice.restart:
        facts.append(("Restart", "yes: live again after an earlier end"))
    return [{"title": title, "value": value} for title, value in facts]


def teams_message(notice: Notice) -> dict[str, Any]:
    """One card about one notice."""
    footer = f"Conference {notice.conference_id}, noticed {card_time(notice.detected_at)}"
    if notice.source:
        footer = f"Source {truncate(notice.source, 100)}. {footer}"
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": LABELS[notice.kind],
            "weight": "Bolder",
            "color": COLORS[notice.kind],
        },
        {
            "type": "RichTextBlock",
            "spacing": "None",
            "inlines": [
                {
                    "type": "TextRun",
                    "text": truncate(notice.title, 300),
                    "size": "Large",
                    "weight": "Bolder",
                }
            ],
        },
        {"type": "FactSet", "facts": _facts(notice)},
        {"type": "TextBlock", "text": footer, "isSubtle": True, "size": "Small", "wrap": True},
    ]
    return message_of(body, [] if notice.url is None else [_open(notice.url)])


def digest_rows(notice: Notice) -> list[dict[str, Any]]:
    """Two elements per notice: the state and linked title, then the details in small print."""
    title: dict[str, Any] = {"type": "TextRun", "text": truncate(notice.title, 150)}
    if notice.url is not None:
        title["selectAction"] = _open(notice.url)
    label = {
        "type": "TextRun",
        "text": LABELS[notice.kind] + " ",
        "weight": "Bolder",
        "color": COLORS[notice.kind],
    }
    details = [truncate(notice.context, 60)] if notice.context else []
    details.append(truncate(notice.conference_type, 60))
    if notice.kind == "started" and notice.started_at is not None:
        details.append("since " + card_time(notice.started_at))
    if notice.kind != "started" and notice.duration is not None:
        details.append("lasted " + format_duration(notice.duration))
    if describe_reason(notice.reason) is not None and notice.reason is not None:
        details.append(truncate(notice.reason, 60).replace("_", " "))
    if notice.restart:
        details.append("restart")
    return [
        {"type": "RichTextBlock", "separator": True, "inlines": [label, title]},
        {
            "type": "TextBlock",
            "text": " · ".join(details),
            "isSubtle": True,
            "size": "Small",
            "spacing": "None",
            "wrap": True,
        },
    ]


def _heading(text: str) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "weight": "Bolder", "size": "Medium", "wrap": True}


def teams_digest(notices: Sequence[Notice]) -> list[Chunk]:
    """Cards that list ``notices``, each message under ``MAX_MESSAGE_BYTES``, in order.

    Sizes add up exactly: a compact JSON list is its items joined by commas, so a card's size is
    its frame (measured with the longest heading it could get) plus each row's bytes plus one.
    """
    worst = f"{10**6} conferences: " + ", ".join(f"{10**6} {k}" for k in LABELS)
    budget = MAX_MESSAGE_BYTES - len(
        encode(message_of([_heading(worst + " (part 999 of 999)")], []))
    )
    groups: list[list[tuple[Notice, list[dict[str, Any]]]]] = [[]]
    used = 0
    for notice in notices:
        rows = digest_rows(notice)
        size = _size(rows)
        if groups[-1] and (used + size > budget or len(groups[-1]) >= DIGEST_MAX_NOTICES):
            groups.append([])
            used = 0
        groups[-1].append((notice, rows))
        used += size
    groups = [group for group in groups if group]
    chunks = []
    for number, group in enumerate(groups, 1):
        listed = tuple(notice for notice, _ in group)
        heading = summary(listed)
        if len(groups) > 1:
            heading += f" (part {number} of {len(groups)})"
        body = [_heading(heading)] + [row for _, rows in group for row in rows]
        chunks.append(Chunk(message_of(body, []), listed))
    return chunks


def _size(rows: list[dict[str, Any]]) -> int:
    """Bytes ``rows`` add to a card's body list (each item and its comma)."""
    return sum(len(encode(row)) + 1 for row in rows)


def teams_verdict(status: int, body: bytes, retry_after: float | None, url: str = "") -> Attempt:
    """What a Workflows (or legacy connector) answer means; any 2xx is a delivery.

    Legacy connectors report throttling as a 200 or 4xx whose body mentions 429, so the body is
    read before the status.
    """
    text = body.decode("utf-8", "replace").lower()
    detail = answer_detail(status, body, url)
    # A connector's "HTTP error 429" (or "throttled") in the body, not just any "429" in it:
    # a delivered card whose echo happens to contain 429 must not be posted twice.
    throttled = "throttl" in text or re.search(r"\b(?:error|status|code)\D{0,3}429\b", text)
    if status == 429 or throttled:
        return Attempt(Verdict.RETRY, status, "throttled", retry_after, detail)
    if 200 <= status < 300:
        return Attempt.ok(status)
    if status >= 500:
        return Attempt(Verdict.RETRY, status, "http_5xx", retry_after, detail)
    if status in _DISABLING:
        return Attempt(Verdict.DISABLED, status, "http_4xx", detail=detail)
    if status >= 400:
        return Attempt(Verdict.REJECTED, status, "http_4xx", detail=detail)
    return Attempt(Verdict.RETRY, status, "http_3xx", retry_after, detail)
