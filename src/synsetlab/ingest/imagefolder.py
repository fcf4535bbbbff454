"""Class folders of images, as torchvision's ``ImageFolder`` reads them.

Directory contract::

    root/n01530575/any/depth/img1.jpg     label n01530575 (folder names are wnids...)
    root/brambling/img2.png               ...or mapped to wnids by --map: "brambling n01530575"
    root/loose.jpg                        no label (files directly under root)

Every class a --map names must be known (a WordNet noun or a workspace class), or nothing is
ingested; a folder that is neither mapped nor named by a known class has its files rejected
(``unknown-label``).

Every regular file is offered (hidden files and folders excepted): the pipeline decodes it and
rejects what is not an image, so files with lying extensions are judged by their bytes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from synsetlab.ingest.records import NamedClass, SkipFn, SourceError, SourceItem, SourceSpec


def read_class_map(path: Path) -> dict[str, NamedClass]:
    """Read ``name wnid`` pairs, one per line (separated by whitespace, comma or tab): folder
    name -> the class it maps to, and the line that says so.

    Blank lines and lines starting with ``#`` are ignored.
    """
    mapping: dict[str, NamedClass] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise SourceError(f"cannot read class map {path}: {e}") from e
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.replace(",", " ").replace("\t", " ").rsplit(maxsplit=1)
        if len(parts) != 2:
            raise SourceError(f"{path}:{number}: expected 'folder-name wnid', got {line!r}")
        name, wnid = parts[0].strip(), parts[1].strip()
        if name in mapping and mapping[name].label != wnid:
            raise SourceError(
                f"{path}:{number}: {name!r} mapped twice ({mapping[name].label}, {wnid})"
            )
        # The folder name is the best hint at the class a mistyped wnid meant.
        mapping[name] = NamedClass(wnid, f"{Path(path).name}:{number}", name.replace("_", " "))
    return mapping


def _walk(root: Path) -> Iterator[Path]:
    """Every non-hidden regular file under ``root``, in a stable (sorted) order."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(folder) / name


def open_imagefolder(
    root: Path, *, class_map: Path | None = None, split: str | None = None
) -> SourceSpec:
    """A source over class folders (see the module docstring for the layout)."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise SourceError(f"{root} is not a folder; give the folder that holds the class folders")
    named = read_class_map(class_map) if class_map else {}
    mapping = {name: c.label for name, c in named.items()}

    def items(skip: SkipFn) -> Iterator[SourceItem]:
        for path in _walk(root):
            rel = path.relative_to(root)
            key = rel.as_posix()
            if skip(key):
                continue
            label = None
            if len(rel.parts) > 1:
                folder = rel.parts[0]
                label = mapping.get(folder, folder)
            yield SourceItem(key=key, path=str(path), label=label, split=split)

    options: dict[str, object] = {}
    if mapping:
        options["class_map"] = dict(sorted(mapping.items()))
    if split:
        options["split"] = split
    return SourceSpec(
        "imagefolder", str(root), items, total=None, options=options, classes=tuple(named.values())
    )
