"""``python -m monitor`` is the ``conference-monitor`` command."""

from monitor.cli import main

raise SystemExit(main())
