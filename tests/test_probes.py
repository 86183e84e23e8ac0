"""Trained probes: features, selection on validation only, separable cases, and whole runs."""

import json

import numpy as np
import pytest

from bench.errors import BenchError
from bench.evaluators.probe import (
    ProbeSpec,
    fit_and_score,
    label_indices,
    pair_features,
    probe_metrics,
)
from bench.run import run
from bench.scoring import main_function
from tests.helpers import tiny_overrides

NLI = ProbeSpec(name="nli", kind="classification", tasks=("cdsc_e",), labels=("NEUTRAL", "CONTRADICTION", "ENTAILMENT"),
                grid=(0.001, 0.1, 10.0))
RELATEDNESS = ProbeSpec(name="relatedness", kind="regression", tasks=("cdsc_r",), grid=(0.1, 10.0, 1000.0))


def test_pair_features_are_u_v_absdiff_prod():
    u = np.array([[1.0, -2.0]], dtype=np.float32)
    v = np.array([[3.0, 0.5]], dtype=np.float32)
    assert pair_features(u, v).tolist() == [[1.0, -2.0, 3.0, 0.5, 2.0, 2.5, 3.0, -1.0]]
    assert pair_features(u, v, ("absdiff",)).tolist() == [[2.0, 2.5]]


def test_main_score_alone_equals_the_full_metrics():
    rng = np.random.default_rng(3)
    classes, predicted = rng.integers(0, 3, 200).astype(float), rng.integers(0, 3, 200).astype(float)
    assert main_function("probe_classification")({"prediction": predicted}, classes) == pytest.approx(
        probe_metrics("classification", classes, predicted)["accuracy"])
    gold, guess = rng.normal(size=200), rng.normal(size=200)
    assert main_function("probe_regression")({"prediction": guess}, gold) == pytest.approx(
        probe_metrics("regression", gold, guess)["spearman"])


