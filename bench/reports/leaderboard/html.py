"""The leaderboard as one self-contained HTML page: inline CSS, inline JavaScript, inline SVG.

Nothing is fetched (no CDN, no fonts, no images by URL), so the page works offline and as a CI
artifact. Every table with class ``sortable`` sorts by a click on a column header (numeric cells
sort by their ``data-sort`` value); the sort state is exposed through ``aria-sort``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from pathlib import Path

import pandas as pd

from bench.reports.leaderboard import tables
from bench.reports.leaderboard.entries import ROW_KEY
from bench.reports.leaderboard.markdown import recompute_note, versus_best
from bench.reports.leaderboard.tables import Suite, suite_tables, wide
from bench.results.record import ResultKind
from bench.scoring.stats import format_p, signed

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1200px;
     padding:0 1rem;color:#1b1f24;line-height:1.45}
h1{margin-bottom:.2rem} h2{margin-top:2.2rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem}
.legend{color:#57606a;font-size:.9rem} nav a{margin-right:.8rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.88rem;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;white-space:nowrap}
td.num,th.num{text-align:right}
table.sortable th{cursor:pointer;background:#f6f8fa;user-select:none}
table.sortable th[aria-sort=ascending]::after{content:" \\25B2"} table.sortable th[aria-sort=descending]::after{content:" \\25BC"}
.best{font-weight:700} .notworse::after{content:" \\2248";color:#1a7f37}
.ci{color:#57606a} .prov{color:#57606a;font-size:.8rem}
.heat td.num{color:#000} .plot svg{max-width:100%;height:auto}
"""

SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('thead th').forEach(function (th, column) {
    th.addEventListener('click', function () {
      var ascending = th.getAttribute('aria-sort') !== 'ascending';
      table.querySelectorAll('thead th').forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
      var key = function (row) {
        var cell = row.cells[column];
        var value = cell.hasAttribute('data-sort') ? cell.getAttribute('data-sort') : cell.textContent.trim();
        var number = parseFloat(value);
        return isNaN(number) ? {n: false, v: value.toLowerCase()} : {n: true, v: number};
      };
      var body = table.tBodies[0];
      Array.prototype.slice.call(body.rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x.n !== y.n) { return x.n ? -1 : 1; }
        return (x.v < y.v ? -1 : x.v > y.v ? 1 : 0) * (ascending ? 1 : -1);
      }).forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def _num(value, digits: int = 2, scale: float = 100.0) -> tuple[str, str]:
    """(text, data-sort) for a score cell; missing values sort last in descending order."""
    if value is None or pd.isna(value):
        return "", "-1e9"
    return f"{value * scale:.{digits}f}", f"{value * scale:.6f}"


def _table(headers: list[tuple[str, bool]], rows: list[list[str]], table_id: str, css: str = "sortable") -> str:
    head = "".join(f'<th class="num">{escape(h)}</th>' if numeric else f"<th>{escape(h)}</th>"
                   for h, numeric in headers)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f'<table id="{escape(table_id)}" class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _td(text: str, sort: str | None = None, css: str = "", title: str = "") -> str:
    attrs = (f' data-sort="{escape(sort)}"' if sort is not None else "") + (f' class="{css}"' if css else "")
    attrs += f' title="{escape(title)}"' if title else ""
    return f"<td{attrs}>{escape(text)}</td>"


def _score_td(row) -> str:
    text, sort = _num(row["score"])
    css = "num best" if row.get("best") is True else "num notworse" if row.get("not_worse") is True else "num"
    return _td(text, sort, css)


def _text(value, missing: str = "") -> str:
    """A field as a person reads it: a missing value (None, NaN) is ``missing``, never "nan" or "None"."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return missing
    return str(value)


def _device(row) -> str:
    """Where it ran: the encoding device and dtype; a cross-encoder's training device and precision."""
    text = " ".join(_text(row.get(k)) for k in ("device", "dtype")).strip()
    return text or "-"


def _provenance(row) -> str:
    return (f"bench {_text(row['bench_version'], '?')} @ {_text(row['git_commit']) or '?'}; {_device(row)}; "
            f"torch {_text(row['torch'], '?')}, transformers {_text(row['transformers'], '?')}; "
            f"data {_text(row['dataset_revision'], '?')[:12]}; {_text(row['created'], '?')}")


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def scores_section(table: pd.DataFrame, entries: pd.DataFrame, kind: str, table_id: str, empty: str) -> str:
    """A table keyed by ROW_KEY with a column per task (score cells marked) and any extra columns."""
    if table.empty:
        return f"<p>{escape(empty)}</p>"
    part = entries[entries["kind"] == kind]
    tasks = set(part["task"])
    by_key = {key: {row["task"]: row for _, row in group.iterrows()} for key, group in part.groupby(ROW_KEY)}
    columns = [c for c in table.columns if c not in ROW_KEY]
    rows = []
    for _, line in table.iterrows():
        key = tuple(line[k] for k in ROW_KEY)
        cells = [_td(str(k)) for k in key]
        for column in columns:
            if column in tasks:
                found = by_key.get(key, {}).get(column)
                cells.append(_score_td(found) if found is not None else _td("", "-1e9", "num"))
            elif isinstance(line[column], float):
                cells.append(_td(*_num(line[column] / 100), css="num"))
            else:
                cells.append(_td(str(line[column]), str(line[column]).split(" ")[0], "num"))
        rows.append(cells)
    headers = [(k, False) for k in ROW_KEY] + [(c, True) for c in columns]
    return _table(headers, rows, table_id)


def task_section(task: str, group: pd.DataFrame, level: float, marks: bool = True) -> str:
    rows = []
    for _, row in group.sort_values("score", ascending=False).iterrows():
        low, _ = _num(row["ci_low"])
        high, _ = _num(row["ci_high"])
        if row["best"] is True:
            versus, versus_sort = "best", "0"
        elif row["diff_vs_best"] is None or pd.isna(row["diff_vs_best"]):
            versus, versus_sort = versus_best(row, marks), "-1e9"
        else:
            versus = (f"{signed(row['diff_vs_best'] * 100)} [{signed(row['diff_low'] * 100)}, "
                      f"{signed(row['diff_high'] * 100)}] {format_p(row['p_vs_best'])}")
            versus_sort = f"{row['diff_vs_best'] * 100:.6f}"
        dims = "" if pd.isna(row["dims"]) else str(int(row["dims"]))
        rows.append([
            *[_td(str(row[k])) for k in ROW_KEY], _score_td(row),
            _td(f"[{low}, {high}]" if low else "", _num(row["ci_low"])[1], "num ci"),
            _td(versus, versus_sort, "num"),
            _td(dims, dims or "-1e9", "num"),
            _td(_shorten(_provenance(row), 60), None, "prov", title=_provenance(row)),
        ])
    headers = [*[(k, False) for k in ROW_KEY], (group["metric"].iloc[0], True),
               (f"{level:.0%} CI", True), ("vs best (diff [CI] p)", True), ("dims", True), ("provenance", False)]
    return _table(headers, rows, f"task-{task}")


def heatmap_section(entries: pd.DataFrame, suite: Suite) -> str:
    """Model x pooling: the suite mean of uncompressed strategies with the usual settings, only where all the
    suite's tasks are there (like with like), shaded from lowest to highest."""
    usual = entries[(entries["compression"] == "none") & (entries["variant"] == "")]
    complete, _ = suite_tables(usual, suite)
    if complete.empty:
        return f"<p>No model has uncompressed results on all {len(suite.tasks)} tasks of the {escape(suite.name)} suite.</p>"
    pooling = usual.drop_duplicates(ROW_KEY).set_index(ROW_KEY)["pooling"]
    complete["pooling"] = [pooling.loc[tuple(row[k] for k in ROW_KEY)] for _, row in complete.iterrows()]
    grid = complete.pivot_table(index=["model", "revision"], columns="pooling", values=suite.mean_column, aggfunc="max")
    low, high = float(grid.min().min()), float(grid.max().max())
    rows = []
    for (model, revision), values in grid.iterrows():
        cells = [_td(model), _td(revision)]
        for value in values:
            if pd.isna(value):
                cells.append(_td("", "-1e9", "num", title=f"not all {len(suite.tasks)} suite tasks"))
                continue
            share = 0.0 if high == low else (value - low) / (high - low)
            cells.append(f'<td class="num" data-sort="{value:.6f}" style="background:hsl(210,80%,{92 - 45 * share:.0f}%)"'
                         f' title="mean over the {len(suite.tasks)} {escape(suite.name)} tasks">{value:.2f}</td>')
        rows.append(cells)
    headers = [("model", False), ("revision", False)] + [(str(p), True) for p in grid.columns]
    caption = (f"<p class=\"legend\">Mean over the {len(suite.tasks)} tasks of the {escape(suite.name)} suite, "
               f"uncompressed strategies with the usual settings; a blank cell lacks some suite task.</p>")
    return caption + _table(headers, rows, "heatmap", "sortable heat")


PLOT_COLUMNS = ["task", "pooling", "method", "bytes_per_vector", "main_score", "metric"]
#: Part of each cached plot's key: a change to how plots are drawn (plain tick labels) redraws cached ones.
PLOT_STYLE = "plain-ticks"


def plots_section(entries: pd.DataFrame, cache: Path | None = None) -> str:
    """Score versus dimension for each model with compressed results (inline SVG). Drawing is by far the
    slowest part of a build, so each plot is kept in ``cache`` under a digest of what it shows and drawn
    again only when its points change."""
    import hashlib

    from bench.atomic import write_text_atomic
    from bench.reports.leaderboard.plots import svg
    from bench.results.comparability import panels_by_data

    part = entries[(entries["kind"] == ResultKind.ZERO_SHOT) & entries["bytes_per_vector"].notna()]
    part = panels_by_data(part) if not part.empty else part  # points on other test data get a panel of their own
    blocks, used = [], set()
    for model, group in part.groupby("model"):
        if (group["compression"] == "none").all():
            continue
        frame = group.rename(columns={"compression": "method", "score": "main_score"})
        frame = frame.sort_values(["task", "pooling", "method", "bytes_per_vector"])[PLOT_COLUMNS]
        title = f"{model}: score versus bytes per vector"
        key = hashlib.sha256((PLOT_STYLE + title + frame.to_csv(index=False)).encode()).hexdigest()[:32]
        stored = cache / f"{key}.svg" if cache is not None else None
        used.add(f"{key}.svg")
        if stored is not None and stored.is_file():
            picture = stored.read_text(encoding="utf-8")
        else:
            picture = svg(frame, title)
            if stored is not None:
                write_text_atomic(stored, picture)
        blocks.append(f'<div class="plot" id="plot-{escape(model)}">{picture}</div>')
    if cache is not None and cache.is_dir():
        for old in cache.glob("*.svg"):  # plots of points that changed since
            if old.name not in used:
                old.unlink(missing_ok=True)
    return "".join(blocks) or "<p>No compression results (run a compression sweep, see docs/strategies-and-compression.md).</p>"


def frame_section(frame: pd.DataFrame, table_id: str) -> str:
    """A plain table of a frame (numbers with two decimals, sortable)."""
    def cell(value) -> str:
        if isinstance(value, float):
            return _td("" if pd.isna(value) else f"{value:.2f}", "" if pd.isna(value) else repr(value), "num")
        return _td("" if value is None else str(value))

    headers = [(str(c), pd.api.types.is_float_dtype(frame[c])) for c in frame.columns]
    return _table(headers, [[cell(v) for v in row] for row in frame.itertuples(index=False)], table_id)


def provenance_section(entries: pd.DataFrame) -> str:
    rows = []
    for key, group in entries.groupby(ROW_KEY, sort=True):
        first = group.iloc[0]
        rows.append([_td(str(k)) for k in key] + [
            _td(_text(first["model_source"])), _td(_text(first["weights_sha256"])), _td(_text(first["base_model"])),
            _td(_text(first["bench_version"])), _td(_text(first["git_commit"])), _td(_text(first["torch"])),
            _td(_text(first["transformers"])), _td(_device(first)),
            _td(_text(group["created"].max())), _td(str(len(group)), str(len(group)), "num")])
    headers = [(h, h == "results") for h in (*ROW_KEY, "source", "weights sha256", "base model",
                                              "bench", "git commit", "torch", "transformers", "device", "created",
                                              "results")]
    return _table(headers, rows, "provenance")


def render_html(entries: pd.DataFrame, *, suite: Suite, level: float = 0.95, title: str = "bench leaderboard",
                marks: bool = True, plot_cache: Path | None = None, results_dir=None) -> str:
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    legend = tables.legend(level, marks, suite) + " Click a column header to sort."
    if not marks:
        legend += " " + recompute_note(results_dir) + "."
    sections: list[tuple[str, str, str]] = []
    if not entries.empty:
        complete, partial = suite_tables(entries, suite)
        sections.append(("suite-section", f"Suite: {suite.name} ({len(suite.tasks)} tasks, complete rows only)",
                         scores_section(complete, entries, ResultKind.ZERO_SHOT, "suite",
                                        "No row has every task of the suite yet.")))
        if not partial.empty:
            sections.append(("partial-section", f"Partial rows (fewer than the {len(suite.tasks)} suite tasks; "
                                                 f"not ranked)", scores_section(partial, entries, ResultKind.ZERO_SHOT,
                                                                                "partial", "")))
        probes = wide(entries, ResultKind.PROBE)
        if not probes.empty:
            sections.append(("probes-section", "Trained probes (frozen embeddings)",
                             scores_section(probes, entries, ResultKind.PROBE, "probes", "")))
        crosses = tables.cross_table(entries, level)
        if not crosses.empty:
            sections.append(("cross-section", "Cross-encoders (beside the best bi-encoder on the same pairs)",
                             frame_section(crosses, "cross")))
        for task, group in entries.groupby("task", sort=True):
            sections.append((f"sec-{task}", f"{task} ({group['metric'].iloc[0]})", task_section(task, group, level, marks)))
        sections.append(("heatmap-section", f"Model x pooling (mean over the {suite.name} suite)",
                         heatmap_section(entries, suite)))
        sections.append(("plots", "Score versus dimension", plots_section(entries, plot_cache)))
        sections.append(("provenance-section", "Provenance", provenance_section(entries)))
    nav = " ".join(f'<a href="#{escape(anchor)}">{escape(name.split(" (")[0])}</a>' for anchor, name, _ in sections)
    body = "".join(f'<section id="{escape(anchor)}"><h2>{escape(name)}</h2>{html}</section>'
                   for anchor, name, html in sections) or "<p>No results yet.</p>"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{escape(title)}</title>'
            f"<style>{CSS}</style></head><body><h1>{escape(title)}</h1>"
            f'<p class="legend">{escape(legend)}<br>{len(entries)} results; generated {generated}.</p>'
            f"<nav>{nav}</nav>{body}<script>{SCRIPT}</script></body></html>\n")
