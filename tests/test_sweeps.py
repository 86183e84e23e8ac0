"""Sweeps: overwrite policies and resume, concurrent jobs, a killed sweep, launcher configs."""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from bench.atomic import write_json_atomic
from bench.encoding import encode as encode_module
from bench.errors import BenchError
from bench.reports.leaderboard import write_leaderboard
from bench.run import run
from tests.conftest import CONF_DIR, ROOT, VERSION_BASE
from tests.helpers import tiny_overrides


def tiny(make_cfg, tiny_models, root, *extra):
    return make_cfg(*tiny_overrides(tiny_models["bert"], root), "pooling=mean", *extra)


def forbid_model_loading(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the model was loaded although every result existed")

    monkeypatch.setattr(encode_module, "build_backend", fail)


def test_missing_keeps_finished_results_without_loading_the_model(make_cfg, tiny_models, tiny_data_root, monkeypatch):
    first = run(tiny(make_cfg, tiny_models, tiny_data_root))[0]
    forbid_model_loading(monkeypatch)
    again = run(tiny(make_cfg, tiny_models, tiny_data_root))[0]
    assert again == json.loads(json.dumps(first))


def test_corrupt_result_is_recomputed(make_cfg, tiny_models, tiny_data_root, tmp_path, caplog):
    run(tiny(make_cfg, tiny_models, tiny_data_root))
    (path,) = (tmp_path / "results").glob("**/cdsc_r.json")
    path.write_text(path.read_text()[:100])  # a torn file, as a crash without atomic writes would leave
    record = run(tiny(make_cfg, tiny_models, tiny_data_root))[0]
    assert "cannot read result file" in caplog.text and "recomputing it" in caplog.text
    assert json.loads(path.read_text())["scores"] == record["scores"]


def test_result_on_other_data_is_computed_beside_the_old_one(make_cfg, tiny_models, tiny_data_root, tmp_path):
    before = run(tiny(make_cfg, tiny_models, tiny_data_root))[0]
    test_file = tiny_data_root / "cdscorpus" / "CDS_test_annotated.txt"
    test_file.write_text(test_file.read_text().replace("\t4.5\t", "\t3.5\t"))
    after = run(tiny(make_cfg, tiny_models, tiny_data_root))[0]
    assert after["dataset_revision"] != before["dataset_revision"]
    assert after["bench"]["settings_id"] != before["bench"]["settings_id"]
    assert len(list((tmp_path / "results").glob("**/cdsc_r.json"))) == 2  # the old number is not overwritten


def test_never_refuses_to_replace(make_cfg, tiny_models, tiny_data_root):
    run(tiny(make_cfg, tiny_models, tiny_data_root))
    with pytest.raises(BenchError, match="overwrite=never, but these results exist: .*cdsc_r.json"):
        run(tiny(make_cfg, tiny_models, tiny_data_root, "overwrite=never"))


def test_always_recomputes(make_cfg, tiny_models, tiny_data_root, monkeypatch):
    run(tiny(make_cfg, tiny_models, tiny_data_root, "cache.enabled=false"))
    calls = []
    original = encode_module.build_backend
    monkeypatch.setattr(encode_module, "build_backend", lambda *a, **k: calls.append(1) or original(*a, **k))
    run(tiny(make_cfg, tiny_models, tiny_data_root, "cache.enabled=false", "overwrite=always"))
    assert calls == [1]


def test_unknown_overwrite_policy(make_cfg, tiny_models, tiny_data_root):
    with pytest.raises(BenchError, match="Unknown overwrite policy 'sometimes'.*always, missing, never"):
        run(tiny(make_cfg, tiny_models, tiny_data_root, "overwrite=sometimes"))


def _write_and_rebuild(args):
    results, index = args
    record = {"scores": {"test": [{"main_score": index / 10}]},
              "bench": {"model": {"name": f"model{index}", "revision": "r"}, "pooling": {"slug": "mean"}, "task": "t",
                        "main_score_name": "cosine_spearman"}}
    write_json_atomic(Path(results) / f"model{index}" / "t.json", record)
    write_leaderboard(results)


@pytest.mark.slow
def test_concurrent_jobs_leave_a_complete_leaderboard(tmp_path):
    """Eight processes each write a result and rebuild the leaderboard at once (two commands on one results
    folder do that): whichever rebuild comes last holds every result."""
    results = tmp_path / "results"
    with multiprocessing.get_context("spawn").Pool(8) as pool:
        pool.map(_write_and_rebuild, [(str(results), i) for i in range(8)])
    rows = (results / "leaderboard_entries.csv").read_text().splitlines()
    assert len(rows) == 9, rows  # header + one row per job's result: no finished result lost


def _sweep_command(tmp_path, tiny_models, tiny_data_root, *extra):
    return [sys.executable, "-m", "bench", "-m", "model=hf", f"model.name_or_path={tiny_models['bert']}",
            "model.max_seq_length=64", "data.check_rows=false", f"data.root={tiny_data_root}", "encode.progress=false",
            f"results_dir={tmp_path / 'res'}", f"cache.dir={tmp_path / 'cache'}", f"hydra.sweep.dir={tmp_path / 'sweep'}",
            *extra]


def _results(tmp_path) -> dict[Path, dict]:
    return {p: json.loads(p.read_text()) for p in (tmp_path / "res").glob("*/**/*.json")
            if not any(part.startswith(".") for part in p.relative_to(tmp_path / "res").parts)}


@pytest.mark.slow
def test_parallel_joblib_sweep(tmp_path, tiny_models, tiny_data_root):
    cmd = _sweep_command(tmp_path, tiny_models, tiny_data_root, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                         "encode.threads=1", f"model.name_or_path={tiny_models['bert']},{tiny_models['roberta']}",
                         "pooling=cls,mean", "task=cdsc_r,cdsc_e")
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    results = _results(tmp_path)
    assert len(results) == 8  # 2 models x 2 poolings x 2 tasks
    assert all(r["scores"]["test"][0]["main_score"] is not None for r in results.values())
    workers = {r["bench"]["host"]["pid"] for r in results.values()}
    assert len(workers) >= 2  # jobs ran in separate worker processes
    board = (tmp_path / "res" / "leaderboard.csv").read_text().splitlines()
    assert board[0].startswith("model,revision,strategy,variant,tasks,cdsc_r,cdsc_e") and len(board) == 5, board
    # the cache both workers wrote into concurrently: every shard loads and passes its checksum
    from bench.encoding.cache import CacheNamespace, EmbeddingCache

    cache = EmbeddingCache(tmp_path / "cache")
    shards = cache.summary()["shards"]
    for space in cache._namespaces():
        namespace = CacheNamespace(space, {})
        found, missing = namespace.lookup([])
        assert found == {} and missing == []
    assert shards > 0 and cache.summary()["shards"] == shards  # nothing was corrupt, so nothing was deleted
    import csv

    rows = list(csv.DictReader(board))
    assert all(row["cdsc_e"] and row["cdsc_r"] and row["variant"] == "" and row["tasks"] == "2 of 6" for row in rows)


@pytest.mark.slow
def test_killed_sweep_leaves_nothing_corrupt_and_resumes(tmp_path, tiny_models, tiny_data_root):
    cmd = _sweep_command(tmp_path, tiny_models, tiny_data_root, "pooling=cls,mean,max", "task=cdsc_r,cdsc_e",
                         "cache.enabled=false")
    sweep = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(_results(tmp_path)) < 2:
        time.sleep(0.05)
    os.killpg(sweep.pid, signal.SIGKILL)
    sweep.wait()
    partial = _results(tmp_path)  # every file that exists parses: nothing torn
    assert 2 <= len(partial) < 6, "the sweep should have been killed midway"
    before = {p: p.stat().st_mtime_ns for p in partial}
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    complete = _results(tmp_path)
    assert len(complete) == 6  # 3 strategies x 2 tasks
    assert all(p.stat().st_mtime_ns == before[p] for p in partial)  # finished results were kept, not redone


@pytest.mark.slow
def test_kill_during_a_write_never_tears_the_file(tmp_path):
    target = tmp_path / "r" / "x.json"
    write_json_atomic(target, {"version": 1})
    script = ("import sys; from pathlib import Path; from bench.atomic import write_json_atomic; "
              "write_json_atomic(Path(sys.argv[1]), {'version': 2, 'blob': ['x' * 1000] * 300000})")
    child = subprocess.Popen([sys.executable, "-c", script, str(target)], cwd=ROOT)
    temp_seen = False
    deadline = time.time() + 60
    while time.time() < deadline and child.poll() is None:
        if any(p.name.endswith(".tmp") for p in target.parent.iterdir()):
            temp_seen = True
            child.kill()
            break
        time.sleep(0.001)
    child.wait()
    assert temp_seen, "the writer finished before it could be killed mid-write"
    assert json.loads(target.read_text()) == {"version": 1}  # the old complete file, never half of the new one


@pytest.mark.parametrize("launcher", ["slurm_gpu", "slurm_cpu"])
def test_slurm_launcher_configs_compose_and_validate(launcher):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")  # the `sweep` extra
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), **VERSION_BASE):
        cfg = compose("config", overrides=[f"hydra/launcher={launcher}", "experiment=polish_models"],
                      return_hydra_config=True)
    GlobalHydra.instance().clear()
    # imported after the first compose: Hydra's plugin scan re-imports the plugin modules, making new classes
    from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf
    launcher_cfg = OmegaConf.merge(OmegaConf.structured(SlurmQueueConf), cfg.hydra.launcher)  # unknown keys raise
    assert launcher_cfg._target_.endswith("SlurmLauncher")
    assert launcher_cfg.gpus_per_node == (1 if launcher == "slurm_gpu" else 0)
    from bench.launch.cli import group_choices

    params = cfg.hydra.sweeper.params
    assert set(params.model.split(",")) <= set(group_choices("model")) and len(params.model.split(",")) == 9
    assert set(params.pooling.split(",")) <= set(group_choices("pooling"))
    assert cfg.task.name == "polish"


@pytest.mark.slow
def test_a_failing_end_of_sweep_report_fails_the_command(tmp_path, tiny_models, tiny_data_root):
    """Hydra turns an exception in a callback into a warning and exit status 0; bench makes it an error."""
    (tmp_path / "res" / "leaderboard.md").mkdir(parents=True)  # the leaderboard cannot be written there
    cmd = _sweep_command(tmp_path, tiny_models, tiny_data_root, "pooling=cls,mean", "task=cdsc_r")
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    output = done.stdout + done.stderr  # Hydra's job logging writes to stdout
    assert "the end-of-sweep summary failed: IsADirectoryError" in output and "Traceback" not in output
    assert len(_results(tmp_path)) == 2  # the results themselves were written and stay
