"""The one loading door (bench/models/door.py): every path that loads a model (evaluation, preflight, training,
its masked-LM stage, cross-encoders) loads inside it, so the same rules hold everywhere; a failure inside it
is one line for the user with the original exception chained (``__cause__``) and its traceback in the debug log."""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.models import door, loading
from bench.models.spec import ModelSpec
from tests.test_cross import cross_cfg, cross_root  # noqa: F401 -- cross_root is a fixture used below
from tests.test_train import train_cfg

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def doorkeeper(monkeypatch):
    """Records what passes through the door (its ``what``), and every transformers model and tokenizer built,
    with whether the door was open around it: a load outside the door is a second door."""
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    record = {"door": [], "built": []}
    depth = [0]
    real_open = door.open_model

    @contextlib.contextmanager
    def open_model(resolved, what, **kwargs):
        record["door"].append(what)
        depth[0] += 1
        try:
            with real_open(resolved, what, **kwargs) as access:
                yield access
        finally:
            depth[0] -= 1

    def spy(base):
        real = base.from_pretrained.__func__

        def from_pretrained(cls, *args, **kwargs):
            record["built"].append((cls.__name__, depth[0] > 0, str(args[0]) if args else ""))
            return real(cls, *args, **kwargs)

        monkeypatch.setattr(base, "from_pretrained", classmethod(from_pretrained))

    monkeypatch.setattr(door, "open_model", open_model)
    spy(PreTrainedModel)
    spy(PreTrainedTokenizerBase)
    return record


def outside(record, trained: Path | None = None) -> list:
    """Models and tokenizers built outside the door; with ``trained`` (a training's output folder) except the
    trainer's own reload of the best checkpoint it wrote there (sentence-transformers' ``load_best_model_at_end``:
    ``<trained>/.../checkpoints/checkpoint-N``), which bench does not load."""
    return [(name, path) for name, inside, path in record["built"]
            if not inside and not (trained and Path(path).parent.name == "checkpoints"
                                   and Path(path).is_relative_to(trained))]


def test_evaluation_and_preflight_load_through_the_door(make_cfg, tiny_models, tiny_data_root, doorkeeper):
    from bench.preflight import preflight
    from bench.run import run

    cfg = make_cfg("model=hf", f"model.name_or_path={tiny_models['bert']}", "model.max_seq_length=64", "task=cdsc_r",
                   "data.check_rows=false", f"data.root={tiny_data_root}", "pooling=mean")
    preflight(cfg)
    folder = tiny_models["bert"]
    assert f"cannot load model from {folder}" in doorkeeper["door"]  # preflight loads the model as the run would
    assert "BertModel" in [name for name, *_ in doorkeeper["built"]] and not outside(doorkeeper)
    doorkeeper["door"].clear(), doorkeeper["built"].clear()
    run(cfg)
    assert doorkeeper["door"] == [f"model 'bert': cannot load the tokenizer in {folder}",  # the unknown-token check
                                  f"cannot load model from {folder}"]
    assert not outside(doorkeeper)


@pytest.mark.slow
def test_training_and_its_masked_lm_stage_load_through_the_door(make_cfg, tiny_models, train_root, tmp_path,
                                                                 doorkeeper):
    from bench.train.loop import train

    cfg = train_cfg(make_cfg, tiny_models, train_root, tmp_path)
    cfg.train.name = "chain"
    cfg.train.stages = [{"name": "mlm", "loss": "mlm", "tasks": ["cdsc_r"], "max_steps": 2, "eval_steps": 2},
                        {"name": "sts", "loss": "cosent", "tasks": ["cdsc_r"], "max_steps": 2, "eval_steps": 2}]
    summary = train(cfg)
    first, second = (Path(s["model_dir"]).parent for s in summary["lineage"]["stages"])
    trained = [what for what in doorkeeper["door"] if "for " in what]
    assert trained == [f"cannot load 'bert' from {tiny_models['bert']} for masked-LM training",
                       f"cannot load 'bert-chain.1-mlm' from {first / 'model'} for training"], doorkeeper["door"]
    built = [name for name, *_ in doorkeeper["built"]]
    assert "BertForMaskedLM" in built and "BertModel" in built
    assert not outside(doorkeeper, second), doorkeeper["built"]


def test_a_sentence_transformers_pipeline_is_trained_through_the_door(tiny_sbert, doorkeeper):
    resolved = loading.resolve(ModelSpec.from_config({"name": "sbert", "name_or_path": str(tiny_sbert),
                                                      "max_seq_length": 32}))
    model = loading.load_for_training(resolved, "mean", "cpu")
    assert doorkeeper["door"] == [f"cannot load 'sbert' from {tiny_sbert} for training"]
    assert model.max_seq_length == 32 and model.default_prompt_name is None and not outside(doorkeeper)


