"""Degenerate inputs never score: data on which a main score is undefined is refused before encoding (exit 2,
the file and the reason, nothing written); a score that turns out undefined on legal data is recorded as null
with its reason and never shown as a number (leaderboard, gate, compare)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.errors import BenchError, DataError
from bench.reports.compare import compare, to_markdown
from bench.reports.compare import main as compare_main
from bench.results.record import Result, read_result
from bench.run import run
from bench.scoring import MIN_PAIRS, data_problem
from tests.conftest import ROOT
from tests.helpers import CORPUS, tiny_overrides, write_cdscorpus, write_sick_like
from tests.leaderboard_fixtures import similarities, targets_for, write_result


def data_root(tmp_path: Path, rows: list[tuple], name: str = "data") -> Path:
    """A CDSCorpus layout whose three splits hold ``rows``."""
    return write_cdscorpus(tmp_path / name, train=rows, trial=rows, test=rows)


def rows(n: int, score=lambda i: 0.5 * i, label=lambda i: "ENTAILMENT" if i % 2 else "NEUTRAL") -> list[tuple]:
    return [(i + 1, CORPUS[i % 6], CORPUS[(i + 2) % 6], min(score(i), 5.0), label(i)) for i in range(n)]


DEGENERATE = {
    "no positives": ("cdsc_e", rows(6, label=lambda i: "NEUTRAL"),
                     "none of its 6 pairs is positive, and average precision (and F1) is undefined without positive"),
    "no negatives": ("cdsc_e", rows(6, label=lambda i: "ENTAILMENT"),
                     "all 6 pairs are positive, and average precision is 1.0 for any model without negative pairs"),
    "constant gold": ("cdsc_r", rows(6, score=lambda i: 3.0),
                      "all 6 gold scores are 3, and a correlation with a constant is undefined"),
    "one pair": ("cdsc_r", rows(1), f"it has 1 pair(s), fewer than the {MIN_PAIRS} any main score needs"),
    "four pairs": ("cdsc_e", rows(4), f"it has 4 pair(s), fewer than the {MIN_PAIRS}"),
}


@pytest.mark.parametrize("case", sorted(DEGENERATE))
def test_degenerate_data_is_refused_before_encoding(case, make_cfg, tiny_models, tmp_path, monkeypatch):
    task, data, message = DEGENERATE[case]
    root = data_root(tmp_path, data)
    import bench.run

    monkeypatch.setattr(bench.run, "encode", lambda *a, **k: pytest.fail("encoded degenerate data"))
    cfg = make_cfg(*tiny_overrides(tiny_models["bert"], root, task=task))
    with pytest.raises(DataError, match=rf"task '{task}': the test split .*CDS_test_annotated.txt cannot be scored: "
                                        rf"{re.escape(message)}"):
        run(cfg)
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("*.json"))


def test_heldout_split_without_positives_is_refused(make_cfg, tiny_models, tmp_path):
    """Held-out thresholds are picked on validation: without positives there is no F1 threshold to pick."""
    root = data_root(tmp_path, rows(6))
    write_sick_like(root / "cdscorpus" / "CDS_trial.txt", rows(6, label=lambda i: "CONTRADICTION"))
    cfg = make_cfg("model=hf", f"model.name_or_path={tiny_models['bert']}", "task=cdsc_e", "data.check_rows=false",
                   f"data.root={root}")
    with pytest.raises(DataError, match=r"the validation split .*CDS_trial.txt cannot be scored: none of its 6 pairs"):
        run(cfg)


def test_probe_regression_on_constant_gold_is_refused(make_cfg, tiny_models, tmp_path):
    root = data_root(tmp_path, rows(8))
    write_sick_like(root / "cdscorpus" / "CDS_test_annotated.txt", rows(8, score=lambda i: 2.0))
    cfg = make_cfg("model=hf", f"model.name_or_path={tiny_models['bert']}", "task=cdsc_r", "probe=relatedness",
                   "data.check_rows=false", f"data.root={root}")
    with pytest.raises(DataError, match=r"the test split .*cannot be scored: all 8 gold scores are 2"):
        run(cfg)


def test_scorable_data_has_no_problem():
    assert data_problem("sts", np.array([0.0, 1.0, 1.0, 2.0, 5.0])) is None
    assert data_problem("pair_classification", np.array([0, 1, 0, 0, 0])) is None
    assert data_problem("sts", np.array([1.0, 2.0, 3.0, 4.0])) is not None  # four pairs: too few


@pytest.mark.slow
def test_cli_refuses_degenerate_data_with_exit_2(tmp_path, tiny_models):
    root = data_root(tmp_path, rows(6, label=lambda i: "NEUTRAL"))
    done = subprocess.run(
        [sys.executable, "-m", "bench", "model=hf", f"model.name_or_path={tiny_models['bert']}", "task=cdsc_e",
         "data.check_rows=false", f"data.root={root}", f"results_dir={tmp_path}/r", f"hydra.run.dir={tmp_path}/out",
         f"cache.dir={tmp_path}/cache"],
        capture_output=True, text=True, cwd=ROOT,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "CDS_test_annotated.txt cannot be scored: none of its 6 pairs is positive" in output
    assert "Traceback" not in output and not list((tmp_path / "r").rglob("*.json"))


@pytest.fixture(scope="module")
def constant_model(tiny_models, tmp_path_factory) -> Path:
    """The tiny BERT with every weight zero: every sentence gets the same vector, so similarities are constant."""
    import shutil

    from transformers import BertModel

    folder = tmp_path_factory.mktemp("constant") / "model"
    shutil.copytree(tiny_models["bert"], folder)
    model = BertModel.from_pretrained(folder)
    for parameter in model.parameters():
        parameter.data.zero_()
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def test_undefined_score_on_legal_data_is_null_with_its_reason(make_cfg, constant_model, tmp_path, caplog):
    root = data_root(tmp_path, rows(6))
    cfg = make_cfg(*tiny_overrides(constant_model, root), "stats.bootstrap=50")
    (record,) = run(cfg)
    (path,) = (tmp_path / "results").rglob("cdsc_r.json")
    stored = Result.of(read_result(path), path)
    assert stored.main_score is None and record["scores"]["test"][0]["main_score"] is None
    assert "main_score_ci" not in stored.scores  # no interval around a score that has no value
    assert stored.undefined_reason == record["bench"]["main_score_undefined"]
    assert "cosine, manhattan, euclidean values are the same for all 6 test pairs" in stored.undefined_reason
    assert "cosine_spearman is undefined" in caplog.text and "recorded as null" in caplog.text


def test_leaderboard_cell_of_an_undefined_score_is_not_a_number():
    from bench.reports.leaderboard.markdown import mark

    assert mark({"score": None}) == "n/a" and mark({"score": float("nan")}) == "n/a"


@pytest.fixture
def two_results(tmp_path):
    targets = targets_for("cdsc_r", n=60)
    constant = {k: np.zeros_like(targets) for k in ("cosine", "manhattan", "euclidean")}
    a = write_result(tmp_path / "results", "flat", "mean", "cdsc_r", constant, targets)
    b = write_result(tmp_path / "results", "good", "mean", "cdsc_r", similarities("cdsc_r", targets, 0.1, 1), targets)
    return a, b


def test_compare_shows_an_undefined_score_as_undefined_never_significant(two_results, capsys):
    a, b = two_results
    result = compare(a, b, resamples=200)
    assert result["a"] is None and result["difference"] is None and result["p_value"] is None
    assert result["undefined"] == "A: the result records no value for its main score"
    table = to_markdown(result, "A", "B")
    row = table.splitlines()[2]
    assert "| n/a |" in row and "no (undefined: A: the result records no value" in row
    assert "nan" not in table and "yes" not in row and "p<" not in row
    assert compare_main([str(a), str(b), "--resamples", "200"]) == 1
    assert "undefined" in capsys.readouterr().out


def test_compare_gives_the_recorded_reason(two_results):
    a, b = two_results
    record = json.loads(a.read_text(encoding="utf-8"))
    record["bench"]["main_score_undefined"] = "the model's per-pair cosine values are the same for all 60 test pairs"
    a.write_text(json.dumps(record), encoding="utf-8")
    result = compare(b, a, resamples=200)
    assert result["b"] is None and result["a"] is not None
    assert result["undefined"] == "B: the model's per-pair cosine values are the same for all 60 test pairs"


def test_compare_of_defined_scores_is_unchanged(tmp_path):
    targets = targets_for("cdsc_r", n=60)
    a = write_result(tmp_path / "r", "x", "mean", "cdsc_r", similarities("cdsc_r", targets, 0.1, 1), targets)
    b = write_result(tmp_path / "r", "y", "mean", "cdsc_r", similarities("cdsc_r", targets, 0.5, 2), targets)
    result = compare(a, b, resamples=200)
    assert "undefined" not in result and np.isfinite(result["difference"])
    assert compare_main([str(a), str(b), "--resamples", "200"]) == 0


def test_no_baseline_is_written_from_an_undefined_score(two_results, tmp_path):
    from bench.reports.gate import make_baseline

    with pytest.raises(BenchError, match=r"cannot write a baseline: 1 result\(s\) have an undefined main score"):
        make_baseline(tmp_path / "results")


# ---------------------------------------------------------------- tokenizers that cannot read the task


def test_a_vocabulary_that_maps_most_words_to_unknown_is_refused(make_cfg, tiny_model, tmp_path, monkeypatch):
    import bench.run

    # a one-layer BERT whose tokenizer is built from this vocab.txt alone (no tokenizer.json)
    model = tiny_model("bert", name="twelve", vocab=("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "a", "e",
                                                     "i", "o", "u"), tokenizer_json=False, num_hidden_layers=1)
    monkeypatch.setattr(bench.run, "encode", lambda *a, **k: pytest.fail("encoded with a useless tokenizer"))
    cfg = make_cfg(*tiny_overrides(model, data_root(tmp_path, rows(6))))
    with pytest.raises(BenchError, match=r"model 'twelve': its tokenizer maps (\d+\.\d)% of the tokens of task 'cdsc_r' "
                                         r"\(measured on 6 of its sentences\) to the unknown token, more than 25%") as error:
        run(cfg)
    assert float(re.search(r"maps (\d+\.\d)%", str(error.value)).group(1)) > 80
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("*.json"))


def test_a_tokenizer_that_cannot_tokenize_is_refused_before_encoding(make_cfg, tiny_models, tmp_path, monkeypatch):
    """A vocab.txt without [UNK] reads, and fails on the first character it lacks: refused in the plan."""
    import shutil

    import bench.run

    model = tmp_path / "nounk"
    shutil.copytree(tiny_models["bert"], model)
    (model / "tokenizer.json").unlink()
    vocab = (model / "vocab.txt").read_text(encoding="utf-8").splitlines()
    (model / "vocab.txt").write_text("\n".join(t for t in vocab if t != "[UNK]") + "\n", encoding="utf-8")
    data = rows(6)
    data[2] = (*data[2][:1], data[2][1] + " Kosztuje 5 € .", *data[2][2:])  # € is not in the vocabulary
    monkeypatch.setattr(bench.run, "encode", lambda *a, **k: pytest.fail("encoded with a broken tokenizer"))
    cfg = make_cfg(*tiny_overrides(model, data_root(tmp_path, data)))
    with pytest.raises(BenchError, match=r"model 'nounk': its tokenizer cannot tokenize the sentences of task 'cdsc_r' "
                                         r"\(Exception: WordPiece error: Missing \[UNK\] token"):
        run(cfg)


def test_a_tokenizer_that_cannot_load_is_refused(tiny_models, tmp_path):
    import shutil

    from bench.models.loading import ResolvedModel, check_unknown_tokens
    from bench.models.spec import ModelSpec

    model = tmp_path / "broken"
    shutil.copytree(tiny_models["bert"], model)
    (model / "tokenizer.json").write_text("{not json", encoding="utf-8")
    spec = ModelSpec.from_config({"name": "broken", "name_or_path": str(model), "max_seq_length": 64})
    with pytest.raises(BenchError, match=r"model 'broken': cannot load the tokenizer in .*broken: "):
        check_unknown_tokens(ResolvedModel(spec, model, "local"), False, {"cdsc_r": CORPUS})


def test_unknown_share_of_the_pipeline_tokenizer(tiny_sbert, tmp_path):
    """pooling=sbert: the share is measured with the pipeline's transformer tokenizer; the sample is deterministic."""
    from bench.models.loading import ResolvedModel, check_unknown_tokens, sample_sentences
    from bench.models.spec import ModelSpec

    spec = ModelSpec.from_config({"name": "sbert", "name_or_path": str(tiny_sbert), "max_seq_length": 32})
    texts = [*CORPUS, "Cena: 5 € i 3 ¥ ."]  # € and ¥ are outside the tiny vocabulary: two unknown tokens
    (share,) = check_unknown_tokens(ResolvedModel(spec, tiny_sbert, "local"), True, {"t": texts}).values()
    assert 0 < share < 0.05
    many = [f"zdanie {i}" for i in range(2500)]
    assert sample_sentences(many) == sample_sentences(list(reversed(many))) and len(sample_sentences(many)) == 834


