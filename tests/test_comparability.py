"""Comparable or labelled (issue 23): one rule decides which numbers may meet, and every place they meet uses it."""

import json

import numpy as np
import pandas as pd
import pytest

from bench.errors import BenchError
from bench.reports import compare, gate
from bench.reports.leaderboard import build, write_leaderboard
from bench.reports.leaderboard.tables import suite_tables
from bench.results.comparability import (
    Basis,
    basis_of,
    content_digest,
    published_basis,
    published_data_basis,
    published_reasons,
    reference_bases,
)
from bench.results.index import INDEX, index_entries
from bench.tasks.schema import PairData
from tests.leaderboard_fixtures import SUITE, populate, similarities, targets_for, write_result

HUB = {"digest": "a" * 64, "pairs": 400, "source": "hub copy PL-MTEB/cdscr-sts@1cd6abb"}
LOCAL = {"digest": "b" * 64, "pairs": 400, "source": "cdscorpus/CDS_test_annotated.txt sha256 fd5607ca2d8f"}


def test_content_digest_is_the_scored_pairs_not_their_source():
    pairs = PairData(["a", "b"], ["c", "d"], np.array([1.0, 0.0]), source={"kind": "hub", "path": "x", "revision": "r"})
    same = PairData(["a", "b"], ["c", "d"], np.array([1.0, 0.0]), source={"kind": "local", "path": "/d/f.txt",
                                                                           "sha256": "e" * 64})
    relabelled = PairData(["a", "b"], ["c", "d"], np.array([0.0, 1.0]))
    assert content_digest(pairs) == content_digest(same)  # identical data from two sources still matches
    assert content_digest(relabelled) != content_digest(pairs)  # another label definition is other data


def test_basis_differences_name_what_differs():
    hub = basis_of({"test_data": HUB}, task="cdsc_r", metric="cosine_spearman")
    local = basis_of({"test_data": LOCAL}, task="cdsc_r", metric="cosine_spearman")
    assert hub.differences(local) == ["data: hub copy PL-MTEB/cdscr-sts@1cd6abb vs cdscorpus/CDS_test_annotated.txt "
                                      "sha256 fd5607ca2d8f"]
    other_metric = Basis("cdsc_r", hub.data, hub.label, "manhattan_pearson")
    assert hub.differences(other_metric) == ["metric: cosine_spearman vs manhattan_pearson"]
    assert hub.comparable(basis_of({"test_data": HUB}, task="cdsc_r", metric="cosine_spearman"))
    # an older result without the digest: its test file's id; never comparable with another file
    old = basis_of({"settings": {"data": {"test": "sha256:" + "d" * 64}}}, task="cdsc_r", metric="cosine_spearman")
    assert old.data == "file:sha256:" + "d" * 64 and not old.comparable(hub)
    # the reference is the data most results were scored on; ties never depend on the order of reading
    assert reference_bases([hub, local, hub])["cdsc_r"] == hub
    assert reference_bases([local, hub])["cdsc_r"] == reference_bases([hub, local])["cdsc_r"]


def test_published_numbers_are_judged_by_the_same_basis():
    """A published MTEB number is on the dataset revision it names; a run is on the revision its mteb_data names,
    else on its own test data; the one Basis.differences says what differs, and a model's revision counts."""
    rev = "1cd6abbb00df7d14be3dbd76a7dcc64b3a79a7cd"
    published = published_basis("cdsc_r", rev, "cosine_spearman", "PL-MTEB/cdscr-sts")
    run = published_data_basis({"test_data": LOCAL, "mteb_data": {"dataset": "PL-MTEB/cdscr-sts", "revision": rev,
                                                                  "via": "local file with the same content"}},
                               task="cdsc_r", metric="cosine_spearman")
    assert run == published and published_reasons(published, run, "r1", {"r1"}) == []
    older = published_basis("cdsc_r", "an-older-revision", "cosine_spearman", "PL-MTEB/cdscr-sts")
    assert published_reasons(older, run, "r1") == ["data: PL-MTEB/cdscr-sts@an-olde vs PL-MTEB/cdscr-sts@1cd6abb"]
    assert published_reasons(published_basis("cdsc_r", rev, "cosine_pearson", "PL-MTEB/cdscr-sts"), run, None) == \
        ["metric: cosine_pearson vs cosine_spearman"]
    assert published_reasons(published, run, "r0", {"r1", "r2"}) == ["model revision r0, run here at r1, r2"]
    assert published_reasons(published_basis("cdsc_r", None, "cosine_spearman"), run, None) == \
        ["data: no dataset revision published vs PL-MTEB/cdscr-sts@1cd6abb"]
    # a run on local data not known to be the published copy: its own data, which no published number is on
    own = published_data_basis({"test_data": LOCAL, "mteb_data": {"revision": None, "note": "not the hub copy"}},
                               task="cdsc_r", metric="cosine_spearman")
    assert own.data == f"content:{LOCAL['digest']}" and own.label == f"{LOCAL['source']} (not the hub copy)"
    assert published_reasons(published, own, None) == [f"data: PL-MTEB/cdscr-sts@1cd6abb vs {own.label}"]


