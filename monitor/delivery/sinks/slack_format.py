"""Slack incoming-webhook messages (Block Kit) for notices, and what Slack's answers mean.

A message has a plain ``text`` (what notifications show) and ``blocks`` (what the channel shows).
Times use Slack's ``<!date^…>`` token so each reader sees their own time zone. Titles come from
Canvas users: in ``mrkdwn`` they are escaped (``&``, ``<``, ``>``) so a title cannot forge a link
or a ``<!channel>`` ping; ``plain_text`` (the header) is shown as written and is not escaped.
Every text is cut to Slack's limits before it is escaped, so an entity is never cut in half.
"""

from __future__ import annotations

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
    format_duration,
    summary,
    text_length,
    truncate,
)

MAX_BLOCKS: Final = 50
MAX_SECTION_TEXT: Final = 3000
MAX_HEADER: Final = 150
MAX_FIELDS: Final = 10
MAX_FIELD: Final = 2000
MAX_BUTTON_URL: Final = 3000
EMOJI: Final[dict[NoticeKind, str]] = {
    "started": ":large_green_circle:",
    "ended": ":white_circle:",
    "started_and_ended": ":large_blue_circle:",
}
#: Answers that mean the webhook is gone or forbidden for good: stop sending, keep the events.
DISABLING: Final = frozenset(
    {
        "no_service",
        "no_service_id",
        "no_team",
        "team_disabled",
        "invalid_token",
        "channel_not_found",
        "channel_is_archived",
        "action_prohibited",
        "posting_to_general_channel_denied",
    }
)
#: Answers that mean this message will never be taken (the next one may be).
REJECTING: Final = frozenset({"invalid_payload", "no_text"})


