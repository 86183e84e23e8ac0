"""How the leaderboard scales: build time for 1,000 and 10,000 results, and the work one sweep job does.

    python benchmarks/leaderboard_scaling.py [--sizes 1000 10000] [--tasks 6]

Synthetic results (each a real result file with a per-pair file, as a run writes them: models x
strategies x the six Polish tasks, 200 test pairs each) are written into a temporary folder; then:

* ``index``: a build from an empty index (every result read once: what `bench.reports.leaderboard` does the first
  time after results are copied in);
* ``build``: a rebuild with the index up to date (one stat per result and one small entry read): what
  the end of a sweep does;
* ``per job``: what one job of a sweep adds for the leaderboard (its index entries), against what
  rebuilding the whole leaderboard after every job (the old scheme) would cost at that size.

Prints seconds (wall and process CPU) and the ratio between sizes; linear growth means the ratio of
times is about the ratio of sizes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.atomic import write_json_atomic
from bench.reports.leaderboard import write_leaderboard
from bench.reports.leaderboard.tables import default_suite
from bench.results.index import add_entry
from bench.results.record import pairs_path, result_path, settings_id, write_pairs_atomic

TASKS = [("cdsc_r", "CDSC-R", "sts"), ("cdsc_e", "CDSC-E", "pair_classification"),
         ("sick_r_pl", "SICK-R-PL", "sts"), ("sick_e_pl", "SICK-E-PL", "pair_classification"),
         ("ppc", "PpcPC", "pair_classification"), ("stsb_multi_mt.pl", "STSBenchmarkMultilingualSTS", "sts")]
STRATEGIES = ["cls", "mean", "max", "mean_max", "first_last_avg", "sbert", "mean+pca64", "mean+pca128", "mean+int8",
              "mean+binary"]


def synthetic(results: Path, n: int, rng: np.random.Generator) -> list[tuple[Path, dict]]:
    written = []
    settings = {"model": {"max_seq_length": 256, "prompt": "", "dtype": "float32"}, "data": {"test": "sha256:x"}}
    per_model = len(STRATEGIES) * len(TASKS)
    for index in range(n):
        model = f"model{index // per_model:04d}"
        strategy = STRATEGIES[(index // len(TASKS)) % len(STRATEGIES)]
        task, mteb_name, kind = TASKS[index % len(TASKS)]
        score = float(rng.uniform(0.3, 0.9))
        record = {
            "task_name": mteb_name, "dataset_revision": "x", "evaluation_time": 1.0, "mteb_version": None,
            "scores": {"test": [{"main_score": score, "main_score_ci": {"low": score - 0.02, "high": score + 0.02,
                                                                         "level": 0.95}, "hf_subset": "default",
                                 "languages": ["pol-Latn"]}]},
            "bench": {"schema_version": 2, "task": task, "main_score_name": "cosine_spearman", "strategy": strategy,
                      "settings": settings, "settings_id": settings_id(settings),
                      "model": {"name": model, "hub_id": f"org/{model}", "revision": "r", "resolved_revision": "r",
                                "source": "hub", "weights_sha256": "f" * 64},
                      "pooling": {"slug": strategy.split("+")[0], "name": strategy.split("+")[0]},
                      "compression": {"method": strategy.split("+")[1][:4] if "+" in strategy else "none",
                                      "dims": 64, "bytes_per_vector": 256},
                      "task_config": {"name": task, "type": kind}, "versions": {"bench": "x"}, "git": {},
                      "encoding": {"device": "cpu", "dtype": "float32"}, "created": "2026-11-22T00:00:00+00:00"},
        }
        path = result_path(results, f"org__{model}", "r", strategy, settings_id(settings), task)
        write_json_atomic(path, record)
        targets = rng.uniform(0, 5, 200)
        write_pairs_atomic(pairs_path(path), {"cosine": targets + rng.normal(0, 1, 200)}, targets)
        written.append((path, record))
    return written


def timed(function) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    suite = default_suite()
    rng = np.random.default_rng(0)
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
            results = Path(tmp) / "results"
            written = synthetic(results, n, rng)
            index = timed(lambda results=results: write_leaderboard(results, resamples=0, suite=suite))
            build = timed(lambda results=results: write_leaderboard(results, resamples=0, suite=suite))
            path, record = written[-1]
            job = timed(lambda r=results, p=path, rec=record: [add_entry(r, p, rec) for _ in range(len(TASKS))])
            rows.append((n, index, build, job))
            print(f"{n:>6} results: index {index[0]:7.2f} s (cpu {index[1]:7.2f}), build {build[0]:7.2f} s "
                  f"(cpu {build[1]:7.2f}), one job's leaderboard work {job[0] * 1000:6.1f} ms "
                  f"(rebuilding after every job instead: {build[0]:.2f} s per job)", flush=True)
    if len(rows) >= 2:
        (n1, i1, b1, _), (n2, i2, b2, _) = rows[0], rows[-1]
        print(f"size x{n2 / n1:.0f}: index time x{i2[0] / i1[0]:.1f} (cpu x{i2[1] / i1[1]:.1f}), "
              f"build time x{b2[0] / b1[0]:.1f} (cpu x{b2[1] / b1[1]:.1f})")


if __name__ == "__main__":
    main()
