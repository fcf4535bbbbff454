"""The CIFAR-10 / CIFAR-100 reader on fake batches in the real python-version layout."""

from __future__ import annotations

import dataclasses
import io
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synsetlab.ingest import cifar
from synsetlab.ingest.cifar import CIFAR10_WNIDS, open_cifar
from synsetlab.ingest.records import SourceError
from synsetlab.taxonomy import Taxonomy
from tests.ingest.fakes import (
    CIFAR10_NAMES,
    Expected,
    check_items,
    list_items,
    make_fake_cifar10,
    make_fake_cifar100,
)


def _labelled(expected: dict[str, Expected], names: list[str]) -> dict[str, Expected]:
    return {k: dataclasses.replace(e, label=names[e.class_index or 0]) for k, e in expected.items()}


def _cifar10_wnids() -> list[str]:
    return [CIFAR10_WNIDS[n] for n in CIFAR10_NAMES]


@pytest.mark.parametrize(
    ("archive", "where"),
    [
        (False, "."),
        (False, "cifar-10-batches-py"),
        (True, "."),
        (True, "cifar-10-python.tar.gz"),
    ],
)
def test_cifar10_with_builtin_wnids(tmp_path: Path, archive: bool, where: str) -> None:
    expected = make_fake_cifar10(tmp_path, n_per_batch=4, archive=archive)
    spec = open_cifar(tmp_path / where)
    check_items(list_items(spec), _labelled(expected, _cifar10_wnids()))
    assert (spec.kind, spec.total, spec.label_state) == ("cifar", 24, "verified")
    found = "cifar-10-python.tar.gz" if archive else "cifar-10-batches-py"
    assert spec.uri == str(tmp_path / found)
    assert spec.options == {"classes": _cifar10_wnids()}


def test_pixels_are_the_rgb_planes_of_each_row(tmp_path: Path) -> None:
    make_fake_cifar10(tmp_path, n_per_batch=3)
    batch = pickle.loads((tmp_path / "cifar-10-batches-py/data_batch_2").read_bytes())
    items = list_items(open_cifar(tmp_path))
    with Image.open(io.BytesIO(items["data_batch_2#00001"].data or b"")) as image:
        assert (image.format, image.mode) == ("PNG", "RGB")
        pixels = np.asarray(image)
    row = batch[b"data"][1]
    assert np.array_equal(pixels[..., 0].ravel(), row[:1024])  # red plane first
    assert np.array_equal(pixels[..., 2].ravel(), row[2048:])
    assert pixels[0, 1, 1] == row[1024 + 1]  # green of row 0, column 1


def test_builtin_wnids_are_wordnet_nouns() -> None:
    wordnet = Taxonomy.wordnet()
    names = {n: wordnet.get(w).lemmas[0] for n, w in CIFAR10_WNIDS.items()}
    assert names == {
        "airplane": "airplane",
        "automobile": "car",
        "bird": "bird",
        "cat": "domestic cat",
        "deer": "deer",
        "dog": "dog",
        "frog": "frog",
        "horse": "horse",
        "ship": "ship",
        "truck": "truck",
    }


def test_cifar10_with_a_classes_file(tmp_path: Path) -> None:
    expected = make_fake_cifar10(tmp_path / "data", n_per_batch=2)
    wnids = [f"n{k:08d}" for k in range(10)]
    classes = tmp_path / "classes.txt"
    classes.write_text("# CIFAR-10 in label order\n" + "\n".join(wnids) + "\n")
    spec = open_cifar(tmp_path / "data", classes=classes)
    check_items(list_items(spec), _labelled(expected, wnids))
    assert spec.options == {"classes": wnids}


@pytest.mark.parametrize("archive", [False, True])
def test_cifar100_maps_fine_labels_through_classes(tmp_path: Path, archive: bool) -> None:
    expected = make_fake_cifar100(tmp_path / "data", n_train=6, n_test=4, archive=archive)
    wnids = [f"n{k:08d}" for k in range(100)]
    classes = tmp_path / "wnids.txt"
    classes.write_text("\n".join(wnids) + "\n")
    spec = open_cifar(tmp_path / "data", classes=classes)
    items = list_items(spec)
    check_items(items, _labelled(expected, wnids))
    assert spec.total == 10 and spec.options == {"classes": wnids}
    assert {i.split for i in items.values()} == {"train", "test"}


