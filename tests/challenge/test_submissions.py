from datetime import timedelta

import pytest
from sqlalchemy import func, select

from synsetlab.catalog import Submission, SubmissionStatus
from synsetlab.catalog.models import utcnow
from synsetlab.challenge.challenges import create_challenge
from synsetlab.challenge.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PhaseClosedError,
    QuotaExceededError,
)
from synsetlab.challenge.formats import SubmissionError
from synsetlab.challenge.phases import parse_phase
from synsetlab.challenge.submissions import quota, select_final, submit, visible_scores
from tests.challenge.workspace import (
    kaggle_csv,
    open_challenge,
    phase,
    team_member,
)


def count(ws) -> int:
    with ws.session() as s:
        return s.scalar(select(func.count()).select_from(Submission))


def test_a_submission_is_scored_with_public_and_private_partitions(ws):
    slug = open_challenge(ws, public_fraction=0.5)
    who = team_member(ws, "alice", "lab")
    perfect = submit(ws, who, slug, kaggle_csv(ws), filename="p.csv")
    assert perfect.status is SubmissionStatus.scored
    assert perfect.scores["public"]["top5_error"]["value"] == 0.0
    assert perfect.scores["public"]["n_images"] + perfect.scores["private"]["n_images"] == 40
    assert perfect.public_score == perfect.private_score == 0.0
    worst = submit(ws, who, slug, kaggle_csv(ws, correct=0.0))
    assert worst.public_score == worst.private_score == 1.0


def test_invalid_files_are_refused_before_anything_is_stored_or_counted(ws):
    slug = open_challenge(
        ws, phases=[phase("dev", timedelta(hours=-1), timedelta(days=1), per_day=1)]
    )
    who = team_member(ws, "alice", "lab")
    blobs_before = sorted(p.name for p in (ws.root / "blobs").rglob("*") if p.is_file())
    for bad in (b"ImageId,PredictionString\nnot-an-image,n01440764\n", b"\xff\xfe\x00garbage"):
        with pytest.raises(SubmissionError):
            submit(ws, who, slug, bad)
    assert count(ws) == 0
    assert sorted(p.name for p in (ws.root / "blobs").rglob("*") if p.is_file()) == blobs_before
    submit(ws, who, slug, kaggle_csv(ws))  # the one submission of the day is still there
    assert count(ws) == 1


def test_the_per_day_quota_is_exact_and_says_when_it_resets(ws):
    slug = open_challenge(
        ws, phases=[phase("dev", timedelta(hours=-1), timedelta(days=3), per_day=2)]
    )
    who = team_member(ws, "alice", "lab")
    now = utcnow()
    for _ in range(2):
        submit(ws, who, slug, kaggle_csv(ws), now=now)
    blobs_before = sorted(p.name for p in (ws.root / "blobs").rglob("*") if p.is_file())
    with pytest.raises(QuotaExceededError, match="resets at") as e:
        submit(ws, who, slug, kaggle_csv(ws, correct=0.5), now=now)  # a file not seen before
    assert 0 < e.value.retry_after <= 86400
    assert count(ws) == 2
    assert sorted(p.name for p in (ws.root / "blobs").rglob("*") if p.is_file()) == blobs_before
    # Tomorrow the quota is back.
    tomorrow = now + timedelta(days=1)
    assert submit(ws, who, slug, kaggle_csv(ws), now=tomorrow).status is SubmissionStatus.scored


def test_total_quota_and_other_teams_are_separate(ws):
    slug = open_challenge(
        ws, phases=[phase("dev", timedelta(hours=-1), timedelta(days=1), total=1)]
    )
    alice = team_member(ws, "alice", "lab")
    bob = team_member(ws, "bob", "rivals")
    submit(ws, alice, slug, kaggle_csv(ws))
    with pytest.raises(QuotaExceededError, match="all 1 submissions"):
        submit(ws, alice, slug, kaggle_csv(ws))
    submit(ws, bob, slug, kaggle_csv(ws))
    with ws.session() as s:
        from synsetlab.challenge.challenges import get_challenge

        p = get_challenge(s, slug).phases[0]
        used = quota(s, p, alice.team_id, utcnow())
    assert (used.used_total, used.left_total, used.left_today) == (1, 0, None)


