import csv
import io
from datetime import timedelta

import numpy as np
import pytest

from synsetlab.catalog.models import utcnow
from synsetlab.challenge.challenges import get_challenge
from synsetlab.challenge.errors import ForbiddenError
from synsetlab.challenge.leaderboard import leaderboard, results
from synsetlab.challenge.submissions import add_baseline, select_final, submit
from tests.challenge.workspace import (
    hidden_images,
    kaggle_csv,
    open_challenge,
    phase,
    team_member,
)


def board(ws, slug, partition="public", now=None, admin=False):
    with ws.session() as s:
        c = get_challenge(s, slug)
        return leaderboard(s, c, c.phases[0], partition, now=now or utcnow(), admin=admin)


def test_public_board_ranks_each_team_once_by_its_best_public_score(ws):
    slug = open_challenge(ws, public_fraction=0.5)
    alice = team_member(ws, "alice", "lab")
    bob = team_member(ws, "bob", "rivals")
    submit(ws, alice, slug, kaggle_csv(ws, correct=0.2, seed=1))
    best = submit(ws, alice, slug, kaggle_csv(ws, correct=1.0))
    submit(ws, bob, slug, kaggle_csv(ws, correct=0.0))
    add_baseline(ws, slug, "resnet18 baseline", kaggle_csv(ws, correct=0.5, seed=3))
    b = board(ws, slug)
    teams = [e for e in b.entries if not e.baseline]
    assert [(e.rank, e.name, e.submissions) for e in teams] == [(1, "lab", 2), (2, "rivals", 1)]
    assert teams[0].submission_id == best.id and teams[0].score == 0.0
    baseline = next(e for e in b.entries if e.baseline)
    assert baseline.rank is None and baseline.name == "resnet18 baseline"
    # entries are listed by score: the baseline sits between the two teams
    assert [e.name for e in b.entries] == ["lab", "resnet18 baseline", "rivals"]
    assert b.metric == "top5_error" and b.lower_is_better


def test_private_board_is_refused_until_the_phase_ends_then_uses_selections(ws):
    slug = open_challenge(
        ws,
        public_fraction=0.5,
        phases=[phase("dev", timedelta(hours=-1), timedelta(hours=1), select=1)],
    )
    alice = team_member(ws, "alice", "lab")
    good = submit(ws, alice, slug, kaggle_csv(ws, correct=1.0))
    poor = submit(ws, alice, slug, kaggle_csv(ws, correct=0.1, seed=2))
    select_final(ws, alice, slug, [poor.id])
    with pytest.raises(ForbiddenError, match="revealed when it ends"):
        board(ws, slug, "private")
    with pytest.raises(ForbiddenError, match="revealed when it ends"), ws.session() as s:
        results(s, get_challenge(s, slug), now=utcnow())
    assert board(ws, slug, "private", admin=True).entries  # organisers may look early
    later = utcnow() + timedelta(hours=2)
    private = board(ws, slug, "private", now=later)
    assert [e.submission_id for e in private.entries] == [poor.id]  # the selection counts
    assert private.entries[0].score == pytest.approx(poor.private_score)
    assert good.private_score < poor.private_score
    with ws.session() as s:
        final = results(s, get_challenge(s, slug), now=later)
    assert final.partition == "private" and final.entries[0].name == "lab"


def test_without_a_selection_the_best_public_submissions_stand_for_the_team(ws):
    slug = open_challenge(
        ws, phases=[phase("dev", timedelta(hours=-1), timedelta(hours=1), select=1)]
    )
    alice = team_member(ws, "alice", "lab")
    submit(ws, alice, slug, kaggle_csv(ws, correct=0.1, seed=5))
    best_public = submit(ws, alice, slug, kaggle_csv(ws, correct=1.0))
    private = board(ws, slug, "private", now=utcnow() + timedelta(hours=2))
    assert private.entries[0].submission_id == best_public.id


