"""Bootstrap intervals (coverage on synthetic data), the paired test, and their use in results."""

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score

from bench.errors import BenchError
from bench.reports.compare import compare
from bench.reports.compare import main as compare_main
from bench.run import run
from bench.scoring import SCORERS
from bench.scoring.pair_classification import fast_average_precision
from bench.scoring.stats import bootstrap_ci, paired_bootstrap
from bench.scoring.sts import spearman_rows
from tests.helpers import tiny_overrides

STS = SCORERS["sts"]


def test_fast_average_precision_equals_scikit_learn():
    rng = np.random.default_rng(0)
    for _ in range(20):
        labels = rng.integers(0, 2, 300)
        scores = np.round(rng.normal(size=300) + labels, 1)  # rounding makes many ties
        assert fast_average_precision(scores, labels) == pytest.approx(average_precision_score(labels, scores), abs=1e-12)


def test_spearman_rows_equals_scipy_row_by_row():
    rng = np.random.default_rng(0)
    gold = np.round(rng.normal(size=(30, 57)), 1)  # ties
    cosine = np.round(gold + rng.normal(size=gold.shape), 1)
    cosine[3] = 0.5  # a constant row: undefined, as in scipy
    expected = [spearmanr(g, c)[0] if c.std() else np.nan for g, c in zip(gold, cosine)]
    np.testing.assert_allclose(spearman_rows(gold, cosine), expected, rtol=0, atol=1e-12)
    assert np.isnan(spearman_rows(gold, cosine)[3])


def test_batched_bootstrap_equals_one_resample_at_a_time():
    """STS's main score scores a chunk of resamples in one call; the interval and the paired test are those
    of the per-resample loop (the same resamples, the same values up to rounding)."""
    rng = np.random.default_rng(1)
    pairs, gold = _sample(rng, 200, 0.5)
    other = {"cosine": pairs["cosine"] + rng.normal(size=200)}
    looped = lambda p, t: float(spearmanr(t, p["cosine"])[0])  # noqa: E731 -- no ``rows``: one call per resample
    for resamples in (2, 99, 250):  # not a multiple of the chunk
        batched, single = bootstrap_ci(STS.main, pairs, gold, resamples=resamples), bootstrap_ci(
            looped, pairs, gold, resamples=resamples)
        assert batched == pytest.approx(single, abs=1e-12)
    assert paired_bootstrap(STS.main, pairs, other, gold, resamples=300) == pytest.approx(
        paired_bootstrap(looped, pairs, other, gold, resamples=300), abs=1e-12)


def _sample(rng, n, rho):
    gold = rng.normal(size=n)
    cosine = rho * gold + np.sqrt(1 - rho**2) * rng.normal(size=n)
    return {"cosine": cosine}, gold


@pytest.mark.slow
def test_bootstrap_interval_covers_the_true_spearman():
    rho = 0.6
    true_spearman = 6 / np.pi * np.arcsin(rho / 2)  # Spearman of a bivariate normal
    rng = np.random.default_rng(1)
    hits = 0
    trials = 100
    for trial in range(trials):
        pairs, gold = _sample(rng, 300, rho)
        ci = bootstrap_ci(STS.main, pairs, gold, resamples=200, seed=trial)
        hits += ci["low"] <= true_spearman <= ci["high"]
    assert 0.87 <= hits / trials <= 0.99  # nominal 95%


@pytest.mark.slow
def test_paired_test_finds_a_real_difference_and_not_noise():
    rng = np.random.default_rng(2)
    gold = rng.normal(size=400)
    good = {"cosine": gold + 0.5 * rng.normal(size=400)}
    worse = {"cosine": gold + 1.0 * rng.normal(size=400)}
    similar = {"cosine": gold + 0.5 * rng.normal(size=400)}
    better = paired_bootstrap(STS.main, good, worse, gold, resamples=2000, seed=0)
    assert better["difference"] > 0 and better["low"] > 0 and better["p_value"] < 0.01
    same = paired_bootstrap(STS.main, good, good, gold, resamples=500, seed=0)
    assert same["difference"] == 0 and same["p_value"] == 1.0
    noise = paired_bootstrap(STS.main, good, similar, gold, resamples=2000, seed=0)
    assert noise["p_value"] > 0.05 and noise["low"] < 0 < noise["high"]


def test_results_carry_intervals_and_per_pair_scores(make_cfg, tiny_models, tiny_data_root, tmp_path, capsys):
    base = tiny_overrides(tiny_models["bert"], tiny_data_root, "stats.bootstrap=200", task="cdsc_e")
    record = run(make_cfg(*base, "pooling=cls"))[0]
    entry = record["scores"]["test"][0]
    ci = entry["main_score_ci"]
    assert ci["low"] <= entry["main_score"] <= ci["high"] and ci["resamples"] == 200 and ci["level"] == 0.95
    run(make_cfg(*base, "pooling=mean"))
    paths = {p.parent.parent.name: p for p in (tmp_path / "results").glob("**/cdsc_e.json")}
    assert all(p.with_name("cdsc_e.pairs.npz").is_file() for p in paths.values())
    result = compare(paths["cls"], paths["mean"], resamples=300)
    assert result["task"] == "cdsc_e" and result["metric"] == "max_ap"
    assert result["a"] == pytest.approx(entry["main_score"])
    assert compare_main([str(paths["cls"]), str(paths["mean"]), "--resamples", "100"]) == 0
    assert "| cdsc_e | max_ap |" in capsys.readouterr().out
    # two folders (two strategies, stages, models): a row per task both hold, and the mean difference
    run(make_cfg(*base, "task=cdsc_r", "pooling=cls"))
    run(make_cfg(*base, "task=cdsc_r", "pooling=mean"))
    folders = {p.parent.parent.name: p.parent.parent for p in (tmp_path / "results").glob("**/cdsc_r.json")}
    assert compare_main([str(folders["cls"]), str(folders["mean"]), "--resamples", "100"]) == 0
    out = capsys.readouterr().out
    by_task = {name: compare(*(next(folders[s].rglob(f"{name}.json")) for s in ("cls", "mean")), resamples=100)
               for name in ("cdsc_e", "cdsc_r")}
    assert "| cdsc_e | max_ap |" in out and "| cdsc_r | cosine_spearman |" in out
    mean = (by_task["cdsc_e"]["difference"] + by_task["cdsc_r"]["difference"]) / 2
    assert "| mean of 2 |" in out and f"{mean:+.4f}" in out


def test_compare_refuses_different_tasks(make_cfg, tiny_models, tiny_data_root, tmp_path):
    base = tiny_overrides(tiny_models["bert"], tiny_data_root, "stats.bootstrap=0", task=None)
    run(make_cfg(*base, "task=cdsc_e"))
    run(make_cfg(*base, "task=cdsc_r"))
    a, b = sorted((tmp_path / "results").glob("**/cdsc_*.json"))
    with pytest.raises(BenchError, match="different tasks"):
        compare(a, b)