@pytest.fixture
def mixed(tmp_path):
    """Three models on the reference data of both tasks; 'elsewhere' has one task on another copy of the data and a
    higher score there than anyone."""
    results = tmp_path / "results"
    for task in ("cdsc_r", "cdsc_e"):
        targets = targets_for(task)
        for model, noise in (("good", 0.3), ("weak", 1.5), ("mid", 0.8)):
            write_result(results, model, "mean", task, similarities(task, targets, noise, 1), targets, test_data=HUB)
        data = LOCAL if task == "cdsc_r" else HUB
        write_result(results, "elsewhere", "mean", task, similarities(task, targets, 0.05, 9), targets, test_data=data)
    return results


def test_leaderboard_ranks_only_comparable_rows(mixed):
    entries = build(mixed, resamples=50)
    complete, partial = suite_tables(entries, SUITE)
    assert set(complete["model"]) == {"good", "weak", "mid"}  # 'elsewhere' is not ranked with them
    other = partial[partial["model"] == "elsewhere"]
    assert list(other["tasks"]) == ["1 of 2"] * 2 or "other test data" in " ".join(other["tasks"])
    assert any("other test data" in v for v in other["variant"])
    cdsc_r = entries[entries["task"] == "cdsc_r"]
    best = cdsc_r[cdsc_r["best"] == True]  # noqa: E712 -- object column
    assert list(best["model"]) == ["good"]  # the higher score on other data is not "best"
    far = cdsc_r[cdsc_r["model"] == "elsewhere"].iloc[0]
    assert far["data"] == ("data: cdscorpus/CDS_test_annotated.txt sha256 fd5607ca2d8f vs hub copy "
                           "PL-MTEB/cdscr-sts@1cd6abb") and not far["reference"]


def test_leaderboard_files_label_rows_on_other_data(mixed, tmp_path):
    write_leaderboard(mixed, resamples=0, suite=SUITE)
    text = (mixed / "leaderboard.md").read_text(encoding="utf-8")
    section = text.split("## cdsc_r")[1]
    line = next(row for row in section.splitlines() if "| elsewhere |" in row)
    assert "not comparable (data: cdscorpus/CDS\\_test\\_annotated.txt" in line or \
        "not comparable (data: cdscorpus/CDS_test_annotated.txt" in line
    ranking = pd.read_csv(mixed / "leaderboard.csv")
    ranked = ranking[ranking["tasks"] == "2 of 2"]
    assert set(ranked["model"]) == {"good", "weak", "mid"}


def test_cross_encoder_is_paired_only_with_bi_encoders_on_its_data(mixed):
    targets = targets_for("cdsc_r")
    write_result(mixed, "crossy", "cross-encoder", "cdsc_r", similarities("cdsc_r", targets, 0.2, 3), targets,
                 task_name="cdsc_r.cross_regression", test_data=LOCAL)
    path = next(mixed.glob("crossy/**/cdsc_r.cross_regression.json"))
    record = json.loads(path.read_text())
    record["bench"]["cross_encoder"] = {"task": "cdsc_r", "head": "regression"}
    record["bench"]["task_config"]["type"] = "cross_regression"
    path.write_text(json.dumps(record))
    from bench.results.record import pairs_path, write_pairs_atomic

    write_pairs_atomic(pairs_path(path), {"prediction": similarities("cdsc_r", targets, 0.2, 3)["cosine"]}, targets)
    entries = build(mixed, resamples=50)
    cross = entries[entries["kind"] == "cross-encoder"].iloc[0]
    assert cross["bi_best"] == "elsewhere · mean (other test data: other file)"  # the only one on its pairs


def test_gate_fails_on_a_baseline_that_is_not_comparable(mixed, tmp_path, capsys):
    baseline = tmp_path / "baseline.json"
    assert gate.main(["--results", str(mixed), "--write-baseline", str(baseline)]) == 0
    payload = json.loads(baseline.read_text())
    assert payload["bench_baseline"] == 2 and payload["entries"][0]["data_key"].startswith("content:")
    for entry in payload["entries"]:
        if entry["model"] == "good" and entry["task"] == "cdsc_r":
            entry["data_key"], entry["data_label"] = "content:" + "c" * 64, "other.txt sha256 cccccccccccc"
        if entry["model"] == "mid" and entry["task"] == "cdsc_r":
            entry["revision"], entry["metric"] = "0000deadbeef", "manhattan_pearson"
    baseline.write_text(json.dumps(payload))
    code = gate.main(["--results", str(mixed), "--baseline", str(baseline)])
    out = capsys.readouterr().out
    assert code == 1
    good = next(line for line in out.splitlines() if line.startswith("| cdsc_r | good |"))
    assert "❌ not comparable" in good and "(data: hub copy PL-MTEB/cdscr-sts@1cd6abb vs other.txt " \
                                         "sha256 cccccccccccc)" in good
    mid = next(line for line in out.splitlines() if line.startswith("| cdsc_r | mid |"))
    assert "❌ not comparable" in mid and "metric: cosine_spearman vs manhattan_pearson" in mid
    assert "model revision abc123 vs the baseline's 0000deadbeef" in mid
    code = gate.main(["--results", str(mixed), "--baseline", str(baseline), "--accept-incomparable"])
    out = capsys.readouterr().out
    assert code == 0 and "accepted with --accept-incomparable" in out


