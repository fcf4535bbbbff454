"""The ``parquet`` export: Parquet files as Hugging Face ``datasets`` reads and the Hub shows them.

Layout (``OUT``)::

    data/<split>-00000-of-00003.parquet ...   ``shard_size`` rows per file, row groups of 100
                                              rows, in content-hash order
    classes.txt, export.json

Columns (the ``datasets`` features, stored in the schema's "huggingface" metadata, so
``load_dataset`` decodes them without being told):

    image    struct<bytes: binary, path: string>   ``Image()``: the stored bytes (re-encoded
                                                   only to resize, or from GIF and other
                                                   formats to PNG); path "<sha256>.<ext>"
    label    int64                                 ``ClassLabel(names=<wnids in index order>)``;
                                                   -1 where the label is hidden, as ``datasets``
                                                   marks a missing label
    wnid     string                                null where the label is hidden
    sha256   string
    width    int32, height int32                   of the written image
    objects  struct<bbox: list<float32[4]>,       the image's boxes, as the Hub's detection
                    category: list<int64>>         datasets store them: ``bbox`` COCO-style
                                                   ``[x, y, w, h]`` in pixels of the written
                                                   image, ``category`` a ClassLabel; empty
                                                   where there are none or the label is hidden

Read with ``datasets.load_dataset("parquet", data_files={"train": "OUT/data/train-*.parquet"})``
(or ``load_dataset("OUT")``, which finds the splits by file name); ``ds["train"][0]["image"]`` is
a PIL image. Rows are written 100 at a time: memory stays bounded by one row group of images.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from synsetlab.export._images import ExportImage, ImagePolicy
from synsetlab.export._job import ExportJob, file_stems
from synsetlab.export._registry import Exporter, register
from synsetlab.manifest import ManifestEntry

#: Rows per row group: the ``datasets`` default for image data, small enough to stream.
ROW_GROUP_ROWS = 100
#: What ``datasets`` stores where the label is unknown.
NO_LABEL = -1

IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
OBJECTS_TYPE = pa.struct(
    [("bbox", pa.list_(pa.list_(pa.float32(), 4))), ("category", pa.list_(pa.int64()))]
)


def schema(classes: Sequence[str]) -> pa.Schema:
    """The Arrow schema, with the ``datasets`` features in its "huggingface" metadata."""
    class_label = {"names": list(classes), "_type": "ClassLabel"}
    float32 = {"dtype": "float32", "_type": "Value"}
    features = {
        "image": {"_type": "Image"},
        "label": class_label,
        "wnid": {"dtype": "string", "_type": "Value"},
        "sha256": {"dtype": "string", "_type": "Value"},
        "width": {"dtype": "int32", "_type": "Value"},
        "height": {"dtype": "int32", "_type": "Value"},
        "objects": {
            "bbox": {
                "feature": {"feature": float32, "length": 4, "_type": "List"},
                "_type": "List",
            },
            "category": {"feature": class_label, "_type": "List"},
        },
    }
    fields = [
        ("image", IMAGE_TYPE),
        ("label", pa.int64()),
        ("wnid", pa.string()),
        ("sha256", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("objects", OBJECTS_TYPE),
    ]
    metadata = {"huggingface": json.dumps({"info": {"features": features}})}
    return pa.schema(fields, metadata=metadata)


def write(job: ExportJob, out: Path) -> dict[str, Any]:
    (out / "data").mkdir()
    arrow_schema = schema(job.classes)
    policy = job.policy()
    files: dict[str, list[str]] = {}
    for split, entries in job.splits.items():
        files[split] = write_split(job, split, entries, policy, arrow_schema, out)
    return {"files": files}


def write_split(
    job: ExportJob,
    split: str,
    entries: Sequence[ManifestEntry],
    policy: ImagePolicy,
    arrow_schema: pa.Schema,
    out: Path,
) -> list[str]:
    """Write one split's files, ``job.shard_size`` rows each; return their relative paths."""
    count = math.ceil(len(entries) / job.shard_size)
    rows = zip(file_stems(entries), job.images(entries, policy), strict=True)
    names = []
    for index in range(count):
        name = f"data/{split}-{index:05d}-of-{count:05d}.parquet"
        with pq.ParquetWriter(out / name, arrow_schema) as writer:
            for group in _batches(islice(rows, job.shard_size), ROW_GROUP_ROWS):
                writer.write_table(table(job, group, arrow_schema))
        names.append(name)
    return names


def table(
    job: ExportJob, rows: Sequence[tuple[str, ExportImage]], arrow_schema: pa.Schema
) -> pa.Table:
    """One row group."""
    labels = [job.label(image.entry) for _, image in rows]
    columns = {
        "image": [
            {"bytes": image.data, "path": f"{stem}{image.extension}"} for stem, image in rows
        ],
        "label": [NO_LABEL if wnid is None else job.class_index[wnid] for wnid in labels],
        "wnid": labels,
        "sha256": [image.entry.sha256 for _, image in rows],
        "width": [image.width for _, image in rows],
        "height": [image.height for _, image in rows],
        "objects": [_objects(job, image) for _, image in rows],
    }
    return pa.Table.from_pydict(columns, schema=arrow_schema)


def _objects(job: ExportJob, image: ExportImage) -> dict[str, list[Any]]:
    boxes = job.boxes(image)
    return {
        "bbox": [[b.xmin, b.ymin, b.xmax - b.xmin, b.ymax - b.ymin] for b in boxes],
        "category": [job.class_index[b.wnid] for b in boxes],
    }


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    stream = iter(items)
    while batch := list(islice(stream, size)):
        yield batch


EXPORTER = register(
    Exporter(
        name="parquet",
        summary="data/<split>-NNNNN-of-NNNNN.parquet with Hugging Face Image/ClassLabel features",
        write=write,
    )
)
