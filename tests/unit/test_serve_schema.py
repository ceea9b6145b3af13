"""Property-based tests of the server against its own OpenAPI schema (schemathesis, in-process ASGI).

Whatever a client sends, the answer is never a 500: bad input is a 4xx naming the problem. The
app serves a scripted FakeEngine, so no model is loaded.
"""

from __future__ import annotations

from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402  (schemathesis brings hypothesis)
from schemathesis.checks import not_a_server_error  # noqa: E402

from ponder.engines.base import GenerationRequest  # noqa: E402
from ponder.engines.fake import FakeEngine  # noqa: E402
from ponder.serve import ServeConfig, create_app  # noqa: E402


def script(request: GenerationRequest, index: int) -> str:
    sample = request.first_index + index
    return f"Sample {sample}. The answer is {sample % 3}."


# Small limits keep every generated run cheap; a short timeout bounds any run the generator finds.
app = create_app(FakeEngine(script), ServeConfig(max_budget=16, max_n=4, request_timeout=5.0))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    print_blob=True,
    derandomize=True,
)  # the same examples every run: CI is reproducible


@schema.parametrize()
@SETTINGS
def test_no_server_errors(case: Any) -> None:
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error])


@schema.include(method="POST", path="/v1/chat/completions").parametrize()
@SETTINGS
def test_no_server_errors_for_the_served_model(case: Any) -> None:
    """The same with the served model's name and a question last, so that many requests reach a
    run (generated names are unknown models and generated questions mostly empty: no run)."""
    if isinstance(case.body, dict):
        case.body["model"] = "ponder"
        if isinstance(case.body.get("messages"), list):
            case.body["messages"].append({"role": "user", "content": "What is 2 + 2?"})
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error])
    if case.method == "POST":  # schemathesis also tries other methods (405)
        assert response.status_code in (200, 400, 413), response.text
