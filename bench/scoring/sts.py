"""Semantic textual similarity: correlation of pair similarities with gold scores (MTEB's STS).

Cosine similarity, negative euclidean and negative manhattan distance are each correlated with
the gold score by scipy's Pearson and Spearman. ``pearson``/``spearman`` are the model's own
similarity function, which is cosine for every model bench supports (as in MTEB when a model
declares cosine). Main score: ``cosine_spearman``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import pearsonr, rankdata, spearmanr

from bench.scoring.similarity import cosine_similarity, euclidean_distance, manhattan_distance

MAIN_SCORE = "cosine_spearman"


def pair_scores(e1: np.ndarray, e2: np.ndarray) -> dict[str, np.ndarray]:
    """One similarity per pair and function (higher = more similar)."""
    return {
        "cosine": cosine_similarity(e1, e2),
        "manhattan": -manhattan_distance(e1, e2),
        "euclidean": -euclidean_distance(e1, e2),
    }


def data_problem(gold: np.ndarray) -> str | None:
    """Why no correlation can be computed against these gold scores (None when one can): a constant has no
    ranks to agree with, so Pearson and Spearman are undefined whatever the model."""
    values = np.unique(np.asarray(gold, dtype=np.float64))
    if len(values) < 2:
        return (f"all {len(gold)} gold scores are {values[0]:g}, and a correlation with a constant is undefined "
                f"(no model can be ranked on it)")
    return None


def metrics_from_pairs(pairs: dict[str, np.ndarray], gold: np.ndarray) -> dict[str, float]:
    scores: dict[str, float] = {}
    for name, values in pairs.items():
        scores[f"{name}_pearson"] = float(pearsonr(gold, values)[0])
        scores[f"{name}_spearman"] = float(spearmanr(gold, values)[0])
    scores["pearson"] = scores["cosine_pearson"]
    scores["spearman"] = scores["cosine_spearman"]
    scores["main_score"] = scores[MAIN_SCORE]
    return scores


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row of ``x`` with the same row of ``y`` (both ``(resamples, n)``): Pearson's r
    of average ranks, which is what scipy's ``spearmanr`` computes; nan where a row is constant."""
    rx, ry = rankdata(x, axis=1), rankdata(y, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.einsum("ij,ij->i", rx, ry) / np.sqrt(np.einsum("ij,ij->i", rx, rx) * np.einsum("ij,ij->i", ry, ry))


@dataclass(frozen=True)
class SpearmanMain:
    """A main score that is Spearman's rho of one per-pair column with the targets: called on one sample,
    or, through ``rows``, on a whole batch of bootstrap resamples at once (one rank pass, no Python loop)."""

    column: str

    def __call__(self, pairs: dict[str, np.ndarray], targets: np.ndarray) -> float:
        return float(spearmanr(targets, pairs[self.column])[0])

    def rows(self, pairs: dict[str, np.ndarray], targets: np.ndarray, indices: np.ndarray) -> np.ndarray:
        """The score on each resample, a row of ``indices``; only this column is gathered."""
        return spearman_rows(targets[indices], pairs[self.column][indices])


#: The main score alone, for bootstrap resamples: cosine Spearman.
main_from_pairs = SpearmanMain("cosine")


def score_sts(e1: np.ndarray, e2: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    return metrics_from_pairs(pair_scores(e1, e2), gold)
