"""canvas-conference-monitor: know when a Canvas web conference goes live or ends."""

__version__ = "0.1.0"

#: How the monitor introduces itself to Canvas and to receivers.
USER_AGENT = f"canvas-conference-monitor/{__version__}"
