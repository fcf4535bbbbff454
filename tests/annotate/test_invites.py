"""Invitations and joining on a real catalog: codes kept as hashes, single use, expiring; who
may join a project that asks about hidden test images; `synsetlab annotate invite`; and
revision 0009 (the annotator role, the invitations' table) down and up."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import inspect, select
from typer.testing import CliRunner

from synsetlab.annotate import (
    AnnotationConflictError,
    AnnotationError,
    AnnotationForbiddenError,
    AnnotationNotFoundError,
    create_project,
    get_project,
)
from synsetlab.annotate.invites import check_invite, create_invites, redeem_invite
from synsetlab.annotate.members import join_project, joinable_projects, member_of
from synsetlab.annotate.projects import ProjectOptions
from synsetlab.catalog import Annotator, Role, User
from synsetlab.catalog.challenge import AnnotationInvite
from synsetlab.catalog.migrate import alembic_config, current_revision, head_revision, upgrade
from synsetlab.catalog.models import utcnow
from synsetlab.cli.app import app
from synsetlab.taxonomy import Taxonomy
from synsetlab.workspace import Workspace
from tests.annotate.conftest import new_project


def user(ws: Workspace, name: str, role: Role = Role.annotator) -> int:
    # A placeholder hash: these tests never log in, and hashing is slow on purpose.
    with ws.session() as s:
        row = User(name=name, password_hash="$argon2id$placeholder", role=role)
        s.add(row)
        s.flush()
        return row.id


def redeem(ws: Workspace, code: str, user_id: int, **kw) -> Annotator:
    with ws.session() as s:
        return redeem_invite(s, code, s.get(User, user_id), **kw)


def test_codes_are_kept_as_hashes_and_work_once(shapes: Workspace) -> None:
    new_project(shapes)
    with shapes.session() as s:
        made = create_invites(s, "verify", 3)
        stored = s.scalars(select(AnnotationInvite.code_hash)).all()
    assert len({i.code for i in made}) == 3 and all(len(i.code) >= 20 for i in made)
    assert sorted(stored) == sorted(hashlib.sha256(i.code.encode()).hexdigest() for i in made)
    assert made[0].path == f"/annotate/join/{made[0].code}"

    ann = user(shapes, "ann")
    with shapes.session() as s:
        assert check_invite(s, made[0].code).slug == "verify"
    annotator = redeem(shapes, made[0].code, ann)
    assert (annotator.name, annotator.user_id) == ("ann", ann)
    with pytest.raises(AnnotationConflictError, match="used already"):
        redeem(shapes, made[0].code, user(shapes, "eve"))
    # A member who follows a second link keeps it unused.
    assert redeem(shapes, made[1].code, ann).id == annotator.id
    with shapes.session() as s:
        assert check_invite(s, made[1].code).slug == "verify"
        used = s.scalars(select(AnnotationInvite).where(AnnotationInvite.used_at.is_not(None)))
        assert [i.user_id for i in used] == [ann]
    with pytest.raises(AnnotationNotFoundError, match="no such invitation"):
        redeem(shapes, "not-a-code", ann)


def test_codes_expire(shapes: Workspace) -> None:
    new_project(shapes)
    with shapes.session() as s:
        (invite,) = create_invites(s, "verify", 1, days=0.5)
    later = utcnow() + timedelta(days=1)
    with pytest.raises(AnnotationConflictError, match="expired on"):
        redeem(shapes, invite.code, user(shapes, "ann"), now=later)
    with shapes.session() as s:
        assert s.scalars(select(Annotator)).all() == []


@pytest.mark.parametrize(
    ("count", "days", "message"),
    [
        (0, 14, "from 1 to"),
        (10_001, 14, "from 1 to"),
        (True, 14, "from 1 to"),
        (2, 0, "valid 0 days"),
        (2, float("nan"), "valid nan days"),
        (2, 400, "in \\(0, 366\\]"),
    ],
)
def test_bad_invitation_requests_are_refused(shapes: Workspace, count, days, message) -> None:
    new_project(shapes)
    with pytest.raises(AnnotationError, match=message), shapes.session() as s:
        create_invites(s, "verify", count, days=days)
    with (
        pytest.raises(AnnotationNotFoundError, match="no annotation project 'nope'"),
        shapes.session() as s,
    ):
        create_invites(s, "nope", 1)


def test_a_project_about_hidden_test_images_takes_invited_annotators_only(
    shapes: Workspace,
) -> None:
    new_project(shapes, "open")
    new_project(shapes, "secret", include_hidden_test=True)
    bob, ann, curie = (
        user(shapes, "bob", Role.participant),
        user(shapes, "ann"),
        user(shapes, "curie", Role.admin),
    )
    with shapes.session() as s:
        secret, open_ = get_project(s, "secret"), get_project(s, "open")
        code = create_invites(s, secret, 1)[0].code
        assert [p.slug for p in joinable_projects(s, s.get(User, bob))] == ["open"]
        assert [p.slug for p in joinable_projects(s, s.get(User, ann))] == ["open"]
        assert [p.slug for p in joinable_projects(s, s.get(User, curie))] == ["open", "secret"]
        join_project(s, open_, s.get(User, bob))  # anyone may join an open project
        with pytest.raises(AnnotationForbiddenError, match="by invitation only"):
            join_project(s, secret, s.get(User, ann))
        with pytest.raises(AnnotationForbiddenError, match="participants may not annotate"):
            join_project(s, secret, s.get(User, bob))
        with pytest.raises(AnnotationForbiddenError, match="join it from /annotate"):
            member_of(s, secret, ann)
    with pytest.raises(AnnotationForbiddenError, match="participants may not"):
        redeem(shapes, code, bob)
    assert redeem(shapes, code, ann).name == "ann"  # the code was not used up by bob
    with shapes.session() as s:
        assert member_of(s, get_project(s, "secret"), ann).name == "ann"


def test_a_workers_name_is_not_taken_over(shapes: Workspace) -> None:
    """A simulated or imported worker may hold a user's name in a project."""
    new_project(shapes)
    with shapes.session() as s:
        project = get_project(s, "verify")
        s.add(Annotator(project_id=project.id, name="ann", stop_reason=""))
    ann = user(shapes, "ann")
    with shapes.session() as s:
        made = join_project(s, get_project(s, "verify"), s.get(User, ann))
    assert made.name == f"ann@user{ann}" and made.user_id == ann


