"""``python -m synsetlab`` (what torchrun launches) runs the command line."""

from synsetlab.cli import main

main()
