"""Redis Sentinel (``redis+sentinel://``): a primary, a replica and three sentinels on loopback.

The store contract suites run again here, through the sentinels; errors name the sentinels and
never the password. Then failovers. The primary is SIGKILLed, the sentinels promote the replica
(down-after 1 s), and the client, which asks a sentinel where the primary is, carries on against
the new one by itself: a store, then the whole service (``/readyz`` false meanwhile, every
event delivered once). A planned ``SENTINEL FAILOVER`` leaves the old primary up and writable
for a while; the client leaves it within about a second of the switch. Replication is
asynchronous, and one test shows what that costs: a commit the old primary took but never
passed on is lost, and the version check turns the loss into a reload and the same events again
(same ids), never silence.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

from monitor.commands.checks import check
from monitor.config.redis_url import where as server_name
from monitor.core.errors import StaleStateError, StoreError
from monitor.core.secret import Secret
from monitor.simulator import Simulator
from monitor.store.base import open_store
from monitor.store.redis import keys
from monitor.store.redis import sentinel as redis_sentinel
from monitor.store.redis.store import RedisStore
from monitor.store.roles import Store
from tests.store import test_ledger_contract, test_store_contract
from tests.support.delivery_helpers import StoreFactory, started, store_factory
from tests.support.ledger_helpers import read_all
from tests.support.log_capture import captured_logs
from tests.support.receiver import Receiver
from tests.support.redis_server import free_port
from tests.support.redis_topologies import (
    PASSWORD,
    SERVICE,
    Node,
    SentinelGroup,
    contract_tests,
    sentinel_group,
    until,
)
from tests.support.service import get_json, running, settings_for, source_config, webhook_config
from tests.support.service import until as eventually

T = TypeVar("T")

FAILOVER_WITHIN = 15.0  # seconds from the kill to a primary again (about 2 to 4 here)


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    """One group for the tests that leave its primary alone."""
    with sentinel_group(tmp_path_factory.mktemp("sentinel")) as started_group:
        yield started_group


@pytest.fixture
def redis_url(group: SentinelGroup) -> str:
    """The group's primary, empty (this replaces the single server of ``conftest.py`` here)."""
    client = group.primary.client()
    try:
        client.flushall()
    finally:
        client.close()
    return group.url


@pytest.fixture
async def make_store(redis_url: str) -> AsyncIterator[StoreFactory]:
    async with store_factory("redis", redis_url) as factory:
        yield factory


# The whole contract, as memory and a single server keep it.
globals().update(contract_tests(test_store_contract, test_ledger_contract))


def where(group: SentinelGroup) -> str:
    """How messages name the group: every sentinel by host:port, and the service."""
    hosts = ",".join(f"127.0.0.1:{s.port}" for s in group.sentinels)
    return f"redis+sentinel://{hosts}/{SERVICE}"


async def answered(work: Callable[[], Awaitable[T]], within: float) -> tuple[T, list[str]]:
    """Try ``work`` until the store answers; the ``StoreError`` messages met on the way (any
    other exception fails the test)."""
    deadline = time.monotonic() + within
    errors: list[str] = []
    while True:
        try:
            return await work(), errors
        except StoreError as exc:
            errors.append(str(exc))
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.1)


def version_on(node: Node, source: str) -> int:
    client = node.client(socket_timeout=1)
    try:
        return int(client.hget(keys.meta(source), "version") or 0)
    finally:
        client.close()


async def test_the_client_names_the_primary_the_sentinels_name(
    group: SentinelGroup, make_store: StoreFactory
) -> None:
    store = make_store()
    await store.open_outbox(["ops"], ["main"])
    assert await store.commit("main", 0, started("main", 1)) == 1
    assert version_on(group.primary, "main") == 1  # written there, through the sentinels
    await asyncio.to_thread(group.wait_synced)
    assert version_on(group.replica, "main") == 1


async def test_errors_name_the_sentinels_and_never_the_password(group: SentinelGroup) -> None:
    hosts = ",".join(f"127.0.0.1:{s.port}" for s in group.sentinels)
    nobody = [free_port(), free_port()]
    cases = {  # url -> what each sentinel answered, or what the primary did
        f"redis+sentinel://:wrong-{PASSWORD}@{hosts}/{SERVICE}": ["AuthenticationError"],
        f"redis+sentinel://:{PASSWORD}@{hosts}/elsewhere": [
            f"127.0.0.1:{s.port} does not know it" for s in group.sentinels
        ],
        f"redis+sentinel://:{PASSWORD}@127.0.0.1:{nobody[0]},127.0.0.1:{nobody[1]}/{SERVICE}": [
            f"127.0.0.1:{port} did not answer (ConnectionError)" for port in nobody
        ],
    }
    for (url, expected), opened in itertools.product(cases.items(), (open_store, from_url)):
        store = opened(Secret(url), consumer="pod-a")
        began = time.monotonic()
        try:
            with pytest.raises(StoreError) as info:
                await asyncio.wait_for(store.ping(), 5)
        finally:
            await store.close()
        message = str(info.value)
        assert message.startswith(f"redis {server_name(url)}: ping failed"), message
        assert all(part in message for part in expected), message
        assert PASSWORD not in message
        assert time.monotonic() - began < 2.0  # a sentinel is asked once, not over and over


