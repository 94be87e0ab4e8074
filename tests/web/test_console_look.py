"""How the console reads, in a real browser: text contrast (WCAG AA) in light and dark, a phone's
width without sideways scrolling, the wall screen's large type remembered, and every control
reachable from the keyboard with a label."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import aiohttp
import pytest

from monitor.simulator import Simulator
from tests.support.browser import console_page, expect
from tests.support.contrast import LOW_CONTRAST
from tests.support.receiver import Receiver
from tests.support.service import get_json, running, settings_for, source_config, until
from tests.support.service import webhook_config as hook_config

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


@pytest.fixture
async def console_url(hook: Receiver, http: aiohttp.ClientSession) -> AsyncIterator[str]:
    """A service with something in every part: live conferences, events, a dead letter."""
    async with Simulator() as sim:
        settings = settings_for((source_config(sim.url),), (hook_config(hook.url),))
        async with running(settings) as service:
            await until(lambda: get_json(http, f"{service.url}/readyz"), lambda r: r["ready"])
            hook.down, hook.fail_status = True, 400  # the first event is dead-lettered
            world = sim.world
            world.start(world.create_conference(title="Rejected talk", context_id=202).id)
            await until(
                lambda: get_json(http, f"{service.url}/api/v1/status"),
                lambda body: body["sinks"][0]["dead_letters"] == 1,
            )
            hook.down = False
            ended = world.create_conference(title="Short briefing", context_id=101)
            world.start(ended.id)
            world.start(world.create_conference(title="Long seminar", context_id=101).id)
            await until(
                lambda: get_json(http, f"{service.url}/api/v1/live"),
                lambda body: body["sources"][0]["count"] == 3,
            )
            world.end(ended.id)
            yield service.url + "/"


async def low_contrast(page: Page) -> list[str]:
    await expect(page.locator("#dead-letters tbody tr")).to_have_count(1)
    await expect(page.locator("#events-list li.event-ended")).to_have_count(1)
    found: list[str] = await page.evaluate(LOW_CONTRAST, 4.5)
    return found


async def test_text_contrast_meets_aa_in_light_and_dark(console_url: str, browser: Browser) -> None:
    async with console_page(browser, console_url) as watched:
        page = watched.page
        await page.emulate_media(color_scheme="light")
        assert await low_contrast(page) == []
        await page.emulate_media(color_scheme="dark")  # "auto" follows the system
        assert await page.evaluate("document.documentElement.dataset.theme") is None
        assert await low_contrast(page) == []
        assert watched.errors == []


async def test_the_theme_toggle_overrides_the_system_and_is_remembered(
    console_url: str, browser: Browser
) -> None:
    async with console_page(browser, console_url) as watched:
        page = watched.page
        await page.emulate_media(color_scheme="light")
        toggle = page.locator("#theme-toggle")
        await expect(toggle).to_have_text("Theme: auto")
        await toggle.click()
        await expect(toggle).to_have_text("Theme: light")
        await toggle.click()
        await expect(toggle).to_have_text("Theme: dark")
        assert await low_contrast(page) == []
        background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
        await page.reload()
        await expect(toggle).to_have_text("Theme: dark")
        assert await page.evaluate("getComputedStyle(document.body).backgroundColor") == background
        assert watched.errors == []


async def test_large_type_for_a_wall_screen_is_remembered(
    console_url: str, browser: Browser
) -> None:
    async with console_page(browser, console_url, width=1920, height=1080) as watched:
        page = watched.page
        size = "parseFloat(getComputedStyle(document.documentElement).fontSize)"
        normal = await page.evaluate(size)
        button = page.get_by_role("button", name="Large type")
        await expect(button).to_have_attribute("aria-pressed", "false")
        await button.click()
        await expect(button).to_have_attribute("aria-pressed", "true")
        assert await page.evaluate(size) >= 1.4 * normal
        await page.reload()
        await expect(button).to_have_attribute("aria-pressed", "true")
        assert await page.evaluate(size) >= 1.4 * normal
        assert await low_contrast(page) == []
        assert watched.errors == []


async def test_a_phone_shows_one_column_without_sideways_scrolling(
    console_url: str, browser: Browser
) -> None:
    async with console_page(browser, console_url, width=375, height=740) as watched:
        page = watched.page
        await expect(page.locator("#live-list > li")).to_have_count(2)
        await expect(page.locator("#dead-letters tbody tr")).to_have_count(1)
        wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wide <= 0, f"the page is {wide}px wider than the phone"
        live = await page.locator(".live").bounding_box()
        timeline = await page.locator(".timeline").bounding_box()
        assert live is not None
        assert timeline is not None
        assert timeline["y"] >= live["y"] + live["height"]  # stacked, not side by side
        assert watched.errors == []


async def test_every_control_is_reachable_by_keyboard_and_labelled(
    console_url: str, browser: Browser
) -> None:
    async with console_page(browser, console_url) as watched:
        page = watched.page
        await expect(page.locator("#dead-letters tbody tr")).to_have_count(1)
        reached: list[str] = []
        for _ in range(60):
            await page.keyboard.press("Tab")
            name = await page.evaluate(
                """() => {
                  const n = document.activeElement;
                  const label = n.labels?.[0]?.firstChild.textContent
                    || n.getAttribute("aria-label") || n.textContent;
                  return `${n.tagName.toLowerCase()}:${label.trim().split("\\n")[0]}`;
                }"""
            )
            reached.append(name)
        for wanted in (
            "button:Large type",
            "button:Theme: auto",
            "select:Source",
            "select:Account",
            "select:Type",
            "input:Search",
            "button:Clear filters",
            "a:Long seminar",  # a live conference's link to Canvas
            "button:Replay all 1",
            "button:Purge all 1…",
        ):
            assert wanted in reached, (wanted, reached)
        unlabelled = await page.evaluate(
            """() => [...document.querySelectorAll("input, select, button")]
                 .filter((n) => !(n.labels?.length || n.getAttribute("aria-label")
                                  || n.textContent.trim()))
                 .map((n) => n.outerHTML)"""
        )
        assert unlabelled == []
        assert watched.errors == []
