"""The ingestion pipeline end to end on real files, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from synsetlab.catalog import Box, Image, Label, LabelState, RejectedFile
from synsetlab.ingest.imagefolder import open_imagefolder
from synsetlab.ingest.manifest import open_manifest
from synsetlab.ingest.pipeline import ingest
from synsetlab.ingest.records import SourceError
from synsetlab.workspace import Workspace
from tests.images import bad_files, good_images, jpeg, png

BRAMBLING, GOLDFINCH = "n01530575", "n01531178"


def make_folder(root: Path) -> dict[str, str]:
    """Class folders with every good format, every bad file, a mapped and an unknown folder.

    Returns key -> expected outcome ("ok" or a rejection reason).
    """
    expected: dict[str, str] = {}
    for name, (data, _, _) in good_images().items():
        path = root / BRAMBLING / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        expected[f"{BRAMBLING}/{name}"] = "ok"
    for name, (data, reason) in bad_files().items():
        (root / GOLDFINCH).mkdir(parents=True, exist_ok=True)
        (root / GOLDFINCH / name).write_bytes(data)
        expected[f"{GOLDFINCH}/{name}"] = reason
    (root / "finch").mkdir()
    (root / "finch" / "f.png").write_bytes(png(seed=9))
    expected["finch/f.png"] = "ok"  # mapped by the class map
    (root / "not-a-class").mkdir()
    (root / "not-a-class" / "x.jpg").write_bytes(jpeg(seed=10))
    expected["not-a-class/x.jpg"] = "unknown-label"
    (root / "n99999999").mkdir()
    (root / "n99999999" / "y.jpg").write_bytes(jpeg(seed=11))
    expected["n99999999/y.jpg"] = "unknown-label"
    (root / "loose.jpg").write_bytes(jpeg(seed=12))
    expected["loose.jpg"] = "ok"  # unlabelled
    (root / ".hidden.jpg").write_bytes(jpeg(seed=13))
    return expected


def catalog_state(ws: Workspace) -> dict[str, object]:
    """The catalog's content without ids and timestamps, for comparing runs."""
    with ws.session() as s:
        images = sorted(
            (i.source_key, i.sha256, i.format, i.width, i.height, i.mode, i.source_split)
            for i in s.scalars(select(Image))
        )
        labels = sorted(
            (i.source_key, lab.wnid, lab.state.value)
            for lab, i in s.execute(select(Label, Image).join(Image, Label.image_id == Image.id))
        )
        boxes = sorted(
            (i.source_key, b.wnid, b.xmin, b.ymin, b.xmax, b.ymax)
            for b, i in s.execute(select(Box, Image).join(Image, Box.image_id == Image.id))
        )
        rejected = sorted((r.source_key, r.reason) for r in s.scalars(select(RejectedFile)))
    return {"images": images, "labels": labels, "boxes": boxes, "rejected": rejected}


@pytest.mark.parametrize("workers", [0, 2])
def test_imagefolder_ingest_records_good_and_bad_files(
    workspace: Workspace, tmp_path: Path, workers: int
) -> None:
    root = tmp_path / "photos"
    expected = make_folder(root)
    class_map = tmp_path / "map.txt"
    class_map.write_text("# folder wnid\nfinch n01529672\n")
    report = ingest(workspace, open_imagefolder(root, class_map=class_map), workers=workers)

    good = {k for k, v in expected.items() if v == "ok"}
    bad = {k: v for k, v in expected.items() if v != "ok"}
    assert (report.added, report.rejected) == (len(good), len(bad))
    state = catalog_state(workspace)
    assert {row[0] for row in state["images"]} == good
    assert dict(state["rejected"]) == bad
    labels = {key: wnid for key, wnid, _ in state["labels"]}
    assert labels[f"{BRAMBLING}/rgb.jpg"] == BRAMBLING
    assert labels["finch/f.png"] == "n01529672"
    assert "loose.jpg" not in labels
    assert all(s == "candidate" for _, _, s in state["labels"])
    formats = {row[0]: (row[2], row[5]) for row in state["images"]}
    assert formats[f"{BRAMBLING}/png-named.JPEG"] == ("PNG", "RGB")
    assert formats[f"{BRAMBLING}/cmyk.jpg"] == ("JPEG", "CMYK")
    # every stored image's bytes are in the blob store under their hash
    for key, sha, *_ in state["images"]:
        assert workspace.blobs.get(sha) == (root / key).read_bytes()


