"""What a SLURM sweep costs over a local one: the same small sweep with Hydra's basic launcher (jobs one after
another in one process) and with ``hydra/launcher=slurm_cpu`` on the cluster ``sinfo`` answers for.

    python benchmarks/slurm_overhead.py --data-root ../shared/data
    python benchmarks/slurm_overhead.py --data-root ../shared/data --cpus-per-task 2,1 --json overhead.json

Every run starts from empty results and cache folders (the first job of a sweep encodes every strategy of
``encode.precompute`` in one pass and caches them; later jobs read them). Prints the wall time of each
command (start of ``python -m bench`` to its exit, the submitting process's own start-up included), the
overhead per job against the local run, and from accounting (sacct) each SLURM job's wait from sbatch to
its start, the gap between a job's start and the end of the one before it, and its run time. With
``cpus_per_task`` equal to the node's CPUs the jobs run one after another, as the local ones do, so the
difference is the launcher's cost: sbatch, scheduling, a fresh Python and model load per job, polling.
Needs bench's launcher (hydra_plugins/bench_launchers) and a cluster with accounting
(``.ci/slurm/cluster.sh start`` makes one on this machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sweep_command(work: Path, data_root: str, poolings: list[str], task: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bench", "-m", "model=minilm", f"task={task}", f"pooling={','.join(poolings)}",
            f"data.root={data_root}", "encode.progress=false", f"results_dir={work / 'results'}",
            f"cache.dir={work / 'cache'}", f"hydra.sweep.dir={work / 'sweep'}", *extra]


def timed(cmd: list[str], log: Path) -> tuple[float, float, float]:
    """Runs the command; (wall seconds, epoch at its start, epoch at its exit)."""
    env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), "TOKENIZERS_PARALLELISM": "false"}
    log.parent.mkdir(parents=True, exist_ok=True)
    started, start = time.time(), time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed (status {done.returncode}); log: {log}\n{log.read_text()[-3000:]}")
    return seconds, started, time.time()


def accounting(name: str, expected: int, timeout: float = 60) -> list[dict]:
    """This run's jobs from sacct, once all of them have ended (accounting lags a job's end a little)."""
    fields = ("JobID", "State", "Submit", "Start", "End", "ElapsedRaw", "NodeList")
    deadline = time.time() + timeout
    while True:
        out = subprocess.run(["sacct", "-n", "-X", "-P", f"--name={name}", "-S", "now-1days", "-o", ",".join(fields)],
                             capture_output=True, text=True, check=True).stdout
        jobs = [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line.strip()]
        if (len(jobs) >= expected and all(j["End"] not in ("Unknown", "") for j in jobs)) or time.time() > deadline:
            break
        time.sleep(1)
    for job in jobs:
        for key in ("Submit", "Start", "End"):
            job[key] = datetime.fromisoformat(job[key]).timestamp()
        job["ElapsedRaw"] = int(job["ElapsedRaw"])
    return sorted(jobs, key=lambda j: int(j["JobID"].split("_")[-1]))


def node_cpus() -> int:
    out = subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True, check=True).stdout.split()
    return max(int(c.rstrip("+")) for c in out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=os.environ.get("BENCH_DATA_ROOT", str(ROOT.parent / "shared" / "data")))
    parser.add_argument("--task", default="cdsc_r")
    parser.add_argument("--poolings", default="cls,mean,max,mean_max")
    parser.add_argument("--cpus-per-task", default=None,
                        help="comma-separated: one SLURM run per value (default: the node's CPUs, jobs one at a time)")
    parser.add_argument("--mem-gb", type=int, default=4)
    parser.add_argument("--work", default=None, help="folder for the runs (default: a temporary folder, removed)")
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    args = parser.parse_args(argv)

    poolings = args.poolings.split(",")
    cpus = [int(c) for c in args.cpus_per_task.split(",")] if args.cpus_per_task else [node_cpus()]
    holder = None if args.work else tempfile.TemporaryDirectory(prefix="bench-slurm-overhead-")
    work = Path(args.work or holder.name)
    n = len(poolings)
    print(f"sweep: {n} jobs (model=minilm task={args.task} pooling={args.poolings}, data.root={args.data_root}); "
          f"fresh results and cache folders for each run; node CPUs {node_cpus()}", flush=True)

    local, _, _ = timed(sweep_command(work / "local", args.data_root, poolings, args.task), work / "local.log")
    print(f"  local (Hydra's basic launcher, jobs one after another): {local:7.1f} s  ({local / n:.2f} s per job)",
          flush=True)
    report = {"jobs": n, "task": args.task, "poolings": poolings, "local_s": local, "slurm": []}
    for cpu in cpus:
        name = f"bench-overhead-{uuid.uuid4().hex[:6]}"
        folder = work / f"slurm-{cpu}cpu"
        cmd = sweep_command(folder, args.data_root, poolings, args.task, "hydra/launcher=slurm_cpu",
                            f"hydra.launcher.name={name}", f"hydra.launcher.cpus_per_task={cpu}",
                            f"hydra.launcher.mem_gb={args.mem_gb}", "hydra.launcher.timeout_min=30")
        wall, started, ended = timed(cmd, folder.with_suffix(".log"))
        jobs = accounting(name, n)
        waits = [j["Start"] - j["Submit"] for j in jobs]
        gaps = [b["Start"] - a["End"] for a, b in zip(jobs, jobs[1:])]
        runs = [j["ElapsedRaw"] for j in jobs]
        before = min(j["Submit"] for j in jobs) - started  # the submitting process: start-up, composing, sbatch
        after = ended - max(j["End"] for j in jobs)  # noticing the last job's end, the summary, the leaderboard
        mode = "one at a time" if cpu >= node_cpus() else f"up to {node_cpus() // cpu} at a time"
        print(f"  slurm_cpu, cpus_per_task={cpu} ({mode}): {wall:7.1f} s  ({wall / n:.2f} s per job; "
              f"{(wall - local) / n:+.2f} s per job against local)", flush=True)
        print(f"      sbatch to start, per job (s): {', '.join(f'{w:.0f}' for w in waits)}"
              f"  (first job: {waits[0]:.0f} s; later ones include waiting for a free CPU)")
        if gaps and cpu >= node_cpus():
            print(f"      start after the previous job's end (s): {', '.join(f'{g:.0f}' for g in gaps)}")
        print(f"      run time in the job (s): {', '.join(map(str, runs))}  (sum {sum(runs)} s; "
              f"states {', '.join(sorted({j['State'] for j in jobs}))})")
        print(f"      command start to first sbatch: {before:.1f} s; last job's end to the command's exit: "
              f"{after:.1f} s (sacct times are whole seconds)", flush=True)
        report["slurm"].append({"cpus_per_task": cpu, "wall_s": wall, "per_job_overhead_s": (wall - local) / n,
                                "submit_to_start_s": waits, "gap_after_previous_s": gaps, "run_s": runs,
                                "states": [j["State"] for j in jobs], "start_to_first_sbatch_s": before,
                                "last_end_to_exit_s": after})
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if holder is not None:
        holder.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
