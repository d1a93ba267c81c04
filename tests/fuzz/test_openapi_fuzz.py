"""Schemathesis against every service's OpenAPI, served by real uvicorn
processes on real Kafka and FerretDB.

Every operation gets valid and invalid input (positive and negative cases),
each sent anonymously, as the operator and, where the route names a museum,
as that museum's staff; then the links between operations (inferred by
schemathesis from response schemas and path parameters, plus the ones the
services declare) drive multi-step scenarios as the operator. Every response
must be no 5xx and match its declared status code, content type and schema.

Deterministic enough for CI: a fixed number of examples, derandomized
generation, no example database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, Config, GenerationMode

from servicekit.auth import Principal, Role, TokenService
from servicekit.settings import ServiceSettings
from tests.conftest import Infra
from tests.reliability.helpers import orders_overrides, wait_ready
from tests.support import ServiceProcess

pytestmark = [pytest.mark.infra]

SEED = 20260808  # schemathesis' run seed; Hypothesis itself is derandomized
EXAMPLES = 10  # per operation and generation mode
SCENARIOS = 10  # stateful runs per service
STEPS = 6  # at most, per stateful run
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
SERVICES = ["catalog", "orders", "ip", "analytics"]

_tokens = TokenService(ServiceSettings())
OPERATOR = {"Authorization": f"Bearer {_tokens.mint(Principal('fuzz-op', Role.OPERATOR))}"}


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,  # real processes on a shared machine: time is not the point
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],  # a failure is reported unshrunk
        stateful_step_count=STEPS,
    )


def _museum_of(case: Case[Any]) -> str | None:
    for source in (case.path_parameters, case.query, case.body):
        if isinstance(source, dict) and isinstance(source.get("museum_id"), str):
            return str(source["museum_id"])
    return None


def identities(case: Case[Any]) -> Iterator[dict[str, str]]:
    """Anonymous, the operator, and on museum-scoped routes that museum's staff."""
    yield {}
    yield OPERATOR
    museum = _museum_of(case)
    if museum is not None:
        staff = Principal("fuzz-museum", Role.MUSEUM, museum_id=museum)
        yield {"Authorization": f"Bearer {_tokens.mint(staff)}"}


def _env(name: str, infra: Infra) -> dict[str, str]:
    if name == "orders":
        return orders_overrides(infra)
    if name == "ip":
        return {"IP_CLOSE_GRACE_S": "0.1"}  # closing a period waits this long
    return {}


@pytest.fixture(params=SERVICES)
def service(request: pytest.FixtureRequest, infra: Infra, run_service: Any) -> ServiceProcess:
    process: ServiceProcess = run_service(request.param, **_env(request.param, infra))
    asyncio.run(wait_ready(process))
    return process


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:  # keep-alive across the run's requests
        yield session


def _schema(service: ServiceProcess) -> Any:
    config = Config.from_dict(
        {
            "seed": SEED,
            # identities are ours (below): no generated Authorization header
            "generation": {
                "deterministic": True,
                "database": "none",
                "with-security-parameters": False,
            },
            "checks": {"enabled": False} | {name: {"enabled": True} for name in CHECKS},
            "request-timeout": 10,
        }
    )
    schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json", config=config)
    # catalog's staff routes call the OpenID provider, which this run has none
    # of (their documented 503); tests/security/test_staff_management.py runs
    # them against a real Keycloak
    return schema.exclude(tag="staff")


def test_every_operation_then_the_links_between_them(
    service: ServiceProcess, http: requests.Session, subtests: pytest.Subtests
) -> None:
    schema = _schema(service)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6, [op.label for op in operations]
    for operation in operations:
        for mode in _modes(operation):
            with subtests.test(f"{operation.label} {mode.value}"):
                _fuzz(operation, mode, http)
    with subtests.test("stateful"):
        _stateful(schema, http)


def _modes(operation: Any) -> list[GenerationMode]:
    """Negative cases only where there is an input to break."""
    inputs = (operation.path_parameters, operation.query, operation.headers, operation.body)
    if any(len(found) for found in inputs):
        return [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    return [GenerationMode.POSITIVE]


def _fuzz(operation: Any, mode: GenerationMode, http: requests.Session) -> None:
    @_settings(EXAMPLES)
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Case[Any]) -> None:
        for headers in identities(case):
            case.call_and_validate(headers=headers, session=http)

    try:
        run()
    except Unsatisfiable:
        # only unconstrained strings (ids in the path): nothing there can be invalid
        assert mode is GenerationMode.NEGATIVE


def _stateful(schema: Any, http: requests.Session) -> None:
    machine = schema.as_state_machine()
    assert machine.schema.statistic.transitions.total > 0, "no links to follow"

    class AsOperator(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Case[Any]) -> dict[str, Any]:  # noqa: ARG002
            return {"headers": OPERATOR, "session": http}

    AsOperator.run(settings=_settings(SCENARIOS))