def test_second_run_adds_nothing(workspace: Workspace, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    make_folder(root)
    first = ingest(workspace, open_imagefolder(root), workers=0)
    before = catalog_state(workspace)
    second = ingest(workspace, open_imagefolder(root), workers=0)
    assert (second.added, second.rejected, second.processed) == (0, 0, 0)
    assert second.already_known == first.processed
    assert catalog_state(workspace) == before


def test_new_files_are_picked_up_by_a_later_run(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    root = tmp_path / "photos"
    (root / BRAMBLING).mkdir(parents=True)
    (root / BRAMBLING / "a.jpg").write_bytes(jpeg(seed=1))
    ingest(sqlite_workspace, open_imagefolder(root), workers=0)
    (root / BRAMBLING / "b.jpg").write_bytes(jpeg(seed=2))
    report = ingest(sqlite_workspace, open_imagefolder(root), workers=0)
    assert (report.added, report.already_known) == (1, 1)


def test_same_bytes_twice_are_two_images_and_one_blob(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    root = tmp_path / "photos"
    (root / BRAMBLING).mkdir(parents=True)
    (root / BRAMBLING / "a.jpg").write_bytes(jpeg(seed=1))
    (root / BRAMBLING / "copy.jpg").write_bytes(jpeg(seed=1))
    ingest(sqlite_workspace, open_imagefolder(root), workers=0)
    with sqlite_workspace.session() as s:
        shas = list(s.scalars(select(Image.sha256)))
    assert len(shas) == 2 and len(set(shas)) == 1
    blobs = [
        p for p in Path(sqlite_workspace.settings.resolved_blob_url()).rglob("*") if p.is_file()
    ]
    assert len(blobs) == 1


def test_manifest_with_boxes_splits_and_label_state(workspace: Workspace, tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.jpg").write_bytes(jpeg(seed=1))
    (tmp_path / "img" / "b.png").write_bytes(png(seed=2))
    manifest = tmp_path / "images.csv"
    manifest.write_text(
        "path,wnid,split,xmin,ymin,xmax,ymax\n"
        f"img/a.jpg,{BRAMBLING},train,1,2,30,40\n"
        f"img/a.jpg,{BRAMBLING},train,5,5,10,10\n"
        f"img/b.png,{GOLDFINCH},val,,,,\n"
        f"img/missing.jpg,{GOLDFINCH},val,,,,\n"
    )
    report = ingest(workspace, open_manifest(manifest), workers=0, label_state="verified")
    assert (report.added, report.rejected) == (2, 1)
    state = catalog_state(workspace)
    assert state["boxes"] == [
        ("img/a.jpg", BRAMBLING, 1.0, 2.0, 30.0, 40.0),
        ("img/a.jpg", BRAMBLING, 5.0, 5.0, 10.0, 10.0),
    ]
    assert {r[0]: r[6] for r in state["images"]} == {"img/a.jpg": "train", "img/b.png": "val"}
    assert {s for *_, s in state["labels"]} == {LabelState.verified.value}
    assert state["rejected"] == [("img/missing.jpg", "unreadable")]


def test_jsonl_manifest(sqlite_workspace: Workspace, tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(jpeg(seed=1))
    manifest = tmp_path / "images.jsonl"
    rows = [{"path": "a.jpg", "wnid": BRAMBLING, "boxes": [[0, 0, 8, 8]]}]
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    report = ingest(sqlite_workspace, open_manifest(manifest), workers=0)
    assert report.added == 1
    assert catalog_state(sqlite_workspace)["boxes"] == [("a.jpg", BRAMBLING, 0.0, 0.0, 8.0, 8.0)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("file,class\na.jpg,n01530575\n", "must name 'path' and 'wnid'"),
        ("path,wnid,xmin\na.jpg,n01530575,3\n", "box columns"),
        ("path,wnid,xmin,ymin,xmax,ymax\na.jpg,n01530575,1,2,x,4\n", ":2: box"),
        ("path,wnid,xmin,ymin,xmax,ymax\na.jpg,n01530575,9,2,1,4\n", "xmin > xmax"),
        ("path,wnid\na.jpg,n01530575\na.jpg,n01531178\n", ":3: a.jpg is listed again"),
        ("path,wnid,split\na.jpg,n01530575,training\n", "split 'training'"),
    ],
)
def test_bad_manifests_stop_before_anything_is_written(
    sqlite_workspace: Workspace, tmp_path: Path, text: str, message: str
) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(text)
    with pytest.raises(SourceError, match=message):
        ingest(sqlite_workspace, open_manifest(manifest), workers=0)
    with sqlite_workspace.session() as s:
        assert s.scalar(select(func.count(Image.id))) == 0


def test_changing_a_source_s_options_is_refused(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    root = tmp_path / "photos"
    (root / "finch").mkdir(parents=True)
    (root / "finch" / "a.jpg").write_bytes(jpeg(seed=1))
    m1, m2 = tmp_path / "m1.txt", tmp_path / "m2.txt"
    m1.write_text("finch n01529672\n")
    m2.write_text("finch n01530575\n")
    ingest(sqlite_workspace, open_imagefolder(root, class_map=m1), workers=0)
    with pytest.raises(SourceError, match="same options"):
        ingest(sqlite_workspace, open_imagefolder(root, class_map=m2), workers=0)


def test_unreadable_member_from_a_source_is_recorded(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    from synsetlab.ingest.records import SourceItem, SourceSpec

    items = [
        SourceItem(key="a", data=jpeg(seed=1), label=BRAMBLING),
        SourceItem(key="b", error="unreadable archive member: CRC mismatch"),
    ]
    spec = SourceSpec("test", "test://x", lambda skip: iter(items))
    report = ingest(sqlite_workspace, spec, workers=0)
    assert (report.added, report.rejected) == (1, 1)
    assert catalog_state(sqlite_workspace)["rejected"] == [("b", "unreadable")]


@pytest.mark.parametrize(("scheme", "workers"), [("memory", 0), ("file", 2)])
def test_blob_store_at_an_fsspec_url(tmp_path: Path, scheme: str, workers: int) -> None:
    from synsetlab.workspace import init_workspace

    url = f"memory://blobs-{tmp_path.name}" if scheme == "memory" else f"file://{tmp_path}/b"
    ws = init_workspace(tmp_path / "ws", blob_url=url)
    root = tmp_path / "photos"
    (root / BRAMBLING).mkdir(parents=True)
    (root / BRAMBLING / "a.jpg").write_bytes(jpeg(seed=3))
    try:
        assert ingest(ws, open_imagefolder(root), workers=workers).added == 1
        with ws.session() as s:
            sha = s.scalars(select(Image.sha256)).one()
        assert ws.blobs.url == url
        assert ws.blobs.get(sha) == (root / BRAMBLING / "a.jpg").read_bytes()
    finally:
        ws.close()
