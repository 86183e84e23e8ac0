"""Whole runs: run(cfg) on tiny models, the CLI, a multirun sweep, and the result layout."""

import json
import re
import subprocess
import sys

import pytest

from bench.atomic import write_json_atomic
from bench.reports.leaderboard.tables import scores_frame, to_markdown
from bench.run import run
from tests.conftest import ROOT
from tests.helpers import tiny_overrides


def tiny_cfg(make_cfg, tiny_models, tiny_data_root, *extra):
    return make_cfg(*tiny_overrides(tiny_models["bert"], tiny_data_root), *extra)


def test_run_writes_mteb_layout_with_provenance(make_cfg, tiny_models, tiny_data_root, tmp_path):
    records = run(tiny_cfg(make_cfg, tiny_models, tiny_data_root, "pooling=cls"))
    (record,) = records
    files = list((tmp_path / "results").glob("**/cdsc_r.json"))
    assert len(files) == 1 and files[0].parent.parent.name == "cls" and files[0].parents[2].name.startswith("local-")
    assert files[0].parent.name == record["bench"]["settings_id"] and len(record["bench"]["settings_id"]) == 10
    on_disk = json.loads(files[0].read_text())
    assert on_disk == json.loads(json.dumps(record))
    entry = on_disk["scores"]["test"][0]
    assert on_disk["task_name"] == "CDSC-R" and entry["languages"] == ["pol-Latn"] and entry["hf_subset"] == "default"
    assert entry["main_score"] == entry["cosine_spearman"]
    meta = on_disk["bench"]
    assert meta["main_score_name"] == "cosine_spearman"
    assert meta["model"]["weights_sha256"] and meta["model"]["source"] == "local"
    assert meta["pooling"] == {"name": "cls", "fn": "cls", "layers": [-1], "normalize": False, "slug": "cls"}
    assert set(meta["data"]) == {"test"} and len(meta["data"]["test"]["sha256"]) == 64  # STS reads test only
    assert meta["encoding"]["sentences_total"] == 12 and meta["encoding"]["sentences_distinct"] == 6
    assert meta["encoding"]["dtype"] == "float32" and meta["encoding"]["device"] == "cpu"
    assert meta["versions"]["torch"] and meta["versions"]["transformers"] and meta["seed"] == 42
    assert "commit" in meta["git"]
    index = list((tmp_path / "results" / ".index").glob("*.json"))
    assert len(index) == 1 and json.loads(index[0].read_text())["entry"]["score"] == entry["main_score"]
    assert not (tmp_path / "results" / "leaderboard.md").exists()  # built once at the end of a run or sweep


def test_rerun_is_deterministic(make_cfg, tiny_models, tiny_data_root):
    first = run(tiny_cfg(make_cfg, tiny_models, tiny_data_root, "pooling=mean", "cache.enabled=false"))
    second = run(tiny_cfg(make_cfg, tiny_models, tiny_data_root, "pooling=mean", "cache.enabled=false",
                          "overwrite=always"))
    assert second[0]["bench"]["created"] >= first[0]["bench"]["created"]
    first, second = first[0]["scores"]["test"][0], second[0]["scores"]["test"][0]
    assert first == second


def test_layers_and_strategies_get_distinct_results(make_cfg, tiny_models, tiny_data_root, tmp_path):
    run(tiny_cfg(make_cfg, tiny_models, tiny_data_root, "pooling=mean", "pooling.layers=[-2]"))
    run(tiny_cfg(make_cfg, tiny_models, tiny_data_root, "pooling=first_last_avg"))
    slugs = sorted(p.parent.parent.name for p in (tmp_path / "results").glob("**/cdsc_r.json"))
    assert slugs == ["first_last_avg-layers_1_-1", "mean-layers_-2"]


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "r" / "x.json"
    write_json_atomic(target, {"a": 1})
    with pytest.raises(ValueError):
        write_json_atomic(target, {"a": float("nan")})  # JSON has no NaN: refused before the rename
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in target.parent.iterdir()] == ["x.json"]


def test_table_of_main_scores(make_cfg, tiny_models, tiny_data_root):
    records = run(tiny_cfg(make_cfg, tiny_models, tiny_data_root, "pooling=max"))
    table = to_markdown(scores_frame(records))
    assert table.splitlines()[0] == "| model | revision | strategy | cdsc_r |"  # one task: no mean
    assert f"{records[0]['scores']['test'][0]['main_score'] * 100:.2f}" in table


@pytest.mark.slow
def test_cli_multirun_sweeps_poolings(tiny_models, tiny_data_root, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench", "-m", "pooling=cls,mean", f"model={tiny_models['xlmr']}", "model.max_seq_length=64",
         "task=cdsc_e", "data.check_rows=false", f"data.root={tiny_data_root}", f"results_dir={tmp_path / 'res'}",
         "encode.progress=false", f"hydra.sweep.dir={tmp_path / 'sweep'}", f"cache.dir={tmp_path / 'cache'}"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = sorted(p.parent.parent.name for p in (tmp_path / "res").glob("**/cdsc_e.json"))
    assert results == ["cls", "mean"]
    record = json.loads(next((tmp_path / "res").glob("**/cls/*/cdsc_e.json")).read_text())
    entry = record["scores"]["test"][0]
    assert entry["main_score"] == entry["max_ap"] and "cosine_f1_threshold" in entry
    assert entry["heldout_split"] == "validation" and 0 <= entry["heldout_accuracy"] <= 1
    assert {"cosine_heldout_accuracy", "cosine_heldout_f1", "manhattan_heldout_accuracy_threshold"} <= set(entry)
    board = (tmp_path / "res" / "leaderboard.csv").read_text().splitlines()
    assert board[0] == ("model,revision,strategy,variant,tasks,cdsc_r,cdsc_e,sick_r_pl,sick_e_pl,ppc,"
                        "stsb_multi_mt.pl") and len(board) == 3
    assert all(re.search(r",1 of 6,,\d+\.\d+,,,,$", row) for row in board[1:])  # partial Polish row, no mean
    assert "| cdsc_e |" in done.stdout  # each job prints its table of main scores
