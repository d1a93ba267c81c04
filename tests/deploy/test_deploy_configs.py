"""The operator-facing files are valid without a Docker engine or a cluster:
Dockerfiles pass hadolint, docker-compose parses every variant, the gateway
routes reach defined services, and the kustomize overlays render to manifests
that validate against the Kubernetes schemas."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from contracts import ALL_TOPICS, TOPICS

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"catalog": 8001, "orders": 8002, "ip": 8003, "analytics": 8004}
COMPOSE_VARIANTS = [
    [],
    ["deploy/compose/kafka-cluster.yml"],
    ["deploy/compose/mongo-replicaset.yml"],
]
BIN = Path(sys.executable).parent


def _tool(name: str, *candidates: Path) -> str:
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    assert found, f"{name} is missing: `make test` installs it (make tools)"
    return found


def _compose(*overrides: str) -> dict:
    files = ["-f", "docker-compose.yml"]
    for override in overrides:
        files += ["-f", override]
    result = subprocess.run(
        [_tool("docker-compose"), *files, "config"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def _kustomize(overlay: str) -> list[dict]:
    kustomize = _tool("kustomize", ROOT / ".local" / "bin" / "kustomize")
    result = subprocess.run(
        [kustomize, "build", f"deploy/k8s/overlays/{overlay}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfiles_are_multistage_non_root_with_a_healthcheck_and_lint_clean(
    service: str,
) -> None:
    path = ROOT / "services" / service / "Dockerfile"
    text = path.read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2, "multi-stage"
    assert re.search(r"^USER 10001$", text, re.M), "non-root"
    assert f"127.0.0.1:{SERVICES[service]}/healthz" in text, "HEALTHCHECK on /healthz"
    lint = subprocess.run(
        [_tool("hadolint", BIN / "hadolint"), str(path)], capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert (ROOT / ".dockerignore").exists()


@pytest.mark.parametrize("overrides", COMPOSE_VARIANTS, ids=["base", "kafka-cluster", "replset"])
def test_compose_parses_and_every_long_running_service_has_a_healthcheck(
    overrides: list[str],
) -> None:
    services = _compose(*overrides)["services"]
    for name, service in services.items():
        if name == "kafka-init":
            continue  # a one-shot job
        assert "healthcheck" in service, f"{name} has no healthcheck"
    for name in SERVICES:
        assert "ports" not in services[name], f"{name} publishes a host port: it cannot scale"
        conditions = {dep: d["condition"] for dep, d in services[name]["depends_on"].items()}
        assert conditions == {
            "kafka-init": "service_completed_successfully",
            "mongo": "service_healthy",
        }
    assert [p["target"] for p in services["gateway"]["ports"]] == [8080]


def test_compose_three_broker_variant_replicates_three_ways() -> None:
    services = _compose("deploy/compose/kafka-cluster.yml")["services"]
    assert {"kafka", "kafka-2", "kafka-3"} <= set(services)
    assert str(services["kafka-init"]["environment"]["REPLICATION"]) == "3"


def test_every_gateway_route_reaches_a_defined_service_on_its_port() -> None:
    conf = (ROOT / "deploy" / "gateway" / "nginx.conf").read_text()
    compose_services = _compose()["services"]
    routes = dict(re.findall(r"location (/\S+) \{\s*set \$\w+ http://([\w-]+:\d+);", conf))
    assert set(routes) == {
        "/api/catalog/",
        "/api/orders/",
        "/api/ip/",
        "/api/analytics/",
        "/dashboard",
    }
    for route, target in routes.items():
        host, port = target.split(":")
        assert host in compose_services, f"{route} -> undefined service {host}"
        assert SERVICES[host] == int(port), f"{route} -> wrong port {port}"


def test_kafka_init_and_strimzi_create_exactly_the_contract_topics() -> None:
    script = (ROOT / "deploy" / "compose" / "create-topics.sh").read_text()
    listed = re.search(r'^TOPICS="([^"]+)"', script, re.M)
    assert listed is not None
    assert set(listed.group(1).split()) == set(TOPICS)
    manifests = _kustomize("prod")
    strimzi = {m["spec"]["topicName"] for m in manifests if m["kind"] == "KafkaTopic"}
    assert strimzi == set(ALL_TOPICS)


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_kustomize_overlays_render_and_validate_against_kubernetes_schemas(
    overlay: str, tmp_path: Path
) -> None:
    manifests = _kustomize(overlay)
    rendered = tmp_path / f"{overlay}.yaml"
    rendered.write_text(yaml.safe_dump_all(manifests))
    validate = subprocess.run(
        [
            _tool("kubernetes-validate", BIN / "kubernetes-validate"),
            "--strict",
            "--quiet",
            str(rendered),
        ],
        capture_output=True,
        text=True,
    )
    assert validate.returncode == 0, validate.stdout + validate.stderr

    by_kind: dict[str, dict[str, dict]] = {}
    for m in manifests:
        by_kind.setdefault(m["kind"], {})[m["metadata"]["name"]] = m
    assert set(SERVICES) <= set(by_kind["Deployment"])
    assert set(by_kind["HorizontalPodAutoscaler"]) == set(SERVICES)
    assert {"Kafka", "KafkaNodePool", "StatefulSet", "Ingress", "ConfigMap"} <= set(by_kind)
    for name in SERVICES:
        container = by_kind["Deployment"][name]["spec"]["template"]["spec"]["containers"][0]
        assert container["resources"]["requests"]
        assert container["resources"]["limits"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert name in by_kind["Service"]
    ingress_backends = {
        p["backend"]["service"]["name"]
        for rule in by_kind["Ingress"]["relic-rebirth"]["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    assert ingress_backends == set(SERVICES)
