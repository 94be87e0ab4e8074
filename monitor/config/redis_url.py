"""What a Redis ``state_url`` says: its form, its hosts, and how to name it in a message.

``parse`` reads the Sentinel and Cluster forms (``store.redis.client`` lists them all), which
redis-py cannot; ``config.fields.state_url`` checks a URL with it, so a bad one is a config
error naming the field. ``where`` names a server for messages: scheme, hosts and service, never
credentials or options.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, unquote

from monitor.core.secret import redact_url

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


def tls_options(topology: Topology) -> dict[str, Any]:
    """The client options the TLS query options of ``topology`` stand for."""
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
