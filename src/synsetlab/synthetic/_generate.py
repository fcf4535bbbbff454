"""Planning and writing a synthetic dataset: which images get which faults, then the files."""

from __future__ import annotations

import hashlib
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synsetlab.synthetic._config import SHAPE_CLASSES, SyntheticConfig, planted_count
from synsetlab.synthetic._faults import (
    CORRUPT_DEFECTS,
    NEAR_DUPLICATE_TRANSFORMS,
    corrupt_payload,
    near_duplicate,
)
from synsetlab.synthetic._render import encode, jittered_size, render_figure
from synsetlab.synthetic._truth import (
    IMAGES_DIR,
    MANIFEST_NAME,
    TRUTH_NAME,
    FileTruth,
    SyntheticTruth,
    count_files,
    write_manifest,
    write_truth,
)

#: Independent random streams. Each image draws from its own generator keyed by
#: (stream, ...), so its pixels do not depend on how many other images come before it.
_STREAM_PLAN, _STREAM_CLEAN, _STREAM_NEAR, _STREAM_CORRUPT = range(4)
#: JPEG quality of clean images, drawn per image: the spread of qualities seen on the web.
_JPEG_QUALITY = (70, 96)


@dataclass(frozen=True)
class SyntheticReport:
    """What :func:`generate` wrote."""

    out_dir: Path
    images_dir: Path
    manifest: Path
    truth: Path
    #: Same as ``truth.json``'s counts: files per kind, "total", and for clean images "png",
    #: "lying-extension" and "wrong-label".
    counts: dict[str, int]
    #: Every file written under ``images/``, relative to ``out_dir``, in manifest order.
    files: tuple[str, ...] = field(repr=False)
    #: Near duplicates per transform (see ``NEAR_DUPLICATE_TRANSFORMS``).
    transforms: dict[str, int] = field(default_factory=dict)
    #: Corrupt files per defect (see ``CORRUPT_DEFECTS``).
    defects: dict[str, int] = field(default_factory=dict)
    #: Wall-clock time of the whole generation, in seconds.
    seconds: float = 0.0


@dataclass(frozen=True)
class _Clean:
    """A clean image as planned: drawn as ``true_wnid``, filed under ``given_wnid``."""

    true_wnid: str
    index: int  # within its class; with the wnid it keys the image's random stream
    given_wnid: str
    fmt: str
    lying_extension: bool


