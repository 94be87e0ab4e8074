"""A real Prometheus scrapes the running service while the simulator holds live conferences:
PromQL answers what the simulator holds, every dashboard query and alert expression evaluates
without error, and every alert rule loads."""

from __future__ import annotations

import dataclasses
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import yaml

from monitor.config.settings import Listen
from monitor.simulator import Simulator
from tests.support.ops_helpers import RULES, dashboard_expressions, promql, rule_expressions, tool
from tests.support.redis_server import free_port
from tests.support.service import running, settings_for, source_config, until

USER = 1  # the simulator's user behind "sim-token"
#: Grafana's intervals for a Prometheus that scrapes every 0.5 s.
FAST = {"__rate_interval": "3s", "__interval": "1s", "__range": "30s"}
ALERTS = {
    rule["alert"]
    for group in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    for rule in group["rules"]
}


@dataclasses.dataclass
class Prometheus:
    url: str
    target_port: int  # where it expects the service


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """Prometheus on a free loopback port, scraping 127.0.0.1:<target_port> every 0.5 s and
    evaluating deploy/prometheus/rules.yaml."""
    binary = tool("prometheus")
    directory = tmp_path_factory.mktemp("prometheus")
    target_port, port = free_port(), free_port()
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": "500ms",
            "scrape_timeout": "400ms",
            "evaluation_interval": "500ms",
        },
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "conference-monitor",
                "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}],
            }
        ],
    }
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    log = (directory / "prometheus.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - our own test server
        [
            binary,
            f"--config.file={directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                pytest.fail(f"prometheus exited: {(directory / 'prometheus.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            if time.monotonic() > deadline:
                pytest.fail("prometheus did not become ready within 15 s")
            time.sleep(0.1)
        yield Prometheus(url, target_port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


async def query(http: aiohttp.ClientSession, prometheus: Prometheus, expr: str) -> Any:
    """The data of an instant query; fails on a PromQL error."""
    async with http.get(f"{prometheus.url}/api/v1/query", params={"query": expr}) as response:
        body = await response.json()
    assert body["status"] == "success", f"{expr}: {body.get('error')}"
    return body["data"]


def scalar(data: Any) -> float | None:
    """The value of a one-sample answer, or None when there is no sample."""
    result = data["result"]
    if not result:
        return None
    assert len(result) == 1, result
    return float(result[0]["value"][1])


async def test_promql_answers_what_the_simulator_holds(
    prometheus: Prometheus, http: aiohttp.ClientSession
) -> None:
    async with Simulator() as sim:
        world = sim.world
        for conference in (
            world.create_conference(title="Lecture"),
            world.create_conference(title="Seminar", context_id=202),
            world.create_conference(title="Study group", context_type="Group", context_id=7),
        ):
            world.start(conference.id)
        world.create_conference(title="Not started yet")
        live = len(world.live_for_user(USER))
        assert live == 3

        settings = settings_for((source_config(sim.url),), poll_interval=0.2)
        settings = dataclasses.replace(settings, listen=Listen("127.0.0.1", prometheus.target_port))
        async with running(settings):

            async def live_in_prometheus() -> float | None:
                return scalar(
                    await query(http, prometheus, "sum(conference_monitor_live_conferences)")
                )

            assert await until(live_in_prometheus, lambda v: v == live, within=15) == live
            by_context = await query(
                http, prometheus, "sum by (context_type) (conference_monitor_live_conferences)"
            )
            counts = {
                r["metric"]["context_type"]: float(r["value"][1]) for r in by_context["result"]
            }
            assert counts == {"Course": 2.0, "Group": 1.0}

            polls = 'conference_monitor_polls_total{job="conference-monitor", source="main"}'
            first = scalar(await query(http, prometheus, polls))
            assert first is not None
            await until(
                lambda: query(http, prometheus, polls),
                lambda data: (scalar(data) or 0) > first,
                within=5,
            )
            assert scalar(await query(http, prometheus, 'up{job="conference-monitor"}')) == 1

            # A conference ends: the gauge follows the simulator again.
            world.end(world.live_for_user(USER)[0].id)
            now_live = len(world.live_for_user(USER))
            assert await until(live_in_prometheus, lambda v: v == now_live, within=10) == now_live

            # Every dashboard query and alert expression evaluates against real data.
            for where, expression in dashboard_expressions() + rule_expressions():
                data = await query(http, prometheus, promql(expression, FAST))
                assert data["resultType"] in {"vector", "scalar"}, where

            live_now = next(e for w, e in dashboard_expressions() if "Live now" in w)
            assert scalar(await query(http, prometheus, promql(live_now, FAST))) == now_live


async def test_every_alert_rule_loads(prometheus: Prometheus, http: aiohttp.ClientSession) -> None:
    async def rules() -> list[dict[str, Any]]:
        async with http.get(f"{prometheus.url}/api/v1/rules") as response:
            body = await response.json()
        assert body["status"] == "success"
        return [rule for group in body["data"]["groups"] for rule in group["rules"]]

    loaded = await until(
        rules, lambda found: all(r.get("health") != "unknown" for r in found) and found, within=10
    )
    assert {rule["name"] for rule in loaded} == ALERTS
    for rule in loaded:
        assert rule["type"] == "alerting"
        assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))
        assert not rule.get("lastError"), rule["name"]
