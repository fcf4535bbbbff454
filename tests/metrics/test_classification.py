"""Classification metrics against hand-computed values, scikit-learn and the real WordNet."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np
import pytest
import sklearn.metrics

from synsetlab.metrics import (
    ClassificationReport,
    classification_report,
    confusion_matrix,
    expected_calibration_error,
    mistake_severity,
    per_class_accuracy,
    reliability_bins,
    topk_correct,
    topk_error,
    topk_predictions,
)
from synsetlab.taxonomy import Taxonomy

CHIHUAHUA, JAPANESE_SPANIEL, SHIH_TZU = "n02085620", "n02085782", "n02086240"
CAR, TENCH = "n02958343", "n01440764"
TOY_DOG, WHOLE, VERTEBRATE = "n02085374", "n00003553", "n01471682"

# Four images, six classes: 0 and 1 right at top-1; 2 guessed 3 first but within the top 5;
# 3's true class has the lowest score, the only class outside the top 5.
SCORES = np.array(
    [
        [0.50, 0.10, 0.10, 0.10, 0.10, 0.10],
        [0.10, 0.60, 0.10, 0.10, 0.05, 0.05],
        [0.10, 0.10, 0.30, 0.40, 0.05, 0.05],
        [0.30, 0.20, 0.20, 0.15, 0.10, 0.05],
    ]
)
LABELS = np.array([0, 1, 2, 5])


@pytest.fixture(scope="module")
def wordnet() -> Taxonomy:
    return Taxonomy.wordnet()


# Top-k -------------------------------------------------------------------------------------------


def test_topk_error_of_the_four_image_example() -> None:
    assert topk_error(SCORES, LABELS, k=1) == 0.5
    assert topk_error(SCORES, LABELS, k=5) == 0.25
    assert topk_error(SCORES, LABELS, k=6) == 0.0


def test_topk_predictions_are_best_first_with_ties_to_the_lower_class() -> None:
    top = topk_predictions(SCORES, 5)
    assert top.shape == (4, 5)
    assert np.issubdtype(top.dtype, np.integer)
    np.testing.assert_array_equal(
        top,
        [[0, 1, 2, 3, 4], [1, 0, 2, 3, 4], [3, 2, 0, 1, 4], [0, 1, 2, 3, 4]],
    )


def test_tied_top_scores_go_to_the_lower_class_index() -> None:
    scores = np.array([[0.2, 0.4, 0.4], [0.5, 0.0, 0.5]])
    np.testing.assert_array_equal(topk_predictions(scores, 1), [[1], [0]])
    assert topk_error(scores, np.array([2, 2]), k=1) == 1.0
    assert topk_error(scores, np.array([2, 2]), k=2) == 0.0


def test_topk_predictions_match_a_stable_sort_on_many_ties() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(200, 9)).astype(np.float32)  # mostly ties
    expected = np.array([sorted(range(9), key=lambda j, r=r: (-r[j], j))[:4] for r in scores])
    np.testing.assert_array_equal(topk_predictions(scores, 4), expected)


def test_topk_predictions_take_integer_scores_without_wrapping() -> None:
    scores = np.array([[1, 3, 2]], dtype=np.uint8)
    np.testing.assert_array_equal(topk_predictions(scores, 3), [[1, 2, 0]])


def test_topk_error_takes_ilsvrc_style_guesses() -> None:
    # Five guesses per image, best first, as an ILSVRC submission gives them.
    guesses = np.array([[3, 2, 1, 0, 4], [9, 8, 7, 6, 5], [5, 6, 7, 8, 2]])
    labels = np.array([3, 1, 2])
    assert topk_error(guesses, labels, k=1) == pytest.approx(2 / 3)
    assert topk_error(guesses, labels, k=5) == pytest.approx(1 / 3)
    assert topk_error(guesses, labels, k=5, num_classes=10) == pytest.approx(1 / 3)
    assert topk_error(guesses[:, 0], labels, k=1) == pytest.approx(2 / 3)  # one guess each


def test_topk_error_only_counts_the_first_k_guesses() -> None:
    guesses = np.array([[0, 1, 2, 3, 4, 5, 6]])
    assert topk_error(guesses, np.array([6]), k=5) == 1.0
    assert topk_error(guesses, np.array([6]), k=7) == 0.0


def test_topk_error_agrees_with_scikit_learn_on_random_scores() -> None:
    rng = np.random.default_rng(1)
    scores = rng.random((300, 12))
    labels = rng.integers(0, 12, 300)
    for k in (1, 3, 5):
        expected = sklearn.metrics.top_k_accuracy_score(labels, scores, k=k, labels=range(12))
        assert topk_error(scores, labels, k=k) == pytest.approx(1 - expected)


# Per class and confusion -------------------------------------------------------------------------


def test_per_class_accuracy_is_nan_for_an_absent_class() -> None:
    acc = per_class_accuracy(np.array([0, 1, 1, 0]), np.array([0, 1, 1, 1]), num_classes=3)
    assert acc.shape == (3,)
    assert acc[0] == 1.0
    assert acc[1] == pytest.approx(2 / 3)
    assert math.isnan(acc[2])


def test_confusion_matrix_rows_are_truth_and_columns_predictions() -> None:
    m = confusion_matrix(np.array([1, 1, 0, 2]), np.array([0, 1, 0, 0]), num_classes=3)
    assert m.dtype == np.int64
    np.testing.assert_array_equal(m, [[1, 1, 1], [0, 1, 0], [0, 0, 0]])


def test_confusion_matrix_matches_scikit_learn_on_random_data() -> None:
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 7, 500)
    predictions = np.where(rng.random(500) < 0.6, labels, rng.integers(0, 7, 500))
    expected = sklearn.metrics.confusion_matrix(labels, predictions, labels=range(7))
    np.testing.assert_array_equal(confusion_matrix(predictions, labels, num_classes=7), expected)
    acc = per_class_accuracy(predictions, labels, num_classes=7)
    np.testing.assert_allclose(acc, np.diag(expected) / expected.sum(axis=1))


# Calibration -------------------------------------------------------------------------------------


def _repeat(row: list[float], n: int) -> np.ndarray:
    return np.tile(np.array(row), (n, 1))


def test_ece_is_zero_when_confidence_matches_accuracy() -> None:
    probs = _repeat([0.8, 0.2], 10)
    labels = np.array([0] * 8 + [1] * 2)  # 80% right at 80% confidence
    assert expected_calibration_error(probs, labels) == pytest.approx(0.0)


def test_ece_of_an_over_confident_model() -> None:
    probs = _repeat([0.9, 0.1], 10)
    labels = np.array([0] * 6 + [1] * 4)  # 60% right at 90% confidence
    assert expected_calibration_error(probs, labels) == pytest.approx(0.3)


def test_ece_weights_each_bin_by_its_images() -> None:
    probs = np.vstack([_repeat([0.7, 0.3], 4), _repeat([0.95, 0.05], 6)])
    labels = np.array([0, 0, 1, 1] + [0] * 6)
    # bin (0.6, 0.8]: 4 images, accuracy 0.5 at 0.7; bin (0.8, 1]: 6 images, 1.0 at 0.95
    expected = 4 / 10 * 0.2 + 6 / 10 * 0.05
    assert expected_calibration_error(probs, labels, bins=5) == pytest.approx(expected)


def test_reliability_bins_are_closed_on_the_right() -> None:
    probs = np.array([[0.4, 0.3, 0.3], [0.8, 0.1, 0.1], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    bins = reliability_bins(probs, np.array([0, 1, 0, 1]), bins=5)
    np.testing.assert_allclose(bins.edges, [0, 0.2, 0.4, 0.6, 0.8, 1.0])
    # 0.4 -> (0.2, 0.4]; 0.5 -> (0.4, 0.6]; 0.8 -> (0.6, 0.8]; 1.0 -> (0.8, 1.0]
    np.testing.assert_array_equal(bins.count, [0, 1, 1, 1, 1])
    np.testing.assert_array_equal(bins.accuracy[1:], [1.0, 0.0, 0.0, 1.0])  # tie: class 0
    np.testing.assert_allclose(bins.confidence[1:], [0.4, 0.5, 0.8, 1.0])
    assert math.isnan(bins.confidence[0]) and math.isnan(bins.accuracy[0])
    assert bins.n_images == 4


def test_ece_matches_a_direct_loop_over_bins() -> None:
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.full(10, 0.3), size=1000)
    labels = rng.integers(0, 10, 1000)
    conf, correct = probs.max(axis=1), probs.argmax(axis=1) == labels
    edges = np.linspace(0, 1, 16)
    expected = 0.0
    for lo, hi in itertools.pairwise(edges):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            expected += inside.mean() * abs(correct[inside].mean() - conf[inside].mean())
    assert expected_calibration_error(probs, labels) == pytest.approx(expected)


# Mistake severity --------------------------------------------------------------------------------

CLASSES = (CHIHUAHUA, JAPANESE_SPANIEL, SHIH_TZU, CAR, TENCH)


def test_mistake_severity_on_wordnet_classes(wordnet: Taxonomy) -> None:
    labels = np.array([0, 0, 2, 4, 0])
    predictions = np.array([1, 3, 2, 0, 1])  # toy dogs, dog/car, right, tench/dog, toy dogs
    result = mistake_severity(predictions, labels, classes=CLASSES, taxonomy=wordnet)
    toy, car, fish = wordnet.height(TOY_DOG), wordnet.height(WHOLE), wordnet.height(VERTEBRATE)
    assert (toy, car, fish) == (3, 16, 11)
    np.testing.assert_array_equal(result.per_image, [toy, car, np.nan, fish, toy])
    assert result.n_mistakes == 4
    assert result.mean == pytest.approx((3 + 16 + 11 + 3) / 4)
    assert result.histogram.tolist() == [0, 0, 0, 2] + [0] * 7 + [1] + [0] * 4 + [1]


def test_a_dog_taken_for_a_car_is_worse_than_for_another_dog(wordnet: Taxonomy) -> None:
    def severity(a: str, b: str) -> float:
        return mistake_severity(np.array([1]), np.array([0]), classes=[a, b], taxonomy=wordnet).mean

    assert severity(CHIHUAHUA, SHIH_TZU) < severity(CHIHUAHUA, TENCH) < severity(CHIHUAHUA, CAR)
    # Where the hierarchy is a tree above the pair, this is the taxonomy's own LCA height.
    for other in (CAR, TENCH):
        lca = wordnet.lowest_common_ancestor(CHIHUAHUA, other)
        assert severity(CHIHUAHUA, other) == wordnet.height(lca)
        assert severity(other, CHIHUAHUA) == wordnet.height(lca)


def test_severity_is_the_nearest_shared_category_in_the_dag(wordnet: Taxonomy) -> None:
    # 'dog' is both a canine and a domestic animal; both toy breeds are toy dogs, whatever the
    # depth-based LCA picks among the shared ancestors.
    shared = (wordnet.ancestors(CHIHUAHUA) & wordnet.ancestors(JAPANESE_SPANIEL)) - {TOY_DOG}
    assert wordnet.is_ancestor(TOY_DOG, CHIHUAHUA)
    assert wordnet.is_ancestor(TOY_DOG, JAPANESE_SPANIEL)
    assert all(wordnet.height(w) > wordnet.height(TOY_DOG) for w in shared)
    result = mistake_severity(
        np.array([1]), np.array([0]), classes=[CHIHUAHUA, JAPANESE_SPANIEL], taxonomy=wordnet
    )
    assert result.mean == wordnet.height(TOY_DOG)


def test_mistake_severity_without_mistakes(wordnet: Taxonomy) -> None:
    result = mistake_severity(np.array([0, 1]), np.array([0, 1]), classes=CLASSES, taxonomy=wordnet)
    assert result.n_mistakes == 0
    assert math.isnan(result.mean)
    assert result.histogram.size == 0
    assert np.isnan(result.per_image).all()


class _CountingTaxonomy:
    """Forwards to a taxonomy and counts lowest-common-ancestor lookups."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self.lca_calls = 0

    def __contains__(self, wnid: object) -> bool:
        return wnid in self.taxonomy

    def lowest_common_ancestor(self, a: str, b: str) -> str:
        self.lca_calls += 1
        return self.taxonomy.lowest_common_ancestor(a, b)

    def height(self, wnid: str) -> int:
        return self.taxonomy.height(wnid)


