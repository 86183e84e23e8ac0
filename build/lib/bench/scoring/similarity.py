"""Paired similarity and distance functions, computed the way MTEB computes them (scikit-learn's
paired distances on the embeddings as given, no extra normalisation)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics.pairwise import (
    paired_cosine_distances,
    paired_euclidean_distances,
    paired_manhattan_distances,
)


def cosine_similarity(e1: np.ndarray, e2: np.ndarray) -> np.ndarray:
    """``1 - cosine distance`` for each pair."""
    return 1 - paired_cosine_distances(e1, e2)


def euclidean_distance(e1: np.ndarray, e2: np.ndarray) -> np.ndarray:
    return paired_euclidean_distances(e1, e2)


def manhattan_distance(e1: np.ndarray, e2: np.ndarray) -> np.ndarray:
    return paired_manhattan_distances(e1, e2)


def dot_product(e1: np.ndarray, e2: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", e1, e2)
