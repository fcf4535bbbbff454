"""Train/val/test splits: stratified by class, deterministic by seed, and group-aware.

Images with one content (the same sha256, found by ingestion whether or not ``curate
duplicates`` ran) and images that curation found to be copies of each other (exact or near
duplicates) form a group, and a group never straddles two splits: otherwise a test image
would have its twin in train, and an export of train would carry a hidden test label.

``from_source`` keeps the split each source assigned. Byte-identical images that the sources
put in different splits are moved together into the first of train, val, test among them (the
hidden test split never holds an image that also has a train label); near-duplicate clusters
that straddle the sources' splits are only counted (the ``split-leak`` findings list them), as
near-duplicate links can be wrong. Val and test may be carved from the source's train split
when the sources give none.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from synsetlab.catalog.current import CurrentImage, current_images
from synsetlab.catalog.models import Finding, SplitAssignment, SplitRun
from synsetlab.curate.duplicates import cluster
from synsetlab.errors import UserError
from synsetlab.workspace import Workspace

SPLITS = ("train", "val", "test")
#: The splits carved from train by a count or a fraction per class.
HELD_OUT = ("val", "test")
DUPLICATE_KINDS = ("exact-duplicate", "near-duplicate")
#: The seed of a plan that gives none.
DEFAULT_SEED = 0


class SplitError(UserError, ValueError):
    """The split cannot be made as asked; the message names the classes and the counts."""


@dataclass(frozen=True)
class SplitPlan:
    """How to split: for val and for test, a count per class or a fraction, not both."""

    #: Images per class in val / test (ILSVRC-2012: 50 val per class).
    val_per_class: int | None = None
    test_per_class: int | None = None
    #: Or a share of each class, in [0, 1).
    val_fraction: float | None = None
    test_fraction: float | None = None
    #: Seeds the draw of val and test; ``None``: not given (:data:`DEFAULT_SEED` where a split
    #: is drawn). A seed given where nothing is drawn is refused.
    seed: int | None = None
    #: Keep the split each source assigned (ILSVRC train/val, CIFAR train/test); val and test
    #: may still be carved from train by a count or fraction per class, when the sources give
    #: no such split.
    from_source: bool = False
    #: Test labels are hidden: only scoring code reads them.
    hide_test: bool = True

    def asked(self, split: str) -> tuple[str, int | float] | None:
        """``(option name, value)`` of the count or fraction asked for ``split``, if any."""
        for name in (f"{split}_per_class", f"{split}_fraction"):
            value = getattr(self, name)
            if value is not None:
                return name, value
        return None


@dataclass
class SplitReport:
    per_split: dict[str, int]
    per_class: dict[str, dict[str, int]]
    groups: int
    #: Duplicate groups whose members the sources had put in different splits (from_source),
    #: left as they are: near-duplicate clusters (byte-identical copies are moved instead).
    straddling_groups: int = 0
    #: Byte-identical images moved to the split of their copies (from_source).
    moved_copies: int = 0
    #: What was done, as recorded in the next frozen version (see :func:`assign_splits`).
    params: dict = field(default_factory=dict)


def assign_splits(ws: Workspace, plan: SplitPlan) -> SplitReport:
    """Assign every current labelled image to train, val or test, replacing earlier splits.

    The run is recorded (and frozen into the next version) as what was done, not as the plan:
    ``{"mode": "stratified" | "from-source", "source_splits": "train, test" (from-source),
    the count or fraction of each split drawn, "seed" (only when something was drawn),
    "hide_test" (when there is a test split), "copies_moved" (when any)}``.

    Raises :class:`SplitError` for a plan that cannot be met or has an option the mode would
    ignore: a count and a fraction for one split, a seed with nothing to draw, or (from-source)
    a split to carve that the sources already give.
    """
    _check_plan(plan)
    with ws.session() as s:
        images = [i for i in current_images(s) if i.wnid is not None]
        if not images:
            raise SplitError("no labelled images to split: ingest images with labels first")
        group_of = _groups(s, images)
        moved = straddling = 0
        if plan.from_source:
            split_of, moved, straddling = _from_source(images, group_of, plan)
        else:
            split_of = _stratified(images, group_of, plan)
        _check_not_empty(split_of, plan)
        s.execute(delete(SplitAssignment))
        rows = [
            {"image_id": i, "split": sp, "hidden": plan.hide_test and sp == "test"}
            for i, sp in split_of.items()
        ]
        s.execute(insert(SplitAssignment), rows)
        params = _done(plan, images, split_of, moved)
        s.add(SplitRun(params=params))
    per_class: dict[str, Counter[str]] = defaultdict(Counter)
    for image in images:
        per_class[image.wnid][split_of[image.image_id]] += 1  # type: ignore[index]
    return SplitReport(
        per_split=dict(Counter(split_of.values())),
        per_class={w: dict(c) for w, c in sorted(per_class.items())},
        groups=len(set(group_of.values())),
        straddling_groups=straddling,
        moved_copies=moved,
        params=params,
    )


def _check_plan(plan: SplitPlan) -> None:
    for name in ("val_per_class", "test_per_class"):
        value = getattr(plan, name)
        if value is not None and value < 0:
            raise SplitError(f"{name} must be >= 0, got {value}")
    for name in ("val_fraction", "test_fraction"):
        value = getattr(plan, name)
        if value is not None and not 0 <= value < 1:
            raise SplitError(f"{name} must be in [0, 1), got {value}")
    for split in HELD_OUT:
        count, fraction = getattr(plan, f"{split}_per_class"), getattr(plan, f"{split}_fraction")
        if count is not None and fraction is not None:
            raise SplitError(
                f"{split}_per_class={count} and {split}_fraction={fraction} both given: give "
                f"{split}_per_class or {split}_fraction (--{split}-per-class or "
                f"--{split}-fraction), not both"
            )
    if (plan.val_fraction or 0) + (plan.test_fraction or 0) >= 1:
        raise SplitError("val and test fractions leave nothing for train")
    if plan.seed is not None and not any(map(plan.asked, HELD_OUT)):
        nothing = (
            "--from-source keeps the sources' splits and draws nothing unless val or test is "
            "carved from train"
            if plan.from_source
            else "without val or test every image goes to train and nothing is drawn"
        )
        raise SplitError(
            f"seed {plan.seed} is not used: {nothing} (--val-per-class, --test-per-class, or a "
            "fraction); drop the seed, or ask for one of those"
        )


def _done(
    plan: SplitPlan, images: list[CurrentImage], split_of: dict[int, str], moved: int
) -> dict[str, Any]:
    """The parameters that took effect (see :func:`assign_splits`)."""
    params: dict[str, Any] = {"mode": "from-source" if plan.from_source else "stratified"}
    if plan.from_source:
        given = {_source_split(i) for i in images}
        params["source_splits"] = ", ".join(sp for sp in SPLITS if sp in given)
    drawn = [asked for asked in map(plan.asked, HELD_OUT) if asked is not None]
    params.update(drawn)
    if drawn:
        params["seed"] = _seed(plan)
    if "test" in split_of.values():
        params["hide_test"] = plan.hide_test
    if moved:
        params["copies_moved"] = moved
    return params


def _seed(plan: SplitPlan) -> int:
    return DEFAULT_SEED if plan.seed is None else plan.seed


def _groups(s: Session, images: list[CurrentImage]) -> dict[int, str]:
    """image id -> group name: the connected components of two links, "same content" (one
    sha256: byte-identical images are one image to a reader, whatever curation found) and "in
    one duplicate cluster" (curation's exact and near findings; an image in two clusters joins
    them).

    A lone image is ``image:<id>``; the others are ``duplicates:<k>``, numbered in order of
    their smallest image id.
    """
    ids = sorted(i.image_id for i in images)
    index = {image_id: k for k, image_id in enumerate(ids)}
    members: dict[str, list[int]] = defaultdict(list)
    for image in images:
        members[f"sha256:{image.sha256}"].append(index[image.image_id])
    rows = s.execute(
        select(Finding.image_id, Finding.kind, Finding.detail).where(
            Finding.kind.in_(DUPLICATE_KINDS)
        )
    )
    for image_id, kind, detail in rows:
        if image_id in index and "cluster" in detail:
            members[f"{kind}:{detail['cluster']}"].append(index[image_id])
    pairs = [pair for group in members.values() for pair in pairwise(group)]
    labels = cluster(len(ids), np.array(pairs, dtype=np.int64).reshape(-1, 2)).tolist()
    sizes = Counter(labels)
    names: dict[int, str] = {}  # component label -> name, in order of smallest image id
    group_of = {}
    for image_id, label in zip(ids, labels, strict=True):
        if sizes[label] == 1:
            group_of[image_id] = f"image:{image_id}"
        else:
            group_of[image_id] = names.setdefault(label, f"duplicates:{len(names)}")
    return group_of


def _quotas(n: int, plan: SplitPlan) -> tuple[int, int]:
    def quota(count: int | None, fraction: float | None) -> int:
        if count is not None:
            return count
        return round(n * fraction) if fraction else 0

    return quota(plan.test_per_class, plan.test_fraction), quota(
        plan.val_per_class, plan.val_fraction
    )


def _stratified(
    images: list[CurrentImage], group_of: dict[int, str], plan: SplitPlan
) -> dict[int, str]:
    by_class: dict[str, list[CurrentImage]] = defaultdict(list)
    for image in images:
        by_class[image.wnid].append(image)  # type: ignore[index]
    short = []
    for wnid, members in sorted(by_class.items()):
        test_n, val_n = _quotas(len(members), plan)
        if len(members) < test_n + val_n + 1:
            short.append(f"{wnid} ({len(members)})")
    if short:
        test_n, val_n = _quotas(0, plan)
        raise SplitError(
            f"{len(short)} classes have fewer images than val + test + 1 train image "
            f"({val_n} + {test_n} + 1): {', '.join(short[:20])}"
            + (" ..." if len(short) > 20 else "")
            + "; lower the counts, or drop those classes (synsetlab curate balance --min N)"
        )
    members_of: dict[str, list[int]] = defaultdict(list)
    for image in images:
        members_of[group_of[image.image_id]].append(image.image_id)
    split_of: dict[int, str] = {}
    for wnid, members in sorted(by_class.items()):
        test_n, val_n = _quotas(len(members), plan)
        # One generator per class, seeded by name: a class's split does not depend on others.
        rng = random.Random(f"{_seed(plan)}:{wnid}")
        groups = sorted({group_of[m.image_id] for m in members if m.image_id not in split_of})
        rng.shuffle(groups)
        in_class = {m.image_id for m in members}
        need = {"test": test_n, "val": val_n}
        for group in groups:
            size = sum(1 for i in members_of[group] if i in in_class)
            target = next((sp for sp in ("test", "val") if 0 < size <= need[sp]), "train")
            if target != "train":
                need[target] -= size
            for image_id in members_of[group]:
                split_of.setdefault(image_id, target)
    return split_of


def _source_split(image: CurrentImage) -> str:
    return image.source_split if image.source_split in SPLITS else "train"


def _from_source(
    images: list[CurrentImage], group_of: dict[int, str], plan: SplitPlan
) -> tuple[dict[int, str], int, int]:
    """``(split of each image, copies moved, duplicate groups still straddling)``."""
    split_of = {i.image_id: _source_split(i) for i in images}
    given = Counter(split_of.values())
    for split in HELD_OUT:
        asked = plan.asked(split)
        if asked is not None and given[split]:
            raise SplitError(
                f"the sources already give a {split} split ({given[split]} images): "
                f"{asked[0]}={asked[1]} would add train images to it. Drop "
                f"--{split}-per-class/--{split}-fraction to keep the sources' {split} split, "
                "or split without --from-source"
            )
    # Byte-identical copies join the first split of train, val, test that holds one of them.
    first: dict[str, int] = {}
    for image in images:
        rank = SPLITS.index(split_of[image.image_id])
        first[image.sha256] = min(rank, first.get(image.sha256, rank))
    moved = 0
    for image in images:
        target = SPLITS[first[image.sha256]]
        if split_of[image.image_id] != target:
            split_of[image.image_id] = target
            moved += 1
    splits_of_group: dict[str, set[str]] = defaultdict(set)
    for image_id, split in split_of.items():
        splits_of_group[group_of[image_id]].add(split)
    straddling = sum(1 for splits in splits_of_group.values() if len(splits) > 1)
    if any(map(plan.asked, HELD_OUT)):
        train = [i for i in images if split_of[i.image_id] == "train"]
        for image_id, split in _stratified(train, group_of, plan).items():
            split_of[image_id] = split
    return split_of, moved, straddling


def _check_not_empty(split_of: dict[int, str], plan: SplitPlan) -> None:
    """A split asked for must get images (from-source keeps whatever train the sources give)."""
    counts = Counter(split_of.values())
    wanted = [] if plan.from_source else ["train"]
    wanted += [sp for sp in HELD_OUT if (asked := plan.asked(sp)) is not None and asked[1]]
    empty = [sp for sp in wanted if counts[sp] == 0]
    if empty:
        raise SplitError(f"the {' and '.join(empty)} split would be empty; ask for more images")
