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


def undefined_reason(pairs: dict[str, np.ndarray], targets: np.ndarray) -> str:
    """Why a main score computed on legal data came out undefined (not a number), for the result record: the
    usual cause is a model whose per-pair values are all equal (every sentence gets the same vector, or a probe
    predicts one value), and a correlation with a constant is undefined."""
    constant = [name for name, values in pairs.items() if np.unique(np.asarray(values)).size < 2]
    if constant:
        return (f"the model's per-pair {', '.join(constant)} values are the same for all {len(targets)} test pairs "
                f"(e.g. every sentence gets the same vector), and a correlation with a constant is undefined")
    return f"the main score is not a number on these {len(targets)} test pairs"


def check_scorable(task: str, split: str, part, problem: str | None) -> None:
    """Refuse, before any encoding, a split on which the main score is undefined whatever the model (no
    positives, constant gold scores, too few pairs): a :class:`DataError` naming the file and the reason."""
    from bench.comparability import source_label
    from bench.errors import DataError

    if problem:
        raise DataError(f"task '{task}': the {split} split {source_label(part.source, full=True)} cannot be scored: {problem}. "
                        f"Check that it is the right file and that its target column and labels are read as the "
                        f"task config says (task.target).")


def with_interval(scores: dict, main, pairs: dict, targets: np.ndarray, resamples: int, level: float,
                  seed: int) -> dict:
    """The main score's percentile bootstrap interval over the test pairs (none when resamples is 0)."""
    from bench.stats import bootstrap_ci

    main_score = scores.get("main_score")
    if resamples > 0 and main_score is not None and np.isfinite(main_score):  # no interval around an undefined score
        scores["main_score_ci"] = bootstrap_ci(main, pairs, targets, resamples=resamples, seed=seed, level=level)
    return scores
