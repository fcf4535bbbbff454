import pytest

from tests.challenge.workspace import make_workspace


@pytest.fixture
def ws(tmp_path):
    """A SQLite workspace holding version v1 with a hidden test split (see workspace.py)."""
    ws = make_workspace(tmp_path / "ws")
    yield ws
    ws.close()
