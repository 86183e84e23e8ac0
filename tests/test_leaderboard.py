"""The leaderboard: tables from results, significance marks, Markdown/CSV/HTML files."""

import pandas as pd
import pytest

from bench.reports.leaderboard import build, significance, write_leaderboard
from bench.reports.leaderboard.tables import Suite
from tests.helpers import tiny_overrides
from tests.leaderboard_fixtures import SUITE, populate, similarities, targets_for, write_result


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
    paths = write_leaderboard(results, resamples=200, suite=SUITE)
    suite = pd.read_csv(paths["csv"])
    assert list(suite.columns) == ["model", "revision", "strategy", "variant", "tasks", "cdsc_e", "cdsc_r",
                                   "mean (2 tasks)"]
    assert suite.iloc[0]["model"] in {"good", "twin"} and suite.iloc[-1]["model"] == "weak"
    assert suite["mean (2 tasks)"].tolist() == sorted(suite["mean (2 tasks)"], reverse=True)
    long = pd.read_csv(paths["entries_csv"])
    assert {"ci_low", "ci_high", "not_worse", "p_vs_best", "git_commit", "path"} <= set(long.columns)
    assert len(long) == 13 and not long["path"].str.startswith("/").any()
    md = paths["md"].read_text()
    assert "## Trained probes" in md and "cdsc_e.nli_probe" in md.split("## Trained probes")[1]
    assert "cdsc_e.nli_probe" not in md.split("## Trained probes")[0]  # probes stay out of the suite mean
    suite_md = md.split("## Suite: test (2 tasks, complete rows only)")[1].split("\n## ")[0]
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
    suite = pd.read_csv(write_leaderboard(tmp_path, suite=SUITE)["csv"])
    assert sorted(suite["revision"]) == ["local-aaaaaa", "local-bbbbbb"]
    assert suite.set_index("revision").loc["local-aaaaaa", "cdsc_r"] > suite.set_index("revision").loc["local-bbbbbb", "cdsc_r"]


def test_empty_results_give_an_empty_leaderboard(tmp_path):
    paths = write_leaderboard(tmp_path / "none", suite=SUITE)
    assert "_no results_" in paths["md"].read_text() and "No results yet" in paths["html"].read_text()


def test_command_refuses_a_missing_results_folder(tmp_path):
    from bench.reports.leaderboard.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--results", str(tmp_path / "typo")])
    assert exit_info.value.code == 2 and not (tmp_path / "typo").exists()


def test_suite_ranking_holds_only_complete_rows(results):
    """A one-task compression sweep scores higher on that task than the full rows' mean: it must not
    outrank them. Complete rows are ranked by the mean over the suite; partial rows are listed apart."""
    targets = targets_for("cdsc_r")
    write_result(results, "onetask", "mean", "cdsc_r", similarities("cdsc_r", targets, 0.05, 9), targets)
    paths = write_leaderboard(results, resamples=0, suite=SUITE)
    ranking = pd.read_csv(paths["csv"], keep_default_na=False)
    complete = ranking[ranking["tasks"] == "2 of 2"]
    partial = ranking[ranking["tasks"] == "1 of 2"]
    assert "onetask" in set(partial["model"]) and "onetask" not in set(complete["model"])
    assert (partial["mean (2 tasks)"] == "").all()  # no mean over a part of the suite
    assert ranking.index[ranking["model"] == "onetask"][0] > complete.index.max()  # listed after the ranking
    md = paths["md"].read_text()
    ranked = md.split("## Suite: test (2 tasks, complete rows only)")[1].split("\n## ")[0]
    assert "onetask" not in ranked and "Ranked by the mean over cdsc_e, cdsc_r." in ranked
    apart = md.split("## Partial rows (fewer than the 2 suite tasks; not ranked)")[1].split("\n## ")[0]
    assert "| onetask |" in apart and "1 of 2" in apart
    html = paths["html"].read_text()
    assert 'id="partial"' in html and "Mean over the 2 tasks of the test suite" in html
    assert html.split('id="heatmap"')[1].split("</table>")[0].count("onetask") == 0


def test_printed_table_says_what_its_mean_averages(results):
    from bench.reports.leaderboard.tables import scores_frame
    from bench.results.record import iter_results

    records = [r for _, r in iter_results(results) if r["bench"]["model"]["name"] == "good"
               and r["bench"]["strategy"] == "mean"]
    assert list(scores_frame(records, SUITE).columns)[-1] == "mean (2 tasks)"
    assert list(scores_frame(records[:1], SUITE).columns)[-1] in ("cdsc_e", "cdsc_r")  # one task: no mean
    other = Suite("bigger", ("cdsc_e", "cdsc_r", "ppc"))
    assert list(scores_frame(records, other).columns)[-1] == "mean of these 2 tasks"


def test_the_index_follows_the_results(results):
    """Built from the results index: copied-in results are indexed, a deleted one disappears, a rewritten
    one replaces its entry; every run adds its own entries and nothing rebuilds per job."""
    import json

    from bench.results.index import INDEX, index_entries

    first = index_entries(results)
    assert len(first) == 12 and len(list((results / INDEX).glob("*.json"))) == 12
    victim = next(p for p in results.glob("**/cdsc_r.json") if "weak" in str(p))
    victim.unlink()
    assert len(index_entries(results)) == 11 and len(list((results / INDEX).glob("*.json"))) == 11
    other = next(p for p in results.glob("**/cdsc_r.json") if "twin" in str(p))
    record = json.loads(other.read_text())
    record["scores"]["test"][0]["main_score"] = 0.123
    other.write_text(json.dumps(record))
    import os

    os.utime(other, ns=(other.stat().st_atime_ns, other.stat().st_mtime_ns + 10**9))
    (changed,) = [row for row in index_entries(results) if row["path"] == str(other)]
    assert changed["score"] == 0.123


@pytest.mark.slow
def test_a_run_and_a_sweep_build_the_leaderboard_once_at_the_end(tiny_models, tiny_data_root, tmp_path):
    import subprocess
    import sys

    args = [sys.executable, "-m", "bench", *tiny_overrides(tiny_models["bert"], tiny_data_root),
            f"results_dir={tmp_path / 'res'}", f"cache.dir={tmp_path / 'cache'}", "encode.progress=false",
            "stats.bootstrap=0"]
    done = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0 and (tmp_path / "res" / "leaderboard.md").is_file()
    done = subprocess.run([*args[:3], "-m", *args[3:], "pooling=cls,max", f"hydra.sweep.dir={tmp_path / 'sw'}"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("leaderboard: ") == 1  # once for the sweep, not once per job
    assert "| bert | local-988905 | max | 82.86 |" in done.stdout or "| max |" in done.stdout
    assert "| max |" in (tmp_path / "res" / "leaderboard.md").read_text()


def test_wide_table_has_only_rows_that_exist():
    """Two models with their own revisions: two rows, not the four combinations of models and revisions."""
    import pandas as pd

    from bench.reports.leaderboard.tables import wide

    rows = [{"model": m, "revision": r, "strategy": "sbert", "variant": "", "task": t, "kind": "zero-shot", "score": s}
            for m, r in (("base", "aaa"), ("base-tuned", "local-bbb")) for t, s in (("cdsc_r", 0.5), ("ppc", 0.7))]
    table = wide(pd.DataFrame(rows))
    assert table[["model", "revision"]].values.tolist() == [["base", "aaa"], ["base-tuned", "local-bbb"]]
    assert table["cdsc_r"].tolist() == [50.0, 50.0]