@pytest.mark.slow
def test_cross_encoders_load_through_the_door(make_cfg, tiny_models, cross_root, tmp_path, doorkeeper):  # noqa: F811
    from bench.cross.loop import run_cross

    cfg = cross_cfg(make_cfg, tiny_models, cross_root, tmp_path, "task=cdsc_r")
    cfg.cross.epochs, cfg.cross.max_steps, cfg.cross.eval_steps = 1, 2, 2
    run_cross(cfg)
    base = f"cannot load 'bert' from {tiny_models['bert']} as a cross-encoder"
    assert base in doorkeeper["door"], doorkeeper["door"]
    assert "BertForSequenceClassification" in [name for name, *_ in doorkeeper["built"]]
    assert not outside(doorkeeper, tmp_path / "models"), doorkeeper["built"]


# -- a failure inside the door: one line for the user, the cause chained and logged ---------------------------


@pytest.fixture
def broken(tiny_models, tmp_path) -> loading.ResolvedModel:
    """A model folder whose config names an architecture transformers does not know."""
    folder = shutil.copytree(tiny_models["bert"], tmp_path / "broken")
    config = (folder / "config.json").read_text(encoding="utf-8")
    (folder / "config.json").write_text(config.replace('"model_type": "bert"', '"model_type": "nosuchmodel"'),
                                        encoding="utf-8")
    return loading.resolve(ModelSpec.from_config({"name": "broken", "name_or_path": str(folder),
                                                  "max_seq_length": 32}))


@pytest.mark.parametrize(("load", "cause"), [
    (lambda r: loading.load_transformer(r, "cpu"), "nosuchmodel"),
    (lambda r: loading.load_for_training(r, "mean", "cpu"), "nosuchmodel"),
    (lambda r: loading.load_masked_lm(r), "nosuchmodel"),
    (lambda r: loading.load_tokenizer(r), "tokenizer.json"),
], ids=["evaluation", "training", "masked-lm", "tokenizer"])
def test_a_broken_model_folder_chains_the_cause(broken, load, cause, caplog):
    if cause == "tokenizer.json":  # the tokenizer alone reads no model_type: break its own file
        (broken.path / "tokenizer.json").write_text("{not json", encoding="utf-8")
    with caplog.at_level(logging.DEBUG, logger="bench.models.door"), pytest.raises(BenchError) as raised:
        load(broken)
    error, original = raised.value, raised.value.__cause__
    assert original is not None and not isinstance(original, BenchError)
    if cause == "nosuchmodel":
        assert cause in str(original) and cause in str(error)
    assert str(error).startswith("cannot load") and str(broken.path) in str(error)
    assert "\n" not in str(error)  # one line, ending with the cause's class and first line
    assert str(error).endswith(f": {original.__class__.__name__}: {str(original).strip().splitlines()[0]}")
    logged = [r for r in caplog.records if r.name == "bench.models.door" and r.levelno == logging.DEBUG]
    assert logged and logged[-1].exc_info[1] is original  # the traceback is in the log (hydra.verbose=bench)


def test_a_cross_encoder_on_a_broken_folder_chains_the_cause(make_cfg, broken):
    from bench.cross.heads import head_for
    from bench.cross.loop import load_model
    from bench.cross.recipe import CrossRecipe
    from bench.tasks.spec import task_specs

    cfg = make_cfg("task=cdsc_r", "+cross=pairs")
    (spec,) = task_specs(cfg.task)
    recipe = CrossRecipe.from_config(cfg.cross)
    with pytest.raises(BenchError, match=r"as a cross-encoder: .*nosuchmodel") as raised:
        load_model(broken, head_for(spec, recipe.head), recipe, "cpu")
    assert raised.value.__cause__ is not None and "nosuchmodel" in str(raised.value.__cause__)


@pytest.mark.slow  # two processes
def test_the_command_line_prints_one_line_and_the_cause_only_when_asked(broken, tiny_data_root, tmp_path):
    def cli(*extra):
        return subprocess.run(
            [sys.executable, "-m", "bench", "model=hf", f"model.name_or_path={broken.path}", "model.max_seq_length=32",
             "task=cdsc_r", "data.check_rows=false", f"data.root={tiny_data_root}", "pooling=mean",
             f"results_dir={tmp_path / 'r'}", f"cache.dir={tmp_path / 'c'}", "encode.progress=false", *extra],
            cwd=ROOT, capture_output=True, text=True, timeout=300)

    done = cli()
    assert done.returncode == 2, done.stderr
    output = done.stdout + done.stderr
    assert "Traceback" not in output and "direct cause" not in output, output
    lines = [line for line in output.splitlines() if "cannot load" in line]
    assert len(lines) == 1 and "nosuchmodel" in lines[0], output
    verbose = cli("hydra.verbose=bench.models.door")  # the cause's traceback, for whoever debugs the model
    assert verbose.returncode == 2
    assert "Traceback" in verbose.stdout + verbose.stderr and "nosuchmodel" in verbose.stdout + verbose.stderr
