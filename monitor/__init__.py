"""canvas-conference-monitor: know when a Canvas web conference goes live or ends."""

__version__ = "0.1.0"
