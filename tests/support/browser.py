"""A real browser for the console's tests: Debian's Chromium driven by Playwright.

Playwright's own browser downloads are not used (``playwright install`` needs the network and
a matching build); the system's Chromium is (``apt-get install chromium``), found on PATH or
at ``$CHROMIUM``. Where it is missing the browser tests skip with the reason, on a developer's
machine only: under ``CI=true`` a missing browser is a failure, so CI never passes by skipping.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser, ConsoleMessage, Page

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str | None:
    given = os.environ.get("CHROMIUM")
    if given:
        return given if Path(given).exists() else None
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.async_api  # noqa: F401, PLC0415 - only to learn whether it is there
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if chromium_path() is None:
        return "no Chromium (apt-get install chromium, or set CHROMIUM to its path)"
    return None


def require_browser() -> str:
    """Chromium's path; skip (fail under CI=true) when the browser tests cannot run."""
    reason = missing()
    if reason is None:
        path = chromium_path()
        assert path is not None
        return path
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests must run in CI: {reason}")
    pytest.skip(reason)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright  # noqa: PLC0415 - optional until here

    path = require_browser()
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=path)
        try:
            yield browser
        finally:
            await browser.close()


def expect(target: Any) -> Any:
    """Playwright's ``expect`` (its assertions wait, up to 5 s by default)."""
    from playwright.async_api import expect as playwright_expect  # noqa: PLC0415

    return playwright_expect(target)


@dataclass
class Watched:
    """A page and every error it logged: console errors and uncaught exceptions."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def record(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} at {message.location}")


@asynccontextmanager
async def console_page(
    browser: Browser,
    url: str,
    *,
    width: int = 1280,
    height: int = 900,
    before: Callable[[Page], Awaitable[None]] | None = None,
) -> AsyncIterator[Watched]:
    """A fresh browser context (its own storage) on ``url``, closed on exit; ``before`` sets
    the page up before it loads (routes)."""
    context = await browser.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    if before is not None:
        await before(page)
    watched = Watched(page)
    page.on("console", watched.record)
    page.on("pageerror", lambda error: watched.errors.append(f"uncaught: {error}"))
    try:
        await page.goto(url)
        yield watched
    finally:
        await context.close()
