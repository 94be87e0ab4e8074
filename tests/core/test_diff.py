"""The diff: unit cases for each rule, and a property test against a tiny reference model."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.diff import Answer, Confirmation, Scope, diff, end_reason, vanished
from monitor.core.models import EndReason, EventType, Phase, SourceState
from tests.support.factories import NOW, conference, snapshot

LATER = NOW + timedelta(seconds=30)


def baseline(*ids: int) -> SourceState:
    return diff("main", SourceState(), snapshot(*(conference(i) for i in ids)), {}, now=NOW).state


def test_first_poll_is_a_silent_baseline() -> None:
    outcome = diff("main", SourceState(), snapshot(conference(1), conference(2)), {}, now=NOW)
    assert outcome.events == ()
    assert outcome.state.baselined
    assert {c.id for c in outcome.state.live()} == {1, 2}
    assert outcome.delta.baselined


def test_announce_existing_reports_the_baseline() -> None:
    outcome = diff(
        "main", SourceState(), snapshot(conference(1)), {}, now=NOW, announce_existing=True
    )
    assert [(e.type, e.conference.id, e.restart) for e in outcome.events] == [
        (EventType.STARTED, 1, False)
    ]


def test_an_empty_first_poll_still_takes_the_baseline() -> None:
    outcome = diff("main", SourceState(), {}, {}, now=NOW)
    assert outcome.state.baselined
    assert outcome.delta  # the flag must be committed, or the next poll would be silent too
    later = diff("main", outcome.state, snapshot(conference(1)), {}, now=LATER)
    assert [e.type for e in later.events] == [EventType.STARTED]


def test_started_event_carries_the_canvas_object_and_times() -> None:
    c = conference(5, title="Chemistry office hours")
    (event,) = diff("main", baseline(), snapshot(c), {}, now=LATER).events
    body = event.envelope()
    assert body["type"] == "conference.started"
    assert body["timestamp"] == "2026-11-24T10:00:30Z"
    assert body["data"] == {
        "source": "main",
        "conference": c.raw,
        "started_at": c.raw["started_at"],
        "ended_at": None,
        "detected_at": "2026-11-24T10:00:30Z",
        "restart": False,
        "reason": None,
        "context": {  # unknown to the diff: the poller names it (tests/test_names.py)
            "type": "Course",
            "id": 101,
            "name": None,
            "course_code": None,
            "account_id": None,
        },
    }


def test_nothing_changed_means_no_delta_and_the_same_state() -> None:
    state = baseline(1, 2)
    outcome = diff("main", state, snapshot(conference(1), conference(2)), {}, now=LATER)
    assert outcome.state is state
    assert not outcome.delta
    assert outcome.events == ()


def test_the_very_same_conferences_are_no_change_and_the_rest_is_diffed() -> None:
    """An unchanged page gives back the objects it gave before; the diff's shortcut for that
    case must decide as the full diff does, and step aside for anything else."""
    state = baseline(1, 2)
    same = {cid: tracked.conference for cid, tracked in state.tracked.items()}
    assert diff("main", state, same, {}, now=LATER).state is state
    assert not diff("main", state, same, {}, now=LATER, prune=True).delta
    fewer = diff("main", state, {1: same[1]}, {}, now=LATER)
    assert fewer.state.tracked[2].phase is Phase.ENDING
    swapped = diff("main", state, {1: same[1], 3: conference(3)}, {}, now=LATER)
    assert [e.type for e in swapped.events] == [EventType.STARTED]
    ending = fewer.state
    back = {cid: tracked.conference for cid, tracked in ending.tracked.items()}
    assert diff("main", ending, back, {}, now=LATER).state.tracked[2].phase is Phase.LIVE


def test_a_changed_record_is_remembered_without_an_event() -> None:
    state = baseline(1)
    renamed = conference(1, title="renamed")
    outcome = diff("main", state, snapshot(renamed), {}, now=LATER)
    assert outcome.events == ()
    assert outcome.delta.tracked == {1}
    assert outcome.state.tracked[1].conference.raw["title"] == "renamed"


def test_confirmed_end_carries_canvas_ended_at_and_the_confirming_copy() -> None:
    state = baseline(1)
    ended = conference(1, ended_at=NOW + timedelta(seconds=10), recordings=[{"title": "rec"}])
    outcome = diff("main", state, {}, {1: Confirmation(Answer.FOUND, ended)}, now=LATER)
    (event,) = outcome.events
    assert event.type is EventType.ENDED
    assert event.reason is EndReason.ENDED
    assert event.ended_at == "2026-11-24T10:00:10Z"
    assert event.conference.raw["recordings"] == [{"title": "rec"}]
    assert outcome.state.tracked == {}
    assert outcome.state.tombstones[1].generation == 0


def test_end_reasons_follow_the_context_answer() -> None:
    def reason(answer: Answer, **kwargs: object) -> EndReason | None:
        found = conference(1, **kwargs) if answer is Answer.FOUND else None
        return end_reason(Confirmation(answer, found), LATER)

    assert reason(Answer.FOUND, ended_at=NOW) is EndReason.ENDED
    assert reason(Answer.FOUND, started_at=NOW - timedelta(hours=25)) is EndReason.EXPIRED
    assert reason(Answer.FOUND) is EndReason.OUT_OF_SCOPE
    # Ends in the future: Canvas still counts it as live.
    assert reason(Answer.FOUND, ended_at=LATER + timedelta(minutes=5)) is EndReason.OUT_OF_SCOPE
    assert reason(Answer.FOUND, started_at=None) is EndReason.UNCONFIRMED
    assert reason(Answer.ABSENT) is EndReason.UNCONFIRMED
    assert reason(Answer.FAILED) is None
    assert end_reason(None, LATER) is None


def test_transient_confirmation_failures_wait_for_the_grace() -> None:
    state = baseline(1)
    failed = {1: Confirmation(Answer.FAILED)}
    for poll in range(1, 3):
        outcome = diff("main", state, {}, failed, now=LATER, grace_polls=3)
        assert outcome.events == ()
        assert outcome.state.live() == []  # out of the live gauge at once
        assert outcome.state.tracked[1].phase is Phase.ENDING
        assert outcome.state.tracked[1].misses == poll
        state = outcome.state
    (event,) = diff("main", state, {}, failed, now=LATER, grace_polls=3).events
    assert event.reason is EndReason.UNCONFIRMED
    assert event.ended_at is None


def test_a_conference_back_before_its_end_is_confirmed_never_ended() -> None:
    state = diff("main", baseline(1), {}, {1: Confirmation(Answer.FAILED)}, now=LATER).state
    back = diff("main", state, snapshot(conference(1)), {}, now=LATER)
    assert back.events == ()
    assert back.state.tracked[1].phase is Phase.LIVE
    assert back.state.tracked[1].misses == 0


def test_a_restart_is_a_new_generation_with_a_new_id() -> None:
    state = baseline()
    first = diff("main", state, snapshot(conference(1)), {}, now=NOW)
    ended = conference(1, ended_at=NOW)
    second = diff("main", first.state, {}, {1: Confirmation(Answer.FOUND, ended)}, now=LATER)
    third = diff("main", second.state, snapshot(conference(1)), {}, now=LATER)
    (start1,), (end1,), (start2,) = first.events, second.events, third.events
    assert start2.restart
    assert not start1.restart
    assert start2.started_at == start1.started_at  # Canvas keeps started_at on restart
    assert len({start1.id, end1.id, start2.id}) == 3
    assert third.state.tracked[1].generation == 1
    assert 1 not in third.state.tombstones


def test_event_ids_are_stable_and_scoped() -> None:
    a = diff("main", baseline(), snapshot(conference(1)), {}, now=NOW).events[0]
    again = diff("main", baseline(), snapshot(conference(1)), {}, now=LATER).events[0]
    other_source = diff("other", baseline(), snapshot(conference(1)), {}, now=NOW).events[0]
    assert a.id == again.id  # detection time is not part of the identity
    assert a.id != other_source.id


def test_vanished_lists_tracked_conferences_missing_from_the_snapshot() -> None:
    state = baseline(1, 2, 3)
    assert sorted(c.id for c in vanished(state, snapshot(conference(2)))) == [1, 3]


def test_tombstones_live_as_long_as_the_conference_could_come_back() -> None:
    # Canvas lists a conference as live only within a day of its started_at (kept on restart).
    state = diff("main", baseline(1), {}, {1: Confirmation(Answer.ABSENT)}, now=NOW).state
    tomb = state.tombstones[1]
    assert tomb.started_at == conference(1).started_at
    soon = diff("main", state, {}, {}, now=NOW + timedelta(hours=40), prune=True)
    assert 1 in soon.state.tombstones  # within a day of started_at, plus a day for clock skew
    assert not soon.delta
    late = diff("main", state, {}, {}, now=NOW + timedelta(hours=49), prune=True)
    assert late.state.tombstones == {}
    assert late.delta.tombstones == {1}
    unasked = diff("main", state, {}, {}, now=NOW + timedelta(days=30))
    assert 1 in unasked.state.tombstones


def test_a_tombstone_without_started_at_falls_back_to_ninety_days() -> None:
    undated = conference(1, started_at=None)
    state = diff("main", SourceState(), snapshot(undated), {}, now=NOW).state
    state = diff("main", state, {}, {1: Confirmation(Answer.ABSENT)}, now=NOW).state
    kept = diff("main", state, {}, {}, now=NOW + timedelta(days=89), prune=True)
    assert 1 in kept.state.tombstones
    gone = diff("main", state, {}, {}, now=NOW + timedelta(days=91), prune=True)
    assert gone.state.tombstones == {}


# --- property test against a reference model ------------------------------------------------

ANSWERS = ("ended", "live", "expired", "absent", "failed", "none")
IDS = st.integers(min_value=1, max_value=6)


def started_of(cid: int) -> datetime:
    """Each conference's fixed Canvas started_at, spread over three days."""
    return NOW + timedelta(hours=13 * (cid - 1))


