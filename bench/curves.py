"""Score-versus-dimension curves for one model, from the result files of a compression sweep.

    python -m bench -m pooling=mean compression=pca,whitening,truncate compression.dims=32,64,128,256
    python -m bench -m pooling=mean compression=none,int8,binary
    python -m bench.curves --model minilm            # -> results/curves/minilm.{csv,png}

Each point is one result: x = bytes per vector (and dims), y = the task's main score; one line per
(strategy, compression method), one panel per task. Like the leaderboard, it only reads results.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from bench.atomic import write_text_atomic, write_with
from bench.cli import command_parser
from bench.errors import BenchError, user_errors_exit_2
from bench.results import iter_results

log = logging.getLogger(__name__)


def curve_points(records: list[dict], model: str) -> pd.DataFrame:
    rows = []
    for record in records:
        meta = record["bench"]
        if meta["model"]["name"] != model:
            continue
        compression = meta.get("compression") or {}
        split = next(iter(record["scores"]))
        rows.append({
            "task": meta["task"],
            "pooling": meta["pooling"]["slug"],
            "method": compression.get("method", "none"),
            "dims": compression.get("dims"),
            "bytes_per_vector": compression.get("bytes_per_vector"),
            "main_score": record["scores"][split][0]["main_score"],
            "metric": meta.get("main_score_name"),
        })
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.dropna(subset=["bytes_per_vector"]).sort_values(["task", "pooling", "method", "bytes_per_vector"])


METHOD_STYLE = {"pca": ("o", "-"), "whitening": ("s", "--"), "truncate": ("^", ":"), "int8": ("D", "-."),
                "binary": ("x", (0, (1, 1)))}


def figure(frame: pd.DataFrame, title: str):
    """A matplotlib figure: one panel per task, score (x100) versus bytes per vector.

    One colour per pooling and one marker/line style per compression method, the same in every panel;
    each pooling's uncompressed float32 vector is a star and a dotted level in its colour. The legend
    collects every line of every panel. Names are plain text (a ``$`` in a model name is not maths)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"text.parse_math": False}):
        tasks = sorted(frame["task"].unique())
        poolings = sorted(frame["pooling"].unique())
        colours = {p: f"C{i % 10}" for i, p in enumerate(poolings)}
        cols = min(3, len(tasks))
        rows = -(-len(tasks) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows + 0.8), squeeze=False)
        legend: dict[str, object] = {}
        for ax, task in zip(axes.flat, tasks):
            part = frame[frame["task"] == task]
            for (pooling, method), line in part.groupby(["pooling", "method"]):
                if method == "none":
                    continue
                marker, style = METHOD_STYLE.get(method, ("o", "-"))
                (handle,) = ax.plot(line["bytes_per_vector"], line["main_score"] * 100, marker=marker, linestyle=style,
                                    color=colours[pooling], label=f"{pooling} + {method}")
                legend.setdefault(handle.get_label(), handle)
            for _, point in part[part["method"] == "none"].iterrows():
                colour = colours[point["pooling"]]
                ax.axhline(point["main_score"] * 100, linestyle=":", color=colour, linewidth=1)
                handle = ax.scatter([point["bytes_per_vector"]], [point["main_score"] * 100], color=colour, marker="*",
                                    s=90, zorder=3, label=f"{point['pooling']} (float32, uncompressed)")
                legend.setdefault(handle.get_label(), handle)
            ax.set_xscale("log", base=2)
            ax.set_title(task)
            ax.set_xlabel("bytes per vector (log scale)")
            ax.set_ylabel(f"{part['metric'].iloc[0]} x100")
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(tasks):]:
            ax.axis("off")
        labels = sorted(legend)
        fig.legend([legend[label] for label in labels], labels, loc="lower center", ncol=min(4, len(labels)),
                   fontsize=8)
        fig.suptitle(title)
        legend_rows = -(-len(labels) // min(4, max(1, len(labels))))
        fig.tight_layout(rect=(0, min(0.35, 0.04 + 0.035 * legend_rows), 1, 0.96))
    return fig


def svg(frame: pd.DataFrame, title: str) -> str:
    """The figure as inline SVG markup (for the self-contained HTML leaderboard)."""
    import io

    import matplotlib
    import matplotlib.pyplot as plt

    fig = figure(frame, title)
    buffer = io.StringIO()
    with matplotlib.rc_context({"text.parse_math": False}):
        fig.savefig(buffer, format="svg")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def plot(frame: pd.DataFrame, path: Path, title: str) -> None:
    import matplotlib
    import matplotlib.pyplot as plt

    fig = figure(frame, title)
    with matplotlib.rc_context({"text.parse_math": False}):
        write_with(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def write_curves(results_dir: str | Path, model: str, out_dir: str | Path | None = None) -> dict[str, Path]:
    frame = curve_points([r for _, r in iter_results(results_dir)], model)
    if frame.empty:
        raise BenchError(f"no results with compression information for model '{model}' under {results_dir}; "
                         f"run a compression sweep first (see python -m bench.curves --help).")
    out = Path(out_dir or Path(results_dir) / "curves")
    paths = {"csv": out / f"{model}.csv", "png": out / f"{model}.png"}
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(paths["csv"], frame.to_csv(index=False, float_format="%.6f"))
    plot(frame, paths["png"], f"{model}: score versus bytes per vector")
    return paths


@user_errors_exit_2
def main(argv: Sequence[str] | None = None) -> int:
    parser = command_parser("python -m bench.curves", __doc__, results=True)
    parser.add_argument("--model", default="minilm", help="model name as recorded in results (default minilm)")
    parser.add_argument("--out", default=None, help="output folder (default RESULTS/curves)")
    args = parser.parse_args(argv)
    paths = write_curves(args.results, args.model, args.out)
    print(f"wrote {paths['csv']} and {paths['png']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
