"""The Conference object exactly as Canvas's API emits it, plus the timestamp format.

Kept apart from the model because this is where fidelity lives: ``has_calendar_event`` is an
int, ``join_url`` is always null, recordings carry an integer epoch (BBB's milliseconds), and
``url`` is the conference's HTML page, not an API URL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from monitor.simulator.records import SimConference, SimRecording

_ADVANCED_SETTINGS_TYPES = frozenset({"AdobeConnect"})


def iso(moment: datetime | None) -> str | None:
    """``2013-12-13T17:23:26Z``: UTC, whole seconds, ``Z``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    """Accept ``...Z`` or an explicit offset; a bare local time is an error."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return moment.astimezone(UTC)


def conference_url(conf: SimConference, base_url: str) -> str:
    segment = "courses" if conf.context_type == "Course" else "groups"
    return f"{base_url.rstrip('/')}/{segment}/{conf.context_id}/conferences/{conf.id}"


def conference_json(conf: SimConference, base_url: str) -> dict[str, Any]:
    return {
        "id": conf.id,
        "title": conf.title,
        "conference_type": conf.conference_type,
        "description": conf.description,
        "duration": conf.duration,
        "ended_at": iso(conf.ended_at),
        "started_at": iso(conf.started_at),
        "users": list(conf.users),
        "invitees": list(conf.invitees),
        "attendees": list(conf.attendees),
        "long_running": conf.long_running,
        "recordings": [_recording_json(r) for r in conf.recordings],
        "join_url": None,
        "has_advanced_settings": conf.conference_type in _ADVANCED_SETTINGS_TYPES,
        "conference_key": conf.conference_key,
        "context_type": conf.context_type,
        "context_id": conf.context_id,
        "has_calendar_event": int(conf.has_calendar_event),
        "start_at": iso(conf.start_at),
        "end_at": iso(conf.end_at),
        "user_settings": _user_settings(conf),
        "url": conference_url(conf, base_url),
    }


def _user_settings(conf: SimConference) -> dict[str, Any]:
    if conf.conference_type != "BigBlueButton":
        return {}
    settings: dict[str, Any] = {
        "record": conf.record,
        "scheduled_date": iso(conf.start_at) if conf.has_calendar_event else None,
        "share_webcam": True,
        "share_other_webcams": True,
        "share_microphone": True,
        "send_public_chat": True,
        "send_private_chat": True,
        "enable_waiting_room": False,
    }
    if conf.create_time_ms is not None:
        settings["create_time"] = conf.create_time_ms
    return settings


def _recording_json(rec: SimRecording) -> dict[str, Any]:
    return {
        "recording_id": rec.recording_id,
        "title": rec.title,
        "duration_minutes": rec.duration_minutes,
        "playback_url": rec.playback_url,
        "playback_formats": [
            {
                "type": "presentation",
                "translated_type": "Presentation",
                "show_to_students": True,
                "url": f"https://bbb.sim/playback/presentation/2.3/{rec.recording_id}",
                "length": rec.duration_minutes,
            }
        ],
        "created_at": rec.created_at_ms,
    }
