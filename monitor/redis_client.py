"""From a ``state_url`` to a Redis client, with the timeouts the store relies on.

The forms of ``state_url`` that name Redis (``config_fields.state_url`` checks them with
``parse``, ``connect`` makes the client):

``redis://[[user]:password@]host[:6379][/db]``, ``rediss://…`` (TLS), ``unix:///path.sock?db=0``
    One server, read by redis-py itself (``Redis.from_url``).

``redis+sentinel://[[user]:password@]host[:26379][,host[:26379]…]/service[/db]``, ``rediss+sentinel://…``
    The primary that a Sentinel group calls ``service``. Every new connection asks a sentinel
    where the primary is, and while the client is busy it asks again every ``FOLLOW_EVERY``
    seconds, closing connections to a primary the sentinels no longer name: after a failover
    the client moves to the new primary by itself, even when the old one lives on (a planned
    ``SENTINEL FAILOVER`` leaves it writable until the sentinels demote it, failover-timeout
    later). Commands under way when the old primary went fail, and the store says so (and
    tries again). A sentinel answers at once or is skipped for the next; while none names a
    primary that is up, every command fails at once, naming the sentinels by host:port. The
    credentials are the primary's (and its replicas'); sentinels that want their own take the
    query options ``sentinel_username`` and ``sentinel_password``. TLS covers both.
    Replication is asynchronous: a write the old primary acknowledged but had not yet passed
    to the replica that is promoted is lost (``docs/scaling.md`` says what that costs).

``redis+cluster://[[user]:password@]host[:6379][,host[:6379]…]``, ``rediss+cluster://…``
    A Redis Cluster, found through any of the nodes listed; database 0 only. Every key a
    multi-key step touches shares a hash tag (``redis_keys``), so each step stays in one slot.

Both HA forms take the TLS query options ``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``,
``ssl_cert_reqs`` (none, optional, required) and ``ssl_check_hostname`` (true, false).
Messages name a server by ``where``: scheme, hosts and service, never credentials or options.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final, cast
from urllib.parse import parse_qsl, unquote

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ClusterError, RedisClusterException, RedisError
from redis.typing import EncodableT, ScriptTextT

from monitor.secret import Secret, redact_url

BLOCK_SLICE: Final = 5.0  # seconds one XREADGROUP may block; the socket timeout is above it
TIMEOUTS: Final[dict[str, Any]] = {
    "socket_timeout": BLOCK_SLICE + 5,
    "socket_connect_timeout": 5,
    "health_check_interval": 30,
}
SENTINEL_TIMEOUT: Final = 5.0  # a sentinel answers at once or is skipped for the next one
FOLLOW_EVERY: Final = 1.0  # seconds between looks at where the primary is, while in use
# A cluster client keeps a pool per node; each sink keeps one blocking read per stream open
# (``redis_outbox``), so a node may need (sources + 1) x sinks connections at once.
CLUSTER_CONNECTIONS: Final = 1000

SENTINEL_SCHEMES: Final = ("redis+sentinel", "rediss+sentinel")
CLUSTER_SCHEMES: Final = ("redis+cluster", "rediss+cluster")
DEFAULT_PORTS: Final = {"sentinel": 26379, "cluster": 6379}
TLS_OPTIONS: Final = frozenset(
    {"ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs", "ssl_check_hostname"}
)
SENTINEL_OPTIONS: Final = frozenset({"sentinel_username", "sentinel_password"})


@dataclass(frozen=True, slots=True)
class Topology:
    """What a ``redis+sentinel://`` or ``redis+cluster://`` URL says."""

    kind: str  # "sentinel" or "cluster"
    tls: bool
    nodes: tuple[tuple[str, int], ...]  # sentinels, or cluster nodes to start from
    service: str = ""  # the Sentinel service name
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    options: dict[str, str] = field(default_factory=dict, repr=False)

    def where(self) -> str:
        scheme = ("rediss+" if self.tls else "redis+") + self.kind
        hosts = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.nodes)
        return f"{scheme}://{hosts}" + (f"/{self.service}" if self.service else "")


