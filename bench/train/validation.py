"""Checkpoint selection on validation splits, scored exactly as the harness scores test splits.

The evaluator encodes each distinct validation sentence once (CDSC-R's 2,000 validation sentences
hold 889 distinct ones) and scores every selection task with bench's own scorer, so the selection
metric is the task's main score as bench and MTEB report it: cosine Spearman for relatedness, max
average precision for pair classification. With several tasks the checkpoint is picked on their mean.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass

import numpy as np

from bench.scoring import SCORERS

try:  # sentence-transformers >= 6
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator
except ImportError:  # 3.x - 5.x
    from sentence_transformers.evaluation import SentenceEvaluator as BaseEvaluator

log = logging.getLogger(__name__)

MEAN = "mean_main_score"


@dataclass(frozen=True)
class ValidationSet:
    name: str
    type: str
    sentence1: list[str]
    sentence2: list[str]
    targets: np.ndarray


def distinct_sentences(sets: list[ValidationSet]) -> tuple[list[str], dict[str, int]]:
    """Every sentence once, in first-seen order, and its row in that list."""
    index: dict[str, int] = {}
    for part in sets:
        for sentence in (*part.sentence1, *part.sentence2):
            index.setdefault(sentence, len(index))
    return list(index), index


def score_sets(sets: list[ValidationSet], vectors: np.ndarray, index: dict[str, int]) -> dict[str, float]:
    """``<task>_main_score`` per task (bench's scorer) and, with several tasks, their mean."""
    scores = {}
    for part in sets:
        e1 = vectors[[index[s] for s in part.sentence1]]
        e2 = vectors[[index[s] for s in part.sentence2]]
        scorer = SCORERS[part.type]  # the main score alone: no other metric is computed at each evaluation
        scores[f"{part.name}_main_score"] = float(scorer.main(scorer.pair_scores(e1, e2), part.targets))
    if len(sets) > 1:
        scores[MEAN] = float(np.mean(list(scores.values())))
    return scores


class ValidationEvaluator(BaseEvaluator):
    """sentence-transformers evaluator over the selection tasks' validation splits."""

    def __init__(self, sets: list[ValidationSet], batch_size: int = 64, name: str = "validation", prompt: str = ""):
        super().__init__()
        if not sets:
            raise ValueError("no validation sets to select on")
        self.sets, self.batch_size, self.name, self.prompt = sets, batch_size, name, prompt
        self.sentences, self.index = distinct_sentences(sets)
        self.primary_metric = MEAN if len(sets) > 1 else f"{sets[0].name}_main_score"

    def __call__(self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict[str, float]:
        vectors = model.encode(self.sentences, batch_size=self.batch_size, convert_to_numpy=True,
                               show_progress_bar=False, **({"prompt": self.prompt} if self.prompt else {}))
        scores = score_sets(self.sets, np.asarray(vectors, dtype=np.float32), self.index)
        log.info("validation at epoch %s step %s: %s", epoch, steps,
                 ", ".join(f"{k}={v:.4f}" for k, v in scores.items()))
        metrics = self.prefix_name_to_metrics(scores, self.name)
        # sentence-transformers 3.x takes (model, metrics); later releases also the epoch and step
        takes_step = "epoch" in inspect.signature(self.store_metrics_in_model_card_data).parameters
        self.store_metrics_in_model_card_data(model, metrics, *((epoch, steps) if takes_step else ()))
        return metrics