def test_join_is_a_reserved_project_name(shapes: Workspace) -> None:
    with pytest.raises(AnnotationError, match="name of a page"), shapes.session() as s:
        create_project(s, "join", taxonomy=Taxonomy.wordnet(), options=ProjectOptions())


def test_the_invite_command_prints_each_link_once(shapes: Workspace) -> None:
    new_project(shapes)
    runner = CliRunner()
    args = ["-w", str(shapes.root), "annotate", "invite", "verify", "--annotators", "3"]
    result = runner.invoke(app, [*args, "--url", "https://crowd.example.org/"])
    assert result.exit_code == 0, result.output
    links = result.stdout.splitlines()
    assert len(links) == 3
    assert all(link.startswith("https://crowd.example.org/annotate/join/") for link in links)
    assert "3 invitation(s) to verify" in result.stderr and "shown only now" in result.stderr
    with shapes.session() as s:
        for link in links:
            assert check_invite(s, link.rsplit("/", 1)[1]).slug == "verify"
    for bad, message in (
        (["--annotators", "0"], "from 1 to"),
        (["--annotators", "2", "--days", "-1"], "valid -1.0 days"),
        (["--annotators", "2", "--url", "crowd.example.org"], "give the site's address"),
    ):
        result = runner.invoke(app, ["-w", str(shapes.root), "annotate", "invite", "verify", *bad])
        assert result.exit_code == 1 and message in result.stderr, result.output
        assert len(result.stderr.strip().splitlines()) == 1
    missing = runner.invoke(app, ["-w", str(shapes.root), "annotate", "invite", "nope",
                                  "--annotators", "1"])  # fmt: skip
    assert missing.exit_code == 1 and "no annotation project 'nope'" in missing.stderr


def test_revision_0009_down_and_up(shapes: Workspace) -> None:
    new_project(shapes)
    with shapes.session() as s:
        create_invites(s, "verify", 1)
    cfg = alembic_config(shapes.engine)
    user(shapes, "ann")
    # An annotator account stops the downgrade: revision 0008 cannot read its role.
    with pytest.raises(RuntimeError, match="1 annotator account"):
        command.downgrade(cfg, "0008")
    assert current_revision(shapes.engine) == head_revision()
    # ... and leaves nothing half-done: the later revisions' changes are all still there.
    indexes = {i["name"] for i in inspect(shapes.engine).get_indexes("annotation_items")}
    assert "ix_annotation_items_queue" in indexes
    with shapes.session() as s:
        s.delete(s.scalars(select(User)).one())
    command.downgrade(cfg, "0008")
    assert "annotation_invites" not in inspect(shapes.engine).get_table_names()
    upgrade(shapes.engine)
    assert "annotation_invites" in inspect(shapes.engine).get_table_names()
    eve = user(shapes, "eve")
    with shapes.session() as s:
        assert s.get(User, eve).role is Role.annotator
        assert len(create_invites(s, "verify", 1)) == 1
