"""Sweeps on SLURM through bench's launcher (bench/launch/slurm.py; conf/hydra/launcher/slurm_cpu.yaml).

The launcher's bookkeeping is tested without a cluster (fake submitit jobs). The rest needs a cluster with
accounting that answers ``sinfo`` and ``sacct``: ``.ci/slurm/cluster.sh start`` makes a single-node one on this
machine (``stop`` ends it). Those tests are skipped without one, and fail instead when BENCH_REQUIRE_SLURM=1.
Each evaluation job runs the embedded model (model=minilm) on a tiny CDSCorpus-layout folder; the training
sweep fine-tunes a tiny BERT for 4 steps. Every test cancels whatever is left of its jobs when it ends.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.helpers import train_data

on_cluster = pytest.mark.slow  # whole sweeps on a cluster: the full tier (pytest -m "")

POOLINGS = ("cls", "mean", "max")
FINAL_STATES = ("COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
                "DEADLINE")
#: What users tune in the launcher configs (docs and README name them).
TUNABLES = ("partition", "account", "qos", "timeout_min", "signal_delay_s", "gpus_per_node", "cpus_per_task", "mem_gb",
            "array_parallelism", "setup", "additional_parameters", "name", "max_num_timeout")


# --- without a cluster: the configs and the launcher's bookkeeping ----------------------------------------------

@pytest.mark.parametrize("launcher", ["slurm_cpu", "slurm_gpu"])
def test_launcher_configs_name_bench_launcher_found_by_hydra(launcher):
    """The configs compose to Hydra's SlurmQueueConf with bench's launcher as _target_, and Hydra's plugin scan
    knows that class (Hydra instantiates launchers only from the hydra_plugins namespace package)."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.plugins import Plugins
    from omegaconf import OmegaConf

    from bench.config import CONF_DIR, VERSION_BASE
    from bench.launch.slurm import PLUGIN_MODULE, WaitForEveryJob

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), **VERSION_BASE):
            cfg = compose("config", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True)
    except Exception as exc:  # bench_slurm is registered by hydra_plugins/bench_launchers when Hydra scans it
        pytest.fail(f"hydra/launcher={launcher} does not compose ({str(exc).splitlines()[0]}): is "
                    f"{PLUGIN_MODULE} importable? (in a checkout: run from the repository root, or pip install -e .)")
    finally:
        GlobalHydra.instance().clear()
    conf = cfg.hydra.launcher
    assert OmegaConf.get_type(conf).__name__ == "SlurmQueueConf"
    assert conf._target_ == f"{PLUGIN_MODULE}.BenchSlurmLauncher"
    assert set(TUNABLES) <= set(conf.keys())
    found = Plugins.instance().class_name_to_class.get(conf._target_)
    assert found is not None, (f"Hydra's plugin scan does not know {conf._target_}: hydra_plugins/bench_launchers is "
                               "not importable (in a checkout: run from the repository root or pip install -e .)")
    assert issubclass(found, WaitForEveryJob) and found.__name__ == "BenchSlurmLauncher"


class FakeJob:
    """What the launcher reads of a submitit job."""

    def __init__(self, folder: Path, job_id: str, error: Exception | None = None, result=None, state="CANCELLED"):
        from submitit.core.utils import JobPaths

        self.job_id, self.state, self._error, self._result = job_id, state, error, result
        self.paths = JobPaths(folder / "%j", job_id=job_id, task_id=0)

    def results(self):
        if self._error is not None:
            raise self._error
        return [self._result]


@pytest.fixture
def launcher(tmp_path, monkeypatch):
    """bench's launcher logic on a sweep folder, with accounting answered by a dict (job id -> record)."""
    pytest.importorskip("submitit")
    from omegaconf import OmegaConf

    import bench.launch.slurm

    accounting: dict[str, dict] = {}
    monkeypatch.setattr(bench.launch.slurm, "final_state", lambda job, timeout=20.0: accounting.get(job.job_id, {}))

    class Launcher(bench.launch.slurm.WaitForEveryJob):
        _EXECUTOR = "slurm"
        params = {"timeout_min": 5, "mem_gb": 2, "signal_delay_s": 30}
        config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "sweep"), "subdir": "${hydra.job.num}"}}})
        hydra_context = None  # composing a job's config fails: reports go to <sweep dir>/<job num>

    instance = Launcher()
    instance.accounting = accounting
    return instance


def _summary(sweep: Path) -> tuple[str, int]:
    from bench.launch.sweep import read_reports, summary_text

    return summary_text(read_reports(sweep), [])


