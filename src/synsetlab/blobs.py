"""Content-addressed store of image bytes over fsspec.

Each blob lives under its sha256 (``ab/abcd...``: one level of 256 folders, as git does), so
the same bytes are stored once, whatever their file name or source. Writes go to a temporary
name and are then renamed, so a crash never leaves a partly written blob under a real name.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import fsspec
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

_HEX = frozenset("0123456789abcdef")


def sha256_hex(data: bytes) -> str:
    """Lower-case hex sha256 of ``data`` (64 characters)."""
    return hashlib.sha256(data).hexdigest()


class BlobStore:
    """Bytes by sha256 under an fsspec URL (a local folder, ``s3://bucket/prefix``, ...).

    Picklable by URL, so decode workers can open their own.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        fs, root = url_to_fs(url)
        self.fs: fsspec.AbstractFileSystem = fs
        self.root = root.rstrip("/")
        self.fs.makedirs(self.root, exist_ok=True)
        self._local = isinstance(fs, LocalFileSystem)
        self._made: set[Path] = set()

    def __reduce__(self) -> tuple[type[BlobStore], tuple[str]]:
        return (BlobStore, (self.url,))

    def path(self, sha256: str) -> str:
        """Where the blob ``sha256`` lives in the store's filesystem."""
        if len(sha256) != 64 or not _HEX.issuperset(sha256):
            raise ValueError(f"not a lower-case hex sha256: {sha256!r}")
        return f"{self.root}/{sha256[:2]}/{sha256}"

    def exists(self, sha256: str) -> bool:
        return self.fs.exists(self.path(sha256))

    def put(self, data: bytes, sha256: str | None = None) -> str:
        """Store ``data`` once and return its sha256; storing the same bytes again is a no-op.

        ``sha256`` may be passed when the caller already hashed the bytes.
        """
        digest = sha256 or sha256_hex(data)
        final = self.path(digest)
        if self._local:
            self._put_local(final, data)
            return digest
        if self.fs.exists(final):
            return digest
        folder = final.rsplit("/", 1)[0]
        self.fs.makedirs(folder, exist_ok=True)
        tmp = f"{folder}/.tmp-{uuid.uuid4().hex}"
        try:
            with self.fs.open(tmp, "wb") as f:
                f.write(data)
            # Rename is atomic on local filesystems; two writers racing on the same bytes both
            # end with the same content under the final name.
            self.fs.mv(tmp, final)
        finally:
            if self.fs.exists(tmp):
                self.fs.rm(tmp)
        return digest

    def _put_local(self, final: str, data: bytes) -> None:
        # Plain file calls: fsspec's local layer costs ~0.5 ms a blob, as much as a decode.
        target = Path(final)
        if target.exists():
            return
        folder = target.parent
        if folder not in self._made:
            folder.mkdir(parents=True, exist_ok=True)
            self._made.add(folder)
        tmp = folder / f".tmp-{uuid.uuid4().hex}"
        try:
            tmp.write_bytes(data)
            tmp.replace(target)  # atomic: readers see no blob or the whole blob
        finally:
            tmp.unlink(missing_ok=True)

    def get(self, sha256: str) -> bytes:
        """The bytes stored under ``sha256``; ``FileNotFoundError`` if absent."""
        with self.fs.open(self.path(sha256), "rb") as f:
            return f.read()

    def open(self, sha256: str):
        """A binary file object for reading the blob."""
        return self.fs.open(self.path(sha256), "rb")
