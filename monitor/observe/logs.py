"""Structured logs: constant event names, details as key/values; JSON unless on a terminal.

Every line passes a scrubber that replaces any registered secret with ``***`` — a last line of
defence behind ``Secret``, so that even an exception message quoting a URL cannot leak a token.
Library logs (stdlib ``logging``) go through the same renderer and scrubber.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import Processor

from monitor.core.secret import registered_secrets

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

#: Whether the last ``configure`` chose the console renderer (people read the logs).
_for_people = False


def for_people() -> bool:
    """Are log lines rendered for a person (a terminal, or ``log_format: console``)?"""
    return _for_people


def scrub(text: str) -> str:
    """Replace every known secret in ``text`` (longest first, so prefixes cannot half-match)."""
    for secret in sorted(registered_secrets(), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    return text


def _scrubbing(renderer: Processor) -> Processor:
    def render(logger: Any, name: str, event: Any) -> str:
        return scrub(str(renderer(logger, name, event)))

    return render


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    global _for_people  # noqa: PLW0603 - logging is process-wide, like structlog's own config
    out = stream if stream is not None else sys.stderr
    as_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    _for_people = not as_json
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[*shared, _scrubbing(renderer)],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _scrubbing(renderer),
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(max(_LEVELS[level], logging.WARNING))  # libraries: warnings and worse only
