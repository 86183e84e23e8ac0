"""Binary pair classification scored from pair similarities (MTEB's PairClassification).

For each score function (cosine, dot, euclidean, manhattan; ``similarity`` is the model's own,
i.e. cosine) it reports average precision, the best accuracy and best F1 over MTEB's threshold
sweep (with precision and recall at the best F1), the thresholds, and ``max_*`` over functions.
Main score: ``max_ap``.

The sweep sorts pairs by score (stable, so ties keep their input order as in MTEB), and for each
cut between neighbours ``i`` and ``i + 1`` predicts "positive" for the first ``i + 1`` pairs; the
threshold is the midpoint of the two scores. Thresholds are chosen on the evaluated split itself,
as MTEB does: these accuracy/F1 numbers are optimistic upper bounds, not held-out estimates.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score

from bench.scoring.similarity import cosine_similarity, dot_product, euclidean_distance, manhattan_distance

MAIN_SCORE = "max_ap"
THRESHOLD_NOTE = ("*_accuracy/*_f1: thresholds picked on the test split itself, as MTEB does (optimistic); "
                  "*_heldout_* and heldout_*: threshold (and score function) picked on the validation split, "
                  "applied to test")
_MAXED = ("accuracy", "f1", "precision", "recall", "ap")


def _ordered(scores: np.ndarray, labels: np.ndarray, high_score_more_similar: bool):
    order = np.argsort(-scores if high_score_more_similar else scores, kind="stable")
    return scores[order], labels[order]


def best_accuracy_and_threshold(scores, labels, high_score_more_similar: bool) -> tuple[float, float]:
    """Best accuracy over cuts, and the midpoint threshold at the first cut reaching it."""
    scores, labels = np.asarray(scores), np.asarray(labels).astype(np.int64)
    s, y = _ordered(scores, labels, high_score_more_similar)
    n = len(y)
    if n < 2:
        return 0.0, -1.0
    positives_so_far = np.cumsum(y)[:-1]
    negatives_so_far = np.cumsum(1 - y)[:-1]
    accuracy = (positives_so_far + (n - y.sum() - negatives_so_far)) / n
    best = int(np.argmax(accuracy))
    if accuracy[best] <= 0:
        return 0.0, -1.0
    return float(accuracy[best]), float((s[best] + s[best + 1]) / 2)


def best_f1_and_threshold(scores, labels, high_score_more_similar: bool) -> tuple[float, float, float, float]:
    """Best F1 over cuts, with precision, recall and the midpoint threshold at the first best cut."""
    scores, labels = np.asarray(scores), np.asarray(labels).astype(np.int64)
    s, y = _ordered(scores, labels, high_score_more_similar)
    n = len(y)
    if n < 2 or y.sum() == 0:
        return 0.0, 0.0, 0.0, 0.0
    correct = np.cumsum(y)[:-1].astype(np.float64)
    extracted = np.arange(1, n, dtype=np.float64)
    precision = correct / extracted
    recall = correct / y.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(correct > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = int(np.argmax(f1))
    if f1[best] <= 0:
        return 0.0, 0.0, 0.0, 0.0
    return float(f1[best]), float(precision[best]), float(recall[best]), float((s[best] + s[best + 1]) / 2)


def metrics_for_scores(scores, labels, high_score_more_similar: bool) -> dict[str, float]:
    scores, labels = np.asarray(scores), np.asarray(labels)
    accuracy, accuracy_threshold = best_accuracy_and_threshold(scores, labels, high_score_more_similar)
    f1, precision, recall, f1_threshold = best_f1_and_threshold(scores, labels, high_score_more_similar)
    sign = 1 if high_score_more_similar else -1
    ap = float(average_precision_score(labels, scores * sign))
    return {
        "accuracy": accuracy,
        "accuracy_threshold": accuracy_threshold,
        "f1": f1,
        "f1_threshold": f1_threshold,
        "precision": precision,
        "recall": recall,
        "ap": ap,
    }


#: Score functions and whether a higher value means "more similar" (distances: lower).
FUNCTIONS = {"similarity": True, "cosine": True, "manhattan": False, "euclidean": False, "dot": True}


def pair_scores(e1: np.ndarray, e2: np.ndarray) -> dict[str, np.ndarray]:
    """One value per pair and function (``similarity`` is the model's own: cosine)."""
    cosine = cosine_similarity(e1, e2)
    return {"similarity": cosine, "cosine": cosine, "manhattan": manhattan_distance(e1, e2),
            "euclidean": euclidean_distance(e1, e2), "dot": dot_product(e1, e2)}


def _check_labels(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels).astype(np.int64)
    if not set(np.unique(labels)) <= {0, 1}:
        raise ValueError(f"pair classification labels must be 0/1, got {sorted(set(np.unique(labels)))}")
    return labels


def data_problem(labels: np.ndarray) -> str | None:
    """Why average precision means nothing on these labels (None when it does): without positive pairs it is
    undefined (scikit-learn returns 0.0 with a warning), without negative pairs it is 1.0 for any model."""
    labels = np.asarray(labels)
    positives = int(np.sum(labels == 1))
    if positives == 0:
        return (f"none of its {len(labels)} pairs is positive, and average precision (and F1) is undefined without "
                f"positive pairs")
    if positives == len(labels):
        return (f"all {len(labels)} pairs are positive, and average precision is 1.0 for any model without "
                f"negative pairs")
    return None


def metrics_from_pairs(pairs: dict[str, np.ndarray], labels: np.ndarray) -> dict:
    labels = _check_labels(labels)
    out: dict = {}
    for name, high_more_similar in FUNCTIONS.items():
        for metric, value in metrics_for_scores(pairs[name], labels, high_more_similar).items():
            out[f"{name}_{metric}"] = value
    for metric in _MAXED:
        out[f"max_{metric}"] = max(out[f"{name}_{metric}"] for name in FUNCTIONS)
    out["main_score"] = out[MAIN_SCORE]
    out["threshold_selection"] = THRESHOLD_NOTE
    return out


def _predict(scores: np.ndarray, threshold: float, high_more_similar: bool) -> np.ndarray:
    """MTEB's sweep predicts "positive" for pairs beyond the midpoint threshold."""
    return scores > threshold if high_more_similar else scores < threshold


def heldout_metrics(validation: dict[str, np.ndarray], validation_labels: np.ndarray,
                    test: dict[str, np.ndarray], test_labels: np.ndarray) -> dict:
    """Accuracy and F1 on test with thresholds chosen on validation (MTEB's sweep run on validation).

    Per function: ``{fn}_heldout_accuracy`` (+ ``_threshold``), ``{fn}_heldout_f1``/``precision``/
    ``recall`` (+ ``_f1_threshold``). Overall ``heldout_accuracy``/``heldout_f1``: the function that was
    best *on validation*, so nothing about the result is chosen on test.
    """
    from sklearn.metrics import f1_score, precision_score, recall_score

    validation_labels, test_labels = _check_labels(validation_labels), _check_labels(test_labels)
    out: dict = {}
    best_accuracy = best_f1 = None
    for name, high in FUNCTIONS.items():
        if name == "similarity":
            continue
        val_accuracy, accuracy_threshold = best_accuracy_and_threshold(validation[name], validation_labels, high)
        val_f1, _, _, f1_threshold = best_f1_and_threshold(validation[name], validation_labels, high)
        accuracy = float(np.mean(_predict(test[name], accuracy_threshold, high) == test_labels))
        predicted = _predict(test[name], f1_threshold, high)
        out[f"{name}_heldout_accuracy"] = accuracy
        out[f"{name}_heldout_accuracy_threshold"] = accuracy_threshold
        out[f"{name}_heldout_f1"] = float(f1_score(test_labels, predicted, zero_division=0))
        out[f"{name}_heldout_precision"] = float(precision_score(test_labels, predicted, zero_division=0))
        out[f"{name}_heldout_recall"] = float(recall_score(test_labels, predicted, zero_division=0))
        out[f"{name}_heldout_f1_threshold"] = f1_threshold
        if best_accuracy is None or val_accuracy > best_accuracy[0]:
            best_accuracy = (val_accuracy, name)
        if best_f1 is None or val_f1 > best_f1[0]:
            best_f1 = (val_f1, name)
    out["heldout_accuracy"] = out[f"{best_accuracy[1]}_heldout_accuracy"]
    out["heldout_accuracy_function"] = best_accuracy[1]
    out["heldout_f1"] = out[f"{best_f1[1]}_heldout_f1"]
    out["heldout_f1_function"] = best_f1[1]
    return out


def fast_average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """scikit-learn's average precision (step-wise, ties grouped), vectorised for bootstrap loops."""
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    positives = y.sum()
    if positives == 0:
        return float("nan")
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(y)[last_of_tie]
    precision = tp / (last_of_tie + 1)
    recall = tp / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def main_from_pairs(pairs: dict[str, np.ndarray], labels: np.ndarray) -> float:
    """``max_ap`` alone, for bootstrap resamples."""
    labels = np.asarray(labels)
    return max(fast_average_precision(pairs[name] if high else -pairs[name], labels)
               for name, high in FUNCTIONS.items() if name != "similarity")


def score_pair_classification(e1: np.ndarray, e2: np.ndarray, labels: np.ndarray) -> dict:
    return metrics_from_pairs(pair_scores(e1, e2), _check_labels(labels))
