"""Challenge submission files as a model's predictions are written: the kaggle CSV.

Neutral ground: :mod:`synsetlab.train` writes submissions with it and
:mod:`synsetlab.challenge.formats` parses what it writes, and neither of those packages
imports the other.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

#: The header of a kaggle submission.
KAGGLE_HEADER = ("ImageId", "PredictionString")


def kaggle_csv(rows: Iterable[tuple[str, Sequence[str]]]) -> str:
    """A classification submission as a kaggle CSV: the ``ImageId,PredictionString`` header,
    then a row per ``(image id, wnids best first)``, sorted by image id (what
    :func:`synsetlab.challenge.formats.parse_submission` reads)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(KAGGLE_HEADER)
    writer.writerows((image_id, " ".join(wnids)) for image_id, wnids in sorted(rows))
    return buf.getvalue()


__all__ = ["KAGGLE_HEADER", "kaggle_csv"]