def test_cifar100_without_classes_asks_for_them(tmp_path: Path) -> None:
    make_fake_cifar100(tmp_path)
    with pytest.raises(SourceError, match=r"pass --classes.*in order: fine_0, fine_1"):
        open_cifar(tmp_path)


@pytest.mark.parametrize("archive", [False, True])
def test_a_batch_whose_keys_are_all_skipped_is_not_read(
    tmp_path: Path, archive: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = make_fake_cifar10(tmp_path, n_per_batch=3, archive=archive)
    spec = open_cifar(tmp_path)
    done = {k for k in expected if k.startswith(("data_batch_1#", "test_batch#"))}
    done.add("data_batch_2#00001")
    loaded: list[str] = []
    real_unpickle = cifar.unpickle_batch

    def counting_unpickle(data: bytes, where: str) -> dict[str, object]:
        loaded.append(where.rsplit("/", 1)[-1])
        return real_unpickle(data, where)

    monkeypatch.setattr(cifar, "unpickle_batch", counting_unpickle)
    items = list_items(spec, skip=done.__contains__)
    assert sorted(items) == sorted(set(expected) - done)
    assert sorted(loaded) == [f"data_batch_{k}" for k in range(2, 6)]


def test_labels_beyond_the_classes_file(tmp_path: Path) -> None:
    make_fake_cifar10(tmp_path / "data", n_per_batch=5)  # labels 0..9
    classes = tmp_path / "wnids.txt"
    classes.write_text("\n".join(f"n{k:08d}" for k in range(8)) + "\n")
    message = "labels go up to 9 but wnids.txt has 8 lines: give one wnid per line for labels 0..9"
    with pytest.raises(SourceError, match=message):
        open_cifar(tmp_path / "data", classes=classes)


def test_missing_batch(tmp_path: Path) -> None:
    make_fake_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py/data_batch_3").unlink()
    with pytest.raises(SourceError, match=r"lacks data_batch_3: download cifar-10-python.tar.gz"):
        open_cifar(tmp_path)


def test_no_cifar_here(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"no CIFAR data in .* download the python version"):
        open_cifar(tmp_path)
    (tmp_path / "cifar-10-binary.tar.gz").write_bytes(b"")
    with pytest.raises(SourceError, match=r"is not a CIFAR archive: expected cifar-10-python"):
        open_cifar(tmp_path / "cifar-10-binary.tar.gz")


def test_both_variants_in_one_folder_is_ambiguous(tmp_path: Path) -> None:
    make_fake_cifar10(tmp_path)
    make_fake_cifar100(tmp_path, archive=True)
    with pytest.raises(SourceError, match=r"holds both CIFAR-10 and CIFAR-100: pass "):
        open_cifar(tmp_path)


def test_renamed_folder_is_recognised_by_its_batches(tmp_path: Path) -> None:
    expected = make_fake_cifar10(tmp_path, n_per_batch=1)
    shutil.move(tmp_path / "cifar-10-batches-py", tmp_path / "cifar10")
    check_items(list_items(open_cifar(tmp_path / "cifar10")), _labelled(expected, _cifar10_wnids()))


def test_pickles_that_name_other_globals_are_refused(tmp_path: Path) -> None:
    make_fake_cifar10(tmp_path)
    # A pickle that would call os.system when loaded by a plain unpickler.
    evil = b"cos\nsystem\n(S'echo pwned'\ntR."
    (tmp_path / "cifar-10-batches-py/data_batch_1").write_bytes(evil)
    with pytest.raises(SourceError, match=r"os.system is not allowed in a CIFAR batch"):
        open_cifar(tmp_path)


def test_wrong_batch_shape(tmp_path: Path) -> None:
    make_fake_cifar10(tmp_path)
    path = tmp_path / "cifar-10-batches-py/test_batch"
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(SourceError, match=r"test_batch: rows of 100 values, expected 3072"):
        open_cifar(tmp_path)


def test_damaged_archive(tmp_path: Path) -> None:
    make_fake_cifar10(tmp_path, archive=True)
    path = tmp_path / "cifar-10-python.tar.gz"
    path.write_bytes(path.read_bytes()[:-300])
    with pytest.raises(SourceError, match=r"download it again"):
        open_cifar(tmp_path)
