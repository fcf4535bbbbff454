"""Copies of one content in a manifest: grouped once, for exports, answer keys and datasets."""

from __future__ import annotations

from synsetlab.manifest import ManifestBox, ManifestEntry, copies, merge_copies

TENCH, GOLDFISH = "n01440764", "n01443537"


def entry(
    image_id: int, sha: str, wnid: str, *boxes: ManifestBox, hidden: bool = False
) -> ManifestEntry:
    return ManifestEntry(
        image_id=image_id, sha256=sha * 64, source="test", source_key=str(image_id),
        format="JPEG", width=40, height=30, wnid=wnid, split="val", hidden=hidden,
        boxes=boxes,
    )  # fmt: skip


def test_copies_group_by_content_and_label_in_the_order_given() -> None:
    a, b = ManifestBox(TENCH, 1, 1, 9, 9), ManifestBox(TENCH, 2, 2, 8, 8)
    entries = [
        entry(1, "a", TENCH, a),
        entry(2, "b", TENCH),
        entry(3, "a", TENCH, a, b),
        entry(4, "a", GOLDFISH),
    ]
    groups = copies(entries)
    assert {k: [e.image_id for e in v] for k, v in groups.items()} == {
        ("a" * 64, TENCH): [1, 3],
        ("b" * 64, TENCH): [2],
        ("a" * 64, GOLDFISH): [4],
    }
    merged = merge_copies(entries)
    assert [e.image_id for e in merged] == [1, 2, 4]  # one per content and class, first kept
    assert merged[0].boxes == (a, b)  # every copy's boxes, each once
    assert merged[1] is entries[1]


def test_copies_of_hidden_labels_are_one_image_to_whoever_cannot_see_them() -> None:
    entries = [entry(1, "a", TENCH, hidden=True), entry(2, "a", GOLDFISH, hidden=True)]

    def visible(e: ManifestEntry) -> str | None:
        return None if e.hidden else e.wnid

    assert [e.image_id for e in merge_copies(entries, visible)] == [1]
    assert [e.image_id for e in merge_copies(entries)] == [1, 2]