def test_submissions_outside_the_phases_are_refused(ws):
    slug = open_challenge(ws, phases=[phase("later", timedelta(days=1), timedelta(days=2))])
    who = team_member(ws, "alice", "lab")
    with pytest.raises(PhaseClosedError, match="phase 'later' opens at"):
        submit(ws, who, slug, kaggle_csv(ws))
    loner = team_member(ws, "loner")
    with pytest.raises(ForbiddenError, match="not in a team"):
        submit(ws, loner, slug, kaggle_csv(ws))


def test_private_scores_stay_hidden_until_the_phase_ends(ws):
    slug = open_challenge(ws)
    who = team_member(ws, "alice", "lab")
    sub = submit(ws, who, slug, kaggle_csv(ws, correct=0.5))
    assert set(visible_scores(sub, utcnow())) == {"public"}
    after = sub.phase.ends_at + timedelta(seconds=1)
    assert set(visible_scores(sub, after)) == {"public", "private", "all"}


def test_selection_is_limited_to_the_phase_allowance_and_own_team(ws):
    slug = open_challenge(
        ws, phases=[phase("dev", timedelta(hours=-1), timedelta(days=1), select=1)]
    )
    alice = team_member(ws, "alice", "lab")
    bob = team_member(ws, "bob", "rivals")
    a1 = submit(ws, alice, slug, kaggle_csv(ws))
    a2 = submit(ws, alice, slug, kaggle_csv(ws, correct=0.3))
    b1 = submit(ws, bob, slug, kaggle_csv(ws))
    with pytest.raises(ForbiddenError, match="allows 1"):
        select_final(ws, alice, slug, [a1.id, a2.id])
    # Another team's submission is refused as a missing one is: ids cannot be probed.
    with pytest.raises(NotFoundError) as theirs:
        select_final(ws, alice, slug, [b1.id])
    with pytest.raises(NotFoundError) as missing:
        select_final(ws, alice, slug, [b1.id + 100])
    assert str(theirs.value).replace(str(b1.id), "N") == str(missing.value).replace(
        str(b1.id + 100), "N"
    )
    select_final(ws, alice, slug, [a2.id])
    select_final(ws, alice, slug, [a1.id])  # a new choice replaces the old one
    with ws.session() as s:
        chosen = s.scalars(select(Submission.id).where(Submission.selected)).all()
    assert chosen == [a1.id]


def test_create_challenge_refuses_bad_setups_and_writes_nothing(ws):
    dev = parse_phase("dev:2026-12-01..2027-01-15:5/day")
    overlapping = parse_phase("final:2027-01-10..2027-01-20:2/day")
    with pytest.raises(ValueError, match="overlap"):
        create_challenge(ws, "v1", name="x", phases=[dev, overlapping])
    with pytest.raises(ValueError, match="task"):
        create_challenge(ws, "v1", name="x", phases=[dev], task="segmentation")
    with pytest.raises(ValueError, match="no version 'v9'"):
        create_challenge(ws, "v9", name="x", phases=[dev])
    create_challenge(ws, "v1", name="Shapes 2026", phases=[dev])
    with pytest.raises(ConflictError, match="exists already"):
        create_challenge(ws, "v1", name="Shapes 2026", phases=[dev])
    loc = create_challenge(ws, "v1", name="Loc", phases=[dev], task="localization")
    assert loc.slug == "loc" and loc.n_images == 40


