"""The committed OpenAPI document is the server's, and fuzzing from it finds no 500 and no
response outside its schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fixtures.http import ApiServer
from workers.api.app import create_app
from workers.cli.serve import openapi_document

ROOT = Path(__file__).resolve().parents[2]
FUZZ_EXAMPLES = 5  # per operation, in the default run
SLOW_FUZZ_EXAMPLES = 40  # per operation, in `pytest -m slow` (CI runs both)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]


def test_committed_openapi_document_is_current() -> None:
    # Given the document the app describes itself with
    current = create_app().openapi()
    # When it is compared with the committed openapi.json
    committed = json.loads((ROOT / "openapi.json").read_text(encoding="utf-8"))
    # Then they are the same: regenerate with `convlog serve --openapi > openapi.json`
    assert committed == current, "stale: run `convlog serve --openapi > openapi.json`"


def test_openapi_document_is_printed_as_committed() -> None:
    # Given `convlog serve --openapi`'s output, Then it is byte for byte the committed file
    assert openapi_document() == (ROOT / "openapi.json").read_text(encoding="utf-8")


@pytest.fixture
def fuzz_token(api: ApiServer) -> str:
    return api.token("fuzzer", agents=["*"], verbs=["ingest", "read", "admin"])


def fuzz(api: ApiServer, token: str, examples: int) -> None:
    # Given the server's own schema, and a token that may do everything
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 15

    for operation in operations:
        # When requests the schema allows are sent, a bounded number per operation
        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), database=None)
        def call(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
            # Then no answer is a 5xx other than a retryable 503, and each matches the schema
            case.call_and_validate(base_url=api.url, headers=headers, checks=CHECKS)

        call()


def test_fuzzed_requests_never_fail_the_server(api: ApiServer, fuzz_token: str) -> None:
    fuzz(api, fuzz_token, FUZZ_EXAMPLES)


@pytest.mark.slow
def test_fuzzed_requests_never_fail_the_server_at_length(api: ApiServer,
                                                        fuzz_token: str) -> None:
    fuzz(api, fuzz_token, SLOW_FUZZ_EXAMPLES)
