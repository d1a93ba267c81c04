"""The operator-facing files are valid without a Docker engine or a cluster:
Dockerfiles pass hadolint, docker-compose parses every variant, its Keycloak
and the services agree on one issuer, the gateway routes reach defined
services, and the kustomize overlays render to manifests that validate against
the Kubernetes schemas."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import keycloak
import pytest
import yaml
from pydantic import TypeAdapter

from contracts import ALL_TOPICS, TOPICS
from servicekit.settings import OidcIssuer

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


def _compose(*overrides: str, env: dict[str, str] | None = None) -> dict:
    files = ["-f", "docker-compose.yml"]
    for override in overrides:
        files += ["-f", override]
    # the variables the file reads come from `env` alone, not this shell
    unset = {"KEYCLOAK_URL", "STAFF_PROVIDER_CLIENT_SECRET", "KEYCLOAK_ADMIN_PASSWORD"}
    environment = {k: v for k, v in os.environ.items() if k not in unset} | (env or {})
    result = subprocess.run(
        [_tool("docker-compose"), *files, "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environment,
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


def test_compose_keycloak_imports_the_realm_and_services_trust_the_issuer_browsers_see() -> None:
    services = _compose()["services"]
    kc = services["keycloak"]
    assert kc["image"] == f"quay.io/keycloak/keycloak:{keycloak.VERSION}"
    assert kc["command"][0] == "start-dev"
    assert "--import-realm" in kc["command"]
    source, target, _ = kc["volumes"][0].split(":")
    assert Path(source) == keycloak.REALM_FILE.parent
    assert target == "/opt/keycloak/data/import"
    port = int(kc["environment"]["KC_HTTP_PORT"])
    assert [(p["published"], p["target"]) for p in kc["ports"]] == [(18080, port)]
    public = "http://127.0.0.1:18080"
    assert kc["environment"]["KC_HOSTNAME"] == public
    issuer = f"{public}/realms/{keycloak.REALM}"

    realm = json.loads(keycloak.REALM_FILE.read_text())
    clients = {c["clientId"] for c in realm["clients"]}
    for name in SERVICES:
        env = services[name]["environment"]
        [trusted] = TypeAdapter(list[OidcIssuer]).validate_json(env["OIDC_ISSUERS"])
        assert (trusted.issuer, trusted.audience) == (issuer, keycloak.AUDIENCE)
        # keys fetched inside the network, from the compose service, on its port
        assert trusted.jwks_url is not None
        jwks = urlsplit(trusted.jwks_url)
        assert (jwks.hostname, jwks.port) == ("keycloak", port)
        assert jwks.path == urlsplit(keycloak.KeycloakClient(public).jwks_url).path
    analytics = services["analytics"]["environment"]
    assert analytics["DASHBOARD_OIDC_AUTHORITY"] == issuer
    assert analytics["DASHBOARD_OIDC_CLIENT_ID"] in clients
    catalog = services["catalog"]["environment"]
    assert catalog["STAFF_PROVIDER_URL"] == f"http://keycloak:{port}"
    assert catalog["STAFF_PROVIDER_REALM"] == realm["realm"]
    assert catalog["STAFF_PROVIDER_CLIENT_ID"] in clients
    assert catalog["STAFF_PROVIDER_CLIENT_SECRET"] is None  # no committed value


def test_compose_keycloak_url_and_staff_secret_come_from_the_environment() -> None:
    public = "http://203.0.113.7:18080"
    from_the_shell = "a-value-set-in-the-shell"
    services = _compose(
        env={"KEYCLOAK_URL": public, "STAFF_PROVIDER_CLIENT_SECRET": from_the_shell}
    )["services"]
    issuer = f"{public}/realms/{keycloak.REALM}"
    assert services["keycloak"]["environment"]["KC_HOSTNAME"] == public
    assert services["analytics"]["environment"]["DASHBOARD_OIDC_AUTHORITY"] == issuer
    for name in SERVICES:
        issuers = json.loads(services[name]["environment"]["OIDC_ISSUERS"])
        assert [i["issuer"] for i in issuers] == [issuer]
    assert services["catalog"]["environment"]["STAFF_PROVIDER_CLIENT_SECRET"] == from_the_shell


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