def can_be_live(cid: int, now: datetime) -> bool:
    """Canvas's rule: live only within a day of started_at (which a restart keeps)."""
    return started_of(cid) <= now <= started_of(cid) + timedelta(days=1)


@dataclass
class Model:
    """What should happen, written as plainly as possible."""

    grace: int
    announce: bool
    baselined: bool = False
    live: dict[int, tuple[int, int]] = field(default_factory=dict)  # id -> (generation, misses)
    ended: dict[int, int] = field(default_factory=dict)  # id -> last generation

    def step(self, present: set[int], answers: dict[int, str]) -> list[tuple[object, ...]]:
        events: list[tuple[object, ...]] = []
        for cid in sorted(present):
            if cid in self.live:
                self.live[cid] = (self.live[cid][0], 0)
                continue
            restart = cid in self.ended
            generation = self.ended.pop(cid) + 1 if restart else 0
            self.live[cid] = (generation, 0)
            if self.baselined or self.announce:
                events.append(("started", cid, generation, restart, None))
        for cid in sorted(set(self.live) - present):
            generation, misses = self.live[cid]
            answer = answers.get(cid, "none")
            if answer in ("failed", "none") and misses + 1 < self.grace:
                self.live[cid] = (generation, misses + 1)
                continue
            reason = {"ended": "ended", "live": "out_of_scope", "expired": "expired"}.get(
                answer, "unconfirmed"
            )
            events.append(("ended", cid, generation, generation > 0, reason))
            del self.live[cid]
            self.ended[cid] = generation
        self.baselined = True
        return events


