"""Faults of a shared research machine (issue 25): partial checkpoints, full disks, read-only folders, shared
caches, concurrent sweeps. Each test builds the fault and asserts that nothing computed is lost, no traceback
reaches the user, and the exit status is right."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bench.train.callbacks import latest_checkpoint
from tests.conftest import ROOT
from tests.helpers import tiny_overrides


def cannot_run(reason: str):
    """Skip a test that needs root (a mount, a second user), or fail it where it must run (CI: BENCH_REQUIRE_ROOT=1)."""
    if os.environ.get("BENCH_REQUIRE_ROOT") == "1":
        pytest.fail(f"BENCH_REQUIRE_ROOT=1 but {reason}")
    pytest.skip(reason)


@contextlib.contextmanager
def tmpfs(folder, size: str):
    """A tmpfs of ``size`` mounted at ``folder``, unmounted after (skipped where this process may not mount)."""
    folder.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                                           capture_output=True).returncode != 0:
        cannot_run("mounting a small tmpfs needs root (mount -t tmpfs)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


# -- 1. checkpoints ---------------------------------------------------------------------------------------------

def _fake_checkpoint(folder, step: int):
    """A checkpoint as the trainer leaves it: weights, optimizer, state written last."""
    import numpy as np
    import torch
    from safetensors.numpy import save_file

    folder.mkdir(parents=True)
    save_file({"w": np.ones((4, 4), dtype=np.float32)}, str(folder / "model.safetensors"))
    torch.save({"step": step}, folder / "optimizer.pt")
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return folder


@pytest.mark.parametrize("cut", ["no_state", "state_truncated", "weights_truncated", "optimizer_truncated",
                                 "no_weights"])
def test_a_partial_checkpoint_is_skipped_for_the_last_complete_one(tmp_path, caplog, cut):
    good = _fake_checkpoint(tmp_path / "checkpoint-8", 8)
    partial = _fake_checkpoint(tmp_path / "checkpoint-16", 16)
    if cut == "no_state":  # kill -9 while saving: the trainer writes its state last
        (partial / "trainer_state.json").unlink()
    elif cut == "state_truncated":
        (partial / "trainer_state.json").write_text('{"global_st')
    elif cut == "weights_truncated":  # disk full while writing the weights
        data = (partial / "model.safetensors").read_bytes()
        (partial / "model.safetensors").write_bytes(data[: len(data) - 10])
    elif cut == "optimizer_truncated":
        data = (partial / "optimizer.pt").read_bytes()
        (partial / "optimizer.pt").write_bytes(data[: len(data) // 2])
    else:
        (partial / "model.safetensors").unlink()
    with caplog.at_level(logging.WARNING):
        assert latest_checkpoint(tmp_path) == str(good)
    assert "ignoring the incomplete checkpoint" in caplog.text and "checkpoint-16" in caplog.text
    assert partial.is_dir()  # never deleted: it may be a save still in progress


def test_no_complete_checkpoint_starts_over(tmp_path, caplog):
    (tmp_path / "checkpoint-4").mkdir()
    assert latest_checkpoint(tmp_path) is None
    assert latest_checkpoint(tmp_path / "absent") is None
    assert "checkpoint-4" in caplog.text


@pytest.mark.slow
def test_training_resumes_from_the_last_complete_checkpoint(make_cfg, tiny_models, train_root, tmp_path, monkeypatch):
    """kill -9 while checkpoint-16 is being saved: the rerun resumes from checkpoint-8 and finishes."""
    from bench.train.loop import train
    from tests.helpers import train_cfg, train_killed_after_checkpoint

    cfg = train_cfg(make_cfg, tiny_models, train_root, tmp_path, "train.max_steps=24")
    train_killed_after_checkpoint(cfg, 16, monkeypatch)
    partial = next((tmp_path / "models").glob("*/checkpoints/checkpoint-16"))
    (partial / "trainer_state.json").unlink()  # the state is written last: the save was cut short
    weights = partial / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    summary = train(cfg)  # before: FileNotFoundError / SafetensorError traceback on every rerun
    assert summary["lineage"]["resumed_from"] == "checkpoint-8"
    assert summary["lineage"]["global_step"] == 24
    assert list((tmp_path / "models").glob("*/model/bench_lineage.json"))  # the trained model is saved


# -- 2. the embedding cache: full disks, other users, group sharing ---------------------------------------------

@pytest.fixture
def full_disk(tmp_path):
    """A small tmpfs filled to the last byte (skipped where this process may not mount)."""
    with tmpfs(tmp_path / "disk", "512k") as disk:
        (disk / "cache").mkdir()
        fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
        os.close(fd)
        yield disk


def tiny_run(make_cfg, tiny_models, tiny_data_root, *extra):
    return make_cfg(*tiny_overrides(tiny_models["bert"], tiny_data_root), "stats.bootstrap=0", *extra)


def test_a_full_cache_disk_degrades_to_an_in_memory_run(make_cfg, tiny_models, tiny_data_root, tmp_path, full_disk,
                                                         caplog):
    """Before: a SafetensorError traceback during encoding, exit 1, no result although every vector was computed."""
    from bench.run import run

    with caplog.at_level(logging.WARNING):
        (record,) = run(tiny_run(make_cfg, tiny_models, tiny_data_root, f"cache.dir={full_disk / 'cache'}"))
    assert record["scores"]["test"][0]["main_score"] == record["scores"]["test"][0]["main_score"]  # a number
    assert len(list((tmp_path / "results").rglob("cdsc_r.json"))) == 1  # the result is written
    warnings = [r.getMessage() for r in caplog.records if "embedding cache: cannot write" in r.getMessage()]
    assert len(warnings) == 1 and "the disk is full" in warnings[0], caplog.text
    assert not [p for p in (full_disk / "cache").rglob("*") if p.is_file() and p.suffix != ".json"]
    assert not list((full_disk / "cache").rglob(".*.tmp"))  # no temporary file left behind


def test_encoding_keeps_every_vector_when_the_cache_disk_is_full(full_disk, caplog):
    from bench.encoding.cache import EmbeddingCache
    from bench.encoding.encode import encode_distinct
    from tests.test_cache import BASE_KEY, CountingBackend

    cache = EmbeddingCache(full_disk / "cache")
    spaces = {name: cache.namespace({**BASE_KEY, "strategy": name}) for name in ("s", "companion")}
    with caplog.at_level(logging.WARNING):
        out = encode_distinct(["x y", "z", "x y"], CountingBackend(), strategies=["s"], namespaces=spaces,
                              max_length=10, progress=False)
    assert out.lookup("s", ["x y", "z"]).tolist() == [[3.0, 1.0], [1.0, 1.0]]
    assert caplog.text.count("embedding cache: cannot write") == 1


@pytest.fixture
def users():
    """Two users and a group they share, created for the test (skipped when this process is not root)."""
    if os.geteuid() != 0 or not shutil.which("useradd"):
        cannot_run("creating users needs root and useradd")
    tag = f"{os.getpid() % 100000}"
    group, names = f"bfg{tag}", [f"bfa{tag}", f"bfb{tag}"]
    subprocess.run(["groupadd", group], check=True, capture_output=True)
    try:
        for name in names:
            subprocess.run(["useradd", "-M", "-N", "-G", group, name], check=True, capture_output=True)
        import grp
        import pwd

        yield {"group": grp.getgrnam(group).gr_gid,
               **{key: (pwd.getpwnam(n).pw_uid, pwd.getpwnam(n).pw_gid) for key, n in zip("ab", names)}}
    finally:
        for name in names:
            subprocess.run(["userdel", name], check=False, capture_output=True)
        subprocess.run(["groupdel", group], check=False, capture_output=True)


@pytest.fixture
def shared_dir():
    """A folder every user can reach (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


ENCODE_AS = """
import os, sys, json, logging
os.umask({umask})
import grp, pwd, errno, stat, uuid, tempfile, numpy as np
from bench.encoding.cache import CacheNamespace, EmbeddingCache
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
os.setgroups([{groups}]); os.setegid({gid}); os.seteuid({uid})
space = EmbeddingCache({root!r}).namespace({key!r})
texts = {texts!r}
found, missing = space.lookup(texts)
fresh = np.array([[float(len(texts[i])), 1.0] for i in missing], dtype=np.float32).reshape(len(missing), 2)
space.store([texts[i] for i in missing], fresh, np.ones(len(missing), dtype=np.int64))
vectors = {{i: v.tolist() for i, (v, _) in found.items()}}
vectors.update({{i: fresh[j].tolist() for j, i in enumerate(missing)}})
print(json.dumps({{"from_cache": sorted(found), "encoded": missing, "vectors": [vectors[i] for i in range(len(texts))]}}))
"""


def encode_as(user, root, texts, umask=0o077, groups=()):
    """A user's encoding pass over the cache in its own process: look up, compute what is missing, store it."""
    from tests.test_cache import BASE_KEY

    uid, gid = user
    code = ENCODE_AS.format(umask=oct(umask), groups=", ".join(map(str, (gid, *groups))), gid=gid, uid=uid,
                            root=str(root), key=BASE_KEY, texts=list(texts))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    return json.loads(done.stdout), done.stderr


def namespace_of(root):
    from bench.encoding.cache import namespace_id
    from tests.test_cache import BASE_KEY

    return root / namespace_id(BASE_KEY)


def test_another_users_private_shard_is_never_deleted_as_corrupt(users, shared_dir):
    """Before: user 1's 0600 shard inside user 2's namespace was reported as corrupt and deleted."""
    root = shared_dir / "cache"
    root.mkdir(mode=0o777)
    root.chmod(0o777)
    encode_as(users["b"], root, ["b1"], umask=0o000)  # user 2's namespace, open to all
    first, _ = encode_as(users["a"], root, ["a1", "a2"])
    private = [p for p in namespace_of(root).glob("*.safetensors") if p.stat().st_uid == users["a"][0]]
    assert len(private) == 1
    private[0].chmod(0o600)  # e.g. copied in by user 1 with rsync -p
    second, log = encode_as(users["b"], root, ["a1", "a2", "b1"])
    assert private[0].is_file()  # left in place
    assert second["encoded"] == [0, 1] and second["vectors"] == first["vectors"] + [[2.0, 1.0]]
    assert "cannot be read by you" in log and "mode 0600" in log and "corrupt" not in log


def test_a_private_namespace_of_another_user_costs_time_never_the_results(users, shared_dir):
    """Before: user 2 encoded everything, then failed on key.json with a traceback and no result."""
    root = shared_dir / "cache"
    root.mkdir()
    root.chmod(0o777)
    encode_as(users["a"], root, ["a1"])
    namespace_of(root).chmod(0o700)  # user 1's umask 077 on a root that did not say otherwise
    out, log = encode_as(users["b"], root, ["a1", "b1"])
    assert out["encoded"] == [0, 1] and out["vectors"] == [[2.0, 1.0], [2.0, 1.0]]
    assert log.count("cannot be read by you") == 1 and log.count("embedding cache: cannot write") == 1
    assert "mode 0700" in log and "permission denied" in log


def test_a_group_shares_a_cache_whatever_the_umasks(users, shared_dir):
    """A root made group-writable and setgid: every folder and shard follows it, so both users read and extend."""
    root = shared_dir / "cache"
    root.mkdir()
    os.chown(root, 0, users["group"])
    root.chmod(0o2770)
    encode_as(users["a"], root, ["a1", "a2"], groups=[users["group"]])
    out, log = encode_as(users["b"], root, ["a2", "a1", "b1"], groups=[users["group"]])
    assert out["from_cache"] == [0, 1] and out["encoded"] == [2] and "WARNING" not in log
    again, log = encode_as(users["a"], root, ["b1"], groups=[users["group"]])
    assert again["from_cache"] == [0] and "WARNING" not in log
    namespace = namespace_of(root)
    assert stat.S_IMODE(namespace.stat().st_mode) == 0o2770 and namespace.stat().st_gid == users["group"]
    assert {stat.S_IMODE(p.stat().st_mode) for p in namespace.iterdir()} == {0o660}


# -- 3. output faults ------------------------------------------------------------------------------------------

TWO_TASKS = ["task=polish", "~task.tasks.sick_r_pl", "~task.tasks.sick_e_pl", "~task.tasks.ppc",
             "~task.tasks.stsb_multi_mt"]


@pytest.fixture
def small_disk(tmp_path):
    """An empty 4 MiB tmpfs (skipped where this process may not mount)."""
    with tmpfs(tmp_path / "disk", "4m") as disk:
        yield disk


def bench_cli(*args, cwd, prelude=None, env=None):
    command = [sys.executable, str(prelude), *args] if prelude else [sys.executable, "-m", "bench", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


FILL_AFTER_FIRST_RESULT = '''
"""`python -m bench` with the results disk filling up right after the first result file is written."""
import os, runpy, sys

real_replace, filled = os.replace, []


def replace(src, dst, *args, **kwargs):
    real_replace(src, dst, *args, **kwargs)
    if not filled and str(dst).endswith("cdsc_r.json"):
        filled.append(True)
        fd = os.open(os.path.join(os.environ["FAULT_DISK"], "filler"), os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, bytes(4096))
        except OSError:
            os.close(fd)
        import logging
        logging.getLogger("bench.fault").info("%s", "a long log line " * 600)  # the log file needs a new page


os.replace = replace
sys.argv = ["bench", *sys.argv[1:]]
runpy.run_module("bench", run_name="__main__", alter_sys=True)
'''


@pytest.mark.slow
def test_a_results_disk_that_fills_mid_run_says_what_was_written(tiny_models, tiny_data_root, tmp_path, small_disk):
    """Before: "Callback Reports.on_job_end raised OSError" and "building the leaderboard failed"; which tasks
    were missing and why was never said (and a "Logging error" traceback per line once the log file's page
    was full)."""
    prelude = tmp_path / "fill_after_first_result.py"
    prelude.write_text(FILL_AFTER_FIRST_RESULT)
    results = small_disk / "results"
    args = ["model=hf", f"model.name_or_path={tiny_models['bert']}", "model.max_seq_length=64", *TWO_TASKS,
            "data.check_rows=false", f"data.root={tiny_data_root}", f"results_dir={results}",
            f"cache.dir={tmp_path / 'cache'}", "encode.progress=false", "stats.bootstrap=0"]
    done = bench_cli(*args, cwd=tmp_path, prelude=prelude, env={"FAULT_DISK": str(small_disk)})
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    assert "Traceback" not in output and "Logging error" not in output, output[-3000:]
    assert "could not write 1 of 2 computed result(s): cdsc_e: No space left on device" in output, output[-3000:]
    assert "Written: cdsc_r" in output
    assert output.count("cannot be written (No space left on device); logging to the console only") == 1
    assert [p.name for p in results.rglob("cdsc_*.json")] == ["cdsc_r.json"]
    (small_disk / "filler").unlink()  # space freed: the same command computes only what is missing
    again = bench_cli(*args, cwd=tmp_path)
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert sorted(p.name for p in results.rglob("cdsc_*.json")) == ["cdsc_e.json", "cdsc_r.json"]
    assert ": 0 encoded" in again.stdout + again.stderr  # every vector came from the cache


@pytest.fixture
def read_only_disk(tmp_path):
    """A read-only tmpfs holding what ``fill`` put there (skipped where this process may not mount)."""
    disk = tmp_path / "ro"
    disk.mkdir()

    def mount(fill=None):
        if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)],
                                               capture_output=True).returncode != 0:
            cannot_run("mounting a tmpfs needs root (mount -t tmpfs)")
        if fill:
            fill(disk)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        return disk

    yield mount
    subprocess.run(["umount", "-l", str(disk)], check=False, capture_output=True)


