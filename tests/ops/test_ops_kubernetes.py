"""The Kubernetes overlays, rendered with `kubectl kustomize` from a copy of the tree (with each
overlay's secret.env.example as its secret.env): what they must hold, validated offline with
`kubernetes-validate --strict` and, for the operator's custom resources, their CRD schemas."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config.settings import load_file
from tests.support.ops_helpers import DASHBOARDS, KUBERNETES, RULES, in_ci, tool
from tests.support.paths import ROOT

OVERLAYS = ("single", "ha")
MONITOR = {"app.kubernetes.io/name": "conference-monitor", "app.kubernetes.io/component": "monitor"}
KUBERNETES_VERSION = "1.30.0"
#: The virtualenv .ci/run makes for the CRD check (its pydantic models must stay out of .venv:
#: cloudcoil registers a pytest plugin).
OPS_PYTHON = ROOT / ".venv" / "ops" / "bin" / "python"


@dataclass
class Rendered:
    path: Path
    documents: list[dict[str, Any]]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [
            d
            for d in self.documents
            if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
        ]
        assert len(found) == 1, (kind, name, [d["metadata"]["name"] for d in found])
        return found[0]

    def kinds(self) -> set[str]:
        return {d["kind"] for d in self.documents}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    kubectl = tool("kubectl")
    tree = tmp_path_factory.mktemp("tree")
    shutil.copytree(
        KUBERNETES,
        tree / "deploy" / "kubernetes",
        ignore=shutil.ignore_patterns("secret.env", "site.env", "__pycache__"),
    )
    shutil.copytree(ROOT / "grafana", tree / "grafana")
    out = {}
    for overlay in OVERLAYS:
        directory = tree / "deploy" / "kubernetes" / "overlays" / overlay
        shutil.copy(directory / "secret.env.example", directory / "secret.env")
        shutil.copy(directory / "site.env.example", directory / "site.env")
        result = subprocess.run(  # noqa: S603 - our own manifests
            [kubectl, "kustomize", str(directory)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        path = tree / f"{overlay}.yaml"
        path.write_text(result.stdout, encoding="utf-8")
        out[overlay] = Rendered(path, [d for d in yaml.safe_load_all(result.stdout) if d])
    return out


def pod_templates(rendered: Rendered) -> Iterator[tuple[str, dict[str, Any]]]:
    for document in rendered.documents:
        if document["kind"] in {"Deployment", "StatefulSet"}:
            yield document["metadata"]["name"], document["spec"]["template"]["spec"]


def monitor_container(rendered: Rendered) -> dict[str, Any]:
    spec = rendered.one("Deployment", "conference-monitor")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert isinstance(container, dict)
    return container


def secret_data(rendered: Rendered) -> dict[str, str]:
    secret = rendered.one("Secret")
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_everything(rendered: dict[str, Rendered], overlay: str) -> None:
    kinds = rendered[overlay].kinds()
    for kind in (
        "Namespace",
        "Deployment",
        "Service",
        "ConfigMap",
        "Secret",
        "ServiceMonitor",
        "PrometheusRule",
        "NetworkPolicy",
        "ServiceAccount",
    ):
        assert kind in kinds, kind
    namespaces = {
        d["metadata"].get("namespace")
        for d in rendered[overlay].documents
        if d["kind"] != "Namespace"
    }
    assert namespaces == {"conference-monitor"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_meet_the_restricted_pod_security_standard(
    rendered: dict[str, Rendered], overlay: str
) -> None:
    namespace = rendered[overlay].one("Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for name, spec in pod_templates(rendered[overlay]):
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert context["runAsNonRoot"] is True, name
            assert "memory" in container["resources"]["limits"], name
            assert container["resources"]["requests"], name
    monitor = monitor_container(rendered[overlay])
    assert monitor["securityContext"]["runAsUser"] == 10001
    spec = rendered[overlay].one("Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    tmp_path = "/tmp"  # noqa: S108 - the pod's /tmp, which must be a writable emptyDir
    (tmp,) = [m for m in monitor["volumeMounts"] if m["mountPath"] == tmp_path]
    assert "emptyDir" in volumes[tmp["name"]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_use_healthz_and_readyz(rendered: dict[str, Rendered], overlay: str) -> None:
    container = monitor_container(rendered[overlay])
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert {"name": "metrics", "containerPort": 9464, "protocol": "TCP"} in container["ports"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_scraped_service_publishes_unready_pods(
    rendered: dict[str, Rendered], overlay: str
) -> None:
    service = rendered[overlay].one("Service", "conference-monitor")
    monitor = rendered[overlay].one("ServiceMonitor")
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["selector"] == MONITOR
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    ports = {port["name"] for port in service["spec"]["ports"]}
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    assert "metrics" in ports
    # job="conference-monitor", which the alert rules select on
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "conference-monitor"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_operator_resources_carry_the_selector_label(
    rendered: dict[str, Rendered], overlay: str
) -> None:
    rule = rendered[overlay].one("PrometheusRule")
    monitor = rendered[overlay].one("ServiceMonitor")
    for resource in (rule, monitor):
        assert resource["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["spec"] == yaml.safe_load(RULES.read_text(encoding="utf-8"))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_dashboards_configmap_is_labelled_for_the_grafana_sidecar(
    rendered: dict[str, Rendered], overlay: str
) -> None:
    configmap = rendered[overlay].one("ConfigMap", "conference-monitor-dashboards")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    files = {path.name: path.read_text(encoding="utf-8") for path in DASHBOARDS.glob("*.json")}
    assert set(configmap["data"]) == set(files)
    for name, text in files.items():
        assert json.loads(configmap["data"][name]) == json.loads(text)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_config_file_is_valid_with_the_example_secret(
    rendered: dict[str, Rendered], overlay: str, tmp_path: Path
) -> None:
    """The ConfigMaps' monitor.yaml and site values, the Secret's keys and the Deployment's
    environment and mounts fit together: the service would start with them."""
    container = monitor_container(rendered[overlay])
    spec = rendered[overlay].one("Deployment")["spec"]["template"]["spec"]
    secret = rendered[overlay].one("Secret")
    data = secret_data(rendered[overlay])
    data["WEBHOOK_SECRET"] = "whsec_" + base64.b64encode(bytes(range(32))).decode()
    env: dict[str, str] = {}
    for variable in container["env"]:
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        else:
            reference = variable["valueFrom"]["configMapKeyRef"]
            site = rendered[overlay].one("ConfigMap", reference["name"])
            env[variable["name"]] = site["data"][reference["key"]]

    config_path = Path(env["MONITOR_CONFIG"])
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    config_volume = volumes[mounts[str(config_path.parent)]["name"]]
    configmap = rendered[overlay].one("ConfigMap", config_volume["configMap"]["name"])
    text = configmap["data"][config_path.name]

    # Every secret is a file of the Secret's volume, which the config reads by path.
    (secrets_mount,) = [m for m in mounts.values() if "secret" in volumes[m["name"]]]
    assert secrets_mount["readOnly"] is True
    secrets_volume = volumes[secrets_mount["name"]]["secret"]
    assert secrets_volume["secretName"] == secret["metadata"]["name"]
    assert set(data) == {item["key"] for item in secrets_volume["items"]}
    for item in secrets_volume["items"]:
        mounted = f"{secrets_mount['mountPath']}/{item['path']}"
        assert f"_file: {mounted}\n" in text, mounted
        (tmp_path / item["path"]).write_text(data[item["key"]] + "\n", encoding="utf-8")
        text = text.replace(mounted, str(tmp_path / item["path"]))
        assert item["key"] not in env  # a file, never the environment
    local = tmp_path / "monitor.yaml"
    local.write_text(text, encoding="utf-8")

    settings = load_file(local, env)
    all_interfaces = "0.0.0.0"  # noqa: S104 - Prometheus scrapes the pod from outside it
    assert (settings.listen.host, settings.listen.port) == (all_interfaces, 9464)
    assert settings.state_url.reveal() == data["REDIS_URL"]
    assert [source.base_url for source in settings.sources] == [env["CANVAS_BASE_URL"]]
    assert [source.token.reveal() for source in settings.sources] == [data["CANVAS_TOKEN"]]
    (sink,) = settings.sinks
    assert sink.url.reveal() == data["WEBHOOK_URL"]
    assert sink.secret is not None
    assert sink.secret.reveal() == data["WEBHOOK_SECRET"]
    assert settings.warnings == ()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_reaches_a_container_environment(
    rendered: dict[str, Rendered], overlay: str
) -> None:
    """checkov CKV_K8S_35: secrets as files, never as environment variables."""
    for name, spec in pod_templates(rendered[overlay]):
        for container in [*spec["containers"], *spec.get("initContainers", [])]:
            for variable in container.get("env", []):
                assert "secretKeyRef" not in variable.get("valueFrom", {}), (name, variable)
            for source in container.get("envFrom", []):
                assert "secretRef" not in source, (name, source)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_secret_files_are_readable_by_the_monitor_only(
    rendered: dict[str, Rendered], overlay: str
) -> None:
    spec = rendered[overlay].one("Deployment")["spec"]["template"]["spec"]
    (volume,) = [v["secret"] for v in spec["volumes"] if "secret" in v]
    assert volume["defaultMode"] == 0o440
    # 0440 reaches the monitor through its group: the pod's fsGroup owns the files.
    user = spec["securityContext"]
    assert (
        user["fsGroup"]
        == user["runAsGroup"]
        == monitor_container(rendered[overlay])["securityContext"]["runAsGroup"]
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_monitor_has_its_own_service_account_without_a_token(
    rendered: dict[str, Rendered], overlay: str
) -> None:
    account = rendered[overlay].one("ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    spec = rendered[overlay].one("Deployment")["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == account["metadata"]["name"] != "default"
    assert spec["automountServiceAccountToken"] is False


def test_ha_says_how_replicas_share_the_work() -> None:
    text = (KUBERNETES / "overlays" / "ha" / "kustomization.yaml").read_text(encoding="utf-8")
    assert "Until leases land" not in text
    assert "leases" in text


def test_single_runs_its_own_redis_with_an_append_only_file(rendered: dict[str, Rendered]) -> None:
    single = rendered["single"]
    redis = single.one("StatefulSet", "conference-monitor-redis")
    (container,) = redis["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    assert redis["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    service = single.one("Service", "conference-monitor-redis")
    assert redis["spec"]["serviceName"] == service["metadata"]["name"]
    assert secret_data(single)["REDIS_URL"] == "redis://conference-monitor-redis:6379/0"
    assert single.one("Deployment")["spec"]["replicas"] == 1


def test_ha_runs_three_spread_replicas_on_an_external_redis(
    rendered: dict[str, Rendered],
) -> None:
    ha = rendered["ha"]
    deployment = ha.one("Deployment")
    assert deployment["spec"]["replicas"] == 3
    spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} == {
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
    }
    budget = ha.one("PodDisruptionBudget")
    assert budget["spec"]["selector"]["matchLabels"] == MONITOR
    assert budget["spec"]["maxUnavailable"] == 1
    assert secret_data(ha)["REDIS_URL"].startswith("redis://:replace-with-the-redis-password@")
    assert "StatefulSet" not in ha.kinds()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policy(rendered: dict[str, Rendered], overlay: str) -> None:
    policy = rendered[overlay].one("NetworkPolicy", "conference-monitor")
    assert policy["spec"]["podSelector"]["matchLabels"] == MONITOR
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = policy["spec"]["ingress"]
    assert ingress["ports"] == [{"port": 9464, "protocol": "TCP"}]
    egress = {
        (p["port"], p["protocol"]) for rule in policy["spec"]["egress"] for p in rule["ports"]
    }
    assert egress == {(53, "UDP"), (53, "TCP"), (443, "TCP"), (6379, "TCP")}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_validate_strict(rendered: dict[str, Rendered], overlay: str) -> None:
    result = subprocess.run(  # noqa: S603 - our own manifests
        [
            tool("kubernetes-validate"),
            "--strict",
            "--kubernetes-version",
            KUBERNETES_VERSION,
            "--quiet",
            str(rendered[overlay].path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_match_the_operator_schemas(
    rendered: dict[str, Rendered], overlay: str
) -> None:
    if not OPS_PYTHON.exists():
        message = (
            f"{OPS_PYTHON} is missing: `python3 -m venv .venv/ops && .venv/ops/bin/pip install "
            "kubernetes-validate cloudcoil-models-prometheus-operator==0.80.1.0` (.ci/run does)"
        )
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    result = subprocess.run(  # noqa: S603 - our own script
        [
            str(OPS_PYTHON),
            str(KUBERNETES / "check_custom_resources.py"),
            str(rendered[overlay].path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ServiceMonitor/conference-monitor passed" in result.stdout
    assert "PrometheusRule/conference-monitor passed" in result.stdout