def test_mistake_severity_looks_each_class_pair_up_once(wordnet: Taxonomy) -> None:
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 5, 2000)
    predictions = rng.integers(0, 5, 2000)
    counting = _CountingTaxonomy(wordnet)
    result = mistake_severity(predictions, labels, classes=CLASSES, taxonomy=counting)  # type: ignore[arg-type]
    assert counting.lca_calls <= len(CLASSES) * (len(CLASSES) - 1)  # one per ordered pair
    assert result.n_mistakes == int((predictions != labels).sum())


# Report ------------------------------------------------------------------------------------------

SIX = (CHIHUAHUA, JAPANESE_SPANIEL, SHIH_TZU, CAR, TENCH, "n01443537")  # + goldfish


def test_classification_report_of_the_four_image_example(wordnet: Taxonomy) -> None:
    report = classification_report(SCORES, LABELS, classes=SIX, taxonomy=wordnet)
    assert isinstance(report, ClassificationReport)
    assert report.n_images == 4
    assert (report.top1_error, report.top5_error) == (0.5, 0.25)
    assert (report.top1_accuracy, report.top5_accuracy) == (0.5, 0.75)
    assert report.confusion_matrix.shape == (6, 6)
    assert report.confusion_matrix[2, 3] == 1 and report.confusion_matrix[5, 0] == 1
    np.testing.assert_array_equal(report.per_class_accuracy, [1, 1, 0, np.nan, np.nan, 0])
    assert report.ece == pytest.approx(expected_calibration_error(SCORES, LABELS))
    # Shih-Tzu taken for a car ('whole'), goldfish for a Chihuahua ('vertebrate')
    assert report.mean_mistake_severity == pytest.approx((16 + 11) / 2)


