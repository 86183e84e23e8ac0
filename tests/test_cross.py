"""Cross-encoders: the heads' metrics are the bi-encoders' definitions, a tiny cross-encoder learns a synthetic
task through the real trainer, its result carries lineage and an interval, and the leaderboard sets it beside
the best bi-encoder on the same pairs with a paired test."""

import logging

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score

from bench.cross.heads import Head, head_for, heldout
from bench.cross.loop import run_cross
from bench.cross.recipe import CrossRecipe
from bench.errors import BenchError
from bench.results.record import Result, pairs_path, read_pairs
from bench.scoring import main_function
from bench.scoring.predictions import prediction_main
from bench.scoring.stats import paired_bootstrap
from bench.tasks.spec import task_specs
from tests.helpers import cross_cfg, cross_rows, perturb_weights, tiny_overrides, write_cdscorpus


@pytest.fixture
def cross_root(tmp_path):
    return write_cdscorpus(tmp_path / "data", train=cross_rows(240, 0), trial=cross_rows(60, 1), test=cross_rows(90, 2))


# --- the heads' metrics -------------------------------------------------------------------------------------


def test_binary_head_scores_are_the_bi_encoder_definitions():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200).astype(float)
    scores = labels * 0.5 + rng.normal(0, 0.5, 200)
    val_labels = rng.integers(0, 2, 100).astype(float)
    val_scores = val_labels * 0.5 + rng.normal(0, 0.5, 100)
    metrics = Head("binary").metrics((scores, labels), (val_scores, val_labels))
    assert metrics["main_score"] == metrics["ap"] == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    # the stored per-pair main score (bootstrap, paired tests) is the same number
    assert prediction_main("binary")({"prediction": scores}, labels) == pytest.approx(metrics["ap"], abs=1e-12)
    # held-out: the threshold is the validation's best-accuracy cut, applied to test
    threshold = metrics["heldout_accuracy_threshold"]
    cut = sorted(val_scores)
    accuracies = {t: np.mean((val_scores > t) == val_labels) for t in [(a + b) / 2 for a, b in zip(cut, cut[1:])]}
    assert np.mean((val_scores > threshold) == val_labels) == pytest.approx(max(accuracies.values()))
    assert metrics["heldout_accuracy"] == pytest.approx(np.mean((scores > threshold) == labels))


def test_regression_and_nli_heads():
    gold = np.array([0.0, 1.0, 2.5, 4.0, 5.0])
    predicted = np.array([0.1, 0.3, 0.2, 0.8, 0.9])
    metrics = Head("regression").metrics((predicted, gold), (predicted, gold))
    assert metrics["main_score"] == pytest.approx(spearmanr(predicted, gold)[0])
    logits = np.array([[2.0, 0, 0], [0, 3.0, 0], [0, 0, 1.0], [5.0, 0, 0]])
    classes = Head("nli").predictions(logits)
    assert classes.tolist() == [0, 1, 2, 0]
    metrics = Head("nli").metrics((classes, np.array([0.0, 1, 2, 2])), (classes, classes))
    assert metrics["accuracy"] == 0.75 and metrics["main_score"] == 0.75
    assert metrics["f1_macro"] == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)  # class 0: P 1/2 R 1; class 2: P 1 R 1/2
    assert main_function("cross_nli")({"prediction": classes}, np.array([0.0, 1, 2, 2])) == 0.75


def test_paired_difference_of_two_kinds_of_system():
    """A cross-encoder's predictions against a bi-encoder's similarities: each by its own main function."""
    rng = np.random.default_rng(1)
    gold = rng.normal(size=300)
    cross = {"prediction": gold + rng.normal(0, 0.3, 300)}
    bi = {"cosine": gold + rng.normal(0, 1.0, 300), "manhattan": gold, "euclidean": gold}
    result = paired_bootstrap(main_function("cross_regression"), cross, bi, gold, resamples=300,
                              main_b=main_function("sts"))
    assert result["a"] == pytest.approx(spearmanr(cross["prediction"], gold)[0])
    assert result["b"] == pytest.approx(spearmanr(bi["cosine"], gold)[0])  # cosine, not the perfect manhattan
    assert result["difference"] > 0 and result["low"] > 0 and result["p_value"] < 0.01


