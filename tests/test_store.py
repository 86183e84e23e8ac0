"""The results store: one mechanism for layout, reuse, the overwrite policy, atomic writes and reading, used by
bench's runs, bench.train's evaluations and bench.cross alike."""

import json
from pathlib import Path

import numpy as np
import pytest

from bench.errors import BenchError
from bench.identity import Identity
from bench.results import store as store_module
from bench.results.index import INDEX
from bench.results.record import pairs_path, read_pairs
from bench.results.store import ResultsStore
from tests.leaderboard_fixtures import populate


def existing(tmp_path) -> tuple[ResultsStore, Path, dict]:
    results = tmp_path / "results"
    populate(results)
    path = next(results.glob("good/**/mean/*/cdsc_r.json"))
    return ResultsStore(results), path, json.loads(path.read_text())


def test_keep_follows_the_overwrite_policy(tmp_path):
    store, path, record = existing(tmp_path)
    record["bench"]["identity"] = "the-identity"
    path.write_text(json.dumps(record))
    same = {"cdsc_r": Identity({}, "x", "the-identity", path)}
    other = {"cdsc_r": Identity({}, "x", "another-identity", path)}
    assert store.keep(same, "missing")["cdsc_r"]["bench"]["identity"] == "the-identity"
    assert store.keep(other, "missing") == {}  # another identity is recomputed, never reused
    assert store.keep(same, "always") == {}
    with pytest.raises(BenchError, match="overwrite=never, but these results exist: .*cdsc_r.json"):
        store.keep(same, "never")
    with pytest.raises(BenchError, match="overwrite policy"):
        store.keep(same, "sometimes")
    fresh = {"x": Identity({}, "x", "i", tmp_path / "results" / "new" / "x.json")}
    assert store.keep(fresh, "never") == {}


def test_write_puts_pairs_result_and_index_entry_together(tmp_path):
    store, path, record = existing(tmp_path)
    target = tmp_path / "results" / "m" / "r" / "mean" / "s" / "cdsc_r.json"
    pairs, targets = {"cosine": np.array([0.1, 0.9, 0.4])}, np.array([0.0, 5.0, 2.0])
    result = store.write(target, record, pairs, targets)
    assert result.main_score == record["scores"]["test"][0]["main_score"] and result.path == target
    stored_pairs, stored_targets = read_pairs(pairs_path(target))
    assert np.array_equal(stored_pairs["cosine"], pairs["cosine"]) and np.array_equal(stored_targets, targets)
    assert len(list((tmp_path / "results" / INDEX).glob("*.json"))) == 1
    assert any(row["path"] == str(target) for row in store.entries())
    with pytest.raises(BenchError, match="not a complete bench result"):
        store.write(target.with_name("bad.json"), {"scores": {}}, pairs, targets)
    assert not target.with_name("bad.json").exists() and not pairs_path(target.with_name("bad.json")).exists()


def test_results_and_entries_agree(tmp_path):
    store, _, _ = existing(tmp_path)
    assert sorted(str(p) for p, _ in store.results()) == sorted(row["path"] for row in store.entries())


@pytest.mark.slow
def test_cross_encoders_and_training_evaluations_write_through_the_store(make_cfg, tiny_models, tmp_path,
                                                                         monkeypatch, train_root):
    """The same store as bench's runs: a spy on ResultsStore.write that calls through."""
    from bench.cross.loop import run_cross
    from bench.train.loop import train
    from tests.helpers import cross_cfg, cross_rows, train_cfg, write_cdscorpus

    written = []
    real = store_module.ResultsStore.write

    def spy(self, path, record, pairs, targets):
        written.append(record["bench"]["task"])
        return real(self, path, record, pairs, targets)

    monkeypatch.setattr(store_module.ResultsStore, "write", spy)
    root = write_cdscorpus(tmp_path / "cross-data", train=cross_rows(60, 0), trial=cross_rows(30, 1),
                           test=cross_rows(30, 2))
    cfg = cross_cfg(make_cfg, tiny_models, root, tmp_path, "task=cdsc_r", "stats.bootstrap=10")
    cfg.cross.epochs, cfg.cross.eval_steps = 1, 2
    run_cross(cfg)
    assert written == ["cdsc_r.cross"]
    test_file = train_root / "cdscorpus" / "CDS_test_annotated.txt"
    test_file.write_text((root / "cdscorpus" / "CDS_test_annotated.txt").read_text(encoding="utf-8"), encoding="utf-8")
    train(train_cfg(make_cfg, tiny_models, train_root, tmp_path, "train.max_steps=2", "train.evaluate_after=true",
                    "stats.bootstrap=10"))
    assert written[1:] and all(task == "cdsc_r" for task in written[1:])
