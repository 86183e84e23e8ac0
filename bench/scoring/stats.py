"""Uncertainty for main scores: bootstrap confidence intervals and paired comparisons.

Both resample the *test pairs* with replacement (seeded) and recompute the main score from the
per-pair similarities, so the interval reflects how much the score depends on which pairs the test
set happens to contain. A percentile interval is reported. The paired test resamples the same pairs
for two systems, so it compares them on equal footing; its p-value is the two-sided bootstrap
probability that the difference has the other sign.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Pairs = dict[str, np.ndarray]
MainFn = Callable[[Pairs, np.ndarray], float]


CHUNK = 100  # resamples scored together by a main score that takes a batch (``main.rows``)


def resample_indices(rng: np.random.Generator, n: int, resamples: int):
    """Each resample's indices (n draws with replacement), in chunks of ``CHUNK`` rows; drawn one resample at a
    time, so the resamples, and the intervals, do not depend on the chunking."""
    for start in range(0, resamples, CHUNK):
        yield np.stack([rng.integers(0, n, n) for _ in range(min(CHUNK, resamples - start))])


def resampled_scores(main: MainFn, pairs: Pairs, targets: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """The main score on each row of ``indices``: in one call when the main score takes a batch of resamples
    (``main.rows(pairs, targets, indices)``, e.g. Spearman's rho, which gathers only the column it scores),
    else one call per resample."""
    batched = getattr(main, "rows", None)
    if batched is not None:
        return batched(pairs, targets, indices)
    return np.array([main({name: values[rows] for name, values in pairs.items()}, targets[rows]) for rows in indices])


def bootstrap_ci(main: MainFn, pairs: Pairs, targets: np.ndarray, *, resamples: int = 1000, seed: int = 0,
                 level: float = 0.95) -> dict:
    rng = np.random.default_rng(seed)
    values = np.concatenate([resampled_scores(main, pairs, targets, rows)
                             for rows in resample_indices(rng, len(targets), resamples)] or [np.empty(0)])
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return {"low": float(low), "high": float(high), "level": level, "std": float(np.nanstd(values, ddof=1)),
            "resamples": resamples, "seed": seed, "method": "percentile bootstrap over test pairs"}


def paired_bootstrap(main: MainFn, pairs_a: Pairs, pairs_b: Pairs, targets: np.ndarray, *, resamples: int = 10000,
                     seed: int = 0, level: float = 0.95, main_b: MainFn | None = None) -> dict:
    """Both main scores, the difference main(a) - main(b) on the same pairs, its interval and a two-sided
    p-value. ``main_b``: b's main score when b is another kind of system scored by the same metric from
    other per-pair values (a cross-encoder's predictions against a bi-encoder's similarities)."""
    rng = np.random.default_rng(seed)
    main_b = main_b or main
    score_a, score_b = main(pairs_a, targets), main_b(pairs_b, targets)
    observed = score_a - score_b
    diffs = np.concatenate([resampled_scores(main, pairs_a, targets, rows) - resampled_scores(main_b, pairs_b, targets, rows)
                            for rows in resample_indices(rng, len(targets), resamples)] or [np.empty(0)])
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(diffs, [tail, 100 - tail])
    p = min(1.0, 2 * min(np.mean(diffs <= 0), np.mean(diffs >= 0)))
    return {"a": float(score_a), "b": float(score_b), "difference": float(observed), "low": float(low),
            "high": float(high), "level": level,
            "p_value": float(p), "resamples": resamples, "seed": seed}


def format_p(p: float, resamples: int | None = None) -> str:
    """A bootstrap p-value as text: ``p<0.001`` (or ``p<1/resamples`` when none of the resamples crossed 0)
    instead of ``p=0.000``."""
    if p is None or p != p:
        return "p=n/a"
    if p == 0 and resamples:
        return f"p<{1 / resamples:.2g}"
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def signed(value: float, digits: int = 2) -> str:
    """A change with its sign, never ``-0.00``."""
    return f"{round(value, digits) + 0.0:+.{digits}f}"
