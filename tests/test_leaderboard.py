"""The leaderboard: tables from results, significance marks, Markdown/CSV/HTML files."""

import pandas as pd
import pytest

from bench.leaderboard import build, significance, write_leaderboard
from tests.leaderboard_fixtures import populate, similarities, targets_for, write_result


@pytest.fixture
def results(tmp_path):
    populate(tmp_path / "results")
    return tmp_path / "results"


def test_marks_best_twin_and_weak(results):
    entries = build(results, resamples=300)
    for task in ("cdsc_r", "cdsc_e"):
        part = entries[(entries["task"] == task) & (entries["strategy"] == "mean")].set_index("model")
        everything = entries[entries["task"] == task]
        assert everything["best"].tolist().count(True) == 1
        best = everything[everything["best"] == True]  # noqa: E712 (object column)
        assert best.iloc[0]["model"] in {"good", "twin"} and best.iloc[0]["strategy"] == "mean"
        runner_up = "twin" if best.iloc[0]["model"] == "good" else "good"
        assert part.loc[runner_up, "not_worse"] is True and part.loc[runner_up, "diff_high"] >= 0
        assert part.loc["weak", "not_worse"] is False and part.loc["weak", "p_vs_best"] < 0.01
        assert part.loc["weak", "diff_high"] < 0


def test_significance_is_cached(results, monkeypatch):
    first = build(results, resamples=200)
    assert (results / significance.CACHE_NAME).is_file()

    def refuse(*args, **kwargs):
        raise AssertionError("recomputed a cached comparison")

    monkeypatch.setattr(significance, "paired_from_files", refuse)
    second = build(results, resamples=200)
    pd.testing.assert_frame_equal(first.drop(columns="path"), second.drop(columns="path"))


def test_other_test_pairs_get_no_mark(results):
    write_result(results, "other", "mean", "cdsc_r", {"cosine": targets_for("cdsc_r", 50, 7), "manhattan": targets_for(
        "cdsc_r", 50, 7), "euclidean": targets_for("cdsc_r", 50, 7)}, targets_for("cdsc_r", 50, 7))
    entries = build(results, resamples=100).set_index(["model", "task", "strategy"])
    row = entries.loc[("other", "cdsc_r", "mean")]
    assert row["best"] is True  # a perfect score, but on other pairs: the others are not compared with it
    assert entries.loc[("weak", "cdsc_r", "mean"), "not_worse"] is None


def test_files_tables_and_probe_separation(results):
    write_result(results, "good", "mean", "cdsc_e", {"prediction": targets_for("cdsc_e")}, targets_for("cdsc_e"),
                 task_name="cdsc_e.nli_probe", probe={"name": "nli"})
    paths = write_leaderboard(results, resamples=200)
    suite = pd.read_csv(paths["csv"])
    assert list(suite.columns) == ["model", "revision", "strategy", "variant", "cdsc_e", "cdsc_r", "mean"]
    assert suite.iloc[0]["model"] in {"good", "twin"} and suite.iloc[-1]["model"] == "weak"
    assert suite["mean"].tolist() == sorted(suite["mean"], reverse=True)
    long = pd.read_csv(paths["entries_csv"])
    assert {"ci_low", "ci_high", "not_worse", "p_vs_best", "git_commit", "path"} <= set(long.columns)
    assert len(long) == 13 and not long["path"].str.startswith("/").any()
    md = paths["md"].read_text()
    assert "## Trained probes" in md and "cdsc_e.nli_probe" in md.split("## Trained probes")[1]
    assert "cdsc_e.nli_probe" not in md.split("## Trained probes")[0]  # probes stay out of the suite mean
    suite_md = md.split("## Suite (zero-shot)")[1].split("\n## ")[0]
    assert " ≈ |" in suite_md and "| **" in suite_md  # marked cells in the table, not just the legend
    assert suite_md.index("| twin") < suite_md.index("| weak")  # ordered by mean, as the CSV
    html = paths["html"].read_text()
    assert html.startswith("<!DOCTYPE html>") and 'id="heatmap"' in html and "<svg" in html
    assert "<link" not in html and " src=" not in html  # self-contained


def test_two_fine_tuned_models_of_one_name_are_two_rows(tmp_path):
    targets = targets_for("cdsc_r")
    for weights, noise in (("a" * 64, 0.3), ("b" * 64, 0.6)):
        # a fine-tuned model is a local directory: revision "local", told apart by its weights
        write_result(tmp_path, "minilm-relatedness_all", "sbert", "cdsc_r", similarities("cdsc_r", targets, noise, 1),
                     targets, revision="local", source="local", weights=weights)
    suite = pd.read_csv(write_leaderboard(tmp_path)["csv"])
    assert sorted(suite["revision"]) == ["local-aaaaaa", "local-bbbbbb"]
    assert suite.set_index("revision").loc["local-aaaaaa", "cdsc_r"] > suite.set_index("revision").loc["local-bbbbbb", "cdsc_r"]


def test_empty_results_give_an_empty_leaderboard(tmp_path):
    paths = write_leaderboard(tmp_path / "none")
    assert "_no results_" in paths["md"].read_text() and "No results yet" in paths["html"].read_text()


def test_command_refuses_a_missing_results_folder(tmp_path):
    from bench.leaderboard.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--results", str(tmp_path / "typo")])
    assert exit_info.value.code == 2 and not (tmp_path / "typo").exists()
