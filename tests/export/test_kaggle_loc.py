"""The kaggle-loc export, read back by synsetlab's own Kaggle LOC reader."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from synsetlab.export import export_version
from synsetlab.ingest.kaggle_loc import open_kaggle_loc
from synsetlab.ingest.records import never_skip
from tests.export.versions import (
    BRAMBLING,
    CLASSES,
    ILSVRC_ORDER,
    Seen,
    Version,
    box_tuples,
    distinct,
    expected,
    sha,
)


def _read_back(out: Path) -> Counter[Seen]:
    seen: Counter[Seen] = Counter()
    for item in open_kaggle_loc(out, include_test=True).items(never_skip):
        assert item.error is None and item.path is not None, item.key
        data = Path(item.path).read_bytes()
        seen[(sha(data), item.split or "", item.label, box_tuples(item.boxes))] += 1
    return seen


def _with_whole_image_boxes(version: Version) -> Counter[Seen]:
    """The expected images, where a val image without boxes carries one over the whole image."""
    want: Counter[Seen] = Counter()
    for (digest, split, label, boxes), n in expected(version).items():
        if split == "val" and not boxes:
            e = version.entry(digest)
            boxes = ((label, 0, 0, e.width - 1, e.height - 1),)
        want[(digest, split, label, boxes)] += n
    return want


def test_round_trip_through_the_kaggle_loc_reader(version: Version, tmp_path: Path) -> None:
    report = export_version(version.manifest, version.blobs, tmp_path / "out", "kaggle-loc")
    # The val image whose first box named another class keeps its own label.
    assert _read_back(tmp_path / "out") == _with_whole_image_boxes(version)
    assert report.warnings == (
        "1 val image(s) had no box: each got one box over the whole image, which is how the "
        "Kaggle layout carries a val label",
    )
    mapping = (tmp_path / "out" / "LOC_synset_mapping.txt").read_text().splitlines()
    assert mapping[1] == f"{BRAMBLING} brambling, Fringilla montifringilla"
    sample = (tmp_path / "out" / "LOC_sample_submission.csv").read_text().splitlines()
    assert sample[0] == "ImageId,PredictionString" and len(sample) == 3
    assert not (tmp_path / "out" / "LOC_test_solution.csv").exists()


def test_the_mapping_follows_the_class_order(version: Version, tmp_path: Path) -> None:
    export_version(
        version.manifest, version.blobs, tmp_path / "out", "kaggle-loc", class_order="ilsvrc"
    )
    mapping = (tmp_path / "out" / "LOC_synset_mapping.txt").read_text().splitlines()
    assert [line.split()[0] for line in mapping] == list(ILSVRC_ORDER) != list(CLASSES)


def test_hidden_test_labels_only_when_asked(version: Version, tmp_path: Path) -> None:
    export_version(
        version.manifest, version.blobs, tmp_path / "out", "kaggle-loc", include_hidden=True
    )
    rows = (tmp_path / "out" / "LOC_test_solution.csv").read_text().splitlines()[1:]
    by_hash = sorted(distinct(version.manifest.split("test")), key=lambda e: e.sha256)
    assert [row.split(",")[1].split()[0] for row in rows] == [e.wnid for e in by_hash]


def test_image_sets_list_every_written_image_in_order(version: Version, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export_version(version.manifest, version.blobs, out, "kaggle-loc")
    sets = out / "ILSVRC" / "ImageSets" / "CLS-LOC"
    data = out / "ILSVRC" / "Data" / "CLS-LOC"

    def read(name: str) -> list[str]:
        lines = [line.split(" ") for line in (sets / f"{name}.txt").read_text().splitlines()]
        assert [int(n) for _, n in lines] == list(range(1, len(lines) + 1))
        return [image for image, _ in lines]

    train = read("train_cls")
    assert sorted(f"{p.parent.name}/{p.stem}" for p in (data / "train").rglob("*.JPEG")) == train
    boxed = (out / "LOC_train_solution.csv").read_text().splitlines()[1:]
    assert read("train_loc") == [
        n for n in train if n.split("/")[1] in {r.split(",")[0] for r in boxed}
    ]
    assert 0 < len(read("train_loc")) < len(train)
    for split in ("val", "test"):
        names = read(split)
        assert names == sorted(p.stem for p in (data / split).glob("*.JPEG"))
        assert len(names) == len(distinct(version.manifest.split(split))) > 0
