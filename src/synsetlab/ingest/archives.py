"""Tar archives read member by member: headers first, bytes only when asked, damage reported.

The stdlib :mod:`tarfile` gives random access to an uncompressed tar (``tarfile.open(path)``
seeks from header to header without reading the data), and a member's
``extractfile(...)`` is itself seekable, so a tar inside a tar can be opened in place.
What tarfile does not do is *tell* when an archive is damaged: it ends the member list
silently at a header it cannot parse, or at a file that stops early. :func:`iter_files`
turns those cases into a final :class:`Damage` entry, so a reader can report the unread
rest of an archive as one rejected item and carry on with the next archive.
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

#: What reading an archive member can raise: I/O errors, a tar that ends early, and for
#: compressed archives a broken gzip stream (zlib.error, EOFError).
READ_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, tarfile.TarError, zlib.error)


@dataclass(frozen=True, slots=True)
class Damage:
    """The rest of an archive, from byte ``offset`` on, could not be read."""

    offset: int
    why: str

    def key(self, archive_key: str) -> str:
        """A key for the unread rest that stays the same across runs: ``"<archive>@<offset>"``."""
        return f"{archive_key}@{self.offset}"

    def detail(self) -> str:
        """The message a reader puts in ``SourceItem.error``."""
        return f"unreadable archive member: {self.why} at byte {self.offset}; the rest was not read"


def iter_files(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo | Damage]:
    """Yield the regular-file members of ``tar`` in archive order, then a :class:`Damage` if any.

    Only headers are read; the caller reads a member's bytes with :func:`read_member`.
    """
    while True:
        offset = tar.offset
        try:
            info = tar.next()
        except READ_ERRORS as e:
            # tar.next() skips the previous member's data first: this is where a file that
            # stops inside a member shows up ("unexpected end of data").
            yield Damage(offset, str(e) or type(e).__name__)
            return
        # tarfile keeps every TarInfo it has read; for the 544k members of a box archive that
        # would be hundreds of MB, and extractfile(info) does not need the list.
        tar.members.clear()
        if info is None:
            why = _why_member_list_ended(tar)
            if why is not None:
                yield Damage(tar.offset, why)
            return
        if info.isfile():
            yield info


def read_member(tar: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    """Read one member's bytes; raises one of :data:`READ_ERRORS` when they cannot be read."""
    f = tar.extractfile(info)
    if f is None:
        raise tarfile.ReadError(f"{info.name} is not a regular file")
    with f:
        return f.read()


def _why_member_list_ended(tar: tarfile.TarFile) -> str | None:
    """Why ``tar.next()`` returned None: ``None`` at a proper end-of-archive marker, else a reason.

    tarfile returns None both at the zero block that ends an archive and at a header it cannot
    parse, so look at the block it stopped on.
    """
    try:
        tar.fileobj.seek(tar.offset)
        block = tar.fileobj.read(tarfile.BLOCKSIZE)
    except READ_ERRORS as e:
        return str(e) or type(e).__name__
    if not block:
        return "archive ends without an end-of-archive marker (truncated file?)"
    if len(block) < tarfile.BLOCKSIZE:
        return "archive ends inside a member header (truncated file?)"
    if block.count(0) == tarfile.BLOCKSIZE:
        return None
    return "invalid member header"
