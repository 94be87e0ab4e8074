"""The command line: ``run``, ``demo``, ``simulate``, ``check``, ``dlq`` (see docs/design.md).

Exit codes: 0 ok, 78 bad configuration (the message names the field), 1 anything else.
SIGTERM and SIGINT stop gracefully; a second one stops at once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from monitor import __version__
from monitor.config.settings import Settings, from_environment, load_file
from monitor.core.errors import ConfigError, ExitCode, MonitorError, StoreError
from monitor.observe import logs

Main = Callable[[asyncio.Event], Coroutine[Any, Any, Any]]


def load_settings(path: str | None, *, store_only: bool = False) -> Settings:
    """``--config``, else ``$MONITOR_CONFIG``, else the environment alone; ``store_only``
    (``dlq``): without a Canvas in the environment, ``STATE_URL`` or ``REDIS_URL`` suffices."""
    if path:
        return load_file(path)
    if from_variable := os.environ.get("MONITOR_CONFIG"):
        return load_file(from_variable, named_by="MONITOR_CONFIG")
    if store_only and not os.environ.get("CANVAS_BASE_URL"):
        from monitor.commands.dlq import store_settings  # noqa: PLC0415 - only dlq pays for it

        return store_settings(os.environ)
    return from_environment()


async def until_signalled(main: Main) -> Any:
    """Run ``main(stop)``; the first SIGTERM/SIGINT sets ``stop``, the second cancels."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    task = asyncio.current_task()

    def on_signal() -> None:
        if stop.is_set() and task is not None:
            task.cancel()
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        return await main(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conference-monitor",
        description="Know when Canvas web conferences go live or end, and tell who cares.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run the service")
    run.add_argument("--config", metavar="PATH", help="YAML config (default: $MONITOR_CONFIG)")
    demo = commands.add_parser("demo", help="the monitor against a built-in simulated Canvas")
    demo.add_argument("--port", type=int, default=9464, help="HTTP port (default 9464)")
    simulate = commands.add_parser("simulate", help="the simulated Canvas alone")
    simulate.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    simulate.add_argument(
        "--port", type=int, default=8900, help="port to listen on (default 8900; 0: any free)"
    )
    simulate.add_argument("--no-script", action="store_true", help="no scripted conferences")
    check = commands.add_parser("check", help="validate config, reach Canvas and the store")
    check.add_argument("--config", metavar="PATH", help="YAML config (default: $MONITOR_CONFIG)")
    check.add_argument("--send-test", action="store_true", help="send a test event to each sink")
    dlq = commands.add_parser("dlq", help="dead letters: events a sink gave up on")
    actions = dlq.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (
        ("list", "show dead letters and why"),
        ("replay", "send dead letters back for delivery"),
        ("purge", "forget dead letters"),
    ):
        sub = actions.add_parser(action, help=text)
        sub.add_argument("--config", metavar="PATH", help="YAML config (default: $MONITOR_CONFIG)")
        sub.add_argument("--sink", help="only this sink (default: all)")
        if action == "replay":
            sub.add_argument("--id", dest="event_id", help="only the event with this id")
        if action == "purge":
            sub.add_argument("--yes", action="store_true", help="really purge")
        else:
            sub.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return ExitCode.CONFIG
    except KeyboardInterrupt:
        return ExitCode.OK
    except asyncio.CancelledError:  # a second signal: stop now, skipping the graceful part
        print("conference-monitor: stopped at once (second signal)", file=sys.stderr)
        return ExitCode.FAILURE


def _dead_letters(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.commands import dlq  # noqa: PLC0415

    try:
        match args.action:
            case "list":
                job = dlq.list_dead(settings, args.sink, sys.stdout, as_json=args.json)
            case "replay":
                job = dlq.replay(settings, args.sink, args.event_id, sys.stdout, as_json=args.json)
            case _:
                job = dlq.purge(settings, args.sink, sys.stdout, confirmed=args.yes)
        return asyncio.run(job)
    except StoreError as exc:
        print(f"conference-monitor: {logs.scrub(str(exc))}", file=sys.stderr)
        return ExitCode.FAILURE


def _dispatch(args: argparse.Namespace) -> int:
    # Imported here so that `--help` and config errors stay fast and light.
    from monitor.app import serve  # noqa: PLC0415
    from monitor.commands.checks import check  # noqa: PLC0415
    from monitor.commands.collector import settle_for_a_long_run  # noqa: PLC0415
    from monitor.commands.demo import demo, simulate  # noqa: PLC0415

    if args.command == "demo":
        logs.configure("warning", "auto")  # the console sink is the show; logs only if wrong
        asyncio.run(until_signalled(lambda stop: demo(stop, sys.stdout, port=args.port)))
        return ExitCode.OK
    if args.command == "simulate":
        logs.configure("info", "auto")
        asyncio.run(
            until_signalled(
                lambda stop: simulate(
                    stop, sys.stdout, host=args.host, port=args.port, script=not args.no_script
                )
            )
        )
        return ExitCode.OK
    settings = load_settings(args.config, store_only=args.command == "dlq")
    logs.configure(settings.log_level, settings.log_format)
    if args.command == "check":
        passed = asyncio.run(check(settings, sys.stdout, send_test=args.send_test))
        return ExitCode.OK if passed else ExitCode.FAILURE
    if args.command == "dlq":
        return _dead_letters(args, settings)
    settle_for_a_long_run()
    try:
        asyncio.run(until_signalled(lambda stop: serve(settings, stop)))
    except (MonitorError, OSError) as exc:
        print(f"conference-monitor: {logs.scrub(str(exc))}", file=sys.stderr)
        return ExitCode.CONFIG if isinstance(exc, ConfigError) else ExitCode.FAILURE
    return ExitCode.OK
