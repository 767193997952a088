"""Property-based HTTP tests from each service's own OpenAPI: no 5xx, no schema violation.

Schemathesis generates bodies from the spec the running server publishes (/docs.json),
valid and invalid alike, and sends them over HTTP; a bounded number of examples per
operation keeps the run short.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

pytestmark = [pytest.mark.integration]

MAX_EXAMPLES = 40


def fuzz(
    base_url: str, headers: dict[str, str] | None = None, max_examples: int = MAX_EXAMPLES
) -> list[str]:
    """Run every operation of the server's OpenAPI; returns the operations exercised."""
    from retail_mlops.deploy.process import http

    status, spec = http("GET", base_url + "/docs.json", headers=headers)
    assert status == 200, spec
    schema = schemathesis.openapi.from_dict(spec)
    exercised = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith("/admin/"):
            continue  # answers 403 without a key, by design; tested by hand

        @settings(
            max_examples=max_examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            case=operation.as_strategy(GenerationMode.POSITIVE)
            | operation.as_strategy(GenerationMode.NEGATIVE)
        )
        def check(case: Any) -> None:
            case.call_and_validate(
                base_url=base_url,
                headers=headers,
                checks=[not_a_server_error, response_schema_conformance],
            )

        check()
        exercised.append(f"{operation.method.upper()} {operation.path}")
    return exercised


def test_churn_api_never_fails_on_generated_requests(churn_server: Any) -> None:
    exercised = fuzz(churn_server.url)
    assert {"POST /predict", "POST /predict_customer"} <= set(exercised)
