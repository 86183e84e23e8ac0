"""The documented multi-process command (torchrun), run for real with two CPU processes (gloo)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import synthetic_rows, tiny_overrides, train_data

pytestmark = pytest.mark.slow  # whole runs, processes or services: the full tier (pytest -m "")

ROOT = Path(__file__).resolve().parents[1]


def test_torchrun_two_processes_split_the_data_and_one_saves_and_evaluates(tiny_models, tmp_path):
    train_data(tmp_path / "data", test=synthetic_rows(60, 5))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "bench.train",
           *tiny_overrides(tiny_models["bert"], tmp_path / "data"), f"train.output_dir={tmp_path / 'models'}",
           "train.batch_size=16", "train.eval_steps=4", "train.evaluate_base=false", f"results_dir={tmp_path / 'res'}",
           "encode.progress=false", f"hydra.run.dir={tmp_path / 'hydra'}", f"cache.dir={tmp_path / 'cache'}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    (lineage_file,) = (tmp_path / "models").glob("*/model/bench_lineage.json")
    lineage = json.loads(lineage_file.read_text())
    # one epoch of 256 pairs in batches of 16 per process: 8 steps with two processes (16 with one)
    assert lineage["global_step"] == 8 and lineage["data"]["train_examples"] == 256
    assert done.stdout.count("model: ") == 1  # the main process reports, the other returns quietly
    results = list((tmp_path / "res").glob("*/*/sbert/*/cdsc_r.json"))
    assert len(results) == 1
    assert json.loads(results[0].read_text())["bench"]["model"]["lineage"]["global_step"] == 8