def test_gate_reads_version_1_baselines_by_dataset_revision(mixed, tmp_path, capsys):
    baseline = tmp_path / "baseline.json"
    gate.main(["--results", str(mixed), "--write-baseline", str(baseline)])
    payload = json.loads(baseline.read_text())
    payload["bench_baseline"] = 1
    for entry in payload["entries"]:
        entry.pop("data_key"), entry.pop("data_label")
    payload["entries"][0]["dataset_revision"] = "another-revision"
    baseline.write_text(json.dumps(payload))
    assert gate.main(["--results", str(mixed), "--baseline", str(baseline)]) == 1
    assert "not comparable (data: dataset revision data-sha vs the baseline's another-revi" in capsys.readouterr().out


def test_compare_refuses_results_on_other_data(mixed):
    a = next(mixed.glob("good/**/cdsc_r.json"))
    b = next(mixed.glob("elsewhere/**/cdsc_r.json"))
    with pytest.raises(BenchError, match="not comparable .data: hub copy PL-MTEB/cdscr-sts@1cd6abb vs cdscorpus"):
        compare.compare(a, b, resamples=100)
    assert compare.compare(a, next(mixed.glob("weak/**/cdsc_r.json")), resamples=100)["difference"] > 0


def test_index_entry_never_trusted_over_its_result(tmp_path):
    results = tmp_path / "results"
    populate(results)
    truth = {(e["model"], e["strategy"], e["task"]): e["score"] for e in index_entries(results)}
    items = sorted((results / INDEX).glob("*.json"))
    edited = json.loads(items[0].read_text())
    edited["entry"]["score"] = 0.99  # edited by hand
    items[0].write_text(json.dumps(edited))
    items[1].write_text(json.dumps({**json.loads(items[1].read_text()), "entry": None}))  # valid JSON, no entry
    lacking = json.loads(items[2].read_text())
    del lacking["entry"]["task"]
    items[2].write_text(json.dumps(lacking))
    items[3].write_text("null")
    rebuilt = {(e["model"], e["strategy"], e["task"]): e["score"] for e in index_entries(results)}
    assert rebuilt == truth and 0.99 not in rebuilt.values()
    # a stale entry (the result replaced with its old modification time kept) is rebuilt too
    path = next(results.glob("weak/**/cdsc_r.json"))
    record = json.loads(path.read_text())
    stat = path.stat()
    record["scores"]["test"][0]["main_score"] = 0.5467
    path.write_text(json.dumps(record))
    import os

    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert {e["score"] for e in index_entries(results) if e["model"] == "weak" and e["task"] == "cdsc_r"} == {0.5467}


def test_index_that_cannot_be_written_is_built_in_memory(tmp_path):
    """A results folder whose index cannot be written (a read-only archive; here ``.index`` is a file, which stops
    root too) still gives every entry."""
    results = tmp_path / "results"
    populate(results)
    import shutil

    shutil.rmtree(results / INDEX, ignore_errors=True)
    (results / INDEX).write_text("not a folder")
    assert len(index_entries(results)) == 12  # 3 models + cls + 2 compressed, on 2 tasks


def test_a_label_definition_is_part_of_the_identity(make_cfg, tiny_models, tiny_data_root, tmp_path):
    """positive=[CONTRADICTION] for CDSC-E once printed "all 1 results exist ... nothing to compute" and kept the
    default definition's number."""
    from bench.run import run
    from tests.test_never_wrong import tiny

    (default,) = run(tiny(make_cfg, tiny_models, tiny_data_root, "task=cdsc_e"))
    (other,) = run(tiny(make_cfg, tiny_models, tiny_data_root, "task=cdsc_e", "task.target.positive=[CONTRADICTION]"))
    assert other["bench"]["settings_id"] != default["bench"]["settings_id"]
    assert other["bench"]["settings"]["data"]["labels"]["positive"] == ["CONTRADICTION"]
    assert "labels" not in default["bench"]["settings"]["data"]  # the declared definition keeps its settings id
    assert other["scores"]["test"][0]["main_score"] != default["scores"]["test"][0]["main_score"]
    assert other["bench"]["test_data"]["digest"] != default["bench"]["test_data"]["digest"]
    entries = build(tmp_path / "results", resamples=0)
    assert sorted(entries["reference"]) == [False, True] and "positive=CONTRADICTION" in " ".join(entries["variant"])
    (again,) = run(tiny(make_cfg, tiny_models, tiny_data_root, "task=cdsc_e", "task.target.positive=[CONTRADICTION]"))
    assert again["bench"]["created"] == other["bench"]["created"]  # the same definition is reused
