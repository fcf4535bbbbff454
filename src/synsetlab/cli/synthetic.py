"""``synsetlab synthetic``: write the synthetic figure dataset used by tests and the quickstart."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from synsetlab.cli.context import console, user_errors
from synsetlab.synthetic import (
    SHAPE_CLASSES,
    SceneConfig,
    SceneReport,
    SyntheticConfig,
    SyntheticConfigError,
    SyntheticReport,
    generate,
    generate_scenes,
)

app = typer.Typer(
    help="Synthetic ImageNet-style datasets of plane figures, with planted faults and their truth.",
    no_args_is_help=True,
)

_DEFAULTS = SyntheticConfig()
#: Options of one kind only: given with the other kind, they are refused, not ignored.
FIGURE_ONLY = ("size_jitter", "png_fraction", "lying_extension_rate", "exact_duplicate_rate",
               "near_duplicate_rate", "corrupt_rate", "wrong_label_rate")  # fmt: skip
SCENE_ONLY = ("max_objects", "max_iou", "loose_box_rate", "missing_box_rate", "wrong_class_rate")
_SCENE_DEFAULTS = SceneConfig()
#: What ``--kind`` takes: one figure an image, or several with boxes.
KINDS = ("figures", "scenes")
_WNID_BY_NAME = {name: wnid for wnid, name in SHAPE_CLASSES.items()}


@app.callback()
def _group() -> None:
    """Synthetic ImageNet-style datasets of plane figures, with planted faults and their truth."""


def parse_size(text: str) -> tuple[int, int]:
    """``"96x96"`` -> ``(96, 96)`` (width, height in pixels)."""
    width, sep, height = text.lower().partition("x")
    if not (sep and width.strip().isdigit() and height.strip().isdigit()):
        raise SyntheticConfigError(f"--size must look like WIDTHxHEIGHT, e.g. 96x96; got {text!r}")
    return int(width), int(height)


def parse_classes(text: str) -> tuple[str, ...]:
    """Comma-separated wnids or class names (``circle``) -> wnids; unknown entries pass through
    unchanged for the config to reject with the list of known classes."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    return tuple(_WNID_BY_NAME.get(item, item) for item in items)


@app.command("generate")
def generate_command(
    ctx: typer.Context,
    out: Annotated[
        Path, typer.Argument(help="Folder to write the dataset to (created if absent).")
    ],
    per_class: Annotated[
        int, typer.Option(help="Clean images per class, before faults are planted.")
    ] = _DEFAULTS.per_class,
    classes: Annotated[
        str | None,
        typer.Option(help="Comma-separated wnids or names of the classes; default: all ten."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed; the same options give identical files.")] = (
        _DEFAULTS.seed
    ),
    kind: Annotated[
        str,
        typer.Option(
            help="figures: one figure an image, with file faults; scenes: several figures an "
            "image with their boxes, in the Kaggle LOC layout, with box faults."
        ),
    ] = "figures",
    size: Annotated[
        str | None,
        typer.Option(
            help="WIDTHxHEIGHT in pixels (figures vary around it); default: {}x{} for figures, "
            "{}x{} for scenes.".format(*_DEFAULTS.image_size, *_SCENE_DEFAULTS.image_size)
        ),
    ] = None,
    size_jitter: Annotated[
        float, typer.Option(help="Relative per-image variation of width and height, in [0, 0.5).")
    ] = _DEFAULTS.size_jitter,
    png_fraction: Annotated[
        float, typer.Option(help="Share of clean images saved as PNG (the rest JPEG).")
    ] = _DEFAULTS.png_fraction,
    lying_extension_rate: Annotated[
        float, typer.Option(help="Share of clean images saved as PNG under a .jpg name.")
    ] = _DEFAULTS.lying_extension_rate,
    exact_duplicate_rate: Annotated[
        float, typer.Option(help="Byte-identical copies to add, per clean image.")
    ] = _DEFAULTS.exact_duplicate_rate,
    near_duplicate_rate: Annotated[
        float, typer.Option(help="Transformed copies to add, per clean image.")
    ] = _DEFAULTS.near_duplicate_rate,
    corrupt_rate: Annotated[
        float, typer.Option(help="Undecodable files to add, per clean image.")
    ] = _DEFAULTS.corrupt_rate,
    wrong_label_rate: Annotated[
        float, typer.Option(help="Share of clean images filed under a wrong class.")
    ] = _DEFAULTS.wrong_label_rate,
    max_objects: Annotated[
        int, typer.Option(help="Scenes: most objects an image holds (1 to this many).")
    ] = _SCENE_DEFAULTS.max_objects,
    max_iou: Annotated[
        float, typer.Option(help="Scenes: largest IoU allowed between two objects' boxes.")
    ] = _SCENE_DEFAULTS.max_iou,
    loose_box_rate: Annotated[
        float, typer.Option(help="Scenes: share of objects annotated with a loose box.")
    ] = _SCENE_DEFAULTS.loose_box_rate,
    missing_box_rate: Annotated[
        float, typer.Option(help="Scenes: share of objects left without a box.")
    ] = _SCENE_DEFAULTS.missing_box_rate,
    wrong_class_rate: Annotated[
        float, typer.Option(help="Scenes: share of objects whose box names another class.")
    ] = _SCENE_DEFAULTS.wrong_class_rate,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace images/, manifest.csv and truth.json of an earlier run in OUT."
        ),
    ] = False,
) -> None:
    """Write images/<wnid>/*, manifest.csv and truth.json to OUT (--kind scenes: the Kaggle
    LOC layout with boxes, for `synsetlab ingest kaggle-loc OUT`, and truth.json).

    Example: synsetlab synthetic generate shapes/ --per-class 40 --seed 0

    Example: synsetlab synthetic generate scenes/ --kind scenes --per-class 100
    """
    with user_errors():
        if kind not in KINDS:
            raise SyntheticConfigError(f"--kind must be one of {', '.join(KINDS)}; got {kind!r}")
        other = FIGURE_ONLY if kind == "scenes" else SCENE_ONLY
        # By name: typer may bring its own copy of click's ParameterSource.
        given = [
            n for n in other if getattr(ctx.get_parameter_source(n), "name", "") == "COMMANDLINE"
        ]
        if given:
            names = ", ".join("--" + n.replace("_", "-") for n in given)
            raise SyntheticConfigError(
                f"{names} {'has' if len(given) == 1 else 'have'} no effect with --kind {kind}: "
                f"leave {'it' if len(given) == 1 else 'them'} out"
            )
        class_list = parse_classes(classes) if classes is not None else _DEFAULTS.classes
        if kind == "scenes":
            scene_config = SceneConfig(
                classes=class_list,
                per_class=per_class,
                image_size=parse_size(size) if size else _SCENE_DEFAULTS.image_size,
                seed=seed,
                max_objects=max_objects,
                max_iou=max_iou,
                loose_box_rate=loose_box_rate,
                missing_box_rate=missing_box_rate,
                wrong_class_rate=wrong_class_rate,
            )
            scenes = generate_scenes(out, scene_config, overwrite=force)
            console.print(scene_table(scenes, scene_config))
            return
        config = SyntheticConfig(
            classes=class_list,
            per_class=per_class,
            image_size=parse_size(size) if size else _DEFAULTS.image_size,
            size_jitter=size_jitter,
            seed=seed,
            png_fraction=png_fraction,
            lying_extension_rate=lying_extension_rate,
            exact_duplicate_rate=exact_duplicate_rate,
            near_duplicate_rate=near_duplicate_rate,
            corrupt_rate=corrupt_rate,
            wrong_label_rate=wrong_label_rate,
        )
        report = generate(out, config, overwrite=force)
    console.print(summary_table(report, config))


