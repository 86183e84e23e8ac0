"""The hub loaders on offline replicas of the dataset repositories (real snapshot_download, real datasets
builders; nothing patched): layouts, splits, provenance, clear errors."""

import json
import os
from pathlib import Path

import pytest

from bench.errors import BenchError, DataError
from bench.tasks.spec import load_task, task_specs
from tests.hub_replica import install_repo


def test_sts_task_from_hub(make_cfg, hub_datasets):
    (spec,) = task_specs(make_cfg("task=cdsc_r").task)
    splits = load_task(spec, None)
    assert list(splits) == ["train", "validation", "test"]  # PL-MTEB's copies hold every split
    assert [len(splits[s]) for s in splits] == [8000, 1000, 1000]
    assert splits["test"].source == {"kind": "hub", "path": "PL-MTEB/cdscr-sts", "name": None, "file": "test.jsonl",
                                     "split": "test", "revision": "1cd6abbb00df7d14be3dbd76a7dcc64b3a79a7cd",
                                     "rows": 1000}


def test_pair_classification_single_row_layout(make_cfg, hub_datasets):
    """PL-MTEB's pair-classification files hold a whole split as one JSON row of lists."""
    (spec,) = task_specs(make_cfg("task=sick_e_pl").task)
    splits = load_task(spec, None)
    assert [len(splits[s]) for s in splits] == [4439, 495, 4906]
    assert set(splits["test"].targets.tolist()) == {0, 1} and splits["test"].raw_labels[:3] == ["0", "0", "0"]


def test_stsb_language_is_a_file_of_the_repository(make_cfg, hub_datasets):
    (spec,) = task_specs(make_cfg("task=stsb_multi_mt", "task.lang=en").task)
    validation = load_task(spec, None, splits=("validation",))["validation"]
    assert validation.source["file"] == "dev/en.parquet" and validation.source["split"] == "dev"
    assert len(validation) == 1500


def test_missing_from_the_cache_is_a_clear_error(make_cfg, hub_datasets):
    (spec,) = task_specs(make_cfg("task=stsb_multi_mt", "task.lang=de").task)  # the replica has pl and en only
    with pytest.raises(DataError, match=r"could not fetch .*mteb/stsb_multi_mt.*offline.*data.root"):
        load_task(spec, None, splits=("test",))


def test_a_split_the_source_lacks(make_cfg):
    (spec,) = task_specs(make_cfg("task=ppc_mteb").task)
    with pytest.raises(DataError, match="task 'ppc_mteb' has no split"):
        load_task(spec, None, splits=("train",))


def test_a_damaged_hub_file_names_the_row(make_cfg, tmp_path):
    """A dataset repository whose test split has an out-of-range score: the error names repo, file and row."""
    rows = [{"sentence1": "a b", "sentence2": "c d", "score": 1.0}, {"sentence1": "e", "sentence2": "f", "score": 9.0}]
    files = {"test.jsonl": "".join(json.dumps(r) + "\n" for r in rows).encode()}
    revision = "f" * 40
    install_repo(Path(os.environ["HF_HUB_CACHE"]), "dataset", "test-org/broken-sts", revision, files, set(files))
    (spec,) = task_specs(make_cfg("task=cdsc_r", "task.hub.path=test-org/broken-sts", f"task.hub.revision={revision}").task)
    with pytest.raises(DataError, match=r"test-org/broken-sts@ffffffffffff/test.jsonl row 2: score 9.0 is outside"):
        load_task(spec, None, splits=("test",))


PSC_REVISION = "d05a294af9e1d3ff2bfb6b714e08a24a6cabc669"


def test_psc_is_read_from_its_hub_copy_even_with_data_root(make_cfg, data_root, hub_datasets):
    """PSC has no original files among data.root's folders: its PL-MTEB copy (train and test, no validation)."""
    (spec,) = task_specs(make_cfg(f"data.root={data_root}", "task=psc").task)
    assert spec.hub_only and spec.mteb_name == "PSC"
    splits = load_task(spec, data_root)
    assert list(splits) == ["train", "test"] and [len(splits[s]) for s in splits] == [60, 40]
    assert splits["test"].source == {"kind": "hub", "path": "PL-MTEB/psc-pairclassification", "name": None,
                                     "file": "test.json", "split": "test", "revision": PSC_REVISION, "rows": 40}
    assert int(splits["test"].targets.sum()) == 14  # every third pair is an extract with its own summary


def test_psc_scores_without_held_out_thresholds(make_cfg, data_root, hub_datasets, tiny_models):
    from bench.run import run

    base = (f"data.root={data_root}", "task=psc", "model=hf", f"model.name_or_path={tiny_models['bert']}",
            "model.max_seq_length=64", "pooling=mean", "stats.bootstrap=0")
    (record,) = run(make_cfg(*base))
    scores = record["scores"]["test"][0]
    assert record["bench"]["task"] == "psc" and record["task_name"] == "PSC"
    assert record["dataset_revision"] == PSC_REVISION and set(record["bench"]["data"]) == {"test"}
    aps = [value for key, value in scores.items() if key.endswith("_ap") and key != "max_ap"]
    assert len(aps) == 5 and 0 < scores["main_score"] <= 1 and scores["main_score"] == scores["max_ap"] == max(aps)
    assert not any(key.startswith("heldout_") for key in scores)  # the hub copy has no validation split
    with pytest.raises(BenchError, match=r"probe=nli applies to cdsc_e, sick_e_pl, and this run.s tasks are psc"):
        run(make_cfg(*base, "probe=nli"))


def test_mteb_pol_suite_holds_mteb_pols_similarity_tasks(make_cfg):
    specs = task_specs(make_cfg("task=mteb_pol").task)
    assert [s.mteb_name for s in specs] == ["CDSC-R", "SICK-R-PL", "CDSC-E", "SICK-E-PL", "PpcPC", "PSC"]
    assert [s.hub_only for s in specs] == [False] * 5 + [True]
