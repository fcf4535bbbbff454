"""The ``synsetlab`` command line (the Typer app is in :mod:`synsetlab.cli.app`)."""


def main() -> None:
    """Console-script entry point."""
    # Imported here rather than at the top: ingest workers re-import the console script's module
    # (multiprocessing prepares each child from __main__), and the whole CLI takes 0.7 s to import.
    from synsetlab.cli.app import app

    app()
