"""CI gate: compare current results with a committed baseline and fail on real drops.

    bench-gate --write-baseline baselines/ci.json --results results   # record a baseline
    bench-gate --baseline baselines/ci.json --results results         # check against it

A baseline holds, for each (model, strategy, task), the main score and its bootstrap interval. A
current score *fails* when it falls below the baseline's lower interval bound, i.e. it dropped by
more than the baseline's sampling uncertainty allows (``--max-drop`` sets a fixed allowance instead).
A rerun of the same model passes, a real regression fails. A baseline entry with no current result
fails too (``--allow-missing`` turns that into a warning). A current score that is not comparable with the
baseline's (other test data or another metric, by the rule of :mod:`bench.results.comparability`) fails, naming what
differs, unless ``--accept-incomparable`` is given; a different model revision is said in the note. The Markdown summary goes to stdout, to
``--summary FILE``, and is appended to ``$GITHUB_STEP_SUMMARY`` when that is set (GitHub Actions).
Exit status: 0 pass, 1 regression or missing result, 2 usage or file errors.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from bench.atomic import write_json_atomic, write_text_atomic
from bench.commands import command_parser
from bench.errors import BenchError, user_errors_exit_2
from bench.reports.leaderboard.entries import entries_frame
from bench.results.store import ResultsStore
from bench.scoring.stats import signed

KEY = ["model", "strategy", "task"]
BASELINE_FIELDS = [*KEY, "revision", "metric", "score", "ci_low", "ci_high", "ci_level", "dataset_revision"]
#: Version 2 adds the comparability basis (``data_key``: the test pairs' content digest; ``data_label``).
COMPARABILITY_FIELDS = ["data_key", "data_label"]
BASELINE_VERSION = 2
READABLE_VERSIONS = (1, 2)


def current_entries(results_dir: str | Path) -> pd.DataFrame:
    entries = entries_frame(ResultsStore(results_dir).results())
    if entries.empty:
        raise BenchError(f"no results under {results_dir}; run the benchmark first.")
    return entries


def make_baseline(results_dir: str | Path) -> dict:
    entries = current_entries(results_dir)
    undefined = entries[entries["score"].isna()]
    if not undefined.empty:  # a baseline holds numbers; a null in it would be unreadable (read_baseline)
        raise BenchError(f"cannot write a baseline: {len(undefined)} result(s) have an undefined main score "
                         f"({', '.join(map(str, undefined['path']))}); rerun them or remove them from {results_dir}.")
    fields = BASELINE_FIELDS + COMPARABILITY_FIELDS
    rows = entries[fields].astype(object).where(entries[fields].notna(), None)
    return {"bench_baseline": BASELINE_VERSION, "entries": rows.to_dict(orient="records")}


def read_baseline(path: str | Path) -> pd.DataFrame:
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
        frame = pd.DataFrame(payload["entries"])
        missing = set(BASELINE_FIELDS) - set(frame.columns)
        if payload.get("bench_baseline") not in READABLE_VERSIONS or frame.empty or missing:
            raise ValueError(f"missing fields {sorted(missing)}" if missing else
                             f"not a bench baseline (versions {', '.join(map(str, READABLE_VERSIONS))})")
        for column in COMPARABILITY_FIELDS:  # version 1: compared by dataset_revision only
            if column not in frame:
                frame[column] = None
        for column in ("score", "ci_low", "ci_high"):
            frame[column] = pd.to_numeric(frame[column], errors="raise").astype(object)
        frame = frame.where(frame.notna(), None)
        if frame["score"].isna().any():
            raise ValueError("an entry has no score")
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise BenchError(f"cannot read baseline {path}: {exc}. Write one with --write-baseline.") from None
    return frame


def allowed_drop(row, max_drop: float | None) -> float | None:
    """How far below the baseline score a current score may fall: the baseline's lower interval half."""
    if max_drop is not None:
        return max_drop
    if row["ci_low"] is None or pd.isna(row["ci_low"]):
        return None
    return float(row["score"] - row["ci_low"])


def incomparable(base, now) -> list[str]:
    """What makes the current score not comparable with the baseline's (:mod:`bench.results.comparability`): the test
    pairs' content (or, for a version-1 baseline, the dataset revision) and the metric."""
    from bench.results.comparability import Basis

    if base.get("data_key"):
        current = Basis(base["task"], now["data_key"], now["data_label"], now["metric"])
        return current.differences(Basis(base["task"], base["data_key"], base.get("data_label") or "?", base["metric"]))
    out = []
    if now["dataset_revision"] != base["dataset_revision"]:
        out.append(f"data: dataset revision {str(now['dataset_revision'])[:12]} vs the baseline's "
                   f"{str(base['dataset_revision'])[:12]}")
    if now["metric"] != base["metric"]:
        out.append(f"metric: {now['metric']} vs the baseline's {base['metric']}")
    return out