def test_heads_and_recipes_refuse_what_does_not_apply(make_cfg):
    specs = {s.result_name: s for s in task_specs(make_cfg().task)}
    assert head_for(specs["cdsc_r"], "task").kind == "regression"
    assert head_for(specs["cdsc_e"], "task").kind == "binary"
    with pytest.raises(BenchError, match="needs entailment tasks"):
        head_for(specs["cdsc_r"], "nli")
    with pytest.raises(BenchError, match="Did you mean .nli.. Valid cross.head names: nli, task"):
        CrossRecipe.from_config({"name": "x", "head": "nli3", "tasks": None})
    recipe = CrossRecipe.from_config({"name": "x", "head": "task", "tasks": ["cdsc_q"]})
    with pytest.raises(BenchError, match="cdsc_q.*which are not tasks; valid: .*cdsc_r"):
        recipe.select(list(specs.values()))
    narrowed = CrossRecipe.from_config({"name": "x", "head": "nli", "tasks": ["cdsc_e", "sick_e_pl"]})
    assert [s.result_name for s in narrowed.select([specs["cdsc_e"]])] == ["cdsc_e"]
    with pytest.raises(BenchError, match="none of which is in this run's tasks \\(cdsc_r\\)"):
        narrowed.select([specs["cdsc_r"]])
    with pytest.raises(BenchError, match="cross.batch_size=1 is not valid"):
        CrossRecipe.from_config({"name": "x", "head": "task", "tasks": None, "batch_size": 1})
    nli = CrossRecipe.from_config({"name": "x", "head": "nli", "tasks": None})
    assert [s.result_name for s in nli.select(list(specs.values()))] == ["cdsc_e", "sick_e_pl", "ppc"]


def test_held_out_threshold_ignores_test():
    val = (np.array([0.1, 0.2, 0.8, 0.9]), np.array([0.0, 0, 1, 1]))
    out = heldout(val, (np.array([0.4, 0.6]), np.array([1, 1])))
    assert out["heldout_accuracy_threshold"] == pytest.approx(0.5)
    assert out["heldout_accuracy"] == 0.5  # 0.4 falls below the validation's cut although it is positive


# --- a tiny cross-encoder through the real trainer ------------------------------------------------------------


@pytest.mark.slow
def test_tiny_cross_encoder_learns_and_sits_beside_the_bi_encoder(make_cfg, tiny_models, cross_root, tmp_path,
                                                                   caplog):
    from bench.reports.leaderboard import write_leaderboard
    from bench.run import run

    cfg = cross_cfg(make_cfg, tiny_models, cross_root, tmp_path, "task=cdsc_r")
    records = run_cross(cfg)
    result = Result.of(records[0])
    assert result.kind == "cross-encoder" and result.task == "cdsc_r.cross" and result.strategy == "cross-encoder"
    assert result.main_score_name == "spearman" and result.main_score > 0.7  # the keyword rule, learned
    low, high = result.interval["low"], result.interval["high"]
    assert low < result.main_score < high
    lineage = result.meta["lineage"]
    assert lineage["head"] == "regression" and lineage["loss"] == "BinaryCrossEntropyLoss"
    assert lineage["base"]["weights_sha256"] == result.model["weights_sha256"]
    assert lineage["selection"]["metric"] == "eval_validation_cdsc_r_spearman"
    assert lineage["selection"]["best_metric"] == max(h[lineage["selection"]["metric"]]
                                                      for h in lineage["selection"]["history"])
    assert lineage["data"]["train"]["path"].endswith("CDS_train.txt") and lineage["data"]["train_examples"] == 240
    saved = tmp_path / "models"
    assert [p.name for p in saved.glob("*/model/bench_lineage.json")] == ["bench_lineage.json"]
    assert not list(saved.glob("*/checkpoints"))  # keep=best
    pairs, targets = read_pairs(pairs_path(result.path or next((tmp_path / "results").rglob("cdsc_r.cross.json"))))
    assert len(pairs["prediction"]) == 90 and spearmanr(pairs["prediction"], targets)[0] == pytest.approx(
        result.main_score)

    # the same settings again: kept, nothing trained
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bench"):
        again = run_cross(cross_cfg(make_cfg, tiny_models, cross_root, tmp_path, "task=cdsc_r"))
    assert again[0]["bench"]["identity"] == records[0]["bench"]["identity"]
    assert "kept (overwrite=missing)" in caplog.text and "trained" not in caplog.text

    # overwrite=never refuses before any training; an unknown policy is refused with the valid ones
    never = cross_cfg(make_cfg, tiny_models, cross_root, tmp_path, "task=cdsc_r", "overwrite=never")
    with pytest.raises(BenchError, match="overwrite=never, but these results exist: .*cdsc_r.cross.json"):
        run_cross(never)
    never.overwrite = "sometimes"
    with pytest.raises(BenchError, match="Unknown overwrite policy .sometimes.. Valid overwrite policy names: always, missing, never"):
        run_cross(never)

    # the bi-encoder on the same pairs, and the leaderboard with the paired difference
    bi = run(make_cfg(*tiny_overrides(tiny_models["bert"], cross_root), "stats.bootstrap=0"))
    paths = write_leaderboard(tmp_path / "results", resamples=200)
    text = paths["md"].read_text(encoding="utf-8")
    section = text.split("## Cross-encoders")[1].split("\n## ")[0]
    row = next(line for line in section.splitlines() if line.startswith("| cdsc_r"))
    bi_score = Result.of(bi[0]).main_score
    assert f"| {bi_score * 100:.2f} |" in row and f"| {result.main_score * 100:.2f} |" in row
    difference = (result.main_score - bi_score) * 100
    assert f"{difference:+.2f} \\[" in row and " p" in row  # Markdown-escaped interval, then the p-value
    assert "cross-section" in paths["html"].read_text(encoding="utf-8")
    entries = paths["entries_csv"].read_text(encoding="utf-8")
    assert "cross-encoder" in entries.splitlines()[1] + entries


