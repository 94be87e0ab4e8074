"""Every log line of the service (structlog and stdlib) as JSON, for tests that read the logs."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator

import structlog

from monitor.observe import logs


@contextlib.contextmanager
def captured_logs(level: str = "info") -> Iterator[io.StringIO]:
    """The log lines at ``level`` and above while the block runs; logging as it was after."""
    was_configured = structlog.is_configured()
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, root_level = list(root.handlers), root.level
    stream = io.StringIO()
    logs.configure(level, "json", stream=stream)
    try:
        yield stream
    finally:
        if was_configured:
            structlog.configure(**saved)
        else:
            structlog.reset_defaults()
        root.handlers, root.level = handlers, root_level
