"""Validators of single configuration values: names, URLs, secrets, addresses.

Each takes the raw value and its field path and returns the typed value, or raises a
``ConfigError`` naming the field. None of them puts a secret into an error message.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar, overload
from urllib.parse import urlsplit

from redis.connection import parse_url

from monitor.config import redis_url
from monitor.config.reader import Reader, string
from monitor.core.errors import ConfigError
from monitor.core.models import EventType
from monitor.core.secret import Secret

T = TypeVar("T")
D = TypeVar("D")
_REQUIRED: Final = object()
NAME: Final = re.compile(r"[a-z0-9_-]+")
STATE_SCHEMES: Final = (
    "memory",
    "redis",
    "rediss",
    "unix",
    *redis_url.SENTINEL_SCHEMES,
    *redis_url.CLUSTER_SCHEMES,
)


@dataclass(frozen=True, slots=True)
class Listen:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def name(value: object, field: str) -> str:
    text = string(value, field)
    if not NAME.fullmatch(text):
        raise ConfigError(field, f"{text!r} must match [a-z0-9_-]+")
    return text


def _check_http_url(text: str, field: str) -> str:
    try:
        parts = urlsplit(text)
    except ValueError:  # "Invalid IPv6 URL": a bracket that does not close
        raise ConfigError(field, "not a valid URL (check the brackets of an IPv6 host)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(field, "not an http(s) URL with a host")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ConfigError(field, "has an invalid port") from None
    return text


def base_url(value: object, field: str) -> str:
    text = _check_http_url(string(value, field), field)
    parts = urlsplit(text)
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise ConfigError(field, "must be a plain base URL (no query, fragment or credentials)")
    # The client appends /api/v1/... itself: a URL that has it already can only ever get 404s.
    if _API_PATH.search(parts.path):
        raise ConfigError(
            field, "drop /api/v1: give Canvas's address; the monitor adds /api/v1/… itself"
        )
    return text.rstrip("/")


_API_PATH: Final = re.compile(r"/api/v1(/|$)", re.IGNORECASE)


def url(value: object, field: str) -> Secret:
    # Never echo the URL: Slack and Teams URLs are credentials.
    return Secret(_check_http_url(string(value, field), field))


def secret(value: object, field: str) -> Secret:
    return Secret(string(value, field))


def signing_secret(value: object, field: str) -> Secret:
    text = string(value, field)
    if not text.startswith("whsec_"):
        raise ConfigError(field, "must look like whsec_<base64> (Standard Webhooks)")
    try:
        key = base64.b64decode(text.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(field, "the part after whsec_ is not valid base64") from None
    if not 24 <= len(key) <= 64:
        raise ConfigError(field, f"must decode to 24-64 bytes, got {len(key)}")
    return Secret(text)


def event_type(value: object, field: str) -> EventType:
    text = string(value, field)
    try:
        return EventType(text)
    except ValueError:
        allowed = ", ".join(EventType)
        raise ConfigError(field, f"unknown event {text!r}; known: {allowed}") from None


def state_url(value: object, field: str) -> Secret:
    """``memory://``, or Redis: one server, a Sentinel group or a Cluster
    (``store.redis.client``)."""
    text = string(value, field)
    scheme = redis_url.scheme_of(text)
    if scheme not in STATE_SCHEMES:
        raise ConfigError(field, f"scheme must be one of {', '.join(STATE_SCHEMES)}")
    if redis_url.is_high_availability(text):
        try:
            redis_url.parse(text)
        except ValueError as exc:  # its messages never quote the URL
            raise ConfigError(field, f"not a valid {scheme}:// URL: {exc}") from None
    elif scheme != "memory":
        try:
            parsed = parse_url(text)  # type: ignore[no-untyped-call]  # redis-py's own parser
        except ValueError:  # its message may quote the URL: say what to check instead
            message = "not a valid Redis URL (check host, port and options)"
            raise ConfigError(field, message) from None
        database = urlsplit(text).path.strip("/")
        if scheme != "unix" and database and "db" not in parsed:
            raise ConfigError(field, "the database after the host must be a number, as in /0")
    return Secret(text)


def listen(value: object, field: str) -> Listen:
    text = string(value, field)
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host or host.startswith("["):
        raise ConfigError(field, f"expected host:port with an IPv6 host in brackets, got {text!r}")
    if not sep or not port.isdigit():
        raise ConfigError(field, f"expected host:port, got {text!r}")
    if int(port) > 65535:
        raise ConfigError(field, f"port {port} is out of range: 1-65535, or 0 for any free port")
    return Listen(host or "0.0.0.0", int(port))  # noqa: S104 - ":9464" explicitly asks for all


DEFAULT_LISTEN: Final = Listen("127.0.0.1", 9464)


def ca_file(value: object, field: str) -> str:
    """A PEM bundle of certificate authorities to trust instead of the system's."""
    path = string(value, field)
    try:
        with open(path, "rb") as bundle:
            head = bundle.read(64 * 1024)
    except OSError as exc:
        raise ConfigError(field, f"cannot read {path}: {exc.strerror}") from None
    if b"-----BEGIN CERTIFICATE-----" not in head:
        raise ConfigError(field, f"{path} holds no PEM certificate")
    return path


def file_text(value: object, field: str) -> str:
    """The stripped text of a file that holds one secret (``token_file``, ``url_file``, …).

    Mounted Kubernetes Secrets and ``echo``-made files end with a newline that is no part of the
    secret. The path is no secret and is named in errors; the content never is.
    """
    path = string(value, field)
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(field, f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(field, f"{path} is not UTF-8 text") from None
    if not text:
        raise ConfigError(field, f"{path} is empty")
    return text


@overload
def value_or_file(r: Reader, key: str, convert: Callable[[object, str], T]) -> T: ...


@overload
def value_or_file(
    r: Reader, key: str, convert: Callable[[object, str], T], default: D
) -> T | D: ...


def value_or_file(
    r: Reader, key: str, convert: Callable[[object, str], T], default: object = _REQUIRED
) -> object:
    """``key``, or ``key_file`` naming a file that holds it: one of the two at most, exactly
    one without a ``default``. The file's text is checked by ``convert`` as the value would be,
    and errors then name ``key_file``."""
    file_key = f"{key}_file"
    has_value, has_file = r.has(key), r.has(file_key)
    required = default is _REQUIRED
    if has_value == has_file and (has_value or required):
        wanted = "exactly one" if required else "at most one"
        raise ConfigError(r.field(key), f"set {wanted} of {key} or {file_key}")
    if has_value:
        return r.get(key, convert)
    if not has_file:
        return default
    path, text = r.get(file_key, string), r.get(file_key, file_text)
    try:
        return convert(text, r.field(file_key))
    except ConfigError as exc:  # its message never quotes the value
        raise ConfigError(exc.field, f"{exc.message} (read from {path})") from None
