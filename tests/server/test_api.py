import pytest

from synsetlab.catalog import Role
from synsetlab.server import create_app
from synsetlab.settings import load_settings
from tests.challenge.workspace import kaggle_csv, team_member
from tests.server.conftest import register


def upload(data: bytes, name: str = "preds.csv"):
    return {"file": (name, data, "text/csv")}


def test_register_submit_and_see_the_public_board(client, ws):
    auth = register(client, "alice", "lab")
    me = client.get("/api/me", headers=auth).json()
    assert me == {"user": "alice", "role": "participant", "team": "lab", "team_approved": True}
    answer = client.post(
        "/api/challenges/shapes/submissions", headers=auth, files=upload(kaggle_csv(ws))
    )
    assert answer.status_code == 201, answer.text
    sub = answer.json()
    assert sub["status"] == "scored" and set(sub["scores"]) == {"public"}
    assert sub["scores"]["public"]["top5_error"]["value"] == 0.0
    board = client.get("/api/challenges/shapes/leaderboard").json()
    assert [(e["rank"], e["name"]) for e in board["entries"]] == [(1, "lab")]
    text = client.get("/api/challenges/shapes/leaderboard?format=csv").text
    assert text.splitlines()[0].startswith("rank,name,baseline,top5_error")
    detail = client.get("/api/challenges/shapes", headers=auth).json()
    assert detail["quota"] == {
        "phase": "dev", "used_today": 1, "used_total": 1, "left_today": 2, "left_total": None,
        "scoring": 0,
    }  # fmt: skip


def test_refusals_map_to_statuses_with_messages(client, ws):
    auth = register(client, "alice", "lab")
    url = "/api/challenges/shapes/submissions"
    assert client.post(url, files=upload(kaggle_csv(ws))).status_code == 401
    bad = client.post(url, headers={"Authorization": "Bearer nope"}, files=upload(b"x"))
    assert bad.status_code == 401 and "unknown or revoked" in bad.json()["detail"]
    invalid = client.post(
        url, headers=auth, files=upload(b"ImageId,PredictionString\nabc,n01440764\n")
    )
    assert invalid.status_code == 422
    assert invalid.json()["line"] == 2 and "abc" in invalid.json()["detail"]
    assert client.get("/api/challenges/nope").status_code == 404
    for _ in range(3):
        assert client.post(url, headers=auth, files=upload(kaggle_csv(ws))).status_code == 201
    over = client.post(url, headers=auth, files=upload(kaggle_csv(ws)))
    assert over.status_code == 429 and int(over.headers["Retry-After"]) > 0
    taken = client.post("/api/register", json={"user": "alice", "password": "x" * 8})
    assert taken.status_code == 409
    private = client.get("/api/challenges/shapes/leaderboard?partition=private")
    assert private.status_code == 403 and "revealed when it ends" in private.json()["detail"]


def test_participants_see_only_their_own_team_submissions(client, ws):
    alice = register(client, "alice", "lab")
    bob = register(client, "bob", "rivals")
    url = "/api/challenges/shapes/submissions"
    client.post(url, headers=alice, files=upload(kaggle_csv(ws)))
    client.post(url, headers=bob, files=upload(kaggle_csv(ws, correct=0.5)))
    mine = client.get(url, headers=alice).json()
    assert [s["team"] for s in mine] == ["lab"]
    theirs = client.get(url, headers=bob).json()
    assert [s["team"] for s in theirs] == ["rivals"]
    # selecting another team's submission is refused exactly as selecting a missing one
    url = "/api/challenges/shapes/selection"
    theirs = client.put(url, headers=bob, json={"submission_ids": [mine[0]["id"]]})
    missing = client.put(url, headers=bob, json={"submission_ids": [999]})
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["detail"].replace(str(mine[0]["id"]), "N") == missing.json()[
        "detail"
    ].replace("999", "N")


def test_admin_routes_need_the_admin_role(tmp_path, ws):
    settings = load_settings(ws.root, server={"team_approval": True})
    ws.settings = settings
    from fastapi.testclient import TestClient

    with TestClient(create_app(ws)) as client:
        auth = register(client, "alice", "lab")
        url = "/api/challenges/shapes/submissions"
        waiting = client.post(url, headers=auth, files=upload(kaggle_csv(ws)))
        assert waiting.status_code == 403 and "approval" in waiting.json()["detail"]
        assert client.post("/api/admin/teams/lab/approve", headers=auth).status_code == 403
        team_member(ws, "root", role=Role.admin)
        admin = client.post("/api/tokens", json={"user": "root", "password": "password-of-root"})
        admin_auth = {"Authorization": f"Bearer {admin.json()['token']}"}
        assert client.post("/api/admin/teams/lab/approve", headers=admin_auth).status_code == 200
        assert client.post(url, headers=auth, files=upload(kaggle_csv(ws))).status_code == 201


