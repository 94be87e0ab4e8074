"""Environment-only configuration: one source named ``main`` and one sink per URL.

The variables are mapped to the same tree a YAML file would give, so validation is shared; the
returned ``names`` map each field back to its variable, so errors name what the user set. Each
secret has a ``_FILE`` twin (``CANVAS_TOKEN_FILE``) for secrets mounted as files; which of the
two to set is checked here, where the message can name both variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitor.core.errors import ConfigError

_TOP = {
    "POLL_INTERVAL": "poll_interval",
    "LISTEN": "listen",
    "LOG_LEVEL": "log_level",
    "LOG_FORMAT": "log_format",
}
_SOURCE = {
    "CANVAS_BASE_URL": "base_url",
    "CANVAS_COURSES": "courses",
    "CANVAS_GROUPS": "groups",
    "CANVAS_ACCOUNTS": "accounts",
    "ANNOUNCE_EXISTING": "announce_existing",
}
_SINKS = (
    ("WEBHOOK_URL", "webhook", "webhook"),
    ("SLACK_WEBHOOK_URL", "slack", "slack"),
    ("TEAMS_WEBHOOK_URL", "teams", "teams"),
)


def settings_tree(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Return the config tree and a map from field path to the variable that set it."""
    if not env.get("CANVAS_BASE_URL"):
        raise ConfigError(
            "CANVAS_BASE_URL",
            "is not set (no --config and no MONITOR_CONFIG either); "
            "try `conference-monitor demo` to see the monitor without a Canvas",
        )
    names: dict[str, str] = {}
    tree: dict[str, Any] = {}
    for var, key in _TOP.items():
        if env.get(var):
            tree[key] = env[var]
            names[key] = var
    state_var = "STATE_URL" if env.get("STATE_URL") or env.get("STATE_URL_FILE") else "REDIS_URL"
    tree.update(_value_or_file(env, state_var, "state_url", names, ""))

    source: dict[str, Any] = {"name": "main"}
    for var, key in _SOURCE.items():
        if env.get(var):
            source[key] = env[var]
            names[f"sources[0].{key}"] = var
    source.update(_value_or_file(env, "CANVAS_TOKEN", "token", names, "sources[0]", required=True))
    tree["sources"] = [source]

    sinks: list[dict[str, Any]] = []
    for var, name, kind in _SINKS:
        path = f"sinks[{len(sinks)}]"
        url = _value_or_file(env, var, "url", names, path)
        if url:
            sink = {"name": name, "type": kind, **url}
            if kind == "webhook":
                sink.update(_value_or_file(env, "WEBHOOK_SECRET", "secret", names, path))
            sinks.append(sink)
    signed = [var for var in ("WEBHOOK_SECRET", "WEBHOOK_SECRET_FILE") if env.get(var)]
    if signed and not any(env.get(var) for var in ("WEBHOOK_URL", "WEBHOOK_URL_FILE")):
        raise ConfigError(signed[0], "is set but WEBHOOK_URL is not: there is nothing to sign")
    tree["sinks"] = sinks
    return tree, names


def _value_or_file(
    env: Mapping[str, str],
    var: str,
    key: str,
    names: dict[str, str],
    path: str,
    *,
    required: bool = False,
) -> dict[str, str]:
    """``VAR`` as ``key`` or ``VAR_FILE`` as ``key_file``: at most one, exactly one if
    ``required``. Both are recorded in ``names`` so that errors name the variable."""
    pairs = ((key, var), (f"{key}_file", f"{var}_FILE"))
    for field, variable in pairs:
        names[f"{path}.{field}" if path else field] = variable
    given = {field: env[variable] for field, variable in pairs if env.get(variable)}
    if len(given) > 1 or (required and not given):
        wanted = "exactly one" if required else "at most one"
        raise ConfigError(var, f"set {wanted} of {var} or {var}_FILE")
    return given


def sink_types(env: Mapping[str, str]) -> dict[str, str]:
    """The sinks an environment-only set-up makes, name -> type (``dlq`` needs their names
    without a Canvas)."""
    return {name: kind for var, name, kind in _SINKS if env.get(var) or env.get(f"{var}_FILE")}
