"""One name, one process (invariant 11): names on one machine, and a name alive in the store.

The lock files (``identity.claim``) and the store's watch (``name_claim.settle``) are tested
here piece by piece; ``test_replica_processes.py`` runs real processes against a real Redis.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.core.errors import ReplicaNameTakenError
from monitor.core.lease_name import LeaseName
from monitor.observe.metrics import Metrics
from monitor.replicas import identity, name_claim
from monitor.replicas.identity import Identity
from monitor.replicas.leases import LeaseKeeper
from monitor.store.roles import Store
from tests.support.delivery_helpers import StoreFactory

TTL = 1.5  # a member lapses 1 s after its last heartbeat; heartbeats every 0.5 s
MAIN = LeaseName.source("main")


def keeper(store: Store, name: str, *, nonce: str) -> LeaseKeeper:
    return LeaseKeeper(store, name, [MAIN], TTL, Metrics(["main"], []), nonce=nonce)


# names on one machine: lock files


def test_processes_without_a_given_name_get_distinct_names(tmp_path: Path) -> None:
    env = {"HOSTNAME": "node-1"}
    first = identity.claim(env, directory=tmp_path)
    second = identity.claim(env, directory=tmp_path)
    third = identity.claim(env, directory=tmp_path)
    assert [first.name, second.name, third.name] == ["node-1", "node-1-2", "node-1-3"]
    assert len({first.nonce, second.nonce, third.nonce}) == 3
    second.release()  # a process that ended: its name is the next one's again
    again = identity.claim(env, directory=tmp_path)
    assert again.name == "node-1-2"
    for taken in (first, third, again):
        taken.release()


def test_a_given_name_in_use_on_this_machine_is_refused(tmp_path: Path) -> None:
    env = {"MONITOR_REPLICA_ID": "replica-a", "HOSTNAME": "node-1"}
    held = identity.claim(env, directory=tmp_path)
    assert held.name == "replica-a"
    with pytest.raises(ReplicaNameTakenError, match="MONITOR_REPLICA_ID"):
        identity.claim(env, directory=tmp_path)
    held.release()
    again = identity.claim(env, directory=tmp_path)
    assert again.name == "replica-a"
    again.release()


def test_a_dead_process_leaves_its_name_free(tmp_path: Path) -> None:
    """The kernel lets a lock go when its process dies, even by SIGKILL."""
    code = (
        "import os, sys, pathlib\n"
        "from monitor.replicas import identity\n"
        "held = identity.claim({'MONITOR_REPLICA_ID': 'a'}, directory=pathlib.Path(sys.argv[1]))\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n"
    )
    child = subprocess.Popen(  # noqa: S603 - our own code
        [sys.executable, "-c", code, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(ReplicaNameTakenError):
            identity.claim({"MONITOR_REPLICA_ID": "a"}, directory=tmp_path)
        child.kill()
        child.wait(timeout=10)
        again = identity.claim({"MONITOR_REPLICA_ID": "a"}, directory=tmp_path)
        assert again.name == "a"
        again.release()
    finally:
        child.kill()
        child.communicate(timeout=10)


def test_without_a_lock_directory_the_name_is_used_as_is(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    unnamed = identity.claim({"HOSTNAME": "node-1"}, directory=blocked / "locks")
    assert unnamed.name.startswith("node-1-")  # a random suffix: nothing proves it unique
    assert unnamed.machine is None
    given = {"HOSTNAME": "node-1", "MONITOR_REPLICA_ID": "a"}
    assert identity.claim(given, directory=blocked / "locks").name == "a"


def test_names_are_quoted_into_file_names(tmp_path: Path) -> None:
    taken = identity.claim({"MONITOR_REPLICA_ID": "../a b@c"}, scope="s1", directory=tmp_path)
    assert taken.name == "../a b@c"
    assert (tmp_path / "s1..%2Fa%20b%40c.lock").exists()
    taken.release()


def test_a_name_is_locked_per_store(tmp_path: Path) -> None:
    """Processes of two stores (staging beside production) do not compete for names."""
    env = {"MONITOR_REPLICA_ID": "a"}
    prod = identity.claim(
        env, scope=identity.store_scope("redis://:pw@prod:6379/0"), directory=tmp_path
    )
    staging = identity.claim(
        env, scope=identity.store_scope("redis://staging/0"), directory=tmp_path
    )
    assert prod.name == staging.name == "a"
    assert identity.store_scope("redis://:pw@prod:6379/0") == identity.store_scope(
        "redis://other:pw2@prod:6379/0"
    )  # credentials are no part of which store it is
    prod.release()
    staging.release()


def test_a_lock_directory_others_can_write_is_not_used(tmp_path: Path) -> None:
    """A shared /tmp: another user could plant links or hold our names there."""
    shared = tmp_path / f"conference-monitor-{os.getuid()}"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    target = tmp_path / "precious"
    target.write_text("keep me")
    (shared / "node-1.lock").symlink_to(target)
    env = {"HOSTNAME": "node-1", "XDG_RUNTIME_DIR": str(tmp_path)}
    unnamed = identity.claim(env)
    assert unnamed.machine is None  # no lock taken there
    assert target.read_text() == "keep me"
    shared.chmod(0o700)
    # A link planted in our own directory is not followed either.
    assert identity.claim(env).machine is None
    assert target.read_text() == "keep me"


def test_one_path_in_two_containers_is_two_machines(tmp_path: Path) -> None:
    """Same host name, same path, different directories (private /tmps): different tags, so
    neither takes the other for its own dead predecessor."""
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(mode=0o700)
    two.mkdir(mode=0o700)
    assert identity.machine_tag(one) == identity.machine_tag(one)
    assert identity.machine_tag(one) != identity.machine_tag(two)


# a name alive in the store: watched until it beats (refused) or lapses (taken over)


def me(name: str, nonce: str, *, given: bool = True, machine: str | None = None) -> Identity:
    return Identity(name, nonce, given, machine)


async def settle(
    store: Store, who: Identity, environ: dict[str, str] | None = None
) -> Identity | None:
    stop = asyncio.Event()
    claiming = name_claim.settle(store, who, TTL, stop, environ=environ or {})
    return await asyncio.wait_for(claiming, 5)


async def test_a_rival_that_keeps_beating_is_refused(make_store: StoreFactory) -> None:
    store = make_store()
    live = keeper(store, "a", nonce="elsewhere01")
    await live.check()
    stop = asyncio.Event()
    beating = asyncio.create_task(live.run(stop))
    started = time.monotonic()
    try:
        with pytest.raises(ReplicaNameTakenError, match="MONITOR_REPLICA_ID"):
            await settle(store, me("a", "newcomer01"))
    finally:
        stop.set()
        await beating
    assert time.monotonic() - started < TTL  # seen beating within one heartbeat


async def test_a_default_name_alive_elsewhere_moves_on(
    make_store: StoreFactory, tmp_path: Path
) -> None:
    """Two machines of one host name, no MONITOR_REPLICA_ID: the later takes the next name."""
    store = make_store()
    live = keeper(store, "node", nonce="elsewhere01")
    await live.check()
    stop = asyncio.Event()
    beating = asyncio.create_task(live.run(stop))
    try:
        env = {"HOSTNAME": "node", "XDG_RUNTIME_DIR": str(tmp_path)}
        first = identity.claim(env)
        assert first.name == "node"
        settled = await settle(store, first, env)
    finally:
        stop.set()
        await beating
    assert settled is not None
    assert settled.name == "node-2"
    settled.release()


async def test_a_rival_that_lapses_was_dead(make_store: StoreFactory) -> None:
    store = make_store()
    await keeper(store, "a", nonce="crashed001").check()  # then never beats again
    started = time.monotonic()
    newcomer = me("a", "newcomer01")
    assert await settle(store, newcomer) is newcomer
    assert time.monotonic() - started >= TTL * 2 / 3 - 0.2  # waited for the lapse


async def test_a_dead_process_of_this_machine_is_taken_over_at_once(
    make_store: StoreFactory,
) -> None:
    """A member of this machine's tag: the lock this process holds says it is dead."""
    store = make_store()
    await keeper(store, "a", nonce="cafe0123" + "dead00000000").check()
    started = time.monotonic()
    newcomer = me("a", "cafe0123" + "aaaa00000000", machine="cafe0123")
    assert await settle(store, newcomer) is newcomer
    assert time.monotonic() - started < 0.3
    await asyncio.sleep(0.005)  # a new epoch is later than the dead one by the store's clock
    successor = keeper(store, "a", nonce=newcomer.nonce)
    await successor.check()
    assert successor.holds(MAIN)  # the dead one's member is retired with its epoch


