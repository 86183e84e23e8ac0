"""What a researcher sees (issue 13): help that helps, readable plots, no clutter, honest numbers in text."""

import subprocess
import sys

import pandas as pd
import pytest

from bench.scoring.stats import format_p, signed
from tests.conftest import ROOT
from tests.helpers import tiny_overrides


@pytest.mark.slow
@pytest.mark.parametrize(("module", "first", "must"), [
    ("bench", "bench: evaluate sentence embeddings on the Polish suite",
     ["data.root=DIR", "model=herbert pooling=mean", "pooling      auto, cls, first_last_avg, last_token, max, mean, mean_max, pooler, sbert",
      "hydra/launcher basic (default), joblib, slurm_cpu, slurm_gpu"]),
    ("bench.train", "bench.train: fine-tune a model as a siamese bi-encoder",
     ["train.evaluate_tasks", "train.keep=best", "train        cdsc_r_cosent, entailment_mnrl, mlm_then_relatedness, "
      "multitask_suite, nli_softmax, nli_then_relatedness, pretrain_then_multitask, relatedness_all, "
      "simcse_then_relatedness"]),
    ("bench.cross", "bench.cross: fine-tune a cross-encoder per task",
     ["cross.max_length=256", "cross        nli, pairs", "--cfg job"]),
])
def test_help_starts_with_what_it_does(module, first, must):
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.startswith(first)
    for text in must:
        assert text in done.stdout, text
    assert "_formats" not in done.stdout and "Powered by Hydra" not in done.stdout
    assert len(done.stdout.splitlines()) < 50  # not a dump of the whole configuration


def test_the_legend_names_every_line_of_every_panel():
    from bench.reports.leaderboard.plots import figure

    rows = []
    for task, offset in (("cdsc_r", 0.0), ("sick_r_pl", -0.1)):
        for pooling in ("cls", "mean"):
            rows.append((task, pooling, "none", 1536, 0.8 + offset))
            for method, dims in (("pca", 64), ("pca", 128), ("truncate", 64), ("int8", 384), ("binary", 48)):
                rows.append((task, pooling, method, dims, 0.7 + offset))
    frame = pd.DataFrame(rows, columns=["task", "pooling", "method", "bytes_per_vector", "main_score"])
    frame["metric"] = "cosine_spearman"
    fig = figure(frame, "tiny")
    (legend,) = fig.legends
    labels = sorted(text.get_text() for text in legend.get_texts())
    expected = sorted([f"{p} + {m}" for p in ("cls", "mean") for m in ("binary", "int8", "pca", "truncate")]
                      + [f"{p} (float32, uncompressed)" for p in ("cls", "mean")])
    assert labels == expected
    import matplotlib.colors

    handles = {text.get_text(): handle for text, handle in zip(legend.get_texts(), legend.legend_handles)}
    colour = lambda handle: matplotlib.colors.to_hex(  # noqa: E731
        handle.get_color() if hasattr(handle, "get_color") else handle.get_facecolor()[0])
    assert colour(handles["cls + pca"]) == colour(handles["cls (float32, uncompressed)"])  # one colour per pooling
    assert colour(handles["cls + pca"]) != colour(handles["mean + pca"])


def test_numbers_in_text():
    assert signed(-0.0001) == "+0.00" and signed(-0.006) == "-0.01" and signed(0.5, 1) == "+0.5"
    assert format_p(0.0) == "p<0.001" and format_p(0.0, 200) == "p<0.005" and format_p(0.0312) == "p=0.031"


@pytest.mark.slow
def test_no_hydra_folders_in_the_current_directory(tiny_models, tiny_data_root, tmp_path):
    cwd = tmp_path / "empty"
    cwd.mkdir()
    done = subprocess.run([sys.executable, "-m", "bench", *tiny_overrides(tiny_models["bert"], tiny_data_root),
                           f"results_dir={tmp_path / 'res'}", f"cache.dir={tmp_path / 'cache'}",
                           "encode.progress=false", "stats.bootstrap=0"],
                          capture_output=True, text=True, cwd=cwd)
    assert done.returncode == 0, done.stderr[-2000:]
    # under the table: the strategy and length used, and why
    assert ("bert: strategy mean: the model has no sentence-transformers pipeline (no modules.json): mean pooling over "
            "the last layer; max length 64: the model config's max_seq_length (model.max_seq_length)") in done.stdout
    assert list(cwd.iterdir()) == []  # no outputs/ or multirun/ here
    assert list((tmp_path / "res" / ".hydra" / "runs").glob("*/bench_job.json"))
