"""Typed reading of untrusted configuration trees, with errors that name the field.

``Reader`` wraps one mapping of a YAML document (or of the environment) and hands out typed
values; every mistake becomes a ``ConfigError`` whose ``field`` is the dotted path
(``sources[0].courses[2]``). Keys nobody read are unknown keys, and an error, with a guess at
what was meant.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from monitor.core.errors import ConfigError

T = TypeVar("T")
_MISSING: Final = object()
_VAR = re.compile(r"\$\$|\$\{([^}]*)\}")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def interpolate(node: object, path: str, env: Mapping[str, str] | None = None) -> Any:
    """Replace ``${VAR}`` in every string of a parsed YAML tree; ``$$`` is a literal ``$``."""
    environ = os.environ if env is None else env
    if isinstance(node, str):

        def substitute(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name = match.group(1)
            if not _VAR_NAME.fullmatch(name):
                raise ConfigError(path, f"'${{{name}}}' is not a valid variable reference")
            if name not in environ:
                raise ConfigError(path, f"environment variable {name} is not set")
            return environ[name]

        return _VAR.sub(substitute, node)
    if isinstance(node, list):
        return [interpolate(item, f"{path}[{i}]", environ) for i, item in enumerate(node)]
    if isinstance(node, dict):
        return {
            key: interpolate(value, join(path, str(key)), environ) for key, value in node.items()
        }
    return node


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def type_name(value: object) -> str:
    if value is None:
        return "nothing (null)"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), f"a {type(value).__name__}"
    )


class Reader:
    """Hands out the typed values of one mapping and remembers which keys were read."""

    def __init__(self, raw: object, path: str) -> None:
        if not isinstance(raw, dict):
            raise ConfigError(path or "(top level)", f"expected a mapping, got {type_name(raw)}")
        self._raw: dict[Any, Any] = raw
        self.path = path
        self._read: set[str] = set()

    def field(self, key: str) -> str:
        return join(self.path, key)

    @property
    def known(self) -> frozenset[str]:
        """The schema's keys at this level once parsed: every key asked for, set or not (what
        "did you mean" guesses among, and what ``examples/monitor.yaml`` must show)."""
        return frozenset(self._read)

    @property
    def given(self) -> frozenset[str]:
        """The keys this mapping sets."""
        return frozenset(str(key) for key in self._raw)

    def has(self, key: str) -> bool:
        """Is ``key`` set (to anything but null)? Asking counts as reading it."""
        self._read.add(key)
        return self._raw.get(key) is not None

    def get(self, key: str, convert: Callable[[object, str], T], default: object = _MISSING) -> T:
        self._read.add(key)
        value = self._raw.get(key)
        if value is None:
            if default is _MISSING:
                raise ConfigError(self.field(key), "is required")
            return default  # type: ignore[return-value]
        return convert(value, self.field(key))

    def finish(self) -> None:
        """Reject keys that are not part of the schema."""
        for key in self._raw:
            if key in self._read:
                continue
            guess = difflib.get_close_matches(str(key), sorted(self._read), n=1)
            hint = f" (did you mean '{guess[0]}'?)" if guess else ""
            raise ConfigError(join(self.path, str(key)), f"unknown key{hint}")


def string(value: object, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(field, f"expected a string, got {type_name(value)}")
    text = str(value).strip()
    if not text:
        raise ConfigError(field, "must not be empty")
    return text


def number(minimum: float, *, exclusive: bool = False) -> Callable[[object, str], float]:
    def convert(value: object, field: str) -> float:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(field, f"expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(field, f"expected a number, got {type_name(value)}")
        result = float(value)
        if not math.isfinite(result):
            raise ConfigError(field, "must be a finite number")
        if result < minimum or (exclusive and result == minimum):
            relation = "greater than" if exclusive else "at least"
            raise ConfigError(field, f"must be {relation} {minimum:g}, got {result:g}")
        return result

    return convert


def integer(minimum: int) -> Callable[[object, str], int]:
    def convert(value: object, field: str) -> int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(field, f"expected a whole number, got {type_name(value)}")
        if value < minimum:
            raise ConfigError(field, f"must be at least {minimum}, got {value}")
        return value

    return convert


def boolean(value: object, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "off", "0"):
        return False
    raise ConfigError(field, f"expected true or false, got {value!r}")


def one_of(*choices: str) -> Callable[[object, str], str]:
    def convert(value: object, field: str) -> str:
        text = string(value, field)
        if text not in choices:
            raise ConfigError(field, f"must be one of {', '.join(choices)}; got {text!r}")
        return text

    return convert


def list_of(item: Callable[[object, str], T]) -> Callable[[object, str], tuple[T, ...]]:
    def convert(value: object, field: str) -> tuple[T, ...]:
        if isinstance(value, str):  # environment variables: comma-separated
            value = [part for part in (p.strip() for p in value.split(",")) if part]
        if not isinstance(value, list):
            raise ConfigError(field, f"expected a list, got {type_name(value)}")
        return tuple(item(element, f"{field}[{i}]") for i, element in enumerate(value))

    return convert


def a_list(value: object, field: str) -> list[object]:
    if not isinstance(value, list):
        raise ConfigError(field, "expected a list")
    return value


def non_empty_list(value: object, field: str) -> list[object]:
    items = a_list(value, field)
    if not items:
        raise ConfigError(field, "needs at least one entry")
    return items
