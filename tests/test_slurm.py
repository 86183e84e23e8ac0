"""Sweeps through Hydra's submitit launcher on a real SLURM cluster (conf/hydra/launcher/slurm_cpu.yaml).

Needs a cluster with accounting that answers ``sinfo`` and ``sacct``: ``.ci/slurm/cluster.sh start`` makes a
single-node one on this machine (``stop`` ends it). Skipped without one; a failure instead when
BENCH_REQUIRE_SLURM=1. Each job runs the embedded model (model=minilm) on a tiny CDSCorpus-layout folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # whole runs, processes or services: the full tier (pytest -m "")

POOLINGS = ("cls", "mean", "max")
FINAL_STATES = ("COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
                "DEADLINE")


def _cluster_problem() -> str | None:
    """Why no sweep can run on SLURM here, or None when the cluster answers."""
    for tool in ("sinfo", "sacct", "sbatch", "scancel"):
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
            "hydra.launcher.mem_gb=2", "hydra.launcher.timeout_min=5", "hydra.launcher.signal_delay_s=30", *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _jobs(name: str) -> dict[str, str]:
    """SLURM job id (ARRAY_TASK, as sacct and submitit write it) -> accounting state, for this test's jobs."""
    out = subprocess.run(["sacct", "-n", "-X", "-P", f"--name={name}", "-S", "now-1days", "-o", "JobID,State"],
                         capture_output=True, text=True, check=True).stdout
    return {job: state.split()[0] for job, state in (line.split("|") for line in out.splitlines() if line)}


def _settled_jobs(name: str, count: int, timeout: float = 60) -> dict[str, str]:
    """The jobs once ``count`` of them are in accounting and all have ended: sacct lags the job's end (and the
    launcher, which watches the result files) by a few seconds."""
    deadline = time.time() + timeout
    jobs = _jobs(name)
    while time.time() < deadline and not (len(jobs) >= count and all(s in FINAL_STATES for s in jobs.values())):
        time.sleep(0.5)
        jobs = _jobs(name)
    return jobs


def _results(tmp_path: Path) -> dict[str, dict]:
    """pooling -> the cdsc_r result of that strategy."""
    return {p.parent.parent.name: json.loads(p.read_text()) for p in (tmp_path / "results").glob("**/cdsc_r.json")}


def _check_result(record: dict) -> None:
    assert record["bench"]["task"] == "cdsc_r"
    assert record["bench"]["main_score_name"] == "cosine_spearman"
    test = record["scores"]["test"][0]
    assert isinstance(test["main_score"], float) and -1 <= test["main_score"] <= 1
    assert test["main_score"] == test["cosine_spearman"]


def test_sweep_runs_every_job_as_a_slurm_job(tmp_path, tiny_data_root, job_name):
    done = subprocess.run(_sweep(tmp_path, tiny_data_root, job_name), capture_output=True, text=True, cwd=ROOT,
                          env=_env(), timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert "Submitit 'slurm' sweep output dir" in done.stdout + done.stderr  # the SLURM launcher ran, not the basic one

    jobs = _settled_jobs(job_name, len(POOLINGS))
    assert len(jobs) == len(POOLINGS), jobs
    assert set(jobs.values()) == {"COMPLETED"}, jobs
    arrays = {job.split("_")[0] for job in jobs}
    assert len(arrays) == 1 and sorted(j.split("_")[1] for j in jobs) == ["0", "1", "2"], jobs  # one job array

    results = _results(tmp_path)
    assert set(results) == set(POOLINGS), sorted(results)
    for record in results.values():
        _check_result(record)
    # each job's own submitit folder with its logs under the sweep folder, and Hydra's numbered job folders
    (array,) = arrays
    for task in range(len(POOLINGS)):
        assert (tmp_path / "sweep" / ".submitit" / f"{array}_{task}" / f"{array}_{task}_0_log.out").is_file()
        assert (tmp_path / "sweep" / str(task)).is_dir()


def _wait_for_log(path: Path, text: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.is_file() and text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            pytest.fail(f"the sweep ended (status {proc.returncode}) before {path} showed {text!r}")
        time.sleep(0.1)
    pytest.fail(f"{path} did not show {text!r} within {timeout} s")


def test_cancelled_job_fails_the_sweep_and_a_rerun_completes_it(tmp_path, tiny_data_root, job_name):
    cmd = _sweep(tmp_path, tiny_data_root, job_name)
    log = tmp_path / "sweep.log"
    with log.open("w") as out:
        sweep = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=_env(), text=True)
    try:
        # the array id appears as soon as it is submitted; cancel job 0 once its Python has started
        submitit_dir = tmp_path / "sweep" / ".submitit"
        deadline = time.time() + 120
        while time.time() < deadline and not (submitit_dir.is_dir() and any(p.name.endswith("_0") for p in submitit_dir.iterdir())):
            assert sweep.poll() is None, log.read_text()[-4000:]
            time.sleep(0.1)
        (first,) = [p.name for p in submitit_dir.iterdir() if p.name.endswith("_0")]
        _wait_for_log(submitit_dir / first / f"{first}_0_log.out", "Starting with JobEnvironment", sweep, 120)
        subprocess.run(["scancel", first], check=True)
        status = sweep.wait(timeout=240)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    output = log.read_text()

    jobs = _settled_jobs(job_name, len(POOLINGS), timeout=120)  # the other jobs go on after the sweep returns
    assert jobs.get(first) == "CANCELLED", f"job {first} was not cancelled while it ran: {jobs}"
    # The launcher reports the cancelled job: a non-zero exit and submitit's UncompletedJobError naming the job
    # and its state. (Today that is Hydra's traceback of the exception, status 1.)
    assert status != 0, output[-4000:]
    assert first in output and "CANCELLED" in output, output[-4000:]
    others = {job: state for job, state in jobs.items() if job != first}
    assert set(others.values()) == {"COMPLETED"}, jobs

    results = _results(tmp_path)
    assert set(results) == set(POOLINGS[1:]), sorted(results)  # job 0 (pooling=cls) left no result
    kept = {p: p.stat().st_mtime_ns for p in (tmp_path / "results").glob("**/cdsc_r.json")}

    again = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=300)
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    results = _results(tmp_path)
    assert set(results) == set(POOLINGS), sorted(results)
    for record in results.values():
        _check_result(record)
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in kept.items())  # overwrite=missing kept finished results
    assert list(_settled_jobs(job_name, 2 * len(POOLINGS)).values()).count("COMPLETED") == 2 * len(POOLINGS) - 1
