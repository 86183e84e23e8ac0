"""The fixed costs of one run that do not depend on the model: the strategy companions' configs and the
bootstrap of a relatedness score, each against the way it was done before (2026-11-23).

    python benchmarks/run_overhead.py [--repeat 3]

* ``companions``: resolving ``encode.precompute`` (five strategy names) by reading each pooling file
  (``bench.config.conf_values``) against composing a whole Hydra config per name (the old way);
* ``interval`` / ``paired``: a 1,000-resample interval and a 10,000-resample paired test of cosine Spearman
  (``bench.scoring.stats``) with the batched Spearman (one rank pass per chunk of resamples) against one scipy
  ``spearmanr`` call per resample (the old way), at the sizes of the suite's test splits.

Prints the fastest of ``--repeat`` runs, wall and process CPU seconds, and old / new.
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np
from scipy.stats import spearmanr

from bench.config import compose_config, conf_values
from bench.encoding.pooling import PoolingSpec
from bench.scoring.stats import bootstrap_ci, paired_bootstrap
from bench.scoring.sts import main_from_pairs

PRECOMPUTE = ["cls", "mean", "max", "mean_max", "first_last_avg"]


def timed(fn, repeat: int) -> tuple[float, float]:
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


def row(name: str, old: tuple[float, float], new: tuple[float, float]) -> None:
    print(f"| {name} | {old[0]:.3f} | {new[0]:.3f} | {old[0] / new[0]:.1f} | {old[1] / max(new[1], 1e-9):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("| what | old s (wall) | new s (wall) | old/new wall | old/new CPU |\n|---|---:|---:|---:|---:|")
    row("companions (5 strategies)",
        timed(lambda: [PoolingSpec.from_config(compose_config([f"pooling={p}"]).pooling) for p in PRECOMPUTE], args.repeat),
        timed(lambda: [PoolingSpec.from_config(conf_values("pooling", p)) for p in PRECOMPUTE], args.repeat))
    looped = lambda pairs, gold: float(spearmanr(gold, pairs["cosine"])[0])  # noqa: E731 -- the old main score
    rng = np.random.default_rng(0)
    for n in (6, 1000, 1379, 4906):  # the tiny test data; CDSC-R; STSb-pl; SICK-R-PL
        gold = np.round(rng.uniform(0, 5, n), 1)
        pairs = {"cosine": gold + rng.normal(size=n)}
        other = {"cosine": gold + rng.normal(size=n)}
        row(f"interval, {n} pairs, 1,000 resamples", timed(partial(bootstrap_ci, looped, pairs, gold), args.repeat),
            timed(partial(bootstrap_ci, main_from_pairs, pairs, gold), args.repeat))
        row(f"paired test, {n} pairs, 10,000 resamples",
            timed(partial(paired_bootstrap, looped, pairs, other, gold, resamples=10000), 1),
            timed(partial(paired_bootstrap, main_from_pairs, pairs, other, gold, resamples=10000), 1))


if __name__ == "__main__":
    main()
