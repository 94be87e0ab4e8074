"""Environment-only configuration: one source named ``main`` and one sink per URL.

The variables are mapped to the same tree a YAML file would give, so validation is shared; the
returned ``names`` map each field back to its variable, so errors name what the user set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitor.errors import ConfigError

_TOP = {
    "POLL_INTERVAL": "poll_interval",
    "LISTEN": "listen",
    "LOG_LEVEL": "log_level",
    "LOG_FORMAT": "log_format",
}
_SOURCE = {
    "CANVAS_BASE_URL": "base_url",
    "CANVAS_TOKEN": "token",
    "CANVAS_TOKEN_FILE": "token_file",
    "CANVAS_COURSES": "courses",
    "CANVAS_GROUPS": "groups",
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
    state_var = "STATE_URL" if env.get("STATE_URL") else "REDIS_URL"
    if env.get(state_var):
        tree["state_url"] = env[state_var]
        names["state_url"] = state_var

    source: dict[str, Any] = {"name": "main"}
    for var, key in _SOURCE.items():
        if env.get(var):
            source[key] = env[var]
            names[f"sources[0].{key}"] = var
    names["sources[0].token"] = "CANVAS_TOKEN"
    tree["sources"] = [source]

    sinks: list[dict[str, Any]] = []
    for var, name, kind in _SINKS:
        if not env.get(var):
            continue
        sink: dict[str, Any] = {"name": name, "type": kind, "url": env[var]}
        names[f"sinks[{len(sinks)}].url"] = var
        if kind == "webhook" and env.get("WEBHOOK_SECRET"):
            sink["secret"] = env["WEBHOOK_SECRET"]
            names[f"sinks[{len(sinks)}].secret"] = "WEBHOOK_SECRET"
        sinks.append(sink)
    if env.get("WEBHOOK_SECRET") and not env.get("WEBHOOK_URL"):
        raise ConfigError(
            "WEBHOOK_SECRET", "is set but WEBHOOK_URL is not: there is nothing to sign"
        )
    tree["sinks"] = sinks
    return tree, names


def sink_types(env: Mapping[str, str]) -> dict[str, str]:
    """The sinks an environment-only set-up makes, name -> type (``dlq`` needs their names
    without a Canvas)."""
    return {name: kind for var, name, kind in _SINKS if env.get(var)}