def scheme_of(url: str) -> str:
    """The scheme, read without ``urlsplit`` (which rejects some lists of hosts)."""
    return url.partition(":")[0].lower()


def is_high_availability(url: str) -> bool:
    return scheme_of(url) in SENTINEL_SCHEMES + CLUSTER_SCHEMES


def parse(url: str) -> Topology:
    """Read a Sentinel or Cluster URL; ``ValueError`` says what is wrong without quoting it."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in SENTINEL_SCHEMES + CLUSTER_SCHEMES:
        raise ValueError("not a redis+sentinel:// or redis+cluster:// URL")
    rest = rest.partition("#")[0]
    end = min([rest.index(c) for c in "/?" if c in rest] or [len(rest)])
    netloc, (path, _, query) = rest[:end], rest[end:].partition("?")
    kind = "sentinel" if scheme in SENTINEL_SCHEMES else "cluster"
    tls = scheme.startswith("rediss")
    userinfo, _, hostlist = netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    nodes = tuple(_node(item, DEFAULT_PORTS[kind]) for item in hostlist.split(","))
    options = _options(query, kind, tls)
    service, db = _path(kind, path)
    return Topology(
        kind=kind,
        tls=tls,
        nodes=nodes,
        service=service,
        db=db,
        username=unquote(user) or None,
        password=unquote(password) or None,
        options=options,
    )


def _path(kind: str, path: str) -> tuple[str, int]:
    """The service name and database a path gives: ``/service[/db]`` (Sentinel), ``[/0]``."""
    segments = [unquote(s) for s in path.split("/")[1:]]
    service = ""
    if kind == "sentinel":
        if not segments or not segments[0]:
            raise ValueError("the Sentinel service name is missing: …/<service>[/<db>]")
        service = segments.pop(0)
    db = segments[0] if segments and segments[0] else "0"
    if any(segments[1:]) or not db.isdigit():
        shape = "/<service>[/<db>]" if kind == "sentinel" else "[/0]"
        raise ValueError(f"the path must be {shape}, the database a number")
    if kind == "cluster" and int(db) != 0:
        raise ValueError("Redis Cluster has only database 0")
    return service, int(db)


def _node(item: str, default_port: int) -> tuple[str, int]:
    if item.startswith("["):  # [IPv6]:port
        host, bracket, rest = item[1:].partition("]")
        if not bracket or not host or (rest and not rest.startswith(":")):
            raise ValueError("a host in brackets must be an IPv6 address, as in [::1]:26379")
        port = rest[1:]
    else:
        host, _, port = item.partition(":")
        if not host or any(c in item for c in "[]/ ") or ":" in port:
            raise ValueError("every host must be host[:port], separated by commas")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError("a port must be a number from 1 to 65535")
    return host, int(port) if port else default_port


def _options(query: str, kind: str, tls: bool) -> dict[str, str]:
    known = (TLS_OPTIONS if tls else frozenset()) | (
        SENTINEL_OPTIONS if kind == "sentinel" else frozenset()
    )
    options: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in TLS_OPTIONS and not tls:
            raise ValueError(f"the option {key!r} needs TLS: rediss+{kind}://")
        if key not in known:
            allowed = ", ".join(sorted(known)) or "none"
            raise ValueError(f"unknown option {key!r} (allowed here: {allowed})")
        options[key] = value
    if options.get("ssl_cert_reqs", "required") not in ("none", "optional", "required"):
        raise ValueError("ssl_cert_reqs must be none, optional or required")
    if options.get("ssl_check_hostname", "true").lower() not in ("true", "false"):
        raise ValueError("ssl_check_hostname must be true or false")
    return options


def where(url: str) -> str:
    """The server a URL names, for messages: no credentials, no options."""
    if is_high_availability(url):
        try:
            return parse(url).where()
        except ValueError:
            return scheme_of(url) + "://…"
    return redact_url(url)


def connect(url: Secret) -> aioredis.Redis:
    """A client for any form of ``state_url`` that names Redis (see the module's docstring)."""
    text = url.reveal()
    if not is_high_availability(text):
        return aioredis.Redis.from_url(text, **TIMEOUTS)
    topology = parse(text)
    if topology.kind == "sentinel":
        return _sentinel_primary(topology)
    # RedisCluster offers the commands the store uses, under the same names and arguments;
    # the store tells the two apart where they differ (``is_cluster``).
    return cast("aioredis.Redis", _cluster(topology))


def is_cluster(client: object) -> bool:
    """Is this a Redis Cluster client (where a command must keep to one slot)?"""
    return isinstance(client, RedisCluster)


def _tls(topology: Topology) -> dict[str, Any]:
    if not topology.tls:
        return {}
    options = topology.options
    tls: dict[str, Any] = {"ssl": True}
    for key in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs"):
        if key in options:
            tls[key] = options[key]
    if "ssl_check_hostname" in options:
        tls["ssl_check_hostname"] = options["ssl_check_hostname"].lower() == "true"
    return tls


class SentinelPrimary(aioredis.Redis):
    """The primary a Sentinel group names; closing it closes the sentinel connections too."""

    sentinel_group: Sentinel | None = None  # (``sentinel`` is the SENTINEL command)

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        try:
            await super().aclose(close_connection_pool)
        finally:
            if self.sentinel_group is not None:
                await self.sentinel_group.aclose()


class Sentinels(Sentinel):
    """redis-py's ``Sentinel``, whose failure to find the primary says, in a line, what each
    sentinel answered (by host:port) instead of quoting every client's settings."""

    async def discover_master(self, service_name: str) -> tuple[str, int]:
        answers: list[str] = []
        for number, sentinel in enumerate(self.sentinels):
            kwargs = sentinel.connection_pool.connection_kwargs
            host, port = kwargs.get("host", "?"), kwargs.get("port", "?")
            address = f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
            try:
                primaries = await sentinel.sentinel_masters()
            except RedisError as exc:  # skipped: the next sentinel may know
                answers.append(f"{address} did not answer ({type(exc).__name__})")
                continue
            state = primaries.get(service_name) if isinstance(primaries, dict) else None
            if state is None:
                answers.append(f"{address} does not know it")
            elif not self.check_master_state(state, service_name):
                answers.append(f"{address} sees it down")
            else:  # ask this sentinel first next time, as redis-py does
                self.sentinels[0], self.sentinels[number] = sentinel, self.sentinels[0]
                return str(state["ip"]), int(state["port"])
        raise MasterNotFoundError(f"no primary {service_name!r}: " + ", ".join(answers))


class FollowingPool(SentinelConnectionPool):
    """Connections to the primary the sentinels name now, not to the one they named when the
    connection was made: before a connection is used, at most every ``FOLLOW_EVERY`` seconds,
    the sentinels are asked again; a connection to another address is closed and made anew.

    redis-py asks only when it connects, and keeps idle connections to a demoted primary (which
    answers reads and, until the sentinels reconfigure it, takes writes that are then lost)."""

    def __init__(self, service_name: str, sentinel_manager: Sentinel, **kwargs: Any) -> None:
        super().__init__(service_name, sentinel_manager, **kwargs)  # type: ignore[no-untyped-call]
        self.next_look = 0.0  # time.monotonic() of the next look

    async def ensure_connection(self, connection: AbstractConnection) -> None:
        if time.monotonic() >= self.next_look:
            self.next_look = time.monotonic() + FOLLOW_EVERY  # one look at a time
            # Closes idle connections if the primary moved. Should no sentinel name one, a
            # connection that still works is used; a new one fails to connect.
            with contextlib.suppress(MasterNotFoundError):
                await self.get_master_address()  # type: ignore[no-untyped-call]
        address = (connection.host, connection.port)  # type: ignore[attr-defined]
        if connection.is_connected and self.master_address not in (None, address):
            await connection.disconnect()  # it was in use when the primary moved
        await super().ensure_connection(connection)


def _sentinel_primary(topology: Topology) -> SentinelPrimary:
    tls = _tls(topology)
    asking: dict[str, Any] = {
        "socket_timeout": SENTINEL_TIMEOUT,
        "socket_connect_timeout": SENTINEL_TIMEOUT,
        "retry": Retry(NoBackoff(), 0),  # a sentinel that fails is skipped, not asked again
        **tls,
    }
    if "sentinel_username" in topology.options:
        asking["username"] = topology.options["sentinel_username"]
    if "sentinel_password" in topology.options:
        asking["password"] = topology.options["sentinel_password"]
    sentinel = Sentinels(  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        list(topology.nodes),
        sentinel_kwargs=asking,
        username=topology.username,
        password=topology.password,
        db=topology.db,
        **TIMEOUTS,
        **tls,
    )
    primary: SentinelPrimary = sentinel.master_for(
        topology.service, redis_class=SentinelPrimary, connection_pool_class=FollowingPool
    )
    primary.sentinel_group = sentinel
    return primary


class Cluster(RedisCluster):
    """What the store needs of a cluster client that redis-py's lacks.

    Its own failures (no node reachable, a slot no node serves) are ``RedisError``s, as the
    store expects of every client: it reports them and tries again, as after a lost connection,
    instead of letting them through as something unforeseen. And its pipelines run the Lua
    scripts registered on it, as a single server's do (redis-py refuses EVALSHA in a cluster
    pipeline): each is loaded on every primary first, then runs on the node of its first key.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.scripts: dict[str, AsyncScript] = {}  # by SHA1

    # redis-py types the base's as the blocking client's Script; what it returns is AsyncScript
    def register_script(self, script: ScriptTextT) -> AsyncScript:  # type: ignore[override]
        registered = super().register_script(script)
        self.scripts[registered.sha] = registered
        return registered

    async def execute_command(self, *args: EncodableT, **kwargs: Any) -> Any:
        with _as_redis_error():
            return await super().execute_command(*args, **kwargs)

    def pipeline(
        self, transaction: Any | None = None, shard_hint: Any | None = None
    ) -> ClusterPipeline:
        super().pipeline(transaction, shard_hint)  # its checks
        # redis-py types an attribute of its base as abstract; its own pipeline() does the same
        return _ClusterPipeline(self, transaction)  # type: ignore[abstract]


class _ClusterPipeline(ClusterPipeline):
    def __init__(self, client: Cluster, transaction: bool | None = None) -> None:
        super().__init__(client, transaction)
        self._owner = client
        self._shas: set[str] = set()  # scripts to load before running

    def evalsha(
        self, sha: str, numkeys: int, *keys_and_args: EncodableT
    ) -> asyncio.Future[ClusterPipeline]:
        """Queue a script; awaiting the answer is fine (``AsyncScript`` does), and unlike
        awaiting the pipeline itself it leaves the queue as it is."""
        self._shas.add(sha)
        self.execute_command("EVALSHA", sha, numkeys, *keys_and_args)
        queued: asyncio.Future[ClusterPipeline] = asyncio.get_running_loop().create_future()
        queued.set_result(self)
        return queued

    async def execute(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        try:
            with _as_redis_error():
                for sha in self._shas:
                    if script := self._owner.scripts.get(sha):
                        await self._owner.script_load(script.script)  # on every primary
                return await super().execute(raise_on_error, allow_redirections)
        finally:
            self._shas.clear()


@contextlib.contextmanager
def _as_redis_error() -> Iterator[None]:
    try:
        yield
    except RedisClusterException as exc:  # its messages name nodes by host:port only
        raise ClusterError(str(exc)) from exc


def _cluster(topology: Topology) -> RedisCluster:
    return Cluster(
        startup_nodes=[ClusterNode(host, port) for host, port in topology.nodes],
        username=topology.username,
        password=topology.password,
        max_connections=CLUSTER_CONNECTIONS,
        **TIMEOUTS,
        **_tls(topology),
    )