def test_report_to_dict_is_strict_json(wordnet: Taxonomy) -> None:
    report = classification_report(SCORES, LABELS, classes=SIX, taxonomy=wordnet)
    out: dict[str, Any] = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert out["top1_error"] == 0.5 and out["top5_error"] == 0.25
    assert out["topk_error"] == {"1": 0.5, "5": 0.25}
    assert out["per_class_accuracy"] == [1.0, 1.0, 0.0, None, None, 0.0]
    assert out["confusion_matrix"][2][3] == 1
    assert out["classes"] == list(SIX)
    assert out["mean_mistake_severity"] == 13.5
    assert sum(out["mistake_severity_histogram"]) == 2
    assert sum(out["reliability"]["count"]) == 4
    assert len(out["reliability"]["confidence"]) == 15


def test_report_without_taxonomy_and_with_fewer_classes_than_k() -> None:
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]])
    report = classification_report(probs, np.array([0, 2]), classes=["a", "b", "c"])
    assert report.topk_errors == {1: 0.5}  # top-5 of 3 classes is left out
    assert report.top5_error is None and report.top5_accuracy is None
    assert report.mistake_severity is None and report.mean_mistake_severity is None
    out = report.to_dict()
    assert out["top5_error"] is None and out["mean_mistake_severity"] is None
    assert out["mistake_severity_histogram"] is None
    three = classification_report(probs, np.array([0, 2]), classes=["a", "b", "c"], ks=(1, 2, 3))
    assert three.topk_errors == {1: 0.5, 2: 0.0, 3: 0.0}


