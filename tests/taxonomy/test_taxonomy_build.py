"""scripts/build_wordnet.py: parsing WordNet's data.noun into the embedded, deterministic file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from synsetlab.taxonomy import Synset
from synsetlab.taxonomy._wndb import parse_data_noun, parse_license, read_embedded, write_embedded

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "build_wordnet.py"
SHIPPED = REPO / "src" / "synsetlab" / "taxonomy" / "data"
SYSTEM_DATA_NOUN = Path("/usr/share/wordnet/data.noun")

# A tiny data.noun in WordNet's own format: licence header, then records (wndb(5)).
FAKE_DATA_NOUN = """\
  1 This software and database is being provided to you, the LICENSEE, by  \n\
  2 Princeton University under the following license.  \n\
  3   \n\
  4 WordNet 3.0 Copyright 2006 by Princeton University.  All rights reserved.  \n\
00001740 03 n 01 entity 0 002 ~ 00001930 n 0000 ~ 09371360 n 0000 | that which exists  \n\
00001930 03 n 02 physical_entity 0 Physical_Thing 0 002 @ 00001740 n 0000 + 00692347 v 0101 \
| an entity that has physical existence; "a b"  \n\
09371360 17 n 02 Nile 0 Nile_River 0 002 @i 00001930 n 0000 #p 09189411 n 0000 | a river  \n\
"""


def build(data_noun: Path, output_dir: Path) -> None:
    subprocess.run(
        [sys.executable, str(SCRIPT), str(data_noun), "--output-dir", str(output_dir)],
        check=True,
        capture_output=True,
    )


def test_parse_fake_data_noun(tmp_path: Path) -> None:
    lines = FAKE_DATA_NOUN.splitlines()
    assert list(parse_data_noun(lines)) == [
        Synset("n00001740", ("entity",), "that which exists"),
        Synset(
            "n00001930",
            ("physical entity", "Physical Thing"),
            'an entity that has physical existence; "a b"',
            ("n00001740",),
        ),
        Synset("n09371360", ("Nile", "Nile River"), "a river", (), ("n00001930",)),
    ]
    assert parse_license(lines) == (
        "This software and database is being provided to you, the LICENSEE, by\n"
        "Princeton University under the following license.\n"
        "\n"
        "WordNet 3.0 Copyright 2006 by Princeton University.  All rights reserved.\n"
    )


def test_malformed_record_names_its_line() -> None:
    with pytest.raises(ValueError, match="line 2 is not a wndb"):
        list(parse_data_noun(["  1 licence", "00001740 03 n 05 entity 0 | cut short"]))


def test_round_trip_and_determinism(tmp_path: Path) -> None:
    data_noun = tmp_path / "data.noun"
    data_noun.write_text(FAKE_DATA_NOUN)
    build(data_noun, tmp_path / "a")
    build(data_noun, tmp_path / "b")
    first = (tmp_path / "a" / "wordnet30_nouns.tsv.gz").read_bytes()
    assert first == (tmp_path / "b" / "wordnet30_nouns.tsv.gz").read_bytes()
    assert read_embedded(first) == sorted(
        parse_data_noun(FAKE_DATA_NOUN.splitlines()), key=lambda s: s.wnid
    )
    assert (tmp_path / "a" / "WORDNET_LICENSE.txt").read_text().startswith("This software")


def test_separator_in_lemma_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="separator"):
        write_embedded([Synset("n00000001", ("a|b",), "")], tmp_path / "x.tsv.gz")


def test_shipped_files_rebuild_byte_identical(tmp_path: Path) -> None:
    if not SYSTEM_DATA_NOUN.is_file():
        reason = f"{SYSTEM_DATA_NOUN} is absent: install Debian's wordnet-base to run this check"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    build(SYSTEM_DATA_NOUN, tmp_path)
    for name in ("wordnet30_nouns.tsv.gz", "WORDNET_LICENSE.txt"):
        assert (tmp_path / name).read_bytes() == (SHIPPED / name).read_bytes(), name
