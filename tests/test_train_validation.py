"""bench.train's checkpoint selection is bench.BenchEvaluator: each distinct sentence encoded once, scored on
the validation split as the harness scores test (the test file is never opened)."""

from types import SimpleNamespace

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score

from bench.config import compose_config
from bench.tasks.spec import task_specs
from bench.train.evaluator import MEAN, BenchEvaluator
from bench.train.loop import narrowed_tasks, selection_evaluator
from tests.helpers import synthetic_rows, write_cdscorpus


class CountingModel:
    """Deterministic encode-only 'encoder': a fixed random vector per sentence; records what it was asked."""

    def __init__(self):
        self.calls: list[list[str]] = []
        self.card: list[dict] = []
        self.model_card_data = SimpleNamespace(set_evaluation_metrics=lambda ev, metrics, *_: self.card.append(metrics))

    def encode(self, sentences, **_):
        self.calls.append(list(sentences))
        return np.stack([np.random.default_rng(sum(map(ord, s))).normal(size=8) for s in sentences])


@pytest.fixture
def validation_only(tmp_path):
    """CDSCorpus with a validation file only: scoring anything else would fail on the missing files."""
    rows = synthetic_rows(30, 1)
    return write_cdscorpus(tmp_path / "data", trial=rows), rows


def selection(root, names, tmp_path):
    cfg = compose_config(["task=polish", f"data.root={root}", "data.check_rows=false"])
    specs = [spec for spec in task_specs(cfg.task) if spec.result_name in names]
    base = SimpleNamespace(prompts=(), instruction_template=None)
    return selection_evaluator(cfg, specs, base, batch_size=64)


def cosine(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_each_distinct_sentence_is_encoded_once(validation_only, tmp_path):
    root, rows = validation_only
    evaluator, metric = selection(root, ["cdsc_r", "cdsc_e"], tmp_path)
    assert metric == f"validation_{MEAN}" and evaluator.task_names == ["cdsc_r", "cdsc_e"]
    model = CountingModel()
    evaluator(model)
    distinct = {s for row in rows for s in row[1:3]}
    # one pass over the distinct sentences of both tasks (CDSC-R and CDSC-E share their pairs)
    assert len(model.calls) == 1 and sorted(model.calls[0]) == sorted(distinct)
    assert list(model.card[0]) == ["validation_cdsc_r_main_score", "validation_cdsc_e_main_score",
                                   f"validation_{MEAN}"]


def test_scores_match_direct_definitions_and_the_mean_is_primary(validation_only, tmp_path):
    root, rows = validation_only
    evaluator, metric = selection(root, ["cdsc_r", "cdsc_e"], tmp_path)
    model = CountingModel()
    metrics = evaluator(model)
    encode = lambda xs: model.encode(xs)  # noqa: E731
    e1, e2 = encode([r[1] for r in rows]), encode([r[2] for r in rows])
    spearman = spearmanr([r[3] for r in rows], cosine(e1, e2))[0]
    assert metrics["validation_cdsc_r_main_score"] == pytest.approx(spearman, abs=1e-6)
    # pair classification: MTEB's main score is the max AP over similarity / distance functions
    labels = [int(r[4] == "ENTAILMENT") for r in rows]
    candidates = [cosine(e1, e2), -np.abs(e1 - e2).sum(1), -np.linalg.norm(e1 - e2, axis=1), (e1 * e2).sum(1)]
    best_ap = max(average_precision_score(labels, c) for c in candidates)
    assert metrics["validation_cdsc_e_main_score"] == pytest.approx(best_ap, abs=1e-6)
    assert evaluator.primary_metric == metric == f"validation_{MEAN}"  # prefixed by the call, as before
    assert metrics[metric] == pytest.approx((spearman + best_ap) / 2, abs=1e-6)


def test_one_task_selects_on_its_own_score(validation_only, tmp_path):
    root, _ = validation_only
    evaluator, metric = selection(root, ["cdsc_r"], tmp_path)
    metrics = evaluator(CountingModel())
    assert metric == "validation_cdsc_r_main_score" and list(metrics) == [metric]


def test_the_selection_node_narrows_a_suite_and_keeps_one_task():
    suite = compose_config(["task=polish"]).task
    narrowed = narrowed_tasks(suite, ["cdsc_e", "stsb_multi_mt.pl"])
    assert [s.result_name for s in task_specs(narrowed)] == ["cdsc_e", "stsb_multi_mt.pl"]
    one = compose_config(["task=cdsc_r"]).task
    assert [s.result_name for s in task_specs(narrowed_tasks(one, ["cdsc_r"]))] == ["cdsc_r"]


def test_the_evaluator_refuses_the_test_split():
    from bench.errors import BenchError

    with pytest.raises(BenchError, match="validation data only"):
        BenchEvaluator(tasks=compose_config(["task=cdsc_r"]).task, split="test")