def test_outside_development_a_real_secret_key_is_required(ws):
    for key in (None, "changeme", "short"):
        ws.settings = load_settings(
            ws.root, server={"environment": "production", "secret_key": key}
        )
        with pytest.raises(ValueError, match="secret key"):
            create_app(ws)
    ws.settings = load_settings(
        ws.root, server={"environment": "production", "secret_key": "k" * 40}
    )
    create_app(ws)


def test_security_headers_and_login_rate_limit(ws):
    ws.settings = load_settings(ws.root, server={"login_rate": "3/minute"})
    from fastapi.testclient import TestClient

    with TestClient(create_app(ws)) as client:
        page = client.get("/")
        assert page.headers["X-Frame-Options"] == "DENY"
        assert "default-src 'self'" in page.headers["Content-Security-Policy"]
        codes = [
            client.post("/api/tokens", json={"user": "x", "password": "y" * 8}).status_code
            for _ in range(4)
        ]
        assert codes == [401, 401, 401, 429]


def test_revoked_tokens_stop_working(client, ws):
    auth = register(client, "alice", "lab")
    assert client.delete("/api/tokens", headers=auth).json() == {"revoked": 1}
    assert client.get("/api/me", headers=auth).status_code == 401


def test_a_localization_challenge_scores_boxes(client, ws):
    from tests.challenge.workspace import hidden_images, open_challenge

    open_challenge(ws, "boxes", task="localization")
    auth = register(client, "alice", "lab")
    rows = ["ImageId,PredictionString"]
    for i, (image_id, wnid) in enumerate(hidden_images(ws)):
        # Every test image has one box at (10, 10, 60, 50): half the guesses hit it exactly,
        # the others are shifted to IoU < 0.5.
        box = "10 10 60 50" if i % 2 == 0 else "40 30 90 70"
        rows.append(f"{image_id},{wnid} {box}")
    answer = client.post(
        "/api/challenges/boxes/submissions",
        headers=auth,
        files=upload(("\n".join(rows) + "\n").encode()),
    )
    assert answer.status_code == 201, answer.text
    public = answer.json()["scores"]["public"]
    assert public["top5_error"]["value"] == 0.0
    assert 0.0 < public["localization_error"]["value"] < 1.0
    board = client.get("/api/challenges/boxes/leaderboard").json()
    assert board["metric"] == "localization_error"
    assert board["entries"][0]["score"] == public["localization_error"]["value"]


def test_submissions_a_stopped_server_left_unscored_are_scored_at_start(ws):
    from datetime import timedelta

    from fastapi.testclient import TestClient

    from synsetlab.catalog import Submission, SubmissionStatus
    from synsetlab.catalog.models import utcnow

    with TestClient(create_app(ws)) as client:
        auth = register(client, "alice", "lab")
        sub = client.post(
            "/api/challenges/shapes/submissions", headers=auth, files=upload(kaggle_csv(ws))
        ).json()
    with ws.session() as s:  # as if the server had died between accepting and scoring
        row = s.get(Submission, sub["id"])
        row.status, row.scores, row.public_score = SubmissionStatus.scoring, {}, None
        row.created_at = utcnow() - timedelta(hours=1)
    with TestClient(create_app(ws)) as client:  # a new server starts
        again = client.get("/api/challenges/shapes/submissions", headers=auth).json()
    assert again[0]["status"] == "scored"
    assert again[0]["scores"]["public"] == sub["scores"]["public"]


def detections_csv(ws, *, hit_every: int) -> bytes:
    """Kaggle detection rows: every ``hit_every``-th image gets its box right (score 0.9),
    the others a box beside it (score 0.5); one false alarm of another class each."""
    from tests.challenge.workspace import CLASSES, hidden_images

    rows = ["ImageId,PredictionString"]
    for i, (image_id, wnid) in enumerate(hidden_images(ws)):
        other = next(c for c in CLASSES if c != wnid)
        box = "10 10 60 50" if i % hit_every == 0 else "40 30 90 70"
        score = "0.9" if i % hit_every == 0 else "0.5"
        rows.append(f"{image_id},{wnid} {score} {box} {other} 0.1 0 0 20 20")
    return ("\n".join(rows) + "\n").encode()


def test_a_detection_challenge_ranks_by_mean_ap_higher_first(client, ws):
    from tests.challenge.workspace import open_challenge

    open_challenge(ws, "det", task="detection", public_fraction=1.0)
    url = "/api/challenges/det/submissions"
    good, poor = register(client, "alice", "good-lab"), register(client, "bob", "poor-lab")
    a = client.post(url, headers=good, files=upload(detections_csv(ws, hit_every=1)))
    b = client.post(url, headers=poor, files=upload(detections_csv(ws, hit_every=4)))
    assert a.status_code == b.status_code == 201, (a.text, b.text)
    assert a.json()["scores"]["public"]["mean_ap"]["value"] == 1.0
    assert 0.0 < b.json()["scores"]["public"]["mean_ap"]["value"] < 1.0
    board = client.get("/api/challenges/det/leaderboard").json()
    assert board["metric"] == "mean_ap" and board["lower_is_better"] is False
    assert [e["name"] for e in board["entries"]] == ["good-lab", "poor-lab"]
    assert "mean AP ↑" in client.get("/c/det/leaderboard").text


