"""Class balance: measures, findings, exclusion policies (undoable, idempotent), the histogram."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from PIL import Image, ImageFilter
from sqlalchemy import func, select, update

from synsetlab.catalog.current import current_images
from synsetlab.catalog.models import Decision, Finding, Label, LabelState
from synsetlab.catalog.models import Image as ImageRow
from synsetlab.curate.balance import (
    BALANCE_KINDS,
    apply_balance,
    class_balance,
    summarise_counts,
)
from synsetlab.curate.decisions import undo
from synsetlab.curate.plots import histogram_png
from synsetlab.ingest.imagefolder import open_imagefolder
from synsetlab.ingest.pipeline import ingest
from synsetlab.workspace import Workspace
from tests.images import encode, jpeg, rgb

BRAMBLING, GOLDFINCH, HOUSE_FINCH = "n01530575", "n01531178", "n01532829"


def blurred_jpeg(seed: int) -> bytes:
    """A 64x48 picture as soft as a Gaussian blur of 2 px makes it."""
    return encode(rgb((64, 48), seed).filter(ImageFilter.GaussianBlur(2)), "JPEG", quality=90)


def make_classes(ws: Workspace, root: Path) -> None:
    """brambling 6 (b0-b1 blurred and verified, b2-b3 sharp, b4-b5 blurred), goldfinch 3,
    house finch 1, one unlabelled picture."""
    files = {
        **{f"{BRAMBLING}/b{i}.jpg": blurred_jpeg(i) for i in (0, 1, 4, 5)},
        **{f"{BRAMBLING}/b{i}.jpg": jpeg((64, 48), seed=i) for i in (2, 3)},
        **{f"{GOLDFINCH}/g{i}.jpg": jpeg((64, 48), seed=10 + i) for i in range(3)},
        f"{HOUSE_FINCH}/h0.jpg": jpeg((64, 48), seed=20),
        "loose.jpg": jpeg((64, 48), seed=30),
    }
    for key, data in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    ingest(ws, open_imagefolder(root), workers=0)
    verify(ws, [f"{BRAMBLING}/b0.jpg", f"{BRAMBLING}/b1.jpg"])


def verify(ws: Workspace, keys: list[str]) -> None:
    """Mark the labels of these source keys verified, as annotators would."""
    with ws.session() as s:
        ids = select(ImageRow.id).where(ImageRow.source_key.in_(keys))
        s.execute(update(Label).where(Label.image_id.in_(ids)).values(state=LabelState.verified))


def current_keys(ws: Workspace, wnid: str) -> set[str]:
    with ws.session() as s:
        keys = dict(s.execute(select(ImageRow.id, ImageRow.source_key)).all())
        return {keys[i.image_id].rsplit("/", 1)[-1] for i in current_images(s) if i.wnid == wnid}


def decision_count(ws: Workspace) -> int:
    with ws.session() as s:
        return s.scalar(select(func.count()).select_from(Decision)) or 0


# Measures over counts ------------------------------------------------------------------------


def test_measures_of_a_known_distribution() -> None:
    report = summarise_counts({"a": 1, "b": 8, "c": 2, "d": 4, "e": 0})
    assert list(report.counts) == ["b", "d", "c", "a"]  # largest first, empty class dropped
    assert (report.images, report.classes) == (15, 4)
    assert report.imbalance_ratio == 8.0
    p = [8 / 15, 4 / 15, 2 / 15, 1 / 15]
    entropy = -sum(x * math.log(x) for x in p)
    assert report.normalised_entropy == pytest.approx(entropy / math.log(4))
    assert report.effective_classes == pytest.approx(math.exp(entropy))
    even = summarise_counts({"a": 5, "b": 5, "c": 5})
    assert (even.imbalance_ratio, even.normalised_entropy) == (1.0, pytest.approx(1.0))
    assert even.effective_classes == pytest.approx(3.0)


def test_measures_of_degenerate_distributions() -> None:
    one = summarise_counts({"a": 7})
    assert (one.imbalance_ratio, one.normalised_entropy, one.effective_classes) == (1.0, 1.0, 1.0)
    none = summarise_counts({})
    assert (none.imbalance_ratio, none.normalised_entropy, none.effective_classes) == (
        None, None, 0.0
    )  # fmt: skip


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="min_count"):
        summarise_counts({"a": 1}, min_count=0)
    with pytest.raises(ValueError, match=r"min_count \(5\) is larger than max_count \(3\)"):
        summarise_counts({"a": 1}, min_count=5, max_count=3)


# The catalog side ----------------------------------------------------------------------------


def test_class_balance_counts_and_records_class_findings(
    workspace: Workspace, tmp_path: Path
) -> None:
    make_classes(workspace, tmp_path / "photos")

    report = class_balance(workspace, min_count=2, max_count=5)

    assert report.counts == {BRAMBLING: 6, GOLDFINCH: 3, HOUSE_FINCH: 1}
    assert report.names == {BRAMBLING: "brambling", GOLDFINCH: "goldfinch",
                            HOUSE_FINCH: "house finch"}  # fmt: skip
    assert (report.unlabelled, report.conflicts, report.imbalance_ratio) == (1, 0, 6.0)
    assert (report.small, report.large) == ([HOUSE_FINCH], [BRAMBLING])
    with workspace.session() as s:
        found = {
            (f.kind, f.wnid, f.image_id, round(f.score, 6), tuple(sorted(f.detail.items())))
            for f in s.scalars(select(Finding))
        }
    assert found == {
        ("small-class", HOUSE_FINCH, None, 1.0, (("count", 1), ("min_count", 2))),
        ("large-class", BRAMBLING, None, round(math.log2(6 / 5), 6),
         (("count", 6), ("max_count", 5))),
    }  # fmt: skip

    class_balance(workspace)  # no limits: earlier class findings are cleared
    with workspace.session() as s:
        assert not s.scalars(select(Finding).where(Finding.kind.in_(BALANCE_KINDS))).all()


def test_apply_balance_keeps_verified_then_sharp_and_can_be_undone(
    workspace: Workspace, tmp_path: Path
) -> None:
    make_classes(workspace, tmp_path / "photos")

    result = apply_balance(workspace, min_count=2, max_count=4, workers=0)

    assert (result.removed, result.capped, result.excluded) == (
        {HOUSE_FINCH: 1}, {BRAMBLING: 2}, 3
    )  # fmt: skip
    assert result.before.counts == {BRAMBLING: 6, GOLDFINCH: 3, HOUSE_FINCH: 1}
    assert result.after.counts == {BRAMBLING: 4, GOLDFINCH: 3}
    # verified first (though blurred), then the sharp ones; the unverified blurred ones go
    assert current_keys(workspace, BRAMBLING) == {"b0.jpg", "b1.jpg", "b2.jpg", "b3.jpg"}
    assert current_keys(workspace, HOUSE_FINCH) == set()

    decisions = decision_count(workspace)
    again = apply_balance(workspace, min_count=2, max_count=4, workers=0)
    assert again.excluded == 0 and decision_count(workspace) == decisions

    with workspace.session() as s:
        assert undo(s, reason="balance:max") == 2
    assert len(current_keys(workspace, BRAMBLING)) == 6
    assert current_keys(workspace, HOUSE_FINCH) == set()  # balance:min is still in force
    with workspace.session() as s:
        assert undo(s, reason="balance:min") == 1
    assert current_keys(workspace, HOUSE_FINCH) == {"h0.jpg"}


def test_ties_are_broken_by_the_seed(sqlite_workspace: Workspace, tmp_path: Path) -> None:
    ws = sqlite_workspace
    root = tmp_path / "photos" / GOLDFINCH
    root.mkdir(parents=True)
    same = jpeg((64, 48), seed=7)
    for i in range(8):  # identical content: equal sharpness and size, only the seed decides
        (root / f"copy{i}.jpg").write_bytes(same)
    ingest(ws, open_imagefolder(tmp_path / "photos"), workers=0)

    def kept(seed: int) -> frozenset[str]:
        apply_balance(ws, max_count=3, seed=seed, workers=0)
        keys = frozenset(current_keys(ws, GOLDFINCH))
        with ws.session() as s:
            undo(s, reason="balance:max")
        return keys

    assert kept(1) == kept(1)
    assert len(kept(1)) == 3
    assert len({kept(seed) for seed in range(6)}) > 1


def test_uniform_sampling_ignores_sharpness(sqlite_workspace: Workspace, tmp_path: Path) -> None:
    ws = sqlite_workspace
    make_classes(ws, tmp_path / "photos")
    outcomes = set()
    for seed in range(8):
        apply_balance(ws, max_count=3, seed=seed, prefer_quality=False, workers=0)
        keys = current_keys(ws, BRAMBLING)
        assert {"b0.jpg", "b1.jpg"} <= keys  # verified labels still come first
        outcomes.add(frozenset(keys))
        with ws.session() as s:
            undo(s, reason="balance:max")
    assert len(outcomes) > 1  # the third image is drawn, not the sharpest every time


# The histogram -------------------------------------------------------------------------------


def check_png(path: Path, *, min_size: tuple[int, int]) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert img.width >= min_size[0] and img.height >= min_size[1]
        assert img.width <= 2000 and img.height <= 2000


def test_histogram_of_a_workspace(sqlite_workspace: Workspace, tmp_path: Path) -> None:
    make_classes(sqlite_workspace, tmp_path / "photos")
    report = class_balance(sqlite_workspace, min_count=2, max_count=5)
    path = histogram_png(report, tmp_path / "balance.png")
    check_png(path, min_size=(800, 200))
    check_png(histogram_png(report, tmp_path / "log.png", log=True), min_size=(800, 200))


def test_histogram_of_many_classes_is_a_profile(tmp_path: Path) -> None:
    counts = {f"c{i:04d}": 1300 - i for i in range(1000)}
    report = summarise_counts(counts, min_count=400, max_count=1200)
    check_png(histogram_png(report, tmp_path / "many.png"), min_size=(1000, 400))
    check_png(histogram_png(summarise_counts({}), tmp_path / "empty.png"), min_size=(600, 150))
