"""Typed results: every record says what kind of result it is (``bench.kind``), older records get the kind
they always had, and a record is checked in one place, refused with one message by the store, the index and
every report."""

import json
import logging

import numpy as np
import pytest

from bench.errors import BenchError
from bench.results import record as record_module
from bench.results.index import entry
from bench.results.record import SCHEMA_VERSION, Result, ResultKind, read_result, result_kind, settings_id
from bench.results.store import ResultsStore
from bench.run import run
from tests.leaderboard_fixtures import populate, populate_every_kind


def tiny(make_cfg, tiny_models, tiny_data_root, *extra):
    return make_cfg("model=hf", f"model.name_or_path={tiny_models['bert']}", "model.max_seq_length=64",
                    "data.check_rows=false", f"data.root={tiny_data_root}", "stats.bootstrap=20", *extra)


def written(result: Result) -> dict:
    """The record as it is on disk (a result of a run names its file)."""
    return json.loads(result.path.read_text(encoding="utf-8"))


# --- the kind is written --------------------------------------------------------------------------------------


def test_a_zero_shot_run_writes_its_kind_outside_the_settings(make_cfg, tiny_models, tiny_data_root):
    (result,) = run(tiny(make_cfg, tiny_models, tiny_data_root, "task=cdsc_r", "pooling=mean"))
    on_disk = written(result)
    assert on_disk["bench"]["kind"] == "zero-shot" and on_disk["bench"]["schema_version"] == SCHEMA_VERSION == 3
    assert result.kind is ResultKind.ZERO_SHOT and read_result(result.path).kind is ResultKind.ZERO_SHOT
    settings = on_disk["bench"]["settings"]  # the kind is no setting: the settings id is the settings' digest
    assert "kind" not in json.dumps(settings) and on_disk["bench"]["settings_id"] == settings_id(settings)
    # a record that lacks the field (written before it existed) is the same result, with the same row
    old = json.loads(json.dumps(on_disk))
    del old["bench"]["kind"]
    assert entry(result.path, old) == entry(result.path, on_disk)


def test_a_probe_run_writes_its_kind(make_cfg, tiny_models, tiny_data_root):
    (result,) = run(tiny(make_cfg, tiny_models, tiny_data_root, "task=cdsc_e", "probe=nli", "pooling=mean"))
    assert written(result)["bench"]["kind"] == "probe"
    assert result.kind is ResultKind.PROBE and result.is_probe and result.base_task == "cdsc_e"


def test_a_cross_encoder_run_writes_its_kind(make_cfg, tiny_models, tiny_data_root, tmp_path):
    from bench.cross.loop import run_cross

    cfg = tiny(make_cfg, tiny_models, tiny_data_root, "task=cdsc_r", "+cross=pairs")
    cfg.cross.output_dir = str(tmp_path / "models")
    cfg.cross.epochs, cfg.cross.batch_size, cfg.cross.max_length = 1, 4, 16
    (record,) = run_cross(cfg)
    path = next((tmp_path / "results").rglob("cdsc_r.cross.json"))
    assert json.loads(path.read_text())["bench"]["kind"] == "cross-encoder"
    assert Result.of(record).kind is ResultKind.CROSS_ENCODER and read_result(path).base_task == "cdsc_r"


# --- records written before the field ---------------------------------------------------------------------------


def test_records_without_the_field_get_the_kind_they_always_had(tmp_path):
    results = tmp_path / "results"
    populate_every_kind(results)  # schema-1 records: none has bench.kind
    kinds = {}
    for _, result in ResultsStore(results).results():
        assert "kind" not in result.meta
        kinds.setdefault(result.kind, set()).add(result.task)
    assert kinds == {ResultKind.ZERO_SHOT: {"cdsc_e", "cdsc_r"}, ResultKind.PROBE: {"cdsc_e.nli_probe"},
                     ResultKind.CROSS_ENCODER: {"cdsc_r.cross"}}  # fine-tuned models' results are zero-shot
    rows = {(row["model"], row["task"]): row["kind"] for row in ResultsStore(results).entries()}
    assert rows[("good-tuned", "cdsc_r")] == "zero-shot" and rows[("good-cross", "cdsc_r.cross")] == "cross-encoder"
    assert rows[("good", "cdsc_e.nli_probe")] == "probe"