def test_detection_refuses_the_ladder(ws):
    from tests.challenge.workspace import open_challenge

    with pytest.raises(ValueError, match="Ladder"):
        open_challenge(ws, "det", task="detection", ladder=True)


@pytest.mark.parametrize(
    "body",
    [
        {"user": "alice\n", "password": "password-of-alice"},
        {"user": "alice", "password": "password-of-alice", "team": "team-a\n"},
    ],
)
def test_names_with_a_trailing_newline_are_refused(client, body):
    answer = client.post("/api/register", json=body)
    assert answer.status_code == 400 and "must be 2-64 characters" in answer.json()["detail"]


def test_a_team_clears_its_selection_over_the_api(client, ws):
    auth = register(client, "alice", "lab")
    sub = client.post(
        "/api/challenges/shapes/submissions", headers=auth, files=upload(kaggle_csv(ws))
    ).json()
    url = "/api/challenges/shapes/selection"
    assert client.put(url, headers=auth, json={"submission_ids": [sub["id"]]}).status_code == 200
    cleared = client.put(url, headers=auth, json={"submission_ids": []})
    assert cleared.status_code == 200 and cleared.json() == {"selected": []}
    mine = client.get("/api/challenges/shapes/submissions", headers=auth).json()
    assert [s["selected"] for s in mine] == [False]


def test_user_errors_answer_4xx_with_their_message_and_bugs_500_without(ws):
    from fastapi.testclient import TestClient

    from synsetlab.errors import UserError

    app = create_app(ws)

    @app.get("/api/test/bug")
    @app.get("/test/bug")
    def bug():
        raise ValueError("internal detail: shapes (3,) and (4,) do not broadcast")

    @app.get("/api/test/refusal")
    def refusal():
        raise UserError("that file is not yours: pick one of your own")

    with TestClient(app, raise_server_exceptions=False) as client:
        for url in ("/api/test/bug", "/test/bug"):
            answer = client.get(url)
            assert answer.status_code == 500, url
            assert "internal detail" not in answer.text and "broadcast" not in answer.text
            assert "a bug in the server" in answer.text
        refused = client.get("/api/test/refusal")
        assert refused.status_code == 400
        assert refused.json() == {"detail": "that file is not yours: pick one of your own"}
        # A user's mistake reaching library code is still a 4xx: an unknown format field.
        auth = register(client, "alice", "lab")
        unknown = client.post(
            "/api/challenges/shapes/submissions",
            headers=auth,
            files=upload(kaggle_csv(ws)),
            data={"format": "xml"},
        )
        assert unknown.status_code == 400
        assert "unknown submission format 'xml'" in unknown.json()["detail"]


def test_x_forwarded_for_is_believed_from_listed_proxies_only(ws):
    from fastapi.testclient import TestClient

    ws.settings = load_settings(
        ws.root, server={"login_rate": "3/minute", "trusted_proxies": ["127.0.0.0/8"]}
    )
    app = create_app(ws)

    def codes(peer: str, forwarded_for: list[str]) -> list[int]:
        with TestClient(app, client=(peer, 40000)) as client:
            return [
                client.post(
                    "/api/tokens",
                    json={"user": "nobody", "password": "not the password"},
                    headers={"X-Forwarded-For": address},
                ).status_code
                for address in forwarded_for
            ]

    rotating = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
    # Behind a listed proxy, each forwarded client has its own limit ...
    assert codes("127.0.0.1", rotating) == [401, 401, 401, 401]
    assert codes("127.0.0.1", ["10.0.0.9"] * 4) == [401, 401, 401, 429]
    # ... and anyone else is known by the address they connect from, whatever they claim.
    assert codes("192.0.2.7", rotating) == [401, 401, 401, 429]


def test_a_bug_answer_keeps_the_security_headers(ws):
    from fastapi.testclient import TestClient

    from synsetlab.server.security import SECURITY_HEADERS

    app = create_app(ws)

    @app.get("/api/test/bug")
    @app.get("/test/bug")
    def bug():
        raise ValueError("internal detail")

    with TestClient(app, raise_server_exceptions=False) as client:
        for url in ("/api/test/bug", "/test/bug"):
            answer = client.get(url)
            assert answer.status_code == 500
            for name, value in SECURITY_HEADERS.items():
                assert answer.headers.get(name) == value, (url, name)
