"""Fine-tuning on a tiny model: it learns an easy task, selects on validation, resumes, never reads test."""

import json

import pytest

from bench.encoding import device
from bench.encoding.device import cpu_has_native_bf16, precision_flags
from bench.errors import BenchError
from bench.train import data as train_data
from bench.train.callbacks import ELAPSED_FILE, elapsed_before
from bench.train.loop import train
from bench.train.recipe import Recipe
from tests.helpers import (
    perturb_weights,
    synthetic_rows,
    train_cfg,
    train_killed_after_checkpoint,
    write_cdscorpus,
)

pytestmark = pytest.mark.slow  # whole runs, processes or services: the full tier (pytest -m "")

def validation_history(summary) -> list[float]:
    history = summary["lineage"]["selection"]["history"]
    metric = summary["lineage"]["selection"]["metric"]
    return [entry[metric] for entry in history if metric in entry]


def test_tiny_model_learns_and_never_reads_test(make_cfg, tiny_models, train_root, tmp_path, monkeypatch):
    requested = []
    real = train_data.load_task

    def spy(spec, root, splits=None, check_rows=True):
        requested.extend(splits or spec.splits)
        return real(spec, root, splits=splits, check_rows=check_rows)

    monkeypatch.setattr(train_data, "load_task", spy)
    cfg = train_cfg(make_cfg, tiny_models, train_root, tmp_path, "train.epochs=3")
    summary = train(cfg)
    assert "test" not in requested and set(requested) == {"train", "validation"}
    scores = validation_history(summary)
    assert len(scores) >= 5
    assert max(scores) > scores[0] + 0.1, scores  # from the base (evaluated at step 0), the score really improves
    lineage = json.loads((tmp_path / "models").glob("*/model/bench_lineage.json").__next__().read_text())
    assert lineage["selection"]["best_metric"] == pytest.approx(max(scores))
    assert lineage["selection"]["base_metric"] == pytest.approx(scores[0]) and lineage["selection"]["improved"]
    assert lineage["loss"] == "cosent" and lineage["epochs"] == 3 and lineage["seed"] == 42
    assert lineage["data"]["train"]["cdsc_r"]["sha256"] and lineage["data"]["train_examples"] == 256
    assert lineage["base"]["weights_sha256"] and lineage["device"] == "cpu"
    assert lineage["precision"] == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert lineage["train_seconds"] == lineage["train_seconds_this_invocation"] > 0 and lineage["resumed_from"] is None


def test_resume_continues_the_step_count(make_cfg, tiny_models, train_root, tmp_path, monkeypatch):
    cfg = train_cfg(make_cfg, tiny_models, train_root, tmp_path, "train.max_steps=24")
    train_killed_after_checkpoint(cfg, 16, monkeypatch)
    checkpoint = next((tmp_path / "models").glob("*/checkpoints/checkpoint-16"))
    assert not list((tmp_path / "models").glob("*/model"))  # nothing was saved as final
    before = json.loads((checkpoint / ELAPSED_FILE).read_text())
    assert before["global_step"] == 16 and before["train_seconds"] > 0
    second = train(cfg)  # the same command again
    assert second["lineage"]["resumed_from"] == "checkpoint-16"
    assert second["lineage"]["global_step"] == 24
    # the time of the whole run: the seconds recorded up to checkpoint-16, plus this invocation's
    assert second["lineage"]["train_seconds"] == pytest.approx(
        before["train_seconds"] + second["lineage"]["train_seconds_this_invocation"], abs=0.11)


def test_elapsed_time_of_a_checkpoint(tmp_path, caplog):
    assert elapsed_before(None) == 0.0
    assert elapsed_before(str(tmp_path)) == 0.0 and "has no" in caplog.text
    (tmp_path / ELAPSED_FILE).write_text("{broken")
    assert elapsed_before(str(tmp_path)) == 0.0 and "unreadable" in caplog.text
    (tmp_path / ELAPSED_FILE).write_text('{"train_seconds": 12.5, "global_step": 3}')
    assert elapsed_before(str(tmp_path)) == 12.5


def test_saved_model_is_evaluated_with_lineage(make_cfg, tiny_models, train_root, tmp_path):
    rows = synthetic_rows(40, 2)
    write_cdscorpus(train_root, test=rows)
    summary = train(train_cfg(make_cfg, tiny_models, train_root, tmp_path, "train.max_steps=8",
                              "train.evaluate_after=true"))
    (record,) = summary["records"]
    assert record["bench"]["model"]["lineage"]["recipe"]["name"] == "cdsc_r_cosent"
    assert record["bench"]["model"]["name"].endswith("-cdsc_r_cosent") and record["bench"]["strategy"] == "sbert"
    assert len(summary["base_records"]) == 1


