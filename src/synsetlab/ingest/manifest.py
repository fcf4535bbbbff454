"""A list of image files with labels (and optional boxes), as CSV or JSON Lines.

CSV: a header row naming ``path`` and ``wnid`` (or ``label``), optionally ``split`` and
``xmin,ymin,xmax,ymax``. A path listed on several rows gets one box per row::

    path,wnid,xmin,ymin,xmax,ymax
    photos/a.jpg,n01530575,10,20,200,180

JSON Lines: one object per line, ``{"path": ..., "wnid": ..., "split": ...,
"boxes": [[xmin, ymin, xmax, ymax], ...]}``.

Relative paths are relative to the manifest's folder; fsspec URLs are read as they are. The
whole manifest is parsed, and every class it names checked, before anything is ingested, so a
bad row or an unknown class stops the run with its line number and nothing written.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from synsetlab.ingest.records import (
    SPLITS,
    Box,
    NamedClass,
    SkipFn,
    SourceError,
    SourceItem,
    SourceSpec,
)

_BOX_FIELDS = ("xmin", "ymin", "xmax", "ymax")


@dataclass
class _Row:
    path: str
    label: str | None
    split: str | None
    #: The line that lists the path first.
    where: str
    boxes: list[Box] = field(default_factory=list)


def _box(where: str, wnid: str | None, values: list[object]) -> Box:
    try:
        xmin, ymin, xmax, ymax = (float(v) for v in values)  # type: ignore[arg-type]
    except (TypeError, ValueError) as e:
        raise SourceError(f"{where}: box {values!r} is not four numbers xmin,ymin,xmax,ymax") from e
    if not all(math.isfinite(v) for v in (xmin, ymin, xmax, ymax)):
        raise SourceError(f"{where}: box {values!r} has a non-finite coordinate")
    if xmin > xmax or ymin > ymax:
        raise SourceError(f"{where}: box {values!r} has xmin > xmax or ymin > ymax")
    if wnid is None:
        raise SourceError(f"{where}: a box needs the row's wnid")
    return Box(wnid, xmin, ymin, xmax, ymax)


def _merge(
    rows: dict[str, _Row], where: str, path: str, label: str | None, split: str | None
) -> _Row:
    if not path:
        raise SourceError(f"{where}: empty path")
    if split is not None and split not in SPLITS:
        raise SourceError(f"{where}: split {split!r} is not one of {', '.join(SPLITS)}")
    row = rows.get(path)
    if row is None:
        row = rows[path] = _Row(path, label, split, where)
    elif (row.label, row.split) != (label, split):
        raise SourceError(
            f"{where}: {path} is listed again with another label or split "
            f"({row.label}/{row.split} vs {label}/{split}); one image has one label per manifest"
        )
    return row


def _parse_csv(path: Path) -> dict[str, _Row]:
    rows: dict[str, _Row] = {}
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        fields = [c.strip() for c in reader.fieldnames or []]
        reader.fieldnames = fields
        label_col = "wnid" if "wnid" in fields else "label" if "label" in fields else None
        if "path" not in fields or label_col is None:
            raise SourceError(
                f"{path}: the header must name 'path' and 'wnid' columns (found {fields}); "
                "e.g. 'path,wnid' or 'path,wnid,xmin,ymin,xmax,ymax'"
            )
        has_box = [c in fields for c in _BOX_FIELDS]
        if any(has_box) and not all(has_box):
            raise SourceError(f"{path}: box columns must be all of {','.join(_BOX_FIELDS)}")
        for line, rec in enumerate(reader, 2):
            where = f"{path}:{line}"
            label = (rec.get(label_col) or "").strip() or None
            split = (rec.get("split") or "").strip() or None
            row = _merge(rows, where, (rec["path"] or "").strip(), label, split)
            values = [(rec.get(c) or "").strip() for c in _BOX_FIELDS] if all(has_box) else []
            if any(values):
                row.boxes.append(_box(where, label, values))  # type: ignore[arg-type]
    return rows


def _parse_jsonl(path: Path) -> dict[str, _Row]:
    rows: dict[str, _Row] = {}
    with path.open(encoding="utf-8") as f:
        for line, text in enumerate(f, 1):
            if not text.strip():
                continue
            where = f"{path}:{line}"
            try:
                rec = json.loads(text)
            except json.JSONDecodeError as e:
                raise SourceError(f"{where}: not valid JSON ({e.msg})") from e
            if not isinstance(rec, dict) or not isinstance(rec.get("path"), str):
                raise SourceError(f'{where}: expected an object with a "path" string')
            label = rec.get("wnid", rec.get("label"))
            row = _merge(rows, where, rec["path"], label or None, rec.get("split"))
            for values in rec.get("boxes") or []:
                if not isinstance(values, list) or len(values) != 4:
                    raise SourceError(f"{where}: each box must be [xmin, ymin, xmax, ymax]")
                row.boxes.append(_box(where, label, values))
    return rows


def open_manifest(manifest: Path, *, kind: str = "manifest") -> SourceSpec:
    """A source over the files a CSV or JSONL manifest lists (see the module docstring)."""
    manifest = Path(manifest).expanduser().resolve()
    if not manifest.is_file():
        raise SourceError(f"manifest {manifest} not found")
    try:
        is_jsonl = manifest.suffix.lower() in (".jsonl", ".ndjson")
        rows = _parse_jsonl(manifest) if is_jsonl else _parse_csv(manifest)
    except UnicodeDecodeError as e:
        raise SourceError(f"{manifest} is not UTF-8 text ({e}); save it as UTF-8") from e
    base = manifest.parent

    def resolve(path: str) -> str:
        return path if "://" in path else str(base / path)

    def items(skip: SkipFn) -> Iterator[SourceItem]:
        for key, row in rows.items():
            if not skip(key):
                boxes = tuple(row.boxes)
                yield SourceItem(
                    key=key, path=resolve(key), label=row.label, split=row.split, boxes=boxes
                )

    named: dict[str, NamedClass] = {}
    for row in rows.values():
        if row.label is not None and row.label not in named:
            where = row.where.replace(str(manifest), manifest.name)
            named[row.label] = NamedClass(row.label, where)
    return SourceSpec(kind, str(manifest), items, total=len(rows), classes=tuple(named.values()))
