"""Training stages on a tiny model: a chain (label-free SimCSE, masked-LM, then CoSENT) whose lineage lists every
stage and whose stages start from each other's models, multi-task objectives, a user's text file, and the errors."""

import json
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.train.loop import train
from bench.train.recipe import Recipe
from tests.helpers import synthetic_rows, train_cfg

pytestmark = pytest.mark.slow


def test_a_chain_trains_each_stage_from_the_last_and_records_them_all(make_cfg, tiny_models, train_root, tmp_path):
    cfg = train_cfg(make_cfg, tiny_models, train_root, tmp_path)
    cfg.train.name = "chain"
    cfg.train.stages = [{"name": "simcse", "loss": "simcse", "tasks": ["cdsc_r"], "max_steps": 6},
                        {"name": "mlm", "loss": "mlm", "tasks": ["cdsc_r"], "max_steps": 4, "eval_steps": 2},
                        {"name": "sts", "loss": "cosent", "tasks": ["cdsc_r"], "max_steps": 8}]
    summary = train(cfg)
    lineage = summary["lineage"]
    stages = lineage["stages"]
    assert [s["recipe"]["name"] for s in stages] == ["chain.1-simcse", "chain.2-mlm", "chain.3-sts"]
    assert lineage["loss"] == "simcse -> mlm(p=0.15) -> cosent"
    assert lineage["base"]["name_or_path"] == str(tiny_models["bert"])  # the chain's base: the model it started from
    # each stage starts from the model the stage before saved
    assert stages[1]["base"]["name_or_path"] == str(Path(stages[0]["model_dir"]).resolve())
    assert stages[2]["base"]["name_or_path"] == str(Path(stages[1]["model_dir"]).resolve())
    assert [s["global_step"] for s in stages] == [6, 4, 8]
    assert stages[0]["data"]["train_examples"] == len({s for row in synthetic_rows(256, 0) for s in row[1:3]})
    assert stages[1]["selection"]["metric"] == "eval_loss" and stages[1]["data"]["test_split_read"] is False
    assert all(s["data"]["test_split_read"] is False for s in stages)  # the test file is garbage: never opened
    assert lineage["train_seconds"] == pytest.approx(sum(s["train_seconds"] for s in stages), abs=0.2)
    saved = json.loads((tmp_path / "models").glob("*chain.3-sts*/model/bench_lineage.json").__next__().read_text())
    assert [s["recipe"]["name"] for s in saved["stages"]] == ["chain.1-simcse", "chain.2-mlm", "chain.3-sts"]
    # the same chain again: every stage is found, nothing retrains
    again = train(cfg)
    assert again["lineage"]["stages"] == json.loads(json.dumps(stages))


def test_multitask_objectives_train_together(make_cfg, tiny_models, train_root, tmp_path):
    cfg = train_cfg(make_cfg, tiny_models, train_root, tmp_path, "task=polish")
    cfg.data.check_rows = False
    cfg.train.objectives = [{"loss": "cosent", "tasks": ["cdsc_r"]}, {"loss": "mnrl", "tasks": ["cdsc_e"]}]
    cfg.train.max_steps, cfg.train.select_on = 10, ["cdsc_r"]
    lineage = train(cfg)["lineage"]
    positives = sum(1 for row in synthetic_rows(256, 0) if row[4] == "ENTAILMENT")
    assert lineage["loss"] == "cosent(cdsc_r) + mnrl(cdsc_e)"
    assert lineage["data"]["train_examples"] == 256 + positives
    assert lineage["recipe"]["loss"] == "multitask" and lineage["global_step"] == 10


def test_simcse_on_a_users_text_file(make_cfg, tiny_models, train_root, tmp_path):
    text = tmp_path / "domain.txt"
    text.write_text("pierwsze zdanie\n\ndrugie zdanie\npierwsze zdanie\ntrzecie zdanie\n", encoding="utf-8")
    cfg = train_cfg(make_cfg, tiny_models, train_root, tmp_path)
    cfg.train.loss, cfg.train.tasks, cfg.train.text_file, cfg.train.max_steps = "simcse", [], str(text), 3
    cfg.train.batch_size = 2
    lineage = train(cfg)["lineage"]
    assert lineage["data"]["train_examples"] == 3  # distinct, non-empty lines
    assert lineage["data"]["text_file"]["path"] == str(text.resolve())
    first = lineage["run_folder"]
    text.write_text("inne zdanie\njeszcze inne\n", encoding="utf-8")  # other text: another run, never the old model
    assert train(cfg)["lineage"]["run_folder"] != first


def test_stage_and_objective_mistakes_are_clear():
    with pytest.raises(BenchError, match=r"train.stages\[0\] sets \['output_dir'\], which only the whole chain sets"):
        Recipe.from_config({"name": "c", "select_on": ["cdsc_r"], "loss": "stages",
                            "stages": [{"loss": "cosent", "tasks": ["cdsc_r"], "output_dir": "x"}]}).stage_recipes()
    with pytest.raises(BenchError, match=r"train.objectives: each item is \{loss: <cosent\|"):
        Recipe.from_config({"name": "m", "select_on": ["cdsc_r"], "objectives": [{"loss": "cosnet", "tasks": ["x"]}]})
    with pytest.raises(BenchError, match="needs train.tasks"):
        Recipe.from_config({"name": "s", "loss": "simcse", "tasks": [], "select_on": ["cdsc_r"]})
