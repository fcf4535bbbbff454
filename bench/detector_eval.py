"""Detector evaluation: the ILSVRC DET mean AP against pycocotools' COCO mAP on one split.

A hand-made split, built here in memory: ``--images`` images of 500 x 375 px over
``--classes`` classes (ILSVRC DET has 200), 1 to 5 ground-truth objects an image, and
``--per-image`` detections an image (each object found with a jittered box, the rest false
detections of random classes and boxes, random scores). Timed, best of ``--repeats``:

- ``ground truth``: :func:`synsetlab.detect.evaluate.ground_truth` from the manifest;
- ``DET mean AP``: rows, matching and per-class APs (:mod:`synsetlab.metrics.detection`);
- ``DET interval``: its bootstrap interval (200 resamples, as the challenge scorer);
- ``COCO (pycocotools)``: :func:`synsetlab.detect.evaluate.coco_metrics`, COCO built in
  memory, ``evaluate``/``accumulate``/``summarize`` (the baseline of the ratios);
- ``evaluate_detections``: all of it, as ``synsetlab evaluate-detector`` calls it.

Peak resident memory of the process is printed after the DET phases and again after COCO
(``ru_maxrss``: the second includes the first).

    python bench/detector_eval.py
    python bench/detector_eval.py --images 5000 --per-image 50
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable

import numpy as np

from synsetlab.detect.evaluate import (
    align_detections,
    coco_metrics,
    det_matches,
    detection_rows,
    evaluate_detections,
    ground_truth,
)
from synsetlab.detect.records import ImageDetections
from synsetlab.ingest.records import Box
from synsetlab.manifest import Manifest, ManifestEntry
from synsetlab.metrics.detection import mean_ap_interval

WIDTH, HEIGHT = 500, 375


def make_split(images: int, classes: int, per_image: int, seed: int) -> tuple[Manifest, list]:
    rng = np.random.default_rng(seed)
    wnids = tuple(f"n{i:08d}" for i in range(classes))
    entries, detections = [], []
    for i in range(images):
        n = int(rng.integers(1, 6))
        corner = rng.uniform(0, [WIDTH - 60, HEIGHT - 60], (n, 2))
        side = rng.uniform(10, 200, (n, 2))
        far = np.minimum(corner + side, [WIDTH - 1, HEIGHT - 1])
        boxes = np.round(np.column_stack([corner, far]))
        labels = rng.integers(0, classes, n)
        sha = f"{i:064x}"
        entries.append(
            ManifestEntry(
                image_id=i, sha256=sha, wnid=wnids[labels[0]], split="val", hidden=False,
                source="bench", source_key=str(i), format="JPEG", width=WIDTH, height=HEIGHT,
                boxes=tuple(Box(wnids[c], *b) for c, b in zip(labels, boxes.tolist(), strict=True)),
            )
        )  # fmt: skip
        k = per_image - n
        found = boxes + rng.normal(0, 4, boxes.shape)
        false_corner = rng.uniform(0, [WIDTH - 60, HEIGHT - 60], (k, 2))
        false = np.column_stack([false_corner, false_corner + rng.uniform(10, 150, (k, 2))])
        b = np.concatenate([found, false])
        b[:, 2:] = np.maximum(b[:, 2:], b[:, :2])
        detections.append(
            ImageDetections(
                sha256=sha,
                boxes=b,
                scores=rng.uniform(0, 1, per_image),
                labels=np.r_[labels, rng.integers(0, classes, k)].astype(np.int64),
            )
        )
    return Manifest(classes=wnids, entries=tuple(entries)), detections


def best_of(repeats: int, fn: Callable[[], object]) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--classes", type=int, default=200)
    parser.add_argument("--per-image", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    manifest, detections = make_split(args.images, args.classes, args.per_image, args.seed)
    print(f"{args.images} images, {args.classes} classes, {args.per_image} detections an image")
    print(f"peak RSS after building the split: {peak_mib():.0f} MiB")
    t_truth, truth = best_of(args.repeats, lambda: ground_truth(manifest, "val"))
    c = len(truth.classes)

    def det() -> tuple:
        rows = detection_rows(align_detections(detections, truth), num_classes=c)
        matches = det_matches(rows, truth)
        return rows, matches, matches.mean_ap()

    t_det, (rows, matches, det_map) = best_of(args.repeats, det)
    t_interval, bounds = best_of(
        args.repeats, lambda: mean_ap_interval(matches, resamples=200, seed=0)
    )
    det_peak = peak_mib()
    t_coco, coco = best_of(args.repeats, lambda: coco_metrics(rows, truth))
    t_all, _ = best_of(args.repeats, lambda: evaluate_detections(detections, truth))
    print(f"{truth.n_objects} objects, {len(rows)} detections")
    print(f"DET mean AP {det_map:.4f} (95% {bounds[0]:.4f}-{bounds[1]:.4f}); "
          f"COCO mAP {coco.map:.4f}, AP50 {coco.ap50:.4f}")  # fmt: skip
    print(f"{'phase':<24}{'seconds':>10}{'x COCO':>10}")
    for name, t in [
        ("ground truth", t_truth), ("DET mean AP", t_det), ("DET interval (200)", t_interval),
        ("COCO (pycocotools)", t_coco), ("evaluate_detections", t_all),
    ]:  # fmt: skip
        print(f"{name:<24}{t:>10.3f}{t / t_coco:>10.3f}")
    print(f"peak RSS: {det_peak:.0f} MiB after the DET phases, {peak_mib():.0f} MiB after COCO")


if __name__ == "__main__":
    main()
