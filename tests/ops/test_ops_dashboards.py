"""The Grafana dashboards and the alert rules: their shape, that every PromQL expression parses
(promtool), that they name only metrics the service exports, that the PrometheusRule is the
plain rule file, and the rules' own unit tests (promtool test rules)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.ops_helpers import (
    METRIC_NAME,
    METRICS_DOC,
    PROMETHEUS_RULE,
    RULES,
    RULES_TEST,
    RUNBOOK,
    dashboard_expressions,
    dashboards,
    exported_families,
    exported_metric_names,
    panels,
    prometheus_rule_text,
    promql,
    rule_expressions,
    tool,
)

UIDS = {
    "conference-monitor-overview.json": "conference-monitor-overview",
    "conference-monitor-service-health.json": "conference-monitor-service-health",
}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def alerts() -> list[dict[str, Any]]:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]


def test_the_dashboards_are_there() -> None:
    assert set(dashboards()) == set(UIDS)


@pytest.mark.parametrize("name", sorted(UIDS))
def test_dashboard_shape(name: str) -> None:
    dashboard = dashboards()[name]
    assert dashboard["uid"] == UIDS[name]
    assert dashboard["schemaVersion"] >= 39
    assert "__inputs" not in dashboard
    assert "__requires" not in dashboard
    assert dashboard.get("id") is None  # provisioning assigns it
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["source"]["type"] == "query"
    assert "label_values(" in variables["source"]["definition"]
    assert variables["source"]["datasource"] == DATASOURCE


@pytest.mark.parametrize("name", sorted(UIDS))
def test_every_panel_reads_the_datasource_variable(name: str) -> None:
    ids = []
    for panel in panels(dashboards()[name]):
        ids.append(panel["id"])
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


@pytest.mark.parametrize("name", sorted(UIDS))
def test_panels_fit_the_grid_without_overlapping(name: str) -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in panels(dashboards()[name]):
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, (panel["title"], taken[(x, y)])
                taken[(x, y)] = panel["title"]


def test_the_overview_shows_what_issue_4_asks_for() -> None:
    expressions = " ".join(
        target["expr"]
        for panel in panels(dashboards()["conference-monitor-overview.json"])
        for target in panel.get("targets", [])
    )
    for needed in (
        "by (source) (max by (source, conference_type, context_type) "
        "(conference_monitor_live_conferences",
        "sum by (conference_type)",
        "sum by (context_type)",
        "conference_monitor_events_total",
        "conference_monitor_conference_duration_seconds_bucket",
        "conference_monitor_poll_failures_total",
        "conference_monitor_poll_duration_seconds_bucket",
        "time() - max by (source) (conference_monitor_last_successful_poll_timestamp_seconds",
        "conference_monitor_canvas_rate_limit_remaining",
        "conference_monitor_deliveries_total",
        "conference_monitor_delivery_failures_total",
        "conference_monitor_delivery_lag_seconds_bucket",
        "conference_monitor_outbox_pending",
        "conference_monitor_dead_letters",
        "conference_monitor_sink_up",
        "conference_monitor_sink_disabled",
    ):
        assert needed in expressions, needed


def test_every_metric_named_is_exported() -> None:
    exported = exported_metric_names()
    unknown = [
        (where, name)
        for where, expression in dashboard_expressions() + rule_expressions()
        for name in METRIC_NAME.findall(expression)
        if name not in exported
    ]
    assert not unknown


def test_the_metrics_doc_describes_every_metric() -> None:
    text = METRICS_DOC.read_text(encoding="utf-8")
    documented = re.findall(r"^### `(conference_monitor_\w+)`$", text, re.MULTILINE)
    assert len(documented) == len(set(documented))
    assert set(documented) == exported_families()
    for name in METRIC_NAME.findall(text):
        assert name in exported_metric_names() | exported_families(), name


def test_every_expression_parses(tmp_path: Path) -> None:
    """Each query becomes a recording rule; promtool parses them all (and lints them)."""
    expressions = dashboard_expressions() + rule_expressions()
    rules = {
        "groups": [
            {
                "name": "every-expression",
                "rules": [
                    {"record": f"ops_test:expression_{i}", "expr": promql(expression)}
                    for i, (_, expression) in enumerate(expressions)
                ],
            }
        ]
    }
    path = tmp_path / "expressions.yaml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    result = subprocess.run(  # noqa: S603 - our own file
        [tool("promtool"), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    index = "\n".join(f"expression_{i}: {where}" for i, (where, _) in enumerate(expressions))
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\n{index}"
    assert f"SUCCESS: {len(expressions)} rules found" in result.stdout


def test_promtool_checks_the_rule_file() -> None:
    result = subprocess.run(  # noqa: S603 - our own file
        [tool("promtool"), "check", "rules", str(RULES)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    result = subprocess.run(  # noqa: S603 - our own file
        [tool("promtool"), "test", "rules", str(RULES_TEST)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_unit_tested_firing_and_quiet() -> None:
    cases = yaml.safe_load(RULES_TEST.read_text(encoding="utf-8"))["tests"]
    checks = [check for case in cases for check in case["alert_rule_test"]]
    for alert in alerts():
        mine = [check for check in checks if check["alertname"] == alert["alert"]]
        assert any(check["exp_alerts"] for check in mine), f"{alert['alert']} never fires"
        assert any(not check["exp_alerts"] for check in mine), f"{alert['alert']} always fires"


def test_every_alert_explains_itself_and_links_its_runbook_section() -> None:
    headings = re.findall(r"^##+ (.+)$", RUNBOOK.read_text(encoding="utf-8"), re.MULTILINE)
    anchors = {re.sub(r"[^a-z0-9 _-]", "", h.strip().lower()).replace(" ", "-") for h in headings}
    names = [alert["alert"] for alert in alerts()]
    assert len(names) == len(set(names))
    for alert in alerts():
        annotations = alert["annotations"]
        assert annotations["summary"].strip(), alert["alert"]
        assert annotations["description"].strip(), alert["alert"]
        assert alert["labels"]["severity"] in {"critical", "warning", "info"}
        url = annotations["runbook_url"]
        page, _, anchor = url.partition("#")
        assert page.endswith("/docs/runbook.md"), url
        assert anchor == alert["alert"].lower(), url
        assert anchor in anchors, f"docs/runbook.md has no section for {alert['alert']}"


def test_the_prometheus_rule_is_the_rule_file() -> None:
    rules_text = RULES.read_text(encoding="utf-8")
    resource_text = PROMETHEUS_RULE.read_text(encoding="utf-8")
    assert resource_text == prometheus_rule_text(rules_text), (
        "deploy/kubernetes/base/prometheusrule.yaml is out of date: "
        "run `python3 -m tests.support.ops_helpers`"
    )
    resource = yaml.safe_load(resource_text)
    assert resource["apiVersion"] == "monitoring.coreos.com/v1"
    assert resource["kind"] == "PrometheusRule"
    assert resource["spec"] == yaml.safe_load(rules_text)
