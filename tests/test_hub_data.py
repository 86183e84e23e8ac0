"""The hub loaders, exercised on local copies by patching datasets.load_dataset."""

import datasets
import pytest

from bench.errors import DataError
from bench.tasks import load_task, task_specs


def _fake_hub(calls, tables):
    def load_dataset(path, name=None, split=None, revision=None):
        calls.append((path, name, split, revision))
        return tables[path]

    return load_dataset


def test_sts_task_from_hub(make_cfg, monkeypatch):
    calls = []
    table = datasets.Dataset.from_dict({"sentence1": ["a b", "c d"], "sentence2": ["a c", "d e"], "score": [4.0, 1.5]})
    monkeypatch.setattr(datasets, "load_dataset", _fake_hub(calls, {"PL-MTEB/cdscr-sts": table}))
    (spec,) = task_specs(make_cfg("task=cdsc_r").task)
    splits = load_task(spec, None)
    assert list(splits) == ["test"]  # the PL-MTEB copy holds the test split only
    assert calls == [("PL-MTEB/cdscr-sts", None, "test", "1cd6abbb00df7d14be3dbd76a7dcc64b3a79a7cd")]
    assert splits["test"].targets.tolist() == [4.0, 1.5]
    assert splits["test"].source == {"kind": "hub", "path": "PL-MTEB/cdscr-sts", "name": None, "split": "test",
                                     "revision": "1cd6abbb00df7d14be3dbd76a7dcc64b3a79a7cd", "rows": 2}


def test_pair_classification_single_row_layout(make_cfg, monkeypatch):
    # MTEB's older pair-classification datasets store a split as one row of lists
    table = datasets.Dataset.from_dict({"sent1": [["x y", "z"]], "sent2": [["x", "q"]], "labels": [[1, 0]]})
    monkeypatch.setattr(datasets, "load_dataset", _fake_hub([], {"PL-MTEB/ppc-pairclassification": table}))
    (spec,) = task_specs(make_cfg("task=ppc").task)
    test = load_task(spec, None)["test"]
    assert test.sentence1 == ["x y", "z"] and test.targets.tolist() == [1, 0]


def test_stsb_language_is_the_hub_config(make_cfg, monkeypatch):
    calls = []
    table = datasets.Dataset.from_dict({"sentence1": ["Hallo"], "sentence2": ["Hi"], "similarity_score": [4.2]})
    monkeypatch.setattr(datasets, "load_dataset", _fake_hub(calls, {"mteb/stsb_multi_mt": table}))
    (spec,) = task_specs(make_cfg("task=stsb_multi_mt", "task.lang=de").task)
    load_task(spec, None, splits=("validation",))
    assert calls == [("mteb/stsb_multi_mt", "de", "dev", "29afa2569dcedaaa2fe6a3dcfebab33d28b82e8c")]


def test_hub_errors_are_clear(make_cfg, monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    (spec,) = task_specs(make_cfg("task=cdsc_r").task)
    with pytest.raises(DataError, match="could not load PL-MTEB/cdscr-sts.*Use data.root"):
        load_task(spec, None)
    with pytest.raises(DataError, match="has no 'train' split"):
        load_task(spec, None, splits=("train",))
