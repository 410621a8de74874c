"""schemathesis against the API's OpenAPI schema: bounded generated requests, no 500s (the app
built in a fixture, so its jobs run on the session's Dask cluster)."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from engine.api import create_app
from engine.settings import Settings


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    app = create_app(Settings(state_dir=tmp_path_factory.mktemp("schema"), rate_limit_per_minute=1_000_000))
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    app.state.service.runner.shutdown()


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case):
    case.call_and_validate(checks=[schemathesis.checks.not_a_server_error])
