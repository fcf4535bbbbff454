"""Vote tables and gold answers: the layout every annotate function reads, and its refusals."""

from __future__ import annotations

import pandas as pd
import pytest

from synsetlab.annotate import (
    AnnotationError,
    check_gold,
    check_votes,
    first_votes,
    make_votes,
    vote_counts,
)
from synsetlab.errors import UserError


def test_make_votes_normalises_labels_and_keeps_order() -> None:
    votes = make_votes(["a", "a", "b"], ["w1", "w2", "w1"], [1, 0, True], seconds=[2.0, 3, 1])
    assert list(votes.columns) == ["task", "worker", "label", "seconds"]
    assert votes["label"].dtype == bool
    assert votes["label"].tolist() == [True, False, True]
    counts = vote_counts(votes)
    assert counts.loc["a"].tolist() == [1, 1]
    assert counts.loc["b"].tolist() == [1, 0]
    assert list(counts.index) == ["a", "b"]


def test_first_votes_keeps_the_first_k_of_each_task() -> None:
    votes = make_votes(["a", "b", "a", "a", "b"], ["w1", "w1", "w2", "w3", "w2"], [1, 0, 0, 1, 1])
    first = first_votes(votes, 2)
    assert first["worker"].tolist() == ["w1", "w1", "w2", "w2"]
    assert first["task"].tolist() == ["a", "b", "a", "b"]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"task": [], "worker": [], "label": []}), "no votes"),
        (pd.DataFrame({"task": ["a"], "label": [True]}), "lack column(s) worker"),
        (pd.DataFrame({"task": ["a"], "worker": ["w"], "label": ["maybe"]}), "yes/no"),
        (pd.DataFrame({"task": ["a"], "worker": [None], "label": [True]}), "no worker id"),
        (
            pd.DataFrame({"task": ["a", "a"], "worker": ["w", "w"], "label": [True, False]}),
            "answered task 'a' more than once",
        ),
        (
            pd.DataFrame({"task": ["a"], "worker": ["w"], "label": [True], "seconds": [-1.0]}),
            "valid seconds",
        ),
        (pd.DataFrame({"task": ["a"], "worker": ["w"], "label": [2]}), "rows 0 of 1"),
    ],
)
def test_bad_vote_tables_are_refused(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(AnnotationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_votes(frame)


def test_arrays_of_different_lengths_are_refused() -> None:
    with pytest.raises(UserError, match="differ in length"):
        make_votes(["a", "b"], ["w"], [True, False])


def test_gold_is_checked_against_the_votes() -> None:
    votes = make_votes(["a", "b"], ["w", "w"], [True, False])
    assert check_gold({"a": 1}, votes).to_dict() == {"a": True}
    with pytest.raises(AnnotationError, match=r"gold task\(s\) have no votes \('zz'\)"):
        check_gold({"a": True, "zz": False}, votes)
    with pytest.raises(AnnotationError, match="gold answer of task 'a' is 'yes'"):
        check_gold({"a": "yes"})
