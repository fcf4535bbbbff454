"""Submission parsing: the three formats for both tasks, and every rejection with its line."""

from __future__ import annotations

import hashlib
import json
import pickle

import numpy as np
import pytest

from synsetlab.challenge import (
    FORMATS,
    MAX_DETECTIONS,
    MAX_GUESSES,
    AnswerKey,
    Predictions,
    SubmissionError,
    detect_format,
    kaggle_csv,
    parse_submission,
)

CLASSES = ("n01440764", "n01443537", "n01484850", "n01491361", "n01494475", "n01496331")
IDS = tuple(sorted(hashlib.sha256(f"image {i}".encode()).hexdigest() for i in range(4)))
A, B, C, D = IDS
HEADER = "ImageId,PredictionString"
# The guesses of every happy path, as class indices per image (row = sorted image id).
GUESSES = [[0, 1, 2, 3, 4], [1], [], [5, 4]]
BOXES = {  # per image, per guess
    0: [[1, 2, 30, 40], [0, 0, 9.5, 9.5], [3, 3, 3, 3], [10, 20, 30, 40], [5, 5, 6, 6]],
    1: [[-2, 4, 100, 200]],
    2: [],
    3: [[1, 1, 2, 2], [7, 8, 9, 10]],
}


@pytest.fixture(scope="module")
def key() -> AnswerKey:
    return AnswerKey(
        classes=CLASSES,
        image_ids=IDS,
        labels=np.array([0, 1, 2, 3]),
        boxes=tuple(np.array([[1.0, 1.0, 10.0, 10.0]]) for _ in IDS),
        public=np.array([True, True, False, False]),
    )


def _number(v: float) -> str:
    return f"{v:g}"


def kaggle(rows: list[str]) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def kaggle_rows(task: str) -> list[str]:
    rows = []
    for i, guesses in enumerate(GUESSES):
        if task == "classification":
            rows.append(f"{IDS[i]},{' '.join(CLASSES[c] for c in guesses)}")
        else:
            groups = [
                " ".join([CLASSES[c], *map(_number, BOXES[i][j])]) for j, c in enumerate(guesses)
            ]
            rows.append(f"{IDS[i]},{' '.join(groups)}")
    return rows


def devkit_lines(task: str) -> list[str]:
    lines = []
    for i, guesses in enumerate(GUESSES):
        if task == "classification":
            lines.append(" ".join(str(c + 1) for c in guesses))
        else:
            lines.append(
                " ".join(
                    " ".join([str(c + 1), *map(_number, BOXES[i][j])])
                    for j, c in enumerate(guesses)
                )
            )
    return lines


