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
    data_problem: Callable[[np.ndarray], str | None]

    def __call__(self, e1: np.ndarray, e2: np.ndarray, targets: np.ndarray) -> dict:
        return self.metrics(self.pair_scores(e1, e2), targets)


SCORERS: dict[str, TaskScorer] = {
    module_type: TaskScorer(module.MAIN_SCORE, module.pair_scores, module.metrics_from_pairs, module.main_from_pairs,
                              module.data_problem)
    for module_type, module in (("sts", sts), ("pair_classification", pair_classification))
}
#: The key each task type reports as ``main_score``.
MAIN_SCORES: dict[str, str] = {name: scorer.main_score for name, scorer in SCORERS.items()}

#: Fewer test pairs than this are refused before encoding. scipy needs two pairs for a correlation, and with
#: two it is +1 or -1 whatever the model; on three or four pairs Spearman's rho takes a handful of values and
#: most bootstrap resamples repeat a pair or two, so the interval says nothing. MTEB has no minimum; the
#: Polish suite's test splits have 1000 pairs or more, so this refuses only broken or truncated files.
MIN_PAIRS = 5


def too_few_pairs(targets: np.ndarray) -> str | None:
    """Why a split is too small to score (None when it is not), for every task type and evaluator."""
    if len(targets) < MIN_PAIRS:
        return f"it has {len(targets)} pair(s), fewer than the {MIN_PAIRS} any main score needs (bench.scoring.MIN_PAIRS)"
    return None


def data_problem(task_type: str, targets: np.ndarray) -> str | None:
    """Why a task type's main score is undefined on a split's targets, whatever the model (None when it is defined)."""
    return too_few_pairs(targets) or SCORERS[task_type].data_problem(targets)


def main_function(task_type: str) -> Callable[[dict, np.ndarray], float]:
    """The main score of a result from its stored per-pair values, by its ``task_config.type``: a zero-shot
    task type, or ``probe_classification`` / ``probe_regression`` (per-pair values are predictions)."""
    if task_type in SCORERS:
        return SCORERS[task_type].main
    if task_type.startswith(("cross_", "probe_")):  # per-pair predictions of a cross-encoder or a trained probe
        from bench.scoring.predictions import prediction_main

        return prediction_main(task_type.split("_", 1)[1])
    raise KeyError(f"unknown task type {task_type!r}")


def undefined_reason(pairs: dict[str, np.ndarray], targets: np.ndarray) -> str:
    """Why a main score computed on legal data came out undefined (not a number), for the result record: the
    usual cause is a model whose per-pair values are all equal (every sentence gets the same vector, or a probe
    predicts one value), and a correlation with a constant is undefined."""
    constant = [name for name, values in pairs.items() if np.unique(np.asarray(values)).size < 2]
    if constant:
        return (f"the model's per-pair {', '.join(constant)} values are the same for all {len(targets)} test pairs "
                f"(e.g. every sentence gets the same vector), and a correlation with a constant is undefined")
    return f"the main score is not a number on these {len(targets)} test pairs"


__all__ = ["MAIN_SCORES", "main_function", "undefined_reason", "MIN_PAIRS", "SCORERS", "TaskScorer", "data_problem", "score_pair_classification", "score_sts",
           "too_few_pairs"]
