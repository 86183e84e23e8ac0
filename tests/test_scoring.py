"""Metrics against hand-computed values and MTEB's own unit-test numbers."""

import numpy as np
import pytest
from scipy.stats import rankdata

from bench.scoring import score_pair_classification, score_sts
from bench.scoring.pair_classification import best_accuracy_and_threshold, best_f1_and_threshold, metrics_for_scores

# MTEB's tests/test_evaluators: scores and labels with a known best accuracy 0.9 at threshold 7.96
MTEB_SCORES = [6.12, 5.39, 5.28, 5.94, 6.34, 6.47, 7.88, 6.62, 8.04, 5.9]
MTEB_LABELS = [0, 0, 0, 0, 1, 0, 0, 0, 1, 0]


def test_accuracy_matches_mteb_unit_test():
    acc, threshold = best_accuracy_and_threshold(MTEB_SCORES, MTEB_LABELS, True)
    assert acc == pytest.approx(0.9)
    assert threshold == pytest.approx(7.96, abs=1e-4)


def test_f1_by_hand():
    # sorted: 8.04(+) 7.88(-) 6.62(-) 6.47(-) 6.34(+) ... best cut after the first pair: P=1, R=0.5
    f1, precision, recall, threshold = best_f1_and_threshold(MTEB_SCORES, MTEB_LABELS, True)
    assert (f1, precision, recall) == pytest.approx((2 / 3, 1.0, 0.5))
    assert threshold == pytest.approx((8.04 + 7.88) / 2)


def test_distances_sweep_ascending():
    distances = [0.1, 0.2, 0.9, 1.0]
    labels = [1, 1, 0, 0]
    acc, threshold = best_accuracy_and_threshold(distances, labels, False)
    assert acc == 1.0 and threshold == pytest.approx(0.55)


def test_ties_keep_input_order_like_mteb():
    # equal scores: the stable sort keeps input order, so the first tie is "predicted positive" first
    f1, precision, recall, _ = best_f1_and_threshold([0.5, 0.5, 0.1], [0, 1, 0], True)
    assert (f1, precision, recall) == pytest.approx((2 / 3, 0.5, 1.0))


def test_average_precision_by_hand():
    # ranking + - + : precision at the positives 1/1 and 2/3 -> AP = (1 + 2/3) / 2
    assert metrics_for_scores(np.array([0.9, 0.8, 0.7]), np.array([1, 0, 1]), True)["ap"] == pytest.approx(5 / 6)


def test_pair_classification_keys_and_main_score():
    e1 = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    e2 = np.array([[1.0, 0.1], [0.0, 1.0], [0.0, 2.0], [-1.0, -1.0]])
    out = score_pair_classification(e1, e2, np.array([1, 0, 1, 0]))
    for fn in ("cosine", "dot", "euclidean", "manhattan", "similarity"):
        for metric in ("accuracy", "accuracy_threshold", "f1", "f1_threshold", "precision", "recall", "ap"):
            assert f"{fn}_{metric}" in out
    assert out["cosine_ap"] == 1.0 and out["cosine_accuracy"] == 1.0
    # dot: 1, 0, 2, -2 -> ranking + + - - is perfect too
    assert out["dot_ap"] == 1.0
    # euclidean: 0.1(+), 1.414(-), 1.0(+), 2.83(-) -> ascending + + - - : perfect
    assert out["euclidean_ap"] == 1.0
    assert out["euclidean_accuracy_threshold"] == pytest.approx((1.0 + np.sqrt(2)) / 2)
    assert out["max_ap"] == 1.0 == out["main_score"]
    assert "test split" in out["threshold_selection"]


def test_sts_by_hand():
    e1 = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    e2 = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [-1.0, 0.2]])
    gold = np.array([5.0, 3.0, 1.0, 0.0])
    out = score_sts(e1, e2, gold)
    cosine = np.array([1.0, 1 / np.sqrt(2), 0.0, -1 / np.sqrt(1.04)])
    assert out["cosine_pearson"] == pytest.approx(np.corrcoef(cosine, gold)[0, 1])
    assert out["cosine_spearman"] == pytest.approx(1.0)
    euclid = -np.array([0.0, 1.0, np.sqrt(2), np.sqrt(4.04)])
    assert out["euclidean_pearson"] == pytest.approx(np.corrcoef(euclid, gold)[0, 1])
    manhattan = -np.array([0.0, 1.0, 2.0, 2.2])
    assert out["manhattan_spearman"] == pytest.approx(np.corrcoef(rankdata(manhattan), rankdata(gold))[0, 1])
    assert out["main_score"] == out["cosine_spearman"] == out["spearman"]


def test_pair_classification_rejects_non_binary_labels():
    with pytest.raises(ValueError, match="0/1"):
        score_pair_classification(np.ones((2, 2)), np.ones((2, 2)), np.array([0, 2]))


def _as_pairs(similarity):
    similarity = np.asarray(similarity, dtype=float)
    return {"similarity": similarity, "cosine": similarity, "dot": similarity,
            "euclidean": 1 - similarity, "manhattan": 2 * (1 - similarity)}


def test_heldout_thresholds_come_from_validation_only():
    from bench.scoring.pair_classification import heldout_metrics

    validation = _as_pairs([0.9, 0.8, 0.3, 0.2])  # best cut on validation: 0.55
    test = _as_pairs([0.6, 0.5, 0.56, 0.1])
    labels = np.array([1, 1, 0, 0])
    out = heldout_metrics(validation, labels, test, labels)
    assert out["cosine_heldout_accuracy_threshold"] == pytest.approx(0.55)
    assert out["cosine_heldout_accuracy"] == 0.5  # predictions 1 0 1 0
    assert out["euclidean_heldout_accuracy_threshold"] == pytest.approx(0.45)  # the same cut, as a distance
    assert out["euclidean_heldout_accuracy"] == 0.5
    assert (out["cosine_heldout_precision"], out["cosine_heldout_recall"]) == (0.5, 0.5)
    assert out["heldout_accuracy"] == 0.5 and out["heldout_accuracy_function"] == "cosine"
    # MTEB's test-picked accuracy on the same test pairs is optimistic
    assert best_accuracy_and_threshold(test["cosine"], labels, True)[0] == 0.75