def test_a_read_only_results_folder_is_refused_before_hydra_starts(read_only_disk, tmp_path):
    """Before: Hydra's traceback creating .hydra/runs in the read-only folder."""
    results = read_only_disk()
    done = bench_cli(f"results_dir={results}", "task=cdsc_r", cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert f"error: results_dir={results} is not writable (Read-only file system)" in done.stderr
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()


def test_a_leaderboard_from_a_read_only_results_folder(read_only_disk, tmp_path, capsys):
    """Before: bench.reports.leaderboard --results RO --out elsewhere died on the lock file (OSError traceback)."""
    from bench.reports.leaderboard.__main__ import main
    from tests.leaderboard_fixtures import populate

    results = read_only_disk(populate)
    out = tmp_path / "board"
    assert main(["--results", str(results), "--out", str(out), "--resamples", "50"]) == 0
    assert {p.name for p in out.iterdir()} >= {"leaderboard.md", "leaderboard.html", ".significance.json"}
    assert "not significantly worse" in (out / "leaderboard.md").read_text()
    assert json.loads((out / ".significance.json").read_text())  # the paired bootstraps were computed and kept
    capsys.readouterr()
    assert main(["--results", str(results)]) == 2
    error = capsys.readouterr().err
    assert f"error: the results folder {results} is read-only" in error and "--out DIR" in error


# -- 4. concurrent sweeps ----------------------------------------------------------------------------------------

def test_launches_in_the_same_second_get_their_own_folders():
    from bench.config import launch_stamp

    stamps = {launch_stamp() for _ in range(20)}
    assert len(stamps) == 20 and all(len(s) == len("2026-01-01_00-00-00-abcdef") for s in stamps)


@pytest.mark.slow
def test_two_sweeps_started_together_report_their_own_jobs(tiny_models, tiny_data_root, tmp_path):
    """Before: both shared .hydra/sweeps/<second>/; the sweep with a failed job could exit 0 "All 2 job(s)
    succeeded" and the clean one exit 1 "no report"."""
    common = ["model=hf", f"model.name_or_path={tiny_models['bert']}", "model.has_sbert=false", "task=cdsc_r", "data.check_rows=false", f"data.root={tiny_data_root}",
              f"results_dir={tmp_path / 'res'}", f"cache.dir={tmp_path / 'cache'}", "encode.progress=false",
              "stats.bootstrap=0"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # a real failure (a length beyond the model's 128 positions), not a combination that does not apply (skipped)
    launches = [subprocess.Popen([sys.executable, "-m", "bench", "-m", *sweep, *common], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
                for sweep in (["pooling=mean", "model.max_seq_length=64,4096"],
                              ["pooling=mean,cls", "model.max_seq_length=64"])]
    (bad_out, bad_err), (good_out, good_err) = (launch.communicate(timeout=600) for launch in launches)
    assert launches[0].returncode == 1, bad_out[-2000:] + bad_err[-2000:]
    assert "1 of 2 job(s) failed" in bad_out and "model.max_seq_length=4096" in bad_out
    assert launches[1].returncode == 0, good_out[-2000:] + good_err[-2000:]
    assert "All 2 job(s) succeeded" in good_out and "Traceback" not in good_err
    sweeps = sorted((tmp_path / "res" / ".hydra" / "sweeps").iterdir())
    assert len(sweeps) == 2
    statuses = sorted(sorted(json.loads(p.read_text())["status"] for p in sweep.glob("*/bench_job.json"))
                      for sweep in sweeps)
    assert statuses == [["failed", "ok"], ["ok", "ok"]]


# -- 5. a leaderboard build killed late --------------------------------------------------------------------------

def test_a_killed_leaderboard_build_keeps_its_paired_bootstraps(tmp_path, monkeypatch):
    """Before: the significance file was written only at the end; every comparison computed so far was lost."""
    from bench.reports.leaderboard import build, significance
    from tests.leaderboard_fixtures import populate

    populate(tmp_path)
    real, calls = significance.paired_from_files, []

    def killed_at_the_fourth(*args, **kwargs):
        calls.append(args)
        if len(calls) == 4:
            raise KeyboardInterrupt  # as a kill: nothing after this line of the build runs
        return real(*args, **kwargs)

    monkeypatch.setattr(significance, "SAVE_SECONDS", 0.0)
    monkeypatch.setattr(significance, "paired_from_files", killed_at_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        build(tmp_path, resamples=100)
    kept = json.loads((tmp_path / significance.CACHE_NAME).read_text())
    assert len(kept) == 3 and all(v["high"] >= v["low"] for v in kept.values())
    counted = []
    monkeypatch.setattr(significance, "paired_from_files", lambda *a, **k: counted.append(a) or real(*a, **k))
    entries = build(tmp_path, resamples=100)
    assert len(counted) == 10 - 3  # only the comparisons the killed build had not finished
    assert entries["p_vs_best"].notna().sum() == 10
    assert len(json.loads((tmp_path / significance.CACHE_NAME).read_text())) == 10


# -- 6. range checks at plan time ------------------------------------------------------------------------------

@pytest.mark.parametrize(("overrides", "message"), [
    (["seed=-1"], "seed=-1 is not valid: expected an integer from 0 to 4294967295"),
    (["seed=99999999999"], "seed=99999999999 is not valid"),
    (["+train=cdsc_r_cosent", "train.seed=-1"], "train.seed=-1 is not valid: expected an integer from 0 to"),
    (["+train=cdsc_r_cosent", "train.matryoshka=[0]"], "train.matryoshka=[0] is not valid: expected dimensions >= 1"),
    (["+train=cdsc_r_cosent", "train.epochs=-1", "train.max_steps=5"], "train.epochs=-1.0 is not valid"),
    (["+cross=pairs", "cross.seed=99999999999"], "cross.seed=99999999999 is not valid"),
])
def test_out_of_range_settings_fail_before_anything_loads(make_cfg, tmp_path, monkeypatch, overrides, message):
    """Before: numpy/torch ValueError tracebacks after the data or the model had loaded."""
    import bench.plan
    from bench.errors import BenchError

    monkeypatch.setattr(bench.plan, "resolve", lambda *a: pytest.fail("the model was resolved before the check"))
    cfg = make_cfg(*overrides, f"data.root={tmp_path / 'no-data'}")  # reading data first would fail differently
    if "train" in cfg and cfg.train is not None:
        from bench.train.loop import train as job
    elif "cross" in cfg and cfg.cross is not None:
        from bench.cross.loop import run_cross as job
    else:
        from bench.run import run as job
    with pytest.raises(BenchError) as raised:
        job(cfg)
    assert message in str(raised.value)
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("*.json"))


def test_an_out_of_range_seed_on_the_command_line_exits_2(tmp_path):
    done = bench_cli("seed=-1", f"results_dir={tmp_path / 'res'}", f"data.root={tmp_path / 'no-data'}", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stdout + done.stderr, done.stderr[-3000:]
    assert "seed=-1 is not valid: expected an integer from 0 to 4294967295" in done.stdout + done.stderr


# -- 7. a hostile modules.json -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("type_name", "what"), [
    ("sentence_transformers.models.NotAModule", "which does not exist"),
    ("sentence_transformers.util.cos_sim", "which is a function, not a module class"),
    ("transformers.AutoTokenizer", "which is a type, not a module class"),
])
def test_a_module_type_that_is_not_a_module_is_named(tiny_sbert, tmp_path, type_name, what):
    """Before: "no weights for module '1_Pooling' ... expected model.safetensors or pytorch_model.bin"."""
    from bench.errors import BenchError
    from bench.models import loading
    from bench.models.spec import ModelSpec

    model_dir = shutil.copytree(tiny_sbert, tmp_path / "hostile")
    modules = json.loads((model_dir / "modules.json").read_text())
    modules[1]["type"] = type_name
    (model_dir / "modules.json").write_text(json.dumps(modules))
    spec = ModelSpec.from_config(dict(name="hostile", name_or_path=str(model_dir), has_sbert=True, max_seq_length=32))
    with pytest.raises(BenchError) as raised:
        loading.resolve(spec)
    message = str(raised.value)
    assert f"modules.json is not a valid sentence-transformers module list: module '1_Pooling' has type " \
           f"'{type_name}', {what}" in message
    assert "no weights" not in message


@pytest.mark.slow
def test_a_read_only_cache_is_still_read(make_cfg, tiny_models, tiny_data_root, tmp_path, read_only_disk, caplog):
    """A group's cache mounted read-only: its vectors serve the run, new ones cost one warning, never the run."""
    from bench.run import run

    disk = tmp_path / "ro"
    cached = []
    read_only_disk(lambda d: cached.extend(run(tiny_run(make_cfg, tiny_models, tiny_data_root, f"cache.dir={d}",
                                                        f"results_dir={tmp_path / 'first'}"))))
    with caplog.at_level(logging.INFO):
        (again,) = run(tiny_run(make_cfg, tiny_models, tiny_data_root, f"cache.dir={disk}"))
    assert again["scores"] == cached[0]["scores"] and ": 0 encoded" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        (other,) = run(tiny_run(make_cfg, tiny_models, tiny_data_root, f"cache.dir={disk}", "model.max_seq_length=32"))
    assert caplog.text.count("embedding cache: cannot write") == 1 and "read-only" in caplog.text
    assert len(list((tmp_path / "results").rglob("cdsc_r.json"))) == 2


def test_a_full_results_disk_is_refused_before_hydra_starts(full_disk, tmp_path):
    """An empty file still fits on a full disk: the check writes a few bytes, so Hydra never starts on it."""
    done = bench_cli(f"results_dir={full_disk}", "task=cdsc_r", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert f"error: results_dir={full_disk} is not writable (No space left on device)" in done.stderr


def test_the_launch_resolver_registers_without_a_deprecation_warning_and_caches():
    """${bench_launch:} is registered through the API this omegaconf offers (register_resolver from 2.4,
    register_new_resolver before it), silently, and gives one value per launch."""
    import warnings

    from omegaconf import OmegaConf

    from bench.config import register_resolvers

    OmegaConf.clear_resolver("bench_launch")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        register_resolvers()
    cfg = OmegaConf.create({"a": "${bench_launch:}", "b": "${bench_launch:}"})
    assert OmegaConf.has_resolver("bench_launch") and cfg.a == cfg.b and len(cfg.a.split("-")[-1]) == 6
