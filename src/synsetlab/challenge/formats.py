"""Strict parsing of challenge submissions into arrays aligned with an :class:`AnswerKey`.

A classification or localization submission gives up to five guesses per test image, best
first (ILSVRC scores five). Images are named by their ``ImageId``, the sha256 of the image
file (as ``synsetlab submission`` writes it); classes by their wnid. For localization every
guess also carries a box ``xmin ymin xmax ymax`` in pixels of the image file as stored
(before any EXIF rotation), with ILSVRC's inclusive pixel convention (width = ``xmax - xmin +
1``). A detection submission gives, per image, any number of detections up to
:data:`MAX_DETECTIONS`, each a class, a confidence score (any finite number; higher is more
confident) and a box; an image may have none.

Three formats:

``kaggle``
    CSV with the header ``ImageId,PredictionString`` and one row per image, in any order.
    Classification: ``PredictionString`` is up to five wnids separated by spaces, e.g.
    ``3f2a...,n01440764 n01443537``. Localization (the Kaggle ImageNet LOC challenge):
    repeated ``wnid xmin ymin xmax ymax`` groups, up to five. Fields may be double-quoted;
    blank lines are skipped.
``devkit``
    The ILSVRC-2012 devkit's plain text: exactly one line per image **in the order of the
    answer key's image ids** (the sha256 ids, sorted as strings), each line up to five
    1-based class indices into the sorted class list (``class index + 1``) separated by
    spaces; for localization each guess is ``label xmin ymin xmax ymax``. An empty line is
    an image without guesses. Class numbers are plain integers (``7``, not ``07`` or
    ``7.0``). Unlike the devkit's own evaluation, which ignores guesses past the fifth, a
    sixth guess is refused here.
``json``
    ``{"predictions": {"<ImageId>": [...]}}`` with one entry per image; the list holds up to
    five wnids for classification, ``["n01440764", "n01443537"]``, and up to five objects
    ``{"wnid": "n01440764", "box": [xmin, ymin, xmax, ymax]}`` for localization.

For detection:

``kaggle``
    ``ImageId,PredictionString`` with a row for every image; ``PredictionString`` is
    repeated ``wnid score xmin ymin xmax ymax`` groups (the Kaggle Open Images shape), empty
    for an image without detections.
``devkit``
    The ILSVRC DET devkit's text: one detection per line, ``image_index class_index score
    xmin ymin xmax ymax``, the image a 1-based index into the sorted image ids and the class
    a 1-based index into the sorted class list (plain integers); lines in any order, blank
    lines skipped, and images without a line have no detections.
``json``
    ``{"predictions": {"<ImageId>": [{"wnid": ..., "score": 0.9, "box": [xmin, ymin, xmax,
    ymax]}, ...]}}`` with one entry (possibly ``[]``) per image.

One class may be detected many times in an image (an image can show several objects).

Box coordinates and scores are decimal numbers such as ``12``, ``-3``, ``12.5`` or ``1e3``. Giving
fewer than five guesses is allowed (the missing ones count as wrong). Anything else
that is off is refused with a :class:`SubmissionError` naming the line (or, for JSON, the
image) and what to do, before any scoring: a file over the size limit, text that is not
UTF-8, a wrong header, unknown or repeated image ids, missing images, unknown classes, more
than five guesses, a class guessed twice for one image (ILSVRC counts each class once), more
than :data:`MAX_DETECTIONS` detections of one image, wrong field counts, malformed or
non-finite numbers (scores included), and boxes with ``xmax < xmin`` or ``ymax < ymin``. When
several lines are wrong, the first one is reported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from synsetlab.challenge.answers import AnswerKey
from synsetlab.challenge.errors import ChallengeError
from synsetlab.errors import UserError
from synsetlab.submission_files import KAGGLE_HEADER, kaggle_csv

__all__ = [
    "FORMATS",
    "KAGGLE_HEADER",
    "MAX_DETECTIONS",
    "MAX_GUESSES",
    "TASKS",
    "Predictions",
    "SubmissionError",
    "check_task",
    "detect_format",
    "kaggle_csv",
    "parse_submission",
]

TASKS = ("classification", "localization", "detection")
FORMATS = ("kaggle", "devkit", "json")
#: Guesses scored per image, as in ILSVRC.
MAX_GUESSES = 5
#: Detections allowed per image (Kaggle's object detection challenges allow 100).
MAX_DETECTIONS = 100
DEFAULT_MAX_BYTES = 64 * 2**20

_BOM = b"\xef\xbb\xbf"
#: A devkit line: integers and (for boxes) decimal numbers separated by whitespace.
_DEVKIT_LINE = re.compile(rb"[0-9eE.+\-\s]*")
#: Invalid submissions show at most this much of a bad value.
_SHOW = 80
#: Tokens per guess in a Kaggle ``PredictionString``, and their order.
_KAGGLE_GROUPS = {
    "classification": (1, "wnid"),
    "localization": (5, "wnid xmin ymin xmax ymax"),
    "detection": (6, "wnid score xmin ymin xmax ymax"),
}
_DEVKIT_DETECTION = "image class score xmin ymin xmax ymax"


class SubmissionError(UserError, ValueError):
    """A submission that cannot be scored; nothing of it has been scored.

    ``str()`` is ``"line 12: unknown class 'n999' ..."`` (or ``"image '3f2a...': ..."`` for
    a JSON entry, or just the problem for a whole-file one), ending in what to do.
    """

    def __init__(self, problem: str, *, line: int | None = None, image_id: str | None = None):
        #: 1-based line of the file, when one line is at fault.
        self.line = line
        #: The JSON entry at fault (JSON gives no line numbers for its values).
        self.image_id = image_id
        #: What is wrong and what to do.
        self.problem = problem
        super().__init__(problem)

    def __str__(self) -> str:
        if self.line is not None:
            return f"line {self.line}: {self.problem}"
        if self.image_id is not None:
            return f"image {_show(self.image_id)}: {self.problem}"
        return self.problem

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the line and image through pickling (a scoring worker process).
        return (type(self), (self.problem,), {"line": self.line, "image_id": self.image_id})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for an API response."""
        return {"line": self.line, "image_id": self.image_id, "problem": self.problem}