def test_report_with_no_mistakes_gives_none_severity(wordnet: Taxonomy) -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    report = classification_report(probs, np.array([0, 1]), classes=CLASSES[:2], taxonomy=wordnet)
    assert math.isnan(report.mean_mistake_severity)  # type: ignore[arg-type]
    assert report.to_dict()["mean_mistake_severity"] is None


# Bad input ---------------------------------------------------------------------------------------

P2 = np.array([[0.9, 0.1], [0.3, 0.7]])
Y2 = np.array([0, 1])
HIDDEN = np.array([0, -1])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: topk_error(P2, Y2, k=0), "k must be at least 1, got 0"),
        (lambda: topk_error(P2, Y2, k=3), "k=3 is more than the 2 classes"),
        (lambda: topk_error(P2, Y2, k=1.0), "k must be an integer"),
        (lambda: topk_error(np.empty((0, 2)), np.array([], dtype=int), k=1), "empty"),
        (lambda: topk_error(P2, np.array([], dtype=int), k=1), "labels is empty"),
        (lambda: topk_error(P2, np.array([0, 1, 1]), k=1), "2 images but labels has 3"),
        (lambda: topk_error(P2, np.array([0, 2]), k=1), r"labels\[1\] = 2 is not .* \[0, 2\)"),
        (lambda: topk_error(P2, HIDDEN, k=1), r"hidden labels cannot be scored: labels\[1\]"),
        (lambda: topk_error(P2, np.array([0.0, 1.0]), k=1), "integer class indices"),
        (lambda: topk_error(P2, Y2, k=1, num_classes=3), "num_classes=3 but scores have 2"),
        (lambda: topk_error(np.array([[0, 1], [1, 0]]), Y2, k=3), "fewer than k=3"),
        (lambda: topk_error(np.array([[0], [-4]]), Y2, k=1), r"predictions\[1, 0\] = -4"),
        (lambda: topk_error(np.array([[0], [5]]), Y2, k=1, num_classes=2), r"\[1, 0\] = 5"),
        (lambda: topk_error(np.array([[0], [1]]), Y2, k=1, num_classes=0), "num_classes must"),
        (lambda: topk_predictions(np.array([0.1, 0.9]), 1), "2-D array"),
        (lambda: topk_predictions(np.array([[0.1, np.nan]]), 1), r"scores\[0, 1\] is NaN"),
        (lambda: topk_predictions(np.array([["a", "b"]]), 1), "real numbers"),
        (lambda: per_class_accuracy([0, 1], [0, 1], num_classes=0), "at least 1"),
        (lambda: per_class_accuracy([0, 3], [0, 1], num_classes=3), r"predictions\[1\] = 3"),
        (lambda: per_class_accuracy([0, 1], HIDDEN, num_classes=2), "hidden labels"),
        (lambda: per_class_accuracy([[0, 1]], [0, 1], num_classes=2), "1-D array"),
        (lambda: confusion_matrix([0], [0, 1], num_classes=2), "1 images but labels has 2"),
        (lambda: confusion_matrix([0, 1], HIDDEN, num_classes=2), "hidden labels"),
        (lambda: confusion_matrix([0, 1], [0, 1], num_classes=True), "must be an integer"),
        (lambda: expected_calibration_error(P2, HIDDEN), "hidden labels"),
        (lambda: expected_calibration_error(P2, Y2, bins=0), "bins must be at least 1"),
        (lambda: expected_calibration_error(P2 * 3, Y2), r"probs\[0, 0\] = 2.7 is not a prob"),
        (lambda: expected_calibration_error(P2 / 2, Y2), "row 0 sums to 0.5, not 1"),
        (lambda: reliability_bins(P2, np.array([0, 3])), r"labels\[1\] = 3"),
    ],
)
def test_bad_input_raises_value_error_naming_it(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"classes": [CHIHUAHUA, "n99999999"]}, r"1 classes are not in the taxonomy.*n99999999"),
        ({"classes": [CHIHUAHUA, CHIHUAHUA]}, r"named more than once: \['n02085620'\]"),
        ({"classes": []}, "classes is empty"),
        ({"classes": [CHIHUAHUA, CAR], "labels": HIDDEN}, "hidden labels"),
        ({"classes": [CHIHUAHUA]}, r"predictions\[1\] = 1 is not a class index in \[0, 1\)"),
    ],
)
def test_mistake_severity_refuses_bad_classes(
    wordnet: Taxonomy, kwargs: dict[str, Any], message: str
) -> None:
    args = {"predictions": np.array([0, 1]), "labels": Y2, **kwargs}
    with pytest.raises(ValueError, match=message):
        mistake_severity(args.pop("predictions"), args.pop("labels"), taxonomy=wordnet, **args)