def devkit(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def json_document(task: str) -> dict:
    predictions = {}
    for i, guesses in enumerate(GUESSES):
        if task == "classification":
            predictions[IDS[i]] = [CLASSES[c] for c in guesses]
        else:
            predictions[IDS[i]] = [
                {"wnid": CLASSES[c], "box": BOXES[i][j]} for j, c in enumerate(guesses)
            ]
    return {"predictions": predictions}


def encode(task: str, fmt: str) -> bytes:
    if fmt == "kaggle":
        return kaggle(kaggle_rows(task))
    if fmt == "devkit":
        return devkit(devkit_lines(task))
    return json.dumps(json_document(task)).encode()


def expected_labels() -> np.ndarray:
    out = np.full((4, MAX_GUESSES), -1)
    for i, guesses in enumerate(GUESSES):
        out[i, : len(guesses)] = guesses
    return out


def expected_boxes() -> np.ndarray:
    out = np.full((4, MAX_GUESSES, 4), np.nan)
    for i, boxes in BOXES.items():
        if boxes:
            out[i, : len(boxes)] = boxes
    return out


def rejection(
    data: bytes, key: AnswerKey, task: str = "classification", **kwargs
) -> SubmissionError:
    with pytest.raises(SubmissionError) as info:
        parse_submission(data, key, task=task, **kwargs)
    return info.value


# Happy paths -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_classification_in_every_format(key: AnswerKey, fmt: str) -> None:
    data = encode("classification", fmt)
    assert detect_format(data) == fmt
    for given in (fmt, None):
        predictions = parse_submission(data, key, task="classification", fmt=given)
        assert isinstance(predictions, Predictions)
        assert predictions.format == fmt
        assert predictions.labels.dtype == np.int64
        np.testing.assert_array_equal(predictions.labels, expected_labels())
        assert predictions.boxes is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_localization_in_every_format(key: AnswerKey, fmt: str) -> None:
    predictions = parse_submission(encode("localization", fmt), key, task="localization")
    assert predictions.format == fmt
    np.testing.assert_array_equal(predictions.labels, expected_labels())
    assert predictions.boxes is not None and predictions.boxes.dtype == np.float64
    np.testing.assert_array_equal(predictions.boxes, expected_boxes())  # NaN where no guess


def test_rows_may_come_in_any_order_and_are_aligned_with_the_key(key: AnswerKey) -> None:
    rows = kaggle_rows("classification")
    predictions = parse_submission(kaggle(rows[::-1]), key, task="classification")
    np.testing.assert_array_equal(predictions.labels, expected_labels())


def test_a_bom_crlf_quotes_and_blank_lines_are_fine(key: AnswerKey) -> None:
    rows = [f'"{r.split(",")[0]}","{r.split(",")[1]}"' for r in kaggle_rows("classification")]
    text = '"ImageId","PredictionString"\r\n\r\n' + "\r\n".join(rows) + "\r\n  \r\n"
    predictions = parse_submission(b"\xef\xbb\xbf" + text.encode(), key, task="classification")
    np.testing.assert_array_equal(predictions.labels, expected_labels())
    assert detect_format(b"\xef\xbb\xbf" + text.encode()) == "kaggle"


def test_extra_spaces_between_guesses_are_fine(key: AnswerKey) -> None:
    rows = [
        f"{A},  {CLASSES[0]}   {CLASSES[1]} ",
        f"{B},{CLASSES[1]}",
        f"{C},",
        f"{D},\t{CLASSES[5]}",
    ]
    predictions = parse_submission(kaggle(rows), key, task="classification")
    np.testing.assert_array_equal(predictions.labels[:, :2], [[0, 1], [1, -1], [-1, -1], [5, -1]])


def test_devkit_without_a_final_newline(key: AnswerKey) -> None:
    data = "\n".join(devkit_lines("classification")).encode()
    labels = parse_submission(data, key, task="classification", fmt="devkit").labels
    np.testing.assert_array_equal(labels, expected_labels())


def test_what_synsetlab_writes_as_a_submission_parses(key: AnswerKey) -> None:
    """kaggle_csv is what `synsetlab submission`, `predict --format kaggle` and the class-prior
    baseline write."""
    data = kaggle_csv((i, CLASSES[:5]) for i in reversed(IDS)).encode()
    assert data.splitlines()[0] == b"ImageId,PredictionString"
    assert [line.split(b",")[0].decode() for line in data.splitlines()[1:]] == sorted(IDS)
    labels = parse_submission(data, key, task="classification").labels
    np.testing.assert_array_equal(labels, np.tile(np.arange(5), (4, 1)))


# Detection ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b'  \n{"predictions": {}}', "json"),
        (b"[1, 2]", "json"),  # to be refused as JSON of the wrong shape
        (b"ImageId,PredictionString\n", "kaggle"),
        (b"Image,Guesses\n", "kaggle"),  # a CSV with a wrong header: kaggle's parser says so
        (b"1 2 3\n4 5\n", "devkit"),
        (b"\n1 12.5 3 40 50\n", "devkit"),
    ],
)
def test_detect_format(data: bytes, fmt: str) -> None:
    assert detect_format(data) == fmt


def test_undetectable_and_empty_files(key: AnswerKey) -> None:
    error = rejection(b"n01440764 n01443537\n", key)
    assert error.line == 1 and "cannot tell the format" in str(error)
    assert "ImageId,PredictionString" in str(error)
    error = rejection(b" \n\n", key)
    assert error.line is None and "the file is empty" in str(error)


def test_a_callers_mistakes_are_value_errors_not_submission_errors(key: AnswerKey) -> None:
    data = encode("classification", "kaggle")
    with pytest.raises(ValueError, match="unknown task 'segmentation'") as info:
        parse_submission(data, key, task="segmentation")
    assert not isinstance(info.value, SubmissionError)
    with pytest.raises(ValueError, match="unknown submission format 'xml'"):
        parse_submission(data, key, task="classification", fmt="xml")


# Rejections: the whole file ----------------------------------------------------------------------


