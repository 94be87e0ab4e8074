"""``python -m monitor`` is the ``conference-monitor`` command."""

from monitor.commands.cli import main

raise SystemExit(main())