@dataclass(frozen=True, eq=False)
class Predictions:
    """A parsed submission, row ``i`` being ``key.image_ids[i]``."""

    #: ``(N, 5)`` int64 class indices, best first; -1 = no guess (fewer than five given);
    #: all -1 for detection.
    labels: np.ndarray
    #: ``(N, 5, 4)`` float64 boxes for localization, NaN where no guess; None for
    #: classification and detection.
    boxes: np.ndarray | None
    #: The format it was read from: ``"kaggle"``, ``"devkit"`` or ``"json"``.
    format: str
    #: For detection, ``(M, 7)`` float64 rows ``image_row, class_index, score, xmin, ymin,
    #: xmax, ymax`` (``image_row`` indexes ``key.image_ids``), sorted by image and within an
    #: image in the submission's order; None for the other tasks.
    detections: np.ndarray | None = None


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")
    return task


def detect_format(data: bytes) -> str:
    """The format of a submission, from its first line: JSON starts with ``{`` (or ``[``, to
    be refused with the right message), a Kaggle CSV has a comma in its header, a devkit file
    holds only numbers."""
    head = data[:4096].removeprefix(_BOM).lstrip()
    if not head:
        raise SubmissionError("the file is empty: submit one prediction per test image")
    if head.startswith((b"{", b"[")):
        return "json"
    first = head.split(b"\n", 1)[0]
    if b"," in first:
        return "kaggle"
    if _DEVKIT_LINE.fullmatch(first):
        return "devkit"
    raise SubmissionError(
        f"cannot tell the format from the first line {_show(first.decode('utf-8', 'replace'))}: "
        f"submit a CSV with the header {','.join(KAGGLE_HEADER)}, a devkit text file of class "
        'numbers, or JSON {"predictions": {...}}',
        line=1,
    )