def test_bad_recipes_are_clear_errors(make_cfg, tiny_models, train_root, tmp_path):
    with pytest.raises(BenchError, match="loss.*cosent"):
        Recipe.from_config({"name": "x", "loss": "triplet", "tasks": ["cdsc_r"], "select_on": ["cdsc_r"]})
    with pytest.raises(BenchError, match="unknown train setting"):
        Recipe.from_config({"name": "x", "loss": "cosent", "tasks": ["cdsc_r"], "select_on": ["cdsc_r"], "lr": 1})
    with pytest.raises(BenchError, match="not in the task suite"):
        train(train_cfg(make_cfg, tiny_models, train_root, tmp_path, "train.tasks=[sick_r_pl]"))


def test_bad_numbers_in_a_recipe_are_clear_errors():
    base = {"name": "x", "loss": "cosent", "tasks": ["cdsc_r"], "select_on": ["cdsc_r"]}
    with pytest.raises(BenchError, match="train.batch_size='abc' is not a number"):
        Recipe.from_config({**base, "batch_size": "abc"})
    with pytest.raises(BenchError, match="matryoshka must list integer"):
        Recipe.from_config({**base, "matryoshka": ["big"]})
    assert Recipe.from_config({**base, "learning_rate": "1e-4"}).learning_rate == 1e-4
    for key, value, expected in (("max_train_pairs", -5, "integer >= 1"), ("warmup_ratio", 1.5, r"\[0, 1\)"),
                                 ("learning_rate", 0.0, "> 0"), ("save_total_limit", 0, ">= 1"),
                                 ("batch_size", 1, ">= 2")):
        with pytest.raises(BenchError, match=f"train.{key}={value} is not valid: expected .*{expected}"):
            Recipe.from_config({**base, key: value})


def test_precision_auto_uses_bf16_only_where_the_hardware_has_it(monkeypatch):
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: True)
    assert precision_flags("auto", "cpu")["name"] == "bf16" and precision_flags("fp32", "cpu")["name"] == "fp32"
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: False)
    assert precision_flags("auto", "cpu") == {"bf16": False, "fp16": False, "name": "fp32"}
    assert precision_flags("auto", "mps")["name"] == "fp32"
    with pytest.raises(BenchError, match="fp16 needs a CUDA GPU"):
        precision_flags("fp16", "cpu")
    with pytest.raises(BenchError, match="not supported on mps"):
        precision_flags("bf16", "mps")


def test_other_settings_never_resume_another_runs_checkpoints(make_cfg, tiny_models, train_root, tmp_path, caplog):
    caplog.set_level("INFO")
    first = train(train_cfg(make_cfg, tiny_models, train_root, tmp_path, "train.max_steps=8"))
    # settings that do not shape training keep the folder: the finished model is evaluated, not trained again
    same = train(train_cfg(make_cfg, tiny_models, train_root, tmp_path, "train.max_steps=8", "train.save_total_limit=3"))
    assert same["lineage"] == json.loads(json.dumps(first["lineage"]))
    assert "trained with these exact settings already" in caplog.text
    other = train(train_cfg(make_cfg, tiny_models, train_root, tmp_path, "train.max_steps=8", "train.learning_rate=5e-4"))
    assert other["lineage"]["run_folder"] != first["lineage"]["run_folder"]
    assert other["lineage"]["resumed_from"] is None and other["lineage"]["global_step"] == 8
    assert "-cdsc_r_cosent-seed42-" in first["lineage"]["run_folder"]


def test_a_run_that_only_gets_worse_says_so(make_cfg, tiny_models, train_root, tmp_path, caplog):
    # a learning rate this large wrecks the tiny model: every checkpoint is worse than step 0
    summary = train(train_cfg(make_cfg, tiny_models, train_root, tmp_path, "train.max_steps=16",
                              "train.learning_rate=0.5"))
    selection = summary["lineage"]["selection"]
    assert selection["improved"] is False and selection["best_metric"] < selection["base_metric"]
    assert "no checkpoint beat the base model" in caplog.text


def test_keep_best_leaves_only_the_model_and_evaluate_tasks_narrows_the_evaluation(make_cfg, tiny_models, train_root,
                                                                                  tmp_path):
    write_cdscorpus(train_root, test=synthetic_rows(40, 2))
    cfg = train_cfg(make_cfg, tiny_models, train_root, tmp_path, "train.max_steps=8", "task=polish",
                    "train.evaluate_after=true", "train.evaluate_base=false", "train.evaluate_tasks=[cdsc_r]")
    summary = train(cfg)
    assert [r["bench"]["task"] for r in summary["records"]] == ["cdsc_r"]  # not the whole suite
    run_folder = tmp_path / "models" / summary["lineage"]["run_folder"]
    assert (run_folder / "model" / "bench_lineage.json").is_file() and not (run_folder / "checkpoints").exists()
    kept = train(train_cfg(make_cfg, tiny_models, train_root, tmp_path, "train.max_steps=8", "train.keep=all",
                           "train.seed=3"))
    assert list((tmp_path / "models" / kept["lineage"]["run_folder"] / "checkpoints").glob("checkpoint-*"))
    with pytest.raises(BenchError, match="train.keep 'some'"):
        Recipe.from_config({"name": "x", "loss": "cosent", "tasks": ["cdsc_r"], "select_on": ["cdsc_r"],
                            "keep": "some"})