def test_phase_specs_parse_and_explain_mistakes():
    final = parse_phase("final:2027-01-16..2027-01-20:2/day:select=2")
    assert (final.per_day, final.select, final.total) == (2, 2, None)
    assert final.ends_at.isoformat() == "2027-01-21T00:00:00+00:00"  # the END day is included
    timed = parse_phase("dev:2026-12-01T09:30..2026-12-02T18:00:concurrent=1")
    assert timed.starts_at.hour == 9 and timed.concurrent == 1
    for bad, message in [
        ("dev", "NAME:START..END"),
        ("dev:2026-13-01..2027-01-01", "not a date"),
        ("dev:2027-01-02..2027-01-01", "ends before it starts"),
        ("Dev Phase:2026-12-01..2027-01-01", "lowercase"),
        ("dev:2026-12-01..2027-01-01:0/day", "at least 1"),
        ("dev:2026-12-01..2027-01-01:3/day:4/day", "twice"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_phase(bad)


def test_near_identical_submissions_of_different_teams_are_reported(ws):
    from synsetlab.challenge.similarity import similar_submissions

    slug = open_challenge(ws)
    alice = team_member(ws, "alice", "lab")
    sock = team_member(ws, "sock", "sock-puppet")
    other = team_member(ws, "other", "independent")
    shared = kaggle_csv(ws, correct=0.6, seed=7)
    a = submit(ws, alice, slug, shared)
    submit(ws, alice, slug, shared)  # the same team twice is not a finding
    b = submit(ws, sock, slug, shared)
    submit(ws, other, slug, kaggle_csv(ws, correct=0.6, seed=8))
    pairs = similar_submissions(ws, slug, threshold=0.95)
    assert {(p.team_a, p.team_b) for p in pairs} == {("lab", "sock-puppet")}
    assert (pairs[0].submission_a, pairs[0].submission_b, pairs[0].agreement) == (a.id, b.id, 1.0)
    assert len(similar_submissions(ws, slug, threshold=0.01)) > len(pairs)


def test_the_concurrent_quota_counts_submissions_being_scored(ws):
    slug = open_challenge(
        ws, phases=[phase("dev", timedelta(hours=-1), timedelta(days=1), concurrent=1)]
    )
    who = team_member(ws, "alice", "lab")
    first = submit(ws, who, slug, kaggle_csv(ws))
    with ws.session() as s:  # as if it were still being scored
        s.get(Submission, first.id).status = SubmissionStatus.scoring
    with pytest.raises(QuotaExceededError, match="being scored") as e:
        submit(ws, who, slug, kaggle_csv(ws))
    assert e.value.retry_after == 5
    with ws.session() as s:
        s.get(Submission, first.id).status = SubmissionStatus.scored
    assert submit(ws, who, slug, kaggle_csv(ws)).status is SubmissionStatus.scored


def test_a_team_can_clear_its_final_selection(ws):
    slug = open_challenge(
        ws, phases=[phase("dev", timedelta(hours=-1), timedelta(days=1), select=1)]
    )
    alice = team_member(ws, "alice", "lab")
    chosen = submit(ws, alice, slug, kaggle_csv(ws))
    select_final(ws, alice, slug, [chosen.id])
    select_final(ws, alice, slug, [])  # back to "the best public ones stand for us"
    with ws.session() as s:
        assert s.scalars(select(Submission.id).where(Submission.selected)).all() == []
    # Once the phase is over, clearing is refused like any other change.
    with pytest.raises(PhaseClosedError):
        select_final(ws, alice, slug, [], now=utcnow() + timedelta(days=2))


def test_the_concurrent_quota_counts_only_the_phase_s_own_submissions(ws):
    one_at_a_time = [phase("dev", timedelta(hours=-1), timedelta(days=1), concurrent=1)]
    first = open_challenge(ws, "first", phases=one_at_a_time)
    second = open_challenge(ws, "second", phases=one_at_a_time)
    who = team_member(ws, "alice", "lab")
    busy = submit(ws, who, first, kaggle_csv(ws))
    with ws.session() as s:  # as if it were still being scored
        s.get(Submission, busy.id).status = SubmissionStatus.scoring
    # Being scored in another challenge takes no slot of this one.
    assert submit(ws, who, second, kaggle_csv(ws)).status is SubmissionStatus.scored
    with pytest.raises(QuotaExceededError, match="being scored"):
        submit(ws, who, first, kaggle_csv(ws))
