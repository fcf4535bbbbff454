"""The classes a source names up front (a classes file, a class map, a manifest's labels),
and the check that every one is a known class before a run writes anything.

Without the check, one mistyped wnid would reject every image of its class one by one, as
``unknown-label`` files, and the run would still succeed. With it, the run stops before it
records anything, naming each bad line and what it may have meant.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from synsetlab.ingest.records import NamedClass, SourceError
from synsetlab.taxonomy import Taxonomy

#: Bad classes that get suggestions: each costs a search of the taxonomy.
_SUGGESTED = 5
#: Bad classes listed by name in the message; the rest are counted.
_LISTED = 10


class UnknownClassError(SourceError):
    """A classes file, class map or manifest names classes the workspace does not know."""


def read_classes_file(path: Path) -> list[NamedClass]:
    """A classes file, one class a line: line i (counting neither blank lines nor lines that
    start with "#") is label i. Only a line's first word is the class; the rest is a note."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SourceError(f"cannot read the classes file {path} ({e})") from e
    named = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split(maxsplit=1)
        if words and not words[0].startswith("#"):
            note = words[1].strip() if len(words) > 1 else ""
            named.append(NamedClass(words[0], f"{path.name}:{number}", note))
    return named


def check_classes(named: Iterable[NamedClass], taxonomy: Taxonomy) -> None:
    """Raise :class:`UnknownClassError` naming every class of ``named`` that ``taxonomy``
    lacks (WordNet 3.0 nouns and the workspace's own classes), with close names for each."""
    bad = [c for c in named if c.label not in taxonomy]
    if not bad:
        return
    listed = "; ".join(
        f"{c.where} {c.label!r}" + (_did_you_mean(c, taxonomy) if i < _SUGGESTED else "")
        for i, c in enumerate(bad[:_LISTED])
    )
    more = f"; and {len(bad) - _LISTED} more" if len(bad) > _LISTED else ""
    noun = "class is" if len(bad) == 1 else "classes are"
    raise UnknownClassError(
        f"nothing was ingested: {len(bad)} {noun} neither a WordNet 3.0 noun synset nor a "
        f"class of this workspace: {listed}{more}. Correct them (`synsetlab taxonomy search "
        "TEXT` finds wnids) or add your own with `synsetlab taxonomy add`, then run again"
    )


def _did_you_mean(c: NamedClass, taxonomy: Taxonomy) -> str:
    """`` (did you mean n02872752 boot?)``, or nothing when nothing is close."""
    close = taxonomy.suggest(c.label, limit=3)
    if c.note:
        # Wnids one digit off are many; the class's own name picks among them, or adds to them.
        by_note = taxonomy.search(c.note, limit=3)
        both = [s for s in close if s in by_note]
        close = both or list(dict.fromkeys([*close, *by_note]))[:4]
    if not close:
        return ""
    return " (did you mean " + ", ".join(f"{s.wnid} {s.name}" for s in close) + "?)"
