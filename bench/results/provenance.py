"""What a result needs to be reproduced: package versions, code version, machine, cluster job."""

from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "transformers", "sentence-transformers", "tokenizers", "datasets",
            "huggingface-hub", "numpy", "scipy", "scikit-learn", "hydra-core")


def package_versions() -> dict[str, str | None]:
    from bench import __version__

    versions: dict[str, str | None] = {"bench": __version__}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    versions["python"] = platform.python_version()
    return versions


@lru_cache(maxsize=1)
def git_commit() -> dict[str, str | bool | None]:
    """The commit of the bench checkout this code runs from, and whether it had local changes."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(here), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(dirty) if commit else None}


#: Environment a SLURM job sees; recorded in each job report and result, so a number can be traced to its job.
SLURM_VARIABLES = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_CLUSTER_NAME",
                   "SLURM_JOB_PARTITION", "SLURMD_NODENAME", "SLURM_CPUS_PER_TASK", "SLURM_MEM_PER_NODE")


def cluster_job() -> dict | None:
    """The SLURM job this process runs in (ids, node, resources, submitit's log files), or None."""
    found = {key: os.environ[key] for key in SLURM_VARIABLES if key in os.environ}
    if not found:
        return None
    try:
        import submitit

        paths = submitit.JobEnvironment().paths
        found["log_stdout"], found["log_stderr"] = str(paths.stdout), str(paths.stderr)
    except Exception:  # not started by submitit (plain sbatch/srun), or submitit absent
        pass
    return found


def hydra_overrides() -> list[str]:
    """The command line's overrides of the Hydra job this runs in (none outside Hydra)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except ValueError:  # not running under Hydra (tests, library use)
        return []


def run_provenance(seed: int) -> dict:
    """What every result of one run shares about where and how it was computed."""
    return {"versions": package_versions(), "git": git_commit(), "seed": seed, "overrides": hydra_overrides(),
            "host": {"name": platform.node(), "pid": os.getpid()}, "cluster": cluster_job()}
