"""What a chat message says about a conference: one ``Notice`` per event, or per start-and-end pair.

Chat sinks (Slack, Teams) do not post the event JSON: they post something a person can read and act
on. ``notice_of`` reads the facts out of one event envelope (docs/design.md, "Events") leniently,
because the ``conference`` object is Canvas's own and may lack or mistype any field; ``merge``
folds a start and its end that fall in the same digest window into one "started and ended" notice,
so a conference that flapped inside ``group_wait`` is shown once (Alertmanager's flap suppression).
Everything here is pure: no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from monitor.core.models import parse_time

NoticeKind = Literal["started", "ended", "started_and_ended"]

#: What a reader sees first: the state the conference is in.
LABELS: Final[Mapping[NoticeKind, str]] = {
    "started": "Live now",
    "ended": "Ended",
    "started_and_ended": "Started and ended",
}
#: The end reasons worth explaining (a plain ``ended`` needs no words).
REASONS: Final[Mapping[str, str]] = {
    "expired": "expired: still running after 24 h, when Canvas stops listing it as live",
    "out_of_scope": "out of scope: the monitor's Canvas token can no longer see it",
    "unconfirmed": "unconfirmed: Canvas did not confirm the end",
}
#: Most notices one digest message lists, so that a person can still scan it (and Slack's
#: 40,000-character message cap stays far away); longer batches become several messages.
DIGEST_MAX_NOTICES: Final = 50
#: Longest link a notice carries; longer ones are beyond what browsers and chats reliably take.
MAX_URL: Final = 2048
#: Used when an envelope carries no usable detection time: deterministic, and obviously wrong.
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_TYPES: Final[Mapping[str, NoticeKind]] = {
    "conference.started": "started",
    "conference.ended": "ended",
}
# Characters that break a link in chat markup (Slack ``<url|label>``, Markdown ``[x](url)``).
_URL_BREAKERS: Final = re.compile(r"[\s<>\"|`\\{}^\x00-\x1f\x7f]")
_SECRETS: Final = re.compile(r"https?://\S+|\b(?:sig|code|token)=[^\s&\"']+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Notice:
    """The facts one chat message shows about one conference."""

    kind: NoticeKind
    source: str
    conference_id: int
    title: str
    context: str  # "BIO-101 · Introduction to Biology", else "Course 101" / "Group 7"
    conference_type: str  # "BigBlueButton", ...
    url: str | None  # the conference's HTML page; http(s) only (Canvas's join_url is always null)
    started_at: datetime | None
    ended_at: datetime | None  # Canvas's ended_at: None unless Canvas set one
    duration: timedelta | None  # on an end: (ended_at or detection time) - started_at
    reason: str | None  # why it ended; chat explains it only when not the plain "ended"
    restart: bool
    detected_at: datetime
    event_ids: tuple[str, ...]  # the events this notice delivers (1, or 2 when merged)


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chat message of a digest, and the notices it lists (in order)."""

    payload: dict[str, Any]
    notices: tuple[Notice, ...]


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str:
    """A one-line string: chat lines and headers must not be split by a title's newlines."""
    return " ".join(value.split()) if isinstance(value, str) else ""


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def safe_url(value: object) -> str | None:
    """``value`` if it is an absolute http(s) URL that chat markup can carry intact, else None."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_URL or _URL_BREAKERS.search(value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def duration_between(start: datetime | None, end: datetime | None) -> timedelta | None:
    if start is None or end is None or end < start:
        return None
    return end - start


def notice_of(event_id: str, envelope: Mapping[str, Any]) -> Notice:
    """The notice for one event envelope.

    Only the event ``type`` must be right (``ValueError`` otherwise: a test event or a type this
    code does not know has no notice); any other missing or odd field gets a harmless default,
    because a chat message about a strange conference beats a dead-lettered event.
    """
    envelope = _mapping(envelope)  # a JSON body that is not an object is no event either
    kind = _TYPES.get(str(envelope.get("type")))
    if kind is None:
        raise ValueError(f"not a conference event: {str(envelope.get('type'))[:100]!r}")
    data = _mapping(envelope.get("data"))
    conference = _mapping(data.get("conference"))
    context = context_label(_mapping(data.get("context")), conference)
    started_at = parse_time(data.get("started_at")) or parse_time(conference.get("started_at"))
    detected_at = (
        parse_time(data.get("detected_at")) or parse_time(envelope.get("timestamp")) or _EPOCH
    )
    ended_at = duration = reason = None
    if kind == "ended":
        ended_at = parse_time(data.get("ended_at")) or parse_time(conference.get("ended_at"))
        duration = duration_between(started_at, ended_at or detected_at)
        reason = _text(data.get("reason")) or None
    return Notice(
        kind=kind,
        source=_text(data.get("source")),
        conference_id=_int(conference.get("id")) or 0,
        title=_text(conference.get("title")) or "Untitled conference",
        context=context,
        conference_type=_text(conference.get("conference_type")) or "unknown",
        url=safe_url(conference.get("url")),
        started_at=started_at,
        ended_at=ended_at,
        duration=duration,
        reason=reason,
        restart=data.get("restart") is True,
        detected_at=detected_at,
        event_ids=(event_id,),
    )


def context_label(context: Mapping[str, Any], conference: Mapping[str, Any]) -> str:
    """``BIO-101 · Introduction to Biology`` when the event names its course (``data.context``),
    else ``Course 101`` as Canvas identifies it."""
    name, code = _text(context.get("name")).strip(), _text(context.get("course_code")).strip()
    if name and code and code != name:
        return f"{code} · {name}"
    if name or code:
        return name or code
    context_id = _int(conference.get("context_id"))
    label = f"{_text(conference.get('context_type'))} {'' if context_id is None else context_id}"
    return label.strip()


def merge(notices: Sequence[Notice]) -> list[Notice]:
    """Fold each start directly followed (for its conference) by an end into one notice.

    "Directly" means no other notice of the same ``(source, conference_id)`` comes between, which
    is what makes the two the same generation: a restart's start after an end is never folded
    into that end. The merged notice takes the start's place; everything else keeps its order.
    """
    merged: list[Notice] = []
    waiting: dict[tuple[str, int], int] = {}  # conference -> index of its unanswered start
    for notice in notices:
        key = (notice.source, notice.conference_id)
        start = waiting.pop(key, None)
        if start is not None and notice.kind == "ended":
            merged[start] = _started_and_ended(merged[start], notice)
            continue
        merged.append(notice)
        if notice.kind == "started":
            waiting[key] = len(merged) - 1
    return merged


def _started_and_ended(start: Notice, end: Notice) -> Notice:
    """The end's facts (the freshest copy of the conference) with the start's place and flags."""
    started_at = end.started_at or start.started_at
    return dataclasses.replace(
        end,
        kind="started_and_ended",
        url=end.url or start.url,
        started_at=started_at,
        duration=end.duration or duration_between(started_at, end.ended_at or end.detected_at),
        restart=start.restart,
        detected_at=start.detected_at,
        event_ids=start.event_ids + end.event_ids,
    )


def describe_reason(reason: str | None) -> str | None:
    """The words for an end reason, or None when there is nothing to explain."""
    if reason is None or reason in ("", "ended"):
        return None
    return REASONS.get(reason, reason[:100])


def format_duration(duration: timedelta) -> str:
    """``1 d 2 h 5 min``; seconds only for less than a minute."""
    seconds = int(duration.total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} s"
    days, rest = divmod(seconds // 60, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    if hours:
        parts.append(f"{hours} h")
    if minutes or not parts:
        parts.append(f"{minutes} min")
    return " ".join(parts)


def summary(notices: Sequence[Notice]) -> str:
    """``12 conferences: 8 started, 4 ended``: the first line of a digest."""
    counts = {kind: sum(1 for n in notices if n.kind == kind) for kind in LABELS}
    words = ", ".join(
        f"{count} {kind.replace('_', ' ')}" for kind, count in counts.items() if count
    )
    noun = "conference" if len(notices) == 1 else "conferences"
    return f"{len(notices)} {noun}: {words}"


def text_length(text: str) -> int:
    """Length in UTF-16 code units: never less than code points, so either count Slack or
    Teams use, a text measured here fits."""
    return len(text.encode("utf-16-le")) // 2


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` (``text_length``), ending with "…" when it was cut."""
    if text_length(text) <= limit:
        return text
    cut = text[: limit - 1]
    while text_length(cut) > limit - 1:
        cut = cut[:-1]
    return cut + "…"