def test_real_models_on_real_data_are_not_refused(data_root, hub_models):
    """The embedded all-MiniLM-L6-v2 and the HerBERT replica (tiny vocabularies aside, the highest share of the
    replicas) on the Polish test sentences: far below the refusal threshold."""
    from bench.config import compose_config
    from bench.models.loading import MAX_UNKNOWN_SHARE, check_unknown_tokens, resolve
    from bench.models.spec import ModelSpec
    from bench.tasks.spec import load_task, task_specs

    cfg = compose_config(["task=polish"])
    texts = {spec.result_name: load_task(spec, data_root, splits=(spec.eval_split,))[spec.eval_split].sentences
             for spec in task_specs(cfg.task)}
    minilm = check_unknown_tokens(resolve(ModelSpec.from_config(compose_config(["model=minilm"]).model)), True, texts)
    assert max(minilm.values()) < 0.001
    herbert = check_unknown_tokens(resolve(ModelSpec.from_config(compose_config(["model=herbert"]).model)), False,
                                   texts)
    assert max(herbert.values()) < MAX_UNKNOWN_SHARE / 4


def test_a_cross_encoder_refuses_a_test_split_without_positives_before_training(make_cfg, tiny_models, tmp_path):
    """The same rule as the bi-encoders: no training starts on a task whose test score cannot exist."""
    from bench.cross.loop import run_cross
    from tests.helpers import cross_cfg, cross_rows

    test = [row[:4] + ("NEUTRAL",) for row in cross_rows(12, 2)]  # no ENTAILMENT: AP has no positives
    root = write_cdscorpus(tmp_path / "data", train=cross_rows(30, 0), trial=cross_rows(12, 1), test=test)
    cfg = cross_cfg(make_cfg, tiny_models, root, tmp_path, "task=cdsc_e")
    with pytest.raises(DataError, match=r"task 'cdsc_e': the test split .*CDS_test_annotated.txt cannot be scored"):
        run_cross(cfg)
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())
