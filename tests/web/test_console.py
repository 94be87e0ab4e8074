"""The console at ``/`` in a real browser (Chromium through Playwright) against the whole
service, the simulator and a real webhook receiver: it loads without a console error, follows
the event stream without a reload, shows sinks, asks for the token, and replays and purges dead
letters. ``tests/web/test_console_look.py`` checks how it reads (contrast, phone, wall screen).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest

from monitor.core.secret import Secret
from monitor.simulator import Simulator
from monitor.store.memory import MemoryStore
from tests.support.browser import console_page, expect, require_browser
from tests.support.receiver import Receiver
from tests.support.service import running, settings_for, source_config, until
from tests.support.service import webhook_config as hook_config

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page, Route

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

API_TOKEN = "console-token-5Hq2"
SOON = 5000  # ms: "appears without reload within seconds"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator() as simulator:
        yield simulator


async def live_count(http: aiohttp.ClientSession, url: str, count: int, token: str = "") -> None:
    async def fetch() -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with http.get(f"{url}/api/v1/live", headers=headers) as response:
            return await response.json()

    await until(fetch, lambda body: body["sources"][0]["count"] == count, within=10)


def card(page: Page, title: str) -> Any:
    return page.locator("#live-list > li", has_text=title)


async def test_a_start_appears_and_an_end_moves_to_the_timeline(
    sim: Simulator, hook: Receiver, http: aiohttp.ClientSession, browser: Browser
) -> None:
    world = sim.world
    world.start(world.create_conference(title="Morning Lecture", context_id=101).id)
    settings = settings_for((source_config(sim.url),), (hook_config(hook.url),))
    async with running(settings) as service:
        await live_count(http, service.url, 1)
        async with console_page(browser, service.url + "/") as watched:
            page = watched.page
            # Live before the monitor started: no event named its course yet, so its id shows.
            await expect(card(page, "Morning Lecture")).to_contain_text("Course 101")
            await expect(page.locator("#connection")).to_have_text("● Live")
            await page.evaluate("window.sameDocument = true")  # gone if the page reloads

            seminar = world.create_conference(
                title="Afternoon Seminar", context_id=202, conference_type="CiscoWebex"
            )
            world.start(seminar.id)
            started = card(page, "Afternoon Seminar")
            await expect(started).to_be_visible(timeout=SOON)
            await expect(started).to_contain_text("Linear Algebra · MATH-202")
            await expect(started).to_contain_text("CiscoWebex")
            await expect(started).to_contain_text("1 person")
            await expect(started).to_contain_text("started just now")
            link = started.get_by_role("link", name="Afternoon Seminar")
            assert await link.get_attribute("href") == seminar_url(sim, seminar.id)
            counter = started.locator(".counter")
            first = await counter.inner_text()
            await expect(counter).not_to_have_text(first, timeout=3000)  # it ticks
            timeline = page.locator("#events-list > li", has_text="Afternoon Seminar")
            await expect(timeline.first).to_contain_text("Started")
            await expect(page.locator("#announcer")).to_contain_text("Started: Afternoon Seminar")

            world.end(seminar.id)
            await expect(started).to_have_count(0, timeout=SOON)
            ended = page.locator("#events-list > li.event-ended", has_text="Afternoon Seminar")
            await expect(ended).to_contain_text("reason: ended", timeout=SOON)
            await expect(page.locator("#events-list > li").first).to_contain_text("Ended")
            await expect(card(page, "Morning Lecture")).to_be_visible()
            assert await page.evaluate("window.sameDocument") is True
            assert watched.errors == []


async def test_an_event_between_the_first_read_and_the_stream_is_in_the_timeline(
    sim: Simulator, hook: Receiver, http: aiohttp.ClientSession, browser: Browser
) -> None:
    """The history is empty when the page reads it, so the stream has no id to resume after;
    a start committed before the stream connects must still reach the timeline."""
    let_stream = asyncio.Event()

    async def hold_stream(route: Route) -> None:
        await let_stream.wait()
        await route.continue_()

    async def prepare(page: Page) -> None:
        await page.route("**/api/v1/events/stream", hold_stream)

    settings = settings_for((source_config(sim.url),), (hook_config(hook.url),))
    async with running(settings) as service:
        await live_count(http, service.url, 0)
        async with console_page(browser, service.url + "/", before=prepare) as watched:
            page = watched.page
            await expect(page.locator("#events-empty")).to_be_visible()  # the first read: none
            sim.world.start(sim.world.create_conference(title="Between Reads").id)
            await live_count(http, service.url, 1)  # committed, in the history
            let_stream.set()
            await expect(page.locator("#connection")).to_have_text("● Live", timeout=SOON)
            timeline = page.locator("#events-list > li", has_text="Between Reads")
            await expect(timeline).to_contain_text("Started", timeout=SOON)
            await expect(card(page, "Between Reads")).to_be_visible()
            assert watched.errors == []


async def test_keyboard_focus_survives_the_live_list_being_drawn_again(
    sim: Simulator, hook: Receiver, http: aiohttp.ClientSession, browser: Browser
) -> None:
    world = sim.world
    world.start(world.create_conference(title="Focused Lecture", context_id=101).id)
    settings = settings_for((source_config(sim.url),), (hook_config(hook.url),))
    async with running(settings) as service:
        await live_count(http, service.url, 1)
        async with console_page(browser, service.url + "/") as watched:
            page = watched.page
            link = card(page, "Focused Lecture").get_by_role("link", name="Focused Lecture")
            await link.focus()
            world.start(world.create_conference(title="Another Lecture", context_id=101).id)
            await expect(card(page, "Another Lecture")).to_be_visible(timeout=SOON)  # redrawn
            focused = await page.evaluate("document.activeElement.textContent")
            assert focused == "Focused Lecture"
            assert watched.errors == []


def seminar_url(sim: Simulator, conference_id: int) -> str:
    (conference,) = [c for c in sim.world.conferences() if c.id == conference_id]
    return str(sim.world.api_json(conference, base_url=sim.url)["url"])


async def test_filters_and_search_narrow_both_lists_and_markup_stays_text(
    sim: Simulator, http: aiohttp.ClientSession, browser: Browser
) -> None:
    world = sim.world
    trap = '<img src=x onerror="window.pwned=1">Trap'
    async with running(settings_for((source_config(sim.url),))) as service:
        await live_count(http, service.url, 0)
        world.start(world.create_conference(title=trap, context_id=101).id)
        world.start(world.create_conference(title="Algebra drop-in", context_id=202).id)
        world.start(
            world.create_conference(title="Biology lab", context_id=101, conference_type="Wimba").id
        )
        await live_count(http, service.url, 3)
        async with console_page(browser, service.url + "/") as watched:
            page = watched.page
            await expect(page.locator("#live-list > li")).to_have_count(3)
            await expect(card(page, trap)).to_be_visible()  # shown as typed, never run
            assert await page.evaluate("window.pwned") is None

            await page.get_by_label("Type").select_option("Wimba")
            await expect(page.locator("#live-list > li")).to_have_count(1)
            await expect(page.locator("#live-count")).to_have_text("(1 of 3)")
            await expect(page.locator("#events-list > li")).to_have_count(1)
            await page.get_by_label("Type").select_option("")

            await page.get_by_label("Search").fill("math-202")  # the course code, any case
            await expect(page.locator("#live-list > li")).to_have_count(1)
            await expect(card(page, "Algebra drop-in")).to_be_visible()
            assert "q=math-202" in page.url  # a bookmark keeps the view
            await page.reload()
            await expect(page.get_by_label("Search")).to_have_value("math-202")
            await expect(page.locator("#live-list > li")).to_have_count(1)

            await page.get_by_role("button", name="Clear filters").click()
            await expect(page.locator("#live-list > li")).to_have_count(3)
            assert watched.errors == []


async def test_an_event_type_added_later_is_shown_generically(
    sim: Simulator, http: aiohttp.ClientSession, browser: Browser
) -> None:
    async with running(settings_for((source_config(sim.url),))) as service:
        await live_count(http, service.url, 0)
        future = {
            "id": "evt_future_1",
            "type": "conference.renamed",
            "timestamp": "2026-11-24T10:00:03Z",
            "data": {"source": "main", "conference": {"id": 5, "title": "Renamed talk"}},
        }
        async with console_page(browser, "about:blank") as watched:
            page = watched.page
            await page.route(
                "**/api/v1/events?*",
                lambda route: route.fulfill(json={"events": [future]}),
            )
            await page.goto(service.url + "/")
            item = page.locator("#events-list > li", has_text="Renamed talk")
            await expect(item).to_contain_text("Event conference.renamed")
            assert watched.errors == []


async def test_the_token_is_asked_for_once_and_kept_for_the_session(
    sim: Simulator, http: aiohttp.ClientSession, browser: Browser
) -> None:
    sim.world.start(sim.world.create_conference(title="Guarded talk").id)
    settings = replace(settings_for((source_config(sim.url),)), api_token=Secret(API_TOKEN))
    async with running(settings) as service:
        await live_count(http, service.url, 1, API_TOKEN)
        async with console_page(browser, service.url + "/") as watched:
            page = watched.page
            dialog = page.locator("#token-dialog")
            await expect(dialog).to_be_visible()
            await expect(card(page, "Guarded talk")).to_have_count(0)

            await page.get_by_label("API token", exact=True).fill(API_TOKEN + "-wrong")
            await page.get_by_role("button", name="Open the console").click()
            await expect(dialog).to_be_visible()
            await expect(dialog).to_contain_text("not accepted")

            await page.get_by_label("API token", exact=True).fill(API_TOKEN)
            await page.keyboard.press("Enter")
            await expect(dialog).to_be_hidden()
            await expect(card(page, "Guarded talk")).to_be_visible(timeout=SOON)
            await expect(page.locator("#connection")).to_have_text("● Live")
            sim.world.start(sim.world.create_conference(title="Second guarded").id)
            await expect(card(page, "Second guarded")).to_be_visible(timeout=SOON)

            await page.reload()  # the tab keeps it: no second prompt
            await expect(card(page, "Guarded talk")).to_be_visible()
            await expect(dialog).to_be_hidden()
            assert API_TOKEN not in page.url
            # Only the wrong token's refusals were logged, nothing else.
            assert all("401" in error for error in watched.errors), watched.errors


async def test_a_disabled_sink_shows_and_its_dead_letters_replay_from_the_console(
    sim: Simulator, hook: Receiver, http: aiohttp.ClientSession, browser: Browser
) -> None:
    hook.down, hook.fail_status = True, 410  # the endpoint is gone: the sink disables itself
    store = MemoryStore()
    settings = settings_for((source_config(sim.url),), (hook_config(hook.url),))
    async with (
        running(settings, store=store) as service,
        console_page(browser, service.url + "/") as watched,
    ):
        page = watched.page
        await expect(page.locator("#connection")).to_have_text("● Live")
        sim.world.start(sim.world.create_conference(title="Undelivered").id)
        sink = page.locator("#sinks [data-sink=ops]")
        await expect(sink).to_contain_text("Disabled", timeout=SOON)
        await expect(sink).to_contain_text("endpoint gone")
        dead = page.locator("#dead-letters [data-sink=ops]")
        await expect(dead).to_contain_text("1 dead letter", timeout=SOON)
        await expect(dead).to_contain_text("Started: Undelivered")
        await expect(dead).to_contain_text("sink disabled")

        hook.down = False  # fixed: replaying says so, and enables the sink
        await dead.get_by_role("button", name="Replay all 1").click()
        await expect(page.locator("#dead-notice")).to_contain_text("1 dead letter sent back")
        delivered = await hook.wait_for(1)
        assert delivered[0].json["data"]["conference"]["title"] == "Undelivered"
        await expect(sink).to_contain_text("Up", timeout=SOON)
        await expect(page.locator("#dead-letters")).to_have_text("No dead letters.")
        assert await store.dead_letters("ops") == []
        assert watched.errors == []


async def test_purge_asks_first(
    sim: Simulator, hook: Receiver, http: aiohttp.ClientSession, browser: Browser
) -> None:
    hook.down, hook.fail_status = True, 400  # rejected: dead-lettered at once
    store = MemoryStore()
    settings = settings_for((source_config(sim.url),), (hook_config(hook.url),))
    async with running(settings, store=store) as service:
        await live_count(http, service.url, 0)
        for title in ("Rejected one", "Rejected two"):
            sim.world.start(sim.world.create_conference(title=title).id)
        await until(lambda: store.count_dead("ops"), lambda n: n == 2, within=10)
        async with console_page(browser, service.url + "/") as watched:
            page = watched.page
            dead = page.locator("#dead-letters [data-sink=ops]")
            await expect(dead.locator("tbody tr")).to_have_count(2, timeout=SOON)
            await expect(dead).to_contain_text("rejected")

            await dead.get_by_role("button", name="Purge all 2…").click()
            dialog = page.locator("#confirm-dialog")
            await expect(dialog).to_be_visible()
            await expect(dialog).to_contain_text("Purge 2 dead letters of ops?")
            await page.keyboard.press("Escape")  # cancelled: nothing happens
            await expect(dialog).to_be_hidden()
            assert await store.count_dead("ops") == 2

            await dead.get_by_role("button", name="Purge all 2…").click()
            # One more is given up on while the dialog is open: not shown, so not purged.
            sim.world.start(sim.world.create_conference(title="Rejected three").id)
            await until(lambda: store.count_dead("ops"), lambda n: n == 3, within=10)
            await dialog.get_by_role("button", name="Purge").click()
            await expect(page.locator("#dead-notice")).to_contain_text("2 dead letters purged")
            await expect(dead.locator("tbody tr")).to_have_count(1, timeout=SOON)
            await expect(dead).to_contain_text("Rejected three")
            assert await store.count_dead("ops") == 1
            assert hook.delivered == []
            assert watched.errors == []


async def test_the_page_forbids_inline_code_and_revalidates(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    async with running(settings_for((source_config(sim.url),))) as service:
        async with http.get(service.url + "/") as response:
            page = await response.text()
            policy = response.headers["Content-Security-Policy"]
        assert response.status == 200
        assert "script-src 'self';" in policy
        assert "<noscript>" in page  # the line shown without JavaScript
        async with http.get(service.url + "/console/console.js") as response:
            assert response.status == 200
            assert response.content_type == "text/javascript"
            etag = response.headers["ETag"]
        async with http.get(
            service.url + "/console/console.js", headers={"If-None-Match": etag}
        ) as response:
            assert response.status == 304
        async with http.get(service.url + "/console/nope.js") as response:
            assert response.status == 404


def test_without_chromium_the_browser_tests_skip_but_fail_in_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHROMIUM", "/nonexistent/chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no Chromium"):
        require_browser()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="browser tests must run in CI: no Chromium"):
        require_browser()