def encode(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes a chat sink POSTs; the size limits are measured on them."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def answer_detail(status: int, body: bytes, url: str = "") -> str:
    """``HTTP 404 channel_not_found``: the receiver's answer, safe to log.

    Chat webhook URLs are secrets (Slack's path, Workflows' ``sig=``), and error bodies may echo
    them — whole, or as a bare path (``Cannot POST /services/T0/B0/<secret>``) — so anything
    URL-like or ``sig=``-like, and every long part of ``url``, is blanked before the
    100-character cut.
    """
    text = " ".join(body.decode("utf-8", "replace").split())
    for part in sorted(_url_parts(url), key=len, reverse=True):
        text = text.replace(part, "<redacted>")
    text = _SECRETS.sub("<redacted>", text)
    code = truncate(text, 100)
    return f"HTTP {status} {code}" if code else f"HTTP {status}"


def _url_parts(url: str) -> set[str]:
    """The parts of ``url`` that may be its secret: path segments and query values of 8+ chars."""
    if not url:
        return set()
    split = urlsplit(url)
    pieces = split.path.split("/") + [
        value for pair in split.query.split("&") for value in pair.split("=")[1:]
    ]
    parts = {piece for piece in pieces if len(piece) >= 8}
    return parts | ({split.path} if len(split.path) > 1 else set())