def test_report_refuses_hidden_labels_logits_and_mismatched_classes() -> None:
    with pytest.raises(ValueError, match="hidden labels cannot be scored"):
        classification_report(P2, HIDDEN, classes=["a", "b"])
    with pytest.raises(ValueError, match="not logits"):
        classification_report(np.array([[2.0, -1.0], [0.5, 3.0]]), Y2, classes=["a", "b"])
    with pytest.raises(ValueError, match="2 columns but 3 classes"):
        classification_report(P2, Y2, classes=["a", "b", "c"])
    with pytest.raises(ValueError, match="k must be at least 1, got 0"):
        classification_report(P2, Y2, classes=["a", "b"], ks=(0,))


# Submissions with fewer guesses ------------------------------------------------------------------


def test_minus_one_is_no_guess_and_never_matches() -> None:
    guesses = np.array([[2, -1, -1], [-1, -1, -1], [0, 1, -1], [1, 0, 2]])
    labels = np.array([2, 0, 1, 2])
    np.testing.assert_array_equal(topk_correct(guesses, labels, k=1), [True, False, False, False])
    np.testing.assert_array_equal(
        topk_correct(guesses, labels, k=3, num_classes=3), [True, False, True, True]
    )
    assert topk_error(guesses, labels, k=3, num_classes=3) == 0.25


def test_topk_correct_agrees_with_topk_error_on_scores() -> None:
    correct = topk_correct(SCORES, LABELS, k=1)
    assert correct.dtype == np.bool_
    np.testing.assert_array_equal(correct, [True, True, False, False])
    np.testing.assert_array_equal(topk_correct(SCORES, LABELS, k=5), [True, True, True, False])
    assert topk_error(SCORES, LABELS, k=5) == 1 - topk_correct(SCORES, LABELS, k=5).mean()


@pytest.mark.parametrize(
    ("guesses", "message"),
    [
        (np.array([[0], [-2]]), r"predictions\[1, 0\] = -2 is neither a class index nor -1"),
        (np.array([[0], [2]]), r"predictions\[1, 0\] = 2 is neither a class index in \[0, 2\)"),
    ],
)
def test_other_negative_or_large_guesses_are_still_refused(guesses, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        topk_correct(guesses, Y2, k=1, num_classes=2 if guesses.max() > 1 else None)


def test_labels_of_minus_one_are_still_hidden_labels() -> None:
    with pytest.raises(ValueError, match="hidden labels cannot be scored"):
        topk_correct(np.array([[0], [-1]]), np.array([0, -1]), k=1)
