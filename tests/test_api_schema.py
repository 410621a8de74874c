"""schemathesis against the API's OpenAPI schema: bounded generated requests, no 500s (the app is
built at import, after conftest's pytest_configure started the session's Dask cluster)."""

import shutil
import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from engine.core.settings import Settings
from engine.interfaces.api import create_app

STATE = tempfile.mkdtemp(prefix="pitwall-schema-")
app = create_app(Settings(state_dir=STATE, rate_limit_per_minute=1_000_000))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module", autouse=True)
def stop_jobs():
    yield
    app.state.service.runner.shutdown()
    shutil.rmtree(STATE, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case):
    case.call_and_validate(checks=[schemathesis.checks.not_a_server_error])
