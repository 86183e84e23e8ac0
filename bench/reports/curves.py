"""Score-versus-dimension curves for one model, from the result files of a compression sweep.

    python -m bench -m pooling=mean compression=pca,whitening,truncate compression.dims=32,64,128,256
    python -m bench -m pooling=mean compression=none,int8,binary
    bench-curves --model minilm            # -> results/curves/minilm.{csv,png}

Each point is one result: x = bytes per vector (and dims), y = the task's main score; one line per
(strategy, compression method), one panel per task. Like the leaderboard, it only reads results.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from bench.atomic import write_text_atomic
from bench.commands import command_parser
from bench.errors import BenchError, user_errors_exit_2
from bench.reports.leaderboard.plots import plot
from bench.results.record import Result
from bench.results.store import ResultsStore

log = logging.getLogger(__name__)


def curve_points(records: list[dict], model: str) -> pd.DataFrame:
    from bench.results.comparability import panels_by_data

    rows = []
    for result in map(Result.of, records):
        if result.model_name != model:
            continue
        basis = result.basis
        rows.append({
            "data_key": basis.data,
            "data_label": basis.label,
            "task": result.task,
            "pooling": result.pooling,
            "method": result.compression.get("method", "none"),
            "dims": result.compression.get("dims"),
            "bytes_per_vector": result.compression.get("bytes_per_vector"),
            "main_score": result.main_score,
            "metric": result.main_score_name,
        })
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame = panels_by_data(frame).drop(columns=["data_key", "data_label"])  # the comparability rule
    return frame.dropna(subset=["bytes_per_vector"]).sort_values(["task", "pooling", "method", "bytes_per_vector"])


def write_curves(results_dir: str | Path, model: str, out_dir: str | Path | None = None) -> dict[str, Path]:
    frame = curve_points([r for _, r in ResultsStore(results_dir).results()], model)
    if frame.empty:
        raise BenchError(f"no results with compression information for model '{model}' under {results_dir}; "
                         f"run a compression sweep first (see bench-curves --help).")
    out = Path(out_dir or Path(results_dir) / "curves")
    paths = {"csv": out / f"{model}.csv", "png": out / f"{model}.png"}
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(paths["csv"], frame.to_csv(index=False, float_format="%.6f"))
    plot(frame, paths["png"], f"{model}: score versus bytes per vector")
    return paths


@user_errors_exit_2
def main(argv: Sequence[str] | None = None) -> int:
    parser = command_parser("bench-curves", __doc__, results=True)
    parser.add_argument("--model", default="minilm", help="model name as recorded in results (default minilm)")
    parser.add_argument("--out", default=None, help="output folder (default RESULTS/curves)")
    args = parser.parse_args(argv)
    paths = write_curves(args.results, args.model, args.out)
    print(f"wrote {paths['csv']} and {paths['png']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