def test_a_file_over_the_limit_is_refused_before_decoding(key: AnswerKey) -> None:
    error = rejection(b"\xff" * 101, key, max_bytes=100)  # not UTF-8 either: size comes first
    assert error.line is None
    assert str(error).startswith("the file is 101 bytes, over the limit of 100")


def test_text_that_is_not_utf8(key: AnswerKey) -> None:
    rows = kaggle_rows("classification")
    bad = rows[1].encode().replace(CLASSES[1].encode(), b"n0144\xe97")  # latin-1 'é'
    data = kaggle(rows[:1]) + bad + b"\n"  # on line 3
    error = rejection(data, key)
    assert error.line == 3
    assert "not UTF-8 text (byte 0xe9" in str(error) and "save the file as UTF-8" in str(error)


@pytest.mark.parametrize(
    "header", ["ImageId,Prediction", "image_id,PredictionString", "ImageId;PredictionString"]
)
def test_a_wrong_header(key: AnswerKey, header: str) -> None:
    data = (header + "\n" + "\n".join(kaggle_rows("classification")) + "\n").encode()
    error = rejection(data, key, fmt="kaggle")
    assert error.line == 1
    assert str(error) == (
        f"line 1: the header is {header!r}, not ImageId,PredictionString: start the file with "
        "that header line"
    )


def test_a_missing_header(key: AnswerKey) -> None:
    data = ("\n".join(kaggle_rows("classification")) + "\n").encode()
    error = rejection(data, key)
    assert error.line == 1 and "the header is" in error.problem


def test_missing_images_says_how_many_and_gives_some(key: AnswerKey) -> None:
    error = rejection(kaggle(kaggle_rows("classification")[1:2]), key)
    assert error.line is None
    assert str(error) == (
        f"3 of 4 test images have no prediction (e.g. {A}, {C}, {D}): give a row for every "
        "test image"
    )


# Rejections: one line ----------------------------------------------------------------------------


def _replace(rows: list[str], index: int, row: str) -> bytes:
    return kaggle([*rows[:index], row, *rows[index + 1 :]])


def test_an_unknown_image_id(key: AnswerKey) -> None:
    data = _replace(kaggle_rows("classification"), 2, f"{'0' * 64},{CLASSES[0]}")
    error = rejection(data, key)
    assert error.line == 4
    assert f"unknown image id '{'0' * 64}'" in error.problem
    assert "sha256" in error.problem


def test_a_repeated_image_id_names_both_lines(key: AnswerKey) -> None:
    rows = kaggle_rows("classification")
    error = rejection(kaggle([*rows, rows[1]]), key)
    assert error.line == 6
    assert str(error) == f"line 6: image '{B}' already has a row on line 3: give each image one row"


def test_an_unknown_class(key: AnswerKey) -> None:
    data = _replace(kaggle_rows("classification"), 1, f"{B},{CLASSES[0]} n99999999")
    error = rejection(data, key)
    assert str(error) == (
        "line 3: unknown class 'n99999999': guesses must be wnids of the challenge's 6 classes "
        "(such as n01440764)"
    )


def test_more_than_five_guesses(key: AnswerKey) -> None:
    data = _replace(kaggle_rows("classification"), 0, f"{A},{' '.join(CLASSES)}")
    error = rejection(data, key)
    assert str(error) == "line 2: 6 guesses, more than 5: give at most 5, best first"


def test_the_same_class_twice(key: AnswerKey) -> None:
    data = _replace(kaggle_rows("classification"), 3, f"{D},{CLASSES[2]} {CLASSES[0]} {CLASSES[2]}")
    error = rejection(data, key)
    assert error.line == 5
    assert "class n01484850 is guessed twice" in error.problem
    assert "ILSVRC counts each class once" in error.problem


def test_the_same_class_twice_in_localization(key: AnswerKey) -> None:
    row = f"{A},{CLASSES[0]} 1 1 5 5 {CLASSES[0]} 2 2 9 9"
    error = rejection(_replace(kaggle_rows("localization"), 0, row), key, "localization")
    assert error.line == 2 and "guessed twice" in error.problem


@pytest.mark.parametrize("row", [f"{A}", f"{A},{CLASSES[0]},{CLASSES[1]}"])
def test_wrong_comma_field_counts(key: AnswerKey, row: str) -> None:
    error = rejection(_replace(kaggle_rows("classification"), 0, row), key)
    assert error.line == 2
    fields = row.count(",") + 1
    assert error.problem.startswith(f"{fields} comma-separated fields, not 2")


