"""`synsetlab taxonomy`: browse the WordNet 3.0 noun hierarchy and choose a challenge's classes."""

import functools
import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from synsetlab.cli.context import (
    console,
    current_taxonomy,
    current_workspace,
    err_console,
    user_errors,
)
from synsetlab.taxonomy import (
    WNID_PATTERN,
    CustomClass,
    Synset,
    Taxonomy,
    UnknownSynsetError,
    ilsvrc2012_id_to_index,
    ilsvrc2012_wnids,
    select_classes,
)

app = typer.Typer(
    help="Browse the WordNet 3.0 noun hierarchy and the ILSVRC-2012 classes; choose classes.",
    no_args_is_help=True,
)

_MAX_CHILDREN_SHOWN = 30

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class Order(str, Enum):
    """How to order the ILSVRC-2012 classes."""

    id = "id"
    sorted = "sorted"


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@functools.cache
def _ilsvrc_positions() -> dict[str, tuple[int, int]]:
    """wnid -> (ILSVRC2012_ID, class index) for the 1000 ILSVRC-2012 classes."""
    return {
        wnid: (ilsvrc_id, index)
        for (ilsvrc_id, index), wnid in zip(
            ilsvrc2012_id_to_index().items(), ilsvrc2012_wnids("id"), strict=True
        )
    }


def _describe(taxonomy: Taxonomy, synset: Synset) -> dict[str, Any]:
    wnid = synset.wnid
    ilsvrc = _ilsvrc_positions().get(wnid)
    return {
        "wnid": wnid,
        "lemmas": list(synset.lemmas),
        "gloss": synset.gloss,
        "custom": synset.custom,
        "depth": taxonomy.depth(wnid),
        "height": taxonomy.height(wnid),
        "hypernyms": list(synset.hypernyms),
        "instance_hypernyms": list(synset.instance_hypernyms),
        "hypernym_paths": taxonomy.hypernym_paths(wnid),
        "children": taxonomy.children(wnid),
        "ilsvrc2012_id": ilsvrc[0] if ilsvrc else None,
        "ilsvrc2012_index": ilsvrc[1] if ilsvrc else None,
    }


def _print_description(taxonomy: Taxonomy, info: dict[str, Any]) -> None:
    out = console
    kind = " [magenta](workspace class)[/magenta]" if info["custom"] else ""
    lemmas = escape(", ".join(info["lemmas"]))
    out.print(f"[bold cyan]{info['wnid']}[/bold cyan]  [bold]{lemmas}[/bold]{kind}")
    out.print(f"  {escape(info['gloss'])}")
    facts = f"  depth {info['depth']}, height {info['height']}"
    if info["ilsvrc2012_id"] is not None:
        facts += (
            f", ILSVRC-2012 class (ID {info['ilsvrc2012_id']}, index {info['ilsvrc2012_index']})"
        )
    out.print(facts)
    for path in info["hypernym_paths"]:
        names = " > ".join(taxonomy.get(w).name for w in path)
        out.print(f"  path: {escape(names)}")
    children = info["children"]
    out.print(f"  children: {len(children)}")
    for wnid in children[:_MAX_CHILDREN_SHOWN]:
        out.print(f"    {wnid}  {escape(taxonomy.get(wnid).name)}")
    if len(children) > _MAX_CHILDREN_SHOWN:
        out.print(f"    ... and {len(children) - _MAX_CHILDREN_SHOWN} more")


def _synset_table(taxonomy: Taxonomy, wnids: list[str], *, title: str | None = None) -> Table:
    table = Table(title=title)
    table.add_column("#", justify="right")
    table.add_column("wnid", no_wrap=True, style="cyan")
    table.add_column("name")
    table.add_column("gloss")
    for i, wnid in enumerate(wnids, start=1):
        synset = taxonomy.get(wnid)
        table.add_row(str(i), wnid, escape(", ".join(synset.lemmas)), escape(synset.gloss))
    return table


def _write_wnids(path: Path, wnids: list[str]) -> None:
    path.write_text("".join(f"{wnid}\n" for wnid in wnids), encoding="utf-8")
    err_console.print(f"wrote {len(wnids)} wnids to {escape(str(path))}")


