import pytest

from engine.data import History


@pytest.fixture(scope="session")
def history() -> History:
    return History.load()
