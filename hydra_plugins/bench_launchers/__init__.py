"""bench's Hydra launchers: Hydra's submitit launchers that wait for every job of a sweep and report the jobs
that SLURM ended without a result (scancel, time or memory limit) as failed jobs in bench's sweep summary.

The code is in :mod:`bench.launch.slurm`. Hydra instantiates launchers only from this namespace package, and finds
them (and registers the configs ``hydra/launcher=bench_slurm`` and ``bench_local``) by scanning it.
"""

try:
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import LocalLauncher, SlurmLauncher
except ImportError:  # hydra-submitit-launcher (the optional extra [sweep]) is not installed: nothing to declare
    pass
else:
    from bench.launch.slurm import WaitForEveryJob, register_configs

    class BenchSlurmLauncher(WaitForEveryJob, SlurmLauncher):
        """Hydra's SlurmLauncher, waiting for every job; a job SLURM ended without a result is a failed job."""

    class BenchLocalLauncher(WaitForEveryJob, LocalLauncher):
        """Hydra's submitit LocalLauncher (jobs as local processes), waiting for every job the same way."""

    register_configs(__name__)
