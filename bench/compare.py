"""Is one result significantly better than another on the same task?

    python -m bench.compare RESULT_A.json RESULT_B.json [--resamples 10000] [--seed 0]
    python -m bench.compare FOLDER_A FOLDER_B        # every task both folders hold (e.g. two training stages)

Paired bootstrap over the test pairs (both results must come from the same test data): prints the
difference in main score (A - B), its 95% interval and a two-sided p-value, as a Markdown table (a row per
task for two folders of results, e.g. ``results/<model>/<revision>/<strategy>/<settings>``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from bench.commands import command_parser
from bench.errors import BenchError, user_errors_exit_2
from bench.leaderboard.significance import paired_from_files
from bench.results import Result, pairs_path, read_result
from bench.stats import format_p, signed

LEVEL = 0.95  # the interval level of paired_from_files' default


def compare(path_a: Path, path_b: Path, *, resamples: int = 10000, seed: int = 0) -> dict:
    a, b = (Result.of(read_result(path), path) for path in (path_a, path_b))
    if a.task != b.task:
        raise BenchError(f"the results are for different tasks ({a.task} vs {b.task}).")
    differs = a.basis.differences(b.basis)  # the one comparability rule (bench.comparability)
    if differs:
        raise BenchError(f"{path_a} and {path_b} are not comparable ({'; '.join(differs)}): a paired test needs "
                         f"the same test pairs and metric.")
    if a.task_type is None:
        raise BenchError(f"{path_a} does not say its task type (bench.task_config.type); it was not written by bench.")
    named = {"task": a.task, "metric": a.main_score_name}
    undefined = [f"{name}: {r.undefined_reason}" for name, r in (("A", a), ("B", b)) if r.undefined_reason]
    if undefined:  # no bootstrap around a score that has no value
        return {**named, **undefined_comparison(undefined, resamples, seed), "a": a.main_score, "b": b.main_score}
    out = paired_from_files(a.task_type, pairs_path(path_a), pairs_path(path_b), resamples=resamples, seed=seed)
    lost = [f"{name}: the main score is not a number on its stored per-pair values" for name in ("a", "b")
            if not math.isfinite(out[name])]
    if lost:
        return {**named, **undefined_comparison(lost, resamples, seed),
                **{name: out[name] if math.isfinite(out[name]) else None for name in ("a", "b")}}
    return {**out, **named}


def undefined_comparison(reasons: list[str], resamples: int, seed: int) -> dict:
    """A comparison that cannot be made: no difference, interval or p-value, and why."""
    return {"difference": None, "low": None, "high": None, "p_value": None, "level": LEVEL, "resamples": resamples,
            "seed": seed, "undefined": "; ".join(reasons)}


def results_by_task(folder: Path) -> dict[str, Path]:
    """The result files below ``folder`` by file name (a task's settings folders sit below its strategy's)."""
    from bench.results import NOT_RESULTS

    found: dict[str, list[Path]] = {}
    for path in sorted(folder.rglob("*.json")):
        if path.name not in NOT_RESULTS and not any(p.startswith(".") for p in path.relative_to(folder).parts):
            found.setdefault(path.name, []).append(path)
    several = {name: paths for name, paths in found.items() if len(paths) > 1}
    if several:
        name, paths = next(iter(several.items()))
        raise BenchError(f"{folder} holds {len(paths)} results of {name.removesuffix('.json')} (other settings: "
                         f"{', '.join(p.parent.name for p in paths)}); point at one settings folder, or compare files.")
    return {name: paths[0] for name, paths in found.items()}


def compare_folders(folder_a: Path, folder_b: Path, *, resamples: int = 10000, seed: int = 0) -> list[dict]:
    """One comparison per task both folders hold a result of (e.g. two models' or two stages' strategy folders,
    ``results/<model>/<revision>/<strategy>``)."""
    a, b = results_by_task(folder_a), results_by_task(folder_b)
    names = sorted(set(a) & set(b))
    if not names:
        raise BenchError(f"{folder_a} and {folder_b} hold no result of the same task.")
    return [compare(a[name], b[name], resamples=resamples, seed=seed) for name in names]


def to_markdown(results: dict | list[dict], name_a: str, name_b: str) -> str:
    results = [results] if isinstance(results, dict) else results
    level = results[0]["level"]
    lines = [f"| task | metric | A | B | A - B | {level:.0%} interval | p | significant |",
             "|---|---|---:|---:|---:|---|---:|---|"]
    for result in results:
        if result.get("undefined"):
            score = {name: "n/a" if result[name] is None else f"{result[name]:.4f}" for name in ("a", "b")}
            lines.append(f"| {result['task']} | {result['metric']} | {score['a']} | {score['b']} | n/a | n/a | n/a | "
                         f"no (undefined: {result['undefined']}) |")
            continue
        significant = "yes" if result["p_value"] < 1 - result["level"] else "no"
        lines.append(f"| {result['task']} | {result['metric']} | {result['a']:.4f} | {result['b']:.4f} | "
                     f"{signed(result['difference'], 4)} | [{signed(result['low'], 4)}, {signed(result['high'], 4)}] | "
                     f"{format_p(result['p_value'], result.get('resamples')).removeprefix('p=')} | {significant} |")
    defined = [r for r in results if not r.get("undefined")]
    if len(results) > 1 and defined:
        mean = sum(r["difference"] for r in defined) / len(defined)
        left_out = f" ({len(results) - len(defined)} undefined left out)" if len(defined) < len(results) else ""
        lines.append(f"| mean of {len(defined)}{left_out} | | {sum(r['a'] for r in defined) / len(defined):.4f} | "
                     f"{sum(r['b'] for r in defined) / len(defined):.4f} | {signed(mean, 4)} | | | |")
    return "\n".join(lines) + f"\n\nA = {name_a}\nB = {name_b}\n"


@user_errors_exit_2
def main(argv: Sequence[str] | None = None) -> int:
    parser = command_parser("python -m bench.compare", __doc__)
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--resamples", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.a.is_dir() and args.b.is_dir():
        result = compare_folders(args.a, args.b, resamples=args.resamples, seed=args.seed)
    else:
        result = compare(args.a, args.b, resamples=args.resamples, seed=args.seed)
    print(to_markdown(result, str(args.a), str(args.b)))
    return 1 if any(r.get("undefined") for r in ([result] if isinstance(result, dict) else result)) else 0


if __name__ == "__main__":
    raise SystemExit(main())