def test_localization_groups_of_five(key: AnswerKey) -> None:
    row = f"{B},{CLASSES[1]} 1 2 3"
    error = rejection(_replace(kaggle_rows("localization"), 1, row), key, "localization")
    assert str(error) == (
        "line 3: 4 values, not a multiple of 5: each guess is 'wnid xmin ymin xmax ymax'"
    )
    # classification rows given to a localization challenge: five wnids look like one group
    error = rejection(kaggle(kaggle_rows("classification")), key, "localization")
    assert error.line == 2 and "'n01443537' is not a number" in error.problem
    error = rejection(kaggle(kaggle_rows("classification")[1:]), key, "localization")
    assert error.line == 2 and "1 values, not a multiple of 5" in error.problem


@pytest.mark.parametrize("value", ["x", "1,5", "0x10", "1_000", "", "12px"])
def test_malformed_numbers(key: AnswerKey, value: str) -> None:
    row = f"{B},{CLASSES[1]} 1 2 {value} 4"
    if value in ("", "1,5"):  # the row's shape breaks first
        error = rejection(_replace(kaggle_rows("localization"), 1, row), key, "localization")
        assert error.line == 3
        return
    error = rejection(_replace(kaggle_rows("localization"), 1, row), key, "localization")
    assert str(error) == (
        f"line 3: {value!r} is not a number: box coordinates must be decimal numbers such as "
        "12 or 12.5"
    )


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "1e999"])
def test_non_finite_numbers(key: AnswerKey, value: str) -> None:
    row = f"{D},{CLASSES[5]} 1 2 {value} 4"
    error = rejection(_replace(kaggle_rows("localization"), 3, row), key, "localization")
    assert error.line == 5
    assert "is not finite: give finite pixel coordinates" in error.problem
    assert "of 'n01496331'" in error.problem


@pytest.mark.parametrize("box", ["9 1 3 4", "1 9 3 4"])
def test_boxes_with_max_below_min(key: AnswerKey, box: str) -> None:
    row = f"{C},{CLASSES[2]} {box}"
    error = rejection(_replace(kaggle_rows("localization"), 2, row), key, "localization")
    assert error.line == 4
    assert "has xmax < xmin or ymax < ymin: give boxes as xmin ymin xmax ymax" in error.problem


def test_a_degenerate_one_pixel_box_is_fine(key: AnswerKey) -> None:
    row = f"{C},{CLASSES[2]} 3 3 3 3"
    predictions = parse_submission(
        _replace(kaggle_rows("localization"), 2, row), key, task="localization"
    )
    assert predictions.boxes is not None
    np.testing.assert_array_equal(predictions.boxes[2, 0], [3, 3, 3, 3])


def test_the_first_bad_line_is_reported(key: AnswerKey) -> None:
    rows = kaggle_rows("classification")
    rows[3] = f"{D},n99999999"  # line 5: an unknown class
    rows[1] = f"{B},{CLASSES[1]} {CLASSES[1]}"  # line 3: a repeat, found by a later check
    rows.append("junk")  # line 6: no comma
    assert rejection(kaggle(rows), key).line == 3


def test_line_numbers_count_blank_lines(key: AnswerKey) -> None:
    rows = kaggle_rows("classification")
    rows[2] = f"{C},n99999999"
    data = kaggle(["", "", *rows])
    assert rejection(data, key).line == 6


# Devkit ------------------------------------------------------------------------------------------


def test_devkit_needs_exactly_one_line_per_image(key: AnswerKey) -> None:
    lines = devkit_lines("classification")
    error = rejection(devkit([*lines, "1"]), key, fmt="devkit")
    assert error.line == 5
    assert "the file has 5 lines but the test set has 4 images" in error.problem
    error = rejection(devkit(lines[:3]), key, fmt="devkit")
    assert error.line is None
    assert str(error).startswith("the file has 3 lines but the test set has 4 images")
    assert "in the order of the sorted image ids" in str(error)


@pytest.mark.parametrize("token", ["0", "7", "-1", "x", "2.0", "n01440764"])
def test_devkit_class_numbers_are_one_based_indices(key: AnswerKey, token: str) -> None:
    lines = devkit_lines("classification")
    lines[1] = f"2 {token}"
    error = rejection(devkit(lines), key, fmt="devkit")
    assert str(error) == (
        f"line 2: {token!r} is not a class number in 1..6: devkit lines give 1-based indices "
        "into the sorted class list"
    )


