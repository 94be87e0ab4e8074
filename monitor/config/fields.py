"""The types a configuration value may have, and the checks behind them.

Each alias (``Float``, ``TupleOf[Id]``, ``Name``, ``SecretUrl``, …) is an ``Annotated`` type:
mypy sees the plain type, pydantic runs the check. The checks take the raw value and raise
``ValueError`` with the message a person reads (``reader.read`` puts the field in front); none
of them puts a secret into a message. They accept what YAML and the environment give: ``"15"``
for a number, ``"101, 202"`` for a list of ids, but never ``true`` for a number or ``1`` for a
boolean (pydantic's lax mode would)."""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final, TypeVar
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, PlainValidator
from redis.connection import parse_url

from monitor.config import redis_url
from monitor.core.models import EventType
from monitor.core.secret import Secret

T = TypeVar("T")
NAME: Final = re.compile(r"[a-z0-9_-]+")
STATE_SCHEMES: Final = (
    "memory",
    "redis",
    "rediss",
    "unix",
    *redis_url.SENTINEL_SCHEMES,
    *redis_url.CLUSTER_SCHEMES,
)
_API_PATH: Final = re.compile(r"/api/v1(/|$)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Listen:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


DEFAULT_LISTEN: Final = Listen("127.0.0.1", 9464)


def type_name(value: object) -> str:
    if value is None:
        return "nothing (null)"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), f"a {type(value).__name__}"
    )


# scalars: what pydantic's lax mode would take too loosely (true as 1, 1 as true, 2.0 as 2)


def string(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected a string, got {type_name(value)}")
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def number(value: object) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {type_name(value)}")
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return float(value)


def _whole(value: object) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {type_name(value)}")
    return value


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def comma_list(value: object) -> object:
    """Environment variables give lists as ``"101, 202"``."""
    if isinstance(value, str):
        return [part for part in (p.strip() for p in value.split(",")) if part]
    return value


def one_of(*choices: str) -> PlainValidator:
    def check(value: object) -> str:
        text = string(value)
        if text not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}; got {text!r}")
        return text

    return PlainValidator(check)


Text = Annotated[str, PlainValidator(string)]
Float = Annotated[float, BeforeValidator(number)]  # bounds: Field(ge=…) or Field(gt=…)
Int = Annotated[int, BeforeValidator(_whole)]
Flag = Annotated[bool, PlainValidator(_flag)]
TupleOf = Annotated[tuple[T, ...], BeforeValidator(comma_list)]
SetOf = Annotated[frozenset[T], BeforeValidator(comma_list)]
Id = Annotated[Int, Field(ge=1)]  # a Canvas id: a course, group or account


# names, URLs, secrets


def name(value: object) -> str:
    text = string(value)
    if not NAME.fullmatch(text):
        raise ValueError(f"{text!r} must match [a-z0-9_-]+")
    return text


def _http_url(value: object) -> str:
    text = string(value)
    try:
        parts = urlsplit(text)
    except ValueError:  # "Invalid IPv6 URL": a bracket that does not close
        raise ValueError("not a valid URL (check the brackets of an IPv6 host)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http(s) URL with a host")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError("has an invalid port") from None
    return text


def base_url(value: object) -> str:
    text = _http_url(value)
    parts = urlsplit(text)
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError("must be a plain base URL (no query, fragment or credentials)")
    # The client appends /api/v1/... itself: a URL that has it already can only ever get 404s.
    if _API_PATH.search(parts.path):
        raise ValueError("drop /api/v1: give Canvas's address; the monitor adds /api/v1/… itself")
    return text.rstrip("/")


def https_url(value: object) -> str:
    """A public URL fetched by the monitor (a JWKS): https, so no one on the way can swap it."""
    text = _http_url(value)
    if urlsplit(text).scheme != "https":
        raise ValueError("must be an https:// URL")
    return text


def http_path(value: object) -> str:
    text = string(value)
    if not text.startswith("/") or any(c in text for c in "?# "):
        raise ValueError(f"must be a path that starts with /, got {text!r}")
    return text


def url(value: object) -> Secret:
    if isinstance(value, Secret):  # the console sink's empty one
        return value
    # Never echo the URL: Slack and Teams URLs are credentials.
    return Secret(_http_url(value))


def secret(value: object) -> Secret:
    return Secret(string(value))


def signing_secret(value: object) -> Secret:
    text = string(value)
    if not text.startswith("whsec_"):
        raise ValueError("must look like whsec_<base64> (Standard Webhooks)")
    try:
        key = base64.b64decode(text.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the part after whsec_ is not valid base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError(f"must decode to 24-64 bytes, got {len(key)}")
    return Secret(text)


def event_type(value: object) -> EventType:
    text = string(value)
    try:
        return EventType(text)
    except ValueError:
        allowed = ", ".join(EventType)
        raise ValueError(f"unknown event {text!r}; known: {allowed}") from None


def state_url(value: object) -> Secret:
    """``memory://``, or Redis: one server, a Sentinel group or a Cluster
    (``store.redis.client``)."""
    text = string(value)
    scheme = redis_url.scheme_of(text)
    if scheme not in STATE_SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(STATE_SCHEMES)}")
    if redis_url.is_high_availability(text):
        try:
            redis_url.parse(text)
        except ValueError as exc:  # its messages never quote the URL
            raise ValueError(f"not a valid {scheme}:// URL: {exc}") from None
    elif scheme != "memory":
        try:
            parsed = parse_url(text)  # type: ignore[no-untyped-call]  # redis-py's own parser
        except ValueError:  # its message may quote the URL: say what to check instead
            raise ValueError("not a valid Redis URL (check host, port and options)") from None
        database = urlsplit(text).path.strip("/")
        if scheme != "unix" and database and "db" not in parsed:
            raise ValueError("the database after the host must be a number, as in /0")
    return Secret(text)


def listen(value: object) -> Listen:
    text = string(value)
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host or host.startswith("["):
        raise ValueError(f"expected host:port with an IPv6 host in brackets, got {text!r}")
    if not sep or not port.isdigit():
        raise ValueError(f"expected host:port, got {text!r}")
    if int(port) > 65535:
        raise ValueError(f"port {port} is out of range: 1-65535, or 0 for any free port")
    return Listen(host or "0.0.0.0", int(port))  # noqa: S104 - ":9464" explicitly asks for all


def ca_file(value: object) -> str:
    """A PEM bundle of certificate authorities to trust instead of the system's."""
    path = string(value)
    try:
        with open(path, "rb") as bundle:
            head = bundle.read(64 * 1024)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    if b"-----BEGIN CERTIFICATE-----" not in head:
        raise ValueError(f"{path} holds no PEM certificate")
    return path


def file_text(value: object) -> str:
    """The stripped text of a file that holds one secret (``token_file``, ``url_file``, …).

    Mounted Kubernetes Secrets and ``echo``-made files end with a newline that is no part of the
    secret. The path is no secret and is named in errors; the content never is.
    """
    path = string(value)
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    if not text:
        raise ValueError(f"{path} is empty")
    return text


Name = Annotated[str, PlainValidator(name)]
BaseUrl = Annotated[str, PlainValidator(base_url)]
SecretText = Annotated[Secret, PlainValidator(secret)]
SecretUrl = Annotated[Secret, PlainValidator(url)]
SigningSecret = Annotated[Secret, PlainValidator(signing_secret)]
StateUrl = Annotated[Secret, PlainValidator(state_url)]
CaFile = Annotated[str, PlainValidator(ca_file)]
Event = Annotated[EventType, PlainValidator(event_type)]
ListenAddress = Annotated[Listen, PlainValidator(listen)]
