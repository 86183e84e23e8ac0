"""Is one result significantly better than another on the same task?

    bench-compare minilm/sbert minilm/mean            # two model/strategy names in the results folder (--results)
    bench-compare herbert/mean xlmr/mean --task cdsc_r
    bench-compare RUN_A RUN_B                          # two folders: every task both hold (e.g. two runs' results)
    bench-compare RESULT_A.json RESULT_B.json [--resamples 10000] [--seed 0]

Each side is what you have: a result file, a folder of results (a run's results folder, or any folder below
it, ``results/<model>/<revision>/<strategy>``), or a name in the results folder: ``MODEL/STRATEGY`` or
``MODEL/REVISION/STRATEGY`` (MODEL as in the leaderboard, or its folder name; REVISION may be a prefix).

Paired bootstrap over the test pairs (both results must come from the same test data): prints the
difference in main score (A - B), its 95% interval and a two-sided p-value, as a Markdown table (a row per
task both sides hold).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from bench.commands import command_parser
from bench.errors import BenchError, user_errors_exit_2
from bench.reports.leaderboard.significance import paired_from_files
from bench.results.record import pairs_path, read_result
from bench.scoring.stats import format_p, signed

LEVEL = 0.95  # the interval level of paired_from_files' default


def compare(path_a: Path, path_b: Path, *, resamples: int = 10000, seed: int = 0) -> dict:
    a, b = (read_result(path) for path in (path_a, path_b))
    if a.task != b.task:
        raise BenchError(f"the results are for different tasks ({a.task} vs {b.task}).")
    differs = a.basis.differences(b.basis)  # the one comparability rule (bench.results.comparability)
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
    from bench.results.record import NOT_RESULTS

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


def named_results(name: str, results_dir: Path) -> dict[str, Path]:
    """The result files of ``MODEL/STRATEGY`` or ``MODEL/REVISION/STRATEGY`` in a results folder, by file name."""
    from bench.errors import unknown_choice
    from bench.results.record import iter_results

    parts = name.strip("/").split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise BenchError(f"'{name}' is neither a file nor a folder, nor a name MODEL/STRATEGY or "
                         f"MODEL/REVISION/STRATEGY of results in {results_dir}.")
    if not results_dir.is_dir():
        raise BenchError(f"'{name}' is not a file or folder, and the results folder {results_dir} does not exist "
                         f"(pass --results DIR to look up names there).")
    model, revision, strategy = (parts[0], None, parts[1]) if len(parts) == 2 else parts
    found: dict[str, list[Path]] = {}
    names: set[str] = set()
    for path, result in iter_results(results_dir):
        folder = path.relative_to(results_dir).parts[0]
        names.add(f"{result.model_name}/{result.strategy}")
        if (model in (result.model_name, folder) and strategy == result.strategy
                and (revision is None or result.revision.startswith(revision))):
            found.setdefault(path.name, []).append(path)
    if not found:
        raise unknown_choice(f"model/strategy in {results_dir}", name, names)
    several = {task: paths for task, paths in found.items() if len(paths) > 1}
    if several:
        task, paths = next(iter(sorted(several.items())))
        choices = "; ".join(str(p.parent) for p in paths)
        raise BenchError(f"{name} has {len(paths)} results of {task.removesuffix('.json')} (other revisions or "
                         f"settings): {choices}. Give one of these folders, or MODEL/REVISION/STRATEGY.")
    return {task: paths[0] for task, paths in found.items()}


def resolve(argument: str, results_dir: Path) -> tuple[dict[str, Path], str]:
    """What one side of the comparison names: (result files by file name, how to show it)."""
    path = Path(argument)
    if path.is_file():
        return {path.name: path}, str(path)
    if path.is_dir():
        return results_by_task(path), str(path)
    found = named_results(argument, results_dir)
    folders = sorted({str(p.parent) for p in found.values()})
    return found, f"{argument} ({', '.join(folders)})"


def compare_any(a: str, b: str, *, results_dir: Path, tasks: Sequence[str] = (), resamples: int = 10000,
                seed: int = 0) -> tuple[list[dict], str, str]:
    """Compare two sides given as files, folders or names: one comparison per task both hold."""
    (files_a, name_a), (files_b, name_b) = resolve(a, results_dir), resolve(b, results_dir)
    if len(files_a) == 1 and len(files_b) == 1 and not tasks:  # two results: compare() says if they differ
        return [compare(*files_a.values(), *files_b.values(), resamples=resamples, seed=seed)], name_a, name_b
    names = sorted(set(files_a) & set(files_b))
    if tasks:
        wanted = {f"{task}.json" for task in tasks}
        missing = sorted(t for t in tasks if f"{t}.json" not in names)
        if missing:
            raise BenchError(f"no result of {', '.join(missing)} on both sides; both hold: "
                             f"{', '.join(n.removesuffix('.json') for n in names) or 'no common task'}.")
        names = [n for n in names if n in wanted]
    if not names:
        raise BenchError(f"{name_a} and {name_b} hold no result of the same task "
                         f"(A: {', '.join(sorted(n.removesuffix('.json') for n in files_a))}; "
                         f"B: {', '.join(sorted(n.removesuffix('.json') for n in files_b))}).")
    return [compare(files_a[n], files_b[n], resamples=resamples, seed=seed) for n in names], name_a, name_b


@user_errors_exit_2
def main(argv: Sequence[str] | None = None) -> int:
    parser = command_parser("bench-compare", __doc__, results=True)
    parser.add_argument("a", help="a result file, a folder of results, or MODEL/STRATEGY in --results")
    parser.add_argument("b", help="the same for the other side")
    parser.add_argument("--task", action="append", default=[], help="only this task (repeatable)")
    parser.add_argument("--resamples", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    results, name_a, name_b = compare_any(args.a, args.b, results_dir=Path(args.results), tasks=args.task,
                                          resamples=args.resamples, seed=args.seed)
    print(to_markdown(results if len(results) > 1 else results[0], name_a, name_b))
    return 1 if any(r.get("undefined") for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