def escape(text: str) -> str:
    """Slack's three control characters, as Slack asks: ``&amp;`` ``&lt;`` ``&gt;``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_date(moment: datetime, form: str = "{date_short_pretty} {time}") -> str:
    """A time each reader sees in their own zone; the ISO fallback for old clients."""
    return f"<!date^{int(moment.timestamp())}^{form}|{format_time(moment)}>"


def _field(label: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": truncate(f"*{label}*\n{value}", MAX_FIELD)}


def _fields(notice: Notice) -> list[dict[str, str]]:
    fields = []
    if notice.context:
        fields.append(_field("Where", escape(truncate(notice.context, 300))))
    fields.append(_field("Type", escape(truncate(notice.conference_type, 300))))
    if notice.started_at is not None:
        fields.append(_field("Started", slack_date(notice.started_at)))
    if notice.ended_at is not None:
        fields.append(_field("Ended", slack_date(notice.ended_at)))
    if notice.duration is not None and notice.kind != "started":
        fields.append(_field("Duration", format_duration(notice.duration)))
    reason = describe_reason(notice.reason)
    if reason is not None:
        fields.append(_field("Reason", escape(reason)))
    if notice.restart:
        fields.append(_field("Restart", "yes: live again after an earlier end"))
    return fields[:MAX_FIELDS]


def slack_message(notice: Notice) -> dict[str, Any]:
    """One Block Kit message about one notice."""
    label = LABELS[notice.kind]
    where = f" ({escape(truncate(notice.context, 300))})" if notice.context else ""
    header = truncate(f"{EMOJI[notice.kind]} {label}: {notice.title}", MAX_HEADER)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        {"type": "section", "fields": _fields(notice)},
    ]
    if notice.url is not None and len(notice.url) <= MAX_BUTTON_URL:
        button = {
            "type": "button",
            "text": {"type": "plain_text", "text": "Open in Canvas"},
            "url": notice.url,
            "action_id": "open_in_canvas",
        }
        blocks.append({"type": "actions", "elements": [button]})
    footer = f"conference {notice.conference_id} · noticed {slack_date(notice.detected_at)}"
    if notice.source:
        footer = f"source {escape(truncate(notice.source, 100))} · {footer}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
    return {"text": f"{label}: {escape(truncate(notice.title, 300))}{where}", "blocks": blocks}


def digest_line(notice: Notice) -> str:
    """One compact mrkdwn line, never longer than a section's text (else without its link).

    Without the link a line is at most ~1,900 characters: every part is cut before escaping.
    """
    details = [escape(truncate(notice.context, 60))] if notice.context else []
    details.append(escape(truncate(notice.conference_type, 60)))
    if notice.kind == "started" and notice.started_at is not None:
        details.append("since " + slack_date(notice.started_at))
    if notice.kind != "started" and notice.duration is not None:
        details.append("lasted " + format_duration(notice.duration))
    if describe_reason(notice.reason) is not None and notice.reason is not None:
        details.append(escape(truncate(notice.reason, 60).replace("_", " ")))
    if notice.restart:
        details.append("restart")
    title = escape(truncate(notice.title, 150))
    lead = f"{EMOJI[notice.kind]} *{LABELS[notice.kind]}* "
    line = " · ".join([lead + title, *details])
    if notice.url is not None:
        linked = " · ".join([f"{lead}<{escape(notice.url)}|{title}>", *details])
        if text_length(linked) <= MAX_SECTION_TEXT:
            return linked
    return line


def _sections(notices: Sequence[Notice]) -> list[list[tuple[str, ...]]]:
    """Notices packed into messages of sections of lines, every limit kept."""
    messages: list[list[tuple[str, ...]]] = []
    sections: list[tuple[str, ...]] = []
    count = 0
    for notice in notices:
        line = digest_line(notice)
        if count >= DIGEST_MAX_NOTICES:
            messages.append(sections)
            sections, count = [], 0
        last = sections[-1] if sections else None
        if last is not None and text_length("\n".join((*last, line))) <= MAX_SECTION_TEXT:
            sections[-1] = (*last, line)
        else:
            if len(sections) >= MAX_BLOCKS - 1:  # one block is the header
                messages.append(sections)
                sections, count = [], 0
            sections.append((line,))
        count += 1
    if sections:
        messages.append(sections)
    return messages


def slack_digest(notices: Sequence[Notice]) -> list[Chunk]:
    """Messages that list ``notices`` compactly, each inside Slack's limits, in order."""
    messages = _sections(notices)
    chunks: list[Chunk] = []
    start = 0
    for number, sections in enumerate(messages, 1):
        listed = tuple(notices[start : start + sum(len(s) for s in sections)])
        start += len(listed)
        title = summary(listed)
        if len(messages) > 1:
            title += f" (part {number} of {len(messages)})"
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": title}}
        ]
        blocks.extend(
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}
            for lines in sections
        )
        chunks.append(Chunk({"text": title, "blocks": blocks}, listed))
    return chunks


def slack_verdict(status: int, body: bytes, retry_after: float | None, url: str = "") -> Attempt:
    """What an incoming webhook's answer means; only ``200 ok`` is a delivery."""
    code = body.decode("utf-8", "replace").strip()
    detail = answer_detail(status, body, url)
    if 200 <= status < 300 and code == "ok":
        return Attempt.ok(status)
    if status == 429:
        return Attempt(Verdict.RETRY, status, "throttled", retry_after, detail)
    if code in DISABLING or status in (404, 410):
        return Attempt(Verdict.DISABLED, status, "http_4xx", detail=detail)
    if code in REJECTING:
        return Attempt(Verdict.REJECTED, status, "http_4xx", detail=detail)
    if status >= 500:
        return Attempt(Verdict.RETRY, status, "http_5xx", retry_after, detail)
    if status >= 400:
        return Attempt(Verdict.REJECTED, status, "http_4xx", detail=detail)
    if status >= 300:
        return Attempt(Verdict.RETRY, status, "http_3xx", retry_after, detail)
    return Attempt(Verdict.RETRY, status, "rejected", retry_after, detail)
