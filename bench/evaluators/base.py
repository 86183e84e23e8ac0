"""What every evaluator shares: the :class:`Evaluation` it returns, the main score of stored per-pair
values by task type (for intervals and paired tests), and the bootstrap interval of a main score."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Evaluation:
    """What an evaluator returns for one task: the scores (MTEB's keys plus bench's), the main score's
    name, the task type recorded in the result, per-pair values for intervals and paired tests, and any
    extra provenance."""

    scores: dict
    main_score_name: str
    task_type: str
    pairs: dict[str, np.ndarray]
    targets: np.ndarray
    extra: dict = field(default_factory=dict)


def main_function(task_type: str) -> Callable[[dict, np.ndarray], float]:
    """The main score of a result from its stored per-pair values, by its ``task_config.type``: a zero-shot
    task type, or ``probe_classification`` / ``probe_regression`` (per-pair values are predictions)."""
    from bench.scoring import SCORERS

    if task_type in SCORERS:
        return SCORERS[task_type].main
    if task_type.startswith("cross_"):  # a cross-encoder's per-pair predictions (bench.cross)
        from bench.scoring.predictions import prediction_main

        return prediction_main(task_type.removeprefix("cross_"))
    if task_type.startswith("probe_"):
        from bench.probes import main_from_pairs

        return main_from_pairs(task_type.removeprefix("probe_"))
    raise KeyError(f"unknown task type {task_type!r}")


def with_interval(scores: dict, main, pairs: dict, targets: np.ndarray, resamples: int, level: float,
                  seed: int) -> dict:
    """The main score's percentile bootstrap interval over the test pairs (none when resamples is 0)."""
    from bench.stats import bootstrap_ci

    if resamples > 0:
        scores["main_score_ci"] = bootstrap_ci(main, pairs, targets, resamples=resamples, seed=seed, level=level)
    return scores