def test_training_logs_are_numbers_in_one_bar(make_cfg, tiny_models, train_root, tmp_path, capsys, caplog):
    import logging

    caplog.set_level(logging.INFO)
    train(train_cfg(make_cfg, tiny_models, train_root, tmp_path, "train.max_steps=8", "encode.progress=false"))
    out = capsys.readouterr()
    assert "{'loss'" not in out.out + out.err and "Computing widget examples" not in out.err
    assert "Writing model shards" not in out.err
    assert "step 8/8: validation" in caplog.text and "step 4/8: loss" in caplog.text


def test_trained_model_identity_covers_the_base_weights_and_scoring_changes_reuse_it(make_cfg, tiny_models, train_root,
                                                                                    tmp_path, caplog):
    import shutil

    caplog.set_level("INFO")
    base = shutil.copytree(tiny_models["bert"], tmp_path / "base")
    write_cdscorpus(train_root, test=synthetic_rows(40, 2))

    def run(*extra):
        caplog.clear()
        return train(train_cfg(make_cfg, tiny_models, train_root, tmp_path, f"model.name_or_path={base}",
                               "train.max_steps=8", "train.evaluate_after=true", "train.evaluate_base=false", *extra))

    first = run()
    first_results = sorted((tmp_path / "results").glob("base-cdsc_r_cosent/*/sbert/*/cdsc_r.json"))
    assert len(first_results) == 1 and first["lineage"]["training_id"]
    # a scoring-only setting: the saved model is evaluated again, not trained again
    scored = run("stats.bootstrap=10")
    assert "trained with these exact settings already" in caplog.text
    assert scored["lineage"]["run_folder"] == first["lineage"]["run_folder"]
    (record,) = scored["records"]
    assert record["bench"]["settings"]["scoring"]["bootstrap"] == 10
    assert record["bench"]["model"]["lineage"]["training_id"] == first["lineage"]["training_id"]
    second_results = sorted((tmp_path / "results").glob("base-cdsc_r_cosent/*/sbert/*/cdsc_r.json"))
    assert len(second_results) == 2 and first_results[0] in second_results  # a result beside the first, not over it
    # a lost result with the trained model on disk: evaluated again, not trained again, same number
    first_results[0].unlink()
    again = run()
    assert "trained with these exact settings already" in caplog.text
    assert first_results[0].is_file()
    assert again["records"][0]["scores"]["test"][0]["main_score"] == first["records"][0]["scores"]["test"][0]["main_score"]
    # the base's weights change in place: another training identity, so another folder, trained anew
    perturb_weights(base)
    retrained = run()
    assert "trained with these exact settings already" not in caplog.text
    assert retrained["lineage"]["run_folder"] != first["lineage"]["run_folder"]
    assert retrained["lineage"]["base"]["weights_sha256"] != first["lineage"]["base"]["weights_sha256"]
    assert retrained["lineage"]["training_id"] != first["lineage"]["training_id"]
    assert len(list((tmp_path / "models").iterdir())) == 2


def test_overwrite_never_refuses_before_any_training(make_cfg, tiny_models, train_root, tmp_path):
    write_cdscorpus(train_root, test=synthetic_rows(40, 2))

    def cfg(*extra):
        return train_cfg(make_cfg, tiny_models, train_root, tmp_path, "train.max_steps=8", "train.evaluate_after=true",
                         *extra)

    train(cfg())
    (trained,) = (tmp_path / "results").glob("bert-cdsc_r_cosent/*/sbert/*/cdsc_r.json")
    (base,) = (tmp_path / "results").glob("bert/*/mean/*/cdsc_r.json")
    before = {path: path.read_bytes() for path in (trained, base)}
    # a new training whose base model's result exists: refused before the trainer starts, nothing trained
    with pytest.raises(BenchError, match="overwrite=never, but these results exist") as refused:
        train(cfg("overwrite=never", "train.learning_rate=5e-4"))
    assert str(base) in str(refused.value) and "nothing was trained" in str(refused.value)
    assert len(list((tmp_path / "models").iterdir())) == 1
    # the trained model's own result (the saved model would be evaluated again): refused as well
    with pytest.raises(BenchError, match="overwrite=never") as refused:
        train(cfg("overwrite=never", "train.evaluate_base=false"))
    assert str(trained) in str(refused.value) and str(base) not in str(refused.value)
    assert {path: path.read_bytes() for path in (trained, base)} == before
    # overwrite=missing keeps both results as they are
    train(cfg())
    assert {path: path.read_bytes() for path in (trained, base)} == before
