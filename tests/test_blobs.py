"""BlobStore: content addressing, store-once, atomic writes, any fsspec URL."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from synsetlab.blobs import BlobStore, sha256_hex


def test_put_get_round_trip_and_address(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path / "blobs"))
    digest = store.put(b"pixels")
    assert digest == sha256_hex(b"pixels")
    assert store.get(digest) == b"pixels"
    on_disk = tmp_path / "blobs" / digest[:2] / digest
    assert on_disk.read_bytes() == b"pixels"


def test_same_bytes_are_stored_once_and_no_temp_files_remain(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path / "blobs"))
    first = store.put(b"same")
    before = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    mtime = before[0].stat().st_mtime_ns
    assert store.put(b"same") == first
    on_disk = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert len(on_disk) == 1 and on_disk[0].stat().st_mtime_ns == mtime
    assert not any(p.name.startswith(".tmp-") for p in on_disk)


def test_missing_blob_and_bad_digest(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path / "blobs"))
    with pytest.raises(FileNotFoundError):
        store.get("0" * 64)
    with pytest.raises(ValueError, match="sha256"):
        store.path("../../etc/passwd")
    assert not store.exists("0" * 64)


def test_works_over_other_fsspec_filesystems_and_pickles() -> None:
    store = BlobStore("memory://synsetlab-test-blobs")
    digest = store.put(b"in memory")
    again = pickle.loads(pickle.dumps(store))
    assert again.url == store.url and again.get(digest) == b"in memory"
