"""The kinds of finding each curation analysis records, and the analyses by name.

A leaf: it imports nothing, so the catalog, the datasheet and the challenge's leak check name
kinds without loading what the analyses need (torch and scikit-learn for label issues, SciPy
for duplicates).
"""

from __future__ import annotations

from collections.abc import Iterable

EXACT_DUPLICATE = "exact-duplicate"
NEAR_DUPLICATE = "near-duplicate"
SPLIT_LEAK = "split-leak"
CROWDED_HASH = "crowded-hash"
#: Finding kinds one run of ``curate.duplicates.find_duplicates`` replaces.
DUPLICATE_KINDS: tuple[str, ...] = (EXACT_DUPLICATE, NEAR_DUPLICATE, SPLIT_LEAK, CROWDED_HASH)

#: Finding kinds one run of ``curate.quality.find_quality_issues`` replaces.
QUALITY_KINDS: tuple[str, ...] = (
    "too-small",
    "extreme-aspect",
    "near-constant",
    "blurry",
    "greyscale",
    "tiny-file",
)

#: Finding kinds one run of ``curate.balance.class_balance`` replaces.
BALANCE_KINDS: tuple[str, ...] = ("small-class", "large-class")
#: Decision reasons of ``curate.balance.apply_balance``, for ``undo(s, reason=...)``.
REASON_MIN = "balance:min"
REASON_MAX = "balance:max"

LABEL_ISSUE = "label-issue"
CLASS_OVERLAP = "class-overlap"
#: Finding kinds one run of ``curate.label_issues.find_label_issues`` replaces.
LABEL_ISSUE_KINDS: tuple[str, ...] = (LABEL_ISSUE, CLASS_OVERLAP)

#: Each analysis by the name its runs are recorded under (its ``synsetlab curate`` command):
#: the kinds it replaces on every run.
ANALYSIS_KINDS: dict[str, tuple[str, ...]] = {
    "duplicates": DUPLICATE_KINDS,
    "quality": QUALITY_KINDS,
    "balance": BALANCE_KINDS,
    "label-issues": LABEL_ISSUE_KINDS,
}


def analysis_of(kinds: Iterable[str]) -> str | None:
    """The analysis whose kinds are exactly ``kinds`` (in any order), or ``None``."""
    wanted = set(kinds)
    return next((name for name, own in ANALYSIS_KINDS.items() if set(own) == wanted), None)
