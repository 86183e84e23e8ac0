"""submitit against the cluster of .ci/slurm/cluster.sh: a job's result comes back, and a job killed with
scancel makes job.result() raise instead of hanging (that needs accounting: submitit polls sacct).

    python .ci/slurm/submitit_check.py [FOLDER]      (default /tmp/bench-slurm-submitit)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import submitit


def where(x: int) -> dict:
    keys = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_PARTITION", "SLURM_CLUSTER_NAME",
            "SLURM_JOB_NODELIST", "SLURM_CPUS_PER_TASK", "SLURM_MEM_PER_NODE", "SUBMITIT_EXECUTOR", "SUBMITIT_FOLDER")
    return {"x2": x * 2, "host": socket.gethostname(), "env": {k: os.environ.get(k) for k in keys}}


def slow(seconds: float) -> str:
    time.sleep(seconds)
    return "not cancelled"


def main() -> int:
    folder = sys.argv[1] if len(sys.argv) > 1 else "/tmp/bench-slurm-submitit"
    partition = subprocess.run(["sinfo", "-h", "-o", "%R"], capture_output=True, text=True, check=True).stdout.split()[0]
    executor = submitit.AutoExecutor(folder=os.path.join(folder, "%j"))
    executor.update_parameters(slurm_partition=partition, timeout_min=1, cpus_per_task=1, mem_gb=1)
    print(f"executor: {executor.cluster}, partition {partition}")

    t = time.monotonic()
    job = executor.submit(where, 21)
    out = job.result()
    print(f"job {job.job_id}: result {out['x2']} on {out['host']} in {time.monotonic() - t:.1f} s "
          f"(submit to result); state {job.state}")
    for k, v in out["env"].items():
        print(f"  {k}={v}")
    assert out["x2"] == 42

    job = executor.submit(slow, 300)
    while job.state not in ("RUNNING",):
        time.sleep(0.2)
    time.sleep(1)
    subprocess.run(["scancel", job.job_id], check=True)
    t = time.monotonic()
    try:
        job.result()
    except Exception as e:  # the point is to show which exception it is
        print(f"job {job.job_id}: scancel -> job.result() raised {type(e).__module__}.{type(e).__qualname__} "
              f"after {time.monotonic() - t:.1f} s; state {job.state}")
        print("  " + str(e).strip().splitlines()[0])
    else:
        print(f"job {job.job_id}: scancel -> job.result() returned?!")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
