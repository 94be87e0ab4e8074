"""Write ``docs/console.png``: the console of a running demo, as a browser shows it.

    python -m tests.support.console_shot [--out docs/console.png] [--settle 20] [--dark]

Runs ``conference-monitor demo`` in-process (the simulated university, its scripted conferences,
the monitor watching it) on a free port, lets it run ``--settle`` seconds so conferences are live
and the timeline has starts and ends, then opens the console in Chromium (Debian's, through
Playwright: ``tests/support/browser.py``) and saves a screenshot. The README's first picture
is this file: made by the real thing, never by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import sys
from pathlib import Path

from monitor.commands.demo import demo
from tests.support.browser import chromium, console_page, missing
from tests.support.paths import ROOT

WIDTH, HEIGHT = 1600, 1000


async def shoot(out: Path, *, settle: float, dark: bool) -> None:
    if (reason := missing()) is not None:
        raise SystemExit(f"cannot take the screenshot: {reason}")
    stop = asyncio.Event()
    printed = io.StringIO()
    running = asyncio.create_task(demo(stop, printed, port=0))
    try:
        url = await _console_url(printed, running)
        await asyncio.sleep(settle)
        async with (
            chromium() as browser,
            console_page(browser, url, width=WIDTH, height=HEIGHT) as watched,
        ):
            page = watched.page
            await page.emulate_media(color_scheme="dark" if dark else "light")
            await page.locator("#connection[data-state=live]").wait_for()
            await page.locator("#live-list > li").first.wait_for()
            await page.locator("#sources .health-card").first.wait_for()
            await page.wait_for_timeout(1500)  # counters tick once more, fonts settle
            out.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(out))
            if watched.errors:
                raise SystemExit(f"the console logged errors: {watched.errors}")
    finally:
        stop.set()
        await running


async def _console_url(printed: io.StringIO, running: asyncio.Task[None]) -> str:
    for _ in range(300):
        if found := re.search(r"console\s+(http://\S+/)", printed.getvalue()):
            return found.group(1)
        if running.done():
            running.result()
            break
        await asyncio.sleep(0.1)
    raise SystemExit(f"the demo did not print its console's URL:\n{printed.getvalue()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console.png")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds of demo first")
    parser.add_argument("--dark", action="store_true", help="the dark theme")
    args = parser.parse_args(argv)
    asyncio.run(shoot(args.out, settle=args.settle, dark=args.dark))
    print(f"wrote {args.out}", file=sys.stderr)  # noqa: T201 - a command's answer
    return 0


if __name__ == "__main__":
    sys.exit(main())