def test_devkit_localization_rejections(key: AnswerKey) -> None:
    lines = devkit_lines("localization")
    lines[2] = "3 1 1 5"
    error = rejection(devkit(lines), key, "localization", fmt="devkit")
    assert error.line == 3
    assert "each guess is 'label xmin ymin xmax ymax'" in error.problem
    lines[2] = "3 1 1 5 abc"
    error = rejection(devkit(lines), key, "localization", fmt="devkit")
    assert error.line == 3 and "'abc' is not a number" in error.problem


def test_devkit_more_than_five_guesses(key: AnswerKey) -> None:
    lines = devkit_lines("classification")
    lines[3] = "1 2 3 4 5 6"
    assert rejection(devkit(lines), key, fmt="devkit").line == 4


# JSON --------------------------------------------------------------------------------------------


def test_invalid_json_names_the_line(key: AnswerKey) -> None:
    error = rejection(b'{\n  "predictions": {\n    "a": [,]\n  }\n}', key)
    assert error.line == 3 and error.problem.startswith("not valid JSON")


@pytest.mark.parametrize(
    "document", [[], [1, 2], {"predictions": []}, {"predictions": {}, "team": "x"}, {"preds": {}}]
)
def test_json_of_another_shape(key: AnswerKey, document: object) -> None:
    error = rejection(json.dumps(document).encode(), key, fmt="json")
    assert 'the file must be one object {"predictions"' in str(error)


def test_deeply_nested_json(key: AnswerKey) -> None:
    error = rejection(b'{"predictions": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", key)
    assert "nested too deeply" in str(error)


def test_json_repeated_image_id(key: AnswerKey) -> None:
    text = json.dumps(json_document("classification"))
    text = text.replace("}}", f', "{A}": ["{CLASSES[0]}"]}}}}')
    error = rejection(text.encode(), key)
    assert error.image_id == A and error.line is None
    assert str(error) == f"image '{A}': appears twice in predictions: give each image once"


@pytest.mark.parametrize(
    ("task", "value", "message"),
    [
        ("classification", "n01440764", "must be a list of up to 5 wnids"),
        ("classification", [1, 2], "must be a list of up to 5 wnids"),
        ("localization", ["n01440764"], "each guess must be an object with a wnid and a box"),
        ("localization", [{"wnid": "n01440764", "box": [1, 2, 3]}], "with a wnid and a box"),
        ("localization", [{"wnid": "n01440764", "box": [1, 2, 3, 4], "score": 1}], "a box"),
        ("localization", [{"wnid": "n01440764", "box": [1, "2", 3, 4]}], "must hold 4 numbers"),
        ("localization", [{"wnid": "n01440764", "box": [1, True, 3, 4]}], "must hold 4 numbers"),
        ("localization", [{"wnid": "n01440764", "box": [1, 2, 10**400, 4]}], "too large"),
        ("localization", [{"wnid": "n01440764", "box": [5, 2, 3, 4]}], "xmax < xmin"),
        ("localization", [{"wnid": "n01440764", "box": [1, 2, float("nan"), 4]}], "not finite"),
        ("classification", ["n01440764", "n99"], "unknown class 'n99'"),
        ("classification", ["n01440764"] * 2, "guessed twice"),
        ("classification", list(CLASSES), "6 guesses, more than 5"),
    ],
)
def test_json_problems_name_the_image(
    key: AnswerKey, task: str, value: object, message: str
) -> None:
    document = json_document(task)
    document["predictions"][C] = value
    error = rejection(json.dumps(document).encode(), key, task)
    assert error.image_id == C and error.line is None
    assert str(error).startswith(f"image '{C}': ")
    assert message in error.problem


def test_json_unknown_image(key: AnswerKey) -> None:
    document = json_document("classification")
    document["predictions"]["abc"] = []
    error = rejection(json.dumps(document).encode(), key)
    assert error.image_id == "abc" and "unknown image id 'abc'" in error.problem


# The error object --------------------------------------------------------------------------------


def test_submission_error_fields() -> None:
    error = SubmissionError("unknown class 'x': use a wnid", line=12)
    assert isinstance(error, ValueError)
    assert str(error) == "line 12: unknown class 'x': use a wnid"
    assert error.to_dict() == {
        "line": 12,
        "image_id": None,
        "problem": "unknown class 'x': use a wnid",
    }
    assert str(SubmissionError("too big")) == "too big"
    long = SubmissionError("bad", image_id="x" * 200)
    assert str(long) == f"image '{'x' * 80}...': bad"


def test_submission_error_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(SubmissionError("unknown class 'x'", line=7)))
    assert (error.line, error.image_id, str(error)) == (7, None, "line 7: unknown class 'x'")