def separable_nli(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three classes told apart by how v relates to u: same (entailment), negated (contradiction), unrelated."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(n, 32)).astype(np.float32)
    y = rng.integers(0, 3, n)
    v = np.where((y == 2)[:, None], u, np.where((y == 1)[:, None], -u, rng.normal(size=(n, 32)))).astype(np.float32)
    v += 0.05 * rng.normal(size=v.shape).astype(np.float32)
    return pair_features(u, v), y


def test_nli_probe_solves_a_separable_three_way_case():
    result = fit_and_score(NLI, separable_nli(600, 0), separable_nli(200, 1), separable_nli(300, 2))
    assert result.metrics["accuracy"] >= 0.97
    assert result.metrics["f1_macro"] >= 0.97 and result.metrics["main_score"] == result.metrics["accuracy"]
    assert set(np.unique(result.predictions)) == {0.0, 1.0, 2.0}
    assert result.selection["parameter"] == "C" and result.selection["chosen"] in NLI.grid
    assert set(result.selection["validation_accuracy"]) == {"0.001", "0.1", "10.0"}


def test_chance_level_without_signal():
    rng = np.random.default_rng(3)
    noise = [(rng.normal(size=(n, 32)).astype(np.float32), rng.integers(0, 3, n)) for n in (600, 200, 600)]
    assert abs(fit_and_score(NLI, *noise).metrics["accuracy"] - 1 / 3) < 0.08


def test_selection_uses_validation_not_test():
    train, validation, test = separable_nli(300, 0), separable_nli(100, 1), separable_nli(300, 2)
    chosen = fit_and_score(NLI, train, validation, test).selection
    scrambled = (test[0], np.random.default_rng(9).permutation(test[1]))
    assert fit_and_score(NLI, train, validation, scrambled).selection == chosen
    # a validation split whose labels are scrambled changes what is chosen (the grid is really searched)
    flipped = (validation[0], (validation[1] + 1) % 3)
    assert fit_and_score(NLI, train, flipped, test).selection["validation_accuracy"] != chosen["validation_accuracy"]


def test_relatedness_probe_recovers_a_linear_score():
    rng = np.random.default_rng(0)

    def split(n):
        u, v = rng.normal(size=(n, 6)), rng.normal(size=(n, 6))
        x = pair_features(u.astype(np.float32), v.astype(np.float32))
        return x, x @ np.linspace(-1, 1, x.shape[1]) + 0.1 * rng.normal(size=n)

    result = fit_and_score(RELATEDNESS, split(500), split(200), split(300))
    assert result.metrics["spearman"] > 0.98 and result.metrics["pearson"] > 0.98
    assert result.selection["parameter"] == "alpha"


def test_label_errors_name_the_valid_labels():
    assert label_indices(["ENTAILMENT", "NEUTRAL"], NLI.labels, "x").tolist() == [2, 0]
    with pytest.raises(BenchError, match="UNKNOWN.*valid: NEUTRAL, CONTRADICTION, ENTAILMENT"):
        label_indices(["UNKNOWN"], NLI.labels, "cdsc_e/train")
    with pytest.raises(BenchError, match="3-way labels.*data.root"):
        label_indices([], NLI.labels, "cdsc_e/train")


def test_bad_probe_configs():
    with pytest.raises(BenchError, match="probe kind.*classification"):
        ProbeSpec(name="x", kind="clustering", tasks=("cdsc_e",))
    with pytest.raises(BenchError, match="positive regularisation"):
        ProbeSpec(name="x", kind="regression", tasks=("cdsc_r",), grid=(0.0,))


def tiny(make_cfg, tiny_models, tiny_data_root, *extra):
    return make_cfg(*tiny_overrides(tiny_models["bert"], tiny_data_root, "stats.bootstrap=50", *extra, task=None))


def test_nli_probe_run_writes_its_own_result(make_cfg, tiny_models, tiny_data_root, tmp_path):
    (record,) = run(tiny(make_cfg, tiny_models, tiny_data_root, "task=cdsc_e", "probe=nli", "pooling=mean"))
    path = next((tmp_path / "results").glob("**/mean/*/cdsc_e.nli_probe.json"))
    on_disk = json.loads(path.read_text())
    entry = on_disk["scores"]["test"][0]
    assert on_disk["bench"]["task"] == "cdsc_e.nli_probe" and on_disk["bench"]["main_score_name"] == "accuracy"
    assert entry["main_score"] == entry["accuracy"] and 0 <= entry["f1_macro"] <= 1
    assert entry["main_score_ci"]["low"] <= entry["main_score"] <= entry["main_score_ci"]["high"]
    assert on_disk["bench"]["probe"]["selected_on"] == "validation"
    assert on_disk["bench"]["task_config"]["type"] == "probe_classification"
    assert entry["probe_selection"]["train_pairs"] == 6
    assert path.with_name("cdsc_e.nli_probe.pairs.npz").is_file()


def test_probe_needs_matching_tasks(make_cfg, tiny_models, tiny_data_root):
    with pytest.raises(BenchError, match="probe=nli applies to cdsc_e, sick_e_pl.*cdsc_r"):
        run(tiny(make_cfg, tiny_models, tiny_data_root, "task=cdsc_r", "probe=nli"))


def test_relatedness_probe_on_the_suite_filters_tasks(make_cfg, tiny_models, tiny_data_root):
    records = run(tiny(make_cfg, tiny_models, tiny_data_root, "task=cdsc_r", "probe=relatedness", "pooling=cls"))
    assert [r["bench"]["task"] for r in records] == ["cdsc_r.relatedness_probe"]
    assert records[0]["bench"]["main_score_name"] == "spearman"


def test_single_class_train_split_is_a_clear_error():
    x = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    one_class = (x, np.zeros(20, dtype=np.int64))
    with pytest.raises(BenchError, match="single class"):
        fit_and_score(NLI, one_class, one_class, one_class)


def test_probe_run_prints_probe_scores_without_a_mean(make_cfg, tiny_models, tiny_data_root):
    from bench.reports.leaderboard.tables import scores_frame

    records = run(tiny(make_cfg, tiny_models, tiny_data_root, "task=cdsc_e", "probe=nli", "pooling=cls"))
    assert list(scores_frame(records).columns) == ["model", "revision", "strategy", "cdsc_e.nli_probe"]


def test_probe_on_a_test_only_source_is_a_clear_error_before_encoding(make_cfg, tiny_models, tiny_data_root,
                                                                      monkeypatch):
    import bench.plan
    import bench.run

    real = bench.plan.load_task
    monkeypatch.setattr(bench.plan, "load_task",  # as a hub copy: the test split only
                        lambda spec, root, splits=None, check_rows=True: {
                            "test": real(spec, root, splits=("test",), check_rows=check_rows)["test"]})
    monkeypatch.setattr(bench.run, "encode_by_prompt", lambda *a, **k: pytest.fail("encoded before the check"))
    with pytest.raises(BenchError, match="needs the train, validation split"):
        run(tiny(make_cfg, tiny_models, tiny_data_root, "task=cdsc_e", "probe=nli", "pooling=mean"))