def test_overlapping_intervals_are_marked_as_ties_and_csv_matches(ws):
    slug = open_challenge(ws, public_fraction=1.0)
    for i, (user, team) in enumerate([("a", "team-a"), ("b", "team-b"), ("c", "team-c")]):
        who = team_member(ws, user + "-user", team)
        submit(ws, who, slug, kaggle_csv(ws, correct=[0.9, 0.8, 0.0][i], seed=i))
    b = board(ws, slug)
    assert [e.name for e in b.entries] == ["team-a", "team-b", "team-c"]
    a, second, last = b.entries
    # A few errors in 40 apart: the intervals overlap; against 40/40 wrong they cannot.
    assert a.score < second.score < last.score
    assert not a.tied and second.tied and not last.tied
    rows = list(csv.DictReader(io.StringIO(b.to_csv())))
    assert [r["name"] for r in rows] == ["team-a", "team-b", "team-c"]
    assert float(rows[2]["top5_error"]) == 1.0 and rows[1]["tied"] == "1"
    assert b.to_dict()["entries"][0]["rank"] == 1


def test_ladder_releases_only_improvements_beyond_the_noise():
    from synsetlab.challenge.ladder import ladder_scores

    first = np.array([1, 1, 0, 0] * 5)  # 0.5
    slight = first.copy()
    slight[0] = 0  # 0.45: one image better, within the noise of the difference
    clear = np.zeros(20)
    clear[:3] = 1  # 0.15: far better
    released = ladder_scores([first, slight, clear, first])
    assert released == [(0.5, 0), (0.5, 0), (0.15, 2), (0.15, 2)]
    # A plain best-so-far board would have shown 0.45 after the second submission.


def test_ladder_mode_shows_the_released_score_on_the_public_board(ws):
    slug = open_challenge(ws, ladder=True, public_fraction=1.0)
    alice = team_member(ws, "alice", "lab")
    data = kaggle_csv(ws, correct=0.5, seed=1)
    first = submit(ws, alice, slug, data)
    # A slight variant: one wrong row (no right guess among its three) made right.
    truth = dict(hidden_images(ws))
    lines = data.decode().splitlines()
    i = next(i for i, ln in enumerate(lines[1:], 1) if truth[ln.split(",")[0]] not in ln)
    lines[i] = f"{lines[i].split(',')[0]},{truth[lines[i].split(',')[0]]}"
    variant = submit(ws, alice, slug, ("\n".join(lines) + "\n").encode())
    assert variant.public_score == pytest.approx(first.public_score - 1 / 40)
    b = board(ws, slug)
    assert b.ladder and b.entries[0].submission_id == first.id
    assert b.entries[0].score == pytest.approx(first.public_score)


def split_csv(ws, slug, *, public_right: bool, private_right: float) -> bytes:
    """A submission right on every public image when ``public_right`` (wrong on all of them
    otherwise) and on about ``private_right`` of the private ones."""
    from synsetlab.challenge.challenges import load_answer_key

    with ws.session() as s:
        key = load_answer_key(ws.blobs, get_challenge(s, slug).answer_key_sha256)
    rng = np.random.default_rng(0)
    rows = ["ImageId,PredictionString"]
    for image_id, label, public in zip(key.image_ids, key.labels, key.public, strict=True):
        right = public_right if public else rng.random() < private_right
        truth = key.classes[label]
        guesses = [truth] if right else [c for c in key.classes if c != truth]
        rows.append(f"{image_id},{' '.join(guesses)}")
    return ("\n".join(rows) + "\n").encode()


def test_without_a_selection_the_private_board_never_looks_past_the_n_best_public(ws):
    """The team's best private score overall is the submission with the worst public score;
    only its ``select`` (2) best public ones may stand for it, and the better of their two
    private scores does."""
    slug = open_challenge(
        ws,
        public_fraction=0.5,
        phases=[phase("dev", timedelta(hours=-1), timedelta(hours=1), select=2)],
    )
    alice = team_member(ws, "alice", "lab")
    best_public = submit(ws, alice, slug, split_csv(ws, slug, public_right=True, private_right=0))
    second = submit(ws, alice, slug, split_csv(ws, slug, public_right=True, private_right=0.5))
    worst_public = submit(ws, alice, slug, split_csv(ws, slug, public_right=False, private_right=1))
    assert best_public.public_score == second.public_score < worst_public.public_score
    assert worst_public.private_score < second.private_score < best_public.private_score
    private = board(ws, slug, "private", now=utcnow() + timedelta(hours=2))
    assert [e.submission_id for e in private.entries] == [second.id]
    assert private.entries[0].score == pytest.approx(second.private_score)