def from_url(url: Secret, *, consumer: str) -> Store:
    return RedisStore.from_url(url, consumer=consumer)


async def test_the_check_command_names_the_sentinels(group: SentinelGroup) -> None:
    async with Simulator() as sim:
        source = (source_config(sim.url),)
        good, bad = io.StringIO(), io.StringIO()
        assert await check(settings_for(source, state_url=group.url), good)
        wrong = group.url.replace(PASSWORD, f"wrong-{PASSWORD}")
        assert not await check(settings_for(source, state_url=wrong), bad)
    assert f"ok    store: {where(group)} answers" in good.getvalue()
    assert f"FAIL  store: redis {where(group)}: ping failed" in bad.getvalue()  # named once
    assert bad.getvalue().count(where(group)) == 1
    assert PASSWORD not in good.getvalue() + bad.getvalue()


async def test_a_store_follows_the_primary_through_a_failover(tmp_path: Path) -> None:
    with sentinel_group(tmp_path) as ha:
        store = open_store(Secret(ha.url), consumer="pod-a")
        try:
            await _commit_read_kill_and_carry_on(ha, store)
        finally:
            await store.close()


async def _commit_read_kill_and_carry_on(ha: SentinelGroup, store: Store) -> None:
    await store.open_outbox(["ops"], ["main"])
    before = started("main", 1, 2)
    assert await store.commit("main", 0, before) == 1
    await store.ack("ops", await read_all(store, "ops"))
    await asyncio.to_thread(ha.wait_synced)
    waiting = asyncio.create_task(store.read("ops", 10, 3.0))  # blocked on the primary
    await asyncio.sleep(0.2)

    killed = time.monotonic()
    ha.primary.kill()
    with pytest.raises(StoreError):  # the read under way fails at once, it does not hang
        await asyncio.wait_for(waiting, 2)
    after = started("main", 1, 2, 3)
    version, errors = await answered(lambda: store.commit("main", 1, after), FAILOVER_WITHIN)
    took = time.monotonic() - killed

    assert version == 2
    assert errors, "the primary was gone for a while: commits failed meanwhile"
    assert all(e.startswith(f"redis {where(ha)}: committing source main failed") for e in errors)
    assert not any(PASSWORD in e for e in errors)
    assert ha.primary_port() == ha.replica.port  # committed on the promoted replica
    assert version_on(ha.replica, "main") == 2
    assert took < FAILOVER_WITHIN
    loaded = await store.load("main")
    assert (loaded.version, set(loaded.state.tracked)) == (2, {1, 2, 3})
    entries = await read_all(store, "ops")  # the consumer group came through as well
    assert [e.event_id for e in entries] == [e.id for e in after.events]
    await store.ack("ops", entries)
    assert await store.backlog("ops") == 0


async def test_a_planned_failover_moves_the_commits_to_the_new_primary(tmp_path: Path) -> None:
    """``SENTINEL FAILOVER`` demotes the old primary, but only ``failover-timeout`` after the
    switch (3 minutes by default): until then it takes writes, which are lost. The client looks
    where the primary is every ``FOLLOW_EVERY`` seconds while in use, so it moves soon after
    the sentinels name the new one (redis-py alone stays on the old one until demoted)."""
    with sentinel_group(tmp_path) as ha:
        store = open_store(Secret(ha.url), consumer="pod-a")
        try:
            await store.open_outbox(["ops"], ["main"])
            version = await store.commit("main", 0, started("main", 1))
            sentinel = ha.sentinels[0].client()
            try:
                assert sentinel.sentinel_failover(SERVICE)
            finally:
                sentinel.close()
            switched, landed = await _commit_through_a_switch(ha, store, version)
            assert landed - switched < redis_sentinel.FOLLOW_EVERY + 1.0
            assert (await store.load("main")).version == version_on(ha.replica, "main")
        finally:
            await store.close()


async def _commit_through_a_switch(
    ha: SentinelGroup, store: Store, version: int
) -> tuple[float, float]:
    """Commit as a poller does (reloading when refused as stale) until three commits land on
    the promoted replica; when the sentinels named it, and when the first commit landed."""
    deadline = time.monotonic() + FAILOVER_WITHIN
    switched: float | None = None
    landed: list[float] = []
    while len(landed) < 3:
        assert time.monotonic() < deadline, "no commit on the new primary"
        if switched is None and ha.primary_port() == ha.replica.port:
            switched = time.monotonic()
        try:
            version = await store.commit("main", version, started("main", version + 1))
        except StaleStateError:  # what the old primary took after the switch is gone
            version = (await store.load("main")).version
        except StoreError:
            pass
        else:
            if switched is not None and version_on(ha.replica, "main") == version:
                landed.append(time.monotonic())
        await asyncio.sleep(0.1)
    assert switched is not None
    return switched, landed[0]


