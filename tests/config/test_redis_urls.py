"""``redis+sentinel://`` and ``redis+cluster://`` state URLs: what they say, how the config
checks them (errors that name ``state_url`` and never quote a password), and the clients they
make. No server needed: clients connect lazily (``test_redis_sentinel``/``_cluster`` connect)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import redis_url
from monitor.config.redis_url import Topology
from monitor.config.settings import parse
from monitor.core.errors import ConfigError, ExitCode
from monitor.core.secret import Secret
from monitor.store.base import open_store
from monitor.store.redis.client import BLOCK_SLICE, POOL_SIZE, connect, is_cluster
from monitor.store.redis.sentinel import SentinelPrimary
from monitor.store.redis.store import RedisStore

PASSWORD = "url-pass-8f3b2a"
SOURCE = {"name": "main", "base_url": "https://canvas.example.edu", "token": "t0ken"}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            f"redis+sentinel://:{PASSWORD}@10.0.0.1:26379,10.0.0.2:26380,sentinel-c/mymaster/2",
            Topology(
                "sentinel",
                tls=False,
                nodes=(("10.0.0.1", 26379), ("10.0.0.2", 26380), ("sentinel-c", 26379)),
                service="mymaster",
                db=2,
                password=PASSWORD,
            ),
        ),
        (
            f"rediss+sentinel://ops:{PASSWORD}@[::1]:26379/cache?sentinel_password=s3&ssl_cert_reqs=none",
            Topology(
                "sentinel",
                tls=True,
                nodes=(("::1", 26379),),
                service="cache",
                username="ops",
                password=PASSWORD,
                options={"sentinel_password": "s3", "ssl_cert_reqs": "none"},
            ),
        ),
        (
            "redis+sentinel://s1/mymaster/",
            Topology("sentinel", False, (("s1", 26379),), "mymaster"),
        ),
        (
            f"redis+cluster://:{PASSWORD}@10.0.0.1:7000,10.0.0.2",
            Topology(
                "cluster",
                tls=False,
                nodes=(("10.0.0.1", 7000), ("10.0.0.2", 6379)),
                password=PASSWORD,
            ),
        ),
        (
            "rediss+cluster://node-1:7000/0?ssl_ca_certs=/etc/ca.pem",
            Topology(
                "cluster",
                tls=True,
                nodes=(("node-1", 7000),),
                options={"ssl_ca_certs": "/etc/ca.pem"},
            ),
        ),
        (
            "redis+cluster://u%40x:p%3Aw@n1/",
            Topology("cluster", False, (("n1", 6379),), username="u@x", password="p:w"),
        ),
    ],
)
def test_urls_are_read(url: str, expected: Topology) -> None:
    topology = redis_url.parse(url)
    assert topology == expected
    assert topology.password == expected.password
    assert topology.options == expected.options
    assert parse({"state_url": url, "sources": [SOURCE]}).state_url == Secret(url)


def test_where_names_every_host_and_no_credentials() -> None:
    assert (
        redis_url.where(f"redis+sentinel://:{PASSWORD}@s1,[::1]:26380/mymaster/0")
        == "redis+sentinel://s1:26379,[::1]:26380/mymaster"
    )
    assert (
        redis_url.where(f"rediss+cluster://u:{PASSWORD}@n1:7000,n2:7001")
        == "rediss+cluster://n1:7000,n2:7001"
    )
    assert redis_url.where(f"redis+cluster://:{PASSWORD}@n1:bad") == "redis+cluster://…"
    assert redis_url.where(f"redis://:{PASSWORD}@host:6379/0") == "redis://host:6379/…"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"redis+sentinel://:{PASSWORD}@s1:26379", "service name is missing"),
        (f"redis+sentinel://:{PASSWORD}@s1/", "service name is missing"),
        (f"redis+sentinel://:{PASSWORD}@s1/mymaster/zero", "database a number"),
        (f"redis+sentinel://:{PASSWORD}@s1/mymaster/0/extra", "database a number"),
        (f"redis+sentinel://:{PASSWORD}@s1:notaport/mymaster", "port must be a number"),
        (f"redis+sentinel://:{PASSWORD}@s1:70000/mymaster", "port must be a number"),
        (f"redis+sentinel://:{PASSWORD}@s1,,s2/mymaster", "host[:port], separated by commas"),
        (f"redis+sentinel://:{PASSWORD}@::1/mymaster", "host[:port], separated by commas"),
        (f"redis+sentinel://:{PASSWORD}@[::1/mymaster", "IPv6"),
        (f"redis+sentinel://:{PASSWORD}@s1/m?socket_timeout=1", "unknown option 'socket_timeout'"),
        (f"redis+sentinel://:{PASSWORD}@s1/m?ssl_ca_certs=/ca.pem", "needs TLS"),
        (f"redis+cluster://:{PASSWORD}@n1:7000/1", "only database 0"),
        (f"redis+cluster://:{PASSWORD}@n1:7000?sentinel_password=x", "unknown option"),
        (f"redis+cluster://:{PASSWORD}@", "host[:port]"),
        (f"rediss+cluster://:{PASSWORD}@n1?ssl_cert_reqs=maybe", "none, optional or required"),
        (f"rediss+cluster://:{PASSWORD}@n1?ssl_check_hostname=si", "true or false"),
        (f"redis+sentinels://:{PASSWORD}@s1/mymaster", "scheme must be one of"),
    ],
)
def test_a_bad_url_is_a_config_error_naming_state_url(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse({"state_url": url, "sources": [SOURCE]})
    assert info.value.field == "state_url"
    assert message in info.value.message
    assert PASSWORD not in str(info.value)


def test_the_schemes_are_listed_in_the_error() -> None:
    with pytest.raises(ConfigError) as info:
        parse({"state_url": "http://127.0.0.1:6379", "sources": [SOURCE]})
    for scheme in ("redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster"):
        assert scheme in info.value.message


def test_a_bad_url_exits_78_naming_the_field(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"state_url: redis+sentinel://:{PASSWORD}@127.0.0.1:26379\n"
        "sources:\n"
        "  - name: main\n"
        "    base_url: https://canvas.example.edu\n"
        "    token: t0ken\n",
        encoding="utf-8",
    )
    for command in ("run", "check"):
        result = subprocess.run(  # noqa: S603 - our own program
            [sys.executable, "-m", "monitor", command, "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={"PATH": "/usr/bin:/bin"},
        )
        assert result.returncode == int(ExitCode.CONFIG), result.stderr
        assert "state_url" in result.stderr
        assert "service name is missing" in result.stderr
        assert PASSWORD not in result.stderr + result.stdout
        assert "Traceback" not in result.stderr


async def test_a_sentinel_url_makes_a_client_of_the_primary_with_the_usual_timeouts() -> None:
    client = connect(Secret(f"redis+sentinel://:{PASSWORD}@127.0.0.1:1,127.0.0.1:2/mymaster/3"))
    try:
        assert isinstance(client, SentinelPrimary)
        assert not is_cluster(client)
        kwargs = client.connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] == BLOCK_SLICE + 5  # above the longest blocking read
        assert (kwargs["db"], kwargs["password"]) == (3, PASSWORD)
        assert client.sentinel_group is not None
        asked = client.sentinel_group.sentinels
        assert [c.connection_pool.connection_kwargs["port"] for c in asked] == [1, 2]
        assert all(c.connection_pool.connection_kwargs.get("password") is None for c in asked)
    finally:
        await client.aclose()


async def test_a_cluster_url_makes_a_cluster_client() -> None:
    client = connect(Secret(f"redis+cluster://:{PASSWORD}@127.0.0.1:1,127.0.0.1:2"))
    try:
        assert is_cluster(client)
    finally:
        await client.aclose()


async def test_more_concurrent_store_calls_than_connections_wait_their_turn(
    redis_url: str,
) -> None:
    """A thousand sources commit at the same tick: calls beyond the pool wait, none fails."""
    store = RedisStore.from_url(Secret(redis_url), consumer="crowd")
    try:
        loaded = await asyncio.gather(*(store.load(f"s{i}") for i in range(3 * POOL_SIZE)))
    finally:
        await store.close()
    assert [item.version for item in loaded] == [0] * (3 * POOL_SIZE)


async def test_open_store_takes_both_forms_and_names_their_hosts() -> None:
    for url, where in [
        (
            f"redis+sentinel://:{PASSWORD}@127.0.0.1:1,[::1]:2/mymaster",
            "redis+sentinel://127.0.0.1:1,[::1]:2/mymaster",
        ),
        (f"rediss+cluster://:{PASSWORD}@127.0.0.1:1", "rediss+cluster://127.0.0.1:1"),
    ]:
        store = open_store(Secret(url), consumer="pod-a")
        try:
            assert isinstance(store, RedisStore)
            assert store._where == where
        finally:
            await store.close()
