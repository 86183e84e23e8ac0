"""Metrics, one module per task type, with MTEB's definitions and key names.

``SCORERS`` maps a task ``type`` to ``(embeddings1, embeddings2, targets) -> scores dict``;
every scores dict carries ``main_score``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bench.scoring import pair_classification, sts
from bench.scoring.pair_classification import score_pair_classification
from bench.scoring.sts import score_sts

Scorer = Callable[[np.ndarray, np.ndarray, np.ndarray], dict]

SCORERS: dict[str, Scorer] = {
    "sts": score_sts,
    "pair_classification": score_pair_classification,
}
#: The key each task type reports as ``main_score``.
MAIN_SCORES: dict[str, str] = {
    "sts": sts.MAIN_SCORE,
    "pair_classification": pair_classification.MAIN_SCORE,
}

__all__ = ["MAIN_SCORES", "SCORERS", "Scorer", "score_pair_classification", "score_sts"]
