from synsetlab.server.app import SESSION_COOKIE
from tests.challenge.workspace import kaggle_csv
from tests.server.conftest import browser_login, csrf, register


def form_post(client, url: str, data: dict, files=None, page: str = "/team"):
    data = {**data, "csrf_token": csrf(client.get(page).text)}
    return client.post(url, data=data, files=files, follow_redirects=False)


def test_register_create_a_team_submit_and_see_the_score(client, ws):
    token = csrf(client.get("/register").text)
    answer = client.post(
        "/register",
        data={"user": "alice", "password": "password-of-alice", "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/team"
    assert form_post(client, "/team/create", {"name": "lab"}).status_code == 303
    assert "Team lab" in client.get("/team").text
    sent = form_post(
        client,
        "/c/shapes/submit",
        {"format": ""},
        files={"file": ("preds.csv", kaggle_csv(ws), "text/csv")},
        page="/c/shapes/submit",
    )
    assert sent.status_code == 303 and sent.headers["location"] == "/c/shapes/submissions"
    mine = client.get("/c/shapes/submissions").text
    assert "Submission 1 is scored. Public top-5 error: 0.0000." in mine
    assert "hidden until the phase ends" in mine
    board = client.get("/c/shapes/leaderboard").text
    assert "<td>lab</td>" in board and "0.0000" in board
    assert "revealed when it ends" in client.get("/c/shapes/leaderboard?partition=private").text
    assert "published when the last phase ends" in client.get("/c/shapes/results").text


def test_an_invalid_file_is_explained_on_the_form(client, ws):
    register(client, "alice", "lab")
    browser_login(client, "alice")
    answer = form_post(
        client,
        "/c/shapes/submit",
        {"format": "kaggle"},
        files={"file": ("bad.csv", b"ImageId,Prediction\n", "text/csv")},
        page="/c/shapes/submit",
    )
    assert answer.status_code == 422
    assert "did not count against your quota" in answer.text and "header" in answer.text


def test_forms_without_the_csrf_token_are_refused(client, ws):
    register(client, "alice", "lab")
    browser_login(client, "alice")
    answer = client.post("/team/token", data={}, follow_redirects=False)
    assert answer.status_code == 403 and "expired or did not come from this site" in answer.text
    forged = client.post("/team/token", data={"csrf_token": "guess"}, follow_redirects=False)
    assert forged.status_code == 403


def test_pages_that_need_a_login_redirect_and_never_off_site(client):
    answer = client.get("/c/shapes/submit", follow_redirects=False)
    assert (
        answer.status_code == 303 and answer.headers["location"] == "/login?next=/c/shapes/submit"
    )
    assert 'value="/"' in client.get("/login?next=//evil.example/x").text


def test_session_cookie_is_http_only_and_the_token_page_is_not_cached(client, ws):
    register(client, "alice", "lab")
    token = csrf(client.get("/login").text)
    answer = client.post(
        "/login",
        data={"user": "alice", "password": "password-of-alice", "csrf_token": token},
        follow_redirects=False,
    )
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(SESSION_COOKIE) and "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    shown = form_post(client, "/team/token", {})
    assert shown.headers["cache-control"] == "no-store" and "ssl_" in shown.text


def test_wrong_password_shows_an_error_page(client, ws):
    register(client, "alice", "lab")
    token = csrf(client.get("/login").text)
    answer = client.post(
        "/login", data={"user": "alice", "password": "nope-nope", "csrf_token": token}
    )
    assert answer.status_code == 401 and "wrong user name or password" in answer.text


def test_admins_see_the_private_board_early_participants_do_not(client, ws):
    from synsetlab.catalog import Role
    from tests.challenge.workspace import team_member

    auth = register(client, "alice", "lab")
    client.post("/api/challenges/shapes/submissions", headers=auth,
                files={"file": ("p.csv", kaggle_csv(ws, correct=0.6))})  # fmt: skip
    browser_login(client, "alice")
    assert "revealed when it ends" in client.get("/c/shapes/leaderboard?partition=private").text
    client.post("/logout", data={"csrf_token": csrf(client.get("/").text)})
    team_member(ws, "root", role=Role.admin)
    browser_login(client, "root")
    page = client.get("/c/shapes/leaderboard?partition=private").text
    assert "Private board, phase dev" in page and "<td>lab</td>" in page


def test_logout_ends_the_session_on_the_server_for_every_copy_of_the_cookie(client, ws):
    from fastapi.testclient import TestClient

    register(client, "alice", "lab")
    browser_login(client, "alice")
    copied = client.cookies[SESSION_COOKIE]
    with TestClient(client.app, base_url="http://testserver") as thief:
        thief.cookies.set(SESSION_COOKIE, copied)
        assert thief.get("/team", follow_redirects=False).status_code == 200  # a live copy
        client.post("/logout", data={"csrf_token": csrf(client.get("/").text)})
        after = thief.get("/team", follow_redirects=False)
        assert after.status_code == 303 and after.headers["location"] == "/login?next=/team"
    assert client.get("/team", follow_redirects=False).status_code == 303
    browser_login(client, "alice")  # logging in again works
    assert client.get("/team", follow_redirects=False).status_code == 200


def test_registering_while_logged_in_ends_the_previous_session(client, ws):
    from fastapi.testclient import TestClient

    register(client, "alice", "lab")
    browser_login(client, "alice")
    copied = client.cookies[SESSION_COOKIE]
    token = csrf(client.get("/register").text)
    client.post(
        "/register",
        data={"user": "bob", "password": "password-of-bob", "csrf_token": token},
        follow_redirects=False,
    )
    with TestClient(client.app, base_url="http://testserver") as thief:
        thief.cookies.set(SESSION_COOKIE, copied)  # alice's session, copied before
        assert thief.get("/team", follow_redirects=False).status_code == 303
