"""The ground truth of a synthetic dataset: typed records, ``truth.json`` and ``manifest.csv``."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from synsetlab.synthetic._config import SyntheticConfig, SyntheticConfigError

Kind = Literal["clean", "exact-duplicate", "near-duplicate", "corrupt"]
#: Kinds of file, in the order they are counted and reported.
KINDS: tuple[str, ...] = ("clean", "exact-duplicate", "near-duplicate", "corrupt")

MANIFEST_NAME = "manifest.csv"
TRUTH_NAME = "truth.json"
IMAGES_DIR = "images"
#: Bumped when the layout of truth.json changes incompatibly.
TRUTH_FORMAT_VERSION = 1


@dataclass(frozen=True)
class FileTruth:
    """What one written file really is."""

    #: Relative to the dataset folder, with "/" separators: ``images/<given_wnid>/<name>``.
    path: str
    #: The label the folder gives the file (possibly wrong).
    given_wnid: str
    #: The class actually drawn; ``None`` for corrupt files that hold no picture at all.
    true_wnid: str | None
    kind: Kind
    #: Hex sha256 of the file's bytes.
    sha256: str
    #: Encoding of the bytes, "JPEG" or "PNG"; ``None`` for non-images (zero bytes, text, noise).
    format: str | None
    #: (width, height) in pixels of the encoded picture; ``None`` for non-images.
    size: tuple[int, int] | None
    #: Duplicates: path of the clean file they copy.
    original: str | None = None
    #: Near duplicates: the transform applied (see ``NEAR_DUPLICATE_TRANSFORMS``).
    transform: str | None = None
    #: Near duplicates: the transform's parameters (scale, quality, crop fractions, gains).
    params: dict[str, float] = field(default_factory=dict)
    #: Corrupt files: the defect (see ``CORRUPT_DEFECTS``).
    defect: str | None = None
    #: ``given_wnid != true_wnid``; duplicates inherit it from their original.
    wrong_label: bool = False
    #: PNG bytes under a ``.jpg`` name: a valid image whose extension lies.
    lying_extension: bool = False


@dataclass(frozen=True)
class SyntheticTruth:
    """All of ``truth.json``: the config that wrote the dataset, every file, and the counts."""

    config: SyntheticConfig
    #: One record per file, in manifest order (sorted by path).
    files: tuple[FileTruth, ...]
    #: Files per kind plus "total"; "png", "lying-extension" and "wrong-label" count clean images.
    counts: dict[str, int]

    def by_path(self) -> dict[str, FileTruth]:
        """The records keyed by their relative path."""
        return {record.path: record for record in self.files}


def count_files(files: tuple[FileTruth, ...]) -> dict[str, int]:
    """Counts per kind, the total, and the planted properties of clean images."""
    counts = {kind: sum(record.kind == kind for record in files) for kind in KINDS}
    counts["total"] = len(files)
    clean = [record for record in files if record.kind == "clean"]
    counts["png"] = sum(record.format == "PNG" for record in clean)
    counts["lying-extension"] = sum(record.lying_extension for record in clean)
    counts["wrong-label"] = sum(record.wrong_label for record in clean)
    return counts


def write_manifest(out_dir: Path, files: tuple[FileTruth, ...]) -> Path:
    """``manifest.csv``: header ``path,wnid`` then one row per file, as given (ingest's view)."""
    path = out_dir / MANIFEST_NAME
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["path", "wnid"])
        writer.writerows([record.path, record.given_wnid] for record in files)
    return path


def write_truth(out_dir: Path, truth: SyntheticTruth) -> Path:
    """``truth.json`` with the config, the counts and one object per file."""
    document = {
        "format_version": TRUTH_FORMAT_VERSION,
        "config": asdict(truth.config),
        "counts": truth.counts,
        "files": [asdict(record) for record in truth.files],
    }
    path = out_dir / TRUTH_NAME
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return path


def load_truth(out_dir: Path) -> SyntheticTruth:
    """Read ``out_dir/truth.json``, written by :func:`~synsetlab.synthetic.generate`.

    Raises FileNotFoundError when it is absent, :class:`SyntheticConfigError` when it was
    written in another format version or records a config that cannot be accepted.
    """
    path = Path(out_dir) / TRUTH_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"no {TRUTH_NAME} in {out_dir}; it is written by `synsetlab synthetic generate`"
        )
    document = json.loads(path.read_text(encoding="utf-8"))
    if document.get("kind") == "scenes":
        raise SyntheticConfigError(
            f"{path} is the truth of a scene dataset; read it with load_scene_truth"
        )
    version = document.get("format_version")
    if version != TRUTH_FORMAT_VERSION:
        raise SyntheticConfigError(
            f"{path} has format_version {version!r}; this synsetlab reads {TRUTH_FORMAT_VERSION}. "
            "Regenerate the dataset with this version."
        )
    files = tuple(_file_truth(item) for item in document["files"])
    return SyntheticTruth(
        config=SyntheticConfig(**document["config"]), files=files, counts=document["counts"]
    )


def _file_truth(item: dict[str, Any]) -> FileTruth:
    size = item.get("size")
    return FileTruth(**{**item, "size": tuple(size) if size is not None else None})
