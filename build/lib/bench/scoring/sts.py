"""Semantic textual similarity: correlation of pair similarities with gold scores (MTEB's STS).

Cosine similarity, negative euclidean and negative manhattan distance are each correlated with
the gold score by scipy's Pearson and Spearman. ``pearson``/``spearman`` are the model's own
similarity function, which is cosine for every model bench supports (as in MTEB when a model
declares cosine). Main score: ``cosine_spearman``.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import pearsonr, spearmanr

from bench.scoring.similarity import cosine_similarity, euclidean_distance, manhattan_distance

MAIN_SCORE = "cosine_spearman"


def pair_scores(e1: np.ndarray, e2: np.ndarray) -> dict[str, np.ndarray]:
    """One similarity per pair and function (higher = more similar)."""
    return {
        "cosine": cosine_similarity(e1, e2),
        "manhattan": -manhattan_distance(e1, e2),
        "euclidean": -euclidean_distance(e1, e2),
    }


def metrics_from_pairs(pairs: dict[str, np.ndarray], gold: np.ndarray) -> dict[str, float]:
    scores: dict[str, float] = {}
    for name, values in pairs.items():
        scores[f"{name}_pearson"] = float(pearsonr(gold, values)[0])
        scores[f"{name}_spearman"] = float(spearmanr(gold, values)[0])
    scores["pearson"] = scores["cosine_pearson"]
    scores["spearman"] = scores["cosine_spearman"]
    scores["main_score"] = scores[MAIN_SCORE]
    return scores


def main_from_pairs(pairs: dict[str, np.ndarray], gold: np.ndarray) -> float:
    """The main score alone (cheap enough to recompute on thousands of bootstrap resamples)."""
    return float(spearmanr(gold, pairs["cosine"])[0])


def score_sts(e1: np.ndarray, e2: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    return metrics_from_pairs(pair_scores(e1, e2), gold)
