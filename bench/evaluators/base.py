"""What every evaluator shares: the :class:`Evaluation` it returns, the main score of stored per-pair
values by task type (for intervals and paired tests), and the bootstrap interval of a main score."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bench.results.record import ResultKind


@dataclass
class Evaluation:
    """What an evaluator returns for one task: the scores (MTEB's keys plus bench's), the main score's
    name, the task type recorded in the result, per-pair values for intervals and paired tests, any
    extra provenance, and what kind of result it is (written in the record as ``bench.kind``)."""

    scores: dict
    main_score_name: str
    task_type: str
    pairs: dict[str, np.ndarray]
    targets: np.ndarray
    extra: dict = field(default_factory=dict)
    kind: ResultKind = ResultKind.ZERO_SHOT


def check_scorable(task: str, split: str, part, problem: str | None) -> None:
    """Refuse, before any encoding, a split on which the main score is undefined whatever the model (no
    positives, constant gold scores, too few pairs): a :class:`DataError` naming the file and the reason."""
    from bench.errors import DataError
    from bench.results.comparability import source_label

    if problem:
        raise DataError(f"task '{task}': the {split} split {source_label(part.source, full=True)} cannot be scored: {problem}. "
                        f"Check that it is the right file and that its target column and labels are read as the "
                        f"task config says (task.target).")


def with_interval(scores: dict, main, pairs: dict, targets: np.ndarray, resamples: int, level: float,
                  seed: int) -> dict:
    """The main score's percentile bootstrap interval over the test pairs (none when resamples is 0)."""
    from bench.scoring.stats import bootstrap_ci

    main_score = scores.get("main_score")
    if resamples > 0 and main_score is not None and np.isfinite(main_score):  # no interval around an undefined score
        scores["main_score_ci"] = bootstrap_ci(main, pairs, targets, resamples=resamples, seed=seed, level=level)
    return scores