def check(baseline: pd.DataFrame, current: pd.DataFrame, *, max_drop: float | None = None,
          allow_missing: bool = False, accept_incomparable: bool = False) -> pd.DataFrame:
    """One row per baseline entry with the current score, the drop, the allowance and a status."""
    variants = current[current.duplicated(KEY, keep=False)]
    if not variants.empty:
        first = variants.iloc[0]
        labels = sorted(variants[(variants[KEY] == first[KEY]).all(axis=1)]["variant"])
        raise BenchError(f"the results hold {len(labels)} settings variants of {first['model']} / {first['strategy']} / "
                         f"{first['task']} ({'; '.join(labels)}): gate a results folder with one setting per result.")
    latest = current.set_index(KEY)
    rows = []
    for _, base in baseline.iterrows():
        key = tuple(base[k] for k in KEY)
        row = {**{k: base[k] for k in KEY}, "metric": base["metric"], "baseline": base["score"],
               "baseline_ci": (base["ci_low"], base["ci_high"]), "current": None, "change": None,
               "allowed": allowed_drop(base, max_drop), "note": ""}
        if key not in latest.index:
            row["status"] = "missing (allowed)" if allow_missing else "missing"
            rows.append(row)
            continue
        now = latest.loc[key]
        row["current"] = None if pd.isna(now["score"]) else float(now["score"])
        row["change"] = None if row["current"] is None else row["current"] - base["score"]
        notes = []
        if str(now["revision"]) != str(base["revision"]):
            notes.append(f"model revision {now['revision']} vs the baseline's {base['revision']}")
        differs = incomparable(base, now)
        if differs:
            notes.append("; ".join(differs) +
                         (" (accepted with --accept-incomparable)" if accept_incomparable else ""))
        if differs and not accept_incomparable:
            row["status"] = "not comparable"
        elif row["current"] is None:
            row["status"] = "fail"
            notes.append("the current score is undefined (e.g. constant similarities)")
        elif row["allowed"] is None:
            row["status"] = "no interval"
            notes.append("baseline has no interval; use --max-drop")
        else:
            row["status"] = "fail" if row["change"] < -row["allowed"] - 1e-12 else "pass"
        row["note"] = "; ".join(notes)
        rows.append(row)
    return pd.DataFrame(rows)


FAILING = ("fail", "missing", "no interval", "not comparable")


def failed(report: pd.DataFrame) -> bool:
    return bool(report["status"].isin(FAILING).any())


def summary_markdown(report: pd.DataFrame) -> str:
    icons = {"pass": "✅ pass", "fail": "❌ fail", "missing": "❌ missing", "missing (allowed)": "⚠️ missing",
             "no interval": "❌ no interval", "not comparable": "❌ not comparable"}
    n_fail = int(report["status"].isin(FAILING).sum())
    head = (f"## bench gate: {'FAILED' if n_fail else 'passed'}\n\n"
            f"{len(report)} baseline scores, {n_fail} failing. A score fails when it drops below the baseline's "
            f"lower confidence bound (scores x100).\n\n"
            "| task | model | strategy | metric | baseline [CI] | current | change | allowed drop | status |\n"
            "|---|---|---|---|---:|---:|---:|---:|---|\n")

    def pct(value, sign=False):
        if value is None or pd.isna(value):
            return ""
        return signed(value * 100) if sign else f"{value * 100:.2f}"

    lines = []
    for _, r in report.iterrows():
        low, high = r["baseline_ci"]
        interval = f" [{pct(low)}, {pct(high)}]" if low is not None and not pd.isna(low) else ""
        note = f" ({r['note']})" if r["note"] else ""
        lines.append(f"| {r['task']} | {r['model']} | {r['strategy']} | {r['metric']} | {pct(r['baseline'])}{interval} | "
                     f"{pct(r['current'])} | {pct(r['change'], True)} | {pct(r['allowed'])} | "
                     f"{icons.get(r['status'], r['status'])}{note} |")
    return head + "\n".join(lines) + "\n"


@user_errors_exit_2
def main(argv: Sequence[str] | None = None) -> int:
    parser = command_parser("bench-gate", __doc__, results=True)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--baseline", type=Path, help="baseline file to check against")
    mode.add_argument("--write-baseline", type=Path, help="record the current results as the baseline")
    parser.add_argument("--max-drop", type=float, default=None,
                        help="a fixed allowed drop (e.g. 0.01) instead of the baseline's interval")
    parser.add_argument("--allow-missing", action="store_true", help="a baseline entry without a result only warns")
    parser.add_argument("--accept-incomparable", action="store_true",
                        help="compare scores on other test data or by another metric than the baseline's (said in "
                             "the note) instead of failing")
    parser.add_argument("--summary", type=Path, default=None, help="also write the Markdown summary here")
    args = parser.parse_args(argv)
    if args.max_drop is not None and not args.max_drop >= 0:
        parser.error(f"--max-drop must be >= 0 (a drop in main score, e.g. 0.01), got {args.max_drop}")
    if args.write_baseline:
        baseline = make_baseline(args.results)
        write_json_atomic(args.write_baseline, baseline)
        print(f"wrote {args.write_baseline} ({len(baseline['entries'])} scores)")
        return 0
    report = check(read_baseline(args.baseline), current_entries(args.results), max_drop=args.max_drop,
                   allow_missing=args.allow_missing, accept_incomparable=args.accept_incomparable)
    text = summary_markdown(report)
    print(text)
    if args.summary:
        write_text_atomic(args.summary, text)
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as handle:
            handle.write(text)
    return 1 if failed(report) else 0


if __name__ == "__main__":
    raise SystemExit(main())
