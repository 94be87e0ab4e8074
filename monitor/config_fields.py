"""Validators of single configuration values: names, URLs, secrets, addresses.

Each takes the raw value and its field path and returns the typed value, or raises a
``ConfigError`` naming the field. None of them puts a secret into an error message.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from redis.connection import parse_url

from monitor import redis_url
from monitor.config_reader import string
from monitor.errors import ConfigError
from monitor.models import EventType
from monitor.secret import Secret

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
    parts = urlsplit(text)
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
    return text.rstrip("/")


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
    """``memory://``, or Redis: one server, a Sentinel group or a Cluster (``redis_client``)."""
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
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(field, f"expected host:port, got {text!r}")
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
