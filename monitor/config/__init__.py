"""Configuration, parsed once into frozen objects: a YAML file (``${VAR}`` interpolated) or the
environment alone; every error names its field and exits 78.
"""

from monitor.config.settings import (
    Listen,
    LiveEventsConfig,
    Settings,
    SourceConfig,
    from_environment,
    load_file,
    parse,
)
from monitor.config.sinks import SinkConfig, SinkType

__all__ = [
    "Listen",
    "LiveEventsConfig",
    "Settings",
    "SinkConfig",
    "SinkType",
    "SourceConfig",
    "from_environment",
    "load_file",
    "parse",
]
