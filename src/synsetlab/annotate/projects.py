"""Verification projects in the catalog: which questions they ask, with which options, of whom.

:func:`create_project` turns the candidate labels of some classes into questions
(:class:`~synsetlab.catalog.AnnotationItem`), draws each class's initial subset, and picks gold
questions: known positives are verified labels of the class; known negatives are images whose
labels are never the synset, an ancestor or a descendant of it (an image of a beagle is no
negative for "dog", nor one of an animal). Images of the hidden test split are left out unless
asked (a question about one would show an annotator the challenge's answer), and so are images
that curation excluded (no version will hold them) and labels that are verified already.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from synsetlab.annotate.consensus import INITIAL_VOTES, MAX_VOTES, TARGET_PRECISION
from synsetlab.annotate.errors import (
    AnnotationConflictError,
    AnnotationError,
    AnnotationNotFoundError,
)
from synsetlab.annotate.quality import MIN_ACCURACY, MIN_SECONDS
from synsetlab.annotate.simulate import INITIAL_ITEMS
from synsetlab.catalog.annotation import (
    AnnotationClass,
    AnnotationItem,
    AnnotationProject,
    Annotator,
)
from synsetlab.catalog.models import (
    Decision,
    DecisionAction,
    Label,
    LabelState,
    SplitAssignment,
)
from synsetlab.taxonomy import Taxonomy

__all__ = [
    "EXAMPLES",
    "GOLD_PER_CLASS",
    "CreatedProject",
    "ProjectOptions",
    "add_gold",
    "annotator_for",
    "class_rng",
    "class_row",
    "create_project",
    "get_project",
    "gold_pool",
    "initial_subset",
    "labels_by_image",
    "list_projects",
    "new_project",
]

#: Gold questions of each kind (known positive, known negative) drawn per class.
GOLD_PER_CLASS = 50
#: Verified images of a class shown beside each page as examples (never gold questions).
EXAMPLES = 3
#: A project's name: what URLs and commands use.
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
#: Names the site's own pages hold (``/annotate/join``): no project's page could be reached.
RESERVED_SLUGS = frozenset({"join"})
#: An annotator's name (a user name, a worker id).
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")


@dataclass(frozen=True)
class ProjectOptions:
    """A project's options; :meth:`check` names every value out of range."""

    #: Precision an accepted label must reach, in (0.5, 1) (ImageNet's: 0.997).
    target_precision: float = TARGET_PRECISION
    #: Votes after which an image is decided whatever its posterior.
    max_votes: int = MAX_VOTES
    #: Images per class in the initial subset (fewer if the class has fewer).
    initial_items: int = INITIAL_ITEMS
    #: Votes each image of the initial subset gets before the class's table is estimated.
    initial_votes: int = INITIAL_VOTES
    #: Share of a page's answers that are gold questions, in [0, 1).
    gold: float = 0.1
    #: Questions per page.
    page_size: int = 10
    #: Seconds per answer under which a vote is flagged as too fast.
    min_seconds: float = MIN_SECONDS
    #: Gold accuracy an annotator must not be confidently below.
    min_accuracy: float = MIN_ACCURACY
    #: Minutes a page stays open.
    task_minutes: int = 30
    #: Seed of the initial subsets, the gold draw and page composition.
    seed: int = 0
    #: Also ask about images of the hidden test split (their labels are a challenge's answers).
    include_hidden_test: bool = False

    def check(self) -> None:
        """Raise :class:`AnnotationError` naming every option out of range."""
        problems = []
        if not 0.5 < self.target_precision < 1.0:
            problems.append(
                f"target precision {self.target_precision} (choose a value strictly between "
                "0.5 and 1, e.g. ImageNet's 0.997)"
            )
        for name in ("max_votes", "initial_items", "initial_votes", "page_size", "task_minutes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                problems.append(f"{name.replace('_', ' ')} {value} (need a whole number >= 1)")
        if self.page_size > 100:
            problems.append(f"page size {self.page_size} (at most 100 images a page)")
        if not 0.0 <= self.gold < 1.0:
            problems.append(f"gold {self.gold} (a share of each page in [0, 1), e.g. 0.1)")
        if not (math.isfinite(self.min_seconds) and self.min_seconds >= 0):
            problems.append(f"min seconds {self.min_seconds} (a time >= 0)")
        if not 0.0 < self.min_accuracy < 1.0:
            problems.append(f"min accuracy {self.min_accuracy} (in (0, 1), e.g. 0.6)")
        if problems:
            raise AnnotationError("annotation project options: " + "; ".join(problems))

    @classmethod
    def of(cls, project: AnnotationProject) -> ProjectOptions:
        """The options a stored project was created with."""
        return cls(
            target_precision=project.target_precision,
            max_votes=project.max_votes,
            initial_items=project.initial_items,
            initial_votes=project.initial_votes,
            gold=project.gold_fraction,
            page_size=project.page_size,
            min_seconds=project.min_seconds,
            min_accuracy=project.min_accuracy,
            task_minutes=project.task_minutes,
            seed=project.seed,
            include_hidden_test=bool(project.options.get("include_hidden_test", False)),
        )


@dataclass
class CreatedProject:
    """What :func:`create_project` stored."""

    slug: str
    #: Questions about candidate labels, per class (wnid -> count), in class order.
    items: dict[str, int]
    #: Of them, in the initial subsets.
    initial: int
    #: Gold questions: known positives and known negatives.
    gold_positive: int
    gold_negative: int
    #: Candidate labels left out, by reason (hidden test split, excluded, already verified).
    skipped: dict[str, int] = field(default_factory=dict)


def get_project(s: Session, slug: str, *, list_names: bool = True) -> AnnotationProject:
    """The project named ``slug``; else :class:`AnnotationNotFoundError`, naming every project
    there is (for a curator on the workspace). ``list_names=False`` names none: for a caller
    who may not see them all (the site's users: a project open by invitation only is no
    business of other annotators)."""
    project = s.scalar(select(AnnotationProject).where(AnnotationProject.slug == slug))
    if project is None:
        if not list_names:
            raise AnnotationNotFoundError(f"no annotation project {slug!r}: check the name")
        names = ", ".join(s.scalars(select(AnnotationProject.slug).order_by(AnnotationProject.id)))
        raise AnnotationNotFoundError(
            f"no annotation project {slug!r} (projects: {names or 'none'}); create one with "
            "`synsetlab annotate create NAME`"
        )
    return project


def list_projects(s: Session) -> list[AnnotationProject]:
    """Every project, oldest first."""
    return list(s.scalars(select(AnnotationProject).order_by(AnnotationProject.id)))


def annotator_for(
    s: Session,
    project: AnnotationProject,
    *,
    name: str | None = None,
    user_id: int | None = None,
    create: bool = True,
) -> Annotator:
    """The project's annotator for a web account (``user_id``, named ``name``) or a named
    worker, created on first use unless ``create`` is False."""
    if user_id is None and name is None:
        raise AnnotationError("an annotator needs a name or a user id")
    query = select(Annotator).where(Annotator.project_id == project.id)
    if user_id is not None:
        query = query.where(Annotator.user_id == user_id)
    else:
        query = query.where(Annotator.name == name)
    found = s.scalar(query)
    if found is not None:
        return found
    if not create:
        raise AnnotationNotFoundError(
            f"no annotator {name or user_id!r} in project {project.slug!r}"
        )
    if name is None or not NAME_PATTERN.fullmatch(name):
        raise AnnotationError(
            f"annotator name {name!r}: use 1 to 64 letters, digits or _ . @ + -, starting with "
            "a letter or digit"
        )
    annotator = Annotator(project_id=project.id, name=name, user_id=user_id, stop_reason="")
    s.add(annotator)
    s.flush()
    return annotator


def create_project(
    s: Session,
    slug: str,
    *,
    taxonomy: Taxonomy,
    classes: Sequence[str] | None = None,
    options: ProjectOptions | None = None,
) -> CreatedProject:
    """Store a verification project over the candidate labels of ``classes``.

    ``classes``: wnids (or workspace class ids); default every class with a candidate label
    left to verify. Each must be known to ``taxonomy`` and have such labels. Refused with
    :class:`AnnotationError`: a malformed or taken name, bad options, an unknown class or one
    with nothing to verify. Nothing is written then.
    """
    options = options or ProjectOptions()
    _check_new(s, slug, options)
    labels = labels_by_image(s)
    hidden = _hidden_images(s)
    excluded = _excluded_images(s)
    skipped: dict[str, int] = defaultdict(int)
    candidates: dict[str, list[int]] = defaultdict(list)
    for image_id, states in labels.items():
        for wnid in sorted(w for w, st in states.items() if LabelState.candidate in st):
            if LabelState.verified in states[wnid]:
                skipped["verified already"] += 1
            elif image_id in excluded:
                skipped["excluded by a curation decision"] += 1
            elif image_id in hidden and not options.include_hidden_test:
                skipped["hidden test split"] += 1
            else:
                candidates[wnid].append(image_id)
    wnids = _chosen_classes(classes, candidates, taxonomy)

    project = _project_row(s, slug, options, dict(skipped))
    chosen = set(wnids)
    rows = {wnid: class_row(project, wnid, taxonomy=taxonomy, among=chosen) for wnid in wnids}
    s.add_all(rows.values())
    s.flush()

    report = CreatedProject(slug, {}, 0, 0, 0, dict(skipped))
    usable = [
        i for i in labels if i not in excluded and (options.include_hidden_test or i not in hidden)
    ]
    for wnid in wnids:
        rng = class_rng(options.seed, wnid)
        images = sorted(candidates[wnid])
        initial = initial_subset(images, rng, options.initial_items)
        # Core inserts: tens of thousands of questions, no ORM object needed for any.
        s.execute(
            insert(AnnotationItem),
            [
                {"project_id": project.id, "class_id": rows[wnid].id, "image_id": i,
                 "wnid": wnid, "initial": i in initial, "yes_votes": 0, "no_votes": 0}
                for i in images
            ],
        )  # fmt: skip
        report.items[wnid] = len(images)
        report.initial += len(initial)
        if options.gold > 0:
            positive, negative = add_gold(
                s, project, rows[wnid], usable, labels, taxonomy=taxonomy, rng=rng
            )
            report.gold_positive += positive
            report.gold_negative += negative
    s.flush()
    return report


def new_project(
    s: Session, slug: str, *, options: ProjectOptions | None = None
) -> AnnotationProject:
    """Store an empty project named ``slug`` (no class, no question yet), for questions added
    one by one later (:func:`synsetlab.annotate.ask.ask_crowd`). Refused as
    :func:`create_project` refuses a name or options."""
    options = options or ProjectOptions()
    _check_new(s, slug, options)
    return _project_row(s, slug, options, {})


def class_row(
    project: AnnotationProject, wnid: str, *, taxonomy: Taxonomy, among: Iterable[str]
) -> AnnotationClass:
    """A new class of ``project`` (not added to the session): the synset's lemmas and gloss
    that pages show, and its ancestors among the wnids ``among`` (the project's classes)."""
    synset = taxonomy.get(wnid)
    return AnnotationClass(
        project_id=project.id,
        wnid=wnid,
        lemmas="; ".join(synset.lemmas),
        gloss=synset.gloss,
        ancestors=sorted(taxonomy.ancestors(wnid) & set(among)),
    )


def class_rng(seed: int, wnid: str) -> np.random.Generator:
    """The generator of a class's initial subset, then its gold draw: the project's seed and
    the wnid, so that each class draws the same whatever other classes the project has."""
    return np.random.default_rng([seed, zlib.crc32(wnid.encode())])


def initial_subset(images: Sequence[int], rng: np.random.Generator, count: int) -> set[int]:
    """``count`` of ``images`` (sorted ids) drawn at random for a class's initial subset (all
    of them if fewer)."""
    return set(rng.permutation(images)[:count].tolist())


def gold_pool(
    s: Session, *, include_hidden_test: bool
) -> tuple[list[int], dict[int, dict[str, set[LabelState]]]]:
    """What :func:`add_gold` draws from: the images a gold question may show (not excluded,
    not of the hidden test split unless ``include_hidden_test``), and every image's labels."""
    labels = labels_by_image(s)
    excluded = _excluded_images(s)
    hidden = set() if include_hidden_test else _hidden_images(s)
    return [i for i in labels if i not in excluded and i not in hidden], labels


def add_gold(
    s: Session,
    project: AnnotationProject,
    klass: AnnotationClass,
    usable: Iterable[int],
    labels: dict[int, dict[str, set[LabelState]]],
    *,
    taxonomy: Taxonomy,
    rng: np.random.Generator,
) -> tuple[int, int]:
    """Add ``klass``'s gold questions drawn from ``usable`` (see :func:`gold_pool`): up to
    :data:`GOLD_PER_CLASS` known positives and known negatives. Returns how many of each."""
    # The class's verified images from the label index, not by reading every image's labels.
    verified = set(
        s.scalars(
            select(Label.image_id).where(
                Label.wnid == klass.wnid, Label.state == LabelState.verified
            )
        )
    )
    positive, negative = _gold_images(klass.wnid, usable, labels, verified, taxonomy, rng)
    # Gold is mixed into pages by _gold_for, never taken from the queue: value -1 for good.
    rows = [
        {"project_id": project.id, "class_id": klass.id, "image_id": i, "wnid": klass.wnid,
         "gold": answer, "yes_votes": 0, "no_votes": 0, "value": -1.0}
        for images, answer in ((positive, True), (negative, False))
        for i in images
    ]  # fmt: skip
    if rows:
        s.execute(insert(AnnotationItem), rows)
    return len(positive), len(negative)


def _check_new(s: Session, slug: str, options: ProjectOptions) -> None:
    """Refuse a malformed, reserved or taken project name, or options out of range."""
    if not isinstance(slug, str) or not SLUG_PATTERN.fullmatch(slug):
        raise AnnotationError(
            f"project name {slug!r}: use 1 to 64 of a-z, 0-9 and '-', starting with a letter "
            "or digit, e.g. shapes-verify"
        )
    if slug in RESERVED_SLUGS:
        raise AnnotationError(
            f"project name {slug!r} is the name of a page of the annotation site "
            f"(/annotate/{slug}); choose another, e.g. {slug}-verify"
        )
    options.check()
    if s.scalar(select(AnnotationProject.id).where(AnnotationProject.slug == slug)) is not None:
        raise AnnotationConflictError(
            f"an annotation project named {slug!r} exists already; choose another name, or see "
            f"it with `synsetlab annotate status {slug}`"
        )


def _project_row(
    s: Session, slug: str, options: ProjectOptions, skipped: dict[str, int]
) -> AnnotationProject:
    project = AnnotationProject(
        slug=slug,
        target_precision=options.target_precision,
        max_votes=options.max_votes,
        initial_items=options.initial_items,
        initial_votes=options.initial_votes,
        gold_fraction=options.gold,
        page_size=options.page_size,
        min_seconds=options.min_seconds,
        min_accuracy=options.min_accuracy,
        task_minutes=options.task_minutes,
        seed=options.seed,
        options={"include_hidden_test": options.include_hidden_test, "skipped": skipped},
        revision=0,
    )
    s.add(project)
    s.flush()
    return project


def _hidden_images(s: Session) -> set[int]:
    return set(s.scalars(select(SplitAssignment.image_id).where(SplitAssignment.hidden)))


def _excluded_images(s: Session) -> set[int]:
    """Images an active curation decision excludes (no version will hold them)."""
    active = select(Decision.image_id).where(
        Decision.undone_at.is_(None), Decision.action == DecisionAction.exclude
    )
    return set(s.scalars(active))


def labels_by_image(s: Session) -> dict[int, dict[str, set[LabelState]]]:
    """image id -> wnid -> the states of its label rows (several sources may label it)."""
    out: dict[int, dict[str, set[LabelState]]] = defaultdict(lambda: defaultdict(set))
    for image_id, wnid, state in s.execute(select(Label.image_id, Label.wnid, Label.state)):
        out[image_id][wnid].add(state)
    return out


def _chosen_classes(
    classes: Sequence[str] | None, candidates: dict[str, list[int]], taxonomy: Taxonomy
) -> list[str]:
    """The project's classes, checked: known, and each with candidate labels to verify."""
    if classes is None:
        wnids = sorted(w for w in candidates if w in taxonomy)
        if not wnids:
            raise AnnotationError(
                "no candidate labels to verify: every label is verified or rejected already, "
                "or its image is excluded or in the hidden test split"
            )
        return wnids
    wnids = list(dict.fromkeys(c.strip() for c in classes))
    if not wnids:
        raise AnnotationError("the class list is empty: name at least one class to verify")
    unknown = [w for w in wnids if w not in taxonomy]
    if unknown:
        raise AnnotationError(
            f"unknown class(es) {', '.join(unknown[:5])}: neither a WordNet 3.0 noun synset nor "
            "a class of this workspace (`synsetlab taxonomy search TEXT` finds wnids)"
        )
    empty = [w for w in wnids if not candidates.get(w)]
    if empty:
        shown = ", ".join(f"{w} ({taxonomy.name_of(w)})" for w in empty[:5])
        raise AnnotationError(
            f"nothing to verify for {shown}: no candidate label of "
            f"{'that class' if len(empty) == 1 else 'those classes'} is left (none ingested, or "
            "all verified, rejected, excluded or in the hidden test split); leave "
            f"{'it' if len(empty) == 1 else 'them'} out of the class list"
        )
    return wnids


def _gold_images(
    wnid: str,
    usable: Iterable[int],
    labels: dict[int, dict[str, set[LabelState]]],
    verified: set[int],
    taxonomy: Taxonomy,
    rng: np.random.Generator,
) -> tuple[list[int], list[int]]:
    """Up to :data:`GOLD_PER_CLASS` known positives (among ``verified``, the images with a
    verified label of ``wnid``) and known negatives of ``wnid``."""
    ordered = rng.permutation(sorted(usable)).tolist()
    # The first few (by image id) are the examples every page shows: never gold.
    usable_verified = sorted(verified.intersection(ordered))
    gold_ones = set(usable_verified[EXAMPLES:])
    positive = [i for i in ordered if i in gold_ones] if gold_ones else []
    related_memo: dict[str, bool] = {}

    def related(other: str) -> bool:
        if other not in related_memo:
            related_memo[other] = other == wnid or (
                other in taxonomy
                and (wnid in taxonomy.ancestors(other) or other in taxonomy.ancestors(wnid))
            )
        return related_memo[other]

    negative = []
    for image_id in ordered:
        held = [w for w, states in labels[image_id].items() if states - {LabelState.rejected}]
        # An image with no label left says nothing; one label related to the synset spoils it.
        if held and not any(related(w) for w in held):
            negative.append(image_id)
            if len(negative) == GOLD_PER_CLASS:
                break
    return positive[:GOLD_PER_CLASS], negative