# Object detection --------------------------------------------------------------------------------

# Per image (row of the sorted ids): (class, score, box), in the submission's order.
DETECTIONS = {
    0: [(0, 0.9, [1, 2, 30, 40]), (0, 0.8, [5, 5, 9.5, 9]), (3, 0.1, [0, 0, 1, 1])],
    1: [],
    2: [(5, -2.5, [1, 1, 2, 2])],
    3: [(1, 1e3, [7, 8, 9, 10])],
}


def expected_detections() -> np.ndarray:
    return np.array(
        [[i, c, score, *box] for i, found in DETECTIONS.items() for c, score, box in found]
    )


def detection_file(fmt: str) -> bytes:
    if fmt == "kaggle":
        rows = []
        for i, found in DETECTIONS.items():
            groups = [" ".join([CLASSES[c], *map(_number, [s, *b])]) for c, s, b in found]
            rows.append(f"{IDS[i]},{' '.join(groups)}")
        return kaggle(rows)
    if fmt == "devkit":
        lines = [
            " ".join(map(_number, [i + 1, c + 1, s, *b]))
            for i, found in reversed(DETECTIONS.items())  # images in any order
            for c, s, b in found
        ]
        return devkit([*lines[:2], "  ", *lines[2:]])  # blank lines skipped
    document = {
        "predictions": {
            IDS[i]: [{"wnid": CLASSES[c], "score": s, "box": b} for c, s, b in found]
            for i, found in DETECTIONS.items()
        }
    }
    return json.dumps(document).encode()


@pytest.mark.parametrize("fmt", FORMATS)
def test_detection_in_every_format(key: AnswerKey, fmt: str) -> None:
    data = detection_file(fmt)
    assert detect_format(data) == fmt
    predictions = parse_submission(data, key, task="detection")
    assert predictions.format == fmt
    assert predictions.boxes is None
    np.testing.assert_array_equal(predictions.labels, np.full((4, MAX_GUESSES), -1))
    assert predictions.detections is not None and predictions.detections.dtype == np.float64
    np.testing.assert_array_equal(predictions.detections, expected_detections())


def test_the_other_tasks_have_no_detections(key: AnswerKey) -> None:
    assert (
        parse_submission(encode("localization", "json"), key, task="localization").detections
        is None
    )


def test_detection_images_may_have_none_but_kaggle_and_json_need_every_row(
    key: AnswerKey,
) -> None:
    data = kaggle([f"{i}," for i in IDS])
    assert parse_submission(data, key, task="detection").detections.shape == (0, 7)
    assert parse_submission(b"\n", key, task="detection", fmt="devkit").detections.shape == (0, 7)
    error = rejection(kaggle([f"{i}," for i in IDS[1:]]), key, "detection")
    assert "1 of 4 test images have no prediction" in str(error)
    error = rejection(json.dumps({"predictions": {A: []}}).encode(), key, "detection")
    assert "3 of 4 test images have no prediction" in str(error)


def test_a_class_may_be_detected_many_times_up_to_the_limit(key: AnswerKey) -> None:
    group = f"{CLASSES[1]} 0.5 1 1 5 5"
    rows = [f"{A},{' '.join([group] * MAX_DETECTIONS)}", f"{B},", f"{C},", f"{D},"]
    detections = parse_submission(kaggle(rows), key, task="detection").detections
    assert detections.shape == (MAX_DETECTIONS, 7)
    rows[2] = f"{C},{' '.join([group] * (MAX_DETECTIONS + 1))}"
    assert str(rejection(kaggle(rows), key, "detection")) == (
        "line 4: 101 detections, more than 100: give at most 100 per image, the most confident"
    )