async def test_other_names_are_no_rivals(make_store: StoreFactory) -> None:
    store = make_store()
    await keeper(store, "b", nonce="other00001").check()
    newcomer = me("a", "newcomer01")
    assert await settle(store, newcomer) is newcomer


async def test_a_second_process_appearing_under_the_name_is_refused(
    make_store: StoreFactory,
) -> None:
    """While the first rival is watched, another process starts under the name: alive."""
    store = make_store()
    await keeper(store, "a", nonce="crashed001").check()
    claiming = asyncio.create_task(settle(store, me("a", "newcomer01")))
    await asyncio.sleep(0.3)
    await keeper(store, "a", nonce="third00001").check()
    with pytest.raises(ReplicaNameTakenError):
        await claiming


async def test_a_stop_while_watching_settles_nothing(make_store: StoreFactory) -> None:
    """Stopped before the rival's fate is known: no heartbeat, nothing taken from it."""
    store = make_store()
    await keeper(store, "a", nonce="elsewhere01").check()
    stop = asyncio.Event()
    claiming = asyncio.create_task(name_claim.settle(store, me("a", "newcomer01"), TTL, stop))
    await asyncio.sleep(0.2)
    stop.set()
    assert await asyncio.wait_for(claiming, 2) is None


async def test_a_superseded_replica_says_its_name_was_taken(make_store: StoreFactory) -> None:
    """Should two processes slip past the claim (a pause across it), the earlier one learns at
    its next heartbeat and stops (``serve`` raises) instead of idling."""
    store = make_store()
    earlier = keeper(store, "a", nonce="earlier001")
    await earlier.check()
    await asyncio.sleep(0.01)
    await keeper(store, "a", nonce="later00001").check()
    await earlier.check()
    assert earlier.name_taken.is_set()
    assert not earlier.holds(MAIN)
