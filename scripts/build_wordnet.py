"""Build the embedded WordNet 3.0 noun hierarchy of synsetlab.taxonomy from WordNet's data.noun.

Usage::

    python scripts/build_wordnet.py [DATA_NOUN] [--output-dir DIR]

DATA_NOUN defaults to /usr/share/wordnet/data.noun (Debian's wordnet-base). Writes
``wordnet30_nouns.tsv.gz`` and ``WORDNET_LICENSE.txt`` into DIR (default: the package's data
folder). The output is deterministic: rebuilding from the same data.noun gives identical bytes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from synsetlab.taxonomy._wndb import parse_data_noun, parse_license, write_embedded

DEFAULT_DATA_NOUN = Path("/usr/share/wordnet/data.noun")
DEFAULT_OUTPUT_DIR = Path(__file__).resolve().parents[1] / "src/synsetlab/taxonomy/data"
DATA_FILE = "wordnet30_nouns.tsv.gz"
LICENSE_FILE = "WORDNET_LICENSE.txt"


def build(data_noun: Path, output_dir: Path) -> tuple[Path, int]:
    """Write the embedded files from ``data_noun`` into ``output_dir``.

    Returns the path of the data file and the number of synsets written.
    """
    if not data_noun.is_file():
        raise FileNotFoundError(
            f"{data_noun} not found: install WordNet 3.0 (Debian/Ubuntu: apt-get install "
            "wordnet-base) or pass the path of its data.noun"
        )
    # WordNet's files are ASCII; latin-1 reads any byte, so a stray one cannot stop the build.
    with data_noun.open(encoding="latin-1") as f:
        lines = f.read().splitlines()
    synsets = list(parse_data_noun(lines))
    output_dir.mkdir(parents=True, exist_ok=True)
    data_path = output_dir / DATA_FILE
    write_embedded(synsets, data_path)
    (output_dir / LICENSE_FILE).write_text(parse_license(lines), encoding="utf-8")
    return data_path, len(synsets)


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and build."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_noun", nargs="?", type=Path, default=DEFAULT_DATA_NOUN)
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR)
    args = parser.parse_args(argv)
    data_path, count = build(args.data_noun, args.output_dir)
    size_mb = data_path.stat().st_size / 1e6
    print(f"wrote {count} noun synsets to {data_path} ({size_mb:.2f} MB)")


if __name__ == "__main__":
    main()
