"""The watch's store role, one contract for both stores: baseline, directory, context marks."""

from __future__ import annotations

from datetime import timedelta

from tests.support.delivery_helpers import StoreFactory
from tests.support.factories import NOW


async def test_the_first_baseline_moment_is_kept_for_every_later_process(
    make_store: StoreFactory,
) -> None:
    assert await make_store().baseline_at("campus", NOW) == NOW
    later = NOW + timedelta(days=3)
    assert await make_store().baseline_at("campus", later) == NOW  # a restart keeps it
    assert await make_store().baseline_at("other", later) == later  # per source


async def test_a_directory_round_trips_byte_for_byte(make_store: StoreFactory) -> None:
    store = make_store()
    assert await store.directory("campus") is None
    payload = '{"courses": [[101, "Biología"]]}'.encode()
    await store.save_directory("campus", payload)
    assert await make_store().directory("campus") == payload
    await store.save_directory("campus", b"{}")
    assert await make_store().directory("campus") == b"{}"


async def test_context_marks_are_set_replaced_and_forgotten(make_store: StoreFactory) -> None:
    store = make_store()
    assert await store.context_marks("campus") == {}
    await store.mark_contexts("campus", {"Course:101": "q", "Course:202": "w"})
    await store.mark_contexts("campus", {"Course:101": "l", "Course:202": ""})
    assert await make_store().context_marks("campus") == {"Course:101": "l"}
    assert await make_store().context_marks("other") == {}
    await store.mark_contexts("campus", {})  # nothing to write is fine