@pytest.mark.slow
def test_a_trained_cross_encoder_is_scored_again_without_training_until_its_base_changes(make_cfg, tiny_models,
                                                                                          cross_root, tmp_path, caplog):
    import shutil

    base = shutil.copytree(tiny_models["bert"], tmp_path / "base")
    caplog.set_level(logging.INFO, logger="bench")

    def run(*extra):
        caplog.clear()
        cfg = cross_cfg(make_cfg, tiny_models, cross_root, tmp_path, "task=cdsc_r", f"model.name_or_path={base}",
                        *extra)
        cfg.cross.max_steps, cfg.cross.eval_steps = 20, 10
        return Result.of(run_cross(cfg)[0])

    first = run()
    assert "cross-encoder (regression head) for cdsc_r" in caplog.text
    (first_path,) = (tmp_path / "results").rglob("cdsc_r.cross.json")
    # a scoring-only setting: the saved model scores the same test pairs again, nothing is trained
    rescored = run("stats.bootstrap=50")
    assert "scoring it without training again" in caplog.text and "regression head) for" not in caplog.text
    assert rescored.main_score == first.main_score and rescored.meta["settings"]["scoring"]["bootstrap"] == 50
    assert rescored.meta["lineage"]["training_id"] == first.meta["lineage"]["training_id"]
    assert len(list((tmp_path / "results").rglob("cdsc_r.cross.json"))) == 2
    # the result is lost, the model is on disk: scored again, not trained again
    first_path.unlink()
    again = run()
    assert "scoring it without training again" in caplog.text and first_path.is_file()
    assert again.main_score == first.main_score
    # the base's weights change in place: another training, in another folder
    perturb_weights(base)
    retrained = run()
    assert "regression head) for cdsc_r" in caplog.text and "without training again" not in caplog.text
    assert retrained.meta["lineage"]["base"]["weights_sha256"] != first.meta["lineage"]["base"]["weights_sha256"]
    assert retrained.meta["lineage"]["training_id"] != first.meta["lineage"]["training_id"]
    assert len(list((tmp_path / "models").glob("*/model"))) == 2


@pytest.mark.slow
def test_binary_and_nli_heads_learn(make_cfg, tiny_models, cross_root, tmp_path):
    binary = run_cross(cross_cfg(make_cfg, tiny_models, cross_root, tmp_path, "task=cdsc_e"))
    result = Result.of(binary[0])
    assert result.task == "cdsc_e.cross" and result.main_score_name == "ap" and result.main_score > 0.8  # chance: 1/3
    assert {"heldout_accuracy", "heldout_f1", "accuracy", "f1"} <= set(result.scores)
    cfg = cross_cfg(make_cfg, tiny_models, cross_root, tmp_path, "task=cdsc_e")
    cfg.cross.head, cfg.cross.name = "nli", "nli"
    nli = Result.of(run_cross(cfg)[0])
    assert nli.task == "cdsc_e.cross_nli" and nli.main_score_name == "accuracy"
    assert nli.main_score > 0.6 and 0 <= nli.scores["f1_macro"] <= 1  # chance: 1/3
    assert nli.task_type == "cross_nli" and nli.base_task == "cdsc_e"


def test_nli_head_on_the_hub_copies_binary_labels_fails_before_the_model_loads(make_cfg, hub_datasets, tmp_path):
    cfg = make_cfg("task=cdsc_e", "data.root=null", "+cross=nli", "model.name_or_path=/nonexistent/model")
    cfg.cross.output_dir = str(tmp_path / "models")
    with pytest.raises(BenchError, match="binary labels .*set data.root to the original files"):
        run_cross(cfg)
    assert not [p for folder in ("results", "models") for p in (tmp_path / folder).rglob("*") if p.is_file()]


def test_cross_command_line_errors_exit_2(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "bench.cross", "cross.head=pairz", f"paths.root={tmp_path}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    said = done.stdout + done.stderr
    assert "Unknown cross.head 'pairz'. Valid cross.head names: nli, task." in said and "Traceback" not in said
    helped = subprocess.run([sys.executable, "-m", "bench.cross", "--help"], capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "cross-encoder" in helped.stdout and "nli, pairs" in helped.stdout
    groups = helped.stdout.split("Config groups")[1].splitlines()
    assert any(line.split()[:1] == ["cross"] for line in groups)
    assert not any(line.split()[:1] == ["train"] for line in groups)  # bench.train's recipes are not choices here
