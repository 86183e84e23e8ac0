"""Score versus bytes per vector: one matplotlib figure per model (PNG for bench.reports.curves, inline SVG for the
HTML leaderboard)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.atomic import write_with

METHOD_STYLE = {"pca": ("o", "-"), "whitening": ("s", "--"), "truncate": ("^", ":"), "int8": ("D", "-."),
                "binary": ("x", (0, (1, 1)))}


def plain_tick(value: float, _position=None) -> str:
    """A tick label as a plain number (1024, 0.5), never TeX markup."""
    return str(int(value)) if value >= 1 and float(value).is_integer() else f"{value:g}"


def figure(frame: pd.DataFrame, title: str):
    """A matplotlib figure: one panel per task, score (x100) versus bytes per vector.

    One colour per pooling and one marker/line style per compression method, the same in every panel;
    each pooling's uncompressed float32 vector is a star and a dotted level in its colour. The legend
    collects every line of every panel. Names are plain text (a ``$`` in a model name is not maths)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

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
            # plain numbers: with maths parsing off, the default log labels print as "$\mathdefault{2^{10}}$"
            ax.xaxis.set_major_formatter(FuncFormatter(plain_tick))
            ax.xaxis.set_minor_formatter(NullFormatter())
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


