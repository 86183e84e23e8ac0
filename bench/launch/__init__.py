"""Launching runs: the command line (overrides checked, one line per user error), sweeps and their job
reports, and the SLURM launchers. The top of the house: it may import every other folder; nothing below
imports it (the commands' own ``__main__`` modules and :mod:`bench.api` are entry points beside it)."""