def confirmation(cid: int, answer: str, now: datetime) -> Confirmation | None:
    match answer:
        case "ended":
            return Confirmation(Answer.FOUND, conference(cid, started_at=now, ended_at=now))
        case "live":
            return Confirmation(Answer.FOUND, conference(cid, started_at=now))
        case "expired":
            return Confirmation(Answer.FOUND, conference(cid, started_at=now - timedelta(days=2)))
        case "absent":
            return Confirmation(Answer.ABSENT)
        case "failed":
            return Confirmation(Answer.FAILED)
    return None


polls = st.lists(
    st.tuples(
        st.booleans(),  # did the poll complete? an incomplete poll never reaches the diff
        st.sets(IDS),
        st.dictionaries(IDS, st.sampled_from(ANSWERS)),
        st.sampled_from([0, 0, 0, 1, 7]),  # hours that pass before this poll
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(polls=polls, grace=st.integers(1, 3), announce=st.booleans())
def test_diff_matches_the_reference_model(
    polls: list[tuple[bool, set[int], dict[int, str], int]], grace: int, announce: bool
) -> None:
    """The model never forgets an end; the diff prunes tombstones on every poll. Since Canvas
    never lists a conference again after its day, the events must be the same."""
    model = Model(grace=grace, announce=announce)
    state = SourceState()
    seen_ids: set[str] = set()
    history: dict[int, list[EventType]] = {}
    now = NOW
    for complete, wanted, answers, hours in polls:
        now += timedelta(hours=hours, seconds=30)
        if not complete:
            continue  # the poller never calls diff: nothing may change
        present = {cid for cid in wanted if can_be_live(cid, now)}
        confirmations = {
            cid: c for cid, answer in answers.items() if (c := confirmation(cid, answer, now))
        }
        outcome = diff(
            "main",
            state,
            snapshot(*(conference(cid, started_at=started_of(cid)) for cid in present)),
            confirmations,
            now=now,
            announce_existing=announce,
            grace_polls=grace,
            prune=True,
        )
        got = [
            (
                e.type.value.removeprefix("conference."),
                e.conference.id,
                outcome.state.tracked[e.conference.id].generation
                if e.type is EventType.STARTED
                else state.tracked[e.conference.id].generation,
                e.restart,
                None if e.reason is None else e.reason.value,
            )
            for e in outcome.events
        ]
        assert sorted(got, key=repr) == sorted(model.step(present, answers), key=repr)
        # The live gauge follows the complete snapshot exactly.
        assert {c.id for c in outcome.state.live()} == present
        # Invariant 3: different transitions never share an id.
        for event in outcome.events:
            assert event.id not in seen_ids
            seen_ids.add(event.id)
            history.setdefault(event.conference.id, []).append(event.type)
        state = outcome.state
    # Per conference, starts and ends alternate (never two starts or two ends in a row).
    for kinds in history.values():
        for earlier, later in itertools.pairwise(kinds):
            assert earlier is not later


def test_a_first_sighting_in_the_baselines_own_second_is_news() -> None:
    """Canvas's times are whole seconds: a start in the second the watch began is not lost."""
    baseline = NOW + timedelta(milliseconds=700)
    same_second = conference(1, started_at=NOW)
    before = conference(2, started_at=NOW - timedelta(seconds=1))
    scope = Scope(lambda c: True, frozenset({1, 2}), baseline)
    assert scope.news(same_second)
    assert not scope.news(before)
    assert scope.news(conference(3, started_at=NOW - timedelta(days=1)))  # proven elsewhere