def generate(
    out_dir: Path, config: SyntheticConfig = SyntheticConfig(), *, overwrite: bool = False
) -> SyntheticReport:
    """Write a synthetic figure dataset to ``out_dir`` and return what was written.

    Layout: ``images/<given_wnid>/img_NNNNNN.(jpg|png)`` (the folder is the given, possibly
    wrong, label; names reveal nothing), ``manifest.csv`` (``path,wnid``, sorted by path) and
    ``truth.json`` (see :class:`~synsetlab.synthetic.SyntheticTruth`).

    Raises ``FileExistsError`` if ``out_dir`` is not empty, unless ``overwrite`` is set: then
    only ``images/``, ``manifest.csv`` and ``truth.json`` are removed first.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    _prepare_out_dir(out_dir, overwrite=overwrite)
    records = _write_files(out_dir, config)
    files = tuple(sorted(records, key=lambda record: record.path))
    truth = SyntheticTruth(config=config, files=files, counts=count_files(files))
    manifest = write_manifest(out_dir, files)
    truth_path = write_truth(out_dir, truth)
    return SyntheticReport(
        out_dir=out_dir,
        images_dir=out_dir / IMAGES_DIR,
        manifest=manifest,
        truth=truth_path,
        counts=truth.counts,
        files=tuple(record.path for record in files),
        transforms=dict(Counter(record.transform for record in files if record.transform)),
        defects=dict(Counter(record.defect for record in files if record.defect)),
        seconds=time.perf_counter() - started,
    )


def _prepare_out_dir(
    out_dir: Path,
    *,
    overwrite: bool,
    names: tuple[str, ...] = (IMAGES_DIR, MANIFEST_NAME, TRUTH_NAME),
) -> None:
    """Make ``out_dir`` an empty folder, or with ``overwrite`` remove ``names`` from it (what a
    generator writes there), keeping anything else."""
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"{out_dir} is a file; give a folder for the synthetic dataset")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"{out_dir} is not empty; pass overwrite=True (CLI: --force) to replace a "
                "synthetic dataset written there before, or choose an empty folder"
            )
        # Only what generate writes: anything else the user keeps there stays.
        for name in names:
            path = out_dir / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def _rng(seed: int, stream: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, *key)))


def _wnid_key(wnid: str) -> int:
    return int(wnid[1:])


def _plan_clean(config: SyntheticConfig, rng: np.random.Generator) -> list[_Clean]:
    """Every clean image with its format, extension and given label decided."""
    n_clean = config.n_clean
    png = rng.choice(n_clean, planted_count(config.png_fraction, n_clean), replace=False)
    # rng.choice returns a random order, so a prefix is a random subset of the PNGs.
    lying = set(png[: planted_count(config.lying_extension_rate, n_clean)].tolist())
    png_set = set(png.tolist())
    wrong = rng.choice(n_clean, planted_count(config.wrong_label_rate, n_clean), replace=False)
    wrong_label: dict[int, str] = {}
    for position in sorted(wrong.tolist()):
        true_wnid = config.classes[position // config.per_class]
        others = [wnid for wnid in config.classes if wnid != true_wnid]
        wrong_label[position] = others[int(rng.integers(len(others)))]
    plan = []
    for position in range(n_clean):
        true_wnid = config.classes[position // config.per_class]
        plan.append(
            _Clean(
                true_wnid=true_wnid,
                index=position % config.per_class,
                given_wnid=wrong_label.get(position, true_wnid),
                fmt="PNG" if position in png_set else "JPEG",
                lying_extension=position in lying,
            )
        )
    return plan


class _Namer:
    """Neutral file names from a shuffled counter, so a name says nothing about its truth."""

    def __init__(self, total: int, rng: np.random.Generator) -> None:
        self._numbers = rng.permutation(total).tolist()
        self._digits = max(6, len(str(total - 1)))

    def path(self, wnid: str, extension: str) -> str:
        number = self._numbers.pop()
        return f"{IMAGES_DIR}/{wnid}/img_{number:0{self._digits}d}.{extension}"


def _write_files(out_dir: Path, config: SyntheticConfig) -> list[FileTruth]:
    """Render, plant and write every file; returns their records (unordered)."""
    plan_rng = _rng(config.seed, _STREAM_PLAN)
    clean = _plan_clean(config, plan_rng)
    n_clean = len(clean)
    n_exact = planted_count(config.exact_duplicate_rate, n_clean)
    n_copies = n_exact + planted_count(config.near_duplicate_rate, n_clean)
    n_corrupt = planted_count(config.corrupt_rate, n_clean)
    # Distinct originals while there are enough, so duplicate groups are pairs.
    sources = plan_rng.choice(n_clean, n_copies, replace=n_copies > n_clean).tolist()
    corrupt_folders = plan_rng.choice(len(config.classes), n_corrupt).tolist()
    namer = _Namer(n_clean + n_copies + n_corrupt, plan_rng)
    for wnid in config.classes:
        (out_dir / IMAGES_DIR / wnid).mkdir(parents=True, exist_ok=True)

    written: list[tuple[bytes, FileTruth]] = [_clean_file(item, config, namer) for item in clean]
    for number, position in enumerate(sources):
        data, original = written[position]
        if number < n_exact:
            written.append((data, _exact_duplicate(original, namer)))
        else:
            written.append(_near_duplicate(data, original, number - n_exact, config, namer))
    for number, folder in enumerate(corrupt_folders):
        written.append(_corrupt_file(number, config.classes[folder], config, namer))
    for data, record in written:
        (out_dir / record.path).write_bytes(data)
    return [record for _, record in written]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _clean_file(item: _Clean, config: SyntheticConfig, namer: _Namer) -> tuple[bytes, FileTruth]:
    rng = _rng(config.seed, _STREAM_CLEAN, _wnid_key(item.true_wnid), item.index)
    size = jittered_size(config.image_size, config.size_jitter, rng)
    image = render_figure(SHAPE_CLASSES[item.true_wnid], size, rng)
    data = encode(image, item.fmt, quality=int(rng.integers(*_JPEG_QUALITY)))
    extension = "png" if item.fmt == "PNG" and not item.lying_extension else "jpg"
    record = FileTruth(
        path=namer.path(item.given_wnid, extension),
        given_wnid=item.given_wnid,
        true_wnid=item.true_wnid,
        kind="clean",
        sha256=_sha256(data),
        format=item.fmt,
        size=size,
        wrong_label=item.given_wnid != item.true_wnid,
        lying_extension=item.lying_extension,
    )
    return data, record


def _exact_duplicate(original: FileTruth, namer: _Namer) -> FileTruth:
    # Same folder and extension as the original: a second download of the same file.
    extension = original.path.rsplit(".", 1)[1]
    return FileTruth(
        path=namer.path(original.given_wnid, extension),
        given_wnid=original.given_wnid,
        true_wnid=original.true_wnid,
        kind="exact-duplicate",
        sha256=original.sha256,
        format=original.format,
        size=original.size,
        original=original.path,
        wrong_label=original.wrong_label,
        lying_extension=original.lying_extension,
    )


def _near_duplicate(
    data: bytes, original: FileTruth, number: int, config: SyntheticConfig, namer: _Namer
) -> tuple[bytes, FileTruth]:
    # Transforms in turn, so that every one occurs once there are five near duplicates.
    transform = NEAR_DUPLICATE_TRANSFORMS[number % len(NEAR_DUPLICATE_TRANSFORMS)]
    rng = _rng(config.seed, _STREAM_NEAR, number)
    copy, fmt, size, params = near_duplicate(data, transform, rng)
    record = FileTruth(
        path=namer.path(original.given_wnid, "png" if fmt == "PNG" else "jpg"),
        given_wnid=original.given_wnid,
        true_wnid=original.true_wnid,
        kind="near-duplicate",
        sha256=_sha256(copy),
        format=fmt,
        size=size,
        original=original.path,
        transform=transform,
        params=params,
        wrong_label=original.wrong_label,
    )
    return copy, record


def _corrupt_file(
    number: int, folder: str, config: SyntheticConfig, namer: _Namer
) -> tuple[bytes, FileTruth]:
    defect = CORRUPT_DEFECTS[number % len(CORRUPT_DEFECTS)]
    rng = _rng(config.seed, _STREAM_CORRUPT, number)
    picture = defect == "truncated-jpeg"
    size = jittered_size(config.image_size, config.size_jitter, rng)
    jpeg = encode(render_figure(SHAPE_CLASSES[folder], size, rng), "JPEG") if picture else b""
    data = corrupt_payload(defect, jpeg, rng)
    record = FileTruth(
        path=namer.path(folder, "jpg"),
        given_wnid=folder,
        true_wnid=folder if picture else None,
        kind="corrupt",
        sha256=_sha256(data),
        format="JPEG" if picture else None,
        size=size if picture else None,
        defect=defect,
    )
    return data, record