def parse_submission(
    data: bytes,
    key: AnswerKey,
    *,
    task: str,
    fmt: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Predictions:
    """Parse and check a whole submission against the answer key (formats: module docstring).

    Args:
        data: the file's bytes.
        key: the challenge's answer key (its image ids and classes; labels are not read).
        task: ``"classification"``, ``"localization"`` or ``"detection"``.
        fmt: one of :data:`FORMATS`; detected with :func:`detect_format` when None.
        max_bytes: larger files are refused before anything is decoded.

    Raises:
        SubmissionError: the first problem found, with its line.
        ChallengeError: an unknown ``fmt`` (the request's mistake, not the file's).
        ValueError: an unknown ``task`` (a caller's bug: tasks come from the challenge).
    """
    check_task(task)
    if fmt is not None and fmt not in FORMATS:
        raise ChallengeError(
            f"unknown submission format {fmt!r}: give one of {', '.join(FORMATS)}, or none "
            "to have it detected"
        )
    if len(data) > max_bytes:
        most = f"{MAX_DETECTIONS} detections" if task == "detection" else f"{MAX_GUESSES} guesses"
        raise SubmissionError(
            f"the file is {len(data):,} bytes, over the limit of {max_bytes:,}: give at most "
            f"{most} per image and nothing else"
        )
    fmt = fmt or detect_format(data)
    text = _decode(data)
    if fmt == "kaggle":
        rows = _split_kaggle(text, key, task)
    elif fmt == "devkit" and task == "detection":
        rows = _split_devkit_detections(text, key)
    elif fmt == "devkit":
        rows = _split_devkit(text, key, task == "localization")
    else:
        rows = _split_json(text, key, task)
    if task == "detection":
        return _assemble_detections(rows, key, fmt)
    return _assemble(rows, key, fmt)


# Splitting: each format into flat arrays -----------------------------------------------------
#
# The text formats are split with Arrow's string kernels: a 100,000-line file holds half a
# million tokens, and making a Python string of each would cost most of the time.


@dataclass
class _Rows:
    """A submission's rows in file order, split into flat arrays but not yet checked."""

    #: ``(R,)`` 1-based line of each row; None for JSON.
    lines: np.ndarray | None
    #: The image id each row gives (for messages); None for devkit (row ``i`` is image ``i``).
    image_ids: Sequence[Any] | None
    #: ``(R,)`` the key row of each row's image; -1 for an unknown id.
    image_row: np.ndarray
    #: ``(R,)`` guesses of each row.
    counts: np.ndarray
    #: ``(G,)`` the class token of every guess, row by row (for messages).
    tokens: Sequence[Any]
    #: ``(G,)`` class index of every guess; -1 for an unknown token.
    codes: np.ndarray
    #: ``(G, 4)`` float64 box of every guess for localization and detection, else None.
    boxes: np.ndarray | None = None
    #: ``(G,)`` float64 score of every detection, else None.
    scores: np.ndarray | None = None
    #: ``(row, problem)`` found while splitting; the first row's is raised.
    problems: list[tuple[int, str]] = field(default_factory=list)
    #: A problem of the whole file, raised when no row has one.
    file_problem: str | None = None


def _decode(data: bytes) -> str:
    try:
        text = data.removeprefix(_BOM).decode("utf-8")
    except UnicodeDecodeError as e:
        start = e.start + (len(_BOM) if data.startswith(_BOM) else 0)
        line = data.count(b"\n", 0, start) + 1
        raise SubmissionError(
            f"not UTF-8 text (byte 0x{data[start]:02x} at offset {start}): save the file as UTF-8",
            line=line,
        ) from None
    return text.replace("\r\n", "\n") if "\r" in text else text


def _split_kaggle(text: str, key: AnswerKey, task: str) -> _Rows:
    first, _, _ = text.partition("\n")
    if tuple(f.strip().strip('"') for f in first.split(",")) != KAGGLE_HEADER:
        raise SubmissionError(
            f"the header is {_show(first)}, not {','.join(KAGGLE_HEADER)}: start the file "
            "with that header line",
            line=1,
        )
    lines = _lines(text).slice(1)
    blank = pc.or_(pc.equal(pc.utf8_length(lines), 0), pc.utf8_is_space(lines))
    kept = np.flatnonzero(~blank.to_numpy(zero_copy_only=False))
    body = lines.take(pa.array(kept))
    problems = []
    one_comma = pc.equal(pc.count_substring(body, ","), 1).to_numpy(zero_copy_only=False)
    if not one_comma.all():
        row = int(np.argmin(one_comma))
        message = (
            f"{body[row].as_py().count(',') + 1} comma-separated fields, not 2: write "
            "each row as ImageId,PredictionString with the guesses separated by spaces"
        )
        problems.append((row, message))
        body = pc.if_else(pa.array(one_comma), body, ",")  # no id, no guesses
    parts = pc.split_pattern(body, ",", max_splits=1)
    ids = pc.utf8_trim(pc.list_element(parts, 0), ' \t"')
    guesses = pc.utf8_trim(pc.list_element(parts, 1), '"')
    group, shape = _KAGGLE_GROUPS[task]
    rows = _arrow_rows(
        guesses,
        key.classes,
        group=group,
        shape=shape,
        unit="detection" if task == "detection" else "guess",
        lines=kept + 2,
        problems=problems,
    )
    rows.image_ids = ids
    rows.image_row = _lookup(ids, key.image_ids)
    return rows


def _split_devkit(text: str, key: AnswerKey, localization: bool) -> _Rows:
    lines = _lines(text)
    if len(lines) > 1 and lines[-1].as_py() == "":
        lines = lines.slice(0, len(lines) - 1)  # the last line's newline
    n, given = key.n_images, len(lines)
    rows = _arrow_rows(
        lines.slice(0, n),
        _numbers(len(key.classes)),
        group=5 if localization else 1,
        shape="label xmin ymin xmax ymax",
        unit="guess",
        lines=np.arange(1, min(given, n) + 1),
        problems=[],
    )
    rows.image_row = np.arange(min(given, n))
    ordered = "give one line per image, in the order of the sorted image ids"
    if given > n:
        rows.problems.append(
            (n, f"the file has {given} lines but the test set has {n} images: {ordered}")
        )
    elif given < n:
        rows.file_problem = (
            f"the file has {given} lines but the test set has {n} images: {ordered} (an empty "
            "line for an image without guesses)"
        )
    return rows


def _split_devkit_detections(text: str, key: AnswerKey) -> _Rows:
    """ILSVRC DET lines: one detection each, naming its image by number."""
    lines = _lines(text)
    blank = pc.or_(pc.equal(pc.utf8_length(lines), 0), pc.utf8_is_space(lines))
    kept = np.flatnonzero(~blank.to_numpy(zero_copy_only=False))
    tokens, parent, counts = _tokens(lines.take(pa.array(kept)))
    problems: list[tuple[int, str]] = []
    width = len(_DEVKIT_DETECTION.split())
    wrong = counts != width
    if wrong.any():
        row = int(np.argmax(wrong))
        message = f"{counts[row]} values, not {width}: each line is '{_DEVKIT_DETECTION}'"
        problems.append((row, message))
        tokens = tokens.filter(pa.array(~wrong[parent]))
    good = np.flatnonzero(~wrong)
    position = np.arange(len(tokens)) % width
    image_tokens = tokens.filter(pa.array(position == 0))
    class_tokens = tokens.filter(pa.array(position == 1))
    image_row = np.full(len(kept), -1, dtype=np.int64)
    image_row[good] = _lookup(image_tokens, _numbers(key.n_images))
    unknown = np.flatnonzero(image_row[good] < 0)
    if unknown.size:
        i = int(unknown[0])
        message = (
            f"{_show(image_tokens[i].as_py())} is not an image number in 1..{key.n_images}: "
            "devkit lines give 1-based indices into the sorted image ids"
        )
        problems.append((int(good[i]), message))
    numbers = _arrow_numbers(
        tokens.filter(pa.array(position >= 2)), good, problems, width=5, what=_SCORES_AND_BOXES
    )
    return _Rows(
        lines=kept + 1,
        image_ids=None,
        image_row=image_row,
        counts=(~wrong).astype(np.int64),
        tokens=class_tokens,
        codes=_lookup(class_tokens, _numbers(len(key.classes))),
        boxes=None if numbers is None else numbers[:, 1:],
        scores=None if numbers is None else numbers[:, 0],
        problems=problems,
    )


def _numbers(n: int) -> list[str]:
    """``"1"`` .. ``str(n)``: the devkit's 1-based indices as they are written."""
    return [str(i + 1) for i in range(n)]


def _lines(text: str) -> pa.StringArray:
    return pc.list_flatten(pc.split_pattern(pa.array([text], pa.large_string()), "\n"))


def _lookup(values: Any, vocabulary: Sequence[str]) -> np.ndarray:
    """Position of each value in ``vocabulary``, -1 where absent."""
    found = pc.index_in(values, value_set=pa.array(vocabulary, pa.large_string()))
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _tokens(text: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    """The whitespace-separated tokens of each row, flat; each token's row; tokens per row."""
    split = pc.utf8_split_whitespace(text)
    parent = pc.list_parent_indices(split).to_numpy()
    tokens = pc.list_flatten(split)
    # Arrow keeps the empty strings around leading and trailing whitespace: drop them.
    filled = pc.greater(pc.utf8_length(tokens), 0).to_numpy(zero_copy_only=False)
    if not filled.all():
        tokens, parent = tokens.filter(pa.array(filled)), parent[filled]
    return tokens, parent, np.bincount(parent, minlength=len(text))


def _arrow_rows(
    text: Any,
    vocabulary: Sequence[str],
    *,
    group: int,
    shape: str,
    unit: str,
    lines: np.ndarray,
    problems: list[tuple[int, str]],
) -> _Rows:
    """Rows of whitespace-separated guesses: ``shape`` groups of ``group`` tokens, a class
    token (``vocabulary[i]`` names class ``i``) and for ``group > 1`` numbers: a box, or a
    detection's score and box."""
    n_rows = len(text)
    tokens, parent, counts = _tokens(text)
    numbers = None
    if group > 1:
        ragged = counts % group != 0
        if ragged.any():
            row = int(np.argmax(ragged))
            message = f"{counts[row]} values, not a multiple of {group}: each {unit} is '{shape}'"
            problems.append((row, message))
            keep = ~ragged[parent]
            tokens, parent, counts = tokens.filter(pa.array(keep)), parent[keep], counts * ~ragged
        position = np.arange(len(tokens)) - np.repeat(np.cumsum(counts) - counts, counts)
        first = position % group == 0
        values = tokens.filter(pa.array(~first))
        tokens, counts = tokens.filter(pa.array(first)), counts // group
        what = _SCORES_AND_BOXES if unit == "detection" else "box coordinates"
        guess_row = np.repeat(np.arange(n_rows), counts)
        numbers = _arrow_numbers(values, guess_row, problems, width=group - 1, what=what)
    codes = _lookup(tokens, vocabulary)
    scored = numbers is not None and numbers.shape[1] == 5
    return _Rows(
        lines=lines,
        image_ids=None,
        image_row=np.empty(0, dtype=np.int64),
        counts=counts,
        tokens=tokens,
        codes=codes,
        boxes=None if numbers is None else numbers[:, -4:],
        scores=numbers[:, 0] if scored else None,
        problems=problems,
    )


_SCORES_AND_BOXES = "scores and box coordinates"


def _arrow_numbers(
    numbers: Any, guess_row: np.ndarray, problems: list[tuple[int, str]], *, width: int, what: str
) -> np.ndarray | None:
    """``(G, width)`` numbers from ``width G`` tokens; None (and a problem) when one is not a
    number."""
    try:
        values = pc.cast(numbers, pa.float64())
    except pa.ArrowInvalid:
        i = _first_unparsable(numbers)
        message = (
            f"{_show(numbers[i].as_py())} is not a number: {what} must be decimal numbers "
            "such as 12 or 12.5"
        )
        problems.append((int(guess_row[i // width]), message))
        return None
    return values.to_numpy(zero_copy_only=False).reshape(-1, width)


def _first_unparsable(numbers: Any, chunk: int = 4096) -> int:
    for start in range(0, len(numbers), chunk):
        part = numbers.slice(start, chunk)
        try:
            pc.cast(part, pa.float64())
        except pa.ArrowInvalid:
            for j in range(len(part)):
                try:
                    pc.cast(part.slice(j, 1), pa.float64())
                except pa.ArrowInvalid:
                    return start + j
    raise AssertionError("no unparsable number")  # pragma: no cover


def _split_json(text: str, key: AnswerKey, task: str) -> _Rows:
    predictions = _json_predictions(text)
    ids = list(predictions)
    problems: list[tuple[int, str]] = []
    tokens: list[str] = []
    coords: list[Any] = []
    counts = np.zeros(len(ids), dtype=np.int64)
    for row, value in enumerate(predictions.values()):
        if task == "detection":
            wnids, numbers, problem = _json_detections(value)
        else:
            wnids, numbers, problem = _json_guesses(value, task == "localization")
        if problem:
            problems.append((row, problem))
            continue
        counts[row] = len(wnids)
        tokens.extend(wnids)
        coords.extend(numbers)
    numbers = None
    if task != "classification":
        width = 5 if task == "detection" else 4
        try:
            numbers = np.array(coords, dtype=np.float64).reshape(-1, width)
        except OverflowError:
            i = next(i for i, v in enumerate(coords) if abs(v) > 1e308)
            row = int(np.repeat(np.arange(len(ids)), counts)[i // width])
            what = "number" if task == "detection" else "box coordinate"
            problems.append((row, f"{what} {_show(str(coords[i]))} is too large"))
    index = key.class_index
    return _Rows(
        lines=None,
        image_ids=ids,
        image_row=np.fromiter(map(key.index_of.get, ids, repeat(-1)), np.int64, len(ids)),
        counts=counts,
        tokens=tokens,
        codes=np.fromiter(map(index.get, tokens, repeat(-1)), np.int64, len(tokens)),
        boxes=None if numbers is None else numbers[:, -4:],
        scores=numbers[:, 0] if task == "detection" and numbers is not None else None,
        problems=problems,
    )


def _json_predictions(text: str) -> dict[str, Any]:
    """The ``predictions`` object; refuses invalid JSON, another shape and repeated keys."""
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) != len(items):
            seen: set[str] = set()
            for k, _ in items:
                if k in seen:
                    repeated.append(k)
                seen.add(k)
        return obj

    try:
        document = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as e:
        raise SubmissionError(
            f"not valid JSON ({e.msg}, column {e.colno}): check the file with a JSON validator",
            line=e.lineno,
        ) from None
    except RecursionError:
        raise SubmissionError(
            'the JSON is nested too deeply: give {"predictions": {"<ImageId>": [...]}}'
        ) from None
    if (
        not isinstance(document, dict)
        or set(document) != {"predictions"}
        or not isinstance(document["predictions"], dict)
    ):
        raise SubmissionError(
            'the file must be one object {"predictions": {"<ImageId>": [...], ...}} with '
            "no other keys"
        )
    predictions: dict[str, Any] = document["predictions"]
    if repeated:
        if repeated[0] in predictions:
            raise SubmissionError(
                "appears twice in predictions: give each image once", image_id=repeated[0]
            )
        raise SubmissionError(f"the key {_show(repeated[0])} appears twice in one JSON object")
    return predictions


def _json_guesses(value: Any, localization: bool) -> tuple[list[str], list[Any], str | None]:
    """One JSON entry's wnids, flat box coordinates, and its problem (if any)."""
    if not localization:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value, [], None
        return [], [], f'must be a list of up to {MAX_GUESSES} wnids, e.g. ["n01440764"]'
    shape = f'[{{"wnid": "n01440764", "box": [xmin, ymin, xmax, ymax]}}, ...] (up to {MAX_GUESSES})'
    if not isinstance(value, list):
        return [], [], f"must be a list of guesses {shape}"
    wnids: list[str] = []
    coords: list[Any] = []
    for guess in value:
        box = guess.get("box") if isinstance(guess, dict) else None
        if (
            not isinstance(guess, dict)
            or set(guess) != {"wnid", "box"}
            or not isinstance(guess["wnid"], str)
            or not isinstance(box, list)
            or len(box) != 4
        ):
            return [], [], f"each guess must be an object with a wnid and a box: {shape}"
        if not all(type(v) in (int, float) for v in box):
            return [], [], f"box {_show(json.dumps(box))} must hold 4 numbers"
        wnids.append(guess["wnid"])
        coords.extend(box)
    return wnids, coords, None


def _json_detections(value: Any) -> tuple[list[str], list[Any], str | None]:
    """One JSON entry's wnids, flat ``score, xmin, ymin, xmax, ymax`` numbers, and its problem."""
    shape = (
        '[{"wnid": "n01440764", "score": 0.9, "box": [xmin, ymin, xmax, ymax]}, ...] '
        f"(up to {MAX_DETECTIONS}, or [] for none)"
    )
    if not isinstance(value, list):
        return [], [], f"must be a list of detections {shape}"
    wnids: list[str] = []
    numbers: list[Any] = []
    for detection in value:
        box = detection.get("box") if isinstance(detection, dict) else None
        if (
            not isinstance(detection, dict)
            or set(detection) != {"wnid", "score", "box"}
            or not isinstance(detection["wnid"], str)
            or not isinstance(box, list)
            or len(box) != 4
        ):
            return (
                [],
                [],
                f"each detection must be an object with a wnid, a score and a box: {shape}",
            )
        if type(detection["score"]) not in (int, float):
            return [], [], f"score {_show(json.dumps(detection['score']))} must be a number"
        if not all(type(v) in (int, float) for v in box):
            return [], [], f"box {_show(json.dumps(box))} must hold 4 numbers"
        wnids.append(detection["wnid"])
        numbers.append(detection["score"])
        numbers.extend(box)
    return wnids, numbers, None


# Checking and assembling -----------------------------------------------------------------------


def _assemble(rows: _Rows, key: AnswerKey, fmt: str) -> Predictions:
    """Check every row against the key and build the arrays; raise the first problem."""
    problems = rows.problems
    n_rows = len(rows.counts)
    _check_images(rows, problems)
    many = rows.counts > MAX_GUESSES
    if many.any():
        row = int(np.argmax(many))
        message = (
            f"{rows.counts[row]} guesses, more than {MAX_GUESSES}: give at most "
            f"{MAX_GUESSES}, best first"
        )
        problems.append((row, message))

    guess_row = np.repeat(np.arange(n_rows), rows.counts)
    guess_col = np.arange(len(guess_row)) - np.repeat(
        np.cumsum(rows.counts) - rows.counts, rows.counts
    )
    unknown = rows.codes < 0
    if unknown.any():
        i = int(np.argmax(unknown))
        problems.append((int(guess_row[i]), _unknown_class(_text(rows.tokens, i), key, fmt)))
    scored = guess_col < MAX_GUESSES
    labels = np.full((n_rows, MAX_GUESSES), -1, dtype=np.int64)
    labels[guess_row[scored], guess_col[scored]] = rows.codes[scored]
    twice = _repeated_class(labels)
    if twice is not None:
        row, code = twice
        message = (
            f"class {key.classes[code]} is guessed twice: ILSVRC counts each class "
            "once per image, so give it once"
        )
        problems.append((row, message))
    boxes = None
    if rows.boxes is not None:
        _check_boxes(rows.boxes, guess_row, rows.tokens, problems)
        boxes = np.full((n_rows, MAX_GUESSES, 4), np.nan)
        boxes[guess_row[scored], guess_col[scored]] = rows.boxes[scored]

    if problems:
        row, problem = min(problems, key=lambda p: p[0])
        raise _at(rows, row, problem)
    if rows.file_problem:
        raise SubmissionError(rows.file_problem)
    _check_complete(rows.image_row, key)

    out = np.full((key.n_images, MAX_GUESSES), -1, dtype=np.int64)
    out[rows.image_row] = labels
    out_boxes = None
    if boxes is not None:
        out_boxes = np.full((key.n_images, MAX_GUESSES, 4), np.nan)
        out_boxes[rows.image_row] = boxes
    return Predictions(labels=out, boxes=out_boxes, format=fmt)


def _assemble_detections(rows: _Rows, key: AnswerKey, fmt: str) -> Predictions:
    """Check a detection submission's rows against the key and build its detections."""
    problems = rows.problems
    _check_images(rows, problems)
    det_row = np.repeat(np.arange(len(rows.counts)), rows.counts)
    det_image = rows.image_row[det_row]
    _check_detection_counts(rows, det_row, det_image, problems)
    unknown = rows.codes < 0
    if unknown.any():
        i = int(np.argmax(unknown))
        problems.append((int(det_row[i]), _unknown_class(_text(rows.tokens, i), key, fmt)))
    if rows.scores is not None and rows.boxes is not None:
        finite = np.isfinite(rows.scores)
        if not finite.all():
            i = int(np.argmin(finite))
            message = (
                f"score {rows.scores[i]:g} of {_show(_text(rows.tokens, i))} is not finite: "
                "give a finite number, higher for a more confident detection"
            )
            problems.append((int(det_row[i]), message))
        _check_boxes(rows.boxes, det_row, rows.tokens, problems)
    if problems:
        row, problem = min(problems, key=lambda p: p[0])
        raise _at(rows, row, problem)
    if fmt != "devkit":  # a devkit file names only the images with detections
        _check_complete(rows.image_row, key)
    assert rows.scores is not None and rows.boxes is not None
    detections = np.column_stack([det_image, rows.codes, rows.scores, rows.boxes])
    detections = detections.astype(np.float64, copy=False).reshape(-1, 7)
    order = np.argsort(det_image, kind="stable")
    labels = np.full((key.n_images, MAX_GUESSES), -1, dtype=np.int64)
    return Predictions(labels=labels, boxes=None, format=fmt, detections=detections[order])


def _check_detection_counts(
    rows: _Rows, det_row: np.ndarray, det_image: np.ndarray, problems: list[tuple[int, str]]
) -> None:
    """At most :data:`MAX_DETECTIONS` per image, whether in one row or over many lines."""
    advice = f"give at most {MAX_DETECTIONS} per image, the most confident"
    if rows.image_ids is not None:  # one row per image
        many = rows.counts > MAX_DETECTIONS
        if many.any():
            row = int(np.argmax(many))
            problems.append(
                (row, f"{rows.counts[row]} detections, more than {MAX_DETECTIONS}: {advice}")
            )
        return
    order = np.argsort(det_image, kind="stable")  # an image's detections in file order
    ranked = det_image[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    occurrence = np.arange(len(ranked)) - np.repeat(starts, np.diff(np.r_[starts, len(ranked)]))
    over = order[(occurrence >= MAX_DETECTIONS) & (ranked >= 0)]
    if over.size:
        i = int(over.min())
        message = (
            f"image {det_image[i] + 1} has more than {MAX_DETECTIONS} detections by this "
            f"line: {advice}"
        )
        problems.append((int(det_row[i]), message))


def _check_images(rows: _Rows, problems: list[tuple[int, str]]) -> None:
    """Unknown and repeated image ids."""
    if rows.image_ids is None:  # devkit: by position
        return
    image_row = rows.image_row
    unknown = image_row < 0
    if unknown.any():
        row = int(np.argmax(unknown))
        message = (
            f"unknown image id {_show(_text(rows.image_ids, row))}: use the ImageId of "
            "each test image (the sha256 of its file, as `synsetlab submission` writes it)"
        )
        problems.append((row, message))
    order = np.argsort(image_row, kind="stable")
    ranked = image_row[order]
    again = np.flatnonzero((ranked[1:] == ranked[:-1]) & (ranked[1:] >= 0)) + 1
    if again.size:
        row = int(order[again].min())
        first = int(np.argmax(image_row == image_row[row]))
        where = "" if rows.lines is None else f" on line {rows.lines[first]}"
        message = (
            f"image {_show(_text(rows.image_ids, row))} already has a row{where}: give "
            "each image one row"
        )
        problems.append((row, message))


def _unknown_class(token: str, key: AnswerKey, fmt: str) -> str:
    c = len(key.classes)
    if fmt == "devkit":
        return (
            f"{_show(token)} is not a class number in 1..{c}: devkit lines give 1-based "
            "indices into the sorted class list"
        )
    return (
        f"unknown class {_show(token)}: guesses must be wnids of the challenge's {c} classes "
        f"(such as {key.classes[0]})"
    )


def _repeated_class(labels: np.ndarray) -> tuple[int, int] | None:
    """The first row guessing one class twice, and the class."""
    ranked = np.sort(labels, axis=1)
    same = (ranked[:, 1:] == ranked[:, :-1]) & (ranked[:, 1:] >= 0)
    rows = np.flatnonzero(same.any(axis=1))
    if not rows.size:
        return None
    row = int(rows[0])
    return row, int(ranked[row, 1:][same[row]][0])


def _check_boxes(
    boxes: np.ndarray, guess_row: np.ndarray, tokens: Sequence[Any], problems: list[tuple[int, str]]
) -> None:
    finite = np.isfinite(boxes).all(axis=1)
    if not finite.all():
        i = int(np.argmin(finite))
        message = (
            f"box {_box(boxes[i])} of {_show(_text(tokens, i))} is not "
            "finite: give finite pixel coordinates"
        )
        problems.append((int(guess_row[i]), message))
    flipped = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if flipped.any():
        i = int(np.argmax(flipped))
        message = (
            f"box {_box(boxes[i])} of {_show(_text(tokens, i))} has "
            "xmax < xmin or ymax < ymin: give boxes as xmin ymin xmax ymax"
        )
        problems.append((int(guess_row[i]), message))


def _check_complete(image_row: np.ndarray, key: AnswerKey) -> None:
    seen = np.zeros(key.n_images, dtype=np.bool_)
    seen[image_row] = True
    missing = np.flatnonzero(~seen)
    if missing.size:
        some = ", ".join(key.image_ids[i] for i in missing[:3].tolist())
        raise SubmissionError(
            f"{missing.size} of {key.n_images} test images have no prediction (e.g. {some}): "
            "give a row for every test image"
        )


def _at(rows: _Rows, row: int, problem: str) -> SubmissionError:
    if rows.lines is not None:
        line = int(rows.lines[row]) if row < len(rows.lines) else int(rows.lines[-1]) + 1
        return SubmissionError(problem, line=line)
    assert rows.image_ids is not None
    return SubmissionError(problem, image_id=_text(rows.image_ids, row))


def _text(values: Sequence[Any], i: int) -> str:
    """Item ``i`` of a Python list or an Arrow array, as a string."""
    value = values[i]
    return value.as_py() if isinstance(value, pa.Scalar) else value


def _box(box: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:g}" for v in box.tolist()) + "]"


def _show(value: str) -> str:
    """``repr`` of a value from the file, cut short."""
    return repr(value if len(value) <= _SHOW else value[:_SHOW] + "...")
