import pytest
from sqlalchemy import func, select

from synsetlab.catalog import ApiToken, User
from synsetlab.challenge import accounts
from synsetlab.challenge.errors import (
    ChallengeError,
    ConflictError,
    ForbiddenError,
    UnauthorizedError,
)
from synsetlab.challenge.submissions import submit
from tests.challenge.workspace import kaggle_csv, open_challenge, team_member


def test_passwords_are_stored_as_argon2_hashes_and_checked(ws):
    with ws.session() as s:
        accounts.create_user(s, "alice", "correct horse")
    with ws.session() as s:
        stored = s.scalar(select(User.password_hash))
        assert stored.startswith("$argon2id$") and "correct horse" not in stored
        assert accounts.authenticate(s, "alice", "correct horse").name == "alice"
        with pytest.raises(UnauthorizedError, match="wrong user name or password"):
            accounts.authenticate(s, "alice", "wrong horse")
        with pytest.raises(UnauthorizedError, match="wrong user name or password"):
            accounts.authenticate(s, "nobody", "correct horse")


def test_bad_names_and_short_passwords_are_refused(ws):
    with ws.session() as s:
        with pytest.raises(ValueError, match="at least 8 characters"):
            accounts.create_user(s, "bob", "short")
        with pytest.raises(ValueError, match="user name '<b>'"):
            accounts.create_user(s, "<b>", "long enough")
        accounts.create_user(s, "bob", "long enough")
        with pytest.raises(ConflictError, match="taken"):
            accounts.create_user(s, "bob", "long enough")


def test_tokens_are_shown_once_stored_hashed_and_revocable(ws):
    with ws.session() as s:
        user = accounts.create_user(s, "alice", "correct horse")
        token = accounts.issue_token(s, user)
    with ws.session() as s:
        stored = s.scalar(select(ApiToken.token_hash))
        assert token not in stored and len(stored) == 64
        assert accounts.user_for_token(s, token).name == "alice"
        with pytest.raises(UnauthorizedError):
            accounts.user_for_token(s, token + "x")
        assert accounts.revoke_tokens(s, accounts.user_for_token(s, token)) == 1
    with ws.session() as s, pytest.raises(UnauthorizedError, match="revoked"):
        accounts.user_for_token(s, token)


def test_one_team_per_person_and_the_owner_approves_members(ws):
    team_member(ws, "alice", "lab")
    carol = team_member(ws, "carol", "other")
    with ws.session() as s:
        bob = accounts.create_user(s, "bob", "password-of-bob")
        accounts.request_to_join(s, bob, "lab")
        assert accounts.member(s, bob).team_id is None  # pending: may not submit yet
        with pytest.raises(ConflictError, match="one team per person"):
            accounts.request_to_join(s, bob, "other")
        with pytest.raises(ForbiddenError, match="only the owner"):
            accounts.approve_member(s, accounts.get_user(s, carol.user_id), "lab", "bob")
        alice = s.scalar(select(User).where(User.name == "alice"))
        accounts.approve_member(s, alice, "lab", "bob")
        assert accounts.member(s, bob).team_name == "lab"
        view = accounts.team_of(s, bob.id)
        assert view.members == (("alice", "active"), ("bob", "active")) and not view.owner


def test_membership_freezes_once_the_team_has_entered_a_phase(ws):
    slug = open_challenge(ws, phases=None)
    alice = team_member(ws, "alice", "lab")
    submit(ws, alice, slug, kaggle_csv(ws))
    with ws.session() as s:
        dave = accounts.create_user(s, "dave", "password-of-dave")
        with pytest.raises(ConflictError, match="frozen"):
            accounts.request_to_join(s, dave, "lab")


def test_teams_may_wait_for_an_admin(ws):
    slug = open_challenge(ws)
    with ws.session() as s:
        user = accounts.create_user(s, "eve", "password-of-eve")
        accounts.create_team(s, user, "late-lab", approved=False)
        who = accounts.member(s, user)
        assert accounts.teams_waiting(s) == ["late-lab"]
    with pytest.raises(ForbiddenError, match="approval"):
        submit(ws, who, slug, kaggle_csv(ws))
    with ws.session() as s, pytest.raises(ForbiddenError, match="admin role"):
        accounts.approve_team(s, accounts.get_user(s, who.user_id), "late-lab")


def test_token_use_is_recorded_at_most_once_a_minute(ws):
    from datetime import timedelta

    from synsetlab.catalog.models import utcnow
    from synsetlab.challenge.phases import as_utc

    with ws.session() as s:
        token = accounts.issue_token(s, accounts.create_user(s, "alice", "correct horse"))
    with ws.session() as s:
        accounts.user_for_token(s, token)
    with ws.session() as s:
        first = s.scalar(select(ApiToken.last_used_at))
        accounts.user_for_token(s, token)
    with ws.session() as s:
        assert s.scalar(select(ApiToken.last_used_at)) == first  # no write a second later
        s.scalar(select(ApiToken)).last_used_at = utcnow() - timedelta(minutes=2)
    with ws.session() as s:
        accounts.user_for_token(s, token)
    with ws.session() as s:
        assert utcnow() - as_utc(s.scalar(select(ApiToken.last_used_at))) < timedelta(seconds=30)


@pytest.mark.parametrize("name", ["alice\n", "team-a\n", "a\nb", "alice\r"])
def test_names_must_match_whole_a_trailing_newline_included(ws, name):
    with ws.session() as s:
        with pytest.raises(ChallengeError, match="must be 2-64 characters"):
            accounts.create_user(s, name, "long enough")
        owner = accounts.create_user(s, "owner", "long enough")
        with pytest.raises(ChallengeError, match="must be 2-64 characters"):
            accounts.create_team(s, owner, name)


def test_a_web_session_lives_in_the_database_until_it_ends_or_expires(ws):
    from datetime import timedelta

    from synsetlab.catalog.challenge import WebSession
    from synsetlab.catalog.models import utcnow

    with ws.session() as s:
        user = accounts.create_user(s, "alice", "correct horse")
        first = accounts.start_session(s, user)
        second = accounts.start_session(s, user)
        old = accounts.start_session(s, user, now=utcnow() - accounts.SESSION_LIFETIME)
    with ws.session() as s:
        assert accounts.session_user(s, first).name == "alice"
        assert accounts.session_user(s, old) is None  # expired
        assert accounts.session_user(s, first + "x") is None
        accounts.end_session(s, first)
    with ws.session() as s:
        assert accounts.session_user(s, first) is None  # logged out
        assert accounts.session_user(s, second).name == "alice"  # another browser stays in
        # A login after the others expired clears their rows.
        later = utcnow() + accounts.SESSION_LIFETIME + timedelta(days=1)
        accounts.start_session(s, accounts.get_user(s, user.id), now=later)
        assert s.scalar(select(func.count()).select_from(WebSession)) == 1


def test_a_web_session_is_looked_up_in_one_query(ws):
    """Every page a logged-in browser opens asks for its user: one round trip, not the session
    row and then its user."""
    from sqlalchemy import event

    with ws.session() as s:
        token = accounts.start_session(s, accounts.create_user(s, "alice", "correct horse"))
    statements: list[str] = []
    event.listen(ws.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with ws.session() as s:
        assert accounts.session_user(s, token).name == "alice"
    assert len([q for q in statements if q.lstrip().upper().startswith("SELECT")]) == 1
