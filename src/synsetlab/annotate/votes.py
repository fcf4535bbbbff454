"""Vote tables: who answered yes or no to which verification question, and gold answers.

A vote table is a :class:`pandas.DataFrame` in crowd-kit's layout, one row per vote, in the
order the votes were cast:

=========  ==========================================================================
column     meaning
=========  ==========================================================================
task       the question: one (image, candidate synset) pair, any hashable id
worker     who answered, any hashable id
label      ``True`` = "yes, the image shows the synset", ``False`` = "no"
seconds    optional: how long the worker looked before answering (float, seconds)
=========  ==========================================================================

so that ``crowdkit.aggregation`` reads it as it is. A worker answers a task at most once.

Gold answers are a boolean :class:`pandas.Series` indexed by task (crowd-kit's ``true_labels``):
the known truth of the gold questions mixed into the work.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import pandas as pd

from synsetlab.annotate.errors import AnnotationError

__all__ = [
    "VOTE_COLUMNS",
    "check_gold",
    "check_votes",
    "first_votes",
    "make_votes",
    "vote_counts",
]

#: The columns every vote table has, in crowd-kit's names.
VOTE_COLUMNS = ("task", "worker", "label")
#: How many offending rows an error message names before "...".
_SHOWN = 3


def make_votes(
    task: Sequence[Hashable] | np.ndarray,
    worker: Sequence[Hashable] | np.ndarray,
    label: Sequence[bool] | np.ndarray,
    *,
    seconds: Sequence[float] | np.ndarray | None = None,
) -> pd.DataFrame:
    """A checked vote table from parallel arrays, each ``(n_votes,)``, in the order cast.

    ``label`` holds booleans or 0/1; ``seconds`` (optional) the time each answer took.
    Raises :class:`AnnotationError` on arrays of different lengths or any problem
    :func:`check_votes` finds.
    """
    columns = {"task": task, "worker": worker, "label": label}
    if seconds is not None:
        columns["seconds"] = seconds
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise AnnotationError(
            f"vote arrays differ in length ({lengths}): give one task, worker and label per vote"
        )
    return check_votes(pd.DataFrame(columns), allow_empty=True)


def check_votes(votes: pd.DataFrame, *, allow_empty: bool = False) -> pd.DataFrame:
    """``votes`` checked and normalised: a fresh 0..n-1 index, ``label`` as bool.

    Refused with :class:`AnnotationError`: a missing column, a missing task or worker id, a
    label other than yes/no (bool or 0/1), a negative or missing ``seconds``, the same worker
    answering the same task twice, and (unless ``allow_empty``) no votes at all.
    """
    if not isinstance(votes, pd.DataFrame):
        raise AnnotationError(
            f"votes must be a pandas DataFrame with columns {', '.join(VOTE_COLUMNS)}, "
            f"not {type(votes).__name__}"
        )
    missing = [c for c in VOTE_COLUMNS if c not in votes.columns]
    if missing:
        raise AnnotationError(
            f"votes lack column(s) {', '.join(missing)}: a vote table has columns "
            f"{', '.join(VOTE_COLUMNS)} (crowd-kit's layout), one row per vote"
        )
    if votes.empty and not allow_empty:
        raise AnnotationError("no votes: collect at least one vote before aggregating")
    votes = votes.reset_index(drop=True)
    for column in ("task", "worker"):
        _refuse_rows(votes[column].isna(), f"have no {column} id", votes)
    votes["label"] = _as_bool(votes["label"], votes)
    if "seconds" in votes.columns:
        seconds = pd.to_numeric(votes["seconds"], errors="coerce").astype(float)
        _refuse_rows(~(seconds >= 0), "have no valid seconds (need a number >= 0)", votes)
        votes["seconds"] = seconds
    repeated = votes.duplicated(["task", "worker"], keep="first")
    if repeated.any():
        row = votes.loc[repeated].iloc[0]
        raise AnnotationError(
            f"worker {row['worker']!r} answered task {row['task']!r} more than once "
            f"({int(repeated.sum())} repeated vote(s)): a worker answers each task once; "
            "keep one vote per (task, worker)"
        )
    return votes


def _as_bool(label: pd.Series, votes: pd.DataFrame) -> pd.Series:
    """``label`` as bool, refusing anything but True/False/1/0."""
    if label.dtype == bool:
        return label
    valid = label.isin([True, False]) & label.notna()
    _refuse_rows(~valid, "have a label other than yes/no (True/False or 1/0)", votes)
    return label.astype(bool)


def _refuse_rows(bad: pd.Series, what: str, votes: pd.DataFrame) -> None:
    """Raise naming the first few rows of ``votes`` where ``bad`` holds."""
    if not bad.any():
        return
    rows = np.flatnonzero(bad.to_numpy())
    shown = ", ".join(str(r) for r in rows[:_SHOWN]) + (", ..." if len(rows) > _SHOWN else "")
    raise AnnotationError(f"{len(rows)} vote(s) {what}: rows {shown} of {len(votes)}")


def check_gold(
    gold: pd.Series | Mapping[Hashable, bool], votes: pd.DataFrame | None = None
) -> pd.Series:
    """Gold answers as a bool Series indexed by task (named ``gold``).

    ``gold`` maps each gold task to its known answer (bool or 0/1). When ``votes`` is given,
    every gold task must have votes in it: a gold id that matches no vote is usually a wrong
    id, and would silently fix nothing. Refused with :class:`AnnotationError`.
    """
    series = pd.Series(gold, dtype=object) if isinstance(gold, Mapping) else gold
    if not isinstance(series, pd.Series):
        raise AnnotationError(
            f"gold must map task -> known answer (a dict or pandas Series), "
            f"not {type(gold).__name__}"
        )
    if series.index.has_duplicates:
        task = series.index[series.index.duplicated()][0]
        raise AnnotationError(f"gold names task {task!r} twice: give each gold task one answer")
    valid = series.isin([True, False]) & series.notna()
    if not valid.all():
        task = series.index[~valid.to_numpy()][0]
        raise AnnotationError(
            f"gold answer of task {task!r} is {series[task]!r}: gold answers are yes/no "
            "(True/False or 1/0)"
        )
    series = series.astype(bool).rename("gold")
    if votes is not None:
        unvoted = series.index.difference(pd.Index(votes["task"].unique()))
        if len(unvoted):
            shown = ", ".join(repr(t) for t in unvoted[:_SHOWN])
            more = ", ..." if len(unvoted) > _SHOWN else ""
            raise AnnotationError(
                f"{len(unvoted)} gold task(s) have no votes ({shown}{more}): "
                "pass only gold tasks that were asked, e.g. gold[gold.index.isin(votes.task)]"
            )
    return series


def vote_counts(votes: pd.DataFrame) -> pd.DataFrame:
    """Per task, in order of first vote: columns ``yes`` and ``no`` (int), indexed by task."""
    yes = votes["label"].astype(bool)
    counts = pd.DataFrame({"task": votes["task"], "yes": yes, "no": ~yes})
    return counts.groupby("task", sort=False)[["yes", "no"]].sum().astype(int)


def first_votes(votes: pd.DataFrame, k: int) -> pd.DataFrame:
    """The first ``k`` votes of each task (row order is the order cast), e.g. majority of 3."""
    if k < 1:
        raise AnnotationError(f"k = {k}: keep at least one vote per task")
    return votes.loc[votes.groupby("task", sort=False).cumcount() < k].reset_index(drop=True)
