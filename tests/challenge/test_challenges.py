"""Creating challenges: the partition seed, ids and names, and what ``challenge create`` says."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from typer.testing import CliRunner

from synsetlab.challenge import answer_key
from synsetlab.challenge.challenges import create_challenge, get_challenge, load_answer_key
from synsetlab.challenge.errors import ChallengeError
from synsetlab.challenge.phases import PhaseSpec, parse_phase
from synsetlab.cli.app import app
from synsetlab.versions import load_version
from tests.challenge.workspace import phase

DEV = phase("dev", timedelta(hours=-1), timedelta(days=1))
runner = CliRunner(env={"COLUMNS": "200"})


def key_of(ws, slug):
    with ws.session() as s:
        c = get_challenge(s, slug)
    return c, load_answer_key(ws.blobs, c.answer_key_sha256)


def test_the_default_partition_seed_is_random_secret_and_kept_with_the_answer_key(ws):
    manifest = load_version(ws, "v1").manifest
    create_challenge(ws, "v1", name="A", phases=[DEV], public_fraction=0.5)
    create_challenge(ws, "v1", name="B", phases=[DEV], public_fraction=0.5)
    a, key_a = key_of(ws, "a")
    _, key_b = key_of(ws, "b")
    # Not the seed anyone could guess: the old default 0 gave the partition away.
    guessed = answer_key(manifest, public_fraction=0.5, seed=0)
    assert not np.array_equal(key_a.public, guessed.public)
    assert not np.array_equal(key_a.public, key_b.public)
    assert key_a.seed.bit_length() > 64  # 128 random bits (below 2**64 once in 2**64)
    # The key keeps it, so the partition can be recomputed; the database does not.
    assert answer_key(manifest, public_fraction=0.5, seed=key_a.seed) == key_a
    assert a.seed is None


def test_an_explicit_seed_is_used_and_recorded(ws):
    c = create_challenge(ws, "v1", name="A", phases=[DEV], public_fraction=0.5, seed=7)
    _, key = key_of(ws, "a")
    assert c.seed == key.seed == 7
    assert key == answer_key(load_version(ws, "v1").manifest, public_fraction=0.5, seed=7)


@pytest.mark.parametrize("slug", ["a/b?c=<x>", "shapes\n", "Shapes", "-x", "", "a" * 65])
def test_challenge_ids_must_be_url_safe_whole(ws, slug):
    with pytest.raises(ChallengeError, match="challenge id"):
        create_challenge(ws, "v1", name="A", phases=[DEV], slug=slug)
    assert create_challenge(ws, "v1", name="A", phases=[DEV], slug="a-1").slug == "a-1"


def test_phase_names_must_match_whole():
    start, end = DEV.starts_at, DEV.ends_at
    for name in ("dev\n", "dev\nfinal", "Dev"):
        with pytest.raises(ChallengeError, match="phase name"):
            PhaseSpec(name, start, end)
    with pytest.raises(ChallengeError, match="not a date"):
        parse_phase("dev:2026-12-01..2027-01-01:5/day\n")


def test_create_prints_the_public_board_size_the_answer_key_has(ws):
    """0.5625 x 40 = 22.5: the key rounds halves up (23); Python's round gives 22."""
    result = runner.invoke(
        app,
        ["-w", str(ws.root), "challenge", "create", "v1", "--name", "Half",
         "--public-fraction", "0.5625", "--phase",
         f"dev:{DEV.starts_at:%Y-%m-%d}..{DEV.ends_at:%Y-%m-%d}"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "23 images score the public board" in result.output
    _, key = key_of(ws, "half")
    from synsetlab.challenge.answers import public_count

    assert int(key.public.sum()) == public_count(40, 0.5625) == 23
    assert str(key.seed) not in result.output and "public knowledge" not in result.output


def test_create_with_an_explicit_seed_says_it_is_public(ws):
    result = runner.invoke(
        app,
        ["-w", str(ws.root), "challenge", "create", "v1", "--name", "Seeded", "--seed", "12",
         "--phase", f"dev:{DEV.starts_at:%Y-%m-%d}..{DEV.ends_at:%Y-%m-%d}"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "seed 12 is public knowledge" in result.output
