"""Metrics, one module per task type, with MTEB's definitions and key names.

Each task type provides ``pair_scores(e1, e2)`` (one value per pair and score function),
``metrics_from_pairs(pairs, targets)`` (the full MTEB-style scores dict with ``main_score``) and
``main_from_pairs(pairs, targets)`` (the main score alone, for bootstrap resampling).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bench.scoring import pair_classification, sts
from bench.scoring.pair_classification import score_pair_classification
from bench.scoring.sts import score_sts

Pairs = dict[str, np.ndarray]


@dataclass(frozen=True)
class TaskScorer:
    main_score: str
    pair_scores: Callable[[np.ndarray, np.ndarray], Pairs]
    metrics: Callable[[Pairs, np.ndarray], dict]
    main: Callable[[Pairs, np.ndarray], float]

    def __call__(self, e1: np.ndarray, e2: np.ndarray, targets: np.ndarray) -> dict:
        return self.metrics(self.pair_scores(e1, e2), targets)


SCORERS: dict[str, TaskScorer] = {
    module_type: TaskScorer(module.MAIN_SCORE, module.pair_scores, module.metrics_from_pairs, module.main_from_pairs)
    for module_type, module in (("sts", sts), ("pair_classification", pair_classification))
}
#: The key each task type reports as ``main_score``.
MAIN_SCORES: dict[str, str] = {name: scorer.main_score for name, scorer in SCORERS.items()}



__all__ = ["MAIN_SCORES", "SCORERS", "TaskScorer", "score_pair_classification", "score_sts"]
