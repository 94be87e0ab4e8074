"""Names in messages: ``data.context`` in every event, the course's real name in chat lines."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from monitor.core.contexts import ContextInfo
from monitor.core.models import Conference, Event, EventType, event_id
from monitor.delivery.sinks.notice import notice_of
from monitor.delivery.sinks.slack_format import slack_message
from monitor.delivery.sinks.teams_format import teams_message
from tests.support.factories import NOW, raw_conference

BIOLOGY = ContextInfo("Course", 101, "Introduction to Biology", "BIO-101", 3, "available")


def event(context: ContextInfo | None, **fields: Any) -> Event:
    raw = raw_conference(42, context_type="Course", context_id=101, **fields)
    return Event(
        id=event_id("main", 42, raw["started_at"] or "", 0, EventType.STARTED),
        type=EventType.STARTED,
        source="main",
        conference=Conference(42, raw),
        started_at=raw["started_at"],
        ended_at=None,
        detected_at=NOW,
        restart=False,
        reason=None,
        context=context,
    )


def test_every_event_names_its_context_with_nulls_for_what_is_unknown() -> None:
    assert event(BIOLOGY).envelope()["data"]["context"] == {
        "type": "Course",
        "id": 101,
        "name": "Introduction to Biology",
        "course_code": "BIO-101",
        "account_id": 3,
    }
    assert event(None).envelope()["data"]["context"] == {
        "type": "Course",
        "id": 101,
        "name": None,
        "course_code": None,
        "account_id": None,
    }


@pytest.mark.parametrize(
    ("raw", "name", "code"),
    [
        ({"id": 5, "name": "Bio (my nickname)", "original_name": "Biology", "course_code": "B1"},
         "Biology", "B1"),
        ({"id": 5, "name": "Biology", "course_code": "B1", "account_id": 3}, "Biology", "B1"),
        ({"id": 5, "name": "", "course_code": None}, None, None),
    ],
)  # fmt: skip
def test_a_course_is_named_by_its_real_name_not_the_users_nickname(
    raw: dict[str, object], name: str | None, code: str | None
) -> None:
    info = ContextInfo.from_course(raw)
    assert info is not None
    assert (info.name, info.course_code) == (name, code)


def test_records_without_an_integer_id_are_no_context() -> None:
    assert ContextInfo.from_course({"id": "5"}) is None
    assert ContextInfo.from_course({"id": True}) is None
    assert ContextInfo.from_group([]) is None
    assert ContextInfo.from_record({"type": "Account", "id": 1}) is None
    assert ContextInfo.from_record(BIOLOGY.as_record()) == BIOLOGY


def test_chat_messages_show_code_and_name_instead_of_course_101() -> None:
    named = notice_of("evt_1", event(BIOLOGY).envelope())
    assert named.context == "BIO-101 · Introduction to Biology"
    assert "BIO-101 · Introduction to Biology" in str(slack_message(named))
    assert "BIO-101 · Introduction to Biology" in str(teams_message(named))
    unnamed = notice_of("evt_2", event(None).envelope())
    assert unnamed.context == "Course 101"
    only_code = dataclasses.replace(BIOLOGY, name=None)
    assert notice_of("evt_3", event(only_code).envelope()).context == "BIO-101"


def test_labels_for_people() -> None:
    assert BIOLOGY.label() == "BIO-101 · Introduction to Biology"
    assert ContextInfo("Group", 7, "Lab group A").label() == "Lab group A"
    assert ContextInfo("Course", 9).label() == "Course 9"