def test_job_killed_without_a_result_is_a_failed_job_in_the_summary(launcher, tmp_path):
    from hydra.core.utils import JobStatus
    from submitit.core.utils import UncompletedJobError

    sweep = tmp_path / "sweep"
    launcher.accounting["7_3"] = {"State": "CANCELLED", "ExitCode": "0:15", "Elapsed": "00:00:09",
                                  "Timelimit": "00:05:00", "NodeList": "node7"}
    job = FakeJob(sweep / ".submitit", "7_3", UncompletedJobError("Job 7_3 (task: 0) has not produced any output"))
    returned = launcher._job_return(job, ["pooling=mean"], 3)
    assert returned.status == JobStatus.COMPLETED and returned.return_value is None
    report = json.loads((sweep / "3" / "bench_job.json").read_text())
    assert report["status"] == "failed" and report["job"] == {"num": 3, "id": "7_3", "overrides": ["pooling=mean"]}
    assert report["error"].startswith("SLURM job 7_3 CANCELLED without a result (ran 00:00:09 of 00:05:00 on node7")
    assert report["error"].endswith(f"log: {sweep / '.submitit' / '7_3' / '7_3_0_log.out'}")
    assert report["cluster"]["SLURM_ARRAY_JOB_ID"] == "7" and report["accounting"]["State"] == "CANCELLED"
    text, failures = _summary(sweep)
    assert failures == 1 and "job 3 (pooling=mean): SLURM job 7_3 CANCELLED" in text

    launcher.accounting["7_4"] = {"State": "TIMEOUT", "Elapsed": "00:05:29", "Timelimit": "00:05:00"}
    launcher._job_return(FakeJob(sweep / ".submitit", "7_4", UncompletedJobError("no output")), ["pooling=max"], 4)
    error = json.loads((sweep / "4" / "bench_job.json").read_text())["error"]
    assert "SLURM job 7_4 TIMEOUT without a result" in error and "hydra.launcher.timeout_min (now 5)" in error


def test_report_of_a_job_that_finished_its_work_is_kept_a_stale_one_is_not(launcher, tmp_path):
    from submitit.core.utils import UncompletedJobError

    sweep = tmp_path / "sweep"
    for num, job_id in ((0, "8_0"), (1, "5_1")):  # job 1's report is from an earlier submission (job 5_1)
        (sweep / str(num)).mkdir(parents=True)
        (sweep / str(num) / "bench_job.json").write_text(json.dumps(
            {"status": "ok", "error": None, "job": {"num": num, "id": job_id, "overrides": []}, "results": []}))
    for num in (0, 1):
        launcher._job_return(FakeJob(sweep / ".submitit", f"8_{num}", UncompletedJobError("lost")), [], num)
    assert json.loads((sweep / "0" / "bench_job.json").read_text())["status"] == "ok"  # its work was done
    stale = json.loads((sweep / "1" / "bench_job.json").read_text())
    assert stale["status"] == "failed" and stale["job"]["id"] == "8_1"


def test_timeout_at_submitits_signal_is_named_timeout(launcher, tmp_path):
    """SLURM's warning signal makes submitit raise in the job; bench reports the exception and the job ends
    COMPLETED in accounting. The summary says TIMEOUT and what to change."""
    from hydra.core.utils import JobReturn, JobStatus
    from omegaconf import OmegaConf

    sweep = tmp_path / "sweep"
    folder = sweep / "2"
    folder.mkdir(parents=True)
    (folder / "bench_job.json").write_text(json.dumps(
        {"status": "failed", "error": "UncompletedJobError: Job not requeued because: timed-out too many times.",
         "job": {"num": 2, "id": "9_2", "overrides": ["pooling=cls"]}, "results_dir": "res", "results": []}))
    returned = JobReturn(overrides=["pooling=cls"], status=JobStatus.COMPLETED, _return_value=None,
                         hydra_cfg=OmegaConf.create({"hydra": {"runtime": {"output_dir": str(folder)}}}))
    launcher.accounting["9_2"] = {"State": "COMPLETED", "Elapsed": "00:04:01", "Timelimit": "00:05:00"}
    assert launcher._job_return(FakeJob(sweep / ".submitit", "9_2", result=returned), ["pooling=cls"], 2) is returned
    text, failures = _summary(sweep)
    assert failures == 1 and "SLURM job 9_2 TIMEOUT: submitit stopped it at SLURM's warning signal" in text
    assert "hydra.launcher.signal_delay_s=30 s before its limit of 5 min" in text


# --- on a cluster ----------------------------------------------------------------------------------------------