def _breakdown(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))


def summary_table(report: SyntheticReport, config: SyntheticConfig) -> Table:
    """What was written and planted, one row per kind of file or fault."""
    counts = report.counts
    table = Table(title=f"Synthetic dataset in {report.out_dir}", title_justify="left")
    table.add_column("what")
    table.add_column("files", justify="right")
    table.add_column("detail")
    classes = f"{len(config.classes)} classes x {config.per_class}, {counts['png']} PNG"
    table.add_row("clean images", str(counts["clean"]), classes)
    table.add_row("  wrong label", str(counts["wrong-label"]), "filed under another class")
    table.add_row("  lying extension", str(counts["lying-extension"]), "PNG bytes named .jpg")
    table.add_row("exact duplicates", str(counts["exact-duplicate"]), "byte-identical copies")
    table.add_row("near duplicates", str(counts["near-duplicate"]), _breakdown(report.transforms))
    table.add_row("corrupt files", str(counts["corrupt"]), _breakdown(report.defects))
    table.add_row("total", str(counts["total"]), f"written in {report.seconds:.1f} s")
    table.caption = f"manifest: {report.manifest}   truth: {report.truth}"
    return table


def scene_table(report: SceneReport, config: SceneConfig) -> Table:
    """What a scene generation wrote and planted."""
    counts = report.counts
    table = Table(title=f"Synthetic scenes in {report.out_dir}", title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("detail")
    size = "{}x{}".format(*config.image_size)
    table.add_row("images", str(counts["images"]), f"{len(config.classes)} classes x "
                  f"{config.per_class}, {size} px, label = largest object")  # fmt: skip
    table.add_row("objects", str(counts["objects"]), f"1 to {config.max_objects} an image")
    table.add_row("boxes annotated", str(counts["boxes"]), "in LOC_train_solution.csv")
    table.add_row("  loose", str(counts["loose"]), "grown by {}-{}x".format(*config.loose_factor))
    table.add_row("  missing", str(counts["missing"]), "objects without a box")
    table.add_row("  wrong class", str(counts["wrong-class"]), "box names another class")
    table.caption = (
        f"ingest: synsetlab ingest kaggle-loc {report.out_dir}   truth: {report.truth}   "
        f"written in {report.seconds:.1f} s"
    )
    return table