def test_a_written_kind_is_read_as_written():
    assert result_kind({"kind": "probe"}) is ResultKind.PROBE
    assert result_kind({"kind": "zero-shot", "lineage": {"base_model": "x"}}) is ResultKind.ZERO_SHOT
    assert result_kind({"cross_encoder": {"task": "cdsc_r"}}) is ResultKind.CROSS_ENCODER
    assert result_kind({"probe": {"name": "nli"}}) is ResultKind.PROBE and result_kind({}) is ResultKind.ZERO_SHOT
    assert str(ResultKind.CROSS_ENCODER) == f"{ResultKind.CROSS_ENCODER}" == "cross-encoder"


# --- one check, one message ----------------------------------------------------------------------------------------


def spoiled(tmp_path, kind="zero_shot"):
    """A populated results folder with one record whose kind is not a kind."""
    results = tmp_path / "results"
    populate(results)
    path = next(results.glob("weak/**/mean/*/cdsc_r.json"))
    record = json.loads(path.read_text())
    record["bench"]["kind"] = kind
    path.write_text(json.dumps(record))
    return results, path, record


def test_a_bad_record_is_refused_with_one_message_by_the_store_the_index_and_the_reports(tmp_path, caplog):
    from bench.reports.leaderboard import write_leaderboard
    from bench.reports.leaderboard.published import load_results

    results, path, record = spoiled(tmp_path)
    message = (f"{path} is not a complete bench result (bench.kind 'zero_shot' is none of zero-shot, probe, "
               f"cross-encoder).")
    store = ResultsStore(results)
    with pytest.raises(BenchError) as refused:
        store.write(path.with_name("copy.json"), record, {"cosine": np.zeros(3)}, np.zeros(3))
    assert str(refused.value) == message.replace(path.name, "copy.json")
    assert not path.with_name("copy.json").exists()
    with pytest.raises(BenchError) as refused:
        read_result(path)
    assert str(refused.value) == message
    readers = {"store": lambda: [p for p, _ in store.results()], "index": lambda: [r["path"] for r in store.entries()],
               "leaderboard": lambda: write_leaderboard(results, tmp_path / "board", resamples=0),
               "published": lambda: list(load_results(results)["path"])}
    for name, read in readers.items():
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            shown = read()
        assert [r.getMessage() for r in caplog.records if str(path) in r.getMessage()] == [f"skipping {message}"], name
        if name != "leaderboard":
            assert str(path) not in shown and len(shown) == 11, name


def test_every_reader_goes_through_the_one_check(tmp_path, caplog, monkeypatch):
    """Whatever the contract refuses is refused everywhere: a rule added to it (here: no 'weak' model) reaches
    the store, the index and the published-results reader without touching them."""
    from bench.reports.leaderboard.published import load_results

    results = tmp_path / "results"
    populate(results)
    rules = record_module.record_problems
    monkeypatch.setattr(record_module, "record_problems", lambda record: rules(record) + (
        ["a weak model"] if record["bench"]["model"]["name"] == "weak" else []))
    store = ResultsStore(results)
    for read in (lambda: [p for p, _ in store.results()], lambda: [r["path"] for r in store.entries()],
                 lambda: list(load_results(results)["path"])):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            shown = read()
        assert len(shown) == 10 and not any("/weak/" in str(p) for p in shown)
        assert sum("is not a complete bench result (a weak model)" in r.getMessage() for r in caplog.records) == 2


def test_a_record_is_checked_once_when_written(tmp_path, monkeypatch):
    """A built record (a Result) is not checked again by the store and its index; a plain dict is, once."""
    results, path, record = spoiled(tmp_path, kind="zero-shot")
    calls = []
    rules = record_module.record_problems
    monkeypatch.setattr(record_module, "record_problems", lambda r: calls.append(1) or rules(r))
    store = ResultsStore(results)
    checked = Result.of(json.loads(path.read_text()))
    assert len(calls) == 1
    store.write(path.with_name("a.json"), checked, {"cosine": np.zeros(3)}, np.zeros(3))
    assert len(calls) == 1
    store.write(path.with_name("b.json"), record, {"cosine": np.zeros(3)}, np.zeros(3))
    assert len(calls) == 2
