"""Canvas-shaped test data, built the way Canvas's API emits it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.core.contexts import ContextInfo
from monitor.core.models import Conference, Event, EventType, event_id, format_time

NOW = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)


def raw_conference(
    conference_id: int,
    *,
    started_at: datetime | None = NOW - timedelta(minutes=5),
    ended_at: datetime | None = None,
    context_type: str = "Course",
    context_id: int = 101,
    conference_type: str = "BigBlueButton",
    title: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": conference_id,
        "title": title if title is not None else f"Conference {conference_id}",
        "description": None,
        "conference_type": conference_type,
        "conference_key": f"key-{conference_id}",
        "duration": 60,
        "long_running": False,
        "started_at": None if started_at is None else format_time(started_at),
        "ended_at": None if ended_at is None else format_time(ended_at),
        "start_at": None,
        "end_at": None,
        "context_type": context_type,
        "context_id": context_id,
        "users": [1],
        "invitees": [1],
        "attendees": [1],
        "has_advanced_settings": False,
        "has_calendar_event": 0,
        "user_settings": {"record": True},
        "recordings": [],
        "url": f"https://canvas.test/courses/{context_id}/conferences/{conference_id}",
        "join_url": None,
        **extra,
    }


def conference(conference_id: int, **kwargs: Any) -> Conference:
    parsed = Conference.from_api(raw_conference(conference_id, **kwargs))
    assert parsed is not None
    return parsed


def snapshot(*conferences: Conference) -> dict[int, Conference]:
    return {c.id: c for c in conferences}


def started_event(
    context: ContextInfo | None,
    *,
    source: str = "main",
    context_type: str = "Course",
    context_id: int = 101,
    **fields: Any,
) -> Event:
    """A ``conference.started`` of conference 42 in a context (named by ``context`` when given)."""
    if context is not None:
        context_type, context_id = context.type, context.id
    raw = raw_conference(42, context_type=context_type, context_id=context_id, **fields)
    return Event(
        id=event_id(source, 42, raw["started_at"] or "", 0, EventType.STARTED),
        type=EventType.STARTED,
        source=source,
        conference=Conference(42, raw),
        started_at=raw["started_at"],
        ended_at=None,
        detected_at=NOW,
        restart=False,
        reason=None,
        context=context,
    )
