"""Routing by department: sink filters ``accounts`` (sub-accounts included) and ``courses``
(their groups too), with the account tree discovery keeps in the store."""

from __future__ import annotations

from typing import Any

from monitor.config.settings import SinkConfig, SinkType
from monitor.core.contexts import ContextInfo
from monitor.core.directory import Directory
from monitor.core.models import Conference, Event, EventType, event_id
from monitor.core.secret import Secret
from monitor.delivery.routes import Routes
from monitor.delivery.sink_filter import SinkFilter
from tests.support.delivery_helpers import StoreFactory, entry_of
from tests.support.factories import NOW, raw_conference

# Root 1 > faculty 2 > department 3; root 1 > faculty 5 > department 6.
TREE = Directory(
    courses={
        101: ContextInfo("Course", 101, "Biology", "BIO-101", 3),
        601: ContextInfo("Course", 601, "Law", "LAW-601", 6),
    },
    parents={1: None, 2: 1, 3: 2, 5: 1, 6: 5},
    groups={7: ContextInfo("Group", 7, "Lab A", None, 3, course_id=101)},
    read_at=1.0,
)


def event(context: ContextInfo, source: str = "campus") -> Event:
    raw: dict[str, Any] = raw_conference(
        42, context_type=context.type, context_id=context.id
    )
    return Event(
        id=event_id(source, 42, raw["started_at"], 0, EventType.STARTED),
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


def sink(**filters: Any) -> SinkConfig:
    return SinkConfig(name="dept", type=SinkType.WEBHOOK, url=Secret("https://h.test/"), **filters)


async def routed(make_store: StoreFactory, config: SinkConfig) -> SinkFilter:
    store = make_store()
    await store.save_directory("campus", TREE.encode())
    routes = Routes(lambda: store, ["campus"])
    chosen = SinkFilter(config, routes)
    await chosen.refresh()
    return chosen


async def test_an_account_filter_takes_its_sub_accounts_courses(make_store: StoreFactory) -> None:
    faculty = await routed(make_store, sink(accounts=frozenset({2})))
    assert faculty.wants(entry_of(event(TREE.courses[101])))[0]  # 3 is below 2
    assert faculty.wants(entry_of(event(TREE.groups[7])))[0]  # its course's account
    assert not faculty.wants(entry_of(event(TREE.courses[601])))[0]
    everything = await routed(make_store, sink(accounts=frozenset({1})))
    assert everything.wants(entry_of(event(TREE.courses[601])))[0]


async def test_a_course_filter_takes_the_course_and_its_groups(make_store: StoreFactory) -> None:
    biology = await routed(make_store, sink(courses=frozenset({101})))
    assert biology.wants(entry_of(event(TREE.courses[101])))[0]
    assert biology.wants(entry_of(event(TREE.groups[7])))[0]
    assert not biology.wants(entry_of(event(TREE.courses[601])))[0]
    either = await routed(make_store, sink(courses=frozenset({601}), accounts=frozenset({3})))
    assert either.wants(entry_of(event(TREE.courses[101])))[0]  # by its account
    assert either.wants(entry_of(event(TREE.courses[601])))[0]  # by its id


async def test_without_a_tree_a_course_matches_by_its_own_account_only() -> None:
    direct = SinkFilter(sink(accounts=frozenset({3})))
    await direct.refresh()
    assert direct.wants(entry_of(event(TREE.courses[101])))[0]
    above = SinkFilter(sink(accounts=frozenset({2})))
    assert not above.wants(entry_of(event(TREE.courses[101])))[0]
    unnamed = ContextInfo("Course", 101)  # no account known: no department matches
    assert not direct.wants(entry_of(event(unnamed)))[0]


async def test_other_filters_still_apply_with_a_department(make_store: StoreFactory) -> None:
    config = sink(accounts=frozenset({1}), sources=frozenset({"other"}))
    assert not (await routed(make_store, config)).wants(entry_of(event(TREE.courses[101])))[0]