@app.command()
def show(
    wnid_or_lemma: Annotated[
        str, typer.Argument(metavar="WNID_OR_LEMMA", help="A wnid, a class id, or a lemma.")
    ],
    json_: JsonOption = False,
) -> None:
    """Show a synset: lemmas, gloss, depth, hypernym paths up to 'entity', and children.

    Given a lemma, shows every synset it names, e.g. `synsetlab taxonomy show crane`.
    """
    taxonomy = current_taxonomy()
    with user_errors():
        key = wnid_or_lemma.strip()
        synsets = [taxonomy.get(key)] if key in taxonomy else taxonomy.lookup(key)
        if not synsets:
            raise UnknownSynsetError(key, lemma=not WNID_PATTERN.fullmatch(key))
        infos = [_describe(taxonomy, s) for s in synsets]
    if json_:
        _print_json(infos)
        return
    for i, info in enumerate(infos):
        if i:
            console.print()
        _print_description(taxonomy, info)


@app.command()
def search(
    text: Annotated[str, typer.Argument(help="Words to look for in lemmas and glosses.")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Most results shown.")] = 20,
    json_: JsonOption = False,
) -> None:
    """Find synsets by lemma or gloss, exact lemma matches first, then by the words apart
    (singular or plural, any order), e.g. `search "sea snake"`, `search "ankle boot"`."""
    taxonomy = current_taxonomy()
    with user_errors():
        found = taxonomy.search(text, limit=limit)
    if json_:
        _print_json([{"wnid": s.wnid, "lemmas": list(s.lemmas), "gloss": s.gloss} for s in found])
        return
    if not found:
        by_name: dict[str, list[str]] = {}
        for s in taxonomy.close_names(text):  # the search above found nothing: not again
            by_name.setdefault(s.name, []).append(s.wnid)
        hint = "; ".join(f"{name} ({', '.join(wnids)})" for name, wnids in by_name.items())
        err_console.print(
            f"nothing matches {escape(repr(text))}"
            + (f"; close names: {escape(hint)}" if hint else "; try fewer or other words")
        )
        raise typer.Exit(1)
    console.print(_synset_table(taxonomy, [s.wnid for s in found]))


@app.command()
def select(
    under: Annotated[
        list[str],
        typer.Option(
            "--under", "-u", help="Pick below this wnid (or unambiguous lemma); repeatable."
        ),
    ],
    count: Annotated[
        int | None,
        typer.Option("--count", "-n", min=1, help="How many classes; default: all available."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same pick.")] = 0,
    ilsvrc: Annotated[
        bool, typer.Option("--ilsvrc", help="Pick only among the 1000 ILSVRC-2012 classes.")
    ] = False,
    leaves_only: Annotated[
        bool,
        typer.Option(
            "--leaves-only/--any-level",
            help="Pick only leaves of the pool, or allow a synset above others in their place.",
        ),
    ] = True,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also write one wnid per line here.")
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Choose COUNT classes below the given synsets, none an ancestor of another (ILSVRC's rule).

    The choice is spread across the branches of the hierarchy and fixed by --seed, e.g.
    `synsetlab taxonomy select --under n01503061 --count 50` picks 50 kinds of bird.
    """
    taxonomy = current_taxonomy()
    with user_errors():
        roots = [taxonomy.resolve(u) for u in under]
        wnids = select_classes(
            taxonomy,
            roots,
            count,
            seed=seed,
            candidates=ilsvrc2012_wnids() if ilsvrc else None,
            leaves_only=leaves_only,
        )
        if output is not None:
            _write_wnids(output, wnids)
    if json_:
        _print_json(
            [
                {"wnid": w, "name": taxonomy.get(w).name, "gloss": taxonomy.get(w).gloss}
                for w in wnids
            ]
        )
        return
    where = ", ".join(f"{taxonomy.get(r).name} ({r})" for r in roots)
    console.print(
        _synset_table(
            taxonomy, wnids, title=f"{len(wnids)} classes under {escape(where)}, seed {seed}"
        )
    )


@app.command()
def lca(
    a: Annotated[str, typer.Argument(help="A wnid, class id or unambiguous lemma.")],
    b: Annotated[str, typer.Argument(help="Another one.")],
) -> None:
    """Show the lowest common ancestor of two synsets, e.g. `lca n01530575 n01531178` (finch)."""
    taxonomy = current_taxonomy()
    with user_errors():
        first, second = taxonomy.resolve(a), taxonomy.resolve(b)
        common = taxonomy.lowest_common_ancestor(first, second)
        synset = taxonomy.get(common)
        depth = taxonomy.depth(common)
    console.print(
        f"[bold cyan]{common}[/bold cyan]  [bold]{escape(synset.name)}[/bold]  (depth {depth})"
        f"\n  {escape(synset.gloss)}"
    )


@app.command()
def ancestors(
    wnid: Annotated[str, typer.Argument(help="A wnid, class id or unambiguous lemma.")],
) -> None:
    """List every ancestor of a synset, root ('entity') first.

    Example: synsetlab taxonomy ancestors n01530575
    """
    taxonomy = current_taxonomy()
    with user_errors():
        key = taxonomy.resolve(wnid)
        found = taxonomy.ancestors(key)
    _print_by_depth(taxonomy, found, f"ancestors of {escape(taxonomy.get(key).name)} ({key})")


@app.command()
def descendants(
    wnid: Annotated[str, typer.Argument(help="A wnid, class id or unambiguous lemma.")],
    leaves: Annotated[bool, typer.Option("--leaves", help="Only the leaves below it.")] = False,
    output: Annotated[
        Path | None, typer.Option(help="Also write the wnids to this file, one per line.")
    ] = None,
) -> None:
    """List every synset below a synset (hyponyms, transitively), shallowest first.

    Example: synsetlab taxonomy descendants n01529672 --leaves
    """
    taxonomy = current_taxonomy()
    with user_errors():
        key = taxonomy.resolve(wnid)
        found = taxonomy.leaves_under(key) if leaves else taxonomy.descendants(key)
        if output is not None:
            _write_wnids(output, sorted(found))
    what = "leaves" if leaves else "descendants"
    _print_by_depth(taxonomy, found, f"{len(found)} {what} of {escape(taxonomy.get(key).name)}")


def _print_by_depth(taxonomy: Taxonomy, wnids: set[str], title: str) -> None:
    table = Table(title=title)
    table.add_column("depth", justify="right")
    table.add_column("wnid", no_wrap=True, style="cyan")
    table.add_column("name")
    for w in sorted(wnids, key=lambda w: (taxonomy.depth(w), w)):
        table.add_row(str(taxonomy.depth(w)), w, escape(taxonomy.get(w).name))
    console.print(table)


@app.command()
def ilsvrc(
    order: Annotated[
        Order,
        typer.Option(help="'sorted': by wnid, as class index 0..999; 'id': by ILSVRC2012_ID."),
    ] = Order.sorted,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also write one wnid per line here.")
    ] = None,
) -> None:
    """List the 1000 ILSVRC-2012 classes: class index, ILSVRC2012_ID, wnid and name."""
    taxonomy = current_taxonomy()
    positions = _ilsvrc_positions()
    with user_errors():
        wnids = ilsvrc2012_wnids(order.value)
        if output is not None:
            _write_wnids(output, wnids)
    table = Table(
        title=f"ILSVRC-2012 classes, by {'wnid' if order is Order.sorted else 'ILSVRC2012_ID'}"
    )
    table.add_column("index", justify="right")
    table.add_column("ILSVRC2012_ID", justify="right")
    table.add_column("wnid", no_wrap=True, style="cyan")
    table.add_column("name")
    for wnid in wnids:
        ilsvrc_id, index = positions[wnid]
        table.add_row(str(index), str(ilsvrc_id), wnid, escape(taxonomy.get(wnid).name))
    console.print(table)


@app.command()
def add(
    class_id: str = typer.Argument(..., help="New class id, e.g. 'travel-mug' (not n + 8 digits)."),
    name: str = typer.Option(..., help="Human-readable name, e.g. 'travel mug'."),
    parent: str = typer.Option(..., help="Parent synset wnid (or another workspace class id)."),
    gloss: str = typer.Option("", help="One-line definition."),
) -> None:
    """Add a class of this workspace for what WordNet lacks; it behaves like a synset.

    Example: synsetlab taxonomy add travel-mug --name "travel mug" --parent n03797390
    """
    with user_errors():
        ws = current_workspace()
        try:
            taxonomy = ws.add_class(CustomClass(class_id, name, gloss, parent))
        finally:
            ws.close()
        path = " > ".join(taxonomy.get(w).name for w in taxonomy.hypernym_paths(class_id)[0])
        console.print(f"added [bold]{escape(class_id)}[/bold]: {escape(path)}")
