"""What a cross-encoder learns for a task and how it is scored: its head.

- ``regression`` (relatedness tasks): one output, the gold score scaled to [0, 1] as the label (binary
  cross-entropy on a sigmoid, sentence-transformers' recommended STS objective); scored by Spearman
  (main) and Pearson of the prediction against the gold score, as bi-encoders are (their cosine).
- ``binary`` (pair classification): one output, the 0/1 label; scored by average precision (main,
  scikit-learn's, as MTEB's ``ap``), and accuracy/F1 both as MTEB picks thresholds (on test) and with
  thresholds picked on validation (``heldout_*``), exactly the bi-encoders' definitions.
- ``nli``: three outputs (NEUTRAL, CONTRADICTION, ENTAILMENT; cross-entropy); accuracy (main) and
  macro-F1 of the arg-max, the metrics of ``probe=nli``.

A result stores one value per test pair (``prediction``), so intervals and paired tests against any
bi-encoder scored on the same pairs work as for every other result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.errors import BenchError, unknown_choice
from bench.evaluators.probe import label_indices, probe_metrics
from bench.scoring.pair_classification import (
    THRESHOLD_NOTE,
    _check_labels,
    _predict,
    best_accuracy_and_threshold,
    best_f1_and_threshold,
    metrics_for_scores,
)
from bench.scoring.predictions import prediction_main
from bench.tasks.schema import PairData
from bench.tasks.spec import TaskSpec

#: ``cross.head``: the task's own kind, or 3-way NLI.
HEADS = ("task", "nli")
NLI_LABELS = ("NEUTRAL", "CONTRADICTION", "ENTAILMENT")  # the order of probe=nli, so targets match
KIND_OF_TYPE = {"sts": "regression", "pair_classification": "binary"}
MAIN_SCORES = {"regression": "spearman", "binary": "ap", "nli": "accuracy"}


@dataclass(frozen=True)
class Head:
    kind: str  # regression | binary | nli

    @property
    def num_labels(self) -> int:
        return 3 if self.kind == "nli" else 1

    @property
    def main_score(self) -> str:
        return MAIN_SCORES[self.kind]

    @property
    def task_type(self) -> str:
        """The result's ``task_config.type``: what :func:`bench.scoring.main_function` scores it by."""
        return f"cross_{self.kind}"

    @property
    def suffix(self) -> str:
        """``cdsc_r.cross`` / ``cdsc_e.cross_nli``: the result's name beside the task's own."""
        return "cross_nli" if self.kind == "nli" else "cross"

    def targets(self, spec: TaskSpec, part: PairData, where: str) -> np.ndarray:
        """What predictions are scored against (the bi-encoders' targets for the same pairs)."""
        if self.kind == "nli":
            return label_indices(part.raw_labels, NLI_LABELS, where).astype(np.float64)
        targets = np.asarray(part.targets, dtype=np.float64)
        if self.kind == "binary":
            _check_labels(targets)
        return targets

    def labels(self, spec: TaskSpec, part: PairData, where: str) -> list:
        """Training labels: scaled scores in [0, 1], 0/1 floats, or class indices."""
        targets = self.targets(spec, part, where)
        if self.kind == "regression":
            low, high = spec.target.score_range
            return [float((x - low) / (high - low)) for x in targets]
        if self.kind == "binary":
            return [float(x) for x in targets]
        return [int(x) for x in targets]

    def predictions(self, outputs) -> np.ndarray:
        """The model's output per pair as the value stored and scored: a score, or the predicted class."""
        outputs = np.asarray(outputs, dtype=np.float64)
        return outputs.argmax(axis=1).astype(np.float64) if self.kind == "nli" else outputs.reshape(-1)

    def main(self, predictions: np.ndarray, targets: np.ndarray) -> float:
        return prediction_main(self.kind)({"prediction": predictions}, targets)

    def metrics(self, test: tuple[np.ndarray, np.ndarray], validation: tuple[np.ndarray, np.ndarray]) -> dict:
        """The test scores (MTEB's key names where MTEB defines the metric); ``validation`` picks the
        held-out thresholds of a binary head and is not otherwise used."""
        predictions, targets = test
        if self.kind == "regression":
            out = probe_metrics("regression", targets, predictions)
        elif self.kind == "nli":
            out = probe_metrics("classification", targets.astype(np.int64), predictions.astype(np.int64))
        else:
            labels = _check_labels(targets)
            out = {**metrics_for_scores(predictions, labels, True), "threshold_selection": THRESHOLD_NOTE}
            out.update(heldout(validation, (predictions, labels)))
        out["main_score"] = out[self.main_score]
        return out


def heldout(validation: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]) -> dict:
    """Accuracy and F1 on test at the thresholds that are best on validation (nothing picked on test)."""
    from sklearn.metrics import f1_score, precision_score, recall_score

    (val_scores, val_labels), (scores, labels) = validation, test
    val_labels = _check_labels(val_labels)
    _, accuracy_threshold = best_accuracy_and_threshold(val_scores, val_labels, True)
    _, _, _, f1_threshold = best_f1_and_threshold(val_scores, val_labels, True)
    predicted = _predict(scores, f1_threshold, True)
    return {"heldout_accuracy": float(np.mean(_predict(scores, accuracy_threshold, True) == labels)),
            "heldout_accuracy_threshold": accuracy_threshold,
            "heldout_f1": float(f1_score(labels, predicted, zero_division=0)),
            "heldout_precision": float(precision_score(labels, predicted, zero_division=0)),
            "heldout_recall": float(recall_score(labels, predicted, zero_division=0)),
            "heldout_f1_threshold": f1_threshold}



def head_for(spec: TaskSpec, head: str) -> Head:
    """The head ``cross.head`` gives a task: its own kind (``task``), or 3-way NLI."""
    if head not in HEADS:
        raise unknown_choice("cross.head", head, HEADS)
    if head == "nli":
        if spec.type != "pair_classification":
            raise BenchError(f"cross.head=nli needs entailment tasks with 3-way labels; {spec.result_name} is {spec.type}.")
        return Head("nli")
    if spec.type not in KIND_OF_TYPE:
        raise BenchError(f"no cross-encoder head for {spec.result_name} (type {spec.type}); valid types: "
                         f"{', '.join(KIND_OF_TYPE)}.")
    return Head(KIND_OF_TYPE[spec.type])