def _cluster_problem() -> str | None:
    """Why no sweep can run on SLURM here, or None when the cluster answers."""
    for tool in ("sinfo", "sacct", "sbatch", "scancel", "squeue"):
        if shutil.which(tool) is None:
            return f"no SLURM client ({tool} not found)"
    try:
        info = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "the SLURM controller did not answer sinfo in 30 s"
    if info.returncode != 0:
        return f"the SLURM controller does not answer: {info.stderr.strip() or info.stdout.strip()}"
    states = [s.rstrip("*~#!%$@^-") for s in info.stdout.split()]
    if not any(s in ("idle", "mixed", "allocated", "completing") for s in states):
        return f"no SLURM node can take jobs (sinfo states: {states or 'none'})"
    try:
        acct = subprocess.run(["sacct", "-n", "-X", "-S", "now-1minutes"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "sacct did not answer in 30 s"
    if acct.returncode != 0:
        return f"SLURM has no working accounting (sacct: {acct.stderr.strip()}); submitit needs it"
    try:
        import hydra_plugins.hydra_submitit_launcher  # noqa: F401
    except ImportError:
        return "hydra-submitit-launcher is not installed (pip install -e '.[sweep]')"
    return None


@pytest.fixture(scope="module")
def slurm() -> None:
    problem = _cluster_problem()
    if problem is None:
        return
    problem += " (a single-node cluster on this machine: .ci/slurm/cluster.sh start)"
    if os.environ.get("BENCH_REQUIRE_SLURM") == "1":
        pytest.fail(f"BENCH_REQUIRE_SLURM=1 but {problem}")
    pytest.skip(problem)


@pytest.fixture
def job_name(slurm):
    """A job name of this test's own, so that sacct and scancel see only its jobs; whatever is left of them
    is cancelled at the end."""
    name = f"bench-test-{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run(["scancel", f"--name={name}"], capture_output=True)


def _sweep(tmp_path: Path, data_root: Path, name: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bench", "-m", "hydra/launcher=slurm_cpu", "model=minilm", "task=cdsc_r",
            f"pooling={','.join(POOLINGS)}", f"data.root={data_root}", "data.check_rows=false", "encode.progress=false",
            f"results_dir={tmp_path / 'results'}", f"cache.dir={tmp_path / 'cache'}",
            f"hydra.sweep.dir={tmp_path / 'sweep'}", f"hydra.launcher.name={name}", "hydra.launcher.cpus_per_task=1",
            "hydra.launcher.mem_gb=2", *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _jobs(name: str) -> dict[str, str]:
    """SLURM job id (ARRAY_TASK, as sacct and submitit write it) -> accounting state, for this test's jobs."""
    out = subprocess.run(["sacct", "-n", "-X", "-P", f"--name={name}", "-S", "now-1days", "-o", "JobID,State"],
                         capture_output=True, text=True, check=True).stdout
    return {job: state.split()[0] for job, state in (line.split("|") for line in out.splitlines() if line)}


def _settled_jobs(name: str, count: int, timeout: float = 60) -> dict[str, str]:
    """The jobs once ``count`` of them are in accounting and all have ended (sacct lags a job's end a little)."""
    deadline = time.time() + timeout
    jobs = _jobs(name)
    while time.time() < deadline and not (len(jobs) >= count and all(s in FINAL_STATES for s in jobs.values())):
        time.sleep(0.5)
        jobs = _jobs(name)
    return jobs


def _queued(name: str) -> list[str]:
    """This test's jobs SLURM still holds (pending, running, completing)."""
    out = subprocess.run(["squeue", "-h", f"--name={name}", "-o", "%i %T"], capture_output=True, text=True).stdout
    return out.split("\n") if out.strip() else []


def _results(tmp_path: Path) -> dict[str, dict]:
    """pooling -> the cdsc_r result of that strategy."""
    return {p.parent.parent.name: json.loads(p.read_text()) for p in (tmp_path / "results").glob("**/cdsc_r.json")}


def _check_result(record: dict) -> None:
    assert record["bench"]["task"] == "cdsc_r"
    assert record["bench"]["main_score_name"] == "cosine_spearman"
    test = record["scores"]["test"][0]
    assert isinstance(test["main_score"], float) and -1 <= test["main_score"] <= 1
    assert test["main_score"] == test["cosine_spearman"]


def _check_everything_reads(tmp_path: Path) -> None:
    """Every result and per-pair file reads back whole (results are replaced atomically, never half-written)."""
    for path in (tmp_path / "results").glob("**/cdsc_r.json"):
        _check_result(json.loads(path.read_text()))
        with np.load(path.with_suffix(".pairs.npz")) as pairs:
            assert all(len(pairs[key]) for key in pairs.files)


def _failures(output: str) -> str:
    """The summary's list of failed jobs."""
    assert "job(s) failed:" in output, output[-4000:]
    return output[output.rindex("job(s) failed:"):]


@on_cluster
def test_sweep_runs_every_job_as_a_slurm_job(tmp_path, tiny_data_root, job_name):
    done = subprocess.run(_sweep(tmp_path, tiny_data_root, job_name, "hydra.launcher.timeout_min=5"),
                          capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "Submitit 'slurm' sweep output dir" in output  # the SLURM launcher ran, not the basic one
    assert f"All {len(POOLINGS)} job(s) succeeded." in output
    assert not _queued(job_name)  # the command returned once every job had ended

    jobs = _settled_jobs(job_name, len(POOLINGS))
    assert len(jobs) == len(POOLINGS) and set(jobs.values()) == {"COMPLETED"}, jobs
    (array,) = {job.split("_")[0] for job in jobs}  # one job array
    assert sorted(j.split("_")[1] for j in jobs) == ["0", "1", "2"], jobs

    results = _results(tmp_path)
    assert set(results) == set(POOLINGS), sorted(results)
    for pooling, record in results.items():
        _check_result(record)
        cluster = record["bench"]["cluster"]  # the SLURM job that computed the number, and its log
        task = POOLINGS.index(pooling)
        assert cluster["SLURM_ARRAY_JOB_ID"] == array and cluster["SLURM_ARRAY_TASK_ID"] == str(task)
        log = tmp_path / "sweep" / ".submitit" / f"{array}_{task}" / f"{array}_{task}_0_log.out"
        assert cluster["log_stdout"] == str(log) and log.is_file()
        report = json.loads((tmp_path / "sweep" / str(task) / "bench_job.json").read_text())
        assert report["status"] == "ok" and report["job"]["id"] == f"{array}_{task}"
    # the leaderboard, built once at the end, has every job's result
    with (tmp_path / "results" / "leaderboard_entries.csv").open(newline="") as f:
        entries = [row for row in csv.DictReader(f) if row["task"] == "cdsc_r"]
    assert sorted(row["strategy"] for row in entries) == sorted(POOLINGS)
    assert {row["strategy"]: float(row["score"]) for row in entries} == pytest.approx(
        {p: r["scores"]["test"][0]["main_score"] for p, r in results.items()}, abs=1e-6)


@on_cluster
def test_training_sweep_saves_each_model_with_its_lineage(tmp_path, tiny_models, job_name):
    root = train_data(tmp_path / "data")  # its test file is never read
    cmd = [sys.executable, "-m", "bench.train", "-m", "hydra/launcher=slurm_cpu", "train.seed=1,2", "train.max_steps=4",
           "train.evaluate_after=false", "train.batch_size=16", "train.eval_steps=2", "train.warmup_ratio=0",
           "model=hf", f"model.name_or_path={tiny_models['bert']}", "model.max_seq_length=64", "task=cdsc_r",
           f"data.root={root}", "data.check_rows=false", f"train.output_dir={tmp_path / 'models'}",
           f"results_dir={tmp_path / 'results'}", f"cache.dir={tmp_path / 'cache'}",
           f"hydra.sweep.dir={tmp_path / 'sweep'}", f"hydra.launcher.name={job_name}",
           "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=2", "hydra.launcher.timeout_min=5"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "Submitit 'slurm' sweep output dir" in output and "All 2 job(s) succeeded." in output
    jobs = _settled_jobs(job_name, 2)
    assert sorted(jobs.values()) == ["COMPLETED", "COMPLETED"], jobs

    lineages = {}
    for path in (tmp_path / "models").glob("*/model/bench_lineage.json"):
        lineage = json.loads(path.read_text())
        lineages[lineage["seed"]] = lineage
        assert (path.parent / "model.safetensors").is_file() or list(path.parent.glob("**/*.safetensors"))
    assert sorted(lineages) == [1, 2], sorted(lineages)
    for seed, lineage in lineages.items():
        assert lineage["global_step"] == 4 and lineage["loss"] == "cosent" and lineage["resumed_from"] is None
        assert f"-seed{seed}-" in lineage["run_folder"] and lineage["data"]["train"]["cdsc_r"]["sha256"]
        assert lineage["base"]["weights_sha256"]
    reports = [json.loads((tmp_path / "sweep" / str(n) / "bench_job.json").read_text()) for n in (0, 1)]
    assert [r["status"] for r in reports] == ["ok", "ok"] and all(r["cluster"]["SLURM_JOB_ID"] for r in reports)


def _wait_for_log(path: Path, text: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.is_file() and text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            pytest.fail(f"the sweep ended (status {proc.returncode}) before {path} showed {text!r}")
        time.sleep(0.1)
    pytest.fail(f"{path} did not show {text!r} within {timeout} s")


@on_cluster
def test_cancelled_and_timed_out_jobs_fail_the_sweep_and_a_rerun_completes_them(tmp_path, tiny_data_root, job_name):
    """One sweep, two ways a job dies without a result: job 0 runs past its 1-minute limit (a sleep before its
    Python starts, so SLURM's limit and not submitit's warning signal ends it: TIMEOUT), job 1 is scancelled
    while its Python runs (CANCELLED), job 2 completes. The command waits for all three, then prints the summary
    naming both failures and exits with status 1. Rerunning with a larger limit computes only the two missing
    results."""
    slow_first = "if [ \"$SLURM_ARRAY_TASK_ID\" = 0 ]; then sleep 150; fi"
    first_run = _sweep(tmp_path, tiny_data_root, job_name, "hydra.launcher.timeout_min=1",
                       "hydra.launcher.signal_delay_s=0", f"hydra.launcher.setup=['{slow_first}']")
    log = tmp_path / "sweep.log"
    started = time.time()
    with log.open("w") as out:
        sweep = subprocess.Popen(first_run, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=_env(), text=True)
    try:
        submitit_dir = tmp_path / "sweep" / ".submitit"
        deadline = time.time() + 120
        while time.time() < deadline and not (submitit_dir.is_dir() and any(p.name.endswith("_1")
                                                                            for p in submitit_dir.iterdir())):
            assert sweep.poll() is None, log.read_text()[-4000:]
            time.sleep(0.1)
        (second,) = [p.name for p in submitit_dir.iterdir() if p.name.endswith("_1")]
        array = second.split("_")[0]
        _wait_for_log(submitit_dir / second / f"{second}_0_log.out", "Starting with JobEnvironment", sweep, 120)
        subprocess.run(["scancel", second], check=True)
        status = sweep.wait(timeout=240)  # returns: job 0 ends at its limit (SLURM checks limits every ~30 s)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    elapsed = time.time() - started
    output = log.read_text()

    assert not _queued(job_name), "jobs still queued or running after the sweep returned"
    jobs = _settled_jobs(job_name, len(POOLINGS))
    assert jobs == {f"{array}_0": "TIMEOUT", f"{array}_1": "CANCELLED", f"{array}_2": "COMPLETED"}, jobs
    assert status == 1, output[-4000:]
    assert "Traceback" not in output, output[-4000:]
    failures = _failures(output)
    assert failures.startswith("job(s) failed:") and f"2 of {len(POOLINGS)} job(s) failed:" in output
    line = {n: next(ln for ln in failures.splitlines() if ln.startswith(f"  - job {n} (")) for n in (0, 1)}
    assert f"SLURM job {array}_0 TIMEOUT without a result" in line[0]
    assert "hydra.launcher.timeout_min (now 1)" in line[0]
    assert f"SLURM job {array}_1 CANCELLED without a result" in line[1]
    for n in (0, 1):
        assert f"log: {submitit_dir / f'{array}_{n}' / f'{array}_{n}_0_log.out'}" in line[n]
        report = json.loads((tmp_path / "sweep" / str(n) / "bench_job.json").read_text())
        assert report["status"] == "failed" and report["job"]["id"] == f"{array}_{n}"
        assert report["accounting"]["State"] == ("TIMEOUT", "CANCELLED")[n]
    assert "Sweep summary, zero-shot main scores x100, 1 result(s) from 3 job(s)" in output

    results = _results(tmp_path)
    assert set(results) == {"max"}, sorted(results)  # jobs 0 (cls) and 1 (mean) left no result
    _check_everything_reads(tmp_path)
    kept = {p: p.stat().st_mtime_ns for p in (tmp_path / "results").glob("**/cdsc_r*")}

    # the same sweep with more time (and no slow start): only the two missing results are computed
    again = subprocess.run(_sweep(tmp_path, tiny_data_root, job_name, "hydra.launcher.timeout_min=5"),
                           capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=300)
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    assert f"All {len(POOLINGS)} job(s) succeeded." in again.stdout + again.stderr
    results = _results(tmp_path)
    assert set(results) == set(POOLINGS), sorted(results)
    _check_everything_reads(tmp_path)
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # overwrite=missing left the finished result untouched
    states = _settled_jobs(job_name, 2 * len(POOLINGS))
    assert list(states.values()).count("COMPLETED") == len(POOLINGS) + 1, states
    assert elapsed < 200, f"the first sweep took {elapsed:.0f} s"