async def test_a_commit_the_replica_never_got_is_lost_then_refused_as_stale(
    tmp_path: Path,
) -> None:
    """Asynchronous replication, shown: the old primary acknowledged version 2, died before
    passing it on, and the promoted replica has version 1. Committing on top of version 2 is
    refused as stale (the poller then reloads and diffs again); the diff gives the same events
    with the same ids, so receivers see them again under the ``webhook-id`` they know, if at
    all — a duplicate, never a loss."""
    with sentinel_group(tmp_path) as ha:
        store = open_store(Secret(ha.url), consumer="pod-a")
        try:
            await store.open_outbox(["ops"], ["main"])
            assert await store.commit("main", 0, started("main", 1)) == 1
            await asyncio.to_thread(ha.wait_synced)
            _cut_replication(ha)
            lost = started("main", 1, 2)
            assert await store.commit("main", 1, lost) == 2  # acknowledged, not replicated
            ha.primary.kill()
            _mend_replication(ha)
            loaded, _ = await answered(lambda: store.load("main"), FAILOVER_WITHIN)
            assert ha.primary_port() == ha.replica.port
            assert (loaded.version, set(loaded.state.tracked)) == (1, {1})  # version 2 is gone
            with pytest.raises(StaleStateError):
                await store.commit("main", 2, started("main", 1, 2, 3))
            again = started("main", 1, 2)  # what the poller computes again from version 1
            assert [e.id for e in again.events] == [e.id for e in lost.events]
            assert await store.commit("main", 1, again) == 2
        finally:
            await store.close()


def _cut_replication(ha: SentinelGroup) -> None:
    """The replica loses its link and cannot get it back (it knows a wrong password now)."""
    replica = ha.replica.client()
    primary = ha.primary.client()
    try:
        replica.config_set("masterauth", f"not-{PASSWORD}")
        assert primary.client_kill_filter(_type="replica") == 1
    finally:
        replica.close()
        primary.close()


def _mend_replication(ha: SentinelGroup) -> None:
    replica = ha.replica.client()
    try:
        replica.config_set("masterauth", PASSWORD)
    finally:
        replica.close()


def _acknowledged(node: Node, sink: str) -> bool:
    """No entry of the outbox is waiting for ``sink``'s acknowledgement."""
    client = node.client(socket_timeout=1)
    try:
        pending: dict[str, Any] = client.xpending(keys.outbox("main"), sink)
        return int(pending["pending"]) == 0
    finally:
        client.close()


async def test_the_service_rides_out_a_failover(tmp_path: Path) -> None:
    with sentinel_group(tmp_path) as ha, captured_logs("info") as logs:
        async with Simulator() as sim, Receiver() as hook:
            settings = settings_for(
                (source_config(sim.url),), (webhook_config(hook.url),), state_url=ha.url
            )
            async with running(settings) as service, aiohttp.ClientSession() as http:

                async def readyz() -> Any:
                    return await get_json(http, f"{service.url}/readyz")

                first, second, third = (
                    sim.world.create_conference(title=title) for title in ("One", "Two", "Three")
                )
                await eventually(readyz, lambda r: r["ready"], 10)
                sim.world.start(first.id)
                await hook.wait_for(1)
                await asyncio.to_thread(until, lambda: _acknowledged(ha.primary, "ops"), 5, "ack")
                await asyncio.to_thread(ha.wait_synced)

                killed = time.monotonic()
                ha.primary.kill()
                sim.world.end(first.id)  # while there is no primary
                sim.world.start(second.id)
                down = await eventually(readyz, lambda r: not r["ready"], 5)
                await eventually(readyz, lambda r: r["ready"], FAILOVER_WITHIN)
                ready_again = time.monotonic() - killed
                sim.world.end(second.id)  # after the failover
                sim.world.start(third.id)
                await hook.wait_for(5, within=FAILOVER_WITHIN)
                await asyncio.sleep(1.0)  # time for a duplicate, were one coming
                assert not service.task.done()  # no crash

    (store_check,) = [c for c in down["checks"] if c["name"] == "store"]
    assert store_check["ok"] is False
    assert store_check["detail"].startswith(f"redis {where(ha)}: ping failed")
    assert PASSWORD not in str(down)
    assert ready_again < FAILOVER_WITHIN

    delivered = hook.delivered
    by_id = Counter(r.event_id for r in delivered)
    assert set(by_id.values()) == {1}, by_id  # each event once, under one webhook-id
    seen = sorted(
        (r.json["data"]["conference"]["title"], r.json["type"].removeprefix("conference."))
        for r in delivered
    )
    assert seen == [
        ("One", "ended"),
        ("One", "started"),
        ("Three", "started"),
        ("Two", "ended"),
        ("Two", "started"),
    ]
    text = logs.getvalue()
    assert PASSWORD not in text
    assert where(ha) in text  # the failed steps were logged, naming the sentinels
