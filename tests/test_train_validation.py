"""The selection evaluator: each distinct sentence encoded once, scored as the harness scores test."""

from types import SimpleNamespace

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score

from bench.train.validation import MEAN, ValidationEvaluator, ValidationSet, distinct_sentences


class CountingModel:
    """Deterministic 'encoder': a fixed random vector per sentence; records what it was asked to encode."""

    def __init__(self):
        self.calls: list[list[str]] = []
        self.card: list[dict] = []
        self.model_card_data = SimpleNamespace(set_evaluation_metrics=lambda ev, metrics, *_: self.card.append(metrics))

    def encode(self, sentences, batch_size=32, convert_to_numpy=True, show_progress_bar=False):
        self.calls.append(list(sentences))
        return np.stack([np.random.default_rng(sum(map(ord, s))).normal(size=8) for s in sentences])


def sets():
    sts = ValidationSet("sts_task", "sts", ["a b", "c d", "a b", "e f"], ["c d", "g h", "e f", "a b"],
                        np.array([4.0, 1.0, 2.5, 0.5]))
    pairs = ValidationSet("pc_task", "pair_classification", ["a b", "x y", "g h"], ["x y", "c d", "g h"],
                          np.array([1, 0, 1]))
    return [sts, pairs]


def cosine(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_each_distinct_sentence_is_encoded_once():
    sentences, index = distinct_sentences(sets())
    assert sentences == ["a b", "c d", "e f", "g h", "x y"]
    assert [index[s] for s in sentences] == [0, 1, 2, 3, 4]
    model = CountingModel()
    ValidationEvaluator(sets())(model)
    assert model.calls == [sentences]
    assert list(model.card[0]) == ["validation_sts_task_main_score", "validation_pc_task_main_score",
                                   f"validation_{MEAN}"]


def test_scores_match_direct_definitions_and_the_mean_is_primary():
    model = CountingModel()
    evaluator = ValidationEvaluator(sets())
    metrics = evaluator(model)
    encode = lambda xs: model.encode(xs)  # noqa: E731
    sts, pc = sets()
    spearman = spearmanr(sts.targets, cosine(encode(sts.sentence1), encode(sts.sentence2)))[0]
    assert metrics["validation_sts_task_main_score"] == pytest.approx(spearman)
    # pair classification: MTEB's main score is the max AP over similarity / distance functions
    e1, e2 = encode(pc.sentence1), encode(pc.sentence2)
    candidates = [cosine(e1, e2), -np.abs(e1 - e2).sum(1), -np.linalg.norm(e1 - e2, axis=1), (e1 * e2).sum(1)]
    best_ap = max(average_precision_score(pc.targets, c) for c in candidates)
    assert metrics["validation_pc_task_main_score"] == pytest.approx(best_ap)
    assert evaluator.primary_metric == f"validation_{MEAN}"
    assert metrics[evaluator.primary_metric] == pytest.approx((spearman + best_ap) / 2)


def test_one_task_selects_on_its_own_score():
    evaluator = ValidationEvaluator(sets()[:1])
    metrics = evaluator(CountingModel())
    assert evaluator.primary_metric == "validation_sts_task_main_score" and MEAN not in str(metrics)
