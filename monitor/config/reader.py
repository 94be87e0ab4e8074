"""Reading untrusted configuration trees: ``${VAR}`` interpolation, and pydantic's validation
told in our words.

The schema is the frozen dataclasses themselves (``Settings``, ``SourceConfig``, …): their
annotations carry the checks (``fields``), pydantic walks the tree, and ``read`` turns the first
mistake into a ``ConfigError`` whose ``field`` is the dotted path (``sources[0].courses[2]``), so
the CLI exits 78 naming it. Building the dataclasses in code validates nothing, as before: only
what a user wrote goes through here.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from monitor.config.fields import file_text, string, type_name
from monitor.core.errors import ConfigError

T = TypeVar("T")
#: Every level of the schema: unknown keys are errors (``given`` names them first, with a guess).
SCHEMA: Final = ConfigDict(extra="forbid")
#: ``field(metadata=NOT_A_KEY)``: a value the parser computes, which no file may set.
NOT_A_KEY: Final = {"config_key": False}
_VAR = re.compile(r"\$\$|\$\{([^}]*)\}")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPECTED: Final = {
    "string_type": "a string",
    "tuple_type": "a list",
    "frozen_set_type": "a list",
    "dataclass_type": "a mapping",
}


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


def read(schema: type[T], raw: object, context: dict[str, Any] | None = None) -> T:
    """Validate ``raw`` (already interpolated) into ``schema``; the first mistake is raised."""
    adapter = _adapters.get(schema) or _adapters.setdefault(schema, TypeAdapter(schema))
    try:
        value: T = adapter.validate_python(raw, context={} if context is None else context)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        raise ConfigError(_field(error), _message(error)) from None
    return value


_adapters: dict[type[Any], TypeAdapter[Any]] = {}  # building one costs milliseconds


def _field(error: ErrorDetails) -> str:
    path = ""
    for part in error["loc"]:
        path = f"{path}[{part}]" if isinstance(part, int) else join(path, part)
    key = str(error.get("ctx", {}).get("key", ""))
    if key:
        path = path + key if key.startswith("[") else join(path, key)
    return path or "(top level)"


def _message(error: ErrorDetails) -> str:
    kind, ctx, value = error["type"], error.get("ctx", {}), error["input"]
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {type_name(value)}"
    match kind:
        case "config":
            return str(ctx["message"])
        case "value_error":
            return str(ctx["error"])
        case "missing":
            return "is required"
        case "unexpected_keyword_argument":  # ``given`` names unknown keys first; a backstop
            return "unknown key"
        case "greater_than_equal":
            return f"must be at least {ctx['ge']:g}, got {float(value):g}"
        case "greater_than":
            return f"must be greater than {ctx['gt']:g}, got {float(value):g}"
        case "too_short":
            return "needs at least one entry"
    return error["msg"]  # pydantic's own words, for a case no check foresaw


def invalid(message: str, key: str = "") -> PydanticCustomError:
    """An error found by a check of a whole mapping; ``key`` (``token_file``, ``sources[1].name``)
    says where in it."""
    return PydanticCustomError("config", "{message}", {"message": message, "key": key})


def keys(schema: type[Any]) -> frozenset[str]:
    """The keys a mapping of ``schema`` may set: its fields, and ``<key>_file`` for each key in
    its ``FILES`` (what "did you mean" guesses among, and what ``examples/monitor.yaml`` shows)."""
    names = {f.name for f in dataclasses.fields(schema) if f.metadata.get("config_key", True)}
    return frozenset(names | {f"{key}_file" for key in getattr(schema, "FILES", ())})


def given(schema: type[Any], data: object) -> dict[str, Any]:
    """What each level checks first: a mapping whose keys are all in ``schema``. A null value is
    no value (``token: null`` next to ``token_file`` is fine)."""
    if not isinstance(data, dict):
        raise invalid(f"expected a mapping, got {type_name(data)}")
    known = keys(schema)
    for key in data:
        if str(key) not in known:
            guess = difflib.get_close_matches(str(key), sorted(known), n=1)
            hint = f" (did you mean '{guess[0]}'?)" if guess else ""
            raise invalid(f"unknown key{hint}", str(key))
    return {str(key): value for key, value in data.items() if value is not None}


def value_or_file(
    data: dict[str, Any], key: str, check: Callable[[object], object], *, required: bool
) -> dict[str, Any]:
    """``key``, or ``key_file`` naming a file that holds it: at most one of the two, exactly one
    when ``required``. The file's text takes the place of ``key``, once ``check`` (the key's own)
    passed it; its errors name ``key_file`` and the path, never the text."""
    file_key = f"{key}_file"
    if (key in data) == (file_key in data) and (key in data or required):
        wanted = "exactly one" if required else "at most one"
        raise invalid(f"set {wanted} of {key} or {file_key}", key)
    if file_key not in data:
        return data
    try:
        path = string(data[file_key])
        text = file_text(path)
    except ValueError as exc:
        raise invalid(str(exc), file_key) from None
    try:
        check(text)
    except ValueError as exc:  # its message never quotes the value
        raise invalid(f"{exc} (read from {path})", file_key) from None
    return {k: v for k, v in data.items() if k != file_key} | {key: text}


def checked(check: Callable[[object], T], value: object, field: str) -> T:
    """One value checked outside a schema (``dlq`` reads the store's URL alone)."""
    try:
        return check(value)
    except ValueError as exc:
        raise ConfigError(field, str(exc)) from None
