"""The CI gate (noise passes, a planted drop fails) and the export to MTEB's results layout."""

import json

import numpy as np
import pytest

from bench.reports import export, gate
from tests.leaderboard_fixtures import populate, similarities, targets_for, write_result


@pytest.fixture
def results(tmp_path):
    populate(tmp_path / "results")
    return tmp_path / "results"


@pytest.fixture
def baseline(results, tmp_path):
    path = tmp_path / "baseline.json"
    assert gate.main(["--results", str(results), "--write-baseline", str(path)]) == 0
    return path


def run_gate(results, baseline, capsys, *extra):
    code = gate.main(["--results", str(results), "--baseline", str(baseline), *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_rerun_passes(results, baseline, capsys, tmp_path, monkeypatch):
    summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, out = run_gate(results, baseline, capsys, "--summary", str(tmp_path / "gate.md"))
    assert code == 0 and "## bench gate: passed" in out and out.count("✅ pass") == 12
    assert (tmp_path / "gate.md").read_text() == out.rstrip("\n") + "\n" == summary.read_text()


def test_noise_within_the_interval_passes(results, baseline, capsys):
    targets = targets_for("cdsc_r")
    noisy = {k: v + 0.01 * np.random.default_rng(5).normal(size=v.shape)
             for k, v in similarities("cdsc_r", targets, 0.3, 1).items()}
    write_result(results, "good", "mean", "cdsc_r", noisy, targets)
    code, out = run_gate(results, baseline, capsys)
    assert code == 0, out


def test_planted_drop_fails(results, baseline, capsys):
    targets = targets_for("cdsc_r")
    write_result(results, "good", "mean", "cdsc_r", similarities("cdsc_r", targets, 0.45, 1), targets)
    code, out = run_gate(results, baseline, capsys)
    assert code == 1 and "## bench gate: FAILED" in out
    failing = [line for line in out.splitlines() if "❌" in line]
    assert len(failing) == 1 and failing[0].startswith("| cdsc_r | good | mean |")
    # a fixed allowance larger than the drop lets it through
    assert run_gate(results, baseline, capsys, "--max-drop", "0.5")[0] == 0


def test_missing_result_fails_unless_allowed(results, baseline, capsys):
    for path in results.glob("weak/**/cdsc_e*"):
        path.unlink()
    code, out = run_gate(results, baseline, capsys)
    assert code == 1 and "❌ missing" in out
    assert run_gate(results, baseline, capsys, "--allow-missing")[0] == 0


def test_bad_baseline_is_a_clear_error(results, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"entries": []}')
    code, out = run_gate(results, bad, capsys)
    assert code == 2 and "cannot read baseline" in out and "--write-baseline" in out


def test_export_loads_in_mteb(results, tmp_path):
    mteb = pytest.importorskip("mteb")
    written = export.export(results, tmp_path / "mteb")
    main_files = [p for p in written if "-bench-" not in p.parts[-3]]
    assert {p.name for p in main_files} == {"CDSC-R.json", "CDSC-E.json"}
    for path in written:
        task = mteb.TaskResult.from_disk(path)
        source = json.loads(path.read_text())
        assert task.task_name == source["task_name"] and "bench" not in source
        assert task.get_score() == pytest.approx(source["scores"]["test"][0]["main_score"])
    assert (main_files[0].parent / "model_meta.json").is_file()
    # the default strategy (mean) is the model's result; cls and the PCA variants are models of their own
    assert {p.parts[-3] for p in written if "-bench-" in p.parts[-3]} == {
        "org__good-bench-cls", "org__good-bench-mean+pca16", "org__good-bench-mean+pca32"}
    assert {p.parts[-3] for p in main_files} == {"org__good", "org__twin", "org__weak"}
    loaded = mteb.ResultCache(tmp_path / "mteb").load_results(include_remote=False, require_model_meta=False)
    names = [(r.model_name, r.model_revision) for r in loaded.model_results]
    assert len(names) == len(set(names))  # one result set per model and revision: no duplicates
    assert {n for n, _ in names} == {"org/good", "org/twin", "org/weak", "org/good-bench-cls",
                                     "org/good-bench-mean+pca16", "org/good-bench-mean+pca32"}
    for model_result in loaded.model_results:
        tasks = [t.task_name for t in model_result.task_results]
        assert len(tasks) == len(set(tasks))  # one result per task
    meta = json.loads((tmp_path / "mteb" / "results" / "org__good-bench-cls" / "abc123" / "model_meta.json").read_text())
    assert meta["bench"]["base_model"] == "org/good" and meta["bench"]["strategy"] == "cls"


def test_two_fine_tuned_models_of_one_name_export_apart(tmp_path):
    targets = targets_for("cdsc_r")
    for weights, noise in (("a" * 64, 0.3), ("b" * 64, 0.6)):
        write_result(tmp_path / "res", "minilm-ft", "sbert", "cdsc_r", similarities("cdsc_r", targets, noise, 1),
                     targets, revision="local", source="local", weights=weights)
    written = export.export(tmp_path / "res", tmp_path / "mteb", strategy="sbert")
    assert sorted(p.relative_to(tmp_path / "mteb").as_posix() for p in written) == [
        f"results/minilm-ft/local-{'a' * 12}/CDSC-R.json", f"results/minilm-ft/local-{'b' * 12}/CDSC-R.json"]


def test_negative_max_drop_is_refused(results, baseline, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_gate(results, baseline, capsys, "--max-drop", "-0.5")
    assert exit_info.value.code == 2 and "--max-drop must be >= 0" in capsys.readouterr().err


def test_undefined_current_score_fails(results, baseline, capsys):
    targets = targets_for("cdsc_r")
    constant = {k: np.zeros_like(targets) for k in ("cosine", "manhattan", "euclidean")}
    write_result(results, "good", "mean", "cdsc_r", constant, targets)  # Spearman of a constant: undefined
    code, out = run_gate(results, baseline, capsys)
    assert code == 1 and "current score is undefined" in out


def test_baseline_with_non_numeric_scores_is_a_clear_error(results, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"bench_baseline": 1, "entries": [{
        "model": "good", "strategy": "mean", "task": "cdsc_r", "revision": "r", "metric": "m", "score": "high",
        "ci_low": None, "ci_high": None, "ci_level": None, "dataset_revision": None}]}))
    code, out = run_gate(results, bad, capsys)
    assert code == 2 and "cannot read baseline" in out
