"""Simulated box crowd on synthetic scenes: boxes WITH the verification steps (draw, quality,
coverage through next_box_task / submit_box_task on a real SQLite catalog) against WITHOUT
them (one drawing pass, every drawn box accepted), in the same run on the same truth.

Prints, for each: mean IoU of accepted boxes to the true boxes, share of true objects an
accepted box covers (IoU >= 0.5), boxes accepted per annotator action, annotator seconds per
accepted box; then wall time and peak RSS.

    .venv/bin/python bench/annotate_boxes.py [--per-class 10] [--workers 30] [--spammers 0.1]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select
from tests.annotate.boxes_world import CLASSES, build

from synsetlab.annotate.box_crowd import BoxCrowdConfig, SimulatedBoxCrowd
from synsetlab.annotate.box_projects import create_box_project
from synsetlab.annotate.box_run import box_truth, draw_only, simulate_box_project
from synsetlab.catalog.annotation import BoxItem
from synsetlab.taxonomy import Taxonomy
from synsetlab.workspace import open_workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--gold-per-class", type=int, default=5)
    parser.add_argument("--workers", type=int, default=30)
    parser.add_argument("--spammers", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        ws = open_workspace(build(Path(tmp), gold_per_class=args.gold_per_class,
                                  per_class=args.per_class))  # fmt: skip
        with ws.session() as s:
            create_box_project(s, "bench", taxonomy=Taxonomy.wordnet(), classes=list(CLASSES))
        truth = box_truth(ws, "bench")
        config = BoxCrowdConfig(workers=args.workers, spammers=args.spammers, seed=args.seed)
        sim_start = time.perf_counter()
        verified = simulate_box_project(ws, "bench", SimulatedBoxCrowd(config), truth)
        sim_seconds = time.perf_counter() - sim_start
        with ws.session() as s:
            items = list(s.scalars(select(BoxItem.id).where(BoxItem.gold.is_(False))))
        plain = draw_only(SimulatedBoxCrowd(config), truth, items)
        ws.close()
    print(
        f"scenes: {len(items)} images to box, {verified.objects} true objects; "
        f"{args.workers} workers ({args.spammers:.0%} spammers), seed {args.seed}"
    )
    header = f"{'':<22}{'mean IoU':>9}{'covered':>9}{'boxes/action':>14}{'s/box':>8}{'actions':>9}"
    print(header)
    for name, run in (("with verification", verified), ("without (draw only)", plain)):
        per_action = run.accepted / run.total_actions if run.total_actions else float("nan")
        per_box = run.seconds / run.accepted if run.accepted else float("nan")
        print(
            f"{name:<22}{run.mean_iou:>9.3f}{run.object_coverage:>9.3f}{per_action:>14.3f}"
            f"{per_box:>8.1f}{run.total_actions:>9d}"
        )
    print(
        f"with verification: {dict(verified.actions)}, {verified.accepted} accepted of "
        f"{verified.drawn} drawn, {verified.covered}/{verified.items} images covered, "
        f"{len(verified.stopped)} workers stopped; simulation {sim_seconds:.1f} s"
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"total {time.perf_counter() - start:.1f} s, peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
