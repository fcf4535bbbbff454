"""WordNet 3.0 ``data.noun`` parsing and the embedded file format built from it.

The embedded file ``data/wordnet30_nouns.tsv.gz`` is UTF-8 text, gzip with mtime 0, one header line
and then one line per synset sorted by wnid, with five tab-separated columns::

    wnid  lemmas (joined by '|')  hypernyms (' ')  instance hypernyms (' ')  gloss

Lemmas keep WordNet's spelling and order with underscores turned into spaces.
``scripts/build_wordnet.py`` writes it; :func:`read_embedded` reads it.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from synsetlab.taxonomy.synset import Synset

__all__ = [
    "EMBEDDED_HEADER",
    "parse_data_noun",
    "parse_license",
    "read_embedded",
    "write_embedded",
]

EMBEDDED_HEADER = "#wnid\tlemmas\thypernyms\tinstance_hypernyms\tgloss"
_LEMMA_SEP = "|"
# data.noun opens with the licence, lines numbered and indented: "  14 WordNet 3.0 Copyright ..."
_LICENSE_LINE = re.compile(r"^\s+\d+ ?(.*?)\s*$")


def parse_data_noun(lines: Iterable[str]) -> Iterator[Synset]:
    """Yield the synsets of a WordNet 3.0 ``data.noun`` file, in file order.

    The record format is WordNet's wndb(5): ``offset lex_filenum ss_type w_cnt (word lex_id)*
    p_cnt (pointer_symbol offset pos source/target)* | gloss``, with ``w_cnt`` in hex.
    Only '@' (hypernym) and '@i' (instance hypernym) pointers are kept.
    """
    for number, line in enumerate(lines, start=1):
        if line.startswith(" "):
            continue  # licence header
        head, sep, gloss = line.partition(" | ")
        fields = head.split()
        try:
            if not sep or fields[2] != "n":
                raise ValueError("not a noun synset record")
            word_count = int(fields[3], 16)
            lemmas = tuple(fields[4 + 2 * i].replace("_", " ") for i in range(word_count))
            at = 4 + 2 * word_count
            pointer_count = int(fields[at])
            pointers = [fields[at + 1 + 4 * i : at + 5 + 4 * i] for i in range(pointer_count)]
        except (IndexError, ValueError) as e:
            raise ValueError(f"data.noun line {number} is not a wndb(5) noun record: {e}") from e
        hypernyms = tuple("n" + p[1] for p in pointers if p[0] == "@" and p[2] == "n")
        instances = tuple("n" + p[1] for p in pointers if p[0] == "@i" and p[2] == "n")
        yield Synset("n" + fields[0], lemmas, gloss.strip(), hypernyms, instances)


def parse_license(lines: Iterable[str]) -> str:
    """The licence text at the top of a WordNet database file, without line numbers."""
    text = []
    for line in lines:
        if not line.startswith(" "):
            break
        match = _LICENSE_LINE.match(line)
        text.append(match.group(1) if match else "")
    while text and not text[-1]:
        text.pop()
    if not text:
        raise ValueError("no licence header found: is this a WordNet database file?")
    return "\n".join(text) + "\n"


def write_embedded(synsets: Iterable[Synset], path: Path) -> None:
    """Write ``synsets`` in the embedded format, byte-identical for the same input."""
    rows = [EMBEDDED_HEADER]
    for s in sorted(synsets, key=lambda s: s.wnid):
        for lemma in s.lemmas:
            if _LEMMA_SEP in lemma or "\t" in lemma:
                raise ValueError(f"{s.wnid}: lemma {lemma!r} holds a separator character")
        rows.append(
            "\t".join(
                (
                    s.wnid,
                    _LEMMA_SEP.join(s.lemmas),
                    " ".join(s.hypernyms),
                    " ".join(s.instance_hypernyms),
                    s.gloss.replace("\t", " "),
                )
            )
        )
    buffer = io.BytesIO()
    # filename="" and mtime=0 keep the gzip header free of anything that changes between builds.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(("\n".join(rows) + "\n").encode("utf-8"))
    path.write_bytes(buffer.getvalue())


def read_embedded(data: bytes) -> list[Synset]:
    """Parse the gzip-compressed embedded file into synsets, in file (wnid) order."""
    text = gzip.decompress(data).decode("utf-8")
    lines = text.split("\n")
    if lines[0] != EMBEDDED_HEADER:
        raise ValueError(
            "the embedded WordNet file has an unexpected header; "
            "rebuild it with scripts/build_wordnet.py"
        )
    synsets = []
    for line in lines[1:]:
        if not line:
            continue
        wnid, lemmas, hypernyms, instances, gloss = line.split("\t")
        synsets.append(
            Synset(
                wnid,
                tuple(lemmas.split(_LEMMA_SEP)),
                gloss,
                tuple(hypernyms.split()),
                tuple(instances.split()),
            )
        )
    return synsets
