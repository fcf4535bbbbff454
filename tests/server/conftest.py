import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from synsetlab.server import create_app
from tests.challenge.workspace import make_workspace, open_challenge, phase


@pytest.fixture
def ws(tmp_path):
    ws = make_workspace(tmp_path / "ws")
    open_challenge(
        ws,
        "shapes",
        name="Shapes 2026",
        public_fraction=0.5,
        phases=[phase("dev", timedelta(hours=-1), timedelta(days=1), per_day=3, select=1)],
    )
    yield ws
    ws.close()


@pytest.fixture
def client(ws):
    with TestClient(create_app(ws), base_url="http://testserver") as c:
        yield c


def register(client: TestClient, user: str, team: str | None = None) -> dict[str, str]:
    """Register through the API; returns the Authorization header of its token."""
    body = {"user": user, "password": f"password-of-{user}", "team": team}
    answer = client.post("/api/register", json=body)
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def browser_login(client: TestClient, user: str) -> None:
    """Log ``client`` in through the login form (its cookie jar keeps the session)."""
    token = csrf(client.get("/login").text)
    answer = client.post(
        "/login",
        data={"user": user, "password": f"password-of-{user}", "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
