"""bench.load_results on bench results and MTEB result files of every format; your runs ranked beside published
rows (bench-leaderboard --published)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bench
from bench.reports.leaderboard.__main__ import main as leaderboard_main
from tests.leaderboard_fixtures import similarities, targets_for, write_result

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "mteb_results"
CDSC_R_DATA = "1cd6abbb00df7d14be3dbd76a7dcc64b3a79a7cd"  # conf/task/cdsc_r.yaml hub.revision


def by_file(frame, name: str, folder: str):
    rows = frame[frame["path"].str.endswith(f"{folder}/{name}")]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_each_mteb_format_is_read():
    frame = bench.load_results(FIXTURES)
    assert len(frame) == 5 and set(frame["origin"]) == {"published"}
    old = by_file(frame, "CDSC-R.json", "rev-v1")
    assert (old["format"], old["task"], old["main_score"], old["main_score_name"]) == \
        ("mteb-1.x", "cdsc_r", 0.72, "cosine_spearman")  # cos_sim.spearman is the main score
    assert (old["model"], old["revision"], old["dataset_revision"]) == ("fixture-org/model-v1", "rev-v1", CDSC_R_DATA)
    ppc = by_file(frame, "PPC.json", "rev-v1")  # mteb's old name of PpcPC
    assert (ppc["mteb_task"], ppc["task"], ppc["main_score"], ppc["main_score_name"]) == \
        ("PpcPC", "ppc", 0.665, "max_ap")
    flat = by_file(frame, "CDSC-R.json", "rev-v112")
    assert (flat["format"], flat["main_score"], flat["main_score_name"]) == ("mteb-1.11+", 0.79, "cosine_spearman")
    nested = by_file(frame, "SICK-E-PL.json", "rev-v112")  # 1.12.20: pair classification still nested
    assert (nested["task"], nested["main_score"], nested["main_score_name"]) == ("sick_e_pl", 0.48, "max_ap")
    new = by_file(frame, "CDSC-R.json", "rev-v2")
    assert (new["format"], new["main_score"]) == ("mteb-2.x", 0.81)
    assert (new["model"], new["revision"]) == ("fixture-org/model-v2", "rev-v2-meta")  # model_meta.json wins


def test_the_same_numbers_as_mtebs_own_loader():
    """Every fixture read by the installed mteb (TaskResult.from_disk, with its conversions of old formats)."""
    task_result = pytest.importorskip("mteb.results").TaskResult
    frame = bench.load_results(FIXTURES)
    for path in sorted(FIXTURES.rglob("*.json")):
        if path.name == "model_meta.json":
            continue
        loaded = task_result.from_disk(path)
        ours = frame[frame["path"] == str(path)]
        assert set(ours["mteb_task"]) == {loaded.task_name}, path
        for split, entries in loaded.scores.items():
            for entry in entries:
                row = ours[(ours["split"] == split) & (ours["subset"] == entry["hf_subset"])].iloc[0]
                assert row["main_score"] == entry["main_score"], path
                assert entry[row["main_score_name"]] == entry["main_score"], path


def run_here(results: Path, *, revision: str = "abc123", model: str = "m", score_noise: float = 0.3) -> Path:
    targets = targets_for("cdsc_r")
    path = write_result(results, model, "sbert", "cdsc_r", similarities("cdsc_r", targets, score_noise, 0), targets,
                        revision=revision)
    record = json.loads(path.read_text(encoding="utf-8"))
    record["bench"]["mteb_data"] = {"dataset": "PL-MTEB/cdscr-sts", "revision": CDSC_R_DATA, "via": "hub"}
    path.write_text(json.dumps(record), encoding="utf-8")
    return path


def test_bench_results_are_read_through_the_result_contract(tmp_path):
    path = run_here(tmp_path / "results")
    frame = bench.load_results(tmp_path / "results")
    (row,) = frame.itertuples()
    record = json.loads(path.read_text(encoding="utf-8"))
    assert (row.origin, row.format, row.task, row.model, row.revision, row.strategy) == \
        ("run here", "bench", "cdsc_r", "org/m", "abc123", "sbert")
    assert row.main_score == record["scores"]["test"][0]["main_score"]
    assert row.main_score_low == pytest.approx(row.main_score - 0.02)
    assert row.dataset_revision == CDSC_R_DATA


def test_runs_ranked_beside_published_rows(tmp_path, capsys):
    results = tmp_path / "results"
    run_here(results)
    published = tmp_path / "published"
    shutil.copytree(FIXTURES, published)
    # the model run here, published at another revision (2.x layout: model_meta.json names it)
    other = published / "org__m" / "zzz999"
    other.mkdir(parents=True)
    (other / "model_meta.json").write_text(json.dumps({"name": "org/m", "revision": "zzz999"}), encoding="utf-8")
    (other / "CDSC-R.json").write_text(json.dumps({
        "dataset_revision": CDSC_R_DATA, "task_name": "CDSC-R", "mteb_version": "2.1.0", "evaluation_time": 1.0,
        "scores": {"test": [{"cosine_spearman": 0.5, "main_score": 0.5, "hf_subset": "default",
                             "languages": ["pol-Latn"]}]}}), encoding="utf-8")
    assert leaderboard_main(["--results", str(results), "--published", str(published)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(results / "leaderboard_published.md"), str(results / "leaderboard_published.csv")]

    frame = pd.read_csv(results / "leaderboard_published.csv")
    cdsc = frame[frame["task"] == "cdsc_r"].set_index("model")
    # only comparable rows are ranked (bench.results.comparability): the run and the published rows on its data and metric
    ranked_rows = cdsc[cdsc["rank"].notna()]
    assert list(ranked_rows.index) == ["fixture-org/model-v112", "org/m", "fixture-org/model-v1"]
    assert list(ranked_rows["rank"]) == [1, 2, 3]
    assert list(ranked_rows["main_score"]) == sorted(ranked_rows["main_score"], reverse=True)
    assert cdsc.loc["org/m"].shape[0] == 2  # run here, and published at another revision
    mine = frame[(frame["model"] == "org/m") & (frame["origin"] == "run here")].iloc[0]
    assert mine["comparable"] == "run here" and mine["data_key"] == f"mteb:{CDSC_R_DATA}"
    theirs = frame[(frame["model"] == "org/m") & (frame["origin"] == "published")].iloc[0]
    assert theirs["comparable"] == "model revision zzz999, run here at abc123" and np.isnan(theirs["rank"])
    assert cdsc.loc["fixture-org/model-v112", "comparable"] == "yes"
    assert cdsc.loc["fixture-org/model-v1", "comparable"] == "yes"
    # published on another dataset revision: not comparable, with the reason, and not ranked (though its 0.81 is
    # the highest number in the table)
    assert cdsc.loc["fixture-org/model-v2", "comparable"] == \
        "data: PL-MTEB/cdscr-sts@an-olde vs PL-MTEB/cdscr-sts@1cd6abb"
    assert np.isnan(cdsc.loc["fixture-org/model-v2", "rank"])
    markdown = (results / "leaderboard_published.md").read_text(encoding="utf-8")
    assert "| fixture-org/model-v2 | rev-v2-meta |  | 0.8100 | published (mteb-2.x), not run here |" in markdown
    assert "| org/m | abc123 | sbert |" in markdown and "| run here | run here |" in markdown
    assert "| 2 | org/m | abc123 | sbert |" in markdown and "|  | fixture-org/model-v2 |" in markdown
    assert np.isfinite(mine["main_score"])


def test_a_run_on_data_other_than_the_published_copy_is_compared_with_no_published_row(tmp_path):
    """A run whose test pairs are not known to be MTEB's copy (mteb_data without a revision) is on its own data (its
    content digest, or its test file for older results): no published number is ranked with it, and each says why."""
    from bench.reports.leaderboard.published import ranked
    from bench.results.record import Result

    path = run_here(tmp_path / "results")
    record = json.loads(path.read_text(encoding="utf-8"))
    record["bench"]["mteb_data"] = {"dataset": None, "revision": None, "note": "a local test file of my own"}
    path.write_text(json.dumps(record), encoding="utf-8")
    frame = ranked(tmp_path / "results", FIXTURES)
    cdsc = frame[frame["task"] == "cdsc_r"].set_index("model")
    assert cdsc.loc["org/m", "comparable"] == "run here" and cdsc.loc["org/m", "rank"] == 1
    label = cdsc.loc["org/m", "data_label"]
    assert label.endswith("(a local test file of my own)")
    assert cdsc.loc["org/m", "data_key"] == Result.of(record).basis.data  # the run's own data, as the store has it
    assert cdsc.loc["fixture-org/model-v1", "comparable"] == f"data: PL-MTEB/cdscr-sts@1cd6abb vs {label}"
    assert cdsc["rank"].notna().sum() == 1


def test_published_rows_without_a_run_are_judged_against_benchs_task(tmp_path):
    """No run of PPC here: a published PPC number is comparable when it is on the dataset revision bench's task
    names (conf/task/ppc.yaml), and on another revision it says so."""
    from bench.reports.leaderboard.published import ranked

    published = tmp_path / "published"
    shutil.copytree(FIXTURES, published)
    old = published / "org__old" / "r1"
    old.mkdir(parents=True)
    (old / "PpcPC.json").write_text(json.dumps({
        "dataset_revision": "0000000aaaa", "task_name": "PpcPC", "mteb_version": "1.14.0", "evaluation_time": 1.0,
        "scores": {"test": [{"max_ap": 0.9, "main_score": 0.9, "hf_subset": "default", "languages": ["pol-Latn"]}]}}),
        encoding="utf-8")
    frame = ranked(tmp_path / "no-results", published)
    ppc = frame[frame["task"] == "ppc"].set_index("model")
    assert ppc.loc["fixture-org/model-v1", "comparable"] == "yes" and ppc.loc["fixture-org/model-v1", "rank"] == 1
    assert ppc.loc["org/old", "comparable"].startswith("data: PL-MTEB/ppc-pairclassification@0000000 vs "
                                                       "PL-MTEB/ppc-pairclassification@")
    assert pd.isna(ppc.loc["org/old", "rank"])


def test_missing_published_folder_exits_2(tmp_path, capsys):
    run_here(tmp_path / "results")
    assert leaderboard_main(["--results", str(tmp_path / "results"), "--published", str(tmp_path / "nope")]) == 2
    assert "no results at" in capsys.readouterr().err