def test_detection_kaggle_rejections(key: AnswerKey) -> None:
    def bad(row: str, index: int = 1) -> SubmissionError:
        rows = [f"{i}," for i in IDS]
        rows[index] = f"{IDS[index]},{row}"
        return rejection(kaggle(rows), key, "detection")

    assert str(bad(f"{CLASSES[0]} 1 2 3 4")) == (
        "line 3: 5 values, not a multiple of 6: each detection is 'wnid score xmin ymin xmax ymax'"
    )
    assert str(bad(f"{CLASSES[0]} high 1 2 3 4")) == (
        "line 3: 'high' is not a number: scores and box coordinates must be decimal numbers "
        "such as 12 or 12.5"
    )
    error = bad(f"{CLASSES[0]} 0.5 1 2 3 4 {CLASSES[2]} nan 1 2 3 4", index=2)
    assert error.line == 4
    assert error.problem.startswith("score nan of 'n01484850' is not finite")
    assert "inf" in bad(f"{CLASSES[0]} 0.5 1 2 inf 4").problem
    assert "xmax < xmin" in bad(f"{CLASSES[0]} 0.5 5 2 3 4").problem
    assert "unknown class 'n1'" in bad("n1 0.5 1 2 3 4").problem


def test_detection_devkit_rejections(key: AnswerKey) -> None:
    def bad(line: str) -> SubmissionError:
        return rejection(devkit(["1 1 0.5 1 1 2 2", line]), key, "detection", fmt="devkit")

    assert str(bad("1 1 0.5 1 1 2")) == (
        "line 2: 6 values, not 7: each line is 'image class score xmin ymin xmax ymax'"
    )
    for image in ("0", "5", "1.0", "x"):
        assert str(bad(f"{image} 1 0.5 1 1 2 2")) == (
            f"line 2: {image!r} is not an image number in 1..4: devkit lines give 1-based "
            "indices into the sorted image ids"
        )
    assert "'7' is not a class number in 1..6" in bad("2 7 0.5 1 1 2 2").problem
    assert "'x' is not a number" in bad("2 1 x 1 1 2 2").problem
    assert "score inf" in bad("2 1 inf 1 1 2 2").problem
    assert "xmax < xmin" in bad("2 1 1 9 1 2 2").problem
    lines = ["2 1 0.5 1 1 2 2"] * 60 + ["1 1 0.5 1 1 2 2"] + ["2 1 0.5 1 1 2 2"] * 45
    error = rejection(devkit(lines), key, "detection", fmt="devkit")
    assert str(error) == (
        "line 102: image 2 has more than 100 detections by this line: give at most 100 per "
        "image, the most confident"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"wnid": CLASSES[0], "box": [1, 2, 3, 4]}, "must be a list of detections"),
        ([{"wnid": CLASSES[0], "box": [1, 2, 3, 4]}], "with a wnid, a score and a box"),
        (
            [{"wnid": CLASSES[0], "score": True, "box": [1, 2, 3, 4]}],
            "score 'true' must be a number",
        ),
        ([{"wnid": CLASSES[0], "score": "1", "box": [1, 2, 3, 4]}], "must be a number"),
        ([{"wnid": CLASSES[0], "score": 1, "box": [1, 2, "3", 4]}], "must hold 4 numbers"),
        ([{"wnid": CLASSES[0], "score": 10**400, "box": [1, 2, 3, 4]}], "too large"),
        ([{"wnid": CLASSES[0], "score": float("nan"), "box": [1, 2, 3, 4]}], "not finite"),
        ([{"wnid": CLASSES[0], "score": 1, "box": [1, 2, 3, 1]}], "ymax < ymin"),
        ([{"wnid": "n9", "score": 1, "box": [1, 2, 3, 4]}], "unknown class 'n9'"),
        ([{"wnid": CLASSES[0], "score": 1, "box": [1, 2, 3, 4]}] * 101, "101 detections"),
    ],
)
def test_detection_json_problems_name_the_image(key: AnswerKey, value, message: str) -> None:
    document = {"predictions": {i: [] for i in IDS}}
    document["predictions"][C] = value
    error = rejection(json.dumps(document).encode(), key, "detection")
    assert error.image_id == C
    assert message in error.problem


def test_detection_size_limit_speaks_of_detections(key: AnswerKey) -> None:
    error = rejection(b"x" * 101, key, "detection", max_bytes=100)
    assert "give at most 100 detections per image" in str(error)
