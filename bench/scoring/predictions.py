"""Main scores of stored per-pair *predictions* (a cross-encoder's scores or classes), for intervals and
paired tests: Spearman against gold scores, average precision against 0/1 labels, accuracy against classes.
Used for a cross-encoder's predictions (kinds regression, binary, nli) and a trained probe's (regression,
classification)."""

from __future__ import annotations

import numpy as np

from bench.errors import unknown_choice
from bench.scoring.pair_classification import fast_average_precision

KINDS = ("regression", "binary", "nli", "classification")


def prediction_main(kind: str):
    """The main score of stored per-pair predictions (for intervals and paired tests)."""
    if kind == "regression":
        from bench.scoring.sts import SpearmanMain

        return SpearmanMain("prediction")
    if kind == "binary":
        return lambda pairs, targets: fast_average_precision(np.asarray(pairs["prediction"]),
                                                             np.asarray(targets).astype(np.int64))
    if kind in ("nli", "classification"):
        return lambda pairs, targets: float(np.mean(np.asarray(pairs["prediction"]) == np.asarray(targets)))
    raise unknown_choice("prediction kind", kind, KINDS)
