"""End to end against a real uvicorn server: concurrent submissions and the CLI."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from synsetlab.catalog import Submission, SubmissionStatus
from tests.challenge.workspace import kaggle_csv, make_workspace, open_challenge, phase
from tests.server.live import serve

QUOTA = 4
FIRED = 16


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request):
    return None if request.param == "sqlite" else request.getfixturevalue("postgres_url")


def test_concurrent_submissions_get_exactly_the_quota_and_none_is_lost(tmp_path, db_url):
    ws = make_workspace(tmp_path / "ws", db_url=db_url)
    open_challenge(ws, phases=[phase("dev", timedelta(hours=-1), timedelta(days=1), per_day=QUOTA)])
    data = kaggle_csv(ws, correct=0.7)
    with serve(ws.root, SYNSETLAB_SERVER__SUBMIT_RATE="1000/minute") as url:
        tokens = []
        for team in ("lab", "rivals"):
            body = {"user": f"{team}-owner", "password": "password-of-owner", "team": team}
            tokens.append(httpx.post(f"{url}/api/register", json=body).json()["token"])

        def fire(token: str) -> httpx.Response:
            return httpx.post(
                f"{url}/api/challenges/shapes/submissions",
                headers={"Authorization": f"Bearer {token}"},
                files={"file": ("p.csv", data, "text/csv")},
                timeout=60,
            )

        with ThreadPoolExecutor(max_workers=2 * FIRED) as pool:
            answers = list(pool.map(fire, [t for t in tokens for _ in range(FIRED)]))
    codes = [a.status_code for a in answers]
    assert sorted(set(codes)) == [201, 429], {
        a.text for a in answers if a.status_code not in (201, 429)
    }
    accepted = [a.json() for a in answers if a.status_code == 201]
    for team in ("lab", "rivals"):
        assert sum(a["team"] == team for a in accepted) == QUOTA
    with ws.session() as s:
        rows = list(s.scalars(select(Submission)))
    # every accepted submission is stored, scored, and nothing else is
    assert sorted(r.id for r in rows) == sorted(a["id"] for a in accepted)
    assert all(r.status is SubmissionStatus.scored for r in rows)
    assert {round(r.public_score, 6) for r in rows} == {
        round(accepted[0]["scores"]["public"]["top5_error"]["value"], 6)
    }
    ws.close()


def login_codes(url: str, forwarded_for: list[str]) -> list[int]:
    """Statuses of wrong-password logins, each claiming to come from the given address."""
    return [
        httpx.post(
            f"{url}/api/tokens",
            json={"user": "nobody", "password": "not the password"},
            headers={"X-Forwarded-For": address},
        ).status_code
        for address in forwarded_for
    ]


def test_x_forwarded_for_from_loopback_is_not_believed_by_default(tmp_path):
    """uvicorn believes the header from 127.0.0.1 by default, so a client on the host could
    rotate it past the login rate limit; `synsetlab serve` believes no proxy unless listed
    (the listed case: test_api.py)."""
    ws = make_workspace(tmp_path / "ws")
    ws.close()
    with serve(ws.root, SYNSETLAB_SERVER__LOGIN_RATE="3/minute") as url:
        rotating = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
        assert login_codes(url, rotating) == [401, 401, 401, 429]
