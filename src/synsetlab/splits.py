"""Train/val/test splits: stratified by class, deterministic by seed, and group-aware.

Images that curation found to be copies of each other (exact or near duplicates) form a group,
and a group never straddles two splits: otherwise a test image would have its twin in train.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from itertools import pairwise

import numpy as np
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from synsetlab.catalog.current import CurrentImage, current_images
from synsetlab.catalog.models import Finding, SplitAssignment, SplitRun
from synsetlab.curate.duplicates import cluster
from synsetlab.workspace import Workspace

SPLITS = ("train", "val", "test")
DUPLICATE_KINDS = ("exact-duplicate", "near-duplicate")


class SplitError(ValueError):
    """The split cannot be made as asked; the message names the classes and the counts."""


@dataclass(frozen=True)
class SplitPlan:
    """How to split. Counts per class win over fractions when both are given."""

    #: Images per class in val / test (ILSVRC-2012: 50 val per class).
    val_per_class: int | None = None
    test_per_class: int | None = None
    #: Or a share of each class, in [0, 1).
    val_fraction: float | None = None
    test_fraction: float | None = None
    seed: int = 0
    #: Keep the split each source assigned (ILSVRC train/val, CIFAR train/test); a test split
    #: may still be carved from train by the per-class count or fraction.
    from_source: bool = False
    #: Test labels are hidden: only scoring code reads them.
    hide_test: bool = True


@dataclass
class SplitReport:
    per_split: dict[str, int]
    per_class: dict[str, dict[str, int]]
    groups: int
    #: Duplicate groups whose members the sources had put in different splits (from_source).
    straddling_groups: int = 0
    params: dict = field(default_factory=dict)


def assign_splits(ws: Workspace, plan: SplitPlan) -> SplitReport:
    """Assign every current labelled image to train, val or test, replacing earlier splits."""
    _check_plan(plan)
    with ws.session() as s:
        images = [i for i in current_images(s) if i.wnid is not None]
        if not images:
            raise SplitError("no labelled images to split: ingest images with labels first")
        cluster_of = _duplicate_groups(s, {i.image_id for i in images})
        group_of = {i.image_id: cluster_of.get(i.image_id, f"image:{i.image_id}") for i in images}
        if plan.from_source:
            split_of, straddling = _from_source(images, group_of, plan)
        else:
            split_of, straddling = _stratified(images, group_of, plan), 0
        _check_not_empty(split_of, plan)
        s.execute(delete(SplitAssignment))
        rows = [
            {"image_id": i, "split": sp, "hidden": plan.hide_test and sp == "test"}
            for i, sp in split_of.items()
        ]
        s.execute(insert(SplitAssignment), rows)
        params = asdict(plan)
        s.add(SplitRun(params=params))
    per_class: dict[str, Counter[str]] = defaultdict(Counter)
    for image in images:
        per_class[image.wnid][split_of[image.image_id]] += 1  # type: ignore[index]
    return SplitReport(
        per_split=dict(Counter(split_of.values())),
        per_class={w: dict(c) for w, c in sorted(per_class.items())},
        groups=len(set(group_of.values())),
        straddling_groups=straddling,
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
    if (plan.val_fraction or 0) + (plan.test_fraction or 0) >= 1:
        raise SplitError("val and test fractions leave nothing for train")


def _duplicate_groups(s: Session, image_ids: set[int]) -> dict[int, str]:
    """image id -> group name, joining every duplicate cluster an image is in."""
    members: dict[str, list[int]] = defaultdict(list)
    rows = s.execute(
        select(Finding.image_id, Finding.kind, Finding.detail).where(
            Finding.kind.in_(DUPLICATE_KINDS)
        )
    )
    for image_id, kind, detail in rows:
        if image_id in image_ids and "cluster" in detail:
            members[f"{kind}:{detail['cluster']}"].append(image_id)
    ids = sorted({i for group in members.values() for i in group})
    index = {image_id: k for k, image_id in enumerate(ids)}
    pairs = [(index[a], index[b]) for group in members.values() for a, b in pairwise(group)]
    labels = cluster(len(ids), np.array(pairs, dtype=np.int64).reshape(-1, 2))
    return {image_id: f"duplicates:{label}" for image_id, label in zip(ids, labels, strict=True)}


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
        rng = random.Random(f"{plan.seed}:{wnid}")
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


def _from_source(
    images: list[CurrentImage], group_of: dict[int, str], plan: SplitPlan
) -> tuple[dict[int, str], int]:
    split_of = {i.image_id: i.source_split if i.source_split in SPLITS else "train" for i in images}
    splits_of_group: dict[str, set[str]] = defaultdict(set)
    for image in images:
        splits_of_group[group_of[image.image_id]].add(split_of[image.image_id])
    straddling = sum(1 for splits in splits_of_group.values() if len(splits) > 1)
    if plan.test_per_class or plan.test_fraction:
        train = [i for i in images if split_of[i.image_id] == "train"]
        carve = SplitPlan(
            test_per_class=plan.test_per_class, test_fraction=plan.test_fraction, seed=plan.seed
        )
        for image_id, split in _stratified(train, group_of, carve).items():
            split_of[image_id] = split
    return split_of, straddling


def _check_not_empty(split_of: dict[int, str], plan: SplitPlan) -> None:
    counts = Counter(split_of.values())
    asked = {"train": True, "val": bool(plan.val_per_class or plan.val_fraction)}
    asked["test"] = bool(plan.test_per_class or plan.test_fraction)
    empty = [
        sp for sp, wanted in asked.items() if wanted and counts[sp] == 0 and not plan.from_source
    ]
    if empty:
        raise SplitError(f"the {' and '.join(empty)} split would be empty; ask for more images")
